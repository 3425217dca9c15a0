"""Fan-out of engagement events to endpoints, and the attempts that deliver them.

`fan_out` (the `webhooks.fan_out` job, one per event) claims the event, writes one delivery per
matching endpoint (unique per event and endpoint) and queues its first attempt, all in one
transaction: a redelivered fan-out finds its claim and does nothing.

An attempt is keyed by its job (`automatic-<n>` for the n-th scheduled attempt, `replay-<id>`
for a replay), unique per delivery, so a redelivered job sends nothing twice:

1. `start_attempt` locks the delivery, writes the attempt (`sending`) and commits;
2. the POST goes out with no transaction open (a slow receiver holds no connection or lock);
3. `finish_attempt` records the answer and decides: delivered (2xx), the next retry scheduled
   (the queue's `scheduled_at`, a job per attempt), or, after WEBHOOK_MAX_ATTEMPTS, `failed`
   and the endpoint's owners told.

A worker that dies between 1 and 3 leaves an attempt `sending`; `sweep` (every five minutes)
closes it as failed and carries on, re-queues retries whose job was lost, and queues the
fan-out again of events it never reached (its job failed for good, or was lost).

The POST goes to the address that was checked: the host is resolved once (`resolve`), every
address must be public (`app.webhooks.urls.address_allowed`), and the connection is made to
that IP literal, with the endpoint's `Host` header and, for https, its name as the TLS server
name (`sni_hostname`: the certificate is verified against the name). A DNS answer that changes
between the check and the connection (rebinding) is never asked for.
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from sqlalchemy import String, cast, column, exists, func, or_, select, table, text
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clinics.models import ClinicMember
from app.clinics.service import MANAGE_ROLES
from app.config import Settings
from app.engagements.events import EngagementEvent, EventReceipt, claim, get_event
from app.jobs.queue import defer_in_transaction
from app.kit.clock import utcnow
from app.notifications.models import Notification
from app.notifications.service import notify, notify_ops
from app.webhooks import signing
from app.webhooks.models import (
    AttemptOutcome,
    AttemptTrigger,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from app.webhooks.urls import address_allowed

log = structlog.get_logger(__name__)

SUBSCRIBER = "webhooks.fan_out"  # the fan-out job's name, and its receipt's subscriber
DELIVER_TASK = "webhooks.deliver"
USER_AGENT = "mdmatch-webhooks/1.0 (+https://mdmatch.dev/docs/webhooks)"
RESPONSE_BODY_LIMIT = 2048
ERROR_LIMIT = 500
# Retries wait WEBHOOK_RETRY_BASE_SECONDS times these, then the last again and again.
RETRY_LADDER = (1, 5, 30, 120, 300, 600)
# A failing endpoint's owners hear of it at most this often (not once per event).
NOTIFY_AGAIN_AFTER = timedelta(hours=24)
# A delivery takes no more attempts than this, replays included: a replay beyond it is refused.
MAX_ATTEMPTS = 100
# The sweep queues the fan-out again of an event older than this that has neither its receipt
# nor a fan-out job waiting (the job failed for good, or was lost)...
FAN_OUT_REPAIR_AFTER = timedelta(minutes=10)
# ...and younger than this: an event is not pushed days late to endpoints registered since.
FAN_OUT_REPAIR_WINDOW = timedelta(days=3)
# What one sweep run does at most, of each kind of repair.
SWEEP_BATCH = 500
# procrastinate's job table, read by the sweep (its schema is one of our migrations).
_jobs = table("procrastinate_jobs", column("task_name"), column("status"), column("args", JSONB))
_WAITING = text("procrastinate_jobs.status IN ('todo', 'doing')")


def retry_delay(settings: Settings, failed_attempt: int) -> timedelta:
    """How long after the n-th scheduled attempt failed the next one goes out."""
    step = RETRY_LADDER[min(failed_attempt, len(RETRY_LADDER)) - 1]
    return timedelta(seconds=settings.webhook_retry_base_seconds * step)


def occurred_at(event: EngagementEvent) -> str:
    """When the event happened, ISO 8601 in UTC with microseconds (2026-12-03T16:00:00.123456Z)."""
    moment = event.occurred_at.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


def event_body(event: EngagementEvent) -> bytes:
    """The JSON every endpoint receives for the event (the same bytes on every attempt).
    `sequence` (the event's `seq`) orders one engagement's events as they were committed."""
    document = {
        "id": str(event.id),
        "type": event.kind,
        "sequence": event.seq,
        "occurred_at": occurred_at(event),
        "created": int(event.occurred_at.timestamp()),
        "engagement_id": str(event.engagement_id),
        "clinic_id": str(event.clinic_id),
        "data": event.payload,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


async def _defer_attempt(
    session: AsyncSession,
    delivery_id: uuid.UUID,
    *,
    attempt: int,
    at: datetime | None = None,
) -> None:
    if at is None:
        await defer_in_transaction(
            session, DELIVER_TASK, delivery_id=str(delivery_id), attempt=attempt
        )
        return
    args = {"delivery_id": str(delivery_id), "attempt": attempt}
    # procrastinate's own function, with the job's scheduled_at: the retry waits in the queue.
    await session.execute(
        text(
            "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('default', :task, 0, NULL, NULL, "
            "CAST(:args AS jsonb), CAST(:at AS timestamptz))::procrastinate_job_to_defer_v1])"
        ),
        {"task": DELIVER_TASK, "args": json.dumps(args), "at": at},
    )


# --- fan-out -----------------------------------------------------------------------------------


async def fan_out(session: AsyncSession, event_id: uuid.UUID) -> int:
    """One delivery per enabled endpoint that wants the event (the clinic's own and the platform
    ones), each with its first attempt queued; 0 when the event was fanned out before."""
    event = await get_event(session, event_id)
    if event is None or not await claim(session, event.id, SUBSCRIBER):
        return 0
    endpoint_ids = list(
        await session.scalars(
            select(WebhookEndpoint.id)
            .where(
                WebhookEndpoint.is_enabled.is_(True),
                or_(
                    WebhookEndpoint.clinic_id == event.clinic_id,
                    WebhookEndpoint.clinic_id.is_(None),
                ),
                WebhookEndpoint.enabled_events.overlap(["*", event.kind]),
            )
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
    )
    now = utcnow()
    created = 0
    for endpoint_id in endpoint_ids:
        delivery_id = await session.scalar(
            insert(WebhookDelivery)
            .values(
                id=uuid.uuid4(),
                endpoint_id=endpoint_id,
                event_id=event.id,
                status=DeliveryStatus.pending.value,
                attempts=0,
                automatic_attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["event_id", "endpoint_id"])
            .returning(WebhookDelivery.id)
        )
        if delivery_id is not None:
            await _defer_attempt(session, delivery_id, attempt=1)
            created += 1
    return created


# --- one attempt -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """What a started attempt sends, read under the delivery's lock."""

    attempt_id: uuid.UUID
    delivery_id: uuid.UUID
    event_id: uuid.UUID
    number: int
    url: str
    body: bytes
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    body: str | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _key(attempt: int | None, replay_id: str | None) -> tuple[str, AttemptTrigger]:
    if replay_id is not None:
        return f"replay-{uuid.UUID(replay_id)}", AttemptTrigger.replay
    if attempt is None or attempt < 1:
        raise ValueError("a delivery job names its attempt or its replay")
    return f"automatic-{attempt}", AttemptTrigger.automatic


async def start_attempt(
    session: AsyncSession,
    delivery_id: uuid.UUID,
    *,
    attempt: int | None = None,
    replay_id: str | None = None,
) -> Prepared | str:
    """Write the attempt (`sending`) under the delivery's lock and return what to send, or why
    nothing is sent: `done-before` (this job's attempt exists, or the delivery has moved on),
    `gone` (the endpoint was deleted), `skipped` (the endpoint is disabled), `limit` (a replay
    of a delivery that made MAX_ATTEMPTS attempts)."""
    key, trigger = _key(attempt, replay_id)
    delivery = await session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    )
    if delivery is None:
        return "gone"
    done = await session.scalar(
        select(WebhookAttempt.id).where(
            WebhookAttempt.delivery_id == delivery.id, WebhookAttempt.key == key
        )
    )
    if done is not None:
        return "done-before"
    if trigger is AttemptTrigger.automatic and (
        delivery.status != DeliveryStatus.pending.value
        or attempt != delivery.automatic_attempts + 1
    ):
        return "done-before"
    if trigger is AttemptTrigger.replay and delivery.attempts >= MAX_ATTEMPTS:
        return "limit"
    endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
    event = await session.get(EngagementEvent, delivery.event_id)
    if endpoint is None or event is None:
        return "gone"
    if not endpoint.is_enabled:
        if trigger is AttemptTrigger.automatic:
            delivery.status = DeliveryStatus.skipped.value
            delivery.next_attempt_at = None
        return "skipped"
    now = utcnow()
    secrets = [endpoint.secret]
    if (
        endpoint.previous_secret is not None
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    ):
        secrets.append(endpoint.previous_secret)
    delivery.attempts += 1
    if trigger is AttemptTrigger.automatic:
        delivery.automatic_attempts += 1
        delivery.next_attempt_at = None
    delivery.last_attempt_at = now
    row = WebhookAttempt(
        id=uuid.uuid4(),
        delivery_id=delivery.id,
        number=delivery.attempts,
        key=key,
        trigger=trigger.value,
        outcome=AttemptOutcome.sending.value,
        started_at=now,
    )
    session.add(row)
    await session.flush()
    return Prepared(
        attempt_id=row.id,
        delivery_id=delivery.id,
        event_id=event.id,
        number=row.number,
        url=endpoint.url,
        body=event_body(event),
        secrets=tuple(secrets),
    )


