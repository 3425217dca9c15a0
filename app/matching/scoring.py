"""Ranking eligible physicians: a pure, deterministic function of plain values.

Each factor is a value in [0, 1]; a candidate's score is the weighted mean of its factors on a
0-100 scale. A factor that does not apply (distance when nobody needs to travel) is left out of
the weights for everyone. Ties break on aesthetic years, then years of experience, then the
physician id, so the same inputs always give the same order. Every candidate keeps its
explanation: each factor's weight, value and contribution to the score.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_WEIGHTS: dict[str, float] = {
    "specialty_fit": 30.0,
    "aesthetic_experience": 20.0,
    "responsiveness": 15.0,
    "spare_capacity": 15.0,
    "price_fit": 10.0,
    "distance": 10.0,
}
AESTHETIC_YEARS_FOR_FULL_MARKS = 15
MIN_OFFERS_FOR_HISTORY = 3
NEUTRAL = 0.5


@dataclass(frozen=True)
class CandidateFacts:
    physician_id: uuid.UUID
    specialties: tuple[str, ...]
    years_experience: int
    aesthetic_years: int
    max_clinics: int
    clinics_held: int
    min_monthly_rate_cents: int
    travel_radius_miles: int
    distance_miles: float | None
    offers_received: int
    offers_accepted: int
    offers_declined: int
    offers_expired: int


@dataclass(frozen=True)
class Factor:
    name: str
    weight: float
    value: float
    contribution: float


@dataclass(frozen=True)
class Ranked:
    physician_id: uuid.UUID
    score: float
    factors: tuple[Factor, ...]


def specialty_fit(specialties: Sequence[str], service_fit: Mapping[str, Sequence[str]]) -> float:
    """Share of the requested services whose best-fit specialties the physician has."""
    if not service_fit:
        return NEUTRAL
    mine = set(specialties)
    return sum(1 for fits in service_fit.values() if mine & set(fits)) / len(service_fit)


def responsiveness(c: CandidateFacts) -> float:
    """Share of offers answered (accepted or declined) rather than left to expire; neutral for
    physicians with too little history to judge."""
    answered = c.offers_accepted + c.offers_declined
    decided = answered + c.offers_expired
    if decided < MIN_OFFERS_FOR_HISTORY:
        return NEUTRAL
    return answered / decided


def price_fit(min_rate_cents: int, payout_cents: int) -> float:
    if payout_cents >= min_rate_cents:
        return 1.0
    return max(0.0, payout_cents / min_rate_cents) if min_rate_cents else 1.0


def factor_values(
    c: CandidateFacts, *, service_fit: Mapping[str, Sequence[str]], payout_cents: int
) -> dict[str, float | None]:
    distance = None
    if c.distance_miles is not None:
        radius = max(c.travel_radius_miles, 1)
        distance = max(0.0, 1.0 - c.distance_miles / radius)
    return {
        "specialty_fit": specialty_fit(c.specialties, service_fit),
        "aesthetic_experience": min(c.aesthetic_years, AESTHETIC_YEARS_FOR_FULL_MARKS)
        / AESTHETIC_YEARS_FOR_FULL_MARKS,
        "responsiveness": responsiveness(c),
        "spare_capacity": max(0.0, 1.0 - c.clinics_held / max(c.max_clinics, 1)),
        "price_fit": price_fit(c.min_monthly_rate_cents, payout_cents),
        "distance": distance,
    }


def rank(
    candidates: Sequence[CandidateFacts],
    *,
    service_fit: Mapping[str, Sequence[str]],
    payout_cents: int,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
) -> list[Ranked]:
    values = {
        c.physician_id: factor_values(c, service_fit=service_fit, payout_cents=payout_cents)
        for c in candidates
    }
    # A factor counts only if it applies to every candidate (distance does or does not).
    applicable = [
        name
        for name, w in weights.items()
        if w > 0 and all(v[name] is not None for v in values.values())
    ]
    total_weight = sum(weights[n] for n in applicable) or 1.0
    ranked = []
    for c in candidates:
        v = values[c.physician_id]
        applied = {n: float(v[n] or 0.0) for n in applicable}
        factors = tuple(
            Factor(
                name=n,
                weight=weights[n],
                value=round(applied[n], 4),
                contribution=round(100 * weights[n] * applied[n] / total_weight, 2),
            )
            for n in applicable
        )
        score = round(sum(100 * weights[n] * applied[n] for n in applicable) / total_weight, 2)
        ranked.append((c, Ranked(c.physician_id, score, factors)))
    ranked.sort(
        key=lambda cr: (
            -cr[1].score,
            -cr[0].aesthetic_years,
            -cr[0].years_experience,
            str(cr[0].physician_id),
        )
    )
    return [r for _, r in ranked]


def plan_coverage(
    states: Sequence[str], eligible: Mapping[str, Sequence[uuid.UUID]]
) -> list[tuple[str, ...]] | None:
    """Greedy set cover: state groups, each to be covered by one director.

    `eligible[state]` lists the physicians eligible there, best first. Each round picks the
    physician covering the most uncovered states (ties: the better rank in the first such
    state), and groups those states. None when some state has nobody."""
    if any(not eligible.get(s) for s in states):
        return None
    members = {s: set(eligible[s]) for s in states}
    uncovered = set(states)
    groups: list[tuple[str, ...]] = []
    while uncovered:
        best: tuple[int, int, uuid.UUID] | None = None
        best_cover: set[str] = set()
        for state in sorted(uncovered):
            for position, pid in enumerate(eligible[state]):
                cover = {s for s in uncovered if pid in members[s]}
                key = (-len(cover), position, pid)
                if best is None or key < best:
                    best, best_cover = key, cover
        assert best is not None
        groups.append(tuple(sorted(best_cover)))
        uncovered -= best_cover
    return groups
