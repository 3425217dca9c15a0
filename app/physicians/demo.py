"""`mdmatch seed --demo`: a realistic, deterministic demo supply of verified physicians.

Every jurisdiction gets physicians licensed there (plus neighbouring multi-state licenses), with
specialties, services, engagement models, capacities and rates varied the way a real roster
varies. Accounts are `demo-physician-NNN@mdmatch.dev` with the password printed by the command.
Running it again adds nothing.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role, User
from app.auth.service import hash_password
from app.catalog.rules import seed_rules
from app.catalog.services import service_catalog
from app.catalog.vocabulary import EngagementModel, OversightMode, Specialty
from app.config import Settings
from app.kit.clock import today, utcnow
from app.kit.geo import _index as zip_index
from app.physicians.models import DeaRegistration, License, MalpracticePolicy, Physician
from app.physicians.npi import make_npi

DEMO_DOMAIN = "mdmatch.dev"
DEMO_PASSWORD = "Demo-Physician-Roster-2026"  # noqa: S105 - documented demo credential

FIRST = [
    "Maya",
    "Daniel",
    "Priya",
    "Jonah",
    "Elena",
    "Marcus",
    "Grace",
    "Omar",
    "Lena",
    "Victor",
    "Hannah",
    "Samuel",
    "Aisha",
    "Theo",
    "Naomi",
    "Rafael",
    "Claire",
    "Isaac",
    "Zoe",
    "Adrian",
]
LAST = [
    "Alvarez",
    "Brennan",
    "Chen",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Gupta",
    "Hartley",
    "Ibarra",
    "Jensen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quinn",
    "Rossi",
    "Sato",
    "Thornton",
    "Umarov",
    "Vance",
    "Whitaker",
    "Yilmaz",
    "Zimmerman",
]
AESTHETIC = [Specialty.dermatology, Specialty.plastic_surgery, Specialty.facial_plastic_surgery]
WELLNESS = [
    Specialty.emergency_medicine,
    Specialty.internal_medicine,
    Specialty.family_medicine,
    Specialty.obesity_medicine,
    Specialty.endocrinology,
]


def _demo_email(i: int) -> str:
    return f"demo-physician-{i:03d}@{DEMO_DOMAIN}"


async def seed_demo_supply(session: AsyncSession, settings: Settings, *, count: int = 200) -> int:
    """Add the demo physicians that are missing; returns how many were added."""
    existing = await session.scalar(
        select(func.count()).select_from(User).where(User.email.like("demo-physician-%"))
    )
    if existing and existing >= count:
        return 0
    rng = random.Random(20261123)  # noqa: S311 - demo data, reproducible on purpose
    states = [r["code"] for r in seed_rules()[1]]
    zips_by_state: dict[str, list[str]] = {}
    for info in zip_index().values():
        zips_by_state.setdefault(info.state, []).append(info.zip_code)
    catalog = service_catalog()
    password_hash = await hash_password(settings, DEMO_PASSWORD)
    now, day = utcnow(), today()
    added = 0
    for i in range(1, count + 1):
        email = _demo_email(i)
        if await session.scalar(select(User.id).where(User.email == email)):
            continue
        home = states[(i - 1) % len(states)]
        licensed = {home, *rng.sample(states, rng.choice([0, 0, 1, 2, 4]))}
        wellness = rng.random() < 0.3
        specialties = [rng.choice(WELLNESS if wellness else AESTHETIC)]
        if rng.random() < 0.3:
            specialties.append(rng.choice(AESTHETIC if wellness else WELLNESS))
        fit = {c for c, s in catalog.items() if set(s.fit_specialties) & set(specialties)}
        services = sorted(fit | set(rng.sample(sorted(catalog), rng.randint(2, 6))))
        years = rng.randint(5, 35)
        user = User(
            id=uuid.uuid4(),
            email=email,
            password_hash=password_hash,
            role=Role.physician.value,
            token_version=0,
        )
        session.add(user)
        zip_code = rng.choice(sorted(zips_by_state.get(home) or ["10001"]))
        info = zip_index()[zip_code]
        physician = Physician(
            id=uuid.uuid4(),
            user_id=user.id,
            npi=make_npi(f"{190000000 + i:09d}"),
            first_name=rng.choice(FIRST),
            last_name=rng.choice(LAST),
            degree=rng.choice(["MD", "MD", "MD", "DO"]),
            specialties=list(dict.fromkeys(s.value for s in specialties)),
            years_experience=years,
            aesthetic_years=rng.randint(0, years),
            services=services,
            engagement_models=sorted(
                {EngagementModel.retainer.value}
                | {m.value for m in rng.sample(list(EngagementModel), rng.randint(1, 3))}
            ),
            oversight_modes=sorted(
                {OversightMode.remote.value}
                | {m.value for m in rng.sample(list(OversightMode), rng.randint(1, 3))}
            ),
            home_zip=zip_code,
            home_lat=info.lat,
            home_lon=info.lon,
            travel_radius_miles=rng.choice([25, 50, 75, 100, 150, 250]),
            max_clinics=rng.randint(2, 12),
            max_supervisees=rng.randint(8, 40),
            min_monthly_rate_cents=rng.choice([50000, 60000, 75000, 90000, 120000]),
            accepting_new=rng.random() > 0.08,
            verification_status="verified",
            verification_reasons=[],
            verified_at=now,
            registry_taxonomy=specialties[0].value,
        )
        session.add(physician)
        for state in sorted(licensed):
            session.add(
                License(
                    id=uuid.uuid4(),
                    physician_id=physician.id,
                    state=state,
                    number=f"{state}-{rng.randint(10000, 999999)}",
                    expires_on=day + timedelta(days=rng.randint(200, 900)),
                    status="verified",
                    verified_at=now,
                )
            )
            if "hormone_therapy" in services:
                session.add(
                    DeaRegistration(
                        id=uuid.uuid4(),
                        physician_id=physician.id,
                        state=state,
                        number=f"B{physician.last_name[0]}{rng.randint(1000000, 9999999)}",
                        expires_on=day + timedelta(days=rng.randint(300, 1000)),
                        status="verified",
                        verified_at=now,
                    )
                )
        session.add(
            MalpracticePolicy(
                id=uuid.uuid4(),
                physician_id=physician.id,
                carrier=rng.choice(
                    ["The Doctors Company", "MedPro Group", "ProAssurance", "Coverys"]
                ),
                policy_number=f"MP-{rng.randint(100000, 999999)}",
                per_claim_cents=100_000_000,
                aggregate_cents=300_000_000,
                currency="usd",
                expires_on=day + timedelta(days=rng.randint(120, 700)),
                status="verified",
                verified_at=now,
            )
        )
        added += 1
    await session.flush()
    return added
