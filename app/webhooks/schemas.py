from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from app.engagements.events import EventKind
from app.kit.openapi import DocumentedAs, ResponseModel, code_enum, omit_or_value
from app.kit.validation import ONE_LINE, Stated, reject_null
from app.webhooks.models import AttemptOutcome, AttemptTrigger, DeliveryStatus
from app.webhooks.urls import MAX_URL_LENGTH, URL_PATTERN, check_url

ALL_EVENTS = "*"
EVENT_TYPES = frozenset({ALL_EVENTS, *(k.value for k in EventKind)})
# Every event kind, and "*" for all of them (one named component for requests and responses).
WebhookEventTypes = code_enum("WebhookEventType", EVENT_TYPES)


def _check_event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        raise ValueError('not an event type; see docs/webhooks.md (or "*" for every event)')
    return value


def normalise_events(values: list[str]) -> list[str]:
    """Each kind once, in a stable order; "*" alone stands for all of them."""
    if ALL_EVENTS in values:
        return [ALL_EVENTS]
    return sorted(set(values))


EventType = Annotated[str, AfterValidator(_check_event_type), DocumentedAs(WebhookEventTypes)]
EnabledEvents = Annotated[
    list[EventType],
    Field(
        min_length=1,
        max_length=50,
        description='The event types sent to this endpoint, or ["*"] for all of them',
    ),
    AfterValidator(normalise_events),
]
WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL_LENGTH),
    Stated(check_url, (("pattern", URL_PATTERN),)),
    Field(
        description="Where events are POSTed: https with a public DNS name, no credentials "
        "(http only to a loopback receiver in local development)"
    ),
]
Description = Annotated[str, StringConstraints(max_length=500), ONE_LINE]


class WebhookEndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: WebhookUrl
    enabled_events: EnabledEvents
    description: Description = ""
    enabled: bool = True
    clinic_id: uuid.UUID | None = Field(
        default=None,
        description="The clinic whose events it receives; may be left out by a member who "
        "manages exactly one clinic. Operations leave it out for a platform endpoint, which "
        "receives every clinic's events",
    )


class WebhookEndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=omit_or_value())

    url: WebhookUrl | None = None
    enabled_events: EnabledEvents | None = None
    description: Description | None = None
    enabled: bool | None = None

    _no_nulls = field_validator("*")(reject_null)


class WebhookEndpointRead(ResponseModel):
    id: uuid.UUID
    clinic_id: uuid.UUID | None = Field(description="null for a platform endpoint")
    platform: bool = Field(description="Receives every clinic's events (operations only)")
    url: str
    description: str
    enabled_events: list[EventType]
    enabled: bool
    previous_secret_expires_at: datetime | None = Field(
        description="After a roll: until when the replaced secret still signs, alongside"
    )
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpointRead):
    secret: str = Field(
        description="The signing secret (whsec_...). Shown only in this answer: keep it now"
    )


class WebhookAttemptRead(ResponseModel):
    number: int
    trigger: AttemptTrigger
    outcome: AttemptOutcome
    started_at: datetime
    finished_at: datetime | None
    duration_ms: int | None
    status_code: int | None = Field(description="The receiver's HTTP status (null: no answer)")
    response_body: str | None = Field(description="The start of the receiver's answer")
    error: str | None = Field(description="Why no answer came (timeout, connection refused...)")


class WebhookDeliveryRead(ResponseModel):
    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: EventKind
    engagement_id: uuid.UUID
    status: DeliveryStatus
    next_attempt_at: datetime | None = Field(description="When the next retry is due")
    delivered_at: datetime | None
    failed_at: datetime | None
    created_at: datetime
    attempts: list[WebhookAttemptRead]
