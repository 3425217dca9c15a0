"""Liveness, readiness and metrics endpoints (no auth: they are scraped by infrastructure)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.errors import ServiceUnavailable, problem_responses
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


@router.get("/metrics", operation_id="metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus metrics in the text exposition format."""
    registry = request.app.state.metrics
    assert isinstance(registry, Metrics)
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
