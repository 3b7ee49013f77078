"""Manifests: each source's commit log of immutable Parquet parts, the archive's commit point.

A capture is part of the archive only if a committed part lists it. Commits follow the
optimistic protocol Delta Lake and Iceberg use on object storage: read the log, decide
which rows are new, then create part number n+1 with a create-only write, which fails if
another committer took that number first; then read again and retry. Nothing is ever
rewritten or removed, so a failed, repeated or concurrent commit cannot drop a committed
row, and any read error other than a confirmed "no such key" aborts the commit.

Every Parquet file under manifests/ is committed data (the part *is* the log entry), so
DuckDB, pandas, Spark or Athena read `manifests/*/*.parquet` as the archive's table with no
log to interpret. The schema is fixed here so every part reads alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from storage import tablelog
from storage.store import Store

_s, _i, _ls = pa.string(), pa.int64(), pa.list_(pa.string())

SCHEMA = pa.schema(
    [
        ("capture_id", _s),
        ("source_id", _s),
        ("status", _s),  # ok | extraction_failed | not_article | blocked
        ("error", _s),
        ("requested_url", _s),
        ("final_url", _s),
        ("canonical_url", _s),
        ("discovered_via", _s),
        ("discovery_kind", _s),
        ("discovered_date", _s),
        ("fetched_at", _s),
        ("http_status", _i),
        ("response_headers", _s),  # JSON object of selected headers
        ("remote_ip", _s),
        ("replayed_to", _s),
        ("user_agent", _s),
        ("proxy", _s),
        ("warc_key", _s),
        ("warc_record_id", _s),
        ("warc_offset", _i),
        ("warc_length", _i),
        ("payload_sha256", _s),
        # the capture's WARC records (response, request, metadata) exactly as stored, from
        # warc_offset: their length and SHA-256 (parts written before these: null)
        ("warc_records_length", _i),
        ("warc_records_sha256", _s),
        ("text_sha256", _s),
        ("clean_key", _s),
        ("extraction_id", _s),  # digest of extractor, version, settings and rules
        ("extracted_at", _s),
        ("extractor_name", _s),
        ("extractor_version", _s),
        ("extractor_settings", _s),  # JSON
        ("rules_version", _s),
        ("profile_rules_version", _i),
        ("pipeline_version", _s),
        ("run", _s),
        ("interval_start", _s),
        ("interval_end", _s),
        ("logical_date", _s),
        ("dag_id", _s),
        ("airflow_run_id", _s),
        ("try_number", _i),
        ("title", _s),
        ("lead", _s),  # the standfirst, also the text's first line (parts written before it: null)
        ("authors", _ls),
        ("published", _s),
        ("modified", _s),
        ("language", _s),
        ("tags", _ls),
        ("flags", _ls),
        ("translations", _ls),  # the page's editions in other languages, as it names them
        ("text", _s),
    ]
)
COLUMNS = SCHEMA.names


def text_sha256(text: str) -> str:
    """The `text_sha256` column: SHA-256 of the clean text in UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


COMMIT_METADATA = tablelog.COMMIT_METADATA
# Final outcomes of a fetched article URL; a `blocked` capture is fetched again next time.
# `not_article`: the address answered with a listing or homepage (archived, never re-fetched).
ARTICLE_STATUSES = ("ok", "extraction_failed", "not_article")
MAX_CONFLICTS = tablelog.MAX_CONFLICTS
# The columns de-duplication reads from the log.
_DEDUP_COLUMNS = [
    "capture_id",
    "extraction_id",
    "status",
    "requested_url",
    "final_url",
    "canonical_url",
    "discovery_kind",
    "run",
]


class CorruptManifest(tablelog.CorruptPart):
    """A committed manifest part that does not read as Parquet of this schema, or is missing
    from the log's numbering."""


MANIFESTS = tablelog.Table(
    "manifests",
    SCHEMA,
    "capture_id",
    ("capture_id", "extraction_id"),
    CorruptManifest,
    required=("source_id", "status"),  # where a row belongs and what it is; verify checks the rest
    # what a run decides on: de-duplication, "already archived" and revisits (capture_history)
    state=(*_DEDUP_COLUMNS, "published", "fetched_at"),
)


def to_parquet(rows: Iterable[dict[str, Any]], commit: dict[str, Any] | None = None) -> bytes:
    """Rows as one Parquet part; `commit` (who committed it, when, why) goes into its metadata."""
    return tablelog.encode(MANIFESTS, rows, commit)


def _parse(key: str, data: bytes, columns: list[str] | None = None) -> pa.Table:
    return tablelog.parse(key, data, MANIFESTS, columns)


def read_part(store: Store, key: str, columns: list[str] | None = None) -> pa.Table:
    """One listed part (only `columns`, when given). A listed key that reads as missing is a
    store fault (retried), never absence."""
    return _parse(key, tablelog.read_bytes(store, key), columns)


def commit_info(table: pa.Table) -> dict[str, Any]:
    raw = (table.schema.metadata or {}).get(COMMIT_METADATA)
    return dict(json.loads(raw)) if raw else {}


