"""Webhook endpoints: register, list, change, delete, roll the secret; the delivery log and
replays. docs/webhooks.md says what is sent and how a receiver verifies it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.auth.deps import SettingsDep, require_role
from app.auth.models import Role, User
from app.db import SessionDep
from app.errors import problem_responses
from app.kit.idempotency import AppRoute, idempotent
from app.kit.pagination import Page, PageParams, page_params
from app.kit.ratelimit import limit_key, rate_limit
from app.webhooks import service
from app.webhooks.models import DeliveryStatus, WebhookEndpoint
from app.webhooks.schemas import (
    WebhookDeliveryRead,
    WebhookEndpointCreate,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecret,
)

router = APIRouter(prefix="/v1", tags=["webhooks"], route_class=AppRoute)
PageDep = Annotated[PageParams, Depends(page_params)]
Manager = Annotated[User, Depends(require_role(Role.clinic_admin, Role.ops_admin))]


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> WebhookEndpointWithSecret:
    return WebhookEndpointWithSecret(**service.to_read(endpoint).model_dump(), secret=secret)


@router.post(
    "/webhook-endpoints",
    status_code=201,
    operation_id="create_webhook_endpoint",
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
async def create_webhook_endpoint(
    body: WebhookEndpointCreate, user: Manager, session: SessionDep, settings: SettingsDep
) -> WebhookEndpointWithSecret:
    """Register an endpoint for a clinic's engagement events (its owner or admins), or, for
    operations without `clinic_id`, a platform endpoint that receives every clinic's events.
    The answer carries the signing `secret`, shown this once. 409 `clinic-not-chosen` when the
    caller manages several clinics and names none, `webhook-endpoint-limit` when the clinic
    (or the platform) has WEBHOOK_MAX_ENDPOINTS_PER_CLINIC endpoints already."""
    endpoint, secret = await service.create_endpoint(session, settings, user, body)
    read = _with_secret(endpoint, secret)
    await session.commit()
    return read


@router.get(
    "/webhook-endpoints",
    operation_id="list_webhook_endpoints",
    responses=problem_responses(401, 403, 404, 422),
)
async def list_webhook_endpoints(
    user: Manager,
    session: SessionDep,
    page: PageDep,
    clinic_id: Annotated[uuid.UUID | None, Query(description="Only this clinic's")] = None,
    platform: Annotated[
        bool | None, Query(description="true: only platform endpoints; false: only clinics'")
    ] = None,
) -> Page[WebhookEndpointRead]:
    """The endpoints of the clinics the caller manages (operations: every endpoint), newest
    first. Secrets are never listed."""
    rows, cursor = await service.list_endpoints(
        session, user, page, clinic_id=clinic_id, platform=platform
    )
    return Page(items=[service.to_read(e) for e in rows], next_cursor=cursor)


@router.get(
    "/webhook-endpoints/{endpoint_id}",
    operation_id="get_webhook_endpoint",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_webhook_endpoint(
    endpoint_id: uuid.UUID, user: Manager, session: SessionDep
) -> WebhookEndpointRead:
    """One endpoint (without its secret)."""
    return service.to_read(await service.get_endpoint(session, user, endpoint_id))


@router.patch(
    "/webhook-endpoints/{endpoint_id}",
    operation_id="update_webhook_endpoint",
    responses=problem_responses(401, 403, 404, 422),
)
async def update_webhook_endpoint(
    endpoint_id: uuid.UUID,
    body: WebhookEndpointUpdate,
    user: Manager,
    session: SessionDep,
    settings: SettingsDep,
) -> WebhookEndpointRead:
    """Change the URL, the event types, the description or whether it is enabled (a disabled
    endpoint receives nothing, and its scheduled retries are skipped)."""
    endpoint = await service.update_endpoint(session, settings, user, endpoint_id, body)
    read = service.to_read(endpoint)
    await session.commit()
    return read


@router.delete(
    "/webhook-endpoints/{endpoint_id}",
    status_code=204,
    operation_id="delete_webhook_endpoint",
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_webhook_endpoint(
    endpoint_id: uuid.UUID, user: Manager, session: SessionDep
) -> Response:
    """Delete the endpoint and its delivery log."""
    await service.delete_endpoint(session, user, endpoint_id)
    await session.commit()
    return Response(status_code=204)


@router.post(
    "/webhook-endpoints/{endpoint_id}/roll-secret",
    operation_id="roll_webhook_endpoint_secret",
    responses=problem_responses(401, 403, 404, 422),
)
@idempotent
async def roll_webhook_endpoint_secret(
    endpoint_id: uuid.UUID, user: Manager, session: SessionDep, settings: SettingsDep
) -> WebhookEndpointWithSecret:
    """A new signing secret, shown this once. The replaced secret keeps signing alongside it
    (each delivery then carries both signatures) until `previous_secret_expires_at` (24 hours
    by default), so the receiver can switch without missing an event."""
    endpoint, secret = await service.roll_secret(session, settings, user, endpoint_id)
    read = _with_secret(endpoint, secret)
    await session.commit()
    return read


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries",
    operation_id="list_webhook_deliveries",
    responses=problem_responses(401, 403, 404, 422),
)
async def list_webhook_deliveries(
    endpoint_id: uuid.UUID,
    user: Manager,
    session: SessionDep,
    page: PageDep,
    status: Annotated[DeliveryStatus | None, Query(description="Only these")] = None,
) -> Page[WebhookDeliveryRead]:
    """The endpoint's delivery log, newest first: each event sent, with every attempt's time,
    HTTP status, the start of the answer, duration and error."""
    items, cursor = await service.list_deliveries(session, user, endpoint_id, page, status=status)
    return Page(items=items, next_cursor=cursor)


@router.post(
    "/webhook-deliveries/{delivery_id}/replay",
    status_code=202,
    operation_id="replay_webhook_delivery",
    dependencies=[Depends(rate_limit("webhook-replay", "rate_limit_webhook_replay"))],
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
@idempotent
async def replay_webhook_delivery(
    delivery_id: uuid.UUID, user: Manager, session: SessionDep, request: Request
) -> WebhookDeliveryRead:
    """Send the delivery's event again now (queued; it appears as a new `replay` attempt in
    the log). A success marks the delivery delivered; a failure leaves it as it was. 409
    `webhook-endpoint-disabled` while its endpoint is disabled, `webhook-delivery-attempt-limit`
    once the delivery has had 100 attempts (made or queued); 429 beyond
    RATE_LIMIT_WEBHOOK_REPLAY (per client address, and per account)."""
    await limit_key(request, "webhook-replay-account", "rate_limit_webhook_replay", str(user.id))
    read = await service.replay_delivery(session, user, delivery_id)
    await session.commit()
    return read
