"""License-number formats per state, each with where it comes from and whether research
confirmed it. `validate_license_number` answers the problem with a number, or None when the
number fits. A format research confirmed (`verified`) refuses a number that does not fit it
when the physician enters the license (422); one taken from convention only is not enforced
(nothing is refused on a guess: the board check compares the number with the board's record),
and `format_note` says how the number compares with it."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class LicenseFormat:
    state: str
    pattern: re.Pattern[str]
    example: str
    describes: str
    verified: bool  # confirmed by the research below, else taken from the brief / convention
    source: str


FORMATS: dict[str, LicenseFormat] = {
    f.state: f
    for f in (
        LicenseFormat(
            "TX",
            re.compile(r"^[A-Z]\d{4,5}$"),
            "N1234",
            "a letter and four or five digits (Texas Medical Board physician license)",
            verified=False,
            source="brief; TMB pages found describe the search, not the number's shape",
        ),
        LicenseFormat(
            "FL",
            re.compile(r"^(ME|OS)\d{1,6}$"),
            "ME99999",
            "ME and digits (MD, Board of Medicine) or OS and digits (DO, Board of "
            "Osteopathic Medicine)",
            verified=False,  # ME confirmed, OS not
            source="ME: third-party guides to the MQA search ('ME99999 for a Medical Doctor'); "
            "OS: brief, unconfirmed",
        ),
        LicenseFormat(
            "CA",
            re.compile(r"^((A|C|G)\d{1,6}|20A\d{1,6})$"),
            "A123456",
            "A, C or G and digits (physician and surgeon), 20A and digits (osteopathic)",
            verified=False,  # A/C/G confirmed, 20A not
            source="A/C/G: a public client of the DCA API ('licRank: A, C or G'); "
            "20A: brief, unconfirmed",
        ),
        LicenseFormat(
            "NY",
            re.compile(r"^\d{6}$"),
            "123456",
            "six digits (leading zeros kept)",
            verified=True,
            source="public client of the NYSED API: numbers stored as bare six-digit strings "
            "('356564', '005491', '006160')",
        ),
        LicenseFormat(
            "AZ",
            re.compile(r"^\d{1,6}$"),
            "12345",
            "digits (Arizona Medical Board MD license)",
            verified=False,
            source="brief; not confirmed by research",
        ),
    )
}


def normalize(number: str) -> str:
    """Upper case, spaces and dashes dropped: `me-12345` and `ME 12345` read as `ME12345`."""
    return re.sub(r"[\s\-]", "", number).upper()


def validate_license_number(state: str, number: str) -> str | None:
    """The problem with `number` as a license of `state`, None when it fits or the state's
    format is not known."""
    if not number or not number.strip():
        return "license number is empty"
    fmt = FORMATS.get(state.upper())
    if fmt is None:
        return None
    if fmt.pattern.match(normalize(number)):
        return None
    return f"{state.upper()} license numbers are {fmt.describes}, like {fmt.example}"


def enforced_problem(state: str, number: str) -> str | None:
    """The problem with `number` where the state's format is confirmed (refused on entry);
    None where it fits or the format is unconfirmed or unknown."""
    fmt = FORMATS.get(state.upper())
    if fmt is None or not fmt.verified:
        return None
    return validate_license_number(state, number)
