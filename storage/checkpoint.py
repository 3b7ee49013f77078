"""Checkpoints of a table log: the rows of parts 1..n in one verified object, so a reader
reads one checkpoint and the few parts after it, never the whole log (Delta Lake's
checkpoints, kept write-once).

A checkpoint of a source's log at part n is
`_checkpoints/<table>/source=<id>/<R-n>-<n>.<sha256>.parquet` (R = 9999999999):
the rows of parts 1..n in log order, in the table's state columns (`Table.state`, what the
pipeline decides on; a reader asking for other columns reads the parts), each with the
number of the part that holds it (`_part`), so a reader looking for a few rows' other
columns reads only the parts that hold them. It lives outside
`<table>/`, so a glob reader (`<table>/*/*.parquet`) still sees every committed row exactly
once. It is created only (never rewritten); its name carries the SHA-256 of its bytes, so a
reader checks the bytes before anything of them is used, then its schema, and that its
own metadata names the same table, source, part and row count. Delta's `_last_checkpoint`
pointer is an overwritten file, which a write-once store cannot hold; instead the name
leads with R-n, so a listing returns the newest checkpoint first: the reader's first LIST
page (one request, whatever the log's age) names it, and older ones follow only when the
newest is damaged.

A damaged checkpoint is reported and the next older one tried, down to none (then the
parts themselves); a store that cannot answer is a transient error, never "no checkpoint".
Writing one is never part of a commit's success: a committer that dies before writing it
leaves the next committer to write one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from storage import layout
from storage.errors import CorruptObject, ObjectNotFound, PermanentError, StorageUnavailable
from storage.store import Store
from storage.tableschema import CorruptPart, Table, check_schema

EVERY = 10  # commits between checkpoints, Delta Lake's default
INTERVAL_ENV = "NEWSARCHIVE_CHECKPOINT_EVERY"  # another interval (Delta's checkpointInterval)
PREFIX = "_checkpoints/"
METADATA = b"newsarchive.checkpoint"
PART = "_part"  # each row's part number
_LAST = 9_999_999_999  # names lead with _LAST - n: newest first in key order
_KEY_RE = re.compile(
    r"^_checkpoints/([a-z]+)/source=([a-z][a-z0-9_]{1,63})/(\d{10})-(\d{10})\.([0-9a-f]{64})\.parquet$"
)


def interval() -> int:
    """Commits between checkpoints: NEWSARCHIVE_CHECKPOINT_EVERY, else EVERY."""
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return EVERY
    if not text.isdigit() or int(text) < 1:
        raise PermanentError(f"{INTERVAL_ENV}={text!r}: a whole number of commits, at least 1")
    return int(text)


def prefix(table: str, source_id: str) -> str:
    return f"{PREFIX}{table}/source={layout.check_source_id(source_id)}/"


def _name(seq: int) -> str:
    return f"{_LAST - seq:010d}-{seq:010d}."


def key(table: str, source_id: str, seq: int, digest: str) -> str:
    return f"{prefix(table, source_id)}{_name(seq)}{digest}.parquet"


def parse_key(k: str) -> tuple[str, str, int, str] | None:
    """(table, source, part, sha256) of a checkpoint's key, None for any other key (or one
    whose two numbers disagree)."""
    m = _KEY_RE.match(k)
    if not m or int(m.group(3)) != _LAST - int(m.group(4)):
        return None
    return (m.group(1), m.group(2), int(m.group(4)), m.group(5))


def key_of(store: Store, table: str, source_id: str, seq: int) -> str:
    """The key of the checkpoint at part `seq` (its digest is part of its name)."""
    first = next(iter(store.list(prefix(table, source_id) + _name(seq))), "")
    parsed = parse_key(first)
    if parsed and parsed[2] == seq:
        return first
    raise KeyError(f"no checkpoint of {source_id}'s {table} at part {seq}")


@dataclass(frozen=True)
class Checkpoint:
    key: str
    seq: int  # the last part it holds
    rows: pa.Table  # parts 1..seq in the table's state columns, and PART


def encode(table: Table, source_id: str, seq: int, rows: pa.Table) -> bytes:
    """Deterministic bytes for the same rows (no time in them), so two committers that write
    the same checkpoint write the same object."""
    meta = {"table": table.name, "source_id": source_id, "seq": seq, "rows": rows.num_rows}
    schema = file_schema(table).with_metadata({METADATA: json.dumps(meta, sort_keys=True)})
    buf = io.BytesIO()
    pq.write_table(rows.select(schema.names).cast(schema), buf, compression="zstd")
    return buf.getvalue()


def state_schema(table: Table) -> pa.Schema:
    return pa.schema([table.schema.field(c) for c in table.state_columns])


def file_schema(table: Table) -> pa.Schema:
    return state_schema(table).append(pa.field(PART, pa.uint32(), nullable=False))


def write(store: Store, table: Table, source_id: str, seq: int, rows: pa.Table) -> str:
    """Create the checkpoint of parts 1..seq; the same bytes written again are a no-op (the
    store's create compares digests), other bytes under its name raise ObjectExists."""
    data = encode(table, source_id, seq, rows)
    k = key(table.name, source_id, seq, hashlib.sha256(data).hexdigest())
    store.put_bytes(k, data, "application/vnd.apache.parquet")
    return k


def read(store: Store, table: Table, k: str) -> Checkpoint:
    """A checkpoint, checked before use: digest, Parquet, schema, and its own metadata."""
    parsed = parse_key(k)
    if parsed is None:
        raise table.error(k, "is not a checkpoint's key")
    name, source_id, seq, digest = parsed
    try:
        data = store.get_bytes(k)
    except ObjectNotFound:
        raise StorageUnavailable(f"{k} is listed but reads as missing; not taken for absent") from None
    except CorruptObject as exc:
        raise table.error(k, f"is corrupt ({exc})") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise table.error(k, "does not match the SHA-256 its name carries (altered or truncated)")
    try:
        f = pq.ParquetFile(pa.BufferReader(data))
        schema = f.schema_arrow
        check_schema(table, k, schema)
        meta = json.loads((schema.metadata or {}).get(METADATA, b"{}"))
        rows = f.read(columns=[*table.state_columns, PART], use_threads=False)  # as tablelog.parse
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise table.error(k, f"is corrupt ({type(exc).__name__}: {str(exc)[:120]})") from None
    lacking = [c for c in [*table.state_columns, PART] if c not in rows.column_names]
    if lacking:  # pyarrow reads absent columns as nothing; nulls here would hide committed values
        raise table.error(k, f"holds no {', '.join(lacking)} column (an older state); its parts are read instead")
    want = {"table": name, "source_id": source_id, "seq": seq, "rows": rows.num_rows}
    if {c: meta.get(c) for c in want} != want:
        raise table.error(k, f"says it is {meta}, not {want}")
    numbers = rows.column(PART)
    if rows.num_rows and not (
        numbers.type == pa.uint32()
        and numbers.null_count == 0
        and pc.min(numbers).as_py() >= 1
        and pc.max(numbers).as_py() <= seq
        and _non_decreasing(numbers.to_numpy())
    ):
        raise table.error(k, f"numbers its rows' parts out of order or outside 1..{seq}")
    return Checkpoint(k, seq, rows)


def _non_decreasing(values: np.ndarray) -> bool:
    return bool((values[1:] >= values[:-1]).all())


def latest(
    store: Store,
    table: Table,
    source_id: str,
    on_corrupt: Callable[[CorruptPart], None],
) -> Checkpoint | None:
    """The newest checkpoint of a source's log that verifies; each damaged one on the way is
    reported to on_corrupt. None when there is none. Keys list newest first and the listing
    is lazy, so a sound newest checkpoint costs one LIST request and one GET."""
    for k in store.list(prefix(table.name, source_id)):
        parsed = parse_key(k)
        if not parsed or parsed[0] != table.name:
            continue
        try:
            return read(store, table, k)
        except CorruptPart as exc:
            on_corrupt(exc)
    return None


def state_rows(table: Table, parts: Sequence[tuple[int, pa.Table]], base: pa.Table | None = None) -> pa.Table:
    """A checkpoint's rows: `base` (an older checkpoint's rows), then each numbered part's rows
    (in the state columns at least), each with its part's number."""
    schema = file_schema(table)
    pieces = [schema.empty_table()]
    if base is not None:
        pieces.append(base.select(schema.names).cast(schema))
    for seq, part in parts:
        numbered = part.select(schema.names[:-1]).append_column(PART, pa.array([seq] * part.num_rows, pa.uint32()))
        pieces.append(numbered.cast(schema))
    return pa.concat_tables(pieces)