async def resolve(host: str, port: int) -> list[str]:
    """The host's addresses, each once, in the resolver's order (the one look-up of a send)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def checked_addresses(url: str, *, allow_loopback: bool) -> list[str] | str:
    """The addresses of the URL's host, resolved once, when every one of them may be sent to;
    else why not (a string)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        addresses = await resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError) as exc:
        return f"could not resolve {host}: {exc}"
    if not addresses:
        return f"could not resolve {host}: no address"
    for address in addresses:
        if not address_allowed(address, allow_loopback=allow_loopback):
            return f"refused: {host} resolves to a non-public address ({address})"
    return addresses


def pinned_url(url: str, address: str) -> str:
    """The URL with its host replaced by the IP literal `address` (bracketed when IPv6)."""
    parts = urlsplit(url)
    ip = address.split("%", 1)[0]
    literal = f"[{ip}]" if ":" in ip else ip
    netloc = f"{literal}:{parts.port}" if parts.port is not None else literal
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Made once per process (loading the CA bundle takes a while); certifi's CAs, hostname
    # checked: against `sni_hostname`, the endpoint's name, as the URL names an address.
    return httpx.create_ssl_context(trust_env=False)


def http_client() -> httpx.AsyncClient:
    """An HTTP client for one attempt (close it after: `async with`). No redirects, no proxy
    from the environment (receivers are reached directly: no proxy sees the signature), and no
    kept-alive connection: a connection is made to an address for one endpoint's name, and must
    not be reused for another name served at the same address."""
    return httpx.AsyncClient(
        headers={"User-Agent": USER_AGENT},
        verify=_tls_context(),
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=0),
    )


