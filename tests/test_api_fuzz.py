"""Schemathesis against the served OpenAPI document of a live `mdmatch serve`.

Every operation of `/openapi.json` is generated from its schema (valid and boundary inputs from
schemathesis' coverage phase, then random ones), sent with the token of a drawn role (clinic
admin, physician, operations, or none), half the time with the ids of real objects in the path
instead of random ones (so the handlers run past their 404s: a clinic's own intake, another
tenant's offer, an active engagement...). Every answer must be a non-5xx that matches its
documented status, content type, headers and schema.

Schema-valid input is never refused as invalid (400/422), except where a rule cannot be written
in JSON Schema: `SCHEMA_CANNOT_STATE` names those operations and their rules (a password's
strength, a zip in its state, dates relative to today, a signature...), and lists with a
`cursor` (only the server issues them). There a 422 must still be a documented problem.
Schemathesis' own positive_data_acceptance is off: it also counts 409s (state conflicts) and
the 404s of real ids seen by another tenant as refusals.

`FUZZ_EXAMPLES` sets the examples per operation (default 30: about 1,500 cases in 1-2 minutes).
The total is counted and checked by the last test of the module, and printed at the end.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.config import Settings
from app.devtools.nppes import NppesStandIn, serve_over_http
from app.devtools.stripe_emulator import free_port
from tests.billing.helpers import Emulator, confirmed_engagement, subscribed
from tests.clinics.helpers import create_intake
from tests.conftest import emulator_settings, make_settings, scratch_database
from tests.factories import PASSWORD, ops_headers, user_headers
from tests.live import serve_process

PROBLEMS = "https://mdmatch.dev/problems/"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
MIN_CASES = 1000
ROLES = ("clinic_admin", "physician", "ops_admin", "anonymous")
UNLIMITED = "1000000/minute"

CASES: Counter[str] = Counter()
OPERATIONS: set[str] = set()


@dataclass
class World:
    base_url: str
    headers: dict[str, dict[str, str]]
    # path parameter name → ids of real objects (owned by different tenants)
    ids: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def live_server(pg_server_url: str, stripe_url: str) -> Iterator[tuple[str, str]]:
    env = {k.upper(): str(v) for k, v in emulator_settings(stripe_url).items()}
    env.update(
        JWT_SECRET=str(make_settings("x").jwt_secret.get_secret_value()),
        LOG_LEVEL="WARNING",
        **{
            name.upper(): UNLIMITED
            for name in Settings.model_fields
            if name.startswith("rate_limit_")
        },
    )
    registry = NppesStandIn()
    with (
        # The server's log goes to a file: an unread pipe fills up and blocks the server.
        tempfile.TemporaryFile("w+") as log,
        serve_over_http(registry) as nppes_url,
        scratch_database(pg_server_url) as url,
        serve_process(
            url, free_port(), output=log, env_overrides={**env, "NPPES_BASE_URL": nppes_url}
        ) as (
            base,
            _,
        ),
    ):
        yield base, url


async def _build_world(base: str, database_url: str, stripe_url: str) -> World:
    """Two tenants of each kind with real objects, through the product's own endpoints."""
    settings = make_settings(database_url, **emulator_settings(stripe_url))
    engine = create_async_engine(database_url)
    try:
        async with (
            httpx.AsyncClient(base_url=base, timeout=30) as client,
            async_sessionmaker(engine, expire_on_commit=False)() as session,
        ):
            emulator = Emulator(stripe_url)
            active, _ = await subscribed(client, session, settings, emulator)
            pending = await confirmed_engagement(client, session, settings)
            draft = await create_intake(client, active.admin, active.clinic["id"])
            ops = await ops_headers(client, session, settings)
            headers = {
                "clinic_admin": active.admin,
                "physician": active.doctor,
                "ops_admin": ops,
                "anonymous": {},
            }
            offers = []
            for who in (active.doctor, pending.doctor):
                page = await client.get("/v1/physicians/me/offers", headers=who)
                offers += [o["id"] for o in page.json()["items"]]
            notifications = []
            for who in (active.admin, active.doctor):
                page = await client.get("/v1/me/notifications", headers=who)
                notifications += [n["id"] for n in page.json()["items"]]
            page = await client.get(
                f"/v1/clinics/{active.clinic['id']}/invoices", headers=active.admin
            )
            invoices = [i["id"] for i in page.json()["items"]]
            # A third clinic admin with nothing: every id above is someone else's to them.
            headers["stranger"] = await user_headers(client)
    finally:
        await engine.dispose()
    return World(
        base_url=base,
        headers=headers,
        ids={
            "clinic_id": [active.clinic["id"], pending.clinic["id"]],
            "intake_id": [active.intake["id"], draft["id"], pending.intake["id"]],
            "engagement_id": [active.id, pending.id],
            "physician_id": [str(active.physician.id), str(pending.physician.id)],
            "offer_id": offers,
            "notification_id": notifications,
            "invoice_id": invoices,
            "code": ["TX", "CA", "NY", "FL"],
        },
    )