def read_manifest(store: Store, key: str) -> list[dict[str, Any]]:
    return list(read_part(store, key).to_pylist())


def read_rows(store: Store, key: str) -> list[dict[str, Any]]:
    """A part's rows in today's schema (columns added since it was written are None)."""
    return list(_read_conformed(store, key, COLUMNS).to_pylist())


def _read_conformed(store: Store, key: str, columns: list[str]) -> pa.Table:
    """A part's `columns` in today's schema; a part whose columns cannot be read as such is corrupt."""
    return tablelog.read_conformed(store, key, MANIFESTS, columns)


def latest_extractions(table: pa.Table) -> pa.Table:
    """One row per capture: its most recent extraction."""
    if table.num_rows == 0:
        return table
    ordered = table.sort_by([("capture_id", "ascending"), ("extracted_at", "descending")])
    ids = ordered.column("capture_id").to_pylist()
    keep = [i for i, cid in enumerate(ids) if i == 0 or ids[i - 1] != cid]
    return ordered.take(keep)


def manifest_keys(store: Store, source_id: str | None = None) -> list[str]:
    """The committed parts of a source (or of every source), in commit order per source."""
    return tablelog.part_keys(store, "manifests", source_id)


def check_contiguous(keys: list[str]) -> list[tablelog.CorruptPart]:
    """Gaps in the logs' numbering, one CorruptManifest per missing part."""
    return tablelog.check_contiguous(keys, CorruptManifest)


def load_manifests(
    store: Store,
    source_id: str | None = None,
    columns: list[str] | None = None,
    on_corrupt: Callable[[tablelog.CorruptPart], None] | None = None,
) -> pa.Table:
    """Every committed row of a source (or of the whole archive) as one Arrow table.

    A corrupt part raises CorruptManifest naming it, or, with on_corrupt, is reported there
    and skipped (a researcher's read goes on; the pipeline must not decide on a partial log).
    """
    return tablelog.load(store, MANIFESTS, source_id, columns, on_corrupt)


@dataclass(frozen=True)
class CrawlState:
    """What a crawl needs of its source's log before it fetches anything, read once (the
    newest checkpoint and the parts after it)."""

    archived: set[str]  # addresses committed article captures were fetched at
    history: dict[str, tuple[str | None, str | None]]  # requested URL -> (published, latest capture)


def crawl_state(store: Store, source_id: str) -> CrawlState:
    table = load_manifests(store, source_id, ["status", "requested_url", "final_url", "published", "fetched_at"])
    return CrawlState(_archived(table), _history(table))


def archived_urls(store: Store, source_id: str) -> set[str]:
    """URLs a committed manifest already holds as an article: the addresses its captures were
    fetched at (requested and final). A rel=canonical a page named is not one: a URL is
    "already archived" only once it was itself fetched as an article."""
    return _archived(load_manifests(store, source_id, ["status", "requested_url", "final_url"]))


def _archived(table: pa.Table) -> set[str]:
    urls: set[str] = set()
    cols = [table.column(c).to_pylist() for c in ("status", "requested_url", "final_url")]  # columns, not row dicts
    for status, requested, final in zip(*cols, strict=True):
        if status in ARTICLE_STATUSES:
            urls.update(str(u) for u in (requested, final) if u)
    return urls


def capture_history(store: Store, source_id: str) -> dict[str, tuple[str | None, str | None]]:
    """Each archived article URL (as requested) -> (published, latest capture time), for revisits."""
    return _history(load_manifests(store, source_id, ["status", "requested_url", "published", "fetched_at"]))


def _history(table: pa.Table) -> dict[str, tuple[str | None, str | None]]:
    history: dict[str, tuple[str | None, str | None]] = {}
    cols = [table.column(c).to_pylist() for c in ("status", "requested_url", "published", "fetched_at")]
    for status, url, row_published, row_fetched in zip(*cols, strict=True):
        if status not in ARTICLE_STATUSES or not url:
            continue
        published, fetched = history.get(url, (None, None))
        history[url] = (published or row_published, max(filter(None, (fetched, row_fetched)), default=None))
    return history


# -- the commit ---------------------------------------------------------------------------


