"""Filings state rules oblige (app/documents/filings.py): which an executed, superseded or
ended agreement opens, once; their deadlines; reminders on the app clock; who sees and who
marks them filed."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.directorships.models import EngagementDirector
from app.documents import filings_jobs
from app.documents.filings import DUE_SOON_DAYS, due_date, obligations, open_filings
from app.documents.filings_jobs import Reminder, reminder_due
from app.documents.models import ComplianceDocument, Filing
from app.kit.clock import today, travel, utcnow
from app.notifications.models import Notification
from tests.billing.helpers import Engaged, confirmed_engagement
from tests.clinics.helpers import create_clinic
from tests.factories import bearer, login, make_ops_user, ops_headers, register
from tests.matching.helpers import make_physician, physician_headers

TX_REGISTER = "Register each prescriptive authority agreement"
TX_NOTICE_OF_INTENT = "Notice of intent to practice"
TX_TERMINATION = "Written notice of termination"
TX_CITATION = "22 Tex. Admin. Code"


async def _agreement(
    session: AsyncSession,
    engaged: Engaged,
    *,
    state: str = "TX",
    template_key: str = "collaboration_agreement",
    provider_id: uuid.UUID | None = None,
    physician_id: uuid.UUID | None = None,
    status: str = "executed",
) -> ComplianceDocument:
    """An agreement row as generation and execution leave it (the PDFs are not needed here)."""
    doc_id = uuid.uuid4()
    collaboration = template_key == "collaboration_agreement"
    provider = (provider_id or uuid.uuid4()) if collaboration else None
    physician = (physician_id or engaged.physician.id) if collaboration else physician_id
    now = utcnow()
    document = ComplianceDocument(
        id=doc_id,
        engagement_id=uuid.UUID(engaged.id),
        clinic_id=uuid.UUID(engaged.clinic["id"]),
        slot=f"{template_key}:{state}:{provider}:{physician}" if collaboration else template_key,
        template_key=template_key,
        template_version="2026.1",
        title="Prescriptive Authority Agreement" if collaboration else "Medical Director Agreement",
        state=state if collaboration else None,
        provider_id=provider,
        physician_id=physician,
        required=True,
        status=status,
        reason="confirmed",
        fingerprint="f" * 64,
        merge_data={},
        sha256="a" * 64,
        object_key=f"test/{doc_id}.pdf",
        size_bytes=48_000,
        sealed_sha256="b" * 64 if status == "executed" else None,
        sealed_object_key=f"test/{doc_id}-sealed.pdf" if status == "executed" else None,
        sealed_size_bytes=52_000 if status == "executed" else None,
        generated_at=now,
        executed_at=now if status == "executed" else None,
    )
    session.add(document)
    await session.flush()
    return document


async def _engaged(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> Engaged:
    return await confirmed_engagement(client, session, settings)


def _one(filings: list[Filing], what: str) -> Filing:
    [match] = [f for f in filings if f.what.startswith(what)]
    return match


async def _all_filings(session: AsyncSession, engagement_id: str) -> list[Filing]:
    return list(
        await session.scalars(
            select(Filing).where(Filing.engagement_id == uuid.UUID(engagement_id))
        )
    )


# --- which obligations open ------------------------------------------------------------------


async def test_executed_texas_pa_agreement_opens_the_registration_and_the_pa_notice(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    paa = await _agreement(session, engaged)

    opened = await open_filings(
        session, paa, trigger="signing", on=date(2027, 1, 31), provider_type="pa"
    )

    assert len(opened) == 2
    register_it = _one(opened, TX_REGISTER)
    assert register_it.filed_with == "Texas Medical Board"
    assert register_it.trigger == "signing"
    assert register_it.within_days == 30
    assert register_it.due_on == date(2027, 3, 2)
    assert register_it.responsible == "director"
    assert register_it.physician_id == engaged.physician.id
    assert register_it.provider_id == paa.provider_id
    assert register_it.document_id == paa.id
    assert register_it.status == "open"
    assert register_it.source["citation"].startswith(TX_CITATION)
    assert register_it.source["confidence"] == "high"
    assert register_it.source["url"]
    assert register_it.source["obligation"]["within_days"] == 30
    notice = _one(opened, TX_NOTICE_OF_INTENT)
    assert notice.trigger == "start"
    assert notice.responsible == "director"  # `physician` is among those it applies to
    assert notice.due_on is None  # the source states no deadline
    assert notice.source["citation"] == register_it.source["citation"]


async def test_texas_np_agreement_opens_only_the_registration(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    paa = await _agreement(session, engaged)

    opened = await open_filings(
        session, paa, trigger="signing", on=date(2027, 1, 31), provider_type="np"
    )

    assert [f.what[: len(TX_REGISTER)] for f in opened] == [TX_REGISTER]


async def test_opening_again_opens_nothing_new(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    paa = await _agreement(session, engaged)
    first = await open_filings(
        session, paa, trigger="signing", on=date(2027, 1, 31), provider_type="pa"
    )

    again = await open_filings(
        session, paa, trigger="signing", on=date(2027, 2, 3), provider_type="pa"
    )

    assert again == []
    stored = await _all_filings(session, engaged.id)
    assert sorted(f.id for f in stored) == sorted(f.id for f in first)
    assert {f.triggered_on for f in stored} == {date(2027, 1, 31)}


async def test_a_regenerated_version_owes_no_second_registration(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    first = await _agreement(session, engaged)
    await open_filings(session, first, trigger="signing", on=date(2027, 1, 31), provider_type="np")
    first.status = "superseded"
    await session.flush()
    second = await _agreement(session, engaged, provider_id=first.provider_id)
    first.superseded_by_id = second.id
    await session.flush()

    assert await open_filings(session, first, trigger="change", on=date(2027, 3, 1)) == []
    assert (
        await open_filings(
            session, second, trigger="signing", on=date(2027, 3, 5), provider_type="np"
        )
        == []
    )
    [registration] = await _all_filings(session, engaged.id)
    assert registration.status == "open"  # still owed for the relationship


async def test_termination_opens_the_thirty_day_notice_once(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    paa = await _agreement(session, engaged)
    await open_filings(session, paa, trigger="signing", on=date(2027, 1, 31), provider_type="np")
    paa.status = "ended"
    await session.flush()

    [notice] = await open_filings(
        session, paa, trigger="termination", on=date(2027, 6, 30), provider_type="np"
    )
    again = await open_filings(
        session, paa, trigger="termination", on=date(2027, 6, 30), provider_type="np"
    )

    assert again == []
    assert notice.what.startswith(TX_TERMINATION)
    assert notice.trigger == "termination"
    assert notice.due_on == date(2027, 7, 30)
    assert notice.responsible == "director"
    assert notice.source["citation"].startswith(TX_CITATION)


async def test_florida_start_notice_opens_once_for_two_agreements_of_one_director(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    one = await _agreement(session, engaged, state="FL")
    two = await _agreement(session, engaged, state="FL")

    opened = await open_filings(
        session, one, trigger="signing", on=date(2027, 4, 1), provider_type="np"
    )
    second = await open_filings(
        session, two, trigger="signing", on=date(2027, 4, 20), provider_type="np"
    )

    assert second == []
    # Florida's three physician-only `start` filings, once per engagement, state and director.
    assert len(opened) == 3
    assert all(f.trigger == "start" and f.state == "FL" for f in opened)
    assert all(f.responsible == "director" for f in opened)
    assert all(f.physician_id == engaged.physician.id and f.provider_id is None for f in opened)
    protocol = _one(opened, "Notice to the Board of Medicine of an established protocol")
    assert protocol.due_on == date(2027, 5, 1)
    offices = _one(opened, "Addresses of all offices")
    assert offices.within_days is None
    assert offices.due_on is None


async def test_medical_director_agreement_shares_the_directors_start_filings(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    await session.execute(
        update(EngagementDirector)
        .where(EngagementDirector.engagement_id == uuid.UUID(engaged.id))
        .values(states=["TX", "FL"])
    )
    mda = await _agreement(session, engaged, template_key="medical_director_agreement")

    opened = await open_filings(session, mda, trigger="signing", on=date(2027, 4, 1))
    from_agreement = await open_filings(
        session,
        await _agreement(session, engaged, state="FL"),
        trigger="signing",
        on=date(2027, 4, 2),
        provider_type="np",
    )

    # Texas lists no physician-only `start` filing; Florida's three open for the director.
    assert len(opened) == 3
    assert {f.state for f in opened} == {"FL"}
    assert all(f.physician_id == engaged.physician.id for f in opened)
    assert all(f.document_id == mda.id for f in opened)
    assert from_agreement == []
    assert await open_filings(session, mda, trigger="termination", on=date(2027, 9, 1)) == []


async def test_a_pa_only_obligation_is_the_clinics(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    plan = await _agreement(session, engaged, state="AK")

    assert (
        await open_filings(
            session, plan, trigger="signing", on=date(2027, 1, 1), provider_type="np"
        )
        == []
    )
    [filing] = await open_filings(
        session, plan, trigger="signing", on=date(2027, 1, 1), provider_type="pa"
    )

    assert filing.responsible == "clinic"
    assert filing.due_on == date(2027, 1, 15)
    assert filing.provider_id == plan.provider_id


def test_deadlines_are_calendar_days() -> None:
    assert due_date(date(2027, 1, 31), 30) == date(2027, 3, 2)
    assert due_date(date(2028, 1, 31), 30) == date(2028, 3, 1)  # 2028 is a leap year
    assert due_date(date(2027, 12, 20), 14) == date(2028, 1, 3)
    assert due_date(date(2027, 2, 28), 1) == date(2027, 3, 1)
    assert due_date(date(2027, 6, 30), 0) == date(2027, 6, 30)
    assert due_date(date(2027, 1, 31), None) is None


def test_obligations_skip_what_the_research_left_incomplete() -> None:
    rule: dict[str, Any] = {
        "value": [
            {"what": "A", "filed_with": "Board", "trigger": "start", "applies_to": ["np"]},
            {"what": "B", "trigger": "start", "applies_to": ["np"]},
            {"what": "C", "filed_with": "Board", "trigger": "start", "within_days": -3},
        ]
    }
    assert [o.what for o in obligations(rule)] == ["A"]
    assert obligations({"value": "none"}) == []
    assert obligations({"value": None}) == []
    assert obligations(None) == []


def test_reminder_stages() -> None:
    due = date(2027, 3, 2)
    assert reminder_due(due, due - timedelta(days=DUE_SOON_DAYS + 1)) is None
    assert reminder_due(due, due - timedelta(days=DUE_SOON_DAYS)) is Reminder.due_soon
    assert reminder_due(due, due - timedelta(days=2)) is Reminder.due_soon
    assert reminder_due(due, due - timedelta(days=1)) is Reminder.due_tomorrow
    assert reminder_due(due, due) is Reminder.due_tomorrow
    assert reminder_due(due, due + timedelta(days=1)) is Reminder.overdue
    assert reminder_due(None, due) is None


# --- reminders -------------------------------------------------------------------------------


async def _notes(session: AsyncSession, kind: str, filing: Filing) -> list[Notification]:
    rows = await session.scalars(select(Notification).where(Notification.kind == kind))
    return [n for n in rows if n.data.get("filing_id") == str(filing.id)]


async def test_each_reminder_goes_once_and_overdue_tells_operations(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    ops = await make_ops_user(session, settings)
    paa = await _agreement(session, engaged)
    opened = await open_filings(session, paa, trigger="signing", on=today(), provider_type="pa")
    registration = _one(opened, TX_REGISTER)
    no_deadline = _one(opened, TX_NOTICE_OF_INTENT)
    await session.commit()
    director = engaged.physician.user_id

    assert (await filings_jobs.remind_filings(timestamp=0))["due_soon"] == 0
    for days, expected in [(24, "due_soon"), (29, "due_tomorrow"), (31, "overdue")]:
        with travel(timedelta(days=days)):
            first = await filings_jobs.remind_filings(timestamp=0)
            redelivered = await filings_jobs.remind_filings(timestamp=0)
        assert first[expected] == 1, (days, first)
        assert sum(redelivered.values()) == 0
    with travel(timedelta(days=60)):
        assert sum((await filings_jobs.remind_filings(timestamp=0)).values()) == 0

    due = await _notes(session, "documents.filing_due", registration)
    assert [n.user_id for n in due] == [director, director]
    assert all(n.email_status == "pending" for n in due)
    assert due[0].data["engagement_id"] == engaged.id
    overdue = await _notes(session, "documents.filing_overdue", registration)
    assert {n.user_id for n in overdue} >= {director, ops.id}
    assert len([n for n in overdue if n.user_id == director]) == 1
    assert len([n for n in overdue if n.user_id == ops.id]) == 1
    assert all(n.email_status == "pending" for n in overdue)
    await session.refresh(registration)
    assert registration.reminders_sent == ["due_soon", "due_tomorrow", "overdue"]
    assert await _notes(session, "documents.filing_due", no_deadline) == []
    assert await _notes(session, "documents.filing_overdue", no_deadline) == []


async def test_a_reminder_passed_over_is_not_sent_late(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    plan = await _agreement(session, engaged, state="AK")
    [filing] = await open_filings(
        session, plan, trigger="signing", on=today() - timedelta(days=13), provider_type="pa"
    )
    await session.commit()

    outcome = await filings_jobs.remind_filings(timestamp=0)

    assert outcome == {"due_soon": 0, "due_tomorrow": 1, "overdue": 0}
    [note] = await _notes(session, "documents.filing_due", filing)
    assert note.user_id in set(await _clinic_users(session, engaged))
    await session.refresh(filing)
    assert filing.reminders_sent == ["due_tomorrow"]


async def _clinic_users(session: AsyncSession, engaged: Engaged) -> list[uuid.UUID]:
    from app.notifications.recipients import clinic_admin_ids

    return await clinic_admin_ids(session, uuid.UUID(engaged.clinic["id"]))


# --- the API ---------------------------------------------------------------------------------


async def _open_recent(session: AsyncSession, engaged: Engaged, days_ago: int = 5) -> list[Filing]:
    paa = await _agreement(session, engaged)
    opened = await open_filings(
        session, paa, trigger="signing", on=today() - timedelta(days=days_ago), provider_type="pa"
    )
    await session.commit()
    return opened


async def test_parties_list_the_engagements_filings(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    opened = await _open_recent(session, engaged)
    registration = _one(opened, TX_REGISTER)
    notice = _one(opened, TX_NOTICE_OF_INTENT)
    ops = await ops_headers(client, session, settings)

    for headers in (engaged.admin, engaged.doctor, ops):
        response = await client.get(f"/v1/engagements/{engaged.id}/filings", headers=headers)
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        # Soonest deadline first, no deadline last.
        assert [i["id"] for i in items] == [str(registration.id), str(notice.id)]
        first = items[0]
        assert first["due_on"] == (today() + timedelta(days=25)).isoformat()
        assert first["days_until_due"] == 25
        assert first["standing"] == "open"
        assert first["clinic_legal_name"] == engaged.clinic["legal_name"]
        assert first["source"]["citation"].startswith(TX_CITATION)
        assert items[1]["standing"] == "no_deadline"
        assert items[1]["days_until_due"] is None

    mine = await client.get("/v1/physicians/me/filings", headers=engaged.doctor)
    assert mine.status_code == 200, mine.text
    assert {i["id"] for i in mine.json()["items"]} == {str(f.id) for f in opened}


async def test_pages_follow_the_deadline_order(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    opened = await _open_recent(session, engaged)
    florida = await open_filings(
        session,
        await _agreement(session, engaged, state="FL"),
        trigger="signing",
        on=today(),
        provider_type="np",
    )
    await session.commit()
    expected = sorted(
        [*opened, *florida], key=lambda f: (f.due_on is None, f.due_on or date.max, f.id)
    )

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get(
            f"/v1/engagements/{engaged.id}/filings", params=params, headers=engaged.admin
        )
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(f.id) for f in expected]

    bad = await client.get(
        f"/v1/engagements/{engaged.id}/filings", params={"cursor": "nope"}, headers=engaged.admin
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"


async def test_the_director_marks_their_filing_done_once(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    registration = _one(await _open_recent(session, engaged), TX_REGISTER)
    url = f"/v1/filings/{registration.id}/complete"
    filed_on = (today() - timedelta(days=1)).isoformat()

    by_clinic = await client.post(url, json={"filed_on": filed_on}, headers=engaged.admin)
    future = await client.post(
        url, json={"filed_on": (today() + timedelta(days=1)).isoformat()}, headers=engaged.doctor
    )
    too_early = await client.post(
        url,
        json={"filed_on": (today() - timedelta(days=6)).isoformat()},
        headers=engaged.doctor,
    )
    too_long = await client.post(
        url, json={"filed_on": filed_on, "reference": "x" * 201}, headers=engaged.doctor
    )
    done = await client.post(
        url, json={"filed_on": filed_on, "reference": " TMB-123456 "}, headers=engaged.doctor
    )
    twice = await client.post(url, json={"filed_on": filed_on}, headers=engaged.doctor)

    assert by_clinic.status_code == 403, by_clinic.text
    assert by_clinic.json()["type"].endswith("/not-filing-party")
    assert future.status_code == 422, future.text
    assert future.json()["errors"][0]["loc"] == ["body", "filed_on"]
    assert too_early.status_code == 422, too_early.text
    assert too_long.status_code == 422, too_long.text
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "done"
    assert body["standing"] == "done"
    assert body["filed_on"] == filed_on
    assert body["reference"] == "TMB-123456"
    assert body["completed_at"] is not None
    assert body["days_until_due"] is None
    assert twice.status_code == 409, twice.text
    assert twice.headers["content-type"] == "application/problem+json"


async def test_the_clinic_marks_its_own_filing_done(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    plan = await _agreement(session, engaged, state="AK")
    [filing] = await open_filings(
        session, plan, trigger="signing", on=today() - timedelta(days=3), provider_type="pa"
    )
    await session.commit()
    url = f"/v1/filings/{filing.id}/complete"
    body = {"filed_on": today().isoformat()}

    by_director = await client.post(url, json=body, headers=engaged.doctor)
    by_clinic = await client.post(url, json=body, headers=engaged.admin)

    assert by_director.status_code == 403, by_director.text
    assert by_clinic.status_code == 200, by_clinic.text
    assert by_clinic.json()["responsible"] == "clinic"


async def test_operations_may_mark_any_filing_done(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    registration = _one(await _open_recent(session, engaged), TX_REGISTER)
    ops = await ops_headers(client, session, settings)

    response = await client.post(
        f"/v1/filings/{registration.id}/complete",
        json={"filed_on": today().isoformat(), "reference": None},
        headers=ops,
    )

    assert response.status_code == 200, response.text


async def test_outsiders_cannot_see_or_complete_filings(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    registration = _one(await _open_recent(session, engaged), TX_REGISTER)
    other_email = (await register(client, "clinic_admin"))["email"]
    other_admin = bearer((await login(client, other_email))["access_token"])
    await create_clinic(client, other_admin, ("TX",))
    other_doctor = await physician_headers(
        client, session, settings, await make_physician(session, last_name="Other")
    )
    body = {"filed_on": today().isoformat()}

    for headers in (other_admin, other_doctor):
        listed = await client.get(f"/v1/engagements/{engaged.id}/filings", headers=headers)
        completed = await client.post(
            f"/v1/filings/{registration.id}/complete", json=body, headers=headers
        )
        assert listed.status_code == 404, listed.text
        assert completed.status_code == 404, completed.text
        assert completed.headers["content-type"] == "application/problem+json"
    mine = await client.get("/v1/physicians/me/filings", headers=other_doctor)
    assert mine.json()["items"] == []
    unknown = await client.post(
        f"/v1/filings/{uuid.uuid4()}/complete", json=body, headers=engaged.doctor
    )
    assert unknown.status_code == 404


async def test_only_operations_list_every_clinics_filings(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    await _open_recent(session, engaged)

    for headers in (engaged.admin, engaged.doctor):
        response = await client.get("/v1/filings", headers=headers)
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"


async def test_operations_filter_overdue_filings(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    engaged = await _engaged(client, session, settings)
    late = _one(await _open_recent(session, engaged, days_ago=40), TX_REGISTER)
    on_time = _one(await _open_recent(session, engaged, days_ago=2), TX_REGISTER)
    soon = _one(await _open_recent(session, engaged, days_ago=26), TX_REGISTER)
    ops = await ops_headers(client, session, settings)

    overdue = await client.get("/v1/filings", params={"due": "overdue"}, headers=ops)
    due_soon = await client.get("/v1/filings", params={"due": "due_soon"}, headers=ops)
    no_deadline = await client.get("/v1/filings", params={"due": "no_deadline"}, headers=ops)
    in_texas = await client.get(
        "/v1/filings", params={"state": "TX", "status": "open"}, headers=ops
    )
    elsewhere = await client.get("/v1/filings", params={"state": "FL"}, headers=ops)
    bad = await client.get("/v1/filings", params={"due": "someday", "state": "tx"}, headers=ops)

    assert overdue.status_code == 200, overdue.text
    [item] = overdue.json()["items"]
    assert item["id"] == str(late.id)
    assert item["standing"] == "overdue"
    assert item["days_until_due"] == -10
    assert item["clinic_legal_name"] == engaged.clinic["legal_name"]
    assert [i["id"] for i in due_soon.json()["items"]] == [str(soon.id)]
    assert due_soon.json()["items"][0]["standing"] == "due_soon"
    assert len(no_deadline.json()["items"]) == 3
    assert all(i["due_on"] is None for i in no_deadline.json()["items"])
    ids = [i["id"] for i in in_texas.json()["items"]]
    assert ids[:3] == [str(late.id), str(soon.id), str(on_time.id)]
    assert len(ids) == 6
    assert elsewhere.json()["items"] == []
    assert bad.status_code == 422
    assert {tuple(e["loc"]) for e in bad.json()["errors"]} == {("query", "due"), ("query", "state")}
