"""Test harness on a real PostgreSQL.

The server is TEST_DATABASE_URL's when set, else an embedded one (pgserver, data under
var/pg-test). The session creates its own database `mdmatch_test_<random>`, copied from a
database built once per run with `alembic upgrade head` (the run's migrated template), and drops
it at the end. Each test runs inside one connection-level transaction that is rolled back; the
app's sessions join it with savepoints, so the routers' commits are real commits of savepoints
and still vanish after the test.

Under pytest-xdist (`-n`, on by default: pyproject's addopts) each worker is a session of its
own: its own database, Stripe emulator, S3 server and app. The controller starts (or joins) the
embedded server once for the whole run and names the migrated template; docs/testing.md has the
details and the scheduling rules (`XDIST_GROUPS` below).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import secrets
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from app.config import Settings, libpq_url
from app.credentials.documents import DocumentConfig
from app.credentials.documents_router import document_config
from app.credentials.storage import ObjectStore
from app.db import create_engine, create_sessionmaker
from app.devtools.embedded_postgres import embedded_server, with_database
from app.devtools.nppes import NppesStandIn
from app.devtools.object_store import (
    LOCAL_ACCESS_KEY_ID,
    LOCAL_SECRET_ACCESS_KEY,
    create_bucket,
    object_store,
)
from app.devtools.stripe_emulator import (
    EMULATOR_SECRET_KEY,
    EMULATOR_WEBHOOK_SECRET,
    free_port,
    stripe_emulator,
)
from app.jobs.queue import queue
from app.jobs.runtime import JobRuntime, configure_runtime
from app.kit.mailer import MemoryEmailSender
from app.main import AppOptions, create_app
from app.migrate import upgrade
from app.seed import seed_reference_data
from tests.physicians.credentialing import Credentialing

ROOT = Path(__file__).resolve().parents[1]


# --- the PostgreSQL server of the run, its migrated template, and the xdist controller --------

# Set in xdist workers by the controller (`_XdistController.pytest_configure_node`).
WORKER_SERVER_URL = "mdmatch_pg_server_url"
WORKER_TEMPLATE = "mdmatch_template"


def embedded_folder() -> Path:
    # A run under a pinned clock keeps a server of its own: joining one started on the real
    # clock would give the database a different "now" from the app's.
    return Path(os.environ.get("TEST_EMBEDDED_PG_DIR") or str(ROOT / "var" / "pg-test"))


def create_database(server_url: str, name: str, *, template: str | None = None) -> str:
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class MigratedTemplate:
    """A database of the run built once with `alembic upgrade head`, which migrated scratch
    databases copy (CREATE DATABASE ... TEMPLATE, a fraction of a second) instead of running
    every migration again (seconds each; the run makes about twenty). Nobody connects to it
    but the build. Built on first use by whichever process of the run gets there first (xdist
    workers take turns on a file lock, so it is built once); dropped at the end of the run by
    the process that named it. The migrations themselves stay tested: the template is their
    output, tests/test_migrations.py runs them down and up, and `mdmatch serve` tests migrate
    on start-up."""

    def __init__(self, server_url: str, name: str) -> None:
        self.server_url = server_url
        self.name = name
        self.lock_path = Path(tempfile.gettempdir()) / f"{name}.lock"
        self._built = False

    def copy(self, name: str) -> str:
        self._build_once()
        return create_database(self.server_url, name, template=self.name)

    def _build_once(self) -> None:
        if self._built:
            return
        with self.lock_path.open("a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            lock.seek(0)
            if lock.read() != "built":
                # A build cut short (e.g. by a failed migration) leaves no marker: start over.
                drop_database(self.server_url, self.name)
                upgrade(create_database(self.server_url, self.name))
                lock.seek(0)
                lock.truncate()
                lock.write("built")
                lock.flush()
        self._built = True

    def drop(self) -> None:
        drop_database(self.server_url, self.name)
        self.lock_path.unlink(missing_ok=True)


_templates: dict[str, MigratedTemplate] = {}


def migrated_template(server_url: str) -> MigratedTemplate:
    """The run's template on `server_url` (one named here when the controller named none)."""
    if server_url not in _templates:
        _templates[server_url] = MigratedTemplate(
            server_url, f"mdmatch_template_{secrets.token_hex(6)}"
        )
    return _templates[server_url]


