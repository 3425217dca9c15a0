"""Webhook endpoints and their delivery log, as the API manages them.

A clinic's owner and admins manage its endpoints (other members get 403, other clinics 404);
operations manage every endpoint and alone register platform endpoints (no clinic), which
receive every clinic's events. Every change is audited on the endpoint; the signing secret
is shown once, when it is made. A clinic has at most WEBHOOK_MAX_ENDPOINTS_PER_CLINIC endpoints
(operations as many platform ones), and a delivery at most `delivery.MAX_ATTEMPTS` attempts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import Role, User
from app.clinics.models import ClinicMember
from app.clinics.service import MANAGE_ROLES, get_clinic, member_role
from app.config import Settings
from app.engagements.events import EngagementEvent
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.jobs.queue import defer_in_transaction
from app.kit.clock import utcnow
from app.kit.pagination import PageParams, paginate
from app.webhooks import signing
from app.webhooks.delivery import DELIVER_TASK, MAX_ATTEMPTS, queued_replays
from app.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.webhooks.schemas import (
    WebhookAttemptRead,
    WebhookDeliveryRead,
    WebhookEndpointCreate,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
)
from app.webhooks.urls import is_loopback_host


class WebhookEndpointNotFound(NotFound):
    slug, title = "webhook-endpoint-not-found", "No such webhook endpoint"


class WebhookDeliveryNotFound(NotFound):
    slug, title = "webhook-delivery-not-found", "No such webhook delivery"


class ClinicNotChosen(Conflict):
    slug, title = "clinic-not-chosen", "Name the clinic the endpoint is for"


class WebhookEndpointDisabled(Conflict):
    slug, title = "webhook-endpoint-disabled", "The webhook endpoint is disabled"


class WebhookEndpointLimit(Conflict):
    slug, title = "webhook-endpoint-limit", "Too many webhook endpoints"


class WebhookDeliveryAttemptLimit(Conflict):
    slug, title = "webhook-delivery-attempt-limit", "The delivery was attempted too often"


def _is_ops(user: User) -> bool:
    return user.role == Role.ops_admin.value


def to_read(endpoint: WebhookEndpoint) -> WebhookEndpointRead:
    return WebhookEndpointRead(
        id=endpoint.id,
        clinic_id=endpoint.clinic_id,
        platform=endpoint.clinic_id is None,
        url=endpoint.url,
        description=endpoint.description,
        enabled_events=list(endpoint.enabled_events),
        enabled=endpoint.is_enabled,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _audited(endpoint: WebhookEndpoint) -> dict[str, Any]:
    # The query may hold a token of the receiver's: it stays out of the audit log.
    parts = urlsplit(endpoint.url)
    url = urlunsplit((parts.scheme, parts.netloc, parts.path, "…" if parts.query else "", ""))
    return {
        "clinic_id": str(endpoint.clinic_id) if endpoint.clinic_id else None,
        "url": url,
        "description": endpoint.description,
        "enabled_events": list(endpoint.enabled_events),
        "enabled": endpoint.is_enabled,
    }


def _check_scheme(settings: Settings, url: str) -> None:
    """The schema takes http:// to loopback; here it is refused where the setting says so."""
    parts = urlsplit(url)
    if parts.scheme == "http" and not (
        settings.webhooks_allow_loopback and is_loopback_host(parts.hostname or "")
    ):
        raise ValidationFailed(
            [{"loc": ["body", "url"], "msg": "must use https (http is refused on this server)"}]
        )


async def _managed_clinic_ids(session: AsyncSession, user: User) -> list[uuid.UUID]:
    return list(
        await session.scalars(
            select(ClinicMember.clinic_id)
            .where(ClinicMember.user_id == user.id, ClinicMember.role.in_(sorted(MANAGE_ROLES)))
            .order_by(ClinicMember.created_at)
        )
    )


