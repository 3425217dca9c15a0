"""Arizona Medical Board (MDs; DOs are licensed by the separate Arizona Board of Osteopathic
Examiners, which has no adapter): the GLSuite "web verification" search, ASP.NET WebForms.

What is known (from a public scraper): `WebVerificationSearch.aspx` has the name fields
`ContentPlaceHolder1_txtLastName` / `ContentPlaceHolder1_txtFirstName` and the button
`ContentPlaceHolder1_btnName`; the results grid `ContentPlaceHolder1_dtgList` lists each
licensee's name (and specialty) with a "Show Profile" link to the profile page. What is NOT
known: the profile page's markup (status, dates, discipline) and the license-number search's
field names. So this adapter searches by name and stops there: no row is "no record"; a row
raises `BoardIncomplete` naming the profile to read, and the check asks for a document review.
Form field names are the ASP.NET names of those ids (`ctl00$ContentPlaceHolder1$...`, inferred).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from app.credentials.boards import _html
from app.credentials.boards.base import (
    BoardIncomplete,
    BoardRecord,
    BoardUnavailable,
    HttpBoard,
    name_tokens,
)

DEFAULT_URL = "https://azbomprod.azmd.gov/GLSuiteWeb/Clients/AZBOM/Public"
SEARCH = "/WebVerificationSearch.aspx"


class ArizonaMedicalBoard(HttpBoard):
    state = "AZ"
    name = "Arizona Medical Board"

    async def lookup(self, number: str, last_name: str, first_name: str) -> BoardRecord | None:
        form_page = await self.request("GET", SEARCH)
        if form_page.status_code != 200:
            raise BoardUnavailable(f"{self.name} answered {form_page.status_code}")
        form: dict[str, Any] = _html.hidden_fields(_html.parse(form_page.text))
        form.update(
            {
                "ctl00$ContentPlaceHolder1$txtLastName": last_name,
                "ctl00$ContentPlaceHolder1$txtFirstName": first_name,
                "ctl00$ContentPlaceHolder1$btnName": "Search",
            }
        )
        response = await self.request("POST", SEARCH, data=form)
        if response.status_code != 200:
            raise BoardUnavailable(f"{self.name} answered {response.status_code}")
        table = _html.parse(response.text).find("table", id="ContentPlaceHolder1_dtgList")
        profiles = []
        for cells in _html.table_rows(table)[1:] if table is not None else []:
            link = next((a for c in cells for a in c.find_all("a") if a.attrs.get("href")), None)
            if link is None:
                continue
            text = " ".join(c.text() for c in cells)
            if set(name_tokens(last_name)) <= set(name_tokens(text)):
                profiles.append(urljoin(str(response.url), link.attrs["href"]))
        if not profiles:
            return None
        raise BoardIncomplete(
            f"{self.name} lists {len(profiles)} licensee(s) named {first_name} {last_name}; "
            "its profile page is not read automatically yet",
            source_url=profiles[0],
        )
