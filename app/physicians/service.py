"""Physician profiles and credentials (the supply side)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Select, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import User
from app.catalog.vocabulary import CredentialStatus
from app.jobs.queue import defer_in_transaction
from app.kit.clock import today
from app.kit.geo import lookup_zip
from app.kit.pagination import PageParams, paginate
from app.physicians.errors import (
    DuplicateCredential,
    PhysicianNotFound,
    PhysicianProfileExists,
)
from app.physicians.handoff import CHECK_CREDENTIALS_JOB
from app.physicians.models import (
    BoardCertification,
    DeaRegistration,
    License,
    MalpracticePolicy,
    Physician,
    VerificationStatus,
)
from app.physicians.schemas import (
    BoardCertificationCreate,
    DeaCreate,
    LicenseCreate,
    MalpracticeCreate,
    PhysicianCreate,
    PhysicianUpdate,
)

# Edits to these send a verified (or rejected) profile back to verification.
IDENTITY_FIELDS = frozenset({"npi", "first_name", "last_name"})
LIVE_STATUSES = (CredentialStatus.pending.value, CredentialStatus.verified.value)


def profile_snapshot(p: Physician) -> dict[str, Any]:
    return {
        "npi": p.npi,
        "first_name": p.first_name,
        "last_name": p.last_name,
        "degree": p.degree,
        "specialties": p.specialties,
        "services": p.services,
        "engagement_models": p.engagement_models,
        "oversight_modes": p.oversight_modes,
        "home_zip": p.home_zip,
        "travel_radius_miles": p.travel_radius_miles,
        "max_clinics": p.max_clinics,
        "max_supervisees": p.max_supervisees,
        "min_monthly_rate_cents": p.min_monthly_rate_cents,
        "accepting_new": p.accepting_new,
        "verification_status": p.verification_status,
    }


def current_states_of(license_expiry: dict[str, str] | None, on: date) -> list[str]:
    """`verified_states` from the expiries the credential triggers keep on the physician row
    (state -> latest verified license's expiry), without loading credential rows."""
    day = on.isoformat()
    return sorted(s for s, expires in (license_expiry or {}).items() if expires > day)


def verified_states(p: Physician, *, on: date | None = None) -> list[str]:
    day = on or today()
    return sorted(
        {
            lic.state
            for lic in p.licenses
            if lic.status == CredentialStatus.verified.value and lic.expires_on > day
        }
    )


async def _flush_or_conflict(session: AsyncSession, error: Exception) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise error from exc


async def create_profile(session: AsyncSession, user: User, body: PhysicianCreate) -> Physician:
    if await session.scalar(select(exists().where(Physician.user_id == user.id))):
        raise PhysicianProfileExists(
            "You already have a physician profile; edit it with PATCH /v1/physicians/me."
        )
    zip_info = lookup_zip(body.home_zip)
    assert zip_info is not None  # the schema checked it
    physician = Physician(
        id=uuid.uuid4(),
        user_id=user.id,
        **body.model_dump(mode="json"),
        home_lat=zip_info.lat,
        home_lon=zip_info.lon,
        verification_status=VerificationStatus.pending.value,
        verification_reasons=[],
        licenses=[],
        dea_registrations=[],
        malpractice_policies=[],
        board_certifications=[],
    )
    session.add(physician)
    # Two concurrent creates for one user (or one NPI) lose on the unique keys.
    await _flush_or_conflict(
        session, PhysicianProfileExists("A physician profile already exists for this account.")
    )
    await record_audit(
        session,
        actor_id=user.id,
        action="physician.created",
        object_type="physician",
        object_id=physician.id,
        after=profile_snapshot(physician),
    )
    return physician


async def get_physician(
    session: AsyncSession, physician_id: uuid.UUID, *, for_update: bool = False
) -> Physician:
    stmt = select(Physician).where(Physician.id == physician_id)
    if for_update:
        stmt = stmt.with_for_update(of=Physician)
    physician = await session.scalar(stmt)
    if physician is None:
        raise PhysicianNotFound("No such physician.")
    return physician


async def get_own_profile(
    session: AsyncSession, user: User, *, for_update: bool = False
) -> Physician:
    stmt = select(Physician).where(Physician.user_id == user.id)
    if for_update:
        stmt = stmt.with_for_update(of=Physician)
    physician = await session.scalar(stmt)
    if physician is None:
        raise PhysicianNotFound(
            "You have no physician profile yet; create it with POST /v1/physicians."
        )
    return physician


async def physician_id_for_user(session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(select(Physician.id).where(Physician.user_id == user_id))


async def update_profile(
    session: AsyncSession, physician: Physician, body: PhysicianUpdate, *, actor_id: uuid.UUID
) -> Physician:
    changes = body.model_dump(mode="json", exclude_unset=True)
    before = profile_snapshot(physician)
    years = changes.get("years_experience", physician.years_experience)
    aesthetic = changes.get("aesthetic_years", physician.aesthetic_years)
    if aesthetic > years:
        from app.errors import ValidationFailed

        raise ValidationFailed(
            [{"loc": ["body", "aesthetic_years"], "msg": "cannot exceed years_experience"}]
        )
    identity_changed = any(
        k in IDENTITY_FIELDS and v != getattr(physician, k) for k, v in changes.items()
    )
    for key, value in changes.items():
        setattr(physician, key, value)
    if "home_zip" in changes:
        info = lookup_zip(changes["home_zip"])
        assert info is not None
        physician.home_lat, physician.home_lon = info.lat, info.lon
    if identity_changed:
        # Whatever the status, the identity that was checked is no longer the one on file: no
        # path back (a reinstatement restoring the status from before a suspension) may skip
        # verifying the new one.
        physician.verified_at = None
        physician.verification_reasons = []
        if physician.verification_status in (
            VerificationStatus.verified.value,
            VerificationStatus.rejected.value,
        ):
            physician.verification_status = VerificationStatus.pending.value
        elif physician.status_before_suspension in (
            VerificationStatus.verified.value,
            VerificationStatus.rejected.value,
        ):
            physician.status_before_suspension = VerificationStatus.pending.value
    # Whether another profile claims this NPI is not told here (that would tell anyone which
    # doctors use the platform): verification settles competing claims.
    await session.flush()
    after = profile_snapshot(physician)
    await record_audit(
        session,
        actor_id=actor_id,
        action="physician.updated",
        object_type="physician",
        object_id=physician.id,
        before={k: v for k, v in before.items() if after[k] != v},
        after={k: v for k, v in after.items() if before[k] != v},
    )
    return physician


async def add_license(
    session: AsyncSession, physician: Physician, body: LicenseCreate, *, actor_id: uuid.UUID
) -> License:
    lic = License(id=uuid.uuid4(), physician_id=physician.id, status="pending", **body.model_dump())
    return await _add_credential(session, lic, "license", actor_id)


async def add_dea(
    session: AsyncSession, physician: Physician, body: DeaCreate, *, actor_id: uuid.UUID
) -> DeaRegistration:
    dea = DeaRegistration(
        id=uuid.uuid4(), physician_id=physician.id, status="pending", **body.model_dump()
    )
    return await _add_credential(session, dea, "dea_registration", actor_id)


async def add_malpractice(
    session: AsyncSession, physician: Physician, body: MalpracticeCreate, *, actor_id: uuid.UUID
) -> MalpracticePolicy:
    policy = MalpracticePolicy(
        id=uuid.uuid4(),
        physician_id=physician.id,
        status="pending",
        currency="usd",
        **body.model_dump(),
    )
    return await _add_credential(session, policy, "malpractice_policy", actor_id)


async def add_board_certification(
    session: AsyncSession,
    physician: Physician,
    body: BoardCertificationCreate,
    *,
    actor_id: uuid.UUID,
) -> BoardCertification:
    cert = BoardCertification(
        id=uuid.uuid4(), physician_id=physician.id, status="pending", **body.model_dump()
    )
    return await _add_credential(session, cert, "board_certification", actor_id)


C = TypeVar("C", License, DeaRegistration, MalpracticePolicy, BoardCertification)


async def _add_credential(
    session: AsyncSession, credential: C, kind: str, actor_id: uuid.UUID
) -> C:
    session.add(credential)
    await _flush_or_conflict(
        session, DuplicateCredential(f"This {kind.replace('_', ' ')} is already on file.")
    )
    await record_audit(
        session,
        actor_id=actor_id,
        action=f"{kind}.added",
        object_type=kind,
        object_id=credential.id,
        after={
            "physician_id": str(credential.physician_id),
            "status": credential.status,
            "expires_on": credential.expires_on.isoformat(),
        },
    )
    physician = await session.get(Physician, credential.physician_id)
    if physician is not None and physician.verification_status == VerificationStatus.verified.value:
        # A verified physician's new credential is checked at its source once this commits
        # (the credentials domain's job, named): until then it is pending and never counts.
        await defer_in_transaction(
            session,
            CHECK_CREDENTIALS_JOB,
            physician_id=str(physician.id),
            actor_id=str(actor_id),
        )
    return credential


def list_physicians_stmt(
    *, state: str | None, verification_status: str | None
) -> Select[Physician]:
    stmt = select(Physician)
    if verification_status:
        stmt = stmt.where(Physician.verification_status == verification_status)
    if state:
        stmt = stmt.where(
            exists().where(
                License.physician_id == Physician.id,
                License.state == state,
                License.status.in_(LIVE_STATUSES),
            )
        )
    return stmt


async def list_physicians(
    session: AsyncSession, page: PageParams, *, state: str | None, verification_status: str | None
) -> tuple[Sequence[Physician], str | None]:
    return await paginate(
        session,
        list_physicians_stmt(state=state, verification_status=verification_status),
        page,
        created_at=Physician.created_at,
        id_column=Physician.id,
    )
