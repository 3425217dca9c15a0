"""`mdmatch pay`: the browser's part of paying, on the Stripe emulator, with each test card; the
engagement then turns active through the normal subscribe call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.devtools.nppes import NppesStandIn, serve_over_http
from app.devtools.stripe_emulator import EMULATOR_SECRET_KEY, free_port
from app.devtools.stripe_js import (
    NothingToPay,
    NotTheEmulator,
    TestCard,
    emulator_client,
    pay,
)
from tests.billing.helpers import confirmed_engagement
from tests.live import mdmatch


@pytest.fixture
async def browser(stripe_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with emulator_client(stripe_url) as http:
        yield http


async def ask_for_a_card(client, engaged) -> dict[str, Any]:
    response = await client.post(
        f"/v1/engagements/{engaged.id}/payment-method", headers=engaged.admin
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def subscribe(client, engaged) -> dict[str, Any]:
    response = await client.post(f"/v1/engagements/{engaged.id}/subscribe", headers=engaged.admin)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_the_success_card_pays_and_subscribe_activates(client, session, settings, browser):
    engaged = await confirmed_engagement(client, session, settings)
    setup = await ask_for_a_card(client, engaged)

    paid = await pay(browser, engaged.id, TestCard.success)
    assert paid.status == "succeeded"
    assert setup["setup_intent_id"] in paid.done
    assert paid.next_step == f"POST /v1/engagements/{engaged.id}/subscribe"

    body = await subscribe(client, engaged)
    assert (body["status"], body["payment_status"]) == ("active", "paid")


async def test_the_declined_card_fails_at_subscribe_and_another_card_then_pays(
    client, session, settings, browser
):
    engaged = await confirmed_engagement(client, session, settings)
    await ask_for_a_card(client, engaged)
    assert (await pay(browser, engaged.id, TestCard.declined)).status == "succeeded"

    failed = await subscribe(client, engaged)
    assert (failed["status"], failed["payment_status"]) == ("pending_payment", "failed")
    assert failed["failure_reason"] == "Your card was declined."
    with pytest.raises(NothingToPay, match="already confirmed"):
        await pay(browser, engaged.id, TestCard.success)

    await ask_for_a_card(client, engaged)  # the clinic enters another card
    await pay(browser, engaged.id, TestCard.success)
    body = await subscribe(client, engaged)
    assert (body["status"], body["payment_status"]) == ("active", "paid")


async def test_the_3ds_card_passes_its_challenges_and_subscribe_activates(
    client, session, settings, browser
):
    engaged = await confirmed_engagement(client, session, settings)
    await ask_for_a_card(client, engaged)
    saved = await pay(browser, engaged.id, TestCard.three_ds)
    assert (saved.status, saved.done.endswith("(3-D Secure passed)")) == ("succeeded", True)

    pending = await subscribe(client, engaged)
    assert (pending["status"], pending["payment_status"]) == ("pending_payment", "requires_action")
    assert pending["client_secret"]

    challenge = await pay(browser, engaged.id, TestCard.three_ds)
    assert challenge.done == "3-D Secure challenge of the first payment passed"
    body = await subscribe(client, engaged)
    assert (body["status"], body["payment_status"]) == ("active", "paid")


async def test_nothing_to_pay_before_the_clinic_asks_for_a_card(client, session, settings, browser):
    engaged = await confirmed_engagement(client, session, settings)
    with pytest.raises(NothingToPay, match="payment-method first"):
        await pay(browser, engaged.id, TestCard.success)


async def test_only_the_local_emulator_is_ever_sent_a_card():
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, text="localstripe")

    stripe = httpx.AsyncClient(
        base_url="https://api.stripe.com", transport=httpx.MockTransport(record)
    )
    with pytest.raises(NotTheEmulator, match="not on this machine"):
        await pay(stripe, "e1", TestCard.success)
    assert sent == []

    # Something on loopback that is not localstripe (here, the NPPES stand-in).
    with serve_over_http(NppesStandIn()) as url:
        async with httpx.AsyncClient(base_url=url) as other:
            with pytest.raises(NotTheEmulator, match="not as the local Stripe emulator"):
                await pay(other, "e1", TestCard.success)


async def test_the_pay_command_confirms_the_card_then_subscribe_activates(
    client, session, settings, stripe_url
):
    engaged = await confirmed_engagement(client, session, settings)
    await ask_for_a_card(client, engaged)
    emulator = {
        "ENVIRONMENT": "local",
        "STRIPE_SECRET_KEY": EMULATOR_SECRET_KEY,
        "STRIPE_API_BASE": stripe_url,
        "STRIPE_BACKEND": "localstripe",
    }
    result = mdmatch("pay", engaged.id, "--card", "3ds", env=emulator)
    output = " ".join(result.stderr.split())
    assert result.returncode == 0, output
    assert "4000 0025 0000 3155 (3ds) confirmed" in output
    assert f"Next, as the clinic admin: POST /v1/engagements/{engaged.id}/subscribe" in output

    assert (await subscribe(client, engaged))["payment_status"] == "requires_action"
    assert mdmatch("pay", engaged.id, env=emulator).returncode == 0
    assert (await subscribe(client, engaged))["status"] == "active"

    again = mdmatch("pay", engaged.id, env=emulator)
    assert again.returncode == 1
    assert "already confirmed" in again.stderr


def test_the_pay_command_refuses_anything_but_the_local_emulator():
    engagement = "5b0c8a43-5a4c-4c1e-9d47-1f6c0b7d2e11"
    production = mdmatch("pay", engagement, env={"ENVIRONMENT": "production"})
    assert production.returncode == 2
    assert "works in local mode only" in production.stderr

    real_stripe = mdmatch(
        "pay", engagement, env={"ENVIRONMENT": "local", "STRIPE_SECRET_KEY": "sk_test_elsewhere"}
    )
    assert real_stripe.returncode == 2
    assert "never on Stripe" in " ".join(real_stripe.stderr.split())

    nobody = mdmatch(
        "pay", engagement, env={"ENVIRONMENT": "local", "STRIPE_EMULATOR_PORT": str(free_port())}
    )
    assert nobody.returncode == 2
    assert "no Stripe emulator answers" in " ".join(nobody.stderr.split())

    unknown = mdmatch("pay", engagement, "--card", "amex", env={"ENVIRONMENT": "local"})
    assert unknown.returncode == 2
