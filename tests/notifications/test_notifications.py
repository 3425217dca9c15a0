from __future__ import annotations

from sqlalchemy import select

from app.auth.models import User
from app.notifications.service import notify, notify_ops
from tests.factories import bearer, login, make_ops_user, register


async def _user(client, session, role="physician"):
    created = await register(client, role)
    headers = bearer((await login(client, created["email"]))["access_token"])
    user = await session.scalar(select(User).where(User.email == created["email"]))
    return user, headers


async def test_user_sees_only_own_notifications_and_marks_them_read(client, session):
    alice, alice_headers = await _user(client, session)
    bob, bob_headers = await _user(client, session)
    note = await notify(
        session,
        user_id=alice.id,
        kind="license.expiring",
        title="License expiring",
        body="Your TX license expires in 30 days.",
        data={"state": "TX"},
    )
    await notify(session, user_id=bob.id, kind="other", title="Bob's", body="b")
    await session.commit()

    mine = (await client.get("/v1/me/notifications", headers=alice_headers)).json()
    assert [n["title"] for n in mine["items"]] == ["License expiring"]
    assert mine["items"][0]["data"] == {"state": "TX"}
    assert mine["items"][0]["read_at"] is None

    # Bob cannot read or even learn of Alice's notification.
    stolen = await client.post(f"/v1/me/notifications/{note.id}/read", headers=bob_headers)
    assert stolen.status_code == 404

    read = await client.post(f"/v1/me/notifications/{note.id}/read", headers=alice_headers)
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    unread = (
        await client.get("/v1/me/notifications", params={"unread": "true"}, headers=alice_headers)
    ).json()
    assert unread["items"] == []


async def test_unknown_notification_is_404_and_bad_id_is_422(client, session):
    _, headers = await _user(client, session)
    missing = await client.post(
        "/v1/me/notifications/5b7e3f0e-1111-4a4a-9b9b-000000000000/read", headers=headers
    )
    assert missing.status_code == 404
    bad = await client.post("/v1/me/notifications/not-a-uuid/read", headers=headers)
    assert bad.status_code == 422


async def test_notify_ops_reaches_every_active_ops_account(session, settings):
    first = await make_ops_user(session, settings)
    second = await make_ops_user(session, settings)
    second.is_active = False
    await session.flush()
    count = await notify_ops(session, kind="stall", title="Stalled", body="An intake stalled.")
    assert count >= 1
    from app.notifications.models import Notification

    owners = set(
        await session.scalars(select(Notification.user_id).where(Notification.kind == "stall"))
    )
    assert first.id in owners
    assert second.id not in owners
