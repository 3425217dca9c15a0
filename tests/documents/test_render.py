"""Rendered PDFs say what the facts and the rules say: the Texas PAA's elements, the parties'
names and license numbers, the notices, the sources; merge fields are data, never markup."""

from __future__ import annotations

import io
import uuid
from dataclasses import replace
from datetime import date

import pypdf
import pytest

from app.documents.catalog import NOT_REVIEWED_NOTICE, CounselReview
from app.documents.facts import EngagementFacts, RuleFact
from app.documents.plan import DocumentSpec, plan_documents, plan_terminations
from app.documents.render import context_for, render
from tests.documents import facts_fixtures as ff

GENERATED_ON = date(2026, 6, 2)
DOCUMENT_ID = uuid.UUID("00000000-0000-4000-8000-000000000021")


def _pdf(spec: DocumentSpec, facts: EngagementFacts, review: CounselReview | None = None) -> bytes:
    return render(
        spec, facts, document_id=DOCUMENT_ID, generated_on=GENERATED_ON, counsel_review=review
    )


def _text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join(page.extract_text() or "" for page in reader.pages).split())


def _spec(facts: EngagementFacts, slot_prefix: str) -> DocumentSpec:
    return next(s for s in plan_documents(facts) if s.slot.startswith(slot_prefix))


TEXAS_ELEMENTS = (
    "Names, addresses and license numbers of the parties",
    "Nature of practice and practice locations",
    "Types or categories of drugs and devices that may be prescribed",
    "General plan for consultation and referral",
    "Plan for patient emergencies",
    "General process for communication and sharing of information about patient care",
    "Designation of alternate physicians",
    "Prescriptive authority quality assurance and improvement plan",
    "Signature, date and annual review",
)


def test_texas_prescriptive_authority_agreement() -> None:
    facts = ff.texas_two_nps()
    jane = facts.providers[0]
    spec = next(
        s
        for s in plan_documents(facts)
        if s.template_key == "collaboration_agreement" and s.provider_id == jane.id
    )
    pdf = _pdf(spec, facts)
    assert pdf.startswith(b"%PDF")
    text = _text(pdf)
    assert "Prescriptive Authority Agreement — Jane Doe, NP (Texas)" in text
    for heading in TEXAS_ELEMENTS:
        assert heading in text, heading
    assert NOT_REVIEWED_NOTICE in text
    assert "Maria Lopez, MD" in text
    assert "TX-LOPEZ-1" in text
    assert "AP123456" in text
    assert "collaboration_agreement version 2026.1" in text
    assert str(facts.engagement_id) in text
    assert str(DOCUMENT_ID) in text
    assert "Page 1 of" in text
    # Drugs: the controlled-substance line only because Jane prescribes hormones.
    assert "Controlled substances, only under the delegate's own DEA registration" in text
    assert "Hormone therapy (including testosterone)" in text
    # Chart review: no Texas minimum, our default labelled as ours.
    assert "The state sets no fixed chart-review minimum" in text
    assert "our default, not the state's" in text
    assert "to be designated before use" in text
    # Sources: the template's and each state rule used, with citations.
    assert "Legal sources" in text
    assert "Tex. Occ. Code §157.0512(e)" in text
    assert "22 Tex. Admin. Code §193.10(b),(d) (former)" in text
    url = "https://www.law.cornell.edu/regulations/texas/22-Tex-Admin-Code-SS-222-5"
    assert url in text.replace(" ", "")  # a long URL wraps
    assert "Signed electronically; see the signature page." in text


def test_no_controlled_substance_line_without_a_controlled_service() -> None:
    facts = ff.texas_two_nps()
    john = facts.providers[1]
    spec = next(s for s in plan_documents(facts) if s.provider_id == john.id)
    text = _text(_pdf(spec, facts))
    assert "Controlled substances may not be prescribed under this agreement." in text
    assert "DEA registration" not in text


def test_counsel_review_line() -> None:
    facts = ff.texas_two_nps()
    review = CounselReview(reviewed_on=date(2026, 5, 15), reviewer="Avery Counsel, Esq.")
    text = _text(_pdf(_spec(facts, "quality_plan"), facts, review))
    assert "Template reviewed by counsel on 2026-05-15 (Avery Counsel, Esq.)" in text
    assert "Not legal advice." in text
    assert "Not reviewed by counsel" not in text


@pytest.mark.parametrize("name", ['#panic("x")', "*] #set text(size: 0pt) $x$ @ref <l> \\"])
def test_merge_fields_are_data_not_markup(name: str) -> None:
    facts = ff.texas_two_nps()
    facts = replace(facts, clinic=replace(facts.clinic, legal_name=name))
    text = _text(_pdf(_spec(facts, "medical_director_agreement"), facts))
    assert " ".join(name.split()) in text