class _Index:
    """What the log already holds, as de-duplication needs it. Pure."""

    def __init__(self) -> None:
        self.extractions: set[tuple[str, str | None]] = set()  # (capture, extraction) committed
        self.captures: set[str] = set()
        # the addresses committed article captures were fetched at (requested, final): a page's
        # rel=canonical counts only when it names one of them, so a canonical pointing at a page
        # never fetched (the home page, a section) keeps no article out
        self.article_urls: set[str] = set()
        self.run_urls: set[tuple[str, str, str]] = set()  # (kind, run, requested URL): revisits, blocks

    def add(self, row: dict[str, Any]) -> None:
        self.extractions.add((row["capture_id"], row.get("extraction_id")))
        self.captures.add(row["capture_id"])
        if row.get("status") in ARTICLE_STATUSES and row.get("discovery_kind") != "revisit":
            self.article_urls |= _fetched_urls(row)
        if row.get("requested_url"):
            self.run_urls.add((_kind(row), row.get("run") or "", row["requested_url"]))

    def add_table(self, table: pa.Table) -> None:
        """`add` for every row of a table (the committed rows `_bearing_on` kept: a run's few)."""
        for row in table.to_pylist():
            self.add(row)

    def duplicate(self, row: dict[str, Any]) -> str | None:
        """Why a candidate row adds nothing to the log, or None when it is new."""
        if (row["capture_id"], row.get("extraction_id")) in self.extractions:
            return "already committed"
        if row["capture_id"] in self.captures:
            return None  # a new extraction of a committed capture
        if row.get("requested_url") and (_kind(row), row.get("run") or "", row["requested_url"]) in self.run_urls:
            return "captured by another attempt of the same run"
        if row.get("discovery_kind") == "revisit":
            return None  # a revisit is a new capture of an archived URL, once per run
        if _urls(row) & self.article_urls:
            return "article already archived by another run"
        return None


def _urls(row: dict[str, Any]) -> set[str]:
    return {str(row[c]) for c in ("requested_url", "final_url", "canonical_url") if row.get(c)}


def _fetched_urls(row: dict[str, Any]) -> set[str]:
    return {str(row[c]) for c in ("requested_url", "final_url") if row.get(c)}


def _kind(row: dict[str, Any]) -> str:
    if row.get("discovery_kind") == "revisit":
        return "revisit"
    return "blocked" if row.get("status") == "blocked" else "article"


def select_new(
    committed: pa.Table | Iterable[dict[str, Any]], candidates: Iterable[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The candidate rows the log does not hold yet, and the others counted by reason. Pure.

    Each article enters the archive once: a capture of a URL another run already archived
    (an overlapping backfill, a concurrent run of the same interval) is left out, and so is
    a second capture of the same URL by the same run. A blocked capture does not count as
    archived, so a later good capture of the URL is committed beside it; a revisit is a new
    capture by design; a new extraction of a committed capture is a new row.
    """
    index = _Index()
    candidates = list(candidates)
    if isinstance(committed, pa.Table):
        index.add_table(_bearing_on(committed, candidates))
    else:
        for row in committed:
            index.add(row)
    new: list[dict[str, Any]] = []
    dropped: dict[str, int] = {}
    for row in candidates:
        why = index.duplicate(row)
        if why:
            dropped[why] = dropped.get(why, 0) + 1
            continue
        new.append(row)
        index.add(row)
    return new, dropped


def _bearing_on(committed: pa.Table, candidates: list[dict[str, Any]]) -> pa.Table:
    """The committed rows that can decide about a candidate: the same capture, or a requested
    or final address among the candidates' addresses (requested, final, canonical). Every test
    `_Index.duplicate` makes is on those, so the verdicts are the same as with the whole log,
    and a run's commit builds sets of its own size, not of the archive's (a vectorised filter
    over the checkpoint's columns)."""
    ids = pa.array(sorted({str(r["capture_id"]) for r in candidates}), pa.string())
    urls = pa.array(sorted({u for r in candidates for u in _urls(r)}), pa.string())
    keep = pc.or_(
        pc.is_in(committed.column("capture_id"), value_set=ids),
        pc.or_(
            pc.is_in(committed.column("requested_url"), value_set=urls),
            pc.is_in(committed.column("final_url"), value_set=urls),
        ),
    )
    return committed.filter(pc.fill_null(keep, False))


@dataclass
class CommitResult:
    key: str | None  # the part this commit created, None when nothing was new
    committed: list[str]  # capture ids of the rows it added
    dropped: dict[str, int]  # rows left out, by reason
    conflicts: int  # times another committer took the number first
    checkpoint: str | None = None  # the checkpoint this commit wrote
    problems: list[str] = field(default_factory=list)  # a checkpoint not written or passed over

    @property
    def new_rows(self) -> int:
        return len(self.committed)

    def as_dict(self) -> dict[str, Any]:
        out = {"manifest": self.key, "new_rows": self.new_rows, "dropped": self.dropped, "conflicts": self.conflicts}
        return (
            out
            | ({"checkpoint": self.checkpoint} if self.checkpoint else {})
            | ({"checkpoint_problems": self.problems} if self.problems else {})
        )


def commit(
    store: Store,
    source_id: str,
    rows: list[dict[str, Any]],
    info: dict[str, Any] | None = None,
    *,
    max_conflicts: int = MAX_CONFLICTS,
) -> CommitResult:
    """Append the rows the log does not hold yet as the source's next part, conditionally.

    Re-running a commit is a no-op; two committers racing for one number: one wins, the
    other reads the winner's part and tries the next number with what is still new.
    """
    log = tablelog.Log(store, MANIFESTS, source_id, _DEDUP_COLUMNS)
    done = tablelog.append(log, rows, select_new, to_parquet, info, max_conflicts)
    return CommitResult(
        done.key, [r["capture_id"] for r in done.rows], done.dropped, done.conflicts, done.checkpoint, done.problems
    )
