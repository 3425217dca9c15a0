"""Federal exclusion screening against the HHS-OIG List of Excluded Individuals/Entities (LEIE).

The list is imported as published (the "UPDATED.csv" download): a new file replaces the rows of
the previous one in the same transaction, so `exclusions` always holds exactly one published
file; the same file again (same sha256) changes nothing. Every import screens every physician.

A physician matches a row that is not reinstated (no REINDATE, or one still in the future):
- `npi` (strong): the row's NPI is the physician's;
- `name_state` (weaker): the row has no NPI, its last and first names equal the physician's
  (case, accents, spaces and punctuation ignored) and its STATE is one of the physician's
  licensed states (physicians have no date of birth on file to compare with DOB).

Each screening records a credential check (kind `exclusion`, source `oig_leie`). A possible
match opens an `exclusion_match` review item for operations; approving it confirms the
exclusion (the physician is suspended through the physicians' suspension path, a `failed`
check), rejecting it clears the physician ("not the same person": a `passed` check by the
reviewer, and the reinstatement of a suspension this match caused). A match already cleared by
a reviewer is not raised again while the row is unchanged (its key names its fields).
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import httpx
import structlog
from sqlalchemy import delete, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.config import Settings
from app.credentials import review
from app.credentials.models import (
    CheckMethod,
    CheckResult,
    CheckSource,
    CredentialCheck,
    CredentialKind,
    Exclusion,
    ExclusionImport,
    ReviewItem,
    ReviewKind,
    ReviewStatus,
)
from app.credentials.provenance import record_check
from app.kit.clock import today, utcnow
from app.notifications.service import notify
from app.physicians.models import Physician, VerificationStatus
from app.physicians.verification import reinstate_physician, suspend_physician

log = structlog.get_logger(__name__)

LEIE_COLUMNS = (
    "LASTNAME",
    "FIRSTNAME",
    "MIDNAME",
    "BUSNAME",
    "GENERAL",
    "SPECIALTY",
    "UPIN",
    "NPI",
    "DOB",
    "ADDRESS",
    "CITY",
    "STATE",
    "ZIP",
    "EXCLTYPE",
    "EXCLDATE",
    "REINDATE",
    "WAIVERDATE",
    "WVRSTATE",
)
# The table's columns in the order `parse_leie` yields them (COPY writes these).
_COPY_COLUMNS = (
    "last_name",
    "first_name",
    "mid_name",
    "bus_name",
    "general",
    "specialty",
    "upin",
    "npi",
    "dob",
    "address",
    "city",
    "state",
    "zip",
    "excl_type",
    "excl_date",
    "rein_date",
    "waiver_date",
    "waiver_state",
    "row_key",
    "last_key",
    "first_key",
)
_LIMITS = {
    "last_name": 100,
    "first_name": 100,
    "mid_name": 100,
    "bus_name": 300,
    "general": 100,
    "specialty": 100,
    "upin": 20,
    "address": 300,
    "city": 100,
    "state": 2,
    "zip": 10,
    "excl_type": 20,
    "waiver_state": 2,
}
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
SOURCE_LABEL = "HHS-OIG LEIE"

Strength = Literal["npi", "name_state"]


class LeieFormatError(ValueError):
    """The file is not the LEIE's published CSV layout (header, a date, an NPI, a width)."""


class LeieDownloadError(RuntimeError):
    pass


def fold(name: str | None) -> str:
    """A name for comparison: accents dropped, case folded, only letters kept."""
    if not name:
        return ""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if c.isalpha() and not unicodedata.combining(c)).casefold()


def _date(value: str, column: str, line: int) -> date | None:
    value = value.strip()
    if not value or value == "00000000":
        return None
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        raise LeieFormatError(f"line {line}: {column} {value!r} is not a YYYYMMDD date") from None


def _npi(value: str, line: int) -> str | None:
    value = value.strip()
    if not value or set(value) == {"0"}:
        return None
    if len(value) != 10 or not value.isdigit():
        raise LeieFormatError(f"line {line}: NPI {value!r} is not ten digits")
    return value


def _row_key(npi: str | None, values: Iterable[str]) -> str:
    if npi is not None:
        return f"npi:{npi}"
    digest = hashlib.sha256("|".join(values).encode()).hexdigest()[:32]
    return f"row:{digest}"


