"""A clinic's team: invitations, roles and what each role may do, ownership transfer."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text, update

from app.clinics import jobs
from app.clinics.models import ClinicInvitation
from app.kit.clock import utcnow
from tests.billing.conftest import emulator as emulator
from tests.billing.helpers import confirmed_engagement
from tests.clinics.helpers import create_clinic, create_intake, intake_body
from tests.clinics.test_roster import person
from tests.factories import bearer, login, ops_headers, register, unique_email

PROBLEMS = "https://mdmatch.dev/problems/"


async def account(client: httpx.AsyncClient) -> tuple[str, dict[str, str], str]:
    """A new clinic account: (e-mail, headers, user id)."""
    email = unique_email("teammate")
    user = await register(client, "clinic_admin", email)
    headers = bearer((await login(client, email))["access_token"])
    return email, headers, user["id"]


async def mailed_token(session, outbox, invitation_id: str, email: str) -> str:
    """Run the invitation's queued e-mail job and read the token from the e-mail."""
    rows = await session.execute(
        text(
            "SELECT args FROM procrastinate_jobs WHERE task_name = 'clinics.send_invitation' "
            "AND args->>'invitation_id' = :id"
        ),
        {"id": invitation_id},
    )
    [(args,)] = rows.all()
    await session.commit()
    assert await jobs.send_invitation(**args) is True
    [message] = [m for m in outbox.outbox if m.to == email][-1:]
    match = re.search(r"token=([A-Za-z0-9_-]+)", message.body)
    assert match
    return match.group(1)


async def join(client, session, outbox, owner, clinic, role: str) -> tuple[dict[str, str], str]:
    """Invite a new account with `role` and accept: (its headers, its user id)."""
    email, headers, user_id = await account(client)
    invited = await client.post(
        f"/v1/clinics/{clinic['id']}/invitations",
        json={"email": email, "role": role},
        headers=owner,
    )
    assert invited.status_code == 201, invited.text
    token = await mailed_token(session, outbox, invited.json()["id"], email)
    accepted = await client.post("/v1/invitations/accept", json={"token": token}, headers=headers)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["role"] == role
    return headers, user_id


