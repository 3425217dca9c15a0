from __future__ import annotations

import uuid

import httpx
import structlog

from app.config import Settings
from app.credentials.exclusions import download_leie, import_leie, screen_physician
from app.jobs.queue import queue
from app.jobs.runtime import get_runtime

log = structlog.get_logger(__name__)


async def run_leie_import(
    settings: Settings, sessionmaker: object, *, transport: httpx.AsyncBaseTransport | None = None
) -> dict[str, object]:
    """Fetch LEIE_URL and import it (nothing when LEIE_URL is unset)."""
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    assert isinstance(sessionmaker, async_sessionmaker)
    if not settings.leie_url:
        log.info("leie_import_skipped", reason="LEIE_URL is not set")
        return {"skipped": True}
    data = await download_leie(settings.leie_url, settings, transport=transport)
    session: AsyncSession
    async with sessionmaker() as session:
        result = await import_leie(session, data, file_name=settings.leie_url, settings=settings)
        await session.commit()
    return {
        "import_id": str(result.import_id),
        "rows": result.row_count,
        "matches": result.matches_found,
        "unchanged": result.unchanged,
    }


@queue.periodic(cron="40 5 20 * *", periodic_id="import-leie")
@queue.task(name="credentials.import_leie", queueing_lock="import-leie")
async def import_leie_job(timestamp: int) -> dict[str, object]:
    """Monthly (the 20th, 05:40 UTC): import the HHS-OIG LEIE from LEIE_URL and screen every
    physician against it. The same file as last time changes nothing."""
    runtime = get_runtime()
    return await run_leie_import(runtime.settings, runtime.sessionmaker)


@queue.task(name="credentials.screen_physician")
async def screen_physician_job(physician_id: str, actor_id: str | None = None) -> str:
    """Screen one physician (at onboarding: profile created or verified). With `actor_id` (the
    operations user who verified them) a match suspends them at once."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        screening = await screen_physician(
            session,
            uuid.UUID(physician_id),
            actor_id=uuid.UUID(actor_id) if actor_id else None,
            settings=runtime.settings,
        )
        await session.commit()
    return screening.result.value


@queue.task(name="credentials.check_credentials")
async def check_credentials_job(
    physician_id: str, actor_id: str | None = None
) -> dict[str, object]:
    """Check a verified physician's pending credentials at their sources (licenses at their
    boards; the rest asks for documents): queued when the identity is verified and when a
    verified physician adds a credential."""
    from app.credentials.checking import check_credentials

    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        summary = await check_credentials(
            session,
            uuid.UUID(physician_id),
            settings=runtime.settings,
            actor_id=uuid.UUID(actor_id) if actor_id else None,
        )
        await session.commit()
    return summary.as_dict()


@queue.periodic(cron="20 6 * * *", periodic_id="credentials-recheck-due")
@queue.task(name="credentials.recheck_due", queueing_lock="credentials-recheck-due")
async def recheck_due_job(timestamp: int) -> dict[str, object]:
    """Daily (06:20 UTC): re-run the credential checks that are due (exclusion screening,
    licenses at their boards, a new document asked for), at most 500 of each kind per run."""
    from app.credentials.rechecks import run_rechecks
    from app.kit.clock import today

    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        result = await run_rechecks(session, settings=runtime.settings, on=today())
        await session.commit()
    return result.as_dict()


@queue.periodic(cron="50 4 * * *", periodic_id="credentials-sweep-orphans")
@queue.task(name="credentials.sweep_orphan_documents", queueing_lock="credentials-sweep-orphans")
async def sweep_orphan_documents_job(timestamp: int) -> dict[str, object]:
    """Daily (04:50 UTC): delete stored document objects no document row names, written more
    than an hour ago (an upload whose process died between the object's put and the commit)."""
    from app.credentials.documents import ORPHAN_GRACE, sweep_orphans
    from app.credentials.storage import ObjectStore
    from app.kit.clock import utcnow

    runtime = get_runtime()
    store = ObjectStore.from_settings(runtime.settings)
    async with runtime.sessionmaker() as session:
        swept = await sweep_orphans(session, store, older_than=utcnow() - ORPHAN_GRACE)
    return {"objects": swept.objects, "deleted": len(swept.deleted)}
