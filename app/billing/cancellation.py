"""Cancel: at the end of the paid period (`ending`), or now; Stripe's state is re-read first so
a payment that has just gone through is not lost."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import Role, User
from app.billing.access import load_for_admin, refuse_when_canceled
from app.billing.stripe_gateway import StripeGateway
from app.billing.sync import apply_subscription, mark_canceled
from app.engagements.backup import cancel_backup_search
from app.engagements.models import Engagement, EngagementStatus
from app.notifications.recipients import notify_parties


async def cancel(
    session: AsyncSession,
    gateway: StripeGateway,
    user: User,
    engagement_id: uuid.UUID,
    *,
    at_period_end: bool,
    reason: str | None = None,
) -> Engagement:
    engagement, _ = await load_for_admin(session, user, engagement_id)
    by_ops = user.role == Role.ops_admin.value
    who = f"canceled by operations: {reason}" if by_ops else "canceled by the clinic"
    refuse_when_canceled(engagement)
    sub_id = engagement.stripe_subscription_id
    if sub_id:
        # Decide on Stripe's state now, not on what the last webhook told us (a first invoice
        # paid a moment ago makes this a paid period to run out).
        sub = await gateway.retrieve_subscription(sub_id)
        await apply_subscription(session, gateway, engagement, sub, reason="reconcile")
        refuse_when_canceled(engagement)
    before = {"status": engagement.status, "cancel_at_period_end": engagement.cancel_at_period_end}
    paid_period = engagement.status in ("active", "ending", "past_due")
    if sub_id and at_period_end and paid_period:
        sub = await gateway.cancel_at_period_end(
            sub_id, flag=True, key=f"cancel-at-period-end:{engagement.id}"
        )
        await apply_subscription(session, gateway, engagement, sub, reason=who)
        # An engagement running out needs no new standing backup.
        await cancel_backup_search(session, engagement.id)
    else:
        # Immediate, or nothing paid yet (there is no period to run out).
        if sub_id:
            sub = await gateway.cancel_now(sub_id)
            engagement.stripe_status = sub.get("status")
        await mark_canceled(session, engagement, reason=who, actor_id=user.id)
    await record_audit(
        session,
        actor_id=user.id,
        action="engagement.cancel_requested",
        object_type="engagement",
        object_id=engagement.id,
        before=before,
        after={
            "status": engagement.status,
            "at_period_end": at_period_end,
            "ends_on": engagement.ends_on.isoformat() if engagement.ends_on else None,
            **({"reason": reason, "by": "operations"} if by_ops else {}),
        },
    )
    if by_ops:
        await notify_parties(
            session,
            engagement,
            kind="engagement.canceled_by_operations",
            clinic=(
                "Operations canceled your engagement",
                f"Our operations team canceled this engagement ({reason}). "
                + (
                    f"It runs until {engagement.ends_on}."
                    if engagement.status == EngagementStatus.ending.value
                    else "It has ended."
                ),
            ),
        )
    if engagement.status == EngagementStatus.ending.value:
        await notify_parties(
            session,
            engagement,
            kind="engagement.ending",
            physicians=(
                "Engagement ending",
                f"The clinic canceled; the engagement ends on {engagement.ends_on}.",
            ),
        )
    return engagement
