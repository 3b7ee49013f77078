"""Politeness the server asks for: robots.txt's Crawl-delay, and Retry-After on 429/503.

Crawl-delay: once a host's robots.txt is parsed, its Crawl-delay for our user agent (up to
the profile's cap) becomes the floor of that host's download delay, without jitter, which
AutoThrottle then leaves alone. The value, the cap and whether it was applied go to the crawl log.

Retry-After: a 429 or 503 that says how long to wait pauses the whole host that long.

Scrapy's RetryMiddleware retries those statuses at once (after the usual delay); a
polite crawler waits what the server asked. The host's download slot is held for the
Retry-After time (jitter off, counted from the response), then restored at the first
response after the pause that is neither 429 nor 503. A wait above the profile's cap gives the URL up
with a reason saying so instead of stalling the run.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from scrapy import Request, Spider
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.http import Response
from scrapy.robotstxt import RobotParser
from scrapy.settings import BaseSettings
from scrapy.utils.httpobj import urlparse_cached

THROTTLE_STATUSES = (429, 503)


def parse_retry_after(value: str | bytes | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date); None if absent or invalid."""
    if value is None:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RobotsCrawlDelayMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, plus the file's Crawl-delay as the host's minimum delay."""

    def __init__(self, crawler: Any):
        super().__init__(crawler)
        self.cap: float = crawler.settings.getfloat("CRAWL_DELAY_MAX", 60)
        self.apply = crawler.settings.getbool("CRAWL_DELAY_APPLY", True)
        self.delays: dict[str, float | None] = {}  # netloc -> the delay in force (None: robots.txt sets none)

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        await super().process_request(request)  # raises IgnoreRequest for a disallowed URL
        if request.meta.get("dont_obey_robotstxt"):
            return
        netloc = urlparse_cached(request).netloc
        if netloc not in self.delays:  # the host's first request since its robots.txt was parsed
            delay = self.delays[netloc] = self._read_delay(request, netloc)
            if delay and self.apply:
                self._set_floor(request, delay)
        if self.delays[netloc] and self.apply:
            request.meta["autothrottle_dont_adjust_delay"] = True  # AutoThrottle must not go below it

    def _set_floor(self, request: Request, delay: float) -> None:
        """The host's download slot waits at least `delay`, without jitter, now and whenever
        the downloader recreates the slot (it drops idle ones)."""
        downloader = self.crawler.engine.downloader if self.crawler.engine else None
        if downloader is None:
            return
        key = downloader.get_slot_key(request)
        downloader.per_slot_settings.setdefault(key, {}).update(delay=delay, jitter=0.0)
        slot = downloader.slots.get(key)
        if slot is not None and slot.delay < delay:
            slot.delay, slot.jitter = delay, 0.0

    def _read_delay(self, request: Request, netloc: str) -> float | None:
        parser = self._parsers.get(netloc)
        if not isinstance(parser, RobotParser):  # no robots.txt (or an unreadable one): no delay asked
            return None
        agent = self._robotstxt_useragent or request.headers.get(b"User-Agent") or self._default_useragent
        asked = parser.crawl_delay(agent)
        if asked is None:
            return None
        delay = min(float(asked), self.cap)
        if asked > self.cap:
            note = f"Crawl-delay {asked:g} s above the {self.cap:g} s cap: {delay:g} s used"
        elif self.apply:
            note = f"Crawl-delay {asked:g} s applied"
        else:
            note = f"Crawl-delay {asked:g} s read, not applied (replay of a local server)"
        log = getattr(self.crawler.spider, "log_file", None)
        if log is not None:
            url = f"{urlparse_cached(request).scheme}://{netloc}/robots.txt"
            log.write(url, "fetched", note, kind="robots", crawl_delay=asked, delay=delay if self.apply else 0)
        return delay


class RetryAfterMiddleware(RetryMiddleware):
    def __init__(self, settings: BaseSettings):
        super().__init__(settings)
        self.cap = settings.getfloat("RETRY_AFTER_MAX", 300)
        self.saved: dict[str, tuple[float, float]] = {}  # slot key -> (delay, jitter) before the pause
        self.until: dict[str, float] = {}  # slot key -> end of the pause (monotonic)

    def process_response(self, request: Request, response: Response, spider: Spider | None = None) -> Any:
        downloader = self.crawler.engine.downloader if self.crawler.engine else None
        key = downloader.get_slot_key(request) if downloader else None
        if response.status in THROTTLE_STATUSES and not request.meta.get("dont_retry"):
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is not None and wait > self.cap:
                request.meta["gave_up"] = (
                    f"HTTP {response.status} with Retry-After {wait:.0f} s, above the {self.cap:.0f} s cap"
                )
                return response
            if wait and downloader and key in downloader.slots:
                slot = downloader.slots[key]
                self.saved.setdefault(key, (slot.delay, slot.jitter))
                slot.delay, slot.jitter = max(wait, self.saved[key][0]), 0.0
                slot.lastseen = time.monotonic()  # the clock the downloader counts delays with
                self.until[key] = slot.lastseen + wait
        elif downloader and key in self.saved and key in downloader.slots and time.monotonic() >= self.until[key]:
            # a success after the pause (not a request that was already in flight when it began)
            slot = downloader.slots[key]
            slot.delay, slot.jitter = self.saved.pop(key)
        return super().process_response(request, response)
