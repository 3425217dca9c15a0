"""Races on real, committed data: the last two parties signing at the same moment execute the
document once (one seal, one execution); two refreshes of one engagement at once make a new document
once."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import func, select

from app.credentials.storage import ObjectStore
from app.documents import jobs
from app.documents.models import ComplianceDocument, DocumentEvent, GenerationReason
from app.jobs.runtime import get_runtime
from tests.conftest import emulator_settings
from tests.documents.helpers import add_np, documents_of, signature, texas_two_nps
from tests.live import scratch_app

pytestmark = pytest.mark.live_sessions


async def count_events(session, document_id: str, action: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(DocumentEvent)
            .where(
                DocumentEvent.document_id == uuid.UUID(document_id),
                DocumentEvent.action == action,
            )
        )
    )


@pytest.mark.parametrize("round_", range(2))
async def test_the_last_two_signatures_at_once_execute_the_document_once(
    pg_server_url, stripe_url, store: ObjectStore, round_
):
    async with scratch_app(pg_server_url, **emulator_settings(stripe_url)) as app:
        app.state.object_store = store
        get_runtime().object_store = store
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://test") as client,
                app.state.sessionmaker() as session,
            ):
                texas = await texas_two_nps(client, session, app.state.settings)
                await session.commit()
                listing = await documents_of(client, texas.admin, texas.id)
                [mda] = [
                    d
                    for d in listing["documents"]
                    if d["template_key"] == "medical_director_agreement"
                ]
                assert {s["role"] for s in mda["signers"]} == {"clinic", "director"}
                answers = await asyncio.gather(
                    client.post(
                        f"/v1/documents/{mda['id']}/sign",
                        json=signature(mda, "Dana Reyes"),
                        headers=texas.admin,
                    ),
                    client.post(
                        f"/v1/documents/{mda['id']}/sign",
                        json=signature(mda, "Dr Alvarez"),
                        headers=texas.doctor,
                    ),
                )
                assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
                statuses = sorted(a.json()["status"] for a in answers)
                assert statuses == ["awaiting_signatures", "executed"]
                await session.commit()
                assert await count_events(session, mda["id"], "executed") == 1
                assert await count_events(session, mda["id"], "sealed") == 1
                assert await count_events(session, mda["id"], "signed") == 2
                row = await session.get(ComplianceDocument, uuid.UUID(mda["id"]))
                assert row is not None
                assert row.status == "executed"
                assert row.sealed_object_key is not None
        finally:
            get_runtime().object_store = None


async def test_two_refreshes_of_one_engagement_at_once_make_its_documents_once(
    pg_server_url, stripe_url, store: ObjectStore
):
    async with scratch_app(pg_server_url, **emulator_settings(stripe_url)) as app:
        app.state.object_store = store
        get_runtime().object_store = store
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with (
                httpx.AsyncClient(transport=transport, base_url="http://test") as client,
                app.state.sessionmaker() as session,
            ):
                texas = await texas_two_nps(client, session, app.state.settings)
                await session.commit()
                first = await documents_of(client, texas.admin, texas.id)
                await add_np(
                    client,
                    texas.admin,
                    texas.clinic,
                    first_name="Ana",
                    last_name="Cruz",
                    license_number="AP34567",
                )
                # Two refreshes for the roster edit at once, each in its own transaction: the
                # engagement lock orders them, so the new agreement is made once.
                made = await asyncio.gather(*(_refresh(app, uuid.UUID(texas.id)) for _ in range(2)))
                assert sorted(made) == [0, 1]
                total = await session.scalar(
                    select(func.count())
                    .select_from(ComplianceDocument)
                    .where(ComplianceDocument.engagement_id == uuid.UUID(texas.id))
                )
                assert total == len(first["documents"]) + 1
        finally:
            get_runtime().object_store = None


async def _refresh(app, engagement_id: uuid.UUID) -> int:
    async with app.state.sessionmaker() as session:
        refresh = await jobs.refresh_and_announce(
            session, app.state.settings, engagement_id, GenerationReason.roster_changed
        )
        await session.commit()
    return len(refresh.generated)