async def _clinic_for_new_endpoint(
    session: AsyncSession, user: User, clinic_id: uuid.UUID | None
) -> uuid.UUID | None:
    if clinic_id is not None:
        clinic = await get_clinic(session, user, clinic_id, manage=not _is_ops(user))
        return clinic.id
    if _is_ops(user):
        return None  # a platform endpoint
    managed = await _managed_clinic_ids(session, user)
    if len(managed) == 1:
        return managed[0]
    if not managed:
        raise Forbidden(
            "Only a clinic's owner or admins register its webhook endpoints, and you manage no "
            "clinic."
        )
    raise ClinicNotChosen(
        f"You manage {len(managed)} clinics: name the one the endpoint is for in clinic_id.",
        clinic_ids=[str(c) for c in managed],
    )


async def _authorise(session: AsyncSession, user: User, endpoint: WebhookEndpoint) -> None:
    """Operations see every endpoint; a clinic's owner and admins see its own (other members
    get 403); anyone else gets 404, as if it did not exist."""
    if _is_ops(user):
        return
    role = (
        await member_role(session, endpoint.clinic_id, user.id)
        if endpoint.clinic_id is not None
        else None
    )
    if role is None:
        raise WebhookEndpointNotFound("No such webhook endpoint.")
    if role not in MANAGE_ROLES:
        raise Forbidden(
            f"Your role on this clinic ({role}) cannot manage its webhooks; it takes "
            + " or ".join(sorted(MANAGE_ROLES))
            + ".",
            your_role=role,
        )


async def get_endpoint(
    session: AsyncSession, user: User, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint:
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
    if lock:
        stmt = stmt.with_for_update()
    endpoint = await session.scalar(stmt)
    if endpoint is None:
        raise WebhookEndpointNotFound("No such webhook endpoint.")
    await _authorise(session, user, endpoint)
    return endpoint


async def _check_room(
    session: AsyncSession, settings: Settings, clinic_id: uuid.UUID | None
) -> None:
    """Refuse an endpoint beyond WEBHOOK_MAX_ENDPOINTS_PER_CLINIC for the clinic (or, without
    one, among the platform endpoints). Creations for one clinic wait for each other here (a
    transaction-scoped advisory lock), so two at once cannot both take the last place."""
    owner = str(clinic_id) if clinic_id is not None else "platform"
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext("webhook-endpoints:" + owner)))
    )
    count = await session.scalar(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(
            WebhookEndpoint.clinic_id == clinic_id
            if clinic_id is not None
            else WebhookEndpoint.clinic_id.is_(None)
        )
    )
    limit = settings.webhook_max_endpoints_per_clinic
    if (count or 0) >= limit:
        whose = "This clinic has" if clinic_id is not None else "There are"
        kind = "webhook endpoints" if clinic_id is not None else "platform webhook endpoints"
        raise WebhookEndpointLimit(
            f"{whose} {count} {kind}, the most allowed ({limit}): delete one you no longer use, "
            "or subscribe an existing one to more event types.",
            limit=limit,
        )


