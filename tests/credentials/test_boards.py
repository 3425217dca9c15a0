"""State license checks at the issuing boards: each adapter against a fake of its board at the
httpx transport (pages and answers shaped like the real ones: tests/credentials/fixtures/boards),
check_license's comparison and the check it records, and license-number formats."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from sqlalchemy import select

from app.credentials.boards import (
    BoardIncomplete,
    BoardRecord,
    BoardStatus,
    BoardUnavailable,
    check_license,
    make_board,
    validate_license_number,
)
from app.credentials.boards.arizona import ArizonaMedicalBoard
from app.credentials.boards.california import CaliforniaDca
from app.credentials.boards.florida import FloridaMqa
from app.credentials.boards.formats import FORMATS
from app.credentials.boards.newyork import NewYorkOp
from app.credentials.boards.texas import TexasMedicalBoard
from app.credentials.models import CheckResult, CredentialCheck
from app.kit.clock import today
from app.physicians.models import License
from tests.matching.helpers import make_physician

FIXTURES = Path(__file__).parent / "fixtures" / "boards"
Handler = Callable[[httpx.Request], httpx.Response]


def page(fixture: str, /, **values: str) -> str:
    """A fixture with its `{{key}}` placeholders filled; every placeholder must be given."""
    text = (FIXTURES / fixture).read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    assert "{{" not in text, f"{fixture}: unfilled placeholder"
    return text


def html(text: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, text=text, headers={"content-type": "text/html", **(headers or {})})


# --- Texas ------------------------------------------------------------------------------------


def texas_fake(profile: dict[str, str] | None, seen: list[str]) -> Handler:
    """The TMB search: usage terms first (a cookie remembers the acceptance), then the results
    grid, a postback redirecting to the verification page."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        accepted = "TMBTerms=accepted" in request.headers.get("cookie", "")
        path = request.url.path
        if path.endswith("/SearchNotice.aspx") and request.method == "POST":
            form = parse_qs(request.content.decode())
            assert form["ctl00$BodyContent$btnAccept"] == ["I Accept the Usage Terms"]
            assert form["__VIEWSTATE"] == ["notice-viewstate"]
            return html(
                "<html>accepted</html>", headers={"set-cookie": "TMBTerms=accepted; Path=/"}
            )
        if path.endswith("/SearchResults.aspx") and request.method == "GET":
            if not accepted:
                return html(page("tx_notice.html"))
            number = request.url.params["LIC"]
            if profile is None:
                return html(page("tx_no_results.html", number=number))
            return html(page("tx_results.html", number=profile["number"], name=profile["name"]))
        if path.endswith("/SearchResults.aspx") and request.method == "POST":
            form = parse_qs(request.content.decode())
            assert form["__EVENTTARGET"] == ["ctl00$BodyContent$gvSearchResults$ctl02$ctl00"]
            assert form["__VIEWSTATE"] == ["results-viewstate"]
            return httpx.Response(302, headers={"location": "/HCP_Search/OpenRecord.aspx?ID=4242"})
        if path.endswith("/OpenRecord.aspx") and profile is not None:
            return html(page("tx_profile.html", **profile))
        return httpx.Response(404)

    return handle


TX_ACTIVE = {
    "name": "ALVAREZ, TEST MARIE",
    "number": "N1234",
    "issued": "08/15/2010",
    "expires": "08/31/2027",
    "status": "Active",
    "discipline": "None",
    "action": "None",
}


def texas(profile: dict[str, str] | None, seen: list[str] | None = None) -> TexasMedicalBoard:
    transport = httpx.MockTransport(texas_fake(profile, seen if seen is not None else []))
    return TexasMedicalBoard("https://tmb.test/HCP_Search", attempts=1, transport=transport)


