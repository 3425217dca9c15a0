"""A local server never signs with the public placeholder secret: it makes a random one on first
run, keeps it (0600) and uses it again on the next start."""

from __future__ import annotations

import stat
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest

from app.auth.tokens import create_access_token
from app.config import LOCAL_JWT_SECRET, Environment, Settings
from app.devtools.local_secrets import local_jwt_secret
from app.devtools.stripe_emulator import free_port
from tests.conftest import emulator_settings, scratch_database
from tests.factories import PASSWORD
from tests.live import serve_process


@pytest.fixture(scope="module")
def database(pg_server_url: str) -> Iterator[str]:
    with scratch_database(pg_server_url) as url:
        yield url


def test_the_secret_is_made_once_private_and_shared_by_racing_starts(tmp_path):
    path = tmp_path / "var" / "jwt-secret"
    found: list[str] = []
    threads = [
        threading.Thread(target=lambda: found.append(local_jwt_secret(path))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == 1
    assert len(found[0]) >= 32
    assert found[0] != LOCAL_JWT_SECRET
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["jwt-secret"]  # no drafts left
    assert local_jwt_secret(path) == found[0]


def test_a_local_server_refuses_tokens_signed_with_the_placeholder(database, stripe_url, tmp_path):
    env = {k.upper(): str(v) for k, v in emulator_settings(stripe_url).items()}
    env["LOCAL_JWT_SECRET_FILE"] = str(tmp_path / "jwt-secret")
    email = f"secret-{uuid.uuid4().hex[:8]}@example.com"
    with (
        serve_process(database, free_port(), env_overrides=env) as (base, _),
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        created = http.post(
            "/v1/auth/register",
            json={"email": email, "password": PASSWORD, "role": "clinic_admin"},
        ).json()
        token = http.post("/v1/auth/token", data={"username": email, "password": PASSWORD}).json()[
            "access_token"
        ]
        forged = create_access_token(
            Settings(environment=Environment.local),  # signs with the placeholder
            user_id=uuid.UUID(created["id"]),
            role="ops_admin",
        )
        assert http.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        assert http.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert (tmp_path / "jwt-secret").exists()
    # The next start signs with the same kept secret: the login still holds.
    with serve_process(database, free_port(), env_overrides=env) as (base, _):
        me = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert me.status_code == 200