@pytest.fixture(scope="session")
def pg_server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    workerinput: dict[str, Any] | None = getattr(request.config, "workerinput", None)
    if workerinput and WORKER_SERVER_URL in workerinput:
        # An xdist worker: the controller holds the server and drops the template.
        url = workerinput[WORKER_SERVER_URL]
        _templates.setdefault(url, MigratedTemplate(url, workerinput[WORKER_TEMPLATE]))
        yield url
        return
    with contextlib.ExitStack() as stack:
        url = os.environ.get("TEST_DATABASE_URL") or stack.enter_context(
            embedded_server(embedded_folder())
        )
        try:
            yield url
        finally:
            if url in _templates:
                _templates.pop(url).drop()


@contextlib.contextmanager
def scratch_database(server_url: str, *, migrate: bool = True) -> Iterator[str]:
    """A database of a test's own (migration round trips, CLI and live-server tests); migrated:
    a copy of the run's migrated template, at head as `alembic upgrade head` leaves it."""
    name = f"mdmatch_test_{secrets.token_hex(6)}"
    make = migrated_template(server_url).copy if migrate else partial(create_database, server_url)
    url = make(name)
    try:
        yield url
    finally:
        drop_database(server_url, name)


class _XdistController:
    """In the xdist controller: the embedded server started (or joined) once for the whole run,
    ahead of the workers (they would otherwise race to start it, and the first to finish would
    stop it under the other), and the run's template named, both handed to every worker."""

    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()
        self.template: MigratedTemplate | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        url = os.environ.get("TEST_DATABASE_URL") or self.stack.enter_context(
            embedded_server(embedded_folder())
        )
        self.template = migrated_template(url)

    def pytest_configure_node(self, node: Any) -> None:
        assert self.template is not None
        node.workerinput[WORKER_SERVER_URL] = self.template.server_url
        node.workerinput[WORKER_TEMPLATE] = self.template.name

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # The workers have finished (and closed their connections) by now.
        with self.stack:
            if self.template is not None:
                self.template.drop()


def pytest_configure(config: pytest.Config) -> None:
    distributed = getattr(config.option, "dist", "no") != "no" and not config.option.collectonly
    if distributed and not hasattr(config, "workerinput"):
        config.pluginmanager.register(_XdistController(), "mdmatch-xdist-controller")


# Tests that xdist keeps together on one worker (--dist loadgroup), by file or by test id:
# - the two that start heavy processes of their own (a PostgreSQL server; Chromium), so that two
#   such never run at once on a 2-CPU machine;
# - the ones that use the Redis on 127.0.0.1:6379, which every worker shares: on one worker they
#   never see another's rate-limit keys.
XDIST_GROUPS = {
    "tests/test_fault_postgres_restart.py": "own-processes",
    "tests/test_docs_offline.py": "own-processes",
    "tests/kit/test_ratelimit_two_processes.py": "redis",
    "tests/kit/test_ratelimit_and_pagination.py::"
    "test_redis_storage_shares_one_budget_across_limiters": "redis",
}
WIDE_SCOPES = ("module", "class", "package")


def uses_wide_fixture(item: pytest.Item) -> bool:
    fixtureinfo = getattr(item, "_fixtureinfo", None)
    definitions = fixtureinfo.name2fixturedefs.values() if fixtureinfo else ()
    return any(d.scope in WIDE_SCOPES for defs in definitions for d in defs)


def makes_own_databases(item: pytest.Item) -> bool:
    """Whether the test, or a fixture of its other than the session's `database_url`, asks for
    the server itself: scratch databases, live `mdmatch serve` processes, CLI runs (the slow
    tests)."""
    fixtureinfo = getattr(item, "_fixtureinfo", None)
    if fixtureinfo is None:
        return False
    if "pg_server_url" in fixtureinfo.argnames:
        return True
    return any(
        "pg_server_url" in d.argnames and d.argname != "database_url"
        for defs in fixtureinfo.name2fixturedefs.values()
        for d in defs
    )


