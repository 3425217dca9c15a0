"""The clinic's view of a director says, per credential the engagement relies on, what was
checked: against which source, by which method, the result, when, and when it is due again;
a credential nothing checked says so (no check)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from app.credentials import provenance
from app.credentials.models import CheckMethod, CheckResult, CheckSource, CredentialKind
from app.kit.clock import today
from app.physicians.models import License
from tests.billing.helpers import confirmed_engagement
from tests.matching.helpers import make_physician


async def test_the_clinic_sees_each_directors_credentials_with_their_newest_check(
    client, session, settings
):
    doc = await make_physician(session, states=("TX", "OK"))
    engaged = await confirmed_engagement(client, session, settings, physician=doc)
    licenses = {
        row.state: row
        for row in await session.scalars(select(License).where(License.physician_id == doc.id))
    }
    await provenance.record_check(
        session,
        physician_id=doc.id,
        kind=CredentialKind.npi,
        source=CheckSource.nppes,
        method=CheckMethod.primary_source,
        result=CheckResult.passed,
    )
    await provenance.record_check(
        session,
        physician_id=doc.id,
        kind=CredentialKind.license,
        credential_id=licenses["TX"].id,
        source=CheckSource.physician,
        method=CheckMethod.self_attested,
        result=CheckResult.needs_review,
    )
    await provenance.record_check(
        session,
        physician_id=doc.id,
        kind=CredentialKind.license,
        credential_id=licenses["TX"].id,
        source=CheckSource.state_board,
        source_detail="Texas Medical Board",
        method=CheckMethod.primary_source,
        result=CheckResult.passed,
        recheck_due=today() + timedelta(days=90),
    )
    await session.commit()

    view = await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)
    assert view.status_code == 200, view.text
    [director] = view.json()["directors"]
    assert director["states"] == ["TX"]
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for credential in director["credentials"]:
        by_kind.setdefault(str(credential["kind"]), []).append(credential)
    [npi] = by_kind["npi"]
    assert npi["check"]["source"] == "nppes"
    assert npi["check"]["method"] == "primary_source"
    # Never screened: said as it is, not as a pass.
    [exclusion] = by_kind["exclusion"]
    assert exclusion["check"] is None
    # Only the license of the state this engagement relies on, with its newest check.
    [license_] = by_kind["license"]
    assert (license_["state"], license_["credential_id"]) == ("TX", str(licenses["TX"].id))
    check = license_["check"]
    assert (check["source"], check["source_detail"], check["result"]) == (
        "state_board",
        "Texas Medical Board",
        "passed",
    )
    assert date.fromisoformat(check["recheck_due"]) == today() + timedelta(days=90)
    [malpractice] = by_kind["malpractice"]
    assert malpractice["check"] is None
    assert malpractice["status"] == "verified"
    # The director reads the same.
    mine = await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.doctor)
    assert mine.json()["directors"][0]["credentials"] == director["credentials"]
    assert uuid.UUID(director["physician_id"]) == doc.id
