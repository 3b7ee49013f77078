"""A table as a per-source log of immutable Parquet parts, appended with optimistic concurrency.

The manifests (captures) are the first such log; events, links and signatures are others
(storage/tables.py). Every log keeps one protocol, the one Delta Lake and Iceberg use on
object storage: read the log, decide which rows are new, create part n+1 with a create-only
write that fails if another committer took n+1 first, then read again and retry. Nothing is
ever rewritten or removed; a listed part that reads as missing is a store fault (retried),
never an absence; a gap in the numbering is a lost part, reported as such.

Every Parquet file under `<table>/` is committed data, so DuckDB or pandas read
`<table>/*/*.parquet` as the table with no log to interpret.
"""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from storage import layout
from storage.errors import CorruptObject, ObjectExists, ObjectNotFound, StorageUnavailable
from storage.store import Store

COMMIT_METADATA = b"newsarchive.commit"
MAX_CONFLICTS = 200  # commits lost to concurrent committers before giving up (transient)


class CorruptPart(CorruptObject):
    """A committed part that does not read as Parquet of its table's schema, or is missing
    from the log's numbering."""

    def __init__(self, key: str, detail: str):
        super().__init__(f"{key.split('/', 1)[0].removesuffix('s')} {key} {detail}")
        self.key = key


@dataclass(frozen=True)
class Table:
    """One of the archive's tables: its name (the key prefix), schema and row key (a row whose
    key the log already holds is not added again, so a repeated commit is a no-op)."""

    name: str
    schema: pa.Schema
    key: str
    sort: tuple[str, ...] = ()  # the order of rows within a part (default: the key)
    error: type[CorruptPart] = CorruptPart  # what a corrupt or missing part of it raises
    required: tuple[str, ...] = ()  # columns no row may leave null, besides the key

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)


def encode(table: Table, rows: Iterable[dict[str, Any]], commit: dict[str, Any] | None = None) -> bytes:
    """Rows as one Parquet part; `commit` (who committed it, when, why) goes into its metadata."""
    order = table.sort or (table.key,)
    ordered = sorted(rows, key=lambda r: tuple(r.get(c) or "" for c in order))
    schema = table.schema
    if commit:
        schema = schema.with_metadata({COMMIT_METADATA: json.dumps(commit, sort_keys=True)})
    data = pa.Table.from_pylist([{c: r.get(c) for c in table.columns} for r in ordered], schema=schema)
    buf = io.BytesIO()
    pq.write_table(data, buf, compression="zstd")
    return buf.getvalue()


def parse(key: str, data: bytes, table: Table, columns: Sequence[str] | None = None) -> pa.Table:
    """A part's rows (only `columns`, when given), checked before anything of it is used: it
    must read as Parquet, hold the table's key and required columns, give every column the
    table knows the table's type, and leave no key or required value null. Anything else is
    a corrupt part (a foreign file, a part of another table, a hand edit), never data."""
    try:
        # ParquetFile, not read_table: read_table goes through pyarrow.dataset and pyarrow.fs, and
        # pipeline processes that had used it aborted at exit ("terminate called without an active
        # exception", seen in tests/test_write_once.py); a part is one small buffer, no dataset needed.
        part = pq.ParquetFile(pa.BufferReader(data))
        schema = part.schema_arrow  # rebuilt on every access: read it once
        check_schema(table, key, schema)
        names = set(schema.names)
        must = [table.key, *table.required]
        wanted = list(schema.names) if columns is None else [c for c in columns if c in names]
        read = part.read(columns=list(dict.fromkeys([*wanted, *must])))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise table.error(key, f"is corrupt ({type(exc).__name__}: {str(exc)[:120]})") from None
    for column in must:
        nulls = read.column(column).null_count
        if nulls:
            raise table.error(key, f"does not fit the {_singular(table)} schema: {nulls} row(s) with no {column}")
    return read.select(wanted)


def _singular(table: Table) -> str:
    return table.name.removesuffix("s")


