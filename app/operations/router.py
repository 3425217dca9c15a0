"""Operations overrides: re-match an intake, offer it to a named physician, withdraw an offer,
refund an invoice. Operations only (403 for everyone else); each is audited with its reason."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.deps import OpsUser, SettingsDep
from app.billing.router import GatewayDep
from app.clinics.router import intake_read
from app.clinics.schemas import IntakeRead
from app.db import SessionDep
from app.errors import ValidationFailed, problem_responses
from app.kit.clock import today
from app.kit.idempotency import AppRoute
from app.kit.validation import IsoDate
from app.matching.router import offer_read
from app.matching.schemas import OfferRead
from app.operations import service
from app.operations.schemas import DirectOffer, OverrideReason, RefundRead, RefundRequest
from app.operations.summary import DailySummary, daily_summary

router = APIRouter(prefix="/v1", tags=["operations"], route_class=AppRoute)

# Before mdmatch existed there is nothing to report; the bound keeps day arithmetic in range.
EARLIEST_REPORT_DAY = date(2020, 1, 1)


@router.get(
    "/reports/daily",
    operation_id="daily_summary",
    responses=problem_responses(401, 403, 422),
)
async def daily_report(
    ops: OpsUser,
    session: SessionDep,
    settings: SettingsDep,
    on: Annotated[IsoDate | None, Query(description="The UTC day (default: yesterday)")] = None,
) -> DailySummary:
    """The operations summary the daily job sends: a day's placements and their speed, and
    the current backlog (stalled intakes, directors leaving, credentials expiring). `on` is a
    past day or today (a day still to come has nothing to report)."""
    if on is not None and not (EARLIEST_REPORT_DAY <= on <= today()):
        raise ValidationFailed(
            [
                {
                    "loc": ["query", "on"],
                    "msg": f"must be a day from {EARLIEST_REPORT_DAY} to today (UTC)",
                }
            ]
        )
    return await daily_summary(session, day=on or today() - timedelta(days=1), settings=settings)


@router.post(
    "/intakes/{intake_id}/rematch",
    operation_id="rematch_intake",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def rematch(
    intake_id: uuid.UUID,
    body: OverrideReason,
    ops: OpsUser,
    session: SessionDep,
    settings: SettingsDep,
) -> IntakeRead:
    """Run matching again for an intake still matching or unmatched (a fresh round; open offers
    withdrawn), or restart the replacement search of a director nobody has replaced yet."""
    intake = await service.rematch(
        session, intake_id, reason=body.reason, actor=ops, settings=settings
    )
    read = intake_read(intake)
    await session.commit()
    return read


@router.post(
    "/intakes/{intake_id}/offers",
    operation_id="offer_intake_to_physician",
    status_code=201,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def offer_to(
    intake_id: uuid.UUID,
    body: DirectOffer,
    ops: OpsUser,
    session: SessionDep,
    settings: SettingsDep,
) -> OfferRead:
    """Offer an intake's open state group to a named physician. The hard constraints are
    checked (409 `constraints-not-met` naming them) unless `force`, which is audited."""
    offer = await service.offer_to(
        session,
        intake_id,
        body.physician_id,
        reason=body.reason,
        force=body.force,
        states=body.states,
        actor=ops,
        settings=settings,
    )
    read = await offer_read(session, offer, for_ops=True)
    await session.commit()
    return read


@router.post(
    "/offers/{offer_id}/withdraw",
    operation_id="withdraw_offer",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def withdraw_offer(
    offer_id: uuid.UUID,
    body: OverrideReason,
    ops: OpsUser,
    session: SessionDep,
    settings: SettingsDep,
) -> OfferRead:
    """Withdraw a pending offer (the physician is told); the cascade offers the next one."""
    offer = await service.withdraw_offer(
        session, offer_id, reason=body.reason, actor=ops, settings=settings
    )
    read = await offer_read(session, offer, for_ops=True)
    await session.commit()
    return read


@router.post(
    "/invoices/{invoice_id}/refund",
    operation_id="refund_invoice",
    responses=problem_responses(401, 403, 404, 409, 422, 502, 503),
)
async def refund(
    invoice_id: uuid.UUID,
    body: RefundRequest,
    ops: OpsUser,
    session: SessionDep,
    gateway: GatewayDep,
) -> RefundRead:
    """Refund a paid invoice, in full (the default) or in part, to the clinic's card."""
    invoice, stripe_refund = await service.refund_invoice(
        session, gateway, invoice_id, amount_cents=body.amount_cents, reason=body.reason, actor=ops
    )
    read = RefundRead(
        invoice_id=invoice.id,
        stripe_refund_id=str(stripe_refund.get("id")),
        amount_cents=int(stripe_refund.get("amount") or 0),
        amount_refunded_cents=invoice.amount_refunded_cents,
    )
    await session.commit()
    return read
