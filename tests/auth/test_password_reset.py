from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import jobs
from app.kit.clock import travel
from tests.factories import PASSWORD, bearer, login, register, unique_email

NEW_PASSWORD = "Copper-Lantern-Meadow-77"


async def reset_jobs(session: AsyncSession, *emails: str) -> list[dict[str, Any]]:
    """The arguments of the reset jobs queued for these addresses (queued in the request's
    transaction, so in the test's database transaction)."""
    rows = await session.execute(
        text(
            "SELECT args FROM procrastinate_jobs WHERE task_name = 'auth.send_password_reset' "
            "AND args->>'email' = ANY(:emails) ORDER BY id"
        ),
        {"emails": list(emails)},
    )
    return [dict(args) for (args,) in rows]


async def request_reset(client, session: AsyncSession, email: str) -> str:
    """Ask for a reset through the API, run the deferred job, and return the token it mailed."""
    response = await client.post("/v1/auth/password-reset", json={"email": email})
    assert response.status_code == 202
    [args] = await reset_jobs(session, email)
    assert await jobs.send_password_reset(**args) is True
    return extract_token(email)


def extract_token(email: str) -> str:
    from app.jobs.runtime import get_runtime

    outbox = get_runtime().email_sender.outbox  # type: ignore[attr-defined]
    [message] = [m for m in outbox if m.to == email]
    match = re.search(r"token=([A-Za-z0-9_-]+)", message.body)
    assert match
    return match.group(1)


async def test_reset_answers_the_same_for_unknown_and_known_emails(client, session, outbox):
    created = await register(client)
    stranger = unique_email()
    known = await client.post("/v1/auth/password-reset", json={"email": created["email"]})
    unknown = await client.post("/v1/auth/password-reset", json={"email": stranger})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    # Both defer the same job; only the job knows whether the account exists.
    queued = await reset_jobs(session, created["email"], stranger)
    assert len(queued) == 2
    results = [await jobs.send_password_reset(**args) for args in queued]
    assert sorted(results) == [False, True]
    assert [m.to for m in outbox.outbox] == [created["email"]]


async def test_reset_token_sets_a_new_password_once(client, session):
    created = await register(client)
    old_session = await login(client, created["email"])
    token = await request_reset(client, session, created["email"])

    done = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert done.status_code == 204
    assert done.content == b""

    again = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert again.status_code == 422
    assert again.json()["type"] == "https://mdmatch.dev/problems/reset-token-invalid"
    assert again.json()["errors"][0]["loc"] == ["body", "token"]

    old = await client.post(
        "/v1/auth/token", data={"username": created["email"], "password": PASSWORD}
    )
    assert old.status_code == 401
    await login(client, created["email"], NEW_PASSWORD)
    # Sessions from before the reset are gone: refresh tokens and access tokens alike.
    refresh = await client.post(
        "/v1/auth/refresh", json={"refresh_token": old_session["refresh_token"]}
    )
    assert refresh.status_code == 401
    with travel(timedelta(seconds=2)):
        me = await client.get("/v1/me", headers=bearer(old_session["access_token"]))
    assert me.status_code == 401


async def test_reset_token_expires(client, session):
    created = await register(client)
    token = await request_reset(client, session, created["email"])
    with travel(timedelta(hours=2)):
        response = await client.post(
            "/v1/auth/password-reset/confirm",
            json={"token": token, "new_password": NEW_PASSWORD},
        )
    assert response.status_code == 422


async def test_weak_new_password_is_422_and_the_token_stays_usable(client, session):
    created = await register(client)
    token = await request_reset(client, session, created["email"])
    weak = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "new_password": "letmein"}
    )
    assert weak.status_code == 422
    assert weak.json()["errors"][0]["loc"] == ["body", "new_password"]
    ok = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert ok.status_code == 204


async def test_reset_requests_are_rate_limited_per_address(client):
    statuses = [
        (await client.post("/v1/auth/password-reset", json={"email": unique_email()})).status_code
        for _ in range(6)
    ]
    assert statuses == [202] * 5 + [429]


async def test_one_inbox_cannot_be_flooded_with_reset_emails(client, session):
    """Within the per-address budget (5), one e-mail still gets at most 3 resets an hour, so
    attackers rotating addresses cannot flood an inbox."""
    email = unique_email()
    statuses = []
    for _ in range(4):
        response = await client.post("/v1/auth/password-reset", json={"email": email})
        statuses.append(response.status_code)
    assert statuses == [202, 202, 202, 429]
    assert len(await reset_jobs(session, email)) == 3


async def test_purge_deletes_only_long_expired_tokens(client, session):
    from sqlalchemy import func, select

    from app.auth.models import PasswordResetToken, RefreshToken
    from app.auth.service import purge_expired_tokens

    created = await register(client)
    await login(client, created["email"])
    await request_reset(client, session, created["email"])
    await session.commit()
    count = select(func.count()).select_from(RefreshToken)
    assert await purge_expired_tokens(session) == 0
    with travel(timedelta(days=32)):
        assert await purge_expired_tokens(session) == 2
    assert await session.scalar(count) == 0
    assert await session.scalar(select(func.count()).select_from(PasswordResetToken)) == 0


async def test_reset_email_comes_from_its_template_with_an_html_part(client, session, outbox):
    created = await register(client)
    token = await request_reset(client, session, created["email"])
    [message] = [m for m in outbox.outbox if m.to == created["email"]]
    link = f"http://127.0.0.1:8000/reset-password?token={token}"
    assert message.subject == "Reset your mdmatch password"
    assert message.body.startswith("Hello,\n")
    assert f"Choose a new password:\n{link}" in message.body
    assert message.html is not None
    assert f'<a href="{link}"' in message.html
