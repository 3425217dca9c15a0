"""The database keeps each physician's licensed states and credential expiries in step with the
credential tables, whatever statement changes them (API, sweep, bulk SQL)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, update

from app.kit.clock import today
from app.physicians.models import License, MalpracticePolicy, Physician
from tests.matching.helpers import make_physician


async def reload(session, physician: Physician) -> Physician:
    await session.refresh(physician)
    return physician


async def test_license_changes_keep_states_and_expiries_exact(session):
    doc = await make_physician(session, states=("TX",), license_days=100)
    await reload(session, doc)
    assert doc.licensed_states == ["TX"]
    assert doc.license_expiry == {"TX": (today() + timedelta(days=100)).isoformat()}

    later = today() + timedelta(days=500)
    ca = License(
        id=uuid.uuid4(),
        physician_id=doc.id,
        state="CA",
        number="CA-1",
        expires_on=later,
        status="pending",
    )
    renewal = License(
        id=uuid.uuid4(),
        physician_id=doc.id,
        state="TX",
        number="TX-RENEW",
        expires_on=later,
        status="verified",
    )
    session.add_all([ca, renewal])
    await session.flush()
    await reload(session, doc)
    assert doc.licensed_states == ["TX"]  # a pending license does not count
    assert doc.license_expiry == {"TX": later.isoformat()}  # the latest verified expiry

    await session.execute(update(License).where(License.id == ca.id).values(status="verified"))
    await reload(session, doc)
    assert doc.licensed_states == ["CA", "TX"]

    await session.execute(
        update(License)
        .where(License.state == "TX", License.physician_id == doc.id)
        .values(status="expired")
    )
    await reload(session, doc)
    assert doc.licensed_states == ["CA"]
    assert set(doc.license_expiry) == {"CA"}

    await session.execute(delete(License).where(License.id == ca.id))
    await reload(session, doc)
    assert doc.licensed_states == []
    assert doc.license_expiry == {}


async def test_malpractice_changes_keep_the_expiry_exact(session):
    doc = await make_physician(session, malpractice_days=30)
    await reload(session, doc)
    assert doc.malpractice_expires_on == today() + timedelta(days=30)
    renewal = MalpracticePolicy(
        id=uuid.uuid4(),
        physician_id=doc.id,
        carrier="Coverys",
        policy_number="C-2",
        per_claim_cents=100,
        aggregate_cents=300,
        currency="usd",
        expires_on=today() + timedelta(days=400),
        status="verified",
    )
    session.add(renewal)
    await session.flush()
    await reload(session, doc)
    assert doc.malpractice_expires_on == today() + timedelta(days=400)
    await session.execute(
        update(MalpracticePolicy)
        .where(MalpracticePolicy.id == renewal.id)
        .values(expires_on=today() + timedelta(days=90))
    )
    await reload(session, doc)
    assert doc.malpractice_expires_on == today() + timedelta(days=90)
    await session.execute(delete(MalpracticePolicy).where(MalpracticePolicy.physician_id == doc.id))
    await reload(session, doc)
    assert doc.malpractice_expires_on is None
