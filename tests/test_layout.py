"""Archive keys: runs, attempts and the manifest log; no key can be written by two attempts."""

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
        (layout.commit_key("rt_fr", 1), "manifests/source=rt_fr/0000000001.parquet"),
        (layout.commit_key("rt_fr", 1234), "manifests/source=rt_fr/0000001234.parquet"),
        (layout.report_key("rt_fr", "R", "A"), "runs/source=rt_fr/R/A.json"),
        (layout.attempt_name(START, "0a1b2c3d"), "20170609T000000Z-0a1b2c3d"),
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
    """Named by its WARC record: the same response gives the same id, another fetch of the
    same URL in the same run (a retry, a concurrent run) another id."""
    a = layout.capture_id("rt_fr", "R", "https://x/1", "<urn:uuid:1>")
    assert a == layout.capture_id("rt_fr", "R", "https://x/1", "<urn:uuid:1>") and len(a) == 24
    assert a != layout.capture_id("rt_fr", "R", "https://x/1", "<urn:uuid:2>")
    assert a != layout.capture_id("rt_fr", "R2", "https://x/1", "<urn:uuid:1>")
    assert a != layout.capture_id("rt_fr", "R", "https://x/2", "<urn:uuid:1>")


def test_attempts_never_share_a_name() -> None:
    names = {layout.new_attempt() for _ in range(2000)}
    assert len(names) == 2000


@pytest.mark.parametrize("token", ["", "xyz", "0a1b2c3d4", "0A1B2C3D"])
def test_attempt_token_is_checked(token: str) -> None:
    with pytest.raises(ValueError, match="attempt token"):
        layout.attempt_name(START, token)


@pytest.mark.parametrize(
    ("key", "parsed"),
    [
        ("manifests/source=rt_fr/0000000001.parquet", ("rt_fr", 1)),
        ("manifests/source=rt_fr/0000000042.parquet", ("rt_fr", 42)),
        ("manifests/source=rt_fr/date=2017-06-09/R.parquet", None),  # the old one-file-per-run layout
        ("manifests/source=rt_fr/42.parquet", None),
        ("manifests/source=rt_fr/0000000001.parquet.tmp", None),
        ("raw/source=rt_fr/0000000001.parquet", None),
    ],
)
def test_parse_commit_key(key: str, parsed: tuple[str, int] | None) -> None:
    assert layout.parse_commit_key(key) == parsed


@pytest.mark.parametrize("seq", [0, -1, 10**10])
def test_commit_numbers_are_bounded(seq: int) -> None:
    with pytest.raises(ValueError, match="commit number"):
        layout.commit_key("rt_fr", seq)


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
    from pipeline.provenance import CAPTURE_COLUMNS, extraction_fields
    from storage.manifest import COLUMNS

    extraction = extraction_fields(
        status="ok", document=None, error=None, extractor={}, clean_key="k", extracted_at="t"
    )
    assert CAPTURE_COLUMNS.isdisjoint(extraction)
    assert CAPTURE_COLUMNS | set(extraction) == set(COLUMNS)
