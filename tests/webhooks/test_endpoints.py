"""Webhook endpoints through the API: registered by a clinic's owner or admins (or, for every
clinic, by operations), the secret shown once, listed, changed, rolled and deleted; another
clinic gets 404 on every route, physicians 403; bad input is a 422 problem and writes nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.audit.models import AuditEntry
from app.kit.clock import travel, utcnow
from app.webhooks import delivery as engine
from app.webhooks.delivery import MAX_ATTEMPTS
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.billing.helpers import confirmed_engagement
from tests.clinics.helpers import create_clinic
from tests.clinics.test_team import join
from tests.factories import bearer, login, ops_headers, register, user_headers
from tests.webhooks.helpers import (
    PROBLEMS,
    delivery_of,
    other_clinic,
    record_event,
    register_endpoint,
    run_fan_out,
)

URL = "https://hooks.example.com/mdmatch"


async def clinic_admin(client):
    admin = await user_headers(client, "clinic_admin")
    return admin, await create_clinic(client, admin, ("TX",))


async def endpoint_count(session) -> int:
    return int(await session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0)


async def test_create_shows_the_secret_once_and_reads_never_do(client, session):
    admin, clinic = await clinic_admin(client)
    created = await register_endpoint(
        client,
        admin,
        URL,
        ["engagement.activated", "engagement.canceled", "engagement.activated"],
        description="Our CRM",
    )
    assert created["secret"].startswith("whsec_")
    assert created["clinic_id"] == clinic["id"]
    assert created["platform"] is False
    assert created["enabled"] is True
    assert created["enabled_events"] == ["engagement.activated", "engagement.canceled"]
    assert created["previous_secret_expires_at"] is None
    one = await client.get(f"/v1/webhook-endpoints/{created['id']}", headers=admin)
    assert one.status_code == 200
    assert "secret" not in one.json()
    assert one.json() == {k: v for k, v in created.items() if k != "secret"}
    listed = (await client.get("/v1/webhook-endpoints", headers=admin)).json()
    assert [e["id"] for e in listed["items"]] == [created["id"]]
    assert all("secret" not in e for e in listed["items"])
    assert listed["next_cursor"] is None
    audit = await session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "webhook_endpoint.created", AuditEntry.object_id == created["id"]
        )
    )
    assert audit is not None
    assert created["secret"] not in str(audit.after)


async def test_wildcard_stands_alone(client):
    admin, _ = await clinic_admin(client)
    created = await register_endpoint(client, admin, URL, ["director.joined", "*"])
    assert created["enabled_events"] == ["*"]


async def test_the_list_pages_with_a_cursor_and_shows_only_the_callers_clinics(client):
    admin, clinic = await clinic_admin(client)
    ids = [(await register_endpoint(client, admin, f"{URL}/{i}"))["id"] for i in range(3)]
    other = await other_clinic(client)
    await register_endpoint(client, other.admin, URL)
    first = (await client.get("/v1/webhook-endpoints?limit=2", headers=admin)).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    second = (
        await client.get(
            "/v1/webhook-endpoints",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=admin,
        )
    ).json()
    assert second["next_cursor"] is None
    assert [e["id"] for e in first["items"] + second["items"]] == ids[::-1]
    only = await client.get(
        "/v1/webhook-endpoints", params={"clinic_id": clinic["id"]}, headers=admin
    )
    assert len(only.json()["items"]) == 3
    foreign = await client.get(
        "/v1/webhook-endpoints", params={"clinic_id": other.clinic["id"]}, headers=admin
    )
    assert foreign.status_code == 404


async def test_patch_changes_what_is_sent_and_is_audited(client, session):
    admin, _ = await clinic_admin(client)
    created = await register_endpoint(client, admin, URL)
    path = f"/v1/webhook-endpoints/{created['id']}"
    changed = await client.patch(
        path,
        json={
            "url": "https://crm.example.org/in?key=k1",
            "enabled_events": ["director.joined", "director.ended"],
            "description": "CRM, new address",
            "enabled": False,
        },
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["url"] == "https://crm.example.org/in?key=k1"
    assert body["enabled_events"] == ["director.ended", "director.joined"]
    assert (body["description"], body["enabled"]) == ("CRM, new address", False)
    assert "secret" not in body
    audit = await session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "webhook_endpoint.updated", AuditEntry.object_id == created["id"]
        )
    )
    assert audit is not None
    assert audit.after["url"] == "https://crm.example.org/in?…"  # the query stays out
    same = await client.patch(path, json={}, headers=admin)
    assert same.status_code == 200
    assert same.json()["url"] == body["url"]


async def test_roll_returns_a_new_secret_once_and_keeps_the_old_one_for_the_grace(client, settings):
    admin, _ = await clinic_admin(client)
    created = await register_endpoint(client, admin, URL)
    rolled = await client.post(f"/v1/webhook-endpoints/{created['id']}/roll-secret", headers=admin)
    assert rolled.status_code == 200, rolled.text
    body = rolled.json()
    assert body["secret"].startswith("whsec_")
    assert body["secret"] != created["secret"]
    grace = timedelta(hours=settings.webhook_secret_grace_hours)
    assert grace == timedelta(hours=24)
    expires = body["previous_secret_expires_at"]
    assert expires is not None
    from datetime import datetime

    left = datetime.fromisoformat(expires) - utcnow()
    assert grace - timedelta(minutes=1) < left <= grace
    again = await client.get(f"/v1/webhook-endpoints/{created['id']}", headers=admin)
    assert "secret" not in again.json()
    assert again.json()["previous_secret_expires_at"] == expires


async def test_delete_removes_the_endpoint(client, session):
    admin, _ = await clinic_admin(client)
    created = await register_endpoint(client, admin, URL)
    path = f"/v1/webhook-endpoints/{created['id']}"
    assert (await client.delete(path, headers=admin)).status_code == 204
    assert (await client.get(path, headers=admin)).status_code == 404
    assert (await client.delete(path, headers=admin)).status_code == 404
    assert await session.get(WebhookEndpoint, uuid.UUID(created["id"])) is None


async def test_operations_register_platform_endpoints_and_manage_any(client, session, settings):
    ops = await ops_headers(client, session, settings)
    platform = await register_endpoint(client, ops, URL)
    assert platform["platform"] is True
    assert platform["clinic_id"] is None
    admin, clinic = await clinic_admin(client)
    clinics = await register_endpoint(client, admin, URL)
    for_clinic = await register_endpoint(client, ops, URL, clinic_id=clinic["id"])
    assert for_clinic["clinic_id"] == clinic["id"]
    # Operations see and change every endpoint; the clinic never sees the platform's.
    seen = await client.get(f"/v1/webhook-endpoints/{clinics['id']}", headers=ops)
    assert seen.status_code == 200
    assert (
        await client.patch(
            f"/v1/webhook-endpoints/{clinics['id']}", json={"enabled": False}, headers=ops
        )
    ).status_code == 200
    listed = (
        await client.get("/v1/webhook-endpoints", params={"platform": True}, headers=ops)
    ).json()["items"]
    assert platform["id"] in {e["id"] for e in listed}
    assert all(e["platform"] for e in listed)
    mine = (await client.get("/v1/webhook-endpoints", headers=admin)).json()["items"]
    assert {e["id"] for e in mine} == {clinics["id"], for_clinic["id"]}
    hidden = await client.get(f"/v1/webhook-endpoints/{platform['id']}", headers=admin)
    assert hidden.status_code == 404
    missing = await client.post(
        "/v1/webhook-endpoints",
        json={"url": URL, "enabled_events": ["*"], "clinic_id": str(uuid.uuid4())},
        headers=ops,
    )
    assert missing.status_code == 404


async def test_a_member_of_several_clinics_names_one_and_one_of_none_is_refused(client):
    admin, first = await clinic_admin(client)
    second = await create_clinic(client, admin, ("TX",))
    unnamed = await client.post(
        "/v1/webhook-endpoints", json={"url": URL, "enabled_events": ["*"]}, headers=admin
    )
    assert unnamed.status_code == 409
    assert unnamed.json()["type"] == PROBLEMS + "clinic-not-chosen"
    assert set(unnamed.json()["clinic_ids"]) == {first["id"], second["id"]}
    named = await register_endpoint(client, admin, URL, clinic_id=second["id"])
    assert named["clinic_id"] == second["id"]
    nobody = await user_headers(client, "clinic_admin")
    refused = await client.post(
        "/v1/webhook-endpoints", json={"url": URL, "enabled_events": ["*"]}, headers=nobody
    )
    assert refused.status_code == 403


async def test_every_route_is_404_to_another_clinic_and_403_to_physicians(
    client, session, settings, outbox
):
    engaged = await confirmed_engagement(client, session, settings)
    admin, clinic = engaged.admin, engaged.clinic
    created = await register_endpoint(client, admin, URL)
    endpoint = created["id"]
    other = await other_clinic(client)
    doctor = await user_headers(client, "physician")
    viewer, _ = await join(client, session, outbox, admin, clinic, "viewer")
    # A delivery of the endpoint, so the replay route has a real id.
    event = await record_event(session, engaged)
    assert await run_fan_out(session, event) == 1
    delivery = (await delivery_of(session, event.id, endpoint)).id
    routes = [
        ("GET", f"/v1/webhook-endpoints/{endpoint}", None),
        ("PATCH", f"/v1/webhook-endpoints/{endpoint}", {"enabled": False}),
        ("DELETE", f"/v1/webhook-endpoints/{endpoint}", None),
        ("POST", f"/v1/webhook-endpoints/{endpoint}/roll-secret", None),
        ("GET", f"/v1/webhook-endpoints/{endpoint}/deliveries", None),
        ("POST", f"/v1/webhook-deliveries/{delivery}/replay", None),
    ]
    before = await session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == uuid.UUID(endpoint))
    )
    assert before is not None
    snapshot = (before.url, before.is_enabled, before.secret)
    for method, path, body in routes:
        foreign = await client.request(method, path, json=body, headers=other.admin)
        assert foreign.status_code == 404, (method, path, foreign.text)
        assert foreign.headers["content-type"] == "application/problem+json"
        physician = await client.request(method, path, json=body, headers=doctor)
        assert physician.status_code == 403, (method, path)
        member = await client.request(method, path, json=body, headers=viewer)
        assert member.status_code == 403, (method, path)
        assert member.json()["your_role"] == "viewer"
    for path in ("/v1/webhook-endpoints",):
        assert (await client.get(path, headers=doctor)).status_code == 403
        assert (await client.get(path, headers=other.admin)).json()["items"] == []
        assert (await client.get(path, headers=viewer)).json()["items"] == []
    after = await session.scalar(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.id == uuid.UUID(endpoint))
        .execution_options(populate_existing=True)
    )
    assert after is not None
    assert (after.url, after.is_enabled, after.secret) == snapshot  # nothing changed
    anonymous = await client.get(f"/v1/webhook-endpoints/{endpoint}")
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        ({"url": "http://hooks.example.com/x"}, "url", "must use https"),
        ({"url": "https://user:pw@hooks.example.com/"}, "url", "credentials"),
        ({"url": "https://10.0.0.8/hooks"}, "url", "not an IP address"),
        ({"url": "https://hooks.example.com/#x"}, "url", "fragment"),
        ({"url": "not a url"}, "url", "https://"),
        ({"url": "https://" + "a" * 2050 + ".com"}, "url", "2048"),
        ({"enabled_events": []}, "enabled_events", "at least 1"),
        ({"enabled_events": ["engagement.exploded"]}, "enabled_events", "not an event type"),
        ({"description": "line\nbreak"}, "description", "single line"),
        ({"enabled": "maybe"}, "enabled", "boolean"),
        ({"colour": "red"}, "colour", "Extra inputs"),
    ],
)
async def test_bad_input_is_a_clear_422_and_writes_nothing(client, session, body, loc, message):
    admin, _ = await clinic_admin(client)
    before = await endpoint_count(session)
    full = {"url": URL, "enabled_events": ["*"], **body}
    response = await client.post("/v1/webhook-endpoints", json=full, headers=admin)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == PROBLEMS + "validation"
    assert any(e["loc"][:2] == ["body", loc] and message in e["msg"] for e in problem["errors"]), (
        problem
    )
    assert await endpoint_count(session) == before
    # The same rules hold for a change, which leaves the endpoint as it was.
    created = await register_endpoint(client, admin, URL)
    patched = await client.patch(f"/v1/webhook-endpoints/{created['id']}", json=body, headers=admin)
    assert patched.status_code == 422
    assert patched.headers["content-type"] == "application/problem+json"
    now = (await client.get(f"/v1/webhook-endpoints/{created['id']}", headers=admin)).json()
    assert now == {k: v for k, v in created.items() if k != "secret"}


async def test_null_is_refused_in_a_patch_and_bad_ids_are_422(client):
    admin, _ = await clinic_admin(client)
    created = await register_endpoint(client, admin, URL)
    for field in ("url", "enabled_events", "description", "enabled"):
        response = await client.patch(
            f"/v1/webhook-endpoints/{created['id']}", json={field: None}, headers=admin
        )
        assert response.status_code == 422, field
        assert response.json()["errors"][0]["loc"] == ["body", field]
    bad = await client.get("/v1/webhook-endpoints/not-a-uuid", headers=admin)
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    cursor = await client.get("/v1/webhook-endpoints", params={"cursor": "zzz"}, headers=admin)
    assert cursor.status_code == 422


async def test_http_to_loopback_is_refused_where_the_setting_says_so(client, bound_app):
    admin, _ = await clinic_admin(client)
    assert (await register_endpoint(client, admin, "http://127.0.0.1:9/hooks"))["url"]
    settings = bound_app.state.settings
    bound_app.state.settings = settings.model_copy(update={"webhook_allow_http_loopback": False})
    try:
        refused = await client.post(
            "/v1/webhook-endpoints",
            json={"url": "http://127.0.0.1:9/hooks", "enabled_events": ["*"]},
            headers=admin,
        )
    finally:
        bound_app.state.settings = settings
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "url"]


async def test_create_honours_the_idempotency_key(client, session):
    admin, _ = await clinic_admin(client)
    headers = {**admin, "Idempotency-Key": "webhook-create-1"}
    body = {"url": URL, "enabled_events": ["*"]}
    first = await client.post("/v1/webhook-endpoints", json=body, headers=headers)
    again = await client.post("/v1/webhook-endpoints", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


@pytest.fixture
def app_settings(bound_app):
    """Change the app's settings for the test: `app_settings(name=value, ...)`."""
    original = bound_app.state.settings

    def change(**updates):
        bound_app.state.settings = original.model_copy(update=updates)

    yield change
    bound_app.state.settings = original


