"""Paying directors their ledger entries. Stripe Connect transfers are behind this interface
and enabled only on real Stripe (`STRIPE_CONNECT_ENABLED=true`; the emulator has no Connect):
otherwise entries stay `accrued` for operations to pay out of band."""

from __future__ import annotations

from typing import Protocol

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.billing.stripe_gateway import StripeGateway
from app.config import Settings, StripeBackend
from app.kit.clock import today
from app.ledger.models import PayoutEntry, PayoutStatus
from app.physicians.models import Physician

log = structlog.get_logger(__name__)


class PayoutGateway(Protocol):
    async def transfer(
        self, *, amount_cents: int, currency: str, destination: str, group: str, key: str
    ) -> str:
        """Move the money; returns the transfer's id."""
        ...


class StripeConnectPayouts:
    def __init__(self, gateway: StripeGateway) -> None:
        self.gateway = gateway

    async def transfer(
        self, *, amount_cents: int, currency: str, destination: str, group: str, key: str
    ) -> str:
        return await self.gateway.create_transfer(
            amount_cents=amount_cents,
            currency=currency,
            destination=destination,
            group=group,
            key=key,
        )


def payout_gateway(settings: Settings, gateway: StripeGateway | None) -> PayoutGateway | None:
    """Connect transfers when enabled on real Stripe, else None (ledger only)."""
    if (
        gateway is None
        or not settings.stripe_connect_enabled
        or settings.stripe_backend is not StripeBackend.stripe
        or not gateway.capabilities.connect
    ):
        return None
    return StripeConnectPayouts(gateway)


async def transfer_due(
    sessionmaker: async_sessionmaker[AsyncSession], payouts: PayoutGateway
) -> int:
    """Transfer every accrued entry for a month that has started to a director with a connected
    account, each in its own transaction (a failure leaves the entries already paid marked
    paid). Each transfer's key is the entry's id, so a retry within Stripe's key window never
    pays twice; the row lock and the status make it at most once beyond it."""
    async with sessionmaker() as session:
        ids = list(
            await session.scalars(
                select(PayoutEntry.id)
                .join(Physician, Physician.id == PayoutEntry.physician_id)
                .where(
                    PayoutEntry.status == PayoutStatus.accrued.value,
                    PayoutEntry.amount_cents > 0,
                    PayoutEntry.month <= today(),
                    Physician.stripe_connect_account_id.is_not(None),
                )
                .order_by(PayoutEntry.month, PayoutEntry.id)
            )
        )
    done = 0
    for entry_id in ids:
        async with sessionmaker() as session:
            row = (
                await session.execute(
                    select(PayoutEntry, Physician.stripe_connect_account_id)
                    .join(Physician, Physician.id == PayoutEntry.physician_id)
                    .where(
                        PayoutEntry.id == entry_id,
                        PayoutEntry.status == PayoutStatus.accrued.value,
                    )
                    .with_for_update(of=PayoutEntry, skip_locked=True)
                )
            ).one_or_none()
            if row is None:
                continue
            entry, account = row
            try:
                entry.stripe_transfer_id = await payouts.transfer(
                    amount_cents=entry.amount_cents,
                    currency=entry.currency,
                    destination=str(account),
                    group=f"engagement:{entry.engagement_id}",
                    key=f"payout:{entry.id}",
                )
            except Exception:
                log.exception("payout_transfer_failed", entry_id=str(entry.id))
                await session.rollback()
                continue
            entry.status = PayoutStatus.transferred.value
            await session.commit()
            done += 1
    return done
