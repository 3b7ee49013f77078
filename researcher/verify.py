"""Integrity of the archive: recompute every digest a manifest promises, find what is missing or unlisted."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from researcher.reader import verified_records
from storage import checkpoint, layout, manifest, tablelog
from storage.errors import CorruptObject, ObjectNotFound
from storage.manifest import text_sha256
from storage.store import Store
from storage.tables import EVENTS, LINKS, LSH, SIGNATURES
from storage.warcread import CorruptWarc, describe, read_capture, read_payload


@dataclass
class Problem:
    # missing_raw | corrupt_raw | missing_clean | corrupt_clean | corrupt_manifest | manifest_gap
    # | duplicate_capture | foreign_manifest | corrupt_<table> | <table>_gap | dangling_<table>
    # | missing_evidence (tables: events, links, signatures) | bad_checkpoint
    kind: str
    key: str
    capture_id: str | None
    detail: str


@dataclass
class VerifyReport:
    rows: int = 0
    raw_ok: int = 0
    clean_ok: int = 0
    objects: int = 0
    manifests: int = 0
    uncommitted: list[str] = field(default_factory=list)  # objects of attempts that committed nothing
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
            "manifests": self.manifests,
            "uncommitted": len(self.uncommitted),
            "problems": [p.__dict__ for p in self.problems],
        }


def _check_raw(store: Store, row: dict[str, Any]) -> Problem | None:
    key = row["warc_key"]
    try:
        if row.get("warc_records_sha256"):
            # every record of the capture, headers included, and its payload: one read, the
            # check `get --warc` and exports make (rows committed before the records' digest: below)
            verified_records(store, row)
            return None
        payload = read_payload(store, key, row["warc_offset"], row["warc_length"])
    except ObjectNotFound:
        return Problem("missing_raw", key, row["capture_id"], "WARC file not in the store")
    except (CorruptObject, CorruptWarc) as exc:
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
        return Problem("corrupt_clean", key, row["capture_id"], f"not JSON: {describe(exc)}")
    text = doc.get("text") if isinstance(doc, dict) else None
    expected = row["text_sha256"]
    actual = text_sha256(text) if text is not None else None
    if actual != expected:
        return Problem("corrupt_clean", key, row["capture_id"], f"text SHA-256 {actual} != {expected}")
    return None


def duplicates(rows: list[dict[str, Any]]) -> list[Problem]:
    """Rows that break "each article archived once": a capture and extraction committed twice,
    or two captures of one article URL of a source that are neither revisits nor blocked. Pure."""
    problems = []
    seen: set[tuple[str, str]] = set()
    articles: dict[tuple[str, str], str] = {}
    for row in rows:
        pair = (row["capture_id"], row.get("extraction_id") or "")
        if pair in seen:
            problems.append(Problem("duplicate_capture", row["capture_id"], row["capture_id"], "committed twice"))
            continue
        seen.add(pair)
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        latest.setdefault(row["capture_id"], row)
    for row in latest.values():
        if row.get("status") not in manifest.ARTICLE_STATUSES or row.get("discovery_kind") == "revisit":
            continue
        url = (row["source_id"] or "", row.get("requested_url") or "")
        if url in articles:
            detail = f"{url[1]} archived twice: captures {articles[url]} and {row['capture_id']}"
            problems.append(Problem("duplicate_capture", url[1], row["capture_id"], detail))
        else:
            articles[url] = row["capture_id"]
    return problems


def verify(
    store: Store, source_id: str | None = None, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    """Check every committed row (all extractions) of a source or of the whole archive, the
    manifest log itself (every part readable, numbered without a gap), and that no article
    was archived twice. Objects that no commit references are counted as uncommitted: the
    leftovers of attempts that were killed or lost a race, kept because nothing is deleted."""
    report = VerifyReport()
    corrupt: list[tablelog.CorruptPart] = []
    table = manifest.load_manifests(store, source_id, on_corrupt=corrupt.append)
    keys = manifest.manifest_keys(store, source_id)
    report.manifests = len(keys)
    for exc in corrupt:
        report.problems.append(Problem("corrupt_manifest", exc.key, None, str(exc)))
    for gap in manifest.check_contiguous(keys):
        report.problems.append(Problem("manifest_gap", gap.key, None, str(gap)))
    scope = f"source={source_id}/" if source_id else ""
    for key in store.list(layout.manifests_prefix() + scope):
        if not layout.parse_commit_key(key):
            detail = "not a commit of the manifest log (manifests/source=<id>/<seq>.parquet); readers ignore it"
            report.problems.append(Problem("foreign_manifest", key, None, detail))
    rows = table.to_pylist()
    report.rows = len(rows)
    report.problems.extend(duplicates(rows))
    referenced: set[str] = set()
    for i, row in enumerate(rows, 1):
        missing = [c for c in _LOCATING if row.get(c) is None]
        if missing:  # a row that cannot say where its bytes are, or what they hash to, is damage
            detail = f"committed row without {', '.join(missing)}: its raw or clean copy cannot be checked"
            report.problems.append(Problem("incomplete_row", row.get("warc_key") or "-", row["capture_id"], detail))
            continue
        referenced.update((row["warc_key"], row["clean_key"]))
        referenced.add(layout.crawl_log_of(row["warc_key"]))
        for problem, ok in ((_check_raw(store, row), "raw_ok"), (_check_clean(store, row), "clean_ok")):
            if problem:
                report.problems.append(problem)
            else:
                setattr(report, ok, getattr(report, ok) + 1)
        if progress:
            progress(i, len(rows))
    for prefix in ("raw/", "clean/"):
        for key in store.list(prefix + scope):
            report.objects += 1
            if key not in referenced:
                report.uncommitted.append(key)
    # the whole archive's captures are already read; one source's are not enough for links across sources
    report.problems.extend(check_tables(store, source_id, {r["capture_id"] for r in rows} if not source_id else None))
    report.problems.extend(check_checkpoints(store, source_id))
    return report


_LOCATING = ("warc_key", "warc_offset", "warc_length", "payload_sha256", "clean_key")


def check_tables(store: Store, source_id: str | None = None, committed: set[str] | None = None) -> list[Problem]:
    """The events, links and signatures logs: every part readable and numbered without a gap,
    every row about committed captures (`committed`: every capture id of the archive, read
    here unless given), every takedown's evidence record where it says."""
    problems: list[Problem] = []
    if committed is None:
        unreadable: list[tablelog.CorruptPart] = []  # corrupt manifest parts: verify() reports them already
        table = manifest.load_manifests(store, None, ["capture_id"], on_corrupt=unreadable.append)
        committed = set(table["capture_id"].to_pylist())
    refs = {
        EVENTS.name: ("capture_id",),
        LINKS.name: ("republished", "original"),
        SIGNATURES.name: ("capture_id",),
        LSH.name: ("capture_id",),
    }
    for table in (EVENTS, LINKS, SIGNATURES, LSH):
        if table is LSH and source_id:
            continue  # partitioned by week: a source's rows are spread over all of them
        corrupt: list[tablelog.CorruptPart] = []
        rows = tablelog.load(store, table, source_id, on_corrupt=corrupt.append, checkpoints=False).to_pylist()
        problems += [Problem(f"corrupt_{table.name}", exc.key, None, str(exc)) for exc in corrupt]
        gaps = tablelog.check_contiguous(tablelog.part_keys(store, table.name, source_id))
        problems += [Problem(f"{table.name}_gap", gap.key, None, str(gap)) for gap in gaps]
        for row in rows:
            for col in refs[table.name]:
                if row[col] not in committed:
                    detail = f"{table.name} row {row[table.key]} names {col} {row[col]}, which no manifest commits"
                    problems.append(Problem(f"dangling_{table.name}", row[table.key], row[col], detail))
            if table is EVENTS and row["evidence_warc_key"] and row["observed_capture_id"] is None:
                problems += _check_evidence(store, row)
    return problems


