"""storage/recent.py: the newest time-named keys of a prefix, listed from a few days back and
widened only while too few are found."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import recent
from storage.store import LocalStore

NOW = datetime(2031, 6, 1, tzinfo=UTC)


class Listing(LocalStore):
    """A local store that records where each listing started."""

    starts: list[str]

    def list(self, prefix: str = "", start_after: str = "") -> Iterator[str]:
        self.starts.append(start_after)
        return super().list(prefix, start_after)


def _store(tmp_path: Path, ages_days: list[float]) -> Listing:
    store = Listing(tmp_path)
    store.starts = []
    for age in ages_days:
        store.put_bytes(f"runs/source=a/{NOW - timedelta(days=age):%Y%m%dT%H%M%SZ}-x/r.json", b"{}")
    return store


@pytest.mark.parametrize(
    ("ages", "enough", "found", "lists"),
    [
        ([0.1 * i for i in range(30)] + [400, 900], 20, 30, 1),  # runs every few hours: one LIST
        ([1, 10, 20, 30, 40], 3, 4, 2),  # a slower source: widened once
        ([300, 1000, 2000], 1, 3, 4),  # idle for years: the whole prefix, the last window
        ([], 1, 0, 4),  # nothing at all
        ([0.5, 1, 2], 10, 3, 4),  # fewer than wanted anywhere: every window tried
        ([-1, 0], 1, 2, 1),  # a key named after `now` (a clock ahead) is still found
    ],
)
def test_keys_since_widens_only_while_it_finds_too_few(
    tmp_path: Path, ages: list[float], enough: int, found: int, lists: int
) -> None:
    store = _store(tmp_path, ages)
    keys = recent.keys_since(store, "runs/source=a/", NOW, enough)
    assert len(keys) == found and keys == sorted(keys)
    assert len(store.starts) == lists
    assert store.starts[-1] == ("" if lists == 4 else store.starts[-1])


def test_keep_filters_what_counts(tmp_path: Path) -> None:
    store = _store(tmp_path, [0.1, 0.2, 0.3, 50])
    newest = sorted(store.list("runs/source=a/"))[-1]
    keys = recent.keys_since(store, "runs/source=a/", NOW, 3, keep=lambda k: k != newest)
    assert newest not in keys and len(keys) == 3
