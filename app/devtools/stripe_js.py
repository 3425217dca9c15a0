"""What Stripe.js does in the clinic's browser, done against the local Stripe emulator with test
cards: `mdmatch pay` and the tour use it; nothing here can reach real Stripe.

The billing flow (API.md "Engagements and billing"): `POST /v1/engagements/{id}/payment-method`
creates a SetupIntent; the browser confirms it with the clinic's card; `POST .../subscribe`
attaches that card and starts the subscription. When the first payment needs 3-D Secure,
subscribe answers `requires_action` and the browser completes the challenge before subscribing
again. `pay` takes the next browser step for an engagement, found by the `engagement_id` the
server puts in the SetupIntent's and the subscription's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.devtools.stripe_emulator import EMULATOR_SECRET_KEY


class TestCard(StrEnum):
    __test__ = False  # not a pytest test class, whatever its name

    success = "success"
    declined = "declined"
    three_ds = "3ds"


# localstripe 1.15.10 (resources.py, PaymentMethod) knows these numbers, as real Stripe does:
# 0341 attaches fine and every charge of it is declined; 3155 needs 3-D Secure on setup and, in
# the emulator, on every payment.
CARD_NUMBERS = {
    TestCard.success: "4242424242424242",
    TestCard.declined: "4000000000000341",
    TestCard.three_ds: "4000002500003155",
}
CARD_LABELS = {
    TestCard.success: "4242 4242 4242 4242",
    TestCard.declined: "4000 0000 0000 0341",
    TestCard.three_ds: "4000 0025 0000 3155",
}

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_AWAITING_CARD = ("requires_payment_method", "requires_confirmation")


class NotTheEmulator(Exception):
    """The address is not a local Stripe emulator: nothing was sent there."""


class NothingToPay(Exception):
    """The engagement is in no state a browser could act on; the message says what to do."""


@dataclass(frozen=True)
class Paid:
    """What was done, and the API call the clinic makes next."""

    done: str
    status: str
    next_step: str


async def ensure_emulator(http: httpx.AsyncClient) -> None:
    """Refuse anything but localstripe on loopback (it serves a mock Stripe.js; Stripe does not
    at this path), before a card number is sent anywhere."""
    base = str(http.base_url)
    if urlsplit(base).hostname not in _LOOPBACK:
        raise NotTheEmulator(f"{base} is not on this machine; only the local emulator is used")
    try:
        answer = await http.get("/js.stripe.com/v3/")
    except httpx.TransportError as exc:
        raise NotTheEmulator(
            f"no Stripe emulator answers at {base} ({type(exc).__name__})"
        ) from exc
    if answer.status_code != 200 or "localstripe" not in answer.text.lower():
        raise NotTheEmulator(f"{base} answers, but not as the local Stripe emulator (localstripe)")


def emulator_client(base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, auth=(EMULATOR_SECRET_KEY, ""), timeout=20)


async def pay(http: httpx.AsyncClient, engagement_id: str, card: TestCard) -> Paid:
    """The browser's next step for this engagement: confirm its waiting SetupIntent with `card`,
    or pass the 3-D Secure challenge of its first payment."""
    await ensure_emulator(http)
    intent = await _latest_setup_intent(http, engagement_id)
    if intent is None:
        raise NothingToPay(
            f"Engagement {engagement_id} has not asked for a card yet: call "
            f"POST /v1/engagements/{engagement_id}/payment-method first."
        )
    if intent["status"] in (*_AWAITING_CARD, "requires_action"):
        return await _confirm_card(http, engagement_id, intent, card)
    payment = await _payment_awaiting_3ds(http, engagement_id, str(intent.get("customer") or ""))
    if payment is not None:
        await _call(
            http,
            f"/v1/payment_intents/{payment['id']}/_authenticate",
            {"client_secret": payment["client_secret"], "success": "true"},
        )
        return Paid(
            done="3-D Secure challenge of the first payment passed",
            status="payment authenticated",
            next_step=f"POST /v1/engagements/{engagement_id}/subscribe",
        )
    if intent["status"] == "succeeded":
        raise NothingToPay(
            f"The card of engagement {engagement_id} is already confirmed and no payment waits "
            f"for 3-D Secure: call POST /v1/engagements/{engagement_id}/subscribe (for another "
            "card, call POST .../payment-method first)."
        )
    raise NothingToPay(
        f"The card request of engagement {engagement_id} is {intent['status']}: call "
        f"POST /v1/engagements/{engagement_id}/payment-method for a new one."
    )


async def _confirm_card(
    http: httpx.AsyncClient, engagement_id: str, intent: dict[str, Any], card: TestCard
) -> Paid:
    path = f"/v1/setup_intents/{intent['id']}/confirm"
    done = f"the card given earlier to {intent['id']}"
    if intent["status"] in _AWAITING_CARD:
        done = f"card {CARD_LABELS[card]} ({card}) confirmed on {intent['id']}"
        method = await _call(
            http,
            "/v1/payment_methods",
            {
                "type": "card",
                "card[number]": CARD_NUMBERS[card],
                "card[exp_month]": "12",
                "card[exp_year]": str(date.today().year + 3),
                "card[cvc]": "123",
            },
        )
        intent = await _call(http, path, {"payment_method": method["id"]})
    if intent["status"] == "requires_action":
        # The emulator's 3-D Secure for a SetupIntent: a second confirm is the challenge passed.
        intent = await _call(http, path, {})
        done += " (3-D Secure passed)"
    return Paid(
        done=done,
        status=str(intent["status"]),
        next_step=f"POST /v1/engagements/{engagement_id}/subscribe",
    )


async def _latest_setup_intent(
    http: httpx.AsyncClient, engagement_id: str
) -> dict[str, Any] | None:
    # The emulator cannot filter SetupIntents (only an unfiltered list works); it lists them in
    # creation order, so the last match is the newest.
    mine = [
        i
        for i in await _list_all(http, "/v1/setup_intents", {})
        if (i.get("metadata") or {}).get("engagement_id") == engagement_id
    ]
    return mine[-1] if mine else None


async def _payment_awaiting_3ds(
    http: httpx.AsyncClient, engagement_id: str, customer: str
) -> dict[str, Any] | None:
    if not customer:
        return None
    subscriptions = await _list_all(
        http,
        "/v1/subscriptions",
        {"customer": customer, "status": "all", "expand[]": "data.latest_invoice.payment_intent"},
    )
    for sub in subscriptions:
        if (sub.get("metadata") or {}).get("engagement_id") != engagement_id:
            continue
        invoice = sub.get("latest_invoice")
        payment = invoice.get("payment_intent") if isinstance(invoice, dict) else None
        if isinstance(payment, dict) and payment.get("status") == "requires_action":
            return payment
    return None


async def _list_all(
    http: httpx.AsyncClient, path: str, params: dict[str, str]
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = await _get(http, path, {**params, "limit": "100"})
        items += page["data"]
        if not page.get("has_more") or not page["data"]:
            return items
        params = {**params, "starting_after": page["data"][-1]["id"]}


async def _get(http: httpx.AsyncClient, path: str, params: dict[str, str]) -> dict[str, Any]:
    return _json(await http.get(path, params=params))


async def _call(http: httpx.AsyncClient, path: str, data: dict[str, str]) -> dict[str, Any]:
    return _json(await http.post(path, data=data))


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body: dict[str, Any] = answer.json()
    except ValueError:
        body = {"error": {"message": answer.text[:200]}}
    if answer.status_code >= 400:
        error = body.get("error") or {}
        raise NothingToPay(
            f"The emulator answered {answer.status_code} to {answer.request.method} "
            f"{answer.request.url.path}: {error.get('message') or body}"
        )
    return body
