"""Test harness on a real PostgreSQL.

The server is TEST_DATABASE_URL's when set, else an embedded one (pgserver, data under
var/pg-test). The session creates its own database `mdmatch_test_<random>`, builds it with
`alembic upgrade head`, and drops it at the end. Each test runs inside one connection-level
transaction that is rolled back; the app's sessions join it with savepoints, so the routers'
commits are real commits of savepoints and still vanish after the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
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


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    # A run under a pinned clock keeps a server of its own: joining one started on the real
    # clock would give the database a different "now" from the app's.
    folder = os.environ.get("TEST_EMBEDDED_PG_DIR") or str(ROOT / "var" / "pg-test")
    with embedded_server(Path(folder)) as url:
        yield url


def create_database(server_url: str, name: str) -> str:
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_database(server_url: str, *, migrate: bool = True) -> Iterator[str]:
    """A database of a test's own (migration round trips, CLI and live-server tests)."""
    name = f"mdmatch_test_{secrets.token_hex(6)}"
    url = create_database(server_url, name)
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        drop_database(server_url, name)


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
