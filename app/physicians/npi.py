"""NPI validation: the check digit, and the NPPES NPI Registry.

The check digit is the Luhn digit of the 9-digit identifier prefixed with 80840 (the ISO card
issuer prefix the CMS standard assigns to US health identifiers).

The registry client is configured by base URL (`NPPES_BASE_URL`) so tests, and any mirror, can
stand in for CMS; it retries connection errors, timeouts and 5xx answers, then gives up with
`RegistryUnavailable`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

log = structlog.get_logger(__name__)

NPI_RE = re.compile(r"^\d{10}$")


def luhn_check_digit(payload: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:  # the digit next to the check digit is doubled
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def npi_check_digit(first_nine: str) -> int:
    return luhn_check_digit("80840" + first_nine)


def is_valid_npi(npi: str) -> bool:
    return bool(NPI_RE.match(npi)) and npi_check_digit(npi[:9]) == int(npi[9])


def make_npi(first_nine: str) -> str:
    """A valid NPI from 9 digits (demo data and tests)."""
    return first_nine + str(npi_check_digit(first_nine))


# NUCC taxonomy: every code of the "Allopathic & Osteopathic Physicians" group starts with 20
# (202C, 204*, 207*, 208*, ...). NPs are 363L*, PAs 363A*, RNs 163W*.
PHYSICIAN_TAXONOMY_PREFIX = "20"


class RegistryUnavailable(Exception):
    pass


@dataclass(frozen=True)
class NpiRecord:
    number: str
    enumeration_type: str
    first_name: str
    last_name: str
    status: str
    taxonomies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_physician_taxonomy(self) -> bool:
        return any(
            str(t.get("code", "")).startswith(PHYSICIAN_TAXONOMY_PREFIX) for t in self.taxonomies
        )

    @property
    def primary_taxonomy(self) -> str | None:
        for t in self.taxonomies:
            if t.get("primary"):
                return str(t.get("desc") or t.get("code"))
        return str(self.taxonomies[0].get("desc")) if self.taxonomies else None


def parse_registry_answer(payload: dict[str, Any]) -> NpiRecord | None:
    results = payload.get("results") or []
    if not results:
        return None
    r = results[0]
    basic = r.get("basic") or {}
    return NpiRecord(
        number=str(r.get("number", "")),
        enumeration_type=str(r.get("enumeration_type", "")),
        first_name=str(basic.get("first_name", "")),
        last_name=str(basic.get("last_name", "")),
        status=str(basic.get("status", "")),
        taxonomies=list(r.get("taxonomies") or []),
    )


class NppesClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        attempts: int = 3,
        backoff: float = 0.3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.attempts = attempts
        self.backoff = backoff
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "mdmatch/1.0"},
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def lookup(self, npi: str) -> NpiRecord | None:
        """The registry's record for `npi`, None when it has none."""
        last_error = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            try:
                response = await self.http.get("/api/", params={"version": "2.1", "number": npi})
            except httpx.TransportError as exc:  # timeouts and connection errors
                last_error = type(exc).__name__
            else:
                if response.status_code < 500:
                    if response.status_code != 200:
                        raise RegistryUnavailable(f"registry answered {response.status_code}")
                    try:
                        payload = response.json()
                    except ValueError as exc:
                        raise RegistryUnavailable("registry answered with invalid JSON") from exc
                    if payload.get("Errors"):
                        # NPPES reports bad queries this way (HTTP 200 with an Errors list).
                        raise RegistryUnavailable(
                            f"registry refused the query: {payload['Errors']}"
                        )
                    return parse_registry_answer(payload)
                last_error = f"HTTP {response.status_code}"
            log.warning("nppes_lookup_failed", attempt=attempt, error=last_error)
            if attempt < self.attempts:
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        raise RegistryUnavailable(
            f"NPPES registry unreachable after {self.attempts} attempts: {last_error}"
        )
