"""Price books, quotes for intakes and instant quotes, and intake submission."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import User
from app.catalog.cache import reference_cache
from app.catalog.services import ServiceDef, service_catalog
from app.clinics.compliance import StateContext
from app.clinics.models import Clinic, Intake, IntakeStatus
from app.clinics.service import (
    hours_by_state,
    provider_counts,
    refresh_compliance,
    state_contexts,
)
from app.clinics.status import IntakeTransitionNotAllowed, transition
from app.errors import Conflict, NotFound, ValidationFailed
from app.kit.clock import today, utcnow
from app.pricing import quotes
from app.pricing.models import PriceBookVersion, Quote
from app.pricing.price_book import PriceBook, default_price_book
from app.pricing.schemas import LineItemRead, QuoteRead, QuoteRequest


class BlockingComplianceFlags(Conflict):
    slug, title = "blocking-compliance-flags", "Blocking compliance flags"


class PromotionUsed(Conflict):
    slug, title = "promotion-used", "The clinic has used this promotion"


class PriceBookVersionExists(Conflict):
    slug, title = "price-book-version-exists", "Price book version already published"


# --- price books ----------------------------------------------------------------------------


async def load_default_price_book(session: AsyncSession) -> int:
    """Seed the shipped price book if it was never published (idempotent)."""
    book = default_price_book()
    result = await session.execute(
        insert(PriceBookVersion)
        .values(
            version=book.version,
            data=book.model_dump(mode="json"),
            notes=book.notes,
            published_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[PriceBookVersion.version])
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def current_price_book(session: AsyncSession) -> PriceBook:
    row = await session.scalar(
        select(PriceBookVersion).order_by(PriceBookVersion.published_at.desc()).limit(1)
    )
    if row is None:
        raise RuntimeError("no price book is published; run `mdmatch seed`")
    return PriceBook.model_validate(row.data)


async def price_book(session: AsyncSession, version: str) -> PriceBook:
    row = await session.get(PriceBookVersion, version)
    if row is None:
        raise NotFound(f"No price book version {version!r}.")
    return PriceBook.model_validate(row.data)


async def list_price_books(session: AsyncSession) -> Sequence[PriceBookVersion]:
    return (
        await session.scalars(
            select(PriceBookVersion).order_by(PriceBookVersion.published_at.desc())
        )
    ).all()


async def publish_price_book(
    session: AsyncSession, book: PriceBook, *, actor_id: uuid.UUID | None
) -> PriceBookVersion:
    if await session.get(PriceBookVersion, book.version) is not None:
        raise PriceBookVersionExists(
            f"Version {book.version} is already published; published books never change. "
            "Publish it under a new version."
        )
    row = PriceBookVersion(
        version=book.version,
        data=book.model_dump(mode="json"),
        notes=book.notes,
        published_at=utcnow(),
        published_by=actor_id,
    )
    session.add(row)
    await session.flush()
    await record_audit(
        session,
        actor_id=actor_id,
        action="price_book.published",
        object_type="price_book",
        object_id=book.version,
        after={"version": book.version, "notes": book.notes},
    )
    reference_cache.clear()
    return row


# --- quotes ---------------------------------------------------------------------------------


def _state_snapshot(ctx: StateContext, tier: int) -> dict[str, Any]:
    return {"code": ctx.code, "oversight_tier": tier, **asdict(ctx.facts)} | {
        "gfe_required_by": list(ctx.facts.gfe_required_by)
    }


def _service_snapshot(code: str) -> dict[str, Any]:
    s = service_catalog()[code]
    return {k: getattr(s, k) for k in s.__slots__} | {"fit_specialties": list(s.fit_specialties)}


def _compute(
    data: quotes.QuoteInput, tiers: dict[str, int], book: PriceBook, catalog: dict[str, ServiceDef]
) -> quotes.QuoteResult:
    try:
        return quotes.compute_quote(data, tiers=tiers, catalog=catalog, book=book, today=today())
    except quotes.UnknownPromotion as exc:
        raise ValidationFailed(
            [{"loc": ["body", "promo_code"], "msg": f"unknown or expired promotion code {exc}"}]
        ) from exc
    except quotes.PromotionNotValid as exc:
        raise ValidationFailed(
            [{"loc": ["body", "promo_code"], "msg": f"not valid today: {exc}"}]
        ) from exc
    except quotes.OptionNotOffered as exc:
        raise ValidationFailed(
            [{"loc": ["body", str(exc)], "msg": "not offered by the price book in force"}]
        ) from exc


def to_read(result: quotes.QuoteResult, flags: list[dict[str, Any]], **extra: Any) -> QuoteRead:
    return QuoteRead(
        pricing_version=result.pricing_version,
        currency=result.currency,
        billing_interval=result.billing_interval,
        line_items=[LineItemRead(**asdict(li)) for li in result.line_items],
        monthly_total_cents=result.monthly_total_cents,
        estimated_monthly_cents=result.monthly_total_cents
        + sum(li.amount_cents for li in result.line_items if li.kind == "estimate"),
        first_invoice_cents=result.first_invoice_cents,
        physician_payout_cents=result.physician_payout_cents,
        platform_fee_cents=result.platform_fee_cents,
        oversight_tier=result.strictest_tier,
        valid_until=result.valid_until,
        compliance_flags=flags,
        **extra,
    )


def estimated_monthly(total_cents: int, lines: Sequence[Mapping[str, Any]]) -> int:
    """The monthly total with the estimate lines (expected per-case fees) added."""
    return total_cents + sum(int(li["amount_cents"]) for li in lines if li["kind"] == "estimate")


def quote_read(row: Quote) -> QuoteRead:
    return QuoteRead(
        id=row.id,
        intake_id=row.intake_id,
        pricing_version=row.pricing_version,
        currency=row.currency,
        billing_interval=row.billing_interval,
        line_items=row.line_items,
        monthly_total_cents=row.monthly_total_cents,
        estimated_monthly_cents=estimated_monthly(row.monthly_total_cents, row.line_items),
        first_invoice_cents=row.first_invoice_cents,
        physician_payout_cents=row.physician_payout_cents,
        platform_fee_cents=row.platform_fee_cents,
        oversight_tier=row.oversight_tier,
        valid_until=row.valid_until,
        compliance_flags=row.compliance_flags,
        created_at=row.created_at,
    )


_StateKey = tuple[str, str, int]  # ("state", code, cap): a key of the reference cache


async def _cached_state_contexts(
    session: AsyncSession, codes: Sequence[str], *, default_cap: int, ttl: float
) -> list[StateContext]:
    """`state_contexts` through the reference cache (a context depends on the cap it was
    made with, so the cap is part of its key)."""

    async def load(keys: list[_StateKey]) -> dict[_StateKey, StateContext]:
        found = await state_contexts(
            session, [code for _, code, _ in keys], default_cap=default_cap
        )
        return {("state", ctx.code, default_cap): ctx for ctx in found}

    keys = [("state", code, default_cap) for code in sorted(set(codes))]
    return await reference_cache.many(keys, load, ttl=ttl)


async def instant_quote(
    session: AsyncSession, body: QuoteRequest, *, default_cap: int, cache_ttl: float = 0
) -> QuoteRead:
    """Price an intake-shaped body now (nothing stored). Reference data may come from the
    per-process cache (`cache_ttl` seconds; see app/catalog/cache.py)."""
    from app.clinics.compliance import compliance_flags

    locations = tuple(quotes.QuoteLocation(loc.state, loc.zip) for loc in body.locations)
    contexts = await _cached_state_contexts(
        session, [loc.state for loc in locations], default_cap=default_cap, ttl=cache_ttl
    )
    book = await reference_cache.one(
        "price_book", lambda: current_price_book(session), ttl=cache_ttl
    )
    data = quotes.QuoteInput(
        services=tuple(body.services),
        providers=body.provider_counts(),
        engagement_model=body.engagement_model.value,
        oversight_mode=body.oversight_mode.value,
        billing_interval=body.billing_interval.value,
        monthly_patient_volume=body.monthly_patient_volume,
        rush=body.rush,
        standing_backup=body.standing_backup,
        promo_code=body.promo_code,
        locations=locations,
        onsite_hours_per_month=sum(h.hours_per_month for h in body.onsite_hours),
    )
    tiers = {c.code: _tier(c) for c in contexts}
    result = _compute(data, tiers, book, service_catalog())
    flags = compliance_flags(
        services=body.services,
        providers=body.provider_counts(),
        oversight_mode=body.oversight_mode.value,
        ownership_model=body.ownership_model.value if body.ownership_model else None,
        physician_performs_services=body.physician_performs_services,
        states=contexts,
        catalog=service_catalog(),
        onsite_hours=hours_by_state(
            [loc.state for loc in body.locations],
            {h.location: h.hours_per_month for h in body.onsite_hours},
        ),
    )
    return to_read(result, [f.as_dict() for f in flags])


def _tier(ctx: StateContext) -> int:
    from app.catalog.rules import oversight_tier

    return oversight_tier(ctx.facts)


def intake_quote_input(intake: Intake, clinic: Clinic) -> quotes.QuoteInput:
    return quotes.QuoteInput(
        services=tuple(intake.services),
        providers=provider_counts(intake),
        engagement_model=intake.engagement_model,
        oversight_mode=intake.oversight_mode,
        billing_interval=intake.billing_interval,
        monthly_patient_volume=intake.monthly_patient_volume,
        rush=intake.rush,
        standing_backup=intake.standing_backup,
        promo_code=intake.promo_code,
        locations=tuple(quotes.QuoteLocation(loc.state, loc.zip) for loc in clinic.locations),
        onsite_hours_per_month=sum(int(h["hours_per_month"]) for h in intake.onsite_hours or []),
    )


def _input_json(data: quotes.QuoteInput) -> dict[str, Any]:
    return {
        "services": list(data.services),
        "providers": dict(data.providers),
        "engagement_model": data.engagement_model,
        "oversight_mode": data.oversight_mode,
        "billing_interval": data.billing_interval,
        "monthly_patient_volume": data.monthly_patient_volume,
        "rush": data.rush,
        "standing_backup": data.standing_backup,
        "promo_code": data.promo_code,
        "locations": [{"state": loc.state, "zip": loc.zip} for loc in data.locations],
        "onsite_hours_per_month": data.onsite_hours_per_month,
    }


async def persist_intake_quote(
    session: AsyncSession,
    intake: Intake,
    clinic: Clinic,
    *,
    default_cap: int,
    one_time: bool = True,
) -> Quote:
    """Price the intake now and store the quote. `one_time=False` prices a scope change of a
    running engagement: its rush fee and first-invoice promotion were billed already."""
    contexts = await state_contexts(
        session, [loc.state for loc in clinic.locations], default_cap=default_cap
    )
    book = await current_price_book(session)
    data = intake_quote_input(intake, clinic)
    if not one_time:
        data = replace(data, rush=False, promo_code=None)
    tiers = {c.code: _tier(c) for c in contexts}
    result = _compute(data, tiers, book, service_catalog())
    row = Quote(
        id=uuid.uuid4(),
        intake_id=intake.id,
        pricing_version=result.pricing_version,
        currency=result.currency,
        billing_interval=result.billing_interval,
        line_items=[asdict(li) for li in result.line_items],
        monthly_total_cents=result.monthly_total_cents,
        first_invoice_cents=result.first_invoice_cents,
        physician_payout_cents=result.physician_payout_cents,
        platform_fee_cents=result.platform_fee_cents,
        oversight_tier=result.strictest_tier,
        valid_until=result.valid_until,
        compliance_flags=intake.compliance_flags,
        inputs=_input_json(data),
        state_rules_used={c.code: _state_snapshot(c, tiers[c.code]) for c in contexts},
        services_used={code: _service_snapshot(code) for code in data.services},
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def reprice(session: AsyncSession, row: Quote) -> quotes.QuoteResult:
    """Recompute a persisted quote from what it stored: the same result, whatever the current
    price book, state rules or catalog say now."""
    inputs = row.inputs
    data = quotes.QuoteInput(
        services=tuple(inputs["services"]),
        providers=inputs["providers"],
        engagement_model=inputs["engagement_model"],
        oversight_mode=inputs["oversight_mode"],
        billing_interval=inputs["billing_interval"],
        monthly_patient_volume=inputs["monthly_patient_volume"],
        rush=inputs["rush"],
        standing_backup=inputs.get("standing_backup", False),
        promo_code=inputs["promo_code"],
        locations=tuple(quotes.QuoteLocation(x["state"], x["zip"]) for x in inputs["locations"]),
        onsite_hours_per_month=int(inputs.get("onsite_hours_per_month", 0)),
    )
    catalog = {
        code: ServiceDef(**{**s, "fit_specialties": tuple(s["fit_specialties"])})
        for code, s in row.services_used.items()
    }
    tiers = {code: int(s["oversight_tier"]) for code, s in row.state_rules_used.items()}
    book = await price_book(session, row.pricing_version)
    result = quotes.compute_quote(
        data, tiers=tiers, catalog=catalog, book=book, today=row.created_at.date()
    )
    return replace(result, valid_until=row.valid_until)


async def latest_quote(session: AsyncSession, intake_id: uuid.UUID) -> Quote:
    row = await session.scalar(
        select(Quote).where(Quote.intake_id == intake_id).order_by(Quote.created_at.desc()).limit(1)
    )
    if row is None:
        raise NotFound("This intake has no quote yet; it is priced when submitted.")
    return row


# --- submission -----------------------------------------------------------------------------


async def submit_intake(
    session: AsyncSession, intake: Intake, clinic: Clinic, *, actor: User, default_cap: int
) -> Quote:
    """Freeze the intake, re-check compliance against today's rules, persist its quote and move
    it to `matching`. The caller holds the intake's row lock."""
    before = intake.status
    if before not in (IntakeStatus.draft.value, IntakeStatus.unmatched.value):
        raise IntakeTransitionNotAllowed(
            f"An intake that is {before} cannot be submitted; only drafts and unmatched "
            "intakes can.",
            intake_status=before,
        )
    await refresh_compliance(session, intake, clinic, default_cap=default_cap)
    await _promotion_unused(session, intake)
    blocking = [f for f in intake.compliance_flags if f["severity"] == "blocking"]
    if blocking:
        raise BlockingComplianceFlags(
            "Resolve these before submitting: " + " ".join(f["message"] for f in blocking),
            flags=blocking,
        )
    quote = await persist_intake_quote(session, intake, clinic, default_cap=default_cap)
    transition(intake, IntakeStatus.matching)
    intake.submitted_at = utcnow()
    await session.flush()
    await record_audit(
        session,
        actor_id=actor.id,
        action="intake.submitted",
        object_type="intake",
        object_id=intake.id,
        before={"status": before},
        after={
            "status": intake.status,
            "quote_id": str(quote.id),
            "monthly_total_cents": quote.monthly_total_cents,
        },
    )
    return quote


