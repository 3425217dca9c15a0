"""Subscribe raced against itself on real, committed data (a scratch database and the app's own
connection pool): however many arrive at once, Stripe gets one subscription and one charge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.jobs.runtime import JobRuntime, configure_runtime
from app.kit.mailer import MemoryEmailSender
from tests.billing.helpers import Emulator, confirmed_engagement
from tests.conftest import emulator_settings
from tests.live import scratch_app

pytestmark = pytest.mark.live_sessions


@pytest.fixture(scope="module")
async def live_app(pg_server_url, stripe_url) -> AsyncIterator[FastAPI]:
    async with scratch_app(pg_server_url, **emulator_settings(stripe_url)) as app:
        yield app


@pytest.mark.parametrize("round_", range(2))
async def test_concurrent_subscribes_make_one_subscription(live_app, stripe_url, round_):
    await live_app.state.rate_limiter.reset()
    configure_runtime(
        JobRuntime(
            settings=live_app.state.settings,
            sessionmaker=live_app.state.sessionmaker,
            email_sender=MemoryEmailSender(),
            stripe=live_app.state.stripe,
        )
    )
    emulator = Emulator(stripe_url)
    transport = httpx.ASGITransport(app=live_app, raise_app_exceptions=False)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        live_app.state.sessionmaker() as session,
    ):
        engaged = await confirmed_engagement(client, session, live_app.state.settings)
        setup = await client.post(
            f"/v1/engagements/{engaged.id}/payment-method", headers=engaged.admin
        )
        await emulator.confirm_card(setup.json()["setup_intent_id"])
        responses = await asyncio.gather(
            *(
                client.post(f"/v1/engagements/{engaged.id}/subscribe", headers=engaged.admin)
                for _ in range(5)
            )
        )
    assert [r.status_code for r in responses] == [200] * 5
    subscription_ids = {r.json()["stripe_subscription_id"] for r in responses}
    assert len(subscription_ids) == 1
    assert {r.json()["status"] for r in responses} == {"active"}
    customer = (await emulator.get(f"/v1/subscriptions/{subscription_ids.pop()}"))["customer"]
    subs = await emulator.get("/v1/subscriptions", customer=customer, status="all")
    assert len(subs["data"]) == 1
    charges = await emulator.get("/v1/invoices", customer=customer)
    assert [i["status"] for i in charges["data"]] == ["paid"]


@pytest.mark.parametrize("round_", range(2))
async def test_concurrent_case_reports_of_one_month_bill_once(live_app, stripe_url, round_):
    """Five reports of the same month at once (the clinic's EMR retrying, its director too):
    one is recorded and billed, the others are 409 `case-report-exists`, and Stripe holds one
    invoice item."""
    from datetime import date

    from tests.matching.helpers import make_physician

    await live_app.state.rate_limiter.reset()
    emulator = Emulator(stripe_url)
    transport = httpx.ASGITransport(app=live_app, raise_app_exceptions=False)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        live_app.state.sessionmaker() as session,
    ):
        doc = await make_physician(session, min_monthly_rate_cents=10_000, last_name="Cases")
        engaged = await confirmed_engagement(
            client, session, live_app.state.settings, physician=doc, engagement_model="per_case"
        )
        setup = await client.post(
            f"/v1/engagements/{engaged.id}/payment-method", headers=engaged.admin
        )
        await emulator.confirm_card(setup.json()["setup_intent_id"])
        paid = await client.post(f"/v1/engagements/{engaged.id}/subscribe", headers=engaged.admin)
        assert paid.json()["status"] == "active"
        month = f"{date.today():%Y-%m}"
        responses = await asyncio.gather(
            *(
                client.post(
                    f"/v1/engagements/{engaged.id}/case-reports",
                    json={"month": month, "cases": 5 + i},
                    headers=engaged.admin,
                )
                for i in range(5)
            )
        )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 409, 409, 409, 409]
    customer = (await emulator.get(f"/v1/subscriptions/{paid.json()['stripe_subscription_id']}"))[
        "customer"
    ]
    items = (await emulator.get("/v1/invoiceitems", customer=customer))["data"]
    keyed = [
        i
        for i in items
        if (i.get("metadata") or {}).get("mdmatch_key", "").startswith("case-report:")
    ]
    assert len(keyed) == 1
    [won] = [r.json() for r in responses if r.status_code == 201]
    assert keyed[0]["amount"] == won["amount_cents"]
