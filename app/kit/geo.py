"""US zip codes to coordinates (offline, `zipcodes` package) and great-circle distances."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import zipcodes

EARTH_RADIUS_MILES = 3958.8


@dataclass(frozen=True, slots=True)
class ZipInfo:
    zip_code: str
    state: str
    city: str
    lat: float
    lon: float
    # The IANA zone (America/Chicago); None where the list gives none.
    timezone: str | None = None


@cache
def _index() -> dict[str, ZipInfo]:
    # One pass over the bundled list (~43k entries); zipcodes.matching() rescans it every call.
    out = {}
    for z in zipcodes.list_all():  # type: ignore[no-untyped-call]
        try:
            out[z["zip_code"]] = ZipInfo(
                zip_code=z["zip_code"],
                state=z["state"],
                city=z["city"],
                lat=float(z["lat"]),
                lon=float(z["long"]),
                timezone=z.get("timezone") or None,
            )
        except (KeyError, TypeError, ValueError):
            continue
    return out


def lookup_zip(zip_code: str) -> ZipInfo | None:
    return _index().get(zip_code.strip()[:5])


def zip_in_state(zip_code: str, state: str) -> ZipInfo:
    """The zip's data if it lies in `state`; ValueError (a 422 in a schema) naming the problem."""
    info = lookup_zip(zip_code)
    if info is None:
        raise ValueError(f"zip {zip_code} is not a known US zip code")
    if info.state != state:
        raise ValueError(f"zip {zip_code} is in {info.state}, not {state}")
    return info


def distance_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(math.sqrt(a))
