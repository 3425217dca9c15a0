"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import health
from app.account.audit import router as audit_router
from app.account.router import router as account_router
from app.auth.deps import token_caller
from app.auth.router import router as auth_router
from app.billing.router import router as billing_router
from app.billing.stripe_gateway import StripeGateway
from app.catalog.router import router as catalog_router
from app.clinics.router import router as clinics_router
from app.config import Settings, get_settings
from app.credentials.documents_router import router as credential_documents_router
from app.credentials.documents_router import upload_body_limit
from app.credentials.router import router as credentials_router
from app.db import create_engine, create_sessionmaker
from app.documents.filings_router import router as filings_router
from app.documents.router import router as documents_router
from app.engagements.router import confirm_router, intake_router
from app.engagements.router import router as engagements_router
from app.errors import document_problems, install_error_handlers
from app.jobs.queue import build_connector, queue, run_worker_until_cancelled, worker_options
from app.jobs.runtime import JobRuntime, configure_runtime
from app.kit.api_docs import install_api_docs
from app.kit.http_guards import BodyLimitMiddleware, SecurityHeadersMiddleware
from app.kit.idempotency import HEADER as IDEMPOTENCY_KEY
from app.kit.idempotency import IdempotencyStore
from app.kit.mailer import EmailSender, build_email_sender
from app.kit.observability import Metrics, RequestContextMiddleware
from app.kit.openapi import document_headers
from app.kit.ratelimit import RateLimiter
from app.matching.router import router as matching_router
from app.migrate import head_revision
from app.operations.router import router as operations_router
from app.physicians.npi import NppesClient
from app.physicians.router import router as physicians_router
from app.pricing.router import router as pricing_router
from app.webhooks.router import router as webhooks_router

log = structlog.get_logger(__name__)

API_DESCRIPTION = """
Self-serve medical-director matching for med spas and advanced aesthetics clinics: intake,
instant itemized quotes, matching to verified, state-licensed physicians, offers, and billing.

Errors are RFC 9457 `application/problem+json`; `type` ends with a stable slug.
"""


@dataclass
class AppOptions:
    # Use the real (PostgreSQL) job queue; tests keep procrastinate's in-memory connector.
    real_queue: bool = True
    # Run a job worker inside this process (`mdmatch serve` in local mode).
    run_worker: bool = False
    email_sender: EmailSender | None = None


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    options: AppOptions = app.state.options
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker
    app.state.idempotency_store = IdempotencyStore(
        sessionmaker, settings.idempotency_ttl_seconds, token_caller=token_caller
    )
    app.state.rate_limiter = RateLimiter.from_settings(settings)
    app.state.email_sender = options.email_sender or build_email_sender(settings)
    app.state.nppes = NppesClient(
        settings.nppes_base_url,
        timeout=settings.nppes_timeout_seconds,
        attempts=settings.nppes_attempts,
        backoff=settings.nppes_retry_backoff_seconds,
    )
    app.state.stripe = StripeGateway.from_settings(settings)
    configure_runtime(
        JobRuntime(
            settings=settings,
            sessionmaker=sessionmaker,
            email_sender=app.state.email_sender,
            stripe=app.state.stripe,
        )
    )
    async with contextlib.AsyncExitStack() as stack:
        if options.real_queue:
            stack.enter_context(queue.replace_connector(build_connector(settings)))
            await stack.enter_async_context(queue.open_async())
        worker: asyncio.Task[Any] | None = None
        if options.run_worker:
            worker = asyncio.create_task(
                run_worker_until_cancelled(**worker_options(settings, name="in-process"))
            )
            log.info("worker_started", mode="in-process")
        try:
            yield
        finally:
            if worker is not None:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            await app.state.nppes.aclose()
            if app.state.stripe is not None:
                await app.state.stripe.aclose()
            await engine.dispose()
            configure_runtime(None)


def create_app(settings: Settings | None = None, options: AppOptions | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="mdmatch",
        version="1.0.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
        # Served by install_api_docs from packaged assets, not FastAPI's CDN defaults.
        docs_url=None,
        redoc_url=None,
        openapi_tags=[
            {"name": "auth", "description": "Accounts and tokens"},
            {"name": "account", "description": "The caller's own account"},
            {"name": "reference data", "description": "Service catalog and state rules"},
            {"name": "physicians", "description": "Physician profiles and credentials"},
            {
                "name": "credentials",
                "description": "What was checked about each credential; the review queue",
            },
            {"name": "clinics", "description": "Clinics, locations and intakes"},
            {"name": "quotes", "description": "Instant quotes, intake quotes, price books"},
            {"name": "matching", "description": "Matches, offers and the physician portal"},
            {"name": "engagements", "description": "Engagements and their directors"},
            {"name": "billing", "description": "Cards, subscriptions, invoices, Stripe webhooks"},
            {"name": "operations", "description": "Health, metrics and operations tools"},
        ],
    )
    app.state.settings = settings
    app.state.options = options or AppOptions()
    app.state.schema_head = head_revision()
    app.state.metrics = Metrics()

    install_error_handlers(app)
    install_api_docs(app)
    for router in (
        health.router,
        auth_router,
        account_router,
        catalog_router,
        physicians_router,
        clinics_router,
        intake_router,
        pricing_router,
        matching_router,
        confirm_router,
        engagements_router,
        billing_router,
        operations_router,
        credentials_router,
        credential_documents_router,
        documents_router,
        filings_router,
        audit_router,
        webhooks_router,
    ):
        app.include_router(router)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed"],
        )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.public_base_url.startswith("https"))
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        limits=upload_body_limit(settings.document_max_bytes),
    )
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    if settings.forwarded_allow_ips:
        # Only the named proxies may say who the client is (rate limits key on it); by default
        # no forwarded header is trusted, so a local process cannot pick its own address.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_headers(
                document_problems(original_openapi()), idempotency_header=IDEMPOTENCY_KEY
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
