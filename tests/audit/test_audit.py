from __future__ import annotations

import uuid

from app.audit.service import record_audit
from tests.factories import make_ops_user, ops_headers, register, user_headers


async def test_ops_reads_audit_entries_with_filters(client, session, settings):
    headers = await ops_headers(client, session, settings)
    object_id = uuid.uuid4()
    ops = await make_ops_user(session, settings)
    await record_audit(
        session,
        actor_id=ops.id,
        action="state.updated",
        object_type="state",
        object_id="TX",
        before={"pa_supervision_ratio": 5},
        after={"pa_supervision_ratio": 7},
    )
    await record_audit(
        session,
        actor_id=ops.id,
        action="thing.changed",
        object_type="thing",
        object_id=object_id,
        after={"secret_token": "abc", "ok": 1},
    )
    await session.commit()

    tx = (
        await client.get(
            "/v1/audit", params={"object_type": "state", "object_id": "TX"}, headers=headers
        )
    ).json()
    assert [e["action"] for e in tx["items"]] == ["state.updated"]
    entry = tx["items"][0]
    assert entry["actor_id"] == str(ops.id)
    assert entry["before"] == {"pa_supervision_ratio": 5}
    assert entry["after"] == {"pa_supervision_ratio": 7}
    assert entry["at"].endswith("Z") or entry["at"].endswith("+00:00")

    by_actor = (
        await client.get("/v1/audit", params={"actor_id": str(ops.id)}, headers=headers)
    ).json()
    assert {e["action"] for e in by_actor["items"]} == {
        "state.updated",
        "thing.changed",
        "user.created",
    }
    thing = next(e for e in by_actor["items"] if e["action"] == "thing.changed")
    assert thing["after"] == {"secret_token": "[redacted]", "ok": 1}


async def test_audit_is_ops_only(client):
    assert (await client.get("/v1/audit")).status_code == 401
    for role in ("clinic_admin", "physician"):
        response = await client.get("/v1/audit", headers=await user_headers(client, role))
        assert response.status_code == 403


async def test_audit_filter_validation(client, session, settings):
    headers = await ops_headers(client, session, settings)
    response = await client.get("/v1/audit", params={"actor_id": "nope"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "actor_id"]


async def test_audit_entry_carries_the_request_id(client, session, settings):
    headers = await ops_headers(client, session, settings)
    r = await client.post(
        "/v1/auth/register",
        json={
            "email": "rid@example.com",
            "password": "Violet-Orchid-Ledger-42",
            "role": "physician",
        },
        headers={"X-Request-ID": "trace-42"},
    )
    created = r.json()
    entries = (
        await client.get("/v1/audit", params={"object_id": created["id"]}, headers=headers)
    ).json()["items"]
    assert entries[0]["request_id"] == "trace-42"
    assert (await register(client))["role"] == "clinic_admin"
