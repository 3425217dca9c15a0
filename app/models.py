"""Imports every model module so `Base.metadata` is complete (Alembic autogenerate and
`alembic check` compare against it)."""

from app.audit import models as audit_models
from app.auth import models as auth_models
from app.billing import models as billing_models
from app.catalog import models as catalog_models
from app.clinics import models as clinic_models
from app.credentials import documents_models as credential_document_models
from app.credentials import models as credential_models
from app.db import Base
from app.directorships import models as engagement_models
from app.documents import models as document_models
from app.engagements import events as engagement_events
from app.kit import idempotency as idempotency_models
from app.matching import models as matching_models
from app.notifications import models as notification_models
from app.physicians import checks as physician_checks
from app.physicians import models as physician_models
from app.pricing import models as pricing_models
from app.webhooks import models as webhook_models

__all__ = [
    "Base",
    "audit_models",
    "auth_models",
    "billing_models",
    "catalog_models",
    "clinic_models",
    "credential_document_models",
    "credential_models",
    "document_models",
    "engagement_events",
    "engagement_models",
    "idempotency_models",
    "matching_models",
    "notification_models",
    "physician_checks",
    "physician_models",
    "pricing_models",
    "webhook_models",
]
