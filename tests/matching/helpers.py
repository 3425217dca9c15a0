"""Verified physicians straight into the database (the API path is covered in tests/physicians)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.kit.clock import today, utcnow
from app.kit.geo import lookup_zip
from app.physicians.models import DeaRegistration, License, MalpracticePolicy, Physician
from app.physicians.npi import make_npi
from tests.factories import unique_email

_npi = itertools.count(300_000_001)
ALL_SERVICES = [
    "neurotoxins",
    "dermal_fillers",
    "kybella",
    "sclerotherapy",
    "prp",
    "thread_lifts",
    "laser_hair_removal",
    "laser_resurfacing",
    "ipl",
    "rf_microneedling",
    "ultrasound_tightening",
    "tattoo_removal",
    "cryolipolysis",
    "microneedling",
    "chemical_peels",
    "iv_therapy",
    "glp1_weight_loss",
    "hormone_therapy",
    "prescription_skincare",
]


async def make_physician(
    session: AsyncSession,
    *,
    states: Sequence[str] = ("TX",),
    last_name: str = "Alvarez",
    services: Sequence[str] = tuple(ALL_SERVICES),
    engagement_models: Sequence[str] = ("retainer", "fractional", "full_time", "per_case"),
    oversight_modes: Sequence[str] = ("remote", "hybrid", "onsite"),
    home_zip: str = "78701",
    travel_radius_miles: int = 100,
    max_clinics: int = 5,
    max_supervisees: int = 30,
    min_monthly_rate_cents: int = 50_000,
    specialties: Sequence[str] = ("dermatology",),
    aesthetic_years: int = 8,
    years_experience: int = 15,
    dea_states: Sequence[str] = (),
    accepting_new: bool = True,
    verification_status: str = "verified",
    license_days: int = 400,
    malpractice_days: int = 300,
    **extra: Any,
) -> Physician:
    user = User(
        id=uuid.uuid4(),
        email=unique_email("doc"),
        password_hash="x",
        role="physician",
        token_version=0,
    )
    session.add(user)
    info = lookup_zip(home_zip)
    assert info is not None
    now = utcnow()
    physician = Physician(
        id=uuid.uuid4(),
        user_id=user.id,
        npi=make_npi(f"{next(_npi):09d}"),
        first_name="Test",
        last_name=last_name,
        degree="MD",
        specialties=list(specialties),
        years_experience=years_experience,
        aesthetic_years=aesthetic_years,
        services=list(services),
        engagement_models=list(engagement_models),
        oversight_modes=list(oversight_modes),
        home_zip=home_zip,
        home_lat=info.lat,
        home_lon=info.lon,
        travel_radius_miles=travel_radius_miles,
        max_clinics=max_clinics,
        max_supervisees=max_supervisees,
        min_monthly_rate_cents=min_monthly_rate_cents,
        accepting_new=accepting_new,
        verification_status=verification_status,
        verification_reasons=[],
        verified_at=now,
        licenses=[],
        dea_registrations=[],
        malpractice_policies=[],
        board_certifications=[],
        **extra,
    )
    session.add(physician)
    await session.flush()
    for state in states:
        session.add(
            License(
                id=uuid.uuid4(),
                physician_id=physician.id,
                state=state,
                number=f"{state}-{next(_npi)}",
                status="verified",
                verified_at=now,
                expires_on=today() + timedelta(days=license_days),
            )
        )
    for state in dea_states:
        session.add(
            DeaRegistration(
                id=uuid.uuid4(),
                physician_id=physician.id,
                state=state,
                number=f"BA{next(_npi) % 10_000_000:07d}",
                status="verified",
                verified_at=now,
                expires_on=today() + timedelta(days=400),
            )
        )
    session.add(
        MalpracticePolicy(
            id=uuid.uuid4(),
            physician_id=physician.id,
            carrier="MedPro Group",
            policy_number=f"MP-{next(_npi)}",
            per_claim_cents=100_000_000,
            aggregate_cents=300_000_000,
            currency="usd",
            status="verified",
            verified_at=now,
            expires_on=today() + timedelta(days=malpractice_days),
        )
    )
    await session.flush()
    await session.commit()
    return physician


async def physician_headers(
    client, session: AsyncSession, settings, physician: Physician
) -> dict[str, str]:
    """Log in as the physician (their password is set here, hashed like any other)."""
    from app.auth.service import hash_password
    from tests.factories import PASSWORD, bearer, login

    user = await session.get(User, physician.user_id)
    assert user is not None
    user.password_hash = await hash_password(settings, PASSWORD)
    await session.commit()
    return bearer((await login(client, user.email))["access_token"])
