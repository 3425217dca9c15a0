"""An S3-compatible object store on loopback for local mode and the tests: moto's S3 server run
as a child process (`python -m app.devtools.object_store PORT`).

moto itself serves a presigned URL without looking at its signature or its expiry; real S3
refuses an expired or altered one. This launcher puts a small WSGI check in front of moto so a
URL behaves here as it would on S3: a query-signed request (`X-Amz-Signature`) is refused 403
once `X-Amz-Date + X-Amz-Expires` has passed or when its SigV4 signature does not match (the
URL was altered), and an anonymous request (neither a signature nor an `Authorization` header)
is refused too, as on a private bucket. Requests signed in the header (boto3's API calls) go to
moto unchanged. Objects live in the process's memory: they are gone when it stops.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

import httpx

from app.devtools.stripe_emulator import loopback_child

# moto accepts any credentials; the signature check below uses these. Not secrets.
LOCAL_ACCESS_KEY_ID = "mdmatch-local"
LOCAL_SECRET_ACCESS_KEY = "mdmatch-local-object-store-secret"  # noqa: S105
LOCAL_BUCKET = "mdmatch-credential-documents"
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # S3's own limit
LOCAL_PORT = 8430  # `mdmatch serve`'s store (another free port when taken)

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def _denied(start_response: StartResponse, code: str, message: str) -> list[bytes]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()
    start_response(
        "403 Forbidden",
        [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _canonical_query(raw: str) -> str:
    pairs = []
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        key, value = unquote(key), unquote(value)
        if key == "X-Amz-Signature":
            continue
        pairs.append((quote(key, safe="-_.~"), quote(value, safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def presign_refusal(environ: Environ, secrets: dict[str, str], now: datetime) -> str | None:
    """Why a query-signed request must be refused (expired, altered, unknown key), else None."""
    raw_query = environ.get("QUERY_STRING", "")
    params = {
        unquote(k): unquote(v) for k, _, v in (p.partition("=") for p in raw_query.split("&"))
    }
    try:
        signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(params["X-Amz-Expires"])
        access_key, scope = params["X-Amz-Credential"].split("/", 1)
        signed_headers = params["X-Amz-SignedHeaders"]
        signature = params["X-Amz-Signature"]
    except (KeyError, ValueError):
        return "AuthorizationQueryParametersError:Malformed presigned URL"
    if not 1 <= expires <= MAX_PRESIGN_SECONDS:
        return "AuthorizationQueryParametersError:X-Amz-Expires out of range"
    if now > signed_at + timedelta(seconds=expires):
        return "AccessDenied:Request has expired"
    secret = secrets.get(access_key)
    if secret is None:
        return "InvalidAccessKeyId:The AWS Access Key Id you provided does not exist"
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]
    path = raw_uri.split("?", 1)[0]
    headers = "".join(
        f"{name}:{environ.get('HTTP_' + name.upper().replace('-', '_'), '').strip()}\n"
        for name in signed_headers.split(";")
    )
    canonical = "\n".join(
        (
            environ["REQUEST_METHOD"],
            path,
            _canonical_query(raw_query),
            headers,
            signed_headers,
            "UNSIGNED-PAYLOAD",
        )
    )
    to_sign = "\n".join(
        (
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        )
    )
    day, region, service, _ = scope.split("/")
    key = _hmac(("AWS4" + secret).encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "SignatureDoesNotMatch:The request signature we calculated does not match"
    return None


def presign_checked(app: WsgiApp, secrets: dict[str, str]) -> WsgiApp:
    def checked(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if "X-Amz-Signature=" in environ.get("QUERY_STRING", ""):
            refusal = presign_refusal(environ, secrets, datetime.now(UTC))
            if refusal is not None:
                code, _, message = refusal.partition(":")
                return _denied(start_response, code, message)
        elif "HTTP_AUTHORIZATION" not in environ:
            return _denied(start_response, "AccessDenied", "Access Denied")
        return app(environ, start_response)

    return checked


def serve(port: int) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    secrets = {
        os.environ.get("OBJECT_STORE_ACCESS_KEY_ID", LOCAL_ACCESS_KEY_ID): os.environ.get(
            "OBJECT_STORE_SECRET_ACCESS_KEY", LOCAL_SECRET_ACCESS_KEY
        )
    }
    os.environ.setdefault("MOTO_PORT", str(port))
    moto_app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        "127.0.0.1",
        port,
        presign_checked(moto_app, secrets),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


@contextlib.contextmanager
def object_store(
    port: int,
    *,
    access_key_id: str = LOCAL_ACCESS_KEY_ID,
    secret_access_key: str = LOCAL_SECRET_ACCESS_KEY,
    timeout: float = 30.0,
) -> Iterator[str]:
    """Start the store as a child process on loopback (another free port when `port` is taken);
    yield its endpoint URL; stop it on exit."""
    with loopback_child(
        "object store",
        "app.devtools.object_store",
        port,
        probe=lambda endpoint: httpx.get(endpoint, timeout=1.0),
        env={
            "OBJECT_STORE_ACCESS_KEY_ID": access_key_id,
            "OBJECT_STORE_SECRET_ACCESS_KEY": secret_access_key,
        },
        timeout=timeout,
    ) as endpoint:
        yield endpoint


def create_bucket(endpoint: str, bucket: str, *, region: str = "us-east-1") -> None:
    """Create the bucket when missing."""
    from app.credentials.storage import ObjectStore

    ObjectStore(
        bucket=bucket,
        region=region,
        endpoint_url=endpoint,
        access_key_id=LOCAL_ACCESS_KEY_ID,
        secret_access_key=LOCAL_SECRET_ACCESS_KEY,
    ).ensure_bucket()


@contextlib.contextmanager
def local_object_store(bucket: str, region: str) -> Iterator[dict[str, str]]:
    """Local mode: the store on LOCAL_PORT with `bucket` created; yields the S3_* environment
    variables that point the API at it."""
    with object_store(LOCAL_PORT) as endpoint:
        create_bucket(endpoint, bucket, region=region)
        yield {
            "S3_ENDPOINT_URL": endpoint,
            "S3_ACCESS_KEY_ID": LOCAL_ACCESS_KEY_ID,
            "S3_SECRET_ACCESS_KEY": LOCAL_SECRET_ACCESS_KEY,
        }


if __name__ == "__main__":
    serve(int(sys.argv[1]))
