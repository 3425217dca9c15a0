"""A frontend team's view of the OpenAPI document: generate a Python client from the document the
app serves (openapi-python-client, offline), type-check a clinic's journey written against that
client with mypy (strict), then run the journey against a live `mdmatch serve`.

The journey reads typed fields (enums, the quote's line items, problem bodies) and checks that the
generated models parse every response it gets, with no member the document does not declare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.devtools.stripe_emulator import free_port
from tests.conftest import emulator_settings, make_settings, scratch_database
from tests.live import serve_process

PACKAGE = "mdmatch_client"

JOURNEY = textwrap.dedent(
    '''
    """A clinic admin registers, logs in, creates a clinic, prices an intake and submits it."""

    from __future__ import annotations

    import datetime
    import json
    import sys
    import uuid
    from typing import Any

    import attrs

    from mdmatch_client import AuthenticatedClient, Client
    from mdmatch_client.api.account import get_me
    from mdmatch_client.api.auth import login, register
    from mdmatch_client.api.clinics import create_clinic, create_intake, get_intake, update_intake
    from mdmatch_client.api.matching import submit_intake
    from mdmatch_client.api.quotes import get_intake_quote, instant_quote
    from mdmatch_client.models import (
        BillingInterval,
        BodyLogin,
        ClinicCreate,
        ClinicRead,
        ComplianceFlagReadSeverity,
        Contact,
        EngagementModel,
        IntakeCreate,
        IntakeRead,
        IntakeStatus,
        IntakeUpdate,
        LineItemReadKind,
        LocationIn,
        MeRead,
        OversightMode,
        OwnershipModel,
        Problem,
        ProviderCount,
        ProviderType,
        QuoteLocationIn,
        QuoteRead,
        QuoteRequest,
        Role,
        ServiceCode,
        StateCode,
        TokenPair,
        UserCreate,
        UserCreateRole,
        UserRead,
        ValidationProblem,
    )


    def declared_only(model: object) -> None:
        """Every member the server sent is one the document declares, at every depth (free-form
        objects, which declare no members, may hold anything)."""
        if isinstance(model, list):
            for item in model:
                declared_only(item)
        cls = type(model)
        if not attrs.has(cls):
            return
        fields = [f.name for f in attrs.fields(cls) if f.name != "additional_properties"]
        extra: dict[str, Any] = getattr(model, "additional_properties", {})
        assert not fields or not extra, f"{type(model).__name__}: undeclared {sorted(extra)}"
        for name in fields:
            declared_only(getattr(model, name))


    def main(base_url: str) -> None:
        anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
        email = f"admin-{uuid.uuid4().hex[:8]}@glowaesthetics.com"
        password = "sunlit-orchard-42-velvet"

        user = register.sync(
            client=anonymous,
            body=UserCreate(email=email, password=password, role=UserCreateRole.CLINIC_ADMIN),
        )
        assert isinstance(user, UserRead), user
        assert user.role is Role.CLINIC_ADMIN
        tokens = login.sync(client=anonymous, body=BodyLogin(username=email, password=password))
        assert isinstance(tokens, TokenPair), tokens
        admin = AuthenticatedClient(
            base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True
        )
        me = get_me.sync(client=admin)
        assert isinstance(me, MeRead), me

        clinic_body = ClinicCreate(
            legal_name="Glow Aesthetics PLLC",
            ownership_model=OwnershipModel.PHYSICIAN_OWNED,
            contact=Contact(
                name="Dana Reyes", email="dana@glowaesthetics.com", phone="+1 512 555 0142"
            ),
            locations=[
                LocationIn(
                    address="100 Congress Ave", city="Austin", state=StateCode.TX, zip_="78701"
                )
            ],
        )
        key = uuid.uuid4().hex
        created = create_clinic.sync_detailed(client=admin, body=clinic_body, idempotency_key=key)
        clinic = created.parsed
        assert isinstance(clinic, ClinicRead), clinic
        assert clinic.states == [StateCode.TX]
        again = create_clinic.sync_detailed(client=admin, body=clinic_body, idempotency_key=key)
        assert isinstance(again.parsed, ClinicRead) and again.parsed.id == clinic.id
        assert again.headers["Idempotent-Replayed"] == "true"

        services = [ServiceCode.NEUROTOXINS, ServiceCode.DERMAL_FILLERS]
        providers = [ProviderCount(type_=ProviderType.RN, count=2)]
        instant = instant_quote.sync(
            client=anonymous,
            body=QuoteRequest(
                services=services,
                providers=providers,
                engagement_model=EngagementModel.RETAINER,
                oversight_mode=OversightMode.REMOTE,
                monthly_patient_volume=150,
                locations=[QuoteLocationIn(state=StateCode.TX)],
            ),
        )
        assert isinstance(instant, QuoteRead), instant
        assert instant.id is None

        intake = create_intake.sync(
            clinic.id,
            client=admin,
            body=IntakeCreate(
                services=services,
                providers=providers,
                engagement_model=EngagementModel.RETAINER,
                oversight_mode=OversightMode.REMOTE,
                monthly_patient_volume=150,
                desired_start=datetime.date.today() + datetime.timedelta(days=14),
            ),
            idempotency_key=uuid.uuid4().hex,
        )
        assert isinstance(intake, IntakeRead), intake
        assert intake.status is IntakeStatus.DRAFT
        severities: list[ComplianceFlagReadSeverity] = [f.severity for f in intake.compliance_flags]

        edited = update_intake.sync(intake.id, client=admin, body=IntakeUpdate(rush=True))
        assert isinstance(edited, IntakeRead) and edited.rush, edited
        refused = update_intake.sync(
            intake.id, client=admin, body=IntakeUpdate(monthly_patient_volume=-1)
        )
        assert isinstance(refused, ValidationProblem), refused
        assert refused.errors and refused.errors[0].loc == ["body", "monthly_patient_volume"]

        submitted = submit_intake.sync(intake.id, client=admin, idempotency_key=uuid.uuid4().hex)
        assert isinstance(submitted, IntakeRead), submitted
        assert submitted.services == services
        quote = get_intake_quote.sync(intake.id, client=admin)
        assert isinstance(quote, QuoteRead), quote
        assert quote.intake_id == intake.id and quote.billing_interval is BillingInterval.MONTH
        kinds: set[LineItemReadKind] = {item.kind for item in quote.line_items}
        assert LineItemReadKind.RECURRING in kinds

        missing = get_intake.sync(uuid.uuid4(), client=admin)
        assert isinstance(missing, Problem), missing
        assert missing.status == 404 and missing.type_.endswith("/not-found")

        for parsed in (user, tokens, me, clinic, instant, intake, edited, submitted, quote):
            declared_only(parsed)
        json.dump(
            {
                "clinic_states": [s.value for s in clinic.states],
                "flag_severities": sorted(s.value for s in severities),
                "status_after_submit": submitted.status.value,
                "line_items": [
                    {"code": i.code, "kind": i.kind.value, "amount_cents": i.amount_cents}
                    for i in quote.line_items
                ],
                "monthly_total_cents": quote.monthly_total_cents,
                "instant_monthly_total_cents": instant.monthly_total_cents,
                "validation_msg": refused.errors[0].msg,
                "request_id": missing.request_id,
            },
            sys.stdout,
        )


    if __name__ == "__main__":
        main(sys.argv[1])
    '''
)

MYPY_CONFIG = f"""
[mypy]
strict = True
warn_unreachable = True

