"""Archive keys: derived from run and content, never from the clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from storage import layout

D = date(2017, 6, 9)
START = datetime(2017, 6, 9, tzinfo=UTC)
END = datetime(2017, 6, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (layout.raw_key("rt_fr", D, "R", "abc"), "raw/source=rt_fr/date=2017-06-09/R/abc.warc.gz"),
        (layout.crawl_log_key("rt_fr", D, "R", "abc"), "raw/source=rt_fr/date=2017-06-09/R/abc.crawl-log.jsonl"),
        (layout.clean_key("rt_fr", D, "c1", "x1"), "clean/source=rt_fr/date=2017-06-09/c1/x1.json"),
        (layout.manifest_key("rt_fr", D, "R"), "manifests/source=rt_fr/date=2017-06-09/R.parquet"),
        (layout.manifest_key("rt_fr", D, "R", "x1"), "manifests/source=rt_fr/date=2017-06-09/R.x-x1.parquet"),
        (layout.report_key("rt_fr", "R"), "runs/source=rt_fr/R.json"),
        (layout.manifests_prefix("rt_fr"), "manifests/source=rt_fr/"),
        (layout.manifests_prefix(), "manifests/"),
    ],
)
def test_keys(key: str, expected: str) -> None:
    assert key == expected


def test_run_key_is_the_interval_in_utc() -> None:
    paris = timezone(timedelta(hours=2))
    assert layout.run_key(START, END) == "20170609T000000Z-20170610T000000Z"
    assert layout.run_key(START.astimezone(paris), END.astimezone(paris)) == "20170609T000000Z-20170610T000000Z"


@pytest.mark.parametrize(("start", "end"), [(END, START), (START, START)])
def test_run_key_rejects_empty_intervals(start: datetime, end: datetime) -> None:
    with pytest.raises(ValueError, match="interval"):
        layout.run_key(start, end)


def test_run_key_rejects_naive_times() -> None:
    with pytest.raises(ValueError, match="time zone"):
        layout.run_key(START.replace(tzinfo=None), END)


def test_capture_id_is_stable_and_distinct() -> None:
    a = layout.capture_id("rt_fr", "R", "https://x/1")
    assert a == layout.capture_id("rt_fr", "R", "https://x/1") and len(a) == 24
    assert a != layout.capture_id("rt_fr", "R2", "https://x/1")
    assert a != layout.capture_id("rt_fr", "R", "https://x/2")


@pytest.mark.parametrize("bad", ["RT", "rt-fr", "1rt", "r", "rt/fr", "../x"])
def test_bad_source_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="source id"):
        layout.clean_key(bad, D, "c", "x")


def test_parse_partition() -> None:
    assert layout.parse_partition("manifests/source=rt_fr/date=2017-06-09/R.parquet") == {
        "source": "rt_fr",
        "date": "2017-06-09",
    }


def test_row_columns_are_capture_plus_extraction() -> None:
    """Every manifest column is filled either once per capture or once per extraction."""
    from storage.manifest import COLUMNS
    from storage.provenance import CAPTURE_COLUMNS, extraction_fields

    extraction = extraction_fields(
        status="ok", document=None, error=None, extractor={}, clean_key="k", extracted_at="t"
    )
    assert CAPTURE_COLUMNS.isdisjoint(extraction)
    assert CAPTURE_COLUMNS | set(extraction) == set(COLUMNS)
