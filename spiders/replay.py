"""Replay: send requests for a source's real hosts to a local server, keeping the real URLs.

Used by the offline demo, `make airflow` tryouts and the tests. The archived URL stays
https://francais.rt.com/... while the request goes to the mapped address with the
original Host header; the address actually contacted is put in request.meta so
provenance can record it. The map is closed: a host it does not map (other than a
loopback address, which is local already) is refused with a recorded reason, so a
replayed crawl never reaches the network.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit, urlunsplit

from scrapy import Request
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

REPLAY_ENV = "NEWSARCHIVE_REPLAY"  # JSON {"host": "127.0.0.1:PORT", ...}


def parse_replay_map(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    mapping = json.loads(raw)
    if not isinstance(mapping, dict):
        raise ValueError(f"{REPLAY_ENV} must be a JSON object of host -> address")
    for host, addr in mapping.items():
        ip = str(addr).rsplit(":", 1)[0]
        if not ip.startswith("127.") and ip != "localhost":
            raise ValueError(f"replay address for {host} must be a loopback address, got {addr}")
    return {str(k).lower(): str(v) for k, v in mapping.items()}


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ReplayDownloadHandler(HTTP11DownloadHandler):
    def __init__(self, crawler: Crawler):
        super().__init__(crawler)
        self.replay = parse_replay_map(crawler.settings.get("REPLAY_MAP") or os.environ.get(REPLAY_ENV))

    async def download_request(self, request: Request) -> Response:
        split = urlsplit(request.url)
        address = self.replay.get((split.hostname or "").lower())
        if address is None:
            request.meta.pop("replayed_to", None)  # a redirect hop may leave the replayed hosts
            if self.replay and not _is_loopback(split.hostname or ""):
                raise IgnoreRequest(f"host {split.hostname} is not in the replay map: not fetched (replay is offline)")
            return await super().download_request(request)
        local = urlunsplit(("http", address, split.path or "/", split.query, ""))
        headers = request.headers.copy()
        headers["Host"] = split.netloc
        request.meta["replayed_to"] = address
        response = await super().download_request(request.replace(url=local, headers=headers))
        return response.replace(url=request.url, request=request)
