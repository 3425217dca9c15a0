"""A physician's answer to an offer: accept (atomic, capacity checked under lock) or decline."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, true
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import User
from app.clinics.models import Intake, IntakeStatus
from app.clinics.status import transition
from app.config import Settings
from app.directorships.locks import lock_intake_engagement
from app.kit.clock import utcnow
from app.matching import constraints as mc
from app.matching.diagnostics import explain_physician
from app.matching.handoff import join_running_engagement
from app.matching.models import Match, MatchStatus, Offer, OfferStatus
from app.matching.service import (
    CapacityExhausted,
    OfferNotOpen,
    _release_open,
    advance,
    build_context,
    current_round,
    held_in_group,
    lock_intake,
    own_offer,
)
from app.notifications.recipients import clinic_admin_ids
from app.notifications.service import notify
from app.physicians.models import Physician

CAPACITY_CONSTRAINTS = frozenset(
    {
        "capacity_clinics",
        "capacity_full_time",
        "capacity_supervisees",
        "pa_ratio",
        "np_ratio",
        "combined_ratio",
    }
)


async def _clinics_held(session: AsyncSession, physician_id: uuid.UUID) -> int:
    held = mc.capacity_load()
    value = await session.scalar(
        select(held.c.clinics)
        .select_from(Physician)
        .join(held, true())
        .where(Physician.id == physician_id)
    )
    return int(value or 0)


LOCK_NOT_AVAILABLE = "55P03"


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def confirm_deadline(accepted_at: datetime, settings: Settings) -> datetime:
    """An acceptance's `confirm_by`: the clinic's confirm window of elapsed time after it (the
    acceptance lapses from that instant on)."""
    return accepted_at.astimezone(UTC) + timedelta(hours=settings.confirm_window_hours)


def _holds(match: Match, now: datetime) -> bool:
    """An accepted match whose acceptance has not lapsed (the sweeper may not have run yet)."""
    return match.confirm_by is not None and match.confirm_by > now


def _refuse_unless_open(offer: Offer) -> None:
    now = utcnow()
    if offer.status != OfferStatus.pending.value or offer.respond_by <= now:
        raise OfferNotOpen(
            "This offer is no longer open: another physician accepted, it expired, or the "
            "clinic withdrew.",
            offer_status=offer.status if offer.respond_by > now else "expired",
        )


async def _wait_for_intake(session: AsyncSession, intake_id: uuid.UUID) -> None:
    """Wait until no one holds the intake's lock, without queueing behind the other waiters:
    a share lock (taken and given back inside a savepoint) waits for the holder only, so when
    an accept wins, every other physician racing it learns so at once instead of one by one."""
    try:
        async with session.begin_nested():
            await session.scalar(
                select(Intake.id).where(Intake.id == intake_id).with_for_update(nowait=True)
            )
            return
    except DBAPIError as exc:
        if _sqlstate(exc) != LOCK_NOT_AVAILABLE:
            raise
        # Someone holds it: wait as a sharer below.
    nested = await session.begin_nested()
    await session.scalar(select(Intake.id).where(Intake.id == intake_id).with_for_update(read=True))
    await nested.rollback()  # gives the share lock back


async def accept_offer(
    session: AsyncSession, user: User, offer_id: uuid.UUID, settings: Settings
) -> Offer:
    peek = await own_offer(session, user, offer_id)
    # Fast refusals: an offer already closed needs no lock; and a racing accept is waited out
    # (see _wait_for_intake) before the offer is looked at again.
    _refuse_unless_open(peek)
    # A replacement or backup offer joins a running engagement, which cancellation, scope
    # changes and departures lock before the intake: take it first too, so the lock order
    # (engagement, intake, offer, physician) is the same everywhere.
    await lock_intake_engagement(session, peek.intake_id)
    await _wait_for_intake(session, peek.intake_id)
    await session.refresh(peek, ["status", "respond_by"])
    _refuse_unless_open(peek)
    intake, clinic = await lock_intake(session, peek.intake_id)
    offer = await session.scalar(select(Offer).where(Offer.id == offer_id).with_for_update())
    assert offer is not None
    _refuse_unless_open(offer)
    now = utcnow()
    # FOR NO KEY UPDATE: serialises this physician's accepts (capacity) without blocking
    # other transactions' foreign-key checks on the physician row.
    physician = await session.scalar(
        select(Physician).where(Physician.id == offer.physician_id).with_for_update(key_share=True)
    )
    assert physician is not None
    match = await session.get(Match, offer.match_id)
    assert match is not None
    # Every hard constraint re-checked under that lock, with the same SQL as matching: a
    # physician suspended, no longer accepting, or whose license or cover lapsed since the offer
    # cannot accept it, and capacity cannot be exceeded by two accepts at once.
    ctx = await build_context(session, intake, clinic, settings)
    ctx = dataclasses.replace(ctx, payout_cents=match.monthly_payout_cents)
    failed = [
        c
        for c in await explain_physician(session, ctx, match.covers_states, physician.id)
        if not c["passed"]
    ]
    capacity = [c for c in failed if c["name"] in CAPACITY_CONSTRAINTS]
    if failed and len(capacity) == len(failed):
        held = await _clinics_held(session, physician.id)
        reasons = [
            f"you already oversee {held} of your {physician.max_clinics} clinics"
            if c["name"] == "capacity_clinics"
            else "a full-time engagement takes your whole capacity"
            if c["name"] == "capacity_full_time"
            else f"{match.supervisees_fte:g} more full-time-equivalent providers would exceed "
            f"your limit of {physician.max_supervisees}"
            if c["name"] == "capacity_supervisees"
            else f"the clinic's providers would exceed a state cap ({c['description']})"
            for c in capacity
        ]
        raise CapacityExhausted(
            "You have no capacity left for this clinic: " + "; ".join(reasons) + ".",
            clinics_held=held,
            max_clinics=physician.max_clinics,
        )
    if failed:
        raise OfferNotOpen(
            "You can no longer accept this offer: "
            + "; ".join(f"not met: {c['description']}" for c in failed)
            + ".",
            offer_status=offer.status,
        )
    # The clinic reviews up to `review_choices` acceptances of a placement (replacement and
    # backup rounds take the first); each holds a numbered slot of the group (a unique index).
    review = intake.review_choices if intake.status != IntakeStatus.confirmed.value else 1
    holding = await held_in_group(session, intake, offer.group_key)
    live = [m for m in holding if m.status == MatchStatus.confirmed.value or _holds(m, now)]
    if len(live) >= review:
        # Offers are released when the group is full; this is the guard behind that.
        raise OfferNotOpen(
            "This offer is no longer open: the clinic already has the physicians it asked to "
            "choose from.",
            offer_status=offer.status,
        )
    taken = {m.hold_slot for m in holding}
    offer.status = OfferStatus.accepted.value
    offer.responded_at = now
    match.status = MatchStatus.accepted.value
    match.accepted_at = now
    match.confirm_by = confirm_deadline(now, settings)
    match.hold_slot = next(n for n in range(1, len(taken) + 2) if n not in taken)
    await session.flush()
    if len(live) + 1 >= review:
        await _release_open(session, intake.id, include_accepted=False, group=offer.group_key)
    await record_audit(
        session,
        actor_id=user.id,
        action="offer.accepted",
        object_type="offer",
        object_id=offer.id,
        before={"status": OfferStatus.pending.value},
        after={
            "status": offer.status,
            "intake_id": str(intake.id),
            "physician_id": str(physician.id),
            "states": match.covers_states,
        },
    )
    round_matches = list(await session.scalars(current_round(intake)))
    groups = {m.group_key for m in round_matches}
    accepted = {
        m.group_key
        for m in round_matches
        if m.status in (MatchStatus.accepted.value, MatchStatus.confirmed.value)
    }
    if intake.status == IntakeStatus.confirmed.value:
        # A replacement round: the new director joins the running engagement at once; or a
        # standing-backup round: the physician goes on standby.
        await join_running_engagement(
            session,
            intake=intake,
            clinic=clinic,
            match=match,
            group_key=offer.group_key,
            settings=settings,
            actor_id=user.id,
        )
    elif intake.status == IntakeStatus.matched.value:
        # A clinic that reviews acceptances: one more to choose from.
        choices = len(live) + 1
        for admin in await clinic_admin_ids(session, clinic.id):
            await notify(
                session,
                user_id=admin,
                kind="intake.accepted_again",
                email=True,
                title="Another physician accepted",
                body=f"{choices} physicians accepted for {offer.group_key.replace(',', ', ')}. "
                f"Review them and confirm one; this acceptance holds until "
                f"{match.confirm_by:%Y-%m-%d %H:%M} UTC.",
                data={"intake_id": str(intake.id), "choices": choices},
            )
    elif groups <= accepted:
        transition(intake, IntakeStatus.matched)
        intake.matched_at = now
        body = (
            "Review your director and confirm within "
            f"{settings.confirm_window_hours:g} hours to start the engagement."
            if intake.review_choices == 1
            else "A physician accepted. Others may still accept (you asked to review up to "
            f"{intake.review_choices}); confirm the one you choose within "
            f"{settings.confirm_window_hours:g} hours of their acceptance."
        )
        for admin in await clinic_admin_ids(session, clinic.id):
            await notify(
                session,
                user_id=admin,
                kind="intake.matched",
                email=True,
                title="Your medical director accepted",
                body=body,
                data={"intake_id": str(intake.id)},
            )
    await session.flush()
    return offer


async def decline_offer(
    session: AsyncSession, user: User, offer_id: uuid.UUID, reason: str, settings: Settings
) -> Offer:
    peek = await own_offer(session, user, offer_id)
    intake, clinic = await lock_intake(session, peek.intake_id)
    offer = await session.scalar(select(Offer).where(Offer.id == offer_id).with_for_update())
    assert offer is not None
    # Past respond_by the offer has expired, whether or not the sweeper has marked it yet: a
    # late decline must not turn an expiry (which counts against responsiveness) into a decline.
    _refuse_unless_open(offer)
    offer.status = OfferStatus.declined.value
    offer.responded_at = utcnow()
    offer.decline_reason = reason
    match = await session.get(Match, offer.match_id)
    assert match is not None
    match.status = MatchStatus.declined.value
    await session.flush()
    await record_audit(
        session,
        actor_id=user.id,
        action="offer.declined",
        object_type="offer",
        object_id=offer.id,
        before={"status": OfferStatus.pending.value},
        after={"status": offer.status, "intake_id": str(intake.id), "reason": reason},
    )
    await advance(session, intake, clinic, settings)
    return offer
