"""The task worker killed mid-job: the job runs again and leaves no duplicate offer, notification,
invoice, payout or subscription.

Real processes on committed data: a scratch database, `python -m app.cli worker` (what production
runs), the Stripe emulator. The job is stopped at a known point, deterministically: the test holds
a row lock (`SELECT ... FOR UPDATE`) on a physician the job must reference (a foreign-key check
takes a share lock on it) after it has already written other rows in its transaction. With the
worker's backend waiting on that lock, and holding uncommitted writes, the worker gets SIGKILL.
A second worker then runs `maintenance.retry_stalled_jobs` once the dead worker's heartbeat is
older than `JOB_STALLED_AFTER_SECONDS` (3 s here instead of 120 s, with a 1 s heartbeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.tasks import Task
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.audit.models import AuditEntry
from app.auth.models import User
from app.billing import service as billing
from app.billing.models import Invoice, PayoutEntry, StripeEvent
from app.engagements.models import Engagement
from app.jobs import maintenance
from app.jobs.queue import build_connector, queue
from app.kit.mailer import MemoryEmailSender
from app.main import AppOptions, create_app
from app.matching import jobs as matching_jobs
from app.matching import stats
from app.matching.models import Match, Offer
from app.notifications.models import Notification
from tests.billing.helpers import Emulator, confirmed_engagement, post_event
from tests.clinics.helpers import create_clinic, create_intake
from tests.conftest import ROOT, emulator_settings, make_settings, scratch_database, seed_reference
from tests.factories import user_headers
from tests.matching.helpers import make_physician

pytestmark = pytest.mark.live_sessions

HEARTBEAT_SECONDS = 1
STALLED_AFTER_SECONDS = 3
T = TypeVar("T")


# --- processes and polling -------------------------------------------------------------------


@contextlib.contextmanager
def worker_process(database_url: str, log: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`mdmatch worker` as a child process; killed on the way out whatever happened."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STRIPE_", "JOB_", "DATABASE_", "REDIS_"))
    }
    environ.update(
        ENVIRONMENT="test",
        DATABASE_URL=database_url,
        EMAIL_BACKEND="log",
        LOG_JSON="true",
        JOB_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
        JOB_STALLED_AFTER_SECONDS=str(STALLED_AFTER_SECONDS),
        # A retried job is found by polling (a retry notifies nobody): 5 s by default.
        JOB_POLL_SECONDS="0.5",
        **env,
    )
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--concurrency", "2"],
            env=environ,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str, log: Path, limit: float = 45
) -> T:
    deadline = time.monotonic() + limit
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n--- worker log ---\n{tail(log)}")
        await asyncio.sleep(0.1)


# --- the database, as another session sees it ----------------------------------------------


async def rows(engine: AsyncEngine, sql: str, **params: Any) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


async def jobs_of(engine: AsyncEngine, task: str) -> list[Any]:
    return await rows(
        engine,
        "SELECT id, status, attempts, worker_id FROM procrastinate_jobs "
        "WHERE task_name = :task ORDER BY id",
        task=task,
    )


async def job(engine: AsyncEngine, job_id: int) -> Any:
    [row] = await rows(
        engine, "SELECT id, status, attempts FROM procrastinate_jobs WHERE id = :id", id=job_id
    )
    return row


class RowLock:
    """FOR UPDATE on a physician's row in an open transaction (it conflicts with the FOR KEY
    SHARE that a foreign-key check takes), held until released."""

    def __init__(self, conn: AsyncConnection, pid: int) -> None:
        self.conn, self.pid = conn, pid

    async def release(self) -> None:
        if not self.conn.closed:
            await self.conn.rollback()
            await self.conn.close()


@contextlib.asynccontextmanager
async def row_locked(engine: AsyncEngine, physician_id: uuid.UUID) -> AsyncIterator[RowLock]:
    conn = await engine.connect()
    lock = RowLock(conn, 0)
    try:
        await conn.begin()
        await conn.execute(
            text("SELECT id FROM physicians WHERE id = :id FOR UPDATE"), {"id": physician_id}
        )
        lock.pid = int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        yield lock
    finally:
        await lock.release()


async def blocked_job_backend(engine: AsyncEngine, holder: int) -> tuple[int, set[str]] | None:
    """The backend waiting on the holder's lock, and the tables it has written to in its open
    transaction (RowExclusiveLock is taken by INSERT, UPDATE and DELETE only)."""
    waiting = await rows(
        engine,
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND :holder = ANY(pg_blocking_pids(pid))",
        holder=holder,
    )
    if not waiting:
        return None
    [(pid,)] = waiting
    written = await rows(
        engine,
        "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE l.pid = :pid AND l.mode = 'RowExclusiveLock' AND l.granted AND c.relkind = 'r'",
        pid=pid,
    )
    return pid, {r[0] for r in written}


async def backend_gone(engine: AsyncEngine, pid: int) -> bool:
    return not await rows(engine, "SELECT 1 FROM pg_stat_activity WHERE pid = :pid", pid=pid)


async def worker_stalled(engine: AsyncEngine, worker_id: int | None) -> bool:
    """The dead worker's heartbeat is older than the stalled threshold (or it was pruned)."""
    fresh = await rows(
        engine,
        "SELECT 1 FROM procrastinate_workers WHERE id = :id "
        "AND last_heartbeat >= now() - make_interval(secs => :secs)",
        id=worker_id,
        secs=STALLED_AFTER_SECONDS,
    )
    return not fresh


