"""The clinic's provider roster: who works at the clinic, their license, FTE, locations and
services. Its admins keep it; every change is audited on the clinic and re-reads the clinic's
draft intakes (a submitted intake keeps the roster it was submitted with).

Changes to one clinic's roster are serialised by a lock on the clinic row, so the size limit
holds and two edits cannot interleave with the drafts' refresh.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.clinics.models import Clinic, ClinicProvider, Intake, IntakeStatus
from app.clinics.schemas import ProviderIn, ProviderRead, ProviderUpdate
from app.clinics.service import refresh_compliance
from app.errors import Conflict, NotFound, ValidationFailed
from app.jobs.queue import defer_in_transaction
from app.kit.pagination import PageParams, paginate

MAX_ROSTER = 500


class ProviderNotFound(NotFound):
    pass


class RosterFull(Conflict):
    slug, title = "roster-full", "The roster is full"


def _snapshot(p: ClinicProvider) -> dict[str, Any]:
    return ProviderRead.model_validate(p).model_dump(
        mode="json", exclude={"created_at", "updated_at", "clinic_id"}
    )


def _values(body: ProviderIn | ProviderUpdate, *, partial: bool) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=partial)
    if "type" in values:
        values["type"] = str(values["type"])
    return values


def _check_locations(clinic: Clinic, ids: Sequence[uuid.UUID]) -> None:
    known = {loc.id for loc in clinic.locations}
    unknown = [str(i) for i in ids if i not in known]
    if unknown:
        raise ValidationFailed(
            [
                {
                    "loc": ["body", "location_ids"],
                    "msg": "not a location of this clinic: " + ", ".join(unknown),
                }
            ]
        )


async def _lock(session: AsyncSession, clinic: Clinic) -> None:
    await session.execute(select(Clinic.id).where(Clinic.id == clinic.id).with_for_update())


# Queued by name (engagements and documents depend on clinics, never the reverse): live
# engagements charge their directors with the roster as it is now, and their compliance
# documents name the people on it (a changed name or license regenerates the agreement even
# when no count changes).
RECHARGE_JOB = "engagements.recharge_directors"
DOCUMENTS_JOB = "documents.refresh_clinic"
ROSTER_JOBS = (RECHARGE_JOB, DOCUMENTS_JOB)


async def _roster_changed(session: AsyncSession, clinic: Clinic, *, default_cap: int) -> None:
    await _refresh_drafts(session, clinic, default_cap=default_cap)
    for job in ROSTER_JOBS:
        await defer_in_transaction(session, job, clinic_id=str(clinic.id))


async def _refresh_drafts(session: AsyncSession, clinic: Clinic, *, default_cap: int) -> None:
    drafts = await session.scalars(
        select(Intake)
        .where(Intake.clinic_id == clinic.id, Intake.status == IntakeStatus.draft.value)
        .order_by(Intake.id)
        .with_for_update()
    )
    for intake in drafts:
        await refresh_compliance(session, intake, clinic, default_cap=default_cap)


async def list_providers(
    session: AsyncSession, clinic: Clinic, page: PageParams
) -> tuple[Sequence[ClinicProvider], str | None]:
    stmt = select(ClinicProvider).where(ClinicProvider.clinic_id == clinic.id)
    return await paginate(
        session, stmt, page, created_at=ClinicProvider.created_at, id_column=ClinicProvider.id
    )


async def get_provider(
    session: AsyncSession, clinic: Clinic, provider_id: uuid.UUID, *, for_update: bool = False
) -> ClinicProvider:
    stmt = select(ClinicProvider).where(
        ClinicProvider.id == provider_id, ClinicProvider.clinic_id == clinic.id
    )
    if for_update:
        stmt = stmt.with_for_update()
    provider = await session.scalar(stmt)
    if provider is None:
        raise ProviderNotFound("No such provider on this clinic's roster.")
    return provider


async def add_provider(
    session: AsyncSession,
    clinic: Clinic,
    body: ProviderIn,
    *,
    actor_id: uuid.UUID,
    default_cap: int,
) -> ClinicProvider:
    await _lock(session, clinic)
    size = await session.scalar(select(func.count()).where(ClinicProvider.clinic_id == clinic.id))
    if (size or 0) >= MAX_ROSTER:
        raise RosterFull(
            f"A roster holds at most {MAX_ROSTER} providers.", max_providers=MAX_ROSTER
        )
    _check_locations(clinic, body.location_ids)
    provider = ClinicProvider(id=uuid.uuid4(), clinic_id=clinic.id, **_values(body, partial=False))
    session.add(provider)
    await session.flush()
    await _roster_changed(session, clinic, default_cap=default_cap)
    await record_audit(
        session,
        actor_id=actor_id,
        action="clinic.provider_added",
        object_type="clinic",
        object_id=clinic.id,
        after=_snapshot(provider),
    )
    return provider


async def update_provider(
    session: AsyncSession,
    clinic: Clinic,
    provider_id: uuid.UUID,
    body: ProviderUpdate,
    *,
    actor_id: uuid.UUID,
    default_cap: int,
) -> ClinicProvider:
    await _lock(session, clinic)
    provider = await get_provider(session, clinic, provider_id, for_update=True)
    changes = _values(body, partial=True)
    if "location_ids" in changes:
        _check_locations(clinic, changes["location_ids"])
    before = _snapshot(provider)
    for key, value in changes.items():
        setattr(provider, key, value)
    await session.flush()
    await _roster_changed(session, clinic, default_cap=default_cap)
    after = _snapshot(provider)
    await record_audit(
        session,
        actor_id=actor_id,
        action="clinic.provider_updated",
        object_type="clinic",
        object_id=clinic.id,
        before={"id": before["id"]} | {k: v for k, v in before.items() if after[k] != v},
        after={"id": after["id"]} | {k: v for k, v in after.items() if before[k] != v},
    )
    return provider


async def remove_provider(
    session: AsyncSession,
    clinic: Clinic,
    provider_id: uuid.UUID,
    *,
    actor_id: uuid.UUID,
    default_cap: int,
) -> None:
    await _lock(session, clinic)
    provider = await get_provider(session, clinic, provider_id, for_update=True)
    before = _snapshot(provider)
    await session.delete(provider)
    await session.flush()
    await _roster_changed(session, clinic, default_cap=default_cap)
    await record_audit(
        session,
        actor_id=actor_id,
        action="clinic.provider_removed",
        object_type="clinic",
        object_id=clinic.id,
        before=before,
    )
