"""Billing jobs: process stored Stripe events, cancel engagements left unpaid, reconcile every
open engagement with Stripe."""

from __future__ import annotations

from datetime import timedelta

import structlog
from procrastinate import RetryStrategy
from sqlalchemy import select

from app.billing import cases, expiry, payouts
from app.billing.models import StripeEvent
from app.billing.reconcile import open_engagements, reconcile_one
from app.billing.stripe_events import process_event
from app.billing.stripe_gateway import StripeGateway
from app.errors import UpstreamUnavailable
from app.jobs.queue import queue
from app.jobs.runtime import get_runtime
from app.kit.clock import today, utcnow

log = structlog.get_logger(__name__)

# Stripe or our database briefly unavailable: try again with backoff (about 30 minutes in all).
MAX_EVENT_ATTEMPTS = 20
RETRY = RetryStrategy(max_attempts=8, exponential_wait=2, retry_exceptions={UpstreamUnavailable})


def _gateway() -> StripeGateway:
    gateway: StripeGateway | None = get_runtime().stripe
    if gateway is None:
        raise RuntimeError("billing jobs need STRIPE_SECRET_KEY")
    return gateway


async def handle_event(event_id: str) -> str:
    """Process one stored event, once: the event row is locked while it is applied."""
    runtime = get_runtime()
    gateway = _gateway()
    async with runtime.sessionmaker() as session:
        event = await session.scalar(
            select(StripeEvent).where(StripeEvent.id == event_id).with_for_update()
        )
        if event is None or event.processed_at is not None:
            return "done-before"
        try:
            outcome = await process_event(session, gateway, event.payload)
        except Exception as exc:
            await session.rollback()
            await _record_failure(event_id, exc)
            raise
        event.attempts += 1
        event.processed_at = utcnow()
        event.last_error = None
        await session.commit()
    log.info("stripe_event_processed", event_id=event_id, type=event.type, outcome=outcome)
    return outcome


async def _record_failure(event_id: str, exc: Exception) -> None:
    detail = exc.detail if isinstance(exc, UpstreamUnavailable) else f"{type(exc).__name__}"
    async with get_runtime().sessionmaker() as session:
        row = await session.get(StripeEvent, event_id)
        if row is not None:
            row.attempts += 1
            row.last_error = detail
            await session.commit()


@queue.task(name="billing.process_stripe_event", retry=RETRY)
async def process_stripe_event(event_id: str) -> str:
    return await handle_event(event_id)


@queue.periodic(cron="* * * * *", periodic_id="stripe-event-backlog")
@queue.task(name="billing.process_event_backlog", queueing_lock="stripe-event-backlog")
async def process_event_backlog(timestamp: int) -> int:
    """Every minute: events stored more than a minute ago and still unprocessed (their job was
    lost, or failed for good) are processed here."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        ids = list(
            await session.scalars(
                select(StripeEvent.id)
                .where(
                    StripeEvent.processed_at.is_(None),
                    StripeEvent.received_at < utcnow() - timedelta(minutes=1),
                    # A poisoned event stops being retried; operations see its last_error.
                    StripeEvent.attempts < MAX_EVENT_ATTEMPTS,
                )
                .order_by(StripeEvent.received_at)
                .limit(500)
            )
        )
    done = 0
    for event_id in ids:
        try:
            await handle_event(event_id)
            done += 1
        except UpstreamUnavailable:
            break
        except Exception:
            log.exception("stripe_event_failed", event_id=event_id)
    return done


async def expire_unpaid_engagements() -> int:
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        ids = await expiry.overdue_engagements(session)
    canceled = 0
    for engagement_id in ids:
        async with runtime.sessionmaker() as session:
            try:
                if await expiry.expire_unpaid(session, runtime.stripe, engagement_id):
                    canceled += 1
                await session.commit()
            except Exception:
                # One engagement's trouble does not hold up the others; the next run retries.
                log.exception("expire_unpaid_failed", engagement_id=str(engagement_id))
    if canceled:
        log.info("unpaid_engagements_canceled", count=canceled)
    return canceled


@queue.periodic(cron="*/5 * * * *", periodic_id="unpaid-engagements")
@queue.task(name="billing.expire_unpaid", queueing_lock="unpaid-engagements", retry=RETRY)
async def expire_unpaid(timestamp: int) -> int:
    """Every five minutes: cancel engagements unpaid after the payment window (23 h)."""
    return await expire_unpaid_engagements()


async def reconcile_all() -> dict[str, int]:
    runtime = get_runtime()
    gateway = _gateway()
    async with runtime.sessionmaker() as session:
        ids = await open_engagements(session)
    result = {"checked": 0, "repaired": 0, "unreachable": 0, "failed": 0}
    for engagement_id in ids:
        async with runtime.sessionmaker() as session:
            try:
                repaired = await reconcile_one(session, gateway, engagement_id)
                await session.commit()
            except UpstreamUnavailable:
                result["unreachable"] += 1
                continue
            except Exception:
                log.exception("reconcile_failed", engagement_id=str(engagement_id))
                result["failed"] += 1
                continue
        result["checked"] += 1
        result["repaired"] += int(repaired)
    log.info("billing_reconciled", **result)
    return result


@queue.periodic(cron="17 * * * *", periodic_id="billing-reconcile")
@queue.task(name="billing.reconcile", queueing_lock="billing-reconcile")
async def reconcile(timestamp: int) -> dict[str, int]:
    """Hourly: compare every open engagement with its Stripe subscription and repair drift."""
    return await reconcile_all()


async def transfer_payouts_now() -> int:
    runtime = get_runtime()
    gateway = payouts.payout_gateway(runtime.settings, runtime.stripe)
    if gateway is None:
        return 0
    return await payouts.transfer_due(runtime.sessionmaker, gateway)


@queue.periodic(cron="30 6 * * *", periodic_id="payout-transfers")
@queue.task(name="billing.transfer_payouts", queueing_lock="payout-transfers", retry=RETRY)
async def transfer_payouts(timestamp: int) -> int:
    """Daily: Connect transfers of the accrued payout ledger (real Stripe, when enabled)."""
    return await transfer_payouts_now()


@queue.periodic(cron="0 14 2 * *", periodic_id="case-report-reminders")
@queue.task(name="billing.remind_case_reports", queueing_lock="case-report-reminders")
async def remind_case_reports(timestamp: int) -> int:
    """The 2nd of each month: remind per-case engagements to report last month's cases."""
    async with get_runtime().sessionmaker() as session:
        count = await cases.remind_missing_reports(session, on=today())
        await session.commit()
    return count
