"""Request-size limit (413, nothing stored) and the security headers on every response."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from sqlalchemy import func, select

from app.auth.models import User
from tests.factories import PASSWORD, unique_email


async def test_an_oversized_body_is_413_problem_and_stores_nothing(client, session, settings):
    email = unique_email()
    padding = "x" * (settings.max_body_bytes + 10)
    response = await client.post(
        "/v1/auth/register",
        json={"email": email, "password": PASSWORD, "role": "clinic_admin", "pad": padding},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "https://mdmatch.dev/problems/payload-too-large"
    created = await session.scalar(
        select(func.count()).select_from(User).where(User.email == email)
    )
    assert created == 0
    # Just under the limit is read and validated as usual (the extra field is refused: 422).
    fits = await client.post(
        "/v1/auth/register",
        json={"email": email, "password": PASSWORD, "role": "clinic_admin", "pad": "x" * 1000},
    )
    assert fits.status_code == 422


async def test_every_response_carries_the_security_headers(client):
    for path in ("/healthz", "/v1/services", "/v1/me"):
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert "strict-transport-security" not in response.headers  # http in tests
    assert (await client.get("/v1/services")).headers["cache-control"] == "no-store"
    assert (await client.get("/v1/me")).status_code == 401  # errors carry them too


@pytest.mark.parametrize("page", ["/docs", "/docs/oauth2-redirect", "/redoc"])
async def test_the_docs_pages_allow_only_their_own_scripts_and_this_origin(client, page):
    response = await client.get(page)
    assert response.status_code == 200
    policy = dict(
        directive.split(" ", 1)
        for directive in response.headers["content-security-policy"].split("; ")
    )
    assert "http" not in response.headers["content-security-policy"]  # no other origin
    assert "data:" not in policy["script-src"]
    assert "unsafe" not in policy["script-src"]
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    hashes = {
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in inline
    }
    assert bool(inline) == (page != "/redoc")  # Swagger UI's pages run one script each
    assert set(policy["script-src"].split()) == {"'self'", *hashes}
    assert response.headers["x-frame-options"] == "DENY"
    for asset in re.findall(r'(?:src|href)="([^"]+)"', response.text):
        assert asset.startswith("/docs-static/")
        served = await client.get(asset)
        assert served.status_code == 200
        assert served.headers["content-type"].split(";")[0] in {
            "text/javascript",
            "text/css",
            "image/png",
        }


async def test_a_chunked_body_over_the_limit_is_413_too(client, settings):
    chunk = b"x" * 65536

    async def body():
        for _ in range(settings.max_body_bytes // len(chunk) + 2):
            yield chunk

    response = await client.post(
        "/v1/auth/register", content=body(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["type"] == "https://mdmatch.dev/problems/payload-too-large"


async def test_cors_answers_only_the_configured_origins(database_url):
    import httpx

    from app.main import AppOptions, create_app
    from tests.conftest import make_settings

    app = create_app(
        make_settings(database_url, cors_origins=["https://app.mdmatch.dev"]),
        AppOptions(real_queue=False),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        for origin, allowed in (("https://app.mdmatch.dev", True), ("https://evil.example", False)):
            preflight = await c.options(
                "/v1/quotes",
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )
            simple = await c.get("/healthz", headers={"Origin": origin})
            for response in (preflight, simple):
                got = response.headers.get("access-control-allow-origin")
                assert (got == origin) is allowed, (origin, response.status_code, got)