async def test_a_clinic_has_at_most_the_configured_number_of_endpoints(
    client, session, settings, app_settings
):
    app_settings(webhook_max_endpoints_per_clinic=2)
    admin, clinic = await clinic_admin(client)
    first = await register_endpoint(client, admin, URL)
    await register_endpoint(client, admin, URL)
    body = {"url": URL, "enabled_events": ["*"]}
    refused = await client.post("/v1/webhook-endpoints", json=body, headers=admin)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == PROBLEMS + "webhook-endpoint-limit"
    assert problem["limit"] == 2
    assert "delete one" in problem["detail"]
    assert await endpoint_count(session) == 2
    # Another clinic has its own budget; a deleted endpoint makes room.
    other = await other_clinic(client)
    await register_endpoint(client, other.admin, URL)
    deleted = await client.delete(f"/v1/webhook-endpoints/{first['id']}", headers=admin)
    assert deleted.status_code == 204
    await register_endpoint(client, admin, URL, clinic_id=clinic["id"])
    # Platform endpoints are capped too, apart from the clinics'.
    ops = await ops_headers(client, session, settings)
    await register_endpoint(client, ops, URL)
    await register_endpoint(client, ops, URL)
    platform = await client.post("/v1/webhook-endpoints", json=body, headers=ops)
    assert platform.status_code == 409
    assert platform.json()["type"] == PROBLEMS + "webhook-endpoint-limit"
    # Operations registering for a clinic count against the clinic's budget.
    for_clinic = await client.post(
        "/v1/webhook-endpoints", json={**body, "clinic_id": clinic["id"]}, headers=ops
    )
    assert for_clinic.status_code == 409