async def test_an_invitation_works_once_for_its_address_before_it_expires(
    client, session, settings, outbox
):
    _, owner, owner_id = await account(client)
    clinic = await create_clinic(client, owner, ("TX",))
    email, invitee, invitee_id = await account(client)
    _, stranger, _ = await account(client)
    invited = await client.post(
        f"/v1/clinics/{clinic['id']}/invitations",
        json={"email": email.upper(), "role": "billing"},
        headers=owner,
    )
    assert invited.status_code == 201, invited.text
    assert invited.json()["email"] == email
    token = await mailed_token(session, outbox, invited.json()["id"], email)

    path = "/v1/invitations/accept"
    wrong_account = await client.post(path, json={"token": token}, headers=stranger)
    assert wrong_account.status_code == 404
    assert wrong_account.json()["type"] == PROBLEMS + "invitation-not-found"
    accepted = await client.post(path, json={"token": token}, headers=invitee)
    assert accepted.status_code == 200
    assert (accepted.json()["user_id"], accepted.json()["role"]) == (invitee_id, "billing")
    again = await client.post(path, json={"token": token}, headers=invitee)
    assert again.status_code == 404

    team = (await client.get(f"/v1/clinics/{clinic['id']}/team", headers=invitee)).json()
    assert {(m["user_id"], m["role"]) for m in team["members"]} == {
        (owner_id, "owner"),
        (invitee_id, "billing"),
    }
    assert team["invitations"] == []

    # Expired and withdrawn invitations do not work.
    late_email, late, _ = await account(client)
    late_invite = await client.post(
        f"/v1/clinics/{clinic['id']}/invitations",
        json={"email": late_email, "role": "viewer"},
        headers=owner,
    )
    late_token = await mailed_token(session, outbox, late_invite.json()["id"], late_email)
    # Seven days later (the clock moved on the row: the account's login would lapse first).
    await session.execute(
        update(ClinicInvitation)
        .where(ClinicInvitation.id == uuid.UUID(late_invite.json()["id"]))
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    await session.commit()
    expired = await client.post(path, json={"token": late_token}, headers=late)
    assert expired.status_code == 404
    revoke_email, revoked_headers, _ = await account(client)
    revoked = await client.post(
        f"/v1/clinics/{clinic['id']}/invitations",
        json={"email": revoke_email, "role": "viewer"},
        headers=owner,
    )
    revoke_token = await mailed_token(session, outbox, revoked.json()["id"], revoke_email)
    gone = await client.delete(
        f"/v1/clinics/{clinic['id']}/invitations/{revoked.json()['id']}", headers=owner
    )
    assert gone.status_code == 204
    assert (
        await client.post(path, json={"token": revoke_token}, headers=revoked_headers)
    ).status_code == 404

    # A member cannot be invited again.
    dup = await client.post(
        f"/v1/clinics/{clinic['id']}/invitations",
        json={"email": email, "role": "viewer"},
        headers=owner,
    )
    assert dup.status_code == 409
    assert dup.json()["type"] == PROBLEMS + "already-member"

    ops = await ops_headers(client, session, settings)
    audit = (
        await client.get(
            "/v1/audit", params={"object_type": "clinic", "object_id": clinic["id"]}, headers=ops
        )
    ).json()["items"]
    actions = {e["action"] for e in audit}
    assert {"clinic.member_invited", "clinic.member_joined", "clinic.invitation_revoked"} <= actions


# What each role may do: (method, path template, body, {role: expected status}).
REACH: list[tuple[str, str, Any, dict[str, int]]] = [
    ("GET", "/v1/clinics/{clinic}", None, {"admin": 200, "billing": 200, "viewer": 200}),
    ("GET", "/v1/clinics/{clinic}/team", None, {"admin": 200, "billing": 200, "viewer": 200}),
    ("GET", "/v1/clinics/{clinic}/intakes", None, {"admin": 200, "billing": 200, "viewer": 200}),
    ("GET", "/v1/clinics/{clinic}/invoices", None, {"admin": 200, "billing": 200, "viewer": 200}),
    ("GET", "/v1/engagements/{engagement}", None, {"admin": 200, "billing": 200, "viewer": 200}),
    (
        "PATCH",
        "/v1/clinics/{clinic}",
        {"legal_name": "Renamed Aesthetics"},
        {"admin": 200, "billing": 403, "viewer": 403},
    ),
    (
        "POST",
        "/v1/clinics/{clinic}/intakes",
        intake_body(),
        {"admin": 201, "billing": 403, "viewer": 403},
    ),
    (
        "POST",
        "/v1/clinics/{clinic}/providers",
        "roster",
        {"admin": 201, "billing": 403, "viewer": 403},
    ),
    (
        "POST",
        "/v1/engagements/{engagement}/payment-method",
        None,
        {"admin": 200, "billing": 200, "viewer": 403},
    ),
    (
        "GET",
        "/v1/engagements/{engagement}/case-reports",
        None,
        {"admin": 200, "billing": 200, "viewer": 200},
    ),
    (  # a retainer engagement: the role is checked first (403), then the model (409)
        "POST",
        "/v1/engagements/{engagement}/case-reports",
        {"month": f"{date.today():%Y-%m}", "cases": 1},
        {"admin": 409, "billing": 409, "viewer": 403},
    ),
    (
        "POST",
        "/v1/clinics/{clinic}/invitations",
        "invite",
        {"admin": 403, "billing": 403, "viewer": 403},
    ),
]


@pytest.mark.parametrize("role", ["admin", "billing", "viewer"])
async def test_each_role_reaches_what_it_may_and_no_further(
    client, session, settings, outbox, emulator, role
):
    engaged = await confirmed_engagement(client, session, settings)
    owner, clinic = engaged.admin, engaged.clinic
    headers, _ = await join(client, session, outbox, owner, clinic, role)
    ids = {"clinic": clinic["id"], "engagement": engaged.engagement["id"]}
    for method, template, body, expected in REACH:
        if body == "roster":
            body = person([clinic["locations"][0]["id"]])
        elif body == "invite":
            body = {"email": unique_email("nobody"), "role": "viewer"}
        response = await client.request(method, template.format(**ids), json=body, headers=headers)
        assert response.status_code == expected[role], (role, method, template, response.text)
        if response.status_code == 403:
            assert response.json()["your_role"] == role


async def test_ownership_moves_to_a_teammate_and_the_owner_cannot_leave(client, session, outbox):
    _, owner, owner_id = await account(client)
    clinic = await create_clinic(client, owner, ("TX",))
    admin, admin_id = await join(client, session, outbox, owner, clinic, "admin")
    viewer, viewer_id = await join(client, session, outbox, owner, clinic, "viewer")
    members = f"/v1/clinics/{clinic['id']}/members"

    # Only the owner manages the team; the owner's role moves only by a transfer.
    refused = await client.patch(f"{members}/{viewer_id}", json={"role": "admin"}, headers=admin)
    assert refused.status_code == 403
    fixed = await client.patch(f"{members}/{owner_id}", json={"role": "viewer"}, headers=owner)
    assert fixed.status_code == 409
    promoted = await client.patch(f"{members}/{viewer_id}", json={"role": "billing"}, headers=owner)
    assert promoted.status_code == 200
    assert {m["user_id"]: m["role"] for m in promoted.json()["members"]}[viewer_id] == "billing"
    assert (await client.delete(f"{members}/{owner_id}", headers=owner)).status_code == 409

    moved = await client.post(
        f"/v1/clinics/{clinic['id']}/owner", json={"user_id": admin_id}, headers=owner
    )
    assert moved.status_code == 200, moved.text
    roles = {m["user_id"]: m["role"] for m in moved.json()["members"]}
    assert (roles[admin_id], roles[owner_id]) == ("owner", "admin")
    # The former owner no longer manages the team; the new one does.
    assert (
        await client.post(
            f"/v1/clinics/{clinic['id']}/invitations",
            json={"email": unique_email("x"), "role": "viewer"},
            headers=owner,
        )
    ).status_code == 403
    assert (await client.delete(f"{members}/{viewer_id}", headers=admin)).status_code == 204
    # A teammate may leave by themself.
    assert (await client.delete(f"{members}/{owner_id}", headers=owner)).status_code == 204
    team = (await client.get(f"/v1/clinics/{clinic['id']}/team", headers=admin)).json()
    assert [(m["user_id"], m["role"]) for m in team["members"]] == [(admin_id, "owner")]
    # A removed member sees the clinic no more.
    assert (await client.get(f"/v1/clinics/{clinic['id']}", headers=viewer)).status_code == 404
    assert (await create_intake(client, admin, clinic["id"]))["status"] == "draft"
