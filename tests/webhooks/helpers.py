"""Webhook test helpers: endpoints through the API, events recorded on a real engagement, and
the queued webhook jobs run as a worker would (the task function, then the job marked done)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.engagements import events
from app.engagements.events import EngagementEvent, EventKind
from app.jobs.runtime import configure_runtime, get_runtime
from app.webhooks import jobs
from app.webhooks.models import WebhookAttempt, WebhookDelivery
from tests.billing.helpers import Engaged
from tests.clinics.helpers import create_clinic
from tests.factories import user_headers

PROBLEMS = "https://mdmatch.dev/problems/"


async def register_endpoint(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    url: str,
    events_: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body = {"url": url, "enabled_events": events_ or ["*"], **extra}
    response = await client.post("/v1/webhook-endpoints", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


@dataclass
class OtherClinic:
    admin: dict[str, str]
    clinic: dict[str, Any]


async def other_clinic(client: httpx.AsyncClient) -> OtherClinic:
    admin = await user_headers(client, "clinic_admin")
    return OtherClinic(admin, await create_clinic(client, admin, ("TX",)))


async def record_event(
    session: AsyncSession,
    engaged: Engaged,
    kind: EventKind = EventKind.activated,
    payload: dict[str, Any] | None = None,
) -> EngagementEvent:
    """An event of the engagement, as the lifecycle writes it (its subscribers' jobs queued)."""
    event = await events.record(
        session,
        engagement_id=uuid.UUID(engaged.id),
        clinic_id=uuid.UUID(engaged.clinic["id"]),
        kind=kind,
        payload=payload or {"from": "pending_payment", "to": "active", "reason": "paid"},
    )
    await session.commit()
    return event


@dataclass(frozen=True)
class QueuedJob:
    id: int
    args: dict[str, Any]
    scheduled_at: datetime | None


async def queued(session: AsyncSession, task: str = "webhooks.deliver") -> list[QueuedJob]:
    rows = await session.execute(
        text(
            "SELECT id, args, scheduled_at FROM procrastinate_jobs "
            "WHERE task_name = :task AND status = 'todo' ORDER BY id"
        ),
        {"task": task},
    )
    return [
        QueuedJob(r.id, r.args if isinstance(r.args, dict) else json.loads(r.args), r.scheduled_at)
        for r in rows
    ]


async def mark_done(session: AsyncSession, job_id: int) -> None:
    await session.execute(
        text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :id"), {"id": job_id}
    )
    await session.commit()


async def run_fan_out(session: AsyncSession, event: EngagementEvent) -> int:
    """The queued fan-out job of `event`, run once (it must have been queued with the event)."""
    [job] = [
        j for j in await queued(session, "webhooks.fan_out") if j.args["event_id"] == str(event.id)
    ]
    created = await jobs.fan_out(**job.args)
    await mark_done(session, job.id)
    return created


async def run_deliveries(session: AsyncSession) -> list[str]:
    """Every queued delivery job, whatever its schedule, as a worker would run them."""
    outcomes = []
    for job in await queued(session):
        outcomes.append(await jobs.deliver(**job.args))
        await mark_done(session, job.id)
    return outcomes


async def delivery_of(
    session: AsyncSession, event_id: uuid.UUID, endpoint_id: str
) -> WebhookDelivery:
    row = await session.scalar(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.event_id == event_id,
            WebhookDelivery.endpoint_id == uuid.UUID(endpoint_id),
        )
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def attempts_of(session: AsyncSession, delivery_id: uuid.UUID) -> list[WebhookAttempt]:
    return list(
        await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == delivery_id)
            .order_by(WebhookAttempt.number)
            .execution_options(populate_existing=True)
        )
    )


@contextlib.contextmanager
def job_settings(**updates: Any) -> Iterator[None]:
    """Run jobs with some settings changed (a short timeout, fewer attempts)."""
    runtime = get_runtime()
    configure_runtime(
        dataclasses.replace(runtime, settings=runtime.settings.model_copy(update=updates))
    )
    try:
        yield
    finally:
        configure_runtime(runtime)
