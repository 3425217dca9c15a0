"""A real SMTP server (aiosmtpd) on a loopback port, collecting what it receives."""

from __future__ import annotations

import contextlib
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from app.devtools.stripe_emulator import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None


@dataclass
class Relay:
    """The test's view of the server: what arrived, and how it should answer."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    # Recipient address -> SMTP reply to RCPT TO (e.g. "550 5.1.1 No such user").
    refuse: dict[str, str] = field(default_factory=dict)
    # user -> password the AUTH command accepts (with `auth_required`).
    accounts: dict[str, str] = field(default_factory=dict)
    logins_tried: list[tuple[str, str]] = field(default_factory=list)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]

    # aiosmtpd handler hooks -----------------------------------------------------------------

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data if session.authenticated else None
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                message=message,
                login=login.decode() if isinstance(login, bytes) else None,
            )
        )
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        user, password = data.login.decode(), data.password.decode()
        self.logins_tried.append((user, password))
        if self.accounts.get(user) == password:
            return AuthResult(success=True, auth_data=data.login)
        return AuthResult(success=False, handled=False)


@contextlib.contextmanager
def smtp_relay(*, auth_required: bool = False) -> Iterator[Relay]:
    """aiosmtpd on 127.0.0.1 and a free port, without TLS (so AUTH is allowed in clear: loopback
    only); stopped on exit."""
    relay = Relay(port=free_port())
    controller = Controller(
        relay,
        hostname="127.0.0.1",
        port=relay.port,
        authenticator=relay.authenticate,
        auth_required=auth_required,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield relay
    finally:
        controller.stop()
