"""The Store protocol and its two implementations, chosen by URL scheme.

Every write is atomic at the key level: a reader sees the whole object or nothing.
Keys are '/'-separated and identical on a local directory and on S3.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable
from urllib.parse import urlparse

from storage.errors import AccessDenied, ObjectNotFound, PermanentError, StorageUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MULTIPART_THRESHOLD = 64 * 1024 * 1024
RETENTION_ENV = "ARCHIVE_RAW_RETENTION"
# The S3 permission each operation needs, named when the credentials lack it.
_PERMISSION = {"list": "s3:ListBucket", "get": "s3:GetObject", "head": "s3:GetObject", "download": "s3:GetObject"}


class ObjectInfo(NamedTuple):
    key: str
    size: int
    version: str  # changes whenever the object is rewritten: S3 ETag, or mtime+size locally


@dataclass(frozen=True)
class Retention:
    """S3 Object Lock retention for raw captures: nobody (GOVERNANCE: nobody without bypass
    permission) can delete or overwrite a locked object version before it expires."""

    mode: str  # GOVERNANCE | COMPLIANCE
    days: int

    @classmethod
    def parse(cls, spec: str) -> Retention:
        """'governance:3650' or 'compliance:365' (days)."""
        mode, _, days = spec.partition(":")
        if mode.upper() not in ("GOVERNANCE", "COMPLIANCE") or not days.isdigit() or int(days) < 1:
            raise PermanentError(f"bad retention {spec!r}: expected governance:<days> or compliance:<days>")
        return cls(mode.upper(), int(days))

    def put_args(self, now: datetime | None = None) -> dict[str, Any]:
        until = (now or datetime.now(UTC)) + timedelta(days=self.days)
        return {"ObjectLockMode": self.mode, "ObjectLockRetainUntilDate": until}


@runtime_checkable
class Store(Protocol):
    url: str

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...
    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None: ...
    def get_bytes(self, key: str) -> bytes: ...
    def get_range(self, key: str, offset: int, length: int) -> bytes: ...
    def download(self, key: str, path: Path) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str = "") -> Iterator[str]: ...
    def list_info(self, prefix: str = "") -> Iterator[ObjectInfo]: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise PermanentError(f"invalid archive key {key!r}")
    return key


class LocalStore:
    """An archive in a local directory; objects are files named by their keys."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        self.put_bytes(key, Path(path).read_bytes(), content_type)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(f"{key} not found in {self.url}") from None

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        try:
            with self._path(key).open("rb") as fh:
                fh.seek(offset)
                return fh.read(length)
        except FileNotFoundError:
            raise ObjectNotFound(f"{key} not found in {self.url}") from None

    def download(self, key: str, path: Path) -> None:
        Path(path).write_bytes(self.get_bytes(key))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[str]:
        return (info.key for info in self.list_info(prefix))

    def list_info(self, prefix: str = "") -> Iterator[ObjectInfo]:
        # walk only the deepest directory the prefix names, not the whole archive
        head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.root / head if head else self.root
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            for name in sorted(filenames):
                if name.startswith(".tmp-"):
                    continue
                path = Path(dirpath, name)
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    st = path.stat()
                    yield ObjectInfo(key, st.st_size, f"{st.st_mtime_ns:x}-{st.st_size:x}")


