"""The revisit policy: when an archived article is fetched again, to see whether it changed.

A profile lists ages (days after publication) at which an article is captured again,
e.g. [1, 7]. An article is due when one of those ages has passed by the end of the run's
window and its latest capture predates that age. Decided from the run's window, never
the wall clock, so a re-run of an interval makes the same choice; a capture made at or
after the last age ends the article's revisits, which is why backfills of old periods
never revisit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta


def _ts(value: str | None) -> datetime | None:
    if not value:
        return None
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return ts if ts.tzinfo else None


def revisits_due(
    history: dict[str, tuple[str | None, str | None]], window_end: datetime, ages_days: Iterable[int]
) -> dict[str, str]:
    """URLs to fetch again, with their publication date: history maps each archived URL to
    (published, latest capture time) as ISO strings."""
    ages = sorted(set(ages_days))
    due: dict[str, str] = {}
    if not ages:
        return due
    for url, (published, last_fetched) in history.items():
        pub, last = _ts(published), _ts(last_fetched)
        if pub is None or last is None:
            continue  # no publication date to count from: never revisited
        passed = [pub + timedelta(days=a) for a in ages if pub + timedelta(days=a) <= window_end]
        if passed and last < passed[-1]:
            due[url] = pub.isoformat()
    return due