async def test_texas_active_license_through_the_usage_terms():
    seen: list[str] = []
    record = await texas(TX_ACTIVE, seen).lookup("N1234", "Alvarez", "Test")
    assert record is not None
    assert record.number == "N1234"
    assert record.holder_name == "ALVAREZ, TEST MARIE"
    assert record.status == BoardStatus.active
    assert record.issued_on == date(2010, 8, 15)
    assert record.expires_on == date(2027, 8, 31)
    assert record.disciplinary_actions is False
    assert record.source_url == "https://tmb.test/HCP_Search/OpenRecord.aspx?ID=4242"
    assert seen == [
        "GET /HCP_Search/SearchResults.aspx",
        "POST /HCP_Search/SearchNotice.aspx",
        "GET /HCP_Search/SearchResults.aspx",
        "POST /HCP_Search/SearchResults.aspx",
        "GET /HCP_Search/OpenRecord.aspx",
    ]


async def test_texas_not_found():
    assert await texas(None).lookup("N9999", "Alvarez", "Test") is None


async def test_texas_suspended_and_disciplined():
    profile = TX_ACTIVE | {"discipline": "Suspended", "action": "Agreed Order 03/02/2025"}
    record = await texas(profile).lookup("N1234", "Alvarez", "Test")
    assert record is not None
    assert record.status == BoardStatus.suspended
    assert record.disciplinary_actions is True
    assert "Suspended" in record.status_text


async def test_texas_expired():
    profile = TX_ACTIVE | {"status": "Expired", "expires": "08/31/2024"}
    record = await texas(profile).lookup("N1234", "Alvarez", "Test")
    assert record is not None
    assert record.status == BoardStatus.expired
    assert record.expires_on == date(2024, 8, 31)


# --- Florida ----------------------------------------------------------------------------------


def florida(detail: dict[str, str] | None) -> FloridaMqa:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/HealthCareProviders"):
            form = parse_qs(request.content.decode(), keep_blank_values=True)
            assert form["SearchDto.LicenseNumber"] == ["ME123456"]
            if detail is None:
                return html(page("fl_no_results.html"))
            return html(page("fl_results.html", **detail))
        if request.url.path.endswith("/LicenseVerification") and detail is not None:
            assert request.url.params["LicInd"] == "123456"
            return html(page("fl_detail.html", **detail))
        return httpx.Response(404)

    return FloridaMqa(
        "https://mqa.test/MQASearchServices", attempts=1, transport=httpx.MockTransport(handle)
    )


FL_ACTIVE = {
    "name": "ALVAREZ, TEST",
    "number": "ME123456",
    "status": "Clear/Active",
    "issued": "07/01/2012",
    "expires": "01/31/2028",
    "discipline": "No",
}


async def test_florida_active():
    record = await florida(FL_ACTIVE).lookup("ME123456", "Alvarez", "Test")
    assert record is not None
    assert (record.number, record.status, record.license_type) == (
        "ME123456",
        BoardStatus.active,
        "Medical Doctor",
    )
    assert record.expires_on == date(2028, 1, 31)
    assert record.issued_on == date(2012, 7, 1)
    assert record.disciplinary_actions is False
    assert record.source_url.startswith("https://mqa.test/MQASearchServices/HealthCareProviders/")


async def test_florida_not_found():
    assert await florida(None).lookup("ME123456", "Alvarez", "Test") is None


async def test_florida_suspended_with_discipline():
    detail = FL_ACTIVE | {"status": "Emergency Suspension of License", "discipline": "Yes"}
    record = await florida(detail).lookup("ME123456", "Alvarez", "Test")
    assert record is not None
    assert record.status == BoardStatus.suspended
    assert record.disciplinary_actions is True


async def test_florida_expired():
    detail = FL_ACTIVE | {"status": "Delinquent", "expires": "01/31/2024"}
    record = await florida(detail).lookup("ME123456", "Alvarez", "Test")
    assert record is not None
    assert record.status == BoardStatus.expired


# --- California -------------------------------------------------------------------------------