def parse_leie(data: bytes) -> list[tuple[Any, ...]]:
    """The file's rows, typed, in `_COPY_COLUMNS` order (the import id is added by the copy)."""
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        content = data.decode("latin-1")
    reader = csv.reader(io.StringIO(content, newline=""))
    header = next(reader, None)
    if header is None or tuple(h.strip().upper() for h in header) != LEIE_COLUMNS:
        raise LeieFormatError(
            "the header is not the LEIE layout: expected " + ",".join(LEIE_COLUMNS)
        )
    rows: list[tuple[Any, ...]] = []
    for line, raw in enumerate(reader, start=2):
        if not any(cell.strip() for cell in raw):
            continue
        if len(raw) != len(LEIE_COLUMNS):
            raise LeieFormatError(f"line {line}: {len(raw)} fields, expected {len(LEIE_COLUMNS)}")
        cells = dict(zip(LEIE_COLUMNS, raw, strict=True))

        def text_(column: str, name: str, cells: dict[str, str] = cells, line: int = line) -> Any:
            value = cells[column].strip()
            if len(value) > _LIMITS[name]:
                raise LeieFormatError(f"line {line}: {column} is longer than {_LIMITS[name]}")
            return value or None

        npi = _npi(cells["NPI"], line)
        dob = _date(cells["DOB"], "DOB", line)
        excl_date = _date(cells["EXCLDATE"], "EXCLDATE", line)
        state = text_("STATE", "state")
        last_key, first_key = fold(cells["LASTNAME"]), fold(cells["FIRSTNAME"])
        key = _row_key(
            npi,
            (
                last_key,
                first_key,
                fold(cells["MIDNAME"]),
                fold(cells["BUSNAME"]),
                dob.isoformat() if dob else "",
                state or "",
                excl_date.isoformat() if excl_date else "",
                cells["EXCLTYPE"].strip(),
            ),
        )
        rows.append(
            (
                text_("LASTNAME", "last_name"),
                text_("FIRSTNAME", "first_name"),
                text_("MIDNAME", "mid_name"),
                text_("BUSNAME", "bus_name"),
                text_("GENERAL", "general"),
                text_("SPECIALTY", "specialty"),
                text_("UPIN", "upin"),
                npi,
                dob,
                text_("ADDRESS", "address"),
                text_("CITY", "city"),
                state,
                text_("ZIP", "zip"),
                text_("EXCLTYPE", "excl_type"),
                excl_date,
                _date(cells["REINDATE"], "REINDATE", line),
                _date(cells["WAIVERDATE"], "WAIVERDATE", line),
                text_("WVRSTATE", "waiver_state"),
                key,
                last_key[:100],
                first_key[:100],
            )
        )
    return rows


# --- importing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportResult:
    import_id: uuid.UUID
    file_name: str
    sha256: str
    row_count: int
    matches_found: int
    unchanged: bool  # the same file as the current import: nothing changed


async def current_import(session: AsyncSession) -> ExclusionImport | None:
    """The import whose rows `exclusions` holds (the newest)."""
    return await session.scalar(
        select(ExclusionImport)
        .order_by(ExclusionImport.imported_at.desc(), ExclusionImport.id)
        .limit(1)
    )


