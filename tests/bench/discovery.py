"""Discovery and crawl benchmark (run on demand: make bench-crawl).

1. Sitemap parsing: a 50,000-entry urlset (the protocol's maximum per file), plain and as a
   Google News sitemap: time and peak Python memory of `parse_sitemap`; and how fast an
   XML bomb is refused.
2. The synthetic news site (tests/bench/site.py): a sitemap index of MONTHS monthly
   sitemaps with their <lastmod>, ARTICLES a month. A
   one-day backfill is crawled through the real Scrapy stack twice, trusting the index's
   lastmod and not: sitemaps fetched, requests, seconds.
Crawl throughput beside bare Scrapy is tests/bench/crawl.py's (the same site, tests/bench/site.py).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from spiders.crawl import RunContext, run_crawl
from spiders.discovery import DiscoveryError, parse_sitemap
from storage.store import LocalStore
from tests.bench.site import HOST, BenchSite, SiteHandler, write_profile


def _urlset(n: int, news: bool) -> bytes:
    rows = []
    for i in range(n):
        when = datetime(2022, 3, 1, tzinfo=UTC) + timedelta(minutes=i)
        loc = f"https://{HOST}/news/{i}-some-article-slug-of-usual-length/"
        if news:
            rows.append(
                f"<url><loc>{loc}</loc><news:news><news:publication><news:name>B</news:name>"
                f"<news:language>en</news:language></news:publication><news:publication_date>"
                f"{when.isoformat()}</news:publication_date><news:title><![CDATA[Title number {i} & co]]>"
                f"</news:title></news:news></url>"
            )
        else:
            rows.append(f"<url><loc>{loc}</loc><lastmod>{when.isoformat()}</lastmod></url>")
    ns = ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"' if news else ""
    body = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"{ns}>' + "".join(rows) + "</urlset>"
    return body.encode()


def bench_parse() -> list[tuple[str, str]]:
    out = []
    for news in (False, True):
        body = _urlset(50_000, news)
        t0 = time.perf_counter()
        page = parse_sitemap(body, f"https://{HOST}/sitemap.xml")
        seconds = time.perf_counter() - t0
        tracemalloc.start()  # a second pass for memory: tracing slows allocation down
        parse_sitemap(body, f"https://{HOST}/sitemap.xml")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(page.candidates) == 50_000
        kind = "Google News sitemap" if news else "sitemap"
        out.append(
            (
                f"parse a 50,000-entry {kind} ({len(body) / 2**20:.1f} MB)",
                f"{seconds:.2f} s, {50_000 / seconds:,.0f} entries/s, peak Python allocations {peak / 2**20:.0f} MB (lxml's own not traced)",
            )
        )
    entities = '<!ENTITY lol0 "lol">' + "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE urlset [{entities}]>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&lol9;</loc></url></urlset>'
    ).encode()
    t0 = time.perf_counter()
    try:
        parse_sitemap(bomb, f"https://{HOST}/bomb.xml")
        verdict = "parsed (entities left unexpanded)"
    except DiscoveryError as exc:
        verdict = f"refused: {str(exc)[:60]}"
    out.append(
        ("XML bomb (a billion laughs, 10^9 characters if expanded)", f"{time.perf_counter() - t0:.4f} s, {verdict}")
    )
    return out


def _crawl(tmp: Path, address: str, start: datetime, days: int, trust: bool) -> dict[str, Any]:
    SiteHandler.hits.clear()
    work = Path(tempfile.mkdtemp(dir=tmp))
    store = LocalStore(work / "archive")
    ctx = RunContext("bench_site", start, start + timedelta(days=days), start.date())
    t0 = time.perf_counter()
    result = run_crawl(store, ctx, profile_path=write_profile(work, trust), replay={HOST: address})
    seconds = time.perf_counter() - t0
    archived = result.summary["articles"].get("archived", 0)
    return {"seconds": seconds, "archived": archived, "hits": dict(SiteHandler.hits)}


def bench_backfill(months: int, per_month: int) -> list[tuple[str, str]]:
    out = []
    with BenchSite(months, per_month) as site, tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
        last = SiteHandler.month(months - 1)
        day = datetime(last.year, last.month, 10, tzinfo=UTC)
        total = months * per_month
        for trust in (True, False):
            r = _crawl(Path(tmp), site.address, day, 1, trust)
            label = "trusting the index's lastmod" if trust else "lastmod not trusted"
            out.append(
                (
                    f"one-day backfill, {months} monthly sitemaps, {total:,} articles ({label})",
                    f"{r['hits'].get('sitemap', 0)} sitemap fetches, {r['archived']} archived, {r['seconds']:.1f} s",
                )
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--months", type=int, default=120, help="monthly sitemaps in the synthetic site's index")
    ap.add_argument("--per-month", type=int, default=300, help="articles per month")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    rows = bench_parse() + bench_backfill(args.months, args.per_month)
    table = Table(title="Discovery and crawl")
    table.add_column("measure")
    table.add_column("figure")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(rows), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
