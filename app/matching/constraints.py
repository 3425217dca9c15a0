"""The hard constraints of matching, as named SQL predicates over `physicians`.

One definition serves three uses: the eligibility query (all predicates ANDed), the
explanation of a single physician (each predicate evaluated for that row), and the funnel of an
unmatched intake (how many physicians survive each constraint in turn). The selective
predicates (a verified license in the state, the services array) are served by indexes, so cost
grows with the physicians who could match, not with all of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    case,
    exists,
    func,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.sql.selectable import LateralFromClause

from app.catalog.rules import Cap
from app.catalog.vocabulary import EngagementModel
from app.clinics.compliance import SatelliteRule
from app.clinics.models import Intake
from app.clinics.staffing import Charge, Staffing
from app.directorships.models import LIVE_ENGAGEMENT_STATUSES, Engagement, EngagementDirector
from app.kit.geo import EARTH_RADIUS_MILES
from app.matching.models import Match, MatchStatus, Offer, OfferStatus
from app.physicians.eligibility import (
    board_certified,
    current_dea,
    current_license,
    current_malpractice,
)
from app.physicians.models import Physician


@dataclass(frozen=True)
class LocationNeed:
    state: str
    lat: float
    lon: float
    # The director must reach this location (on-site or hybrid mode, or an on-site service).
    onsite: bool
    # The state's site-visit rule for the NPs or PAs working here (its description, with its
    # citation): the director must be able to visit, even under remote oversight.
    site_visit: str | None = None


@dataclass(frozen=True)
class MatchContext:
    """Everything the constraints need to know about one intake."""

    intake_id: uuid.UUID
    clinic_id: uuid.UUID
    services: tuple[str, ...]
    dea_required: bool
    engagement_model: str
    oversight_mode: str
    start: date
    locations: tuple[LocationNeed, ...]
    # Who works where: the clinic's roster, or its counts read as full-time people in every
    # state. A director is charged only with the people of the states they cover.
    staffing: Staffing
    # Per state: the PA, NP and combined caps (the state's law, or the product's default).
    caps: Mapping[str, Mapping[str, Cap]] = field(default_factory=dict)
    state_names: Mapping[str, str] = field(default_factory=dict)
    # States whose satellite-office rule applies to this intake (Florida §458.348(3)).
    satellite: Mapping[str, SatelliteRule] = field(default_factory=dict)
    round: int = 1
    # Physicians never to propose (directors who left this intake's engagement).
    excluded: tuple[uuid.UUID, ...] = ()
    # What the physician being re-checked already carries for this very engagement (a scope
    # change asks only for the increase); nothing for new matches.
    credit: Charge = field(default_factory=Charge)
    # The monthly payout of the work being matched (a group's share, a backup's share): a
    # physician whose stated minimum monthly rate is above it is never offered the work.
    payout_cents: int | None = None
    # A fractional engagement's stated share of the physician's capacity (None: one clinic).
    fractional_share: float | None = None

    def charge(self, states: Sequence[str]) -> Charge:
        """What a director covering `states` takes on: the people working in those states."""
        return Charge.of(self.staffing.in_states(states))


@dataclass(frozen=True)
class Constraint:
    name: str
    description: str
    expr: ColumnElement[bool]


def capacity_load() -> LateralFromClause:
    """Per physician (LATERAL, so only candidate rows are aggregated): clinics held and
    supervisees, PAs and NPs supervised, by accepted-not-confirmed matches and by directors of
    live engagements, and how many of those are full-time engagements."""
    held = union_all(
        select(
            Match.supervisees,
            Match.pa_count,
            Match.np_count,
            Match.supervisees_fte,
            Match.pa_fte,
            Match.np_fte,
            Intake.engagement_model,
            Intake.fractional_share,
        )
        .join(Intake, Intake.id == Match.intake_id)
        .where(Match.physician_id == Physician.id, Match.status == MatchStatus.accepted.value)
        .correlate(Physician),
        select(
            EngagementDirector.supervisees,
            EngagementDirector.pa_count,
            EngagementDirector.np_count,
            EngagementDirector.supervisees_fte,
            EngagementDirector.pa_fte,
            EngagementDirector.np_fte,
            Intake.engagement_model,
            Intake.fractional_share,
        )
        .join(Engagement, Engagement.id == EngagementDirector.engagement_id)
        .join(Intake, Intake.id == Engagement.intake_id)
        .where(
            EngagementDirector.physician_id == Physician.id,
            EngagementDirector.ended_at.is_(None),
            Engagement.status.in_(LIVE_ENGAGEMENT_STATUSES),
        )
        .correlate(Physician),
    ).subquery("held")
    return (
        select(
            func.count().label("clinics"),
            func.coalesce(func.sum(held.c.supervisees), 0).label("supervisees"),
            func.coalesce(func.sum(held.c.pa_count), 0).label("pas"),
            func.coalesce(func.sum(held.c.np_count), 0).label("nps"),
            func.coalesce(func.sum(held.c.supervisees_fte), 0).label("supervisees_fte"),
            func.coalesce(func.sum(held.c.pa_fte), 0).label("pa_fte"),
            func.coalesce(func.sum(held.c.np_fte), 0).label("np_fte"),
            func.count()
            .filter(held.c.engagement_model == EngagementModel.full_time.value)
            .label("full_time"),
            func.coalesce(func.sum(_slots(held.c.fractional_share)), 0).label("slots"),
        )
        .select_from(held)
        .lateral("load")
    )


def _slots(share: Any) -> ColumnElement[Any]:
    """The physician's clinic places an engagement takes: one, or for a fractional engagement
    with a stated share that share of the physician's clinics (rounded up)."""
    return case(
        (share.is_(None), literal(1)),
        else_=func.greatest(1, func.ceil(share * Physician.max_clinics)),
    )


