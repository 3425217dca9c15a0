"""The engagement's billing: card collection, subscription, cancellation, scope changes,
invoices, expiry of unpaid engagements and reconciliation with Stripe.

Concurrency and at-most-once: every operation locks the engagement row (FOR UPDATE) before
calling Stripe and keeps the lock until its commit, so two requests for one engagement (a double
click, a retry, a webhook job) run one after the other and the second sees the first's Stripe
ids. Every POST to Stripe carries a key derived from our ids; where a crash could separate
Stripe's answer from our commit, the object is found again by its metadata before anything is
created (the emulator ignores idempotency keys).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import Role, User
from app.billing import shapes
from app.billing.models import BillingOperation, Invoice
from app.billing.schemas import ScopeChange
from app.billing.stripe_gateway import (
    CardDeclined,
    StripeGateway,
    StripeNotFound,
    StripeRejected,
)
from app.billing.sync import (
    apply_subscription,
    engagement_for_subscription,
    mark_canceled,
    mirror_invoice,
    notify_parties,
)
from app.clinics.models import Clinic, Intake
from app.clinics.service import BILLING_ROLES, MANAGE_ROLES, refresh_compliance, require_role
from app.clinics.staffing import Charge
from app.config import Settings
from app.engagements.backup import cancel_backup_search, end_backup, start_backup_search
from app.engagements.models import DirectorRole, Engagement, EngagementStatus
from app.engagements.service import get_engagement
from app.errors import Conflict
from app.kit.clock import today, utcnow
from app.kit.pagination import PageParams, paginate
from app.matching.diagnostics import explain_physician
from app.matching.service import build_context
from app.pricing.models import Quote
from app.pricing.service import (
    BlockingComplianceFlags,
    backup_payout_cents,
    directors_payout_cents,
    persist_intake_quote,
)

log = structlog.get_logger(__name__)


class PaymentMethodRequired(Conflict):
    slug, title = "payment-method-required", "Collect a card first"


class EngagementNotBillable(Conflict):
    slug, title = "engagement-not-billable", "Not possible in the engagement's current status"


class ScopeNeedsNewDirector(Conflict):
    slug, title = "scope-needs-new-director", "A director does not fit the new scope"


@dataclasses.dataclass
class SubscribeResult:
    engagement: Engagement
    client_secret: str | None


async def _load_for_admin(
    session: AsyncSession,
    user: User,
    engagement_id: uuid.UUID,
    roles: frozenset[str] = BILLING_ROLES,
) -> tuple[Engagement, Clinic]:
    """The engagement and its clinic, locked, for a clinic member whose role may do this
    (operations always)."""
    engagement = await get_engagement(session, user, engagement_id, for_update=True)
    if user.role == Role.clinic_admin.value:
        await require_role(session, user, engagement.clinic_id, roles)
    clinic = await session.scalar(
        select(Clinic).where(Clinic.id == engagement.clinic_id).with_for_update()
    )
    assert clinic is not None
    return engagement, clinic


def _refuse_when_canceled(engagement: Engagement) -> None:
    if engagement.status == EngagementStatus.canceled.value:
        raise EngagementNotBillable(
            "This engagement is canceled; submit a new intake to engage a director again.",
            engagement_status=engagement.status,
        )


async def ensure_customer(session: AsyncSession, gateway: StripeGateway, clinic: Clinic) -> str:
    """The clinic's Stripe customer, created once (the clinic row is locked by the caller)."""
    if clinic.stripe_customer_id:
        return clinic.stripe_customer_id
    customer = await gateway.find_customer(clinic_id=str(clinic.id), email=clinic.contact_email)
    if customer is None:
        customer = await gateway.create_customer(
            clinic_id=str(clinic.id),
            name=clinic.legal_name,
            email=clinic.contact_email,
            key=f"customer:{clinic.id}",
        )
    clinic.stripe_customer_id = customer
    await session.flush()
    return customer


# --- card collection -------------------------------------------------------------------------


async def payment_method(
    session: AsyncSession, gateway: StripeGateway, user: User, engagement_id: uuid.UUID
) -> dict[str, str]:
    """A SetupIntent for Stripe.js to collect and confirm the clinic's card. An unconfirmed
    one is handed out again (a double click does not make two)."""
    engagement, clinic = await _load_for_admin(session, user, engagement_id)
    _refuse_when_canceled(engagement)
    customer = await ensure_customer(session, gateway, clinic)
    if engagement.stripe_setup_intent_id:
        try:
            current = await gateway.retrieve_setup_intent(engagement.stripe_setup_intent_id)
        except StripeNotFound:
            current = {}
        if current.get("status") in (
            "requires_payment_method",
            "requires_confirmation",
            "requires_action",
        ):
            return _setup_intent_read(current)
    previous = engagement.stripe_setup_intent_id or "first"
    intent = await gateway.create_setup_intent(
        customer=customer,
        engagement_id=str(engagement.id),
        key=f"setup-intent:{engagement.id}:{previous}",
    )
    engagement.stripe_setup_intent_id = intent["id"]
    await session.flush()
    return _setup_intent_read(intent)


