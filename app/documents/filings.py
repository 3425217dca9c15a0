"""The filings a state's rules oblige when an agreement is executed, changed or ended, tracked
as tasks with a deadline and a party who owes them.

The obligations are the catalog's research (`StateRule.rules["filings"]`: a list of
`{what, filed_with, trigger, within_days, applies_to}`, `"none"` when a state asks for no
filing, null when unknown). Only two templates oblige anything: the per NP/PA
`collaboration_agreement` and the `medical_director_agreement`. `open_filings` is called in
the transaction that moves the document, so a task exists exactly when the move commits:

- On execution (`trigger="signing"`, or `"start"`: the same event) the `signing`, `start`
  and `renewal` obligations open; when an executed agreement is superseded (`"change"`, with
  the superseded document) the `change` ones; when it ends (`"termination"`, with the ended
  document) the `termination` ones.
- Collaboration agreement: an obligation naming `np` or `pa` in `applies_to` opens only for an
  agreement with a provider of a type it names (`provider_type`; when not given, read from the
  roster). One naming only `physician` opens for every agreement, except that `start` and
  `renewal` ones are the physician's own practice filings (notice of supervising at all, a
  permit): once per engagement, state and physician however many agreements they sign.
- Medical director agreement: only physician-only `start` obligations, once per engagement,
  state and current primary director for each state they oversee, shared with the ones the
  collaboration agreements open (the same dedupe key).
- Subjects, and so what "once" means: execution-time obligations of an agreement belong to the
  relationship, identified by the first version of the agreement (found through
  `superseded_by_id`), so a regenerated version does not oblige a second registration; a
  `change` or `termination` belongs to the document that was superseded or ended. The key is
  `engagement:state:trigger:index-in-rule:subject`, inserted with ON CONFLICT DO NOTHING, so a
  redelivered job or two concurrent calls open each task once.
- `due_on = on + within_days` in calendar days; no `within_days` means no deadline (`due_on`
  null), never an invented one. That includes `renewal` without days: it is still tracked (an
  open task with no deadline) rather than dropped, since the obligation is real and only its
  date is unknown.
- `responsible` is the director when `physician` is in `applies_to`, else the clinic (its
  roster NP or PA files; the clinic's admins are reminded).
- Superseding an agreement leaves its open registration filings open: the relationship still
  owes them, and the new version shares their key.

The task copies the rule's citation, url, confidence and note with the obligation itself
(`source`), so it keeps saying why it was opened after the research is revised.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import Role, User
from app.catalog.models import StateRule
from app.clinics.models import Clinic, ClinicMember, ClinicProvider
from app.clinics.service import MANAGE_ROLES
from app.directorships.models import DirectorRole, EngagementDirector
from app.documents.models import ComplianceDocument, Filing, FilingParty, FilingStatus
from app.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.kit.clock import today, utcnow
from app.kit.pagination import PageParams
from app.physicians.models import Physician

log = structlog.get_logger(__name__)

COLLABORATION_AGREEMENT = "collaboration_agreement"
MEDICAL_DIRECTOR_AGREEMENT = "medical_director_agreement"
PHYSICIAN = "physician"
# The event each call reports, and the obligation triggers it opens.
_OPENS: dict[str, frozenset[str]] = {
    "signing": frozenset({"signing", "start", "renewal"}),
    "start": frozenset({"signing", "start", "renewal"}),
    "change": frozenset({"change"}),
    "termination": frozenset({"termination"}),
}
# Physician-only obligations of the physician's practice rather than of one agreement.
_PRACTICE_TRIGGERS = frozenset({"start", "renewal"})
DUE_SOON_DAYS = 7
# A chain of regenerated versions longer than this is a bug, not a relationship.
_MAX_VERSIONS = 1000


class FilingStanding(StrEnum):
    overdue = "overdue"
    due_soon = "due_soon"
    open = "open"
    no_deadline = "no_deadline"
    done = "done"
    canceled = "canceled"


class FilingDue(StrEnum):
    overdue = "overdue"
    due_soon = "due_soon"
    no_deadline = "no_deadline"


class FilingNotFound(NotFound):
    pass


class FilingNotOpen(Conflict):
    slug, title = "filing-not-open", "The filing is no longer open"


class NotFilingParty(Forbidden):
    slug, title = "not-filing-party", "Not the party who owes this filing"


# --- pure rules --------------------------------------------------------------------------


def due_date(on: date, within_days: int | None) -> date | None:
    """The deadline `within_days` calendar days after `on` (none when the source states none)."""
    return None if within_days is None else on + timedelta(days=within_days)


def standing_of(status: str, due_on: date | None, on: date) -> FilingStanding:
    if status != FilingStatus.open.value:
        return FilingStanding(status)
    if due_on is None:
        return FilingStanding.no_deadline
    if due_on < on:
        return FilingStanding.overdue
    if (due_on - on).days <= DUE_SOON_DAYS:
        return FilingStanding.due_soon
    return FilingStanding.open


@dataclass(frozen=True)
class Obligation:
    index: int  # its position in the state's rule: part of the dedupe key
    what: str
    filed_with: str
    trigger: str
    within_days: int | None
    applies_to: tuple[str, ...]
    entry: dict[str, Any]

    @property
    def physician_only(self) -> bool:
        return set(self.applies_to) <= {PHYSICIAN}

    @property
    def responsible(self) -> FilingParty:
        return FilingParty.director if PHYSICIAN in self.applies_to else FilingParty.clinic


def obligations(rule: dict[str, Any] | None) -> list[Obligation]:
    """The listed obligations of a state's `filings` rule (none for "none" or unknown); an entry
    the research left incomplete is skipped and logged rather than guessed at."""
    value = (rule or {}).get("value")
    if not isinstance(value, list):
        return []
    out = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            continue
        what, filed_with, trigger = entry.get("what"), entry.get("filed_with"), entry.get("trigger")
        within = entry.get("within_days")
        applies = entry.get("applies_to") or [PHYSICIAN]
        if not (isinstance(what, str) and isinstance(filed_with, str) and isinstance(trigger, str)):
            log.warning("filing_obligation_incomplete", index=index, entry=entry)
            continue
        if within is not None and not (isinstance(within, int) and within >= 0):
            log.warning("filing_obligation_bad_days", index=index, entry=entry)
            continue
        out.append(
            Obligation(
                index=index,
                what=what,
                filed_with=filed_with,
                trigger=trigger,
                within_days=within,
                applies_to=tuple(str(a) for a in applies),
                entry=entry,
            )
        )
    return out


@dataclass(frozen=True)
class Subject:
    """Whom one obligation is opened for: the key's last part and the task's parties."""

    key: str
    physician_id: uuid.UUID | None
    provider_id: uuid.UUID | None


def agreement_subjects(
    obligation: Obligation,
    *,
    event: str,
    provider_type: str | None,
    document_id: uuid.UUID,
    relationship_id: uuid.UUID,
    physician_id: uuid.UUID | None,
    provider_id: uuid.UUID | None,
) -> Subject | None:
    """Whether a collaboration agreement's `event` opens `obligation`, and for whom."""
    if obligation.trigger not in _OPENS[event]:
        return None
    if not obligation.physician_only and provider_type not in obligation.applies_to:
        return None
    if obligation.physician_only and obligation.trigger in _PRACTICE_TRIGGERS:
        if physician_id is None:
            return None
        return Subject(f"physician:{physician_id}", physician_id, None)
    if obligation.trigger in ("change", "termination"):
        return Subject(f"document:{document_id}", physician_id, provider_id)
    return Subject(f"agreement:{relationship_id}", physician_id, provider_id)


