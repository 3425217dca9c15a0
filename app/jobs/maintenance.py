"""Periodic upkeep: expired idempotency keys, stalled jobs (a worker killed mid-job), old jobs."""

from __future__ import annotations

import structlog
from procrastinate.exceptions import UniqueViolation
from procrastinate.jobs import Status
from procrastinate.manager import QUEUEING_LOCK_CONSTRAINT

from app.jobs.queue import queue
from app.jobs.runtime import get_runtime
from app.kit.idempotency import purge_expired_keys

log = structlog.get_logger(__name__)


@queue.periodic(cron="17 * * * *", periodic_id="purge-idempotency-keys")
@queue.task(name="maintenance.purge_idempotency_keys", queueing_lock="purge-idempotency-keys")
async def purge_idempotency_keys(timestamp: int) -> int:
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        deleted = await purge_expired_keys(
            session, ttl_seconds=runtime.settings.idempotency_ttl_seconds
        )
        await session.commit()
    log.info("idempotency_keys_purged", deleted=deleted)
    return deleted


@queue.periodic(cron="*/5 * * * *", periodic_id="retry-stalled-jobs")
@queue.task(name="maintenance.retry_stalled_jobs", queueing_lock="retry-stalled-jobs")
async def retry_stalled_jobs(timestamp: int) -> int:
    """Run again the jobs of workers silent for JOB_STALLED_AFTER_SECONDS (killed mid-job:
    their transactions died with them). Returns how many stalled jobs were dealt with."""
    stalled = await queue.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=get_runtime().settings.job_stalled_after_seconds
    )
    retried = superseded = 0
    for job in stalled:
        assert job.id is not None
        try:
            await queue.job_manager.retry_job(job)
            retried += 1
        except UniqueViolation as exc:
            if exc.constraint_name != QUEUEING_LOCK_CONSTRAINT:
                raise
            # A job under the same queueing lock is already waiting (the periodic deferrer
            # queued the next sweep while this one hung; it waits on their shared lock). It does
            # the same work, and a retry would be a second waiting job under one queueing lock,
            # which the queue refuses: close this one instead, which lets the waiting one run.
            await queue.job_manager.finish_job_by_id_async(
                job.id, status=Status.FAILED, delete_job=False
            )
            superseded += 1
            log.warning(
                "stalled_job_superseded",
                job_id=job.id,
                task=job.task_name,
                queueing_lock=job.queueing_lock,
            )
    if retried:
        log.warning("stalled_jobs_retried", count=retried)
    return retried + superseded


@queue.periodic(cron="42 3 * * *", periodic_id="remove-old-jobs")
@queue.task(name="maintenance.remove_old_jobs", queueing_lock="remove-old-jobs")
async def remove_old_jobs(timestamp: int) -> None:
    # Finished jobs are kept a week for inspection, failed ones a month.
    await queue.job_manager.delete_old_jobs(nb_hours=24 * 7, include_failed=False)
    await queue.job_manager.delete_old_jobs(nb_hours=24 * 30, include_failed=True)
