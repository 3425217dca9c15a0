"""Keep an engagement's documents current: plan what it needs from the facts as they are now
(app/documents/plan.py), render what is new or changed, supersede what changed, end what is no
longer needed (with a termination notice for an agreement that was in force), and open the
filings each change obliges (app/documents/filings.py).

Runs in a job, never in a clinic's request: on the engagement's events (confirmed, scope or
roster changed, a director joined or ended, canceled) and on any roster edit. The engagement
row is locked first (the house lock order), so two refreshes of one engagement run one after
the other and the second finds nothing to do; the unique index on a slot's current document
backs that up. A document's fingerprint covers every fact it prints and its template version,
so an unrelated change regenerates nothing.

PDFs go to the object store before the rows commit; a transaction that then fails leaves an
object no row names (harmless, never served: downloads go through a row's key).
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.credentials.storage import ObjectStore
from app.documents import filings
from app.documents.catalog import CounselReview, template
from app.documents.days import trigger_day
from app.documents.facts import EngagementFacts
from app.documents.gather import gather
from app.documents.models import (
    CURRENT_STATUSES,
    ComplianceDocument,
    DocumentEvent,
    DocumentSigner,
    DocumentStatus,
    GenerationReason,
    TemplateReview,
)
from app.documents.plan import DocumentSpec, Signer, plan_documents, plan_terminations
from app.documents.render import context_for, render
from app.engagements.models import Engagement, EngagementStatus
from app.kit.clock import utcnow

log = structlog.get_logger(__name__)

OBJECT_PREFIX = "compliance-documents"
PDF = "application/pdf"
SYSTEM_ACTOR = "mdmatch"
# Templates whose ending is an agreement ending: a termination notice and the state's
# termination filings follow (protocols, standing orders and plans are simply withdrawn).
AGREEMENTS = frozenset(
    {"medical_director_agreement", "management_services_agreement", "collaboration_agreement"}
)
TERMINATION_NOTICE = "termination_notice"


def object_key(engagement_id: uuid.UUID, document_id: uuid.UUID, *, sealed: bool = False) -> str:
    suffix = "-sealed" if sealed else ""
    return f"{OBJECT_PREFIX}/{engagement_id}/{document_id}{suffix}.pdf"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Refresh:
    generated: list[ComplianceDocument] = field(default_factory=list)
    superseded: list[ComplianceDocument] = field(default_factory=list)
    ended: list[ComplianceDocument] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.generated or self.superseded or self.ended)


async def counsel_reviews(session: AsyncSession) -> dict[tuple[str, str], CounselReview]:
    rows = await session.scalars(select(TemplateReview))
    return {
        (r.template_key, r.template_version): CounselReview(
            reviewed_on=r.reviewed_on, reviewer=r.reviewer
        )
        for r in rows
    }


async def add_event(
    session: AsyncSession,
    document: ComplianceDocument,
    action: str,
    detail: str,
    *,
    actor: str = SYSTEM_ACTOR,
    actor_user_id: uuid.UUID | None = None,
    ip_address: str | None = None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> DocumentEvent:
    event = DocumentEvent(
        id=uuid.uuid4(),
        document_id=document.id,
        at=at or utcnow(),
        action=action,
        actor=actor,
        actor_user_id=actor_user_id,
        detail=detail,
        ip_address=ip_address,
        data=data or {},
    )
    session.add(event)
    return event


def spec_of(document: ComplianceDocument) -> DocumentSpec:
    """The plan entry a stored document was made from (what a termination notice names)."""
    return DocumentSpec(
        slot=document.slot,
        template_key=document.template_key,
        title=document.title,
        state=document.state,
        provider_id=document.provider_id,
        physician_id=document.physician_id,
        signers=tuple(
            Signer(role=s.role, name=s.name, physician_id=s.physician_id, provider_id=s.provider_id)
            for s in document.signers
        ),
        required=document.required,
        fingerprint=document.fingerprint,
    )


async def refresh_engagement(
    session: AsyncSession,
    store: ObjectStore,
    engagement_id: uuid.UUID,
    *,
    reason: GenerationReason,
    grace_days: int,
) -> Refresh:
    """Bring the engagement's documents up to date with its facts (see the module docstring).
    The caller commits."""
    result = Refresh()
    engagement = await session.scalar(
        select(Engagement).where(Engagement.id == engagement_id).with_for_update()
    )
    if engagement is None:
        return result
    facts = await gather(session, engagement)
    live = engagement.status != EngagementStatus.canceled.value
    specs = plan_documents(facts) if live else []
    current = {
        d.slot: d
        for d in await session.scalars(
            select(ComplianceDocument)
            .where(
                ComplianceDocument.engagement_id == engagement.id,
                ComplianceDocument.status.in_(CURRENT_STATUSES),
            )
            .order_by(ComplianceDocument.generated_at)
            .with_for_update()
        )
    }
    reviews = await counsel_reviews(session)
    now = utcnow()
    # The day a termination takes effect, as the clinic's calendar reads it.
    today = await trigger_day(session, engagement.clinic_id, None, now)
    for spec in specs:
        old = current.pop(spec.slot, None)
        version = template(spec.template_key).version
        if (
            old is not None
            and old.fingerprint == spec.fingerprint
            and (old.template_version == version)
        ):
            continue
        was_executed = old is not None and old.status == DocumentStatus.executed.value
        # A new version of a document nobody had signed keeps its deadline: regenerating
        # never buys an overdue engagement a new grace period.
        sign_by = old.sign_by if old is not None and not was_executed else None
        if old is not None:
            await _retire(session, old, DocumentStatus.superseded, now)
            result.superseded.append(old)
        document = await _make(
            session,
            store,
            facts,
            spec,
            reason=reason,
            reviews=reviews,
            now=now,
            grace=grace_days,
            sign_by=sign_by,
        )
        result.generated.append(document)
        if old is not None:
            old.superseded_by_id = document.id
            await add_event(
                session, old, "superseded", f"Superseded by {document.title} ({document.id})."
            )
            if was_executed:
                await filings.open_filings(
                    session,
                    old,
                    trigger="change",
                    on=await trigger_day(session, old.clinic_id, old.state, now),
                    provider_type=_type(facts, old),
                )
    ended_specs: list[DocumentSpec] = []
    # Ended agreements that were in force: by the ended version, or by an executed version it
    # superseded (a new version awaiting signatures does not undo the one the board holds).
    in_force: dict[str, ComplianceDocument] = {}
    for old in current.values():
        if old.template_key == TERMINATION_NOTICE:
            continue  # a notice is signed and kept; no plan names it
        executed = old if old.status == DocumentStatus.executed.value else None
        await _retire(session, old, DocumentStatus.ended, now)
        await add_event(session, old, "ended", _ended_detail(engagement, live))
        result.ended.append(old)
        if old.template_key not in AGREEMENTS:
            continue
        executed = executed or await _last_executed(session, old)
        if executed is None:
            continue
        # The notice's slot names the ended document: an agreement that ends, is made again
        # and ends again gets a second notice, not a clash with the first.
        ended_spec = replace(spec_of(executed), slot=f"{old.slot}@{old.id}")
        in_force[ended_spec.slot] = old
        ended_specs.append(ended_spec)
        await filings.open_filings(
            session,
            executed,
            trigger="termination",
            on=await trigger_day(session, old.clinic_id, old.state, now),
            provider_type=_type(facts, executed),
        )
    for notice in plan_terminations(facts, ended_specs, effective_on=today):
        assert notice.terminates is not None
        ended = in_force[notice.terminates.slot]
        document = await _make(
            session,
            store,
            facts,
            notice,
            reason=GenerationReason.termination,
            reviews=reviews,
            now=now,
            grace=grace_days,
        )
        document.termination_of_id = ended.id
        result.generated.append(document)
    await session.flush()
    if result.changed:
        log.info(
            "documents.refreshed",
            engagement_id=str(engagement.id),
            reason=reason.value,
            generated=len(result.generated),
            superseded=len(result.superseded),
            ended=len(result.ended),
        )
    return result


async def _last_executed(
    session: AsyncSession, document: ComplianceDocument
) -> ComplianceDocument | None:
    """The latest executed version of the document's slot (superseded since), if any."""
    found: ComplianceDocument | None = await session.scalar(
        select(ComplianceDocument)
        .where(
            ComplianceDocument.engagement_id == document.engagement_id,
            ComplianceDocument.slot == document.slot,
            ComplianceDocument.executed_at.is_not(None),
        )
        .order_by(ComplianceDocument.executed_at.desc())
        .limit(1)
    )
    return found


