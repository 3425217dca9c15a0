"""The operations daily summary: placements, how fast they happen, what needs a human."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import Field
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.vocabulary import CredentialStatus
from app.clinics.models import Intake
from app.config import Settings
from app.engagements.models import OPEN_DEPARTURE, DirectorDeparture, Engagement
from app.kit.clock import today
from app.kit.openapi import ResponseModel
from app.matching.models import Offer
from app.matching.service import stalled
from app.physicians.expiry import expiry_horizon
from app.physicians.models import DeaRegistration, License, MalpracticePolicy


class DailySummary(ResponseModel):
    day: date = Field(description="The UTC day the activity figures cover")
    intakes_submitted: int
    offers_sent: int
    placements: int = Field(description="Engagements confirmed that day")
    median_minutes_to_first_offer: float | None = Field(
        description="Over intakes submitted that day that got an offer"
    )
    median_minutes_to_acceptance: float | None = Field(
        description="Submit to a director's acceptance, over intakes matched that day"
    )
    stalled_intakes: int = Field(description="Now: matching past the placement target")
    directors_leaving: int = Field(description="Now: departures without a replacement yet")
    credentials_expiring: int = Field(
        description="Now: live licenses, DEA registrations and malpractice policies expiring "
        "within the warning window"
    )


def day_window(day: date) -> tuple[datetime, datetime]:
    """The UTC day `day` as the half-open interval [midnight, next midnight) of instants."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _minutes(later: Any, earlier: Any) -> ColumnElement[Any]:
    return func.extract("epoch", later - earlier) / 60.0


async def daily_summary(session: AsyncSession, *, day: date, settings: Settings) -> DailySummary:
    start, end = day_window(day)

    async def count(stmt: Any) -> int:
        return int(await session.scalar(stmt) or 0)

    def median(expr: ColumnElement[Any]) -> Any:
        return func.percentile_cont(0.5).within_group(expr)

    first_offer = await session.scalar(
        select(median(_minutes(Intake.first_offer_at, Intake.submitted_at))).where(
            Intake.submitted_at >= start,
            Intake.submitted_at < end,
            Intake.first_offer_at.is_not(None),
        )
    )
    acceptance = await session.scalar(
        select(median(_minutes(Intake.matched_at, Intake.submitted_at))).where(
            Intake.matched_at >= start, Intake.matched_at < end
        )
    )
    # A backlog figure: counted from today, whatever day the activity figures are for.
    horizon = expiry_horizon(today(), settings.credential_expiry_warning_days)
    live = (CredentialStatus.pending.value, CredentialStatus.verified.value)
    expiring = 0
    for model in (License, DeaRegistration, MalpracticePolicy):
        expiring += await count(
            select(func.count())
            .select_from(model)
            .where(model.status.in_(live), model.expires_on <= horizon)
        )
    return DailySummary(
        day=day,
        intakes_submitted=await count(
            select(func.count()).where(Intake.submitted_at >= start, Intake.submitted_at < end)
        ),
        offers_sent=await count(
            select(func.count()).where(Offer.created_at >= start, Offer.created_at < end)
        ),
        placements=await count(
            select(func.count()).where(
                Engagement.confirmed_at >= start, Engagement.confirmed_at < end
            )
        ),
        median_minutes_to_first_offer=round(first_offer, 2) if first_offer is not None else None,
        median_minutes_to_acceptance=round(acceptance, 2) if acceptance is not None else None,
        stalled_intakes=await count(
            select(func.count()).select_from(Intake).where(stalled(settings))
        ),
        directors_leaving=await count(
            select(func.count()).where(DirectorDeparture.status.in_(OPEN_DEPARTURE))
        ),
        credentials_expiring=expiring,
    )


def summary_text(s: DailySummary) -> str:
    def minutes(v: float | None) -> str:
        return "n/a" if v is None else f"{v:,.1f} min"

    return (
        f"{s.day:%Y-%m-%d}: {s.intakes_submitted} intakes submitted, {s.offers_sent} offers "
        f"sent, {s.placements} placements. Median time to first offer "
        f"{minutes(s.median_minutes_to_first_offer)}, to acceptance "
        f"{minutes(s.median_minutes_to_acceptance)}. Now: {s.stalled_intakes} stalled intakes, "
        f"{s.directors_leaving} directors leaving without a replacement, "
        f"{s.credentials_expiring} credentials expiring within "
        "the warning window."
    )
