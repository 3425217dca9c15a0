"""S3-compatible object storage for credential documents (AWS S3, or in local mode and tests,
moto's S3 server as a process of its own).

boto3 is synchronous: every call runs in a worker thread (`asyncio.to_thread`), so a slow store
never blocks the event loop. The API process writes objects and signs download URLs; the bytes
of a download go from the store to the browser, never through the API.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from app.config import Settings

# SSE-S3: the store encrypts each object at rest with keys it manages.
SERVER_SIDE_ENCRYPTION = "AES256"


class StorageError(RuntimeError):
    """The object store refused or could not be reached."""


@dataclass
class ObjectStore:
    """One bucket. The boto3 client is built on first use (building it reads no network)."""

    bucket: str
    region: str
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    _client: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStore:
        secret = settings.s3_secret_access_key
        return cls(
            bucket=settings.s3_bucket,
            region=settings.s3_region,
            endpoint_url=settings.s3_endpoint_url,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
        )

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=self.endpoint_url,
                    region_name=self.region,
                    aws_access_key_id=self.access_key_id,
                    aws_secret_access_key=self.secret_access_key,
                    config=Config(
                        signature_version="s3v4",
                        s3={"addressing_style": "path"},
                        connect_timeout=5,
                        read_timeout=30,
                        retries={"max_attempts": 3, "mode": "standard"},
                    ),
                )
            return self._client

    async def put(self, key: str, data: bytes, *, content_type: str, sha256: str) -> None:
        """Write the object, encrypted at rest (SSE-S3), with its digest in the metadata."""

        def put() -> None:
            self.client().put_object(
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType=content_type,
                ServerSideEncryption=SERVER_SIDE_ENCRYPTION,
                Metadata={"sha256": sha256},
            )

        await self._run(put)

    async def get(self, key: str) -> bytes:
        """The object's bytes (for the server's own use: sealing, verifying; downloads go
        through presigned URLs)."""

        def get() -> bytes:
            body: bytes = self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()
            return body

        data: bytes = await self._run(get)
        return data

    async def delete(self, key: str) -> None:
        await self._run(lambda: self.client().delete_object(Bucket=self.bucket, Key=key))

    async def presigned_get(
        self, key: str, *, expires_in: int, filename: str, content_type: str
    ) -> str:
        """A GET URL for the object, valid `expires_in` seconds, that downloads it under its
        (sanitised) file name. Signing is local: no request to the store."""

        def sign() -> str:
            url: str = self.client().generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentType": content_type,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"',
                },
                ExpiresIn=expires_in,
                HttpMethod="GET",
            )
            return url

        url: str = await self._run(sign)
        return url

    async def list_keys(self, prefix: str) -> list[tuple[str, datetime]]:
        """Every key under `prefix` with its last-modified time (all pages)."""

        def list_all() -> list[tuple[str, datetime]]:
            keys: list[tuple[str, datetime]] = []
            pages = self.client().get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend((o["Key"], o["LastModified"]) for o in page.get("Contents", []))
            return keys

        found: list[tuple[str, datetime]] = await self._run(list_all)
        return found

    def ensure_bucket(self) -> None:
        """Create the bucket when missing (local mode and tests; synchronous)."""
        client = self.client()
        try:
            client.head_bucket(Bucket=self.bucket)
        except ClientError:
            client.create_bucket(Bucket=self.bucket)

    async def _run(self, call: Any) -> Any:
        try:
            return await asyncio.to_thread(call)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(str(exc)) from exc
