"""The Store protocol and its two implementations, chosen by URL scheme.

The archive is write-once: `put_bytes` and `put_file` create a key or fail, they never
replace one. Putting the very same bytes again is a no-op (a retried upload whose first
try did land); other bytes under a taken key raise ObjectExists. On a local directory the
object is written to a temporary file and hard-linked into place (the link fails if the
name exists); on S3 the upload carries `If-None-Match: *`, which the server refuses with
412 when the key exists. There is no other way to write: nothing, not even the pipeline's
own state, is ever replaced or deleted.

A reader never takes an error for absence: only a confirmed "no such key" is
ObjectNotFound. Keys are '/'-separated and identical on a local directory and on S3.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable
from urllib.parse import urlparse

from storage.errors import (
    AccessDenied,
    CorruptObject,
    ObjectExists,
    ObjectNotFound,
    PermanentError,
    StorageRefused,
    StorageUnavailable,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024
RETENTION_ENV = "ARCHIVE_RAW_RETENTION"
# The S3 permission each operation needs, named when the credentials lack it.
_PERMISSION = {"list": "s3:ListBucket", "get": "s3:GetObject", "head": "s3:GetObject", "download": "s3:GetObject"}
# OS errors that no retry in a few minutes will cure: the operator must act.
_REFUSED = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
_CHUNK = 1 << 20


class ObjectInfo(NamedTuple):
    key: str
    size: int
    version: str  # changes whenever the object is rewritten: S3 ETag, or mtime+size locally
    modified: datetime | None = None  # when it was written (S3 LastModified, or mtime), UTC


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
    def list(self, prefix: str = "", start_after: str = "") -> Iterator[str]: ...
    def list_info(self, prefix: str = "", start_after: str = "") -> Iterator[ObjectInfo]: ...
    def children(self, prefix: str) -> Iterator[str]: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise PermanentError(f"invalid archive key {key!r}")
    return key


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _taken(url: str, key: str) -> ObjectExists:
    return ObjectExists(f"{key} already holds other bytes in {url}: archive keys are written once")


class LocalStore:
    """An archive in a local directory; objects are files named by their keys, created with
    the process's umask (0644 under the usual 022)."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def _os_error(self, what: str, key: str, exc: OSError) -> Exception:
        """An OS error as the taxonomy: missing, refused until someone acts, or transient."""
        where = self.root / key
        if isinstance(exc, FileNotFoundError) and what != "write":
            return ObjectNotFound(f"{key} not found in {self.url}")
        if isinstance(exc, IsADirectoryError) and what == "read":
            return CorruptObject(f"{key} is a directory in {self.url}, not an object")
        if exc.errno in _REFUSED:
            return StorageRefused(f"cannot {what} {where}: {_REFUSED[exc.errno]}")
        return StorageUnavailable(f"cannot {what} {where}: {exc.strerror or type(exc).__name__}")

    def _create(self, key: str, fill: Callable[[IO[bytes]], str]) -> None:
        """Write to a private temporary file, then link it to the key: all or nothing, never over another."""
        path = self._path(key)
        tmp = path.parent / f".tmp-{path.name}-{secrets.token_hex(6)}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                with os.fdopen(fd, "wb") as fh:
                    digest = fill(fh)
                    fh.flush()
                    os.fsync(fh.fileno())
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    if _file_sha256(path) != digest:
                        raise _taken(self.url, key) from None
                    return  # the same bytes again: an earlier try landed
                dfd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise self._os_error("write", key, exc) from None

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        def fill(fh: IO[bytes]) -> str:
            fh.write(data)
            return hashlib.sha256(data).hexdigest()

        self._create(key, fill)

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        def fill(fh: IO[bytes]) -> str:
            digest = hashlib.sha256()
            with Path(path).open("rb") as src:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    digest.update(chunk)
                    fh.write(chunk)
            return digest.hexdigest()

        self._create(key, fill)

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except OSError as exc:
            raise self._os_error("read", key, exc) from None

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        try:
            with self._path(key).open("rb") as fh:
                fh.seek(offset)
                return fh.read(length)
        except OSError as exc:
            raise self._os_error("read", key, exc) from None

    def download(self, key: str, path: Path) -> None:
        src = self._path(key)
        try:
            with src.open("rb") as fh, Path(path).open("wb") as out:
                for chunk in iter(lambda: fh.read(_CHUNK), b""):
                    out.write(chunk)
        except OSError as exc:
            if not src.exists():
                raise self._os_error("read", key, exc) from None
            raise StorageRefused(f"cannot download {key} to {path}: {exc.strerror}") from None

    def exists(self, key: str) -> bool:
        try:
            self._path(key).stat()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._os_error("read", key, exc) from None
        return True

    def list(self, prefix: str = "", start_after: str = "") -> Iterator[str]:
        return (info.key for info in self.list_info(prefix, start_after))

    def list_info(self, prefix: str = "", start_after: str = "") -> Iterator[ObjectInfo]:
        """Keys under `prefix` in key order, only those after `start_after` when given (as
        S3's ListObjectsV2 StartAfter: a log's tail without its head)."""
        return (info for info in self._walk(prefix) if info.key > start_after)

    def children(self, prefix: str) -> Iterator[str]:
        """The folders directly under `prefix` (which ends with "/"), as prefixes in key order:
        a log's sources without listing their parts."""
        _check_key(prefix.rstrip("/"))
        base = self.root / prefix
        try:
            names = sorted(e.name for e in os.scandir(base) if e.is_dir() and not e.name.endswith(_OBJECT_SUFFIXES))
        except FileNotFoundError:
            return iter(())
        except OSError as exc:
            raise self._os_error("list", prefix, exc) from None
        return iter([f"{prefix}{n}/" for n in names])

    def _walk(self, prefix: str) -> Iterator[ObjectInfo]:
        # walk only the deepest directory the prefix names, not the whole archive
        head = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = self.root / head if head else self.root
        if not base.is_dir():
            return

        def fail(exc: OSError) -> None:
            raise self._os_error("list", prefix, exc)

        for dirpath, dirnames, filenames in os.walk(base, onerror=fail):
            dirnames.sort()
            # a directory under an object's name (a part replaced by one) is listed, not skipped:
            # reading it is then a CorruptObject, never a silent absence
            for name in dirnames:
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if name.endswith(_OBJECT_SUFFIXES) and key.startswith(prefix):
                    yield ObjectInfo(key, 0, "directory")
            for name in sorted(filenames):
                if name.startswith(".tmp-"):
                    continue
                path = Path(dirpath, name)
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    try:
                        st = path.stat()
                    except OSError as exc:
                        raise self._os_error("list", key, exc) from None
                    when = datetime.fromtimestamp(st.st_mtime, UTC)
                    yield ObjectInfo(key, st.st_size, f"{st.st_mtime_ns:x}-{st.st_size:x}", when)


