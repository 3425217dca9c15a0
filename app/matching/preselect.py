"""The ranking formula of `scoring.py`, mirrored in SQL, to preselect the best candidates.

The database orders every eligible physician by the same weighted factors and returns only the
best `limit` plus a margin; `scoring.rank` then ranks and explains those exactly. The margin
absorbs differences of float rounding at the boundary, and `tests/matching/test_preselect.py`
checks that the preselection keeps exactly the candidates the pure ranking would keep. With it,
the Python work per intake is bounded whatever the number of eligible physicians.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import ColumnElement, Float, case, cast, func, literal
from sqlalchemy.sql.selectable import LateralFromClause

from app.matching import scoring
from app.physicians.models import Physician

MARGIN = 10


def _f(x: object) -> ColumnElement[float]:
    return cast(x, Float)


def score_expr(
    *,
    load: LateralFromClause,
    distance: ColumnElement[float] | None,
    fit_sets: Sequence[frozenset[str]],
    payout_cents: int,
    weights: Mapping[str, float],
) -> ColumnElement[float]:
    values: dict[str, ColumnElement[float]] = {}
    if fit_sets:
        hits = [
            case((Physician.specialties.overlap(sorted(fits)), 1.0), else_=0.0) for fits in fit_sets
        ]
        total: ColumnElement[float] = _f(hits[0])
        for h in hits[1:]:
            total = total + h
        values["specialty_fit"] = _f(total / float(len(fit_sets)))
    else:
        values["specialty_fit"] = literal(scoring.NEUTRAL, Float)
    cap = scoring.AESTHETIC_YEARS_FOR_FULL_MARKS
    values["aesthetic_experience"] = _f(func.least(Physician.aesthetic_years, cap)) / float(cap)
    answered = Physician.offers_accepted + Physician.offers_declined
    decided = answered + Physician.offers_expired
    values["responsiveness"] = case(
        (decided < scoring.MIN_OFFERS_FOR_HISTORY, scoring.NEUTRAL),
        else_=_f(answered) / _f(decided),
    )
    values["spare_capacity"] = func.greatest(
        0.0, 1.0 - _f(load.c.clinics) / _f(func.greatest(Physician.max_clinics, 1))
    )
    values["price_fit"] = case(
        (Physician.min_monthly_rate_cents <= payout_cents, 1.0),
        else_=func.greatest(0.0, float(payout_cents) / _f(Physician.min_monthly_rate_cents)),
    )
    if distance is not None:
        values["distance"] = func.greatest(
            0.0, 1.0 - distance / _f(func.greatest(Physician.travel_radius_miles, 1))
        )
    applicable = [n for n, w in weights.items() if w > 0 and n in values]
    total_weight = sum(weights[n] for n in applicable) or 1.0
    score: ColumnElement[float] = literal(0.0, Float)
    for n in applicable:
        score = score + values[n] * (100 * weights[n] / total_weight)
    return score
