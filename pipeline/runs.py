"""The extract, commit and report steps of one run, over the Store interface.

Extraction itself is passed in (a callable), so this module stays free of the
extractor; the DAG wires extract.Extractor into it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline import parallel
from pipeline.parallel import ClassifyFn, ExtractFn, Outcome
from pipeline.provenance import CAPTURE_COLUMNS, capture_fields, extraction_fields
from pipeline.summary import report_table
from storage import layout, manifest, probe
from storage.errors import CorruptObject, ObjectExists, ObjectNotFound, PermanentError, StorageUnavailable
from storage.store import Store
from storage.warcread import DEFAULT_MAX_BODY, Capture, iter_captures, read_capture

log = logging.getLogger(__name__)


class RunAlert(PermanentError):
    """The run's data is committed, but its figures cross an alert threshold."""


@dataclass(frozen=True)
class Thresholds:
    expected_daily_volume: int = 0
    max_failed_ratio: float = 0.5
    min_volume_ratio: float = 0.2
    max_leak_ratio: float = 0.2
    max_empty_ratio: float = 0.2


def _final_captures(path: Path, skipped: set[str], max_body: int) -> Iterator[Capture]:
    """The last response per requested article URL: after retries and redirects, what the run got.
    Responses the crawl log records as skipped (another address of an archived article, over
    the download cap, ...) stay in the WARC but are not captures."""
    final: dict[str, Capture] = {}
    for cap in iter_captures(path, max_body):
        requested = cap.metadata.get("requested_url") or cap.url
        if cap.metadata.get("kind") == "article":
            final[requested] = cap
    yield from (cap for requested, cap in final.items() if requested not in skipped)


def _crawl_log_facts(store: Store, crawl: dict[str, Any]) -> tuple[set[str], dict[str, dict[str, Any]]]:
    """What the crawl log says of the run's articles: the URLs it records as skipped and never
    as archived, whatever their WARC holds; and, by WARC response record id, the digests the
    crawler computed when it wrote the exchange (payload_sha256; records_length and
    records_sha256 of its three records as stored).

    An address may be logged both ways in one run, in either order: a listing that names an
    already fetched article again is logged "skipped" (a duplicate in discovery) after its
    "archived", and an address first logged as a duplicate may be fetched and archived later;
    either way its response is the run's capture of it."""
    if not crawl.get("crawl_log"):
        return set(), {}
    lines = _read_listed(store, crawl["crawl_log"]).decode("utf-8").splitlines()
    outcomes: dict[str, set[str]] = {}
    digests: dict[str, dict[str, Any]] = {}
    for r in map(json.loads, filter(None, lines)):
        if r.get("kind") == "article":
            outcomes.setdefault(r["url"], set()).add(r["outcome"])
        if r.get("record_id") and r.get("payload_sha256"):
            digests[r["record_id"]] = {k: r.get(k) for k in ("payload_sha256", "records_length", "records_sha256")}
    skipped = {url for url, seen in outcomes.items() if "skipped" in seen and "archived" not in seen}
    return skipped, digests


def _not_as_written(local: Path, cap: Capture, written: dict[str, Any] | None) -> str | None:
    """Which of the crawler's digests the capture's stored bytes no longer match, or None.
    (A capture the log does not describe, from a crawl log older than its digests, passes.)"""
    if not written:
        return None
    if hashlib.sha256(cap.payload).hexdigest() != written["payload_sha256"]:
        return "payload altered"
    if written.get("records_sha256"):
        with local.open("rb") as fh:
            fh.seek(cap.offset)
            stored = fh.read(int(written["records_length"]))
        if hashlib.sha256(stored).hexdigest() != written["records_sha256"]:
            return "WARC records altered"
    return None


@contextmanager
def _written_by_this_run(key: str) -> Iterator[None]:
    """Reading an object this run wrote as missing is a store fault to retry, never an absence."""
    try:
        yield
    except ObjectNotFound:
        raise StorageUnavailable(f"{key} was written by this run but reads as missing; retried") from None


def _read_listed(store: Store, key: str) -> bytes:
    with _written_by_this_run(key):
        return store.get_bytes(key)


