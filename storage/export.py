"""Dataset exports of committed rows (provenance columns included): JSON lines, CSV, Parquet.

The file appears under its name only once complete, so an interrupted export never
leaves a half-written dataset behind.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from storage.errors import PermanentError
from storage.manifest import COLUMNS, SCHEMA

FORMATS = ("jsonl", "csv", "parquet")


def _jsonl(rows: Iterable[dict[str, Any]], path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
            n += 1
    return n


def _csv(rows: Iterable[dict[str, Any]], path: Path) -> int:
    n = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "; ".join(v) if isinstance(v, list) else v for k, v in row.items()})
            n += 1
    return n


def _parquet(rows: Iterable[dict[str, Any]], path: Path) -> int:
    table = pa.Table.from_pylist([{c: r.get(c) for c in COLUMNS} for r in rows], schema=SCHEMA)
    pq.write_table(table, path, compression="zstd")
    return int(table.num_rows)


def _atomically(target: Path, write: Any) -> Any:
    """Run write(tmp_path) and move the result to target; nothing appears under target on failure."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        result = write(Path(tmp))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result


def atomic_write_bytes(target: Path, data: bytes) -> None:
    _atomically(target, lambda p: p.write_bytes(data))


def write_export(rows: Iterable[dict[str, Any]], fmt: str, target: Path) -> int:
    """Write rows to target in the format; refuses to replace an existing file. Returns the row count."""
    writers = {"jsonl": _jsonl, "csv": _csv, "parquet": _parquet}
    if fmt not in writers:
        raise PermanentError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if target.exists():
        raise PermanentError(f"{target} already exists; choose another name")
    return int(_atomically(target, lambda p: writers[fmt](rows, p)))
