"""State license checks at the issuing board, behind one interface.

A `LicenseBoard` looks a license up at its state's board and answers a `BoardRecord` (or None:
no such license there). `make_board` builds the adapter for a state from the settings (None
where there is none); `check_license` compares the board's record with ours and records the
`CredentialCheck`. Where a state has no adapter, nothing is recorded and the outcome asks for a
document review (the documents helper builds that upload). docs/credentials.md, "State boards",
says what each board's endpoint is and how sure we are of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.vocabulary import CredentialStatus
from app.config import Settings
from app.credentials.boards.arizona import ArizonaMedicalBoard
from app.credentials.boards.base import (
    BoardIncomplete,
    BoardRecord,
    BoardStatus,
    BoardUnavailable,
    name_tokens,
    normalize_number,
    parse_date,
)
from app.credentials.boards.california import CaliforniaDca
from app.credentials.boards.florida import FloridaMqa
from app.credentials.boards.formats import validate_license_number
from app.credentials.boards.newyork import NewYorkOp
from app.credentials.boards.texas import TexasMedicalBoard
from app.credentials.models import (
    CheckMethod,
    CheckResult,
    CheckSource,
    CredentialCheck,
    CredentialKind,
)
from app.credentials.provenance import record_check
from app.kit.clock import today
from app.physicians.models import License, Physician

log = structlog.get_logger(__name__)

__all__ = [
    "BoardIncomplete",
    "BoardRecord",
    "BoardStatus",
    "BoardUnavailable",
    "LicenseBoard",
    "LicenseCheckOutcome",
    "check_license",
    "has_board",
    "lapsed",
    "make_board",
    "supported_states",
    "validate_license_number",
]

# A check the board could not answer is tried again the next day.
RETRY_UNAVAILABLE = timedelta(days=1)
RECHECK_BEFORE_EXPIRY = timedelta(days=30)
RECHECK_AT_LEAST_EVERY = timedelta(days=90)


class LicenseBoard(Protocol):
    state: str
    name: str

    async def lookup(self, number: str, last_name: str, first_name: str) -> BoardRecord | None:
        """The board's record of license `number`, None when it has none. Raises
        `BoardUnavailable` when the board cannot be reached or read."""
        ...


BoardFactory = Callable[[Settings, dict[str, Any]], LicenseBoard | None]


def _texas(settings: Settings, common: dict[str, Any]) -> LicenseBoard:
    return TexasMedicalBoard(settings.board_tx_url, **common)


def _florida(settings: Settings, common: dict[str, Any]) -> LicenseBoard:
    return FloridaMqa(settings.board_fl_url, **common)


def _california(settings: Settings, common: dict[str, Any]) -> LicenseBoard | None:
    if not (settings.board_ca_app_id and settings.board_ca_app_key):
        return None
    headers = {
        "Accept": "application/json",
        "APP_ID": settings.board_ca_app_id,
        "APP_KEY": settings.board_ca_app_key.get_secret_value(),
    }
    return CaliforniaDca(settings.board_ca_url, headers=headers, **common)


def _new_york(settings: Settings, common: dict[str, Any]) -> LicenseBoard | None:
    if settings.board_ny_api_key is None:
        return None
    headers = {
        "Accept": "application/json",
        "x-oapi-key": settings.board_ny_api_key.get_secret_value(),
    }
    return NewYorkOp(settings.board_ny_url, headers=headers, **common)


def _arizona(settings: Settings, common: dict[str, Any]) -> LicenseBoard:
    return ArizonaMedicalBoard(settings.board_az_url, **common)


REGISTRY: dict[str, BoardFactory] = {
    "TX": _texas,
    "FL": _florida,
    "CA": _california,
    "NY": _new_york,
    "AZ": _arizona,
}


def has_board(state: str, settings: Settings) -> bool:
    """A board check is available for `state`: board checks are on, the state has an adapter,
    and the adapter has the credentials it needs."""
    if not settings.license_board_checks:
        return False
    state = state.upper()
    if state not in REGISTRY:
        return False
    if state == "CA":
        return bool(settings.board_ca_app_id and settings.board_ca_app_key)
    if state == "NY":
        return settings.board_ny_api_key is not None
    return True


def supported_states() -> frozenset[str]:
    """States with an adapter (some need credentials in the settings to be built)."""
    return frozenset(REGISTRY)


def make_board(
    state: str, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> LicenseBoard | None:
    """The adapter for `state`'s board, None where there is none (or it lacks credentials).
    The caller closes it (`await board.aclose()`)."""
    factory = REGISTRY.get(state.upper())
    if factory is None:
        return None
    common: dict[str, Any] = {
        "timeout": settings.board_timeout_seconds,
        "attempts": settings.board_attempts,
        "transport": transport,
    }
    return factory(settings, common)


@dataclass(frozen=True)
class LicenseCheckOutcome:
    """What a license check came to. `check` is None when nothing was recorded (no adapter);
    `needs_document` says a document review should take over."""

    result: CheckResult | None
    needs_document: bool
    detail: str
    check: CredentialCheck | None = None


def recheck_due(expires_on: date | None, *, on: date) -> date:
    """Thirty days before expiry, and at least every ninety days."""
    due = on + RECHECK_AT_LEAST_EVERY
    if expires_on is not None:
        due = min(due, expires_on - RECHECK_BEFORE_EXPIRY)
    return due


def names_match(first_name: str, last_name: str, board_name: str) -> bool:
    """Our last name's words all appear in the board's name, and so does our first name's
    first word (or its initial, where the board gives only one): boards print names in their
    own order ("LAST FIRST MIDDLE", "Last, First")."""
    theirs = name_tokens(board_name)
    last = name_tokens(last_name)
    first = name_tokens(first_name)
    if not last or not set(last) <= set(theirs):
        return False
    if not first:
        return True
    return first[0] in theirs or first[0][0] in {t for t in theirs if len(t) == 1}


def compare(
    license_row: License, physician: Physician, record: BoardRecord, *, on: date
) -> tuple[dict[str, Any], list[str]]:
    """{field: {ours, board}} and the fields that disagree."""
    ours_name = f"{physician.first_name} {physician.last_name}"
    compared: dict[str, Any] = {
        "number": {"ours": license_row.number, "board": record.number},
        "name": {"ours": ours_name, "board": record.holder_name},
        "status": {
            "ours": license_row.status,
            "board": record.status.value,
            "board_text": record.status_text,
        },
        "expires_on": {
            "ours": license_row.expires_on.isoformat(),
            "board": record.expires_on.isoformat() if record.expires_on else None,
        },
    }
    problems: list[str] = []
    if normalize_number(license_row.number) != normalize_number(record.number):
        problems.append("number")
    if not names_match(physician.first_name, physician.last_name, record.holder_name):
        problems.append("name")
    board_expired = record.expires_on is not None and record.expires_on < on
    if record.status != BoardStatus.active or board_expired:
        problems.append("status")
    if record.expires_on is not None and record.expires_on != license_row.expires_on:
        problems.append("expires_on")
    return compared, problems


async def check_license(
    session: AsyncSession,
    license_row: License,
    physician: Physician,
    board: LicenseBoard | None,
) -> LicenseCheckOutcome:
    """Look the license up at its board, compare number, name, status and expiry with our
    record, and record the check (kind license, source state_board, method primary_source).
    Passed: everything agrees and the board shows no disciplinary action; needs_review: it
    agrees but the board shows disciplinary actions; failed: anything disagrees or the license
    is not active; unavailable: the board could not be reached or has no such license.
    No board (no adapter for the state): nothing recorded, a document review is needed."""
    if board is None:
        return LicenseCheckOutcome(
            result=None,
            needs_document=True,
            detail=f"no license board adapter for {license_row.state}: a document review is needed",
        )
    if board.state != license_row.state:
        raise ValueError(f"a {board.state} board cannot check a {license_row.state} license")
    on = today()

    async def record(result: CheckResult, *, detail: str, **kwargs: Any) -> CredentialCheck:
        return await record_check(
            session,
            physician_id=physician.id,
            kind=CredentialKind.license,
            credential_id=license_row.id,
            source=CheckSource.state_board,
            source_detail=board.name,
            method=CheckMethod.primary_source,
            result=result,
            detail=detail,
            **kwargs,
        )

    # A pending license the board cannot confirm (no record, a page we cannot read) goes to a
    # document review; a verified one is tried again the next day.
    retry = None if license_row.status == CredentialStatus.pending.value else on + RETRY_UNAVAILABLE
    try:
        found = await board.lookup(license_row.number, physician.last_name, physician.first_name)
    except BoardIncomplete as exc:
        detail = f"{exc}" + (f" ({exc.source_url})" if exc.source_url else "")
        check = await record(CheckResult.unavailable, detail=detail, recheck_due=retry)
        return LicenseCheckOutcome(CheckResult.unavailable, True, detail, check)
    except BoardUnavailable as exc:
        log.warning("license_board_unavailable", board=board.state, error=str(exc))
        detail = f"board unavailable: {exc}"
        check = await record(
            CheckResult.unavailable, detail=detail, recheck_due=on + RETRY_UNAVAILABLE
        )
        return LicenseCheckOutcome(CheckResult.unavailable, False, detail, check)

    if found is None:
        detail = f"{board.name} has no record of license {license_row.number}"
        check = await record(
            CheckResult.unavailable,
            detail=detail,
            compared={"number": {"ours": license_row.number, "board": None}},
            recheck_due=retry,
        )
        return LicenseCheckOutcome(CheckResult.unavailable, True, detail, check)

    compared, problems = compare(license_row, physician, found, on=on)
    if problems:
        result = CheckResult.failed
        detail = "differs from the board: " + ", ".join(problems)
    elif found.disciplinary_actions:
        result = CheckResult.needs_review
        detail = "matches the board, which shows disciplinary actions"
    else:
        result = CheckResult.passed
        detail = "matches the board"
    detail += f"; board status {found.status_text!r}; {found.source_url}"
    check = await record(
        result,
        detail=detail,
        compared=compared,
        recheck_due=recheck_due(found.expires_on or license_row.expires_on, on=on),
    )
    return LicenseCheckOutcome(result, False, detail, check)


def lapsed(
    compared: dict[str, Any], license_row: License, physician: Physician, *, on: date
) -> list[str]:
    """What in a failed board check means the physician may not practise on this license: the
    board's status not active, its expiry past, a number or name not ours. An expiry that merely
    differs (a renewal the board shows first) is not a lapse."""
    reasons: list[str] = []
    status = (compared.get("status") or {}).get("board")
    if status is not None and status != BoardStatus.active.value:
        reasons.append(f"status {status}")
    board_expiry = parse_date((compared.get("expires_on") or {}).get("board"))
    if board_expiry is not None and board_expiry < on:
        reasons.append(f"expired {board_expiry.isoformat()}")
    number = (compared.get("number") or {}).get("board")
    if number is not None and normalize_number(number) != normalize_number(license_row.number):
        reasons.append("number differs")
    name = (compared.get("name") or {}).get("board")
    if name is not None and not names_match(physician.first_name, physician.last_name, name):
        reasons.append("name differs")
    return reasons
