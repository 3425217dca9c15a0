"""A stand-in for the NPPES NPI Registry API (v2.1): the tests' fake registry and, in local mode,
the registry `mdmatch serve` starts when NPPES_BASE_URL is unset (no network needed).

Answers are shaped like the real registry's (`GET /api/?version=2.1&number=<NPI>`):
`result_count` and `results[]` with `number`, `enumeration_type`,
`basic{first_name, last_name, credential, status, ...}` and
`taxonomies[{code, desc, primary, state, license}]`; an unknown number gives
`{"result_count": 0, "results": []}`. `fail_with` makes the next answers fail (a timeout, a
connection error or an HTTP status) to exercise retries and the 503 path.

The local registry cannot see the database, so it answers, in this order: a name registered with
`mdmatch nppes add` (kept in var/nppes-standin.json), a physician of the demo roster, and for any
other NPI with a valid check digit a made-up physician whose name is derived from the NPI.
Verification compares last names, so a physician someone registers through the API verifies once
their name is registered with the stand-in.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import structlog

from app.config import Environment, Settings
from app.physicians.npi import NppesClient, is_valid_npi

log = structlog.get_logger(__name__)

Taxonomy = tuple[str, str]

DERMATOLOGY = ("207N00000X", "Dermatology")
FAMILY_MEDICINE = ("207Q00000X", "Family Medicine")
NURSE_PRACTITIONER = ("363LF0000X", "Nurse Practitioner, Family")
PHYSICIAN_ASSISTANT = ("363A00000X", "Physician Assistant")

# NUCC codes for the demo roster's specialties (all in the physicians' "20" group).
SPECIALTY_TAXONOMIES: dict[str, Taxonomy] = {
    "dermatology": DERMATOLOGY,
    "plastic_surgery": ("208200000X", "Plastic Surgery"),
    "facial_plastic_surgery": ("207YS0123X", "Otolaryngology, Facial Plastic Surgery"),
    "emergency_medicine": ("207P00000X", "Emergency Medicine"),
    "internal_medicine": ("207R00000X", "Internal Medicine"),
    "family_medicine": FAMILY_MEDICINE,
    "obesity_medicine": ("207QB0002X", "Family Medicine, Obesity Medicine"),
    "endocrinology": ("207RE0101X", "Internal Medicine, Endocrinology, Diabetes & Metabolism"),
}

DERIVED_FIRST_NAMES = ("Alex", "Jordan", "Morgan", "Riley", "Casey", "Avery", "Quinn", "Rowan")
DERIVED_LAST_NAMES = (
    "Ashford",
    "Bellamy",
    "Calloway",
    "Delacroix",
    "Ellison",
    "Fairbanks",
    "Galloway",
    "Holloway",
    "Iverson",
    "Kensington",
    "Lockhart",
    "Merriweather",
)


def registry_record(
    npi: str,
    first_name: str,
    last_name: str,
    *,
    taxonomy: Taxonomy = DERMATOLOGY,
    enumeration_type: str = "NPI-1",
    status: str = "A",
    credential: str = "M.D.",
) -> dict[str, Any]:
    return {
        "created_epoch": "1273622400000",
        "enumeration_type": enumeration_type,
        "last_updated_epoch": "1614556800000",
        "number": npi,
        "addresses": [
            {
                "country_code": "US",
                "country_name": "United States",
                "address_purpose": "LOCATION",
                "address_type": "DOM",
                "address_1": "1200 MAIN ST",
                "city": "AUSTIN",
                "state": "TX",
                "postal_code": "787011234",
                "telephone_number": "512-555-0100",
            }
        ],
        "practiceLocations": [],
        "basic": {
            "first_name": first_name.upper(),
            "last_name": last_name.upper(),
            "credential": credential,
            "sole_proprietor": "NO",
            "gender": "F",
            "enumeration_date": "2010-05-12",
            "last_updated": "2021-03-01",
            "status": status,
            "name_prefix": "Dr.",
        },
        "taxonomies": [
            {
                "code": taxonomy[0],
                "taxonomy_group": "",
                "desc": taxonomy[1],
                "state": "TX",
                "license": "Q1234",
                "primary": True,
            }
        ],
        "identifiers": [],
        "endpoints": [],
        "other_names": [],
    }


@dataclass
class NppesStandIn:
    """The registry: `records` first, then `fallback` (the local registry's lookup rules)."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    fallback: Callable[[str], dict[str, Any] | None] | None = None
    fail_with: list[str | int] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    # Tests read `requests`; a long-running local server keeps none.
    keep_requests: bool = True

    def add(self, npi: str, first_name: str, last_name: str, **kwargs: Any) -> None:
        self.records[npi] = registry_record(npi, first_name, last_name, **kwargs)

    def find(self, npi: str) -> dict[str, Any] | None:
        record = self.records.get(npi)
        if record is None and self.fallback is not None:
            record = self.fallback(npi)
        return record

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.keep_requests:
            self.requests.append(request)
        if self.fail_with:
            failure = self.fail_with.pop(0)
            if failure == "timeout":
                raise httpx.ReadTimeout("timed out", request=request)
            if failure == "connect":
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(int(failure), text="<html>Service Unavailable</html>")
        if request.url.path != "/api/" or request.url.params.get("version") != "2.1":
            return httpx.Response(404, text="not found")
        record = self.find(request.url.params.get("number", ""))
        if record is None:
            return httpx.Response(200, json={"result_count": 0, "results": []})
        return httpx.Response(200, json={"result_count": 1, "results": [record]})

    def client(self, base_url: str = "https://npiregistry.test") -> NppesClient:
        """An app client wired to this registry through httpx's MockTransport (no sockets)."""
        return NppesClient(
            base_url,
            timeout=1.0,
            attempts=3,
            backoff=0.0,
            transport=httpx.MockTransport(self.handler),
        )


@contextlib.contextmanager
def serve_over_http(stand_in: NppesStandIn) -> Iterator[str]:
    """Serve `stand_in` on a free loopback port (a thread of this process); yields its base URL,
    for NPPES_BASE_URL of a server that cannot be handed an httpx transport."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            request = httpx.Request("GET", f"http://127.0.0.1{self.path}")
            try:
                answer = stand_in.handler(request)
            except httpx.TransportError:
                self.close_connection = True  # a failure the stand-in was told to simulate
                return
            body = answer.content
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("content-type", "text/plain"))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: NPIs are in the query strings

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="nppes-standin", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def derived_name(npi: str) -> tuple[str, str]:
    """The made-up physician the local registry answers for an NPI nobody registered."""
    number = int(npi)
    return (
        DERIVED_FIRST_NAMES[number % len(DERIVED_FIRST_NAMES)],
        DERIVED_LAST_NAMES[(number // len(DERIVED_FIRST_NAMES)) % len(DERIVED_LAST_NAMES)],
    )


def read_registrations(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a JSON object of NPI registrations: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a JSON object of NPI registrations")
    return data


def register_provider(path: Path, npi: str, first_name: str, last_name: str) -> None:
    """Have the local registry answer `npi` with this individual physician (atomic write, so a
    lookup never reads half a file)."""
    if not is_valid_npi(npi):
        raise ValueError(f"{npi} is not a valid NPI (10 digits with a correct check digit)")
    if not first_name.strip() or not last_name.strip():
        raise ValueError("both names are needed")
    registrations = read_registrations(path)
    registrations[npi] = {"first_name": first_name.strip(), "last_name": last_name.strip()}
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    scratch.write_text(json.dumps(registrations, indent=2, sort_keys=True) + "\n")
    scratch.replace(path)


@dataclass
class LocalRegistry:
    """The lookup rules of the local stand-in (see the module docstring)."""

    registrations: Path

    @cached_property
    def demo(self) -> dict[str, dict[str, Any]]:
        from app.physicians.demo import demo_roster

        return {
            p.npi: registry_record(
                p.npi,
                p.first_name,
                p.last_name,
                taxonomy=SPECIALTY_TAXONOMIES.get(p.specialties[0], FAMILY_MEDICINE),
                credential="D.O." if p.degree == "DO" else "M.D.",
            )
            for p in demo_roster()
        }

    def record(self, npi: str) -> dict[str, Any] | None:
        if not is_valid_npi(npi):
            source, record = "nothing (the NPI fails its check digit)", None
        elif (entry := self._registered(npi)) is not None:
            source = "the name registered with `mdmatch nppes add`"
            record = registry_record(npi, entry["first_name"], entry["last_name"])
        elif npi in self.demo:
            source, record = "a physician of the demo roster", self.demo[npi]
        else:
            source = (
                "a made-up physician (name derived from the NPI; verification will report a "
                "last-name mismatch unless the profile uses it: register the physician's name "
                "with `mdmatch nppes add NPI --first-name ... --last-name ...`)"
            )
            record = registry_record(npi, *derived_name(npi))
        # The NPI stays out of the log (personal data); the answer's kind is what matters here.
        log.warning(
            "nppes_standin_lookup",
            note="answered by the local NPPES stand-in, NOT the real NPI registry",
            answered_with=source,
        )
        return record

    def _registered(self, npi: str) -> dict[str, str] | None:
        try:
            entry = read_registrations(self.registrations).get(npi)
        except ValueError as exc:
            log.warning("nppes_standin_registrations_unreadable", error=str(exc))
            return None
        if isinstance(entry, dict) and entry.get("first_name") and entry.get("last_name"):
            return entry
        return None


@contextlib.contextmanager
def nppes_standin(settings: Settings, registrations: Path) -> Iterator[str]:
    """Start the local registry on loopback; yields its base URL (for NPPES_BASE_URL)."""
    if settings.environment is not Environment.local:
        raise RuntimeError(
            "The NPPES stand-in answers made-up records and runs in local mode only; set "
            "NPPES_BASE_URL to the real registry (https://npiregistry.cms.hhs.gov)."
        )
    stand_in = NppesStandIn(fallback=LocalRegistry(registrations).record, keep_requests=False)
    with serve_over_http(stand_in) as url:
        log.warning(
            "nppes_standin_started",
            base_url=url,
            note="physician verification uses a local NPPES stand-in with made-up records, "
            "NOT the real NPI registry; set NPPES_BASE_URL to use the real one",
            registrations=str(registrations),
        )
        yield url
