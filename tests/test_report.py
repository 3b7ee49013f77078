"""The run report: figures from crawl and extraction, written first, then alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pipeline import runs
from storage.store import LocalStore

WINDOW = (datetime(2022, 3, 1, tzinfo=UTC), datetime(2022, 3, 2, tzinfo=UTC))


def crawl(archived: int = 10, failed: int = 0, in_window: int = 10) -> dict[str, Any]:
    return {
        "source_id": "src_a",
        "run": "R",
        "logical_date": "2022-03-01",
        "parts": [],
        "crawl_log": None,
        "summary": {
            "articles": {"archived": archived, "failed": failed},
            "skipped_by_reason": {},
            "failed_by_reason": {"HTTP 500": failed} if failed else {},
            "in_window": in_window,
            "discovery": {"feed:fetched": 1},
            "discovery_failures": [],
        },
    }


@pytest.mark.parametrize(
    ("counts", "crawl_kw", "thresholds", "alert"),
    [
        ({"ok": 10}, {}, runs.Thresholds(10), None),
        (
            {"ok": 10, "flag:leak:consent": 3, "flag:leak:share": 3, "leaky": 3},  # 3 pages, 2 kinds each
            {},
            runs.Thresholds(10),
            "boilerplate leaked into 3 of 10",
        ),
        ({"ok": 7, "extraction_failed": 3}, {}, runs.Thresholds(10), "3 of 10 extractions empty"),
        ({"ok": 9, "blocked:cloudflare": 1}, {}, runs.Thresholds(10), "block or challenge pages served"),
        ({"ok": 4}, {"archived": 4, "failed": 6}, runs.Thresholds(10), "6 of 10 article fetches failed"),
        ({"ok": 1}, {"archived": 1, "in_window": 1}, runs.Thresholds(10), None),  # a gap is flagged, not fatal
    ],
)
def test_report_thresholds(
    tmp_path: Path, counts: dict[str, int], crawl_kw: dict[str, int], thresholds: runs.Thresholds, alert: str | None
) -> None:
    store = LocalStore(tmp_path)
    extracted = {"clean_keys": [], "counts": counts, "errors": {}}
    committed = {"manifest": "m", "written": True, "rows": 10, "new_rows": 10}
    if alert:
        with pytest.raises(runs.RunAlert, match=alert):
            runs.report_run(store, crawl(**crawl_kw), extracted, committed, thresholds, WINDOW)
    else:
        runs.report_run(store, crawl(**crawl_kw), extracted, committed, thresholds, WINDOW)
    report = runs.latest_report(store, "src_a", "R")  # written before any alert
    assert report is not None
    assert report["expected_volume"] == 10
    assert report["probable_gap"] is (crawl_kw.get("in_window", 10) < 2)


def test_a_page_leaking_two_kinds_counts_once(tmp_path: Path) -> None:
    from pipeline.parallel import analyse
    from storage.warcread import Capture

    def extract(body: bytes, url: str, content_type: str | None) -> dict[str, Any]:
        return {"text": "t", "flags": ["leak:consent", "leak:share"], "extractor": {}}

    job = runs._Extraction(LocalStore(tmp_path), extract, {"extraction_id": "x"}, None)
    cap = Capture("https://x.invalid/a", "<urn:1>", "2022-03-01T00:00:00Z", 200, [], None, 0, 1, b"p", {})
    assert job.record(analyse(cap, extract, None), "clean/k.json") is not None
    assert job.counts == {"ok": 1, "flag:leak:consent": 1, "flag:leak:share": 1, "leaky": 1}


def test_day_coverage_flags_gaps_per_day_of_the_window() -> None:
    from datetime import UTC, datetime

    from pipeline.runs import Thresholds, day_coverage

    by_day = {"2016-09-16": {"discovered": 9, "archived": 8, "already_archived": 1, "failed": {}, "skipped": {}}}
    window = (datetime(2016, 9, 16, tzinfo=UTC), datetime(2016, 9, 18, 12, tzinfo=UTC))
    cov = day_coverage(by_day, window, Thresholds(expected_daily_volume=10, min_volume_ratio=0.2))
    assert list(cov) == ["2016-09-16", "2016-09-17", "2016-09-18"]
    assert (cov["2016-09-16"]["archived"], cov["2016-09-16"]["probable_gap"]) == (8, False)
    assert (cov["2016-09-17"]["discovered"], cov["2016-09-17"]["probable_gap"]) == (0, True)  # nothing found
    assert cov["2016-09-18"]["expected"] == 5.0  # the window covers half of that day


def test_the_report_is_logged_as_a_readable_table(tmp_path: Path) -> None:
    from pipeline.summary import crawl_summary

    store = LocalStore(tmp_path)
    logged: list[str] = []
    c = crawl(archived=3, in_window=3)
    c["summary"]["by_day"] = {
        "2022-03-01": {"discovered": 3, "archived": 3, "already_archived": 0, "failed": {}, "skipped": {}}
    }
    extracted = {"clean_keys": [], "counts": {"ok": 3}, "errors": {}}
    committed = {
        "manifest": "manifests/source=src_a/0000000001.parquet",
        "new_rows": 3,
        "new_articles": 3,
        "dropped": {},
    }
    runs.report_run(store, c, extracted, committed, runs.Thresholds(10), WINDOW, log=logged.append)
    (table,) = logged
    assert table.startswith("run report of src_a R:")
    assert "archived" in table and "3 new, 0 already archived" in table
    assert "2022-03-01  discovered 3, archived 3, already 0, expected 10.0" in table and "probable gap" not in table
    assert "manifests/source=src_a/0000000001.parquet" in table
    lines = crawl_summary(c | {"parts": ["raw/x.warc.gz"]}).splitlines()
    assert lines[0] == "crawl of src_a R:" and any("WARC" in x and "raw/x.warc.gz" in x for x in lines)
