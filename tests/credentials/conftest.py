"""The documents tests' object store (moto's S3 server behind the presigned-URL check of
app/devtools/object_store.py) is started once per session by tests/conftest.py; its names are
re-exported here for the tests that import them from this package."""

from tests.conftest import TEST_BUCKET, TEST_MAX_BYTES, TEST_URL_SECONDS

__all__ = ["TEST_BUCKET", "TEST_MAX_BYTES", "TEST_URL_SECONDS"]