def _clean(text_: str, limit: int) -> str:
    # PostgreSQL text holds no NUL.
    return text_.replace("\x00", "\ufffd")[:limit]


async def send(http: httpx.AsyncClient, settings: Settings, prepared: Prepared) -> Answer:
    """POST the event, signed now, and read the start of the answer; never raises for what
    the receiver (or the network) does."""
    started = time.monotonic()
    timeout = settings.webhook_timeout_seconds

    def answer(
        status: int | None = None, body: str | None = None, error: str | None = None
    ) -> Answer:
        elapsed = int((time.monotonic() - started) * 1000)
        return Answer(status, body, _clean(error, ERROR_LIMIT) if error else None, elapsed)

    timestamp = int(utcnow().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Mdmatch-Signature": signing.signature_header(prepared.body, prepared.secrets, timestamp),
        "Mdmatch-Event-Id": str(prepared.event_id),
        "Mdmatch-Delivery-Id": str(prepared.delivery_id),
        "Mdmatch-Attempt": str(prepared.number),
    }
    try:
        parts = urlsplit(prepared.url)
        # The endpoint's own name, as the receiver expects it: the URL names the address checked.
        headers["Host"] = parts.netloc
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        async with asyncio.timeout(timeout):
            addresses = await checked_addresses(
                prepared.url, allow_loopback=settings.webhooks_allow_loopback
            )
            if isinstance(addresses, str):
                return answer(error=addresses)
            for index, address in enumerate(addresses):
                try:
                    async with http.stream(
                        "POST",
                        pinned_url(prepared.url, address),
                        content=prepared.body,
                        headers=headers,
                        timeout=timeout,
                        follow_redirects=False,
                        extensions=extensions,
                    ) as response:
                        chunks = bytearray()
                        async for chunk in response.aiter_bytes():
                            chunks += chunk
                            if len(chunks) >= RESPONSE_BODY_LIMIT:
                                break
                        body = bytes(chunks[:RESPONSE_BODY_LIMIT]).decode("utf-8", errors="replace")
                        return answer(response.status_code, _clean(body, RESPONSE_BODY_LIMIT))
                except httpx.ConnectError:
                    # Nothing was sent: the next address checked (IPv6 first on a host
                    # without IPv6, say), as a resolver-following client would.
                    if index == len(addresses) - 1:
                        raise
            raise AssertionError("unreachable: checked_addresses returns at least one")
    except (TimeoutError, httpx.TimeoutException):
        return answer(error=f"timed out after {timeout:g} s")
    except (httpx.HTTPError, httpx.InvalidURL, OSError, UnicodeError, ValueError) as exc:
        # Refused connections, resets, TLS failures, a host name httpx cannot encode...
        return answer(error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


async def finish_attempt(
    session: AsyncSession, settings: Settings, prepared: Prepared, answer: Answer
) -> str:
    """Record the answer and move the delivery on: `delivered`, `retry` (scheduled), `failed`
    (the last scheduled attempt; the owners are told), `replay-failed` or `gone`."""
    delivery = await session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == prepared.delivery_id).with_for_update()
    )
    row = await session.get(WebhookAttempt, prepared.attempt_id)
    if delivery is None or row is None:
        return "gone"
    now = utcnow()
    row.finished_at = now
    row.duration_ms = answer.duration_ms
    row.status_code = answer.status_code
    row.response_body = answer.body
    row.error = answer.error
    row.outcome = (AttemptOutcome.succeeded if answer.succeeded else AttemptOutcome.failed).value
    return await _settle(session, settings, delivery, row, succeeded=answer.succeeded, now=now)


