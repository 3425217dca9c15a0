"""License-number formats live with the license record (app/physicians/license_formats.py),
which validates a number when it is entered; the boards read the same table."""

from app.physicians.license_formats import (
    FORMATS,
    LicenseFormat,
    normalize,
    validate_license_number,
)

__all__ = ["FORMATS", "LicenseFormat", "normalize", "validate_license_number"]
