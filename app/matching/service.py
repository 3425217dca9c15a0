"""Matching an intake to physicians: candidates, offers, the cascade, accept and decline.

Locks are always taken in the same order — intake, then offer, then physician — so accepts,
declines, withdrawals and the cascade never deadlock one another. The intake lock serialises
everything that changes one intake's offers; the physician lock serialises capacity checks of
one physician across intakes.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, Select, and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.catalog.rules import CAP_LABELS
from app.catalog.services import service_catalog
from app.clinics.compliance import StateContext, satellite_rule
from app.clinics.models import Clinic, Intake, IntakeStatus
from app.clinics.service import onsite_hours_at, staffing_of, state_contexts
from app.clinics.staffing import Staffing
from app.clinics.status import transition
from app.config import Settings
from app.directorships.departures import (
    mark_backup_uncovered,
    mark_uncovered,
    open_backup_search,
    open_departures,
    round_purpose,
)
from app.directorships.models import DirectorDeparture, Engagement, EngagementDirector
from app.errors import Conflict, NotFound
from app.kit.clock import today, utcnow
from app.kit.geo import lookup_zip
from app.matching import constraints as mc
from app.matching import scoring
from app.matching.diagnostics import diagnose
from app.matching.models import Match, MatchStatus, Offer, OfferStatus
from app.notifications.recipients import clinic_admin_ids
from app.notifications.service import notify, notify_ops
from app.physicians.models import Physician
from app.pricing.models import Quote
from app.pricing.service import directors_payout_cents

log = structlog.get_logger(__name__)

OPEN_MATCH = (MatchStatus.candidate.value, MatchStatus.offered.value)


class OfferNotOpen(Conflict):
    slug, title = "offer-not-open", "Offer is no longer open"


class CapacityExhausted(Conflict):
    slug, title = "capacity-exhausted", "No capacity left"


class OfferNotFound(NotFound):
    pass


def group_key(states: Sequence[str]) -> str:
    return ",".join(sorted(states))


def current_round(intake: Intake) -> Select[Match]:
    """The matches of the intake's latest matching round (each submit starts one)."""
    return select(Match).where(Match.intake_id == intake.id, Match.round == intake.matching_round)


# --- context --------------------------------------------------------------------------------


async def build_context(
    session: AsyncSession, intake: Intake, clinic: Clinic, settings: Settings
) -> mc.MatchContext:
    catalog = service_catalog()
    contexts = {
        c.code: c
        for c in await state_contexts(
            session,
            [loc.state for loc in clinic.locations],
            default_cap=settings.default_supervisee_cap,
        )
    }
    requested = set(intake.services)
    staffing = staffing_of(intake, clinic)
    hours = onsite_hours_at(intake)
    locations = []
    for position, loc in enumerate(clinic.locations):
        onsite_services = requested & set(contexts[loc.state].onsite_required_services)
        # On-site mode: every location. Hybrid: the locations with stated hours (all of them
        # when none are stated, as before hours were asked). Any mode: on-site services.
        onsite = (
            intake.oversight_mode == "onsite"
            or (intake.oversight_mode == "hybrid" and (not hours or position in hours))
            or bool(onsite_services)
        )
        lat, lon = loc.lat, loc.lon
        if lat is None or lon is None:  # pragma: no cover - locations always geocode
            info = lookup_zip(loc.zip)
            assert info is not None
            lat, lon = info.lat, info.lon
        locations.append(
            mc.LocationNeed(
                loc.state,
                lat,
                lon,
                onsite,
                site_visit=_site_visit_rule(contexts[loc.state], staffing),
            )
        )
    # Directors who left this intake's engagement are never asked to replace anyone; a search
    # for a standing backup does not ask the engagement's own directors either.
    departed = tuple(
        await session.scalars(
            select(DirectorDeparture.physician_id).where(DirectorDeparture.intake_id == intake.id)
        )
    )
    if intake.status == IntakeStatus.confirmed.value:
        # Nor is anyone who is (or was) one of its directors or its backup: one physician
        # holds one role on an engagement.
        departed += tuple(
            await session.scalars(
                select(EngagementDirector.physician_id)
                .join(Engagement, Engagement.id == EngagementDirector.engagement_id)
                .where(Engagement.intake_id == intake.id)
            )
        )
    return mc.MatchContext(
        intake_id=intake.id,
        clinic_id=clinic.id,
        services=tuple(sorted(requested)),
        dea_required=any(catalog[s].controlled_substance for s in requested),
        engagement_model=intake.engagement_model,
        oversight_mode=intake.oversight_mode,
        # Credentials must hold from the start, and never from a day already past: an intake
        # submitted (or a replacement searched for) after its desired start starts today.
        start=max(intake.desired_start, today()),
        locations=tuple(locations),
        staffing=staffing,
        fractional_share=intake.fractional_share,
        caps={c: ctx.caps for c, ctx in contexts.items()},
        satellite={
            c: sat
            for c, st in contexts.items()
            if (
                sat := satellite_rule(
                    st,
                    services=sorted(requested),
                    providers=staffing.in_states([c]).heads,
                    oversight_mode=intake.oversight_mode,
                    catalog=catalog,
                )
            )
            is not None
        },
        state_names={c: ctx.name for c, ctx in contexts.items()},
        round=intake.matching_round,
        excluded=departed,
    )


