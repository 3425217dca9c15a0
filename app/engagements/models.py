"""The engagement records moved to `app.directorships.models`; their names stay here."""

from app.directorships.models import (
    LIVE_ENGAGEMENT_STATUSES,
    OPEN_BACKUP_SEARCH,
    OPEN_DEPARTURE,
    BackupSearch,
    BackupSearchStatus,
    DepartureReason,
    DepartureStatus,
    DirectorDeparture,
    DirectorRole,
    Engagement,
    EngagementDirector,
    EngagementStatus,
    PaymentStatus,
)

__all__ = [
    "LIVE_ENGAGEMENT_STATUSES",
    "OPEN_BACKUP_SEARCH",
    "OPEN_DEPARTURE",
    "BackupSearch",
    "BackupSearchStatus",
    "DepartureReason",
    "DepartureStatus",
    "DirectorDeparture",
    "DirectorRole",
    "Engagement",
    "EngagementDirector",
    "EngagementStatus",
    "PaymentStatus",
]