@pytest.fixture(scope="module")
def world(live_server: tuple[str, str], stripe_url: str) -> World:
    base, url = live_server
    return asyncio.run(_build_world(base, url, stripe_url))


def _served_document() -> dict[str, Any]:
    """The OpenAPI document the app serves, built at import time so pytest can collect one test
    per operation (the live server's `/openapi.json` is checked to be the same document)."""
    from app.main import create_app

    return create_app(make_settings("postgresql+asyncpg://fuzz@127.0.0.1/fuzz")).openapi()


SESSION_ENDING = {"/v1/auth/logout", "/v1/auth/logout-all"}


def _throwaway_login(base_url: str) -> dict[str, str]:
    email = f"fuzz-{uuid.uuid4().hex[:12]}@example.com"
    with httpx.Client(base_url=base_url, timeout=30) as http:
        http.post(
            "/v1/auth/register",
            json={"email": email, "password": PASSWORD, "role": "clinic_admin"},
        ).raise_for_status()
        token = http.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
        return {"Authorization": f"Bearer {token.raise_for_status().json()['access_token']}"}


DOCUMENT = _served_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=EXAMPLES,
    # CI runs the same cases every time (a submission must not pass or fail by the draw);
    # elsewhere every run explores new ones.
    derandomize=os.environ.get("CI") == "true",
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)
def test_every_operation_answers_within_its_contract(case: Any, data: Any, world: World) -> None:
    role = data.draw(st.sampled_from((*ROLES, "stranger")), label="role")
    positive = case.meta is None or case.meta.generation.mode == "positive"
    if positive and case.path_parameters and data.draw(st.booleans(), label="real ids"):
        for name in case.path_parameters:
            if world.ids.get(name):
                case.path_parameters[name] = data.draw(st.sampled_from(world.ids[name]), label=name)
    headers = world.headers[role]
    if case.path in SESSION_ENDING and headers:
        # Logging out ends the login it is sent with: never one the other cases use.
        headers = _throwaway_login(world.base_url)
    response = case.call(base_url=world.base_url, headers=headers, timeout=30)
    CASES[f"{case.method} {case.path}"] += 1
    OPERATIONS.add(f"{case.method} {case.path}")
    case.validate_response(response, excluded_checks=[positive_data_acceptance])
    _schema_valid_input_is_not_refused(case, response, positive)
    _what_the_red_team_found_stays_fixed(case, response, role)


# The rules JSON Schema cannot state, by operation: a schema-valid request may still be refused
# with a 422 there (the fuzzer checks that it is a documented problem). Everywhere else, input
# the schema allows is never refused as invalid (400/422): the schema is the whole rule.
SCHEMA_CANNOT_STATE: dict[str, str] = {
    "POST /v1/auth/register": "a password's strength (length after normalising, common words)",
    "POST /v1/auth/password-reset": "an e-mail domain that can receive mail (not special-use)",
    "POST /v1/auth/password-reset/confirm": "a token only the reset e-mail holds; strength",
    "POST /v1/clinics": "a zip that exists and lies in its location's state",
    "PATCH /v1/clinics/{clinic_id}": "a zip that exists and lies in its location's state",
    "POST /v1/clinics/{clinic_id}/intakes": "a start not in the past; one entry per provider "
    "type; someone on staff (or the physician) to perform the services; on-site hours only "
    "with hybrid or on-site oversight, at the clinic's locations",
    "PATCH /v1/intakes/{intake_id}": "the same rules as creating an intake",
    "POST /v1/clinics/{clinic_id}/providers": "location ids that are the clinic's own",
    "POST /v1/clinics/{clinic_id}/invitations": "an e-mail domain that can receive mail (not "
    "special-use)",
    "PATCH /v1/clinics/{clinic_id}/providers/{provider_id}": "location ids that are the "
    "clinic's own",
    "POST /v1/quotes": "someone to perform the services; a zip in its state; on-site hours "
    "only with hybrid or on-site oversight, at listed locations",
    "POST /v1/physicians": "an NPI's check digit; a zip that exists; aesthetic years within "
    "the career",
    "PATCH /v1/physicians/me": "the same rules as creating a profile",
    "POST /v1/physicians/me/licenses": "an expiry in the future",
    "POST /v1/physicians/me/dea": "an expiry in the future",
    "POST /v1/physicians/me/board-certifications": "an expiry in the future",
    "POST /v1/physicians/me/malpractice": "an expiry in the future; aggregate cover at least "
    "the per-claim cover",
    "POST /v1/engagements/{engagement_id}/resign": "a leaving date after the notice period",
    "POST /v1/engagements/{engagement_id}/change-scope": "one entry per provider type; a "
    "change to make",
    "POST /v1/engagements/{engagement_id}/cancel": "a reason when operations cancel (depends "
    "on the caller's role)",
    "POST /v1/billing/stripe/webhook": "a signature over the body",
    "GET /v1/reports/daily": "a day from 2020-01-01 to today",
    "POST /v1/price-books": "complete and monotone price tables",
    "PUT /v1/states/{code}/rules/{field}": "a value of the shape its field (the path) takes; "
    "a citation and confidence for a known value, a note for an unknown one",
    "POST /v1/filings/{filing_id}/complete": "a filing date not ahead and not before the "
    "filing was owed",
    "PUT /v1/document-templates/{key}/counsel-review": "the template's current version; a "
    "review date not ahead",
}


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    return False