def _site_visit_rule(st: StateContext, staffing: Staffing) -> str | None:
    """The state's site-visit rule where it applies to the NPs or PAs working there, described
    with its citation (None where the state sets none, or nobody it covers works there)."""
    fact = st.cited.get("site_visits") or {}
    rules = fact.get("value")
    if not isinstance(rules, list):
        return None
    heads = staffing.in_states([st.code]).heads
    visits = [
        r
        for r in rules
        if r.get("kind") == "site_visit" and any(heads.get(t, 0) for t in r["applies_to"])
    ]
    if not visits:
        return None
    every = min(int(r["every_days"]) for r in visits)
    cited = f" ({fact['citation']})" if fact.get("citation") else ""
    return f"{st.name}'s site-visit rule sets{cited}: at least every {every} days"


def stalled(settings: Settings) -> ColumnElement[bool]:
    """Intakes matching for longer than the placement target without an accepted offer."""
    target = utcnow() - timedelta(hours=settings.placement_target_hours)
    return and_(
        Intake.status == IntakeStatus.matching.value,
        Intake.submitted_at <= target,
        ~exists().where(
            Match.intake_id == Intake.id,
            Match.status.in_([MatchStatus.accepted.value, MatchStatus.confirmed.value]),
        ),
    )


def states_of(ctx: mc.MatchContext) -> list[str]:
    return sorted({loc.state for loc in ctx.locations})


def needs_multiple_directors(ctx: mc.MatchContext) -> list[dict[str, Any]]:
    out = []
    for state in states_of(ctx):
        people = ctx.staffing.in_states([state])
        for kind, cap in ctx.caps.get(state, {}).items():
            count = people.count(kind, cap.counts)
            if cap.limit is not None and count > cap.limit:
                out.append(
                    {
                        "state": state,
                        "providers": CAP_LABELS[kind],
                        "count": count,
                        "cap_per_physician": cap.limit,
                        "basis": cap.basis,
                        "citation": cap.citation,
                    }
                )
    return out


# --- candidates -----------------------------------------------------------------------------


@dataclass
class RankedCandidate:
    row: Any
    ranked: scoring.Ranked


async def ranked_candidates(
    session: AsyncSession,
    ctx: mc.MatchContext,
    states: Sequence[str],
    *,
    payout_cents: int,
    settings: Settings,
    limit: int | None = None,
) -> list[RankedCandidate]:
    catalog = service_catalog()
    ctx = dataclasses.replace(ctx, payout_cents=payout_cents)
    fit_sets = [frozenset(catalog[s].fit_specialties) for s in ctx.services]
    preselect = (fit_sets, payout_cents, settings.match_weights, limit) if limit else None
    rows = (await session.execute(mc.eligible_query(ctx, states, preselect=preselect))).all()
    facts = [
        scoring.CandidateFacts(
            physician_id=r.id,
            specialties=tuple(r.specialties),
            years_experience=r.years_experience,
            aesthetic_years=r.aesthetic_years,
            max_clinics=r.max_clinics,
            clinics_held=r.clinics_held,
            min_monthly_rate_cents=r.min_monthly_rate_cents,
            travel_radius_miles=r.travel_radius_miles,
            distance_miles=r.distance_miles,
            offers_received=r.offers_received,
            offers_accepted=r.offers_accepted,
            offers_declined=r.offers_declined,
            offers_expired=r.offers_expired,
        )
        for r in rows
    ]
    ranked = scoring.rank(
        facts,
        service_fit={s: catalog[s].fit_specialties for s in ctx.services},
        payout_cents=payout_cents,
        weights=settings.match_weights,
        limit=limit,
    )
    by_id = {r.id: r for r in rows}
    return [RankedCandidate(by_id[r.physician_id], r) for r in ranked]


