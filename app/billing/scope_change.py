"""Scope change of a paid engagement: compliance and every director re-checked against the new
scope, a new quote (recurring lines only), the payout re-split among the directors, the
subscription moved to the new Plan with the prorated difference billed on the next invoice, and
the standing backup started or ended. The arithmetic (re-pricing, payout re-split) is in
`app.billing.amounts`."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import User
from app.billing import shapes
from app.billing.access import EngagementNotBillable, load_for_admin
from app.billing.amounts import PayoutSeat, proration_description, reprice_scope, resplit_payouts
from app.billing.invoice_items import add_invoice_item_once
from app.billing.schemas import ScopeChange
from app.billing.stripe_gateway import StripeGateway
from app.billing.sync import apply_subscription
from app.clinics.models import Clinic, Intake
from app.clinics.service import MANAGE_ROLES, refresh_compliance
from app.clinics.staffing import Charge
from app.config import Settings
from app.engagements import lifecycle
from app.engagements.backup import cancel_backup_search, end_backup, start_backup_search
from app.engagements.events import EventKind
from app.engagements.models import DirectorRole, Engagement
from app.errors import Conflict
from app.kit.clock import today, utcnow
from app.matching.diagnostics import explain_physician
from app.matching.service import build_context
from app.notifications.recipients import notify_parties
from app.pricing.models import Quote
from app.pricing.service import (
    BlockingComplianceFlags,
    backup_payout_cents,
    directors_payout_cents,
    persist_intake_quote,
)


class ScopeNeedsNewDirector(Conflict):
    slug, title = "scope-needs-new-director", "A director does not fit the new scope"


# Capacity a director already gives this clinic is not asked for again; only the increase is.
# `not_departed`: directors already on this engagement are excluded from its searches.
_NOT_RECHECKED = frozenset(
    {"accepting_new", "capacity_clinics", "capacity_full_time", "not_declined", "not_departed"}
)


async def change_scope(
    session: AsyncSession,
    gateway: StripeGateway,
    settings: Settings,
    user: User,
    engagement_id: uuid.UUID,
    body: ScopeChange,
) -> tuple[Engagement, int]:
    """Re-price the engagement for a changed scope. Returns the engagement and the prorated
    difference for the rest of the current period (billed on the next invoice)."""
    engagement, clinic = await load_for_admin(session, user, engagement_id, MANAGE_ROLES)
    if engagement.status not in ("active", "past_due") or not engagement.stripe_subscription_id:
        raise EngagementNotBillable(
            f"The scope of an engagement that is {engagement.status} cannot change"
            + (
                "; subscribe first (the first invoice is priced from the confirmed quote)."
                if engagement.status == "pending_payment"
                else "."
            ),
            engagement_status=engagement.status,
        )
    intake = await session.scalar(
        select(Intake).where(Intake.id == engagement.intake_id).with_for_update()
    )
    assert intake is not None
    before = {k: getattr(intake, k) for k in body.model_fields_set}
    for key, value in body.values().items():
        setattr(intake, key, value)
    await refresh_compliance(session, intake, clinic, default_cap=settings.default_supervisee_cap)
    blocking = [f for f in intake.compliance_flags if f["severity"] == "blocking"]
    if blocking:
        raise BlockingComplianceFlags(
            "The new scope is not allowed: " + " ".join(f["message"] for f in blocking),
            flags=blocking,
        )
    await _recheck_directors(session, engagement, intake, clinic, settings)

    old_quote = await session.get(Quote, engagement.quote_id)
    assert old_quote is not None
    quote = await persist_intake_quote(
        session, intake, clinic, default_cap=settings.default_supervisee_cap, one_time=False
    )
    _resplit_payouts(engagement, directors_payout_cents(quote), backup_payout_cents(quote))
    engagement.quote_id = quote.id
    await session.flush()

    proration = await _move_subscription(session, gateway, engagement, old_quote, quote)
    await _apply_backup_option(session, engagement, intake, clinic, settings, before, user)
    await record_audit(
        session,
        actor_id=user.id,
        action="engagement.scope_changed",
        object_type="engagement",
        object_id=engagement.id,
        before={**_jsonable(before), "monthly_total_cents": old_quote.monthly_total_cents},
        after={
            **_jsonable(body.values()),
            "quote_id": str(quote.id),
            "monthly_total_cents": quote.monthly_total_cents,
            "proration_cents": proration,
        },
    )
    await lifecycle.changed(
        session,
        engagement,
        EventKind.scope_changed,
        {
            "before": _jsonable(before),
            "after": _jsonable(body.values()),
            "quote_id": str(quote.id),
            "monthly_total_cents": quote.monthly_total_cents,
            "proration_cents": proration,
        },
        actor_id=user.id,
    )
    await notify_parties(
        session,
        engagement,
        kind="engagement.scope_changed",
        physicians=(
            "Scope changed",
            "The clinic changed the engagement's scope; your monthly payout is now "
            + ", ".join(
                f"${d.monthly_payout_cents / 100:,.2f}"
                for d in engagement.directors
                if d.ended_at is None and d.role == DirectorRole.primary.value
            )
            + ".",
        ),
    )
    return engagement, proration


async def _apply_backup_option(
    session: AsyncSession,
    engagement: Engagement,
    intake: Intake,
    clinic: Clinic,
    settings: Settings,
    before: dict[str, Any],
    user: User,
) -> None:
    """A scope change that adds the standing backup starts its search; one that drops it ends
    the backup's standby today and stops any search."""
    if "standing_backup" not in before or before["standing_backup"] == intake.standing_backup:
        return
    if intake.standing_backup:
        await start_backup_search(session, engagement, intake, clinic, settings, actor_id=user.id)
        return
    await cancel_backup_search(session, engagement.id)
    for director in list(engagement.directors):
        if director.role == DirectorRole.backup.value and director.ended_at is None:
            await end_backup(
                session,
                engagement,
                director,
                ends_on=today(),
                reason="the clinic dropped the standing backup",
                actor_id=user.id,
            )


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in values.items()}


