"""What every board adapter shares: the record it returns, its errors, the HTTP client (retries
on connection errors, timeouts and 5xx, like the NPPES client), and parsing helpers."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import httpx
import structlog

log = structlog.get_logger(__name__)


class BoardStatus(StrEnum):
    active = "active"
    inactive = "inactive"  # retired, not registered, cancelled at the holder's request
    suspended = "suspended"
    revoked = "revoked"  # revoked, surrendered, cancelled by the board
    expired = "expired"  # expired, delinquent
    probation = "probation"  # may practise under conditions
    unknown = "unknown"  # a status text we do not recognise (kept raw in status_text)


@dataclass(frozen=True)
class BoardRecord:
    """One license as the issuing board shows it."""

    number: str
    holder_name: str
    license_type: str | None
    status: BoardStatus
    status_text: str  # the board's own words
    issued_on: date | None
    expires_on: date | None
    # True: the board shows disciplinary actions; False: it shows none; None: it does not say.
    disciplinary_actions: bool | None
    source_url: str


class BoardUnavailable(Exception):
    """The board could not be reached or answered something we cannot read."""


class BoardIncomplete(BoardUnavailable):
    """The board answered, but what decides the check is a page we cannot read (yet)."""

    def __init__(self, message: str, source_url: str | None = None) -> None:
        super().__init__(message)
        self.source_url = source_url


def fold(text: str | None) -> str:
    """Case and accents folded, letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c)).casefold()


def name_tokens(text: str | None) -> list[str]:
    return [t for t in (fold(p) for p in re.split(r"[\s,.\-']+", text or "")) if t]


def normalize_number(number: str | None) -> str:
    """Upper case, letters and digits only, leading zeros of the digit run dropped, so the
    board's `006160` and our `6160`, or `ME 12345` and `ME12345`, compare equal."""
    compact = re.sub(r"[^A-Z0-9]", "", (number or "").upper())
    match = re.match(r"^([A-Z]*)0*(\d+)([A-Z0-9]*)$", compact)
    return f"{match[1]}{match[2]}{match[3]}" if match else compact


DATE_FORMATS = ("%m/%d/%Y", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%m-%d-%Y", "%B %d, %Y", "%b %d, %Y")


def parse_date(text: Any) -> date | None:
    """A board's date in any of the formats they print; None when blank or unreadable."""
    raw = str(text or "").strip()
    if not raw:
        return None
    raw = raw.split(".")[0].rstrip("Z")
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    return None


def status_from_text(text: str, table: dict[str, BoardStatus]) -> BoardStatus:
    """Map a board's status words by the first table key found in them (longest keys first)."""
    folded = " ".join(text.lower().split())
    for key in sorted(table, key=len, reverse=True):
        if key in folded:
            return table[key]
    return BoardStatus.unknown


class HttpBoard:
    """An adapter's HTTP side: base URL, timeout, retries. `transport` stands in for the board
    in tests (httpx.MockTransport)."""

    state: str
    name: str

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        backoff: float = 0.3,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.attempts = attempts
        self.backoff = backoff
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=True,
            headers={"User-Agent": "mdmatch/1.0", **(headers or {})},
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The board's answer below 500; connection errors, timeouts and 5xx are retried, then
        `BoardUnavailable`."""
        last_error = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            try:
                response = await self.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                last_error = type(exc).__name__
            else:
                if response.status_code < 500:
                    return response
                last_error = f"HTTP {response.status_code}"
            log.warning("board_lookup_failed", board=self.state, attempt=attempt, error=last_error)
            if attempt < self.attempts:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        raise BoardUnavailable(
            f"{self.name} unreachable after {self.attempts} attempts: {last_error}"
        )
