"""The crawl window of a DAG run, from its data interval and the operator's params. Pure.

A scheduled or backfilled run crawls its data interval (a backfill given a window fails: it
would crawl the same window in every run). A manual run may name a window (`window_start`,
`window_end`: the DAG's params take RFC 3339 date-times; a time without offset, from other
callers, is UTC); one without a window and without an interval crawls its logical day.
What an operator typed wrong fails the run at once, as an input error naming the param:
never retried, never replaced by another window.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from storage.errors import InputError

MAX_WINDOW = timedelta(days=366)  # longer: a backfill, one run per interval
MAX_ARTICLES = 100_000


def _when(name: str, value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise InputError(f"{name} must be an ISO date-time such as 2017-06-09T00:00:00Z, not {value!r}")
    try:
        ts = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(f"{name} {value!r} is not an ISO date-time such as 2017-06-09T00:00:00Z") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def crawl_window(
    params: dict[str, Any],
    interval_start: datetime | None,
    interval_end: datetime | None,
    logical: datetime,
    backfill: bool = False,
) -> tuple[datetime, datetime]:
    """(start, end) of the window to crawl, or InputError naming what is wrong."""
    start_param, end_param = (
        _when("window_start", params.get("window_start")),
        _when("window_end", params.get("window_end")),
    )
    if backfill and (start_param or end_param):
        # Airflow's backfill dialog offers the params form too: one window for every run
        # would crawl the same days again and again, so the run says so instead of obeying
        raise InputError(
            "window_start/window_end do not apply to a backfill: each of its runs crawls its own interval "
            "(leave them empty; max_articles applies)"
        )
    if start_param is None and end_param is None:
        if interval_start is None or interval_end is None or interval_end <= interval_start:
            day = logical.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            return day, day + timedelta(days=1)  # a manual run without a window: its logical day
        return interval_start, interval_end
    start = start_param or interval_start
    end = end_param or interval_end
    if start is None or end is None:
        missing = "window_end" if end is None else "window_start"
        raise InputError(f"{missing} is needed with the other window param (this run has no data interval)")
    if end <= start:
        raise InputError(
            f"the window is empty or inverted: window_start {start.isoformat()} >= window_end {end.isoformat()}"
        )
    if end - start > MAX_WINDOW:
        days = (end - start).days
        raise InputError(
            f"a window of {days} days is longer than {MAX_WINDOW.days}: backfill it instead (one run per interval)"
        )
    return start, end


def max_articles(value: Any) -> int | None:
    """The cap on articles fetched, if any: a whole number from 1 to MAX_ARTICLES."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ARTICLES:
        raise InputError(f"max_articles must be a whole number from 1 to {MAX_ARTICLES:,}, not {value!r}")
    return value


def recheck(value: Any) -> bool:
    """Whether the run fetches its window's archived articles again: true or false (or unset)."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InputError(f"recheck must be true or false, not {value!r}")
    return value


def day(name: str, value: Any) -> date:
    """A YYYY-MM-DD param as a date, or InputError naming it."""
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InputError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None
