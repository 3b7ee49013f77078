"""Crawl benchmark (run on demand: make bench-crawl): the project's crawl beside a bare Scrapy
spider fetching the same synthetic site with the same concurrency, in the same run.

Each trial is a fresh process (so peak RSS is the crawler's own, read from the kernel's
rusage of its children): the project's trial calls `run_crawl` (Scrapy subprocess, WARC,
crawl log, upload to a local archive), the bare one runs `tests.bench.bare_spider` (a
SitemapSpider that yields each article's URL and title and writes nothing). Pairs are
interleaved; medians, spreads and the rate ratio are printed and returned.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tests.bench.site import HOST, BenchSite, SiteHandler, write_profile

CONCURRENCY = 8
ROOT = Path(__file__).resolve().parents[2]


def _window(months: int) -> tuple[datetime, datetime]:
    first, last = SiteHandler.month(0), SiteHandler.month(months)
    return datetime(first.year, first.month, 1, tzinfo=UTC), datetime(last.year, last.month, 1, tzinfo=UTC)


def _trial(kind: str, address: str, months: int) -> dict[str, Any]:
    """In the trial process: one crawl, timed; the peak RSS of the crawler subprocess."""
    with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
        work = Path(tmp)
        if kind == "project":  # the task process has these imported already: not timed
            from spiders.crawl import RunContext, run_crawl
            from storage.store import LocalStore
        t0 = time.perf_counter()
        if kind == "project":
            start, end = _window(months)
            ctx = RunContext("bench_site", start, end, start.date())
            result = run_crawl(
                LocalStore(work / "archive"),
                ctx,
                profile_path=write_profile(work, concurrency=CONCURRENCY),
                replay={HOST: address},
            )
            pages = result.summary["articles"].get("archived", 0)
            warc = sum(f.stat().st_size for f in (work / "archive").rglob("*.warc.gz"))
        else:
            proc = subprocess.run(
                [sys.executable, "-m", "tests.bench.bare_spider", f"http://{address}/sitemap.xml",
                 "--concurrency", str(CONCURRENCY)],
                cwd=ROOT, capture_output=True, text=True, check=True,
            )  # fmt: skip
            pages = int(proc.stderr.split("'item_scraped_count': ")[1].split(",")[0])
            warc = 0
        seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {"seconds": seconds, "pages": pages, "peak_rss": rss, "warc_bytes": warc}


def run_trial(kind: str, address: str, months: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.crawl", "--trial", kind, "--address", address, "--months", str(months)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def bench(pages: int, rounds: int) -> dict[str, Any]:
    """Interleaved rounds of (bare, project) on a site of `pages` articles over 10 months."""
    months = 10
    trials: dict[str, list[dict[str, Any]]] = {"bare": [], "project": []}
    with BenchSite(months, pages // months) as site:
        for _ in range(rounds):
            for kind in ("bare", "project"):
                site.reset()
                result = run_trial(kind, site.address, months)
                result["article_requests"] = site.hits.get("a", 0)
                trials[kind].append(result)
    out: dict[str, Any] = {"pages": pages, "rounds": rounds, "concurrency": CONCURRENCY}
    for kind, runs in trials.items():
        rates = [r["pages"] / r["seconds"] for r in runs]
        out[kind] = {
            "pages_per_s": round(statistics.median(rates), 1),
            "spread": [round(min(rates), 1), round(max(rates), 1)],
            "peak_rss_mib": round(statistics.median(r["peak_rss"] for r in runs) / 2**20, 1),
            "pages": [r["pages"] for r in runs],
            "article_requests": [r["article_requests"] for r in runs],
        }
    out["round_ratios"] = [
        round((p["pages"] / p["seconds"]) / (b["pages"] / b["seconds"]), 3)
        for p, b in zip(trials["project"], trials["bare"], strict=True)
    ]
    out["warc_kib_per_page"] = round(
        trials["project"][0]["warc_bytes"] / max(trials["project"][0]["pages"], 1) / 1024, 2
    )
    out["rate_ratio"] = round(out["project"]["pages_per_s"] / out["bare"]["pages_per_s"], 3)
    out["rss_ratio"] = round(out["project"]["peak_rss_mib"] / out["bare"]["peak_rss_mib"], 3)
    out["rss_over_bare_mib"] = round(out["project"]["peak_rss_mib"] - out["bare"]["peak_rss_mib"], 1)
    return out


def report(results: list[dict[str, Any]], console: Console) -> None:
    table = Table(title=f"Crawl of a local site beside bare Scrapy (concurrency {CONCURRENCY}, TCP_NODELAY)")
    for col in ("pages", "rounds", "project pages/s", "bare pages/s", "ratio", "project RSS MiB", "bare RSS MiB"):
        table.add_column(col)
    for r in results:
        p, b = r["project"], r["bare"]
        table.add_row(
            f"{r['pages']:,}", str(r["rounds"]),
            f"{p['pages_per_s']} ({p['spread'][0]}-{p['spread'][1]})", f"{b['pages_per_s']} ({b['spread'][0]}-{b['spread'][1]})",
            f"{r['rate_ratio']:.2f}x", f"{p['peak_rss_mib']}", f"{b['peak_rss_mib']}",
        )  # fmt: skip
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, nargs="+", default=[3000, 10000])
    ap.add_argument("--rounds", type=int, nargs="+", default=[3, 1], help="rounds for each --pages")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--trial", choices=["project", "bare"], help=argparse.SUPPRESS)
    ap.add_argument("--address", help=argparse.SUPPRESS)
    ap.add_argument("--months", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.trial:
        print(json.dumps(_trial(args.trial, args.address, args.months)))
        return 0
    results = [bench(n, r) for n, r in zip(args.pages, args.rounds, strict=True)]
    report(results, Console(width=None if sys.stdout.isatty() else 140))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
