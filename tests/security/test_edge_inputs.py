"""Inputs at the edges of their types are 4xx problems, never a 500."""

from __future__ import annotations

import base64
import json
import uuid

import jwt
import pytest

from app.auth.tokens import ISSUER, key_id
from tests.billing.helpers import sign
from tests.factories import ops_headers, register, user_headers

EDGE_TIMES = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")


def cursor(at: str, ident: object = None) -> str:
    raw = json.dumps({"t": at, "id": str(ident or uuid.uuid4())}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("at", EDGE_TIMES)
@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/v1/clinics", "clinic_admin"),
        ("/v1/me/notifications", "clinic_admin"),
        ("/v1/physicians/me/offers", "physician"),
        ("/v1/audit", "ops"),
    ],
)
async def test_a_cursor_at_the_edge_of_time_is_422(client, session, settings, path, role, at):
    headers = (
        await ops_headers(client, session, settings)
        if role == "ops"
        else await user_headers(client, role)
    )
    if role == "physician":
        from tests.physicians.helpers import profile_body

        made = await client.post("/v1/physicians", json=profile_body(), headers=headers)
        assert made.status_code == 201, made.text
    r = await client.get(path, params={"cursor": cursor(at)}, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize("data", [[1, 2], {"t": 5, "id": None}, {"t": "2026-01-01T00:00:00Z"}])
async def test_cursors_of_the_wrong_shape_are_422(client, data):
    headers = await user_headers(client, "clinic_admin")
    raw = base64.urlsafe_b64encode(json.dumps(data).encode()).decode()
    r = await client.get("/v1/clinics", params={"cursor": raw}, headers=headers)
    assert r.status_code == 422, r.text


@pytest.mark.parametrize("on", ["9999-12-31", "0001-01-01", "2999-01-01"])
async def test_the_daily_report_of_an_impossible_day_is_422(client, session, settings, on):
    ops = await ops_headers(client, session, settings)
    r = await client.get("/v1/reports/daily", params={"on": on}, headers=ops)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["query", "on"]


async def test_a_signed_webhook_of_nested_brackets_is_400_and_stores_nothing(client):
    payload = b"[" * 100_000
    r = await client.post(
        "/v1/billing/stripe/webhook",
        content=payload,
        headers={"Stripe-Signature": sign(payload), "Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text


@pytest.mark.parametrize("created", [10**20, -1, "yesterday", True])
async def test_a_signed_event_with_an_absurd_created_is_400(client, created):
    payload = json.dumps({"id": f"evt_{uuid.uuid4().hex}", "type": "x", "created": created})
    r = await client.post(
        "/v1/billing/stripe/webhook",
        content=payload.encode(),
        headers={"Stripe-Signature": sign(payload.encode()), "Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text


@pytest.mark.parametrize(
    "claims",
    [{"ver": None}, {"ver": "1"}, {"ver": [1]}, {"exp": "tomorrow"}, {"sub": 12345}],
)
async def test_a_token_with_a_claim_of_the_wrong_type_is_401(client, settings, claims):
    user = await register(client, "clinic_admin")
    secret = settings.jwt_secret.get_secret_value()
    body = {
        "sub": user["id"],
        "role": "clinic_admin",
        "typ": "access",
        "iss": ISSUER,
        "iat": 1_900_000_000,
        "exp": 4_000_000_000,
        "ver": 0,
        **claims,
    }
    token = jwt.encode(body, secret, algorithm="HS256", headers={"kid": key_id(secret)})
    r = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text
