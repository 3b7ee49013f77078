"""Per-source egress proxy, and keeping its credentials out of everything we write.

The proxy URL (e.g. http://user:secret@proxy.example:3128) comes from the environment
variable the profile names. Scrapy's HttpProxyMiddleware turns its credentials into a
Proxy-Authorization header; the WARC recorder drops that header, provenance gets only the
profile's label and exit region, and `redact` scrubs credentials from any text we keep
(such as a failed crawl's stderr). HTTP(S) proxies go through Scrapy's default download
handler; SOCKS5 proxies (socks5://, or socks5h:// to resolve names at the exit) through
Scrapy's httpx download handler, which speaks SOCKS (see spiders/settings.py).
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

from storage.errors import PermanentError

PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
SENSITIVE_HEADERS = {"proxy-authorization", "authorization", "cookie"}
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def redact(text: str) -> str:
    """Text with the user:password part of any URL replaced by ***."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def proxy_url(env: str) -> str:
    """The proxy URL from the environment; a missing or malformed one stops the crawl
    before any request (going out directly would expose what the proxy was meant to hide)."""
    value = os.environ.get(env, "").strip()
    if not value:
        raise PermanentError(f"the profile sends its requests through a proxy, but ${env} is not set")
    parts = urlsplit(value)
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
        schemes = ", ".join(f"{s}://" for s in PROXY_SCHEMES)
        raise PermanentError(f"${env} must be a proxy URL ({schemes}), got {redact(value)!r}")
    return value


def is_socks(url: str) -> bool:
    return urlsplit(url).scheme.startswith("socks")


class ProxyMiddleware:
    """Sets the source's proxy on every request (priority below HttpProxyMiddleware's 750)."""

    def __init__(self, url: str, label: str):
        self.url, self.label = url, label

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ProxyMiddleware:
        env, label = crawler.settings.get("PROXY_URL_ENV"), crawler.settings.get("PROXY_LABEL")
        if not env:
            raise NotConfigured
        return cls(proxy_url(env), label)

    def process_request(self, request: Request) -> None:
        request.meta.setdefault("proxy", self.url)
        request.meta["proxy_label"] = self.label
