"""Who may be matched: the SQL the matching engine builds on.

A physician is matchable when they are verified (not pending, rejected or suspended), accepting
new clinics, hold a verified malpractice policy that has not expired on the start date, and, for
each requested state, a verified license that has not expired on the start date. Pending
credentials never count, so a verified physician cannot add a state and be matched there
unchecked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import ColumnElement, Date, Select, and_, cast, exists, select

from app.catalog.vocabulary import CredentialStatus
from app.physicians.models import BoardCertification, DeaRegistration, Physician

VERIFIED = CredentialStatus.verified.value


def current_license(state: str, on: date) -> ColumnElement[bool]:
    """A verified license in `state` valid after `on` (from the trigger-kept columns: the GIN
    index serves the first half, the second reads the same row)."""
    return and_(
        Physician.licensed_states.contains([state]),
        cast(Physician.license_expiry[state].astext, Date) > on,
    )


def current_dea(state: str, on: date):  # type: ignore[no-untyped-def]
    return exists().where(
        DeaRegistration.physician_id == Physician.id,
        DeaRegistration.state == state,
        DeaRegistration.status == VERIFIED,
        DeaRegistration.expires_on > on,
    )


def board_certified(specialties: Sequence[str], on: date) -> ColumnElement[bool]:
    """A verified board certification (or eligibility) in one of `specialties`, valid after
    `on`."""
    return exists().where(
        BoardCertification.physician_id == Physician.id,
        BoardCertification.specialty.in_(list(specialties)),
        BoardCertification.status == VERIFIED,
        BoardCertification.expires_on > on,
    )


def current_malpractice(on: date) -> ColumnElement[bool]:
    return Physician.malpractice_expires_on > on


def matchable_physicians(
    *, states: Sequence[str], on: date, dea_states: Sequence[str] = ()
) -> Select[Physician]:
    """Physicians who may oversee locations in every one of `states` from `on`, with a DEA
    registration in each of `dea_states` (where controlled substances are prescribed)."""
    conditions = [
        Physician.verification_status == "verified",
        Physician.accepting_new.is_(True),
        current_malpractice(on),
        *(current_license(s, on) for s in states),
        *(current_dea(s, on) for s in dea_states),
    ]
    return select(Physician).where(and_(*conditions))
