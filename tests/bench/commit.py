"""Commit benchmark (run on demand: make bench-commit): what the write-once commit costs as a
source's manifest log grows, side by side with bare pyarrow doing the same reads in the
same run.

For each log length N, a source gets N committed parts of ROWS rows (one per daily run,
the pipeline's layout) and the checkpoint its commits would have left at the last tenth
part (only the newest: older ones add one LIST page per 1,000 and are never read), then:
- `manifest.commit` of one more run's rows (find the newest checkpoint, read it and the
  parts after it, de-duplicate, create part N+1 conditionally, write a checkpoint when
  one is due), on a local directory and on SeaweedFS;
- bare pyarrow doing the reads that commit does (the checkpoint and the tail), and the
  reads it did before checkpoints (list the log, read every part);
and the ratios. Medians of RUNS runs, interleaved.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table

from storage import checkpoint, layout, manifest
from storage.store import LocalStore, S3Store, Store
from tests.s3server import WeedS3


def row(source: str, day: int, i: int) -> dict[str, Any]:
    return {c: None for c in manifest.COLUMNS} | {
        "capture_id": f"{day:05d}-{i:03d}",
        "source_id": source,
        "status": "ok",
        "requested_url": f"https://bench.example/{day}/{i}",
        "final_url": f"https://bench.example/{day}/{i}",
        "run": f"R{day}",
        "extraction_id": "x",
        "text": "A paragraph of article text. " * 40,
        "authors": [],
        "tags": [],
        "flags": [],
    }


def fill(store: Store, source: str, parts: int, rows: int) -> None:
    state = []
    for day in range(parts):
        data = manifest.to_parquet([row(source, day, i) for i in range(rows)], {"kind": "crawl", "seq": day + 1})
        store.put_bytes(layout.commit_key(source, day + 1), data)
        state.append(pq.ParquetFile(pa.BufferReader(data)).read(columns=manifest.MANIFESTS.state_columns))
    mark = parts - parts % checkpoint.EVERY
    if mark:
        checkpoint.write(
            store,
            manifest.MANIFESTS,
            source,
            mark,
            checkpoint.state_rows(manifest.MANIFESTS, list(enumerate(state[:mark], 1))),
        )


def bare_read(store: Store, source: str) -> int:
    """Every part of the log, as a commit read it before checkpoints."""
    n = 0
    for key in sorted(store.list(layout.manifests_prefix(source))):
        n += pq.ParquetFile(pa.BufferReader(store.get_bytes(key))).read().num_rows
    return n


def bare_tail(store: Store, source: str) -> int:
    """The newest checkpoint and the parts after it, with pyarrow and nothing else."""
    marks = sorted(store.list(checkpoint.prefix("manifests", source)))
    n, after = 0, ""
    if marks:
        n = pq.ParquetFile(pa.BufferReader(store.get_bytes(marks[-1]))).read().num_rows
        after = layout.commit_key(source, int(marks[-1].rsplit("/", 1)[1].split(".")[0]))
    for key in store.list(layout.manifests_prefix(source), after):
        n += pq.ParquetFile(pa.BufferReader(store.get_bytes(key))).read().num_rows
    return n


def measure(store: Store, label: str, sizes: list[int], rows: int, runs: int) -> list[dict[str, Any]]:
    out = []
    for n in sizes:
        source = f"bench_{label}_{n}"
        fill(store, source, n, rows)
        ours, bare, tail = [], [], []
        for r in range(runs):
            t = time.perf_counter()
            bare_read(store, source)
            bare.append(time.perf_counter() - t)
            t = time.perf_counter()
            bare_tail(store, source)
            tail.append(time.perf_counter() - t)
            new = [row(source, 100_000 + r, i) for i in range(rows)]
            t = time.perf_counter()
            manifest.commit(store, source, new)
            ours.append(time.perf_counter() - t)
        o, b, bt = statistics.median(ours), statistics.median(bare), statistics.median(tail)
        spread = (max(ours) - min(ours)) / o if o else 0.0
        out.append({"store": label, "parts": n, "rows_per_part": rows, "commit_s": o, "bare_read_s": b,
                    "bare_tail_s": bt, "ratio": o / bt if bt else None, "runs": runs, "spread": spread})  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10,100,1000,10000", help="log lengths to measure")
    ap.add_argument("--rows", type=int, default=20, help="rows per part (articles per run)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-commit-") as tmp:
        results += measure(LocalStore(Path(tmp) / "archive"), "local", sizes, args.rows, args.runs)
        weed = WeedS3(Path(tmp) / "weed").start()
        try:
            client = weed.client()
            client.create_bucket(Bucket="bench-commit")
            results += measure(S3Store("bench-commit", "a", client=client), "s3", sizes, args.rows, args.runs)  # type: ignore[arg-type]
        finally:
            weed.stop()
    table = Table(title=f"commit cost by log length (median of {args.runs}, {args.rows} rows a part)")
    cols = ("store", "parts in the log", "commit", "bare: checkpoint + tail", "ratio", "bare: every part", "spread")
    for col in cols:
        table.add_column(col)
    for r in results:
        table.add_row(r["store"], f"{r['parts']:,}", f"{r['commit_s'] * 1000:.0f} ms", f"{r['bare_tail_s'] * 1000:.0f} ms",
                      f"{r['ratio']:.2f}x", f"{r['bare_read_s'] * 1000:.0f} ms", f"{r['spread']:.0%}")  # fmt: skip
    Console(width=120).print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