def california(answer: dict[str, str] | None, seen: list[httpx.Request]) -> CaliforniaDca:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if answer is None:
            return httpx.Response(200, text=(FIXTURES / "ca_none.json").read_text())
        return httpx.Response(200, text=page("ca_license.json", **answer))

    return CaliforniaDca(
        "https://dca.test/api/search/v1",
        attempts=1,
        headers={"APP_ID": "id", "APP_KEY": "key"},
        transport=httpx.MockTransport(handle),
    )


CA_ACTIVE = {
    "digits": "123456",
    "status_code": "20",
    "issued": "03/01/2011",
    "expires": "02/28/2027",
    "first": "TEST",
    "last": "ALVAREZ",
}


async def test_california_active_sends_type_digits_and_keys():
    seen: list[httpx.Request] = []
    record = await california(CA_ACTIVE, seen).lookup("A123456", "Alvarez", "Test")
    assert record is not None
    (request,) = seen
    assert request.url.path == "/api/search/v1/licenseSearchService/getLicenseNumberSearch"
    assert dict(request.url.params) == {"licType": "8002", "licNumber": "123456"}
    assert (request.headers["APP_ID"], request.headers["APP_KEY"]) == ("id", "key")
    assert record.number == "A123456"
    assert record.holder_name == "TEST ALVAREZ"
    assert record.status == BoardStatus.active
    assert record.expires_on == date(2027, 2, 28)
    assert record.disciplinary_actions is None


async def test_california_not_found_and_osteopath_type():
    seen: list[httpx.Request] = []
    assert await california(None, seen).lookup("20A1234", "Alvarez", "Test") is None
    assert dict(seen[0].url.params) == {"licType": "9001", "licNumber": "1234"}


async def test_california_suspended_revoked_expired():
    for code, status in (
        ("60", BoardStatus.suspended),
        ("50", BoardStatus.revoked),
        ("30", BoardStatus.expired),
    ):
        record = await california(CA_ACTIVE | {"status_code": code}, []).lookup(
            "A123456", "Alvarez", "Test"
        )
        assert record is not None
        assert record.status == status


# --- New York ---------------------------------------------------------------------------------


def new_york(answer: dict[str, str] | None, status: int = 200) -> NewYorkOp:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/rosa/V2/byProfessionAndLicenseNumber"
        assert request.url.params["professionCode"] == "060"
        assert request.headers["x-oapi-key"] == "public-key"
        if answer is None:
            return httpx.Response(status, text="" if status != 200 else "{}")
        return httpx.Response(200, text=page("ny_license.json", **answer))

    return NewYorkOp(
        "https://nysed.test/rosa/V2",
        attempts=1,
        headers={"x-oapi-key": "public-key"},
        transport=httpx.MockTransport(handle),
    )


NY_ACTIVE = {
    "name": "ALVAREZ TEST M",
    "number": "256789",
    "status": "REGISTERED",
    "issued": "06/30/2009",
    "expires": "05/31/2027",
}


async def test_new_york_registered():
    record = await new_york(NY_ACTIVE).lookup("256789", "Alvarez", "Test")
    assert record is not None
    assert (record.number, record.status, record.status_text) == (
        "256789",
        BoardStatus.active,
        "REGISTERED",
    )
    assert record.expires_on == date(2027, 5, 31)
    assert record.issued_on == date(2009, 6, 30)


async def test_new_york_not_found_in_every_shape():
    assert await new_york(None).lookup("256789", "Alvarez", "Test") is None
    assert await new_york(None, status=404).lookup("256789", "Alvarez", "Test") is None
    assert await new_york(None, status=204).lookup("256789", "Alvarez", "Test") is None


async def test_new_york_revoked_and_not_registered():
    revoked = await new_york(NY_ACTIVE | {"status": "REVOKED"}).lookup("256789", "A", "T")
    lapsed = await new_york(NY_ACTIVE | {"status": "NOT REGISTERED"}).lookup("256789", "A", "T")
    assert revoked is not None
    assert revoked.status == BoardStatus.revoked
    assert lapsed is not None
    assert lapsed.status == BoardStatus.expired


