"""Clinics, their locations and administrators, and intakes up to submission."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import Role, User
from app.catalog import rules
from app.catalog.models import StateRule
from app.catalog.service import states_by_code
from app.catalog.services import service_catalog
from app.clinics.compliance import StateContext, compliance_flags
from app.clinics.models import (
    Clinic,
    ClinicMember,
    ClinicProvider,
    Intake,
    IntakeStatus,
    Location,
    MemberRole,
)
from app.clinics.schemas import (
    ClinicCreate,
    ClinicRead,
    ClinicUpdate,
    Contact,
    IntakeCreate,
    IntakeUpdate,
    LocationIn,
    LocationRead,
    OnsiteHours,
    ProviderCount,
    check_onsite_hours,
    check_share,
)
from app.clinics.staffing import Staffing
from app.clinics.status import IntakeNotEditable, IntakeTransitionNotAllowed, transition
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.kit.clock import utcnow
from app.kit.geo import lookup_zip
from app.kit.pagination import PageParams, paginate

LIVE_INTAKE_STATUSES = (
    IntakeStatus.matching.value,
    IntakeStatus.matched.value,
    IntakeStatus.confirmed.value,
)


class ClinicNotFound(NotFound):
    pass


# Who may do what on a clinic (`MemberRole`): managing the clinic, its intakes and roster; its
# billing; its team. Every member reads.
MANAGE_ROLES = frozenset({MemberRole.owner.value, MemberRole.admin.value})
BILLING_ROLES = MANAGE_ROLES | {MemberRole.billing.value}
TEAM_ROLES = frozenset({MemberRole.owner.value})


async def member_role(
    session: AsyncSession, clinic_id: uuid.UUID, user_id: uuid.UUID
) -> str | None:
    return await session.scalar(
        select(ClinicMember.role).where(
            ClinicMember.clinic_id == clinic_id, ClinicMember.user_id == user_id
        )
    )


async def require_role(
    session: AsyncSession, user: User, clinic_id: uuid.UUID, roles: frozenset[str]
) -> str:
    """The caller's role on the clinic when it is one of `roles` (403 for a member with
    another role, naming what it takes)."""
    role = await member_role(session, clinic_id, user.id)
    if role not in roles:
        raise Forbidden(
            f"Your role on this clinic ({role}) cannot do this; it takes "
            + " or ".join(sorted(roles))
            + ". Ask the clinic's owner.",
            your_role=role,
        )
    return role


class IntakeNotFound(NotFound):
    pass


class ProviderLeftWithoutLocation(Conflict):
    slug, title = "provider-without-location", "A provider would work at no location"


def to_read(clinic: Clinic) -> ClinicRead:
    return ClinicRead(
        id=clinic.id,
        legal_name=clinic.legal_name,
        ownership_model=clinic.ownership_model,
        contact=Contact(
            name=clinic.contact_name, email=clinic.contact_email, phone=clinic.contact_phone
        ),
        locations=[LocationRead.model_validate(loc) for loc in clinic.locations],
        states=sorted({loc.state for loc in clinic.locations}),
        created_at=clinic.created_at,
        updated_at=clinic.updated_at,
    )


def _snapshot(clinic: Clinic) -> dict[str, Any]:
    return to_read(clinic).model_dump(mode="json", exclude={"created_at", "updated_at"})


def _locations(
    clinic_id: uuid.UUID, items: Sequence[LocationIn], existing: Sequence[Location] = ()
) -> list[Location]:
    """The clinic's locations from `items`, in order. A location keeps its row (and its ID,
    which the provider roster refers to) at the same position; positions past the new list's
    end are dropped."""
    out = []
    for position, loc in enumerate(items):
        info = lookup_zip(loc.zip)
        assert info is not None  # the schema checked it
        row = existing[position] if position < len(existing) else None
        if row is None:
            row = Location(id=uuid.uuid4(), clinic_id=clinic_id, position=position)
        row.address, row.city, row.state, row.zip = loc.address, loc.city, loc.state, loc.zip
        row.lat, row.lon = info.lat, info.lon
        out.append(row)
    return out


async def _drop_locations_from_roster(
    session: AsyncSession, clinic: Clinic, kept: set[uuid.UUID]
) -> None:
    """Remove dropped locations from the roster; 409 if someone would work nowhere."""
    providers = (
        await session.scalars(
            select(ClinicProvider)
            .where(ClinicProvider.clinic_id == clinic.id)
            .order_by(ClinicProvider.created_at, ClinicProvider.id)
            .with_for_update()
        )
    ).all()
    stranded = [p for p in providers if not set(p.location_ids) & kept]
    if stranded:
        names = ", ".join(f"{p.first_name} {p.last_name}" for p in stranded)
        raise ProviderLeftWithoutLocation(
            f"These providers work only at locations being removed: {names}. Assign them "
            "another location (or remove them from the roster) first.",
            provider_ids=[str(p.id) for p in stranded],
        )
    for p in providers:
        if not set(p.location_ids) <= kept:
            p.location_ids = [loc for loc in p.location_ids if loc in kept]


async def create_clinic(session: AsyncSession, user: User, body: ClinicCreate) -> Clinic:
    clinic = Clinic(
        id=uuid.uuid4(),
        legal_name=body.legal_name,
        ownership_model=body.ownership_model.value,
        contact_name=body.contact.name,
        contact_email=str(body.contact.email),
        contact_phone=body.contact.phone,
        created_by=user.id,
    )
    clinic.locations = _locations(clinic.id, body.locations)
    session.add(clinic)
    session.add(
        ClinicMember(
            clinic_id=clinic.id, user_id=user.id, role=MemberRole.owner.value, created_at=utcnow()
        )
    )
    await session.flush()
    await record_audit(
        session,
        actor_id=user.id,
        action="clinic.created",
        object_type="clinic",
        object_id=clinic.id,
        after=_snapshot(clinic),
    )
    return clinic


def _is_member(user_id: uuid.UUID) -> Any:
    return exists().where(ClinicMember.clinic_id == Clinic.id, ClinicMember.user_id == user_id)


def visible_clinics(user: User) -> Select[Clinic]:
    stmt = select(Clinic)
    if user.role != Role.ops_admin.value:
        stmt = stmt.where(_is_member(user.id))
    return stmt


async def clinic_ids_for_user(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(ClinicMember.clinic_id)
        .where(ClinicMember.user_id == user_id)
        .order_by(ClinicMember.created_at)
    )
    return list(rows)


async def get_clinic(
    session: AsyncSession,
    user: User,
    clinic_id: uuid.UUID,
    *,
    manage: bool = False,
    roles: frozenset[str] | None = None,
) -> Clinic:
    """The clinic if `user` may see it (its members; operations too unless `manage`), else 404:
    another tenant's clinic is indistinguishable from one that does not exist. `manage` (or
    `roles`) also asks for a member's role that may change it: 403 for a member without one."""
    stmt = select(Clinic).where(Clinic.id == clinic_id)
    if manage or roles or user.role != Role.ops_admin.value:
        stmt = stmt.where(_is_member(user.id))
    clinic = await session.scalar(stmt)
    if clinic is None:
        raise ClinicNotFound("No such clinic.")
    if roles or manage:
        await require_role(session, user, clinic.id, roles or MANAGE_ROLES)
    return clinic


