"""Who works where: the people a clinic's director supervises, per state (pure).

A clinic with a provider roster is known person by person: type, FTE and the locations (so the
states) each works at. An intake without a roster sends counts (`providers: [{type, count}]`),
read as that many people at 1.0 FTE working in every state of the clinic, as before rosters.

Caps apply per state to the people who work in that state, by head or by FTE as the state's rule
counts; a director covering some of a clinic's states is charged only with the people working in
those states (a person working in two of them counts once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Source = Literal["roster", "counts"]
CAP_KINDS: dict[str, tuple[str, ...]] = {"pa": ("pa",), "np": ("np",), "combined": ("np", "pa")}


def _fte(x: float) -> float:
    return round(x + 0.0, 2)


@dataclass(frozen=True, slots=True)
class Person:
    type: str
    fte: float
    states: frozenset[str]


@dataclass(frozen=True, slots=True)
class Load:
    """The people of some states: heads and FTE per provider type."""

    heads: Mapping[str, int]
    fte: Mapping[str, float]

    def count(self, kind: str, basis: str) -> float:
        """NPs, PAs or both (`kind`: np, pa, combined) by `basis` (heads or fte)."""
        source: Mapping[str, float] = self.fte if basis == "fte" else self.heads
        total = sum(source.get(t, 0) for t in CAP_KINDS[kind])
        return _fte(total) if basis == "fte" else total

    def has(self, type_: str) -> bool:
        return self.heads.get(type_, 0) > 0

    @property
    def total_heads(self) -> int:
        return sum(self.heads.values())

    @property
    def total_fte(self) -> float:
        return _fte(sum(self.fte.values()))


@dataclass(frozen=True, slots=True)
class Charge:
    """What one director takes on (matches and engagement directors store it): heads and FTE of
    everyone supervised, of PAs and of NPs."""

    supervisees: int = 0
    pa_count: int = 0
    np_count: int = 0
    supervisees_fte: float = 0.0
    pa_fte: float = 0.0
    np_fte: float = 0.0

    @classmethod
    def of(cls, load: Load) -> Charge:
        return cls(
            supervisees=load.total_heads,
            pa_count=load.heads.get("pa", 0),
            np_count=load.heads.get("np", 0),
            supervisees_fte=load.total_fte,
            pa_fte=_fte(load.fte.get("pa", 0.0)),
            np_fte=_fte(load.fte.get("np", 0.0)),
        )

    @classmethod
    def stored(cls, row: Any) -> Charge:
        """The charge a match or an engagement director row holds."""
        return cls(
            supervisees=row.supervisees,
            pa_count=row.pa_count,
            np_count=row.np_count,
            supervisees_fte=float(row.supervisees_fte),
            pa_fte=float(row.pa_fte),
            np_fte=float(row.np_fte),
        )

    def columns(self) -> dict[str, Any]:
        return {
            "supervisees": self.supervisees,
            "pa_count": self.pa_count,
            "np_count": self.np_count,
            "supervisees_fte": self.supervisees_fte,
            "pa_fte": self.pa_fte,
            "np_fte": self.np_fte,
        }

    def minus(self, other: Charge) -> Charge:
        return Charge(
            supervisees=self.supervisees - other.supervisees,
            pa_count=self.pa_count - other.pa_count,
            np_count=self.np_count - other.np_count,
            supervisees_fte=_fte(self.supervisees_fte - other.supervisees_fte),
            pa_fte=_fte(self.pa_fte - other.pa_fte),
            np_fte=_fte(self.np_fte - other.np_fte),
        )

    def count(self, kind: str, basis: str) -> float:
        if basis == "fte":
            return _fte({"pa": self.pa_fte, "np": self.np_fte}.get(kind, self.pa_fte + self.np_fte))
        return {"pa": self.pa_count, "np": self.np_count}.get(kind, self.pa_count + self.np_count)


@dataclass(frozen=True, slots=True)
class Staffing:
    people: tuple[Person, ...]
    source: Source

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], states: Iterable[str]) -> Staffing:
        everywhere = frozenset(states)
        return cls(
            tuple(
                Person(t, 1.0, everywhere)
                for t, n in sorted(counts.items())
                for _ in range(max(int(n), 0))
            ),
            "counts",
        )

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> Staffing:
        """The roster snapshot an intake stores."""
        return cls(
            tuple(Person(str(p["type"]), float(p["fte"]), frozenset(p["states"])) for p in data),
            "roster",
        )

    def in_states(self, states: Iterable[str]) -> Load:
        wanted = frozenset(states)
        heads: dict[str, int] = {}
        fte: dict[str, float] = {}
        for p in self.people:
            if p.states & wanted:
                heads[p.type] = heads.get(p.type, 0) + 1
                fte[p.type] = _fte(fte.get(p.type, 0.0) + p.fte)
        return Load(heads, fte)

    def everywhere(self) -> Load:
        return self.in_states(frozenset().union(*(p.states for p in self.people)))

    def counts(self) -> dict[str, int]:
        """Heads per provider type across the clinic."""
        out: dict[str, int] = {}
        for p in self.people:
            out[p.type] = out.get(p.type, 0) + 1
        return out