def set_nodeid(item: pytest.Item, nodeid: str) -> None:
    if hasattr(item, "_id"):  # pytest 9 keeps a structured id
        from _pytest.nodeid import NodeId

        item._id = NodeId.parse(nodeid)
    else:
        item._nodeid = nodeid  # type: ignore[attr-defined,unused-ignore]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups for --dist loadgroup (tests without one go to any worker, one by one): an
    `xdist_group` mark's; those of XDIST_GROUPS; and every test of a file where any test uses a
    module- or class-scoped fixture (a live server, a scratch app): the fixture is set up once,
    on one worker, and the file's tests run in file order there (tests/test_api_fuzz.py's last
    test counts what the ones before it fuzzed).

    The group is put at the end of the test's id (`id@group`), where xdist's scheduler reads it.
    xdist (3.8) does that itself by setting `item._nodeid`, which pytest 9 no longer reads (on an
    older pytest it appends a marked test's group a second time: the scheduler reads the last).
    Tests that share an id get ids of their own first: schemathesis gives its
    test per operation the function's id (the operation is only in the name), and xdist keys
    tests by id, so it would run only the first of them. Last, the slow tests go first."""
    if not getattr(config.option, "loadgroup", False):  # set in xdist's workers
        return
    ids = Counter(item.nodeid for item in items)
    whole_files = {item.nodeid.split("::")[0] for item in items if uses_wide_fixture(item)}
    for item in items:
        nodeid = item.nodeid
        if ids[nodeid] > 1 and item.parent is not None:
            nodeid = f"{item.parent.nodeid}::{item.name}"
        path = nodeid.split("::")[0]
        mark = item.get_closest_marker("xdist_group")
        group = (
            (mark and str(mark.args[0] if mark.args else mark.kwargs.get("name", "default")))
            or XDIST_GROUPS.get(nodeid)
            or XDIST_GROUPS.get(path)
            or (path if path in whole_files else None)
        )
        if group:
            nodeid = f"{nodeid}@{group}"
        if nodeid != item.nodeid:
            set_nodeid(item, nodeid)
    if len({item.nodeid for item in items}) != len(items):
        raise pytest.UsageError("tests with the same id: xdist would run only one of each")
    # The slow ones first (groups, tests with servers or databases of their own; each in file
    # order): xdist hands out tests in this order, and a slow one last would keep one worker busy
    # long after the other ran out of tests.
    items.sort(key=lambda item: "@" not in item.nodeid and not makes_own_databases(item))


async def seed_reference(url: str) -> None:
    engine = create_engine(make_settings(url))
    try:
        async with create_sessionmaker(engine)() as session:
            await seed_reference_data(session)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def database_url(pg_server_url: str) -> Iterator[str]:
    """The session's database: migrated, with the reference data every environment has."""
    with scratch_database(pg_server_url) as url:
        asyncio.run(seed_reference(url))
        yield url


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "jwt_secret": "test-jwt-secret-" + "x" * 32,
        "redis_url": None,
        "email_backend": "log",
        "log_json": True,
        "cors_origins": [],
        "stripe_secret_key": None,
        # Tests share one process and roll their data back: no cross-test reference cache
        # (tests/pricing covers the cache on its own).
        "reference_cache_seconds": 0,
    }
    values.update(overrides)
    kwargs: dict[str, Any] = {"_env_file": None, **values}
    return Settings(**kwargs)