# The generated package is analysed (its types check the journey) but not judged itself.
[mypy-{PACKAGE}.*]
follow_imports = silent
"""


def _run(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    # openapi-python-client runs `ruff` on its output: the one installed next to this Python.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(  # noqa: S603
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def generated() -> Iterator[Path]:
    """The client generated from the served document, with the journey beside it."""
    from app.main import create_app

    document = create_app(make_settings("postgresql+asyncpg://client@127.0.0.1/client")).openapi()
    with tempfile.TemporaryDirectory(prefix="mdmatch-client-") as tmp:
        root = Path(tmp)
        (root / "openapi.json").write_text(json.dumps(document))
        result = _run(
            [
                str(Path(sys.executable).parent / "openapi-python-client"),
                "generate",
                "--path",
                "openapi.json",
                "--meta",
                "none",
                "--output-path",
                PACKAGE,
            ],
            root,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        # A schema or response the generator cannot read is skipped with a warning.
        assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
        (root / "journey.py").write_text(JOURNEY)
        (root / "mypy.ini").write_text(MYPY_CONFIG)
        yield root


def test_every_operation_is_generated(generated: Path) -> None:
    from app.main import create_app

    document = create_app(make_settings("postgresql+asyncpg://client@127.0.0.1/client")).openapi()
    operations = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    modules = {p.stem for p in (generated / PACKAGE / "api").rglob("*.py") if p.stem != "__init__"}
    assert modules == operations


def test_the_journey_type_checks_against_the_generated_client(generated: Path) -> None:
    result = _run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "mypy.ini",
            "--no-incremental",
            "journey.py",
        ],
        generated,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_journey_runs_against_a_live_server(
    generated: Path, pg_server_url: str, stripe_url: str
) -> None:
    env = {k.upper(): str(v) for k, v in emulator_settings(stripe_url).items()}
    with (
        tempfile.TemporaryFile("w+") as log,
        scratch_database(pg_server_url, migrate=False) as url,
        serve_process(url, free_port(), output=log, env_overrides=env) as (base, _),
    ):
        result = _run([sys.executable, "journey.py", base], generated, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads(result.stdout)
    assert seen["clinic_states"] == ["TX"]
    assert set(seen["flag_severities"]) <= {"blocking", "warning", "info"}
    assert "blocking" not in seen["flag_severities"]
    assert seen["status_after_submit"] in {"matching", "unmatched"}
    kinds = {item["kind"] for item in seen["line_items"]}
    assert "recurring" in kinds
    recurring = sum(i["amount_cents"] for i in seen["line_items"] if i["kind"] == "recurring")
    assert recurring == seen["monthly_total_cents"] > 0
    assert seen["validation_msg"]
    assert seen["request_id"]