# --- opening -----------------------------------------------------------------------------


async def _filing_rules(session: AsyncSession, states: Sequence[str]) -> dict[str, StateRule]:
    if not states:
        return {}
    rows = await session.scalars(select(StateRule).where(StateRule.code.in_(sorted(set(states)))))
    return {r.code: r for r in rows}


def _source(rule: StateRule, obligation: Obligation) -> dict[str, Any]:
    filings_rule = rule.rules.get("filings") or {}
    return {
        "citation": filings_rule.get("citation"),
        "url": filings_rule.get("url"),
        "confidence": filings_rule.get("confidence"),
        "note": filings_rule.get("note"),
        "obligation": obligation.entry,
    }


async def _relationship_id(session: AsyncSession, document: ComplianceDocument) -> uuid.UUID:
    """The first version of the agreement `document` is a regeneration of."""
    current = document.id
    for _ in range(_MAX_VERSIONS):
        previous = await session.scalar(
            select(ComplianceDocument.id).where(ComplianceDocument.superseded_by_id == current)
        )
        if previous is None:
            return current
        current = previous
    raise RuntimeError(f"document {document.id}: its chain of versions does not end")


async def _provider_type(session: AsyncSession, provider_id: uuid.UUID | None) -> str | None:
    if provider_id is None:
        return None
    kind: str | None = await session.scalar(
        select(ClinicProvider.type).where(ClinicProvider.id == provider_id)
    )
    return kind


