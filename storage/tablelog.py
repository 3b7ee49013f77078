"""A table as a per-source log of immutable Parquet parts, appended with optimistic concurrency.

The manifests (captures) are the first such log; events, links and signatures are others
(storage/tables.py). Every log keeps one protocol, the one Delta Lake and Iceberg use on
object storage: read the log, decide which rows are new, create part n+1 with a create-only
write that fails if another committer took n+1 first, then read again and retry. Nothing is
ever rewritten or removed; a listed part that reads as missing is a store fault (retried),
never an absence; a gap in the numbering is a lost part, reported as such. "Read the log"
means its newest checkpoint and the parts after it (storage/checkpoint.py), so a commit
costs what its own run adds, not what the archive holds.

Every Parquet file under `<table>/` is committed data, so DuckDB or pandas read
`<table>/*/*.parquet` as the table with no log to interpret.
"""

from __future__ import annotations

import io
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from storage import checkpoint, layout
from storage.errors import CorruptObject, ObjectExists, ObjectNotFound, StorageUnavailable
from storage.store import Store
from storage.tableschema import CorruptPart, Table, _singular, check_schema

__all__ = ["CorruptPart", "Table", "check_schema"]  # the table's identity, long imported from here

_log = logging.getLogger(__name__)
COMMIT_METADATA = b"newsarchive.commit"
MAX_CONFLICTS = 200  # commits lost to concurrent committers before giving up (transient)


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
        # one thread: a part is small, and a pool of pyarrow's threads alive at exit can abort
        # the process after its work is done (status 134); see researcher/cli.py, _leave
        read = part.read(columns=list(dict.fromkeys([*wanted, *must])), use_threads=False)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise table.error(key, f"is corrupt ({type(exc).__name__}: {str(exc)[:120]})") from None
    for column in must:
        nulls = read.column(column).null_count
        if nulls:
            raise table.error(key, f"does not fit the {_singular(table)} schema: {nulls} row(s) with no {column}")
    return read.select(wanted)


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


def part_keys(store: Store, table: str, source_id: str | None = None, after: int = 0) -> list[str]:
    """The committed parts of a source's log (or every source's), in commit order per source;
    with `after`, only a source's parts after that number (the store skips the head)."""
    start = layout.part_key(table, source_id, after) if after and source_id else ""
    keys = []
    for key in store.list(layout.table_prefix(table, source_id), start):
        parsed = layout.parse_part_key(key)
        if parsed and parsed[0] == table:
            keys.append(key)
    return sorted(keys)


def check_contiguous(keys: list[str], error: type[CorruptPart] = CorruptPart, after: int = 0) -> list[CorruptPart]:
    """Gaps in a log's numbering, one error per missing part: parts are numbered 1..n (a part
    is only created when its predecessor exists), so a gap means a part was lost. `after`:
    the keys are a tail that starts after that part (a checkpoint's)."""
    problems: list[CorruptPart] = []
    expected: dict[tuple[str, str], int] = {}
    for key in keys:
        table, source, seq = layout.parse_part_key(key) or ("", "", 0)
        want = expected.get((table, source), after + 1)
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
    checkpoints: bool = True,
) -> pa.Table:
    """Every committed row of a source's log (or of every source) as one Arrow table.

    A source's log read in its state columns starts from its newest checkpoint and reads only
    the parts after it. A corrupt part, or a gap in the numbering, raises CorruptPart naming
    it; with on_corrupt a corrupt part is reported there and skipped, and gaps are left to
    check_contiguous (a researcher's read goes on; the pipeline must not decide on a partial
    log). A damaged checkpoint is reported to on_corrupt (or warned of) and passed over.
    `checkpoints=False` reads the parts themselves (what verification compares checkpoints with).
    """
    wanted = list(columns or table.columns)
    base = None
    if checkpoints and source_id and set(wanted) <= set(table.state_columns):
        base = checkpoint.latest(store, table, source_id, on_corrupt or _warn)
    after = base.seq if base else 0
    keys = part_keys(store, table.name, source_id, after)
    gaps = check_contiguous(keys, table.error, after)
    if gaps and on_corrupt is None:
        raise gaps[0]
    parts = [conform(base.rows, table.schema, wanted)] if base else []
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