def _type(facts: EngagementFacts, document: ComplianceDocument) -> str | None:
    """The provider type of an agreement's NP or PA (from its merge data when they left)."""
    if document.provider_id is None:
        return None
    for provider in facts.providers:
        if provider.id == document.provider_id:
            return provider.type
    provider_data = document.merge_data.get("provider")
    if isinstance(provider_data, dict):
        kind = provider_data.get("type")
        return str(kind) if kind else None
    return None


def _ended_detail(engagement: Engagement, live: bool) -> str:
    if not live:
        return "Ended with the engagement."
    return "No longer needed: the roster, the states or the directors it governed changed."


async def _retire(
    session: AsyncSession, document: ComplianceDocument, status: DocumentStatus, now: datetime
) -> None:
    """Take the document out of its slot before its successor takes it (the unique index)."""
    document.status = status.value
    if status is DocumentStatus.superseded:
        document.superseded_at = now
    else:
        document.ended_at = now
    await session.flush()


async def _make(
    session: AsyncSession,
    store: ObjectStore,
    facts: EngagementFacts,
    spec: DocumentSpec,
    *,
    reason: GenerationReason,
    reviews: dict[tuple[str, str], CounselReview],
    now: datetime,
    grace: int,
    sign_by: datetime | None = None,
) -> ComplianceDocument:
    tpl = template(spec.template_key)
    review = reviews.get((tpl.key, tpl.version))
    document_id = uuid.uuid4()
    generated_on = now.date()
    context = context_for(
        spec, facts, document_id=document_id, generated_on=generated_on, counsel_review=review
    )
    pdf = await asyncio.to_thread(
        render,
        spec,
        facts,
        document_id=document_id,
        generated_on=generated_on,
        counsel_review=review,
    )
    digest = sha256_hex(pdf)
    key = object_key(facts.engagement_id, document_id)
    await store.put(key, pdf, content_type=PDF, sha256=digest)
    document = ComplianceDocument(
        id=document_id,
        engagement_id=facts.engagement_id,
        clinic_id=facts.clinic.id,
        slot=spec.slot,
        template_key=tpl.key,
        template_version=tpl.version,
        title=spec.title[:300],
        state=spec.state,
        provider_id=spec.provider_id,
        physician_id=spec.physician_id,
        required=spec.required,
        status=DocumentStatus.awaiting_signatures.value,
        reason=reason.value,
        fingerprint=spec.fingerprint,
        merge_data=context,
        counsel_reviewed_on=review.reviewed_on if review else None,
        sha256=digest,
        object_key=key,
        size_bytes=len(pdf),
        generated_at=now,
        sign_by=(sign_by or now + timedelta(days=grace)) if spec.required else None,
    )
    # Set on the new object (not loaded later): the caller reads them in this transaction.
    document.signers = [
        DocumentSigner(
            id=uuid.uuid4(),
            document_id=document_id,
            position=position,
            role=signer.role,
            name=signer.name[:200],
            physician_id=signer.physician_id,
            provider_id=signer.provider_id,
        )
        for position, signer in enumerate(spec.signers)
    ]
    session.add(document)
    await session.flush()
    await add_event(
        session,
        document,
        "generated",
        f"Generated from template {tpl.key} version {tpl.version} ({reason.value}); "
        f"SHA-256 {digest}.",
        at=now,
        data={"sha256": digest, "template_version": tpl.version},
    )
    return document