async def open_filings(
    session: AsyncSession,
    document: ComplianceDocument,
    *,
    trigger: str,
    on: date,
    provider_type: str | None = None,
) -> list[Filing]:
    """Open the filings `document`'s `trigger` obliges (the rules in the module docstring), as
    of `on`; returns those this call opened (none that an earlier call already did)."""
    if trigger not in _OPENS:
        raise ValueError(f"unknown filing trigger {trigger!r}")
    rows: list[dict[str, Any]] = []
    if document.template_key == COLLABORATION_AGREEMENT and document.state:
        rules = await _filing_rules(session, [document.state])
        rule = rules.get(document.state)
        if rule is not None:
            kind = provider_type or await _provider_type(session, document.provider_id)
            relationship = (
                await _relationship_id(session, document)
                if trigger in ("signing", "start")
                else document.id
            )
            for obligation in obligations(rule.rules.get("filings")):
                subject = agreement_subjects(
                    obligation,
                    event=trigger,
                    provider_type=kind,
                    document_id=document.id,
                    relationship_id=relationship,
                    physician_id=document.physician_id,
                    provider_id=document.provider_id,
                )
                if subject is not None:
                    rows.append(_row(document, rule, obligation, subject, on))
    elif document.template_key == MEDICAL_DIRECTOR_AGREEMENT and trigger in ("signing", "start"):
        directors = await _directors(session, document)
        rules = await _filing_rules(session, [s for _, states in directors for s in states])
        for physician_id, states in directors:
            for state in states:
                rule = rules.get(state)
                if rule is None:
                    continue
                for obligation in obligations(rule.rules.get("filings")):
                    if obligation.trigger == "start" and obligation.physician_only:
                        subject = Subject(f"physician:{physician_id}", physician_id, None)
                        rows.append(_row(document, rule, obligation, subject, on, state=state))
    if not rows:
        return []
    opened = await session.scalars(
        insert(Filing)
        .values(rows)
        .on_conflict_do_nothing(index_elements=[Filing.dedupe_key])
        .returning(Filing)
    )
    result = list(opened)
    if result:
        log.info(
            "documents.filings_opened",
            document_id=str(document.id),
            trigger=trigger,
            count=len(result),
        )
    return result


async def _directors(
    session: AsyncSession, document: ComplianceDocument
) -> list[tuple[uuid.UUID, list[str]]]:
    """The current primary directors the medical director agreement binds, with their states
    (only its own director when the document names one)."""
    stmt = select(EngagementDirector).where(
        EngagementDirector.engagement_id == document.engagement_id,
        EngagementDirector.role == DirectorRole.primary.value,
        EngagementDirector.ended_at.is_(None),
    )
    if document.physician_id is not None:
        stmt = stmt.where(EngagementDirector.physician_id == document.physician_id)
    directors = await session.scalars(stmt.order_by(EngagementDirector.position))
    return [(d.physician_id, list(d.states)) for d in directors]