def distance_miles(lat: float, lon: float) -> ColumnElement[float]:
    """Great-circle distance from the physician's home to (lat, lon), in miles (haversine)."""
    home_lat = func.radians(Physician.home_lat)
    dlat = func.radians(literal(lat, Float) - Physician.home_lat) / 2
    dlon = func.radians(literal(lon, Float) - Physician.home_lon) / 2
    a = func.power(func.sin(dlat), 2) + func.cos(home_lat) * func.cos(
        func.radians(literal(lat, Float))
    ) * func.power(func.sin(dlon), 2)
    return 2 * EARTH_RADIUS_MILES * func.asin(func.sqrt(func.least(a, 1.0)))


Builder = Callable[[LateralFromClause], ColumnElement[bool]]

# What a physician already supervises, per cap kind and basis (columns of `capacity_load`).
_HELD: dict[tuple[str, str], Callable[[LateralFromClause], ColumnElement[Any]]] = {
    ("pa", "heads"): lambda load: load.c.pas,
    ("np", "heads"): lambda load: load.c.nps,
    ("combined", "heads"): lambda load: load.c.pas + load.c.nps,
    ("pa", "fte"): lambda load: load.c.pa_fte,
    ("np", "fte"): lambda load: load.c.np_fte,
    ("combined", "fte"): lambda load: load.c.pa_fte + load.c.np_fte,
}


def _fte_words(fte: float) -> str:
    return f"{fte:g} more full-time-equivalent provider" + ("" if fte == 1 else "s")


