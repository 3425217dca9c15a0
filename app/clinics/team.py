"""A clinic's team: the owner invites teammates by e-mail with a role (admin, billing, viewer),
changes or removes them, and may hand ownership to a teammate. Invitations are single-use and
expire; their token is issued when the e-mail is sent, and only its hash is kept. Every change
is audited on the clinic.

Team changes of one clinic are serialised by a lock on the clinic row (so a transfer and a
removal cannot interleave); an acceptance locks its invitation row (so a token works once).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import Role, User
from app.auth.tokens import hash_token, new_opaque_token
from app.clinics.models import Clinic, ClinicInvitation, ClinicMember, MemberRole
from app.config import Settings
from app.errors import Conflict, NotFound, ValidationFailed
from app.kit.clock import utcnow
from app.kit.mailer import OutgoingEmail
from app.notifications.emails import render_invitation

INVITATION_TTL = timedelta(days=7)


class InvitationNotFound(NotFound):
    slug, title = "invitation-not-found", "No such invitation, or it is no longer valid"


class AlreadyMember(Conflict):
    slug, title = "already-member", "Already on the clinic's team"


class MemberNotFound(NotFound):
    pass


class OwnerRoleFixed(Conflict):
    slug, title = "owner-role-fixed", "The owner's role changes only by a transfer"


def _pending(invitation: ClinicInvitation) -> bool:
    """Neither accepted, withdrawn nor expired."""
    return (
        invitation.accepted_at is None
        and invitation.revoked_at is None
        and invitation.expires_at > utcnow()
    )


def _norm(email: str) -> str:
    return email.strip().lower()


async def _lock(session: AsyncSession, clinic: Clinic) -> None:
    await session.execute(select(Clinic.id).where(Clinic.id == clinic.id).with_for_update())


async def members(
    session: AsyncSession, clinic: Clinic
) -> tuple[list[dict[str, Any]], list[ClinicInvitation]]:
    rows = (
        await session.execute(
            select(ClinicMember.user_id, User.email, ClinicMember.role, ClinicMember.created_at)
            .join(User, User.id == ClinicMember.user_id)
            .where(ClinicMember.clinic_id == clinic.id)
            .order_by(ClinicMember.created_at, ClinicMember.user_id)
        )
    ).all()
    pending = (
        await session.scalars(
            select(ClinicInvitation)
            .where(
                ClinicInvitation.clinic_id == clinic.id,
                ClinicInvitation.accepted_at.is_(None),
                ClinicInvitation.revoked_at.is_(None),
                ClinicInvitation.expires_at > utcnow(),
            )
            .order_by(ClinicInvitation.created_at)
        )
    ).all()
    return [r._asdict() for r in rows], list(pending)


async def invite(
    session: AsyncSession, clinic: Clinic, *, email: str, role: str, actor: User
) -> ClinicInvitation:
    """A new invitation (replacing a pending one to the same address)."""
    await _lock(session, clinic)
    address = _norm(email)
    member = await session.scalar(
        select(ClinicMember.user_id)
        .join(User, User.id == ClinicMember.user_id)
        .where(ClinicMember.clinic_id == clinic.id, func.lower(User.email) == address)
    )
    if member is not None:
        raise AlreadyMember(f"{address} is already on this clinic's team.")
    now = utcnow()
    for old in await session.scalars(
        select(ClinicInvitation).where(
            ClinicInvitation.clinic_id == clinic.id,
            ClinicInvitation.email == address,
            ClinicInvitation.accepted_at.is_(None),
            ClinicInvitation.revoked_at.is_(None),
        )
    ):
        old.revoked_at = now
    invitation = ClinicInvitation(
        id=uuid.uuid4(),
        clinic_id=clinic.id,
        email=address,
        role=role,
        invited_by=actor.id,
        created_at=now,
        expires_at=now + INVITATION_TTL,
    )
    session.add(invitation)
    await session.flush()
    await record_audit(
        session,
        actor_id=actor.id,
        action="clinic.member_invited",
        object_type="clinic",
        object_id=clinic.id,
        after={"invitation_id": str(invitation.id), "email": address, "role": role},
    )
    return invitation


async def issue_invitation_email(
    session: AsyncSession, settings: Settings, invitation_id: uuid.UUID
) -> OutgoingEmail | None:
    """Issue the invitation's token and return the e-mail carrying it (None when the invitation
    was accepted, revoked or has expired since). Runs as a job: the token never sits in the
    job's arguments."""
    invitation = await session.scalar(
        select(ClinicInvitation).where(ClinicInvitation.id == invitation_id).with_for_update()
    )
    if invitation is None or not _pending(invitation):
        return None
    clinic = await session.get(Clinic, invitation.clinic_id)
    inviter = await session.get(User, invitation.invited_by) if invitation.invited_by else None
    assert clinic is not None
    token = new_opaque_token()
    invitation.token_hash = hash_token(token)
    await session.flush()
    rendered = render_invitation(
        link=f"{settings.public_base_url.rstrip('/')}/invitations/accept?token={token}",
        token=token,
        clinic_name=clinic.legal_name,
        inviter=inviter.email if inviter else "The clinic's owner",
        role=invitation.role,
        expires=invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        base_url=settings.public_base_url,
    )
    return OutgoingEmail(
        to=invitation.email, subject=rendered.subject, body=rendered.text, html=rendered.html
    )