async def _copy_rows(
    session: AsyncSession, import_id: uuid.UUID, rows: list[tuple[Any, ...]]
) -> None:
    """COPY the rows in, on the session's own connection (so in its transaction)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(
        "exclusions",
        records=[(import_id, *row) for row in rows],
        columns=["import_id", *_COPY_COLUMNS],
    )


async def import_leie(
    session: AsyncSession, data: bytes, *, file_name: str, settings: Settings | None = None
) -> ImportResult:
    """Import one LEIE file in the caller's transaction (flushes, never commits): the same file
    as the current import changes nothing; another one replaces the list and every physician
    is screened against it."""
    sha256 = hashlib.sha256(data).hexdigest()
    # One import at a time: the second waits, then sees the first's file as current.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('credentials.import_leie'))"))
    current = await current_import(session)
    if current is not None and current.sha256 == sha256:
        return ImportResult(
            current.id, current.file_name, sha256, current.row_count, current.matches_found, True
        )
    rows = parse_leie(data)
    await session.execute(delete(Exclusion))
    imported = ExclusionImport(
        id=uuid.uuid4(),
        source=CheckSource.oig_leie.value,
        file_name=file_name[:500],
        sha256=sha256,
        row_count=len(rows),
        matches_found=0,
        imported_at=utcnow(),
    )
    session.add(imported)
    await session.flush()
    await _copy_rows(session, imported.id, rows)
    imported.matches_found = await screen_all(session, imported, settings=settings)
    await record_audit(
        session,
        actor_id=None,
        action="credentials.leie_imported",
        object_type="exclusion_import",
        object_id=imported.id,
        before={"import_id": str(current.id) if current else None},
        after={
            "file_name": imported.file_name,
            "sha256": sha256,
            "row_count": len(rows),
            "matches_found": imported.matches_found,
        },
    )
    await session.flush()
    log.info(
        "leie_imported", rows=len(rows), matches=imported.matches_found, file=imported.file_name
    )
    return ImportResult(
        imported.id, imported.file_name, sha256, len(rows), imported.matches_found, False
    )


async def download_leie(
    url: str, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> bytes:
    """The file at `url` (the LEIE's UPDATED.csv download)."""
    try:
        async with httpx.AsyncClient(
            transport=transport, timeout=settings.leie_timeout_seconds, follow_redirects=True
        ) as client:
            chunks: list[bytes] = []
            size = 0
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise LeieDownloadError(f"{url} answered {response.status_code}")
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_DOWNLOAD_BYTES:
                        raise LeieDownloadError(f"{url} is larger than {MAX_DOWNLOAD_BYTES} bytes")
                    chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise LeieDownloadError(f"{url} could not be fetched: {exc}") from exc
    return b"".join(chunks)


# --- screening ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Subject:
    id: uuid.UUID
    user_id: uuid.UUID
    npi: str
    first_name: str
    last_name: str
    states: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, str]:
        return fold(self.last_name), fold(self.first_name)


@dataclass(frozen=True, slots=True)
class Match:
    row: Exclusion
    strength: Strength

    def subject_key(self, physician_id: uuid.UUID) -> str:
        return f"exclusion:{physician_id}:{self.row.row_key}"


@dataclass(slots=True)
class Screening:
    physician_id: uuid.UUID
    result: CheckResult
    matches: list[Match] = field(default_factory=list)
    opened: list[uuid.UUID] = field(default_factory=list)  # review items opened now
    suspended: bool = False