async def list_clinics(
    session: AsyncSession, user: User, page: PageParams
) -> tuple[Sequence[Clinic], str | None]:
    return await paginate(
        session, visible_clinics(user), page, created_at=Clinic.created_at, id_column=Clinic.id
    )


async def update_clinic(
    session: AsyncSession,
    clinic: Clinic,
    body: ClinicUpdate,
    *,
    actor_id: uuid.UUID,
    default_cap: int,
) -> Clinic:
    before = _snapshot(clinic)
    if body.legal_name is not None:
        clinic.legal_name = body.legal_name
    if body.ownership_model is not None:
        clinic.ownership_model = body.ownership_model.value
    if body.contact is not None:
        clinic.contact_name = body.contact.name
        clinic.contact_email = str(body.contact.email)
        clinic.contact_phone = body.contact.phone
    if body.locations is not None:
        live = await session.scalar(
            select(
                exists().where(
                    Intake.clinic_id == clinic.id, Intake.status.in_(LIVE_INTAKE_STATUSES)
                )
            )
        )
        if live:
            raise IntakeNotEditable(
                "Locations cannot change while an intake is being matched or has a director; "
                "change the engagement's scope instead."
            )
        existing = list(clinic.locations)
        clinic.locations = _locations(clinic.id, body.locations, existing)
        await _drop_locations_from_roster(session, clinic, {loc.id for loc in clinic.locations})
    await session.flush()
    if body.ownership_model is not None or body.locations is not None:
        # The flags depend on the clinic's ownership and states: every view of an intake must
        # show them for the clinic as it is now, not as it was when the intake was written.
        await refresh_clinic_intakes(session, clinic, default_cap=default_cap)
    after = _snapshot(clinic)
    await record_audit(
        session,
        actor_id=actor_id,
        action="clinic.updated",
        object_type="clinic",
        object_id=clinic.id,
        before={k: v for k, v in before.items() if after[k] != v},
        after={k: v for k, v in after.items() if before[k] != v},
    )
    return clinic


