"""Dataset exports of committed rows (provenance columns included): JSON lines, CSV, Parquet, WACZ.

Each exported capture carries what happened to it afterwards: its takedown and edit
events and its syndication links (JSON in the `events` and `links` columns; in a WACZ,
events.jsonl and links.jsonl beside the datapackage).

Rows are streamed: memory stays bounded by one Parquet batch (or one capture's WARC
records) however large the selection. The file appears under its name only once
complete, so an interrupted export never leaves a half-written dataset behind.
"""

from __future__ import annotations

import csv
import json
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from researcher.aftermath import Attach
from storage.errors import PermanentError
from storage.manifest import COLUMNS, SCHEMA
from storage.store import Store
from storage.tablelog import CorruptPart

FORMATS = ("jsonl", "csv", "parquet", "wacz")
AFTERMATH = ["events", "links"]  # JSON arrays: researcher.aftermath.of_capture
EXPORT_COLUMNS = [*COLUMNS, *AFTERMATH]
EXPORT_SCHEMA = pa.schema([*SCHEMA, *(pa.field(c, pa.string()) for c in AFTERMATH)])
PARQUET_BATCH = 2000
Rows = Iterable[dict[str, Any]]


def _jsonl(rows: Rows, path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            out = {c: row.get(c) for c in EXPORT_COLUMNS}
            for c in AFTERMATH:  # nested in JSON lines, not JSON in a string
                out[c] = json.loads(str(out[c])) if out[c] else []
            fh.write(json.dumps(out, ensure_ascii=False) + "\n")
            n += 1
    return n


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row for csv.DictWriter: list columns (authors, tags, flags) joined with '; '."""
    return {k: "; ".join(v) if isinstance(v, list) else v for k, v in row.items()}


def _csv(rows: Rows, path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=EXPORT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(csv_row(row))
            n += 1
    return n


def _parquet(rows: Rows, path: Path) -> int:
    n = 0
    it = iter(rows)
    with pq.ParquetWriter(path, EXPORT_SCHEMA, compression="zstd") as writer:
        while batch := list(islice(it, PARQUET_BATCH)):
            table = pa.Table.from_pylist([{c: r.get(c) for c in EXPORT_COLUMNS} for r in batch], schema=EXPORT_SCHEMA)
            writer.write_table(table)
            n += len(batch)
    return n


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomically(target: Path, write: Callable[[Path], Any], *, replace: bool = False) -> Any:
    """Run write(tmp_path) and move the result to target; nothing appears under target on failure.

    An existing target is kept (PermanentError) unless replace; the file gets the mode the
    umask gives new files (0644 under the usual 022), not mkstemp's private 0600.
    """
    if not target.parent.is_dir():
        raise PermanentError(f"{target.parent} is not a directory")
    if target.exists() and not replace:
        raise PermanentError(f"{target} already exists; choose another name")
    if replace:
        _only_over_a_regular_file(target)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise PermanentError(f"cannot write in {target.parent}: {exc.strerror}") from None
    os.close(fd)
    try:
        result = write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())
        if replace:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)  # fails if the name appeared meanwhile: never over a file
            except FileExistsError:
                raise PermanentError(f"{target} already exists; choose another name") from None
    except OSError as exc:
        raise PermanentError(f"cannot write {target}: {exc.strerror}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return result


def _only_over_a_regular_file(target: Path) -> None:
    """Replacing is for a file: never a FIFO, a device node, a socket, a directory or a link."""
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise PermanentError(f"cannot look at {target}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise PermanentError(f"{target} is a {kind}; --force replaces regular files only")


_KINDS = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISLNK, "symbolic link"),
)


def atomic_write_bytes(target: Path, data: bytes, *, replace: bool = False) -> None:
    _atomically(target, lambda p: p.write_bytes(data), replace=replace)


def counted(rows: Rows, tick: Callable[[], None]) -> Iterator[dict[str, Any]]:
    """The rows, calling tick() after each (progress bars)."""
    for row in rows:
        yield row
        tick()


def with_aftermath(rows: Rows, attach: Attach) -> Iterator[dict[str, Any]]:
    """Each row with its events and links as JSON strings (the export's last two columns)."""
    for row in rows:
        found = attach(row["capture_id"])
        yield {**row, **{c: json.dumps(found[c], ensure_ascii=False) for c in AFTERMATH}}


def write_export(
    rows: Rows,
    fmt: str,
    target: Path,
    store: Store | None = None,
    on_corrupt: Callable[[CorruptPart], None] | None = None,
) -> int:
    """Write rows to target in the format; refuses to replace an existing file. Returns the row count.

    WACZ needs the store the rows' WARC records are read from. A corrupt events or links
    part is reported to `on_corrupt` and left out (the export goes on without the events or
    links it held); without on_corrupt it fails the export.
    """
    if fmt not in FORMATS:
        raise PermanentError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if target.exists():
        raise PermanentError(f"{target} already exists; choose another name")
    if not target.parent.is_dir():
        raise PermanentError(f"{target.parent} is not a directory")
    if store is not None:
        rows = with_aftermath(rows, Attach(store, on_corrupt))
    if fmt == "wacz":
        if store is None:
            raise PermanentError("a WACZ export needs the archive's store")
        from researcher.wacz import write_wacz

        return int(_atomically(target, lambda p: write_wacz(rows, store, p, title=target.stem)))
    writers = {"jsonl": _jsonl, "csv": _csv, "parquet": _parquet}
    return int(_atomically(target, lambda p: writers[fmt](rows, p)))
