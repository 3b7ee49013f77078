"""Re-extraction benchmark (run on demand: make bench-reprocess): `news_reprocess`'s work on
every core, beside the bare libraries doing the same work in the same run.

An archive of the real-page corpus (COPIES times over, one WARC part, committed like a
crawl) is re-extracted with a changed noise rule by `runs.reprocess_range` (read each part
once, extract on the pool, write clean documents, commit in batches), with one worker and
with every core; beside it, the bare pipeline the issue names: warcio reading the same part
and `multiprocessing.Pool(ncpu)` running `trafilatura.extract` over the bodies, and the same
bare loop running the project's extractor (so the orchestration's own cost shows apart
from the extractor's). Medians of ROUNDS rounds, interleaved; throughput ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import trafilatura
from rich.console import Console
from rich.table import Table
from warcio.archiveiterator import ArchiveIterator

from extract import classify_capture
from pipeline import runs
from pipeline.parallel import default_workers
from storage.store import LocalStore
from tests.realarchive import CHANGED, DAY, build_archive


def _bodies(root: Path) -> list[tuple[bytes, str]]:
    out = []
    for part in root.rglob("*.warc.gz"):
        with part.open("rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "response":
                    out.append((record.content_stream().read(), record.rec_headers.get_header("WARC-Target-URI")))
    return out


def _bare_trafilatura(item: tuple[bytes, str]) -> int:
    return len(trafilatura.extract(item[0], url=item[1]) or "")


def _bare_project(item: tuple[bytes, str]) -> int:
    try:
        return len(CHANGED(item[0], item[1], "text/html")["text"])
    except ValueError:
        return 0


def _bare(root: Path, fn: Callable[[tuple[bytes, str]], int], workers: int) -> float:
    t = time.perf_counter()
    bodies = _bodies(root)  # warcio reading the part, as the bare pipeline would
    with get_context("spawn").Pool(workers) as pool:
        sum(pool.imap(fn, bodies, chunksize=8))
    return time.perf_counter() - t


def _ours(archive: Path, scratch: Path, workers: int) -> float:
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(archive, scratch)
    store = LocalStore(scratch)
    t = time.perf_counter()
    runs.reprocess_range(store, "bench", DAY, DAY, CHANGED, CHANGED.info, classify_capture, workers=workers)
    return time.perf_counter() - t


BARE = "bare trafilatura, Pool"


def measure(copies: int = 3, rounds: int = 3) -> dict[str, Any]:
    """Interleaved rounds of ours (one worker, every core) and the bare Pools; the figures."""
    ncpu = default_workers()
    ours = f"ours, {ncpu} workers"
    times: dict[str, list[float]] = {k: [] for k in ("ours, 1 worker", ours, BARE, "bare project extractor, Pool")}
    with tempfile.TemporaryDirectory(prefix="bench-reprocess-") as tmp:
        archive = Path(tmp) / "archive"
        build_archive(archive, copies=copies)
        n = len(_bodies(archive))
        for _ in range(rounds):
            times[BARE].append(_bare(archive, _bare_trafilatura, ncpu))
            times[ours].append(_ours(archive, Path(tmp) / "scratch", ncpu))
            times["bare project extractor, Pool"].append(_bare(archive, _bare_project, ncpu))
            times["ours, 1 worker"].append(_ours(archive, Path(tmp) / "scratch", 1))
    med = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: n / v for k, v in med.items()}
    return {
        "captures": n,
        "workers": ncpu,
        "rounds": rounds,
        "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "captures_per_s": {k: round(v, 1) for k, v in rate.items()},
        "round_ratios": [round(b / o, 3) for o, b in zip(times[ours], times[BARE], strict=True)],
        "ratio_vs_bare_trafilatura_pool": round(rate[ours] / rate[BARE], 3),
        "ratio_vs_bare_project_pool": round(rate[ours] / rate["bare project extractor, Pool"], 3),
        "speedup_over_one_worker": round(rate[ours] / rate["ours, 1 worker"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--copies", type=int, default=3, help="times the corpus is archived (168 captures each)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 140)
    figures = measure(args.copies, args.rounds)
    n, ncpu, times, rate = figures["captures"], figures["workers"], figures["seconds"], figures["captures_per_s"]
    table = Table(title=f"Re-extraction of {n} archived captures ({ncpu} cores, medians of {args.rounds})")
    for col in ("pipeline", "captures/s", "median s", "spread s"):
        table.add_column(col)
    for k, v in times.items():
        table.add_row(k, f"{rate[k]:.1f}", f"{statistics.median(v):.2f}", f"{min(v):.2f}-{max(v):.2f}")
    console.print(table)
    console.print(
        f"ours on {ncpu} workers: {figures['ratio_vs_bare_trafilatura_pool']:.2f}x the bare trafilatura Pool's rate, "
        f"{figures['ratio_vs_bare_project_pool']:.2f}x the bare Pool running the same extractor, "
        f"{figures['speedup_over_one_worker']:.2f}x one worker"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
