"""Notifications' e-mail copies through a real SMTP server (aiosmtpd on loopback) and the
real database: rendered from the kind's template, marked sent, and never lost to a failure."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role, User
from app.auth.service import create_user
from app.config import Settings
from app.devtools.stripe_emulator import free_port
from app.jobs.runtime import JobRuntime, configure_runtime, get_runtime
from app.kit.clock import utcnow
from app.kit.mailer import SmtpEmailSender
from app.notifications.emails import UnknownEmailKind
from app.notifications.jobs import send_emails
from app.notifications.models import Notification
from app.notifications.service import notify, send_pending_emails
from tests.factories import PASSWORD, unique_email
from tests.smtp_relay import Relay, smtp_relay

BASE = "https://app.mdmatch.example"


@pytest.fixture
def relay() -> Iterator[Relay]:
    with smtp_relay() as server:
        yield server


def with_relay(settings: Settings, port: int) -> Settings:
    values = settings.model_dump()
    values.update(
        email_backend="smtp",
        smtp_url=f"smtp://127.0.0.1:{port}?starttls=false",
        smtp_timeout_seconds=5,
        public_base_url=BASE,
    )
    return Settings(_env_file=None, **values)


async def make_user(session: AsyncSession, settings: Settings, role: Role) -> User:
    return await create_user(
        session, settings, email=unique_email(role.value), password=PASSWORD, role=role
    )


async def offer_note(session: AsyncSession, user: User) -> Notification:
    return await notify(
        session,
        user_id=user.id,
        kind="offer.new",
        email=True,
        title="New medical-director offer",
        body="A clinic in TX needs a medical director: $1,250.00 a month.",
        data={"offer_id": str(uuid.uuid4()), "intake_id": str(uuid.uuid4())},
    )


def text_and_html(message) -> tuple[str, str]:
    text, html = (p.get_content().replace("\r\n", "\n") for p in message.iter_parts())
    return text, html


async def test_a_notification_is_mailed_from_its_template_and_marked_sent(session, settings, relay):
    s = with_relay(settings, relay.port)
    doctor = await make_user(session, s, Role.physician)
    note = await offer_note(session, doctor)
    assert note.email_status == "pending"

    run = await send_pending_emails(session, SmtpEmailSender(s), s)

    assert (run.sent, run.failed, run.deferred) == (1, 0, [])
    [got] = relay.to(doctor.email)
    assert got.mail_from == "no-reply@mdmatch.dev"
    assert got.message["Subject"] == "New medical-director offer"
    text, html = text_and_html(got.message)
    link = f"{BASE}/physician/offers/{note.data['offer_id']}"
    assert note.body in text
    assert f"Review and respond to the offer:\n{link}" in text
    assert f'<a href="{link}"' in html
    assert "$1,250.00 a month" in html
    await session.refresh(note)
    assert note.email_status == "sent"
    assert note.emailed_at is not None
    # Sent once: the next run finds nothing.
    again = await send_pending_emails(session, SmtpEmailSender(s), s)
    assert again.attempted == 0
    assert len(relay.received) == 1


async def test_the_reader_role_picks_the_frontend(session, settings, relay):
    s = with_relay(settings, relay.port)
    owner = await make_user(session, s, Role.clinic_admin)
    engagement_id = str(uuid.uuid4())
    await notify(
        session,
        user_id=owner.id,
        kind="payment.failed",
        email=True,
        title="Payment failed",
        body="We could not charge your card.",
        data={"engagement_id": engagement_id},
    )
    await send_pending_emails(session, SmtpEmailSender(s), s)
    [got] = relay.to(owner.email)
    text, _ = text_and_html(got.message)
    assert f"Update your payment card:\n{BASE}/clinic/engagements/{engagement_id}" in text


async def test_notify_refuses_an_email_copy_of_a_kind_without_template(session, settings):
    owner = await make_user(session, settings, Role.clinic_admin)
    with pytest.raises(UnknownEmailKind, match=r"offer\.sparkles"):
        await notify(
            session, user_id=owner.id, kind="offer.sparkles", title="t", body="b", email=True
        )


async def test_a_refused_recipient_is_marked_failed_and_the_others_still_go(
    session, settings, relay
):
    s = with_relay(settings, relay.port)
    first, refused, last = [await make_user(session, s, Role.physician) for _ in range(3)]
    notes = [await offer_note(session, user) for user in (first, refused, last)]
    relay.refuse[refused.email] = "550 5.1.1 No such user here"

    run = await send_pending_emails(session, SmtpEmailSender(s), s)

    assert (run.sent, run.failed, run.deferred) == (2, 1, [])
    assert [r.rcpt_tos for r in relay.received] == [[first.email], [last.email]]
    for note in notes:
        await session.refresh(note)
    assert [n.email_status for n in notes] == ["sent", "failed", "sent"]


async def test_a_temporary_refusal_stays_pending_and_goes_out_on_a_later_run(
    session, settings, relay, bound_app
):
    s = with_relay(settings, relay.port)
    busy, other = [await make_user(session, s, Role.physician) for _ in range(2)]
    busy_note, other_note = [await offer_note(session, user) for user in (busy, other)]
    await session.commit()
    relay.refuse[busy.email] = "450 4.2.1 Mailbox busy, try later"
    original = get_runtime()
    configure_runtime(
        JobRuntime(
            settings=s,
            sessionmaker=bound_app.state.sessionmaker,
            email_sender=SmtpEmailSender(s),
            stripe=bound_app.state.stripe,
        )
    )

    try:
        # The job skips the deferred row for the rest of its run (it does not spin on it).
        assert await send_emails(timestamp=0) == 1
        await session.refresh(busy_note)
        await session.refresh(other_note)
        assert (busy_note.email_status, other_note.email_status) == ("pending", "sent")
        assert relay.to(busy.email) == []

        del relay.refuse[busy.email]
        assert await send_emails(timestamp=0) == 1
        await session.refresh(busy_note)
        assert busy_note.email_status == "sent"
        assert len(relay.to(busy.email)) == 1
        assert len(relay.to(other.email)) == 1
    finally:
        configure_runtime(original)


async def test_an_unreachable_relay_leaves_every_email_pending(session, settings):
    s = with_relay(settings, free_port())  # nothing listens there
    users = [await make_user(session, s, Role.physician) for _ in range(3)]
    notes = [await offer_note(session, user) for user in users]

    run = await send_pending_emails(session, SmtpEmailSender(s), s)

    # One attempt shows the relay is down; the batch stops instead of timing out on each.
    assert run.relay_unavailable
    assert (run.sent, run.failed, run.deferred) == (0, 0, [notes[0].id])
    for note in notes:
        await session.refresh(note)
        assert note.email_status == "pending"
        assert note.emailed_at is None


async def test_an_email_pending_too_long_is_given_up(session, settings, relay):
    s = with_relay(settings, relay.port)
    doctor = await make_user(session, s, Role.physician)
    stale = await offer_note(session, doctor)
    stale.created_at = utcnow() - timedelta(hours=s.email_give_up_after_hours + 1)
    fresh = await offer_note(session, doctor)
    await session.flush()

    run = await send_pending_emails(session, SmtpEmailSender(s), s)

    assert (run.sent, run.failed) == (1, 1)
    await session.refresh(stale)
    await session.refresh(fresh)
    assert (stale.email_status, fresh.email_status) == ("failed", "sent")
    assert len(relay.received) == 1