@contextlib.asynccontextmanager
async def queue_on(database_url: str) -> AsyncIterator[None]:
    """The app's procrastinate queue on the scratch database (to defer as the app does)."""
    with queue.replace_connector(build_connector(make_settings(database_url))):
        async with queue.open_async():
            yield


async def periodic_now(task: Task[Any, Any, Any], engine: AsyncEngine | None = None) -> int:
    """Defer a periodic task as its periodic deferrer does (its locks, a `timestamp`). With
    `engine`, a job the workers' own periodic deferrer queued under the same lock a moment
    before (a run crossing the task's cron time) is the one returned: it does the same work."""
    try:
        return await task.configure(task_kwargs={"timestamp": int(time.time())}).defer_async()
    except AlreadyEnqueued:
        if engine is None:
            raise
        async with engine.connect() as conn:
            queued = await conn.scalar(
                text(
                    "SELECT id FROM procrastinate_jobs WHERE queueing_lock = :lock "
                    "AND status = 'todo' ORDER BY id DESC LIMIT 1"
                ),
                {"lock": task.queueing_lock},
            )
        if queued is None:  # it started meanwhile: queue ours now
            return await task.configure(task_kwargs={"timestamp": int(time.time())}).defer_async()
        return int(queued)


@dataclass
class Killed:
    job: Any  # the job left `doing`
    backend: int  # its transaction's backend, left without a client
    written: set[str]  # the tables that transaction had written


@contextlib.asynccontextmanager
async def killed_mid_job(
    database_url: str, engine: AsyncEngine, task: str, holder: int, log: Path, **env: str
) -> AsyncIterator[Killed]:
    """Start a worker; once the task's job is `doing` and its backend waits on the holder's
    lock with writes of its own, start a second worker beside it (production runs at least two)
    and SIGKILL the first. Yields while the second one runs."""

    async def doing() -> Any:
        found = [j for j in await jobs_of(engine, task) if j.status == "doing"]
        return found[0] if found else None

    with contextlib.ExitStack() as processes:
        first = processes.enter_context(worker_process(database_url, log, **env))
        stuck = await eventually(doing, f"a {task} job to be running", log)
        pid, written = await eventually(
            lambda: blocked_job_backend(engine, holder), f"{task} to wait on the row lock", log
        )
        processes.enter_context(worker_process(database_url, log, **env))
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        yield Killed(stuck, pid, written)


async def retry_stalled(engine: AsyncEngine, stuck: Any, log: Path) -> int:
    """What the periodic `maintenance.retry_stalled_jobs` does every five minutes, deferred
    now (once the dead worker counts as stalled); returns that maintenance job's id."""
    assert (await job(engine, stuck.id)).status == "doing"  # nobody else will ever finish it
    await eventually(
        lambda: worker_stalled(engine, stuck.worker_id),
        "the killed worker's heartbeat to go stale",
        log,
    )
    job_id = await periodic_now(maintenance.retry_stalled_jobs, engine)

    async def ran() -> Any:
        row = await job(engine, job_id)
        return row if row.status in ("succeeded", "failed") else None

    done = await eventually(ran, "retry_stalled_jobs to run", log)
    assert done.status == "succeeded", f"retry_stalled_jobs {done.status}\n{tail(log)}"
    return job_id


async def finished(engine: AsyncEngine, job_id: int, log: Path, limit: float = 45) -> Any:
    async def final() -> Any:
        row = await job(engine, job_id)
        return row if row.status not in ("todo", "doing") else None

    return await eventually(final, f"job {job_id} to finish", log, limit)


# --- the app on a scratch database -----------------------------------------------------------