def next_month(day: date) -> date:
    """The same day next month (the last day when next month is shorter)."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _not_reinstated(on: date) -> Any:
    return or_(Exclusion.rein_date.is_(None), Exclusion.rein_date > on)


async def _find_matches(
    session: AsyncSession, subjects: Sequence[_Subject], *, on: date
) -> dict[uuid.UUID, list[Match]]:
    found: dict[uuid.UUID, list[Match]] = {}
    for start in range(0, len(subjects), 2000):
        chunk = subjects[start : start + 2000]
        by_npi: dict[str, list[_Subject]] = {}
        by_name: dict[tuple[str, str], list[_Subject]] = {}
        for s in chunk:
            by_npi.setdefault(s.npi, []).append(s)
            if all(s.keys):
                by_name.setdefault(s.keys, []).append(s)
        for row in await session.scalars(
            select(Exclusion).where(Exclusion.npi.in_(list(by_npi)), _not_reinstated(on))
        ):
            for s in by_npi.get(row.npi or "", []):
                found.setdefault(s.id, []).append(Match(row, "npi"))
        if by_name:
            last_keys = sorted({k[0] for k in by_name})
            for row in await session.scalars(
                select(Exclusion).where(
                    Exclusion.npi.is_(None),
                    Exclusion.last_key.in_(last_keys),
                    _not_reinstated(on),
                )
            ):
                for s in by_name.get((row.last_key, row.first_key), []):
                    if row.state and row.state in s.states:
                        found.setdefault(s.id, []).append(Match(row, "name_state"))
    return found


def _source_detail(imported: ExclusionImport | None) -> str:
    if imported is None:
        return f"{SOURCE_LABEL}: no list imported"
    name = imported.file_name if len(imported.file_name) <= 100 else "…" + imported.file_name[-99:]
    return (
        f"{SOURCE_LABEL} {name}, imported {imported.imported_at:%Y-%m-%d} "
        f"(import {imported.id}, sha256 {imported.sha256[:12]})"
    )[:200]


def _row_fields(row: Exclusion) -> dict[str, Any]:
    return {
        "row_key": row.row_key,
        "last_name": row.last_name,
        "first_name": row.first_name,
        "mid_name": row.mid_name,
        "bus_name": row.bus_name,
        "general": row.general,
        "specialty": row.specialty,
        "npi": row.npi,
        "dob": row.dob.isoformat() if row.dob else None,
        "address": row.address,
        "city": row.city,
        "state": row.state,
        "zip": row.zip,
        "excl_type": row.excl_type,
        "excl_date": row.excl_date.isoformat() if row.excl_date else None,
        "rein_date": row.rein_date.isoformat() if row.rein_date else None,
        "waiver_date": row.waiver_date.isoformat() if row.waiver_date else None,
        "waiver_state": row.waiver_state,
    }


def _compared(subject: _Subject, match: Match | None) -> dict[str, Any]:
    """What was compared: ours against the listing's (None: no listing matched)."""
    row = match.row if match else None
    compared: dict[str, Any] = {
        "npi": {"ours": subject.npi, "source": row.npi if row else None},
        "last_name": {"ours": subject.last_name, "source": row.last_name if row else None},
        "first_name": {"ours": subject.first_name, "source": row.first_name if row else None},
        "state": {"ours": list(subject.states), "source": row.state if row else None},
    }
    if match is not None:
        compared["match"] = match.strength
        compared["row_key"] = match.row.row_key
    return compared


def _physician_fields(subject: _Subject) -> dict[str, Any]:
    return {
        "id": str(subject.id),
        "first_name": subject.first_name,
        "last_name": subject.last_name,
        "npi": subject.npi,
        "licensed_states": list(subject.states),
    }


def suspension_reason(subject_key: str) -> str:
    """The reason a match's suspension carries: the reinstatement on rejection looks for it."""
    return (
        f"Possible match on the federal exclusion list (HHS-OIG LEIE), under review [{subject_key}]"
    )


async def _decisions(session: AsyncSession, subject_keys: Sequence[str]) -> dict[str, str]:
    """The latest decision (approved / rejected) per subject key."""
    if not subject_keys:
        return {}
    rows = await session.execute(
        select(ReviewItem.subject_key, ReviewItem.status)
        .where(
            ReviewItem.kind == ReviewKind.exclusion_match.value,
            ReviewItem.subject_key.in_(list(subject_keys)),
            ReviewItem.status != ReviewStatus.open.value,
        )
        .order_by(ReviewItem.decided_at)
    )
    return {row[0]: row[1] for row in rows}


