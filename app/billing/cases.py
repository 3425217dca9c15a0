"""Per-case engagements bill the cases actually reported.

The quote shows the expected cases as an estimate; the subscription bills the monthly minimum.
Each month the clinic (a member who may manage billing) or its director reports the cases of
that month; the report becomes a Stripe invoice item (created at most once, under a key) that
lands on the engagement's next invoice. When that invoice is paid the directors accrue their
payout share of the cases (`app/billing/sync.py: accrue_case_payouts`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import String, cast, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import User
from app.billing.access import EngagementNotBillable, load_for_admin
from app.billing.customers import ensure_customer
from app.billing.invoice_items import add_invoice_item_once
from app.billing.models import CaseReport
from app.billing.stripe_gateway import StripeGateway
from app.engagements.models import DirectorRole, Engagement, EngagementDirector, EngagementStatus
from app.engagements.service import get_engagement
from app.errors import Conflict, ValidationFailed
from app.kit.clock import today, utcnow
from app.notifications.models import Notification
from app.notifications.recipients import clinic_admin_ids
from app.notifications.service import notify
from app.physicians.models import Physician
from app.pricing.models import PriceBookVersion, Quote

# An engagement bills reported cases while Stripe bills it (not before its first payment, not
# after it ended).
BILLABLE = (
    EngagementStatus.active.value,
    EngagementStatus.past_due.value,
    EngagementStatus.ending.value,
)


class NotPerCase(Conflict):
    slug, title = "not-per-case", "The engagement is not billed per case"


class CaseReportExists(Conflict):
    slug, title = "case-report-exists", "Cases for this month are already reported"


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def month_label(month: date) -> str:
    return f"{month:%B %Y}"


def previous_month(day: date) -> date:
    """The first day of the month before `day`'s (January gives the previous December)."""
    first = first_of_month(day)
    return (first - timedelta(days=1)).replace(day=1)


async def _per_case_fee(session: AsyncSession, engagement: Engagement) -> tuple[int, str]:
    """The fee of one case under the engagement's quote (its price book), and the currency;
    NotPerCase unless the engagement is billed per case."""
    quote = await session.get(Quote, engagement.quote_id)
    assert quote is not None
    if quote.inputs.get("engagement_model") != "per_case":
        raise NotPerCase(
            "Only per-case engagements report cases; this one is billed "
            f"{quote.inputs.get('engagement_model', 'monthly').replace('_', ' ')}.",
            engagement_model=quote.inputs.get("engagement_model"),
        )
    fee = await session.scalar(
        select(PriceBookVersion.data["per_case_fee_cents"].as_integer()).where(
            PriceBookVersion.version == quote.pricing_version
        )
    )
    assert fee is not None, "a per-case quote's price book sets a case fee"
    return int(fee), quote.currency


def _check_month(engagement: Engagement, month: date) -> None:
    """A month the engagement ran in: from the month it was confirmed to the current one."""
    started = first_of_month(engagement.confirmed_at.date())
    current = first_of_month(today())
    if month > current:
        msg = f"{month_label(month)} has not started; report a month once its cases are known"
    elif month < started:
        msg = f"the engagement started in {month_label(started)}"
    else:
        return
    raise ValidationFailed([{"loc": ["body", "month"], "msg": msg}])