def _setup_intent_read(intent: dict[str, Any]) -> dict[str, str]:
    return {
        "setup_intent_id": intent["id"],
        "setup_intent_client_secret": intent["client_secret"],
        "status": intent["status"],
    }


async def _attach_card(gateway: StripeGateway, engagement: Engagement, customer: str) -> None:
    """Attach the card confirmed on the engagement's SetupIntent and make it the default.
    Raises `CardDeclined` when Stripe refuses the card."""
    if not engagement.stripe_setup_intent_id:
        raise PaymentMethodRequired(
            "No card yet: call POST /v1/engagements/{id}/payment-method and confirm the "
            "SetupIntent with Stripe.js first."
        )
    try:
        intent = await gateway.retrieve_setup_intent(engagement.stripe_setup_intent_id)
    except StripeNotFound:
        intent = {"status": "missing"}
    card = intent.get("payment_method")
    card_id = card.get("id") if isinstance(card, dict) else card
    if intent.get("status") != "succeeded" or not card_id:
        raise PaymentMethodRequired(
            f"The card on the SetupIntent is not confirmed (status {intent.get('status')}); "
            "confirm it with Stripe.js (or request a new one), then subscribe.",
            setup_intent_status=intent.get("status"),
        )
    engagement.stripe_payment_method_id = await gateway.attach_default_card(
        customer=customer,
        payment_method=str(card_id),
        key=f"card:{engagement.id}:{engagement.stripe_setup_intent_id}",
    )


# --- subscribe -------------------------------------------------------------------------------


async def _operation(
    session: AsyncSession,
    gateway: StripeGateway,
    engagement: Engagement,
    *,
    key: str,
    kind: str,
    amount_cents: int,
    description: str,
    customer: str,
) -> str:
    """A pending invoice item, created at most once under `key`: our operation row, then a
    Stripe item carrying the key in its metadata (found again after a crash), then a create."""
    done = await session.get(BillingOperation, key)
    if done is not None:
        return done.stripe_id
    stripe_id = next(
        (
            str(item["id"])
            for item in await gateway.list_invoice_items(customer=customer)
            if (item.get("metadata") or {}).get("mdmatch_key") == key
        ),
        None,
    )
    if stripe_id is None:
        stripe_id = await gateway.create_invoice_item(
            customer=customer,
            amount_cents=amount_cents,
            currency="usd",
            description=description,
            metadata={"mdmatch_key": key, "engagement_id": str(engagement.id)},
            key=key,
        )
    session.add(
        BillingOperation(
            key=key,
            kind=kind,
            engagement_id=engagement.id,
            stripe_id=stripe_id,
            amount_cents=amount_cents,
            created_at=utcnow(),
        )
    )
    await session.flush()
    return stripe_id


def period_amount(quote: Quote) -> tuple[int, str]:
    """What one billing period costs: a month, or twelve months for annual prepay."""
    if quote.billing_interval == "year":
        return quote.monthly_total_cents * 12, "year"
    return quote.monthly_total_cents, "month"


async def subscribe(
    session: AsyncSession,
    gateway: StripeGateway,
    user: User,
    engagement_id: uuid.UUID,
) -> SubscribeResult:
    engagement, clinic = await _load_for_admin(session, user, engagement_id)
    _refuse_when_canceled(engagement)
    if engagement.stripe_subscription_id and engagement.status in ("active", "ending"):
        # Already paid (a double click or a retry): report, do not charge again.
        sub = await gateway.retrieve_subscription(engagement.stripe_subscription_id)
        outcome = await apply_subscription(session, gateway, engagement, sub, reason="subscribe")
        return SubscribeResult(engagement, outcome.client_secret)
    customer = await ensure_customer(session, gateway, clinic)
    try:
        await _attach_card(gateway, engagement, customer)
    except CardDeclined as exc:
        # Nothing was charged; the clinic collects another card (payment_status failed).
        engagement.payment_status = "failed"
        engagement.failure_reason = exc.message
        await session.flush()
        return SubscribeResult(engagement, None)

    if engagement.stripe_subscription_id is None:
        # A subscription created by an attempt whose commit was lost is adopted, not repeated.
        found = await gateway.find_subscription(customer=customer, engagement_id=str(engagement.id))
        if found is None:
            found = await _start_subscription(session, gateway, engagement, customer)
            await record_audit(
                session,
                actor_id=user.id,
                action="engagement.subscribed",
                object_type="engagement",
                object_id=engagement.id,
                after={"stripe_subscription_id": found["id"], "stripe_status": found.get("status")},
            )
        current = found
    else:
        # pending_payment or past_due: pay the open invoice with the card just attached.
        current = await gateway.retrieve_subscription(engagement.stripe_subscription_id)
        current = await _retry_open_invoice(gateway, engagement, current)
    outcome = await apply_subscription(session, gateway, engagement, current, reason="subscribe")
    return SubscribeResult(engagement, outcome.client_secret)