@pytest.fixture
async def live(pg_server_url: str, request: pytest.FixtureRequest) -> AsyncIterator[FastAPI]:
    """The app on a committed scratch database of this test's own (with the Stripe emulator
    when the test asks for `stripe_url`)."""
    overrides: dict[str, object] = {}
    if "stripe_url" in request.fixturenames:
        overrides = emulator_settings(request.getfixturevalue("stripe_url"))
    database = scratch_database(pg_server_url)
    url = await asyncio.to_thread(database.__enter__)
    try:
        await seed_reference(url)
        app = create_app(
            make_settings(url, **overrides),
            AppOptions(real_queue=False, email_sender=MemoryEmailSender()),
        )
        async with app.router.lifespan_context(app):
            yield app
    finally:
        await asyncio.to_thread(database.__exit__, None, None, None)


@pytest.fixture
async def client(live: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=live, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def refresh_stats(live: FastAPI) -> None:
    """Bring the response statistics up to date, so the worker's periodic recount (deferred
    when it starts) has no physician row to update, locked or not."""
    async with live.state.sessionmaker() as session:
        await stats.refresh_response_stats(session)
        await session.commit()


# --- the offer cascade -----------------------------------------------------------------------


async def test_sweeper_killed_mid_cascade_runs_again_without_duplicate_offers(
    live: FastAPI, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    engine: AsyncEngine = live.state.engine
    url = live.state.settings.database_url
    log = tmp_path / "workers.log"
    async with live.state.sessionmaker() as session:
        doctors = [
            await make_physician(session, aesthetic_years=years, last_name=f"Doc{years}")
            for years in (12, 10, 8, 6, 4)
        ]
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    intake = await create_intake(client, admin, clinic["id"])
    submitted = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    assert submitted.json()["status"] == "matching"
    intake_id = uuid.UUID(intake["id"])

    async def state() -> dict[str, Any]:
        async with live.state.sessionmaker() as session:
            offers = (
                await session.execute(select(Offer).where(Offer.intake_id == intake_id))
            ).all()
            matches = (
                await session.execute(select(Match).where(Match.intake_id == intake_id))
            ).all()
            notes = await session.execute(
                select(Notification.user_id, func.count())
                .where(Notification.kind == "offer.new")
                .group_by(Notification.user_id)
            )
            return {
                "offers": sorted((o.physician_id, o.status) for (o,) in offers),
                "matches": {m.physician_id: m.status for (m,) in matches},
                "offer_notes": dict(notes.all()),
            }

    before = await state()
    first_three = {pid for pid, status in before["offers"]}
    waiting = [d.id for d in doctors if before["matches"][d.id] == "candidate"]
    assert len(first_three) == 3
    assert len(waiting) == 2
    # The three offers are past respond_by: the next sweep expires them and offers the two
    # waiting candidates (fan-out 3), in one transaction per intake.
    async with live.state.sessionmaker() as session:
        await session.execute(
            update(Offer)
            .where(Offer.intake_id == intake_id)
            .values(respond_by=func.now() - text("interval '1 minute'"))
        )
        await session.commit()
    await refresh_stats(live)

    task = matching_jobs.sweep_offers.name
    async with (
        queue_on(url),
        row_locked(engine, waiting[0]) as lock,
        # The worker defers the minute's sweep as it starts (a periodic task) and runs it.
        killed_mid_job(url, engine, task, lock.pid, log) as killed,
    ):
        # The expiries were written and the offer insert waits on the lock: real, uncommitted
        # partial work, now without a client.
        assert {"offers", "matches"} <= killed.written
        # Meanwhile the next minute's sweep is deferred, as the periodic deferrer does; it waits
        # behind the stuck job (same lock). If a deferrer was first, it is there already.
        with contextlib.suppress(AlreadyEnqueued):
            await periodic_now(matching_jobs.sweep_offers)
        await lock.release()
        # The orphaned backend finishes its statement, finds its client gone, and rolls back.
        await eventually(lambda: backend_gone(engine, killed.backend), "the orphan to end", log)
        assert await state() == before  # nothing of the killed attempt was committed
        [queued] = [j for j in await jobs_of(engine, task) if j.status == "todo"]

        await retry_stalled(engine, killed.job, log)
        # Retrying the stuck job would make two waiting sweeps under one queueing lock; the one
        # already waiting does the same work, so the stuck one is closed instead.
        assert (await finished(engine, killed.job.id, log)).status == "failed"
        assert (await finished(engine, queued.id, log)).status == "succeeded"

    after = await state()
    expected_offers = sorted(
        [(pid, "expired") for pid in first_three] + [(pid, "pending") for pid in waiting]
    )
    assert after["offers"] == expected_offers  # one offer per physician, none twice
    assert after["matches"] == {
        **dict.fromkeys(first_three, "expired"),
        **dict.fromkeys(waiting, "offered"),
    }
    users = {d.id: d.user_id for d in doctors}
    assert after["offer_notes"] == {users[d.id]: 1 for d in doctors}
    detail = (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()
    assert detail["status"] == "matching"


# --- a Stripe webhook ------------------------------------------------------------------------


async def test_webhook_job_killed_mid_sync_runs_again_without_duplicate_billing(
    live: FastAPI, client: httpx.AsyncClient, stripe_url: str, tmp_path: Path
) -> None:
    engine: AsyncEngine = live.state.engine
    settings = live.state.settings
    url = settings.database_url
    log = tmp_path / "workers.log"
    emulator = Emulator(stripe_url)
    async with live.state.sessionmaker() as session:
        engaged = await confirmed_engagement(client, session, settings)
    setup = await client.post(f"/v1/engagements/{engaged.id}/payment-method", headers=engaged.admin)
    await emulator.confirm_card(setup.json()["setup_intent_id"])
    engagement_id = uuid.UUID(engaged.id)

    # Subscribe charges the card at Stripe, then its commit is lost (the API process died):
    # Stripe has the paid subscription, our database knows nothing of it. Stripe's webhook
    # is how we learn.
    async with live.state.sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email == engaged.admin_email))
        assert user is not None
        result = await billing.subscribe(session, live.state.stripe, user, engagement_id)
        sub_id = result.engagement.stripe_subscription_id
        await session.rollback()
    assert sub_id is not None
    sub = await emulator.get(f"/v1/subscriptions/{sub_id}")
    assert sub["status"] == "active"
    customer = sub["customer"]
    [event] = [
        e
        for e in await emulator.events_for(customer)
        if e["type"] == "customer.subscription.created"
    ]
    assert (await post_event(client, event)).status_code == 200  # stored, job deferred

    async def state() -> dict[str, Any]:
        async with live.state.sessionmaker() as session:
            engagement = await session.get(Engagement, engagement_id)
            assert engagement is not None
            stored = await session.get(StripeEvent, event["id"])
            assert stored is not None

            async def count(model: Any, *where: Any) -> int:
                return int(
                    await session.scalar(select(func.count()).select_from(model).where(*where)) or 0
                )

            active_notes = await session.execute(
                select(Notification.user_id, func.count())
                .where(
                    Notification.kind == "engagement.active",
                    Notification.data["engagement_id"].astext == engaged.id,
                )
                .group_by(Notification.user_id)
            )
            return {
                "engagement": (
                    engagement.status,
                    engagement.payment_status,
                    engagement.stripe_subscription_id,
                ),
                "invoices": await count(Invoice, Invoice.engagement_id == engagement_id),
                "ledger": await count(PayoutEntry, PayoutEntry.engagement_id == engagement_id),
                "status_audits": await count(
                    AuditEntry,
                    AuditEntry.action == "engagement.status_changed",
                    AuditEntry.object_id == engaged.id,
                ),
                "active_notes": dict(active_notes.all()),
                "event": (stored.processed_at is not None, stored.attempts),
            }

    before = await state()
    assert before["engagement"] == ("pending_payment", None, None)
    await refresh_stats(live)

    async with (
        queue_on(url),
        row_locked(engine, engaged.physician.id) as lock,
        killed_mid_job(
            url, engine, "billing.process_stripe_event", lock.pid, log, **_stripe_env(stripe_url)
        ) as killed,
    ):
        # The invoice was mirrored; the payout insert waits on the lock.
        assert "invoices" in killed.written
        await lock.release()
        await eventually(lambda: backend_gone(engine, killed.backend), "the orphan to end", log)
        assert await state() == before

        await retry_stalled(engine, killed.job, log)
        rerun = await finished(engine, killed.job.id, log)
        # The same job, run a second time (procrastinate counts the killed run as an attempt).
        assert (rerun.status, rerun.attempts) == ("succeeded", 2)

    physician_user = engaged.physician.user_id
    admin_user = await _user_id(live, engaged.admin_email)
    assert await state() == {
        "engagement": ("active", "paid", sub_id),
        "invoices": 1,
        "ledger": 1,  # one director, one month
        "status_audits": 1,
        "active_notes": {admin_user: 1, physician_user: 1},
        "event": (True, 1),
    }
    subs = await emulator.get("/v1/subscriptions", customer=customer, status="all")
    assert [s["id"] for s in subs["data"]] == [sub_id]
    invoices = await emulator.get("/v1/invoices", customer=customer)
    assert [i["status"] for i in invoices["data"]] == ["paid"]


def _stripe_env(stripe_url: str) -> dict[str, str]:
    return {k.upper(): str(v) for k, v in emulator_settings(stripe_url).items()}


async def _user_id(live: FastAPI, email: str) -> uuid.UUID:
    async with live.state.sessionmaker() as session:
        user_id = await session.scalar(select(User.id).where(User.email == email))
    assert user_id is not None
    return user_id
