"""The payout ledger: what each director is owed for the months paid invoices cover.

A director's share of a month is their monthly payout prorated by the days of it they oversee
(`month_share`), so a director leaving and their replacement joining mid-month split it. A paid
invoice accrues its months (`accrue_payouts`); a change of a director's oversight dates brings
the not-yet-transferred rows in line (`reaccrue_director`). Engagements and directors are read
through the attributes named in `Director`/`Directed`, so the ledger imports no domain above it.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import utcnow
from app.ledger.models import Invoice, PayoutEntry, PayoutKind, PayoutStatus


class Director(Protocol):
    """An engagement director as the ledger reads it."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def engagement_id(self) -> uuid.UUID: ...
    @property
    def physician_id(self) -> uuid.UUID: ...
    @property
    def monthly_payout_cents(self) -> int: ...
    @property
    def starts_on(self) -> date | None: ...
    @property
    def ends_on(self) -> date | None: ...
    @property
    def ended_at(self) -> datetime | None: ...


class Directed(Protocol):
    """An engagement as the ledger reads it: its id and its directors."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def directors(self) -> Sequence[Director]: ...


def month_share(director: Director, month: date) -> int:
    """The director's payout for `month` (its first day): the monthly amount prorated by the
    days of the month they oversee, so a replacement taking over mid-month splits it."""
    days = calendar.monthrange(month.year, month.month)[1]
    end_of_month = month + timedelta(days=days)
    first = max(month, director.starts_on or month)
    last = min(end_of_month, director.ends_on or end_of_month)
    served = max(0, (last - first).days)
    if served == days:
        return director.monthly_payout_cents
    return director.monthly_payout_cents * served // days


async def accrue_payouts(
    session: AsyncSession,
    engagement: Directed,
    *,
    months: Sequence[date],
    stripe_invoice_id: str,
    currency: str,
) -> int:
    """One ledger row per director per month the paid invoice covers; re-running adds none."""
    if not months:
        return 0
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "engagement_id": engagement.id,
            "engagement_director_id": d.id,
            "physician_id": d.physician_id,
            "month": month,
            "amount_cents": amount,
            "currency": currency,
            "stripe_invoice_id": stripe_invoice_id,
            "status": PayoutStatus.accrued.value,
            "kind": PayoutKind.oversight.value,
            "created_at": now,
        }
        for d in engagement.directors
        # Directors ended by a cancellation are paid no more; a departing director is paid
        # up to their last day and their replacement from their first.
        if d.ended_at is None or d.ends_on is not None
        for month in months
        if (amount := month_share(d, month)) > 0
    ]
    if not rows:
        return 0
    result = await session.execute(
        insert(PayoutEntry)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["engagement_director_id", "month", "kind"])
        .returning(PayoutEntry.id)
    )
    return len(result.all())


def split_cents(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split in proportion to `weights`, the remainder to the first (adds up exactly)."""
    whole = sum(weights)
    if whole <= 0:
        return [total] + [0] * (len(weights) - 1)
    shares = [total * w // whole for w in weights]
    shares[0] += total - sum(shares)
    return shares


async def reaccrue_director(session: AsyncSession, director: Director) -> None:
    """After a director's oversight dates change (a departure, a replacement joining), bring
    the not-yet-transferred ledger in line: every month the engagement's paid invoices cover
    pays this director `month_share` (rows added, resized or removed). The months come from
    the invoices themselves, not from the ledger: a month nobody was paid for (every director
    had left when it was invoiced, or a departure removed its only row) still pays whoever
    oversees it."""
    invoiced = (
        await session.execute(
            select(Invoice.covered_months, Invoice.stripe_invoice_id, Invoice.currency)
            .where(Invoice.engagement_id == director.engagement_id, Invoice.status == "paid")
            .order_by(Invoice.created_at, Invoice.stripe_invoice_id)
        )
    ).all()
    # Invoices mirrored before their months were kept are known by their ledger rows.
    ledgered = (
        await session.execute(
            select(PayoutEntry.month, PayoutEntry.stripe_invoice_id, PayoutEntry.currency)
            .where(
                PayoutEntry.engagement_id == director.engagement_id,
                PayoutEntry.kind == PayoutKind.oversight.value,
            )
            .distinct()
            .order_by(PayoutEntry.month)
        )
    ).all()
    covered: list[tuple[date, str, str]] = [
        (month, invoice_id, currency)
        for months, invoice_id, currency in invoiced
        for month in months or ()
    ] + [(row.month, row.stripe_invoice_id, row.currency) for row in ledgered]
    mine = {
        e.month: e
        for e in await session.scalars(
            select(PayoutEntry)
            .where(
                PayoutEntry.engagement_director_id == director.id,
                PayoutEntry.kind == PayoutKind.oversight.value,
            )
            .with_for_update()
        )
    }
    now = utcnow()
    done: set[date] = set()
    for month, invoice_id, currency in covered:
        if month in done:
            continue  # a month two invoices cover (a plan change) pays once
        done.add(month)
        amount = month_share(director, month)
        entry = mine.get(month)
        if entry is not None:
            if entry.status != PayoutStatus.accrued.value:
                continue  # already transferred: settled outside the ledger
            if amount == 0:
                await session.execute(delete(PayoutEntry).where(PayoutEntry.id == entry.id))
            else:
                entry.amount_cents = amount
        elif amount > 0:
            await session.execute(
                insert(PayoutEntry)
                .values(
                    id=uuid.uuid4(),
                    engagement_id=director.engagement_id,
                    engagement_director_id=director.id,
                    physician_id=director.physician_id,
                    month=month,
                    amount_cents=amount,
                    currency=currency,
                    stripe_invoice_id=invoice_id,
                    status=PayoutStatus.accrued.value,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["engagement_director_id", "month", "kind"])
            )