def matching(rows: pa.Table, columns: Sequence[str], values: pa.Array) -> pa.ChunkedArray:
    """Which rows hold one of `values` in any of `columns` (a null matches nothing). Pure."""
    found = pc.is_in(rows[columns[0]], values)
    for c in columns[1:]:
        found = pc.or_(found, pc.is_in(rows[c], values))
    return pc.fill_null(found, False)


def parts_holding(store: Store, table: Table, source_id: str, columns: Sequence[str], values: pa.Array) -> list[str]:
    """The keys of a source's parts holding a row whose value in any of `columns` is one of
    `values`: the newest checkpoint says which of the parts it summarises (its `_part`
    column), and only the parts after it are read, so finding a handful of rows costs the
    checkpoint and the tail, not the log. A damaged checkpoint is warned of and passed over
    (every part is then read); a corrupt part or a gap raises CorruptPart."""

    def hit(t: pa.Table) -> pa.ChunkedArray:
        return matching(t, columns, values)

    base = checkpoint.latest(store, table, source_id, _warn) if set(columns) <= set(table.state_columns) else None
    keys: list[str] = []
    if base:
        numbers = base.rows[checkpoint.PART].filter(hit(base.rows)).unique().to_pylist()
        keys = [layout.part_key(table.name, source_id, n) for n in sorted(numbers)]
    tail = part_keys(store, table.name, source_id, base.seq if base else 0)
    gaps = check_contiguous(tail, table.error, base.seq if base else 0)
    if gaps:
        raise gaps[0]
    for key in tail:
        if pc.any(hit(read_conformed(store, key, table, list(columns)))).as_py():
            keys.append(key)
    return keys


def _seq(key: str) -> int:
    return (layout.parse_part_key(key) or ("", "", 0))[2]


def _warn(exc: CorruptPart) -> None:
    """A damaged checkpoint costs only time (the parts it summarises are read instead): said, not fatal."""
    _log.warning("%s; reading the parts it summarises instead", exc)


class Log:
    """A source's log as read so far: its newest checkpoint, then parts read one by one. Parts
    are immutable, so a retry reads only newer ones; the state columns read are what a
    checkpoint of the log will hold."""

    def __init__(self, store: Store, table: Table, source_id: str, columns: Sequence[str] | None = None):
        self.store, self.table, self.source_id = store, table, source_id
        self.columns = list(columns or table.state_columns)
        self.base: checkpoint.Checkpoint | None = None
        self.loaded = False
        self.rows: dict[str, pa.Table] = {}  # the checkpoint's and each part's, in `columns`
        self.parts: dict[str, pa.Table] = {}  # in the state columns, for the next checkpoint
        # parts a refused create proved to exist: read by key even when a stale listing omits them
        self.taken: set[str] = set()
        self.unlisted = 0  # refreshes whose listing lacked a part known to exist
        self.damaged: list[str] = []  # checkpoints passed over, for the caller's report

    def _start(self) -> None:
        if self.loaded:
            return
        self.base = checkpoint.latest(self.store, self.table, self.source_id, lambda e: self.damaged.append(str(e)))
        if self.base:
            self.rows[self.base.key] = self.base.rows.select(self.columns)
        self.loaded = True

    @property
    def after(self) -> int:
        return self.base.seq if self.base else 0

    def refresh(self) -> int:
        """Read parts not read yet; returns the next free commit number."""
        self._start()
        listed = part_keys(self.store, self.table.name, self.source_id, self.after)
        if self.taken - set(listed):
            self.unlisted += 1
        keys = sorted(set(listed) | self.taken)
        gaps = check_contiguous(keys, self.table.error, self.after)
        if gaps:
            raise gaps[0]
        for key in keys:
            if key not in self.rows:
                try:
                    part = read_conformed(self.store, key, self.table, self.table.state_columns)
                except StorageUnavailable:
                    if key in self.taken:
                        raise StorageUnavailable(
                            f"{key}: the store refused to create it (it exists) but reads it as missing; retried later"
                        ) from None
                    raise
                self.parts[key] = part
                self.rows[key] = part.select(self.columns)
        return self.after + len(keys) + 1

    def committed(self) -> pa.Table:
        """Every row read so far, in `columns`: columnar, so a select builds its sets from
        columns and never makes a Python dict of each of a checkpoint's rows."""
        schema = pa.schema([self.table.schema.field(c) for c in self.columns])
        return pa.concat_tables([schema.empty_table(), *(t.cast(schema) for t in self.rows.values())])

    def checkpoint_due(self, seq: int, every: int) -> bool:
        """Part `seq` just committed: is it `every` parts past the newest checkpoint?"""
        return every > 0 and seq - self.after >= every

    def write_checkpoint(self, seq: int, new: pa.Table) -> str:
        """The checkpoint of parts 1..seq: the newest checkpoint, the parts read after it, and
        `new` (part seq's rows, in the state columns)."""
        mine = [(_seq(k), self.parts[k]) for k in sorted(self.parts)]
        if len(mine) != seq - 1 - self.after:
            raise StorageUnavailable(
                f"{self.source_id}'s {self.table.name} log moved on; checkpoint left to the next commit"
            )
        rows = checkpoint.state_rows(self.table, [*mine, (seq, new)], self.base.rows if self.base else None)
        return checkpoint.write(self.store, self.table, self.source_id, seq, rows)


