"""Per-client rate limits for the JSON API: a token bucket per client address. Pure (the clock
is passed in), bounded (the least recently seen clients are forgotten past `clients`).

A program paging through the archive gets `rate` requests a second, with bursts of `burst`;
past that, 429 with Retry-After, so one harvesting client cannot starve the researchers
reading beside it. The full-text searches also take turns in the reading room's search slots.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimits:
    def __init__(self, rate: float = 20.0, burst: float = 100.0, clients: int = 10_000):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate, self.burst, self.clients = rate, burst, clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, client: str, now: float) -> float:
        """0 when `client` may go on now (a token is taken), else the seconds until it may."""
        bucket = self._buckets.pop(client, None) or _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + max(0.0, now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[client] = bucket
        while len(self._buckets) > self.clients:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate
