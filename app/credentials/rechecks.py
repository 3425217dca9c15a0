"""Credential re-checks on a schedule (the daily job `credentials.recheck_due`).

What is due: a credential whose LATEST check has `recheck_due` on or before the day (plain
dates, UTC), and a verified license expiring within 30 days whatever its last check said. Each
is re-run by where it was checked:

- `oig_leie` (exclusion): the physician is screened again (`screen_physician`, as the system).
- licenses in a state with a board adapter: `check_license` at the board. A failure that means
  the physician may no longer practise there (the board says not active or past its expiry, or
  the number or name is not ours) rejects our license row (the `licensed_states` trigger drops
  the state from matching) and ends their directorships in that state today. A board that
  cannot be reached records `unavailable` (due tomorrow) and nothing else.
- a PENDING license of a verified physician whose board could not be reached is looked up
  again when that check is due (the next day); what it comes to is
  `app.credentials.checking.apply_board_outcome`'s (passed verifies it). A pending license the
  board has no record of, or whose page we cannot read, is not due again: a document decides it.
- `document` (a document operations reviewed, where no board answers): the physician is asked
  for a new document, once per due date; nothing changes.

A license in a state without a board check is verified from a document, and asked for a new
one when that document's check is due (the `document` line above). docs/credentials.md,
"Re-checks".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import String, and_, cast, exists, func, literal, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.catalog.vocabulary import CredentialStatus
from app.config import Settings
from app.credentials.boards import (
    LicenseBoard,
    check_license,
    has_board,
    lapsed,
    make_board,
    supported_states,
)
from app.credentials.checking import apply_board_outcome, other_verified_license
from app.credentials.exclusions import screen_physician
from app.credentials.models import CheckResult, CheckSource, CredentialCheck, CredentialKind
from app.notifications.models import Notification
from app.notifications.service import notify, notify_ops
from app.physicians.handoff import cannot_oversee
from app.physicians.models import License, Physician

log = structlog.get_logger(__name__)

# At most this many of each kind (exclusions, licenses, documents) per run; the rest next day.
BATCH = 500
# A verified license expiring within this many days is checked at its board before it lapses.
BEFORE_EXPIRY = timedelta(days=30)
DOCUMENT_DUE_KIND = "credentials.document_due"
VERIFIED = CredentialStatus.verified.value
PENDING = CredentialStatus.pending.value


@dataclass
class RecheckResult:
    screened: int = 0
    licenses_checked: int = 0
    licenses_passed: int = 0
    licenses_failed: int = 0  # failed at the board (lapsed or differing)
    licenses_lapsed: int = 0  # of those, the license rejected and oversight ended
    licenses_unavailable: int = 0
    directorships_ended: int = 0
    documents_requested: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "errors"} | {
            "errors": len(self.errors)
        }


def license_due(latest_due: date | None, expires_on: date) -> date:
    """When a verified license is due at its board: its last check's due date, but never later
    than 30 days before it expires (and 30 days before expiry when it was never checked)."""
    before_expiry = expires_on - BEFORE_EXPIRY
    return before_expiry if latest_due is None else min(latest_due, before_expiry)


def is_due(due: date | None, *, on: date) -> bool:
    """Due on `on` (a plain UTC date) when the due date is that day or earlier."""
    return due is not None and due <= on


def _start_of(on: date) -> datetime:
    return datetime.combine(on, time.min, tzinfo=UTC)


def _latest(check: type[CredentialCheck] | Any) -> Any:
    """No later check of the same credential (the same physician, kind and credential)."""
    newer = aliased(CredentialCheck)
    return ~exists().where(
        newer.physician_id == check.physician_id,
        newer.credential_kind == check.credential_kind,
        newer.credential_id.is_not_distinct_from(check.credential_id),
        or_(
            newer.checked_at > check.checked_at,
            and_(newer.checked_at == check.checked_at, newer.id > check.id),
        ),
    )


async def due_exclusions(session: AsyncSession, *, on: date, limit: int) -> list[uuid.UUID]:
    """Physicians whose latest exclusion screening is due."""
    c = CredentialCheck
    rows = await session.scalars(
        select(c.physician_id)
        .where(
            c.recheck_due.is_not(None),
            c.recheck_due <= on,
            c.credential_kind == CredentialKind.exclusion.value,
            _latest(c),
        )
        .order_by(c.recheck_due, c.physician_id)
        .limit(limit)
    )
    return list(rows)


async def due_licenses(
    session: AsyncSession, *, on: date, states: frozenset[str], limit: int
) -> list[tuple[uuid.UUID, str]]:
    """Verified licenses in `states` due at their board: the latest check due, or expiring
    within 30 days; not those already checked at the board on `on` (a re-run the same day)."""
    if not states:
        return []
    c = CredentialCheck
    # Candidates through the indexes: due checks (partial index on recheck_due) and licenses
    # expiring soon (state, status, expires_on); the latest check then decides.
    candidates = union(
        select(c.credential_id.label("id")).where(
            c.recheck_due.is_not(None),
            c.recheck_due <= on,
            c.credential_kind == CredentialKind.license.value,
            c.credential_id.is_not(None),
        ),
        select(License.id.label("id")).where(
            License.status == VERIFIED,
            License.state.in_(sorted(states)),
            License.expires_on <= on + BEFORE_EXPIRY,
        ),
    ).subquery()
    last = (
        select(c.recheck_due, c.checked_at, c.source, c.result)
        .where(
            c.physician_id == License.physician_id,
            c.credential_kind == CredentialKind.license.value,
            c.credential_id == License.id,
        )
        .order_by(c.checked_at.desc(), c.id.desc())
        .limit(1)
        .lateral()
    )
    due = func.least(last.c.recheck_due, License.expires_on - BEFORE_EXPIRY)
    # A pending license whose board could not answer is tried again when its check is due.
    retry_pending = and_(
        License.status == PENDING,
        License.expires_on > on,
        last.c.source == CheckSource.state_board.value,
        last.c.result == CheckResult.unavailable.value,
        exists().where(
            Physician.id == License.physician_id,
            Physician.verification_status == VERIFIED,
        ),
    )
    rows = await session.execute(
        select(License.id, License.state)
        .join(candidates, candidates.c.id == License.id)
        .outerjoin(last, literal(True))
        .where(
            or_(License.status == VERIFIED, retry_pending),
            License.state.in_(sorted(states)),
            due <= on,
            or_(
                last.c.checked_at.is_(None),
                last.c.source != CheckSource.state_board.value,
                # Checked at the board on another day than `on` (before it, or after it when
                # `on` is a day already past).
                last.c.checked_at < _start_of(on),
                last.c.checked_at >= _start_of(on + timedelta(days=1)),
            ),
        )
        .order_by(due, License.id)
        .limit(limit)
    )
    return [(row.id, row.state) for row in rows]


async def due_documents(
    session: AsyncSession, *, on: date, board_states: frozenset[str], limit: int
) -> list[CredentialCheck]:
    """Latest checks by document review that are due, not yet asked about for that due date,
    leaving out verified licenses a board re-checks."""
    c = CredentialCheck
    asked = exists().where(
        Notification.user_id == Physician.user_id,
        Notification.kind == DOCUMENT_DUE_KIND,
        Notification.data["credential_id"].astext == cast(c.credential_id, String),
        Notification.data["recheck_due"].astext == func.to_char(c.recheck_due, "YYYY-MM-DD"),
    )
    at_board = exists().where(
        License.id == c.credential_id,
        License.status == VERIFIED,
        License.state.in_(sorted(board_states) or [""]),
    )
    rows = await session.scalars(
        select(c)
        .join(Physician, Physician.id == c.physician_id)
        .where(
            c.recheck_due.is_not(None),
            c.recheck_due <= on,
            c.source == CheckSource.document.value,
            c.credential_id.is_not(None),
            _latest(c),
            ~and_(c.credential_kind == CredentialKind.license.value, at_board),
            ~asked,
        )
        .order_by(c.recheck_due, c.id)
        .limit(limit)
    )
    return list(rows)


async def _recheck_license(
    session: AsyncSession,
    license_id: uuid.UUID,
    board: LicenseBoard,
    *,
    on: date,
    settings: Settings,
    result: RecheckResult,
) -> None:
    license_row = await session.get(License, license_id, with_for_update=True)
    if license_row is None or license_row.status not in (VERIFIED, PENDING):
        return
    physician = await session.get(Physician, license_row.physician_id)
    assert physician is not None
    outcome = await check_license(session, license_row, physician, board)
    result.licenses_checked += 1
    if license_row.status == PENDING:
        # A first check the board could not answer before: what it comes to now.
        result.licenses_passed += outcome.result == CheckResult.passed
        result.licenses_unavailable += outcome.result == CheckResult.unavailable
        result.licenses_failed += outcome.result == CheckResult.failed
        await apply_board_outcome(
            session, license_row, physician, outcome, board_name=board.name, settings=settings
        )
        return
    if outcome.result == CheckResult.unavailable:
        result.licenses_unavailable += 1
        return
    if outcome.result != CheckResult.failed:
        result.licenses_passed += outcome.result == CheckResult.passed
        return
    result.licenses_failed += 1
    assert outcome.check is not None
    reasons = lapsed(outcome.check.compared, license_row, physician, on=on)
    if not reasons:
        log.info("license_recheck_differs", license_id=str(license_id), detail=outcome.detail)
        return
    result.licenses_lapsed += 1
    license_row.status = CredentialStatus.rejected.value
    what = f"{license_row.state} license {license_row.number}"
    why = ", ".join(reasons)
    note = f"{what} failed its re-check at {board.name}: {why}"
    await session.flush()  # the trigger drops the state from licensed_states
    if not await other_verified_license(session, license_row, on):
        result.directorships_ended += await cannot_oversee(
            session,
            physician.id,
            reason="license_lapsed",
            note=note,
            ends_on=on,
            settings=settings,
            states={license_row.state},
        )
    data = {"credential_id": str(license_row.id), "physician_id": str(physician.id)}
    await notify(
        session,
        user_id=physician.user_id,
        kind="credentials.license_recheck_failed",
        email=True,
        title=f"Your {license_row.state} license failed its re-check",
        body=f"{note}. You receive no offers in {license_row.state} and your oversight there "
        "ends today; contact operations if the board's record is wrong.",
        data=data,
    )
    who = f"Dr. {physician.first_name} {physician.last_name}"
    await notify_ops(
        session,
        kind="credentials.license_recheck_failed",
        title=f"{who}: {what} failed its re-check",
        body=f"{who}'s {note}. The license is rejected; directorships there end today.",
        data=data,
    )


async def _request_document(session: AsyncSession, check: CredentialCheck) -> None:
    physician = await session.get(Physician, check.physician_id)
    assert physician is not None
    assert check.recheck_due is not None
    what = check.credential_kind.replace("_", " ")
    await notify(
        session,
        user_id=physician.user_id,
        kind="credentials.document_due",
        email=True,
        title=f"Your {what} needs a new document",
        body=f"The document behind your {what} was due for a new check on "
        f"{check.recheck_due.isoformat()}. Upload a current one so operations can review it.",
        data={
            "credential_id": str(check.credential_id),
            "credential_kind": check.credential_kind,
            "recheck_due": check.recheck_due.isoformat(),
        },
    )


async def _each(
    session: AsyncSession, result: RecheckResult, what: str, key: object, work: Any
) -> bool:
    """One item in its own savepoint: a failure is logged and skipped, the batch goes on."""
    try:
        async with session.begin_nested():
            await work
    except Exception as exc:  # one item must not stop the batch
        log.exception("recheck_failed", what=what, key=str(key))
        result.errors.append(f"{what} {key}: {exc}")
        return False
    return True


async def run_rechecks(
    session: AsyncSession,
    *,
    settings: Settings,
    on: date,
    batch: int = BATCH,
    transport: httpx.AsyncBaseTransport | None = None,
) -> RecheckResult:
    """Re-run every due check (at most `batch` of each kind), in the caller's transaction
    (each item in a savepoint)."""
    result = RecheckResult()
    for physician_id in await due_exclusions(session, on=on, limit=batch):
        screening = screen_physician(session, physician_id, settings=settings)
        result.screened += await _each(session, result, "exclusion", physician_id, screening)

    boards: dict[str, LicenseBoard] = {}
    for state in sorted(supported_states()):
        board = (
            make_board(state, settings, transport=transport) if has_board(state, settings) else None
        )
        if board is not None:
            boards[state] = board
    try:
        states = frozenset(boards)
        for license_id, state in await due_licenses(session, on=on, states=states, limit=batch):
            recheck = _recheck_license(
                session, license_id, boards[state], on=on, settings=settings, result=result
            )
            await _each(session, result, "license", license_id, recheck)
    finally:
        for board in boards.values():
            close = getattr(board, "aclose", None)
            if close is not None:
                await close()

    for check in await due_documents(session, on=on, board_states=states, limit=batch):
        request = _request_document(session, check)
        result.documents_requested += await _each(session, result, "document", check.id, request)
    await session.flush()
    log.info("credential_rechecks", on=on.isoformat(), **result.as_dict())
    return result
