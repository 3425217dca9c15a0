from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.catalog import rules
from app.catalog.dataset import FIELDS
from app.catalog.models import StateRule
from app.catalog.rules import dataset
from app.catalog.service import load_state_rules
from app.kit.clock import today
from tests.factories import ops_headers, user_headers

API_FIELDS = {
    "code",
    "name",
    "np_practice_authority",
    "cpom",
    "pa_supervision_ratio",
    "np_collaboration_ratio",
    "remote_supervision_allowed",
    "gfe_required_by",
    "rn_may_inject_neurotoxins_under_delegation",
    "esthetician_may_use_lasers",
    "chart_review_min_percent",
    "onsite_required_services",
    "notable_rules",
    "sources",
    "confidence",
    "caveats",
    "reviewed_on",
    "oversight_tier",
    "rules",
    "defaults_applied",
    "data_version",
    "disclaimer",
}


def editable(record: dict[str, Any]) -> dict[str, Any]:
    keep = API_FIELDS - {
        "rules",
        "defaults_applied",
        "data_version",
        "disclaimer",
        "code",
        "name",
        "oversight_tier",
        "reviewed_on",
        "onsite_required_services",
    }
    return {k: v for k, v in record.items() if k in keep}


async def test_states_list_has_51_with_contract_fields(client):
    response = await client.get("/v1/states")
    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    assert len(body["items"]) == 51
    for item in body["items"]:
        assert set(item) >= API_FIELDS
        assert 1 <= item["oversight_tier"] <= 3
    tx = next(i for i in body["items"] if i["code"] == "TX")
    assert tx["pa_supervision_ratio"] == 7
    assert tx["name"] == "Texas"


def unknown_remote_state() -> str:
    """A jurisdiction whose NPs have full practice authority and whose remote-supervision and
    on-site rules the research has not established (taken from the data, so that research
    filling a gap never breaks a test)."""
    return next(
        s.code
        for s in dataset().states
        if s.value("supervision_injectables") is None
        and s.value("physician_onsite_when_delegates_treat") is None
        and s.value("np_practice_authority") == "full"
    )


async def test_one_state_case_insensitive_and_unknowns_are_null(client):
    code = unknown_remote_state()
    one = (await client.get(f"/v1/states/{code.lower()}")).json()
    assert one["code"] == code
    assert one["remote_supervision_allowed"] is None
    assert one["effective_np_cap"] is None  # full practice authority
    assert (await client.get("/v1/states/ZZ")).status_code == 404
    assert (await client.get("/v1/states/T1")).status_code == 422


async def test_services_catalog(client):
    body = (await client.get("/v1/services")).json()
    codes = {s["code"] for s in body["items"]}
    assert len(codes) >= 19
    assert {"neurotoxins", "glp1_weight_loss", "prescription_skincare"} <= codes
    hormones = next(s for s in body["items"] if s["code"] == "hormone_therapy")
    assert hormones["controlled_substance"] is True
    assert set(hormones) >= {
        "code",
        "name",
        "category",
        "injectable",
        "energy_device",
        "prescription",
        "controlled_substance",
        "risk_tier",
    }


async def test_ops_put_replaces_recomputes_and_audits(client, session, settings):
    headers = await ops_headers(client, session, settings)
    tx = (await client.get("/v1/states/TX")).json()
    body = editable(tx)
    body.update(
        remote_supervision_allowed=False, pa_supervision_ratio=5, chart_review_min_percent=10
    )

    response = await client.put("/v1/states/TX", json=body, headers=headers)
    assert response.status_code == 200
    updated = response.json()
    assert updated["remote_supervision_allowed"] is False
    assert updated["pa_supervision_ratio"] == 5
    assert updated["oversight_tier"] == 3  # 4 points before, +1 remote, +1 chart review
    assert "neurotoxins" in updated["onsite_required_services"]  # remote now forbidden
    assert updated["reviewed_on"] == today().isoformat()
    assert (await client.get("/v1/states/TX")).json()["pa_supervision_ratio"] == 5

    audit = (
        await client.get(
            "/v1/audit", params={"object_type": "state_rule", "object_id": "TX"}, headers=headers
        )
    ).json()["items"]
    [entry] = audit
    assert entry["action"] == "state_rule.updated"
    assert entry["before"]["pa_supervision_ratio"] == 7
    assert entry["after"]["pa_supervision_ratio"] == 5
    assert entry["before"]["remote_supervision_allowed"] is True
    assert entry["after"]["oversight_tier"] == 3
    assert "caveats" not in entry["after"]  # only what changed