# --- compliance -----------------------------------------------------------------------------


def state_context(rule: StateRule, *, default_cap: int) -> StateContext:
    f = rules.facts(rule)
    return StateContext(
        code=rule.code,
        name=rule.name,
        facts=f,
        onsite_required_services=tuple(rule.onsite_required_services),
        onsite_pinned=rule.onsite_services_pinned,
        caps=rules.supervisee_caps(rule.rules, default_cap),
        cited=rule.rules,
    )


async def state_contexts(
    session: AsyncSession, codes: Sequence[str], *, default_cap: int
) -> list[StateContext]:
    found = await states_by_code(session, sorted(set(codes)))
    return [state_context(found[c], default_cap=default_cap) for c in sorted(found)]


async def check_compliance(
    session: AsyncSession,
    *,
    services: Sequence[str],
    providers: dict[str, int],
    staffing: Staffing | None = None,
    onsite_hours: dict[str, int] | None = None,
    oversight_mode: str,
    ownership_model: str | None,
    physician_performs_services: bool,
    states: Sequence[str],
    default_cap: int,
) -> list[dict[str, Any]]:
    contexts = await state_contexts(session, states, default_cap=default_cap)
    flags = compliance_flags(
        services=services,
        providers=providers,
        oversight_mode=oversight_mode,
        ownership_model=ownership_model,
        physician_performs_services=physician_performs_services,
        states=contexts,
        catalog=service_catalog(),
        staffing=staffing,
        onsite_hours=onsite_hours,
    )
    return [f.as_dict() for f in flags]


def provider_counts(intake: Intake) -> dict[str, int]:
    return {p["type"]: int(p["count"]) for p in intake.providers}


def staffing_of(intake: Intake, clinic: Clinic) -> Staffing:
    """Who works where for `intake`: its roster snapshot, or its counts read as full-time
    people working in every state of the clinic (intakes of clinics without a roster)."""
    if intake.staffing is not None:
        return Staffing.from_json(intake.staffing)
    return Staffing.from_counts(provider_counts(intake), [loc.state for loc in clinic.locations])


async def roster_snapshot(session: AsyncSession, clinic: Clinic) -> list[dict[str, Any]] | None:
    """The clinic's roster as an intake keeps it (null when the clinic has none)."""
    rows = (
        await session.scalars(
            select(ClinicProvider)
            .where(ClinicProvider.clinic_id == clinic.id)
            .order_by(ClinicProvider.created_at, ClinicProvider.id)
        )
    ).all()
    if not rows:
        return None
    state_of = {loc.id: loc.state for loc in clinic.locations}
    return [
        {
            "provider_id": str(p.id),
            "type": p.type,
            "fte": float(p.fte),
            "states": sorted({state_of[i] for i in p.location_ids if i in state_of}),
            "services": sorted(p.services),
        }
        for p in rows
    ]


