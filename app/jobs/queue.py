"""The procrastinate app every domain's `jobs.py` registers its tasks on.

The module-level connector is procrastinate's in-memory one, which tests inspect; the server's
lifespan and `mdmatch worker` swap in the real psycopg connector with `replace_connector` before
anything is deferred. Defer after the request's commit, never before: procrastinate uses its own
connection, so a job deferred inside an open transaction could run before its data is visible;
or queue it inside the transaction with `defer_in_transaction`.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any, Unpack

import procrastinate
import structlog
from procrastinate.app import WorkerOptions
from procrastinate.testing import InMemoryConnector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings

JOB_MODULES = [
    "app.auth.jobs",
    "app.clinics.jobs",
    "app.jobs.maintenance",
    "app.physicians.jobs",
    "app.notifications.jobs",
    "app.matching.jobs",
    "app.billing.jobs",
    "app.engagements.jobs",
    "app.operations.jobs",
    "app.webhooks.jobs",
    "app.credentials.jobs",
    "app.documents.jobs",
    "app.documents.filings_jobs",
]

queue = procrastinate.App(connector=InMemoryConnector(), import_paths=JOB_MODULES)

log = structlog.get_logger(__name__)

# Pauses before starting a stopped worker again: doubling from the first, then the last again
# and again while the database stays away.
WORKER_RESTART_DELAYS = (0.5, 1.0, 2.0, 4.0)
# A worker that ran this long before it stopped starts over from the shortest pause.
WORKER_HEALTHY_SECONDS = 60.0


async def defer_in_transaction(
    session: AsyncSession, task_name: str, *, queue_name: str = "default", **args: Any
) -> None:
    """Queue a job inside the caller's transaction (procrastinate's own SQL function): the job
    exists if and only if the caller's writes commit, and it costs no second connection. The
    insert trigger notifies listening workers at commit."""
    await session.execute(
        text(
            "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, NULL, NULL, "
            "CAST(:args AS jsonb), NULL)::procrastinate_job_to_defer_v1])"
        ),
        {"queue": queue_name, "task": task_name, "args": json.dumps(args)},
    )


def worker_options(settings: Settings, **options: Unpack[WorkerOptions]) -> WorkerOptions:
    """What every worker (`mdmatch worker`, the in-process one) shares: its polling interval,
    its heartbeat, and when a silent worker is pruned (its running jobs then count as stalled
    at once), which is the same time `maintenance.retry_stalled_jobs` waits."""
    return {
        "fetch_job_polling_interval": settings.job_poll_seconds,
        "update_heartbeat_interval": settings.job_heartbeat_seconds,
        "stalled_worker_timeout": settings.job_stalled_after_seconds,
        **options,
    }


def build_connector(settings: Settings) -> procrastinate.PsycopgConnector:
    return procrastinate.PsycopgConnector(
        conninfo=settings.libpq_url,
        kwargs={
            "application_name": "mdmatch-queue",
            # libpq counts whole seconds, and at least 2.
            "connect_timeout": max(2, math.ceil(settings.database_connect_timeout_seconds)),
        },
        min_size=1,
        max_size=4,
    )


async def run_worker_until_cancelled(**options: Any) -> None:
    """Run a worker until this task is cancelled, starting it again whenever it stops by itself.

    procrastinate stops a worker for good when PostgreSQL goes away (its listener cannot
    reconnect, or fetching a job fails). The jobs wait in the database, but without this nothing
    would run them again until the process restarts. Cancelling stops the worker gracefully.
    """
    attempt = 0
    while True:
        started = time.monotonic()
        error: str | None = None
        try:
            await queue.run_worker_async(install_signal_handlers=False, **options)
        except Exception as exc:  # any reason to stop: the worker is started again
            error = repr(exc)
        if time.monotonic() - started >= WORKER_HEALTHY_SECONDS:
            attempt = 0
        delay = WORKER_RESTART_DELAYS[min(attempt, len(WORKER_RESTART_DELAYS) - 1)]
        attempt += 1
        log.warning("worker_stopped", error=error, restart_in_seconds=delay)
        await asyncio.sleep(delay)
