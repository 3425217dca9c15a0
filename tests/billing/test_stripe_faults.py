"""Stripe that hangs: each call times out, stripe-python retries a bounded number of times
(with its backoff), and the caller gets 503 upstream-unavailable with nothing changed."""

from __future__ import annotations

import asyncio

from app.billing.stripe_gateway import StripeGateway
from app.config import StripeBackend
from tests.billing.helpers import confirmed_engagement


async def test_a_hanging_stripe_is_retried_a_bounded_number_of_times_then_503(
    client, session, settings, bound_app
):
    attempts = 0

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        await reader.read(65536)  # take the request, never answer
        await asyncio.sleep(30)
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    engaged = await confirmed_engagement(client, session, settings)
    real = bound_app.state.stripe
    # The real-Stripe settings path: network retries on (keys make them safe there).
    bound_app.state.stripe = StripeGateway(
        api_key="sk_test_hanging",
        webhook_secret=None,
        backend=StripeBackend.stripe,
        api_base=f"http://127.0.0.1:{port}",
        timeout=0.3,
        max_network_retries=2,
    )
    try:
        response = await client.post(
            f"/v1/engagements/{engaged.id}/payment-method", headers=engaged.admin
        )
    finally:
        await bound_app.state.stripe.aclose()
        bound_app.state.stripe = real
        server.close()
    assert response.status_code == 503
    assert response.json()["type"] == "https://mdmatch.dev/problems/upstream-unavailable"
    assert attempts == 3  # the first try and two retries, then it gives up
    unchanged = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    assert unchanged["status"] == "pending_payment"
