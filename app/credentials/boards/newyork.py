"""New York State Education Department, Office of the Professions (OP): the JSON API behind its
online verification search (eservices.nysed.gov/professions/verification-search).

`GET {base}/byProfessionAndLicenseNumber?professionCode=060&licenseNumber=<number>` with the
`x-oapi-key` header the public search page itself sends; JSON object whose every field is
`{"value": ..., "label": ...}`: name ("LAST FIRST MIDDLE"), profession, professionCode,
licenseNumber, status, dateOfLicensure, registeredThroughDate, address. Seen in public clients
of the API (see docs/credentials.md); the shape of a "no such license" answer was not seen, so
an empty body, an empty object, one without a license number, 204 and 404 all count as none.
Medicine is profession code 060 (not confirmed by the research: configurable).
"""

from __future__ import annotations

from typing import Any

from app.credentials.boards.base import (
    BoardRecord,
    BoardStatus,
    BoardUnavailable,
    HttpBoard,
    parse_date,
    status_from_text,
)

DEFAULT_URL = "https://api.nysed.gov/rosa/V2"
MEDICINE = "060"

STATUSES = {
    "registered": BoardStatus.active,
    "not registered": BoardStatus.expired,
    "inactive": BoardStatus.inactive,
    "deceased": BoardStatus.inactive,
    "retired": BoardStatus.inactive,
    "revoked": BoardStatus.revoked,
    "surrendered": BoardStatus.revoked,
    "annulled": BoardStatus.revoked,
    "suspended": BoardStatus.suspended,
    "probation": BoardStatus.probation,
}


def _v(field: Any) -> str:
    value = field.get("value") if isinstance(field, dict) else field
    return "" if value is None else str(value).strip()


class NewYorkOp(HttpBoard):
    state = "NY"
    name = "New York State Education Department, Office of the Professions"

    def __init__(self, base_url: str, *, profession_code: str = MEDICINE, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.profession_code = profession_code

    async def lookup(self, number: str, last_name: str, first_name: str) -> BoardRecord | None:
        params = {"professionCode": self.profession_code, "licenseNumber": number.strip()}
        response = await self.request("GET", "/byProfessionAndLicenseNumber", params=params)
        if response.status_code in (204, 404) or not response.content.strip():
            return None
        if response.status_code != 200:
            raise BoardUnavailable(f"{self.name} answered {response.status_code}")
        try:
            payload = response.json()
        except ValueError as exc:
            raise BoardUnavailable(f"{self.name} answered with invalid JSON") from exc
        return parse_answer(payload, str(response.request.url))


def parse_answer(payload: Any, source_url: str) -> BoardRecord | None:
    if isinstance(payload, list):  # tolerate a list of one
        payload = payload[0] if payload else {}
    if not isinstance(payload, dict):
        raise BoardUnavailable("NYSED answer is not a JSON object")
    number = _v(payload.get("licenseNumber"))
    if not number:
        return None
    status_text = _v(payload.get("status"))
    return BoardRecord(
        number=number,
        holder_name=_v(payload.get("name")),
        license_type=_v(payload.get("profession")) or None,
        status=status_from_text(status_text, STATUSES),
        status_text=status_text,
        issued_on=parse_date(_v(payload.get("dateOfLicensure"))),
        # A New York license does not expire; its registration does (every two years).
        expires_on=parse_date(_v(payload.get("registeredThroughDate"))),
        # Physician discipline is published by the Department of Health (OPMC), not here.
        disciplinary_actions=None,
        source_url=source_url,
    )
