"""What a job needs to do its work (a session factory, settings, the mail sender), set once by
the process that runs workers, or by a test, before jobs run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.kit.mailer import EmailSender


@dataclass
class JobRuntime:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    email_sender: EmailSender
    # Billing's Stripe gateway (`app.billing.stripe_gateway.StripeGateway`), built by the
    # process that runs workers; billing's jobs read it with its type. None without Stripe.
    stripe: Any = None
    # The object store compliance documents are kept in (`app.credentials.storage.ObjectStore`);
    # None: built from the settings where a job needs it.
    object_store: Any = None


_runtime: JobRuntime | None = None


def configure_runtime(runtime: JobRuntime | None) -> None:
    global _runtime
    _runtime = runtime


def get_runtime() -> JobRuntime:
    if _runtime is None:
        raise RuntimeError("the job runtime is not configured (configure_runtime was not called)")
    return _runtime
