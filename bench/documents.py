"""Compliance documents: plan and render every document of a large engagement, in-process.

Usage (from the project root):
    .venv/bin/python bench/documents.py [--rounds 5] [--target-p95-ms 250]

The engagement: a clinic in five states (TX, FL, CA, NY, AZ), twenty providers (NPs, PAs and
RNs, a few working in two states), three primary directors and a standing backup, eight
services; facts built from the real catalog data (tests/documents/facts_fixtures.py), no
database. One warm-up render, then `--rounds` passes over the whole plan, each document timed
on its own (context + typst compile to PDF). Prints the number of documents, the total time of
one pass, per-document p50/p95/max and MET/MISSED against the target.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.documents.facts import EngagementFacts  # noqa: E402
from app.documents.plan import plan_documents  # noqa: E402
from app.documents.render import render  # noqa: E402
from tests.documents import facts_fixtures as ff  # noqa: E402

STATES = ("TX", "FL", "CA", "NY", "AZ")
SERVICES = (
    "neurotoxins",
    "dermal_fillers",
    "kybella",
    "laser_hair_removal",
    "ipl",
    "chemical_peels",
    "iv_therapy",
    "hormone_therapy",
)
# (type, states) for the twenty providers: 8 NPs, 5 PAs, 7 RNs.
ROSTER = (
    ("np", ("TX",)), ("np", ("TX",)), ("np", ("FL",)), ("np", ("CA",)),
    ("np", ("NY",)), ("np", ("AZ",)), ("np", ("TX", "AZ")), ("np", ("FL", "NY")),
    ("pa", ("TX",)), ("pa", ("CA",)), ("pa", ("NY",)), ("pa", ("AZ",)), ("pa", ("FL",)),
    ("rn", ("TX",)), ("rn", ("FL",)), ("rn", ("CA",)), ("rn", ("NY",)), ("rn", ("AZ",)),
    ("rn", ("TX",)), ("rn", ("CA",)),
)  # fmt: skip


def five_state_clinic() -> EngagementFacts:
    locations = {s: ff.location(s, i + 1) for i, s in enumerate(STATES)}
    providers = tuple(
        ff.provider(
            f"Provider{i:02d}",
            kind.upper(),
            kind,
            SERVICES[: 3 + i % 5] if kind != "rn" else ("neurotoxins", "iv_therapy"),
            tuple(locations[s] for s in states),
        )
        for i, (kind, states) in enumerate(ROSTER)
    )
    return ff.engagement(
        "Five State Aesthetics Group PLLC",
        ownership="mso",
        locations=tuple(locations.values()),
        directors=(
            ff.director("Dana", "Texan", ("TX", "AZ")),
            ff.director("Ellis", "Coast", ("FL", "CA")),
            ff.director("Noa", "York", ("NY",)),
            ff.director("Bo", "Backup", STATES, role="backup", degree="DO"),
        ),
        providers=providers,
        services=ff.service_facts(*SERVICES),
        oversight_mode="hybrid",
    )


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--target-p95-ms", type=float, default=250.0)
    args = parser.parse_args()

    facts = five_state_clinic()
    t0 = time.perf_counter()
    specs = plan_documents(facts)
    plan_ms = (time.perf_counter() - t0) * 1000
    kinds = Counter(s.template_key for s in specs)
    print(f"documents: {len(specs)}  (plan {plan_ms:.1f} ms)")
    for key, n in sorted(kinds.items()):
        print(f"  {key:32} {n}")

    generated_on = date(2026, 6, 1)
    render(
        specs[0], facts, document_id=uuid.uuid4(), generated_on=generated_on, counsel_review=None
    )
    times: list[float] = []
    passes: list[float] = []
    pages_bytes = 0
    for _ in range(args.rounds):
        start = time.perf_counter()
        for spec in specs:
            t = time.perf_counter()
            pdf = render(
                spec,
                facts,
                document_id=uuid.uuid4(),
                generated_on=generated_on,
                counsel_review=None,
            )
            times.append((time.perf_counter() - t) * 1000)
            pages_bytes += len(pdf)
        passes.append(time.perf_counter() - start)
    p50, p95, worst = percentile(times, 50), percentile(times, 95), max(times)
    print(
        f"rounds: {args.rounds}  renders: {len(times)}  "
        f"mean PDF size: {pages_bytes / len(times) / 1024:.0f} KiB"
    )
    print(
        f"total per pass: median {statistics.median(passes):.2f} s "
        f"(min {min(passes):.2f} s, max {max(passes):.2f} s)"
    )
    print(f"per document: p50 {p50:.1f} ms  p95 {p95:.1f} ms  max {worst:.1f} ms")
    verdict = "MET" if p95 <= args.target_p95_ms else "MISSED"
    print(f"target p95 <= {args.target_p95_ms:.0f} ms per document: {verdict}")


if __name__ == "__main__":
    main()