# --- Arizona ----------------------------------------------------------------------------------


def arizona(rows: str) -> ArizonaMedicalBoard:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return html(page("az_form.html"))
        form = parse_qs(request.content.decode())
        assert form["ctl00$ContentPlaceHolder1$txtLastName"] == ["Alvarez"]
        assert form["__VIEWSTATE"] == ["az-viewstate"]
        return html(page("az_results.html", rows=rows))

    return ArizonaMedicalBoard(
        "https://azmd.test/GLSuiteWeb/Clients/AZBOM/Public",
        attempts=1,
        transport=httpx.MockTransport(handle),
    )


async def test_arizona_not_found():
    assert await arizona("").lookup("12345", "Alvarez", "Test") is None


async def test_arizona_found_names_the_profile_it_cannot_read():
    row = (
        "<tr><td>ALVAREZ, TEST Specialty Dermatology</td>"
        '<td><a href="Profile.aspx?entityID=778899">Show Profile</a></td></tr>'
    )
    with pytest.raises(BoardIncomplete) as raised:
        await arizona(row).lookup("12345", "Alvarez", "Test")
    assert raised.value.source_url == (
        "https://azmd.test/GLSuiteWeb/Clients/AZBOM/Public/Profile.aspx?entityID=778899"
    )


async def test_a_board_down_is_unavailable_after_its_retries():
    calls: list[int] = []

    def down(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503)

    board = TexasMedicalBoard(
        "https://tmb.test/HCP_Search", attempts=2, backoff=0, transport=httpx.MockTransport(down)
    )
    with pytest.raises(BoardUnavailable, match="503"):
        await board.lookup("N1234", "Alvarez", "Test")
    assert len(calls) == 2


# --- the registry -----------------------------------------------------------------------------


def test_registry_builds_adapters_from_settings(settings):
    assert isinstance(make_board("tx", settings), TexasMedicalBoard)
    assert isinstance(make_board("FL", settings), FloridaMqa)
    assert isinstance(make_board("AZ", settings), ArizonaMedicalBoard)
    assert make_board("OH", settings) is None
    # California and New York need their API credentials.
    assert make_board("CA", settings) is None
    assert make_board("NY", settings) is None
    keyed = settings.model_copy(
        update={
            "board_ca_app_id": "id",
            "board_ca_app_key": "key",
            "board_ny_api_key": "k",
            "board_tx_url": "https://mirror.test/tmb",
        }
    )
    keyed = type(settings).model_validate(keyed.model_dump())
    assert isinstance(make_board("CA", keyed), CaliforniaDca)
    assert isinstance(make_board("NY", keyed), NewYorkOp)
    tx = make_board("TX", keyed)
    assert isinstance(tx, TexasMedicalBoard)
    assert tx.base_url == "https://mirror.test/tmb"


# --- check_license ----------------------------------------------------------------------------


class StubBoard:
    state = "TX"
    name = "Texas Medical Board"

    def __init__(self, record: BoardRecord | None) -> None:
        self.record = record
        self.asked: list[tuple[str, str, str]] = []

    async def lookup(self, number: str, last_name: str, first_name: str) -> BoardRecord | None:
        self.asked.append((number, last_name, first_name))
        return self.record


async def _doctor(session, *, state="TX", number="N1234", expires_on=None):
    doc = await make_physician(session, states=(state,), last_name="Alvarez")
    license_ = await session.scalar(select(License).where(License.physician_id == doc.id))
    license_.number = number
    license_.expires_on = expires_on or today() + timedelta(days=400)
    await session.flush()
    return doc, license_


