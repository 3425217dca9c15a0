"""Keep an engagement true to Stripe: one function applies a subscription (and its latest or a
given invoice) as Stripe shows it now. Webhooks, subscribe, cancel and reconciliation all end
here, so the order and the number of events never matter: the same Stripe state always gives
the same engagement."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.billing import shapes
from app.billing.models import CaseReport, Invoice, PayoutEntry, PayoutKind, PayoutStatus
from app.billing.stripe_gateway import StripeGateway, StripeNotFound
from app.clinics.models import Clinic
from app.engagements import lifecycle
from app.engagements.models import (
    DirectorRole,
    Engagement,
    EngagementStatus,
)
from app.kit.clock import utcnow
from app.ledger.payouts import accrue_payouts
from app.ledger.payouts import month_share as month_share  # and its older home
from app.ledger.payouts import reaccrue_director as reaccrue_director  # its older home
from app.ledger.payouts import split_cents as split_cents  # and its older home
from app.notifications.recipients import notify_parties
from app.pricing.models import PriceBookVersion, Quote
from app.pricing.quotes import apply_bp

log = structlog.get_logger(__name__)


async def mark_canceled(
    session: AsyncSession, engagement: Engagement, *, reason: str, actor_id: uuid.UUID | None
) -> None:
    """Canceled is terminal: the lifecycle ends the directors (their capacity is freed) and
    closes the engagement's searches."""
    if engagement.status == EngagementStatus.canceled.value:
        return
    before = engagement.status
    # Notified while the directors are still current (notify_parties reaches those only).
    await notify_parties(
        session,
        engagement,
        kind="engagement.canceled",
        clinic=(
            "Engagement canceled",
            f"Your medical-director engagement was canceled ({reason}).",
        ),
        physicians=(
            "Engagement canceled",
            f"An engagement you direct was canceled ({reason}); its capacity is free again.",
        ),
    )
    await lifecycle.move(
        session, engagement, EngagementStatus.canceled, reason=reason, actor_id=actor_id
    )
    await record_audit(
        session,
        actor_id=actor_id,
        action="engagement.canceled",
        object_type="engagement",
        object_id=engagement.id,
        before={"status": before},
        after={"status": engagement.status, "reason": reason},
    )


async def _transition(
    session: AsyncSession, engagement: Engagement, target: str, *, reason: str
) -> None:
    before = engagement.status
    if target == before:
        return
    if before == EngagementStatus.canceled.value:
        # Terminal here; reconciliation reports a live Stripe subscription of a canceled
        # engagement instead of reviving it.
        log.warning(
            "stripe_drift_on_canceled_engagement",
            engagement_id=str(engagement.id),
            stripe_status=engagement.stripe_status,
        )
        return
    if target == EngagementStatus.canceled.value:
        await mark_canceled(session, engagement, reason=reason, actor_id=None)
        return
    if not lifecycle.can_move(before, EngagementStatus(target)):
        # Stripe shows a status our engagement cannot go back to (a live subscription reading
        # `incomplete`): kept as it is, and left for operations to see.
        log.warning(
            "stripe_status_not_applicable",
            engagement_id=str(engagement.id),
            status=before,
            stripe_status=engagement.stripe_status,
        )
        await record_audit(
            session,
            actor_id=None,
            action="engagement.stripe_status_not_applied",
            object_type="engagement",
            object_id=engagement.id,
            before={"status": before},
            after={"would_be": target, "reason": reason, "stripe_status": engagement.stripe_status},
        )
        return
    moved = await lifecycle.move(session, engagement, EngagementStatus(target), reason=reason)
    assert moved is not None
    if moved.first_activation:
        await notify_parties(
            session,
            engagement,
            kind="engagement.active",
            clinic=(
                "Your medical director is engaged",
                "Payment received: your medical-director engagement is active.",
            ),
            physicians=(
                "Engagement active",
                "The clinic's subscription is paid: your engagement is active.",
            ),
        )
    elif moved.after == EngagementStatus.past_due.value:
        await notify_parties(
            session,
            engagement,
            kind="payment.failed",
            clinic=(
                "Payment failed",
                "We could not charge your card for your medical-director engagement. "
                "Update the card to keep your director: "
                + (engagement.failure_reason or "the payment was declined."),
            ),
            physicians=(
                "Clinic payment overdue",
                "The clinic's latest payment failed; we are collecting it. Your engagement "
                "continues meanwhile, and you will hear from us if it ends.",
            ),
            ops=("Engagement past due", f"Engagement {engagement.id} is past due."),
        )
    await record_audit(
        session,
        actor_id=None,
        action="engagement.status_changed",
        object_type="engagement",
        object_id=engagement.id,
        before={"status": before},
        after={"status": target, "reason": reason, "stripe_status": engagement.stripe_status},
    )


