from __future__ import annotations

from app.jobs import maintenance
from app.jobs.queue import JOB_MODULES, queue


def test_every_job_module_imports_and_registers_its_tasks():
    queue.perform_import_paths()
    names = set(queue.tasks)
    assert {
        "auth.send_password_reset",
        "maintenance.purge_idempotency_keys",
        "maintenance.retry_stalled_jobs",
        "maintenance.remove_old_jobs",
    } <= names
    assert JOB_MODULES


def test_periodic_upkeep_is_scheduled():
    periodic = {t.periodic_id for t in queue.periodic_registry.periodic_tasks.values()}
    assert {"purge-idempotency-keys", "retry-stalled-jobs", "remove-old-jobs"} <= periodic
    assert "case-report-reminders" in periodic
    # Jobs queued by name from another domain (clinics queue engagements' job) exist.
    assert "engagements.recharge_directors" in queue.tasks


async def test_stalled_jobs_are_retried(bound_app):
    """A worker died mid-job (no heartbeat for minutes): the sweep puts its job back in line."""
    from datetime import timedelta

    from procrastinate import utils
    from procrastinate.testing import InMemoryConnector

    from app.auth import jobs

    await jobs.send_password_reset.defer_async(email="someone@example.com")
    manager = queue.job_manager
    worker_id = await manager.register_worker()
    job = await manager.fetch_job(queues=None, worker_id=worker_id)
    assert job is not None
    assert job.id is not None
    connector = queue.connector
    assert isinstance(connector, InMemoryConnector)
    assert await maintenance.retry_stalled_jobs(timestamp=0) == 0  # still heartbeating
    connector.workers[worker_id] = utils.utcnow() - timedelta(minutes=10)
    assert await maintenance.retry_stalled_jobs(timestamp=0) == 1
    assert connector.jobs[job.id]["status"] == "todo"
