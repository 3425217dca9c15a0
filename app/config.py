"""Runtime settings, read from the environment (and an optional `.env` file).

Secrets are `SecretStr` so they never end up in a repr or a log line. In production the settings
refuse to load with a missing or placeholder secret, naming the variable, so a misconfigured
deploy fails at start instead of running with a guessable key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Self
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Values that ship in examples and docs; a production deploy using one of them is a mistake.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "changethis",
        "secret",
        "dev-secret",
        "local-dev-secret",
        "test-secret",
        "placeholder",
        "xxx",
        "sk_test_local",
        "local-development-secret-not-for-production",
        "sk_test_mdmatch_local_emulator",
        "whsec_mdmatch_local_emulator",
    }
)
MIN_JWT_SECRET_LENGTH = 32
# The default for local runs only; production refuses it (it is in PLACEHOLDER_SECRETS).
LOCAL_JWT_SECRET = "local-development-secret-not-for-production"  # noqa: S105


class Environment(StrEnum):
    local = "local"
    test = "test"
    production = "production"


class StripeBackend(StrEnum):
    # Real Stripe (test or live keys).
    stripe = "stripe"
    # The emulator (localstripe), for local runs and tests: some features are missing.
    localstripe = "localstripe"


class NppesBackend(StrEnum):
    # The CMS NPI registry at NPPES_BASE_URL (or a mirror of it).
    registry = "registry"
    # The local stand-in `mdmatch serve` starts offline (app/devtools/nppes.py): made-up records.
    standin = "standin"


class EmailBackend(StrEnum):
    log = "log"
    smtp = "smtp"


class Settings(BaseSettings):
    # hide_input_in_errors: a refused SMTP_URL or secret must not be echoed into a log.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    environment: Environment = Environment.local
    # Local mode's state: the embedded PostgreSQL's data, the Stripe emulator's, the NPPES
    # stand-in's registrations (default: var/ in the project).
    local_state_dir: Path | None = None
    # None selects the embedded PostgreSQL (pgserver) in local mode.
    database_url: str | None = None
    database_pool_size: int = 10
    database_max_overflow: int = 10
    # How long a request waits for a pooled connection, and how long one statement may run.
    database_pool_timeout_seconds: float = Field(default=10, gt=0)
    database_statement_timeout_ms: int = Field(default=15_000, ge=0)
    # How long opening a connection may take: a database host that takes the TCP connection but
    # never answers (hung, or a network dropping packets) then costs a request this long and a
    # 503, not asyncpg's default of 60 s (libpq's, for the job queue, is forever).
    database_connect_timeout_seconds: float = Field(default=5, gt=0, le=60)
    redis_url: str | None = None

    jwt_secret: SecretStr = SecretStr(LOCAL_JWT_SECRET)
    # Rotation: new tokens are signed with JWT_SECRET; tokens signed with one of these earlier
    # secrets (comma-separated) stay valid until they expire, so nobody is logged out.
    jwt_previous_secrets: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    jwt_algorithm: str = "HS256"
    access_token_ttl_seconds: int = Field(default=15 * 60, ge=60)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=3600)
    password_reset_ttl_seconds: int = Field(default=3600, ge=300)
    password_min_length: int = Field(default=10, ge=8)

    # Stripe: no key in local mode starts the emulator (localstripe) on this port.
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    # /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is off (404).
    metrics_token: SecretStr | None = Field(default=None, min_length=16)
    stripe_api_base: str | None = None
    stripe_emulator_port: int = 8420
    stripe_backend: StripeBackend = StripeBackend.stripe
    stripe_timeout_seconds: float = Field(default=10.0, gt=0, le=80)
    # Network retries inside stripe-python (real Stripe honours idempotency keys, so they are
    # safe there); always 0 on the emulator, which ignores keys and answers 500 to unknowns.
    stripe_max_network_retries: int = Field(default=2, ge=0, le=5)
    # Stripe Connect transfers of the payout ledger (real Stripe only).
    stripe_connect_enabled: bool = False
    # An engagement still unpaid this long after confirmation is canceled (Stripe lets a first
    # invoice stay open 23 hours before the subscription becomes incomplete_expired).
    payment_window_hours: float = Field(default=23, gt=0)

    # Unset in local mode: `mdmatch serve` starts a stand-in and sets both of these.
    nppes_base_url: str = "https://npiregistry.cms.hhs.gov"
    nppes_backend: NppesBackend = NppesBackend.registry
    nppes_timeout_seconds: float = 5.0
    nppes_attempts: int = Field(default=3, ge=1, le=10)
    nppes_retry_backoff_seconds: float = 0.3

    # HHS-OIG LEIE (federal exclusion list): the monthly job imports this URL (the "UPDATED.csv"
    # download, https://oig.hhs.gov/exclusions/downloadables/UPDATED.csv); unset, it does nothing.
    leie_url: str | None = None
    leie_timeout_seconds: float = Field(default=120.0, gt=0)

    # State medical boards' license look-ups (app/credentials/boards, docs/credentials.md). Each
    # base URL defaults to the board's real one; tests and mirrors point them elsewhere. The
    # California DCA API needs a registered application's id and key, the NYSED API the key its
    # public search page sends: without them those states fall back to a document review.
    board_tx_url: str = "https://public.tmb.state.tx.us/HCP_Search"
    board_fl_url: str = "https://mqa-internet.doh.state.fl.us/MQASearchServices"
    board_ca_url: str = "https://iservices.dca.ca.gov/api/search/v1"
    board_ny_url: str = "https://api.nysed.gov/rosa/V2"
    board_az_url: str = "https://azbomprod.azmd.gov/GLSuiteWeb/Clients/AZBOM/Public"
    board_ca_app_id: str | None = None
    board_ca_app_key: SecretStr | None = None
    board_ny_api_key: SecretStr | None = None
    # Off: no license is looked up at a board; every license is verified by a document review
    # (local mode turns it off unless set, having no network to the boards).
    license_board_checks: bool = True
    board_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    board_attempts: int = Field(default=3, ge=1, le=10)

    # Supervisee cap applied where a reduced/restricted state's PA or NP ratio is unknown.
    default_supervisee_cap: int = Field(default=4, ge=1, le=50)
    # Malpractice cover mdmatch asks for where a state sets no minimum (or none is on record).
    malpractice_min_per_claim_cents: int = Field(default=100_000_000, ge=0)
    malpractice_min_aggregate_cents: int = Field(default=300_000_000, ge=0)
    # Credentials expiring within this many days are flagged to the physician and operations.
    credential_expiry_warning_days: int = Field(default=60, ge=1)

    # Instant quotes read state rules and the price book through a per-process cache of this
    # many seconds (0: off). Edits clear the editing process's cache at once.
    reference_cache_seconds: float = Field(default=10, ge=0, le=3600)

    # Matching and the offer cascade.
    match_fan_out: int = Field(default=3, ge=1, le=100)
    match_candidates_per_group: int = Field(default=20, ge=1, le=200)
    offer_ttl_hours: float = Field(default=12, gt=0)
    rush_offer_ttl_hours: float = Field(default=2, gt=0)
    confirm_window_hours: float = Field(default=72, gt=0)
    placement_target_hours: float = Field(default=24, gt=0)
    match_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "specialty_fit": 30.0,
            "aesthetic_experience": 20.0,
            "responsiveness": 15.0,
            "spare_capacity": 15.0,
            "price_fit": 10.0,
            "distance": 10.0,
        }
    )

    # Larger request bodies are refused with 413 before they are read into memory.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    # Credential documents (app/credentials/documents.py) in S3-compatible object storage.
    # S3_ENDPOINT_URL unset: AWS S3 itself, except in local mode, where `mdmatch serve` starts
    # an object store of its own (moto's S3 server, app/devtools/object_store.py) and sets it.
    s3_endpoint_url: str | None = None
    s3_bucket: str = "mdmatch-credential-documents"
    s3_region: str = "us-east-1"
    # Unset: boto3's own chain (an instance role, AWS_* variables, ~/.aws).
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # Lifetime of a presigned download URL.
    document_url_seconds: int = Field(default=300, ge=1, le=3600)
    # The largest document accepted (413 above it). Requests are also capped by MAX_BODY_BYTES.
    document_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    # Compliance documents (app/documents, docs/documents.md). The platform's seal: a PEM private
    # key and its PEM certificate (the chain after it, when there is one), which seal every fully
    # signed document. Unset outside production: a self-signed seal made on first use (kept
    # under the local state directory in local mode). Production refuses to start without them.
    document_seal_key: SecretStr | None = None
    document_seal_cert: str | None = None
    # An engagement counts as under oversight once its required documents are signed; until then
    # it has this many days from confirmation (or from the change that made new ones) to sign.
    document_signing_grace_days: int = Field(default=14, ge=0, le=90)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    public_base_url: str = "http://127.0.0.1:8000"

    email_backend: EmailBackend = EmailBackend.log
    email_from: str = "mdmatch <no-reply@mdmatch.dev>"
    # EMAIL_BACKEND=smtp sends through this relay: smtp://user:pass@host:587 (STARTTLS, the
    # default), smtps://user:pass@host:465 (implicit TLS), smtp://host:25?starttls=false (plain,
    # for a relay on the same host). A secret: it may carry the relay's password.
    smtp_url: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=15, gt=0, le=120)
    # A notification's e-mail copy that could not be sent for this long is given up (marked
    # failed) instead of arriving days late; the notification itself stays in the app.
    email_give_up_after_hours: float = Field(default=72, gt=0)

    # A director resigning gives at least this much notice (POST /v1/engagements/{id}/resign).
    resignation_notice_days: int = Field(default=30, ge=0, le=365)

    # Outbound webhooks (app/webhooks, docs/webhooks.md). One POST may take this long in all.
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=60)
    # Scheduled attempts per delivery (the first included); retries wait base x 1, 5, 30, 120,
    # 300, then 600 (1 min, 5 min, 30 min, 2 h, 5 h, 10 h... with the default base).
    webhook_max_attempts: int = Field(default=8, ge=1, le=20)
    webhook_retry_base_seconds: float = Field(default=60, gt=0, le=3600)
    # After a secret roll the old secret keeps signing, alongside the new one, this long.
    webhook_secret_grace_hours: float = Field(default=24, ge=0, le=7 * 24)
    # http:// to a loopback receiver (127.0.0.1, [::1], localhost). Unset: allowed outside
    # production (local runs, tests), refused in production.
    webhook_allow_http_loopback: bool | None = None
    # Endpoints a clinic may register (and operations, platform endpoints).
    webhook_max_endpoints_per_clinic: int = Field(default=20, ge=1, le=1000)
    # Replays (POST /v1/webhook-deliveries/{id}/replay), per client address and per account.
    rate_limit_webhook_replay: str = "30/minute"

    # The unauthenticated signing-link routes (POST /v1/signing/view and /sign), per address.
    rate_limit_signing_links: str = "30/minute"
    rate_limit_login: str = "10/minute"
    rate_limit_register: str = "20/hour"
    rate_limit_password_reset: str = "5/15minutes"  # noqa: S105
    rate_limit_quotes: str = "60/minute"
    rate_limit_login_per_account: str = "20/15minutes"
    rate_limit_password_reset_per_account: str = "3/hour"  # noqa: S105
    # Every authenticated request, per account (token subject), across all endpoints.
    rate_limit_per_account: str = "600/minute"
    # Proxies (comma-separated addresses or networks, or "*") whose X-Forwarded-For and
    # X-Forwarded-Proto name the client (rate limits key on its address). Empty: none.
    forwarded_allow_ips: str = ""
    idempotency_ttl_seconds: int = 24 * 3600

    # Task workers write a heartbeat this often; a worker silent for JOB_STALLED_AFTER_SECONDS
    # is taken for dead (killed mid-job) and its running jobs are run again.
    job_heartbeat_seconds: float = Field(default=10, gt=0)
    job_stalled_after_seconds: float = Field(default=120, gt=0)
    # New jobs wake workers at once (LISTEN/NOTIFY); retried and scheduled ones are found by
    # polling this often.
    job_poll_seconds: float = Field(default=5, gt=0)

    log_level: str = "INFO"
    log_json: bool = True

    @field_validator(
        "rate_limit_login",
        "rate_limit_register",
        "rate_limit_password_reset",
        "rate_limit_quotes",
        "rate_limit_login_per_account",
        "rate_limit_password_reset_per_account",
        "rate_limit_per_account",
        "rate_limit_webhook_replay",
    )
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        # Refused at startup rather than as a 500 on the first request that checks it.
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '10/minute': {value!r}") from exc
        return value

    @field_validator("match_weights")
    @classmethod
    def _known_factors(cls, weights: dict[str, float]) -> dict[str, float]:
        known = {
            "specialty_fit",
            "aesthetic_experience",
            "responsiveness",
            "spare_capacity",
            "price_fit",
            "distance",
        }
        unknown = set(weights) - known
        if unknown:
            raise ValueError(
                f"MATCH_WEIGHTS has unknown factors {sorted(unknown)}; use {sorted(known)}"
            )
        if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
            raise ValueError("MATCH_WEIGHTS must be non-negative with at least one positive")
        return weights

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url_parses(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_smtp_url(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _smtp_backend_has_a_relay(self) -> Self:
        if self.email_backend is EmailBackend.smtp and self.smtp_url is None:
            raise ValueError(
                "SMTP_URL must be set when EMAIL_BACKEND=smtp "
                "(e.g. smtp://user:password@smtp.example.com:587)"
            )
        return self

    def smtp_server(self) -> SmtpServer:
        """The relay of SMTP_URL (validated at load)."""
        if self.smtp_url is None:
            raise RuntimeError("SMTP_URL is not set")
        return parse_smtp_url(self.smtp_url.get_secret_value())

    @model_validator(mode="after")
    def _stalled_after_several_heartbeats(self) -> Self:
        # A live worker whose heartbeat is merely late must never look dead: its job would run
        # twice at once.
        if self.job_stalled_after_seconds < 3 * self.job_heartbeat_seconds:
            raise ValueError(
                "JOB_STALLED_AFTER_SECONDS must be at least three JOB_HEARTBEAT_SECONDS"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _split_cors(cls, data: object) -> object:
        if isinstance(data, dict):
            for key in (
                "cors_origins",
                "CORS_ORIGINS",
                "jwt_previous_secrets",
                "JWT_PREVIOUS_SECRETS",
            ):
                raw = data.get(key)
                if isinstance(raw, str):
                    data[key] = [o.strip() for o in raw.split(",") if o.strip()]
        return data

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Self:
        if self.environment is not Environment.production:
            return self
        problems: list[str] = []
        jwt = self.jwt_secret.get_secret_value()
        if jwt.lower() in PLACEHOLDER_SECRETS or len(jwt) < MIN_JWT_SECRET_LENGTH:
            problems.append(
                f"JWT_SECRET must be set to a random value of at least {MIN_JWT_SECRET_LENGTH} "
                "characters in production"
            )
        for old in self.jwt_previous_secrets:
            if len(old.get_secret_value()) < MIN_JWT_SECRET_LENGTH:
                problems.append(
                    f"JWT_PREVIOUS_SECRETS must hold secrets of at least {MIN_JWT_SECRET_LENGTH} "
                    "characters"
                )
                break
        if not self.database_url:
            problems.append("DATABASE_URL must be set in production")
        for name in ("stripe_secret_key", "stripe_webhook_secret"):
            value: SecretStr | None = getattr(self, name)
            if value is None or value.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                problems.append(f"{name.upper()} must be set in production")
        if self.stripe_backend is not StripeBackend.stripe:
            problems.append("STRIPE_BACKEND must be stripe in production (not the emulator)")
        if self.nppes_backend is not NppesBackend.registry:
            problems.append(
                "NPPES_BACKEND must be registry in production (not the local NPPES stand-in)"
            )
        if self.email_backend is not EmailBackend.smtp:
            problems.append("EMAIL_BACKEND must be smtp in production (reset links must arrive)")
        elif self.smtp_url is not None:
            relay = self.smtp_server()
            if relay.security is SmtpSecurity.none and relay.password is not None:
                problems.append(
                    "SMTP_URL must use TLS (smtps://, or smtp:// with STARTTLS) when it carries "
                    "a password in production"
                )
        if self.document_seal_key is None or not self.document_seal_cert:
            problems.append(
                "DOCUMENT_SEAL_KEY and DOCUMENT_SEAL_CERT must be set in production (the PEM key "
                "and certificate that seal signed compliance documents)"
            )
        if not self.public_base_url.startswith("https://"):
            problems.append("PUBLIC_BASE_URL must be the https address of the clinic app")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def is_test(self) -> bool:
        return self.environment is Environment.test

    @property
    def webhooks_allow_loopback(self) -> bool:
        if self.webhook_allow_http_loopback is not None:
            return self.webhook_allow_http_loopback
        return self.environment is not Environment.production

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        return self.database_url

    @property
    def sqlalchemy_url(self) -> str:
        return sqlalchemy_url(self.require_database_url())

    @property
    def libpq_url(self) -> str:
        return libpq_url(self.require_database_url())


class SmtpSecurity(StrEnum):
    starttls = "starttls"  # smtp://, upgraded with STARTTLS (refuses a relay that cannot)
    tls = "tls"  # smtps://, TLS from the first byte
    none = "none"  # smtp://...?starttls=false, plain (a relay on the same host or network)


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    security: SmtpSecurity
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)


_SMTP_DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def parse_smtp_url(url: str) -> SmtpServer:
    """SMTP_URL → relay. Error messages never repeat the URL (it may hold a password)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SMTP_DEFAULT_PORTS:
        raise ValueError("SMTP_URL must start with smtp:// or smtps://")
    try:
        port = parts.port or _SMTP_DEFAULT_PORTS[scheme]
    except ValueError:
        raise ValueError("SMTP_URL has an invalid port") from None
    if not parts.hostname:
        raise ValueError("SMTP_URL must name a host")
    if parts.path not in ("", "/"):
        raise ValueError("SMTP_URL takes no path")
    security = SmtpSecurity.tls if scheme == "smtps" else SmtpSecurity.starttls
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        if key != "starttls" or scheme != "smtp":
            raise ValueError(f"SMTP_URL does not take ?{key}= (only smtp://...?starttls=false)")
        flag = _FLAGS.get(values[-1].lower())
        if flag is None:
            raise ValueError("SMTP_URL: starttls must be true or false")
        security = SmtpSecurity.starttls if flag else SmtpSecurity.none
    username = unquote(parts.username) if parts.username else None
    password = SecretStr(unquote(parts.password)) if parts.password is not None else None
    if password is not None and not username:
        raise ValueError("SMTP_URL has a password but no user name")
    return SmtpServer(parts.hostname, port, security, username, password)


def _with_scheme(url: str, scheme: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise ValueError(f"not a PostgreSQL URL: {parts.scheme}://...")
    return urlunsplit((scheme, *parts[1:]))


def sqlalchemy_url(url: str) -> str:
    """`postgresql+asyncpg://` form of any PostgreSQL URL (unix-socket `?host=` URLs included)."""
    return _with_scheme(url, "postgresql+asyncpg")


def libpq_url(url: str) -> str:
    """Plain libpq form, for psycopg (procrastinate) and command-line tools."""
    return _with_scheme(url, "postgresql")


@lru_cache
def get_settings() -> Settings:
    return Settings()
