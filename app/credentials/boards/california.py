"""California Department of Consumer Affairs (DCA) iServices Search API, which serves the
Medical Board of California (physicians and surgeons) and the Osteopathic Medical Board.

`GET {base}/licenseSearchService/getLicenseNumberSearch?licType=<type>&licNumber=<digits>` with
the `APP_ID` and `APP_KEY` headers of a registered DCA API application; JSON
`{"licenseDetails": [{"getFullLicenseDetail": [{"getLicenseDetails": [{licNumber, licTypeCode,
primaryStatusCode, issueDate, expDate, ...}], "getNameDetails": [{"individualNameDetails":
[{firstName, middleName, lastName}]}]}]}]}`; an unknown number gives `licenseDetails: []`.
Seen in independent public clients of the API, not in DCA's own documentation (see
docs/credentials.md). The number is sent as digits only, without its rank letter.
"""

from __future__ import annotations

import re
from typing import Any

from app.credentials.boards.base import (
    BoardRecord,
    BoardStatus,
    BoardUnavailable,
    HttpBoard,
    normalize_number,
    parse_date,
)

DEFAULT_URL = "https://iservices.dca.ca.gov/api/search/v1"

# DCA primaryStatusCode values (from public clients of the API).
STATUS_CODES = {
    "1": (BoardStatus.active, "Active"),
    "20": (BoardStatus.active, "Current"),
    "10": (BoardStatus.inactive, "Pending"),
    "30": (BoardStatus.expired, "Expired"),
    "40": (BoardStatus.inactive, "Cancelled"),
    "50": (BoardStatus.revoked, "Revoked"),
    "60": (BoardStatus.suspended, "Suspended"),
    "70": (BoardStatus.inactive, "Denied"),
    "80": (BoardStatus.inactive, "Retired"),
    "90": (BoardStatus.inactive, "Deceased"),
    "100": (BoardStatus.expired, "Delinquent"),
}
# BreEZe license types: 8002 the Medical Board's physician and surgeon; 9001 the Osteopathic
# Medical Board's physician and surgeon (both codes as public clients use them).
PHYSICIAN_TYPE = "8002"
OSTEOPATH_TYPE = "9001"
NUMBER = re.compile(r"^(20A|A|C|G)?0*(\d+)$")


def query_for(number: str) -> tuple[str, str, str] | None:
    """(licType, the digits DCA wants, the rank) for one of our numbers; None if unreadable."""
    match = NUMBER.match(re.sub(r"[^A-Z0-9]", "", number.upper()))
    if not match:
        return None
    rank = match[1] or ""
    return (OSTEOPATH_TYPE if rank == "20A" else PHYSICIAN_TYPE), match[2], rank


class CaliforniaDca(HttpBoard):
    state = "CA"
    name = "Medical Board of California (DCA license search)"

    async def lookup(self, number: str, last_name: str, first_name: str) -> BoardRecord | None:
        query = query_for(number)
        if query is None:
            return None
        lic_type, digits, rank = query
        params = {"licType": lic_type, "licNumber": digits}
        response = await self.request(
            "GET", "/licenseSearchService/getLicenseNumberSearch", params=params
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise BoardUnavailable(f"{self.name} answered {response.status_code}")
        try:
            payload = response.json()
        except ValueError as exc:
            raise BoardUnavailable(f"{self.name} answered with invalid JSON") from exc
        return parse_answer(payload, digits, rank, str(response.request.url))


def parse_answer(payload: Any, digits: str, rank: str, source_url: str) -> BoardRecord | None:
    if not isinstance(payload, dict):
        raise BoardUnavailable("DCA answer is not a JSON object")
    for detail in payload.get("licenseDetails") or []:
        for block in detail.get("getFullLicenseDetail") or []:
            for lic in block.get("getLicenseDetails") or []:
                if normalize_number(str(lic.get("licNumber", ""))) != normalize_number(digits):
                    continue
                code = str(lic.get("primaryStatusCode", "")).strip()
                status, words = STATUS_CODES.get(code, (BoardStatus.unknown, f"code {code}"))
                return BoardRecord(
                    number=f"{rank}{lic.get('licNumber')}",
                    holder_name=_name(block),
                    license_type=str(lic.get("licTypeCode") or "") or None,
                    status=status,
                    status_text=f"{words} (primaryStatusCode {code})",
                    issued_on=parse_date(lic.get("issueDate")),
                    expires_on=parse_date(lic.get("expDate")),
                    disciplinary_actions=None,  # not in this answer (see docs/credentials.md)
                    source_url=source_url,
                )
    return None


def _name(block: dict[str, Any]) -> str:
    for names in block.get("getNameDetails") or []:
        for person in names.get("individualNameDetails") or []:
            parts = [person.get(k) for k in ("firstName", "middleName", "lastName")]
            if any(parts):
                return " ".join(str(p) for p in parts if p)
    return ""