def check_schema(table: Table, key: str, schema: pa.Schema) -> None:
    """Raise the table's CorruptPart when a part's schema is not the table's: its key or a
    required column missing, or a column of the table's with another type. Columns the table
    added after the part was written may be absent (read as null); unknown ones are ignored."""
    names = set(schema.names)
    missing = [c for c in (table.key, *table.required) if c not in names]
    if missing:
        has = ", ".join(schema.names[:6]) + (", ..." if len(schema.names) > 6 else "")
        raise table.error(
            key,
            f"does not fit the {_singular(table)} schema: no {', '.join(missing)} column (it has {has})",
        )
    for field in schema:
        if field.name in table.schema.names:
            want = table.schema.field(field.name).type
            if not field.type.equals(want):
                raise table.error(
                    key,
                    f"does not fit the {_singular(table)} schema: column {field.name} is {field.type}, not {want}",
                )


def read_bytes(store: Store, key: str) -> bytes:
    """A listed key's bytes (a part, or an object a committed record names): reading it as
    missing is a store fault (retried), never absence."""
    try:
        return store.get_bytes(key)
    except ObjectNotFound:
        raise StorageUnavailable(f"{key} is listed but reads as missing; not taken for absent") from None


def conform(table: pa.Table, schema: pa.Schema, columns: Sequence[str]) -> pa.Table:
    """The part in today's schema: columns added since it was written come back as nulls."""
    arrays = [
        table.column(c).cast(schema.field(c).type)
        if c in table.column_names
        else pa.nulls(table.num_rows, schema.field(c).type)
        for c in columns
    ]
    return pa.Table.from_arrays(arrays, schema=pa.schema([schema.field(c) for c in columns]))


def read_conformed(store: Store, key: str, table: Table, columns: Sequence[str]) -> pa.Table:
    """A part's `columns` in today's schema (checked as `parse` does; columns added since it
    was written come back as nulls)."""
    try:
        data = read_bytes(store, key)
    except CorruptPart:
        raise
    except CorruptObject as exc:  # not an object at all (a directory in its place)
        raise table.error(key, f"is corrupt ({exc})") from None
    part = parse(key, data, table, columns)
    try:
        return conform(part, table.schema, columns)
    except (pa.ArrowException, ValueError) as exc:
        raise table.error(
            key, f"does not fit the {_singular(table)} schema ({type(exc).__name__}: {str(exc)[:120]})"
        ) from None


def part_keys(store: Store, table: str, source_id: str | None = None) -> list[str]:
    """The committed parts of a source's log (or every source's), in commit order per source."""
    keys = []
    for key in store.list(layout.table_prefix(table, source_id)):
        parsed = layout.parse_part_key(key)
        if parsed and parsed[0] == table:
            keys.append(key)
    return sorted(keys)


def check_contiguous(keys: list[str], error: type[CorruptPart] = CorruptPart) -> list[CorruptPart]:
    """Gaps in a log's numbering, one error per missing part: parts are numbered 1..n (a part
    is only created when its predecessor exists), so a gap means a part was lost."""
    problems: list[CorruptPart] = []
    expected: dict[tuple[str, str], int] = {}
    for key in keys:
        table, source, seq = layout.parse_part_key(key) or ("", "", 0)
        want = expected.get((table, source), 1)
        if seq != want:
            problems.append(error(layout.part_key(table, source, want), f"is missing from the log, before {key}"))
        expected[(table, source)] = seq + 1
    return problems


def load(
    store: Store,
    table: Table,
    source_id: str | None = None,
    columns: Sequence[str] | None = None,
    on_corrupt: Callable[[CorruptPart], None] | None = None,
) -> pa.Table:
    """Every committed row of a source's log (or of every source) as one Arrow table.

    A corrupt part, or a gap in the numbering, raises CorruptPart naming it; with on_corrupt
    a corrupt part is reported there and skipped, and gaps are left to check_contiguous
    (a researcher's read goes on; the pipeline must not decide on a partial log).
    """
    wanted = list(columns or table.columns)
    keys = part_keys(store, table.name, source_id)
    gaps = check_contiguous(keys, table.error)
    if gaps and on_corrupt is None:
        raise gaps[0]
    parts = []
    for key in keys:
        try:
            parts.append(read_conformed(store, key, table, wanted))
        except CorruptPart as exc:
            if on_corrupt is None:
                raise
            on_corrupt(exc)
    if not parts:
        return pa.schema([table.schema.field(c) for c in wanted]).empty_table()
    return pa.concat_tables(parts)


