"""Each hard constraint excludes a physician who violates only it, and says so."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from app.clinics.models import Intake
from app.clinics.staffing import Charge, Staffing
from app.kit.clock import today, utcnow
from app.matching.models import Match, Offer
from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import ops_headers, user_headers
from tests.matching.helpers import make_physician

INTAKE = {
    "services": ["neurotoxins", "hormone_therapy"],
    "providers": [
        {"type": "np", "count": 1},
        {"type": "pa", "count": 2},
        {"type": "rn", "count": 2},
    ],
    "oversight_mode": "hybrid",
}


async def hold_capacity(
    session,
    physician,
    *,
    clinic_id,
    pa_count=0,
    supervisees=1,
    engagement_model="retainer",
    fractional_share=None,
):
    """An accepted (not yet confirmed) match elsewhere, which holds the physician's capacity."""
    other = Intake(
        id=uuid.uuid4(),
        clinic_id=clinic_id,
        status="matched",
        services=["neurotoxins"],
        providers=[],
        physician_performs_services=True,
        engagement_model=engagement_model,
        fractional_share=fractional_share,
        oversight_mode="remote",
        billing_interval="month",
        monthly_patient_volume=10,
        desired_start=today(),
        rush=False,
        compliance_flags=[],
    )
    session.add(other)
    await session.flush()
    session.add(
        Match(
            id=uuid.uuid4(),
            intake_id=other.id,
            physician_id=physician.id,
            group_key="TX",
            covers_states=["TX"],
            rank=1,
            score=50,
            status="accepted",
            explanation={},
            monthly_payout_cents=50000,
            **Charge(
                supervisees=supervisees,
                pa_count=pa_count,
                supervisees_fte=supervisees,
                pa_fte=pa_count,
            ).columns(),
            accepted_at=utcnow(),
            confirm_by=utcnow() + timedelta(hours=72),
            hold_slot=1,
        )
    )
    await session.commit()
    return other


