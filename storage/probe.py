"""Probe an S3 server before the archive trusts it: "S3-compatible" is checked, not assumed.

Write-once rests on server behaviours that many "S3-compatible" stores lack while accepting
the request: they take `If-None-Match: *` and overwrite anyway (older MinIO releases, fake S3
servers, some gateways), or take a checksum header and never check it. On such a store
every run is green and the first race between two attempts replaces a committed capture.
So before a process first writes to an S3 archive (and when `archive verify`, `archive
serve`, `archive gc` or a DAG task opens one) it runs three probes, under `_probe/` in the
archive's prefix:

- conditional-create: a second `PutObject` with `If-None-Match: *` to a key that exists must
  be refused with 412, and the first bytes must still be there;
- conditional-multipart: a multipart completion with `If-None-Match: *` onto that key must be
  refused too (captures over 64 MiB go multipart);
- checksum: an upload whose `x-amz-checksum-sha256` does not match its body must be refused,
  and nothing stored.

The verdict is kept per endpoint and bucket for the life of the process (8 requests, once).
A store that fails a probe is refused with one line (UnsafeStore) naming the endpoint, what it
lacks and what to do, unless the operator accepts the risk (`--unsafe-store`, or
ARCHIVE_UNSAFE_STORE=1, or a comma-separated list of the probes accepted): then every run
report carries the verdict, and the archive itself keeps it under `_meta/unsafe-store/`.

Probe objects are deleted when the probe ends. Credentials that may not delete (the
write-once policies deny DeleteObject everywhere else) leave them under `_probe/`, which no
reader lists and `archive gc` collects. Credentials that may not write at all (a researcher's
read-only key) cannot probe: the verdict then says so and nothing is refused (a reader writes
nothing; the writers' own probe guards the archive).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from storage.errors import AccessDenied, PermanentError, StorageUnavailable

if TYPE_CHECKING:
    from storage.store import S3Store

PREFIX = "_probe/"
META_PREFIX = "_meta/unsafe-store/"
UNSAFE_ENV = "ARCHIVE_UNSAFE_STORE"
SUPPORTED = "SeaweedFS, AWS S3, MinIO (2024-11 or later), Ceph RGW, Cloudflare R2"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Probe:
    name: str
    behaviour: str  # what a safe server does
    loss: str  # what its absence would cost the archive


PROBES = (
    Probe(
        "conditional-create",
        "refuse an upload with If-None-Match: * to a key that exists (412)",
        "two attempts racing for a key overwrite each other: a committed capture, clean text or "
        "manifest part is replaced without a trace",
    ),
    Probe(
        "conditional-multipart",
        "refuse a multipart completion with If-None-Match: * onto a key that exists (412)",
        "a capture over 64 MiB (uploaded in parts) overwrites a committed one",
    ),
    Probe(
        "checksum",
        "refuse an upload whose x-amz-checksum-sha256 does not match its body",
        "bytes damaged on the way are stored as committed; the damage is found only when read, "
        "and the capture is lost by then",
    ),
)
NAMES = tuple(p.name for p in PROBES)


class UnsafeStore(PermanentError):
    """The S3 server lacks a behaviour write-once depends on (named in the message)."""


@dataclass
class Verdict:
    endpoint: str
    bucket: str
    failed: dict[str, str] = field(default_factory=dict)  # probe -> what the server did
    unprobed: str = ""  # why no probe could run (credentials that may not write)
    kept: list[str] = field(default_factory=list)  # probe objects the credentials could not delete
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    recorded: bool = False  # the archive's metadata holds this verdict (unsafe use)

    @property
    def safe(self) -> bool:
        return not self.failed and not self.unprobed

    def summary(self) -> str:
        if self.unprobed:
            return f"{self.endpoint} bucket {self.bucket}: not probed ({self.unprobed})"
        if not self.failed:
            return f"{self.endpoint} bucket {self.bucket}: passed {', '.join(NAMES)}"
        return f"{self.endpoint} bucket {self.bucket}: " + "; ".join(f"{k}: {v}" for k, v in self.failed.items())

    def as_report(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "bucket": self.bucket, "failed": dict(self.failed), "probed_at": self.at}


def refusal(verdict: Verdict, url: str) -> str:
    """The one line an operator reads: endpoint, what is missing, what to do."""
    missing = "; ".join(f"{name}: {what}" for name, what in verdict.failed.items())
    return (
        f"refusing {url} on {verdict.endpoint}: the server does not keep write-once ({missing}). "
        f"Use a server that does ({SUPPORTED}), or accept the risk with --unsafe-store "
        f"({UNSAFE_ENV}=1), which every run report and the archive's _meta/ will record"
    )


def accepted(setting: str | None = None) -> frozenset[str]:
    """The probes an operator accepts failing: ARCHIVE_UNSAFE_STORE=1 (all) or a list of names."""
    text = (os.environ.get(UNSAFE_ENV, "") if setting is None else setting).strip().lower()
    if text in ("", "0", "false", "no"):
        return frozenset()
    if text in ("1", "true", "yes", "all"):
        return frozenset(NAMES)
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = sorted(names - set(NAMES))
    if unknown:
        raise PermanentError(f"{UNSAFE_ENV}={text!r}: unknown probe {unknown[0]!r} (1, or some of {', '.join(NAMES)})")
    return names


# -- the probes --------------------------------------------------------------------------


def _outcome(call: Any) -> tuple[int, str]:
    """(HTTP status, error code) of a request: 200 and "" when it succeeded."""
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as exc:
        meta = exc.response.get("ResponseMetadata", {})
        return int(meta.get("HTTPStatusCode", 0)), str(exc.response.get("Error", {}).get("Code", ""))
    return 200, ""


def _sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class _Run:
    """One probe run's requests, through the store's own client and error mapping (a transient
    error is raised as StorageUnavailable, never taken for a verdict)."""

    def __init__(self, store: S3Store):
        self.store, self.client, self.bucket = store, store.client, store.bucket
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.base = f"{PREFIX}{stamp}-{secrets.token_hex(6)}/"
        self.made: list[str] = []

    def full(self, key: str) -> str:
        return self.store._key(self.base + key)

    def request(self, what: str, key: str, call: Any) -> tuple[int, str]:
        """(status, code) of one request. A broken connection, a 5xx or throttling is a fault
        of the moment (StorageUnavailable: decide nothing); a 403 is AccessDenied."""
        from botocore.exceptions import BotoCoreError

        try:
            status, code = _outcome(call)
        except BotoCoreError as exc:
            raise self.store._error(what, self.base + key, exc) from None
        if status >= 500 or status == 0 or code in ("SlowDown", "RequestTimeout", "ServiceUnavailable"):
            raise StorageUnavailable(f"probe {what} {self.store.url}/{self.base}{key}: {code} (HTTP {status})")
        if status == 403 or code == "AccessDenied":
            raise AccessDenied(f"probe {what}: access denied on {self.store.url}/{self.base}{key}")
        return status, code

    def put(self, key: str, body: bytes, checksum: str | None = None) -> tuple[int, str]:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self.full(key), "Body": body, "IfNoneMatch": "*"}
        args["ChecksumSHA256"] = checksum or _sha(body)
        status, code = self.request("put", key, lambda: self.client.put_object(**args))
        if status == 200:
            self.made.append(key)
        return status, code

    def body(self, key: str) -> bytes | None:
        from storage.errors import ObjectNotFound

        try:
            return self.store.get_bytes(self.base + key)
        except ObjectNotFound:
            return None

    def multipart_onto(self, key: str, body: bytes) -> tuple[int, str]:
        full = self.full(key)
        upload_id = self.store._call("put", key, self.client.create_multipart_upload, Bucket=self.bucket, Key=full)[
            "UploadId"
        ]
        done = False
        try:
            part = self.store._call(
                "put",
                key,
                self.client.upload_part,
                Bucket=self.bucket,
                Key=full,
                UploadId=upload_id,
                PartNumber=1,
                Body=body,
            )
            parts = {"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]}

            def complete() -> None:
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=full,
                    UploadId=upload_id,
                    MultipartUpload=parts,  # type: ignore[arg-type]
                    IfNoneMatch="*",
                )

            status, code = self.request("complete", key, complete)
            done = status == 200
            return status, code
        finally:
            if not done:
                self._abort(full, upload_id)

    def _abort(self, full: str, upload_id: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
        except (BotoCoreError, ClientError) as exc:  # an upload left open holds no object; say so
            log.warning("probe: could not abort multipart upload %s: %s", full, exc)

    def clean_up(self) -> list[str]:
        """Delete what the probe made; return what the credentials would not let go."""
        from botocore.exceptions import BotoCoreError, ClientError

        kept = []
        for key in dict.fromkeys(self.made):
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.full(key))
            except (BotoCoreError, ClientError):
                kept.append(self.base + key)
        return kept


def _conditional(status: int, code: str, first_still_there: bool, what: str) -> str | None:
    """What went wrong with a conditional write that should have been refused, or None."""
    if status == 200:
        return f"accepted {what} with If-None-Match: * to an existing key" + (
            "" if first_still_there else " and replaced its bytes"
        )
    if status != 412 and code != "PreconditionFailed":
        return f"answered {what} with If-None-Match: * by {code or 'an error'} (HTTP {status}), not 412"
    if not first_still_there:
        return f"refused {what} with 412 but replaced the bytes anyway"
    return None


def run(store: S3Store) -> Verdict:
    """Probe the server now (no cache). Transient faults raise StorageUnavailable."""
    endpoint = str(store.client.meta.endpoint_url)
    verdict = Verdict(endpoint, store.bucket)
    probe = _Run(store)
    first = b"newsarchive probe: first bytes " + secrets.token_bytes(8).hex().encode()
    try:
        try:
            status, code = probe.put("create", first)
        except AccessDenied:
            verdict.unprobed = f"these credentials may not write under {PREFIX}"
            return verdict
        if status != 200:
            verdict.failed["conditional-create"] = f"refused a plain conditional upload ({code}, HTTP {status})"
            return verdict
        status, code = probe.put("create", b"newsarchive probe: second bytes")
        problem = _conditional(status, code, probe.body("create") == first, "an upload")
        if problem:
            verdict.failed["conditional-create"] = problem
        before = first if not problem else probe.body("create")  # what the multipart must leave alone
        status, code = probe.multipart_onto("create", b"newsarchive probe: multipart bytes")
        problem = _conditional(status, code, probe.body("create") == before, "a multipart completion")
        if problem:
            verdict.failed["conditional-multipart"] = problem
        body = b"newsarchive probe: checksum"
        status, code = probe.put("checksum", body, checksum=_sha(body + b" (not these bytes)"))
        stored = probe.body("checksum") is not None
        if status == 200 or stored:
            verdict.failed["checksum"] = "stored an upload whose x-amz-checksum-sha256 did not match its body"
        return verdict
    finally:
        verdict.kept = probe.clean_up()


# -- the verdict per process ---------------------------------------------------------------

_VERDICTS: dict[tuple[str, str], Verdict] = {}
_LOCK = threading.RLock()  # record() writes through a store whose own first write may ask for the verdict


def verdict_for(store: S3Store) -> Verdict:
    """The probe's verdict for this endpoint and bucket, probed once per process."""
    where = (str(store.client.meta.endpoint_url), store.bucket)
    with _LOCK:
        found = _VERDICTS.get(where)
        if found is None:
            started = time.monotonic()
            found = _VERDICTS[where] = run(store)
            log.info("store probe %s (%.2f s)", found.summary(), time.monotonic() - started)
        return found