async def _settle(
    session: AsyncSession,
    settings: Settings,
    delivery: WebhookDelivery,
    row: WebhookAttempt,
    *,
    succeeded: bool,
    now: datetime,
) -> str:
    if succeeded:
        if delivery.status != DeliveryStatus.delivered.value:
            delivery.status = DeliveryStatus.delivered.value
            delivery.delivered_at = now
            delivery.failed_at = None
        delivery.next_attempt_at = None
        await session.flush()
        return "delivered"
    replay = row.trigger == AttemptTrigger.replay.value
    if replay or delivery.status != DeliveryStatus.pending.value:
        await session.flush()
        return "replay-failed" if replay else "failed"
    number = delivery.automatic_attempts
    if number < settings.webhook_max_attempts:
        delivery.next_attempt_at = now + retry_delay(settings, number)
        await _defer_attempt(session, delivery.id, attempt=number + 1, at=delivery.next_attempt_at)
        await session.flush()
        return "retry"
    delivery.status = DeliveryStatus.failed.value
    delivery.failed_at = now
    delivery.next_attempt_at = None
    await session.flush()
    await _tell_owners(session, delivery, row)
    return "failed"


def _last_answer(row: WebhookAttempt) -> str:
    if row.status_code is not None:
        return f"HTTP {row.status_code}"
    return row.error or "no answer"


