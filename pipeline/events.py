"""The events step of a run: what this run's revisits and listings saw, as takedown and edit events.

For every archived article the run fetched again (spiders/revisit.py chooses them), the
version before is its latest archived article capture of another run; the later fetch is
either a committed capture (an edit, a redirect to the home page, a listing where the
article was) or a failed fetch whose response the WARC keeps (404, 410). The rules are
pipeline/changes.py. Every feed and small sitemap the run read is also compared with what
the source's previous crawl saw it list: an archived article that vanished from it while
articles published before and after it are still listed did not roll off its end; it was
unlisted (`takedown`, reason `unlisted`, the listing's response as evidence). This module
reads the run's crawl log, earlier crawl logs (through the run reports) and the source's
manifests, and commits the events to the source's events log (storage/tables.py), keyed
by what they are about, so a retried or repeated step adds nothing twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from pipeline import changes
from storage import layout, manifest, recent, tablelog
from storage.errors import CorruptObject, ObjectNotFound, StorageUnavailable
from storage.store import Store
from storage.tables import EVENTS, row_id
from storage.warcread import read_capture

_VERSION_COLUMNS = ["capture_id", "status", "requested_url", "final_url", "fetched_at", "run", "discovery_kind",
                    "http_status", "warc_key", "warc_record_id", "warc_offset", "warc_length", "extracted_at",
                    "title", "published", "modified", "authors", "text"]  # fmt: skip


def revisits(log_rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The run's revisits as its crawl log records them: requested URL -> its outcome row. Pure."""
    out: dict[str, dict[str, Any]] = {}
    for row in log_rows:
        if row.get("kind") != "article":
            continue
        if (row.get("outcome") == "archived" and row.get("reason") == "revisit") or (
            row.get("outcome") == "failed" and row.get("via") == "revisit"
        ):
            out[row["url"]] = row
    return out


def _version(row: dict[str, Any]) -> changes.Version:
    return changes.Version(
        capture_id=row["capture_id"],
        url=row["requested_url"],
        text=row.get("text") or "",
        title=row.get("title"),
        published=row.get("published"),
        modified=row.get("modified"),
        authors=tuple(row.get("authors") or ()),
        status=row["status"],
    )


def before_and_after(
    rows: Iterable[dict[str, Any]], run: str, urls: set[str]
) -> dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    """Per revisited URL: (the version before, this run's capture of it). This run's capture is
    its latest revisit of the URL; the version before is the latest readable article capture
    fetched before that (before now, for a fetch that yielded no capture). Each capture's
    latest extraction only. Pure."""
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["requested_url"] not in urls and row["final_url"] not in urls:
            continue
        held = latest.get(row["capture_id"])
        if held is None or (row.get("extracted_at") or "") > (held.get("extracted_at") or ""):
            latest[row["capture_id"]] = row
    by_url: dict[str, list[dict[str, Any]]] = {u: [] for u in urls}
    for row in sorted(latest.values(), key=lambda r: (r.get("fetched_at") or "", r["capture_id"])):
        by_url[row["requested_url"] if row["requested_url"] in urls else row["final_url"]].append(row)
    out: dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]] = {}
    for url, history in by_url.items():
        mine = [r for r in history if r.get("run") == run and r.get("discovery_kind") == "revisit"]
        after = mine[-1] if mine else None
        cutoff = after.get("fetched_at") or "" if after else "\uffff"
        earlier = [
            r for r in history if r["status"] == "ok" and r is not after and (r.get("fetched_at") or "") < cutoff
        ]
        out[url] = (earlier[-1] if earlier else None, after)
    return out


def event_row(
    change: changes.Change, before: dict[str, Any], observed: dict[str, Any], source_id: str, run: dict[str, Any]
) -> dict[str, Any]:
    """One events-table row. Pure (the detection time comes in `run`).

    A takedown is one event however many later fetches see it (its id is the version taken
    down and how); an edit is one per pair of versions."""
    if change.kind == changes.TAKEDOWN:
        event_id = row_id(change.kind, change.reason, before["capture_id"])
    else:
        event_id = row_id(change.kind, before["capture_id"], observed.get("capture_id") or "")
    return {
        "event_id": event_id,
        "source_id": source_id,
        "kind": change.kind,
        "reason": change.reason,
        "capture_id": before["capture_id"],
        "url": before["requested_url"],
        "published": before.get("published"),
        "previous_fetched_at": before.get("fetched_at"),
        "observed_at": observed.get("fetched_at"),
        "observed_capture_id": observed.get("capture_id"),
        "http_status": observed.get("http_status"),
        "final_url": observed.get("final_url"),
        "evidence_warc_key": observed.get("warc_key"),
        "evidence_warc_record_id": observed.get("warc_record_id"),
        "evidence_warc_offset": observed.get("warc_offset"),
        "evidence_warc_length": observed.get("warc_length"),
        "summary": json.dumps(change.summary, ensure_ascii=False, sort_keys=True),
        "run": run["run"],
        "airflow_run_id": run.get("airflow_run_id"),
        "detected_at": run["detected_at"],
    }


