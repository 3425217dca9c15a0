"""Outgoing e-mail behind one small interface.

`log` (the default) writes messages to the log, which is how a developer running `make run`
receives a password-reset link; `smtp` sends through the relay of SMTP_URL. `MemoryEmailSender`
keeps an outbox in memory for the test suite and benchmarks.

Senders raise `EmailNotSent` (or a subclass) when a message did not go out, so the caller can
tell a bad address (`RecipientRefused`: retrying cannot help) from a relay that is down
(`RelayUnavailable`: every other message would fail too) from anything else worth a retry.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import structlog

from app.config import EmailBackend, Environment, Settings, SmtpSecurity, SmtpServer

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    to: str
    subject: str
    body: str
    # An HTML alternative of `body` (sent as multipart/alternative when present).
    html: str | None = None


class EmailNotSent(Exception):
    """The message did not go out; trying again later may work."""


class RecipientRefused(EmailNotSent):
    """The relay refused the recipient for good (5xx): retrying cannot help."""


class RelayUnavailable(EmailNotSent):
    """No conversation with the relay (connection, TLS or authentication failed): every other
    message would fail the same way, so a batch should stop here."""


class EmailSender(Protocol):
    async def send(self, message: OutgoingEmail) -> None: ...


class LoggingEmailSender:
    def __init__(self, *, include_body: bool) -> None:
        # Bodies carry one-time links; only a developer's own machine may print them.
        self.include_body = include_body

    async def send(self, message: OutgoingEmail) -> None:
        if self.include_body:
            log.info("email", to=message.to, subject=message.subject, body=message.body)
        else:
            log.info("email", to=message.to, subject=message.subject)


def build_message(message: OutgoingEmail, *, sender: str) -> EmailMessage:
    """A MIME message with the headers a receiving server expects (Date and Message-ID too:
    some relays add neither, and spam filters mark mail without them)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = message.to
    msg["Subject"] = message.subject
    msg["Date"] = formatdate(usegmt=True)
    domain = msg["From"].addresses[0].domain or None
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content(message.body)
    if message.html is not None:
        msg.add_alternative(message.html, subtype="html")
    return msg


class SmtpEmailSender:
    """smtplib in a worker thread: one connection per message, which is plenty at our volume
    (tens of e-mails a minute) and keeps no connection to go stale between job runs."""

    def __init__(self, settings: Settings) -> None:
        self.server: SmtpServer = settings.smtp_server()
        self.sender = settings.email_from
        self.timeout = settings.smtp_timeout_seconds

    def _connect(self) -> smtplib.SMTP:
        server = self.server
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if server.security is SmtpSecurity.tls:
            smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if server.security is SmtpSecurity.starttls:
                # Raises SMTPNotSupportedError when the relay offers no STARTTLS: never fall
                # back to sending the password and the mail in clear.
                smtp.starttls(context=context)
                smtp.ehlo()
            if server.username is not None:
                password = server.password.get_secret_value() if server.password else ""
                smtp.login(server.username, password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _send_blocking(self, message: OutgoingEmail) -> None:
        msg = build_message(message, sender=self.sender)
        envelope_from = msg["From"].addresses[0].addr_spec
        try:
            smtp = self._connect()
        except (smtplib.SMTPException, OSError) as exc:
            # SMTPException is an OSError too; both mean the relay cannot take anything now.
            raise RelayUnavailable(f"SMTP relay unavailable: {type(exc).__name__}") from exc
        with smtp:
            try:
                smtp.send_message(msg, from_addr=envelope_from, to_addrs=[message.to])
            except smtplib.SMTPRecipientsRefused as exc:
                codes = [code for code, _ in exc.recipients.values()]
                if codes and all(code >= 500 for code in codes):
                    raise RecipientRefused(f"recipient refused ({codes[0]})") from exc
                raise EmailNotSent(f"recipient deferred ({codes[0] if codes else '?'})") from exc
            except smtplib.SMTPServerDisconnected as exc:
                raise RelayUnavailable("SMTP relay disconnected") from exc
            except (smtplib.SMTPException, OSError) as exc:
                raise EmailNotSent(f"SMTP send failed: {type(exc).__name__}") from exc

    async def send(self, message: OutgoingEmail) -> None:
        await asyncio.to_thread(self._send_blocking, message)


@dataclass
class MemoryEmailSender:
    outbox: list[OutgoingEmail] = field(default_factory=list)

    async def send(self, message: OutgoingEmail) -> None:
        self.outbox.append(message)


def build_email_sender(settings: Settings) -> EmailSender:
    if settings.email_backend is EmailBackend.smtp:
        return SmtpEmailSender(settings)
    return LoggingEmailSender(include_body=settings.environment is Environment.local)
