"""Run manifests: one Parquet file per run, written once, the archive's commit point.

A capture is part of the archive only if a committed manifest lists it. The schema
is fixed here so DuckDB, pandas, Spark or Athena read every manifest alike.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from storage import layout
from storage.errors import ObjectNotFound
from storage.store import Store

_s, _i, _ls = pa.string(), pa.int64(), pa.list_(pa.string())

SCHEMA = pa.schema(
    [
        ("capture_id", _s),
        ("source_id", _s),
        ("status", _s),  # ok | extraction_failed | blocked
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
        ("authors", _ls),
        ("published", _s),
        ("modified", _s),
        ("language", _s),
        ("tags", _ls),
        ("flags", _ls),
        ("text", _s),
    ]
)
COLUMNS = SCHEMA.names


def to_parquet(rows: Iterable[dict[str, Any]]) -> bytes:
    rows = sorted(rows, key=lambda r: r["capture_id"])
    table = pa.Table.from_pylist([{c: r.get(c) for c in COLUMNS} for r in rows], schema=SCHEMA)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def from_parquet(data: bytes) -> list[dict[str, Any]]:
    return list(pq.read_table(io.BytesIO(data)).to_pylist())


def read_manifest(store: Store, key: str) -> list[dict[str, Any]]:
    return from_parquet(store.get_bytes(key))


def read_rows(store: Store, key: str) -> list[dict[str, Any]]:
    """A manifest's rows in today's schema (columns added since it was written are None)."""
    table = pq.read_table(io.BytesIO(store.get_bytes(key)))
    return list(_conform(table, COLUMNS).to_pylist())


def latest_extractions(table: pa.Table) -> pa.Table:
    """One row per capture: its most recent extraction."""
    if table.num_rows == 0:
        return table
    ordered = table.sort_by([("capture_id", "ascending"), ("extracted_at", "descending")])
    ids = ordered.column("capture_id").to_pylist()
    keep = [i for i, cid in enumerate(ids) if i == 0 or ids[i - 1] != cid]
    return ordered.take(keep)


def manifest_keys(store: Store, source_id: str | None = None) -> list[str]:
    return [k for k in store.list(layout.manifests_prefix(source_id)) if k.endswith(".parquet")]


def load_manifests(store: Store, source_id: str | None = None, columns: list[str] | None = None) -> pa.Table:
    """Every committed row of a source (or of the whole archive) as one Arrow table."""
    tables = []
    wanted = columns or COLUMNS
    for key in manifest_keys(store, source_id):
        table = pq.read_table(io.BytesIO(store.get_bytes(key)))
        tables.append(_conform(table, wanted))
    if not tables:
        schema = pa.schema([SCHEMA.field(c) for c in columns]) if columns else SCHEMA
        return schema.empty_table()
    return pa.concat_tables(tables, promote_options="default")


ARTICLE_STATUSES = ("ok", "extraction_failed")  # a `blocked` capture is fetched again next time


def _conform(table: pa.Table, columns: list[str]) -> pa.Table:
    """The table in today's schema: columns added since it was written come back as nulls."""
    arrays = [
        table.column(c).cast(SCHEMA.field(c).type)
        if c in table.column_names
        else pa.nulls(table.num_rows, SCHEMA.field(c).type)
        for c in columns
    ]
    return pa.Table.from_arrays(arrays, schema=pa.schema([SCHEMA.field(c) for c in columns]))


def archived_urls(store: Store, source_id: str) -> set[str]:
    """URLs a committed manifest already holds as an article (requested, final and canonical)."""
    table = load_manifests(store, source_id, ["status", "requested_url", "final_url", "canonical_url"])
    urls: set[str] = set()
    for row in table.to_pylist():
        if row["status"] in ARTICLE_STATUSES:
            urls.update(row[c] for c in ("requested_url", "final_url", "canonical_url") if row[c])
    return urls


def capture_history(store: Store, source_id: str) -> dict[str, tuple[str | None, str | None]]:
    """Each archived article URL (as requested) -> (published, latest capture time), for revisits."""
    table = load_manifests(store, source_id, ["status", "requested_url", "published", "fetched_at"])
    history: dict[str, tuple[str | None, str | None]] = {}
    for row in table.to_pylist():
        if row["status"] not in ARTICLE_STATUSES or not row["requested_url"]:
            continue
        published, fetched = history.get(row["requested_url"], (None, None))
        history[row["requested_url"]] = (
            published or row["published"],
            max(filter(None, (fetched, row["fetched_at"])), default=None),
        )
    return history


def commit(store: Store, key: str, rows: list[dict[str, Any]]) -> tuple[bool, int]:
    """Merge rows into the run's manifest and write it in one put.

    Rows already committed are kept as they are; returns (written, row count).
    Nothing is written when the merge adds nothing, so a re-run is a no-op.
    """
    try:
        existing = {r["capture_id"]: r for r in read_manifest(store, key)}
    except ObjectNotFound:
        existing = {}
    merged = dict(existing)
    for row in rows:
        merged.setdefault(row["capture_id"], row)
    if existing and len(merged) == len(existing):
        return False, len(existing)
    if not merged:
        return False, 0
    store.put_bytes(key, to_parquet(merged.values()), "application/vnd.apache.parquet")
    return True, len(merged)
