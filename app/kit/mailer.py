"""Outgoing e-mail behind one small interface.

`log` (the default) writes messages to the log, which is how a developer running `make run`
receives a password-reset link; `smtp` sends through a relay. `MemoryEmailSender` keeps an outbox
in memory for the test suite and benchmarks.
"""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

import structlog

from app.config import EmailBackend, Environment, Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    to: str
    subject: str
    body: str


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


class SmtpEmailSender:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _send_blocking(self, message: OutgoingEmail) -> None:
        s = self.settings
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = s.email_from, message.to, message.subject
        msg.set_content(message.body)
        assert s.smtp_host is not None
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=15) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_username and s.smtp_password:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.send_message(msg)

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
