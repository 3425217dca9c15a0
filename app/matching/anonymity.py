"""How a clinic sees a candidate before the engagement is confirmed: coarse values (a specialty,
experience bands) chosen so that at least `K` physicians of the pool fit the card, and an
opaque id that changes from one match to the next. Exact values would single a physician out
(last initial, specialty, degree, years and licensed states were unique across the demo pool).

The pool of a card is every verified physician licensed in the states the card covers. Each
card takes the most specific of `LEVELS` that `K` or more of them share; with fewer than `K` in
the whole pool, only "Physician" is shown.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ARRAY,
    Case,
    SQLColumnExpression,
    String,
    case,
    cast,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.physicians.models import Physician, VerificationStatus

K = 5
# From the most to the least specific; each drops one quasi-identifier.
LEVELS: tuple[tuple[str, ...], ...] = (
    ("specialty", "degree", "experience", "aesthetic"),
    ("specialty", "experience", "aesthetic"),
    ("specialty", "experience"),
    ("specialty",),
    (),
)
_EXPERIENCE = (
    (0, "under 5 years"),
    (5, "5-9 years"),
    (10, "10-19 years"),
    (20, "20 years or more"),
)
_AESTHETIC = ((0, "under 2 years"), (2, "2-4 years"), (5, "5-9 years"), (10, "10 years or more"))
# Card ids are per match, never the physician's: two cards of one physician do not link up.
_CARD_NAMESPACE = uuid.UUID("9a4f3c51-6a43-4f0e-9c61-2f7a9b0d4e11")


def band(value: int, bands: tuple[tuple[int, str], ...]) -> str:
    label = bands[0][1]
    for floor, name in bands:
        if value >= floor:
            label = name
    return label


def experience_band(years: int) -> str:
    return band(years, _EXPERIENCE)


def aesthetic_band(years: int) -> str:
    return band(years, _AESTHETIC)


def card_id(match_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_CARD_NAMESPACE, str(match_id))


@dataclass(frozen=True)
class Traits:
    specialty: str
    degree: str
    experience: str
    aesthetic: str

    @classmethod
    def of(cls, specialties: Sequence[str], degree: str, years: int, aesthetic: int) -> Traits:
        return cls(
            specialty=specialties[0] if specialties else "",
            degree=degree,
            experience=experience_band(years),
            aesthetic=aesthetic_band(aesthetic),
        )

    def key(self, level: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(getattr(self, name) for name in level)


@dataclass(frozen=True)
class Card:
    """What a card shows at its level (None: generalised away)."""

    display_name: str
    specialty: str | None
    degree: str | None
    experience: str | None
    aesthetic: str | None
    pool_size: int


def _label(specialty: str | None) -> str:
    return f"Physician, {specialty.replace('_', ' ').title()}" if specialty else "Physician"


def choose(traits: Traits, counts: dict[tuple[int, tuple[str, ...]], int]) -> Card:
    """The most specific level at which `K` or more of the pool share the card's values."""
    for index, level in enumerate(LEVELS):
        size = counts.get((index, traits.key(level)), 0)
        if size >= K or not level:
            shown = set(level)
            return Card(
                display_name=_label(traits.specialty if "specialty" in shown else None),
                specialty=traits.specialty if "specialty" in shown else None,
                degree=traits.degree if "degree" in shown else None,
                experience=traits.experience if "experience" in shown else None,
                aesthetic=traits.aesthetic if "aesthetic" in shown else None,
                pool_size=size,
            )
    raise AssertionError("the last level is always chosen")  # pragma: no cover


def _band_sql(column: SQLColumnExpression[int], bands: tuple[tuple[int, str], ...]) -> Case[str]:
    return case(*((column >= floor, name) for floor, name in reversed(bands)), else_=bands[0][1])


async def pool_counts(
    session: AsyncSession, states: Sequence[str]
) -> dict[tuple[int, tuple[str, ...]], int]:
    """How many verified physicians licensed in every one of `states` share each combination of
    values, at every level (one query, GROUPING SETS)."""
    pool = (
        select(
            func.coalesce(Physician.specialties[1], "").label("specialty"),
            Physician.degree.label("degree"),
            _band_sql(Physician.years_experience, _EXPERIENCE).label("experience"),
            _band_sql(Physician.aesthetic_years, _AESTHETIC).label("aesthetic"),
        )
        .where(
            Physician.verification_status == VerificationStatus.verified.value,
            Physician.licensed_states.contains(cast(list(states), ARRAY(String))),
        )
        .subquery()
    )
    names = ("specialty", "degree", "experience", "aesthetic")
    columns = [pool.c[name] for name in names]
    sets = [
        tuple_(*(pool.c[name] for name in level)) if level else literal_column("()")
        for level in LEVELS
    ]
    stmt = select(*columns, func.grouping(*columns).label("g"), func.count().label("n")).group_by(
        func.grouping_sets(*sets)
    )
    counts: dict[tuple[int, tuple[str, ...]], int] = {}
    for row in await session.execute(stmt):
        # grouping() has one bit per column, the first column's the highest, set when that
        # column is not part of the row's grouping set.
        present = {name for i, name in enumerate(names) if not row.g & (1 << (len(names) - 1 - i))}
        for index, level in enumerate(LEVELS):
            if set(level) == present:
                counts[(index, tuple(getattr(row, name) for name in level))] = row.n
    return counts
