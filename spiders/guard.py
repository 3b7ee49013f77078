"""Which addresses a source's crawl may contact: the same rule for a discovered URL and for
every hop of a redirect. Pure, except the downloader middleware at the end."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest

from spiders.profile import Profile


class RedirectRefused(IgnoreRequest):
    """A redirect led to an address the source may not contact."""


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def refusal(profile: Profile, url: str) -> str | None:
    """Why the crawl must not fetch this URL for the source, or None.

    Only http(s) on the source's domains and mirrors (subdomains included): an IP literal,
    `localhost` or any other host, however it was reached, is refused, so a listed link or a
    redirect cannot point the crawler at internal addresses.
    """
    split = urlsplit(url)
    if split.scheme not in ("http", "https"):
        return f"scheme {split.scheme!r} not fetched"
    if not profile.allows(url):
        host = split.hostname or ""
        return "IP address, not one of the source's domains" if is_ip_literal(host) else "outside the source's domains"
    return None


class RedirectGuardMiddleware:
    """Checks each redirect hop before it is sent (RedirectMiddleware schedules hops as new
    requests, which pass through here like any other)."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedirectGuardMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        if not request.meta.get("redirect_urls"):
            return
        profile: Profile = self.crawler.spider.profile  # type: ignore[union-attr]
        why = refusal(profile, request.url)
        if why:
            raise RedirectRefused(f"redirect to {request.url} refused: {why}")
