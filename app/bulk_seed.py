"""`mdmatch seed --physicians N --clinics M`: synthetic supply and demand in bulk, for load tests
and benchmarks. Rows go in through COPY (psycopg), so 100,000 physicians take seconds.

Distributions (deterministic for a given seed):

* states: weighted by how many zip codes each has (a proxy for population: CA, TX, NY, PA,
  IL, FL... carry most physicians and clinics); a physician also holds 0-4 more licenses, often
  in neighbouring states' share of the roster;
* specialties: dermatology 24%, family medicine 18%, plastic surgery 12%, internal medicine 11%,
  emergency medicine 9%, facial plastic surgery 6%, obesity medicine 6%, OB/GYN 5%, the rest
  spread thin; one or two each;
* services: most of the services that fit the specialty (the catalog's `fit_specialties`), plus
  a few others; 4 at least;
* capacity: max clinics 1-12 skewed low (median 3), supervisees 5-40, minimum monthly rate
  $400-$1,500; 95% verified, 90% accepting new clinics; some licenses and malpractice policies
  already expired (the matching constraints must skip them);
* clinics: 1 location (80%), 2 (15%) or 3-4, in the clinic's state; a clinic admin account and a
  draft intake each (services a med spa offers, 1-6 providers).

Runs append: emails and NPIs continue after the rows an earlier run added. The credential
triggers are switched off during the load and their columns (licensed states, expiries)
computed once at the end; then `ANALYZE`.
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import psycopg

from app.catalog.rules import seed_rules
from app.catalog.services import service_catalog
from app.kit import clock
from app.kit.geo import _index as zip_index
from app.physicians.npi import make_npi

PHYSICIAN_EMAIL = "bulk-physician-{}@example.com"
CLINIC_EMAIL = "bulk-clinic-{}@example.com"
NPI_BASE = 400_000_000
# A stored hash no password matches: bulk accounts cannot log in unless a hash is given.
NO_LOGIN = "!"

SPECIALTIES = {
    "dermatology": 24,
    "family_medicine": 18,
    "plastic_surgery": 12,
    "internal_medicine": 11,
    "emergency_medicine": 9,
    "facial_plastic_surgery": 6,
    "obesity_medicine": 6,
    "obgyn": 5,
    "otolaryngology": 3,
    "general_surgery": 2,
    "endocrinology": 2,
    "vascular_surgery": 1,
    "ophthalmology": 1,
}
MODELS = ["retainer", "fractional", "full_time", "per_case"]
MODES = ["remote", "hybrid", "onsite"]
MED_SPA_SERVICES = {
    "neurotoxins": 95,
    "dermal_fillers": 85,
    "chemical_peels": 50,
    "chemical_peels_medium": 12,
    "chemical_peels_deep": 2,
    "microneedling": 45,
    "laser_hair_removal": 40,
    "iv_therapy": 30,
    "glp1_weight_loss": 30,
    "ipl": 25,
    "kybella": 20,
    "prp": 20,
    "rf_microneedling": 20,
    "laser_resurfacing": 15,
    "hormone_therapy": 10,
    "sclerotherapy": 8,
    "thread_lifts": 8,
    "prescription_skincare": 15,
    "cryolipolysis": 10,
    "ultrasound_tightening": 8,
    "tattoo_removal": 8,
}


@dataclass(frozen=True)
class Progress:
    """What the caller shows while loading: `start(label, total)` returns `advance(n)`."""

    start: Callable[[str, int], Callable[[int], None]]


def _silent(label: str, total: int) -> Callable[[int], None]:
    return lambda n: None


class _World:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.zips: dict[str, list[tuple[str, float, float]]] = {}
        for z in zip_index().values():
            self.zips.setdefault(z.state, []).append((z.zip_code, z.lat, z.lon))
        self.states = sorted(r["code"] for r in seed_rules()[1] if r["code"] in self.zips)
        self.state_cum = list(itertools.accumulate(len(self.zips[s]) for s in self.states))
        self.catalog = service_catalog()
        self.codes = sorted(self.catalog)
        self.specialties = list(SPECIALTIES)
        self.specialty_weights = list(SPECIALTIES.values())
        self._fit: dict[tuple[str, ...], list[str]] = {}

    def state(self, pool: Sequence[str] | None = None) -> str:
        if pool is None:
            return str(self.rng.choices(self.states, cum_weights=self.state_cum)[0])
        weights = [len(self.zips[s]) for s in pool]
        return str(self.rng.choices(list(pool), weights)[0])

    def place(self, state: str) -> tuple[str, float, float]:
        return self.rng.choice(self.zips[state])

    def services_for(self, specialties: Sequence[str]) -> list[str]:
        fit = self._fit.get(tuple(specialties))
        if fit is None:
            fit = [c for c in self.codes if set(self.catalog[c].fit_specialties) & set(specialties)]
            self._fit[tuple(specialties)] = fit
        chosen = {c for c in fit if self.rng.random() < 0.8}
        chosen |= set(self.rng.sample(self.codes, self.rng.randint(1, 4)))
        while len(chosen) < 4:
            chosen.add(self.rng.choice(self.codes))
        return sorted(chosen)


def _count(cur: psycopg.Cursor[Any], pattern: str) -> int:
    row = cur.execute("SELECT count(*) FROM users WHERE email LIKE %s", (pattern,)).fetchone()
    return int(row[0]) if row else 0


@contextmanager
def _triggers_off(cur: psycopg.Cursor[Any]) -> Iterator[None]:
    cur.execute("ALTER TABLE licenses DISABLE TRIGGER licenses_refresh_licensed_states")
    cur.execute("ALTER TABLE malpractice_policies DISABLE TRIGGER malpractice_refresh_expiry")
    try:
        yield
    finally:
        cur.execute("ALTER TABLE licenses ENABLE TRIGGER licenses_refresh_licensed_states")
        cur.execute("ALTER TABLE malpractice_policies ENABLE TRIGGER malpractice_refresh_expiry")


def seed_physicians(
    conn: psycopg.Connection[Any],
    n: int,
    *,
    rng: random.Random,
    password_hash: str = NO_LOGIN,
    roster: str = "weighted",
    progress: Progress | None = None,
) -> list[uuid.UUID]:
    """Append `n` physicians (users, profiles, licenses, malpractice). `roster`: `weighted`
    (states by population), `uniform` (every jurisdiction alike) or `texas-fixed` (after the
    first 10,000 of the roster nobody lives or is licensed in Texas: the Texas-eligible set stays
    the same while the roster grows)."""
    world = _World(rng)
    start = (progress or Progress(_silent)).start
    # The app's UTC day: the process's local date is a day off near midnight in most zones.
    today, now = clock.today(), clock.utcnow()
    with conn.cursor() as cur:
        offset = _count(cur, PHYSICIAN_EMAIL.format("%"))
        not_texas = [s for s in world.states if s != "TX"]

        def home_state(i: int) -> tuple[str, list[str]]:
            pool = not_texas if roster == "texas-fixed" and offset + i >= 10_000 else None
            if roster == "uniform" or (roster == "texas-fixed" and pool is None):
                states = world.states if pool is None else pool
                return states[(offset + i) % len(states)], list(states)
            return world.state(pool), list(pool or world.states)

        user_ids = [uuid.uuid4() for _ in range(n)]
        advance = start("physician accounts", n)
        with cur.copy(
            "COPY users (id, email, password_hash, role, token_version) FROM STDIN"
        ) as cp:
            for i, uid in enumerate(user_ids):
                cp.write_row(
                    (uid, PHYSICIAN_EMAIL.format(offset + i), password_hash, "physician", 0)
                )
                if i % 5000 == 4999:
                    advance(5000)
        advance(n % 5000)

        ids: list[uuid.UUID] = []
        licenses: list[list[tuple[str, date]]] = []
        malpractice: list[date] = []
        advance = start("physician profiles", n)
        # The columns the credential triggers maintain (licensed states, expiries) are written
        # directly; the triggers are off while the credentials are loaded.
        with cur.copy(
            "COPY physicians (id, user_id, npi, first_name, last_name, degree, specialties, "
            "years_experience, aesthetic_years, services, engagement_models, oversight_modes, "
            "home_zip, home_lat, home_lon, travel_radius_miles, max_clinics, max_supervisees, "
            "min_monthly_rate_cents, accepting_new, verification_status, verification_reasons, "
            "verified_at, licensed_states, license_expiry, malpractice_expires_on, created_at, "
            "updated_at) FROM STDIN"
        ) as cp:
            for i, uid in enumerate(user_ids):
                pid = uuid.uuid4()
                ids.append(pid)
                home, pool = home_state(i)
                extra = rng.choices([0, 1, 2, 4], [50, 25, 15, 10])[0]
                held = sorted(
                    (st, today + timedelta(days=rng.randint(-30, 900)))
                    for st in {home, *rng.sample(pool, extra)}
                )
                licenses.append(held)
                malpractice.append(today + timedelta(days=rng.randint(-10, 700)))
                zip_code, lat, lon = world.place(home)
                years = rng.randint(3, 35)
                specialties = sorted(
                    set(
                        rng.choices(world.specialties, world.specialty_weights, k=rng.randint(1, 2))
                    )
                )
                verified = rng.random() > 0.05
                cp.write_row(
                    (
                        pid,
                        uid,
                        make_npi(f"{NPI_BASE + offset + i:09d}"),
                        rng.choice(["Maya", "Daniel", "Priya", "Jonah", "Elena", "Omar"]),
                        f"Bulk{offset + i}",
                        rng.choices(["MD", "DO"], [85, 15])[0],
                        specialties,
                        years,
                        rng.randint(0, years),
                        world.services_for(specialties),
                        sorted(rng.sample(MODELS, rng.randint(1, 4))),
                        sorted(rng.sample(MODES, rng.randint(1, 3))),
                        zip_code,
                        lat,
                        lon,
                        rng.choice([25, 50, 50, 100, 200]),
                        min(12, max(1, int(rng.lognormvariate(1.1, 0.6)))),
                        rng.randint(5, 40),
                        rng.choice([40_000, 60_000, 75_000, 90_000, 150_000]),
                        rng.random() > 0.1,
                        "verified" if verified else "pending",
                        "[]",
                        now if verified else None,
                        [st for st, _ in held],
                        json.dumps({st: d.isoformat() for st, d in held}),
                        malpractice[-1],
                        now,
                        now,
                    )
                )
                if i % 5000 == 4999:
                    advance(5000)
        advance(n % 5000)

        with _triggers_off(cur):
            advance = start("licenses and malpractice", n)
            with cur.copy(
                "COPY licenses (id, physician_id, state, number, expires_on, status, "
                "verified_at, created_at) FROM STDIN"
            ) as cp:
                for i, pid in enumerate(ids):
                    for st, expires in licenses[i]:
                        cp.write_row(
                            (
                                uuid.uuid4(),
                                pid,
                                st,
                                f"L{offset + i}{st}",
                                expires,
                                "verified",
                                now,
                                now,
                            )
                        )
            with cur.copy(
                "COPY malpractice_policies (id, physician_id, carrier, policy_number, "
                "per_claim_cents, aggregate_cents, currency, expires_on, status, verified_at, "
                "created_at) FROM STDIN"
            ) as cp:
                for i, pid in enumerate(ids):
                    cp.write_row(
                        (
                            uuid.uuid4(),
                            pid,
                            rng.choice(["MedPro Group", "The Doctors Company", "ProAssurance"]),
                            f"P{offset + i}",
                            100_000_000,
                            300_000_000,
                            "usd",
                            malpractice[i],
                            "verified",
                            now,
                            now,
                        )
                    )
                    if i % 5000 == 4999:
                        advance(5000)
            advance(n % 5000)
    return ids


def seed_clinics(
    conn: psycopg.Connection[Any],
    m: int,
    *,
    rng: random.Random,
    password_hash: str = NO_LOGIN,
    progress: Progress | None = None,
) -> list[uuid.UUID]:
    """Append `m` clinics, each with locations in its state, an admin account and a draft
    intake. Returns the intakes' ids."""
    world = _World(rng)
    start = (progress or Progress(_silent)).start
    now, today = clock.utcnow(), clock.today()
    services, weights = list(MED_SPA_SERVICES), [w / 100 for w in MED_SPA_SERVICES.values()]
    intakes: list[uuid.UUID] = []
    with conn.cursor() as cur:
        offset = _count(cur, CLINIC_EMAIL.format("%"))
        clinics = [(uuid.uuid4(), uuid.uuid4(), world.state()) for _ in range(m)]
        advance = start("clinics", m)
        with cur.copy(
            "COPY users (id, email, password_hash, role, token_version) FROM STDIN"
        ) as cp:
            for i, (_, uid, _) in enumerate(clinics):
                cp.write_row(
                    (uid, CLINIC_EMAIL.format(offset + i), password_hash, "clinic_admin", 0)
                )
        with cur.copy(
            "COPY clinics (id, legal_name, ownership_model, contact_name, contact_email, "
            "contact_phone, created_by, created_at, updated_at) FROM STDIN"
        ) as cp:
            for i, (cid, uid, _) in enumerate(clinics):
                cp.write_row(
                    (
                        cid,
                        f"Bulk Aesthetics {offset + i} LLC",
                        rng.choices(
                            ["mso", "physician_owned", "non_physician_owned"], [60, 25, 15]
                        )[0],
                        "Clinic Manager",
                        CLINIC_EMAIL.format(offset + i),
                        "+1 512 555 0100",
                        uid,
                        now,
                        now,
                    )
                )
        with cur.copy(
            "COPY clinic_members (clinic_id, user_id, role, created_at) FROM STDIN"
        ) as cp:
            for cid, uid, _ in clinics:
                cp.write_row((cid, uid, "owner", now))
        with cur.copy(
            "COPY locations (id, clinic_id, position, address, city, state, zip, lat, lon) "
            "FROM STDIN"
        ) as cp:
            for cid, _, state in clinics:
                count = rng.choices([1, 2, 3, 4], [80, 15, 4, 1])[0]
                for position in range(count):
                    zip_code, lat, lon = world.place(state)
                    cp.write_row(
                        (
                            uuid.uuid4(),
                            cid,
                            position,
                            f"{100 + position} Main St",
                            "City",
                            state,
                            zip_code,
                            lat,
                            lon,
                        )
                    )
        with cur.copy(
            "COPY intakes (id, clinic_id, status, services, providers, "
            "physician_performs_services, engagement_model, oversight_mode, billing_interval, "
            "monthly_patient_volume, desired_start, rush, compliance_flags, created_by, "
            "matching_round, created_at, updated_at) FROM STDIN"
        ) as cp:
            for i, (cid, uid, _) in enumerate(clinics):
                iid = uuid.uuid4()
                intakes.append(iid)
                chosen = sorted(
                    {s for s, w in zip(services, weights, strict=True) if rng.random() < w}
                )
                providers = [
                    {"type": t, "count": rng.randint(1, 3)}
                    for t in rng.sample(["rn", "np", "esthetician", "pa"], rng.randint(1, 2))
                ]
                cp.write_row(
                    (
                        iid,
                        cid,
                        "draft",
                        chosen or ["neurotoxins"],
                        json.dumps(providers),
                        False,
                        rng.choices(MODELS, [50, 30, 10, 10])[0],
                        rng.choices(MODES, [60, 30, 10])[0],
                        rng.choices(["month", "year"], [85, 15])[0],
                        rng.randint(40, 800),
                        today + timedelta(days=rng.randint(7, 60)),
                        rng.random() < 0.1,
                        "[]",
                        uid,
                        0,
                        now,
                        now,
                    )
                )
                if i % 1000 == 999:
                    advance(1000)
        advance(m % 1000)
    return intakes


def bulk_seed(
    url: str,
    *,
    physicians: int,
    clinics: int,
    seed: int = 7,
    password_hash: str = NO_LOGIN,
    roster: str = "weighted",
    progress: Progress | None = None,
) -> dict[str, int]:
    """Load `physicians` and `clinics` in one transaction, then ANALYZE."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible on purpose
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM state_rules").fetchone()
        if not row or row[0] == 0:
            raise RuntimeError("load the reference data first (mdmatch seed)")
        if physicians:
            seed_physicians(
                conn,
                physicians,
                rng=rng,
                password_hash=password_hash,
                roster=roster,
                progress=progress,
            )
        if clinics:
            seed_clinics(conn, clinics, rng=rng, password_hash=password_hash, progress=progress)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return {"physicians": physicians, "clinics": clinics}
