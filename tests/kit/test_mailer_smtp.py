"""The SMTP sender against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import pytest

from app.config import Settings
from app.devtools.stripe_emulator import free_port
from app.kit.mailer import (
    EmailNotSent,
    OutgoingEmail,
    RecipientRefused,
    RelayUnavailable,
    SmtpEmailSender,
    build_email_sender,
)
from tests.smtp_relay import Relay, smtp_relay

MESSAGE = OutgoingEmail(
    to="owner@glowmedspa.example",
    subject="Your medical director accepted",
    body="Review your director and confirm within 72 hours.\n",
    html="<p>Review your director and confirm within <b>72 hours</b>.</p>\n",
)


def content(part) -> str:
    # SMTP carries CRLF line ends; compare text as written.
    return part.get_content().replace("\r\n", "\n")


def smtp_settings(url: str) -> Settings:
    return Settings(
        _env_file=None,
        environment="test",
        email_backend="smtp",
        smtp_url=url,
        email_from="mdmatch <no-reply@mdmatch.dev>",
        smtp_timeout_seconds=5,
    )


@pytest.fixture
def relay() -> Iterator[Relay]:
    with smtp_relay() as server:
        yield server


@pytest.fixture
def auth_relay() -> Iterator[Relay]:
    with smtp_relay(auth_required=True) as server:
        server.accounts["mailer"] = "p@ss word/42"
        yield server


async def test_smtp_url_sender_delivers_a_multipart_message_with_proper_headers(relay):
    sender = build_email_sender(smtp_settings(f"smtp://127.0.0.1:{relay.port}?starttls=false"))
    assert isinstance(sender, SmtpEmailSender)

    await sender.send(MESSAGE)

    [got] = relay.received
    assert got.mail_from == "no-reply@mdmatch.dev"
    assert got.rcpt_tos == [MESSAGE.to]
    assert got.login is None
    msg = got.message
    assert msg["From"] == "mdmatch <no-reply@mdmatch.dev>"
    assert msg["To"] == MESSAGE.to
    assert msg["Subject"] == MESSAGE.subject
    assert parsedate_to_datetime(msg["Date"]).tzinfo is not None
    assert msg["Message-ID"].startswith("<")
    assert msg["Message-ID"].endswith("@mdmatch.dev>")
    assert msg.get_content_type() == "multipart/alternative"
    text, html = (part for part in msg.iter_parts())
    assert text.get_content_type() == "text/plain"
    assert content(text) == MESSAGE.body
    assert html.get_content_type() == "text/html"
    assert content(html) == MESSAGE.html


async def test_a_text_only_message_is_a_single_part(relay):
    sender = SmtpEmailSender(smtp_settings(f"smtp://127.0.0.1:{relay.port}?starttls=false"))
    await sender.send(OutgoingEmail(to="a@example.com", subject="s", body="only text\n"))
    [got] = relay.received
    assert got.message.get_content_type() == "text/plain"
    assert content(got.message) == "only text\n"


async def test_the_user_and_password_of_the_url_log_in(auth_relay):
    url = f"smtp://mailer:p%40ss%20word%2F42@127.0.0.1:{auth_relay.port}?starttls=false"
    await SmtpEmailSender(smtp_settings(url)).send(MESSAGE)

    assert auth_relay.logins_tried == [("mailer", "p@ss word/42")]
    [got] = auth_relay.received
    assert got.login == "mailer"
    assert got.rcpt_tos == [MESSAGE.to]


async def test_a_wrong_password_is_a_relay_failure_and_sends_nothing(auth_relay):
    url = f"smtp://mailer:wrong@127.0.0.1:{auth_relay.port}?starttls=false"
    with pytest.raises(RelayUnavailable):
        await SmtpEmailSender(smtp_settings(url)).send(MESSAGE)
    assert auth_relay.received == []


async def test_without_credentials_a_relay_that_requires_them_takes_nothing(auth_relay):
    url = f"smtp://127.0.0.1:{auth_relay.port}?starttls=false"
    with pytest.raises(EmailNotSent):
        await SmtpEmailSender(smtp_settings(url)).send(MESSAGE)
    assert auth_relay.received == []


async def test_starttls_is_required_unless_turned_off(relay):
    # smtp:// means STARTTLS: a relay that does not offer it gets neither password nor mail.
    url = f"smtp://mailer:secret@127.0.0.1:{relay.port}"
    with pytest.raises(RelayUnavailable):
        await SmtpEmailSender(smtp_settings(url)).send(MESSAGE)
    assert relay.received == []
    assert relay.logins_tried == []


async def test_a_refused_recipient_is_a_permanent_failure(relay):
    relay.refuse[MESSAGE.to] = "550 5.1.1 No such user"
    with pytest.raises(RecipientRefused):
        await SmtpEmailSender(smtp_settings(f"smtp://127.0.0.1:{relay.port}?starttls=false")).send(
            MESSAGE
        )
    assert relay.received == []


async def test_a_temporarily_refused_recipient_is_worth_a_retry(relay):
    relay.refuse[MESSAGE.to] = "450 4.2.1 Mailbox busy, try later"
    with pytest.raises(EmailNotSent) as excinfo:
        await SmtpEmailSender(smtp_settings(f"smtp://127.0.0.1:{relay.port}?starttls=false")).send(
            MESSAGE
        )
    assert not isinstance(excinfo.value, RecipientRefused | RelayUnavailable)


async def test_a_closed_port_is_a_relay_failure():
    sender = SmtpEmailSender(smtp_settings(f"smtp://127.0.0.1:{free_port()}?starttls=false"))
    with pytest.raises(RelayUnavailable):
        await sender.send(MESSAGE)
