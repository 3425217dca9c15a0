"""Is a malpractice policy's cover enough? Each state the physician is licensed in asks for the
minimum its law sets, where the state rules record one (with its citation); where the state
sets none, or its rule is unknown, mdmatch's own minimum applies (a product default, said as
such). The cover must meet every state's requirement. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class CoverMinimum:
    state: str
    per_claim_cents: int
    aggregate_cents: int | None
    basis: Literal["state_law", "platform_default"]
    citation: str | None
    # Why the platform default applies ("sets no minimum", "rule unknown"); None for state law.
    because: str | None


def _dollars(cents: int) -> str:
    return f"${cents / 100:,.0f}"


def minimums(
    states: Iterable[str],
    rules: Mapping[str, Mapping[str, Any] | None],
    *,
    platform_per_claim_cents: int,
    platform_aggregate_cents: int,
) -> list[CoverMinimum]:
    """One requirement per state (sorted), from each state's cited `malpractice_minimum` fact."""
    out = []
    for state in sorted(set(states)):
        fact = (rules.get(state) or {}).get("malpractice_minimum") or {}
        value = fact.get("value")
        if isinstance(value, Mapping) and isinstance(value.get("per_claim_cents"), int):
            aggregate = value.get("aggregate_cents")
            out.append(
                CoverMinimum(
                    state=state,
                    per_claim_cents=value["per_claim_cents"],
                    aggregate_cents=aggregate if isinstance(aggregate, int) else None,
                    basis="state_law",
                    citation=fact.get("citation"),
                    because=None,
                )
            )
            continue
        out.append(
            CoverMinimum(
                state=state,
                per_claim_cents=platform_per_claim_cents,
                aggregate_cents=platform_aggregate_cents,
                basis="platform_default",
                citation=None,
                because="sets no minimum" if value == "none" else "has no minimum on record",
            )
        )
    return out


def without_license(
    *, platform_per_claim_cents: int, platform_aggregate_cents: int
) -> CoverMinimum:
    """The minimum for a physician with no license on file yet: mdmatch's own."""
    return CoverMinimum(
        state="No license",
        per_claim_cents=platform_per_claim_cents,
        aggregate_cents=platform_aggregate_cents,
        basis="platform_default",
        citation=None,
        because="is on file yet",
    )


def shortfalls(
    per_claim_cents: int, aggregate_cents: int, required: Iterable[CoverMinimum]
) -> list[str]:
    """What the cover lacks, per state, naming whether the state's law or mdmatch asks for it."""
    problems = []
    for m in required:
        short_claim = per_claim_cents < m.per_claim_cents
        short_total = m.aggregate_cents is not None and aggregate_cents < m.aggregate_cents
        if not (short_claim or short_total):
            continue
        wanted = (
            _dollars(m.per_claim_cents)
            + " per claim"
            + (
                f" / {_dollars(m.aggregate_cents)} aggregate"
                if m.aggregate_cents is not None
                else ""
            )
        )
        has = f"{_dollars(per_claim_cents)} / {_dollars(aggregate_cents)}"
        if m.basis == "state_law":
            problems.append(
                f"{m.state} law ({m.citation}) requires {wanted}; the policy has {has}."
            )
        else:
            problems.append(
                f"{m.state} {m.because}, so mdmatch's own minimum applies: {wanted}; the policy "
                f"has {has}."
            )
    return problems


def compared(
    per_claim_cents: int, aggregate_cents: int, required: Iterable[CoverMinimum]
) -> dict[str, Any]:
    """The comparison as a check records it."""
    return {
        "cover": {"per_claim_cents": per_claim_cents, "aggregate_cents": aggregate_cents},
        "required": [
            {
                "state": m.state,
                "per_claim_cents": m.per_claim_cents,
                "aggregate_cents": m.aggregate_cents,
                "basis": m.basis,
                "citation": m.citation,
            }
            for m in required
        ],
    }