def _check_evidence(store: Store, row: dict[str, Any]) -> list[Problem]:
    """A takedown seen as a failed fetch (404, 410) is proved by its response record."""
    key = row["evidence_warc_key"]
    try:
        cap = read_capture(store, key, row["evidence_warc_offset"], row["evidence_warc_length"])
    except (ObjectNotFound, CorruptWarc) as exc:
        return [Problem("missing_evidence", key, row["capture_id"], f"event {row['event_id']}: {describe(exc)}")]
    if cap.record_id != row["evidence_warc_record_id"] or cap.status != row["http_status"]:
        detail = f"event {row['event_id']}: the record at that offset is {cap.record_id} (HTTP {cap.status})"
        return [Problem("missing_evidence", key, row["capture_id"], detail)]
    return []


def check_checkpoints(store: Store, source_id: str | None = None) -> list[Problem]:
    """Each log's newest checkpoint (the one readers start from) against the parts it says it
    summarises, row for row; an older one only where the newer ones are damaged. A checkpoint
    that does not verify, or differs from its parts, is damage readers skip (`bad_checkpoint`)."""
    problems: list[Problem] = []
    for table in (manifest.MANIFESTS, EVENTS, LINKS, SIGNATURES, LSH):
        if table is LSH and source_id:
            continue
        sources = sorted(
            {p[1] for k in store.list(f"{checkpoint.PREFIX}{table.name}/") if (p := checkpoint.parse_key(k))}
        )
        for source in sources if source_id is None else [s for s in sources if s == source_id]:
            damaged: list[tablelog.CorruptPart] = []
            cp = checkpoint.latest(store, table, source, damaged.append)
            problems += [Problem("bad_checkpoint", e.key, None, str(e)) for e in damaged]
            if cp is None:
                continue
            keys = tablelog.part_keys(store, table.name, source)[: cp.seq]
            try:
                parts = [tablelog.read_conformed(store, k, table, table.state_columns) for k in keys]
            except tablelog.CorruptPart:
                continue  # the corrupt part is reported by the log's own check
            if len(keys) < cp.seq:
                continue  # the gap is reported by the log's own check
            order = [(c, "ascending") for c in (table.sort or (table.key,))]
            mine = checkpoint.state_rows(table, list(enumerate(parts, 1))).sort_by(order)
            if not cp.rows.select(mine.column_names).cast(mine.schema).sort_by(order).equals(mine):
                detail = f"does not hold the rows of parts 1..{cp.seq} of {source}'s {table.name} log"
                problems.append(Problem("bad_checkpoint", cp.key, None, f"checkpoint {cp.key} {detail}"))
    return problems
