from __future__ import annotations

from sqlalchemy import func, select

from app.catalog.rules import seed_rules
from app.kit.clock import today
from app.physicians.checks import CredentialCheck
from app.physicians.demo import seed_demo_supply
from app.physicians.eligibility import matchable_physicians
from app.physicians.models import License, Physician
from app.physicians.npi import is_valid_npi


async def test_demo_supply_covers_every_state_and_is_idempotent(session, settings):
    added = await seed_demo_supply(session, settings, count=60)
    assert added == 60
    assert await seed_demo_supply(session, settings, count=60) == 0
    physicians = list(await session.scalars(select(Physician)))
    assert len(physicians) == 60
    assert all(is_valid_npi(p.npi) for p in physicians)
    assert {p.verification_status for p in physicians} == {"verified"}
    states = set(await session.scalars(select(License.state).distinct()))
    assert states == {r["code"] for r in seed_rules()[1]}
    tx = await session.scalar(
        select(func.count()).select_from(matchable_physicians(states=["TX"], on=today()).subquery())
    )
    assert tx >= 1


async def test_demo_credentials_say_nothing_was_checked(session, settings):
    await seed_demo_supply(session, settings, count=3)
    licenses = list(await session.scalars(select(License)))
    checks = list(await session.scalars(select(CredentialCheck)))
    by_credential = {c.credential_id: c for c in checks}
    # Every demo credential has exactly one check, and none of them reads as passed.
    assert {lic.id for lic in licenses} <= set(by_credential)
    assert len(by_credential) == len(checks)
    assert {(c.source, c.method, c.result) for c in checks} == {
        ("physician", "self_attested", "needs_review")
    }
    assert all("nothing was checked" in (c.detail or "") for c in checks)
    assert {c.credential_kind for c in checks} >= {"license", "malpractice", "board_certification"}