async def mirror_invoice(
    session: AsyncSession,
    engagement: Engagement | None,
    clinic_id: uuid.UUID,
    invoice: dict[str, Any],
) -> Invoice:
    """Upsert our copy of a Stripe invoice; a paid one accrues the directors' payouts."""
    now = utcnow()
    lines = [
        {"description": line.get("description"), "amount_cents": int(line.get("amount") or 0)}
        for line in (invoice.get("lines") or {}).get("data") or []
    ]
    paid_at = shapes.ts((invoice.get("status_transitions") or {}).get("paid_at"))
    if invoice.get("status") == "paid" and paid_at is None:
        paid_at = now
    values = {
        "clinic_id": clinic_id,
        "engagement_id": engagement.id if engagement else None,
        "number": invoice.get("number"),
        "status": invoice.get("status") or "draft",
        "currency": invoice.get("currency") or "usd",
        "total_cents": int(invoice.get("total") or 0),
        "amount_due_cents": int(invoice.get("amount_due") or 0),
        "amount_paid_cents": int(invoice.get("amount_paid") or 0),
        "billing_reason": invoice.get("billing_reason"),
        "hosted_invoice_url": invoice.get("hosted_invoice_url"),
        "period_start": shapes.ts(invoice.get("period_start")),
        "period_end": shapes.ts(invoice.get("period_end")),
        "lines": lines,
        "covered_months": shapes.months_covered(invoice),
        "paid_at": paid_at,
        "synced_at": now,
    }
    stmt = insert(Invoice).values(
        id=uuid.uuid4(),
        stripe_invoice_id=invoice["id"],
        created_at=shapes.ts(invoice.get("created")) or now,
        **values,
    )
    stmt = stmt.on_conflict_do_update(index_elements=[Invoice.stripe_invoice_id], set_=values)
    await session.execute(stmt)
    row = await session.scalar(
        select(Invoice)
        .where(Invoice.stripe_invoice_id == invoice["id"])
        .execution_options(populate_existing=True)
    )
    assert row is not None
    if engagement is not None and row.status == "paid":
        await accrue_payouts(
            session,
            engagement,
            months=shapes.months_covered(invoice),
            stripe_invoice_id=invoice["id"],
            currency=invoice.get("currency") or "usd",
        )
        await accrue_case_payouts(session, engagement, invoice, paid_at or now)
    return row


def invoice_item_ids(invoice: dict[str, Any]) -> set[str]:
    """The invoice items an invoice's lines bill (the emulator's and older API versions'
    `invoice_item`; basil and later: `parent.invoice_item_details.invoice_item`)."""
    ids = set()
    for line in (invoice.get("lines") or {}).get("data") or []:
        details = (line.get("parent") or {}).get("invoice_item_details") or {}
        item = line.get("invoice_item") or details.get("invoice_item")
        if isinstance(item, dict):
            item = item.get("id")
        if item:
            ids.add(str(item))
    return ids