def _schema_valid_input_is_not_refused(case: Any, response: Any, positive: bool) -> None:
    operation = f"{case.method} {case.path}"
    if not positive or operation in SCHEMA_CANNOT_STATE:
        return
    if "cursor" in (case.query or {}):
        return  # a cursor is whatever an earlier page returned; no schema can list them
    if _holds_nul((case.body, case.query, case.headers)):
        return  # no stored text holds NUL (PostgreSQL), a rule no field's schema states
    # Only the validation problem says "this input is malformed"; other 422s are about state
    # (an Idempotency-Key already used with another body, a reset link already spent).
    refused = response.status_code == 400 or (
        response.status_code == 422 and response.json().get("type") == PROBLEMS + "validation"
    )
    assert not refused, (
        f"{operation} refused schema-valid input: {response.status_code} {response.text[:500]}"
    )


def _what_the_red_team_found_stays_fixed(case: Any, response: Any, role: str) -> None:
    """Checks that hold for every answer (docs/security.md lists the findings)."""
    assert "Traceback" not in response.text
    if response.status_code == 401:
        assert response.headers.get("www-authenticate", [""])[0].startswith("Bearer")
    if case.path == "/metrics":
        assert response.status_code != 200  # no scraper token is configured here
    clinic_view = role in ("clinic_admin", "stranger") and case.path.endswith("/matches")
    if clinic_view and response.status_code == 200:
        for match in response.json()["items"]:
            override = match["explanation"].get("override")
            assert override is None or set(override) == {"by", "forced"}
            if match["status"] != "confirmed":
                assert match["physician"]["anonymized"] is True
                assert match["physician"]["email"] is None


def test_the_fuzzed_document_is_the_served_one(world: World) -> None:
    served = httpx.get(f"{world.base_url}/openapi.json", timeout=10).json()
    assert served == DOCUMENT


def test_fuzzing_covered_every_operation_with_enough_cases() -> None:
    """Runs after the generated tests (same module, later in file order)."""
    if not CASES:
        pytest.skip("the generated tests did not run in this session")
    served = {
        f"{method.upper()} {path}" for path, item in DOCUMENT["paths"].items() for method in item
    }
    total = sum(CASES.values())
    print(f"\nschemathesis: {total} cases over {len(OPERATIONS)} operations")
    assert served <= OPERATIONS, f"operations never exercised: {sorted(served - OPERATIONS)}"
    assert total >= MIN_CASES, f"only {total} cases generated"


def test_world_ids_are_real(world: World) -> None:
    """The real-id pools are what they claim: a clinic admin reads their own intake, a
    stranger gets 404 for it."""
    with httpx.Client(base_url=world.base_url, timeout=10) as http:
        intake = world.ids["intake_id"][0]
        own = http.get(f"/v1/intakes/{intake}", headers=world.headers["clinic_admin"])
        other = http.get(f"/v1/intakes/{intake}", headers=world.headers["stranger"])
        missing = http.get(f"/v1/intakes/{uuid.uuid4()}", headers=world.headers["clinic_admin"])
    assert own.status_code == 200
    assert other.status_code == 404
    assert missing.status_code == 404
