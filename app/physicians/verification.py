"""Credential verification (operations), suspension and reinstatement."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.catalog.models import StateRule
from app.catalog.vocabulary import CredentialStatus
from app.config import Settings
from app.errors import Conflict, UpstreamUnavailable
from app.jobs.queue import defer_in_transaction
from app.kit.clock import today, utcnow
from app.notifications.service import notify, notify_ops
from app.physicians import malpractice
from app.physicians.checks import (
    CheckMethod,
    CheckResult,
    CheckSource,
    CredentialKind,
    record_check,
)
from app.physicians.errors import PhysicianNotSuspended, PhysicianSuspended
from app.physicians.handoff import (
    CHECK_CREDENTIALS_JOB,
    SCREEN_PHYSICIAN_JOB,
    Reason,
    cannot_oversee,
)
from app.physicians.models import (
    Physician,
    VerificationStatus,
)
from app.physicians.npi import NpiRecord, NppesClient, RegistryUnavailable, is_valid_npi
from app.physicians.service import get_physician


def _name_key(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.casefold())


def registry_reasons(physician: Physician, record: NpiRecord | None) -> list[str]:
    """Why the NPPES record does not support this profile (empty when it does)."""
    if record is None:
        return [f"NPI {physician.npi} is not in the NPPES registry."]
    reasons = []
    if record.enumeration_type != "NPI-1":
        reasons.append(
            f"NPI {physician.npi} belongs to an organisation ({record.enumeration_type}), "
            "not an individual."
        )
    if record.status and record.status != "A":
        reasons.append(f"NPI {physician.npi} is deactivated in the registry.")
    if _name_key(record.last_name) != _name_key(physician.last_name):
        reasons.append(
            f"The registry's last name for NPI {physician.npi} ({record.last_name.title()}) "
            f"does not match the profile ({physician.last_name})."
        )
    if not record.has_physician_taxonomy:
        reasons.append(
            f"The registry lists NPI {physician.npi} as "
            f"'{record.primary_taxonomy or 'no taxonomy'}', not an allopathic or osteopathic "
            "physician (MD/DO)."
        )
    return reasons


def credential_reasons(physician: Physician) -> list[str]:
    day = today()
    live = (CredentialStatus.pending.value, CredentialStatus.verified.value)
    reasons = []
    if not any(lic.status in live and lic.expires_on > day for lic in physician.licenses):
        reasons.append("No current state medical license is on file; add one.")
    if not any(p.status in live and p.expires_on > day for p in physician.malpractice_policies):
        reasons.append("No current malpractice policy is on file; add one.")
    return reasons


async def verify_physician(
    session: AsyncSession,
    physician_id: uuid.UUID,
    nppes: NppesClient,
    *,
    actor_id: uuid.UUID,
    settings: Settings,
) -> Physician:
    """Check the NPI against the registry and the credentials on file; mark the physician
    verified (their identity only: each credential is verified at its source afterwards, by
    the credentials domain's job queued here) or rejected with reasons.

    The registry is asked before any row is locked, so a slow registry never holds a lock; the
    profile is then re-read under lock, and if its NPI or name changed meanwhile the result no
    longer applies (409). An unreachable registry changes nothing (503).
    """
    physician = await get_physician(session, physician_id)
    if physician.verification_status == VerificationStatus.suspended.value:
        raise PhysicianSuspended("Reinstate the physician before verifying them again.")
    checked = (physician.npi, physician.last_name)
    reasons = [] if is_valid_npi(physician.npi) else [f"NPI {physician.npi} fails its check digit."]
    record: NpiRecord | None = None
    looked_up = False
    if not reasons:
        try:
            record = await nppes.lookup(physician.npi)
        except RegistryUnavailable as exc:
            raise UpstreamUnavailable(
                "The NPPES NPI registry is unreachable; the physician stays pending. Retry later."
            ) from exc
        looked_up = True
        reasons = registry_reasons(physician, record)
    registry_failures = list(reasons)
    physician = await get_physician(session, physician_id, for_update=True)
    await session.refresh(physician)
    if (physician.npi, physician.last_name) != checked:
        raise Conflict("The profile's NPI or name changed during verification; verify again.")
    if physician.verification_status == VerificationStatus.suspended.value:
        raise PhysicianSuspended("The physician was suspended during verification.")
    reasons += credential_reasons(physician)
    cover = await malpractice_cover(session, physician, settings)
    reasons += cover.reasons
    holder = await _verified_holder(session, physician)
    if holder is not None:
        reasons.append(
            f"NPI {physician.npi} is already verified for another physician's profile; "
            "operations will review this claim."
        )
    before = {"verification_status": physician.verification_status}
    if reasons:
        physician.verification_status = VerificationStatus.rejected.value
        physician.verification_reasons = reasons
        physician.verified_at = None
    else:
        # The identity is verified. The credentials stay as they are: each is verified only by
        # a check at its source (a state board, a document operations reviewed), which the
        # credentials domain runs once this commits (CHECK_CREDENTIALS_JOB below).
        physician.verification_status = VerificationStatus.verified.value
        physician.verification_reasons = []
        physician.verified_at = utcnow()
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:  # another profile with this NPI was verified meanwhile
        raise Conflict("Another profile with this NPI was just verified; verify again.") from exc
    await _record_npi_check(
        session, physician, record, looked_up, registry_failures, actor_id=actor_id
    )
    for policy_id, (problems, detail) in cover.short.items():
        await record_check(
            session,
            physician_id=physician.id,
            kind=CredentialKind.malpractice,
            credential_id=policy_id,
            source=CheckSource.physician,
            method=CheckMethod.self_attested,
            result=CheckResult.failed,
            compared=detail,
            detail=" ".join(problems),
            checked_by=actor_id,
        )
    if holder is not None:
        await _report_claim(session, claimant=physician, holder=holder)
    elif not reasons:
        await _settle_rival_claims(session, physician)
    await record_audit(
        session,
        actor_id=actor_id,
        action="physician.verified" if not reasons else "physician.rejected",
        object_type="physician",
        object_id=physician.id,
        before=before,
        after={"verification_status": physician.verification_status, "reasons": reasons},
    )
    await notify(
        session,
        user_id=physician.user_id,
        kind="verification.result",
        email=True,
        title="Your identity is verified" if not reasons else "Verification needs your attention",
        body=(
            "Your NPI and name are verified with the NPPES registry. Each license is now checked "
            "with its state board, or asks for a document where no board check is available; "
            "your malpractice certificate of insurance (and any DEA registration or board "
            "certificate) is verified from the document you upload. You receive offers in a "
            "state once its license and your malpractice cover are verified."
            if not reasons
            else "We could not verify your profile: " + " ".join(reasons)
        ),
        data={"verification_status": physician.verification_status, "reasons": reasons},
    )
    if reasons:
        await _end_directorships(session, physician, "rejected", " ".join(reasons), settings)
    else:
        # Screened against the federal exclusion list, and each pending credential checked at
        # its source, as soon as the commit lands (the credentials domain's jobs, named:
        # physicians import nothing above them).
        for job in (SCREEN_PHYSICIAN_JOB, CHECK_CREDENTIALS_JOB):
            await defer_in_transaction(
                session, job, physician_id=str(physician.id), actor_id=str(actor_id)
            )
    return physician


@dataclass
class Cover:
    reasons: list[str] = field(default_factory=list)
    # Live policies below the minimum: their problems and the comparison; and the comparison
    # of those that meet it.
    short: dict[uuid.UUID, tuple[list[str], dict[str, Any]]] = field(default_factory=dict)
    adequate: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)


async def required_cover(
    session: AsyncSession, states: set[str], settings: Settings
) -> list[malpractice.CoverMinimum]:
    """The minimum cover for each of `states` (the state's law, else mdmatch's own); mdmatch's
    own where there is no state at all (no license on file yet)."""
    platform = {
        "platform_per_claim_cents": settings.malpractice_min_per_claim_cents,
        "platform_aggregate_cents": settings.malpractice_min_aggregate_cents,
    }
    if not states:
        return [malpractice.without_license(**platform)]
    rows = (
        await session.execute(
            select(StateRule.code, StateRule.rules).where(StateRule.code.in_(states))
        )
    ).all()
    rules: dict[str, dict[str, Any]] = {row.code: row.rules for row in rows}
    return malpractice.minimums(states, rules, **platform)


async def malpractice_cover(
    session: AsyncSession, physician: Physician, settings: Settings
) -> Cover:
    """Each live policy's limits against every licensed state's minimum (app.physicians
    .malpractice); a reason when none meets them."""
    day = today()
    live = (CredentialStatus.pending.value, CredentialStatus.verified.value)
    states = {
        lic.state for lic in physician.licenses if lic.status in live and lic.expires_on > day
    }
    policies = [
        p for p in physician.malpractice_policies if p.status in live and p.expires_on > day
    ]
    result = Cover()
    if not policies:
        return result
    required = await required_cover(session, states, settings)
    for policy in policies:
        detail = malpractice.compared(policy.per_claim_cents, policy.aggregate_cents, required)
        problems = malpractice.shortfalls(policy.per_claim_cents, policy.aggregate_cents, required)
        if problems:
            result.short[policy.id] = (problems, detail)
        else:
            result.adequate[policy.id] = detail
    if not result.adequate:
        best = max(policies, key=lambda p: (p.per_claim_cents, p.aggregate_cents))
        result.reasons.append(
            "Malpractice cover is below the minimum: " + " ".join(result.short[best.id][0])
        )
    return result


async def _record_npi_check(
    session: AsyncSession,
    physician: Physician,
    record: NpiRecord | None,
    looked_up: bool,
    failures: list[str],
    *,
    actor_id: uuid.UUID | None,
) -> None:
    """What the NPPES lookup compared, and its result (a malformed NPI is refused unchecked)."""
    compared: dict[str, Any] = {"npi": {"ours": physician.npi, "source": None}}
    if record is not None:
        compared = {
            "npi": {"ours": physician.npi, "source": physician.npi},
            "last_name": {"ours": physician.last_name, "source": record.last_name},
            "enumeration_type": {"ours": "NPI-1", "source": record.enumeration_type},
            "status": {"ours": "A", "source": record.status},
            "taxonomy": {
                "ours": "allopathic or osteopathic physician",
                "source": record.primary_taxonomy,
            },
        }
    await record_check(
        session,
        physician_id=physician.id,
        kind=CredentialKind.npi,
        source=CheckSource.nppes,
        source_detail="NPPES NPI Registry" if looked_up else "NPI check digit (not looked up)",
        method=CheckMethod.primary_source,
        compared=compared,
        result=CheckResult.failed if failures else CheckResult.passed,
        detail=" ".join(failures) or None,
        checked_by=actor_id,
    )


async def suspend_physician(
    session: AsyncSession,
    physician_id: uuid.UUID,
    *,
    reason: str,
    actor_id: uuid.UUID | None,
    settings: Settings,
) -> Physician:
    """Suspend a physician (no new offers; their directorships end today). `actor_id` None: the
    system did, e.g. an exclusion-list match (the audit entry names no user)."""
    physician = await get_physician(session, physician_id, for_update=True)
    if physician.verification_status == VerificationStatus.suspended.value:
        raise PhysicianSuspended("The physician is already suspended.")
    before = physician.verification_status
    physician.status_before_suspension = before
    physician.verification_status = VerificationStatus.suspended.value
    physician.suspended_at = utcnow()
    physician.suspension_reason = reason
    await session.flush()
    await record_audit(
        session,
        actor_id=actor_id,
        action="physician.suspended",
        object_type="physician",
        object_id=physician.id,
        before={"verification_status": before},
        after={"verification_status": physician.verification_status, "reason": reason},
    )
    await notify(
        session,
        user_id=physician.user_id,
        kind="physician.suspended",
        email=True,
        title="Your account is suspended",
        body=f"Operations suspended your profile: {reason}. You will receive no new offers.",
    )
    await _end_directorships(session, physician, "suspended", reason, settings)
    return physician


async def _end_directorships(
    session: AsyncSession,
    physician: Physician,
    reason: Reason,
    note: str | None,
    settings: Settings,
    *,
    states: set[str] | None = None,
) -> None:
    """A physician who may no longer oversee stops today on every engagement they direct, each
    of which starts a replacement search (see app.engagements.continuity)."""
    await cannot_oversee(
        session,
        physician.id,
        reason=reason,
        note=note,
        ends_on=today(),
        settings=settings,
        states=states,
    )


async def reinstate_physician(
    session: AsyncSession, physician_id: uuid.UUID, *, reason: str, actor_id: uuid.UUID
) -> Physician:
    physician = await get_physician(session, physician_id, for_update=True)
    if physician.verification_status != VerificationStatus.suspended.value:
        raise PhysicianNotSuspended("Only a suspended physician can be reinstated.")
    # Back to where they were; credentials that lapsed meanwhile still exclude them from
    # matching, since eligibility checks every credential's expiry.
    restored = physician.status_before_suspension or VerificationStatus.pending.value
    if restored == VerificationStatus.verified.value and physician.verified_at is None:
        restored = VerificationStatus.pending.value  # nothing checked the identity on file
    physician.verification_status = restored
    physician.status_before_suspension = None
    physician.suspended_at = None
    physician.suspension_reason = None
    await session.flush()
    await record_audit(
        session,
        actor_id=actor_id,
        action="physician.reinstated",
        object_type="physician",
        object_id=physician.id,
        before={"verification_status": VerificationStatus.suspended.value},
        after={"verification_status": physician.verification_status, "reason": reason},
    )
    await notify(
        session,
        user_id=physician.user_id,
        kind="physician.reinstated",
        email=True,
        title="Your account is reinstated",
        body=f"Operations reinstated your profile: {reason}.",
    )
    if restored == VerificationStatus.verified.value:
        # Credentials added (or left unchecked) while suspended are checked now.
        await defer_in_transaction(
            session,
            CHECK_CREDENTIALS_JOB,
            physician_id=str(physician.id),
            actor_id=str(actor_id),
        )
    return physician


# --- competing claims of one NPI ------------------------------------------------------------


async def _verified_holder(session: AsyncSession, physician: Physician) -> Physician | None:
    """Another profile whose identity, with this NPI, verification has already checked."""
    return await session.scalar(
        select(Physician).where(
            Physician.npi == physician.npi,
            Physician.id != physician.id,
            Physician.verified_at.is_not(None),
        )
    )


async def _report_claim(session: AsyncSession, *, claimant: Physician, holder: Physician) -> None:
    await notify_ops(
        session,
        kind="physician.npi_claim",
        title="A second profile claims a verified NPI",
        body=f"Physician {claimant.id} claims NPI {claimant.npi}, already verified for "
        f"physician {holder.id}. The claim was rejected; review both accounts.",
        data={
            "physician_id": str(claimant.id),
            "holder_id": str(holder.id),
        },
    )


async def _settle_rival_claims(session: AsyncSession, verified: Physician) -> None:
    """The verified identity holds its NPI: every other profile claiming it is rejected (it
    cannot be verified while the NPI is held) and reported to operations."""
    rivals = list(
        await session.scalars(
            select(Physician)
            .where(Physician.npi == verified.npi, Physician.id != verified.id)
            .with_for_update()
        )
    )
    reason = (
        f"NPI {verified.npi} was verified for another physician's profile; if it is yours, "
        "contact support."
    )
    for rival in rivals:
        if rival.verification_status == VerificationStatus.suspended.value:
            rival.status_before_suspension = VerificationStatus.rejected.value
        else:
            rival.verification_status = VerificationStatus.rejected.value
        rival.verification_reasons = [reason]
        await notify(
            session,
            user_id=rival.user_id,
            kind="verification.result",
            email=True,
            title="Verification needs your attention",
            body="We could not verify your profile: " + reason,
            data={"verification_status": rival.verification_status, "reasons": [reason]},
        )
        await _report_claim(session, claimant=rival, holder=verified)
    await session.flush()
