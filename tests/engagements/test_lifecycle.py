"""The engagement's life in one place: the allowed moves, the events each change writes (in the
caller's transaction, with one queued job per subscriber), claims that make a redelivered event
do nothing twice, and the hand-offs lower domains make to engagements by name."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import timedelta
from typing import get_args

import httpx
import pytest
from sqlalchemy import select, text

from app.audit.models import AuditEntry
from app.billing import sync
from app.engagements import events, lifecycle, subscribers
from app.engagements.events import EngagementEvent, EventKind
from app.engagements.lifecycle import (
    ALLOWED,
    DIRECTOR_MOVES,
    DirectorMoveNotAllowed,
    DirectorState,
    EngagementTransitionNotAllowed,
    director_state,
)
from app.engagements.models import (
    DepartureReason,
    Engagement,
    EngagementDirector,
    EngagementStatus,
)
from app.jobs.queue import JOB_MODULES, queue
from app.kit.clock import today, utcnow
from app.physicians.handoff import Reason
from tests.billing.helpers import confirmed_engagement, subscribed
from tests.live import scratch_app
from tests.matching.helpers import make_physician

S = EngagementStatus
PROBE = "tests.lifecycle_probe"


@pytest.fixture
def probe(monkeypatch):
    """A subscriber of every kind, so the jobs each event queues can be counted."""
    monkeypatch.setitem(subscribers.SUBSCRIBERS, PROBE, subscribers.ALL)


async def _events(session, engagement_id: str) -> list[EngagementEvent]:
    return list(
        await session.scalars(
            select(EngagementEvent)
            .where(EngagementEvent.engagement_id == uuid.UUID(engagement_id))
            .order_by(EngagementEvent.seq)
            .execution_options(populate_existing=True)
        )
    )


async def _queued(session, task: str, event_ids: list[uuid.UUID]) -> int:
    return int(
        await session.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t "
                "AND (args->>'event_id')::uuid = ANY(:ids)"
            ),
            {"t": task, "ids": event_ids},
        )
    )


def test_the_status_table_covers_every_status_and_canceled_is_terminal():
    assert set(ALLOWED) == set(EngagementStatus)
    assert ALLOWED[S.canceled] == frozenset()
    # Nothing goes back to waiting for the first payment, and every live status may end.
    for current, targets in ALLOWED.items():
        assert S.pending_payment not in targets
        if current != S.canceled:
            assert S.canceled in targets
    assert set(lifecycle.STATUS_EVENT) == set(EngagementStatus) - {lifecycle.INITIAL}
    assert DIRECTOR_MOVES[DirectorState.ended] == frozenset()


def test_a_directors_state_is_read_from_its_row():
    row = EngagementDirector(role="primary", ends_on=None, ended_at=None)
    assert director_state(row) == DirectorState.overseeing
    row.role = "backup"
    assert director_state(row) == DirectorState.standby
    row.ends_on = today()
    assert director_state(row) == DirectorState.leaving
    row.ended_at = utcnow()
    assert director_state(row) == DirectorState.ended


async def test_confirm_pay_resign_and_cancel_each_write_their_event_and_queue_subscribers(
    client, session, settings, emulator, probe
):
    engaged, paid = await subscribed(client, session, settings, emulator)
    assert paid["status"] == "active"
    rows = await _events(session, engaged.id)
    assert [e.kind for e in rows] == ["engagement.confirmed", "engagement.activated"]
    confirmed, activated = rows
    assert confirmed.clinic_id == uuid.UUID(engaged.clinic["id"])
    assert confirmed.actor_id is not None  # the clinic admin who confirmed
    assert confirmed.payload["status"] == "pending_payment"
    [director] = confirmed.payload["directors"]
    assert director["physician_id"] == str(engaged.physician.id)
    assert director["states"] == ["TX"]
    assert activated.payload == {"from": "pending_payment", "to": "active", "reason": "subscribe"}

    leaving_on = today() + timedelta(days=settings.resignation_notice_days)
    resigned = await client.post(
        f"/v1/engagements/{engaged.id}/resign",
        json={"reason": "relocating", "effective_on": str(leaving_on)},
        headers=engaged.doctor,
    )
    assert resigned.status_code == 200, resigned.text
    canceled = await client.post(
        f"/v1/engagements/{engaged.id}/cancel",
        json={"at_period_end": False},
        headers=engaged.admin,
    )
    assert canceled.json()["status"] == "canceled"

    rows = await _events(session, engaged.id)
    kinds = [e.kind for e in rows]
    assert kinds == [
        "engagement.confirmed",
        "engagement.activated",
        "director.leaving",
        "engagement.canceled",
        "director.ended",
    ]
    leaving = rows[2].payload
    assert (leaving["ends_on"], leaving["reason"]) == (str(leaving_on), "resigned")
    assert rows[3].payload["from"] == "active"
    assert rows[4].payload["reason"] == "engagement_canceled"
    # Ordered as they happened, and one job per subscriber per event.
    assert [e.seq for e in rows] == sorted(e.seq for e in rows)
    assert await _queued(session, PROBE, [e.id for e in rows]) == len(rows)


async def test_an_event_exists_only_if_the_change_commits(session, settings, client, probe):
    engaged = await confirmed_engagement(client, session, settings)
    engagement = await session.get(Engagement, uuid.UUID(engaged.id))
    assert engagement is not None
    before = len(await _events(session, engaged.id))
    async with session.begin_nested() as savepoint:
        event = await events.record(
            session,
            engagement_id=engagement.id,
            clinic_id=engagement.clinic_id,
            kind=EventKind.scope_changed,
            payload={"probe": True},
        )
        assert await _queued(session, PROBE, [event.id]) == 1
        await savepoint.rollback()
    assert len(await _events(session, engaged.id)) == before
    assert await _queued(session, PROBE, [event.id]) == 0


async def test_a_move_the_table_does_not_allow_is_refused(session, settings, client):
    engaged = await confirmed_engagement(client, session, settings)
    engagement = await session.get(Engagement, uuid.UUID(engaged.id))
    assert engagement is not None
    assert await lifecycle.move(session, engagement, S.pending_payment, reason="x") is None
    moved = await lifecycle.move(session, engagement, S.canceled, reason="test")
    assert moved is not None
    assert moved.after == "canceled"
    assert all(d.ended_at is not None for d in engagement.directors)
    with pytest.raises(EngagementTransitionNotAllowed):
        await lifecycle.move(session, engagement, S.active, reason="revive")
    with pytest.raises(DirectorMoveNotAllowed):
        await lifecycle.set_last_day(
            session, engagement, engagement.directors[0], today(), reason="after the end"
        )
    assert engagement.status == "canceled"


async def test_a_redelivered_event_is_claimed_once(session, settings, client):
    engaged = await confirmed_engagement(client, session, settings)
    [event] = await _events(session, engaged.id)
    assert await events.claim(session, event.id, "a") is True
    assert await events.claim(session, event.id, "a") is False
    assert await events.claim(session, event.id, "b") is True


@pytest.mark.live_sessions
async def test_two_deliveries_of_one_event_at_once_claim_it_once(pg_server_url):
    # A job delivered twice (a retry racing a stalled worker's run) in two transactions on
    # committed data: the unique claim lets exactly one through.
    async with scratch_app(pg_server_url) as app:
        make = app.state.sessionmaker
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
            make() as session,
        ):
            doc = await make_physician(session)
            await session.commit()
            engaged = await confirmed_engagement(client, session, app.state.settings, physician=doc)
            [event] = await _events(session, engaged.id)
        barrier = asyncio.Barrier(2)

        async def deliver() -> bool:
            async with make() as session:
                await barrier.wait()
                claimed = await events.claim(session, event.id, "race")
                await asyncio.sleep(0.05)
                await session.commit()
                return claimed

        assert sorted(await asyncio.gather(deliver(), deliver())) == [False, True]


def test_subscribers_are_registered_jobs_and_filter_by_kind(monkeypatch):
    for module in JOB_MODULES:
        __import__(module)
    for name in subscribers.SUBSCRIBERS:
        assert name in queue.tasks, f"{name} is not a registered job"
    monkeypatch.setitem(
        subscribers.SUBSCRIBERS, "x.only_cancel", frozenset({"engagement.canceled"})
    )
    assert "x.only_cancel" in subscribers.subscribers_of("engagement.canceled")
    assert "x.only_cancel" not in subscribers.subscribers_of("engagement.activated")


@pytest.mark.parametrize(
    "entry",
    [
        "import app.main",
        "from app.jobs.queue import JOB_MODULES\n"
        "import importlib\n"
        "for m in JOB_MODULES: importlib.import_module(m)",
    ],
    ids=["api", "worker"],
)
def test_every_process_registers_what_lower_domains_hand_to_engagements(entry):
    check = (
        entry + "\nfrom app.kit import handlers\n"
        "from app.matching.handoff import NAMES\n"
        "from app.physicians.handoff import CANNOT_OVERSEE\n"
        "missing = [n for n in (*NAMES, CANNOT_OVERSEE) if not handlers.registered(n)]\n"
        "assert not missing, missing\n"
    )
    done = subprocess.run(  # noqa: S603 (our own interpreter and code)
        [sys.executable, "-c", check], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


async def test_a_scope_change_is_told_as_an_event_with_what_changed(
    client, session, settings, emulator, probe
):
    engaged, paid = await subscribed(client, session, settings, emulator)
    assert paid["status"] == "active"
    changed = await client.post(
        f"/v1/engagements/{engaged.id}/change-scope",
        json={"standing_backup": True},
        headers=engaged.admin,
    )
    assert changed.status_code == 200, changed.text
    rows = await _events(session, engaged.id)
    [scope] = [e for e in rows if e.kind == "engagement.scope_changed"]
    assert scope.payload["after"]["standing_backup"] is True
    assert scope.payload["before"]["standing_backup"] is False
    assert scope.payload["monthly_total_cents"] > paid["quote"]["monthly_total_cents"]
    assert scope.actor_id is not None
    assert await _queued(session, PROBE, [scope.id]) == 1


async def test_dates_that_move_without_a_change_of_state_are_rescheduled_events(
    session, settings, client, probe
):
    engaged = await confirmed_engagement(client, session, settings)
    engagement = await session.get(Engagement, uuid.UUID(engaged.id))
    assert engagement is not None
    [director] = engagement.directors
    with pytest.raises(DirectorMoveNotAllowed):
        # A last day where there was none is a move to leaving, not a reschedule.
        await lifecycle.reschedule(session, engagement, director, ends_on=today(), reason="x")
    starts = today() + timedelta(days=3)
    await lifecycle.reschedule(session, engagement, director, starts_on=starts, reason="moved")
    assert director_state(director) == DirectorState.overseeing
    last = (await _events(session, engaged.id))[-1]
    assert last.kind == "director.rescheduled"
    assert (last.payload["starts_on"], last.payload["reason"]) == (str(starts), "moved")
    assert await _queued(session, PROBE, [last.id]) == 1


def test_the_reasons_physicians_hand_over_are_departure_reasons():
    assert set(get_args(Reason)) <= {r.value for r in DepartureReason}


async def test_a_stripe_status_the_engagement_cannot_go_back_to_is_audited_not_applied(
    client, session, settings, emulator
):
    engaged, paid = await subscribed(client, session, settings, emulator)
    assert paid["status"] == "active"
    engagement = await session.get(Engagement, uuid.UUID(engaged.id))
    assert engagement is not None
    before = len(await _events(session, engaged.id))
    await sync._transition(session, engagement, "pending_payment", reason="stripe")
    assert engagement.status == "active"
    assert len(await _events(session, engaged.id)) == before
    audit = await session.scalar(
        select(AuditEntry).where(
            AuditEntry.object_id == str(engagement.id),
            AuditEntry.action == "engagement.stripe_status_not_applied",
        )
    )
    assert audit is not None
    assert audit.after["would_be"] == "pending_payment"
