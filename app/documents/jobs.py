"""Compliance documents' jobs: keep each engagement's documents current as it changes (a
subscriber of the engagement's events, and of roster edits), e-mail a roster provider their
signing link, and flag engagements whose grace period to sign ran out."""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.credentials.storage import ObjectStore
from app.documents.generation import Refresh, add_event, refresh_engagement
from app.documents.models import ComplianceDocument, DocumentEvent, DocumentStatus, GenerationReason
from app.documents.signing import issue_signing_link
from app.engagements.events import EventKind, claim, get_event
from app.engagements.models import LIVE_ENGAGEMENT_STATUSES, Engagement
from app.jobs.queue import queue
from app.jobs.runtime import get_runtime
from app.kit.clock import utcnow
from app.notifications.recipients import clinic_admin_ids, physician_user_id
from app.notifications.service import notify, notify_ops

log = structlog.get_logger(__name__)

SUBSCRIBER = "documents.on_engagement_event"
REASONS: dict[str, GenerationReason] = {
    EventKind.confirmed.value: GenerationReason.confirmed,
    EventKind.scope_changed.value: GenerationReason.scope_changed,
    EventKind.roster_changed.value: GenerationReason.roster_changed,
    EventKind.director_joined.value: GenerationReason.directors_changed,
    EventKind.director_ended.value: GenerationReason.directors_changed,
    EventKind.director_rescheduled.value: GenerationReason.directors_changed,
    EventKind.canceled.value: GenerationReason.termination,
}
# The events this domain subscribes to (app/engagements/subscribers.py names them).
EVENT_KINDS = frozenset(REASONS)
OVERDUE_ACTION = "signing_overdue_notified"


_stores: dict[tuple[str | None, str], ObjectStore] = {}


def _store(settings: Settings) -> ObjectStore:
    """The runtime's object store, else one per configured bucket (a boto3 client is built
    once, not per job)."""
    configured = get_runtime().object_store
    if isinstance(configured, ObjectStore):
        return configured
    key = (settings.s3_endpoint_url, settings.s3_bucket)
    if key not in _stores:
        _stores[key] = ObjectStore.from_settings(settings)
    return _stores[key]


async def _announce(session: AsyncSession, refresh: Refresh) -> None:
    """Tell each party what now waits for their signature (one notification per engagement
    and person, listing the documents)."""
    pending = [d for d in refresh.generated if d.status == DocumentStatus.awaiting_signatures.value]
    if not pending:
        return
    engagement_id = pending[0].engagement_id
    clinic_id = pending[0].clinic_id
    titles: dict[uuid.UUID, list[str]] = {}
    admins = await clinic_admin_ids(session, clinic_id)
    for document in pending:
        for signer in document.signers:
            if signer.role == "director" and signer.physician_id is not None:
                user_id = await physician_user_id(session, signer.physician_id)
                titles.setdefault(user_id, []).append(document.title)
            elif signer.role in ("clinic", "provider"):
                # The clinic signs its own lines and invites its providers to sign theirs.
                for admin in admins:
                    titles.setdefault(admin, []).append(document.title)
    superseded = len(refresh.superseded)
    for user_id, names in sorted(titles.items()):
        unique = list(dict.fromkeys(names))
        body = f"{len(unique)} document(s) await your signature: " + "; ".join(unique[:8])
        if len(unique) > 8:
            body += f"; and {len(unique) - 8} more"
        if superseded:
            body += f". They replace {superseded} earlier version(s), which no longer apply."
        await notify(
            session,
            user_id=user_id,
            kind="documents.ready_to_sign",
            title="Compliance documents to sign",
            body=body + ".",
            data={"engagement_id": str(engagement_id)},
            email=True,
        )


async def refresh_and_announce(
    session: AsyncSession, settings: Settings, engagement_id: uuid.UUID, reason: GenerationReason
) -> Refresh:
    refresh = await refresh_engagement(
        session,
        _store(settings),
        engagement_id,
        reason=reason,
        grace_days=settings.document_signing_grace_days,
    )
    await _announce(session, refresh)
    return refresh


