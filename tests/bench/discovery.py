"""Discovery and crawl benchmark (run on demand: make bench-crawl).

1. Sitemap parsing: a 50,000-entry urlset (the protocol's maximum per file), plain and as a
   Google News sitemap: time and peak Python memory of `parse_sitemap`; and how fast an
   XML bomb is refused.
2. A synthetic news site on 127.0.0.1 (generated on the fly, not the fixture server): a
   sitemap index of MONTHS monthly sitemaps with their <lastmod>, ARTICLES a month. A
   one-day backfill is crawled through the real Scrapy stack twice, trusting the index's
   lastmod and not: sitemaps fetched, requests, seconds.
3. Crawl throughput: a window of several days crawled with no delay (replayed to the local
   server, concurrency 8): articles archived per second and WARC bytes per article.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import threading
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Console
from rich.table import Table

from spiders.crawl import RunContext, run_crawl
from spiders.discovery import DiscoveryError, parse_sitemap
from storage.store import LocalStore
from tests.fixtures.server import NoDelayHTTPServer

HOST = "bench.example"
FIRST_MONTH = date(2013, 1, 1)
PARAGRAPH = (
    "The ministry said on Tuesday that talks would resume next week, while observers cautioned that "
    "the positions of both sides remained far apart on the main questions. "
)


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


class _Site(BaseHTTPRequestHandler):
    """The synthetic site: robots.txt, the sitemap index, monthly sitemaps, articles."""

    protocol_version = "HTTP/1.1"
    months: ClassVar[int] = 120
    per_month: ClassVar[int] = 300
    hits: ClassVar[dict[str, int]] = {}  # requests by kind (sitemap, a, robots...)
    lock: ClassVar[threading.Lock] = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @classmethod
    def month(cls, i: int) -> date:
        return date(FIRST_MONTH.year + (FIRST_MONTH.month - 1 + i) // 12, (FIRST_MONTH.month - 1 + i) % 12 + 1, 1)

    @classmethod
    def published(cls, m: int, k: int) -> datetime:
        """The k-th article of month m: spread evenly over the month."""
        first, days = cls.month(m), (cls.month(m + 1) - cls.month(m)).days
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        return start + timedelta(minutes=k * days * 1440 // cls.per_month)

    def do_GET(self) -> None:
        with self.lock:
            kind = self.path.split("/")[1].split("-")[0].split(".")[0] or "home"
            self.hits[kind] = self.hits.get(kind, 0) + 1
        if self.path == "/robots.txt":
            return self._send(b"User-agent: *\nDisallow: /search\n", "text/plain")
        if self.path == "/sitemap.xml":
            items = "".join(
                f"<sitemap><loc>https://{HOST}/sitemap-{m}.xml</loc>"
                f"<lastmod>{self.published(m, self.per_month - 1).isoformat()}</lastmod></sitemap>"
                for m in range(self.months)
            )
            return self._send(
                f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>'.encode(),
                "application/xml",
            )
        if match := re.fullmatch(r"/sitemap-(\d+)\.xml", self.path):
            m = int(match[1])
            items = "".join(
                f"<url><loc>https://{HOST}/a/{m}-{k}</loc><lastmod>{self.published(m, k).isoformat()}</lastmod></url>"
                for k in range(self.per_month)
            )
            return self._send(
                f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</urlset>'.encode(),
                "application/xml",
            )
        if match := re.fullmatch(r"/a/(\d+)-(\d+)", self.path):
            m, k = int(match[1]), int(match[2])
            when = self.published(m, k).isoformat()
            body = "".join(f"<p>{PARAGRAPH * 2}</p>" for _ in range(6))
            html = (
                f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Article {m}-{k}</title>'
                f'<meta property="article:published_time" content="{when}"></head><body><header><nav>'
                f'<a href="/">Home</a></nav></header><article><h1>Article {m}-{k}</h1>{body}</article>'
                f"<footer>© Bench</footer></body></html>"
            )
            return self._send(html.encode(), "text/html; charset=utf-8")
        self._send(b"not found", "text/plain", 404)

    def _send(self, body: bytes, ctype: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _profile(directory: Path, trust: bool) -> Path:
    path = directory / "bench_site.yaml"
    path.write_text(
        f"id: bench_site\nname: Bench\nlanguage: en\ndomains: [{HOST}]\n"
        f"sitemaps: ['https://{HOST}/sitemap.xml']\ntrust_sitemap_lastmod: {str(trust).lower()}\n"
        "politeness: {download_delay: 0, concurrency: 8, autothrottle: false, timeout: 30}\n",
        encoding="utf-8",
    )
    return path


def _crawl(tmp: Path, address: str, start: datetime, days: int, trust: bool) -> dict[str, Any]:
    _Site.hits.clear()
    work = Path(tempfile.mkdtemp(dir=tmp))
    store = LocalStore(work / "archive")
    ctx = RunContext("bench_site", start, start + timedelta(days=days), start.date())
    t0 = time.perf_counter()
    result = run_crawl(store, ctx, profile_path=_profile(work, trust), replay={HOST: address})
    seconds = time.perf_counter() - t0
    archived = result.summary["articles"].get("archived", 0)
    warc_bytes = sum(f.stat().st_size for f in (work / "archive").rglob("*.warc.gz"))
    return {"seconds": seconds, "archived": archived, "hits": dict(_Site.hits), "warc_bytes": warc_bytes}


def bench_crawl(months: int, per_month: int, window_days: int) -> list[tuple[str, str]]:
    _Site.months, _Site.per_month = months, per_month
    server = NoDelayHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    out = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp:
            last = _Site.month(months - 1)
            day = datetime(last.year, last.month, 10, tzinfo=UTC)
            total = months * per_month
            for trust in (True, False):
                r = _crawl(Path(tmp), address, day, 1, trust)
                label = "trusting the index's lastmod" if trust else "lastmod not trusted"
                out.append(
                    (
                        f"one-day backfill, {months} monthly sitemaps, {total:,} articles ({label})",
                        f"{r['hits'].get('sitemap', 0)} sitemap fetches, {r['archived']} archived, {r['seconds']:.1f} s",
                    )
                )
            r = _crawl(Path(tmp), address, day - timedelta(days=window_days - 1), window_days, True)
            fetched = r["hits"].get("a", 0)
            out.append(
                (
                    f"crawl of a {window_days}-day window, no delay, concurrency 8 (subprocess start included)",
                    f"{r['archived']} archived of {fetched} fetched in {r['seconds']:.1f} s: "
                    f"{r['archived'] / r['seconds']:.1f} articles/s, WARC {r['warc_bytes'] / max(r['archived'], 1) / 1024:.1f} KiB/article",
                )
            )
    finally:
        server.shutdown()
        server.server_close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--months", type=int, default=120, help="monthly sitemaps in the synthetic site's index")
    ap.add_argument("--per-month", type=int, default=300, help="articles per month")
    ap.add_argument("--window-days", type=int, default=10, help="days of the throughput crawl")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    rows = bench_parse() + bench_crawl(args.months, args.per_month, args.window_days)
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