async def create_endpoint(
    session: AsyncSession, settings: Settings, user: User, body: WebhookEndpointCreate
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned once, never again); 409
    `webhook-endpoint-limit` beyond WEBHOOK_MAX_ENDPOINTS_PER_CLINIC."""
    _check_scheme(settings, body.url)
    clinic_id = await _clinic_for_new_endpoint(session, user, body.clinic_id)
    await _check_room(session, settings, clinic_id)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        clinic_id=clinic_id,
        url=body.url,
        description=body.description,
        enabled_events=body.enabled_events,
        is_enabled=body.enabled,
        secret=secret,
        created_by=user.id,
    )
    session.add(endpoint)
    await session.flush()
    await record_audit(
        session,
        actor_id=user.id,
        action="webhook_endpoint.created",
        object_type="webhook_endpoint",
        object_id=endpoint.id,
        after=_audited(endpoint),
    )
    return endpoint, secret


def _visible(user: User, managed: Sequence[uuid.UUID]) -> Select[WebhookEndpoint]:
    stmt = select(WebhookEndpoint)
    if not _is_ops(user):
        stmt = stmt.where(WebhookEndpoint.clinic_id.in_(list(managed)))
    return stmt


async def list_endpoints(
    session: AsyncSession,
    user: User,
    page: PageParams,
    *,
    clinic_id: uuid.UUID | None = None,
    platform: bool | None = None,
) -> tuple[Sequence[WebhookEndpoint], str | None]:
    """The endpoints the caller manages, newest first: a clinic member's own clinics' (or the
    one of `clinic_id`); operations every one."""
    managed = [] if _is_ops(user) else await _managed_clinic_ids(session, user)
    stmt = _visible(user, managed)
    if clinic_id is not None:
        clinic = await get_clinic(session, user, clinic_id, manage=not _is_ops(user))
        stmt = stmt.where(WebhookEndpoint.clinic_id == clinic.id)
    if platform is not None:
        stmt = stmt.where(
            WebhookEndpoint.clinic_id.is_(None)
            if platform
            else WebhookEndpoint.clinic_id.isnot(None)
        )
    return await paginate(
        session,
        stmt,
        page,
        created_at=WebhookEndpoint.created_at,
        id_column=WebhookEndpoint.id,
    )


async def update_endpoint(
    session: AsyncSession,
    settings: Settings,
    user: User,
    endpoint_id: uuid.UUID,
    body: WebhookEndpointUpdate,
) -> WebhookEndpoint:
    endpoint = await get_endpoint(session, user, endpoint_id, lock=True)
    if body.url is not None:
        _check_scheme(settings, body.url)
    before = _audited(endpoint)
    if body.url is not None:
        endpoint.url = body.url
    if body.enabled_events is not None:
        endpoint.enabled_events = body.enabled_events
    if body.description is not None:
        endpoint.description = body.description
    if body.enabled is not None:
        endpoint.is_enabled = body.enabled
    after = _audited(endpoint)
    if after != before:
        endpoint.updated_at = utcnow()
        await session.flush()
        await record_audit(
            session,
            actor_id=user.id,
            action="webhook_endpoint.updated",
            object_type="webhook_endpoint",
            object_id=endpoint.id,
            before=before,
            after=after,
        )
    return endpoint


async def delete_endpoint(session: AsyncSession, user: User, endpoint_id: uuid.UUID) -> None:
    """Delete the endpoint with its delivery log; retries still scheduled find nothing to do."""
    endpoint = await get_endpoint(session, user, endpoint_id, lock=True)
    before = _audited(endpoint)
    await session.delete(endpoint)
    await session.flush()
    await record_audit(
        session,
        actor_id=user.id,
        action="webhook_endpoint.deleted",
        object_type="webhook_endpoint",
        object_id=endpoint_id,
        before=before,
    )


async def roll_secret(
    session: AsyncSession, settings: Settings, user: User, endpoint_id: uuid.UUID
) -> tuple[WebhookEndpoint, str]:
    """A new secret signs from now on; the replaced one keeps signing alongside it for
    WEBHOOK_SECRET_GRACE_HOURS, so the receiver can switch without losing an event."""
    endpoint = await get_endpoint(session, user, endpoint_id, lock=True)
    now = utcnow()
    grace = timedelta(hours=settings.webhook_secret_grace_hours)
    secret = signing.new_secret()
    if grace > timedelta(0):
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + grace
    else:
        endpoint.previous_secret = endpoint.previous_secret_expires_at = None
    endpoint.secret = secret
    endpoint.updated_at = now
    await session.flush()
    await record_audit(
        session,
        actor_id=user.id,
        action="webhook_endpoint.secret_rolled",
        object_type="webhook_endpoint",
        object_id=endpoint.id,
        after={"previous_secret_expires_at": endpoint.previous_secret_expires_at},
    )
    return endpoint, secret


def delivery_read(
    delivery: WebhookDelivery, event: EngagementEvent, attempts: Sequence[WebhookAttempt]
) -> WebhookDeliveryRead:
    return WebhookDeliveryRead(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=event.kind,
        engagement_id=event.engagement_id,
        status=delivery.status,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
        failed_at=delivery.failed_at,
        created_at=delivery.created_at,
        attempts=[
            WebhookAttemptRead(
                number=a.number,
                trigger=a.trigger,
                outcome=a.outcome,
                started_at=a.started_at,
                finished_at=a.finished_at,
                duration_ms=a.duration_ms,
                status_code=a.status_code,
                response_body=a.response_body,
                error=a.error,
            )
            for a in attempts
        ],
    )


async def delivery_reads(
    session: AsyncSession, deliveries: Sequence[WebhookDelivery]
) -> list[WebhookDeliveryRead]:
    ids = [d.id for d in deliveries]
    if not ids:
        return []
    events = {
        e.id: e
        for e in await session.scalars(
            select(EngagementEvent).where(EngagementEvent.id.in_([d.event_id for d in deliveries]))
        )
    }
    attempts: dict[uuid.UUID, list[WebhookAttempt]] = {i: [] for i in ids}
    for attempt in await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(ids))
        .order_by(WebhookAttempt.delivery_id, WebhookAttempt.number)
    ):
        attempts[attempt.delivery_id].append(attempt)
    return [delivery_read(d, events[d.event_id], attempts[d.id]) for d in deliveries]


async def list_deliveries(
    session: AsyncSession,
    user: User,
    endpoint_id: uuid.UUID,
    page: PageParams,
    *,
    status: DeliveryStatus | None = None,
) -> tuple[list[WebhookDeliveryRead], str | None]:
    """The endpoint's delivery log, newest first, each delivery with its attempts."""
    endpoint = await get_endpoint(session, user, endpoint_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status.value)
    rows, cursor = await paginate(
        session,
        stmt,
        page,
        created_at=WebhookDelivery.created_at,
        id_column=WebhookDelivery.id,
    )
    return await delivery_reads(session, rows), cursor