def _ratio(ctx: MatchContext, states: Sequence[str], kind: str) -> tuple[str, str, Builder] | None:
    """`{kind}_ratio`: in each covered state with a cap of `kind`, what the physician already
    supervises plus the people of that state stays within the cap, counted by head or by FTE
    as the state's rule says. The physician's existing load is counted whole (it is not kept
    per state): the conservative reading."""
    checks: list[tuple[str, Cap, float]] = []
    for state in sorted(states):
        cap = ctx.caps.get(state, {}).get(kind)
        if cap is None or cap.limit is None:
            continue
        adding = ctx.staffing.in_states([state]).count(kind, cap.counts)
        if adding > 0:
            checks.append((state, cap, adding - ctx.credit.count(kind, cap.counts)))
    if not checks:
        return None
    described = " and ".join(
        cap.describe(ctx.state_names.get(state, state)) for state, cap, _ in checks
    )

    def build(load: LateralFromClause) -> ColumnElement[bool]:
        return and_(
            true(),
            *(_HELD[(kind, cap.counts)](load) + more <= cap.limit for _, cap, more in checks),
        )

    return (f"{kind}_ratio", f"stays within {described}", build)


def _satellite_description(sat: SatelliteRule, state_name: str) -> str:
    parts = [
        "board-certified or board-eligible in "
        + " or ".join(s.replace("_", " ") for s in sat.specialties)
    ]
    if sat.max_miles:
        parts.append(f"lives within {sat.max_miles} miles of the {sat.state} location")
    if sat.max_offices:
        parts.append(f"supervises fewer than {sat.max_offices} other such {sat.state} office")
    cited = f" ({sat.citation})" if sat.citation else ""
    return (
        f"{state_name}'s satellite-office rule{cited}: " + ", ".join(parts) + " (the contiguous-"
        "county alternative is not evaluated: the product's conservative reading)"
    )


def _satellite_ok(sat: SatelliteRule, loc: LocationNeed, start: date) -> ColumnElement[bool]:
    """The physician may supervise NPs and PAs at this office under the satellite rule: board
    certification, distance from their home (their primary practice as we know it), and the
    other remote or hybrid offices they already direct in the state."""
    conditions = [board_certified(sat.specialties, start)]
    if sat.max_miles:
        conditions.append(distance_miles(loc.lat, loc.lon) <= sat.max_miles)
    if sat.max_offices:
        others = (
            select(func.count())
            .select_from(EngagementDirector)
            .join(Engagement, Engagement.id == EngagementDirector.engagement_id)
            .join(Intake, Intake.id == Engagement.intake_id)
            .where(
                EngagementDirector.physician_id == Physician.id,
                EngagementDirector.ended_at.is_(None),
                Engagement.status.in_(LIVE_ENGAGEMENT_STATUSES),
                EngagementDirector.states.contains([sat.state]),
                Intake.oversight_mode != "onsite",
            )
            .correlate(Physician)
            .scalar_subquery()
        )
        conditions.append(others < sat.max_offices)
    return and_(*conditions)