def _roster_counts(snapshot: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    for p in snapshot:
        counts[p["type"]] = counts.get(p["type"], 0) + 1
    return [{"type": t, "count": n} for t, n in sorted(counts.items())]


async def refresh_compliance(
    session: AsyncSession, intake: Intake, clinic: Clinic, *, default_cap: int
) -> None:
    """Recompute the intake's flags. A draft of a clinic with a roster takes the roster as it is
    now (its `providers` become the roster's counts); a submitted intake keeps the roster it was
    submitted with."""
    if intake.status == IntakeStatus.draft.value:
        snapshot = await roster_snapshot(session, clinic)
        intake.staffing = snapshot
        if snapshot is not None:
            intake.providers = _roster_counts(snapshot)
    intake.compliance_flags = await check_compliance(
        session,
        services=intake.services,
        providers=provider_counts(intake),
        staffing=staffing_of(intake, clinic),
        onsite_hours=hours_by_state(
            [loc.state for loc in clinic.locations], onsite_hours_at(intake)
        ),
        oversight_mode=intake.oversight_mode,
        ownership_model=clinic.ownership_model,
        physician_performs_services=intake.physician_performs_services,
        states=[loc.state for loc in clinic.locations],
        default_cap=default_cap,
    )


async def refresh_clinic_intakes(
    session: AsyncSession, clinic: Clinic, *, default_cap: int
) -> None:
    """Recompute the compliance flags of every intake of `clinic` (locked, so a concurrent
    intake edit or submit sees the new flags or runs after us)."""
    intakes = await session.scalars(
        select(Intake).where(Intake.clinic_id == clinic.id).order_by(Intake.id).with_for_update()
    )
    for intake in intakes:
        await refresh_compliance(session, intake, clinic, default_cap=default_cap)


# --- intakes --------------------------------------------------------------------------------


def _intake_values(body: IntakeCreate | IntakeUpdate, *, partial: bool) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=partial)
    if "providers" in values:
        values["providers"] = [
            {"type": str(p["type"]), "count": p["count"]} for p in values["providers"]
        ]
    if values.get("onsite_hours") is not None:
        values["onsite_hours"] = sorted(
            (
                {"location": h["location"], "hours_per_month": h["hours_per_month"]}
                for h in values["onsite_hours"]
            ),
            key=lambda h: h["location"],
        )
    return {k: (str(v) if isinstance(v, StrEnum) else v) for k, v in values.items()}


def _check_hours(clinic: Clinic, mode: str, hours: Sequence[OnsiteHours]) -> None:

    try:
        check_onsite_hours(mode, hours, len(clinic.locations))
    except ValueError as exc:
        raise ValidationFailed([{"loc": ["body", "onsite_hours"], "msg": str(exc)}]) from None


def hours_by_state(states: Sequence[str], hours: dict[int, int]) -> dict[str, int] | None:
    """On-site hours a month per state, from hours per location position (None: none stated)."""
    if not hours:
        return None
    out: dict[str, int] = {}
    for position, state in enumerate(states):
        out[state] = out.get(state, 0) + hours.get(position, 0)
    return out


def onsite_hours_at(intake: Intake) -> dict[int, int]:
    """The on-site hours a month per location position (empty: none stated)."""
    return {int(h["location"]): int(h["hours_per_month"]) for h in intake.onsite_hours or []}


async def create_intake(
    session: AsyncSession, clinic: Clinic, body: IntakeCreate, *, actor: User, default_cap: int
) -> Intake:
    _check_hours(clinic, body.oversight_mode.value, body.onsite_hours)
    intake = Intake(
        id=uuid.uuid4(),
        clinic_id=clinic.id,
        status=IntakeStatus.draft.value,
        created_by=actor.id,
        compliance_flags=[],
        **_intake_values(body, partial=False),
    )
    await refresh_compliance(session, intake, clinic, default_cap=default_cap)
    session.add(intake)
    await session.flush()
    await record_audit(
        session,
        actor_id=actor.id,
        action="intake.created",
        object_type="intake",
        object_id=intake.id,
        after={"clinic_id": str(clinic.id), "status": intake.status},
    )
    return intake


