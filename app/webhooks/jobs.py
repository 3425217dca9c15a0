"""Webhook jobs: the event subscriber (`webhooks.fan_out`, named in
`app.engagements.subscribers`), one job per attempt (`webhooks.deliver`) and the sweep."""

from __future__ import annotations

import asyncio
import uuid
import weakref

import httpx

from app.jobs.queue import queue
from app.jobs.runtime import get_runtime
from app.webhooks import delivery

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def http_client() -> httpx.AsyncClient:
    """The one HTTP client every delivery of this process shares (its connection pool): the
    job runtime's when it carries one, else one made on first use for this event loop."""
    shared = getattr(get_runtime(), "http", None)
    if isinstance(shared, httpx.AsyncClient):
        return shared
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            headers={"User-Agent": delivery.USER_AGENT},
            follow_redirects=False,
            # Receivers are reached directly: no proxy from the environment sees the signature.
            trust_env=False,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
        )
        _clients[loop] = client
    return client


@queue.task(name="webhooks.fan_out")
async def fan_out(event_id: str) -> int:
    """An engagement event: one delivery per endpoint that wants it, each queued."""
    async with get_runtime().sessionmaker() as session:
        created = await delivery.fan_out(session, uuid.UUID(event_id))
        await session.commit()
    return created


@queue.task(name="webhooks.deliver")
async def deliver(
    delivery_id: str, attempt: int | None = None, replay_id: str | None = None
) -> str:
    """One attempt of a delivery: the n-th scheduled one (`attempt`) or a replay."""
    runtime = get_runtime()
    return await delivery.deliver(
        runtime.sessionmaker,
        runtime.settings,
        http_client(),
        uuid.UUID(delivery_id),
        attempt=attempt,
        replay_id=replay_id,
    )


@queue.periodic(cron="*/5 * * * *", periodic_id="webhook-sweep")
@queue.task(name="webhooks.sweep", queueing_lock="webhook-sweep")
async def sweep(timestamp: int) -> dict[str, int]:
    """Every five minutes: attempts a stopped worker left open are closed (and retried), and
    retries whose job was lost are queued again."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        result = await delivery.sweep(session, runtime.settings)
        await session.commit()
    return result