async def replayable_delivery(client, session, settings):
    engaged = await confirmed_engagement(client, session, settings)
    endpoint = await register_endpoint(client, engaged.admin, "http://127.0.0.1:9/hooks")
    event = await record_event(session, engaged)
    await run_fan_out(session, event)
    return engaged, await delivery_of(session, event.id, endpoint["id"])


async def test_replays_are_rate_limited(client, session, settings, app_settings):
    engaged, delivery = await replayable_delivery(client, session, settings)
    app_settings(rate_limit_webhook_replay="3/minute")
    url = f"/v1/webhook-deliveries/{delivery.id}/replay"
    statuses = [(await client.post(url, headers=engaged.admin)).status_code for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    limited = await client.post(url, headers=engaged.admin)
    assert limited.json()["type"] == PROBLEMS + "rate-limited"
    assert int(limited.headers["retry-after"]) >= 1


async def test_replays_stop_at_the_attempt_cap_and_counters_hold_past_smallint(
    client, session, settings
):
    engaged, delivery = await replayable_delivery(client, session, settings)
    url = f"/v1/webhook-deliveries/{delivery.id}/replay"
    # Counters are integers: a delivery (or an attempt number) past 32767 is stored.
    await session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(attempts=40_000)
    )
    await session.commit()
    assert (await delivery_of(session, delivery.event_id, str(delivery.endpoint_id))).attempts == (
        40_000
    )
    refused = await client.post(url, headers=engaged.admin)
    assert refused.status_code == 409
    assert refused.json()["type"] == PROBLEMS + "webhook-delivery-attempt-limit"
    assert refused.json()["limit"] == MAX_ATTEMPTS

    # Below the cap, the replays queued count: the last place goes once.
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery.id)
        .values(attempts=MAX_ATTEMPTS - 1)
    )
    await session.commit()
    assert (await client.post(url, headers=engaged.admin)).status_code == 202
    again = await client.post(url, headers=engaged.admin)
    assert again.status_code == 409
    assert again.json()["type"] == PROBLEMS + "webhook-delivery-attempt-limit"
    # A replay job that runs past the cap (queued before it was reached) sends nothing.
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery.id)
        .values(attempts=MAX_ATTEMPTS)
    )
    await session.commit()
    replay = await engine.start_attempt(session, delivery.id, replay_id=str(uuid.uuid4()))
    assert replay == "limit"
    await session.rollback()


