"""The procrastinate app every domain's `jobs.py` registers its tasks on.

The module-level connector is procrastinate's in-memory one, which tests inspect; the server's
lifespan and `mdmatch worker` swap in the real psycopg connector with `replace_connector` before
anything is deferred. Defer after the request's commit, never before: procrastinate uses its own
connection, so a job deferred inside an open transaction could run before its data is visible.
"""

from __future__ import annotations

import procrastinate
from procrastinate.testing import InMemoryConnector

from app.config import Settings

JOB_MODULES = [
    "app.auth.jobs",
    "app.jobs.maintenance",
    "app.physicians.jobs",
    "app.notifications.jobs",
    "app.matching.jobs",
    "app.billing.jobs",
]

queue = procrastinate.App(connector=InMemoryConnector(), import_paths=JOB_MODULES)


def build_connector(settings: Settings) -> procrastinate.PsycopgConnector:
    return procrastinate.PsycopgConnector(
        conninfo=settings.libpq_url,
        kwargs={"application_name": "mdmatch-queue"},
        min_size=1,
        max_size=4,
    )
