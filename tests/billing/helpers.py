"""Billing test helpers: a confirmed engagement through the product's own endpoints, the
clinic's browser side of Stripe (confirming a SetupIntent as Stripe.js would), and webhook
events signed like Stripe signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.devtools.stripe_emulator import EMULATOR_SECRET_KEY, EMULATOR_WEBHOOK_SECRET
from app.physicians.models import Physician
from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import bearer, login, register
from tests.matching.helpers import make_physician, physician_headers

# stripe-python 16.1's pinned API version: the shape real Stripe sends webhooks in.
REAL_API_VERSION = "2026-10-28.endive"


@dataclass
class Engaged:
    admin: dict[str, str]
    clinic: dict[str, Any]
    intake: dict[str, Any]
    engagement: dict[str, Any]
    physician: Physician
    doctor: dict[str, str]
    admin_email: str

    @property
    def id(self) -> str:
        return str(self.engagement["id"])


async def confirmed_engagement(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    *,
    physician: Physician | None = None,
    **intake: Any,
) -> Engaged:
    """Clinic → intake → submit → the physician accepts → confirm: `pending_payment`."""
    doc = physician or await make_physician(session)
    admin_email = (await register(client, "clinic_admin"))["email"]
    admin = bearer((await login(client, admin_email))["access_token"])
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    created = await create_intake(client, admin, clinic["id"], **intake)
    submitted = await client.post(f"/v1/intakes/{created['id']}/submit", headers=admin)
    assert submitted.status_code == 200, submitted.text
    doctor = await physician_headers(client, session, settings, doc)
    offers = (
        await client.get("/v1/physicians/me/offers", params={"status": "pending"}, headers=doctor)
    ).json()["items"]
    [offer] = offers
    accepted = await client.post(f"/v1/offers/{offer['id']}/accept", headers=doctor)
    assert accepted.status_code == 200, accepted.text
    confirmed = await client.post(f"/v1/intakes/{created['id']}/confirm", headers=admin)
    assert confirmed.status_code == 201, confirmed.text
    return Engaged(admin, clinic, created, confirmed.json(), doc, doctor, admin_email)


async def subscribed(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    emulator: Emulator,
    card: str = "pm_card_visa",
    **kwargs: Any,
) -> tuple[Engaged, dict[str, Any]]:
    """A confirmed engagement, a card collected and confirmed, and subscribe's answer."""
    engaged = await confirmed_engagement(client, session, settings, **kwargs)
    response = await client.post(
        f"/v1/engagements/{engaged.id}/payment-method", headers=engaged.admin
    )
    await emulator.confirm_card(response.json()["setup_intent_id"], card)
    body = (
        await client.post(f"/v1/engagements/{engaged.id}/subscribe", headers=engaged.admin)
    ).json()
    return engaged, body


class Emulator:
    """Direct calls to the emulator: what Stripe.js does in the clinic's browser, and reads."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def _request(self, method: str, path: str, **data: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base_url, auth=(EMULATOR_SECRET_KEY, "")) as c:
            if method == "GET":
                response = await c.get(path, params=data)
            else:
                response = await c.request(method, path, data=data)
        return {"status": response.status_code, **response.json()}

    async def confirm_card(self, setup_intent_id: str, card: str = "pm_card_visa") -> str:
        """Confirm the SetupIntent with a test card; returns the SetupIntent's status."""
        result = await self._request(
            "POST", f"/v1/setup_intents/{setup_intent_id}/confirm", payment_method=card
        )
        return str(result.get("status"))

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        return await self._request("GET", path, **params)

    async def events_for(self, customer: str) -> list[dict[str, Any]]:
        """The emulator's events about this customer's objects, oldest first."""
        page = await self.get("/v1/events", limit=100)
        events = page["data"]
        while page.get("has_more"):
            page = await self.get("/v1/events", limit=100, starting_after=events[-1]["id"])
            events += page["data"]
        return [e for e in events if _customer_of(e["data"]["object"]) == customer]


def _customer_of(obj: dict[str, Any]) -> str | None:
    if obj.get("object") == "customer":
        return str(obj.get("id"))
    customer = obj.get("customer")
    return customer.get("id") if isinstance(customer, dict) else customer


def sign(payload: bytes, secret: str = EMULATOR_WEBHOOK_SECRET, at: int | None = None) -> str:
    """A `Stripe-Signature` header: t=<time>,v1=HMAC-SHA256(secret, "<time>.<payload>")."""
    t = at if at is not None else int(time.time())
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


async def post_event(client: httpx.AsyncClient, event: dict[str, Any]) -> httpx.Response:
    payload = json.dumps(event).encode()
    return await client.post(
        "/v1/billing/stripe/webhook",
        content=payload,
        headers={"Stripe-Signature": sign(payload), "Content-Type": "application/json"},
    )


def real_event(event_type: str, obj: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An event as real Stripe sends it in the current API version (for the types the emulator
    never sends: invoice.paid, customer.subscription.updated, invoice.payment_failed ...)."""
    return {
        "id": f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": REAL_API_VERSION,
        "created": int(time.time()),
        "data": {"object": obj, **extra},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def real_invoice(invoice: dict[str, Any], subscription_id: str) -> dict[str, Any]:
    """The emulator's invoice in real Stripe's current shape: the subscription only under
    `parent`, no `payment_intent`/`charge`/`subscription` at the top level."""
    shaped = {
        k: v
        for k, v in invoice.items()
        if k not in ("subscription", "payment_intent", "charge", "parent")
    }
    shaped["parent"] = {
        "type": "subscription_details",
        "quote_details": None,
        "subscription_details": {"metadata": {}, "subscription": subscription_id},
    }
    return shaped


def real_subscription(sub: dict[str, Any]) -> dict[str, Any]:
    """The emulator's subscription in real Stripe's current shape: periods on the items."""
    shaped = {
        k: v
        for k, v in sub.items()
        if k not in ("current_period_start", "current_period_end", "plan", "quantity")
    }
    shaped["items"] = {
        **sub["items"],
        "data": [
            {
                **item,
                "current_period_start": sub.get("current_period_start"),
                "current_period_end": sub.get("current_period_end"),
            }
            for item in sub["items"]["data"]
        ],
    }
    return shaped