async def test_each_constraint_excludes_exactly_its_violator(client, session, settings):
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    other_clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    base: dict[str, Any] = {"dea_states": ("TX",)}
    good = await make_physician(session, last_name="Good", **base)
    violators = {
        "verified": await make_physician(session, verification_status="pending", **base),
        "accepting_new": await make_physician(session, accepting_new=False, **base),
        "malpractice": await make_physician(session, malpractice_days=5, **base),
        "license:TX": await make_physician(session, license_days=7, **base),
        "services": await make_physician(
            session, services=["neurotoxins", "dermal_fillers"], **base
        ),
        "dea:TX": await make_physician(session, dea_states=()),
        "engagement_model": await make_physician(session, engagement_models=["fractional"], **base),
        "oversight_mode": await make_physician(session, oversight_modes=["remote"], **base),
        "travel:TX:0": await make_physician(session, home_zip="10001", **base),
        "capacity_clinics": await make_physician(session, max_clinics=1, **base),
        "capacity_supervisees": await make_physician(session, max_supervisees=4, **base),
        "pa_ratio": await make_physician(session, **base),
        "min_rate": await make_physician(session, min_monthly_rate_cents=10_000_000, **base),
        "capacity_full_time": await make_physician(session, **base),
        "not_declined": await make_physician(session, **base),
    }
    suspended = await make_physician(session, verification_status="suspended", **base)
    await hold_capacity(session, violators["capacity_clinics"], clinic_id=other_clinic["id"])
    await hold_capacity(
        session,
        violators["capacity_full_time"],
        clinic_id=other_clinic["id"],
        engagement_model="full_time",
    )
    await hold_capacity(
        session, violators["pa_ratio"], clinic_id=other_clinic["id"], pa_count=6, supervisees=6
    )
    # An earlier offer from this same clinic, declined.
    earlier = await hold_capacity(session, good, clinic_id=clinic["id"])
    from sqlalchemy import delete

    await session.execute(delete(Match).where(Match.intake_id == earlier.id))
    declined_match = Match(
        id=uuid.uuid4(),
        intake_id=earlier.id,
        physician_id=violators["not_declined"].id,
        group_key="TX",
        covers_states=["TX"],
        rank=1,
        score=1,
        status="declined",
        explanation={},
        monthly_payout_cents=1,
        **Charge().columns(),
    )
    session.add(declined_match)
    await session.flush()
    session.add(
        Offer(
            id=uuid.uuid4(),
            match_id=declined_match.id,
            intake_id=earlier.id,
            physician_id=violators["not_declined"].id,
            group_key="TX",
            status="declined",
            respond_by=utcnow(),
            monthly_payout_cents=1,
            created_at=utcnow(),
            decline_reason="Too far",
        )
    )
    await session.commit()

    intake = await create_intake(client, admin, clinic["id"], **INTAKE)
    submitted = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    assert submitted.json()["status"] == "matching"
    matches = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=admin)).json()[
        "items"
    ]
    ops = await ops_headers(client, session, settings)
    as_ops = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=ops)).json()
    assert [m["physician"]["id"] for m in as_ops["items"]] == [str(good.id)]
    assert matches[0]["physician"]["id"] != str(good.id)  # the clinic's card is opaque
    assert {c["name"] for c in matches[0]["explanation"]["constraints"]} >= set(violators)
    # Clinics never see credentials: no NPI, no license numbers, no name before confirmation.
    assert "npi" not in matches[0]["physician"]
    assert good.npi not in str(matches)
    assert good.last_name not in matches[0]["physician"]["display_name"]

    ops = await ops_headers(client, session, settings)
    for name, physician in {**violators, "verified ": suspended}.items():
        report = (
            await client.get(
                f"/v1/intakes/{intake['id']}/diagnostics",
                params={"physician_id": str(physician.id)},
                headers=ops,
            )
        ).json()
        failed = [c["name"] for c in report["physician"] if not c["passed"]]
        # In Texas the PA cap is the combined NP+PA cap: a physician full of PAs fails both.
        expected = ["pa_ratio", "combined_ratio"] if name == "pa_ratio" else [name.strip()]
        assert failed == expected, (name, failed)
    good_report = (
        await client.get(
            f"/v1/intakes/{intake['id']}/diagnostics",
            params={"physician_id": str(good.id)},
            headers=ops,
        )
    ).json()["physician"]
    assert all(c["passed"] for c in good_report)
    funnel = (await client.get(f"/v1/intakes/{intake['id']}/diagnostics", headers=ops)).json()[
        "funnel"
    ]
    assert funnel["funnel"][-1]["remaining"] == 1  # only the good physician survives every step
    assert sum(step["eliminated"] for step in funnel["funnel"]) == funnel["physicians"] - 1


def _context(state: str, *, pas: int, nps: int) -> Any:
    from app.catalog import rules
    from app.matching.constraints import LocationNeed, MatchContext

    record = next(r for r in rules.seed_rules()[1] if r["code"] == state)
    return MatchContext(
        intake_id=uuid.uuid4(),
        clinic_id=uuid.uuid4(),
        services=("neurotoxins",),
        dea_required=False,
        engagement_model="retainer",
        oversight_mode="remote",
        start=today(),
        locations=(LocationNeed(state, 30.0, -97.0, False),),
        staffing=Staffing.from_counts({"pa": pas, "np": nps}, [state]),
        caps={state: rules.supervisee_caps(record["rules"])},
        state_names={state: record["name"]},
    )


def test_the_combined_cap_is_a_named_constraint_with_its_citation():
    from app.matching.constraints import describe

    described = {
        c["name"]: c["description"] for c in describe(_context("TX", pas=1, nps=1), ["TX"])
    }
    assert "combined_ratio" in described
    assert "Texas's limit of 7 NPs and PAs together" in described["combined_ratio"]
    assert "157.0512" in described["combined_ratio"]


def test_an_unknown_pa_cap_is_the_products_default_even_where_nps_practise_freely():
    from app.catalog import rules
    from app.matching.constraints import describe

    state = next(
        r["code"]
        for r in rules.seed_rules()[1]
        if r["np_practice_authority"] == "full"
        and r["rules"]["pa_supervision_ratio"]["value"] is None
    )
    described = {
        c["name"]: c["description"] for c in describe(_context(state, pas=2, nps=0), [state])
    }
    assert "mdmatch's default limit of" in described["pa_ratio"]
    assert "np_ratio" not in described  # no NPs on staff
