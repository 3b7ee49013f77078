"""Retry-After: a 429 or 503 that says how long to wait pauses the whole host that long.

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
from scrapy.http import Response
from scrapy.settings import BaseSettings

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
