"""A physician verified by operations is screened against the federal exclusion list: the
verification queues the credentials domain's screening job by name, in its own transaction,
and a listed physician is suspended and queued for review once it runs."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select, text

from app.credentials import jobs as credential_jobs
from app.credentials.exclusions import import_leie
from app.credentials.models import CredentialCheck, ReviewItem
from app.physicians.models import Physician

LEIE = Path(__file__).parents[1] / "credentials" / "fixtures" / "leie_sample.csv"
LISTED_NPI = "9876500015"  # listed in the sample with this NPI


async def _queued(session, physician_id: uuid.UUID) -> list[dict[str, str]]:
    rows = await session.execute(
        text(
            "SELECT args FROM procrastinate_jobs WHERE task_name = 'credentials.screen_physician'"
            " AND args->>'physician_id' = :p"
        ),
        {"p": str(physician_id)},
    )
    return [r[0] for r in rows]


async def test_verification_queues_the_screening_which_catches_a_listed_physician(
    client, session, settings, nppes, credentialing
):
    await import_leie(session, LEIE.read_bytes(), file_name="UPDATED.csv", settings=settings)
    _, physician_id, _ = await credentialing.physician(npi=LISTED_NPI)
    [args] = await _queued(session, physician_id)
    assert args["actor_id"]  # the operations user who verified them
    assert await credential_jobs.screen_physician_job(**args)
    physician = await session.scalar(
        select(Physician)
        .where(Physician.id == physician_id)
        .execution_options(populate_existing=True)
    )
    assert physician is not None
    assert physician.verification_status == "suspended"
    item = await session.scalar(
        select(ReviewItem).where(
            ReviewItem.physician_id == physician_id, ReviewItem.kind == "exclusion_match"
        )
    )
    assert item is not None
    assert (item.kind, item.status) == ("exclusion_match", "open")
    check = await session.scalar(
        select(CredentialCheck).where(
            CredentialCheck.physician_id == physician_id,
            CredentialCheck.credential_kind == "exclusion",
        )
    )
    assert check is not None
    assert (check.source, check.result) == ("oig_leie", "needs_review")


async def test_a_clean_verification_is_screened_and_passes(
    client, session, settings, nppes, credentialing
):
    await import_leie(session, LEIE.read_bytes(), file_name="UPDATED.csv", settings=settings)
    _, physician_id, _ = await credentialing.physician()
    [args] = await _queued(session, physician_id)
    await credential_jobs.screen_physician_job(**args)
    check = await session.scalar(
        select(CredentialCheck).where(
            CredentialCheck.physician_id == physician_id,
            CredentialCheck.credential_kind == "exclusion",
        )
    )
    assert check is not None
    assert check.result == "passed"
    physician = await session.get(Physician, physician_id, populate_existing=True)
    assert physician is not None
    assert physician.verification_status == "verified"
