"""The day an event happened, for a state's filing deadline: the local calendar day where the
clinic practises in that state, not the UTC day. An agreement signed at 19:30 in Austin on
31 January was signed on 31 January (01:30 UTC on 1 February); its 30 days end on 2 March.
Where the clinic's locations in the state span time zones (El Paso and Austin), the earliest
local day counts: the deadline is never later than the law's."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clinics.models import Location
from app.kit.geo import lookup_zip


def zone_of(zip_code: str) -> str | None:
    info = lookup_zip(zip_code)
    return info.timezone if info is not None else None


def local_day(at: datetime, zones: set[str]) -> date:
    """The earliest calendar day `at` falls on in `zones` (the UTC day without any)."""
    if not zones:
        return at.astimezone(UTC).date()
    return min(at.astimezone(ZoneInfo(zone)).date() for zone in zones)


async def trigger_day(
    session: AsyncSession, clinic_id: uuid.UUID, state: str | None, at: datetime
) -> date:
    """The local day of `at` at the clinic's locations in `state` (all its locations when it
    has none there, or no state is given)."""
    rows = list(
        await session.execute(
            select(Location.state, Location.zip).where(Location.clinic_id == clinic_id)
        )
    )
    in_state = [zip_code for code, zip_code in rows if code == state]
    zips = in_state or [zip_code for _, zip_code in rows]
    zones = {zone for zip_code in zips if (zone := zone_of(zip_code)) is not None}
    return local_day(at, zones)