def _row(
    document: ComplianceDocument,
    rule: StateRule,
    obligation: Obligation,
    subject: Subject,
    on: date,
    *,
    state: str | None = None,
) -> dict[str, Any]:
    code = state or rule.code
    return {
        "id": uuid.uuid4(),
        "engagement_id": document.engagement_id,
        "clinic_id": document.clinic_id,
        "document_id": document.id,
        "state": code,
        "what": obligation.what,
        "filed_with": obligation.filed_with[:200],
        "trigger": obligation.trigger,
        "triggered_on": on,
        "within_days": obligation.within_days,
        "due_on": due_date(on, obligation.within_days),
        "responsible": obligation.responsible.value,
        "physician_id": subject.physician_id,
        "provider_id": subject.provider_id,
        "source": _source(rule, obligation),
        "dedupe_key": (
            f"{document.engagement_id}:{code}:{obligation.trigger}:{obligation.index}:{subject.key}"
        ),
        "status": FilingStatus.open.value,
        "created_at": utcnow(),
        "reminders_sent": [],
    }


# --- who sees and who files --------------------------------------------------------------


def _own_physician_id(user: User) -> Any:
    return select(Physician.id).where(Physician.user_id == user.id).scalar_subquery()


def visible_to(user: User) -> ColumnElement[bool]:
    """Operations see every filing; a clinic's members those of its engagements; a physician
    those they are named on or that belong to an engagement they direct."""
    if user.role == Role.ops_admin.value:
        return true()
    if user.role == Role.physician.value:
        me = _own_physician_id(user)
        return or_(
            Filing.physician_id == me,
            exists().where(
                EngagementDirector.engagement_id == Filing.engagement_id,
                EngagementDirector.physician_id == me,
            ),
        )
    if user.role == Role.clinic_admin.value:
        return exists().where(
            ClinicMember.clinic_id == Filing.clinic_id, ClinicMember.user_id == user.id
        )
    return false()


async def get_filing(
    session: AsyncSession, user: User, filing_id: uuid.UUID, *, for_update: bool = False
) -> Filing:
    """The filing when `user` may see it; 404 otherwise (its existence is not revealed)."""
    stmt = select(Filing).where(Filing.id == filing_id, visible_to(user))
    if for_update:
        stmt = stmt.with_for_update(of=Filing)
    filing = await session.scalar(stmt)
    if filing is None:
        raise FilingNotFound("No such filing.")
    return filing


async def _may_file(session: AsyncSession, user: User, filing: Filing) -> bool:
    if user.role == Role.ops_admin.value:
        return True
    if filing.responsible == FilingParty.director.value:
        if user.role != Role.physician.value or filing.physician_id is None:
            return False
        director_user = await session.scalar(
            select(Physician.user_id).where(Physician.id == filing.physician_id)
        )
        return director_user == user.id
    role = await session.scalar(
        select(ClinicMember.role).where(
            ClinicMember.clinic_id == filing.clinic_id, ClinicMember.user_id == user.id
        )
    )
    return role in MANAGE_ROLES


async def complete_filing(
    session: AsyncSession,
    filing_id: uuid.UUID,
    *,
    user: User,
    filed_on: date,
    reference: str | None,
) -> Filing:
    """Record that the filing was made: by the party who owes it (the director, or an owner or
    admin of the clinic) or operations."""
    filing = await get_filing(session, user, filing_id, for_update=True)
    if not await _may_file(session, user, filing):
        owner = {
            FilingParty.director.value: "its director",
            FilingParty.clinic.value: "an owner or admin of the clinic",
        }[filing.responsible]
        raise NotFilingParty(f"This filing is owed by {owner}; only they or operations mark it.")
    if filing.status != FilingStatus.open.value:
        raise FilingNotOpen(f"The filing is already {filing.status}.", filing_status=filing.status)
    if filed_on > today():
        raise ValidationFailed(
            [{"loc": ["body", "filed_on"], "msg": "cannot be in the future", "type": "value_error"}]
        )
    if filed_on < filing.triggered_on:
        raise ValidationFailed(
            [
                {
                    "loc": ["body", "filed_on"],
                    "msg": f"cannot be before the filing was owed ({filing.triggered_on})",
                    "type": "value_error",
                }
            ]
        )
    filing.status = FilingStatus.done.value
    filing.completed_at = utcnow()
    filing.completed_by = user.id
    filing.filed_on = filed_on
    filing.reference = reference
    await session.flush()
    await record_audit(
        session,
        actor_id=user.id,
        action="documents.filing_done",
        object_type="document_filing",
        object_id=filing.id,
        before={"status": FilingStatus.open.value},
        after={"status": filing.status, "filed_on": filed_on, "reference": reference},
    )
    return filing


