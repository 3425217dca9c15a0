"""Recording and reading what was checked about a physician's credentials (the record itself
lives with the credentials: `app.physicians.checks`)."""

from app.physicians.checks import checks_of, latest_by_credential, record_check

__all__ = ["checks_of", "latest_by_credential", "record_check"]
