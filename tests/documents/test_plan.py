"""The plan of an engagement's documents: which, who signs, and fingerprints that change when,
and only when, the facts a document prints change."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date

from app.documents.catalog import TEMPLATES, template
from app.documents.plan import DocumentSpec, collaboration_slot, plan_documents, plan_terminations
from tests.documents import facts_fixtures as ff


def _by_slot(specs: list[DocumentSpec]) -> dict[str, DocumentSpec]:
    return {s.slot: s for s in specs}


def test_every_template_has_a_file_and_a_version() -> None:
    for key, tpl in TEMPLATES.items():
        assert tpl.key == key
        assert tpl.version
        assert (ff.DATA.parents[2] / "app" / "documents" / "templates" / tpl.file).is_file()
    assert template("quality_plan").title == "Chart Review and Quality Plan"


def test_texas_two_nps() -> None:
    facts = ff.texas_two_nps()
    specs = plan_documents(facts)
    kinds = Counter(s.template_key for s in specs)
    assert kinds == {
        "medical_director_agreement": 1,
        "collaboration_agreement": 2,
        "good_faith_exam_policy": 1,
        "quality_plan": 1,
        "delegation_protocol": len(ff.TX_SERVICES),
        "standing_orders": 3,  # neurotoxins, fillers, hormones; not lasers or PRP
    }
    titles = sorted(s.title for s in specs if s.template_key == "collaboration_agreement")
    assert titles == [
        "Prescriptive Authority Agreement — Jane Doe, NP (Texas)",
        "Prescriptive Authority Agreement — John Roe, NP (Texas)",
    ]
    assert {s.service_code for s in specs if s.template_key == "standing_orders"} == {
        "neurotoxins",
        "dermal_fillers",
        "hormone_therapy",
    }
    assert all(s.required for s in specs)
    assert len({s.slot for s in specs}) == len(specs)
    assert plan_documents(facts) == specs  # deterministic


def test_signers() -> None:
    facts = ff.florida_new_york()
    specs = _by_slot(plan_documents(facts))
    grant, sattler, malcolm = facts.directors
    mda = specs["medical_director_agreement"]
    assert [s.role for s in mda.signers] == ["clinic", "director", "director", "director"]
    assert malcolm.physician_id in {s.physician_id for s in mda.signers}
    nina = next(p for p in facts.providers if p.first_name == "Nina")
    agreement = specs[collaboration_slot("NY", nina.id, sattler.physician_id)]
    assert [(s.role, s.physician_id or s.provider_id) for s in agreement.signers] == [
        ("director", sattler.physician_id),
        ("provider", nina.id),
    ]
    protocol = specs["delegation_protocol:neurotoxins"]
    assert [s.physician_id for s in protocol.signers if s.role == "director"] == [
        grant.physician_id,
        sattler.physician_id,
    ]
    assert protocol.signers[-1].role == "clinic"
    assert not any(s.template_key == "management_services_agreement" for s in specs.values())
    # One agreement per NP/PA per state, none for the RN.
    kinds = Counter(
        (s.state, s.provider_id)
        for s in specs.values()
        if s.template_key == "collaboration_agreement"
    )
    assert len(kinds) == 3
    assert all(n == 1 for n in kinds.values())


def test_mso_adds_a_management_services_agreement() -> None:
    facts = ff.mso_clinic()
    specs = _by_slot(plan_documents(facts))
    msa = specs["management_services_agreement"]
    assert [s.role for s in msa.signers] == ["director", "clinic"]
    assert msa.required
    assert "management_services_agreement" not in _by_slot(plan_documents(ff.texas_two_nps()))


def test_a_third_np_only_adds_their_agreement() -> None:
    facts = ff.texas_two_nps()
    before = _by_slot(plan_documents(facts))
    third = ff.provider("Ann", "Third", "np", ("neurotoxins",), facts.clinic.locations)
    after = _by_slot(plan_documents(ff.add_provider(facts, third)))
    assert set(after) - set(before) == {
        collaboration_slot("TX", third.id, facts.directors[0].physician_id)
    }
    changed = {slot for slot in before if before[slot].fingerprint != after[slot].fingerprint}
    assert changed == set()


def test_a_new_provider_type_changes_the_roster_documents_only() -> None:
    facts = ff.texas_two_nps()
    before = _by_slot(plan_documents(facts))
    pa = ff.provider("Pat", "Assist", "pa", ("neurotoxins",), facts.clinic.locations)
    after = _by_slot(plan_documents(ff.add_provider(facts, pa)))
    changed = {slot for slot in before if before[slot].fingerprint != after[slot].fingerprint}
    assert changed == {
        "good_faith_exam_policy",
        "quality_plan",
        *(f"delegation_protocol:{c}" for c in ff.TX_SERVICES),
        *(f"standing_orders:{c}" for c in ("neurotoxins", "dermal_fillers", "hormone_therapy")),
    }


def test_changing_one_provider_leaves_the_others_agreements() -> None:
    facts = ff.texas_two_nps()
    before = _by_slot(plan_documents(facts))
    jane, john, rita = facts.providers
    changed_facts = replace(facts, providers=(jane, replace(john, license_number="AP000001"), rita))
    after = _by_slot(plan_documents(changed_facts))
    director = facts.directors[0].physician_id
    jane_slot = collaboration_slot("TX", jane.id, director)
    john_slot = collaboration_slot("TX", john.id, director)
    assert after[jane_slot].fingerprint == before[jane_slot].fingerprint
    assert after[john_slot].fingerprint != before[john_slot].fingerprint
    assert {s for s in before if before[s].fingerprint != after[s].fingerprint} == {john_slot}


def test_rules_and_directors_change_the_documents_that_print_them() -> None:
    facts = ff.texas_two_nps()
    before = _by_slot(plan_documents(facts))
    tx = facts.states["TX"]
    cpom = replace(tx.rule("cpom"), value="moderate")
    changed = replace(facts, states={"TX": replace(tx, rules={**tx.rules, "cpom": cpom})})
    after = _by_slot(plan_documents(changed))
    assert {s for s in before if before[s].fingerprint != after[s].fingerprint} == {
        "medical_director_agreement"
    }
    backup = ff.director("Bea", "Backup", ("TX",), role="backup")
    with_backup = replace(facts, directors=(*facts.directors, backup))
    after = _by_slot(plan_documents(with_backup))
    changed_slots = {s for s in before if before[s].fingerprint != after[s].fingerprint}
    # The MDA (a signer) and the agreements (the alternate); not protocols or plans.
    assert changed_slots == {"medical_director_agreement"} | {
        s for s in before if s.startswith("collaboration_agreement:")
    }


def test_terminations() -> None:
    facts = ff.texas_two_nps()
    specs = plan_documents(facts)
    agreement = next(s for s in specs if s.template_key == "collaboration_agreement")
    protocol = next(s for s in specs if s.template_key == "delegation_protocol")
    notices = plan_terminations(facts, [agreement, protocol], effective_on=date(2026, 9, 1))
    assert len(notices) == 1
    notice = notices[0]
    assert notice.slot == f"termination_notice:{agreement.slot}"
    assert notice.terminates == agreement
    assert notice.terminates_on == date(2026, 9, 1)
    assert not notice.required
    assert [s.role for s in notice.signers] == ["director", "clinic"]
    assert notice.title.startswith("Notice of Termination — Prescriptive Authority Agreement")
    whole = plan_terminations(facts, specs, effective_on=date(2026, 9, 1))
    assert {n.terminates.template_key for n in whole if n.terminates} == {
        "medical_director_agreement",
        "collaboration_agreement",
    }
    later = plan_terminations(facts, [agreement], effective_on=date(2026, 9, 2))
    assert later[0].fingerprint != notice.fingerprint
