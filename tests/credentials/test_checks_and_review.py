"""Credential provenance (what was checked, against what, how, when) and the operations review
queue (one open item per subject, decided once, audited, with the kind's consequence)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date

import httpx
import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.credentials import provenance, review
from app.credentials.models import (
    CheckMethod,
    CheckResult,
    CheckSource,
    CredentialKind,
    ReviewItem,
    ReviewKind,
)
from app.notifications.models import Notification
from app.physicians.models import License
from tests.factories import ops_headers, user_headers
from tests.live import scratch_app
from tests.matching.helpers import make_physician, physician_headers


async def test_a_self_attested_credential_is_never_a_passed_check(session):
    doc = await make_physician(session)
    with pytest.raises(ValueError, match="self-attested"):
        await provenance.record_check(
            session,
            physician_id=doc.id,
            kind=CredentialKind.license,
            source=CheckSource.physician,
            method=CheckMethod.self_attested,
            result=CheckResult.passed,
        )


async def test_a_physician_sees_what_was_checked_about_each_credential(client, session, settings):
    doc = await make_physician(session)
    other = await make_physician(session, last_name="Other")
    license_ = await session.scalar(select(License).where(License.physician_id == doc.id))
    assert license_ is not None
    await provenance.record_check(
        session,
        physician_id=doc.id,
        kind=CredentialKind.license,
        credential_id=license_.id,
        source=CheckSource.physician,
        method=CheckMethod.self_attested,
        result=CheckResult.needs_review,
        detail="typed in by the physician",
    )
    await provenance.record_check(
        session,
        physician_id=doc.id,
        kind=CredentialKind.license,
        credential_id=license_.id,
        source=CheckSource.state_board,
        source_detail="Texas Medical Board",
        method=CheckMethod.primary_source,
        compared={"number": {"ours": license_.number, "source": license_.number}},
        result=CheckResult.passed,
        recheck_due=date(2027, 3, 1),
    )
    await provenance.record_check(
        session,
        physician_id=other.id,
        kind=CredentialKind.npi,
        source=CheckSource.nppes,
        method=CheckMethod.primary_source,
        result=CheckResult.passed,
    )
    await session.commit()
    mine = await client.get(
        "/v1/physicians/me/credential-checks",
        headers=await physician_headers(client, session, settings, doc),
    )
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert [c["method"] for c in body["history"]] == ["primary_source", "self_attested"]
    [latest] = body["latest"]
    assert (latest["source"], latest["result"], latest["recheck_due"]) == (
        "state_board",
        "passed",
        "2027-03-01",
    )
    assert latest["compared"]["number"]["source"] == license_.number
    # Operations see any physician's; nobody else does.
    ops = await ops_headers(client, session, settings)
    theirs = await client.get(f"/v1/physicians/{other.id}/credential-checks", headers=ops)
    assert [c["source"] for c in theirs.json()["latest"]] == ["nppes"]
    clinic = await user_headers(client, "clinic_admin")
    refused = await client.get(f"/v1/physicians/{other.id}/credential-checks", headers=clinic)
    assert refused.status_code == 403
    unknown = await client.get(f"/v1/physicians/{uuid.uuid4()}/credential-checks", headers=ops)
    assert unknown.status_code == 404


async def test_the_review_queue_holds_one_open_item_per_subject_decided_once(
    client, session, settings, monkeypatch
):
    doc = await make_physician(session)
    ops = await ops_headers(client, session, settings)
    decided: list[tuple[str, str]] = []

    async def consequence(session, item, reviewer_id):
        decided.append((item.status, item.reason))

    monkeypatch.setitem(review._on_decision, ReviewKind.document, consequence)
    item = await review.open_item(
        session,
        kind=ReviewKind.document,
        physician_id=doc.id,
        subject_key="document:1",
        evidence={"file": "license.pdf"},
        title="A license document to review",
    )
    assert item is not None
    again = await review.open_item(
        session,
        kind=ReviewKind.document,
        physician_id=doc.id,
        subject_key="document:1",
        evidence={},
        title="again",
    )
    assert again is None
    ops_note = await session.scalar(
        select(Notification).where(Notification.kind == "credentials.review_needed")
    )
    assert ops_note is not None
    assert ops_note.data["review_item_id"] == str(item.id)
    await session.commit()

    queue = await client.get("/v1/review-items", params={"kind": "document"}, headers=ops)
    assert [i["id"] for i in queue.json()["items"]] == [str(item.id)]
    doctor = await physician_headers(client, session, settings, doc)
    assert (await client.get("/v1/review-items", headers=doctor)).status_code == 403
    short = await client.post(
        f"/v1/review-items/{item.id}/decision",
        json={"decision": "approve", "reason": "ok"},
        headers=ops,
    )
    assert short.status_code == 422
    approved = await client.post(
        f"/v1/review-items/{item.id}/decision",
        json={"decision": "approve", "reason": "matches the board record"},
        headers=ops,
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert decided == [("approved", "matches the board record")]
    twice = await client.post(
        f"/v1/review-items/{item.id}/decision",
        json={"decision": "reject", "reason": "changed my mind"},
        headers=ops,
    )
    assert twice.status_code == 409
    assert twice.json()["type"].endswith("/review-item-closed")
    assert decided == [("approved", "matches the board record")]
    audit = await session.scalar(
        select(AuditEntry).where(
            AuditEntry.object_id == str(item.id),
            AuditEntry.action == "credentials.review_approved",
        )
    )
    assert audit is not None
    # Decided, the subject may be queued again (a new document for the same credential).
    assert (
        await review.open_item(
            session,
            kind=ReviewKind.document,
            physician_id=doc.id,
            subject_key="document:1",
            evidence={},
            title="A new upload",
        )
        is not None
    )
    assert (await client.get("/v1/review-items", headers=ops)).json()["items"][0]["status"] == (
        "open"
    )


@pytest.mark.live_sessions
async def test_two_reviewers_deciding_at_once_get_one_decision(pg_server_url):
    async with scratch_app(pg_server_url) as app:
        make = app.state.sessionmaker
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
            make() as session,
        ):
            doc = await make_physician(session)
            item = await review.open_item(
                session,
                kind=ReviewKind.exclusion_match,
                physician_id=doc.id,
                subject_key=f"race:{doc.id}",
                evidence={},
                title="race",
            )
            assert item is not None
            await session.commit()
            heads = [await ops_headers(client, session, app.state.settings) for _ in range(2)]
            await session.commit()
            answers = await asyncio.gather(
                *(
                    client.post(
                        f"/v1/review-items/{item.id}/decision",
                        json={"decision": decision, "reason": f"{decision} it"},
                        headers=h,
                    )
                    for h, decision in zip(heads, ("approve", "reject"), strict=True)
                )
            )
            assert sorted(a.status_code for a in answers) == [200, 409]
            row = await session.scalar(
                select(ReviewItem)
                .where(ReviewItem.id == item.id)
                .execution_options(populate_existing=True)
            )
            assert row is not None
            winner = next(a for a in answers if a.status_code == 200).json()
            assert row.status == winner["status"]