async def _start_subscription(
    session: AsyncSession, gateway: StripeGateway, engagement: Engagement, customer: str
) -> dict[str, Any]:
    quote = await session.get(Quote, engagement.quote_id)
    assert quote is not None
    # One-time fees and first-invoice discounts ride on the first invoice as pending items
    # (created before the subscription, whose first invoice collects them).
    for line in quote.line_items:
        if line["kind"] in ("one_time", "discount") and line["amount_cents"]:
            await _operation(
                session,
                gateway,
                engagement,
                key=f"invoice-item:{engagement.id}:{line['code']}",
                kind=line["kind"],
                amount_cents=int(line["amount_cents"]),
                description=line["description"],
                customer=customer,
            )
    amount, interval = period_amount(quote)
    plan = await gateway.ensure_plan(amount_cents=amount, interval=interval, currency="usd")
    return await gateway.create_subscription(
        customer=customer,
        plan_id=plan,
        metadata={"engagement_id": str(engagement.id), "clinic_id": str(engagement.clinic_id)},
        key=f"subscription:{engagement.id}",
    )


async def _retry_open_invoice(
    gateway: StripeGateway, engagement: Engagement, sub: dict[str, Any]
) -> dict[str, Any]:
    """Pay the subscription's open latest invoice with the (new) default card. The key names
    the card, so a retry with a new card is a new payment, not a replay of the old decline."""
    invoice = sub.get("latest_invoice")
    if not isinstance(invoice, dict) or invoice.get("status") not in ("open", "draft"):
        return sub
    engagement.payment_attempts += 1
    key = (
        f"invoice-pay:{invoice['id']}:{engagement.stripe_payment_method_id}:"
        f"{engagement.payment_attempts}"
    )
    try:
        await gateway.pay_invoice(invoice["id"], key=key)
    except CardDeclined as exc:
        log.info("invoice_payment_declined", engagement_id=str(engagement.id), code=exc.code)
    except StripeRejected as exc:
        # Paid in the meantime (3-D Secure completed, or a concurrent payment): re-read below.
        if exc.stripe_status != 400:
            raise
    return await gateway.retrieve_subscription(sub["id"])


# --- cancel ----------------------------------------------------------------------------------


async def cancel(
    session: AsyncSession,
    gateway: StripeGateway,
    user: User,
    engagement_id: uuid.UUID,
    *,
    at_period_end: bool,
    reason: str | None = None,
) -> Engagement:
    engagement, _ = await _load_for_admin(session, user, engagement_id)
    by_ops = user.role == Role.ops_admin.value
    who = f"canceled by operations: {reason}" if by_ops else "canceled by the clinic"
    _refuse_when_canceled(engagement)
    sub_id = engagement.stripe_subscription_id
    if sub_id:
        # Decide on Stripe's state now, not on what the last webhook told us (a first invoice
        # paid a moment ago makes this a paid period to run out).
        sub = await gateway.retrieve_subscription(sub_id)
        await apply_subscription(session, gateway, engagement, sub, reason="reconcile")
        _refuse_when_canceled(engagement)
    before = {"status": engagement.status, "cancel_at_period_end": engagement.cancel_at_period_end}
    paid_period = engagement.status in ("active", "ending", "past_due")
    if sub_id and at_period_end and paid_period:
        sub = await gateway.cancel_at_period_end(
            sub_id, flag=True, key=f"cancel-at-period-end:{engagement.id}"
        )
        await apply_subscription(session, gateway, engagement, sub, reason=who)
        # An engagement running out needs no new standing backup.
        await cancel_backup_search(session, engagement.id)
    else:
        # Immediate, or nothing paid yet (there is no period to run out).
        if sub_id:
            sub = await gateway.cancel_now(sub_id)
            engagement.stripe_status = sub.get("status")
        await mark_canceled(session, engagement, reason=who, actor_id=user.id)
    await record_audit(
        session,
        actor_id=user.id,
        action="engagement.cancel_requested",
        object_type="engagement",
        object_id=engagement.id,
        before=before,
        after={
            "status": engagement.status,
            "at_period_end": at_period_end,
            "ends_on": engagement.ends_on.isoformat() if engagement.ends_on else None,
            **({"reason": reason, "by": "operations"} if by_ops else {}),
        },
    )
    if by_ops:
        await notify_parties(
            session,
            engagement,
            kind="engagement.canceled_by_operations",
            clinic=(
                "Operations canceled your engagement",
                f"Our operations team canceled this engagement ({reason}). "
                + (
                    f"It runs until {engagement.ends_on}."
                    if engagement.status == EngagementStatus.ending.value
                    else "It has ended."
                ),
            ),
        )
    if engagement.status == EngagementStatus.ending.value:
        await notify_parties(
            session,
            engagement,
            kind="engagement.ending",
            physicians=(
                "Engagement ending",
                f"The clinic canceled; the engagement ends on {engagement.ends_on}.",
            ),
        )
    return engagement