async def test_reseeding_never_overwrites_an_ops_edit(client, session, settings):
    headers = await ops_headers(client, session, settings)
    body = editable((await client.get("/v1/states/TX")).json()) | {"pa_supervision_ratio": 5}
    assert (await client.put("/v1/states/TX", json=body, headers=headers)).status_code == 200
    await load_state_rules(session)
    row = await session.scalar(select(StateRule).where(StateRule.code == "TX"))
    await session.refresh(row)
    assert row is not None
    assert row.pa_supervision_ratio == 5


async def test_pinned_onsite_services_and_back_to_derived(client, session, settings):
    headers = await ops_headers(client, session, settings)
    code = unknown_remote_state()
    body = editable((await client.get(f"/v1/states/{code}")).json())
    pinned = await client.put(
        f"/v1/states/{code}",
        json=body | {"onsite_required_services": ["thread_lifts", "dermal_fillers"]},
        headers=headers,
    )
    assert pinned.json()["onsite_required_services"] == ["dermal_fillers", "thread_lifts"]
    derived = await client.put(f"/v1/states/{code}", json=body, headers=headers)
    assert "neurotoxins" in derived.json()["onsite_required_services"]


async def test_put_requires_ops(client):
    body = editable((await client.get("/v1/states/TX")).json())
    assert (await client.put("/v1/states/TX", json=body)).status_code == 401
    for role in ("physician", "clinic_admin"):
        response = await client.put(
            "/v1/states/TX", json=body, headers=await user_headers(client, role)
        )
        assert response.status_code == 403
    assert (await client.get("/v1/states/TX")).json()["pa_supervision_ratio"] == 7


async def test_put_validation_names_the_field(client, session, settings):
    headers = await ops_headers(client, session, settings)
    good = editable((await client.get("/v1/states/TX")).json())
    cases = {
        "cpom": good | {"cpom": "lenient"},
        "pa_supervision_ratio": good | {"pa_supervision_ratio": 0},
        "onsite_required_services": good | {"onsite_required_services": ["botox_parties"]},
        "sources": good | {"sources": ["not a url"]},
        "gfe_required_by": good | {"gfe_required_by": []},
        "code": good | {"code": "XX"},
    }
    missing = dict(good)
    missing.pop("confidence")
    cases["confidence"] = missing
    for field, payload in cases.items():
        response = await client.put("/v1/states/TX", json=payload, headers=headers)
        assert response.status_code == 422, field
        assert any(field in e["loc"] for e in response.json()["errors"]), (field, response.json())
    assert (await client.put("/v1/states/ZZ", json=good, headers=headers)).status_code == 404


# --- cited rules ---------------------------------------------------------------------------------

CITED = {
    "value": {"max": 3, "counts": "fte", "exceptions": "none in this test"},
    "citation": "Test Admin. Code §9.9(a)",
    "url": "https://example.org/9.9",
    "confidence": "high",
    "note": "Read in the rule text.",
}


async def test_every_rule_comes_with_its_source(client):
    tx = (await client.get("/v1/states/TX")).json()
    assert tx["disclaimer"].lower().count("legal advice") == 1
    assert set(tx["rules"]) == set(FIELDS)
    for name, fact in tx["rules"].items():
        assert {"value", "citation", "url", "confidence", "checked_on"} <= set(fact), name
        assert fact["edited_by_operations"] is False
        if fact["value"] is not None:
            assert fact["citation"], name
            assert fact["confidence"] in ("high", "medium", "low"), name
    assert tx["rules"]["combined_supervisee_cap"]["value"]["max"] == 7
    # The flat fields are projections of the cited facts.
    record = next(s for s in rules.dataset().states if s.code == "TX")
    flat = rules.project({k: f.model_dump(mode="json") for k, f in record.rules.items()})
    for name in rules.FLAT_TO_CITED:
        assert tx[name] == flat[name], name
    assert tx["defaults_applied"] == flat["defaults_applied"]


async def test_an_unknown_rule_shows_the_conservative_default_by_name(client):
    for item in (await client.get("/v1/states")).json()["items"]:
        for name in item["defaults_applied"]:
            assert item[name] == rules.CONSERVATIVE_DEFAULTS[name]
            cited = rules.FLAT_TO_CITED[name][0]
            assert item["rules"][cited]["value"] is None  # the state's rule is unknown