@pytest.fixture(scope="session")
def stripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Stripe emulator (localstripe) as a real process on a free loopback port, with a
    state file of its own; stopped at the end of the session."""
    state = tmp_path_factory.mktemp("localstripe") / "state.pickle"
    with stripe_emulator(free_port(), state) as url:
        yield url


def emulator_settings(stripe_url: str) -> dict[str, object]:
    return {
        "stripe_secret_key": EMULATOR_SECRET_KEY,
        "stripe_webhook_secret": EMULATOR_WEBHOOK_SECRET,
        "stripe_api_base": stripe_url,
        "stripe_backend": "localstripe",
    }


@pytest.fixture(scope="session")
def settings(database_url: str, stripe_url: str) -> Settings:
    return make_settings(database_url, **emulator_settings(stripe_url))


@pytest.fixture(scope="session")
def outbox() -> MemoryEmailSender:
    return MemoryEmailSender()


@pytest.fixture(scope="session")
async def app(settings: Settings, outbox: MemoryEmailSender) -> AsyncIterator[FastAPI]:
    application = create_app(settings, AppOptions(real_queue=False, email_sender=outbox))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def connection(app: FastAPI) -> AsyncIterator[AsyncConnection]:
    async with app.state.engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh_globals(outbox: MemoryEmailSender) -> None:
    outbox.outbox.clear()
    queue.connector.reset()  # type: ignore[attr-defined]


@pytest.fixture
async def bound_app(
    app: FastAPI,
    request: pytest.FixtureRequest,
    sessionmaker: async_sessionmaker[AsyncSession],
    outbox: MemoryEmailSender,
) -> AsyncIterator[FastAPI]:
    """The app with a fresh rate-limit budget and, unless the test is marked `live_sessions`,
    every session (requests and jobs) bound to the test's rolled-back transaction."""
    await app.state.rate_limiter.reset()
    original = app.state.sessionmaker
    store = app.state.idempotency_store
    original_store_sm = store.sessionmaker
    if "live_sessions" not in request.keywords:
        app.state.sessionmaker = sessionmaker
        store.sessionmaker = sessionmaker
    configure_runtime(
        JobRuntime(
            settings=app.state.settings,
            sessionmaker=app.state.sessionmaker,
            email_sender=outbox,
            stripe=app.state.stripe,
        )
    )
    try:
        yield app
    finally:
        app.state.sessionmaker = original
        store.sessionmaker = original_store_sm


@pytest.fixture
async def client(bound_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=bound_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


# --- an S3-compatible object store (moto's S3 server) as a real process, for documents ----

TEST_BUCKET = "mdmatch-test-documents"
# Small, so the size limit is cheap to cross (the app's own default is 10 MB).
TEST_MAX_BYTES = 64 * 1024
TEST_URL_SECONDS = 60


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with object_store(free_port()) as endpoint:
        create_bucket(endpoint, TEST_BUCKET)
        yield endpoint


@pytest.fixture(scope="session")
def store(s3_endpoint: str) -> ObjectStore:
    return ObjectStore(
        bucket=TEST_BUCKET,
        region="us-east-1",
        endpoint_url=s3_endpoint,
        access_key_id=LOCAL_ACCESS_KEY_ID,
        secret_access_key=LOCAL_SECRET_ACCESS_KEY,
    )


@pytest.fixture
def documents_config(bound_app: FastAPI, store: ObjectStore) -> Iterator[DocumentConfig]:
    """The app's documents go to the test store, with the test limits, for this test."""
    config = DocumentConfig(store=store, max_bytes=TEST_MAX_BYTES, url_seconds=TEST_URL_SECONDS)
    bound_app.dependency_overrides[document_config] = lambda: config
    try:
        yield config
    finally:
        bound_app.dependency_overrides.pop(document_config, None)


# --- physicians: the NPPES registry faked at the httpx transport, and credentialing -----------


@pytest.fixture
async def nppes(app: FastAPI) -> AsyncIterator[NppesStandIn]:
    """The app's NPPES client pointed at a faithful fake of the registry."""
    fake = NppesStandIn()
    original = app.state.nppes
    app.state.nppes = fake.client()
    try:
        yield fake
    finally:
        await app.state.nppes.aclose()
        app.state.nppes = original


@pytest.fixture
def credentialing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    nppes: NppesStandIn,
    documents_config: DocumentConfig,
) -> Credentialing:
    """Physicians taken through identity verification, board checks and document review."""
    return Credentialing(client, session, settings, nppes, documents_config)
