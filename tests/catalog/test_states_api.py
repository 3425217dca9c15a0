from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.catalog.models import StateRule
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
}


def editable(record: dict[str, Any]) -> dict[str, Any]:
    keep = API_FIELDS - {
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


async def test_one_state_case_insensitive_and_unknowns_are_null(client):
    ak = (await client.get("/v1/states/ak")).json()
    assert ak["code"] == "AK"
    assert ak["remote_supervision_allowed"] is None
    assert ak["effective_np_cap"] is None  # full practice authority
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
    body = editable((await client.get("/v1/states/AK")).json())
    pinned = await client.put(
        "/v1/states/AK",
        json=body | {"onsite_required_services": ["thread_lifts", "dermal_fillers"]},
        headers=headers,
    )
    assert pinned.json()["onsite_required_services"] == ["dermal_fillers", "thread_lifts"]
    derived = await client.put("/v1/states/AK", json=body, headers=headers)
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
