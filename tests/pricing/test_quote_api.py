from __future__ import annotations

import json

from sqlalchemy import select

from app.pricing.models import Quote
from app.pricing.price_book import default_price_book
from app.pricing.service import reprice
from tests.clinics.helpers import create_clinic, create_intake, intake_body
from tests.factories import ops_headers, user_headers


def instant_body(**overrides):
    body = intake_body()
    body.pop("desired_start")
    body["locations"] = [{"state": "TX", "zip": "78701"}]
    body.update(overrides)
    return body


async def test_acceptance_instant_quote_explains_every_cent(client):
    first = await client.post("/v1/quotes", json=instant_body())
    second = await client.post("/v1/quotes", json=instant_body())
    assert first.status_code == 200
    assert first.json() == second.json()
    q = first.json()
    assert q["currency"] == "usd"
    assert q["billing_interval"] == "month"
    assert q["pricing_version"] == default_price_book().version
    assert sum(li["amount_cents"] for li in q["line_items"]) == q["monthly_total_cents"] == 99385
    assert [li["code"] for li in q["line_items"]] == [
        "base:retainer",
        "oversight_tier:2",
        "service:neurotoxins",
    ]
    assert all(li["description"] for li in q["line_items"])
    assert q["physician_payout_cents"] + q["platform_fee_cents"] == q["monthly_total_cents"]
    assert "id" not in q or q["id"] is None
    assert [f["code"] for f in q["compliance_flags"]] == [
        "cpom_ownership_unknown",
        "gfe_by_director",
    ]


async def test_instant_quote_with_ownership_gets_cpom_flag(client):
    q = (
        await client.post(
            "/v1/quotes",
            json=instant_body(locations=[{"state": "CA"}], ownership_model="non_physician_owned"),
        )
    ).json()
    assert any(
        f["code"] == "cpom_requires_mso" and f["severity"] == "blocking"
        for f in q["compliance_flags"]
    )


async def test_instant_quote_validation(client):
    cases = {
        "zip": instant_body(locations=[{"state": "TX", "zip": "90210"}]),
        "locations": instant_body(locations=[]),
        "promo_code": instant_body(promo_code="FREEMONEY"),
        "services": instant_body(services=["unicorn_facials"]),
    }
    for field, body in cases.items():
        response = await client.post("/v1/quotes", json=body)
        assert response.status_code == 422, field
        errors = response.json()["errors"]
        assert any(field in e["loc"] or field in e["msg"] for e in errors), (field, errors)


async def test_instant_quotes_are_rate_limited(client, app):
    app.state.settings.rate_limit_quotes = "3/minute"
    try:
        statuses = [
            (await client.post("/v1/quotes", json=instant_body())).status_code for _ in range(4)
        ]
    finally:
        app.state.settings.rate_limit_quotes = "60/minute"
    assert statuses == [200, 200, 200, 429]


async def test_submit_persists_a_quote_that_reproduces_exactly(client, session, settings):
    headers = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, headers, ("TX", "CA"))
    intake = await create_intake(
        client,
        headers,
        clinic["id"],
        promo_code="first200",
        rush=True,
        providers=[{"type": "np", "count": 1}, {"type": "rn", "count": 2}],
    )
    assert (
        await client.get(f"/v1/intakes/{intake['id']}/quote", headers=headers)
    ).status_code == 404
    await client.post(f"/v1/intakes/{intake['id']}/submit", headers=headers)
    quote = (await client.get(f"/v1/intakes/{intake['id']}/quote", headers=headers)).json()
    assert quote["intake_id"] == intake["id"]
    assert quote["oversight_tier"] == 3  # CA
    codes = [li["code"] for li in quote["line_items"]]
    assert "rush_placement" in codes
    assert "promo:FIRST200" in codes
    assert quote["first_invoice_cents"] == quote["monthly_total_cents"] + 35000 - 20000

    # Ops raise prices and tighten Texas; the persisted quote still reproduces to the cent.
    ops = await ops_headers(client, session, settings)
    book = default_price_book().model_dump(mode="json")
    book["version"] = "2027.01.1"
    book["base_cents"]["retainer"] = 99900
    assert (await client.post("/v1/price-books", json=book, headers=ops)).status_code == 201
    row = await session.scalar(select(Quote).where(Quote.intake_id == intake["id"]))
    assert row is not None
    again = await reprice(session, row)
    assert again.monthly_total_cents == quote["monthly_total_cents"]
    assert [li.__dict__ for li in again.line_items] == quote["line_items"]
    assert again.first_invoice_cents == quote["first_invoice_cents"]
    # New quotes use the new book.
    fresh = (await client.post("/v1/quotes", json=instant_body())).json()
    assert fresh["pricing_version"] == "2027.01.1"
    assert fresh["line_items"][0]["amount_cents"] == 99900