async def _promotion_unused(session: AsyncSession, intake: Intake) -> None:
    """A once-per-clinic promotion goes with one of the clinic's intakes at a time: none other
    being matched, matched or confirmed with it. Submits of one clinic's intakes with a promotion
    are serialised by a transaction-scoped advisory lock on the clinic (no row lock, so no lock
    order to keep with intake and roster edits)."""
    if not intake.promo_code:
        return
    promo = (await current_price_book(session)).promotions.get(intake.promo_code.upper())
    if promo is None or not promo.once_per_clinic:
        return
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext("promo:" + str(intake.clinic_id))))
    )
    other = await session.scalar(
        select(Intake.id)
        .where(
            Intake.clinic_id == intake.clinic_id,
            Intake.id != intake.id,
            func.upper(Intake.promo_code) == intake.promo_code.upper(),
            Intake.status.in_(
                [
                    IntakeStatus.matching.value,
                    IntakeStatus.matched.value,
                    IntakeStatus.confirmed.value,
                ]
            ),
        )
        .limit(1)
    )
    if other is not None:
        raise PromotionUsed(
            f"{intake.promo_code.upper()} applies once per clinic, and another of this "
            "clinic's intakes uses it. Remove the code from this intake, or withdraw the other.",
            intake_id=str(other),
        )


def backup_payout_cents(quote: Quote) -> int:
    """The standing backup director's share of the quote's physician payout: the payout in
    proportion to the standing-backup line (0 when the quote has none)."""
    line = next((li for li in quote.line_items if li["code"] == "standing_backup"), None)
    if line is None or quote.monthly_total_cents <= 0:
        return 0
    return int(quote.physician_payout_cents * line["amount_cents"] // quote.monthly_total_cents)


def directors_payout_cents(quote: Quote) -> int:
    """What the overseeing directors share: the payout less the standing backup's share."""
    return quote.physician_payout_cents - backup_payout_cents(quote)