def _definitions(ctx: MatchContext, states: Sequence[str]) -> list[tuple[str, str, Builder]]:
    """The hard constraints for a physician to direct the intake's locations in `states`: name,
    description and a builder of the SQL predicate (given the capacity load). Describing them
    builds no SQL; `constraints()` builds it for the queries."""
    start = ctx.start
    group = [loc for loc in ctx.locations if loc.state in states]
    out: list[tuple[str, str, Builder]] = [
        (
            "verified",
            "verified credentials, not suspended",
            lambda load: Physician.verification_status == "verified",
        ),
        ("accepting_new", "accepting new clinics", lambda load: Physician.accepting_new.is_(True)),
        (
            "malpractice",
            f"malpractice cover current on {start.isoformat()}",
            lambda load: current_malpractice(start),
        ),
    ]
    for state in sorted(states):
        out.append(
            (
                f"license:{state}",
                f"active {state} license not expiring before {start.isoformat()}",
                lambda load, state=state: current_license(state, start),  # type: ignore[misc]
            )
        )
    services = list(ctx.services)
    out.append(
        (
            "services",
            "supervises every requested service",
            lambda load: Physician.services.contains(services),
        )
    )
    if ctx.dea_required:
        for state in sorted(states):
            out.append(
                (
                    f"dea:{state}",
                    f"DEA registration in {state} for controlled substances",
                    lambda load, state=state: current_dea(state, start),  # type: ignore[misc]
                )
            )
    model, mode = ctx.engagement_model, ctx.oversight_mode
    out.append(
        (
            "engagement_model",
            f"offers {model.replace('_', ' ')} engagements",
            lambda load: Physician.engagement_models.contains([model]),
        )
    )
    out.append(
        (
            "oversight_mode",
            f"offers {mode} oversight",
            lambda load: Physician.oversight_modes.contains([mode]),
        )
    )
    for i, loc in enumerate(group):
        if loc.onsite:
            out.append(
                (
                    f"travel:{loc.state}:{i}",
                    f"lives within their travel radius of the {loc.state} location",
                    lambda load, loc=loc: (
                        distance_miles(loc.lat, loc.lon)  # type: ignore[misc]
                        <= Physician.travel_radius_miles
                    ),
                )
            )
    for i, loc in enumerate(group):
        if loc.site_visit and not loc.onsite:
            out.append(
                (
                    f"site_visit:{loc.state}:{i}",
                    f"lives within their travel radius of the {loc.state} location, to make the "
                    f"visits {loc.site_visit}",
                    lambda load, loc=loc: (
                        distance_miles(loc.lat, loc.lon)  # type: ignore[misc]
                        <= Physician.travel_radius_miles
                    ),
                )
            )
    for i, loc in enumerate(group):
        sat = ctx.satellite.get(loc.state)
        if sat is not None:
            out.append(
                (
                    f"satellite:{loc.state}:{i}",
                    _satellite_description(sat, ctx.state_names.get(loc.state, loc.state)),
                    lambda load, loc=loc, sat=sat: _satellite_ok(sat, loc, start),  # type: ignore[misc]
                )
            )
    charge, credit = ctx.charge(states), ctx.credit
    out.append(
        (
            "capacity_clinics",
            "has room for another clinic"
            + (
                f" ({ctx.fractional_share:.0%} of their clinics, the stated fractional share)"
                if ctx.fractional_share is not None
                else ""
            ),
            lambda load: (
                load.c.slots + _slots(literal(ctx.fractional_share, Float()))
                <= Physician.max_clinics
            ),
        )
    )
    if ctx.engagement_model == EngagementModel.full_time.value:
        out.append(
            (
                "capacity_full_time",
                "directs no other clinic (a full-time engagement takes their whole capacity)",
                lambda load: load.c.clinics == 0,
            )
        )
    else:
        out.append(
            (
                "capacity_full_time",
                "is not a full-time director elsewhere",
                lambda load: load.c.full_time == 0,
            )
        )
    more_fte = round(charge.supervisees_fte - credit.supervisees_fte, 2)
    out.append(
        (
            "capacity_supervisees",
            f"has room to supervise {_fte_words(charge.supervisees_fte)}",
            lambda load: load.c.supervisees_fte + more_fte <= Physician.max_supervisees,
        )
    )
    for kind in ("pa", "np", "combined"):
        ratio = _ratio(ctx, states, kind)
        if ratio is not None:
            out.append(ratio)
    if ctx.payout_cents is not None:
        payout = ctx.payout_cents
        out.append(
            (
                "min_rate",
                f"asks no more than the ${payout / 100:,.2f} a month this pays (their stated "
                "minimum monthly rate)",
                lambda load: Physician.min_monthly_rate_cents <= payout,
            )
        )
    clinic_id = ctx.clinic_id

    def not_declined(load: LateralFromClause) -> ColumnElement[bool]:
        declined = (
            exists()
            .where(
                Offer.physician_id == Physician.id,
                Offer.status == OfferStatus.declined.value,
                Offer.intake_id == Intake.id,
                Intake.clinic_id == clinic_id,
            )
            .correlate(Physician)
        )
        return ~declined

    out.append(("not_declined", "has not declined this clinic", not_declined))
    if ctx.excluded:
        excluded = ctx.excluded
        out.append(
            (
                "not_departed",
                "is not leaving this clinic",
                lambda load: Physician.id.not_in(excluded),
            )
        )
    return out


