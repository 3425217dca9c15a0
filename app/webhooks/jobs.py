"""Webhook jobs: the event subscriber (`webhooks.fan_out`, named in
`app.engagements.subscribers`), one job per attempt (`webhooks.deliver`) and the sweep.

Each attempt opens its own HTTP client and closes it when the attempt ends (`async with`), so
no client outlives the job's event loop: connections are not kept alive anyway (a connection
is made to a checked address for one endpoint's name, `delivery.http_client`), and the costly
part, the TLS context, is made once per process and shared.
"""

from __future__ import annotations

import uuid

from procrastinate import RetryStrategy

from app.jobs.queue import queue
from app.jobs.runtime import get_runtime
from app.webhooks import delivery

# A fan-out that fails (the database away, a deadlock) is tried again: after 2, 4, 8... seconds,
# about 17 minutes in all. Should every try fail, the sweep queues it again later
# (`delivery.unfanned_events`): the event is not lost.
FAN_OUT_RETRY = RetryStrategy(max_attempts=10, exponential_wait=2)


@queue.task(name="webhooks.fan_out", retry=FAN_OUT_RETRY)
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
    async with delivery.http_client() as http:
        return await delivery.deliver(
            runtime.sessionmaker,
            runtime.settings,
            http,
            uuid.UUID(delivery_id),
            attempt=attempt,
            replay_id=replay_id,
        )


@queue.periodic(cron="*/5 * * * *", periodic_id="webhook-sweep")
@queue.task(name="webhooks.sweep", queueing_lock="webhook-sweep")
async def sweep(timestamp: int) -> dict[str, int]:
    """Every five minutes: attempts a stopped worker left open are closed (and retried),
    retries whose job was lost are queued again, and so are fan-outs that never happened."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        result = await delivery.sweep(session, runtime.settings)
        await session.commit()
    return result