async def accept(session: AsyncSession, user: User, token: str) -> ClinicMember:
    """Join the clinic with the invitation's role: once, before it expires, by the account
    whose e-mail it was sent to."""
    invitation = await session.scalar(
        select(ClinicInvitation)
        .where(ClinicInvitation.token_hash == hash_token(token))
        .with_for_update()
    )
    if invitation is None or not _pending(invitation) or _norm(user.email) != invitation.email:
        raise InvitationNotFound(
            "This invitation does not exist, was used or withdrawn, has expired, or was sent "
            "to another e-mail address."
        )
    existing = await session.get(ClinicMember, (invitation.clinic_id, user.id))
    if existing is not None:
        raise AlreadyMember("You are already on this clinic's team.", role=existing.role)
    now = utcnow()
    invitation.accepted_at, invitation.accepted_by = now, user.id
    member = ClinicMember(
        clinic_id=invitation.clinic_id, user_id=user.id, role=invitation.role, created_at=now
    )
    session.add(member)
    await session.flush()
    await record_audit(
        session,
        actor_id=user.id,
        action="clinic.member_joined",
        object_type="clinic",
        object_id=invitation.clinic_id,
        after={"user_id": str(user.id), "role": invitation.role},
    )
    return member


async def revoke(
    session: AsyncSession, clinic: Clinic, invitation_id: uuid.UUID, *, actor: User
) -> None:
    invitation = await session.scalar(
        select(ClinicInvitation)
        .where(ClinicInvitation.id == invitation_id, ClinicInvitation.clinic_id == clinic.id)
        .with_for_update()
    )
    if invitation is None or invitation.accepted_at or invitation.revoked_at:
        raise InvitationNotFound("No pending invitation with this id.")
    invitation.revoked_at = utcnow()
    await record_audit(
        session,
        actor_id=actor.id,
        action="clinic.invitation_revoked",
        object_type="clinic",
        object_id=clinic.id,
        before={"invitation_id": str(invitation.id), "email": invitation.email},
    )


async def _member(session: AsyncSession, clinic: Clinic, user_id: uuid.UUID) -> ClinicMember:
    member = await session.get(ClinicMember, (clinic.id, user_id), with_for_update=True)
    if member is None:
        raise MemberNotFound("No such member of this clinic's team.")
    return member


async def change_role(
    session: AsyncSession, clinic: Clinic, user_id: uuid.UUID, role: str, *, actor: User
) -> ClinicMember:
    await _lock(session, clinic)
    member = await _member(session, clinic, user_id)
    if member.role == MemberRole.owner.value:
        raise OwnerRoleFixed("The owner stays owner until they transfer ownership.")
    before = member.role
    member.role = role
    await record_audit(
        session,
        actor_id=actor.id,
        action="clinic.member_role_changed",
        object_type="clinic",
        object_id=clinic.id,
        before={"user_id": str(user_id), "role": before},
        after={"user_id": str(user_id), "role": role},
    )
    return member


async def remove(session: AsyncSession, clinic: Clinic, user_id: uuid.UUID, *, actor: User) -> None:
    """The owner removes a teammate, or a teammate leaves; the owner cannot leave."""
    await _lock(session, clinic)
    member = await _member(session, clinic, user_id)
    if member.role == MemberRole.owner.value:
        raise OwnerRoleFixed("The owner cannot leave the team; transfer ownership first.")
    await session.delete(member)
    await record_audit(
        session,
        actor_id=actor.id,
        action="clinic.member_removed",
        object_type="clinic",
        object_id=clinic.id,
        before={"user_id": str(user_id), "role": member.role},
    )


async def transfer_ownership(
    session: AsyncSession, clinic: Clinic, user_id: uuid.UUID, *, actor: User
) -> Sequence[ClinicMember]:
    """Make a teammate the owner; the previous owner stays on the team as an admin."""
    await _lock(session, clinic)
    if user_id == actor.id:
        raise ValidationFailed([{"loc": ["body", "user_id"], "msg": "you are the owner already"}])
    new_owner = await _member(session, clinic, user_id)
    target = await session.get(User, user_id)
    if target is None or target.role != Role.clinic_admin.value:  # pragma: no cover - members are
        raise MemberNotFound("No such member of this clinic's team.")
    old_owner = await _member(session, clinic, actor.id)
    before = new_owner.role
    old_owner.role, new_owner.role = MemberRole.admin.value, MemberRole.owner.value
    await record_audit(
        session,
        actor_id=actor.id,
        action="clinic.ownership_transferred",
        object_type="clinic",
        object_id=clinic.id,
        before={"owner": str(actor.id), "new_owner_role": before},
        after={"owner": str(user_id), "previous_owner_role": MemberRole.admin.value},
    )
    return [old_owner, new_owner]
