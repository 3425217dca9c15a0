"""The operations review queue: documents to compare with the record, possible exclusion
matches. Each kind's consequence of a decision is registered by the module that opens items of
that kind (`on_decision`), so the queue itself knows none of them."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.config import Settings, get_settings
from app.credentials.models import ReviewItem, ReviewKind, ReviewStatus
from app.errors import Conflict, NotFound
from app.kit.clock import utcnow
from app.kit.pagination import PageParams, paginate
from app.notifications.service import notify_ops

Decision = Callable[[AsyncSession, ReviewItem, uuid.UUID], Awaitable[None]]

_on_decision: dict[ReviewKind, Decision] = {}


class ReviewItemNotFound(NotFound):
    slug, title = "review-item-not-found", "Review item not found"


class ReviewItemClosed(Conflict):
    slug, title = "review-item-closed", "This review item is already decided"


def current_settings() -> Settings:
    """The settings a decision applies (the running app's job runtime, or the environment's)."""
    from app.jobs.runtime import get_runtime

    try:
        return get_runtime().settings
    except RuntimeError:
        return get_settings()


def on_decision(kind: ReviewKind, handler: Decision) -> None:
    """`handler(session, item, reviewer_id)` applies an approval or rejection (the item's
    status and reason are set before it runs)."""
    _on_decision[kind] = handler


async def open_item(
    session: AsyncSession,
    *,
    kind: ReviewKind,
    physician_id: uuid.UUID,
    subject_key: str,
    evidence: dict[str, Any],
    title: str,
) -> ReviewItem | None:
    """Queue an item (None when one is already open for the same subject) and tell operations."""
    result = await session.execute(
        insert(ReviewItem)
        .values(
            id=uuid.uuid4(),
            kind=kind.value,
            physician_id=physician_id,
            subject_key=subject_key,
            evidence=evidence,
            status=ReviewStatus.open.value,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(
            # A literal predicate: with a bound parameter PostgreSQL cannot infer the partial
            # index once a prepared statement goes to its generic plan (after 5 executions).
            index_elements=["kind", "subject_key"],
            index_where=text("status = 'open'"),
        )
        .returning(ReviewItem.id)
    )
    item_id = result.scalar_one_or_none()
    if item_id is None:
        return None
    item = await session.get(ReviewItem, item_id)
    assert item is not None
    await notify_ops(
        session,
        kind="credentials.review_needed",
        title=title,
        body=f"A {kind.value.replace('_', ' ')} waits in the review queue.",
        data={"review_item_id": str(item.id), "physician_id": str(physician_id)},
    )
    return item


async def list_items(
    session: AsyncSession,
    page: PageParams,
    *,
    status: ReviewStatus | None = ReviewStatus.open,
    kind: ReviewKind | None = None,
) -> tuple[Sequence[ReviewItem], str | None]:
    stmt = select(ReviewItem)
    if status is not None:
        stmt = stmt.where(ReviewItem.status == status.value)
    if kind is not None:
        stmt = stmt.where(ReviewItem.kind == kind.value)
    return await paginate(
        session, stmt, page, created_at=ReviewItem.created_at, id_column=ReviewItem.id
    )


async def get_item(session: AsyncSession, item_id: uuid.UUID, *, lock: bool = False) -> ReviewItem:
    stmt = select(ReviewItem).where(ReviewItem.id == item_id)
    if lock:
        stmt = stmt.with_for_update()
    item = await session.scalar(stmt)
    if item is None:
        raise ReviewItemNotFound("No such review item.")
    return item


async def decide(
    session: AsyncSession,
    item_id: uuid.UUID,
    *,
    approve: bool,
    reason: str,
    reviewer_id: uuid.UUID,
) -> ReviewItem:
    """Approve or reject an open item (row-locked: two reviewers deciding at once get one
    decision and one 409), apply its consequence, and audit it."""
    item = await get_item(session, item_id, lock=True)
    if item.status != ReviewStatus.open.value:
        raise ReviewItemClosed(
            f"This item was already {item.status}.", review_item_status=item.status
        )
    item.status = (ReviewStatus.approved if approve else ReviewStatus.rejected).value
    item.reason = reason
    item.decided_at = utcnow()
    item.decided_by = reviewer_id
    await session.flush()
    handler = _on_decision.get(ReviewKind(item.kind))
    if handler is not None:
        await handler(session, item, reviewer_id)
    await record_audit(
        session,
        actor_id=reviewer_id,
        action=f"credentials.review_{item.status}",
        object_type="review_item",
        object_id=item.id,
        before={"status": ReviewStatus.open.value},
        after={
            "status": item.status,
            "reason": reason,
            "kind": item.kind,
            "physician_id": str(item.physician_id),
        },
    )
    return item
