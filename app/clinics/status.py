"""The intake lifecycle. Every status change goes through `transition`, so the allowed moves
live in one table (published in the README).

    draft ──submit──▶ matching ──offer accepted──▶ matched ──confirm──▶ confirmed
      │                 │   ▲                        │
      │                 │   └──────resubmit──── unmatched (no director found)
      └──withdraw──▶ withdrawn ◀──withdraw── (matching, matched, unmatched)
"""

from __future__ import annotations

from app.clinics.models import Intake, IntakeStatus
from app.errors import Conflict

S = IntakeStatus

ALLOWED: dict[IntakeStatus, frozenset[IntakeStatus]] = {
    S.draft: frozenset({S.matching, S.withdrawn}),
    S.matching: frozenset({S.matched, S.unmatched, S.withdrawn}),
    # A matched intake falls back to matching when its accepted director drops out.
    S.matched: frozenset({S.confirmed, S.matching, S.withdrawn}),
    S.unmatched: frozenset({S.matching, S.withdrawn}),
    S.confirmed: frozenset(),
    S.withdrawn: frozenset(),
}


class IntakeNotEditable(Conflict):
    slug, title = "intake-not-editable", "Intake can no longer be edited"


class IntakeTransitionNotAllowed(Conflict):
    slug, title = "intake-transition-not-allowed", "Not possible in the intake's current status"


def transition(intake: Intake, target: IntakeStatus) -> None:
    current = IntakeStatus(intake.status)
    if target not in ALLOWED[current]:
        raise IntakeTransitionNotAllowed(
            f"An intake that is {current.value} cannot become {target.value}.",
            intake_status=current.value,
        )
    intake.status = target.value
