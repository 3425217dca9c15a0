"""Checking a verified physician's pending credentials at their sources.

Verifying a physician checks their identity (NPPES) only; their licenses, DEA registrations,
malpractice policies and board certifications stay `pending` until a source backs them. This
module is that step (the job `credentials.check_credentials`, queued by name when the identity
is verified and when a verified physician adds a credential):

- a license in a state with a board adapter is looked up at the board (`check_license`):
  `passed` verifies it (it then counts for matching in its state); the board showing
  disciplinary actions (`needs_review`) queues a `license_check` item for operations; a failed
  comparison leaves it pending (rejected where the board shows the physician may not practise
  on it) and asks for a document; a board that cannot be reached leaves it pending and the
  daily re-check tries again the next day;
- a license with no adapter (or whose adapter lacks its credentials, or with board checks off),
  and every DEA registration, malpractice policy and board certification, is verified by a
  document operations review (app/credentials/documents.py): the physician is told which
  documents to upload.

`route_of` says, per credential, which of the two verifies it; the physician's and operations'
credential views show it (`GET /v1/physicians/me/credential-checks`). docs/credentials.md,
"From typed in to verified".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

import httpx
import structlog
from sqlalchemy import ColumnElement, Subquery, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.catalog.vocabulary import CredentialStatus
from app.config import Settings
from app.credentials import review
from app.credentials.boards import (
    LicenseBoard,
    LicenseCheckOutcome,
    check_license,
    has_board,
    lapsed,
    make_board,
    recheck_due,
)
from app.credentials.documents_models import CredentialDocument, DocumentStatus
from app.credentials.models import (
    CheckMethod,
    CheckResult,
    CheckSource,
    CredentialCheck,
    CredentialKind,
    ReviewItem,
    ReviewKind,
    ReviewStatus,
)
from app.credentials.provenance import record_check
from app.kit.clock import today, utcnow
from app.notifications.models import Notification
from app.notifications.service import notify
from app.physicians import malpractice
from app.physicians.handoff import cannot_oversee
from app.physicians.models import (
    BoardCertification,
    DeaRegistration,
    License,
    MalpracticePolicy,
    Physician,
    VerificationStatus,
)
from app.physicians.verification import required_cover

log = structlog.get_logger(__name__)

PENDING = CredentialStatus.pending.value
VERIFIED = CredentialStatus.verified.value


class Route(StrEnum):
    """What verifies a credential."""

    state_board = "state_board"  # a look-up at the issuing board (primary source)
    document_review = "document_review"  # a document operations compare with the record


def route_of(kind: CredentialKind, state: str | None, settings: Settings) -> tuple[Route, str]:
    """Which check verifies a credential of `kind` (in `state` for a license), and why."""
    if kind == CredentialKind.license and state is not None:
        if has_board(state, settings):
            return Route.state_board, f"looked up at the {state} board"
        if not settings.license_board_checks:
            return Route.document_review, "board checks are off here (LICENSE_BOARD_CHECKS)"
        return (
            Route.document_review,
            f"no board check is available for {state}: the license or a board printout is "
            "reviewed by operations",
        )
    what = {
        CredentialKind.dea: "DEA registration certificate",
        CredentialKind.malpractice: "certificate of insurance",
        CredentialKind.board_certification: "board certificate",
    }.get(kind, "document")
    return Route.document_review, f"the {what} is reviewed by operations"


@dataclass
class CheckSummary:
    licenses_checked: int = 0
    verified: int = 0
    for_review: int = 0
    failed: int = 0
    unavailable: int = 0
    documents_needed: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "licenses_checked": self.licenses_checked,
            "verified": self.verified,
            "for_review": self.for_review,
            "failed": self.failed,
            "unavailable": self.unavailable,
            "documents_needed": len(self.documents_needed),
            "skipped": self.skipped,
        }


async def check_credentials(
    session: AsyncSession,
    physician_id: uuid.UUID,
    *,
    settings: Settings,
    actor_id: uuid.UUID | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> CheckSummary:
    """Check every pending, unexpired credential of a verified physician at its source (see
    the module's docstring), in the caller's transaction. A physician who is not verified (or
    is suspended) is left alone: their identity comes first.

    The boards are asked first, with no row locked (each look-up records its check in a
    savepoint of its own); the outcomes are then applied, each license locked only then, so a
    slow board never holds a lock an operations decision waits for. A license whose latest
    board check already failed or waits for operations is not asked again (the physician was
    told; a document or the review decides it)."""
    summary = CheckSummary()
    physician = await session.get(Physician, physician_id)
    if physician is None:
        summary.skipped = "no such physician"
        return summary
    if physician.verification_status != VerificationStatus.verified.value:
        summary.skipped = f"physician is {physician.verification_status}"
        return summary
    day = today()
    licenses = list(
        await session.scalars(
            select(License)
            .where(
                License.physician_id == physician.id,
                License.status == PENDING,
                License.expires_on > day,
            )
            .order_by(License.state, License.number)
        )
    )
    decided = await _decided_at_board(session, [lic.id for lic in licenses])
    boards: dict[str, LicenseBoard | None] = {}
    outcomes: list[tuple[License, LicenseCheckOutcome, str]] = []
    try:
        for license_row in licenses:
            state = license_row.state
            if state not in boards:
                boards[state] = (
                    make_board(state, settings, transport=transport)
                    if has_board(state, settings)
                    else None
                )
            board = boards[state]
            if board is None:
                _, why = route_of(CredentialKind.license, state, settings)
                summary.documents_needed.append(_needed(license_row, "license", why))
                continue
            if license_row.id in decided:
                continue
            try:
                async with session.begin_nested():
                    outcome = await check_license(session, license_row, physician, board)
            except Exception:  # one board's surprise must not stop the others
                log.exception("license_check_failed", license_id=str(license_row.id))
                continue
            summary.licenses_checked += 1
            outcomes.append((license_row, outcome, board.name))
    finally:
        for board in boards.values():
            close = getattr(board, "aclose", None)
            if close is not None:
                await close()
    for license_row, outcome, board_name in outcomes:
        await apply_board_outcome(
            session,
            license_row,
            physician,
            outcome,
            board_name=board_name,
            settings=settings,
            summary=summary,
        )

    others: list[tuple[str, type[Any]]] = [
        ("dea", DeaRegistration),
        ("malpractice", MalpracticePolicy),
        ("board_certification", BoardCertification),
    ]
    for kind, model in others:
        rows = await session.scalars(
            select(model).where(
                model.physician_id == physician.id,
                model.status == PENDING,
                model.expires_on > day,
            )
        )
        for row in rows:
            _, why = route_of(CredentialKind(kind), None, settings)
            summary.documents_needed.append(_needed(row, kind, why))
    asked = await _already_asked(session, physician)
    summary.documents_needed = [
        need
        for need in summary.documents_needed
        if not await _document_in_review(session, uuid.UUID(need["credential_id"]))
    ]
    fresh = [n for n in summary.documents_needed if n["credential_id"] not in asked]
    if fresh:
        await _ask_for_documents(session, physician, fresh)
    await session.flush()
    log.info("credentials_checked", physician_id=str(physician.id), **summary.as_dict())
    return summary


async def _decided_at_board(session: AsyncSession, license_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Of these licenses, those whose latest check is a board check that failed or waits for
    operations."""
    if not license_ids:
        return set()
    latest = latest_license_checks(CredentialCheck.credential_id.in_(license_ids))
    rows = await session.execute(
        select(latest.c.credential_id).where(
            latest.c.source == CheckSource.state_board.value,
            latest.c.result.in_([CheckResult.failed.value, CheckResult.needs_review.value]),
        )
    )
    return {row[0] for row in rows}


def latest_license_checks(where: ColumnElement[bool]) -> Subquery:
    """The newest check of each license matching `where` (credential_id, source, result)."""
    c = CredentialCheck
    return (
        select(c.credential_id, c.source, c.result)
        .where(c.credential_kind == CredentialKind.license.value, where)
        .order_by(c.credential_id, c.checked_at.desc(), c.id.desc())
        .ext(distinct_on(c.credential_id))
        .subquery()
    )


async def _already_asked(session: AsyncSession, physician: Physician) -> set[str]:
    """Credentials the physician was already asked to document."""
    rows = await session.scalars(
        select(Notification.data).where(
            Notification.user_id == physician.user_id,
            Notification.kind == "credentials.documents_needed",
        )
    )
    return {
        str(need.get("credential_id"))
        for data in rows
        for need in (data or {}).get("credentials", [])
    }


def _needed(row: Any, kind: str, why: str) -> dict[str, Any]:
    label = {
        "license": f"{getattr(row, 'state', '')} license {getattr(row, 'number', '')}".strip(),
        "dea": f"DEA registration {getattr(row, 'number', '')} ({getattr(row, 'state', '')})",
        "malpractice": f"malpractice policy {getattr(row, 'policy_number', '')}",
        "board_certification": f"board certification ({getattr(row, 'specialty', '')})",
    }[kind]
    return {"credential_kind": kind, "credential_id": str(row.id), "label": label, "why": why}


async def _document_in_review(session: AsyncSession, credential_id: uuid.UUID) -> bool:
    """A document for this credential already waits for operations."""
    found = await session.scalar(
        select(CredentialDocument.id)
        .where(
            CredentialDocument.credential_id == credential_id,
            CredentialDocument.status == DocumentStatus.pending_review.value,
        )
        .limit(1)
    )
    return found is not None


async def _ask_for_documents(
    session: AsyncSession, physician: Physician, needed: list[dict[str, Any]]
) -> None:
    lines = "; ".join(f"{n['label']} ({n['why']})" for n in needed)
    await notify(
        session,
        user_id=physician.user_id,
        kind="credentials.documents_needed",
        email=True,
        title="Upload documents to finish your credentialing",
        body="These credentials are verified from a document operations review, and count "
        f"for matching once approved: {lines}. Upload each with "
        "POST /v1/physicians/me/credential-documents.",
        data={"credentials": needed},
    )


async def apply_board_outcome(
    session: AsyncSession,
    license_row: License,
    physician: Physician,
    outcome: LicenseCheckOutcome,
    *,
    board_name: str,
    settings: Settings,
    summary: CheckSummary | None = None,
) -> None:
    """What a board check of a PENDING license comes to (a verified license's re-check is
    app.credentials.rechecks'). The row is re-read under lock: a decision made meanwhile (a
    document approved, the license rejected) stands, and a decision made after waits for it."""
    summary = summary or CheckSummary()
    await session.refresh(license_row, with_for_update=True)
    if license_row.status != PENDING or outcome.result is None:
        return
    what = f"{license_row.state} license {license_row.number}"
    data = {"credential_id": str(license_row.id), "physician_id": str(physician.id)}
    if outcome.result == CheckResult.passed:
        held = await verify_license(
            session,
            license_row,
            physician,
            settings=settings,
            action="credential.verified_by_board",
            by=board_name,
            actor_id=None,
        )
        if not held:
            summary.verified += 1
        return
    if outcome.result == CheckResult.needs_review:
        summary.for_review += 1
        check = outcome.check
        await review.open_item(
            session,
            kind=ReviewKind.license_check,
            physician_id=physician.id,
            subject_key=license_subject(license_row.id),
            evidence={
                "license": {
                    "id": str(license_row.id),
                    "state": license_row.state,
                    "number": license_row.number,
                    "expires_on": license_row.expires_on.isoformat(),
                },
                "physician": {
                    "name": f"{physician.first_name} {physician.last_name}",
                    "npi": physician.npi,
                },
                "board": board_name,
                "check_id": str(check.id) if check is not None else None,
                "compared": check.compared if check is not None else {},
                "detail": outcome.detail,
            },
            title=f"Dr. {physician.first_name} {physician.last_name}: {what} shows "
            "disciplinary actions at the board",
        )
        return
    if outcome.result == CheckResult.failed:
        summary.failed += 1
        assert outcome.check is not None
        reasons = lapsed(outcome.check.compared, license_row, physician, on=today())
        if reasons:
            license_row.status = CredentialStatus.rejected.value
            await session.flush()
            body = (
                f"{board_name} shows your {what} as {', '.join(reasons)}: it cannot count for "
                "matching. Contact operations if the board's record is wrong."
            )
        else:
            body = (
                f"{board_name}'s record of your {what} differs from yours ({outcome.detail}). "
                "It stays pending: upload the license or a board printout for operations to "
                "review, or contact operations."
            )
        await notify(
            session,
            user_id=physician.user_id,
            kind="credentials.license_check_failed",
            email=True,
            title=f"Your {license_row.state} license could not be verified",
            body=body,
            data=data | {"detail": outcome.detail},
        )
        return
    summary.unavailable += 1
    if outcome.needs_document:
        summary.documents_needed.append(
            _needed(license_row, "license", f"the board could not confirm it: {outcome.detail}")
        )


def license_subject(license_id: uuid.UUID) -> str:
    return f"license:{license_id}"


async def verify_license(
    session: AsyncSession,
    license_row: License,
    physician: Physician,
    *,
    settings: Settings,
    action: str,
    by: str,
    actor_id: uuid.UUID | None,
) -> list[str]:
    """Verify a pending license its source backed (the caller holds its row lock), unless
    something still stands in the way, returned (and the license stays pending):

    - a `license_check` review still open (the board showed disciplinary actions): it decides;
    - verified malpractice cover that does not meet the license's state's minimum (the state's
      law, else mdmatch's own): the physician is told; the license is verified once a policy
      meeting it is (`release_held_licenses`). With no verified policy yet nothing holds it:
      the policy's own review compares it with every licensed state.
    """
    held: list[str] = []
    open_review = await session.scalar(
        select(ReviewItem.id).where(
            ReviewItem.kind == ReviewKind.license_check.value,
            ReviewItem.subject_key == license_subject(license_row.id),
            ReviewItem.status == ReviewStatus.open.value,
        )
    )
    if open_review is not None:
        held.append("the board's disciplinary record waits for operations' review")
    held += await cover_shortfall(session, physician, license_row.state, settings)
    what = f"{license_row.state} license {license_row.number}"
    if held:
        await record_audit(
            session,
            actor_id=actor_id,
            action="credential.verification_held",
            object_type="physician",
            object_id=physician.id,
            before={"credential_id": str(license_row.id), "status": PENDING},
            after={"status": PENDING, "by": by, "held": held},
        )
        await notify(
            session,
            user_id=physician.user_id,
            kind="credentials.license_check_failed",
            email=True,
            title=f"Your {license_row.state} license is not verified yet",
            body=f"{by} backs your {what}, but it does not count for matching yet: "
            + " ".join(held),
            data={"credential_id": str(license_row.id), "held": held},
        )
        return held
    license_row.status = VERIFIED
    license_row.verified_at = utcnow()
    await session.flush()  # the trigger adds the state to licensed_states
    await record_audit(
        session,
        actor_id=actor_id,
        action=action,
        object_type="physician",
        object_id=physician.id,
        before={"credential_id": str(license_row.id), "status": PENDING},
        after={"status": VERIFIED, "by": by},
    )
    await notify(
        session,
        user_id=physician.user_id,
        kind="credentials.license_verified",
        email=True,
        title=f"Your {license_row.state} license is verified",
        body=f"{by} backs your {what}; it now counts for matching in {license_row.state}.",
        data={"credential_id": str(license_row.id)},
    )
    return []


async def cover_shortfall(
    session: AsyncSession, physician: Physician, state: str, settings: Settings
) -> list[str]:
    """Why the physician's verified, current malpractice cover does not meet `state`'s minimum
    (empty when a policy does, or when no policy is verified yet)."""
    day = today()
    policies = list(
        await session.scalars(
            select(MalpracticePolicy).where(
                MalpracticePolicy.physician_id == physician.id,
                MalpracticePolicy.status == VERIFIED,
                MalpracticePolicy.expires_on > day,
            )
        )
    )
    if not policies:
        return []
    required = await required_cover(session, {state}, settings)
    problems = [
        malpractice.shortfalls(p.per_claim_cents, p.aggregate_cents, required) for p in policies
    ]
    if any(not p for p in problems):
        return []
    best = max(
        range(len(policies)),
        key=lambda i: (policies[i].per_claim_cents, policies[i].aggregate_cents),
    )
    return ["Malpractice cover is below the minimum: " + " ".join(problems[best])]


async def release_held_licenses(
    session: AsyncSession, physician: Physician, *, settings: Settings, actor_id: uuid.UUID | None
) -> int:
    """After a policy is verified: the pending, unexpired licenses whose latest check passed
    (their source backed them; cover held them) are verified now where nothing else holds
    them. Returns how many."""
    day = today()
    latest = latest_license_checks(CredentialCheck.physician_id == physician.id)
    rows = await session.scalars(
        select(License)
        .join(latest, latest.c.credential_id == License.id)
        .where(
            License.physician_id == physician.id,
            License.status == PENDING,
            License.expires_on > day,
            latest.c.result == CheckResult.passed.value,
        )
        .with_for_update(of=License)
    )
    released = 0
    for license_row in list(rows):
        held = await verify_license(
            session,
            license_row,
            physician,
            settings=settings,
            action="credential.verified_after_cover",
            by="Its earlier check",
            actor_id=actor_id,
        )
        released += not held
    return released


async def _on_license_check_decision(
    session: AsyncSession, item: ReviewItem, reviewer_id: uuid.UUID
) -> None:
    """Operations read the board's disciplinary record. Approve: a `passed` board check by the
    reviewer, and a pending license is verified (`verify_license`). Reject: a `failed` one, and
    the license is rejected; one already verified meanwhile (from a document) is rejected too
    and, with no other verified license in its state, the physician's oversight there ends
    today. The physician is told what the license now is."""
    settings = review.current_settings()
    license_id = uuid.UUID(item.evidence["license"]["id"])
    license_row = await session.get(License, license_id, with_for_update=True)
    if license_row is None:
        return
    physician = await session.get(Physician, license_row.physician_id)
    assert physician is not None
    approved = item.status == ReviewStatus.approved.value
    day = today()
    await record_check(
        session,
        physician_id=physician.id,
        kind=CredentialKind.license,
        credential_id=license_row.id,
        source=CheckSource.state_board,
        source_detail=str(item.evidence.get("board") or "state board"),
        method=CheckMethod.primary_source,
        result=CheckResult.passed if approved else CheckResult.failed,
        compared=item.evidence.get("compared") or {},
        detail=f"operations reviewed the board's disciplinary record: {item.reason}",
        checked_by=reviewer_id,
        recheck_due=recheck_due(license_row.expires_on, on=day) if approved else None,
    )
    before = license_row.status
    if approved:
        if before == PENDING and license_row.expires_on > day:
            await verify_license(
                session,
                license_row,
                physician,
                settings=settings,
                action="credential.verified_by_review",
                by=f"Operations' review of the board's record ({item.reason})",
                actor_id=reviewer_id,
            )
        return
    if before in (PENDING, VERIFIED):
        license_row.status = CredentialStatus.rejected.value
        await session.flush()
        await record_audit(
            session,
            actor_id=reviewer_id,
            action="credential.rejected_by_review",
            object_type="physician",
            object_id=physician.id,
            before={"credential_id": str(license_row.id), "status": before},
            after={"status": license_row.status, "reason": item.reason},
        )
        if before == VERIFIED and not await other_verified_license(session, license_row, day):
            await cannot_oversee(
                session,
                physician.id,
                reason="license_lapsed",
                note=f"{license_row.state} license {license_row.number} rejected on review of "
                f"the board's disciplinary record: {item.reason}",
                ends_on=day,
                settings=settings,
                states={license_row.state},
            )
    await notify(
        session,
        user_id=physician.user_id,
        kind="credentials.license_check_failed",
        email=True,
        title=f"Your {license_row.state} license was not accepted",
        body=f"Operations reviewed the board's record of your {license_row.state} license "
        f"{license_row.number}: {item.reason}. It does not count for matching.",
        data={"credential_id": str(license_row.id)},
    )


async def other_verified_license(session: AsyncSession, license_row: License, day: date) -> bool:
    """Another license of the same physician and state, verified and current on `day`."""
    found = await session.scalar(
        select(License.id).where(
            License.physician_id == license_row.physician_id,
            License.state == license_row.state,
            License.id != license_row.id,
            License.status == VERIFIED,
            License.expires_on > day,
        )
    )
    return found is not None


review.on_decision(ReviewKind.license_check, _on_license_check_decision)
