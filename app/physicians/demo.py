"""`mdmatch seed --demo`: a realistic, deterministic demo supply of verified physicians.

Every jurisdiction gets physicians licensed there (plus neighbouring multi-state licenses), with
specialties, services, engagement models, capacities and rates varied the way a real roster
varies. Accounts are `demo-physician-NNN@mdmatch.dev` with the password printed by the command.
Running it again adds nothing.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role, User
from app.auth.service import create_user, get_user_by_email, hash_password
from app.catalog.rules import seed_rules
from app.catalog.services import service_catalog
from app.catalog.vocabulary import EngagementModel, OversightMode, Specialty
from app.config import Settings
from app.kit.clock import today, utcnow
from app.kit.geo import _index as zip_index
from app.physicians.checks import (
    CheckMethod,
    CheckResult,
    CheckSource,
    CredentialCheck,
    CredentialKind,
)
from app.physicians.models import (
    BoardCertification,
    DeaRegistration,
    License,
    MalpracticePolicy,
    Physician,
)
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


DEMO_ROSTER_SIZE = 200
# Demo NPIs are make_npi(190000000 + i): a block the tour's own physicians stay out of.
_DEMO_NPI_BASE = 190000000

# The operations account local mode seeds next to the roster, for the tour and for trying the
# ops endpoints (verification, rematch) offline. Never created outside local mode.
DEMO_OPS_EMAIL = f"ops@{DEMO_DOMAIN}"
DEMO_OPS_PASSWORD = "Demo-Operations-Desk-2026"  # noqa: S105 - documented demo credential


DEMO_CHECK_DETAIL = (
    "Demo data: seeded as verified for local mode; nothing was checked at any source."
)


def _demo_email(i: int) -> str:
    return f"demo-physician-{i:03d}@{DEMO_DOMAIN}"


def demo_npi(i: int) -> str:
    return make_npi(f"{_DEMO_NPI_BASE + i:09d}")


@dataclass(frozen=True)
class DemoCredential:
    state: str
    number: str
    expires_in_days: int


@dataclass(frozen=True)
class DemoPolicy:
    carrier: str
    policy_number: str
    expires_in_days: int


@dataclass(frozen=True)
class DemoPhysician:
    """One roster entry, as plain values: what the seed writes and what the local NPPES
    stand-in answers for the demo NPIs come from this one generator."""

    email: str
    npi: str
    first_name: str
    last_name: str
    degree: str
    specialties: tuple[str, ...]
    years_experience: int
    aesthetic_years: int
    services: tuple[str, ...]
    engagement_models: tuple[str, ...]
    oversight_modes: tuple[str, ...]
    home_zip: str
    travel_radius_miles: int
    max_clinics: int
    max_supervisees: int
    min_monthly_rate_cents: int
    accepting_new: bool
    licenses: tuple[DemoCredential, ...]
    dea_registrations: tuple[DemoCredential, ...]
    malpractice: DemoPolicy


def demo_roster(count: int = DEMO_ROSTER_SIZE) -> list[DemoPhysician]:
    """The first `count` demo physicians; the same values on every call (a fixed seed)."""
    rng = random.Random(20261123)  # noqa: S311 - demo data, reproducible on purpose
    states = [r["code"] for r in seed_rules()[1]]
    zips_by_state: dict[str, list[str]] = {}
    for info in zip_index().values():
        zips_by_state.setdefault(info.state, []).append(info.zip_code)
    catalog = service_catalog()
    return [_draw(rng, i, states, zips_by_state, catalog) for i in range(1, count + 1)]


def _draw(
    rng: random.Random,
    i: int,
    states: list[str],
    zips_by_state: dict[str, list[str]],
    catalog: dict[str, Any],
) -> DemoPhysician:
    # The draws keep one fixed order: changing it changes every demo physician after it.
    home = states[(i - 1) % len(states)]
    licensed = {home, *rng.sample(states, rng.choice([0, 0, 1, 2, 4]))}
    wellness = rng.random() < 0.3
    specialties = [rng.choice(WELLNESS if wellness else AESTHETIC)]
    if rng.random() < 0.3:
        specialties.append(rng.choice(AESTHETIC if wellness else WELLNESS))
    fit = {c for c, s in catalog.items() if set(s.fit_specialties) & set(specialties)}
    services = sorted(fit | set(rng.sample(sorted(catalog), rng.randint(2, 6))))
    years = rng.randint(5, 35)
    zip_code = rng.choice(sorted(zips_by_state.get(home) or ["10001"]))
    first_name, last_name = rng.choice(FIRST), rng.choice(LAST)
    degree = rng.choice(["MD", "MD", "MD", "DO"])
    aesthetic_years = rng.randint(0, years)
    engagement_models = sorted(
        {EngagementModel.retainer.value}
        | {m.value for m in rng.sample(list(EngagementModel), rng.randint(1, 3))}
    )
    oversight_modes = sorted(
        {OversightMode.remote.value}
        | {m.value for m in rng.sample(list(OversightMode), rng.randint(1, 3))}
    )
    travel_radius_miles = rng.choice([25, 50, 75, 100, 150, 250])
    max_clinics = rng.randint(2, 12)
    max_supervisees = rng.randint(8, 40)
    min_monthly_rate_cents = rng.choice([50000, 60000, 75000, 90000, 120000])
    accepting_new = rng.random() > 0.08
    licenses, deas = [], []
    for state in sorted(licensed):
        licenses.append(
            DemoCredential(state, f"{state}-{rng.randint(10000, 999999)}", rng.randint(200, 900))
        )
        if "hormone_therapy" in services:
            number = f"B{last_name[0]}{rng.randint(1000000, 9999999)}"
            deas.append(DemoCredential(state, number, rng.randint(300, 1000)))
    malpractice = DemoPolicy(
        rng.choice(["The Doctors Company", "MedPro Group", "ProAssurance", "Coverys"]),
        f"MP-{rng.randint(100000, 999999)}",
        rng.randint(120, 700),
    )
    return DemoPhysician(
        email=_demo_email(i),
        npi=demo_npi(i),
        first_name=first_name,
        last_name=last_name,
        degree=degree,
        specialties=tuple(dict.fromkeys(s.value for s in specialties)),
        years_experience=years,
        aesthetic_years=aesthetic_years,
        services=tuple(services),
        engagement_models=tuple(engagement_models),
        oversight_modes=tuple(oversight_modes),
        home_zip=zip_code,
        travel_radius_miles=travel_radius_miles,
        max_clinics=max_clinics,
        max_supervisees=max_supervisees,
        min_monthly_rate_cents=min_monthly_rate_cents,
        accepting_new=accepting_new,
        licenses=tuple(licenses),
        dea_registrations=tuple(deas),
        malpractice=malpractice,
    )


async def seed_demo_supply(
    session: AsyncSession, settings: Settings, *, count: int = DEMO_ROSTER_SIZE
) -> int:
    """Add the demo physicians that are missing; returns how many were added."""
    existing = set(
        await session.scalars(select(User.email).where(User.email.like("demo-physician-%")))
    )
    missing = [p for p in demo_roster(count) if p.email not in existing]
    if not missing:
        return 0
    password_hash = await hash_password(settings, DEMO_PASSWORD)
    now, day = utcnow(), today()
    checks: list[CredentialCheck] = []
    for demo in missing:
        user = User(
            id=uuid.uuid4(),
            email=demo.email,
            password_hash=password_hash,
            role=Role.physician.value,
            token_version=0,
        )
        session.add(user)
        info = zip_index()[demo.home_zip]
        physician = Physician(
            id=uuid.uuid4(),
            user_id=user.id,
            npi=demo.npi,
            first_name=demo.first_name,
            last_name=demo.last_name,
            degree=demo.degree,
            specialties=list(demo.specialties),
            years_experience=demo.years_experience,
            aesthetic_years=demo.aesthetic_years,
            services=list(demo.services),
            engagement_models=list(demo.engagement_models),
            oversight_modes=list(demo.oversight_modes),
            home_zip=demo.home_zip,
            home_lat=info.lat,
            home_lon=info.lon,
            travel_radius_miles=demo.travel_radius_miles,
            max_clinics=demo.max_clinics,
            max_supervisees=demo.max_supervisees,
            min_monthly_rate_cents=demo.min_monthly_rate_cents,
            accepting_new=demo.accepting_new,
            verification_status="verified",
            verification_reasons=[],
            verified_at=now,
            registry_taxonomy=demo.specialties[0],
        )
        session.add(physician)
        # Each demo physician is board-certified in their first specialty (rules such as
        # Florida's satellite offices read certification, never self-declared specialties).
        credentials: list[tuple[CredentialKind, uuid.UUID]] = []
        certification_id = uuid.uuid4()
        credentials.append((CredentialKind.board_certification, certification_id))
        session.add(
            BoardCertification(
                id=certification_id,
                physician_id=physician.id,
                board=f"American Board of {demo.specialties[0].replace('_', ' ').title()}",
                specialty=demo.specialties[0],
                certification="certified",
                expires_on=day + timedelta(days=1100 + int(demo.npi[-4:]) % 1500),
                status="verified",
                verified_at=now,
            )
        )
        for lic in demo.licenses:
            credentials.append((CredentialKind.license, uuid.uuid4()))
            session.add(
                License(
                    id=credentials[-1][1],
                    physician_id=physician.id,
                    state=lic.state,
                    number=lic.number,
                    expires_on=day + timedelta(days=lic.expires_in_days),
                    status="verified",
                    verified_at=now,
                )
            )
        for dea in demo.dea_registrations:
            credentials.append((CredentialKind.dea, uuid.uuid4()))
            session.add(
                DeaRegistration(
                    id=credentials[-1][1],
                    physician_id=physician.id,
                    state=dea.state,
                    number=dea.number,
                    expires_on=day + timedelta(days=dea.expires_in_days),
                    status="verified",
                    verified_at=now,
                )
            )
        credentials.append((CredentialKind.malpractice, uuid.uuid4()))
        session.add(
            MalpracticePolicy(
                id=credentials[-1][1],
                physician_id=physician.id,
                carrier=demo.malpractice.carrier,
                policy_number=demo.malpractice.policy_number,
                per_claim_cents=100_000_000,
                aggregate_cents=300_000_000,
                currency="usd",
                expires_on=day + timedelta(days=demo.malpractice.expires_in_days),
                status="verified",
                verified_at=now,
            )
        )
        # Demo data says what it is wherever provenance is read: nothing was checked.
        for kind, credential_id in credentials:
            checks.append(
                CredentialCheck(
                    id=uuid.uuid4(),
                    physician_id=physician.id,
                    credential_kind=kind.value,
                    credential_id=credential_id,
                    source=CheckSource.physician.value,
                    source_detail="demo data (mdmatch seed --demo)",
                    method=CheckMethod.self_attested.value,
                    compared={},
                    result=CheckResult.needs_review.value,
                    detail=DEMO_CHECK_DETAIL,
                    checked_at=now,
                )
            )
    await session.flush()  # the physicians first: the checks name them
    session.add_all(checks)
    await session.flush()
    return len(missing)


async def seed_demo_ops(session: AsyncSession, settings: Settings) -> bool:
    """Create the demo operations account when it is missing; True when it was created."""
    if await get_user_by_email(session, DEMO_OPS_EMAIL) is not None:
        return False
    await create_user(
        session, settings, email=DEMO_OPS_EMAIL, password=DEMO_OPS_PASSWORD, role=Role.ops_admin
    )
    return True