def _record(license_: License, **changes) -> BoardRecord:
    base = BoardRecord(
        number=license_.number,
        holder_name="ALVAREZ, TEST MARIE",
        license_type="Physician",
        status=BoardStatus.active,
        status_text="Active",
        issued_on=date(2010, 8, 15),
        expires_on=license_.expires_on,
        disciplinary_actions=False,
        source_url="https://tmb.test/HCP_Search/OpenRecord.aspx?ID=4242",
    )
    return replace(base, **changes)


async def _checks(session, doc) -> list[CredentialCheck]:
    return list(
        await session.scalars(select(CredentialCheck).where(CredentialCheck.physician_id == doc.id))
    )


async def test_a_match_passes_and_records_what_was_compared(session):
    doc, license_ = await _doctor(session)
    board = StubBoard(_record(license_))
    outcome = await check_license(session, license_, doc, board)
    assert board.asked == [("N1234", "Alvarez", "Test")]
    assert outcome.result == CheckResult.passed
    assert not outcome.needs_document
    (check,) = await _checks(session, doc)
    assert (check.credential_kind, check.source, check.method, check.result) == (
        "license",
        "state_board",
        "primary_source",
        "passed",
    )
    assert check.credential_id == license_.id
    assert check.source_detail == "Texas Medical Board"
    assert check.compared == {
        "number": {"ours": "N1234", "board": "N1234"},
        "name": {"ours": "Test Alvarez", "board": "ALVAREZ, TEST MARIE"},
        "status": {"ours": "verified", "board": "active", "board_text": "Active"},
        "expires_on": {
            "ours": license_.expires_on.isoformat(),
            "board": license_.expires_on.isoformat(),
        },
    }
    assert "OpenRecord.aspx" in (check.detail or "")
    # 400 days out: due again in 90 days.
    assert check.recheck_due == today() + timedelta(days=90)


async def test_recheck_is_due_thirty_days_before_a_near_expiry(session):
    doc, license_ = await _doctor(session, expires_on=today() + timedelta(days=60))
    outcome = await check_license(session, license_, doc, StubBoard(_record(license_)))
    assert outcome.check is not None
    assert outcome.check.recheck_due == today() + timedelta(days=30)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"holder_name": "ALVARADO, TESS"}, "name"),
        ({"number": "N1243"}, "number"),
        ({"status": BoardStatus.suspended, "status_text": "Suspended"}, "status"),
        ({}, "expires_on"),  # a later expiry than ours, filled in below
    ],
)
async def test_a_mismatch_fails_and_says_which_field(session, changes, field):
    doc, license_ = await _doctor(session)
    if field == "expires_on":
        changes = {"expires_on": license_.expires_on + timedelta(days=365)}
    outcome = await check_license(session, license_, doc, StubBoard(_record(license_, **changes)))
    assert outcome.result == CheckResult.failed
    (check,) = await _checks(session, doc)
    assert check.result == "failed"
    assert field in (check.detail or "")
    others = {"name", "number", "status", "expires_on"} - {field}
    assert not any(f"differs from the board: {o}" in (check.detail or "") for o in others)


async def test_an_expired_license_fails_on_status_and_expiry(session):
    doc, license_ = await _doctor(session)
    lapsed = today() - timedelta(days=10)
    record = _record(license_, status=BoardStatus.expired, status_text="Expired", expires_on=lapsed)
    outcome = await check_license(session, license_, doc, StubBoard(record))
    assert outcome.result == CheckResult.failed
    assert "status, expires_on" in outcome.detail
    assert outcome.check is not None
    assert outcome.check.compared["expires_on"]["board"] == lapsed.isoformat()


async def test_an_active_license_with_discipline_goes_to_review(session):
    doc, license_ = await _doctor(session)
    record = _record(license_, disciplinary_actions=True)
    outcome = await check_license(session, license_, doc, StubBoard(record))
    assert outcome.result == CheckResult.needs_review


async def test_through_the_texas_fake_end_to_end(session):
    doc, license_ = await _doctor(session, expires_on=date(2027, 8, 31))
    outcome = await check_license(session, license_, doc, texas(TX_ACTIVE))
    assert outcome.result == CheckResult.passed, outcome.detail


