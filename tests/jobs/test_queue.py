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


async def test_purge_job_runs_against_the_database(bound_app):
    assert await maintenance.purge_idempotency_keys(timestamp=0) >= 0


async def test_stalled_jobs_are_retried(bound_app):
    # The in-memory connector has no stalled jobs: the task runs and reports zero.
    assert await maintenance.retry_stalled_jobs(timestamp=0) == 0
