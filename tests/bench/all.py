"""Every stage beside its bare library, in one run (make bench).

Each stage's work is done by the project and by the bare library doing the same work, in
the same run, interleaved where the stage allows; the ratio is always a throughput ratio
(bare = 1.00: below 1 the project is slower), with the number of runs and the spread of the
per-run ratios. The figures go to a JSON file, and the README's performance section is
rendered from that file (between its bench markers), dated and with the machine described.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "tests" / "bench" / "results.json"
BEGIN, END = "<!-- bench:begin (make bench writes this section) -->", "<!-- bench:end -->"


def _row(stage: str, work: str, ours: str, bare: str, ratios: list[float], target: float | None = None,
         note: str = "") -> dict[str, Any]:  # fmt: skip
    return {
        "stage": stage,
        "work": work,
        "ours": ours,
        "bare": bare,
        "ratio": round(statistics.median(ratios), 3),
        "runs": len(ratios),
        "spread": [round(min(ratios), 3), round(max(ratios), 3)],
        "target": target,
        "note": note,
    }


def extraction() -> list[dict[str, Any]]:
    from tests.bench.real import per_page_speed, whole_step_speed

    page = per_page_speed(rounds=3)
    step = whole_step_speed(rounds=3)
    return [
        _row(
            "extraction, per page",
            f"{page['pages']} real article pages, one process",
            f"{page['pipeline_ms']['median']} ms median, {page['pipeline_ms']['p95']} ms p95",
            f"trafilatura.extract: {page['bare_ms']['median']} ms median, {page['bare_ms']['p95']} ms p95",
            [1 / r for r in page["round_ratios"]],
            note=f"p95 ratio {1 / page['ratio_p95']:.2f}",
        ),
        _row(
            "extract step",
            f"{step['pages']} real pages: read the WARC, extract, write clean documents, commit",
            f"{step['step_pages_per_s']} pages/s",
            f"trafilatura.extract over the same bodies: {round(step['pages'] / step['bare_s'], 1)} pages/s",
            [1 / r for r in step["round_ratios"]],
        ),
    ]


def reprocess() -> list[dict[str, Any]]:
    from tests.bench.reprocess import BARE, measure

    f = measure(copies=2, rounds=3)
    ours = f"ours, {f['workers']} workers"
    return [
        _row(
            "re-extraction (news_reprocess)",
            f"{f['captures']} archived captures, {f['workers']} cores",
            f"{f['captures_per_s'][ours]} captures/s ({f['speedup_over_one_worker']}x one worker)",
            f"warcio + trafilatura in a Pool({f['workers']}): {f['captures_per_s'][BARE]} captures/s",
            f["round_ratios"],
            target=0.9,
        )
    ]


def crawl() -> list[dict[str, Any]]:
    from tests.bench.crawl import CONCURRENCY, bench

    out = []
    for pages, rounds in ((3000, 5), (10_000, 1)):
        r = bench(pages, rounds)
        p, b = r["project"], r["bare"]
        out.append(
            _row(
                f"crawl, {pages:,} pages",
                f"a local site (TCP_NODELAY), concurrency {CONCURRENCY}, WARC + crawl log + upload",
                f"{p['pages_per_s']} pages/s, peak RSS {p['peak_rss_mib']} MiB",
                f"minimal Scrapy SitemapSpider: {b['pages_per_s']} pages/s, peak RSS {b['peak_rss_mib']} MiB",
                r["round_ratios"],
                target=0.8,
                note=f"RSS {r['rss_ratio']:.2f}x bare (+{r['rss_over_bare_mib']} MiB)",
            )
        )
    return out


def catalog(rows: int) -> list[dict[str, Any]]:
    from tests.bench.archive import catalog_vs_bare

    f = catalog_vs_bare(rows, REPO / ".work" / "bench-archive")
    o, b, d = f["ours"], f["bare"], f["duckdb"]
    queries = [("filter_ms", "source + month"), ("phrase_ms", "phrase"), ("common_ms", "two common words"),
               ("get_ms", "get by id")]  # fmt: skip
    return [
        _row(
            "catalog build",
            f"{rows:,} manifest rows, from scratch",
            f"{o['rows_per_s']:,} rows/s (SQLite rows + tantivy index), {o['bytes_per_row']} B/row",
            f"tantivy indexing the same rows: {b['rows_per_s']:,} rows/s, {b['bytes_per_row']} B/row",
            [o["rows_per_s"] / b["rows_per_s"]],
        ),
        _row(
            "catalog queries",
            f"{rows:,} rows: " + ", ".join(label for _, label in queries) + " (counts and a page of rows with text)",
            ", ".join(f"{o[k]} ms" for k, _ in queries),
            "DuckDB over the Parquet manifests: " + ", ".join(f"{d[k]} ms" for k, _ in queries),
            [d[k] / o[k] for k, _ in queries if o[k] > 0],
            note="spread over the four queries; tantivy alone, ids only: "
            + ", ".join(f"{b[k]} ms" for k, _ in queries),
        ),
    ]


def machine() -> str:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")), "")  # fmt: skip
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores ({model or platform.machine()}), {mem:.0f} GiB, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")  # fmt: skip


def render(results: dict[str, Any]) -> str:
    """The README's performance section, from the JSON alone."""
    lines = [
        BEGIN,
        f"`make bench`, {results['date']}, on {results['machine']}; {results['minutes']} minutes.",
        "Ratios are throughputs, bare library = 1.00 (below 1 the project is slower); the median",
        "of the runs, and the spread of the per-run ratios.",
        "",
        "| stage | work | project | bare library, same work | ratio | runs (spread) | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["stages"]:
        spread = f"{r['runs']} ({r['spread'][0]:.2f}-{r['spread'][1]:.2f})"
        target = f">= {r['target']:.2f}" if r["target"] else ""
        note = f"; {r['note']}" if r["note"] else ""
        lines.append(
            f"| {r['stage']} | {r['work']} | {r['ours']}{note} | {r['bare']} | **{r['ratio']:.2f}** | {spread} | {target} |"
        )
    lines.append(END)
    return "\n".join(lines)


def update_readme(readme: Path, section: str) -> None:
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"error: {readme} has no bench section ({BEGIN} ... {END})")
    readme.write_text(pattern.sub(lambda _: section, text), encoding="utf-8")