def test_unknown_rules_print_as_unknown_with_our_default() -> None:
    facts = ff.texas_two_nps()
    tx = facts.states["TX"]
    unknown = {
        **tx.rules,
        "gfe_modality": RuleFact(name="gfe_modality", value=None),
        "rn_injects_neurotoxins_fillers": RuleFact(
            name="rn_injects_neurotoxins_fillers", value=None
        ),
        "chart_review": RuleFact(name="chart_review", value=None),
    }
    facts = replace(facts, states={"TX": replace(tx, rules=unknown)})
    protocol = _text(_pdf(_spec(facts, "delegation_protocol:neurotoxins"), facts))
    assert "not established; mdmatch's conservative default: only NP/PA/physician perform it" in (
        protocol
    )
    assert "unknown; mdmatch's conservative default: in person" in protocol
    assert "none: unknown rule" in protocol  # listed under Legal sources as unknown
    plan = _text(_pdf(_spec(facts, "quality_plan"), facts))
    assert "State chart-review minimum: unknown (not established)." in plan
    assert "10% of the charts" in plan
    assert "our default, not the state's" in plan


def test_protocols_print_the_state_rules() -> None:
    facts = ff.texas_two_nps()
    text = _text(_pdf(_spec(facts, "delegation_protocol:dermal_fillers"), facts))
    assert "Registered nurse (RN) Yes, under this protocol" in text
    assert "22 Tex. Admin. Code §§169.2, 169.27" in text  # rn_injects_neurotoxins_fillers
    assert "Hyaluronidase is on site whenever fillers are injected" in text
    assert "Good-faith examination" in text


def test_new_york_rns_need_patient_specific_orders() -> None:
    facts = ff.florida_new_york()
    text = _text(_pdf(_spec(facts, "standing_orders:neurotoxins"), facts))
    assert "New York: patient-specific orders" in text
    assert "registered nurses act only on a patient-specific order" in text
    assert "Florida: patient-specific" not in text


def test_florida_and_new_york_agreements() -> None:
    facts = ff.florida_new_york()
    specs = {s.title: s for s in plan_documents(facts)}
    fl = _text(_pdf(specs["Collaborative Practice Agreement — Fiona Flores, NP (Florida)"], facts))
    assert "Protocol kept on site" in fl
    assert "Fla. Stat. §464.012(3)" in fl
    assert "mdmatch's default, not a state requirement" in fl  # e.g. emergencies
    assert "Ian Malcolm, DO" in fl  # the standing backup is the alternate
    ny = _text(
        _pdf(specs["Collaboration and Delegation Agreement — Nina York, NP (New York)"], facts)
    )
    assert (
        "does not require a collaboration agreement for a nurse practitioner's own practice" in ny
    )
    assert "N.Y. Educ. Law §6902(3)" in ny
    assert "Resolution of disagreements" in ny


def test_lay_owned_clinic_in_a_strict_state_needs_counsel() -> None:
    facts = ff.lay_owned_strict_cpom()
    text = _text(_pdf(_spec(facts, "medical_director_agreement"), facts))
    assert "Counsel review required" in text
    assert "California's corporate practice of medicine rule" in text
    assert "Cal. Bus. & Prof. Code §§2400, 2052, 2417.5" in text
    physician_owned = ff.texas_two_nps()
    ok = _text(_pdf(_spec(physician_owned, "medical_director_agreement"), physician_owned))
    assert "Counsel review required" not in ok


def test_mso_documents() -> None:
    facts = ff.mso_clinic()
    mda = _text(_pdf(_spec(facts, "medical_director_agreement"), facts))
    assert "The Management Company (MSO): Lone Star Aesthetics PLLC" in mda
    msa = _text(_pdf(_spec(facts, "management_services_agreement"), facts))
    assert "non-clinical management services only" in msa
    assert "22 Tex. Admin. Code §177.17" in msa


def test_termination_notice() -> None:
    facts = ff.texas_two_nps()
    agreement = next(
        s for s in plan_documents(facts) if s.template_key == "collaboration_agreement"
    )
    [notice] = plan_terminations(facts, [agreement], effective_on=date(2026, 9, 1))
    text = _text(_pdf(notice, facts))
    assert agreement.title in text
    assert "September 1, 2026" in text
    assert "Written notice of termination of a prescriptive authority agreement" in text
    assert "within 30 days" in text


def test_context_is_json_and_rendering_is_deterministic() -> None:
    facts = ff.texas_two_nps()
    spec = _spec(facts, "good_faith_exam_policy")
    context = context_for(
        spec, facts, document_id=DOCUMENT_ID, generated_on=GENERATED_ON, counsel_review=None
    )
    assert context["notice"] == NOT_REVIEWED_NOTICE
    assert {r["state"] for r in context["rules"]} == {"Texas"}
    assert _pdf(spec, facts) == _pdf(spec, facts)
