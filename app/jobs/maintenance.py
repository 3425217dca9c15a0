"""Periodic upkeep: expired idempotency keys, stalled jobs (a worker killed mid-job), old jobs."""

from __future__ import annotations

import structlog

from app.jobs.queue import queue
from app.jobs.runtime import get_runtime
from app.kit.idempotency import purge_expired_keys

log = structlog.get_logger(__name__)

# Jobs whose worker has sent no heartbeat for this long are considered abandoned.
STALLED_AFTER_SECONDS = 120


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
    stalled = await queue.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=STALLED_AFTER_SECONDS
    )
    count = 0
    for job in stalled:
        await queue.job_manager.retry_job(job)
        count += 1
    if count:
        log.warning("stalled_jobs_retried", count=count)
    return count


@queue.periodic(cron="42 3 * * *", periodic_id="remove-old-jobs")
@queue.task(name="maintenance.remove_old_jobs", queueing_lock="remove-old-jobs")
async def remove_old_jobs(timestamp: int) -> None:
    # Finished jobs are kept a week for inspection, failed ones a month.
    await queue.job_manager.delete_old_jobs(nb_hours=24 * 7, include_failed=False)
    await queue.job_manager.delete_old_jobs(nb_hours=24 * 30, include_failed=True)
