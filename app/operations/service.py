"""Operations overrides. Each one locks what it changes, is audited with the operator's reason,
and tells the people it affects. Matching's own rules still apply unless an override says
otherwise (a forced offer records which constraints it overrode)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import User
from app.billing import shapes
from app.billing.stripe_gateway import StripeGateway
from app.clinics.models import Clinic, Intake, IntakeStatus
from app.clinics.status import transition
from app.config import Settings
from app.directorships.departures import open_backup_search, open_departure
from app.directorships.locks import lock_intake_engagement
from app.engagements.backup import start_backup_search
from app.engagements.continuity import restart_searches
from app.engagements.models import (
    LIVE_ENGAGEMENT_STATUSES,
    Engagement,
    EngagementDirector,
)
from app.errors import Conflict, NotFound
from app.kit.clock import utcnow
from app.ledger.models import Invoice
from app.matching import service as matching
from app.matching.diagnostics import explain_physician
from app.matching.models import Match, MatchStatus, Offer, OfferStatus
from app.notifications.recipients import clinic_admin_ids
from app.notifications.service import notify
from app.physicians.models import Physician
from app.pricing.models import Quote
from app.pricing.service import backup_payout_cents


class OverrideNotPossible(Conflict):
    slug, title = "override-not-possible", "Not possible in the current state"


class ConstraintsNotMet(Conflict):
    slug, title = "constraints-not-met", "The physician does not meet the constraints"


class RefundTooLarge(Conflict):
    slug, title = "refund-too-large", "More than is left to refund"


async def _lock_intake(session: AsyncSession, intake_id: uuid.UUID) -> tuple[Intake, Clinic]:
    if await session.scalar(select(Intake.id).where(Intake.id == intake_id)) is None:
        raise NotFound("No such intake.")
    return await matching.lock_intake(session, intake_id)


async def rematch(
    session: AsyncSession, intake_id: uuid.UUID, *, reason: str, actor: User, settings: Settings
) -> Intake:
    """Run matching again: a fresh round for an intake still matching or unmatched (open offers
    withdrawn first), or a fresh replacement search for a director nobody has replaced yet."""
    engagement = await lock_intake_engagement(session, intake_id)
    intake, clinic = await _lock_intake(session, intake_id)
    before = {"status": intake.status, "round": intake.matching_round}
    if intake.status in (IntakeStatus.matching.value, IntakeStatus.unmatched.value):
        await matching.withdraw_open_offers(session, intake.id)
        if intake.status == IntakeStatus.unmatched.value:
            transition(intake, IntakeStatus.matching)
        await matching.start_matching(session, intake, clinic, settings)
    elif intake.status == IntakeStatus.confirmed.value:
        await _rematch_engagement(
            session, engagement, intake, clinic, actor=actor, settings=settings
        )
    else:
        raise OverrideNotPossible(
            f"An intake that is {intake.status} cannot be matched again.",
            intake_status=intake.status,
        )
    await record_audit(
        session,
        actor_id=actor.id,
        action="ops.rematch",
        object_type="intake",
        object_id=intake.id,
        before=before,
        after={"status": intake.status, "round": intake.matching_round, "reason": reason},
    )
    return intake


async def _rematch_engagement(
    session: AsyncSession,
    engagement: Engagement | None,
    intake: Intake,
    clinic: Clinic,
    *,
    actor: User,
    settings: Settings,
) -> None:
    """Fresh searches for every director nobody has replaced yet, or else for the standing
    backup nobody has accepted yet."""
    if engagement is None or engagement.status not in LIVE_ENGAGEMENT_STATUSES:
        raise OverrideNotPossible(
            "This intake's engagement has ended; there is nobody to search for."
        )
    if await restart_searches(session, engagement, intake, clinic, settings):
        return
    if await start_backup_search(session, engagement, intake, clinic, settings, actor_id=actor.id):
        return
    raise OverrideNotPossible(
        "This intake's engagement has every director it needs; nothing to re-match."
    )


async def _open_search(session: AsyncSession, intake: Intake) -> tuple[list[str], int] | None:
    """For a confirmed intake: the states and payout of its open replacement or standing-backup
    search, if any."""
    if intake.status != IntakeStatus.confirmed.value:
        return None
    live = await session.scalar(
        select(Engagement.id).where(
            Engagement.intake_id == intake.id,
            Engagement.status.in_(LIVE_ENGAGEMENT_STATUSES),
        )
    )
    if live is None:
        return None  # the engagement ended: nobody to search for
    departure = await open_departure(session, intake)
    if departure is not None:
        director = await session.get(EngagementDirector, departure.director_id)
        assert director is not None
        return departure.states, director.monthly_payout_cents
    backup = await open_backup_search(session, intake)
    if backup is not None:
        engagement = await session.get(Engagement, backup.engagement_id)
        assert engagement is not None
        quote = await session.get(Quote, engagement.quote_id)
        assert quote is not None
        return backup.states, backup_payout_cents(quote)
    return None


async def offer_to(
    session: AsyncSession,
    intake_id: uuid.UUID,
    physician_id: uuid.UUID,
    *,
    reason: str,
    force: bool,
    states: list[str] | None,
    actor: User,
    settings: Settings,
) -> Offer:
    """Offer the intake (one of its open state groups) to a named physician."""
    intake, clinic = await _lock_intake(session, intake_id)
    search = await _open_search(session, intake)
    if intake.status != IntakeStatus.matching.value and search is None:
        raise OverrideNotPossible(
            f"Only an intake that is matching (or a replacement or standing-backup search) "
            f"takes offers; this one is {intake.status}.",
            intake_status=intake.status,
        )
    physician = await session.scalar(
        select(Physician).where(Physician.id == physician_id).with_for_update(key_share=True)
    )
    if physician is None:
        raise NotFound("No such physician.")
    matches = list(await session.scalars(matching.current_round(intake)))
    accepted = {m.group_key for m in matches if m.status in ("accepted", "confirmed")}
    groups = {m.group_key for m in matches}
    if search is not None:  # a search nobody was found for has no matches yet
        groups.add(matching.group_key(search[0]))
    open_groups = sorted(groups - accepted)
    if states is not None:
        key = matching.group_key(states)
        if key not in open_groups:
            raise OverrideNotPossible(
                f"No open state group {key}; open: {', '.join(open_groups) or 'none'}."
            )
    elif len(open_groups) == 1:
        key = open_groups[0]
    else:
        raise OverrideNotPossible(
            f"Name the state group to offer (`states`); open: {', '.join(open_groups) or 'none'}.",
            open_groups=open_groups,
        )
    group = [m for m in matches if m.group_key == key]
    # One match per physician and round (a unique index): a physician already ranked in this
    # round is offered through their existing match, unless it is busy or for another group.
    existing = next((m for m in matches if m.physician_id == physician.id), None)
    if existing is not None and existing.status == MatchStatus.offered.value:
        raise OverrideNotPossible("This physician already has an open offer for this intake.")
    if existing is not None and (
        existing.group_key != key or existing.status in ("accepted", "confirmed")
    ):
        raise OverrideNotPossible(
            f"This physician is already {existing.status} for state group {existing.group_key} "
            "of this intake's current round.",
            match_status=existing.status,
        )
    ctx = await matching.build_context(session, intake, clinic, settings)
    checks = await explain_physician(session, ctx, key.split(","), physician.id)
    failed = [c for c in checks if not c["passed"]]
    if failed and not force:
        raise ConstraintsNotMet(
            "Not met: " + "; ".join(c["description"] for c in failed) + ". Send `force` with "
            "a reason to offer anyway.",
            failed=[c["name"] for c in failed],
        )
    override = {"by": str(actor.id), "reason": reason, "forced": [c["name"] for c in failed]}
    if existing is not None:
        match = existing
        match.status = MatchStatus.candidate.value
        match.explanation = {**match.explanation, "override": override}
    else:
        match = Match(
            id=uuid.uuid4(),
            intake_id=intake.id,
            round=intake.matching_round,
            physician_id=physician.id,
            group_key=key,
            covers_states=key.split(","),
            rank=max((m.rank for m in group), default=0) + 1,
            score=0.0,
            status=MatchStatus.candidate.value,
            explanation={
                "constraints": [
                    {"name": c["name"], "description": c["description"]} for c in checks
                ],
                "factors": [],
                "override": override,
            },
            monthly_payout_cents=group[0].monthly_payout_cents
            if group
            else search[1]
            if search
            else 0,
            **ctx.charge(key.split(",")).columns(),
        )
        session.add(match)
    await session.flush()
    [offer] = await matching.send_offers(session, intake, [match], settings)
    await record_audit(
        session,
        actor_id=actor.id,
        action="ops.offer_sent",
        object_type="intake",
        object_id=intake.id,
        after={
            "offer_id": str(offer.id),
            "physician_id": str(physician.id),
            "states": match.covers_states,
            "forced_constraints": [c["name"] for c in failed],
            "reason": reason,
        },
    )
    return offer


async def withdraw_offer(
    session: AsyncSession, offer_id: uuid.UUID, *, reason: str, actor: User, settings: Settings
) -> Offer:
    """Withdraw a pending offer; the cascade moves on to the next candidate."""
    peek = await session.get(Offer, offer_id)
    if peek is None:
        raise NotFound("No such offer.")
    intake, clinic = await matching.lock_intake(session, peek.intake_id)
    offer = await session.scalar(select(Offer).where(Offer.id == offer_id).with_for_update())
    assert offer is not None
    if offer.status != OfferStatus.pending.value:
        raise OverrideNotPossible(
            f"Only a pending offer can be withdrawn; this one is {offer.status}.",
            offer_status=offer.status,
        )
    offer.status = OfferStatus.withdrawn.value
    offer.responded_at = utcnow()
    match = await session.get(Match, offer.match_id)
    assert match is not None
    match.status = MatchStatus.withdrawn.value
    user_id = await session.scalar(
        select(Physician.user_id).where(Physician.id == offer.physician_id)
    )
    assert user_id is not None
    await notify(
        session,
        user_id=user_id,
        kind="offer.withdrawn",
        email=True,
        title="An offer was withdrawn",
        body="Our operations team withdrew this offer; no action is required.",
        data={"offer_id": str(offer.id)},
    )
    await record_audit(
        session,
        actor_id=actor.id,
        action="ops.offer_withdrawn",
        object_type="offer",
        object_id=offer.id,
        before={"status": OfferStatus.pending.value},
        after={"status": offer.status, "reason": reason},
    )
    await session.flush()
    await matching.advance(session, intake, clinic, settings)
    return offer


async def refund_invoice(
    session: AsyncSession,
    gateway: StripeGateway,
    invoice_id: uuid.UUID,
    *,
    amount_cents: int | None,
    reason: str,
    actor: User,
) -> tuple[Invoice, dict[str, Any]]:
    """Refund (part of) a paid invoice through Stripe. The retry key is derived from what was
    refunded before, so a retried request never refunds twice."""
    invoice = await session.scalar(
        select(Invoice).where(Invoice.id == invoice_id).with_for_update()
    )
    if invoice is None:
        raise NotFound("No such invoice.")
    if invoice.status != "paid" or invoice.amount_paid_cents <= 0:
        raise OverrideNotPossible(
            f"Only a paid invoice can be refunded; this one is {invoice.status}.",
            invoice_status=invoice.status,
        )
    left = invoice.amount_paid_cents - invoice.amount_refunded_cents
    amount = amount_cents if amount_cents is not None else left
    if amount <= 0 or amount > left:
        raise RefundTooLarge(
            f"{left} cents are left to refund on this invoice.", refundable_cents=left
        )
    stripe_invoice = await gateway.retrieve_invoice(invoice.stripe_invoice_id)
    payment_intent = shapes.payment_intent_id(stripe_invoice)
    if payment_intent is None:
        raise OverrideNotPossible("Stripe shows no payment on this invoice to refund.")
    refund = await gateway.create_refund(
        payment_intent=payment_intent,
        amount_cents=amount,
        key=f"refund:{invoice.id}:{invoice.amount_refunded_cents}:{amount}",
        metadata={"mdmatch_invoice_id": str(invoice.id), "reason": reason[:450]},
    )
    before = invoice.amount_refunded_cents
    invoice.amount_refunded_cents = before + amount
    await record_audit(
        session,
        actor_id=actor.id,
        action="ops.invoice_refunded",
        object_type="invoice",
        object_id=invoice.id,
        before={"amount_refunded_cents": before},
        after={
            "amount_refunded_cents": invoice.amount_refunded_cents,
            "amount_cents": amount,
            "stripe_refund_id": refund.get("id"),
            "reason": reason,
        },
    )
    admins = await clinic_admin_ids(session, invoice.clinic_id)
    for admin in admins:
        await notify(
            session,
            user_id=admin,
            kind="invoice.refunded",
            email=True,
            title="A refund is on its way",
            body=f"We refunded ${amount / 100:,.2f} of invoice "
            f"{invoice.number or invoice.stripe_invoice_id} to your card.",
            data={"invoice_id": str(invoice.id), "amount_cents": amount},
        )
    return invoice, refund
