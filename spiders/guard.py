"""Which addresses a source's crawl may contact: the same rule for a discovered URL, every
request the spider makes and every hop of a redirect, then again for the address a name
resolves to, at connection time. Pure, except the downloader middleware and resolver at the end."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from twisted.internet.defer import Deferred

from spiders.addresses import address_refusal, parse_address, url_port
from spiders.profile import Profile

INTERNAL_SETTING = "NEWSARCHIVE_INTERNAL_ADDRESSES"  # the profile's network.internal_addresses
EXEMPT_SETTING = "NEWSARCHIVE_RESOLVER_EXEMPT"  # host names the operator configured (the egress proxy)
DNS_SERVER_ENV = "NEWSARCHIVE_DNS_SERVER"  # host:port of the DNS server to ask (default: the system's)


class RedirectRefused(IgnoreRequest):
    """A redirect led to an address the source may not contact."""


class AddressRefused(IgnoreRequest):
    """A request's URL, port or resolved address is one the source may not contact."""


def is_ip_literal(host: str) -> bool:
    return parse_address(host) is not None


def refusal(profile: Profile, url: str) -> str | None:
    """Why the crawl must not fetch this URL for the source, or None.

    Only http(s) on the source's domains and mirrors (subdomains included), on a port the
    profile names: an IP literal, `localhost` or any other host, however it was reached, is
    refused, so a listed link or a redirect cannot point the crawler at internal addresses.
    A literal the profile names as a domain is still judged as an address (see `resolver`
    for names, whose addresses are judged once resolved).
    """
    split = urlsplit(url)
    if split.scheme not in ("http", "https"):
        return f"scheme {split.scheme!r} not fetched"
    host = split.hostname or ""
    if not profile.allows(url):
        return "IP address, not one of the source's domains" if is_ip_literal(host) else "outside the source's domains"
    port = url_port(url)
    if port not in profile.network.ports:
        shown = "unreadable" if port is None else str(port)
        return f"port {shown} is not one of the source's ports ({', '.join(map(str, profile.network.ports))})"
    if is_ip_literal(host) and not profile.network.internal_addresses:
        why = address_refusal(host, host)
        if why:
            return why
    return None


class RequestGuardMiddleware:
    """Checks every request before it is sent: the spider's own, robots.txt's and each
    redirect hop (RedirectMiddleware schedules hops as new requests, which pass through here)."""

    def __init__(self, crawler: Crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RequestGuardMiddleware:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        profile: Profile = self.crawler.spider.profile  # type: ignore[union-attr]
        why = refusal(profile, request.url)
        if not why:
            return
        if request.meta.get("redirect_urls"):
            raise RedirectRefused(f"redirect to {request.url} refused: {why}")
        raise AddressRefused(f"{request.url} refused: {why}")


# name -> why its address was refused, for the middleware below: Twisted's endpoint reports a
# resolver's refusal as "no results for hostname lookup", which would read as a DNS fault and be retried
_refused: dict[str, str] = {}


class ResolverRefusalMiddleware:
    """Turns a connection the resolver refused back into the refusal it was (named, recorded,
    not retried). Placed after the retry middleware's priority so it sees the failure first."""

    def process_exception(self, request: Request, exception: Exception) -> None:
        from scrapy.exceptions import CannotResolveHostError

        host = (urlsplit(request.url).hostname or "").lower()
        why = _refused.get(host)
        if why and isinstance(exception, CannotResolveHostError):
            if request.meta.get("redirect_urls"):
                raise RedirectRefused(f"redirect to {request.url} refused: {why}")
            raise AddressRefused(f"{request.url} refused: {why}")


class PublicAddressResolver(CachingThreadedResolver):
    """Scrapy's caching resolver, whose every answer is checked before it is used.

    Twisted connects to the very address this returns, so the check and the connection see
    the same answer: a name whose DNS changes between a check and the connect (rebinding)
    cannot slip through. A refused answer fails the request (no retry: it is not transient).
    """

    def __init__(self, reactor: Any, cache_size: int, timeout: float, *, internal: bool, exempt: Sequence[str]):
        super().__init__(reactor, cache_size, timeout)
        self.internal = internal
        self.exempt = {h.lower() for h in exempt}
        self.server: Any = None
        configured = _dns_server()
        if configured:
            from twisted.names import client

            self.server = client.Resolver(servers=[configured], reactor=reactor)  # type: ignore[no-untyped-call]

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> PublicAddressResolver:  # type: ignore[override]
        s = crawler.settings
        return cls(
            reactor,
            s.getint("DNSCACHE_SIZE") if s.getbool("DNSCACHE_ENABLED") else 0,
            s.getfloat("DNS_TIMEOUT"),
            internal=s.getbool(INTERNAL_SETTING),
            exempt=s.getlist(EXEMPT_SETTING),
        )

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:
        if self.server is not None and parse_address(name) is None:
            d: Deferred[str] = self.server.getHostByName(name, (max(1, int(self.timeout)),))
        else:
            d = super().getHostByName(name, timeout)
        if not self.internal and name.lower() not in self.exempt:
            d.addCallback(self._checked, name)
        return d

    @staticmethod
    def _checked(address: str, name: str) -> str:
        why = address_refusal(name, address)
        if why:
            _refused[name.lower()] = why
            raise AddressRefused(why)
        return address


def _dns_server() -> tuple[str, int] | None:
    import os

    raw = os.environ.get(DNS_SERVER_ENV)
    if not raw:
        return None
    host, _, port = raw.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{DNS_SERVER_ENV} must be host:port, got {raw!r}")
    return host.strip("[]"), int(port)