def constraints(
    ctx: MatchContext, states: Sequence[str], load: LateralFromClause
) -> list[Constraint]:
    """The hard constraints as SQL predicates over `physicians` joined to `load`."""
    return [Constraint(name, text, build(load)) for name, text, build in _definitions(ctx, states)]


def describe(ctx: MatchContext, states: Sequence[str]) -> list[dict[str, str]]:
    """The constraints' names and descriptions (for explanations; no SQL is built)."""
    return [{"name": name, "description": text} for name, text, _ in _definitions(ctx, states)]


def already_matched(intake_id: uuid.UUID, round_: int) -> ColumnElement[bool]:
    return exists().where(
        Match.intake_id == intake_id, Match.round == round_, Match.physician_id == Physician.id
    )


def eligible_query(
    ctx: MatchContext,
    states: Sequence[str],
    *,
    exclude_matched: bool = True,
    preselect: tuple[Sequence[frozenset[str]], int, Mapping[str, float], int] | None = None,
) -> Any:
    """Eligible physicians for `states` with the columns ranking needs; with `preselect`
    (fit sets, payout, weights, how many), only the best by the SQL mirror of the ranking."""
    from app.matching.preselect import MARGIN, score_expr

    load = capacity_load()
    preds = [c.expr for c in constraints(ctx, states, load)]
    if exclude_matched:
        preds.append(~already_matched(ctx.intake_id, ctx.round))
    onsite = [loc for loc in ctx.locations if loc.state in states and loc.onsite]
    distance = (
        func.greatest(*[distance_miles(loc.lat, loc.lon) for loc in onsite])
        if len(onsite) > 1
        else distance_miles(onsite[0].lat, onsite[0].lon)
        if onsite
        else literal(None, Float)
    )
    stmt = (
        select(
            Physician.id,
            Physician.first_name,
            Physician.last_name,
            Physician.degree,
            Physician.specialties,
            Physician.years_experience,
            Physician.aesthetic_years,
            Physician.max_clinics,
            Physician.min_monthly_rate_cents,
            Physician.travel_radius_miles,
            Physician.offers_received,
            Physician.offers_accepted,
            Physician.offers_declined,
            Physician.offers_expired,
            load.c.clinics.label("clinics_held"),
            distance.label("distance_miles"),
        )
        .select_from(Physician)
        .join(load, true())
        .where(and_(*preds))
    )
    if preselect is not None:
        fit_sets, payout_cents, weights, limit = preselect
        score = score_expr(
            load=load,
            distance=distance if onsite else None,
            fit_sets=fit_sets,
            payout_cents=payout_cents,
            weights=weights,
        )
        stmt = stmt.order_by(
            score.desc(),
            Physician.aesthetic_years.desc(),
            Physician.years_experience.desc(),
            Physician.id,
        ).limit(limit + MARGIN)
    return stmt


def explain_query(ctx: MatchContext, states: Sequence[str], physician_id: uuid.UUID) -> Any:
    load = capacity_load()
    cs = constraints(ctx, states, load)
    cols = [c.expr.label(f"c{i}") for i, c in enumerate(cs)]
    stmt = (
        select(*cols).select_from(Physician).join(load, true()).where(Physician.id == physician_id)
    )
    return stmt, cs


def funnel_query(ctx: MatchContext, states: Sequence[str]) -> Any:
    """How many physicians pass the first 1, 2, ... constraints (one scan, for diagnostics)."""
    load = capacity_load()
    cs = constraints(ctx, states, load)
    counts = []
    acc: list[ColumnElement[bool]] = []
    for i, c in enumerate(cs):
        acc.append(c.expr)
        counts.append(func.count().filter(and_(*acc)).label(f"c{i}"))
    total = func.count().label("total")
    stmt = select(total, *counts).select_from(Physician).join(load, true())
    return stmt, cs
