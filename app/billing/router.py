"""Billing endpoints: card collection, subscribe, cancel, scope change, invoices, and the Stripe
webhook."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from sqlalchemy.dialects.postgresql import insert

from app.auth.deps import ClinicAdminUser, SettingsDep, require_role
from app.auth.models import Role, User
from app.billing import cancellation, cases, customers, invoices, jobs, scope_change, subscriptions
from app.billing.models import CaseReport, StripeEvent
from app.billing.schemas import (
    CancelRequest,
    CaseReportCreate,
    CaseReportList,
    CaseReportRead,
    EngagementBillingRead,
    InvoiceRead,
    ScopeChange,
    SetupIntentRead,
    WebhookAck,
)
from app.billing.stripe_gateway import SignatureInvalid, StripeGateway
from app.clinics.service import get_clinic
from app.db import SessionDep
from app.engagements.models import Engagement
from app.engagements.service import to_read
from app.errors import AppError, UpstreamUnavailable, ValidationFailed, problem_responses
from app.jobs.queue import defer_in_transaction
from app.kit.clock import utcnow
from app.kit.idempotency import AppRoute, idempotent
from app.kit.pagination import Page, PageParams, page_params
from app.pricing.schemas import ComplianceProblem

router = APIRouter(prefix="/v1", tags=["billing"], route_class=AppRoute)
PageDep = Annotated[PageParams, Depends(page_params)]
ClinicReader = Annotated[User, Depends(require_role(Role.clinic_admin, Role.ops_admin))]


class InvalidSignature(AppError):
    status, slug, title = 400, "invalid-signature", "The webhook signature is not valid"


async def stripe_gateway(request: Request) -> StripeGateway:
    gateway: StripeGateway | None = request.app.state.stripe
    if gateway is None:
        raise UpstreamUnavailable("Billing is not configured (STRIPE_SECRET_KEY is not set).")
    return gateway


GatewayDep = Annotated[StripeGateway, Depends(stripe_gateway)]
ClinicOrOps = Annotated[User, Depends(require_role(Role.clinic_admin, Role.ops_admin))]
CaseReporter = Annotated[
    User, Depends(require_role(Role.clinic_admin, Role.physician, Role.ops_admin))
]


async def _read(
    session: SessionDep,
    engagement: Engagement,
    *,
    client_secret: str | None = None,
    proration_cents: int | None = None,
) -> EngagementBillingRead:
    base = await to_read(session, engagement)
    return EngagementBillingRead(
        **base.model_dump(), client_secret=client_secret, proration_cents=proration_cents
    )


@router.post(
    "/engagements/{engagement_id}/payment-method",
    operation_id="create_payment_method_setup",
    responses=problem_responses(401, 403, 404, 409, 422, 502, 503),
)
@idempotent
async def payment_method(
    engagement_id: uuid.UUID, user: ClinicAdminUser, session: SessionDep, gateway: GatewayDep
) -> SetupIntentRead:
    """A Stripe SetupIntent for the clinic's card: confirm `setup_intent_client_secret` with
    Stripe.js, then call subscribe. An unconfirmed SetupIntent is handed out again."""
    read = await customers.payment_method(session, gateway, user, engagement_id)
    await session.commit()
    return SetupIntentRead(**read)


@router.post(
    "/engagements/{engagement_id}/subscribe",
    operation_id="subscribe_engagement",
    responses=problem_responses(401, 403, 404, 409, 422, 502, 503),
)
@idempotent
async def subscribe(
    engagement_id: uuid.UUID, user: ClinicAdminUser, session: SessionDep, gateway: GatewayDep
) -> EngagementBillingRead:
    """Attach the card confirmed on the SetupIntent (made the customer's default) and start the
    subscription, or, while `pending_payment`, pay the open invoice again. `payment_status`:
    `paid` (the engagement is `active`), `requires_action` (confirm `client_secret` with
    Stripe.js for 3-D Secure, then subscribe again) or `failed` (`failure_reason`; collect
    another card and subscribe again)."""
    result = await subscriptions.subscribe(session, gateway, user, engagement_id)
    read = await _read(session, result.engagement, client_secret=result.client_secret)
    await session.commit()
    return read


@router.post(
    "/engagements/{engagement_id}/cancel",
    operation_id="cancel_engagement",
    responses=problem_responses(401, 403, 404, 409, 422, 502, 503),
)
async def cancel(
    engagement_id: uuid.UUID,
    user: ClinicOrOps,
    session: SessionDep,
    gateway: GatewayDep,
    body: Annotated[CancelRequest | None, Body()] = None,
) -> EngagementBillingRead:
    """Cancel at the end of the paid period (the default: `ending` until then) or now
    (`canceled`; the directors' capacity is freed at once). Operations may cancel on the
    clinic's behalf with a `reason` (audited; the clinic's admins are told)."""
    request = body or CancelRequest()
    if user.role == Role.ops_admin.value and not request.reason:
        raise ValidationFailed(
            [
                {
                    "loc": ["body", "reason"],
                    "msg": "operations must give a reason to cancel on a clinic's behalf",
                    "type": "missing",
                }
            ]
        )
    engagement = await cancellation.cancel(
        session,
        gateway,
        user,
        engagement_id,
        at_period_end=request.at_period_end,
        reason=request.reason,
    )
    read = await _read(session, engagement)
    await session.commit()
    return read


@router.post(
    "/engagements/{engagement_id}/change-scope",
    operation_id="change_engagement_scope",
    responses=problem_responses(401, 403, 404, 409, 422, 502, 503, models={409: ComplianceProblem}),
)
@idempotent
async def change_scope(
    engagement_id: uuid.UUID,
    body: ScopeChange,
    user: ClinicAdminUser,
    session: SessionDep,
    settings: SettingsDep,
    gateway: GatewayDep,
) -> EngagementBillingRead:
    """Change services, providers, engagement model, oversight mode or patient volume. The
    directors are re-checked against the new scope (409 `scope-needs-new-director` with
    `reasons` when one no longer fits); the subscription moves to the new price, and the
    prorated difference for the rest of the period is billed on the next invoice. The answer
    carries the new quote."""
    engagement, proration = await scope_change.change_scope(
        session, gateway, settings, user, engagement_id, body
    )
    read = await _read(session, engagement, proration_cents=proration)
    await session.commit()
    return read


def _case_read(r: CaseReport) -> CaseReportRead:
    return CaseReportRead(
        id=r.id,
        engagement_id=r.engagement_id,
        month=f"{r.month:%Y-%m}",
        cases=r.cases,
        fee_cents=r.fee_cents,
        amount_cents=r.amount_cents,
        currency=r.currency,
        note=r.note,
        reported_at=r.reported_at,
        billing="paid"
        if r.paid_at is not None
        else "next_invoice"
        if r.stripe_invoice_item_id
        else "not_billed",
        stripe_invoice_id=r.stripe_invoice_id,
        paid_at=r.paid_at,
    )


@router.post(
    "/engagements/{engagement_id}/case-reports",
    status_code=201,
    operation_id="report_engagement_cases",
    responses=problem_responses(401, 403, 404, 409, 422, 502, 503),
)
@idempotent
async def report_cases(
    engagement_id: uuid.UUID,
    body: CaseReportCreate,
    user: CaseReporter,
    session: SessionDep,
    gateway: GatewayDep,
) -> CaseReportRead:
    """A per-case engagement's cases for one month (clinic members who manage billing, the
    engagement's directors, operations): billed on the engagement's next invoice; the
    directors accrue their share when it is paid. One report per month (409
    `case-report-exists`); 409 `not-per-case` for other engagements."""
    year, month = (int(x) for x in body.month.split("-"))
    report = await cases.report_cases(
        session,
        gateway,
        user,
        engagement_id,
        month=date(year, month, 1),
        cases=body.cases,
        note=body.note,
    )
    await session.commit()
    return _case_read(report)


@router.get(
    "/engagements/{engagement_id}/case-reports",
    operation_id="list_engagement_case_reports",
    responses=problem_responses(401, 403, 404, 422),
)
async def list_case_reports(
    engagement_id: uuid.UUID, user: CaseReporter, session: SessionDep
) -> CaseReportList:
    """The engagement's case reports, newest month first, and how each was billed."""
    rows = await cases.list_reports(session, user, engagement_id)
    return CaseReportList(items=[_case_read(r) for r in rows])


@router.get(
    "/clinics/{clinic_id}/invoices",
    operation_id="list_clinic_invoices",
    responses=problem_responses(401, 403, 404, 422),
)
async def clinic_invoices(
    clinic_id: uuid.UUID, user: ClinicReader, session: SessionDep, page: PageDep
) -> Page[InvoiceRead]:
    """The clinic's invoices as mirrored from Stripe, newest first (its admins, operations)."""
    clinic = await get_clinic(session, user, clinic_id)
    rows, cursor = await invoices.list_invoices(session, clinic.id, page)
    return Page(items=[InvoiceRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/billing/stripe/webhook",
    operation_id="stripe_webhook",
    responses=problem_responses(400, 503),
)
async def stripe_webhook(request: Request, session: SessionDep, gateway: GatewayDep) -> WebhookAck:
    """Stripe events. The signature is checked on the raw body (400 and nothing stored when it
    is wrong); each event is stored once by its id and processed by a job that re-reads the
    subscription from Stripe, so duplicates and any delivery order end in the same state."""
    payload = await request.body()
    try:
        event = gateway.verify_event(payload, request.headers.get("stripe-signature"))
    except SignatureInvalid:
        raise InvalidSignature(
            "The Stripe-Signature header does not match this body and our webhook secret."
        ) from None
    inserted = await session.scalar(
        insert(StripeEvent)
        .values(
            id=str(event["id"]),
            type=str(event.get("type")),
            stripe_created=datetime.fromtimestamp(int(event.get("created") or 0), UTC),
            payload=event,
            received_at=utcnow(),
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=[StripeEvent.id])
        .returning(StripeEvent.id)
    )
    if inserted is not None:
        # Queued in the same transaction: a stored event always has its job.
        await defer_in_transaction(session, jobs.process_stripe_event.name, event_id=inserted)
    await session.commit()
    return WebhookAck(received=True, duplicate=inserted is None)