def split_payout(
    total_cents: int, groups: Sequence[Sequence[str]], ctx: mc.MatchContext
) -> list[int]:
    """Each director's share of the physician payout, by the locations they oversee; the
    remainder of the integer division goes to the first group, so shares add up exactly."""
    counts = [sum(1 for loc in ctx.locations if loc.state in g) for g in groups]
    total_locations = sum(counts) or 1
    shares = [total_cents * c // total_locations for c in counts]
    shares[0] += total_cents - sum(shares)
    return shares


async def add_candidates(
    session: AsyncSession,
    ctx: mc.MatchContext,
    states: Sequence[str],
    *,
    payout_cents: int,
    settings: Settings,
    found: list[RankedCandidate] | None = None,
    start_rank: int | None = None,
) -> list[Match]:
    """Store the next best candidates of a state group as `candidate` matches (`found` when the
    caller already ranked them; `start_rank` 0 for a group that has none yet)."""
    key = group_key(states)
    if start_rank is None:
        start_rank = (
            await session.scalar(
                select(func.coalesce(func.max(Match.rank), 0)).where(
                    Match.intake_id == ctx.intake_id,
                    Match.round == ctx.round,
                    Match.group_key == key,
                )
            )
            or 0
        )
    if found is None:
        found = await ranked_candidates(
            session,
            ctx,
            states,
            payout_cents=payout_cents,
            settings=settings,
            limit=settings.match_candidates_per_group,
        )
    passed = mc.describe(dataclasses.replace(ctx, payout_cents=payout_cents), states)
    created = []
    for i, cand in enumerate(found, start=1):
        created.append(
            Match(
                id=uuid.uuid4(),
                intake_id=ctx.intake_id,
                round=ctx.round,
                physician_id=cand.row.id,
                group_key=key,
                covers_states=sorted(states),
                rank=start_rank + i,
                score=cand.ranked.score,
                status=MatchStatus.candidate.value,
                explanation={
                    "constraints": passed,
                    "factors": [f.__dict__ for f in cand.ranked.factors],
                },
                monthly_payout_cents=payout_cents,
                **ctx.charge(states).columns(),
            )
        )
    session.add_all(created)
    await session.flush()
    return created


# --- starting and advancing -----------------------------------------------------------------


async def directors_payout(session: AsyncSession, intake: Intake) -> int | None:
    """What the intake's directors share a month (its latest quote), or None before a quote."""
    quote = await session.scalar(
        select(Quote).where(Quote.intake_id == intake.id).order_by(Quote.created_at.desc()).limit(1)
    )
    return directors_payout_cents(quote) if quote is not None else None


async def _quote(session: AsyncSession, intake_id: uuid.UUID) -> Quote:
    quote = await session.scalar(
        select(Quote).where(Quote.intake_id == intake_id).order_by(Quote.created_at.desc()).limit(1)
    )
    assert quote is not None, "a submitted intake always has a quote"
    return quote


async def start_matching(
    session: AsyncSession, intake: Intake, clinic: Clinic, settings: Settings
) -> None:
    """Right after submit (intake locked, status `matching`): start a new round, plan the state
    groups, store the best candidates of each, and send the first offers."""
    intake.matching_round += 1
    ctx = await build_context(session, intake, clinic, settings)
    quote = await _quote(session, intake.id)
    payout = directors_payout_cents(quote)  # a standing backup's share is searched for later
    intake.matching_outcome = None
    too_many = needs_multiple_directors(ctx)
    if too_many:
        await _mark_unmatched(
            session,
            intake,
            clinic,
            {"reason": "needs_multiple_directors", "details": too_many},
        )
        return
    states = states_of(ctx)
    groups: list[tuple[str, ...]] | None = [tuple(states)]
    whole = await ranked_candidates(
        session,
        ctx,
        states,
        payout_cents=payout,
        settings=settings,
        limit=settings.match_candidates_per_group,
    )
    if not whole and len(states) > 1:
        per_state = {
            s: [
                c.row.id
                for c in await ranked_candidates(
                    session, ctx, [s], payout_cents=payout, settings=settings
                )
            ]
            for s in states
        }
        groups = scoring.plan_coverage(states, per_state)
    priced = dataclasses.replace(ctx, payout_cents=payout)
    if not whole and (groups is None or len(states) == 1):
        await _mark_unmatched(
            session,
            intake,
            clinic,
            {
                "reason": "no_eligible_physicians",
                "diagnostics": [await diagnose(session, priced, [s]) for s in states]
                if len(states) > 1
                else [await diagnose(session, priced, states)],
            },
        )
        return
    assert groups is not None
    created: list[Match] = []
    if whole:
        created += await add_candidates(
            session,
            ctx,
            states,
            payout_cents=payout,
            settings=settings,
            found=whole,
            start_rank=0,
        )
    else:
        payouts = split_payout(payout, groups, ctx)
        for group, payout in zip(groups, payouts, strict=True):
            created += await add_candidates(
                session, ctx, group, payout_cents=payout, settings=settings, start_rank=0
            )
    await advance(session, intake, clinic, settings, ctx=ctx, matches=created)


def offer_deadline(sent_at: datetime, *, rush: bool, settings: Settings) -> datetime:
    """An offer's `respond_by`: the offer window (the shorter rush one for a rush intake) of
    elapsed time after it is sent, added in UTC (in a local zone, Python adds wall-clock time:
    an hour off across a DST change). The offer is closed from that instant on."""
    hours = settings.rush_offer_ttl_hours if rush else settings.offer_ttl_hours
    return sent_at.astimezone(UTC) + timedelta(hours=hours)


async def advance(
    session: AsyncSession,
    intake: Intake,
    clinic: Clinic,
    settings: Settings,
    *,
    ctx: mc.MatchContext | None = None,
    matches: list[Match] | None = None,
) -> None:
    """One step of the cascade (intake locked): keep `match_fan_out` offers open in every state
    group without an accepted director, topping up candidates when they run out; a group with
    nobody left makes the intake `unmatched`; all groups accepted makes it `matched`.
    `matches`: every match of the intake, when the caller just created them."""
    departures: dict[str, DirectorDeparture] = {}
    backup = None
    if intake.status == IntakeStatus.confirmed.value:
        # A confirmed intake's rounds after the first look for leaving directors' replacements
        # (a state group each) or for a standing backup director.
        departures = {group_key(d.states): d for d in await open_departures(session, intake)}
        if not departures:
            backup = await open_backup_search(session, intake)
            if backup is None:
                return
    elif intake.status != IntakeStatus.matching.value:
        return
    if matches is None:
        matches = list(await session.scalars(current_round(intake).order_by(Match.rank)))
    groups = sorted({m.group_key for m in matches})
    accepted = {m.group_key for m in matches if m.status in ("accepted", "confirmed")}
    for key in groups:
        if key in accepted:
            continue
        in_group = [m for m in matches if m.group_key == key]
        open_offers = sum(1 for m in in_group if m.status == MatchStatus.offered.value)
        waiting = [m for m in in_group if m.status == MatchStatus.candidate.value]
        room = settings.match_fan_out - open_offers
        if room > 0 and len(waiting) < room:
            ctx = ctx or await build_context(session, intake, clinic, settings)
            added = await add_candidates(
                session,
                ctx,
                key.split(","),
                payout_cents=in_group[0].monthly_payout_cents,
                settings=settings,
            )
            if added:
                waiting = list(
                    await session.scalars(
                        current_round(intake)
                        .where(
                            Match.group_key == key,
                            Match.status == MatchStatus.candidate.value,
                        )
                        .order_by(Match.rank)
                    )
                )
        chosen = waiting[: max(room, 0)]
        await send_offers(session, intake, chosen, settings)
        open_offers += len(chosen)
        if open_offers == 0:
            ctx = ctx or await build_context(session, intake, clinic, settings)
            priced = dataclasses.replace(ctx, payout_cents=in_group[0].monthly_payout_cents)
            if key in departures:
                # Nobody left for this leaving director; the other groups go on.
                await mark_uncovered(
                    session,
                    departures[key],
                    {"diagnostics": [await diagnose(session, priced, key.split(","))]},
                )
                continue
            if backup is not None:
                await mark_backup_uncovered(
                    session,
                    backup,
                    {"diagnostics": [await diagnose(session, priced, key.split(","))]},
                )
                return
            await _mark_unmatched(
                session,
                intake,
                clinic,
                {
                    "reason": "candidates_exhausted",
                    "state_group": key,
                    "diagnostics": [await diagnose(session, priced, key.split(","))],
                },
            )
            return
    await session.flush()


async def send_offers(
    session: AsyncSession, intake: Intake, matches: Sequence[Match], settings: Settings
) -> list[Offer]:
    """Offer `matches` (one round trip for each kind of write, however many offers)."""
    if not matches:
        return []
    now = utcnow()
    respond_by = offer_deadline(now, rush=intake.rush, settings=settings)
    physician_ids = [m.physician_id for m in matches]
    rows = await session.execute(
        select(Physician.id, Physician.user_id).where(Physician.id.in_(physician_ids))
    )
    users = dict(rows.all())
    purpose, starts_on = (
        await round_purpose(session, intake.id, intake.matching_round)
        if intake.status == IntakeStatus.confirmed.value
        else ("placement", None)
    )
    if purpose == "replacement" and starts_on is not None:
        role = f"a medical director from {starts_on:%Y-%m-%d}, replacing one who leaves"
    elif purpose == "standing_backup":
        role = "a standing backup director (on standby; you take over if its director leaves)"
    else:
        role = "a medical director"
    offers = []
    for match in matches:
        offer = Offer(
            id=uuid.uuid4(),
            match_id=match.id,
            intake_id=intake.id,
            physician_id=match.physician_id,
            group_key=match.group_key,
            status=OfferStatus.pending.value,
            respond_by=respond_by,
            monthly_payout_cents=match.monthly_payout_cents,
            created_at=now,
        )
        session.add(offer)
        offers.append(offer)
        match.status = MatchStatus.offered.value
        await notify(
            session,
            user_id=users[match.physician_id],
            kind="offer.new",
            email=True,
            title="New medical-director offer",
            body=(
                f"A clinic in {match.group_key.replace(',', ', ')} needs {role}: "
                f"${match.monthly_payout_cents / 100:,.2f} a month. Respond by "
                f"{respond_by:%Y-%m-%d %H:%M} UTC."
            ),
            data={"offer_id": str(offer.id), "intake_id": str(intake.id), "purpose": purpose},
            flush=False,
        )
    if intake.first_offer_at is None:
        intake.first_offer_at = now
    await session.flush()
    return offers


async def _mark_unmatched(
    session: AsyncSession, intake: Intake, clinic: Clinic, outcome: dict[str, Any]
) -> None:
    await _release_open(session, intake.id, include_accepted=True)
    transition(intake, IntakeStatus.unmatched)
    intake.matching_outcome = outcome
    await session.flush()
    reason = outcome["reason"].replace("_", " ")
    for admin in await clinic_admin_ids(session, clinic.id):
        await notify(
            session,
            user_id=admin,
            kind="intake.unmatched",
            email=True,
            title="We could not place a director yet",
            body=f"No eligible physician accepted your intake ({reason}). Our team is on it; you "
            "can adjust the intake and submit it again.",
            data={"intake_id": str(intake.id), "reason": outcome["reason"]},
        )
    await notify_ops(
        session,
        kind="intake.unmatched",
        title=f"Intake unmatched: {clinic.legal_name}",
        body=f"Intake {intake.id} ended unmatched: {reason}.",
        data={"intake_id": str(intake.id), "outcome": outcome},
    )
    log.info("intake_unmatched", intake_id=str(intake.id), reason=outcome["reason"])


async def _release_open(
    session: AsyncSession, intake_id: uuid.UUID, *, include_accepted: bool, group: str | None = None
) -> list[Offer]:
    """Withdraw the intake's pending offers (and accepted-unconfirmed ones when asked), freeing
    the physicians' capacity; notify them."""
    statuses = [OfferStatus.pending.value] + (
        [OfferStatus.accepted.value] if include_accepted else []
    )
    stmt = select(Offer).where(Offer.intake_id == intake_id, Offer.status.in_(statuses))
    if group is not None:
        stmt = stmt.where(Offer.group_key == group)
    offers = list(await session.scalars(stmt.with_for_update()))
    now = utcnow()
    # Set-based: one read of the matches and of the physicians' accounts, one flush for every
    # change and notification (an accept that beats 49 others withdraws 49 offers while it
    # holds the intake's lock, so this is on the hot path).
    matches = {
        m.id: m
        for m in await session.scalars(
            select(Match).where(Match.id.in_([o.match_id for o in offers]))
        )
    }
    accounts: dict[uuid.UUID, uuid.UUID] = {}
    if offers:
        rows = await session.execute(
            select(Physician.id, Physician.user_id).where(
                Physician.id.in_([o.physician_id for o in offers])
            )
        )
        accounts = {row.id: row.user_id for row in rows}
    for offer in offers:
        match = matches[offer.match_id]
        if match.status == MatchStatus.confirmed.value:
            continue
        offer.status = OfferStatus.withdrawn.value
        offer.responded_at = offer.responded_at or now
        match.status = MatchStatus.withdrawn.value
        await notify(
            session,
            user_id=accounts[offer.physician_id],
            kind="offer.withdrawn",
            email=True,
            title="An offer was withdrawn",
            body="The clinic's placement no longer needs you; no action is required.",
            data={"offer_id": str(offer.id)},
            flush=False,
        )
    await session.execute(
        update(Match)
        .where(Match.intake_id == intake_id, Match.status == MatchStatus.candidate.value)
        .values(status=MatchStatus.withdrawn.value)
        if group is None
        else update(Match)
        .where(
            Match.intake_id == intake_id,
            Match.group_key == group,
            Match.status == MatchStatus.candidate.value,
        )
        .values(status=MatchStatus.withdrawn.value)
    )
    await session.flush()
    return offers


# --- shared by offers and the sweeper --------------------------------------------------


async def lock_intake(session: AsyncSession, intake_id: uuid.UUID) -> tuple[Intake, Clinic]:
    intake = await session.scalar(select(Intake).where(Intake.id == intake_id).with_for_update())
    assert intake is not None
    clinic = await session.get(Clinic, intake.clinic_id)
    assert clinic is not None
    return intake, clinic


async def held_in_group(session: AsyncSession, intake: Intake, group: str) -> list[Match]:
    """The current round's accepted and confirmed matches of a state group (intake locked),
    lapsed acceptances the sweeper has not expired yet included: they still hold their slot."""
    return list(
        await session.scalars(
            current_round(intake)
            .where(
                Match.group_key == group,
                Match.status.in_([MatchStatus.accepted.value, MatchStatus.confirmed.value]),
            )
            .with_for_update()
        )
    )


async def own_offer(session: AsyncSession, user: User, offer_id: uuid.UUID) -> Offer:
    """The offer if it is the caller's, else 404 (another physician's offer does not exist)."""
    offer = await session.scalar(
        select(Offer)
        .join(Physician, Physician.id == Offer.physician_id)
        .where(Offer.id == offer_id, Physician.user_id == user.id)
    )
    if offer is None:
        raise OfferNotFound("No such offer.")
    return offer


async def withdraw_open_offers(session: AsyncSession, intake_id: uuid.UUID) -> int:
    return len(await _release_open(session, intake_id, include_accepted=True))


async def release_open_offers(session: AsyncSession, intake_id: uuid.UUID) -> int:
    """Withdraw the intake's pending offers and remaining candidates (not its acceptances)."""
    return len(await _release_open(session, intake_id, include_accepted=False))