def forget() -> None:
    """Drop the cached verdicts (tests that start servers on reused ports)."""
    with _LOCK:
        _VERDICTS.clear()


def check(store: S3Store, *, writer: bool) -> Verdict:
    """Refuse a store that lacks a behaviour write-once needs (UnsafeStore), unless the
    operator accepted exactly that risk; a writer then records the verdict in the archive."""
    verdict = verdict_for(store)
    allowed = store.unsafe if store.unsafe is not None else accepted()
    refused = {k: v for k, v in verdict.failed.items() if k not in allowed}
    if refused:
        raise UnsafeStore(refusal(Verdict(verdict.endpoint, verdict.bucket, refused), store.url))
    if verdict.failed:
        log.warning("UNSAFE STORE accepted by the operator: %s", verdict.summary())
        if writer:
            record(store, verdict)
    return verdict


def accepted_risk(store: object) -> dict[str, Any] | None:
    """What a run report says about its store: the failed probes accepted, or None (safe, or
    not S3)."""
    from storage.store import S3Store

    if not isinstance(store, S3Store):
        return None
    verdict = store.probe(writer=True)
    return verdict.as_report() if verdict.failed else None


def record(store: S3Store, verdict: Verdict) -> None:
    """Keep an accepted unsafe verdict in the archive: one object per day and verdict (the
    same bytes again are a no-op, so every process of a day may write it)."""
    with _LOCK:
        if verdict.recorded:
            return
        day = datetime.now(UTC).date().isoformat()
        doc = {"day": day, "endpoint": verdict.endpoint, "bucket": verdict.bucket, "failed": verdict.failed}
        data = (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode()
        key = f"{META_PREFIX}{day}.{hashlib.sha256(data).hexdigest()[:16]}.json"
        store.put_bytes(key, data, "application/json")
        verdict.recorded = True