async def test_the_secret_is_replayed_only_to_the_same_caller_with_the_same_key_for_24_hours(
    client, session, outbox
):
    """@idempotent keeps the answer, the secret included, in idempotency_keys for 24 hours:
    a client that lost the answer retries with its key and gets the same secret. Nobody else
    does, with that key or another, and after 24 hours the key makes a new roll."""
    account = await register(client, "clinic_admin")
    admin = bearer((await login(client, account["email"]))["access_token"])
    clinic = await create_clinic(client, admin, ("TX",))
    endpoint = await register_endpoint(client, admin, URL)
    path = f"/v1/webhook-endpoints/{endpoint['id']}/roll-secret"
    headers = {**admin, "Idempotency-Key": "roll-1"}
    first = await client.post(path, headers=headers)
    again = await client.post(path, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["secret"] == first.json()["secret"]
    # Another admin of the same clinic, with the same key: a roll of their own.
    colleague, _ = await join(client, session, outbox, admin, clinic, "admin")
    theirs = await client.post(path, headers={**colleague, "Idempotency-Key": "roll-1"})
    assert theirs.status_code == 200
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["secret"] not in (first.json()["secret"], endpoint["secret"])
    # A day later the key is forgotten: the same caller's same request rolls again.
    with travel(timedelta(hours=24, minutes=1)):
        admin = bearer((await login(client, account["email"]))["access_token"])
        later = await client.post(path, headers={**admin, "Idempotency-Key": "roll-1"})
    assert later.status_code == 200, later.text
    assert "idempotent-replayed" not in later.headers
    assert later.json()["secret"] != first.json()["secret"]
