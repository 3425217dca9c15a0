from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from app.auth.deps import ClinicAdminUser, OpsUser, PhysicianUser, SettingsDep, require_role
from app.auth.models import Role, User
from app.clinics import service as clinics
from app.clinics.models import Clinic, Intake, IntakeStatus
from app.clinics.schemas import IntakeRead, ProviderCount
from app.clinics.service import onsite_hours_at, staffing_of
from app.db import SessionDep
from app.directorships.departures import round_purpose
from app.errors import problem_responses
from app.kit.clock import today
from app.kit.idempotency import AppRoute, idempotent
from app.kit.pagination import Page, PageParams, page_params, paginate
from app.matching import anonymity, diagnostics, flows, offers, service
from app.matching.models import Match, MatchStatus, Offer, OfferStatus
from app.matching.schemas import (
    ClinicContact,
    DeclineBody,
    MatchList,
    MatchPhysician,
    MatchRead,
    OfferLocation,
    OfferOnsiteHours,
    OfferPhysician,
    OfferPractice,
    OfferRead,
    RosterLine,
)
from app.physicians.models import Physician
from app.physicians.service import current_states_of, get_own_profile
from app.pricing.schemas import ComplianceProblem

router = APIRouter(prefix="/v1", tags=["matching"], route_class=AppRoute)
ClinicReader = Annotated[User, Depends(require_role(Role.clinic_admin, Role.ops_admin))]
PageDep = Annotated[PageParams, Depends(page_params)]


@router.post(
    "/intakes/{intake_id}/submit",
    operation_id="submit_intake",
    responses=problem_responses(401, 403, 404, 409, 422, models={409: ComplianceProblem}),
)
@idempotent
async def submit_intake(
    intake_id: uuid.UUID, user: ClinicAdminUser, session: SessionDep, settings: SettingsDep
) -> IntakeRead:
    """Freeze the intake, persist its quote (valid 30 days) and start matching: the best
    candidates get offers at once. Blocking compliance flags answer 409
    `blocking-compliance-flags` with the flags."""
    intake, clinic = await clinics.get_intake(
        session, user, intake_id, manage=True, for_update=True
    )
    await flows.submit(session, intake, clinic, actor=user, settings=settings)
    await session.commit()
    return IntakeRead.model_validate(intake)


