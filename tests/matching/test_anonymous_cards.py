"""Before confirmation a clinic's candidate card fits at least five physicians of the pool, and
its id is the card's, not the physician's."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from app.matching import anonymity
from app.matching.anonymity import LEVELS, K, Traits, card_id, choose
from app.physicians.demo import seed_demo_supply
from app.physicians.models import Physician
from tests.factories import ops_headers, user_headers
from tests.matching.helpers import make_physician
from tests.matching.test_flow import submitted_intake


def _fits(p: Physician, card: dict[str, Any], states: list[str]) -> bool:
    traits = Traits.of(p.specialties, p.degree, p.years_experience, p.aesthetic_years)
    return (
        p.verification_status == "verified"
        and set(states) <= set(p.licensed_states)
        and (not card["specialties"] or card["specialties"] == [traits.specialty])
        and card["degree"] in (None, traits.degree)
        and card["experience_band"] in (None, traits.experience)
        and card["aesthetic_band"] in (None, traits.aesthetic)
    )


async def test_every_card_fits_at_least_five_physicians_of_the_pool(client, session, settings):
    await seed_demo_supply(session, settings, count=200)
    # A crowd of near-identical Texan dermatologists (who can hide among each other) and one
    # physician unlike anyone else (who cannot, except behind "Physician").
    for i in range(7):
        await make_physician(session, last_name=f"Crowd{i}", years_experience=12, aesthetic_years=6)
    await make_physician(
        session,
        last_name="Unique",
        specialties=("plastic_surgery",),
        years_experience=41,
        aesthetic_years=30,
    )
    await session.commit()
    admin = await user_headers(client, "clinic_admin")
    _, intake = await submitted_intake(client, admin)
    cards = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=admin)).json()["items"]
    assert len(cards) >= 2
    pool = list(await session.scalars(select(Physician)))
    real_ids = {str(p.id) for p in pool}
    shown_levels = set()
    for match in cards:
        card = match["physician"]
        assert card["anonymized"] is True
        assert card["id"] not in real_ids
        assert card["id"] == str(card_id(uuid.UUID(match["match_id"])))
        assert card["years_experience"] is None
        assert card["aesthetic_years"] is None
        assert card["states_licensed"] == match["covers_states"]
        fitting = [p for p in pool if _fits(p, card, match["covers_states"])]
        assert len(fitting) >= K, card
        shown_levels.add(
            sum(card[f] is not None for f in ("degree", "experience_band", "aesthetic_band"))
            + bool(card["specialties"])
        )
    # The crowd is shown in detail, the outlier only as "Physician".
    assert max(shown_levels) >= 3
    ops = await ops_headers(client, session, settings)
    as_ops = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=ops)).json()
    by_match = {m["match_id"]: m["physician"] for m in as_ops["items"]}
    unique = next(m for m in cards if by_match[m["match_id"]]["display_name"] == "Dr. Test Unique")
    assert unique["physician"]["display_name"] == "Physician"


def test_a_card_takes_the_most_specific_level_five_share():
    traits = Traits.of(["dermatology"], "MD", 12, 6)
    counts = {
        (i, traits.key(level)): n
        for i, (level, n) in enumerate(zip(LEVELS, (4, 5, 9, 20, 50), strict=True))
    }
    card = choose(traits, counts)
    assert (card.specialty, card.degree, card.experience, card.aesthetic) == (
        "dermatology",
        None,
        "10-19 years",
        "5-9 years",
    )
    assert card.pool_size == 5
    alone = choose(traits, {(4, ()): 3})
    assert (alone.display_name, alone.specialty, alone.experience) == ("Physician", None, None)


@pytest.mark.parametrize(
    ("years", "band"),
    [
        (0, "under 5 years"),
        (4, "under 5 years"),
        (5, "5-9 years"),
        (19, "10-19 years"),
        (20, "20 years or more"),
    ],
)
def test_experience_bands(years, band):
    assert anonymity.experience_band(years) == band
