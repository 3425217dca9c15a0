"""The service catalog, a versioned data file shipped with the code (data/services.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class ServiceDef:
    code: str
    name: str
    category: str
    injectable: bool
    energy_device: bool
    prescription: bool
    controlled_substance: bool
    risk_tier: int
    # A hands-on procedure a physician delegates (injections, devices, peels); prescribing
    # programmes are not, so state rules on off-site supervision do not bind them.
    delegated_procedure: bool
    # Services that boards commonly expect a physician on site for, whatever the state's rule.
    commonly_onsite: bool
    fit_specialties: tuple[str, ...]
    # Why the service has its risk tier and flags (reviewed with the catalog's version).
    rationale: str


@cache
def _load() -> tuple[str, dict[str, ServiceDef]]:
    raw = json.loads(resources.files("app.catalog").joinpath("data/services.json").read_text())
    catalog = {
        s["code"]: ServiceDef(**{**s, "fit_specialties": tuple(s["fit_specialties"])})
        for s in raw["services"]
    }
    return raw["version"], catalog


def catalog_version() -> str:
    return _load()[0]


def service_catalog() -> dict[str, ServiceDef]:
    return _load()[1]


def service_codes() -> frozenset[str]:
    return frozenset(service_catalog())
