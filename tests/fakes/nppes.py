"""A stand-in for the NPPES NPI Registry API (v2.1), served through httpx.MockTransport.

Answers are shaped like the real registry's: `result_count` and `results[]` with `number`,
`enumeration_type`, `basic{first_name, last_name, credential, status, ...}` and
`taxonomies[{code, desc, primary, state, license}]`; an unknown number gives
`{"result_count": 0, "results": []}`. `fail_with` makes the next answers fail (a timeout, a
connection error or an HTTP status) to exercise retries and the 503 path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from app.physicians.npi import NppesClient

DERMATOLOGY = ("207N00000X", "Dermatology")
FAMILY_MEDICINE = ("207Q00000X", "Family Medicine")
NURSE_PRACTITIONER = ("363LF0000X", "Nurse Practitioner, Family")
PHYSICIAN_ASSISTANT = ("363A00000X", "Physician Assistant")


def registry_record(
    npi: str,
    first_name: str,
    last_name: str,
    *,
    taxonomy: tuple[str, str] = DERMATOLOGY,
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
class FakeNppes:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_with: list[str | int] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)

    def add(self, npi: str, first_name: str, last_name: str, **kwargs: Any) -> None:
        self.records[npi] = registry_record(npi, first_name, last_name, **kwargs)

    def handler(self, request: httpx.Request) -> httpx.Response:
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
        number = request.url.params.get("number", "")
        record = self.records.get(number)
        if record is None:
            return httpx.Response(200, json={"result_count": 0, "results": []})
        return httpx.Response(200, json={"result_count": 1, "results": [record]})

    def client(self, base_url: str = "https://npiregistry.test") -> NppesClient:
        return NppesClient(
            base_url,
            timeout=1.0,
            attempts=3,
            backoff=0.0,
            transport=httpx.MockTransport(self.handler),
        )
