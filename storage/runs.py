"""The extract, commit and report steps of one run, over the Store interface.

Extraction itself is passed in (a callable), so this module stays free of the
extractor; the DAG wires extract.Extractor into it.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from storage import layout, manifest
from storage.errors import PermanentError
from storage.provenance import build_row
from storage.store import Store
from storage.warcread import Capture, iter_captures

# body, url, content type -> clean document as a dict; raises ValueError when no article is found
ExtractFn = Callable[[bytes, str, str | None], dict[str, Any]]
# status, body, content type -> kind of block or challenge page, or None
ClassifyFn = Callable[[int, bytes, str | None], str | None]


class RunAlert(PermanentError):
    """The run's data is committed, but its figures cross an alert threshold."""


@dataclass(frozen=True)
class Thresholds:
    expected_daily_volume: int = 0
    max_failed_ratio: float = 0.5
    min_volume_ratio: float = 0.2
    max_leak_ratio: float = 0.2
    max_empty_ratio: float = 0.2


def _final_captures(path: Path) -> Iterator[Capture]:
    """The last response per requested article URL: after retries and redirects, what the run got."""
    final: dict[str, Capture] = {}
    for cap in iter_captures(path):
        if cap.metadata.get("kind") == "article":
            final[cap.metadata.get("requested_url") or cap.url] = cap
    yield from final.values()


def extract_run(
    store: Store,
    crawl: dict[str, Any],
    extract: ExtractFn,
    extractor: dict[str, Any],
    classify: ClassifyFn | None = None,
) -> dict[str, Any]:
    """Write one clean document per article capture in the run's WARC parts.

    A block or challenge page (classify) is recorded as `blocked` and never extracted; a
    page the extractor rejects is recorded as `extraction_failed`; both keep their raw copy.
    """
    source, run, day = crawl["source_id"], crawl["run"], date.fromisoformat(crawl["logical_date"])
    clean_keys: list[str] = []
    counts: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="extract-") as tmp:
        for part in crawl["parts"]:
            local = Path(tmp) / Path(part).name
            store.download(part, local)
            for cap in _final_captures(local):
                blocked = classify(cap.status, cap.body, cap.header("Content-Type")) if classify else None
                if blocked is None and cap.status != 200:
                    continue  # a failed fetch: in the crawl log and the WARC, not an article
                requested = cap.metadata.get("requested_url") or cap.url
                cid = layout.capture_id(source, run, requested)
                key = layout.clean_key(source, day, cid)
                document: dict[str, Any] | None = None
                error: str | None = None
                if blocked:
                    status, error = "blocked", blocked
                    counts[f"blocked:{blocked}"] += 1
                else:
                    try:
                        document, status = extract(cap.body, cap.url, cap.header("Content-Type")), "ok"
                    except ValueError as exc:
                        status, error = "extraction_failed", f"{type(exc).__name__}: {exc}"
                        errors[str(exc)] += 1
                    counts[status] += 1
                    for flag in (document or {}).get("flags", []):
                        counts[f"flag:{flag}"] += 1
                info = document["extractor"] if document else extractor
                row = build_row(
                    cap,
                    capture_id=cid,
                    warc_key=part,
                    clean_key=key,
                    status=status,
                    document=document,
                    error=error,
                    extractor=info,
                )
                provenance = {k: v for k, v in row.items() if k != "text"}
                payload = {"capture_id": cid, "document": document, "provenance": provenance}
                store.put_bytes(
                    key, json.dumps(payload, ensure_ascii=False, sort_keys=True).encode(), "application/json"
                )
                clean_keys.append(key)
    return {"clean_keys": clean_keys, "counts": dict(counts), "errors": dict(errors)}


def _row_from_clean(doc: dict[str, Any]) -> dict[str, Any]:
    document = doc.get("document") or {}
    return {**doc["provenance"], "text": document.get("text")}


def commit_run(store: Store, crawl: dict[str, Any], extracted: dict[str, Any]) -> dict[str, Any]:
    """Write the run's manifest in one put; only then are its captures part of the archive."""
    rows = [_row_from_clean(json.loads(store.get_bytes(k))) for k in extracted["clean_keys"]]
    key = layout.manifest_key(crawl["source_id"], date.fromisoformat(crawl["logical_date"]), crawl["run"])
    written, total = manifest.commit(store, key, rows)
    return {"manifest": key, "written": written, "rows": total, "new_rows": len(rows) if written else 0}


def report_run(
    store: Store,
    crawl: dict[str, Any],
    extracted: dict[str, Any],
    committed: dict[str, Any],
    thresholds: Thresholds,
    window: tuple[datetime, datetime],
) -> dict[str, Any]:
    """Write the run report, then fail loudly if a threshold is crossed (the data is already safe)."""
    summary = crawl["summary"]
    outcomes = summary["articles"]
    days = max((window[1] - window[0]).total_seconds() / 86400, 1 / 24)
    expected = thresholds.expected_daily_volume * days
    counts = extracted.get("counts", {})
    blocked = {k.split(":", 1)[1]: v for k, v in counts.items() if k.startswith("blocked:")}
    articles = counts.get("ok", 0) + counts.get("extraction_failed", 0)
    leaked = sum(v for k, v in counts.items() if k.startswith("flag:leak:"))
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
        "archived": articles,
        "responses_archived": archived,
        "blocked": blocked,
        "already_archived": summary["skipped_by_reason"].get("already archived", 0),
        "skipped_by_reason": summary["skipped_by_reason"],
        "failed_by_reason": summary["failed_by_reason"],
        "discovery": summary["discovery"],
        "discovery_failures": summary["discovery_failures"],
        "extraction": extracted.get("counts", {}),
        "extraction_errors": extracted.get("errors", {}),
        "manifest": committed,
        "warc_parts": crawl["parts"],
        "crawl_log": crawl["crawl_log"],
        "expected_volume": round(expected, 1),
        "probable_gap": bool(expected) and summary["in_window"] < thresholds.min_volume_ratio * expected,
        "failed_ratio": round(failed_ratio, 3),
        "leak_ratio": round(leaked / articles, 3) if articles else 0.0,
        "empty_ratio": round(empty / articles, 3) if articles else 0.0,
    }
    store.put_bytes(
        layout.report_key(crawl["source_id"], crawl["run"]),
        json.dumps(report, ensure_ascii=False, indent=1, sort_keys=True).encode(),
        "application/json",
    )
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
