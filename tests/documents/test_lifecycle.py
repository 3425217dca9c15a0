"""Documents follow the engagement: a roster change regenerates exactly what names the roster
(superseding the old version), a provider leaving ends their agreement with a termination
notice and the state's termination filing, a canceled engagement ends everything; unsigned
past the grace period, the engagement stops counting as under oversight and everyone is told
once; counsel's review of a template is printed on what is generated after it."""

from __future__ import annotations

import importlib
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from app.clinics.roster import ROSTER_JOBS
from app.documents import jobs
from app.documents.catalog import TEMPLATES
from app.documents.models import ComplianceDocument
from app.documents.service import readiness
from app.engagements.continuity import end_due_oversight
from app.engagements.subscribers import SUBSCRIBERS
from app.jobs.queue import JOB_MODULES, queue
from app.kit.clock import today, travel, utcnow
from app.notifications.models import Notification
from tests.billing.helpers import Emulator
from tests.documents.helpers import (
    SERVICES,
    add_np,
    documents_of,
    run_event_jobs,
    sign_everything,
    texas_two_nps,
)
from tests.documents.test_engagement_documents import austin_day
from tests.engagements.test_standing_backup import _with_backup
from tests.factories import ops_headers

pytestmark = pytest.mark.usefixtures("document_store")


def agreements(listing, status=None):
    return {
        d["provider_id"]: d
        for d in listing["documents"]
        if d["template_key"] == "collaboration_agreement"
        and (status is None or d["status"] == status)
    }


async def queued(session, clinic_id: str) -> int:
    return int(
        await session.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = "
                "'documents.refresh_clinic' AND args->>'clinic_id' = :c"
            ),
            {"c": clinic_id},
        )
    )


async def test_roster_changes_supersede_and_regenerate_only_the_affected_documents(
    client, session, settings, outbox
):
    texas = await texas_two_nps(client, session, settings)
    before = await sign_everything(client, texas, outbox)
    assert before["readiness"]["standing"] == "in_force"
    ids_before = {d["slot"]: d["id"] for d in before["documents"]}

    # A third NP joins: their agreement is made; nothing else that did not name them changes.
    third = await add_np(
        client,
        texas.admin,
        texas.clinic,
        first_name="Ana",
        last_name="Cruz",
        license_number="AP34567",
    )
    assert await queued(session, texas.clinic["id"]) >= 1  # queued with the roster edit
    assert await jobs.refresh_clinic(texas.clinic["id"]) >= 1
    after = await documents_of(client, texas.admin, texas.id)
    current = agreements(after)
    assert set(current) == {np["id"] for np in [*texas.nps, third]}
    assert current[third["id"]]["status"] == "awaiting_signatures"
    for np in texas.nps:
        assert current[np["id"]]["id"] == ids_before[current[np["id"]]["slot"]]
        assert current[np["id"]]["status"] == "executed"
    assert after["readiness"]["standing"] == "awaiting_signatures"
    # Only the new agreement waits: nothing else named the roster's new member.
    assert [m["id"] for m in after["readiness"]["missing"]] == [current[third["id"]]["id"]]
    # Running it again changes nothing.
    assert await jobs.refresh_clinic(texas.clinic["id"]) == 0

    # Jane's license number changes: her agreement is regenerated and the executed one is
    # superseded by it.
    jane = texas.nps[0]
    patched = await client.patch(
        f"/v1/clinics/{texas.clinic['id']}/providers/{jane['id']}",
        json={"license_number": "AP99999"},
        headers=texas.admin,
    )
    assert patched.status_code == 200, patched.text
    assert await jobs.refresh_clinic(texas.clinic["id"]) >= 1
    history = await documents_of(client, texas.admin, texas.id, include_history="true")
    janes = [
        d
        for d in history["documents"]
        if d["template_key"] == "collaboration_agreement" and d["provider_id"] == jane["id"]
    ]
    old = next(d for d in janes if d["status"] == "superseded")
    new = next(d for d in janes if d["status"] == "awaiting_signatures")
    assert old["id"] == current[jane["id"]]["id"]
    assert old["superseded_by_id"] == new["id"]
    assert old["sealed_sha256"]  # the executed version stays on file
    assert new["sha256"] != old["sha256"]
    maria = texas.nps[1]
    assert agreements(history, "executed")[maria["id"]]["id"] == current[maria["id"]]["id"]

    # What no document prints (Maria's FTE) regenerates nothing.
    fte = await client.patch(
        f"/v1/clinics/{texas.clinic['id']}/providers/{maria['id']}",
        json={"fte": 0.5},
        headers=texas.admin,
    )
    assert fte.status_code == 200, fte.text
    assert await jobs.refresh_clinic(texas.clinic["id"]) == 0

    # Maria leaves the roster: her executed agreement ends, a termination notice is produced
    # and Texas's 30-day notice of termination is owed.
    removed = await client.delete(
        f"/v1/clinics/{texas.clinic['id']}/providers/{maria['id']}", headers=texas.admin
    )
    assert removed.status_code == 204, removed.text
    await jobs.refresh_clinic(texas.clinic["id"])
    final = await documents_of(client, texas.admin, texas.id, include_history="true")
    ended = next(
        d
        for d in final["documents"]
        if d["template_key"] == "collaboration_agreement" and d["provider_id"] == maria["id"]
    )
    assert ended["status"] == "ended"
    [notice] = [d for d in final["documents"] if d["termination_of_id"] == ended["id"]]
    assert notice["template_key"] == "termination_notice"
    # Its slot names the ended document: an agreement made again and ended again gets its own.
    assert notice["slot"] == f"termination_notice:{ended['slot']}@{ended['id']}"
    assert notice["status"] == "awaiting_signatures"
    assert notice["required"] is False
    assert "Maria" in notice["title"]
    filings = (
        await client.get(f"/v1/engagements/{texas.id}/filings", headers=texas.doctor)
    ).json()["items"]
    [termination] = [
        f for f in filings if f["trigger"] == "termination" and f["document_id"] == ended["id"]
    ]
    assert termination["due_on"] == (austin_day(ended["ended_at"]) + timedelta(days=30)).isoformat()


