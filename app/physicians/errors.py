from app.errors import Conflict, NotFound


class PhysicianProfileExists(Conflict):
    slug, title = "physician-profile-exists", "Physician profile already exists"


class NpiAlreadyRegistered(Conflict):
    slug, title = "npi-taken", "NPI already registered"


class DuplicateCredential(Conflict):
    slug, title = "duplicate-credential", "Credential already on file"


class PhysicianNotFound(NotFound):
    pass


class PhysicianSuspended(Conflict):
    slug, title = "physician-suspended", "Physician is suspended"


class PhysicianNotSuspended(Conflict):
    slug, title = "physician-not-suspended", "Physician is not suspended"