async def _screen(
    session: AsyncSession,
    subject: _Subject,
    matches: list[Match],
    imported: ExclusionImport,
    *,
    actor_id: uuid.UUID | None,
    settings: Settings,
) -> Screening:
    """Record the check of one physician with matches; open a review item for each match not
    yet decided; suspend at once when an actor is known (see `_suspend_at_once`)."""
    matches = sorted(matches, key=lambda m: (m.strength != "npi", m.row.row_key))
    keys = [m.subject_key(subject.id) for m in matches]
    decided = await _decisions(session, keys)
    confirmed = [m for m, k in zip(matches, keys, strict=True) if decided.get(k) == "approved"]
    live = [m for m, k in zip(matches, keys, strict=True) if k not in decided]
    cleared = [k for k in keys if decided.get(k) == "rejected"]
    if confirmed:
        result, first = CheckResult.failed, confirmed[0]
    elif live:
        result, first = CheckResult.needs_review, live[0]
    else:
        result, first = CheckResult.passed, matches[0]
    compared = _compared(subject, first)
    compared["matches"] = [
        {"row_key": m.row.row_key, "match": m.strength, "decision": decided.get(k)}
        for m, k in zip(matches, keys, strict=True)
    ]
    detail = {
        CheckResult.failed: "Confirmed on the exclusion list by a reviewer.",
        CheckResult.needs_review: f"Possible match ({first.strength}); waiting for review.",
        CheckResult.passed: "Listed rows resembling the physician were cleared by a reviewer: "
        + ", ".join(cleared),
    }[result]
    await record_check(
        session,
        physician_id=subject.id,
        kind=CredentialKind.exclusion,
        source=CheckSource.oig_leie,
        method=CheckMethod.primary_source,
        result=result,
        source_detail=_source_detail(imported),
        compared=compared,
        detail=detail[:2000],
        recheck_due=next_month(today()),
    )
    screening = Screening(subject.id, result, matches=matches)
    for match in live:
        key = match.subject_key(subject.id)
        item = await review.open_item(
            session,
            kind=ReviewKind.exclusion_match,
            physician_id=subject.id,
            subject_key=key,
            evidence={
                "match": match.strength,
                "physician": _physician_fields(subject),
                "listing": _row_fields(match.row),
                "compared": _compared(subject, match),
                "source_detail": _source_detail(imported),
            },
            title=(
                "Possible federal exclusion: "
                f"Dr. {subject.first_name} {subject.last_name} ({match.strength} match)"
            ),
        )
        if item is None:
            continue
        screening.opened.append(item.id)
        if not screening.suspended:
            screening.suspended = await _suspend_at_once(
                session, subject.id, key, actor_id=actor_id, settings=settings
            )
    return screening


async def _suspend_at_once(
    session: AsyncSession,
    physician_id: uuid.UUID,
    subject_key: str,
    *,
    actor_id: uuid.UUID | None,
    settings: Settings,
) -> bool:
    """Suspend the physician at once through the physicians' suspension path (their
    directorships end through the engagements hand-off); `actor_id` None when the system found
    the match (the monthly import, a worker). The review item decides whether it stands."""
    physician = await session.get(Physician, physician_id, populate_existing=True)
    if physician is None or physician.verification_status == VerificationStatus.suspended.value:
        return False
    await suspend_physician(
        session,
        physician_id,
        reason=suspension_reason(subject_key),
        actor_id=actor_id,
        settings=settings,
    )
    return True


def _subject(row: Any) -> _Subject:
    return _Subject(
        id=row.id,
        user_id=row.user_id,
        npi=row.npi,
        first_name=row.first_name,
        last_name=row.last_name,
        states=tuple(row.licensed_states or ()),
    )


_SUBJECT_COLUMNS = (
    Physician.id,
    Physician.user_id,
    Physician.npi,
    Physician.first_name,
    Physician.last_name,
    Physician.licensed_states,
)


async def screen_physician(
    session: AsyncSession,
    physician_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None = None,
    settings: Settings | None = None,
) -> Screening:
    """Screen one physician against the current list, in the caller's transaction: a
    credential check always; on a match, a review item (and, with `actor_id`, the suspension
    at once). Without an imported list the check is `unavailable`."""
    settings = settings or review.current_settings()
    row = (
        await session.execute(select(*_SUBJECT_COLUMNS).where(Physician.id == physician_id))
    ).one_or_none()
    if row is None:
        raise LookupError(f"no physician {physician_id}")
    subject = _subject(row)
    imported = await current_import(session)
    if imported is None:
        await record_check(
            session,
            physician_id=subject.id,
            kind=CredentialKind.exclusion,
            source=CheckSource.oig_leie,
            method=CheckMethod.primary_source,
            result=CheckResult.unavailable,
            source_detail=_source_detail(None),
            compared=_compared(subject, None),
            detail="No LEIE file has been imported yet; screened after the first import.",
        )
        return Screening(subject.id, CheckResult.unavailable)
    matches = (await _find_matches(session, [subject], on=today())).get(subject.id, [])
    if not matches:
        await record_check(
            session,
            physician_id=subject.id,
            kind=CredentialKind.exclusion,
            source=CheckSource.oig_leie,
            method=CheckMethod.primary_source,
            result=CheckResult.passed,
            source_detail=_source_detail(imported),
            compared=_compared(subject, None),
            recheck_due=next_month(today()),
        )
        return Screening(subject.id, CheckResult.passed)
    return await _screen(session, subject, matches, imported, actor_id=actor_id, settings=settings)


