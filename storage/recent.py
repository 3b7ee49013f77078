"""The newest keys under a prefix whose names start with a UTC time (run windows, attempt
names: `YYYYmmddTHHMMSSZ...`), without listing the prefix's whole history.

A source that runs every few hours piles up thousands of such keys over the years; what a
run wants is the last few. The listing starts a few days back (S3's StartAfter: one request)
and widens eightfold only while it finds too few, so a source that ran lately costs one
LIST however old its history, and one idle for years costs a handful.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from storage.store import Store

WINDOWS_DAYS = (4, 32, 256)  # then the whole prefix


def keys_since(
    store: Store, prefix: str, now: datetime, enough: int, keep: Callable[[str], bool] = lambda k: True
) -> list[str]:
    """Keys under `prefix` (kept by `keep`) named from `now` minus a window on, the window
    widened until at least `enough` are found or the whole prefix is listed; in key order."""
    for days in (*WINDOWS_DAYS, None):
        start = f"{prefix}{now - timedelta(days=days):%Y%m%dT%H%M%SZ}" if days else ""
        keys = [k for k in store.list(prefix, start) if keep(k)]
        if len(keys) >= enough or days is None:
            return keys
    raise AssertionError("unreachable: the last window is the whole prefix")  # pragma: no cover