def _observed(store: Store, log_row: dict[str, Any]) -> dict[str, Any]:
    """A response as the WARC holds it, for evidence: a failed revisit's 404, or the listing
    an article vanished from."""
    observed: dict[str, Any] = {"http_status": log_row.get("status"), "final_url": log_row.get("final_url")}
    if log_row.get("warc_file") and log_row.get("record_id"):
        key = log_row["warc_file"]
        try:
            cap = read_capture(store, key, log_row["offset"], log_row["length"])
        except ObjectNotFound:
            raise StorageUnavailable(f"{key} was written by this run but reads as missing; retried") from None
        written = log_row.get("payload_sha256")
        if written and hashlib.sha256(cap.payload).hexdigest() != written:
            # evidence must be what the crawler received: altered bytes are never made an event
            raise CorruptObject(
                f"{key} at offset {log_row['offset']}: not the payload the crawl wrote; no event made of it"
            )
        observed |= {
            "http_status": cap.status,
            "fetched_at": cap.date,
            "final_url": cap.url,
            "warc_key": key,
            "warc_record_id": cap.record_id,
            "warc_offset": log_row["offset"],
            "warc_length": log_row["length"],
        }
    return observed


def listings(log_rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Feeds and small sitemaps a crawl read, with what each listed: URL -> {"row": its
    crawl-log row, "items": {article URL: date}}. Pure."""
    out: dict[str, dict[str, Any]] = {}
    for row in log_rows:
        if row.get("kind") in ("feed", "sitemap") and row.get("outcome") == "fetched" and "listed" in row:
            out[row["url"]] = {"row": row, "items": {u: p for u, p in row["listed"]}}
    return out


def vanished(before: Mapping[str, str | None], now: Mapping[str, str | None]) -> dict[str, tuple[str, str]]:
    """Articles a listing held before and no longer holds although it still lists articles
    published both before and after them (so they did not just roll off its end), with
    those two neighbours. Pure."""
    dated = sorted((p, u) for u, p in now.items() if p)
    if len(dated) < 2:
        return {}
    out: dict[str, tuple[str, str]] = {}
    for url, published in before.items():
        if url in now or not published or not dated[0][0] < published < dated[-1][0]:
            continue
        older = max((d for d in dated if d[0] < published), default=dated[0])
        newer = min((d for d in dated if d[0] > published), default=dated[-1])
        out[url] = (older[1], newer[1])
    return out


REPORTS_BACK = 10  # earlier run reports read to find a listing's previous version


def _attempt(key: str) -> str:
    return key.rsplit("/", 1)[-1].split(".", 1)[0]


def _recent_reports(store: Store, source_id: str, before: str) -> list[str]:
    """Run reports of the source's crawls attempted before `before` (an attempt name), newest
    first, at least REPORTS_BACK * 2 of them when there are: runs are keyed by their window's
    start, so the last few days' are listed first (storage/recent.py)."""
    try:
        at = datetime.strptime(before[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        at = datetime.now(UTC)
    keys = recent.keys_since(
        store, layout.reports_prefix(source_id), at, REPORTS_BACK * 2, keep=lambda k: _attempt(k) < before
    )
    return sorted(keys, key=_attempt, reverse=True)


def previous_listings(
    store: Store, source_id: str, crawl_log: str, wanted: set[str]
) -> dict[str, tuple[str, dict[str, str | None]]]:
    """For each listing URL, what the latest earlier crawl of the source saw it list:
    URL -> (that crawl log's key, {article URL: date}), found through the run reports."""
    found: dict[str, tuple[str, dict[str, str | None]]] = {}
    reports = _recent_reports(store, source_id, _attempt(crawl_log))
    logs: list[str] = []
    for key in reports[: REPORTS_BACK * 2]:
        log_key = json.loads(tablelog.read_bytes(store, key)).get("crawl_log")
        if log_key and log_key not in logs and _attempt(log_key) < _attempt(crawl_log):
            logs.append(log_key)
    for log_key in sorted(logs, key=_attempt, reverse=True)[:REPORTS_BACK]:
        lines = tablelog.read_bytes(store, log_key).decode("utf-8").splitlines()
        rows = (json.loads(line) for line in lines if line.strip())
        for url, listing in listings(rows).items():
            if url in wanted and url not in found:
                found[url] = (log_key, listing["items"])
        if set(found) >= wanted:
            break
    return found


def _latest_article(rows: list[dict[str, Any]], url: str) -> dict[str, Any] | None:
    """The latest readable capture of an article (any extraction's row will do for naming it)."""
    mine = [r for r in rows if r["status"] == "ok" and url in (r["requested_url"], r["final_url"])]
    return max(mine, key=lambda r: (r.get("fetched_at") or "", r.get("extracted_at") or ""), default=None)


def _source_rows(store: Store, source_id: str, urls: set[str]) -> list[dict[str, Any]]:
    """The source's captures of these URLs (every extraction), read only from the parts that
    hold one (the checkpoint names them): neither the source's whole log nor its text column
    is read for a handful of revisits."""
    wanted = pa.array(sorted(urls))
    rows: list[dict[str, Any]] = []
    url_columns = ["requested_url", "final_url"]
    for key in tablelog.parts_holding(store, manifest.MANIFESTS, source_id, url_columns, wanted):
        part = tablelog.read_conformed(store, key, manifest.MANIFESTS, _VERSION_COLUMNS)
        rows += part.filter(tablelog.matching(part, url_columns, wanted)).to_pylist()
    return rows


def detect_run(
    store: Store, crawl: dict[str, Any], sections: tuple[str, ...] = (), airflow_run_id: str | None = None
) -> dict[str, Any]:
    """Compare every revisit of the run with the version before it, and every feed or small
    sitemap it read with that listing's previous version; commit the events found.
    Returns the events' counts by kind and reason and what the commit did."""
    source_id, run = crawl["source_id"], crawl["run"]
    if not crawl.get("crawl_log"):
        return {"revisits": 0, "events": {}, "commit": None}
    lines = tablelog.read_bytes(store, crawl["crawl_log"]).decode("utf-8").splitlines()
    log_rows = [json.loads(line) for line in lines if line.strip()]
    seen = revisits(log_rows)
    now = listings(log_rows)
    before = previous_listings(store, source_id, crawl["crawl_log"], set(now)) if now else {}
    gone = {feed: vanished(before[feed][1], now[feed]["items"]) for feed in now if feed in before}
    urls = set(seen) | {u for by_feed in gone.values() for u in by_feed}
    if not urls:
        return {"revisits": 0, "events": {}, "commit": None}
    rows = _source_rows(store, source_id, urls)
    pairs = before_and_after(rows, run, set(seen))
    info = {"run": run, "airflow_run_id": airflow_run_id, "detected_at": _now()}
    found: list[dict[str, Any]] = []
    for url, log_row in sorted(seen.items()):
        earlier, after = pairs[url]
        if earlier is None:
            continue  # no earlier article capture to compare with (it was never readable)
        if log_row["outcome"] == "failed":
            observed = _observed(store, log_row)
            later = changes.Refetch(url, observed["http_status"], observed.get("final_url"), sections=sections)
        elif after is not None:
            observed = after
            later = changes.Refetch(url, after["http_status"], after["final_url"], _version(after), sections)
        else:
            continue  # fetched, but its capture was not committed (blocked, left out): nothing to compare
        change = changes.compare(_version(earlier), later)
        if change is not None:
            found.append(event_row(change, earlier, observed, source_id, info))
    for feed, by_url in sorted(gone.items()):
        observed = _observed(store, now[feed]["row"])  # the listing as it was read without the article
        for url, (older, newer) in sorted(by_url.items()):
            article = _latest_article(rows, url)
            if article is None:
                continue  # listed once, never archived as an article: nothing was taken down from the archive
            summary = {"listing": feed, "listed_before_in": before[feed][0], "neighbours": [older, newer]}
            change = changes.Change(changes.TAKEDOWN, "unlisted", summary)
            found.append(event_row(change, article, observed, source_id, info))
    result = tablelog.commit(store, EVENTS, source_id, found, {"kind": "events", "run": run}) if found else None
    counts: dict[str, int] = {}
    for row in found:
        counts[f"{row['kind']}:{row['reason']}"] = counts.get(f"{row['kind']}:{row['reason']}", 0) + 1
    return {
        "revisits": len(seen),
        "events": counts,
        "commit": {"key": result.key, "new_rows": len(result.rows), "conflicts": result.conflicts} if result else None,
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