async def screen_all(
    session: AsyncSession, imported: ExclusionImport, *, settings: Settings | None = None
) -> int:
    """Screen every physician against the list just imported; returns how many matched (not
    counting matches a reviewer already cleared). Checks without a match are written in bulk."""
    settings = settings or review.current_settings()
    subjects = [_subject(r) for r in await session.execute(select(*_SUBJECT_COLUMNS))]
    found = await _find_matches(session, subjects, on=today())
    now, due, detail = utcnow(), next_month(today()), _source_detail(imported)
    clean = [
        {
            "id": uuid.uuid4(),
            "physician_id": s.id,
            "credential_kind": CredentialKind.exclusion.value,
            "credential_id": None,
            "source": CheckSource.oig_leie.value,
            "source_detail": detail,
            "method": CheckMethod.primary_source.value,
            "compared": _compared(s, None),
            "result": CheckResult.passed.value,
            "detail": None,
            "checked_at": now,
            "checked_by": None,
            "recheck_due": due,
        }
        for s in subjects
        if s.id not in found
    ]
    for start in range(0, len(clean), 1000):
        await session.execute(insert(CredentialCheck), clean[start : start + 1000])
    matched = 0
    for s in subjects:
        if s.id in found:
            screening = await _screen(
                session, s, found[s.id], imported, actor_id=None, settings=settings
            )
            matched += screening.result != CheckResult.passed
    return matched


# --- the reviewer's decision ----------------------------------------------------------------


async def _on_exclusion_decision(
    session: AsyncSession, item: ReviewItem, reviewer_id: uuid.UUID
) -> None:
    """Approve: confirmed excluded (suspended, a `failed` check). Reject: not the same person
    (a `passed` check by the reviewer; a suspension this match caused is lifted)."""
    physician = await session.get(Physician, item.physician_id, populate_existing=True)
    assert physician is not None
    imported = await current_import(session)
    evidence = item.evidence or {}
    compared = dict(evidence.get("compared") or {})
    approved = item.status == ReviewStatus.approved.value
    await record_check(
        session,
        physician_id=physician.id,
        kind=CredentialKind.exclusion,
        source=CheckSource.oig_leie,
        method=CheckMethod.primary_source,
        result=CheckResult.failed if approved else CheckResult.passed,
        source_detail=evidence.get("source_detail") or _source_detail(imported),
        compared=compared,
        detail=(
            f"Confirmed excluded by review: {item.reason}"
            if approved
            else f"Not the same person (review): {item.reason}"
        )[:2000],
        checked_by=reviewer_id,
        recheck_due=next_month(today()),
    )
    if approved:
        if physician.verification_status != VerificationStatus.suspended.value:
            await suspend_physician(
                session,
                physician.id,
                reason="Confirmed on the federal exclusion list (HHS-OIG LEIE) "
                f"[{item.subject_key}]",
                actor_id=reviewer_id,
                settings=review.current_settings(),
            )
        await notify(
            session,
            user_id=physician.user_id,
            kind="credentials.exclusion_confirmed",
            email=True,
            title="You are listed on the federal exclusion list",
            body=(
                "Operations confirmed that you are listed on the HHS-OIG List of Excluded "
                "Individuals/Entities. Your profile stays suspended: you receive no offers and "
                f"direct no clinics. {item.reason}"
            ),
            data={"review_item_id": str(item.id)},
        )
        return
    if (
        physician.verification_status == VerificationStatus.suspended.value
        and physician.suspension_reason == suspension_reason(item.subject_key)
    ):
        await reinstate_physician(
            session,
            physician.id,
            reason="Not the person on the federal exclusion list (HHS-OIG LEIE)",
            actor_id=reviewer_id,
        )
    await notify(
        session,
        user_id=physician.user_id,
        kind="credentials.exclusion_cleared",
        email=True,
        title="Exclusion screening: cleared",
        body=(
            "A listing on the HHS-OIG List of Excluded Individuals/Entities resembled your "
            f"profile; operations found it is not you. {item.reason}"
        ),
        data={"review_item_id": str(item.id)},
    )


review.on_decision(ReviewKind.exclusion_match, _on_exclusion_decision)
