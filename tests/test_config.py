from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.config import Settings, SmtpSecurity, libpq_url, parse_smtp_url, sqlalchemy_url

STRONG = "k3J9x" * 10


def production(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "database_url": "postgresql://app@db/mdmatch",
        "jwt_secret": STRONG,
        "stripe_secret_key": "sk_live_realistic_key_123",
        "stripe_webhook_secret": "whsec_realistic_secret_123",
        "email_backend": "smtp",
        "smtp_url": "smtps://mailer:k3J9x-relay-password@smtp.mdmatch.dev",
        "public_base_url": "https://app.mdmatch.dev",
        # Not checked for being a usable key here (app/documents/seal.py reads it at use).
        "document_seal_key": "-----BEGIN PRIVATE KEY-----\n...",
        "document_seal_cert": "-----BEGIN CERTIFICATE-----\n...",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def test_production_accepts_real_secrets():
    assert production().environment == "production"


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"jwt_secret": "changeme"}, "JWT_SECRET"),
        ({"jwt_secret": "short-but-unique"}, "JWT_SECRET"),
        ({"jwt_secret": "local-development-secret-not-for-production"}, "JWT_SECRET"),
        ({"database_url": None}, "DATABASE_URL"),
        ({"stripe_secret_key": None}, "STRIPE_SECRET_KEY"),
        ({"stripe_webhook_secret": "whsec_mdmatch_local_emulator"}, "STRIPE_WEBHOOK_SECRET"),
        ({"email_backend": "log"}, "EMAIL_BACKEND"),
        ({"smtp_url": None}, "SMTP_URL"),
        # A password in clear over the network.
        ({"smtp_url": "smtp://mailer:pw@smtp.mdmatch.dev:25?starttls=false"}, "SMTP_URL"),
        ({"public_base_url": "http://127.0.0.1:8000"}, "PUBLIC_BASE_URL"),
        ({"jwt_previous_secrets": "too-short"}, "JWT_PREVIOUS_SECRETS"),
        ({"stripe_backend": "localstripe"}, "STRIPE_BACKEND"),
        ({"nppes_backend": "standin"}, "NPPES_BACKEND"),
        ({"document_seal_key": None}, "DOCUMENT_SEAL_KEY"),
        ({"document_seal_cert": None}, "DOCUMENT_SEAL_CERT"),
    ],
)
def test_production_refuses_missing_or_placeholder_secrets(overrides, variable):
    with pytest.raises(ValidationError) as excinfo:
        production(**overrides)
    assert variable in str(excinfo.value)


def test_local_mode_runs_with_defaults():
    settings = Settings(_env_file=None, environment="local")
    assert settings.database_url is None
    assert "local-development" not in repr(settings)  # secrets never appear in a repr


def test_cors_origins_from_a_comma_separated_env(monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", "https://app.mdmatch.dev, https://ops.mdmatch.dev")
    assert Settings(_env_file=None).cors_origins == [
        "https://app.mdmatch.dev",
        "https://ops.mdmatch.dev",
    ]


def test_url_forms_for_each_driver():
    socket_url = "postgresql://postgres:@/mdmatch?host=/tmp/pg"
    assert sqlalchemy_url(socket_url) == "postgresql+asyncpg://postgres:@/mdmatch?host=/tmp/pg"
    assert libpq_url("postgresql+asyncpg://u@h:5432/d") == "postgresql://u@h:5432/d"
    assert sqlalchemy_url("postgres://u@h/d") == "postgresql+asyncpg://u@h/d"
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        sqlalchemy_url("mysql://u@h/d")


def test_a_worker_is_stalled_only_after_several_missed_heartbeats():
    settings = Settings(_env_file=None)
    assert (settings.job_heartbeat_seconds, settings.job_stalled_after_seconds) == (10, 120)
    Settings(_env_file=None, job_heartbeat_seconds=1, job_stalled_after_seconds=3)
    with pytest.raises(ValidationError, match="JOB_STALLED_AFTER_SECONDS"):
        # A live worker with a late heartbeat would look dead and its job would run twice.
        Settings(_env_file=None, job_heartbeat_seconds=10, job_stalled_after_seconds=20)


@pytest.mark.parametrize(
    ("url", "host", "port", "security", "username", "password"),
    [
        ("smtp://mailer:pw@smtp.example.com", "smtp.example.com", 587, "starttls", "mailer", "pw"),
        ("smtp://u:p@relay:2525?starttls=true", "relay", 2525, "starttls", "u", "p"),
        (
            "smtps://u%40corp:p%2Fw%20x@mx.example.com",
            "mx.example.com",
            465,
            "tls",
            "u@corp",
            "p/w x",
        ),
        ("smtp://localhost:25?starttls=false", "localhost", 25, "none", None, None),
    ],
)
def test_smtp_url_forms(url, host, port, security, username, password):
    relay = parse_smtp_url(url)
    assert (relay.host, relay.port, relay.security, relay.username) == (
        host,
        port,
        SmtpSecurity(security),
        username,
    )
    assert (relay.password.get_secret_value() if relay.password else None) == password


@pytest.mark.parametrize(
    "url",
    [
        "http://mailer:hunter2-secret@smtp.example.com",
        "smtp://mailer:hunter2-secret@",
        "smtp://mailer:hunter2-secret@smtp.example.com:99999",
        "smtp://mailer:hunter2-secret@smtp.example.com/path",
        "smtps://mailer:hunter2-secret@smtp.example.com?starttls=false",
        "smtp://mailer:hunter2-secret@smtp.example.com?starttls=maybe",
        "smtp://mailer:hunter2-secret@smtp.example.com?tls=1",
        "smtp://:hunter2-secret@smtp.example.com",
    ],
)
def test_a_bad_smtp_url_is_refused_without_echoing_the_password(url):
    with pytest.raises(ValidationError) as excinfo:
        Settings(_env_file=None, smtp_url=url)
    assert "SMTP_URL" in str(excinfo.value)
    assert "hunter2" not in str(excinfo.value)


def test_smtp_backend_needs_smtp_url_in_every_environment():
    with pytest.raises(ValidationError, match="SMTP_URL must be set"):
        Settings(_env_file=None, environment="local", email_backend="smtp")
    ok = Settings(_env_file=None, email_backend="smtp", smtp_url="smtp://u:hunter2@relay")
    assert ok.smtp_server().host == "relay"
    assert "hunter2" not in repr(ok)


def test_smtp_url_from_the_environment(monkeypatch):
    monkeypatch.setenv("EMAIL_BACKEND", "smtp")
    monkeypatch.setenv("SMTP_URL", "smtps://mailer:hunter2@smtp.example.com:2465")
    relay = Settings(_env_file=None).smtp_server()
    assert (relay.host, relay.port, relay.security) == ("smtp.example.com", 2465, "tls")
