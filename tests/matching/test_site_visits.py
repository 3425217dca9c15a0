"""A state's site-visit rule is a named matching constraint: the director must be able to visit,
even when oversight is remote."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.matching.models import Match
from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import user_headers
from tests.matching.helpers import make_physician


async def test_tennessee_site_visits_need_a_director_within_reach(client, session):
    """Tenn. Comp. R. & Regs. 0880-06-.02: the supervising physician visits the NP's remote
    site at least every 30 days."""
    near = await make_physician(session, states=("TN",), home_zip="37203", last_name="Near")
    await make_physician(session, states=("TN",), home_zip="78701", last_name="Far")
    admin = await user_headers(client, "clinic_admin")

    async def matches(providers: list[dict[str, object]]) -> list[Match]:
        clinic = await create_clinic(client, admin, ("TN",), ownership_model="mso")
        intake = await create_intake(
            client,
            admin,
            clinic["id"],
            services=["glp1_weight_loss"],
            oversight_mode="remote",
            providers=providers,
        )
        await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
        rows = await session.scalars(
            select(Match).where(Match.intake_id == uuid.UUID(intake["id"]))
        )
        return list(rows)

    [with_np] = await matches([{"type": "np", "count": 1}])
    assert with_np.physician_id == near.id
    [visit] = [c for c in with_np.explanation["constraints"] if c["name"] == "site_visit:TN:0"]
    assert "0880-06-.02" in visit["description"]
    assert "every 30 days" in visit["description"]
    # The rule covers NPs: with RNs only, a director anywhere in their licensed states will do.
    with_rn = await matches([{"type": "rn", "count": 1}])
    assert len(with_rn) == 2
    assert not any(
        c["name"].startswith("site_visit") for c in with_rn[0].explanation["constraints"]
    )
