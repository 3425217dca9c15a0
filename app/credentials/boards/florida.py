"""Florida Department of Health, Division of Medical Quality Assurance (MQA): the public
"License Verification" search (Board of Medicine for `ME` licenses, Board of Osteopathic
Medicine for `OS`), an ASP.NET MVC site.

Flow (search fields from public scrapers; result and detail markup INFERRED, see
docs/credentials.md): `POST /HealthCareProviders` with the form fields `SearchDto.LicenseNumber`
(also `SearchDto.LastName`, `SearchDto.FirstName`, `SearchDto.Board`, `SearchDto.Profession`,
`SearchDto.LicenseStatus`, left empty here); the answer's result table (`table.table-striped`)
links each row to the license's detail page, read as label/value pairs: License Number, Name,
Profession, License Status, License Original Issue Date, License Expiration Date, Discipline.
"""

from __future__ import annotations

from urllib.parse import urljoin

from app.credentials.boards import _html
from app.credentials.boards.base import (
    BoardRecord,
    BoardStatus,
    BoardUnavailable,
    HttpBoard,
    normalize_number,
    parse_date,
    status_from_text,
)

DEFAULT_URL = "https://mqa-internet.doh.state.fl.us/MQASearchServices"

STATUSES = {
    "clear/active": BoardStatus.active,
    "active": BoardStatus.active,
    "clear": BoardStatus.active,
    "conditional": BoardStatus.probation,
    "probation": BoardStatus.probation,
    "obligations": BoardStatus.probation,
    "delinquent": BoardStatus.expired,
    "null and void": BoardStatus.expired,
    "expired": BoardStatus.expired,
    "inactive": BoardStatus.inactive,
    "retired": BoardStatus.inactive,
    "relinquish": BoardStatus.revoked,
    "revoked": BoardStatus.revoked,
    "emergency suspension": BoardStatus.suspended,
    "emergency restriction": BoardStatus.probation,
    "suspended": BoardStatus.suspended,
}
NONE_WORDS = {"", "none", "no", "n/a", "no discipline on file"}


class FloridaMqa(HttpBoard):
    state = "FL"
    name = "Florida Department of Health (MQA)"

    async def lookup(self, number: str, last_name: str, first_name: str) -> BoardRecord | None:
        wanted = normalize_number(number)
        form = {
            "SearchDto.Board": "",
            "SearchDto.Profession": "",
            "SearchDto.LicenseNumber": number,
            "SearchDto.LastName": "",
            "SearchDto.FirstName": "",
            "SearchDto.LicenseStatus": "ALL",
        }
        response = await self.request("POST", "/HealthCareProviders", data=form)
        if response.status_code != 200:
            raise BoardUnavailable(f"{self.name} answered {response.status_code}")
        doc = _html.parse(response.text)
        links = []
        for table in doc.find_all("table"):
            if "table" not in table.attrs.get("class", "").split():
                continue
            for cells in _html.table_rows(table)[1:]:
                link = next(
                    (a for c in cells for a in c.find_all("a") if a.attrs.get("href")), None
                )
                if link is not None:
                    numbers = {normalize_number(c.text()) for c in cells}
                    links.append((wanted in numbers, link.attrs["href"]))
        if not links:
            return None
        links.sort(key=lambda t: not t[0])
        detail_url = urljoin(str(response.url), links[0][1])
        detail = await self.request("GET", detail_url)
        if detail.status_code != 200:
            raise BoardUnavailable(f"{self.name} answered {detail.status_code} for the detail")
        return parse_detail_page(detail.text, str(detail.url))


def parse_detail_page(html: str, source_url: str) -> BoardRecord:
    facts = _html.label_pairs(_html.parse(html))
    number = facts.get("license number") or facts.get("license")
    if not number:
        raise BoardUnavailable("Florida MQA page has no license number (format changed?)")
    status_text = facts.get("license status") or facts.get("status") or ""
    discipline = facts.get("discipline") or facts.get("discipline on file") or ""
    return BoardRecord(
        number=number,
        holder_name=facts.get("name", ""),
        license_type=facts.get("profession") or None,
        status=status_from_text(status_text, STATUSES),
        status_text=status_text,
        issued_on=parse_date(
            facts.get("license original issue date") or facts.get("original issue date")
        ),
        expires_on=parse_date(facts.get("license expiration date") or facts.get("expiration date")),
        disciplinary_actions=(discipline.lower() not in NONE_WORDS) if discipline else None,
        source_url=source_url,
    )