async def test_a_board_down_records_unavailable_and_retries_tomorrow(session):
    doc, license_ = await _doctor(session)
    board = TexasMedicalBoard(
        "https://tmb.test/HCP_Search",
        attempts=1,
        transport=httpx.MockTransport(lambda request: httpx.Response(502)),
    )
    outcome = await check_license(session, license_, doc, board)
    assert outcome.result == CheckResult.unavailable
    assert not outcome.needs_document
    (check,) = await _checks(session, doc)
    assert check.result == "unavailable"
    assert "502" in (check.detail or "")
    assert check.recheck_due == today() + timedelta(days=1)


async def test_no_record_at_the_board_is_unavailable_and_asks_for_a_document(session):
    doc, license_ = await _doctor(session)
    outcome = await check_license(session, license_, doc, StubBoard(None))
    assert outcome.result == CheckResult.unavailable
    assert outcome.needs_document
    (check,) = await _checks(session, doc)
    assert check.compared == {"number": {"ours": "N1234", "board": None}}


async def test_arizona_incomplete_is_unavailable_and_asks_for_a_document(session):
    doc, license_ = await _doctor(session, state="AZ", number="12345")
    row = (
        "<tr><td>ALVAREZ, TEST</td>"
        '<td><a href="Profile.aspx?entityID=778899">Show Profile</a></td></tr>'
    )
    outcome = await check_license(session, license_, doc, arizona(row))
    assert outcome.result == CheckResult.unavailable
    assert outcome.needs_document
    assert "entityID=778899" in outcome.detail


async def test_no_adapter_records_nothing_and_needs_a_document(session):
    doc, license_ = await _doctor(session, state="OH", number="35.123456")
    outcome = await check_license(session, license_, doc, None)
    assert outcome.result is None
    assert outcome.check is None
    assert outcome.needs_document
    assert "document review" in outcome.detail
    assert await _checks(session, doc) == []


async def test_a_board_of_another_state_is_refused(session):
    doc, license_ = await _doctor(session, state="FL", number="ME123456")
    with pytest.raises(ValueError, match="TX board"):
        await check_license(session, license_, doc, StubBoard(None))


# --- license-number formats -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "number"),
    [
        ("TX", "N1234"),
        ("tx", "q12345"),
        ("FL", "ME123456"),
        ("FL", "OS 12345"),
        ("CA", "A123456"),
        ("CA", "G54321"),
        ("CA", "C1234"),
        ("CA", "20A1234"),
        ("NY", "256789"),
        ("NY", "006160"),
        ("AZ", "12345"),
        ("OH", "anything"),  # no known format: nothing refused on a guess
    ],
)
def test_valid_license_numbers(state, number):
    assert validate_license_number(state, number) is None


@pytest.mark.parametrize(
    ("state", "number", "says"),
    [
        ("TX", "1234", "like N1234"),
        ("FL", "MD12345", "ME and digits"),
        ("CA", "B12345", "A, C or G"),
        ("NY", "12345", "six digits"),
        ("AZ", "AZ12345", "digits"),
        ("TX", "  ", "empty"),
    ],
)
def test_invalid_license_numbers(state, number, says):
    problem = validate_license_number(state, number)
    assert problem is not None
    assert says in problem


def test_every_format_names_its_source_and_verification():
    assert set(FORMATS) == {"TX", "FL", "CA", "NY", "AZ"}
    for fmt in FORMATS.values():
        assert fmt.source
        assert fmt.pattern.match(fmt.example.upper())


def test_fixtures_are_well_formed_json():
    for name in ("ca_none.json",):
        json.loads((FIXTURES / name).read_text())
    json.loads(page("ca_license.json", **CA_ACTIVE))
    json.loads(page("ny_license.json", **NY_ACTIVE))