async def test_canceling_the_engagement_ends_its_documents_with_termination_notices(
    client, session, settings, outbox
):
    texas = await texas_two_nps(client, session, settings)
    await sign_everything(client, texas, outbox)
    canceled = await client.post(
        f"/v1/engagements/{texas.id}/cancel", json={"at_period_end": False}, headers=texas.admin
    )
    assert canceled.status_code == 200, canceled.text
    from tests.documents.helpers import run_event_jobs

    await run_event_jobs(session, texas.id)
    listing = await documents_of(client, texas.admin, texas.id, include_history="true")
    originals = [d for d in listing["documents"] if d["template_key"] != "termination_notice"]
    assert {d["status"] for d in originals} == {"ended"}
    notices = [d for d in listing["documents"] if d["template_key"] == "termination_notice"]
    ended_agreements = {
        d["id"]
        for d in originals
        if d["template_key"] in ("collaboration_agreement", "medical_director_agreement")
    }
    assert {n["termination_of_id"] for n in notices} == ended_agreements
    # Protocols and plans are withdrawn, not noticed.
    assert len(notices) == 3


async def test_unsigned_past_the_grace_period_the_engagement_is_not_under_oversight(
    client, session, settings
):
    texas = await texas_two_nps(client, session, settings)
    listing = await documents_of(client, texas.admin, texas.id)
    assert listing["readiness"]["under_oversight"] is True
    sign_by = listing["readiness"]["sign_by"]
    assert sign_by is not None
    assert await jobs.flag_overdue_signatures(session) == 0  # not yet

    with travel(timedelta(days=settings.document_signing_grace_days, minutes=1)):
        flagged = await jobs.flag_overdue_signatures(session)
        assert flagged == listing["readiness"]["required"]
        assert await jobs.flag_overdue_signatures(session) == 0  # once
        rows = await session.scalars(
            select(ComplianceDocument).where(
                ComplianceDocument.engagement_id == uuid.UUID(texas.id)
            )
        )
        ready = readiness(list(rows), now=utcnow())
    assert ready.standing == "overdue"
    assert ready.under_oversight is False
    assert len(ready.missing) == listing["readiness"]["required"]
    told = await session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.kind == "documents.signing_overdue",
            Notification.user_id == texas.physician.user_id,
        )
    )
    assert told == 1