# --- scope change ----------------------------------------------------------------------------

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
    engagement, clinic = await _load_for_admin(session, user, engagement_id, MANAGE_ROLES)
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
    """Share the new payout among the overseeing directors in proportion to their current
    shares (the last takes the rounding remainder, so the shares add up exactly); a standing
    backup gets the backup line's share."""
    live = [d for d in engagement.directors if d.ended_at is None]
    for d in live:
        # A backup whose line was dropped keeps its rate until its standby ends today, so the
        # days it served are still paid.
        if d.role == DirectorRole.backup.value and backup_share:
            d.monthly_payout_cents = backup_share
    directors = [d for d in live if d.role == DirectorRole.primary.value]
    old_total = sum(d.monthly_payout_cents for d in directors)
    given = 0
    for i, d in enumerate(directors):
        if i == len(directors) - 1:
            d.monthly_payout_cents = total - given
        elif old_total:
            d.monthly_payout_cents = d.monthly_payout_cents * total // old_total
        else:
            d.monthly_payout_cents = total // len(directors)
        given += d.monthly_payout_cents


_MICROSECOND = timedelta(microseconds=1)


def prorated_difference(
    old_amount: int,
    new_amount: int,
    *,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> int:
    """(new - old) for the part of the period [start, end) still to run at `now`, in cents,
    rounded half away from zero. Exact integer arithmetic on elapsed microseconds: a float
    product misrounds exact half cents, and instants are compared in UTC so a period written
    in a local zone is as long as it really is across a DST change."""
    if start is None or end is None:
        return 0
    start, end, now = (t.astimezone(UTC) for t in (start, end, now))
    if end <= start:
        return 0
    total = (end - start) // _MICROSECOND
    remaining = max(0, (end - max(now, start)) // _MICROSECOND)
    difference = new_amount - old_amount
    cents, rest = divmod(abs(difference) * remaining, total)
    if 2 * rest >= total:
        cents += 1
    return cents if difference >= 0 else -cents


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
    old_amount, interval = period_amount(old_quote)
    new_amount, _ = period_amount(quote)
    sub = await gateway.retrieve_subscription(engagement.stripe_subscription_id)
    start = shapes.period_start(sub)
    end = shapes.period_end(sub)
    proration = prorated_difference(old_amount, new_amount, start=start, end=end, now=utcnow())
    if new_amount == old_amount:
        return 0
    plan = await gateway.ensure_plan(amount_cents=new_amount, interval=interval, currency="usd")
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
            await _operation(
                session,
                gateway,
                engagement,
                key=f"proration:{engagement.id}:{quote.id}",
                kind="proration",
                amount_cents=proration,
                description=(
                    f"Scope change: {'+' if proration > 0 else '-'}"
                    f"${abs(proration) / 100:,.2f} for the rest of the current period"
                ),
                customer=clinic_customer,
            )
    sub = await gateway.retrieve_subscription(engagement.stripe_subscription_id)
    await apply_subscription(session, gateway, engagement, sub, reason="scope change")
    return proration


# --- invoices --------------------------------------------------------------------------------


async def list_invoices(
    session: AsyncSession, clinic_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[Invoice], str | None]:
    stmt = select(Invoice).where(Invoice.clinic_id == clinic_id)
    return await paginate(session, stmt, page, created_at=Invoice.created_at, id_column=Invoice.id)


# --- background: expiry and reconciliation ---------------------------------------------------


async def expire_unpaid(
    session: AsyncSession, gateway: StripeGateway | None, engagement_id: uuid.UUID
) -> bool:
    """Cancel one engagement still unpaid after its payment window (Stripe expires an
    incomplete subscription after 23 hours; the emulator never does, so we cancel it)."""
    engagement = await session.scalar(
        select(Engagement).where(Engagement.id == engagement_id).with_for_update(skip_locked=True)
    )
    if engagement is None or engagement.status != EngagementStatus.pending_payment.value:
        return False
    if engagement.payment_due_by is None or engagement.payment_due_by > utcnow():
        return False
    if engagement.stripe_subscription_id and gateway is not None:
        sub = await gateway.retrieve_subscription(engagement.stripe_subscription_id)
        if shapes.ENGAGEMENT_STATUS.get(str(sub.get("status"))) == "active":
            # Paid in the meantime (the webhook has not arrived yet): sync instead.
            await apply_subscription(session, gateway, engagement, sub, reason="reconcile")
            return False
        if sub.get("status") not in ("canceled", "incomplete_expired"):
            sub = await gateway.cancel_now(engagement.stripe_subscription_id)
        engagement.stripe_status = sub.get("status")
    await mark_canceled(
        session,
        engagement,
        reason="the first payment was not made within the payment window",
        actor_id=None,
    )
    return True


async def overdue_engagements(session: AsyncSession) -> Sequence[uuid.UUID]:
    return list(
        await session.scalars(
            select(Engagement.id).where(
                Engagement.status == EngagementStatus.pending_payment.value,
                Engagement.payment_due_by <= utcnow(),
            )
        )
    )


async def open_engagements(session: AsyncSession) -> Sequence[uuid.UUID]:
    return list(
        await session.scalars(
            select(Engagement.id).where(
                Engagement.status != EngagementStatus.canceled.value,
                Engagement.stripe_subscription_id.is_not(None),
            )
        )
    )


async def reconcile_one(
    session: AsyncSession, gateway: StripeGateway, engagement_id: uuid.UUID
) -> bool:
    """Re-read one engagement's subscription from Stripe and repair drift. True if anything
    visible (status, payment status, period end) changed."""
    engagement = await session.scalar(
        select(Engagement).where(Engagement.id == engagement_id).with_for_update(skip_locked=True)
    )
    if engagement is None or not engagement.stripe_subscription_id:
        return False
    before = (engagement.status, engagement.payment_status, engagement.current_period_end)
    sub = await gateway.retrieve_subscription(engagement.stripe_subscription_id)
    await apply_subscription(session, gateway, engagement, sub, reason="reconcile")
    # Every invoice of the subscription, not only the latest: a lost webhook of an older paid
    # invoice would otherwise never be mirrored or accrue its payouts.
    customer = str(sub.get("customer"))
    async for invoice in gateway.list_invoices(customer=customer):
        if shapes.invoice_subscription_id(invoice) == engagement.stripe_subscription_id:
            await mirror_invoice(session, engagement, engagement.clinic_id, invoice)
    after = (engagement.status, engagement.payment_status, engagement.current_period_end)
    if before != after:
        log.warning(
            "stripe_drift_repaired",
            engagement_id=str(engagement.id),
            before=[str(x) for x in before],
            after=[str(x) for x in after],
        )
        return True
    return False


async def process_event(
    session: AsyncSession, gateway: StripeGateway, payload: dict[str, Any]
) -> str:
    """Apply one stored event: re-fetch what it is about and sync. Returns what was done."""
    sub_id, invoice_id = shapes.object_ids(payload)
    if sub_id is None:
        return "ignored"
    engagement, sub = await engagement_for_subscription(session, gateway, sub_id)
    if engagement is None or sub is None:
        return "not-ours"
    invoice = await gateway.retrieve_invoice(invoice_id) if invoice_id else None
    # The payload only says which objects to fetch; how they relate comes from Stripe's own
    # copies. A (signed) event pairing one clinic's invoice with another's subscription, or
    # objects of a customer that is not the engagement's clinic, changes nothing.
    customer = await session.scalar(
        select(Clinic.stripe_customer_id).where(Clinic.id == engagement.clinic_id)
    )
    mismatch = shapes.customer_id(sub) != customer or (
        invoice is not None
        and (
            shapes.invoice_subscription_id(invoice) != sub["id"]
            or shapes.customer_id(invoice) != customer
        )
    )
    if mismatch:
        log.warning(
            "stripe_event_objects_mismatch",
            event_id=payload.get("id"),
            engagement_id=str(engagement.id),
        )
        return "mismatched"
    await apply_subscription(
        session, gateway, engagement, sub, invoice=invoice, reason=str(payload.get("type"))
    )
    return "synced"