# each stage from the command line's arguments (only the catalog's size is one)
STAGES: dict[str, Callable[[argparse.Namespace], list[dict[str, Any]]]] = {
    "extraction": lambda _: extraction(),
    "reprocess": lambda _: reprocess(),
    "crawl": lambda _: crawl(),
    "catalog": lambda args: catalog(args.rows),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, default=RESULTS)
    ap.add_argument("--readme", type=Path, default=REPO / "README.md", help="whose bench section to rewrite")
    ap.add_argument("--rows", type=int, default=200_000, help="catalog rows")
    ap.add_argument("--only", nargs="+", choices=list(STAGES), help="run these stages only (README left alone)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    stages: list[dict[str, Any]] = []
    for name in args.only or STAGES:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        stages += STAGES[name](args)
    results = {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": machine(),
        "minutes": round((time.perf_counter() - t0) / 60, 1),
        "stages": stages,
    }
    table = Table(title=f"Every stage beside its bare library ({results['machine']})")
    for col in ("stage", "project", "bare library", "ratio", "runs (spread)", "target"):
        table.add_column(col)
    for r in stages:
        table.add_row(r["stage"], r["ours"], r["bare"], f"{r['ratio']:.2f}",
                      f"{r['runs']} ({r['spread'][0]:.2f}-{r['spread'][1]:.2f})", str(r["target"] or ""))  # fmt: skip
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if not args.only:
        update_readme(args.readme, render(results))
        print(f"bench: figures in {args.json}, README section rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
