"""Schemathesis against the served OpenAPI document of a live `mdmatch serve`.

Every operation of `/openapi.json` is generated from its schema (valid and boundary inputs from
schemathesis' coverage phase, then random ones), sent with the token of a drawn role (clinic
admin, physician, operations, or none), half the time with the ids of real objects in the path
instead of random ones (so the handlers run past their 404s: a clinic's own intake, another
tenant's offer, an active engagement...). Every answer must be a non-5xx that matches its
documented status, content type, headers and schema.

Not checked: that every schema-valid request is accepted (schemathesis' positive_data_acceptance).
Some rules are not JSON Schema: a password's strength, cursors only the server issues, a
signature over the webhook body, a scope change that leaves nothing changed, an intake's
providers matching its services. Their 422s/400s are still checked to be documented problems.

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