async def replay_delivery(
    session: AsyncSession, user: User, delivery_id: uuid.UUID
) -> WebhookDeliveryRead:
    """Send the delivery's event again now, as one more attempt (queued in this transaction).
    A success marks it delivered; a failed replay leaves it as it was (scheduled retries carry
    on, a failed delivery stays failed). Refused once the delivery's attempts, made and queued,
    reach MAX_ATTEMPTS."""
    delivery = await session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
    )
    if delivery is None:
        raise WebhookDeliveryNotFound("No such webhook delivery.")
    try:
        endpoint = await get_endpoint(session, user, delivery.endpoint_id)
    except WebhookEndpointNotFound:
        raise WebhookDeliveryNotFound("No such webhook delivery.") from None
    if not endpoint.is_enabled:
        raise WebhookEndpointDisabled(
            "The endpoint is disabled: enable it (PATCH enabled: true) to replay its deliveries.",
            endpoint_id=str(endpoint.id),
        )
    # Locked (once the caller may see it): replays of one delivery are counted one by one.
    await session.refresh(delivery, with_for_update=True)
    if delivery.attempts + await queued_replays(session, delivery.id) >= MAX_ATTEMPTS:
        raise WebhookDeliveryAttemptLimit(
            f"The delivery has had {MAX_ATTEMPTS} attempts (made or queued), the most one "
            "delivery takes; the event stays in the log.",
            limit=MAX_ATTEMPTS,
        )
    replay_id = uuid.uuid4()
    await defer_in_transaction(
        session, DELIVER_TASK, delivery_id=str(delivery.id), replay_id=str(replay_id)
    )
    await record_audit(
        session,
        actor_id=user.id,
        action="webhook_delivery.replayed",
        object_type="webhook_delivery",
        object_id=delivery.id,
        after={"replay_id": str(replay_id), "event_id": str(delivery.event_id)},
    )
    [read] = await delivery_reads(session, [delivery])
    return read