_OBJECT_SUFFIXES = (".parquet", ".warc.gz", ".json", ".jsonl")  # what the layout names objects, never folders


class S3Store:
    """An archive under s3://bucket/prefix on any S3-compatible server that honours
    conditional writes (`If-None-Match: *`: AWS S3, MinIO, SeaweedFS, Ceph, R2, ...), which
    is probed before the process's first write (storage/probe.py), not assumed.

    Uploads carry a SHA-256 checksum that the server verifies; large files go multipart,
    and only the completion, conditional too, makes them visible. The client comes from
    boto3's standard chain (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...) unless one is passed
    in, e.g. built from an Airflow connection.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        client: S3Client | None = None,
        raw_retention: Retention | None = None,
        unsafe: frozenset[str] | None = None,
    ):
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.raw_retention = raw_retention
        # probes (storage/probe.py) the operator accepts failing; None: ARCHIVE_UNSAFE_STORE decides
        self.unsafe = unsafe
        self._probed = False
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        # a session of its own: boto3's default session keeps the first credentials it resolved
        self.client: S3Client = client or boto3.session.Session().client(
            "s3",
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60),
        )

    def probe(self, *, writer: bool = True) -> Any:
        """The server's verdict on the behaviours write-once needs (storage/probe.py), once per
        process and endpoint; UnsafeStore when it lacks one the operator did not accept."""
        from storage import probe

        self._probed = True  # before the check: recording an accepted unsafe verdict writes
        try:
            return probe.check(self, writer=writer)
        except BaseException:
            self._probed = False  # refused (or not known yet): every later write asks again
            raise

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _error(self, what: str, key: str, exc: Exception) -> Exception:
        """Map a boto error to the taxonomy: missing, transient (retry) or permanent."""
        from botocore.exceptions import ClientError

        if not isinstance(exc, ClientError):  # connection refused, timeouts, truncated bodies, ...
            return StorageUnavailable(f"{what} {self.url}/{key}: {type(exc).__name__}: {str(exc)[:200]}")
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in ("NoSuchKey", "404", "NotFound"):
            # a listing has no key to miss: a 404 there is a fault, never "empty"
            missing = f"{key} not found in {self.url}"
            return StorageUnavailable(f"list {self.url}/{key}: {code}") if what == "list" else ObjectNotFound(missing)
        if code == "NoSuchBucket":
            return PermanentError(f"{what} {self.url}/{key}: bucket {self.bucket!r} does not exist")
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
        return PermanentError(f"{what} {self.url}/{key}: {code} (HTTP {status})")

    def _call(self, what: str, key: str, fn: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(what, key, exc) from None

    def _lock(self, key: str) -> dict[str, Any]:
        """Object Lock arguments for raw captures when retention is configured (raw keys are never rewritten)."""
        return self.raw_retention.put_args() if self.raw_retention and key.startswith("raw/") else {}

    def _create(self, key: str, digest: str, upload: Callable[[], None]) -> None:
        """Run a conditional upload; a 412 means the key is taken: by these very bytes
        (an earlier try that landed) or by others (refused). A 409 is a concurrent
        conditional write still in flight: look again shortly."""
        from botocore.exceptions import ClientError

        if not self._probed:  # the process's first write: is this server safe to write to?
            self.probe(writer=True)
        for attempt in range(5):
            try:
                upload()
                return
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                code = exc.response.get("Error", {}).get("Code", "")
                if status == 412 or code == "PreconditionFailed":
                    if self._digest(key) != digest:
                        raise _taken(self.url, key) from None
                    return
                if status == 409 or code == "ConditionalRequestConflict":
                    time.sleep(0.2 * (attempt + 1))
                    continue
                raise self._error("put", key, exc) from None
        raise StorageUnavailable(f"put {self.url}/{key}: concurrent conditional writes kept conflicting")

    def _digest(self, key: str) -> str:
        """The SHA-256 the server holds for a key: its checksum, our metadata, or the bytes themselves."""
        head = self._call("head", key, self.client.head_object, Bucket=self.bucket, Key=self._key(key))
        checksum = head.get("ChecksumSHA256")
        if checksum and "-" not in checksum:  # a multipart checksum is of the parts' checksums
            return base64.b64decode(checksum).hex()
        meta = head.get("Metadata", {}).get("sha256")
        return meta or hashlib.sha256(self.get_bytes(key)).hexdigest()

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        digest = hashlib.sha256(data)

        def upload() -> None:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                ContentType=content_type,
                ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
                Metadata={"sha256": digest.hexdigest()},
                IfNoneMatch="*",
                **self._lock(key),
            )

        self._guarded("put", key, lambda: self._create(key, digest.hexdigest(), upload))

    def _guarded(self, what: str, key: str, fn: Callable[[], None]) -> None:
        from botocore.exceptions import BotoCoreError

        try:
            fn()
        except BotoCoreError as exc:
            raise self._error(what, key, exc) from None

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        path = Path(path)
        size = path.stat().st_size
        if size < MULTIPART_THRESHOLD:
            self.put_bytes(key, path.read_bytes(), content_type)
            return
        digest = _file_sha256(path)
        self._guarded("upload", key, lambda: self._create(key, digest, lambda: self._multipart(key, path, digest)))

    def _multipart(self, key: str, path: Path, digest: str) -> None:
        """Parts with their own SHA-256 checksums; the completion is conditional, so a taken key
        is refused before anything becomes visible. An abandoned upload is aborted."""
        full = self._key(key)
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket,
            Key=full,
            ChecksumAlgorithm="SHA256",
            Metadata={"sha256": digest},
            **self._lock(key),
        )
        upload_id = upload["UploadId"]
        try:
            parts = []
            with path.open("rb") as fh:
                for number, chunk in enumerate(iter(lambda: fh.read(MULTIPART_CHUNK), b""), 1):
                    checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
                    part = self.client.upload_part(
                        Bucket=self.bucket,
                        Key=full,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=chunk,
                        ChecksumSHA256=checksum,
                    )
                    parts.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumSHA256": checksum})
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=full,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                IfNoneMatch="*",
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            raise

    def _read(self, key: str, **kwargs: Any) -> bytes:
        """A GET, body included: a connection that breaks mid-body is a transient error, not data."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key), **kwargs)
            return bytes(resp["Body"].read())
        except (BotoCoreError, ClientError, OSError) as exc:
            raise self._error("get", key, exc) from None

    def get_bytes(self, key: str) -> bytes:
        return self._read(key)

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""
        return self._read(key, Range=f"bytes={offset}-{offset + length - 1}")

    def download(self, key: str, path: Path) -> None:
        """Streamed to the file; a broken stream leaves no partial file behind."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            with Path(path).open("wb") as out:
                for chunk in resp["Body"].iter_chunks(_CHUNK):
                    out.write(chunk)
        except (BotoCoreError, ClientError) as exc:
            Path(path).unlink(missing_ok=True)
            raise self._error("download", key, exc) from None
        except OSError as exc:
            Path(path).unlink(missing_ok=True)
            raise StorageUnavailable(f"download {self.url}/{key} to {path}: {exc.strerror or exc}") from None

    def exists(self, key: str) -> bool:
        try:
            self._call("head", key, self.client.head_object, Bucket=self.bucket, Key=self._key(key))
        except ObjectNotFound:
            return False
        return True

    def list(self, prefix: str = "", start_after: str = "") -> Iterator[str]:
        return (info.key for info in self.list_info(prefix, start_after))

    def list_info(self, prefix: str = "", start_after: str = "") -> Iterator[ObjectInfo]:
        """Keys under `prefix` in key order; with `start_after`, only later keys: the server
        skips the rest (StartAfter), so a log's tail costs one request however long its head."""
        if ".." in prefix.split("/"):
            raise PermanentError(f"invalid archive prefix {prefix!r}")
        base = self.prefix + "/" if self.prefix else ""
        full = base + prefix
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(self.prefix) + 1 if self.prefix else 0
        after = {"StartAfter": base + start_after} if start_after else {}
        pages = self._call("list", prefix, paginator.paginate, Bucket=self.bucket, Prefix=full, **after)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    yield ObjectInfo(obj["Key"][strip:], obj["Size"], obj["ETag"], obj.get("LastModified"))
        except (BotoCoreError, ClientError) as exc:
            raise self._error("list", prefix, exc) from None

    def children(self, prefix: str) -> Iterator[str]:
        """The folders directly under `prefix` (ListObjectsV2 with a "/" delimiter: one request
        per 1,000 folders, however many objects they hold)."""
        if ".." in prefix.split("/"):
            raise PermanentError(f"invalid archive prefix {prefix!r}")
        base = self.prefix + "/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(base)
        pages = self._call("list", prefix, paginator.paginate, Bucket=self.bucket, Prefix=base + prefix, Delimiter="/")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for page in pages:
                for folder in page.get("CommonPrefixes", []):
                    yield folder["Prefix"][strip:]
        except (BotoCoreError, ClientError) as exc:
            raise self._error("list", prefix, exc) from None


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