async def test_price_book_publishing(client, session, settings, tmp_path):
    ops = await ops_headers(client, session, settings)
    book = default_price_book().model_dump(mode="json")
    dup = await client.post("/v1/price-books", json=book, headers=ops)
    assert dup.status_code == 409
    broken = dict(book, version="bad-tiers", tier_multiplier_bp={"1": 10000, "2": 9000, "3": 13000})
    assert (await client.post("/v1/price-books", json=broken, headers=ops)).status_code == 422
    clinic_admin = await user_headers(client, "clinic_admin")
    assert (
        await client.post("/v1/price-books", json=dict(book, version="x1"), headers=clinic_admin)
    ).status_code == 403
    current = (await client.get("/v1/price-books/current")).json()
    assert current["version"] == book["version"]
    listed = (await client.get("/v1/price-books", headers=ops)).json()["items"]
    assert [b["version"] for b in listed] == [book["version"]]
    (tmp_path / "book.json").write_text(json.dumps(book))


async def test_instant_quotes_cache_reference_data_and_edits_clear_it(
    client, session, settings, app
):
    from sqlalchemy import update

    from app.catalog.cache import reference_cache
    from app.catalog.models import StateRule
    from tests.catalog.test_states_api import editable

    app.state.settings.reference_cache_seconds = 60
    reference_cache.clear()
    try:
        first = (await client.post("/v1/quotes", json=instant_body())).json()
        assert first["oversight_tier"] == 2
        # Behind the cache's back (no edit through the API): instant quotes keep the cached rules.
        await session.execute(
            update(StateRule)
            .where(StateRule.code == "TX")
            .values(remote_supervision_allowed=False, chart_review_min_percent=10)
        )
        await session.commit()
        cached = (await client.post("/v1/quotes", json=instant_body())).json()
        assert cached["oversight_tier"] == first["oversight_tier"]
        # An edit through the API clears the cache at once.
        headers = await ops_headers(client, session, settings)
        body = editable((await client.get("/v1/states/TX")).json())
        assert (await client.put("/v1/states/TX", json=body, headers=headers)).status_code == 200
        fresh = (await client.post("/v1/quotes", json=instant_body())).json()
        assert fresh["oversight_tier"] == 3
        assert fresh["monthly_total_cents"] > first["monthly_total_cents"]
    finally:
        app.state.settings.reference_cache_seconds = 0
        reference_cache.clear()


async def test_instant_quote_without_ownership_says_ownership_decides_in_strict_states(client):
    unknown = (await client.post("/v1/quotes", json=instant_body())).json()
    [flag] = [f for f in unknown["compliance_flags"] if f["code"] == "cpom_ownership_unknown"]
    assert (flag["state"], flag["severity"]) == ("TX", "warning")
    assert "ownership structure decides whether it can operate" in flag["message"]
    owned = await client.post("/v1/quotes", json=instant_body(ownership_model="physician_owned"))
    assert owned.status_code == 200
    assert "cpom_ownership_unknown" not in {f["code"] for f in owned.json()["compliance_flags"]}
    blocked = await client.post(
        "/v1/quotes", json=instant_body(ownership_model="non_physician_owned")
    )
    assert ("cpom_requires_mso", "blocking") in {
        (f["code"], f["severity"]) for f in blocked.json()["compliance_flags"]
    }
