"""The marketplace's shared vocabulary (API.md "Enumerations"), stored as text with checks."""

from __future__ import annotations

from enum import StrEnum


class EngagementModel(StrEnum):
    full_time = "full_time"
    fractional = "fractional"
    retainer = "retainer"
    per_case = "per_case"


class OversightMode(StrEnum):
    remote = "remote"
    onsite = "onsite"
    hybrid = "hybrid"


class BillingInterval(StrEnum):
    month = "month"
    year = "year"


class OwnershipModel(StrEnum):
    physician_owned = "physician_owned"
    mso = "mso"
    non_physician_owned = "non_physician_owned"


class ProviderType(StrEnum):
    rn = "rn"
    lpn = "lpn"
    np = "np"
    pa = "pa"
    esthetician = "esthetician"
    laser_technician = "laser_technician"
    medical_assistant = "medical_assistant"


class CredentialStatus(StrEnum):
    pending = "pending"
    verified = "verified"
    rejected = "rejected"
    expired = "expired"


class Degree(StrEnum):
    MD = "MD"
    DO = "DO"


class Specialty(StrEnum):
    dermatology = "dermatology"
    plastic_surgery = "plastic_surgery"
    facial_plastic_surgery = "facial_plastic_surgery"
    otolaryngology = "otolaryngology"
    ophthalmology = "ophthalmology"
    general_surgery = "general_surgery"
    vascular_surgery = "vascular_surgery"
    emergency_medicine = "emergency_medicine"
    internal_medicine = "internal_medicine"
    family_medicine = "family_medicine"
    obesity_medicine = "obesity_medicine"
    endocrinology = "endocrinology"
    obgyn = "obgyn"
    urology = "urology"
    anesthesiology = "anesthesiology"
