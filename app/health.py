"""Liveness and readiness (no auth: probed by infrastructure) and metrics (only to the scraper
holding METRICS_TOKEN)."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.errors import NotFound, ServiceUnavailable, Unauthenticated, problem_responses
from app.kit.observability import Metrics

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/healthz/db", operation_id="healthz_db", responses=problem_responses(503))
async def healthz_db(request: Request) -> dict[str, str]:
    """The database answers a trivial query (`SELECT 1`) through the app's pool."""
    try:
        async with request.app.state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        raise ServiceUnavailable("The database is unreachable.") from exc
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz", responses=problem_responses(503))
async def readyz(request: Request) -> dict[str, str]:
    """The database answers and its schema is at the latest migration."""
    expected: str = request.app.state.schema_head
    try:
        async with request.app.state.engine.connect() as conn:
            current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    except (SQLAlchemyError, OSError) as exc:
        raise ServiceUnavailable("The database is unreachable.") from exc
    if current != expected:
        raise ServiceUnavailable(
            f"The database schema is at {current}, the code expects {expected}; "
            "run `mdmatch migrate`."
        )
    return {"status": "ready", "schema": current}


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses=problem_responses(401, 404),
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics in the text exposition format, for the scraper that sends
    `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise; 404 while no token is configured)."""
    token = request.app.state.settings.metrics_token
    if token is None:
        raise NotFound("Metrics are not enabled here (set METRICS_TOKEN).")
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), expected):
        raise Unauthenticated("Metrics need the scraper's bearer token.")
    registry = request.app.state.metrics
    assert isinstance(registry, Metrics)
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
