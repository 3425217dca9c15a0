"""Builders for test data, through the same services and endpoints the product uses."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role, User
from app.auth.service import create_user
from app.config import Settings

PASSWORD = "Violet-Orchid-Ledger-42"
_seq = itertools.count(1)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{next(_seq)}-{uuid.uuid4().hex[:8]}@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(
    client: httpx.AsyncClient, role: str = "clinic_admin", email: str | None = None
) -> dict[str, str]:
    email = email or unique_email(role)
    response = await client.post(
        "/v1/auth/register", json={"email": email, "password": PASSWORD, "role": role}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def user_headers(client: httpx.AsyncClient, role: str = "clinic_admin") -> dict[str, str]:
    """Register an account of `role` and return its Authorization header."""
    user = await register(client, role)
    return bearer((await login(client, user["email"]))["access_token"])


async def make_ops_user(session: AsyncSession, settings: Settings) -> User:
    user = await create_user(
        session, settings, email=unique_email("ops"), password=PASSWORD, role=Role.ops_admin
    )
    await session.commit()
    return user


async def ops_headers(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> dict[str, str]:
    user = await make_ops_user(session, settings)
    return bearer((await login(client, user.email))["access_token"])