class S3Store:
    """An archive under s3://bucket/prefix on any S3-compatible server.

    Uploads carry a SHA-256 checksum that the server verifies; large files go multipart.
    The client comes from boto3's standard chain (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...)
    unless one is passed in, e.g. built from an Airflow connection.
    """

    def __init__(
        self, bucket: str, prefix: str = "", client: S3Client | None = None, raw_retention: Retention | None = None
    ):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.raw_retention = raw_retention
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        # a session of its own: boto3's default session keeps the first credentials it resolved
        self.client: S3Client = client or boto3.session.Session().client(
            "s3",
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60),
        )

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _error(self, what: str, key: str, exc: Exception) -> Exception:
        """Map a boto error to the taxonomy: missing, transient (retry) or permanent."""
        from botocore.exceptions import ClientError

        if not isinstance(exc, ClientError):  # connection refused, timeouts, ...
            return StorageUnavailable(f"{what} {self.url}/{key}: {exc}")
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in ("NoSuchKey", "404", "NotFound"):
            return ObjectNotFound(f"{key} not found in {self.url}")
        if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled"):
            needed = _PERMISSION.get(what, "s3:PutObject")
            if self._lock(key):
                needed += " and s3:PutObjectRetention"
            return AccessDenied(
                f"access denied: cannot {what} {self.url}/{key}; these credentials lack {needed} "
                f"on bucket {self.bucket!r} (see infra/s3-policies/)"
            )
        if status >= 500 or code in ("SlowDown", "RequestTimeout", "ServiceUnavailable", "Throttling"):
            return StorageUnavailable(f"{what} {self.url}/{key}: {code} (HTTP {status})")
        return PermanentError(f"{what} {self.url}/{key}: {code} (HTTP {status}): {exc}")

    def _call(self, what: str, key: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(what, key, exc) from exc

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self._call(
            "put",
            key,
            self.client.put_object,
            Bucket=self.bucket,
            Key=self._key(key),
            Body=data,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
            Metadata={"sha256": hashlib.sha256(data).hexdigest()},
            **self._lock(key),
        )

    def _lock(self, key: str) -> dict[str, Any]:
        """Object Lock arguments for raw captures when retention is configured (raw keys are never rewritten)."""
        return self.raw_retention.put_args() if self.raw_retention and key.startswith("raw/") else {}

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        from boto3.s3.transfer import TransferConfig

        digest = hashlib.sha256()
        with Path(path).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        self._call(
            "upload",
            key,
            self.client.upload_file,
            Filename=str(path),
            Bucket=self.bucket,
            Key=self._key(key),
            ExtraArgs={
                "ContentType": content_type,
                "ChecksumAlgorithm": "SHA256",
                "Metadata": {"sha256": digest.hexdigest()},
                **self._lock(key),
            },
            Config=TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=16 * 1024 * 1024),
        )

    def get_bytes(self, key: str) -> bytes:
        resp = self._call("get", key, self.client.get_object, Bucket=self.bucket, Key=self._key(key))
        return bytes(resp["Body"].read())

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        resp = self._call(
            "get",
            key,
            self.client.get_object,
            Bucket=self.bucket,
            Key=self._key(key),
            Range=f"bytes={offset}-{offset + length - 1}",
        )
        return bytes(resp["Body"].read())

    def download(self, key: str, path: Path) -> None:
        self._call(
            "download", key, self.client.download_file, Bucket=self.bucket, Key=self._key(key), Filename=str(path)
        )

    def exists(self, key: str) -> bool:
        try:
            self._call("head", key, self.client.head_object, Bucket=self.bucket, Key=self._key(key))
        except ObjectNotFound:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        return (info.key for info in self.list_info(prefix))

    def list_info(self, prefix: str = "") -> Iterator[ObjectInfo]:
        if ".." in prefix.split("/"):
            raise PermanentError(f"invalid archive prefix {prefix!r}")
        full = (self.prefix + "/" if self.prefix else "") + prefix
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(self.prefix) + 1 if self.prefix else 0
        pages = self._call("list", prefix, paginator.paginate, Bucket=self.bucket, Prefix=full)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    yield ObjectInfo(obj["Key"][strip:], obj["Size"], obj["ETag"])
        except (BotoCoreError, ClientError) as exc:
            raise self._error("list", prefix, exc) from exc


def open_store(url: str, *, s3_client: S3Client | None = None) -> Store:
    """Pick the implementation from the URL: file:///path (or a plain path) or s3://bucket/prefix.

    On S3, ARCHIVE_RAW_RETENTION (e.g. governance:3650) writes raw captures with Object Lock
    retention; the bucket must have been created with Object Lock enabled.
    """
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return LocalStore(parsed.path if parsed.scheme else url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise PermanentError(f"archive URL {url!r} names no bucket")
        spec = os.environ.get(RETENTION_ENV)
        retention = Retention.parse(spec) if spec else None
        return S3Store(parsed.netloc, parsed.path, client=s3_client, raw_retention=retention)
    raise PermanentError(f"unsupported archive URL scheme {parsed.scheme!r} in {url!r} (use file:// or s3://)")