@queue.task(name=SUBSCRIBER, retry=5)
async def on_engagement_event(event_id: str) -> int:
    """Generate the documents on confirmation; regenerate what changed when the scope, the
    roster or the directors change; end them (with termination notices) when the engagement
    is canceled. Returns how many documents were made."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        event = await get_event(session, uuid.UUID(event_id))
        if event is None or not await claim(session, event.id, SUBSCRIBER):
            return 0
        reason = REASONS.get(event.kind)
        if reason is None:
            await session.commit()
            return 0
        refresh = await refresh_and_announce(session, runtime.settings, event.engagement_id, reason)
        await session.commit()
    return len(refresh.generated)


@queue.task(name="documents.refresh_clinic", retry=5)
async def refresh_clinic(clinic_id: str) -> int:
    """A roster edit: each live engagement of the clinic regenerates what names the roster
    (nothing when the documents' facts did not change)."""
    runtime = get_runtime()
    made = 0
    async with runtime.sessionmaker() as session:
        ids = list(
            await session.scalars(
                select(Engagement.id)
                .where(
                    Engagement.clinic_id == uuid.UUID(clinic_id),
                    Engagement.status.in_(LIVE_ENGAGEMENT_STATUSES),
                    # Only engagements whose documents exist (confirmation makes them).
                    exists().where(ComplianceDocument.engagement_id == Engagement.id),
                )
                .order_by(Engagement.id)
            )
        )
    # One transaction per engagement: each engagement is locked only while its own documents
    # are made, and what one run committed, a retry after a failure finds done.
    for engagement_id in ids:
        async with runtime.sessionmaker() as session:
            refresh = await refresh_and_announce(
                session, runtime.settings, engagement_id, GenerationReason.roster_changed
            )
            await session.commit()
        made += len(refresh.generated)
    return made


@queue.task(name="documents.send_signing_invitation", retry=3)
async def send_signing_invitation(signer_id: str) -> bool:
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        message = await issue_signing_link(session, runtime.settings, uuid.UUID(signer_id))
        # Commit before sending, so the link in the e-mail always finds its token.
        await session.commit()
    if message is None:
        return False
    await runtime.email_sender.send(message)
    return True


async def flag_overdue_signatures(session: AsyncSession) -> int:
    """Engagements with a required document still unsigned past its `sign_by`: the clinic,
    the directors and operations are told once per document that the engagement does not
    count as under oversight until it is signed. Returns how many documents were flagged."""
    now = utcnow()
    documents = list(
        await session.scalars(
            select(ComplianceDocument)
            .join(Engagement, Engagement.id == ComplianceDocument.engagement_id)
            .where(
                ComplianceDocument.status == DocumentStatus.awaiting_signatures.value,
                ComplianceDocument.required.is_(True),
                ComplianceDocument.sign_by <= now,
                Engagement.status.in_(LIVE_ENGAGEMENT_STATUSES),
                ~exists().where(
                    DocumentEvent.document_id == ComplianceDocument.id,
                    DocumentEvent.action == OVERDUE_ACTION,
                ),
            )
            .order_by(ComplianceDocument.engagement_id, ComplianceDocument.generated_at)
            .with_for_update(of=ComplianceDocument, skip_locked=True)
        )
    )
    by_engagement: dict[uuid.UUID, list[ComplianceDocument]] = {}
    for document in documents:
        by_engagement.setdefault(document.engagement_id, []).append(document)
        await add_event(
            session,
            document,
            OVERDUE_ACTION,
            "The grace period to sign ended; the engagement does not count as under oversight "
            "until this document is signed.",
        )
    for engagement_id, missing in by_engagement.items():
        titles = "; ".join(d.title for d in missing[:8])
        body = (
            f"{len(missing)} required document(s) are still unsigned past the grace period "
            f"({titles}). Until they are signed the engagement does not count as under "
            "oversight."
        )
        data = {"engagement_id": str(engagement_id)}
        users = set(await clinic_admin_ids(session, missing[0].clinic_id))
        for document in missing:
            for signer in document.signers:
                if signer.physician_id is not None and signer.signed_at is None:
                    users.add(await physician_user_id(session, signer.physician_id))
        for user_id in sorted(users):
            await notify(
                session,
                user_id=user_id,
                kind="documents.signing_overdue",
                title="Compliance documents overdue",
                body=body,
                data=data,
                email=True,
            )
        await notify_ops(
            session,
            kind="documents.signing_overdue",
            title="Compliance documents overdue",
            body=body,
            data=data,
        )
    return len(documents)


@queue.periodic(cron="7 * * * *", periodic_id="documents-signing-overdue")
@queue.task(name="documents.flag_overdue_signatures", queueing_lock="documents-signing-overdue")
async def flag_overdue_signatures_job(timestamp: int) -> int:
    """Hourly: engagements whose documents are unsigned past the grace period."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        flagged = await flag_overdue_signatures(session)
        await session.commit()
    if flagged:
        log.info("documents.signing_overdue", documents=flagged)
    return flagged
