"""Federal exclusion screening against the HHS-OIG LEIE: the import (typed rows, the same file
changes nothing, a new file replaces the list), the CLI and job, screening after an import and
at onboarding, the review item, suspension, and the reviewer's two decisions."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.credentials import exclusions
from app.credentials.exclusions import import_leie, screen_physician
from app.credentials.jobs import run_leie_import, screen_physician_job
from app.credentials.models import (
    CredentialCheck,
    Exclusion,
    ExclusionImport,
    ReviewItem,
)
from app.notifications.models import Notification
from app.physicians.models import Physician
from tests.conftest import scratch_database
from tests.factories import make_ops_user, ops_headers, user_headers
from tests.live import mdmatch
from tests.matching.helpers import make_physician

FIXTURE = Path(__file__).parent / "fixtures" / "leie_sample.csv"
SAMPLE = FIXTURE.read_bytes()
KESSLER_NPI = "9876500015"  # listed with this NPI: a strong match
REYES_NPI = "9876500023"  # listed with this NPI, reinstated in 2023: no match


async def _physician(session, *, first: str, last: str, npi: str | None = None, states=("TX",)):
    doc = await make_physician(session, states=states, last_name=last)
    doc.first_name = first
    if npi is not None:
        doc.npi = npi
    await session.commit()
    await session.refresh(doc)
    return doc


async def _checks(session, physician_id):
    return list(
        await session.scalars(
            select(CredentialCheck)
            .where(
                CredentialCheck.physician_id == physician_id,
                CredentialCheck.credential_kind == "exclusion",
            )
            .order_by(CredentialCheck.checked_at)
        )
    )


async def _items(session, physician_id):
    return list(
        await session.scalars(
            select(ReviewItem).where(
                ReviewItem.physician_id == physician_id, ReviewItem.kind == "exclusion_match"
            )
        )
    )


async def _notified(session, physician: Physician) -> set[str]:
    return set(
        await session.scalars(
            select(Notification.kind).where(Notification.user_id == physician.user_id)
        )
    )


# --- import -----------------------------------------------------------------------------------


async def test_import_types_every_column_and_the_same_file_changes_nothing(session, settings):
    first = await import_leie(session, SAMPLE, file_name="UPDATED.csv", settings=settings)
    assert not first.unchanged
    assert first.row_count == 6
    rows = {
        (r.last_name, r.state): r
        for r in await session.scalars(select(Exclusion).order_by(Exclusion.id))
    }
    kessler = rows[("KESSLER", "TX")]
    assert kessler.npi == KESSLER_NPI
    assert kessler.row_key == f"npi:{KESSLER_NPI}"
    assert kessler.dob == date(1964, 3, 12)
    assert kessler.excl_date == date(2021, 6, 15)
    assert kessler.rein_date is None
    assert kessler.waiver_date is None
    assert kessler.address == "410 ELM ST, SUITE 2"  # a quoted comma
    assert kessler.import_id == first.import_id
    assert kessler.source == "oig_leie"
    muller = rows[("MULLER", "FL")]
    assert muller.npi is None  # 0000000000
    assert (muller.last_key, muller.first_key) == ("muller", "jose")
    assert rows[("MULLER", "NY")].dob is None  # empty
    assert rows[("REYES", "TX")].rein_date == date(2023, 1, 1)
    business = rows[(None, "TX")]
    assert business.bus_name == "ACME AESTHETICS LLC"
    assert business.last_key == ""
    assert rows[("DOE", "FL")].upin == "A12345"
    imported = await session.get(ExclusionImport, first.import_id)
    assert imported is not None
    assert imported.file_name == "UPDATED.csv"
    assert imported.row_count == 6
    assert len(imported.sha256) == 64
    assert imported.imported_at is not None

    ids_before = set(await session.scalars(select(Exclusion.id)))
    again = await import_leie(session, SAMPLE, file_name="again.csv", settings=settings)
    assert again.unchanged
    assert again.import_id == first.import_id
    assert set(await session.scalars(select(Exclusion.id))) == ids_before
    assert await session.scalar(select(func.count()).select_from(ExclusionImport)) == 1


async def test_a_new_file_replaces_the_list(session, settings):
    first = await import_leie(session, SAMPLE, file_name="one.csv", settings=settings)
    lines = SAMPLE.decode().splitlines(keepends=True)
    smaller = "".join(lines[:2] + lines[6:]).encode()  # header, Kessler, Doe
    second = await import_leie(session, smaller, file_name="two.csv", settings=settings)
    assert not second.unchanged
    assert second.row_count == 2
    import_ids = set(await session.scalars(select(Exclusion.import_id)))
    assert import_ids == {second.import_id}
    assert await session.scalar(select(func.count()).select_from(Exclusion)) == 2
    assert {first.import_id, second.import_id} == set(
        await session.scalars(select(ExclusionImport.id))
    )
    audit = await session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "credentials.leie_imported",
            AuditEntry.object_id == str(second.import_id),
        )
    )
    assert audit is not None
    assert audit.after["row_count"] == 2


async def test_a_file_not_in_the_leie_layout_is_refused(session, settings):
    with pytest.raises(exclusions.LeieFormatError, match="header"):
        await import_leie(session, b"NAME,NPI\nX,1\n", file_name="x.csv", settings=settings)
    bad_date = SAMPLE.replace(b"20210615", b"2021-06-15")
    with pytest.raises(exclusions.LeieFormatError, match="EXCLDATE"):
        await import_leie(session, bad_date, file_name="x.csv", settings=settings)


async def test_importing_tens_of_thousands_of_rows_is_fast(session, settings):
    header, *_ = SAMPLE.decode().splitlines()
    body = "\n".join(
        f"LAST{i},FIRST{i},,,IND- LIC HC SERV PRO,FAMILY PRACTICE,,"
        f"{f'{2_000_000_000 + i:010d}' if i % 3 else '0000000000'},19600101,"
        f"{i} MAIN ST,AUSTIN,TX,78701,1128b4,20200101,00000000,00000000,"
        for i in range(60_000)
    )
    data = (header + "\n" + body + "\n").encode()
    started = time.perf_counter()
    result = await import_leie(session, data, file_name="big.csv", settings=settings)
    elapsed = time.perf_counter() - started
    print(f"LEIE import: {result.row_count} rows in {elapsed:.2f} s")
    assert result.row_count == 60_000
    assert elapsed < 30


# --- screening --------------------------------------------------------------------------------


async def test_an_import_screens_every_physician(session, settings):
    ops = await make_ops_user(session, settings)
    strong = await _physician(session, first="Orin", last="Kessler", npi=KESSLER_NPI)
    # Accents, case and spacing do not matter; the listing has no NPI, its state is licensed.
    weak = await _physician(session, first=" José ", last="Müller", states=("FL",))
    elsewhere = await _physician(session, first="Jose", last="Muller", states=("TX",))
    reinstated = await _physician(session, first="Rita", last="Reyes", npi=REYES_NPI)
    clear = await _physician(session, first="Ann", last="Clear")

    result = await import_leie(session, SAMPLE, file_name="UPDATED.csv", settings=settings)
    assert result.matches_found == 2

    (check,) = await _checks(session, strong.id)
    assert (check.result, check.source, check.method) == (
        "needs_review",
        "oig_leie",
        "primary_source",
    )
    assert check.compared["npi"] == {"ours": KESSLER_NPI, "source": KESSLER_NPI}
    assert check.compared["match"] == "npi"
    assert "UPDATED.csv" in check.source_detail
    assert str(result.import_id) in check.source_detail
    assert check.recheck_due is not None
    assert check.recheck_due > date.today()
    (item,) = await _items(session, strong.id)
    assert item.subject_key == f"exclusion:{strong.id}:npi:{KESSLER_NPI}"
    assert item.evidence["match"] == "npi"
    assert item.evidence["physician"]["npi"] == KESSLER_NPI
    assert item.evidence["listing"]["excl_type"] == "1128b4"

    (check,) = await _checks(session, weak.id)
    assert check.result == "needs_review"
    assert check.compared["match"] == "name_state"
    assert check.compared["state"] == {"ours": ["FL"], "source": "FL"}
    (item,) = await _items(session, weak.id)
    assert item.evidence["match"] == "name_state"
    assert item.evidence["listing"]["state"] == "FL"

    for doc in (elsewhere, reinstated, clear):
        (check,) = await _checks(session, doc.id)
        assert check.result == "passed", doc.last_name
        assert check.compared["npi"]["source"] is None
        assert await _items(session, doc.id) == []
    # Operations hear of each possible match at once.
    assert (
        await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == ops.id, Notification.kind == "credentials.review_needed")
        )
        == 2
    )
    # The monthly import runs without a user: a match suspends at once all the same (no new
    # offers, directorships end), the system named as the actor; the reviewer decides whether
    # it stands.
    await session.refresh(strong)
    assert strong.verification_status == "suspended"
    assert strong.suspension_reason == exclusions.suspension_reason(
        f"exclusion:{strong.id}:npi:{KESSLER_NPI}"
    )

    # The same file again: nothing new (no checks, no items).
    await import_leie(session, SAMPLE, file_name="UPDATED.csv", settings=settings)
    assert len(await _checks(session, strong.id)) == 1


async def test_screening_at_onboarding(session, settings):
    ops = await make_ops_user(session, settings)
    early = await _physician(session, first="Ann", last="Early")
    nothing_yet = await screen_physician(session, early.id, settings=settings)
    assert nothing_yet.result == "unavailable"
    assert (await _checks(session, early.id))[0].result == "unavailable"

    await import_leie(session, SAMPLE, file_name="UPDATED.csv", settings=settings)
    other = await _physician(session, first="Ann", last="Clear")
    assert (await screen_physician(session, other.id, settings=settings)).result == "passed"

    # A new profile, verified by an operations user: a match suspends at once.
    doc = await _physician(session, first="Orin", last="Kessler", npi=KESSLER_NPI)
    screening = await screen_physician(session, doc.id, actor_id=ops.id, settings=settings)
    assert screening.result == "needs_review"
    assert screening.suspended
    assert len(screening.opened) == 1
    await session.refresh(doc)
    assert doc.verification_status == "suspended"
    assert doc.suspension_reason == exclusions.suspension_reason(
        f"exclusion:{doc.id}:npi:{KESSLER_NPI}"
    )
    assert "physician.suspended" in await _notified(session, doc)
    audit = await session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "physician.suspended", AuditEntry.object_id == str(doc.id)
        )
    )
    assert audit is not None
    assert audit.actor_id == ops.id
    # Screening again while the item is open opens nothing more.
    again = await screen_physician(session, doc.id, actor_id=ops.id, settings=settings)
    assert again.result == "needs_review"
    assert again.opened == []
    assert not again.suspended


async def test_the_screening_job(client, session, settings):
    await import_leie(session, SAMPLE, file_name="UPDATED.csv", settings=settings)
    doc = await _physician(session, first="José", last="Muller", states=("FL",))
    assert await screen_physician_job(physician_id=str(doc.id)) == "needs_review"
    assert len(await _items(session, doc.id)) == 1


async def test_the_monthly_job_downloads_leie_url(session, sessionmaker, settings):
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=SAMPLE)

    transport = httpx.MockTransport(answer)
    assert (await run_leie_import(settings, sessionmaker, transport=transport)) == {"skipped": True}
    url = "https://leie.example/exclusions/downloadables/UPDATED.csv"
    configured = settings.model_copy(update={"leie_url": url})
    outcome = await run_leie_import(configured, sessionmaker, transport=transport)
    assert seen == [url]
    assert outcome["rows"] == 6
    assert outcome["unchanged"] is False
    again = await run_leie_import(configured, sessionmaker, transport=transport)
    assert again["unchanged"] is True
    failing = httpx.MockTransport(lambda request: httpx.Response(503))
    with pytest.raises(exclusions.LeieDownloadError, match="503"):
        await run_leie_import(configured, sessionmaker, transport=failing)


# --- decisions and access -----------------------------------------------------------------------


async def _decide(client, headers, item_id, decision, reason):
    response = await client.post(
        f"/v1/review-items/{item_id}/decision",
        json={"decision": decision, "reason": reason},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_approve_confirms_the_exclusion(client, session, settings):
    doc = await _physician(session, first="Orin", last="Kessler", npi=KESSLER_NPI)
    await import_leie(session, SAMPLE, file_name="UPDATED.csv", settings=settings)
    await session.commit()
    ops = await ops_headers(client, session, settings)
    (item,) = await _items(session, doc.id)
    listed = (await client.get("/v1/review-items?kind=exclusion_match", headers=ops)).json()
    assert [i["id"] for i in listed["items"]] == [str(item.id)]

    item_id = item.id
    decided = await _decide(client, ops, item_id, "approve", "Same NPI, same person")
    assert decided["status"] == "approved"
    doc_id = doc.id
    session.expire_all()
    doc = await session.get(Physician, doc_id)
    assert doc.verification_status == "suspended"
    checks = await _checks(session, doc.id)
    assert [c.result for c in checks] == ["needs_review", "failed"]
    reviewer = (await session.get(ReviewItem, item_id)).decided_by
    assert checks[-1].checked_by == reviewer
    assert {"physician.suspended", "credentials.exclusion_confirmed"} <= await _notified(
        session, doc
    )
    actions = set(
        await session.scalars(
            select(AuditEntry.action).where(AuditEntry.object_id.in_([str(doc.id), str(item.id)]))
        )
    )
    assert {"credentials.review_approved", "physician.suspended"} <= actions
    # The next import still finds them: a failed check, no new item.
    await exclusions.screen_physician(session, doc.id, settings=settings)
    assert (await _checks(session, doc.id))[-1].result == "failed"
    assert len(await _items(session, doc.id)) == 1


async def test_reject_clears_and_reinstates_a_suspension_the_match_caused(
    client, session, settings
):
    await import_leie(session, SAMPLE, file_name="UPDATED.csv", settings=settings)
    doc = await _physician(session, first="Jose", last="Muller", states=("FL",))
    verifier = await make_ops_user(session, settings)
    verifier_id = verifier.id
    screening = await screen_physician(session, doc.id, actor_id=verifier_id, settings=settings)
    assert screening.suspended
    await session.commit()
    ops = await ops_headers(client, session, settings)
    (item_id,) = screening.opened

    decided = await _decide(client, ops, item_id, "reject", "Different date of birth on file")
    assert decided["status"] == "rejected"
    doc_id = doc.id
    session.expire_all()
    doc = await session.get(Physician, doc_id)
    assert doc.verification_status == "verified"  # back to where they were
    last = (await _checks(session, doc.id))[-1]
    assert last.result == "passed"
    assert last.checked_by == (await session.get(ReviewItem, item_id)).decided_by
    assert {"physician.reinstated", "credentials.exclusion_cleared"} <= await _notified(
        session, doc
    )
    # A cleared listing is not raised again while the row is unchanged.
    again = await screen_physician(session, doc.id, actor_id=verifier_id, settings=settings)
    assert again.result == "passed"
    assert again.opened == []
    assert len(await _items(session, doc.id)) == 1


async def test_reject_leaves_a_suspension_for_another_reason(client, session, settings):
    from app.physicians.verification import suspend_physician

    doc = await _physician(session, first="Orin", last="Kessler", npi=KESSLER_NPI)
    ops_user = await make_ops_user(session, settings)
    await suspend_physician(
        session, doc.id, reason="Board complaint", actor_id=ops_user.id, settings=settings
    )
    await import_leie(session, SAMPLE, file_name="UPDATED.csv", settings=settings)
    await session.commit()
    ops = await ops_headers(client, session, settings)
    (item,) = await _items(session, doc.id)
    await _decide(client, ops, item.id, "reject", "Not the same person")
    doc_id = doc.id
    session.expire_all()
    doc = await session.get(Physician, doc_id)
    assert doc.verification_status == "suspended"
    assert doc.suspension_reason == "Board complaint"


async def test_only_operations_see_and_decide_the_queue(client, session, settings):
    doc = await _physician(session, first="Orin", last="Kessler", npi=KESSLER_NPI)
    await import_leie(session, SAMPLE, file_name="UPDATED.csv", settings=settings)
    await session.commit()
    (item,) = await _items(session, doc.id)
    for role in ("physician", "clinic_admin"):
        headers = await user_headers(client, role)
        listed = await client.get("/v1/review-items", headers=headers)
        assert listed.status_code == 403, role
        one = await client.get(f"/v1/review-items/{item.id}", headers=headers)
        assert one.status_code == 403, role
        decided = await client.post(
            f"/v1/review-items/{item.id}/decision",
            json={"decision": "reject", "reason": "not me"},
            headers=headers,
        )
        assert decided.status_code == 403, role
    item_id = item.id
    session.expire_all()
    assert (await session.get(ReviewItem, item_id)).status == "open"


async def test_operations_list_the_imports_newest_first(client, session, settings):
    first = await import_leie(session, SAMPLE, file_name="one.csv", settings=settings)
    lines = SAMPLE.decode().splitlines(keepends=True)
    second = await import_leie(
        session, "".join(lines[:2] + lines[6:]).encode(), file_name="two.csv", settings=settings
    )
    await session.commit()
    ops = await ops_headers(client, session, settings)
    listed = await client.get("/v1/exclusion-imports?limit=1", headers=ops)
    assert listed.status_code == 200, listed.text
    [newest] = listed.json()["items"]
    assert (newest["id"], newest["file_name"], newest["row_count"]) == (
        str(second.import_id),
        "two.csv",
        2,
    )
    assert len(newest["sha256"]) == 64
    older = await client.get(
        f"/v1/exclusion-imports?limit=1&cursor={listed.json()['next_cursor']}", headers=ops
    )
    assert [i["id"] for i in older.json()["items"]] == [str(first.import_id)]
    for role in ("physician", "clinic_admin"):
        denied = await client.get("/v1/exclusion-imports", headers=await user_headers(client, role))
        assert denied.status_code == 403, role


# --- the command --------------------------------------------------------------------------------


def test_cli_imports_a_file(pg_server_url):
    with scratch_database(pg_server_url) as url:
        env = {"DATABASE_URL": url, "ENVIRONMENT": "test"}
        first = mdmatch("credentials", "import-leie", str(FIXTURE), env=env)
        assert first.returncode == 0, first.stderr
        assert "Imported 6 rows" in first.stderr
        again = mdmatch("credentials", "import-leie", str(FIXTURE), env=env)
        assert again.returncode == 0, again.stderr
        assert "Unchanged" in again.stderr
        missing = mdmatch("credentials", "import-leie", "/nonexistent/UPDATED.csv", env=env)
        assert missing.returncode == 1
        assert "Not imported" in missing.stderr
