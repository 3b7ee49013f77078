"""Downloader middleware that writes every HTTP exchange to the run's WARC file.

It sits next to the downloader (priority 990), so it sees each response before
decompression, redirects and retries are applied: the WARC holds what the server
sent, one record set per attempt, feeds, sitemaps and robots.txt included.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response

from spiders.warc import Exchange, WarcFile


def _headers(h: Any, drop: set[str] | frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    out = []
    for key, values in h.items():
        if key.decode("latin-1").lower() in drop:
            continue
        for v in values if isinstance(values, list) else [values]:
            out.append((key.decode("latin-1"), v.decode("latin-1")))
    return out


class WarcRecorderMiddleware:
    def __init__(self, crawler: Crawler):
        s = crawler.settings
        self.path = Path(s["WARC_PATH"])
        self.run_meta: dict[str, Any] = json.loads(s.get("RUN_METADATA", "{}"))
        self.warc = WarcFile(self.path, {k: str(v) for k, v in json.loads(s.get("WARCINFO", "{}")).items()})
        crawler.signals.connect(self.close, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcRecorderMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        request.meta["fetch_started"] = datetime.now(UTC)

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Response:
        meta = request.meta
        redirect_urls = meta.get("redirect_urls") or []
        metadata = {
            **self.run_meta,
            "kind": meta.get("kind", "other"),
            "discovered_via": meta.get("via"),
            "discovery_kind": meta.get("via_kind"),
            "discovered_date": meta.get("discovered_date"),
            "requested_url": redirect_urls[0] if redirect_urls else request.url,
            "redirect_chain": redirect_urls,
            "retry_times": meta.get("retry_times", 0),
            "replayed_to": meta.get("replayed_to"),
            "proxy": meta.get("proxy_label"),
            "user_agent": (request.headers.get("User-Agent") or b"").decode("latin-1") or None,
        }
        written = self.warc.write_exchange(
            Exchange(
                url=response.url,
                method=request.method,
                # proxy credentials never reach the archive (the proxy's label is in the metadata)
                request_headers=_headers(request.headers, {"proxy-authorization"}),
                request_body=request.body,
                status=response.status,
                response_headers=_headers(response.headers),
                body=response.body,
                protocol=response.protocol or "HTTP/1.1",
                remote_ip=str(response.ip_address) if response.ip_address else None,
                fetched_at=meta.get("fetch_started") or datetime.now(UTC),
                metadata=metadata,
            )
        )
        meta["warc_record"] = {
            "warc_file": self.path.name,
            "record_id": written.record_id,
            "offset": written.offset,
            "length": written.length,
            "payload_sha256": written.payload_sha256,
            "records_length": written.records_length,
            "records_sha256": written.records_sha256,
            # the payload is stored as sent; readers need this to decode it (Scrapy drops the header later)
            "content_encoding": (response.headers.get("Content-Encoding") or b"").decode("latin-1") or None,
        }
        return response

    def close(self, spider: Spider) -> None:
        self.warc.close()
