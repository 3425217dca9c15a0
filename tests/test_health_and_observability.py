from __future__ import annotations

import io
import json

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from app.db import SessionDep
from app.errors import PROBLEM_MEDIA_TYPE
from tests.factories import PASSWORD, register


async def test_healthz_db_answers_through_the_pool(client):
    response = await client.get("/healthz/db")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_the_schema_head(client, app):
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "schema": app.state.schema_head}


async def test_readyz_is_503_when_the_schema_is_behind(client, app):
    real_head = app.state.schema_head
    app.state.schema_head = "9999"
    try:
        response = await client.get("/readyz")
    finally:
        app.state.schema_head = real_head
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert "mdmatch migrate" in response.json()["detail"]


async def test_metrics_count_requests_by_route_template(client, app):
    await client.get("/healthz")
    await client.get("/v1/me/notifications/00000000-0000-0000-0000-000000000000/read")
    app.state.settings.metrics_token = SecretStr("scraper-token-0123456789")
    try:
        body = (
            await client.get(
                "/metrics", headers={"Authorization": "Bearer scraper-token-0123456789"}
            )
        ).text
    finally:
        app.state.settings.metrics_token = None
    assert 'mdmatch_http_requests_total{method="GET",route="/healthz",status="200"}' in body
    assert "mdmatch_http_request_duration_seconds_bucket" in body
    assert "00000000-0000" not in body  # raw paths never become labels


async def test_request_id_is_generated_or_echoed(client):
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    hostile = await client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert hostile.headers["x-request-id"] != "bad id\nwith newline"


