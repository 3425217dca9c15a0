"""The SQL preselection keeps exactly the candidates the pure ranking keeps."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

from app.catalog.services import service_catalog
from app.clinics.staffing import Staffing
from app.kit.clock import today
from app.matching import constraints as mc
from app.matching.service import ranked_candidates
from tests.matching.helpers import make_physician

SPECIALTIES = [
    "dermatology",
    "plastic_surgery",
    "family_medicine",
    "internal_medicine",
    "emergency_medicine",
    "obesity_medicine",
]


async def test_preselection_matches_the_pure_ranking(session, settings, monkeypatch):
    # No safety margin: the SQL order itself must agree with the pure ranking.
    monkeypatch.setattr("app.matching.preselect.MARGIN", 0)
    rng = random.Random(42)
    for i in range(45):
        await make_physician(
            session,
            last_name=f"Doc{i}",
            specialties=rng.sample(SPECIALTIES, rng.randint(1, 2)),
            aesthetic_years=rng.randint(0, 20),
            years_experience=25,
            max_clinics=rng.randint(1, 10),
            min_monthly_rate_cents=rng.choice([30_000, 45_000, 60_000, 70_000]),
            travel_radius_miles=rng.choice([50, 150, 300]),
            home_zip=rng.choice(["78701", "77002", "75201", "78205"]),
            offers_received=10,
            offers_accepted=rng.randint(0, 4),
            offers_declined=rng.randint(0, 3),
            offers_expired=rng.randint(0, 3),
        )
    catalog = service_catalog()
    services = ("neurotoxins", "glp1_weight_loss", "laser_resurfacing")
    assert all(s in catalog for s in services)
    for mode_onsite in (False, True):
        ctx = mc.MatchContext(
            intake_id=uuid.uuid4(),
            clinic_id=uuid.uuid4(),
            services=services,
            dea_required=False,
            engagement_model="retainer",
            oversight_mode="hybrid",
            start=today() + timedelta(days=7),
            locations=(mc.LocationNeed("TX", 30.27, -97.74, mode_onsite),),
            staffing=Staffing.from_counts({"rn": 1}, ["TX"]),
        )
        everyone = await ranked_candidates(
            session, ctx, ["TX"], payout_cents=70_000, settings=settings
        )
        assert len(everyone) >= 30
        for k in (1, 5, 12):
            top = await ranked_candidates(
                session, ctx, ["TX"], payout_cents=70_000, settings=settings, limit=k
            )
            assert [c.row.id for c in top] == [c.row.id for c in everyone[:k]]
            assert [c.ranked.score for c in top] == [c.ranked.score for c in everyone[:k]]
