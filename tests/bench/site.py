"""A synthetic news site for the crawl benchmarks, generated on the fly (not the fixture server).

A sitemap index of `months` monthly sitemaps with their <lastmod>, `per_month` articles a
month, robots.txt. URLs are absolute on the host the request named: the project's crawl
replays `bench.example` here (so its URLs are https://bench.example/...), a bare Scrapy spider
asks 127.0.0.1:PORT directly and gets URLs on that address; both see the same site.
The server sets TCP_NODELAY, so it never caps what it measures.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

from tests.fixtures.server import NoDelayHTTPServer

HOST = "bench.example"
FIRST_MONTH = date(2013, 1, 1)
PARAGRAPH = (
    "The ministry said on Tuesday that talks would resume next week, while observers cautioned that "
    "the positions of both sides remained far apart on the main questions. "
)


class SiteHandler(BaseHTTPRequestHandler):
    """robots.txt, the sitemap index, monthly sitemaps, articles; counts requests by kind."""

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

    def _base(self) -> str:
        host = self.headers.get("Host") or HOST
        return f"https://{host}" if host == HOST else f"http://{host}"

    def do_GET(self) -> None:
        with self.lock:
            kind = self.path.split("/")[1].split("-")[0].split(".")[0] or "home"
            self.hits[kind] = self.hits.get(kind, 0) + 1
        base = self._base()
        if self.path == "/robots.txt":
            return self._send(b"User-agent: *\nDisallow: /search\n", "text/plain")
        if self.path == "/sitemap.xml":
            last = self.per_month - 1
            return self._sitemap("sitemapindex", "sitemap", ((f"{base}/sitemap-{m}.xml", self.published(m, last))
                                                              for m in range(self.months)))  # fmt: skip
        if match := re.fullmatch(r"/sitemap-(\d+)\.xml", self.path):
            m = int(match[1])
            return self._sitemap("urlset", "url", ((f"{base}/a/{m}-{k}", self.published(m, k))
                                                   for k in range(self.per_month)))  # fmt: skip
        if match := re.fullmatch(r"/a/(\d+)-(\d+)", self.path):
            m, k = int(match[1]), int(match[2])
            when = self.published(m, k).isoformat()
            body = "".join(f"<p>{PARAGRAPH * 2}</p>" for _ in range(6))
            html = (
                f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Article {m}-{k}</title>'
                f'<link rel="canonical" href="{base}/a/{m}-{k}">'
                f'<meta property="article:published_time" content="{when}"></head><body><header><nav>'
                f'<a href="/">Home</a></nav></header><article><h1>Article {m}-{k}</h1>{body}</article>'
                f"<footer>© Bench</footer></body></html>"
            )
            return self._send(html.encode(), "text/html; charset=utf-8")
        self._send(b"not found", "text/plain", 404)

    def _sitemap(self, root: str, entry: str, entries: Iterable[tuple[str, datetime]]) -> None:
        """A sitemap index or a urlset: one <loc> and <lastmod> per entry."""
        items = "".join(
            f"<{entry}><loc>{loc}</loc><lastmod>{when.isoformat()}</lastmod></{entry}>" for loc, when in entries
        )
        xml = f'<{root} xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</{root}>'
        self._send(xml.encode(), "application/xml")

    def _send(self, body: bytes, ctype: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class BenchSite:
    """The site served on 127.0.0.1 from a thread of this process."""

    def __init__(self, months: int, per_month: int):
        SiteHandler.months, SiteHandler.per_month = months, per_month
        self.server = NoDelayHTTPServer(("127.0.0.1", 0), SiteHandler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def hits(self) -> dict[str, int]:
        return SiteHandler.hits

    def reset(self) -> None:
        SiteHandler.hits.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> BenchSite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_profile(directory: Path, trust: bool = True, concurrency: int = 8) -> Path:
    """The bench site's source profile: its sitemap index, no delay, no autothrottle."""
    path = directory / "bench_site.yaml"
    path.write_text(
        f"id: bench_site\nname: Bench\nlanguage: en\ndomains: [{HOST}]\n"
        f"sitemaps: ['https://{HOST}/sitemap.xml']\ntrust_sitemap_lastmod: {str(trust).lower()}\n"
        f"politeness: {{download_delay: 0, concurrency: {concurrency}, autothrottle: false, timeout: 30}}\n",
        encoding="utf-8",
    )
    return path