async def test_unknown_route_and_wrong_method_are_problems(client):
    missing = await client.get("/v1/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert missing.json()["type"] == "https://mdmatch.dev/problems/not-found"
    wrong = await client.delete("/healthz")
    assert wrong.status_code == 405
    assert wrong.json()["type"] == "https://mdmatch.dev/problems/method-not-allowed"


async def test_malformed_json_is_422_problem(client):
    response = await client.post(
        "/v1/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["type"] == "https://mdmatch.dev/problems/validation"


async def test_unexpected_exception_is_a_generic_500_with_request_id(app, client, json_logs):
    @app.get("/__boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    try:
        response = await client.get("/__boom", headers={"X-Request-ID": "req-500"})
    finally:
        app.router.routes.pop()
    assert response.status_code == 500
    body = response.json()
    assert body["type"] == "https://mdmatch.dev/problems/internal"
    assert body["request_id"] == "req-500"
    assert response.headers["x-request-id"] == "req-500"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    # Support can find the failure from the id the client quotes.
    logged = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    failure = next(e for e in logged if e["event"] == "unhandled_exception")
    assert failure["request_id"] == "req-500"


async def test_a_wrong_query_is_a_500_not_a_503(app, client, json_logs):
    """Only a database that cannot be reached is a 503; a query our code got wrong is our bug."""

    @app.get("/__bad-query")
    async def bad_query(session: SessionDep) -> None:
        await session.execute(text("SELECT * FROM no_such_table"))

    try:
        response = await client.get("/__bad-query", headers={"X-Request-ID": "req-bad-query"})
    finally:
        app.router.routes.pop()
    assert response.status_code == 500
    assert response.json()["type"] == "https://mdmatch.dev/problems/internal"
    assert "no_such_table" not in response.text
    logged = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    failure = next(e for e in logged if e["event"] == "unhandled_exception")
    assert failure["request_id"] == "req-bad-query"


@pytest.fixture
def json_logs():
    import logging

    import structlog

    from app.kit.observability import configure_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO", json=True)
    buffer = io.StringIO()
    root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    yield buffer
    structlog.reset_defaults()
    root.handlers[:], root.level = handlers, level


async def test_logs_never_contain_passwords_or_tokens(client, json_logs):
    created = await register(client)
    login = await client.post(
        "/v1/auth/token", data={"username": created["email"], "password": PASSWORD}
    )
    token = login.json()["access_token"]
    refresh = login.json()["refresh_token"]
    await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    await client.post("/v1/auth/refresh", json={"refresh_token": refresh})
    import structlog

    structlog.get_logger("test").info("probe", password="hunter2", nested={"refresh_token": "x"})
    out = json_logs.getvalue()
    assert PASSWORD not in out
    assert token not in out
    assert refresh not in out
    assert "hunter2" not in out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    probe = next(line for line in lines if line["event"] == "probe")
    assert probe["password"] == "[redacted]"
    assert probe["nested"] == {"refresh_token": "[redacted]"}
    assert any(line.get("route") == "/v1/me" and line.get("request_id") for line in lines)


async def test_openapi_documents_problems_and_stable_operation_ids(client):
    schema = (await client.get("/openapi.json")).json()
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    register_op = schema["paths"]["/v1/auth/register"]["post"]
    assert register_op["operationId"] == "register"
    assert "application/problem+json" in register_op["responses"]["422"]["content"]
    assert any(p["name"] == "Idempotency-Key" for p in register_op["parameters"])
    ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


async def test_connections_carry_the_statement_timeout(app):
    from sqlalchemy import text

    async with app.state.engine.connect() as conn:
        timeout = await conn.scalar(text("SHOW statement_timeout"))
        name = await conn.scalar(text("SHOW application_name"))
    assert timeout == "15s"  # DATABASE_STATEMENT_TIMEOUT_MS=15000
    assert name == "mdmatch"


async def test_an_unreachable_database_is_503_problem_not_500():
    import httpx

    from app.devtools.stripe_emulator import free_port
    from app.main import AppOptions, create_app
    from tests.conftest import make_settings

    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    app = create_app(
        make_settings(dead, database_pool_timeout_seconds=1), AppOptions(real_queue=False)
    )
    async with app.router.lifespan_context(app):
        # raise_app_exceptions: the 503 is a handled answer; nothing escapes the app (for the
        # server to log as an error).
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for method, path, body in (
                ("GET", "/v1/services", None),
                ("POST", "/v1/auth/token", None),
                ("GET", "/v1/states/TX", None),
            ):
                if path == "/v1/auth/token":
                    response = await c.post(path, data={"username": "a@b.co", "password": "x" * 12})
                else:
                    response = await c.request(method, path, json=body)
                assert response.status_code == 503, (path, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert response.headers["retry-after"] == "2"
                assert response.json()["type"].endswith("/service-unavailable")
            assert (await c.get("/healthz")).status_code == 200  # the process itself is fine
            assert (await c.get("/readyz")).status_code == 503


async def test_a_database_that_never_answers_is_503_after_the_connect_timeout():
    """A host that takes the TCP connection but never speaks (a hung server, a network dropping
    packets) costs a request DATABASE_CONNECT_TIMEOUT_SECONDS and a 503, not asyncpg's 60 s."""
    import asyncio
    import socket
    import time

    import httpx

    from app.main import AppOptions, create_app
    from tests.conftest import make_settings

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        # Listening but never accepting: the kernel completes the handshakes into the backlog.
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        port = silent.getsockname()[1]
        settings = make_settings(
            f"postgresql://postgres@127.0.0.1:{port}/nowhere", database_connect_timeout_seconds=1
        )
        app = create_app(settings, AppOptions(real_queue=False))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                started = time.monotonic()
                # Bounded here so that a regression fails instead of hanging the suite.
                response = await asyncio.wait_for(c.get("/v1/services"), 20)
                elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.headers["retry-after"] == "2"
    assert 1 <= elapsed < 10


async def test_metrics_answer_only_the_configured_scraper(client, app):
    assert (await client.get("/metrics")).status_code == 404  # no token configured: off
    app.state.settings.metrics_token = SecretStr("scraper-token-0123456789")
    try:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-0123456789"},
            {"Authorization": "Basic scraper-token-0123456789"},
            {"Authorization": "Bearer scraper-token-012345678"},
        ):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.headers["content-type"] == PROBLEM_MEDIA_TYPE
            assert "mdmatch_http" not in refused.text
        ok = await client.get(
            "/metrics", headers={"Authorization": "Bearer scraper-token-0123456789"}
        )
        assert ok.status_code == 200
        assert "mdmatch_http_requests_total" in ok.text
    finally:
        app.state.settings.metrics_token = None