@router.post(
    "/intakes/{intake_id}/withdraw",
    operation_id="withdraw_intake",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def withdraw_intake(
    intake_id: uuid.UUID, user: ClinicAdminUser, session: SessionDep
) -> IntakeRead:
    """Withdraw an intake that is not confirmed yet; its open offers are withdrawn."""
    intake, _ = await clinics.get_intake(session, user, intake_id, manage=True, for_update=True)
    await flows.withdraw(session, intake, actor=user)
    await session.commit()
    return IntakeRead.model_validate(intake)


@router.get(
    "/intakes/{intake_id}/matches",
    operation_id="list_intake_matches",
    responses=problem_responses(401, 403, 404, 422),
)
async def list_matches(intake_id: uuid.UUID, user: ClinicReader, session: SessionDep) -> MatchList:
    """The ranked candidates with their explanations; physicians stay anonymous until the
    engagement is confirmed."""
    intake, _ = await clinics.get_intake(session, user, intake_id)
    latest_offer = (
        select(Offer.id)
        .where(Offer.match_id == Match.id)
        .order_by(Offer.created_at.desc())
        .limit(1)
        .correlate(Match)
        .scalar_subquery()
    )
    # Only the columns the card shows (no ORM entities: a page of 20 explanations is the
    # busiest read of the clinic app). Licensed states come from the physician row's
    # trigger-maintained expiries, not from credential rows.
    rows = (
        await session.execute(
            select(
                Match.id,
                Match.rank,
                Match.score,
                Match.status,
                Match.covers_states,
                Match.explanation,
                Match.confirm_by,
                latest_offer.label("offer_id"),
                Physician.id.label("physician_id"),
                Physician.first_name,
                Physician.last_name,
                Physician.degree,
                Physician.specialties,
                Physician.years_experience,
                Physician.aesthetic_years,
                Physician.license_expiry,
                User.email,
            )
            .join(Physician, Physician.id == Match.physician_id)
            .join(User, User.id == Physician.user_id)
            .where(Match.intake_id == intake.id, Match.round == intake.matching_round)
            .order_by(Match.group_key, Match.rank)
        )
    ).all()
    day = today()
    is_ops = user.role == Role.ops_admin.value
    pools: dict[tuple[str, ...], dict[tuple[int, tuple[str, ...]], int]] = {}
    items = []
    for r in rows:
        if is_ops or r.status == MatchStatus.confirmed.value:
            physician = MatchPhysician(
                id=r.physician_id,
                display_name=f"Dr. {r.first_name} {r.last_name}",
                degree=r.degree,
                specialties=r.specialties,
                years_experience=r.years_experience,
                aesthetic_years=r.aesthetic_years,
                states_licensed=current_states_of(r.license_expiry, day),
                email=r.email if is_ops else None,
            )
        else:
            states = tuple(r.covers_states)
            if states not in pools:
                pools[states] = await anonymity.pool_counts(session, states)
            physician = _anonymous_card(r, pools[states])
        items.append(
            MatchRead(
                match_id=r.id,
                offer_id=r.offer_id,
                rank=r.rank,
                score=r.score if is_ops else round(r.score),
                status=MatchStatus(r.status),
                covers_states=r.covers_states,
                physician=physician,
                explanation=r.explanation if is_ops else clinic_explanation(r.explanation),
                hold_until=r.confirm_by if r.status == MatchStatus.accepted.value else None,
            )
        )
    return MatchList(items=items)


def _anonymous_card(r: Any, counts: dict[tuple[int, tuple[str, ...]], int]) -> MatchPhysician:
    """A candidate as a clinic sees it before confirmation (see app/matching/anonymity.py)."""
    card = anonymity.choose(
        anonymity.Traits.of(r.specialties, r.degree, r.years_experience, r.aesthetic_years),
        counts,
    )
    return MatchPhysician(
        id=anonymity.card_id(r.id),
        display_name=card.display_name,
        degree=card.degree,
        specialties=[card.specialty] if card.specialty else [],
        years_experience=None,
        aesthetic_years=None,
        experience_band=card.experience,
        aesthetic_band=card.aesthetic,
        states_licensed=list(r.covers_states),
        anonymized=True,
    )


def clinic_explanation(explanation: dict[str, Any]) -> dict[str, Any]:
    """What a clinic sees of an explanation: factor values rounded to a tenth (exact ones would
    give away the years behind a banded card), and that operations made the offer and which
    checks they overrode, not their internal note or who they are."""
    shown = {**explanation}
    if isinstance(explanation.get("factors"), list):
        shown["factors"] = [_coarse_factor(f) for f in explanation["factors"]]
    override = explanation.get("override")
    if isinstance(override, dict):
        shown["override"] = {"by": "operations", "forced": list(override.get("forced") or [])}
    return shown


def _coarse_factor(factor: Any) -> Any:
    if not isinstance(factor, dict):
        return factor
    return {
        k: round(v, 1) if k in ("value", "contribution") and isinstance(v, float) else v
        for k, v in factor.items()
    }


@router.get("/intakes", operation_id="list_intakes", responses=problem_responses(401, 403, 422))
async def list_intakes(
    _ops: OpsUser,
    session: SessionDep,
    page: PageDep,
    settings: SettingsDep,
    status: IntakeStatus | None = None,
    stalled: Annotated[
        bool, Query(description="Matching, with no accepted offer past the placement target")
    ] = False,
) -> Page[IntakeRead]:
    """Every intake (operations), newest first; `?status=matching&stalled=true` lists the
    placements that need a human."""
    stmt = select(Intake)
    if status:
        stmt = stmt.where(Intake.status == status.value)
    if stalled:
        stmt = stmt.where(service.stalled(settings))
    rows, cursor = await paginate(
        session, stmt, page, created_at=Intake.created_at, id_column=Intake.id
    )
    return Page(items=[IntakeRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get(
    "/intakes/{intake_id}/diagnostics",
    operation_id="intake_matching_diagnostics",
    responses=problem_responses(401, 403, 404, 422),
)
async def intake_diagnostics(
    intake_id: uuid.UUID,
    ops: OpsUser,
    session: SessionDep,
    settings: SettingsDep,
    physician_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Why physicians were or were not eligible (operations): the constraint funnel for every
    state of the intake, and with `physician_id`, each constraint for that physician."""
    intake, clinic = await clinics.get_intake(session, ops, intake_id)
    ctx = await service.build_context(session, intake, clinic, settings)
    ctx = dataclasses.replace(ctx, payout_cents=await service.directors_payout(session, intake))
    states = service.states_of(ctx)
    out: dict[str, Any] = {
        "outcome": intake.matching_outcome,
        "funnel": await diagnostics.diagnose(session, ctx, states),
    }
    if physician_id:
        out["physician"] = await diagnostics.explain_physician(session, ctx, states, physician_id)
    return out


# --- the physician portal -------------------------------------------------------------------


async def offer_read(session: Any, offer: Offer, *, for_ops: bool = False) -> OfferRead:
    """The offer as its physician sees it; `for_ops` adds who it went to (name and e-mail), so
    operations need no e-mail log to find the physician."""
    intake = await session.get(Intake, offer.intake_id)
    match = await session.get(Match, offer.match_id)
    clinic = await session.get(Clinic, intake.clinic_id)
    contact = None
    if match.status == MatchStatus.confirmed.value:
        contact = ClinicContact(
            legal_name=clinic.legal_name,
            contact_name=clinic.contact_name,
            contact_email=clinic.contact_email,
            contact_phone=clinic.contact_phone,
        )
    purpose, starts_on = (
        await round_purpose(session, offer.intake_id, match.round)
        if intake.status == IntakeStatus.confirmed.value
        else ("placement", None)
    )
    states = set(match.covers_states)
    people = staffing_of(intake, clinic).in_states(states)
    hours = onsite_hours_at(intake)
    practice = OfferPractice(
        locations=[
            OfferLocation(city=loc.city, state=loc.state)
            for loc in clinic.locations
            if loc.state in states
        ],
        ownership_model=clinic.ownership_model,
        staffing_source=intake.staffing_source,
        supervisees=[
            RosterLine(type=t, count=n, fte=people.fte.get(t, 0.0))
            for t, n in sorted(people.heads.items())
        ],
        compliance_flags=[
            f for f in intake.compliance_flags if f.get("state") is None or f["state"] in states
        ],
        expected_monthly_cases=intake.monthly_patient_volume,
        oversight_mode=intake.oversight_mode,
        onsite_hours=[
            OfferOnsiteHours(city=loc.city, state=loc.state, hours_per_month=hours[i])
            for i, loc in enumerate(clinic.locations)
            if loc.state in states and i in hours
        ],
    )
    return OfferRead(
        id=offer.id,
        purpose=purpose,
        practice=practice,
        starts_on=starts_on,
        status=OfferStatus(offer.status),
        respond_by=offer.respond_by,
        services=intake.services,
        states=match.covers_states,
        providers=[ProviderCount.model_validate(p) for p in intake.providers],
        oversight_mode=intake.oversight_mode,
        engagement_model=intake.engagement_model,
        monthly_payout_cents=offer.monthly_payout_cents,
        desired_start=intake.desired_start,
        clinic_reviews=intake.review_choices,
        hold_until=match.confirm_by if offer.status == OfferStatus.accepted.value else None,
        created_at=offer.created_at,
        clinic=contact,
        physician=await _offer_physician(session, match.physician_id) if for_ops else None,
    )


async def _offer_physician(session: Any, physician_id: uuid.UUID) -> OfferPhysician:
    row = (
        await session.execute(
            select(Physician.first_name, Physician.last_name, User.email)
            .join(User, User.id == Physician.user_id)
            .where(Physician.id == physician_id)
        )
    ).one()
    return OfferPhysician(
        id=physician_id, name=f"Dr. {row.first_name} {row.last_name}", email=row.email
    )


@router.get(
    "/physicians/me/offers",
    operation_id="list_my_offers",
    responses=problem_responses(401, 403, 404, 422),
)
async def my_offers(
    user: PhysicianUser, session: SessionDep, page: PageDep, status: OfferStatus | None = None
) -> Page[OfferRead]:
    """The caller's offers, newest first; `?status=pending` for the ones awaiting an answer."""
    physician = await get_own_profile(session, user)
    stmt = select(Offer).where(Offer.physician_id == physician.id)
    if status:
        stmt = stmt.where(Offer.status == status.value)
    rows, cursor = await paginate(
        session, stmt, page, created_at=Offer.created_at, id_column=Offer.id
    )
    return Page(items=[await offer_read(session, o) for o in rows], next_cursor=cursor)


@router.get(
    "/offers/{offer_id}", operation_id="get_offer", responses=problem_responses(401, 403, 404, 422)
)
async def get_offer(offer_id: uuid.UUID, user: PhysicianUser, session: SessionDep) -> OfferRead:
    """One of the caller's offers; the clinic's name and contacts appear once it confirms."""
    return await offer_read(session, await service.own_offer(session, user, offer_id))


@router.post(
    "/offers/{offer_id}/accept",
    operation_id="accept_offer",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def accept(
    offer_id: uuid.UUID, user: PhysicianUser, session: SessionDep, settings: SettingsDep
) -> OfferRead:
    """Accept an offer. The first accept of an intake wins; the others get 409 `offer-not-open`,
    and a physician without capacity left gets 409 `capacity-exhausted`."""
    offer = await offers.accept_offer(session, user, offer_id, settings)
    await session.commit()
    return await offer_read(session, offer)


@router.post(
    "/offers/{offer_id}/decline",
    operation_id="decline_offer",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def decline(
    offer_id: uuid.UUID,
    body: DeclineBody,
    user: PhysicianUser,
    session: SessionDep,
    settings: SettingsDep,
) -> OfferRead:
    """Decline an offer with a reason; the next candidate is offered at once."""
    offer = await offers.decline_offer(session, user, offer_id, body.reason, settings)
    await session.commit()
    return await offer_read(session, offer)
