"""Archive key layout and the identifiers keys are built from. Pure functions (but `new_attempt`).

The archive is write-once: no key is ever written twice with different bytes. Raw WARC
parts, crawl logs and run reports are named by the attempt that wrote them (a UTC time and
a random token), so a retry, a re-run or a concurrent run of the same interval writes beside
the others, never over them. A capture is named by its WARC record (unique per response),
a clean document by capture and extraction. Manifests are the per-source commit log:
`manifests/source=<id>/<seq>.parquet`, numbered from 1, each created only if its number is
free; see storage.manifest. Events, links and signatures are logs of the same kind.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, date, datetime

_SOURCE_RE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
# The archive's tables: each a per-source log of immutable Parquet parts numbered from 1
# (storage/tablelog.py): captures (manifests), what happened to them later (events), texts
# republished elsewhere (links) and the MinHash signatures that find them (signatures).
TABLES = ("manifests", "events", "links", "signatures", "lsh")  # lsh: partitioned by week, not source
_PART_RE = re.compile(r"^(" + "|".join(TABLES) + r")/source=([a-z][a-z0-9_]{1,63})/(\d{10})\.parquet$")
_ATTEMPT_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


def is_source_id(name: str) -> bool:
    return bool(_SOURCE_RE.match(name))


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


def attempt_name(at: datetime, token: str) -> str:
    """An attempt's name: when it started (UTC, sortable) and a random token no other attempt shares."""
    name = f"{_utc(at):%Y%m%dT%H%M%SZ}-{token}"
    if not _ATTEMPT_RE.match(name):
        raise ValueError(f"invalid attempt token {token!r}: 8 hex digits")
    return name


def new_attempt() -> str:
    """A fresh attempt name (the one impure function here: the clock and 32 random bits)."""
    return attempt_name(datetime.now(UTC), secrets.token_hex(4))


def capture_id(source_id: str, run: str, url: str, record_id: str) -> str:
    """One capture per WARC response record: a retry or a concurrent run that fetches the same
    URL again makes a new capture, never a second meaning for an old id."""
    return hashlib.sha256(f"{source_id}\n{run}\n{url}\n{record_id}".encode()).hexdigest()[:24]


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


def part_key(table: str, source_id: str, seq: int) -> str:
    """Part number seq (from 1) of a source's log of `table`: one immutable Parquet file."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    if not 1 <= seq < 10**10:
        raise ValueError(f"commit number {seq} out of range")
    return f"{table}/source={check_source_id(source_id)}/{seq:010d}.parquet"


def parse_part_key(key: str) -> tuple[str, str, int] | None:
    """(table, source, seq) of a table part's key, None for any other key."""
    m = _PART_RE.match(key)
    return (m.group(1), m.group(2), int(m.group(3))) if m else None


def table_prefix(table: str, source_id: str | None = None) -> str:
    return f"{table}/source={check_source_id(source_id)}/" if source_id else f"{table}/"


def commit_key(source_id: str, seq: int) -> str:
    """The source's commit number seq (from 1): one immutable manifest part."""
    return part_key("manifests", source_id, seq)


def parse_commit_key(key: str) -> tuple[str, int] | None:
    """(source, seq) of a manifest part's key, None for any other key."""
    parsed = parse_part_key(key)
    return (parsed[1], parsed[2]) if parsed and parsed[0] == "manifests" else None


def manifests_prefix(source_id: str | None = None) -> str:
    return table_prefix("manifests", source_id)


def report_key(source_id: str, run: str, attempt: str) -> str:
    """Each report of a run is kept: a re-run adds one beside the first."""
    return f"runs/source={check_source_id(source_id)}/{run}/{attempt}.json"


def reports_prefix(source_id: str, run: str | None = None) -> str:
    """The reports of one run, or (without run) of every run of the source."""
    base = f"runs/source={check_source_id(source_id)}/"
    return f"{base}{run}/" if run else base


def validators_prefix(source_id: str) -> str:
    return f"state/source={check_source_id(source_id)}/validators/"


def validators_key(source_id: str, attempt: str) -> str:
    """The feed/sitemap validators an attempt saw (a cache for conditional requests, not a
    capture): each attempt adds its own version, the newest name is the current one."""
    return f"{validators_prefix(source_id)}{attempt}.json"


def parse_partition(key: str) -> dict[str, str]:
    """The hive-style fields of a key: {'source': ..., 'date': ...}."""
    return dict(p.split("=", 1) for p in key.split("/") if "=" in p)