@dataclass
class _Extraction:
    """Runs one extractor over captures and writes their clean documents; counts what it saw."""

    store: Store
    extract: ExtractFn
    extractor: dict[str, Any]
    classify: ClassifyFn | None
    counts: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.extracted_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def record(self, outcome: Outcome, clean_key: str) -> dict[str, Any] | None:
        """Count what a capture turned out to be; its extraction fields, or None for a failed fetch."""
        if outcome.status is None:
            return None
        if outcome.blocked:
            self.counts[f"blocked:{outcome.blocked}"] += 1
        else:
            self.counts[outcome.status] += 1
            if outcome.status == "extraction_failed":
                self.errors[outcome.reason or ""] += 1
            flags = (outcome.document or {}).get("flags", [])
            for flag in flags:
                self.counts[f"flag:{flag}"] += 1
            if any(f.startswith("leak:") for f in flags):
                self.counts["leaky"] += 1  # documents, not flags: one page may leak several kinds
        return extraction_fields(
            status=outcome.status,
            document=outcome.document,
            error=outcome.error,
            extractor=self.extractor,
            clean_key=clean_key,
            extracted_at=self.extracted_at,
        )

    def write(self, row: dict[str, Any]) -> dict[str, Any]:
        """The clean document (text and metadata, or why there is none, plus the row's provenance),
        created once: when an earlier attempt already wrote this capture's extraction, that
        document stands and its row is returned."""
        payload = {
            "capture_id": row["capture_id"],
            "text": row["text"],
            "provenance": {k: v for k, v in row.items() if k != "text"},
        }
        data = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        try:
            self.store.put_bytes(row["clean_key"], data, "application/json")
        except ObjectExists:
            earlier = _row_from_clean(row["clean_key"], _read_listed(self.store, row["clean_key"]))
            if (earlier["capture_id"], earlier["extraction_id"]) != (row["capture_id"], row["extraction_id"]):
                raise CorruptObject(f"{row['clean_key']} holds another capture's document") from None
            return earlier
        return row


def extract_run(
    store: Store,
    crawl: dict[str, Any],
    extract: ExtractFn,
    extractor: dict[str, Any],
    classify: ClassifyFn | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    workers: int | None = None,
) -> dict[str, Any]:
    """Write one clean document per article capture in the run's WARC parts.

    A block or challenge page (classify) is recorded as `blocked` and never extracted; a
    listing, tag page or homepage as `not_article`; a page the extractor rejects, or whose
    body decompresses beyond max_body, as `extraction_failed`; all keep their raw copy.
    Captures are named by their WARC record, so a retry of this step finds and keeps the
    documents an earlier try wrote. A large run is extracted on `workers` processes
    (default: every core; pipeline/parallel.py).
    """
    source, run, day = crawl["source_id"], crawl["run"], date.fromisoformat(crawl["logical_date"])
    job = _Extraction(store, extract, extractor, classify)
    clean_keys: list[str] = []
    skipped, digests = _crawl_log_facts(store, crawl)
    with tempfile.TemporaryDirectory(prefix="extract-") as tmp:
        for part in crawl["parts"]:
            local = Path(tmp) / Path(part).name
            with _written_by_this_run(part):
                store.download(part, local)
            captures = []
            for cap in _final_captures(local, skipped, max_body):
                why = _not_as_written(local, cap, digests.get(cap.record_id))
                if why:  # the bytes changed between the crawler writing them and this read: never extracted
                    log.warning("extract: %s record %s refused: %s", part, cap.record_id, why)
                    job.errors[f"{why} after the crawl wrote it"] += 1
                    job.counts["refused"] += 1
                    continue
                captures.append(cap)
            work = ((cap, cap) for cap in captures)
            n = workers if workers is not None else parallel.default_workers()
            for cap, outcome in parallel.outcomes(work, extract, classify, workers=n, expected=len(captures)):
                requested = cap.metadata.get("requested_url") or cap.url
                cid = layout.capture_id(source, run, requested, cap.record_id)
                key = layout.clean_key(source, day, cid, extractor["extraction_id"])
                extraction = job.record(outcome, key)
                if extraction is None:
                    continue  # a failed fetch: in the crawl log and the WARC, not an article
                written = digests.get(cap.record_id) or {}
                records = {
                    "warc_records_length": written.get("records_length"),
                    "warc_records_sha256": written.get("records_sha256"),
                }
                job.write({**capture_fields(cap, capture_id=cid, warc_key=part), **records, **extraction})
                clean_keys.append(key)
    return {"clean_keys": clean_keys, "counts": dict(job.counts), "errors": dict(job.errors)}


