"""The crawl window of a run from its data interval and the operator's params: a table of cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from pipeline.window import MAX_ARTICLES, crawl_window, day, max_articles
from storage.errors import InputError

D = datetime(2017, 6, 9, tzinfo=UTC)
LOGICAL = datetime(2017, 6, 9, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("params", "interval", "expected"),
    [
        ({}, (D, D + timedelta(days=1)), (D, D + timedelta(days=1))),  # scheduled or backfilled: its interval
        ({}, (None, None), (D, D + timedelta(days=1))),  # manual, no window: its logical day
        ({}, (LOGICAL, LOGICAL), (D, D + timedelta(days=1))),  # manual runs have an empty interval
        (
            {"window_start": "2017-06-07T00:00:00Z", "window_end": "2017-06-11T00:00:00+00:00"},
            (None, None),
            (D - timedelta(days=2), D + timedelta(days=2)),
        ),
        (
            {"window_start": "2017-06-08T00:00:00"},
            (D, D + timedelta(days=1)),
            (D - timedelta(days=1), D + timedelta(days=1)),
        ),
        ({"window_start": "", "window_end": None}, (D, D + timedelta(days=1)), (D, D + timedelta(days=1))),
    ],
)
def test_windows(params: dict[str, Any], interval: tuple[Any, Any], expected: tuple[datetime, datetime]) -> None:
    assert crawl_window(params, *interval, LOGICAL) == expected


@pytest.mark.parametrize(
    ("params", "interval", "message"),
    [
        ({"window_start": "last tuesday"}, (D, D), "window_start 'last tuesday' is not an ISO date-time"),
        ({"window_end": 20170609}, (D, D), "window_end must be an ISO date-time"),
        (
            {"window_start": "2017-06-10T00:00:00Z", "window_end": "2017-06-09T00:00:00Z"},
            (None, None),
            "the window is empty or inverted",
        ),
        (
            {"window_start": "2017-06-09T00:00:00Z", "window_end": "2017-06-09T00:00:00Z"},
            (None, None),
            "empty or inverted",
        ),
        ({"window_start": "2017-06-09T00:00:00Z"}, (None, None), "window_end is needed"),
        (
            {"window_start": "2010-01-01T00:00:00Z", "window_end": "2017-06-09T00:00:00Z"},
            (None, None),
            "backfill it instead",
        ),
    ],
)
def test_bad_windows_are_input_errors(params: dict[str, Any], interval: tuple[Any, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        crawl_window(params, *interval, LOGICAL)


@pytest.mark.parametrize(("value", "ok"), [(None, True), (1, True), (MAX_ARTICLES, True), (0, False), (-3, False),
                                           (MAX_ARTICLES + 1, False), ("5", False), (True, False), (2.5, False)])  # fmt: skip
def test_max_articles(value: Any, ok: bool) -> None:
    if ok:
        assert max_articles(value) == value
    else:
        with pytest.raises(InputError, match="max_articles must be a whole number"):
            max_articles(value)


def test_day() -> None:
    assert day("date_from", "2017-06-09") == date(2017, 6, 9)
    with pytest.raises(InputError, match="date_to 'tomorrow' is not a date"):
        day("date_to", "tomorrow")


@pytest.mark.parametrize(
    ("params", "refused"),
    [
        ({}, False),
        ({"window_start": None, "window_end": ""}, False),
        ({"max_articles": 5}, False),
        ({"window_start": "2017-06-07T00:00:00Z"}, True),
        ({"window_start": "2017-06-07T00:00:00Z", "window_end": "2017-06-11T00:00:00Z"}, True),
    ],
)
def test_a_backfill_crawls_each_runs_interval_and_refuses_a_window(params: dict[str, Any], refused: bool) -> None:
    """The backfill dialog offers the params form: a window there would make every run crawl
    the same days, so it is refused as an input error rather than silently applied or dropped."""
    interval = (D, D + timedelta(days=1))
    if refused:
        with pytest.raises(InputError, match="do not apply to a backfill"):
            crawl_window(params, *interval, LOGICAL, backfill=True)
    else:
        assert crawl_window(params, *interval, LOGICAL, backfill=True) == interval
