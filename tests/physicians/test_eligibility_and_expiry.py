from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from app.kit.clock import today
from app.notifications.models import Notification
from app.physicians.eligibility import matchable_physicians
from app.physicians.expiry import sweep_credentials
from app.physicians.models import License, MalpracticePolicy, Physician
from tests.physicians.helpers import create_physician


async def matchable_ids(session, states, on=None, dea_states=()):
    stmt = matchable_physicians(states=states, on=on or today(), dea_states=dea_states)
    return set(await session.scalars(stmt.with_only_columns(Physician.id)))


async def test_verified_physician_is_matchable_only_where_licensed(
    client, session, settings, nppes, credentialing
):
    _, pid, _ = await credentialing.physician(licenses=("TX", "CA"))
    assert pid in await matchable_ids(session, ["TX"])
    assert pid in await matchable_ids(session, ["TX", "CA"])
    assert pid not in await matchable_ids(session, ["TX", "NV"])


async def test_expired_license_removes_that_state_only(
    client, session, settings, nppes, credentialing
):
    _, pid, _ = await credentialing.physician(licenses=("TX", "CA"))
    lic = await session.scalar(
        select(License).where(License.physician_id == pid, License.state == "TX")
    )
    assert lic is not None
    lic.expires_on = today() - timedelta(days=1)
    await session.flush()
    assert pid not in await matchable_ids(session, ["TX"])
    assert pid in await matchable_ids(session, ["CA"])
    # The daily sweep also marks it expired for everyone to see.
    result = await sweep_credentials(session, on=today(), warn_days=60)
    assert result.expired == 1
    await session.refresh(lic)
    assert lic.status == "expired"


async def test_license_expiring_before_the_start_date_does_not_count(
    client, session, settings, nppes, credentialing
):
    _, pid, _ = await credentialing.physician()
    assert pid in await matchable_ids(session, ["TX"], on=today() + timedelta(days=30))
    assert pid not in await matchable_ids(session, ["TX"], on=today() + timedelta(days=500))


async def test_lapsed_malpractice_makes_physician_unmatchable_everywhere(
    client, session, settings, nppes, credentialing
):
    _, pid, _ = await credentialing.physician(licenses=("TX", "CA"))
    policy = await session.scalar(
        select(MalpracticePolicy).where(MalpracticePolicy.physician_id == pid)
    )
    assert policy is not None
    policy.expires_on = today()
    await session.flush()
    assert pid not in await matchable_ids(session, ["TX"])
    assert pid not in await matchable_ids(session, ["CA"])


async def test_pending_state_license_does_not_count(
    client, session, settings, nppes, credentialing
):
    headers, pid, _ = await credentialing.physician()
    await client.post(
        "/v1/physicians/me/licenses",
        json={
            "state": "NV",
            "number": "NV-100",
            "expires_on": (today() + timedelta(days=90)).isoformat(),
        },
        headers=headers,
    )
    assert pid not in await matchable_ids(session, ["NV"])


async def test_suspended_unverified_or_not_accepting_are_not_matchable(
    client, session, settings, nppes, credentialing
):
    headers, pid, ops = await credentialing.physician()
    await client.patch("/v1/physicians/me", json={"accepting_new": False}, headers=headers)
    assert pid not in await matchable_ids(session, ["TX"])
    await client.patch("/v1/physicians/me", json={"accepting_new": True}, headers=headers)
    assert pid in await matchable_ids(session, ["TX"])
    await client.post(f"/v1/physicians/{pid}/suspend", json={"reason": "Audit"}, headers=ops)
    assert pid not in await matchable_ids(session, ["TX"])
    _, pending = await create_physician(client)
    assert uuid.UUID(pending["id"]) not in await matchable_ids(session, ["TX"])


async def test_dea_required_where_controlled_substances_are_prescribed(
    client, session, settings, credentialing
):
    headers, pid, _ = await credentialing.physician()
    assert pid not in await matchable_ids(session, ["TX"], dea_states=["TX"])
    added = await client.post(
        "/v1/physicians/me/dea",
        json={
            "state": "TX",
            "number": "BA1234563",
            "expires_on": (today() + timedelta(days=300)).isoformat(),
        },
        headers=headers,
    )
    assert added.status_code == 201, added.text
    # Typed in, it counts for nothing; its certificate, once operations approve it, does.
    assert pid not in await matchable_ids(session, ["TX"], dea_states=["TX"])
    assert await credentialing.documents_for_pending(headers) == 1
    assert pid in await matchable_ids(session, ["TX"], dea_states=["TX"])


async def test_sweep_warns_once_of_coming_expiry(client, session, settings, nppes, credentialing):
    headers, pid, ops = await credentialing.physician()
    lic = await session.scalar(select(License).where(License.physician_id == pid))
    assert lic is not None
    lic.expires_on = today() + timedelta(days=45)
    await session.flush()

    first = await sweep_credentials(session, on=today(), warn_days=60)
    assert (first.warned, first.expired) == (1, 0)
    again = await sweep_credentials(session, on=today() + timedelta(days=1), warn_days=60)
    assert again.warned == 0
    await session.commit()

    mine = (await client.get("/v1/me/notifications", headers=headers)).json()["items"]
    warning = next(n for n in mine if n["kind"] == "credential.expiring")
    assert "TX license expires in 45 days" in warning["title"]
    ops_notes = (await client.get("/v1/me/notifications", headers=ops)).json()["items"]
    assert any(n["kind"] == "credential.expiring" and "Alvarez" in n["title"] for n in ops_notes)


async def test_sweep_job_runs_with_the_app_runtime(
    bound_app, client, session, settings, nppes, credentialing
):
    from app.physicians.jobs import credential_sweep

    _, pid, _ = await credentialing.physician()
    policy = await session.scalar(
        select(MalpracticePolicy).where(MalpracticePolicy.physician_id == pid)
    )
    assert policy is not None
    policy.expires_on = today() - timedelta(days=2)
    await session.commit()
    assert await credential_sweep(timestamp=0) == {"expired": 1, "warned": 0}
    notes = await session.scalars(
        select(Notification).where(Notification.kind == "credential.expired")
    )
    assert len(list(notes)) >= 2  # the physician and operations