async def get_intake(
    session: AsyncSession,
    user: User,
    intake_id: uuid.UUID,
    *,
    manage: bool = False,
    for_update: bool = False,
) -> tuple[Intake, Clinic]:
    """The intake if `user` may see it (else 404). Authorisation comes before the row lock, so
    another tenant's request can never hold a clinic's intake locked."""
    intake = await session.scalar(select(Intake).where(Intake.id == intake_id))
    if intake is None:
        raise IntakeNotFound("No such intake.")
    try:
        clinic = await get_clinic(session, user, intake.clinic_id, manage=manage)
    except ClinicNotFound:
        raise IntakeNotFound("No such intake.") from None
    if for_update:
        await session.scalar(select(Intake).where(Intake.id == intake_id).with_for_update())
    return intake, clinic


async def list_intakes(
    session: AsyncSession, clinic: Clinic, page: PageParams, *, status: str | None
) -> tuple[Sequence[Intake], str | None]:
    stmt = select(Intake).where(Intake.clinic_id == clinic.id)
    if status:
        stmt = stmt.where(Intake.status == status)
    return await paginate(session, stmt, page, created_at=Intake.created_at, id_column=Intake.id)


async def update_intake(
    session: AsyncSession,
    intake: Intake,
    clinic: Clinic,
    body: IntakeUpdate,
    *,
    actor: User,
    default_cap: int,
) -> Intake:
    if intake.status != IntakeStatus.draft.value:
        raise IntakeNotEditable(
            f"The intake is {intake.status}; only drafts can be edited. Changes after "
            "submission are a scope change on the engagement."
        )
    changes = _intake_values(body, partial=True)
    merged_providers = changes.get("providers", intake.providers)
    performs = changes.get("physician_performs_services", intake.physician_performs_services)
    if not any(p["count"] > 0 for p in merged_providers) and not performs:
        from app.errors import ValidationFailed

        raise ValidationFailed(
            [
                {
                    "loc": ["body", "providers"],
                    "msg": "add at least one provider, or set physician_performs_services to true",
                }
            ]
        )
    model = changes.get("engagement_model", intake.engagement_model)
    if (
        "engagement_model" in changes
        and model != "fractional"
        and "fractional_share" not in changes
    ):
        changes["fractional_share"] = None  # the share goes with a fractional engagement
    try:
        check_share(model, changes.get("fractional_share", intake.fractional_share))
    except ValueError as exc:
        raise ValidationFailed([{"loc": ["body", "fractional_share"], "msg": str(exc)}]) from None
    mode = changes.get("oversight_mode", intake.oversight_mode)
    hours = changes.get("onsite_hours", intake.onsite_hours)
    if "oversight_mode" in changes and mode == "remote" and "onsite_hours" not in changes:
        hours = changes["onsite_hours"] = []  # remote oversight drops the on-site hours
    _check_hours(clinic, mode, [OnsiteHours.model_validate(h) for h in hours])
    for key, value in changes.items():
        setattr(intake, key, value)
    await refresh_compliance(session, intake, clinic, default_cap=default_cap)
    await session.flush()
    await record_audit(
        session,
        actor_id=actor.id,
        action="intake.updated",
        object_type="intake",
        object_id=intake.id,
        after=changes,
    )
    return intake


async def withdraw_intake(session: AsyncSession, intake: Intake, *, actor: User) -> Intake:
    before = intake.status
    try:
        transition(intake, IntakeStatus.withdrawn)
    except IntakeTransitionNotAllowed as exc:
        exc.detail = f"An intake that is {before} cannot be withdrawn."
        raise
    intake.withdrawn_at = utcnow()
    await session.flush()
    await record_audit(
        session,
        actor_id=actor.id,
        action="intake.withdrawn",
        object_type="intake",
        object_id=intake.id,
        before={"status": before},
        after={"status": intake.status},
    )
    return intake


def providers_of(intake: Intake) -> list[ProviderCount]:
    return [ProviderCount.model_validate(p) for p in intake.providers]