REPROCESS_BATCH = 1000  # rows per commit: a killed re-extraction keeps what it committed


def reprocess_range(
    store: Store,
    source_id: str,
    date_from: date,
    date_to: date,
    extract: ExtractFn,
    extractor: dict[str, Any],
    classify: ClassifyFn | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    workers: int | None = None,
) -> dict[str, Any]:
    """Re-extract every committed capture of a source whose run date is in [date_from, date_to].

    Nothing is fetched: each WARC part is read once, in order (downloaded, then its captures
    read by offset and length), and the captures are extracted on `workers` processes
    (default: every core). New clean documents sit beside the old ones (keyed by extraction
    id) and are committed to the source's log in batches of REPROCESS_BATCH; a killed run
    keeps its commits, and re-running with the same extractor redoes only the rest.
    """
    if date_to < date_from:
        raise PermanentError(f"date range is inverted: {date_from} is after {date_to}")
    xid = extractor["extraction_id"]
    job = _Extraction(store, extract, extractor, classify)
    table = manifest.load_manifests(store, source_id)
    done = {
        cid
        for cid, x in zip(table["capture_id"].to_pylist(), table["extraction_id"].to_pylist(), strict=True)
        if x == xid
    }
    todo: dict[str, dict[str, Any]] = {}
    for old in manifest.latest_extractions(table).to_pylist():
        day = date.fromisoformat(old["logical_date"]) if old["logical_date"] else None
        if day is None or not date_from <= day <= date_to:
            continue
        if old["capture_id"] in done:
            job.counts["unchanged"] += 1  # extracted with exactly this extractor and these rules
            continue
        todo[old["capture_id"]] = old
    commits: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    n = workers if workers is not None else parallel.default_workers()
    refused: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="reprocess-") as tmp:
        work = _captures_by_part(store, list(todo.values()), Path(tmp), max_body, refused)
        for old, outcome in parallel.outcomes(work, extract, classify, workers=n, expected=len(todo)):
            clean = layout.clean_key(source_id, date.fromisoformat(old["logical_date"]), old["capture_id"], xid)
            extraction = job.record(outcome, clean)
            if extraction is None:  # cannot happen for a committed row; keep the record honest
                raise PermanentError(f"{old['capture_id']}: committed capture is not an article any more")
            batch.append(job.write({**{k: v for k, v in old.items() if k in CAPTURE_COLUMNS}, **extraction}))
            if len(batch) >= REPROCESS_BATCH:
                commits.append(_commit_batch(store, source_id, batch, xid))
                batch = []
    if batch:
        commits.append(_commit_batch(store, source_id, batch, xid))
    if refused:
        job.counts["refused"] += len(refused)
    return {
        "extraction_id": xid,
        "commits": commits,
        "counts": dict(job.counts),
        "errors": dict(job.errors),
        **({"refused": refused} if refused else {}),
    }


class _LocalPart:
    """A downloaded WARC part read by offset and length, as the store would serve ranges."""

    def __init__(self, path: Path):
        self._fh = path.open("rb")

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        self._fh.seek(offset)
        return self._fh.read(length)

    def close(self) -> None:
        self._fh.close()


