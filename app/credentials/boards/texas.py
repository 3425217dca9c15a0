"""Texas Medical Board (TMB): the public "Look up a License" search, an ASP.NET WebForms site.

Flow (from two independent public scrapers of the site; see docs/credentials.md, State boards):
`GET SearchResults.aspx?LIC=<number>`; a first visit lands on the usage-terms notice, accepted
by posting its form back to `SearchNotice.aspx` with `ctl00$BodyContent$btnAccept`; the results
grid is `table#BodyContent_gvSearchResults`, each row's first cell a `__doPostBack(...)` link;
posting that target back to the results page redirects to the licensee's verification page,
where each fact is `<strong>Label:</strong> value` (NAME, TMB License Number, Issuance Date,
Expiration Date, Registration Status, Disciplinary Status, Licensure Status, Board Action).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

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

DEFAULT_URL = "https://public.tmb.state.tx.us/HCP_Search"

STATUSES = {
    "active": BoardStatus.active,
    "permit issued": BoardStatus.active,
    "expired": BoardStatus.expired,
    "delinquent": BoardStatus.expired,
    "inactive": BoardStatus.inactive,
    "retired": BoardStatus.inactive,
    "deceased": BoardStatus.inactive,
    "cancelled": BoardStatus.inactive,
    "cancelled by board": BoardStatus.revoked,
    "revoked": BoardStatus.revoked,
    "surrender": BoardStatus.revoked,
    "suspended": BoardStatus.suspended,
    "suspension": BoardStatus.suspended,
    "probat": BoardStatus.probation,
    "restrict": BoardStatus.probation,
}
# A disciplinary status that outranks the registration status.
OVERRIDING = {BoardStatus.suspended, BoardStatus.revoked, BoardStatus.probation}
NONE_WORDS = {"", "none", "n/a", "na", "no", "no action"}
POSTBACK = re.compile(r"__doPostBack\('([^']+)'")


class TexasMedicalBoard(HttpBoard):
    state = "TX"
    name = "Texas Medical Board"

    async def _results(self, number: str) -> httpx.Response:
        url = f"/SearchResults.aspx?LIC={number}"
        response = await self.request("GET", url)
        doc = _html.parse(response.text)
        if doc.find("input", id="BodyContent_btnAccept") is not None:
            form: dict[str, Any] = _html.hidden_fields(doc)
            form["ctl00$BodyContent$btnAccept"] = "I Accept the Usage Terms"
            await self.request("POST", "/SearchNotice.aspx", data=form)
            response = await self.request("GET", url)
        return response

    async def lookup(self, number: str, last_name: str, first_name: str) -> BoardRecord | None:
        wanted = normalize_number(number)
        response = await self._results(number)
        if response.status_code != 200:
            raise BoardUnavailable(f"{self.name} answered {response.status_code}")
        doc = _html.parse(response.text)
        if doc.find("input", id="BodyContent_btnAccept") is not None:
            raise BoardUnavailable(f"{self.name} kept asking to accept its usage terms")
        table = doc.find("table", id="BodyContent_gvSearchResults")
        rows = _html.table_rows(table)[1:] if table is not None else []
        targets = []
        for cells in rows:
            link = cells[0].find("a") if cells else None
            match = POSTBACK.search(link.attrs.get("href", "")) if link is not None else None
            if match:
                row_numbers = {normalize_number(c.text()) for c in cells}
                targets.append((wanted in row_numbers, match[1]))
        if not targets:
            return None
        targets.sort(key=lambda t: not t[0])  # the row showing our number first
        form: dict[str, Any] = _html.hidden_fields(doc)
        form.update({"__EVENTTARGET": targets[0][1], "__EVENTARGUMENT": ""})
        detail = await self.request("POST", f"/SearchResults.aspx?LIC={number}", data=form)
        if detail.status_code != 200:
            raise BoardUnavailable(f"{self.name} answered {detail.status_code} for the profile")
        return parse_verification_page(detail.text, str(detail.url))


def parse_verification_page(html: str, source_url: str) -> BoardRecord:
    facts = _html.label_pairs(_html.parse(html))
    number = facts.get("tmb license number") or facts.get("license number")
    if not number:
        raise BoardUnavailable("Texas Medical Board page has no license number (format changed?)")
    registration = facts.get("registration status") or facts.get("licensure status") or ""
    status = status_from_text(registration, STATUSES)
    disciplinary = facts.get("disciplinary status", "")
    board_action = facts.get("board action", "")
    disciplined = disciplinary.lower() not in NONE_WORDS or board_action.lower() not in NONE_WORDS
    if disciplinary:
        by_discipline = status_from_text(disciplinary, STATUSES)
        if by_discipline in OVERRIDING and status == BoardStatus.active:
            status = by_discipline
    status_text = registration + (f"; disciplinary status: {disciplinary}" if disciplinary else "")
    return BoardRecord(
        number=number,
        holder_name=facts.get("name", ""),
        license_type=facts.get("license type") or "Physician",
        status=status,
        status_text=status_text,
        issued_on=parse_date(facts.get("issuance date")),
        expires_on=parse_date(facts.get("expiration date")),
        disciplinary_actions=disciplined,
        source_url=source_url,
    )