async def report_cases(
    session: AsyncSession,
    gateway: StripeGateway,
    user: User,
    engagement_id: uuid.UUID,
    *,
    month: date,
    cases: int,
    note: str | None,
) -> CaseReport:
    """Record one month's cases and bill them on the engagement's next invoice. The engagement
    row is locked, so two reports of one month cannot both be billed."""
    # Clinic members who may manage billing, the engagement's directors, operations.
    engagement, clinic = await load_for_admin(session, user, engagement_id)
    fee, currency = await _per_case_fee(session, engagement)
    if engagement.status not in BILLABLE:
        raise EngagementNotBillable(
            f"The engagement is {engagement.status}: cases are reported while it is billed "
            "(after its first payment, until it ends).",
            engagement_status=engagement.status,
        )
    _check_month(engagement, month)
    existing = await session.scalar(
        select(CaseReport).where(
            CaseReport.engagement_id == engagement.id, CaseReport.month == month
        )
    )
    if existing is not None:
        raise CaseReportExists(
            f"{existing.cases} cases were reported for {month_label(month)} on "
            f"{existing.reported_at:%Y-%m-%d}; they are billed. Ask operations to correct them.",
            case_report_id=str(existing.id),
        )
    report = CaseReport(
        id=uuid.uuid4(),
        engagement_id=engagement.id,
        month=month,
        cases=cases,
        fee_cents=fee,
        amount_cents=cases * fee,
        currency=currency,
        note=note,
        reported_by=user.id,
        reported_at=utcnow(),
    )
    session.add(report)
    await session.flush()
    if report.amount_cents > 0:
        customer = await ensure_customer(session, gateway, clinic)
        report.stripe_invoice_item_id = await add_invoice_item_once(
            session,
            gateway,
            engagement,
            key=f"case-report:{engagement.id}:{month:%Y-%m}",
            kind="cases",
            amount_cents=report.amount_cents,
            description=f"{cases} cases in {month_label(month)} at ${fee / 100:,.2f} "
            "(per-case oversight)",
            customer=customer,
        )
    await record_audit(
        session,
        actor_id=user.id,
        action="engagement.cases_reported",
        object_type="engagement",
        object_id=engagement.id,
        after={
            "month": month.isoformat(),
            "cases": cases,
            "amount_cents": report.amount_cents,
            "stripe_invoice_item_id": report.stripe_invoice_item_id,
        },
    )
    await session.flush()
    return report


async def list_reports(
    session: AsyncSession, user: User, engagement_id: uuid.UUID
) -> Sequence[CaseReport]:
    """The engagement's case reports, newest month first (anyone who may see it)."""
    engagement = await get_engagement(session, user, engagement_id)
    return list(
        await session.scalars(
            select(CaseReport)
            .where(CaseReport.engagement_id == engagement.id)
            .order_by(CaseReport.month.desc())
        )
    )


async def remind_missing_reports(session: AsyncSession, *, on: date) -> int:
    """Per-case engagements billed in the month before `on` with no case report for it: the
    clinic's members and the directors are reminded (in the app), once per month. Returns how
    many engagements were reminded."""
    month = previous_month(on)
    rows = (
        await session.execute(
            select(Engagement.id, Engagement.clinic_id)
            .join(Quote, Quote.id == Engagement.quote_id)
            .where(
                Engagement.status.in_(BILLABLE),
                Quote.inputs["engagement_model"].astext == "per_case",
                # Confirmed before the month ended: it ran during the month.
                func.date(func.timezone("UTC", Engagement.confirmed_at)) < first_of_month(on),
                ~exists().where(
                    CaseReport.engagement_id == Engagement.id, CaseReport.month == month
                ),
                ~exists().where(
                    Notification.kind == "engagement.cases_report_due",
                    Notification.data["engagement_id"].astext == cast(Engagement.id, String),
                    Notification.data["month"].astext == f"{month:%Y-%m}",
                ),
            )
        )
    ).all()
    for engagement_id, clinic_id in rows:
        members = await clinic_admin_ids(session, clinic_id)
        directors = list(
            await session.scalars(
                select(Physician.user_id)
                .join(EngagementDirector, EngagementDirector.physician_id == Physician.id)
                .where(
                    EngagementDirector.engagement_id == engagement_id,
                    EngagementDirector.ended_at.is_(None),
                    EngagementDirector.role == DirectorRole.primary.value,
                )
            )
        )
        for user_id in members + directors:
            await notify(
                session,
                user_id=user_id,
                kind="engagement.cases_report_due",
                email=True,
                title=f"Report {month_label(month)}'s cases",
                body=f"No cases are reported yet for {month_label(month)}. Report them "
                "(POST /v1/engagements/{id}/case-reports) so they are billed on the next "
                "invoice; report 0 if there were none.",
                data={"engagement_id": str(engagement_id), "month": f"{month:%Y-%m}"},
                flush=False,
            )
    await session.flush()
    return len(rows)