def _captures_by_part(
    store: Store, rows: list[dict[str, Any]], tmp: Path, max_body: int, refused: list[dict[str, str]]
) -> Iterator[tuple[dict[str, Any], Capture]]:
    """(row, capture) for each row, each WARC part downloaded once and read front to back.

    A capture whose payload no longer hashes to the committed SHA-256 is never extracted
    (text made from altered bytes would be committed for good): it goes to `refused`, named,
    and the others go on."""
    by_part: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_part.setdefault(row["warc_key"], []).append(row)
    for key, part_rows in by_part.items():
        local = tmp / "part.warc.gz"
        store.download(key, local)  # a missing part is an error, never an absence (ObjectNotFound)
        part = _LocalPart(local)
        try:
            for row in sorted(part_rows, key=lambda r: r["warc_offset"]):
                cap = read_capture(part, key, row["warc_offset"], row["warc_length"], max_body)
                digest = hashlib.sha256(cap.payload).hexdigest()
                if digest != row["payload_sha256"]:
                    why = f"payload SHA-256 {digest[:16]}… is not the committed {row['payload_sha256'][:16]}…"
                    log.warning("reprocess: capture %s in %s refused: %s", row["capture_id"], key, why)
                    refused.append({"capture_id": row["capture_id"], "warc_key": key, "reason": why})
                    continue
                yield row, cap
        finally:
            part.close()
            local.unlink(missing_ok=True)


def _commit_batch(store: Store, source_id: str, rows: list[dict[str, Any]], xid: str) -> dict[str, Any]:
    info = {"kind": "reprocess", "source_id": source_id, "extraction_id": xid}
    return manifest.commit(store, source_id, rows, info).as_dict()