async def _recheck_directors(
    session: AsyncSession,
    engagement: Engagement,
    intake: Intake,
    clinic: Clinic,
    settings: Settings,
) -> None:
    ctx = await build_context(session, intake, clinic, settings)
    reasons: list[dict[str, Any]] = []
    for director in engagement.directors:
        if director.ended_at is not None:
            continue
        # The load already counts this engagement's share: ask only for the increase.
        own = dataclasses.replace(
            ctx, credit=Charge.stored(director), start=max(ctx.start, utcnow().date())
        )
        results = await explain_physician(session, own, director.states, director.physician_id)
        failed = [
            {"name": r["name"], "description": r["description"]}
            for r in results
            if not r["passed"] and r["name"] not in _NOT_RECHECKED
        ]
        if failed:
            reasons.append(
                {
                    "physician_id": str(director.physician_id),
                    "states": director.states,
                    "failed": failed,
                }
            )
    if reasons:
        raise ScopeNeedsNewDirector(
            "A director no longer fits the new scope ("
            + "; ".join(", ".join(f["description"] for f in r["failed"]) for r in reasons)
            + "). Keep the current scope, or start a new intake to find a director for it.",
            reasons=reasons,
        )
    for director in engagement.directors:
        if director.ended_at is None:
            for column, value in ctx.charge(director.states).columns().items():
                setattr(director, column, value)


def _resplit_payouts(engagement: Engagement, total: int, backup_share: int) -> None:
    """Share the new payout among the live directors (`resplit_payouts`)."""
    live = [d for d in engagement.directors if d.ended_at is None]
    shares = resplit_payouts(
        [PayoutSeat(d.role, d.monthly_payout_cents) for d in live], total, backup_share
    )
    for director, cents in zip(live, shares, strict=True):
        if director.monthly_payout_cents != cents:
            director.monthly_payout_cents = cents


async def _move_subscription(
    session: AsyncSession,
    gateway: StripeGateway,
    engagement: Engagement,
    old_quote: Quote,
    quote: Quote,
) -> int:
    assert engagement.stripe_subscription_id
    assert engagement.stripe_subscription_item_id
    clinic_customer = await session.scalar(
        select(Clinic.stripe_customer_id).where(Clinic.id == engagement.clinic_id)
    )
    assert clinic_customer is not None
    sub = await gateway.retrieve_subscription(engagement.stripe_subscription_id)
    price = reprice_scope(
        old_quote,
        quote,
        period_start=shapes.period_start(sub),
        period_end=shapes.period_end(sub),
        now=utcnow(),
    )
    if not price.changed:
        return 0
    proration = price.proration_cents
    plan = await gateway.ensure_plan(
        amount_cents=price.new_amount_cents, interval=price.interval, currency="usd"
    )
    sub = await gateway.change_plan(
        subscription_id=engagement.stripe_subscription_id,
        item_id=engagement.stripe_subscription_item_id,
        plan_id=plan,
        key=f"change-plan:{engagement.id}:{quote.id}",
    )
    if not gateway.capabilities.proration_behavior:
        # The emulator's own "proration" credits every earlier invoice in full: remove every
        # pending item we did not make (ours carry `mdmatch_key`; a retry after a failure also
        # finds the earlier attempt's) and bill our exact difference on the next invoice, as
        # real Stripe's create_prorations does.
        for item in await gateway.list_invoice_items(customer=clinic_customer):
            if not item.get("invoice") and "mdmatch_key" not in (item.get("metadata") or {}):
                await gateway.delete_invoice_item(item["id"])
        if proration:
            await add_invoice_item_once(
                session,
                gateway,
                engagement,
                key=f"proration:{engagement.id}:{quote.id}",
                kind="proration",
                amount_cents=proration,
                description=proration_description(proration),
                customer=clinic_customer,
            )
    sub = await gateway.retrieve_subscription(engagement.stripe_subscription_id)
    await apply_subscription(session, gateway, engagement, sub, reason="scope change")
    return proration