# --- lists ---------------------------------------------------------------------------------

FilingRow = tuple[Filing, str]


def _encode(due_on: date | None, filing_id: uuid.UUID) -> str:
    raw = json.dumps(
        {"d": due_on.isoformat() if due_on else None, "id": str(filing_id)},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[date | None, uuid.UUID]:
    try:
        data = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        due = data["d"]
        return (date.fromisoformat(due) if due is not None else None), uuid.UUID(str(data["id"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValidationFailed(
            [{"loc": ["query", "cursor"], "msg": "not a cursor returned by this list"}]
        ) from exc


async def _due_page(
    session: AsyncSession, stmt: Select[Filing, str], page: PageParams
) -> tuple[list[FilingRow], str | None]:
    """A page in deadline order (soonest first, no deadline last), keyed on (due_on, id): the
    order a to-do list is worked in, and stable while rows are added."""
    if page.cursor:
        due, after = _decode(page.cursor)
        if due is None:
            stmt = stmt.where(Filing.due_on.is_(None), Filing.id > after)
        else:
            stmt = stmt.where(
                or_(
                    Filing.due_on > due,
                    and_(Filing.due_on == due, Filing.id > after),
                    Filing.due_on.is_(None),
                )
            )
    stmt = stmt.order_by(Filing.due_on.asc().nulls_last(), Filing.id.asc()).limit(page.limit + 1)
    rows = [(f, name) for f, name in (await session.execute(stmt)).all()]
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1][0]
        next_cursor = _encode(last.due_on, last.id)
    return rows, next_cursor


def _with_clinic() -> Select[Filing, str]:
    return select(Filing, Clinic.legal_name).join(Clinic, Clinic.id == Filing.clinic_id)


async def list_for_engagement(
    session: AsyncSession, engagement_id: uuid.UUID, page: PageParams
) -> tuple[list[FilingRow], str | None]:
    """An engagement's filings (the caller checked the engagement is visible to the user)."""
    return await _due_page(
        session, _with_clinic().where(Filing.engagement_id == engagement_id), page
    )


async def list_for_physician(
    session: AsyncSession, user: User, page: PageParams
) -> tuple[list[FilingRow], str | None]:
    """The filings a physician sees: those naming them and those of engagements they direct."""
    return await _due_page(session, _with_clinic().where(visible_to(user)), page)


def _due_filter(due: FilingDue, on: date) -> ColumnElement[bool]:
    is_open = Filing.status == FilingStatus.open.value
    if due is FilingDue.overdue:
        return and_(is_open, Filing.due_on < on)
    if due is FilingDue.due_soon:
        return and_(is_open, Filing.due_on >= on, Filing.due_on <= on + timedelta(DUE_SOON_DAYS))
    return and_(is_open, Filing.due_on.is_(None))


async def list_all(
    session: AsyncSession,
    page: PageParams,
    *,
    status: FilingStatus | None = None,
    due: FilingDue | None = None,
    state: str | None = None,
) -> tuple[list[FilingRow], str | None]:
    """Operations: every clinic's filings; `due` narrows to open ones by deadline."""
    stmt = _with_clinic()
    if status is not None:
        stmt = stmt.where(Filing.status == status.value)
    if due is not None:
        stmt = stmt.where(_due_filter(due, today()))
    if state is not None:
        stmt = stmt.where(Filing.state == state)
    return await _due_page(session, stmt, page)
