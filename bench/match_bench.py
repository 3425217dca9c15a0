"""Matching latency at scale: seed N physicians with COPY, then time matching one intake.

Usage (from the project root):
    .venv/bin/python -m bench.match_bench --physicians 10000 100000 [--runs 200]
        [--server-url postgresql://postgres@127.0.0.1:5432/postgres] [--keep]

Without --server-url it uses TEST_DATABASE_URL's server, else an embedded one under var/.
Each size gets its own database `mdmatch_bench_<n>` (dropped unless --keep), built by the
migrations and loaded with the reference data, then N physicians (with users, licenses,
malpractice and DEA rows) through COPY. Two figures per size:
- eligibility + ranking: the SQL of every hard constraint, ordered by the SQL mirror of the
  ranking and cut to the best 20 (+ a margin), then ranked and explained by `scoring.rank`:
  who gets offers and in what order, for one Texas intake (what submit does per state group);
- submit's matching step: candidates stored, three offers sent, notifications written, all in
  a transaction that is rolled back so every run sees the same data.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import func, select

from app.bulk_seed import bulk_seed
from app.clinics.models import Clinic, Intake, Location
from app.config import Settings, libpq_url
from app.db import create_engine, create_sessionmaker
from app.devtools.embedded_postgres import embedded_server, with_database
from app.kit.geo import _index as zip_index
from app.matching import constraints as mc
from app.matching.service import build_context, ranked_candidates, start_matching
from app.migrate import upgrade
from app.pricing.models import Quote
from app.seed import seed_reference_data

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def server(url: str | None) -> Iterator[str]:
    url = url or os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
    else:
        with embedded_server(ROOT / "var" / "pg-bench") as embedded:
            yield embedded


def copy_physicians(url: str, n: int, *, roster: str = "uniform", seed: int = 7) -> None:
    """N physicians through the product's bulk loader (`mdmatch seed --physicians`). `uniform`:
    homes and licenses spread over all 51 jurisdictions, so the physicians who could serve a
    Texas clinic grow with the roster. `texas-fixed`: the first 10,000 are spread the same way
    and every physician beyond them lives and is licensed outside Texas (the cost of the
    physicians who cannot match, isolated)."""
    bulk_seed(libpq_url(url), physicians=n, clinics=0, seed=seed, roster=roster)
    # What autovacuum would do after a bulk load: a clean visibility map too.
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def bench_settings(url: str) -> Settings:
    return Settings(_env_file=None, environment="test", database_url=url)


async def seed(url: str) -> None:
    engine = create_engine(bench_settings(url))
    async with create_sessionmaker(engine)() as session:
        await seed_reference_data(session)
    await engine.dispose()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def measure(url: str, runs: int) -> dict[str, float]:
    settings = bench_settings(url)
    engine = create_engine(settings)
    sm = create_sessionmaker(engine)
    clinic_id, intake_id = uuid.uuid4(), uuid.uuid4()
    info = zip_index()["78701"]
    rank_times, step_times, counts = [], [], []
    warmup = 20  # connection, prepared-statement and buffer caches settle first
    for run in range(warmup + runs):
        async with sm() as session, session.begin():
            clinic = Clinic(
                id=clinic_id,
                legal_name="Bench Spa",
                ownership_model="mso",
                contact_name="B",
                contact_email="b@example.com",
                contact_phone="5125550100",
            )
            clinic.locations = [
                Location(
                    id=uuid.uuid4(),
                    clinic_id=clinic_id,
                    position=0,
                    address="1 Congress",
                    city="Austin",
                    state="TX",
                    zip="78701",
                    lat=info.lat,
                    lon=info.lon,
                )
            ]
            intake = Intake(
                id=intake_id,
                clinic_id=clinic_id,
                status="matching",
                services=["neurotoxins", "dermal_fillers"],
                providers=[{"type": "np", "count": 1}, {"type": "rn", "count": 2}],
                physician_performs_services=False,
                engagement_model="retainer",
                oversight_mode="remote",
                billing_interval="month",
                monthly_patient_volume=200,
                desired_start=date.today() + timedelta(days=14),
                rush=False,
                compliance_flags=[],
            )
            session.add_all([clinic, intake])
            await session.flush()
            session.add(
                Quote(
                    id=uuid.uuid4(),
                    intake_id=intake_id,
                    pricing_version="2026.11.2",
                    currency="usd",
                    billing_interval="month",
                    line_items=[],
                    monthly_total_cents=99385,
                    first_invoice_cents=99385,
                    physician_payout_cents=69570,
                    platform_fee_cents=29815,
                    oversight_tier=2,
                    valid_until=date.today(),
                    compliance_flags=[],
                    inputs={},
                    state_rules_used={},
                    services_used={},
                    created_at=datetime.now(UTC),
                )
            )
            await session.flush()
            ctx: mc.MatchContext = await build_context(session, intake, clinic, settings)
            t0 = time.perf_counter()
            found = await ranked_candidates(
                session,
                ctx,
                ["TX"],
                payout_cents=69570,
                settings=settings,
                limit=settings.match_candidates_per_group,
            )
            t1 = time.perf_counter()
            await start_matching(session, intake, clinic, settings)
            t2 = time.perf_counter()
            # Outside the timings: how many were eligible (the figure the cost follows).
            eligible = await session.scalar(
                select(func.count()).select_from(
                    mc.eligible_query(ctx, ["TX"], exclude_matched=False).subquery()
                )
            )
            await session.rollback()
            if run >= warmup:
                rank_times.append((t1 - t0) * 1000)
                step_times.append((t2 - t1) * 1000)
                counts.append(eligible or 0)
                assert len(found) == min(eligible or 0, settings.match_candidates_per_group)
    await engine.dispose()
    return {
        "eligible": statistics.median(counts),
        "rank_p50": percentile(rank_times, 50),
        "rank_p95": percentile(rank_times, 95),
        "step_p50": percentile(step_times, 50),
        "step_p95": percentile(step_times, 95),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--physicians", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--server-url")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--roster", choices=["uniform", "texas-fixed"], default="uniform")
    args = parser.parse_args()
    results = {}
    print(f"roster: {args.roster}")
    with server(args.server_url) as base:
        for n in args.physicians:
            name = f"mdmatch_bench_{n}"
            with psycopg.connect(libpq_url(base), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
            url = with_database(base, name)
            try:
                upgrade(url)
                asyncio.run(seed(url))
                t0 = time.perf_counter()
                copy_physicians(url, n, roster=args.roster)
                load_s = time.perf_counter() - t0
                results[n] = asyncio.run(measure(url, args.runs))
                r = results[n]
                print(
                    f"{n:>7} physicians  (COPY {load_s:5.1f} s)  eligible for the TX intake: "
                    f"{r['eligible']:.0f}\n"
                    f"         eligibility + ranking   p50 {r['rank_p50']:6.2f} ms   "
                    f"p95 {r['rank_p95']:6.2f} ms\n"
                    f"         submit's matching step  p50 {r['step_p50']:6.2f} ms   "
                    f"p95 {r['step_p95']:6.2f} ms",
                    flush=True,
                )
            finally:
                if not args.keep:
                    with psycopg.connect(libpq_url(base), autocommit=True) as conn:
                        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if len(results) >= 2:
        small, large = min(results), max(results)
        for key, label in (("rank", "eligibility + ranking"), ("step", "matching step")):
            ratio = results[large][f"{key}_p95"] / results[small][f"{key}_p95"]
            print(
                f"{label}: p95 {results[large][f'{key}_p95']:.2f} ms at {large}, "
                f"{ratio:.2f}x the {small} figure (targets: <= 25 ms, <= 1.5x)"
            )


if __name__ == "__main__":
    main()