async def test_counsel_review_is_recorded_by_operations_and_printed_on_new_documents(
    client, session, settings
):
    ops = await ops_headers(client, session, settings)
    key = "collaboration_agreement"
    version = TEMPLATES[key].version
    path = f"/v1/document-templates/{key}/counsel-review"
    body = {"version": version, "reviewed_on": "2026-11-30", "reviewer": "Hill & Park LLP"}

    texas = await texas_two_nps(client, session, settings)
    assert (await client.put(path, json=body, headers=texas.admin)).status_code == 403
    assert (
        await client.put(path, json=body | {"version": "1999.1"}, headers=ops)
    ).status_code == 422
    future = body | {"reviewed_on": "2999-01-01"}
    assert (await client.put(path, json=future, headers=ops)).status_code == 422
    missing = await client.put("/v1/document-templates/nope/counsel-review", json=body, headers=ops)
    assert missing.status_code == 404
    recorded = await client.put(path, json=body, headers=ops)
    assert recorded.status_code == 200, recorded.text

    templates = (await client.get("/v1/document-templates", headers=texas.admin)).json()
    by_key = {t["key"]: t for t in templates}
    assert by_key[key]["counsel_review"]["reviewer"] == "Hill & Park LLP"
    assert by_key["quality_plan"]["counsel_review"] is None
    assert all(t["sources"] or t["rules"] for t in templates)

    # Documents made before keep what they said; those made after say it was reviewed.
    before = agreements(await documents_of(client, texas.admin, texas.id))
    assert all(d["counsel_reviewed_on"] is None for d in before.values())
    later = await texas_two_nps(client, session, settings)
    after = await documents_of(client, later.admin, later.id)
    for document in after["documents"]:
        if document["template_key"] == key:
            assert document["counsel_reviewed_on"] == "2026-11-30"
            assert "reviewed by counsel" in document["legal_notice"].lower()
        else:
            assert document["counsel_reviewed_on"] is None


def test_documents_hear_the_events_and_roster_edits_they_handle():
    assert SUBSCRIBERS["documents.on_engagement_event"] == jobs.EVENT_KINDS
    for module in JOB_MODULES:
        importlib.import_module(module)
    for name in ROSTER_JOBS:
        assert name in queue.tasks, name


async def test_a_document_set_is_made_once_however_often_the_event_is_delivered(
    client, session, settings
):
    texas = await texas_two_nps(client, session, settings)
    from tests.documents.helpers import run_event_jobs

    assert await run_event_jobs(session, texas.id) == 0
    count = await session.scalar(
        text("SELECT count(*) FROM compliance_documents WHERE engagement_id = :e"),
        {"e": uuid.UUID(texas.id)},
    )
    listing = await documents_of(client, texas.admin, texas.id)
    assert count == len(listing["documents"])


async def test_an_agreement_ended_while_its_new_version_awaits_signatures_is_still_noticed(
    client, session, settings, outbox
):
    texas = await texas_two_nps(client, session, settings)
    await sign_everything(client, texas, outbox)
    jane = texas.nps[0]
    base = f"/v1/clinics/{texas.clinic['id']}/providers/{jane['id']}"
    changed = await client.patch(base, json={"license_number": "AP77777"}, headers=texas.admin)
    assert changed.status_code == 200, changed.text
    await jobs.refresh_clinic(texas.clinic["id"])  # a new version, unsigned
    removed = await client.delete(base, headers=texas.admin)
    assert removed.status_code == 204, removed.text
    await jobs.refresh_clinic(texas.clinic["id"])
    listing = await documents_of(client, texas.admin, texas.id, include_history="true")
    janes = [
        d
        for d in listing["documents"]
        if d["template_key"] == "collaboration_agreement" and d["provider_id"] == jane["id"]
    ]
    executed = next(d for d in janes if d["sealed_sha256"])
    unsigned_version = next(d for d in janes if d["status"] == "ended")
    assert unsigned_version["sealed_sha256"] is None
    # The version the board holds was in force: it gets the notice, and the filing.
    [notice] = [d for d in listing["documents"] if d["termination_of_id"] == unsigned_version["id"]]
    assert "Jane" in notice["title"]
    filings = (
        await client.get(f"/v1/engagements/{texas.id}/filings", headers=texas.doctor)
    ).json()["items"]
    assert [f["trigger"] for f in filings if f["document_id"] == executed["id"]].count(
        "termination"
    ) == 1