def _row_from_clean(key: str, data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(data)
        return {**doc["provenance"], "text": doc["text"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptObject(f"clean document {key} is corrupt ({type(exc).__name__})") from None


def commit_run(store: Store, crawl: dict[str, Any], extracted: dict[str, Any]) -> dict[str, Any]:
    """Append the run's new captures to the source's manifest log in one conditional step;
    only then are they part of the archive. A capture another run committed first is left out."""
    rows = [_row_from_clean(k, _read_listed(store, k)) for k in extracted["clean_keys"]]
    info = {
        "kind": "crawl",
        "source_id": crawl["source_id"],
        "run": crawl["run"],
        "attempt": crawl.get("attempt"),
        "warc_parts": crawl["parts"],
    }
    result = manifest.commit(store, crawl["source_id"], rows, info)
    added = set(result.committed)
    new = [r for r in rows if r["capture_id"] in added]
    return {
        **result.as_dict(),
        "new_articles": sum(1 for r in new if r["status"] in manifest.ARTICLE_STATUSES),
        "new_blocked": sum(1 for r in new if r["status"] == "blocked"),
    }


def latest_report(store: Store, source_id: str, run: str) -> dict[str, Any] | None:
    """The newest report of a run (each attempt writes its own; their names sort by time)."""
    keys = sorted(store.list(layout.reports_prefix(source_id, run)))
    return dict(json.loads(_read_listed(store, keys[-1]))) if keys else None


def day_coverage(
    by_day: dict[str, dict[str, Any]], window: tuple[datetime, datetime], thresholds: Thresholds
) -> dict[str, dict[str, Any]]:
    """Every day the window touches, with its figures and a probable-gap flag: discovered far
    below the expected volume for the part of that day the window covers."""
    out: dict[str, dict[str, Any]] = {}
    start, end = window
    day = start.astimezone(UTC).date()
    while datetime.combine(day, datetime.min.time(), UTC) < end:
        lo = max(start, datetime.combine(day, datetime.min.time(), UTC))
        hi = min(end, datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC))
        expected = thresholds.expected_daily_volume * (hi - lo).total_seconds() / 86400
        empty = {"discovered": 0, "archived": 0, "already_archived": 0, "failed": {}, "skipped": {}}
        figures = by_day.get(day.isoformat(), empty)
        gap = bool(expected) and figures["discovered"] < thresholds.min_volume_ratio * expected
        out[day.isoformat()] = {**figures, "expected": round(expected, 1), "probable_gap": gap}
        day += timedelta(days=1)
    return out


def report_run(
    store: Store,
    crawl: dict[str, Any],
    extracted: dict[str, Any],
    committed: dict[str, Any],
    thresholds: Thresholds,
    window: tuple[datetime, datetime],
    log: Callable[[str], None] | None = None,
    changes: dict[str, Any] | None = None,
    links: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the run report (and show it as a table to `log`), then fail loudly if a threshold
    is crossed (the data is already safe)."""
    summary = crawl["summary"]
    outcomes = summary["articles"]
    days = max((window[1] - window[0]).total_seconds() / 86400, 1 / 24)
    expected = thresholds.expected_daily_volume * days
    counts = extracted.get("counts", {})
    blocked = {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("blocked:")}
    articles = counts.get("ok", 0) + counts.get("extraction_failed", 0)
    attempt = layout.new_attempt()
    leaked = counts.get("leaky", 0)
    empty = counts.get("extraction_failed", 0) + counts.get("flag:short_text", 0)
    archived, failed = outcomes.get("archived", 0), outcomes.get("failed", 0)
    fetched = archived + failed
    failed_ratio = failed / fetched if fetched else 0.0
    report = {
        "source_id": crawl["source_id"],
        "run": crawl["run"],
        "logical_date": crawl["logical_date"],
        "window": [window[0].isoformat(), window[1].isoformat()],
        "discovered": sum(outcomes.values()),
        "discovered_in_window": summary["in_window"],
        "fetched": fetched,
        "archived": committed.get("new_articles", 0),  # articles this run added to the archive
        "extracted": articles,
        "not_articles": counts.get("not_article", 0),  # listings and homepages met at article addresses
        "not_committed": committed.get("dropped", {}),  # captured, but committed first by another run
        "responses_archived": archived,
        "blocked": blocked,
        "already_archived": summary["skipped_by_reason"].get("already archived", 0),
        "revisited": summary.get("revisited", 0),  # archived again by the revisit policy (in "archived")
        "revisit_budget": summary.get("revisit_budget", {}),  # scheduled, deferred (over budget), budget
        "revisit_failures": summary.get("revisit_failures", {}),  # 404s and the like: takedowns, not failures
        "events": (changes or {}).get("events", {}),  # takedown and edit events by kind:reason
        "links": {k: (links or {}).get(k, 0) for k in ("signed", "links", "translations")},
        "skipped_by_reason": summary["skipped_by_reason"],
        "failed_by_reason": summary["failed_by_reason"],
        "discovery": summary["discovery"],
        "discovery_failures": summary["discovery_failures"],
        "extraction": extracted.get("counts", {}),
        "extraction_errors": extracted.get("errors", {}),
        "manifest": committed,
        "report_attempt": attempt,
        "warc_parts": crawl["parts"],
        "crawl_log": crawl["crawl_log"],
        "expected_volume": round(expected, 1),
        "probable_gap": bool(expected) and summary["in_window"] < thresholds.min_volume_ratio * expected,
        "coverage": day_coverage(summary.get("by_day", {}), window, thresholds),
        "failed_ratio": round(failed_ratio, 3),
        "leak_ratio": round(leaked / articles, 3) if articles else 0.0,
        "empty_ratio": round(empty / articles, 3) if articles else 0.0,
        # the store's failed probes the operator accepted (--unsafe-store): never silent
        "unsafe_store": probe.accepted_risk(store),
    }
    store.put_bytes(
        layout.report_key(crawl["source_id"], crawl["run"], attempt),
        json.dumps(report, ensure_ascii=False, indent=1, sort_keys=True).encode(),
        "application/json",
    )
    if log:
        log(report_table(report))
        if report["unsafe_store"]:
            log(f"WARNING: unsafe store accepted by the operator: {report['unsafe_store']}")
    problems = []
    if failed_ratio > thresholds.max_failed_ratio:
        problems.append(f"{failed} of {fetched} article fetches failed: {summary['failed_by_reason']}")
    if report["leak_ratio"] > thresholds.max_leak_ratio:
        problems.append(f"boilerplate leaked into {leaked} of {articles} clean texts")
    if report["empty_ratio"] > thresholds.max_empty_ratio:
        problems.append(f"{empty} of {articles} extractions empty or suspiciously short")
    if blocked:
        problems.append(f"block or challenge pages served: {blocked}")
    if report["discovery_failures"]:
        problems.append(f"{len(report['discovery_failures'])} feed/sitemap fetches failed")
    if problems:
        raise RunAlert(f"{crawl['source_id']} {crawl['run']}: " + "; ".join(problems) + " (data committed)")
    return report