async def _tell_owners(
    session: AsyncSession, delivery: WebhookDelivery, row: WebhookAttempt
) -> None:
    """The clinic's owner and admins (operations, for a platform endpoint) hear that an event
    could not be delivered: once a day per endpoint, however many events fail."""
    endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
    event = await session.get(EngagementEvent, delivery.event_id)
    assert endpoint is not None
    assert event is not None
    told = await session.scalar(
        select(Notification.id)
        .where(
            Notification.kind == "webhook.delivery_failed",
            Notification.data["endpoint_id"].astext == str(endpoint.id),
            Notification.created_at > utcnow() - NOTIFY_AGAIN_AFTER,
        )
        .limit(1)
    )
    if told is not None:
        return
    host = urlsplit(endpoint.url).hostname or endpoint.url
    title = f"Webhook deliveries to {host} are failing"
    body = (
        f"The {event.kind} event {event.id} could not be delivered to {endpoint.url} after "
        f"{delivery.automatic_attempts} attempts (the last answer: {_last_answer(row)}). "
        "Check that the endpoint is up and answers 2xx, then replay the failed deliveries "
        f"(POST /v1/webhook-deliveries/{delivery.id}/replay); nothing is lost meanwhile."
    )
    data: dict[str, Any] = {
        "endpoint_id": str(endpoint.id),
        "delivery_id": str(delivery.id),
        "event_id": str(event.id),
    }
    if endpoint.clinic_id is None:
        await notify_ops(
            session, kind="webhook.delivery_failed", title=title, body=body, data=data, email=True
        )
        return
    members = await session.scalars(
        select(ClinicMember.user_id).where(
            ClinicMember.clinic_id == endpoint.clinic_id,
            ClinicMember.role.in_(sorted(MANAGE_ROLES)),
        )
    )
    for user_id in members:
        await notify(
            session,
            user_id=user_id,
            kind="webhook.delivery_failed",
            title=title,
            body=body,
            data=data,
            email=True,
        )


async def deliver(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: httpx.AsyncClient,
    delivery_id: uuid.UUID,
    *,
    attempt: int | None = None,
    replay_id: str | None = None,
) -> str:
    """One attempt, start to finish (the `webhooks.deliver` job)."""
    async with sessionmaker() as session:
        prepared = await start_attempt(session, delivery_id, attempt=attempt, replay_id=replay_id)
        await session.commit()
    if isinstance(prepared, str):
        return prepared
    answer = await send(http, settings, prepared)
    async with sessionmaker() as session:
        outcome = await finish_attempt(session, settings, prepared, answer)
        await session.commit()
    log.info(
        "webhook_attempt",
        delivery_id=str(delivery_id),
        attempt=prepared.number,
        status_code=answer.status_code,
        error=answer.error,
        duration_ms=answer.duration_ms,
        outcome=outcome,
    )
    return outcome


# --- the sweep ---------------------------------------------------------------------------------


