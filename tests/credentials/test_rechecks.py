"""Credential re-checks on a schedule (app/credentials/rechecks.py): what is due (the latest
check's date, a license near expiry; plain UTC dates across month end, leap day and year end),
an exclusion screened again, a license re-checked at its board (faked at the httpx transport as
in test_boards.py), a lapse ending the director's oversight in that state, a board down retried
tomorrow, a document asked for once per due date, and nothing done when nothing is due."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.credentials.exclusions import import_leie, next_month
from app.credentials.jobs import recheck_due_job
from app.credentials.models import (
    CheckMethod,
    CheckResult,
    CheckSource,
    CredentialCheck,
    CredentialKind,
)
from app.credentials.provenance import record_check
from app.credentials.rechecks import (
    due_documents,
    due_exclusions,
    due_licenses,
    is_due,
    license_due,
    run_rechecks,
)
from app.kit.clock import today
from app.notifications.models import Notification
from app.physicians.eligibility import matchable_physicians
from app.physicians.models import License, MalpracticePolicy, Physician
from tests.billing.helpers import confirmed_engagement
from tests.credentials.test_boards import TX_ACTIVE, texas_fake
from tests.credentials.test_exclusions import SAMPLE
from tests.matching.helpers import make_physician

TX = frozenset({"TX"})


@pytest.fixture
def board_settings(settings):
    """One attempt per lookup: a board that is down fails at once."""
    return settings.model_copy(update={"board_attempts": 1})


def tx_transport(profile: dict[str, str] | None) -> httpx.MockTransport:
    return httpx.MockTransport(texas_fake(profile, []))


def _us(day: date) -> str:
    return day.strftime("%m/%d/%Y")


async def _doctor(session, *, last_name="Alvarez", expires_on: date | None = None) -> Physician:
    doc = await make_physician(session, states=("TX",), last_name=last_name)
    license_ = await _license(session, doc)
    license_.number = "N1234"
    license_.expires_on = expires_on or today() + timedelta(days=400)
    await session.flush()
    return doc


async def _license(session, doc: Physician) -> License:
    license_ = await session.scalar(
        select(License).where(License.physician_id == doc.id, License.state == "TX")
    )
    assert license_ is not None
    return license_


async def _board_check(
    session,
    doc: Physician,
    license_: License,
    due: date,
    *,
    days_ago: int = 30,
    checked_on: date | None = None,
) -> None:
    """A board check made `days_ago` days ago (a check made today is not re-run today), or on
    `checked_on` (for fixed dates, whatever the clock says)."""
    check = await record_check(
        session,
        physician_id=doc.id,
        kind=CredentialKind.license,
        credential_id=license_.id,
        source=CheckSource.state_board,
        source_detail="Texas Medical Board",
        method=CheckMethod.primary_source,
        result=CheckResult.passed,
        recheck_due=due,
    )
    check.checked_at -= timedelta(days=days_ago)
    if checked_on is not None:
        check.checked_at = datetime.combine(checked_on, time(12), tzinfo=UTC)
    await session.flush()


async def _checks(session, doc: Physician, kind: str) -> list[CredentialCheck]:
    return list(
        await session.scalars(
            select(CredentialCheck)
            .where(CredentialCheck.physician_id == doc.id, CredentialCheck.credential_kind == kind)
            .order_by(CredentialCheck.checked_at)
        )
    )


async def _matchable_in_tx(session, doc: Physician) -> bool:
    found = await session.scalars(matchable_physicians(states=["TX"], on=today()))
    return doc.id in {p.id for p in found}


async def _engagement_view(client, engaged) -> dict[str, Any]:
    view = await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)
    assert view.status_code == 200, view.text
    return view.json()


# --- what is due: plain UTC dates ------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "on", "expected"),
    [
        (date(2026, 1, 31), date(2026, 1, 30), False),  # month end: not yet
        (date(2026, 1, 31), date(2026, 1, 31), True),  # due on the day itself
        (date(2026, 1, 31), date(2026, 2, 1), True),  # and after, across the month end
        (date(2028, 2, 29), date(2028, 2, 28), False),  # leap day
        (date(2028, 2, 29), date(2028, 2, 29), True),
        (date(2028, 2, 29), date(2028, 3, 1), True),
        (date(2026, 12, 31), date(2026, 12, 30), False),  # year end
        (date(2026, 12, 31), date(2027, 1, 1), True),
        (None, date(2026, 12, 31), False),  # no due date: never due
    ],
)
def test_due_is_a_plain_date_comparison(due, on, expected):
    assert is_due(due, on=on) is expected


@pytest.mark.parametrize(
    ("latest_due", "expires_on", "expected"),
    [
        # Never checked: 30 days before expiry, across month end, leap day and year end.
        (None, date(2026, 3, 31), date(2026, 3, 1)),
        (None, date(2028, 3, 30), date(2028, 2, 29)),
        (None, date(2027, 1, 30), date(2026, 12, 31)),
        # A check due earlier keeps its date; one due later yields to the expiry.
        (date(2026, 2, 28), date(2026, 6, 30), date(2026, 2, 28)),
        (date(2026, 12, 31), date(2027, 1, 15), date(2026, 12, 16)),
    ],
)
def test_a_license_is_due_thirty_days_before_expiry_at_the_latest(latest_due, expires_on, expected):
    assert license_due(latest_due, expires_on) == expected


@pytest.mark.parametrize(
    ("due", "on", "expected"),
    [
        (date(2028, 2, 29), date(2028, 2, 28), False),
        (date(2028, 2, 29), date(2028, 2, 29), True),
        (date(2026, 12, 31), date(2026, 12, 30), False),
        (date(2026, 12, 31), date(2027, 1, 1), True),
        (date(2027, 4, 30), date(2027, 5, 1), True),  # month end
    ],
)
async def test_selection_compares_the_latest_checks_date(session, due, on, expected):
    doc = await _doctor(session, expires_on=date(2030, 6, 30))
    await record_check(
        session,
        physician_id=doc.id,
        kind=CredentialKind.exclusion,
        source=CheckSource.oig_leie,
        method=CheckMethod.primary_source,
        result=CheckResult.passed,
        recheck_due=due,
    )
    await _board_check(
        session, doc, await _license(session, doc), due, checked_on=due - timedelta(days=90)
    )
    assert (doc.id in await due_exclusions(session, on=on, limit=10)) is expected
    licenses = await due_licenses(session, on=on, states=TX, limit=10)
    assert bool(licenses) is expected


async def test_only_the_latest_check_counts(session):
    doc = await _doctor(session)
    license_ = await _license(session, doc)
    await _board_check(session, doc, license_, today() - timedelta(days=5))
    assert await due_licenses(session, on=today(), states=TX, limit=10) == [(license_.id, "TX")]
    await _board_check(session, doc, license_, today() + timedelta(days=60), days_ago=1)
    assert await due_licenses(session, on=today(), states=TX, limit=10) == []
    # A state without a board adapter is not selected for a board check.
    assert await due_licenses(session, on=today(), states=frozenset({"FL"}), limit=10) == []


async def test_a_verified_license_expiring_within_thirty_days_is_due_unchecked(session):
    doc = await _doctor(session, expires_on=today() + timedelta(days=30))
    license_ = await _license(session, doc)
    assert await due_licenses(session, on=today(), states=TX, limit=10) == [(license_.id, "TX")]
    # Thirty-one days out, never checked: not yet.
    license_.expires_on = today() + timedelta(days=31)
    await session.flush()
    assert await due_licenses(session, on=today(), states=TX, limit=10) == []
    # A license that is not verified is not re-checked.
    license_.expires_on = today() + timedelta(days=10)
    license_.status = "pending"
    await session.flush()
    assert await due_licenses(session, on=today(), states=TX, limit=10) == []


# --- the re-checks ----------------------------------------------------------------------------


async def test_a_due_exclusion_check_is_screened_again(session, board_settings):
    await import_leie(session, SAMPLE, file_name="UPDATED.csv", settings=board_settings)
    doc = await make_physician(session, last_name="Quillfeather")
    await record_check(
        session,
        physician_id=doc.id,
        kind=CredentialKind.exclusion,
        source=CheckSource.oig_leie,
        method=CheckMethod.primary_source,
        result=CheckResult.passed,
        recheck_due=today() - timedelta(days=1),
    )
    result = await run_rechecks(
        session, settings=board_settings, on=today(), transport=tx_transport(None)
    )
    assert result.screened == 1
    latest = (await _checks(session, doc, "exclusion"))[-1]
    assert (latest.source, latest.result) == ("oig_leie", "passed")
    assert latest.recheck_due == next_month(today())
    # Screened: no longer due.
    assert await due_exclusions(session, on=today(), limit=10) == []


async def test_a_license_recheck_that_passes_records_the_next_due_date(session, board_settings):
    expires = today() + timedelta(days=400)
    doc = await _doctor(session, expires_on=expires)
    license_ = await _license(session, doc)
    await _board_check(session, doc, license_, today())
    profile = TX_ACTIVE | {"expires": _us(expires)}
    result = await run_rechecks(
        session, settings=board_settings, on=today(), transport=tx_transport(profile)
    )
    assert (result.licenses_checked, result.licenses_passed, result.errors) == (1, 1, [])
    latest = (await _checks(session, doc, "license"))[-1]
    assert (latest.source, latest.result) == ("state_board", "passed")
    assert latest.recheck_due == today() + timedelta(days=90)
    assert license_.status == "verified"
    # Run again the same day: nothing is due any more.
    again = await run_rechecks(
        session, settings=board_settings, on=today(), transport=tx_transport(profile)
    )
    assert again.licenses_checked == 0


async def test_a_failed_license_recheck_ends_oversight_in_that_state(
    client, session, board_settings
):
    doc = await _doctor(session, last_name="Alvarez")
    await session.commit()
    engaged = await confirmed_engagement(client, session, board_settings, physician=doc)
    await make_physician(session, last_name="Duarte")  # someone to replace them
    license_ = await _license(session, doc)
    await _board_check(session, doc, license_, today() - timedelta(days=2))
    await session.commit()
    assert await _matchable_in_tx(session, doc)

    lapsed = today() - timedelta(days=5)
    profile = TX_ACTIVE | {"status": "Expired", "expires": _us(lapsed)}
    result = await run_rechecks(
        session, settings=board_settings, on=today(), transport=tx_transport(profile)
    )
    await session.commit()
    assert result.errors == []
    assert (result.licenses_failed, result.licenses_lapsed, result.directorships_ended) == (
        1,
        1,
        1,
    )
    latest = (await _checks(session, doc, "license"))[-1]
    assert latest.result == "failed"
    await session.refresh(license_)
    assert license_.status == "rejected"

    view = await _engagement_view(client, engaged)
    [departure] = view["departures"]
    assert departure["reason"] == "license_lapsed"
    assert departure["oversight_ends_on"] == str(today())
    assert departure["status"] == "searching"

    # The state is no longer matchable: the trigger dropped it with the verified license.
    await session.refresh(doc)
    assert "TX" not in doc.licensed_states
    assert not await _matchable_in_tx(session, doc)
    kinds = set(
        await session.scalars(select(Notification.kind).where(Notification.user_id == doc.user_id))
    )
    assert "credentials.license_recheck_failed" in kinds


async def test_a_renewal_the_board_shows_first_ends_nothing(session, board_settings):
    """Only the expiry differs (the board's is later): a failed check, but not a lapse."""
    doc = await _doctor(session, expires_on=today() + timedelta(days=20))
    license_ = await _license(session, doc)
    renewed = today() + timedelta(days=20 + 730)
    result = await run_rechecks(
        session,
        settings=board_settings,
        on=today(),
        transport=tx_transport(TX_ACTIVE | {"expires": _us(renewed)}),
    )
    assert (result.licenses_failed, result.licenses_lapsed) == (1, 0)
    assert license_.status == "verified"
    latest = (await _checks(session, doc, "license"))[-1]
    assert latest.recheck_due == today() + timedelta(days=90)


async def test_a_board_down_ends_nothing_and_is_due_tomorrow(client, session, board_settings):
    doc = await _doctor(session)
    await session.commit()
    engaged = await confirmed_engagement(client, session, board_settings, physician=doc)
    license_ = await _license(session, doc)
    await _board_check(session, doc, license_, today())
    await session.commit()
    down = httpx.MockTransport(lambda request: httpx.Response(502))
    result = await run_rechecks(session, settings=board_settings, on=today(), transport=down)
    await session.commit()
    assert (result.licenses_checked, result.licenses_unavailable) == (1, 1)
    assert result.directorships_ended == 0
    latest = (await _checks(session, doc, "license"))[-1]
    assert latest.result == "unavailable"
    assert latest.recheck_due == today() + timedelta(days=1)
    await session.refresh(license_)
    assert license_.status == "verified"
    assert await _matchable_in_tx(session, doc)
    assert (await _engagement_view(client, engaged))["departures"] == []
    # Not again today; tomorrow it is due.
    assert await due_licenses(session, on=today(), states=TX, limit=10) == []
    tomorrow = today() + timedelta(days=1)
    assert await due_licenses(session, on=tomorrow, states=TX, limit=10) == [(license_.id, "TX")]


async def test_a_state_without_an_adapter_is_left_alone(session, board_settings):
    doc = await make_physician(session, states=("OH",), last_name="Okafor")
    license_ = await session.scalar(select(License).where(License.physician_id == doc.id))
    assert license_ is not None
    license_.expires_on = today() + timedelta(days=10)
    await session.flush()
    result = await run_rechecks(
        session, settings=board_settings, on=today(), transport=tx_transport(None)
    )
    assert result.licenses_checked == 0
    assert await _checks(session, doc, "license") == []
    assert license_.status == "verified"


async def test_a_due_document_is_asked_for_once(session, board_settings):
    doc = await make_physician(session, last_name="Novak")
    policy = await session.scalar(
        select(MalpracticePolicy).where(MalpracticePolicy.physician_id == doc.id)
    )
    assert policy is not None
    await record_check(
        session,
        physician_id=doc.id,
        kind=CredentialKind.malpractice,
        credential_id=policy.id,
        source=CheckSource.document,
        method=CheckMethod.document_review,
        result=CheckResult.passed,
        recheck_due=today(),
    )

    async def asked() -> list[Notification]:
        return list(
            await session.scalars(
                select(Notification).where(
                    Notification.user_id == doc.user_id,
                    Notification.kind == "credentials.document_due",
                )
            )
        )

    for _ in range(2):
        result = await run_rechecks(
            session, settings=board_settings, on=today(), transport=tx_transport(None)
        )
    assert result.documents_requested == 0  # the second run: already asked
    [note] = await asked()
    assert note.email_status == "pending"
    assert note.data == {
        "credential_id": str(policy.id),
        "credential_kind": "malpractice",
        "recheck_due": today().isoformat(),
    }
    assert policy.status == "verified"  # nothing flipped
    assert await due_documents(session, on=today(), board_states=TX, limit=10) == []
    # The next day the same due date is not asked about again.
    later = await run_rechecks(
        session,
        settings=board_settings,
        on=today() + timedelta(days=1),
        transport=tx_transport(None),
    )
    assert later.documents_requested == 0
    assert len(await asked()) == 1


async def test_nothing_due_does_nothing(session, board_settings):
    doc = await _doctor(session, expires_on=today() + timedelta(days=400))
    license_ = await _license(session, doc)
    await _board_check(session, doc, license_, today() + timedelta(days=1))
    await record_check(
        session,
        physician_id=doc.id,
        kind=CredentialKind.exclusion,
        source=CheckSource.oig_leie,
        method=CheckMethod.primary_source,
        result=CheckResult.passed,
        recheck_due=today() + timedelta(days=1),
    )
    before = await session.scalar(select(func.count()).select_from(CredentialCheck))
    calls: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(500)

    result = await run_rechecks(
        session, settings=board_settings, on=today(), transport=httpx.MockTransport(refuse)
    )
    assert result.as_dict() == {
        "screened": 0,
        "licenses_checked": 0,
        "licenses_passed": 0,
        "licenses_failed": 0,
        "licenses_lapsed": 0,
        "licenses_unavailable": 0,
        "directorships_ended": 0,
        "documents_requested": 0,
        "errors": 0,
    }
    assert calls == []
    assert await session.scalar(select(func.count()).select_from(CredentialCheck)) == before
    assert await session.scalar(select(func.count()).select_from(Notification)) == 0


async def test_the_daily_job_runs_the_rechecks(bound_app, session):
    doc = await make_physician(session, last_name="Whitcombe")
    await record_check(
        session,
        physician_id=doc.id,
        kind=CredentialKind.exclusion,
        source=CheckSource.oig_leie,
        method=CheckMethod.primary_source,
        result=CheckResult.passed,
        recheck_due=today(),
    )
    await session.commit()
    outcome = await recheck_due_job(timestamp=0)
    assert outcome["screened"] == 1
    assert outcome["errors"] == 0