class Log:
    """A source's parts read so far: they are immutable, so a retry reads only newer ones."""

    def __init__(
        self,
        store: Store,
        table: str,
        source_id: str,
        read: Callable[[str], list[dict[str, Any]]],
        error: type[CorruptPart] = CorruptPart,
    ):
        self.store, self.table, self.source_id, self._read, self._error = store, table, source_id, read, error
        self.rows: dict[str, list[dict[str, Any]]] = {}
        # parts a refused create proved to exist: read by key even when a stale listing omits them
        self.taken: set[str] = set()
        self.unlisted = 0  # refreshes whose listing lacked a part known to exist

    def refresh(self) -> int:
        """Read parts not read yet; returns the next free commit number."""
        listed = part_keys(self.store, self.table, self.source_id)
        if self.taken - set(listed):
            self.unlisted += 1
        keys = sorted(set(listed) | self.taken)
        gaps = check_contiguous(keys, self._error)
        if gaps:
            raise gaps[0]
        for key in keys:
            if key not in self.rows:
                try:
                    self.rows[key] = self._read(key)
                except StorageUnavailable:
                    if key in self.taken:
                        raise StorageUnavailable(
                            f"{key}: the store refused to create it (it exists) but reads it as missing; retried later"
                        ) from None
                    raise
        return len(keys) + 1

    def all_rows(self) -> Iterable[dict[str, Any]]:
        for rows in self.rows.values():
            yield from rows


Rows = list[dict[str, Any]]
Select = Callable[[Iterable[dict[str, Any]], Rows], tuple[Rows, dict[str, int]]]


@dataclass
class Appended:
    key: str | None  # the part this commit created, None when nothing was new
    rows: list[dict[str, Any]]  # the rows it added
    dropped: dict[str, int]  # rows left out, by reason
    conflicts: int  # times another committer took the number first


def append(
    log: Log,
    rows: list[dict[str, Any]],
    select: Select,
    to_bytes: Callable[[list[dict[str, Any]], dict[str, Any]], bytes],
    info: dict[str, Any] | None = None,
    max_conflicts: int = MAX_CONFLICTS,
) -> Appended:
    """Append what `select` finds new in `rows` as the log's next part, conditionally.

    Re-running is a no-op; of two committers racing for one number one wins, and the other
    reads the winner's part and tries the next number with what is still new.
    """
    for conflicts in range(max_conflicts + 1):
        seq = log.refresh()
        new, dropped = select(log.all_rows(), rows)
        if not new:
            return Appended(None, [], dropped, conflicts)
        key = layout.part_key(log.table, log.source_id, seq)
        meta = {**(info or {}), "seq": seq, "committed_at": datetime.now(UTC).isoformat(timespec="milliseconds")}
        try:
            log.store.put_bytes(key, to_bytes(new, meta), "application/vnd.apache.parquet")
        except ObjectExists:
            log.taken.add(key)  # read by key next time, listed or not
            time.sleep(random.uniform(0, min(0.05 * 2**conflicts, 1.0)))  # noqa: S311 - jitter, not a secret
            continue
        return Appended(key, new, dropped, conflicts)
    stale = (
        f"; {log.unlisted} of its listings omitted parts the store said exist (a stale listing)" if log.unlisted else ""
    )
    raise StorageUnavailable(
        f"commit to {log.source_id}'s {log.table} log lost {max_conflicts} races in a row{stale}; retried later"
    )


def select_by_key(key: str) -> Select:
    """Rows whose `key` the log (or an earlier candidate) does not hold yet. Pure."""

    def select(committed: Iterable[dict[str, Any]], candidates: Rows) -> tuple[Rows, dict[str, int]]:
        seen = {row[key] for row in committed}
        new, dropped = [], 0
        for row in candidates:
            if row[key] in seen:
                dropped += 1
                continue
            seen.add(row[key])
            new.append(row)
        return new, ({"already committed": dropped} if dropped else {})

    return select


def commit(
    store: Store, table: Table, source_id: str, rows: list[dict[str, Any]], info: dict[str, Any] | None = None
) -> Appended:
    """Append the rows whose key the source's log of `table` does not hold yet."""

    def read_keys(key: str) -> Rows:
        return list(read_conformed(store, key, table, [table.key]).to_pylist())

    log = Log(store, table.name, source_id, read_keys, table.error)
    return append(log, rows, select_by_key(table.key), lambda new, meta: encode(table, new, meta), info)
