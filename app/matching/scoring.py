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


@dataclass(frozen=True, slots=True)
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


def specialty_fit(specialties: Sequence[str], fit_sets: Sequence[frozenset[str]]) -> float:
    """Share of the requested services whose best-fit specialties the physician has."""
    if not fit_sets:
        return NEUTRAL
    mine = set(specialties)
    return sum(1 for fits in fit_sets if not mine.isdisjoint(fits)) / len(fit_sets)


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
    c: CandidateFacts, *, fit_sets: Sequence[frozenset[str]], payout_cents: int
) -> dict[str, float | None]:
    distance = None
    if c.distance_miles is not None:
        radius = max(c.travel_radius_miles, 1)
        distance = max(0.0, 1.0 - c.distance_miles / radius)
    return {
        "specialty_fit": specialty_fit(c.specialties, fit_sets),
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
    limit: int | None = None,
) -> list[Ranked]:
    """Rank every candidate; return the best `limit` (all by default) with explanations."""
    fit_sets = [frozenset(fits) for fits in service_fit.values()]
    values = {
        c.physician_id: factor_values(c, fit_sets=fit_sets, payout_cents=payout_cents)
        for c in candidates
    }
    # A factor counts only if it applies to every candidate (distance does or does not).
    applicable = [
        name
        for name, w in weights.items()
        if w > 0 and all(v[name] is not None for v in values.values())
    ]
    total_weight = sum(weights[n] for n in applicable) or 1.0
    scale = [(n, 100 * weights[n] / total_weight) for n in applicable]
    scored = []
    for c in candidates:
        v = values[c.physician_id]
        # Sorted on the raw score (as the SQL preselection does); rounded only for display.
        score = sum(s * float(v[n] or 0.0) for n, s in scale)
        scored.append((-score, -c.aesthetic_years, -c.years_experience, c.physician_id, c))
    scored.sort(key=lambda t: t[:4])
    best = scored[:limit] if limit else scored
    # Explanations only for the candidates that are kept.
    out = []
    for neg_score, *_, c in best:
        v = values[c.physician_id]
        factors = tuple(
            Factor(n, weights[n], round(float(v[n] or 0.0), 4), round(s * float(v[n] or 0.0), 2))
            for n, s in scale
        )
        out.append(Ranked(c.physician_id, round(-neg_score, 2), factors))
    return out


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