async def accrue_case_payouts(
    session: AsyncSession, engagement: Engagement, invoice: dict[str, Any], paid_at: datetime
) -> int:
    """A paid invoice that billed reported cases (a per-case engagement): the reports are marked
    paid, and the directors who oversaw each month accrue their payout share of its cases (by
    their monthly payout, prorated by the days they oversaw it). Re-running adds none."""
    items = invoice_item_ids(invoice)
    if not items:
        return 0
    reports = list(
        await session.scalars(
            select(CaseReport)
            .where(
                CaseReport.engagement_id == engagement.id,
                CaseReport.stripe_invoice_item_id.in_(items),
                CaseReport.paid_at.is_(None),
            )
            .with_for_update()
        )
    )
    if not reports:
        return 0
    quote = await session.get(Quote, engagement.quote_id)
    assert quote is not None
    payout_bp = await session.scalar(
        select(PriceBookVersion.data["physician_payout_bp"].as_integer()).where(
            PriceBookVersion.version == quote.pricing_version
        )
    )
    now = utcnow()
    rows = []
    for report in reports:
        report.stripe_invoice_id = invoice["id"]
        report.paid_at = paid_at
        payout = apply_bp(report.amount_cents, int(payout_bp or 0))
        directors = [
            (d, share)
            for d in engagement.directors
            if d.role == DirectorRole.primary.value
            and (d.ended_at is None or d.ends_on is not None)
            and (share := month_share(d, report.month)) > 0
        ]
        if not directors or payout <= 0:
            continue
        amounts = split_cents(payout, [share for _, share in directors])
        rows += [
            {
                "id": uuid.uuid4(),
                "engagement_id": engagement.id,
                "engagement_director_id": d.id,
                "physician_id": d.physician_id,
                "month": report.month,
                "amount_cents": amount,
                "currency": report.currency,
                "stripe_invoice_id": invoice["id"],
                "status": PayoutStatus.accrued.value,
                "kind": PayoutKind.cases.value,
                "created_at": now,
            }
            for (d, _), amount in zip(directors, amounts, strict=True)
            if amount > 0
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


async def apply_subscription(
    session: AsyncSession,
    gateway: StripeGateway,
    engagement: Engagement,
    sub: dict[str, Any],
    *,
    invoice: dict[str, Any] | None = None,
    reason: str = "stripe",
) -> shapes.PaymentOutcome:
    """Make the (row-locked) engagement match `sub` as Stripe shows it now."""
    if sub.get("status") in shapes.ENDS_ACCESS:
        sub = {**await gateway.cancel_now(sub["id"]), "latest_invoice": sub.get("latest_invoice")}
        reason = f"payment not collected (Stripe status {sub.get('status')})"
    engagement.stripe_subscription_id = engagement.stripe_subscription_id or sub["id"]
    engagement.stripe_status = sub.get("status")
    item = shapes.subscription_item(sub)
    if item:
        engagement.stripe_subscription_item_id = item.get("id")
        engagement.stripe_plan_id = shapes.plan_id(item)
    engagement.current_period_end = shapes.period_end(sub)
    engagement.cancel_at_period_end = bool(sub.get("cancel_at_period_end"))
    engagement.billing_synced_at = utcnow()

    latest = sub.get("latest_invoice")
    if isinstance(latest, str):
        latest = await gateway.retrieve_invoice(latest)
    if latest:
        engagement.stripe_latest_invoice_id = latest["id"]
    outcome = shapes.payment_outcome(latest)
    engagement.payment_status = outcome.status
    engagement.failure_reason = None if outcome.status == "paid" else outcome.failure_reason

    for inv in {i["id"]: i for i in (latest, invoice) if i}.values():
        await mirror_invoice(session, engagement, engagement.clinic_id, inv)

    target = shapes.ENGAGEMENT_STATUS.get(str(sub.get("status")), engagement.status)
    if target == EngagementStatus.active.value and engagement.cancel_at_period_end:
        target = EngagementStatus.ending.value
        if engagement.current_period_end:
            engagement.ends_on = engagement.current_period_end.date()
    elif target == EngagementStatus.active.value and engagement.status == "ending":
        engagement.ends_on = None
    await _transition(session, engagement, target, reason=reason)
    await session.flush()
    return outcome


async def lock_engagement(session: AsyncSession, engagement_id: uuid.UUID) -> Engagement | None:
    return await session.scalar(
        select(Engagement).where(Engagement.id == engagement_id).with_for_update(of=Engagement)
    )


async def engagement_for_subscription(
    session: AsyncSession, gateway: StripeGateway, subscription_id: str
) -> tuple[Engagement | None, dict[str, Any] | None]:
    """The engagement a subscription belongs to, locked, and the subscription as Stripe shows it
    after the lock (so of two concurrent syncs the later read wins). Subscriptions whose id we
    have not recorded yet are found by their `engagement_id` metadata."""
    engagement_id = await session.scalar(
        select(Engagement.id).where(Engagement.stripe_subscription_id == subscription_id)
    )
    sub: dict[str, Any] | None = None
    if engagement_id is None:
        try:
            sub = await gateway.retrieve_subscription(subscription_id)
        except StripeNotFound:
            return None, None
        raw = (sub.get("metadata") or {}).get("engagement_id")
        try:
            engagement_id = uuid.UUID(str(raw))
        except ValueError:
            return None, None
    engagement = await lock_engagement(session, engagement_id)
    if engagement is None:
        return None, None
    if engagement.stripe_subscription_id not in (None, subscription_id):
        return None, None  # an older, replaced subscription: not this engagement's any more
    sub = await gateway.retrieve_subscription(subscription_id)
    return engagement, sub


async def clinic_for_customer(session: AsyncSession, customer_id: str | None) -> Clinic | None:
    if not customer_id:
        return None
    return await session.scalar(select(Clinic).where(Clinic.stripe_customer_id == customer_id))


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "the end of the period"