async def test_a_scope_change_adds_the_new_services_documents_and_re_signs_what_names_them(
    client, session, settings, stripe_url
):
    texas = await texas_two_nps(client, session, settings)
    emulator = Emulator(stripe_url)
    setup = await client.post(f"/v1/engagements/{texas.id}/payment-method", headers=texas.admin)
    assert setup.status_code == 200, setup.text
    await emulator.confirm_card(setup.json()["setup_intent_id"])
    paid = await client.post(f"/v1/engagements/{texas.id}/subscribe", headers=texas.admin)
    assert paid.status_code == 200, paid.text
    before = await documents_of(client, texas.admin, texas.id)
    slots_before = {d["slot"]: d["id"] for d in before["documents"]}

    changed = await client.post(
        f"/v1/engagements/{texas.id}/change-scope",
        json={"services": [*SERVICES, "chemical_peels"]},
        headers=texas.admin,
    )
    assert changed.status_code == 200, changed.text
    assert await run_event_jobs(session, texas.id) >= 1
    after = await documents_of(client, texas.admin, texas.id, include_history="true")
    current = {d["slot"]: d for d in after["documents"] if d["status"] == "awaiting_signatures"}
    # The new service's protocol is made; the existing services' protocols stay as they were.
    assert "delegation_protocol:chemical_peels" in current
    for code in SERVICES:
        slot = f"delegation_protocol:{code}"
        assert slot in slots_before
        assert current[slot]["id"] == slots_before[slot]
    # The medical director agreement lists the services: a new version replaces the old one.
    [old_mda] = [
        d
        for d in after["documents"]
        if d["slot"] == "medical_director_agreement" and d["status"] == "superseded"
    ]
    assert old_mda["id"] == slots_before["medical_director_agreement"]
    assert old_mda["superseded_by_id"] == current["medical_director_agreement"]["id"]


async def test_a_backup_taking_over_regenerates_what_names_the_director(
    client, session, settings, stripe_url
):
    engaged, _, backup, _, _ = await _with_backup(client, session, settings, Emulator(stripe_url))
    await run_event_jobs(session, engaged.id)
    before = await documents_of(client, engaged.admin, engaged.id)
    [mda] = [d for d in before["documents"] if d["template_key"] == "medical_director_agreement"]
    signers_before = {s["physician_id"] for s in mda["signers"] if s["role"] == "director"}
    assert str(engaged.physician.id) in signers_before

    ops = await ops_headers(client, session, settings)
    suspended = await client.post(
        f"/v1/physicians/{engaged.physician.id}/suspend",
        json={"reason": "board complaint under review"},
        headers=ops,
    )
    assert suspended.status_code == 200, suspended.text
    await end_due_oversight(session, on=today())
    await session.commit()
    await run_event_jobs(session, engaged.id)

    after = await documents_of(client, engaged.admin, engaged.id, include_history="true")
    [current] = [
        d
        for d in after["documents"]
        if d["template_key"] == "medical_director_agreement"
        and d["status"] == "awaiting_signatures"
    ]
    directors = {s["physician_id"] for s in current["signers"] if s["role"] == "director"}
    assert directors == {str(backup.id)}
    old = next(d for d in after["documents"] if d["id"] == mda["id"])
    assert old["status"] == "superseded"
    assert old["superseded_by_id"] == current["id"]
