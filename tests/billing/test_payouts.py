"""The payout ledger's transfers: behind an interface, enabled only on real Stripe with Connect
(the emulator has none), each entry paid once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from app.billing import jobs
from app.billing.models import PayoutEntry
from app.billing.payouts import payout_gateway, transfer_due
from app.config import StripeBackend
from app.kit.clock import travel
from tests.billing.helpers import subscribed


class RecordingPayouts:
    """Our side of the interface only: what would be sent to Stripe Connect."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.sent: list[dict[str, object]] = []
        self.calls = 0
        self.fail_on = fail_on

    async def transfer(self, **kwargs: object) -> str:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("the connected account is restricted")
        self.sent.append(kwargs)
        return f"tr_{len(self.sent)}"


async def test_transfers_are_off_on_the_emulator(settings, app):
    assert settings.stripe_backend is StripeBackend.localstripe
    assert payout_gateway(settings, app.state.stripe) is None
    enabled = settings.model_copy(update={"stripe_connect_enabled": True})
    assert payout_gateway(enabled, app.state.stripe) is None  # no Connect on the emulator
    assert await jobs.transfer_payouts_now() == 0


async def test_accrued_months_are_transferred_once_to_connected_directors(
    client, session, sessionmaker, settings, emulator
):
    engaged, _ = await subscribed(client, session, settings, emulator, billing_interval="year")
    fake = RecordingPayouts()
    # No connected account yet: nothing is sent.
    assert await transfer_due(sessionmaker, fake) == 0
    engaged.physician.stripe_connect_account_id = "acct_1TestDirector"
    session.add(engaged.physician)
    await session.commit()
    assert await transfer_due(sessionmaker, fake) == 1  # only the month that has started
    with travel(timedelta(days=400)):
        assert await transfer_due(sessionmaker, fake) == 11
        assert await transfer_due(sessionmaker, fake) == 0
    entries = list(
        await session.scalars(
            select(PayoutEntry).where(PayoutEntry.engagement_id == uuid.UUID(engaged.id))
        )
    )
    assert {e.status for e in entries} == {"transferred"}
    assert sorted(str(s["key"]) for s in fake.sent) == sorted(f"payout:{e.id}" for e in entries)
    assert {s["destination"] for s in fake.sent} == {"acct_1TestDirector"}
    assert sum(int(str(s["amount_cents"])) for s in fake.sent) == sum(
        e.amount_cents for e in entries
    )


async def test_a_failed_transfer_does_not_undo_the_ones_before_it(
    client, session, sessionmaker, settings, emulator
):
    engaged, _ = await subscribed(client, session, settings, emulator, billing_interval="year")
    engaged.physician.stripe_connect_account_id = "acct_1TestDirector"
    session.add(engaged.physician)
    await session.commit()
    fake = RecordingPayouts(fail_on=3)
    with travel(timedelta(days=400)):
        assert await transfer_due(sessionmaker, fake) == 11  # the third one failed
        statuses = [
            e.status
            for e in await session.scalars(
                select(PayoutEntry)
                .where(PayoutEntry.engagement_id == uuid.UUID(engaged.id))
                .order_by(PayoutEntry.month)
                .execution_options(populate_existing=True)
            )
        ]
        assert statuses.count("transferred") == 11
        assert statuses[2] == "accrued"
        # The next run pays the one that failed, and only it.
        assert await transfer_due(sessionmaker, fake) == 1
    assert len({str(s["key"]) for s in fake.sent}) == 12