async def queued_replays(session: AsyncSession, delivery_id: uuid.UUID) -> int:
    """The replays of the delivery queued and not yet run (or running)."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(_jobs)
            .where(
                _jobs.c.task_name == DELIVER_TASK,
                _WAITING,
                _jobs.c.args["delivery_id"].astext == str(delivery_id),
                _jobs.c.args.has_key("replay_id"),
            )
        )
        or 0
    )


async def unfanned_events(session: AsyncSession, *, now: datetime) -> list[uuid.UUID]:
    """Events between FAN_OUT_REPAIR_WINDOW and FAN_OUT_REPAIR_AFTER old that the fan-out never
    reached: no receipt, and no fan-out job waiting (or running, or scheduled for a retry);
    the oldest first, SWEEP_BATCH at most."""
    return list(
        await session.scalars(
            select(EngagementEvent.id)
            .where(
                EngagementEvent.occurred_at < now - FAN_OUT_REPAIR_AFTER,
                EngagementEvent.occurred_at >= now - FAN_OUT_REPAIR_WINDOW,
                ~exists().where(
                    EventReceipt.event_id == EngagementEvent.id,
                    EventReceipt.subscriber == SUBSCRIBER,
                ),
                ~exists().where(
                    _jobs.c.task_name == SUBSCRIBER,
                    _WAITING,
                    _jobs.c.args["event_id"].astext == cast(EngagementEvent.id, String),
                ),
            )
            .order_by(EngagementEvent.occurred_at, EngagementEvent.seq)
            .limit(SWEEP_BATCH)
        )
    )


async def sweep(session: AsyncSession, settings: Settings) -> dict[str, int]:
    """Close attempts left `sending` by a worker that stopped (as failed, moving their delivery
    on), queue again the retries overdue by minutes (their job was lost), and the fan-out of
    events it never reached (its job failed for good, or was lost). Each at most SWEEP_BATCH
    a run."""
    now = utcnow()
    stale_before = now - timedelta(seconds=settings.webhook_timeout_seconds + 120)
    closed = 0
    stale = list(
        await session.scalars(
            select(WebhookAttempt)
            .where(
                WebhookAttempt.outcome == AttemptOutcome.sending.value,
                WebhookAttempt.started_at < stale_before,
            )
            .order_by(WebhookAttempt.started_at)
            .limit(SWEEP_BATCH)
        )
    )
    for row in stale:
        delivery = await session.scalar(
            select(WebhookDelivery).where(WebhookDelivery.id == row.delivery_id).with_for_update()
        )
        await session.refresh(row)
        if delivery is None or row.outcome != AttemptOutcome.sending.value:
            continue
        row.outcome = AttemptOutcome.failed.value
        row.finished_at = now
        row.error = "no answer was recorded: the worker stopped during the attempt"
        await _settle(session, settings, delivery, row, succeeded=False, now=now)
        closed += 1
    overdue = list(
        await session.execute(
            select(WebhookDelivery.id, WebhookDelivery.automatic_attempts)
            .where(
                WebhookDelivery.status == DeliveryStatus.pending.value,
                WebhookDelivery.next_attempt_at < now - timedelta(minutes=10),
                # Only when no job of the delivery waits (workers merely behind are left alone).
                ~exists().where(
                    _jobs.c.task_name == DELIVER_TASK,
                    _WAITING,
                    _jobs.c.args["delivery_id"].astext == cast(WebhookDelivery.id, String),
                ),
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(SWEEP_BATCH)
        )
    )
    for delivery_id, made in overdue:
        # Should a second job for the attempt still appear, its key is taken by the first.
        await _defer_attempt(session, delivery_id, attempt=made + 1)
    unfanned = await unfanned_events(session, now=now)
    for event_id in unfanned:
        # Should the lost job still run, the event's receipt makes one of the two a no-op.
        await defer_in_transaction(session, SUBSCRIBER, event_id=str(event_id))
    if unfanned:
        log.warning("webhook_fan_out_requeued", events=len(unfanned))
    await session.flush()
    return {"closed": closed, "requeued": len(overdue), "fanned_out": len(unfanned)}
