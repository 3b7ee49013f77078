"""Archive key layout and the identifiers keys are built from. Pure functions.

Keys derive from the run (source + data interval) and from content, never from
wall-clock time, so a retry or a re-run of the same interval writes the same keys.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime

_SOURCE_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")


def check_source_id(source_id: str) -> str:
    if not _SOURCE_RE.match(source_id):
        raise ValueError(f"invalid source id {source_id!r}: lower-case letters, digits and _ only")
    return source_id


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts.isoformat()} has no time zone")
    return ts.astimezone(UTC)


def run_key(start: datetime, end: datetime) -> str:
    """The run's name: its data interval, e.g. 20160918T000000Z-20160919T000000Z."""
    s, e = _utc(start), _utc(end)
    if e <= s:
        raise ValueError(f"empty or inverted interval {s.isoformat()} .. {e.isoformat()}")
    return f"{s:%Y%m%dT%H%M%SZ}-{e:%Y%m%dT%H%M%SZ}"


def capture_id(source_id: str, run: str, url: str) -> str:
    """One capture per URL per run: stable across retries of the same run."""
    return hashlib.sha256(f"{source_id}\n{run}\n{url}".encode()).hexdigest()[:24]


def _partition(source_id: str, day: date) -> str:
    return f"source={check_source_id(source_id)}/date={day:%Y-%m-%d}"


def raw_prefix(source_id: str, day: date, run: str) -> str:
    return f"raw/{_partition(source_id, day)}/{run}/"


def raw_key(source_id: str, day: date, run: str, part: str) -> str:
    return f"{raw_prefix(source_id, day, run)}{part}.warc.gz"


def crawl_log_key(source_id: str, day: date, run: str, part: str) -> str:
    return crawl_log_of(raw_key(source_id, day, run, part))


def crawl_log_of(warc_key: str) -> str:
    """The crawl log uploaded beside a WARC part by the same attempt."""
    return warc_key.removesuffix(".warc.gz") + ".crawl-log.jsonl"


def clean_key(source_id: str, day: date, capture: str, extraction: str) -> str:
    """One clean document per capture and extraction, so re-extractions sit beside the old."""
    return f"clean/{_partition(source_id, day)}/{capture}/{extraction}.json"


def manifest_key(source_id: str, day: date, run: str, extraction: str | None = None) -> str:
    """The crawl run's manifest, or (extraction given) the manifest of a re-extraction of that run."""
    suffix = f".x-{extraction}" if extraction else ""
    return f"manifests/{_partition(source_id, day)}/{run}{suffix}.parquet"


def manifests_prefix(source_id: str | None = None) -> str:
    return f"manifests/source={check_source_id(source_id)}/" if source_id else "manifests/"


def report_key(source_id: str, run: str) -> str:
    return f"runs/source={check_source_id(source_id)}/{run}.json"


def validators_key(source_id: str) -> str:
    """The source's feed/sitemap validators for conditional requests (mutable state, not a capture)."""
    return f"state/source={check_source_id(source_id)}/validators.json"


def parse_partition(key: str) -> dict[str, str]:
    """The hive-style fields of a key: {'source': ..., 'date': ...}."""
    return dict(p.split("=", 1) for p in key.split("/") if "=" in p)