async def test_ops_replace_one_rule_with_its_source(client, session, settings):
    headers = await ops_headers(client, session, settings)
    response = await client.put(
        "/v1/states/TX/rules/pa_supervision_ratio", json=CITED, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    fact = body["rules"]["pa_supervision_ratio"]
    assert fact["value"] == CITED["value"]
    assert fact["checked_on"] == today().isoformat()
    assert fact["edited_by_operations"] is True
    assert body["pa_supervision_ratio"] == 3  # the flat field follows
    assert body["reviewed_on"] == today().isoformat()
    assert (await client.get("/v1/states/TX")).json()["rules"]["pa_supervision_ratio"] == fact

    [entry] = (
        await client.get(
            "/v1/audit", params={"object_type": "state_rule", "object_id": "TX"}, headers=headers
        )
    ).json()["items"]
    assert entry["action"] == "state_rule.fact_updated"
    assert entry["after"]["rules"]["pa_supervision_ratio"]["citation"] == CITED["citation"]
    assert entry["before"]["rules"]["pa_supervision_ratio"]["value"] != CITED["value"]
    assert entry["after"]["pa_supervision_ratio"] == 3


async def test_an_unknown_rule_says_what_was_searched(client, session, settings):
    headers = await ops_headers(client, session, settings)
    ok = await client.put(
        "/v1/states/TX/rules/iv_therapy",
        json={"value": None, "note": "Searched the board's rules; nothing on IV hydration."},
        headers=headers,
    )
    assert ok.status_code == 200
    assert ok.json()["rules"]["iv_therapy"]["value"] is None


@pytest.mark.parametrize(
    ("field", "body", "where"),
    [
        ("pa_supervision_ratio", {**CITED, "citation": None}, "citation"),
        ("pa_supervision_ratio", {**CITED, "url": None}, "URL"),
        ("pa_supervision_ratio", {**CITED, "value": 4}, "value"),
        ("cpom", {**CITED, "value": "lenient"}, "value"),
        ("iv_therapy", {"value": None}, "searched"),
        ("pa_supervision_ratio", {**CITED, "url": "ftp://example.org"}, "URL"),
        ("pa_supervision_ratio", {**CITED, "surprise": 1}, "surprise"),
        ("botox_parties", CITED, "field"),
    ],
)
async def test_a_rule_edit_is_checked_as_the_data_file_is(
    client, session, settings, field, body, where
):
    headers = await ops_headers(client, session, settings)
    before = (await client.get("/v1/states/TX")).json()
    response = await client.put(f"/v1/states/TX/rules/{field}", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert where.lower() in response.text.lower()
    assert (await client.get("/v1/states/TX")).json() == before  # nothing written


async def test_a_rule_edit_needs_ops_and_a_known_state(client, session, settings):
    path = "/v1/states/TX/rules/pa_supervision_ratio"
    assert (await client.put(path, json=CITED)).status_code == 401
    for role in ("physician", "clinic_admin"):
        response = await client.put(path, json=CITED, headers=await user_headers(client, role))
        assert response.status_code == 403
    ops = await ops_headers(client, session, settings)
    missing = await client.put("/v1/states/ZZ/rules/pa_supervision_ratio", json=CITED, headers=ops)
    assert missing.status_code == 404


async def test_the_flat_form_records_what_it_changed_as_operations_facts(client, session, settings):
    headers = await ops_headers(client, session, settings)
    tx = (await client.get("/v1/states/TX")).json()
    body = editable(tx) | {
        "pa_supervision_ratio": 5,
        "sources": ["https://example.org/memo"],
        "confidence": "medium",
    }
    updated = (await client.put("/v1/states/TX", json=body, headers=headers)).json()
    fact = updated["rules"]["pa_supervision_ratio"]
    assert fact["value"]["max"] == 5
    assert fact["url"] == "https://example.org/memo"
    assert fact["confidence"] == "medium"
    assert fact["edited_by_operations"] is True
    # What the form left unchanged keeps the data file's citation.
    assert updated["rules"]["cpom"] == tx["rules"]["cpom"]


async def test_a_zero_chart_review_minimum_means_none(client, session, settings):
    """Found by fuzzing: 0% became a chart-review rule of 0%, which the dataset refuses (422)."""
    headers = await ops_headers(client, session, settings)
    body = editable((await client.get("/v1/states/AL")).json()) | {"chart_review_min_percent": 0}
    response = await client.put("/v1/states/AL", json=body, headers=headers)
    assert response.status_code == 200, response.text
    fact = response.json()["rules"]["chart_review"]
    assert fact["value"] == "none"
    assert fact["edited_by_operations"] is True
    assert response.json()["chart_review_min_percent"] is None
