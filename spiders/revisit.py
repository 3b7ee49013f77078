"""The revisit policy: when an archived article is fetched again, to see whether it changed.

A profile lists ages after publication at which an article is captured again, e.g.
[1h, 1d, 7d, 30d]. An article is due when one of those ages has passed by the end of the
run's window and its latest capture predates that age. Decided from the run's window,
never the wall clock, so a re-run of an interval makes the same choice; a capture made at
or after the last age ends the article's revisits, which is why backfills of old periods
never revisit. A run revisits at most the profile's budget, youngest age mark first (an
edit in the first hour matters more than one after a month), so revisits never starve the
run's new articles; the rest wait for the next run and are counted as deferred.

An operator can also re-check a period (the DAG's `recheck` param): every archived article
published in the run's window is fetched again, within the same budget.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

_AGE_RE = re.compile(r"^(\d{1,5})([hd])$")


def parse_age(text: str) -> timedelta:
    """'1h' or '7d' as a duration; anything else is a ValueError naming the accepted forms."""
    m = _AGE_RE.match(str(text).strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"{text!r} is not an age: a positive whole number of hours or days, e.g. 1h, 7d")
    n = int(m.group(1))
    return timedelta(hours=n) if m.group(2) == "h" else timedelta(days=n)


def _ts(value: str | None) -> datetime | None:
    if not value:
        return None
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return ts if ts.tzinfo else None


@dataclass
class RevisitPlan:
    due: dict[str, str] = field(default_factory=dict)  # URL -> published, within the budget
    deferred: int = 0  # due, but over the run's budget: left for the next run

    def as_summary(self) -> dict[str, int]:
        return {"scheduled": len(self.due), "deferred": self.deferred}


def revisits_due(
    history: dict[str, tuple[str | None, str | None]],
    window_end: datetime,
    ages: Iterable[timedelta],
    budget: int | None = None,
) -> RevisitPlan:
    """URLs to fetch again, with their publication date: history maps each archived URL to
    (published, latest capture time) as ISO strings."""
    marks = sorted(set(ages))
    plan = RevisitPlan()
    if not marks:
        return plan
    ranked: list[tuple[int, datetime, str, str]] = []
    for url, (published, last_fetched) in history.items():
        pub, last = _ts(published), _ts(last_fetched)
        if pub is None or last is None:
            continue  # no publication date to count from: never revisited
        passed = [i for i, age in enumerate(marks) if pub + age <= window_end]
        if passed and last < pub + marks[passed[-1]]:
            ranked.append((passed[-1], pub + marks[passed[-1]], url, pub.isoformat()))
    ranked.sort()
    chosen = ranked if budget is None else ranked[:budget]
    plan.due = {url: published for _, _, url, published in chosen}
    plan.deferred = len(ranked) - len(chosen)
    return plan


def recheck_window(
    history: dict[str, tuple[str | None, str | None]], start: datetime, end: datetime, budget: int | None = None
) -> RevisitPlan:
    """Every archived article published in [start, end), whatever its age: an operator's
    re-check of a period (did anything from those days vanish or change?). Oldest first."""
    inside = sorted(
        (pub, url)
        for url, (published, _) in history.items()
        if (pub := _ts(published)) is not None and start <= pub < end
    )
    chosen = inside if budget is None else inside[:budget]
    return RevisitPlan({url: pub.isoformat() for pub, url in chosen}, len(inside) - len(chosen))
