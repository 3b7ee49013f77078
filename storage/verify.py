"""Integrity of the archive: recompute every digest a manifest promises, find what is missing or unlisted."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from storage import layout, manifest
from storage.errors import ObjectNotFound
from storage.provenance import text_sha256
from storage.store import Store
from storage.warcread import CorruptWarc, read_payload


@dataclass
class Problem:
    kind: str  # missing_raw | corrupt_raw | missing_clean | corrupt_clean | unlisted
    key: str
    capture_id: str | None
    detail: str


@dataclass
class VerifyReport:
    rows: int = 0
    raw_ok: int = 0
    clean_ok: int = 0
    objects: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "raw_ok": self.raw_ok,
            "clean_ok": self.clean_ok,
            "objects": self.objects,
            "problems": [p.__dict__ for p in self.problems],
        }


def _check_raw(store: Store, row: dict[str, Any]) -> Problem | None:
    key = row["warc_key"]
    try:
        payload = read_payload(store, key, row["warc_offset"], row["warc_length"])
    except ObjectNotFound:
        return Problem("missing_raw", key, row["capture_id"], "WARC file not in the store")
    except CorruptWarc as exc:
        return Problem("corrupt_raw", key, row["capture_id"], str(exc))
    digest = hashlib.sha256(payload).hexdigest()
    if digest != row["payload_sha256"]:
        return Problem("corrupt_raw", key, row["capture_id"], f"payload SHA-256 {digest} != {row['payload_sha256']}")
    return None


def _check_clean(store: Store, row: dict[str, Any]) -> Problem | None:
    key = row["clean_key"]
    try:
        doc = json.loads(store.get_bytes(key))
    except ObjectNotFound:
        return Problem("missing_clean", key, row["capture_id"], "clean document not in the store")
    except ValueError as exc:
        return Problem("corrupt_clean", key, row["capture_id"], f"not JSON: {exc}")
    text = doc.get("text")
    expected = row["text_sha256"]
    actual = text_sha256(text) if text is not None else None
    if actual != expected:
        return Problem("corrupt_clean", key, row["capture_id"], f"text SHA-256 {actual} != {expected}")
    return None


def verify(
    store: Store, source_id: str | None = None, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    """Check every committed row (all extractions) of a source or of the whole archive."""
    table = manifest.load_manifests(store, source_id)
    rows = table.to_pylist()
    report = VerifyReport(rows=len(rows))
    listed: set[str] = set(manifest.manifest_keys(store, source_id))
    for i, row in enumerate(rows, 1):
        listed.update((row["warc_key"], row["clean_key"]))
        listed.add(layout.crawl_log_of(row["warc_key"]))
        for problem, ok in ((_check_raw(store, row), "raw_ok"), (_check_clean(store, row), "clean_ok")):
            if problem:
                report.problems.append(problem)
            else:
                setattr(report, ok, getattr(report, ok) + 1)
        if progress:
            progress(i, len(rows))
    scope = f"source={source_id}/" if source_id else ""
    for prefix in ("raw/", "clean/"):
        for key in store.list(prefix + scope):
            report.objects += 1
            if key not in listed:
                report.problems.append(Problem("unlisted", key, None, "in the store but in no committed manifest"))
    return report