Rows = list[dict[str, Any]]
Select = Callable[[pa.Table, Rows], tuple[Rows, dict[str, int]]]


@dataclass
class Appended:
    key: str | None  # the part this commit created, None when nothing was new
    rows: list[dict[str, Any]]  # the rows it added
    dropped: dict[str, int]  # rows left out, by reason
    conflicts: int  # times another committer took the number first
    checkpoint: str | None = None  # the checkpoint this commit wrote
    # why a checkpoint due was not written, and damaged checkpoints passed over (for the report)
    problems: list[str] = field(default_factory=list)


def append(
    log: Log,
    rows: list[dict[str, Any]],
    select: Select,
    to_bytes: Callable[[list[dict[str, Any]], dict[str, Any]], bytes],
    info: dict[str, Any] | None = None,
    max_conflicts: int = MAX_CONFLICTS,
    checkpoint_every: int | None = None,
) -> Appended:
    """Append what `select` finds new in `rows` as the log's next part, conditionally, then
    write a checkpoint when one is due.

    Re-running is a no-op; of two committers racing for one number one wins, and the other
    reads the winner's part and tries the next number with what is still new. The commit
    stands whatever becomes of its checkpoint: one not written is the next commit's to write.
    """
    every = checkpoint.interval() if checkpoint_every is None else checkpoint_every  # a bad setting: before writing
    for conflicts in range(max_conflicts + 1):
        seq = log.refresh()
        new, dropped = select(log.committed(), rows)
        if not new:
            return Appended(None, [], dropped, conflicts, problems=list(log.damaged))
        key = layout.part_key(log.table.name, log.source_id, seq)
        meta = {**(info or {}), "seq": seq, "committed_at": datetime.now(UTC).isoformat(timespec="milliseconds")}
        data = to_bytes(new, meta)
        try:
            log.store.put_bytes(key, data, "application/vnd.apache.parquet")
        except ObjectExists:
            log.taken.add(key)  # read by key next time, listed or not
            time.sleep(random.uniform(0, min(0.05 * 2**conflicts, 1.0)))  # noqa: S311 - jitter, not a secret
            continue
        done = Appended(key, new, dropped, conflicts, problems=list(log.damaged))
        if log.checkpoint_due(seq, every):
            try:
                part = conform(
                    parse(key, data, log.table, log.table.state_columns), log.table.schema, log.table.state_columns
                )
                done.checkpoint = log.write_checkpoint(seq, part)
            except (StorageUnavailable, CorruptObject, ObjectExists) as exc:
                done.problems.append(f"checkpoint at {key} not written: {exc}")
                _log.warning("checkpoint at %s not written: %s", key, exc)
        return done
    stale = (
        f"; {log.unlisted} of its listings omitted parts the store said exist (a stale listing)" if log.unlisted else ""
    )
    raise StorageUnavailable(
        f"commit to {log.source_id}'s {log.table.name} log lost {max_conflicts} races in a row{stale}; retried later"
    )


def select_by_key(key: str) -> Select:
    """Rows whose `key` the log (or an earlier candidate) does not hold yet. Pure."""

    def select(committed: pa.Table, candidates: Rows) -> tuple[Rows, dict[str, int]]:
        seen = set(committed.column(key).to_pylist())
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

    log = Log(store, table, source_id, [table.key])
    return append(log, rows, select_by_key(table.key), lambda new, meta: encode(table, new, meta), info)
