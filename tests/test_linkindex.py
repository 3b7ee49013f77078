"""pipeline/linkindex.py: signatures filed by publication week, and the links step reading
only the weeks around its articles' (not every signature of the archive)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipeline import linkindex, linking
from storage import layout, manifest, tablelog
from storage.store import LocalStore
from storage.tables import LINKS, LSH
from tests.test_checkpoints import Counting
from tests.test_tables_write_once import SEEDS, _article


@pytest.mark.parametrize(
    ("published", "week"),
    [
        ("2031-05-30T10:00:00Z", "w2031_22"),
        ("2031-05-30T10:00:00+02:00", "w2031_22"),
        ("2031-05-30", "w2031_22"),
        ("2021-01-03T23:00:00Z", "w2020_53"),  # ISO weeks: 3 January 2021 closes 2020's week 53
        ("2021-01-04T00:00:00Z", "w2021_01"),
        ("not a date", "w2024_19"),  # unreadable: the fallback day's week
        (None, "w2024_19"),
    ],
)
def test_week_of(published: str | None, week: str) -> None:
    from datetime import date

    assert linkindex.week_of(published, date(2024, 5, 6)) == week


@pytest.mark.parametrize(
    ("weeks", "around", "expected"),
    [
        (["w2031_22"], 0, ["w2031_22"]),
        (["w2031_22"], 1, ["w2031_21", "w2031_22", "w2031_23"]),
        (["w2021_01"], 1, ["w2020_53", "w2021_01", "w2021_02"]),  # across a year's end
        (["w2031_22", "w2031_23"], 1, ["w2031_21", "w2031_22", "w2031_23", "w2031_24"]),  # overlaps once
        ([], 4, []),
    ],
)
def test_weeks_around(weeks: list[str], around: int, expected: list[str]) -> None:
    assert linkindex.weeks_around(weeks, around) == expected


def _day(n: int) -> str:
    from datetime import date, timedelta

    return (date(2020, 1, 1) + timedelta(days=n)).isoformat() + "T10:00:00+00:00"


def _commit(store: LocalStore, source: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    done = manifest.commit(store, source, rows)
    return {"run": "R", "source_id": source, "manifest": done.key}


def test_a_run_reads_only_the_weeks_around_its_articles(tmp_path: Path) -> None:
    """Thirty weeks of another source's articles are on file; a run whose articles were
    published in week 12 reads weeks 8 to 16 of the index and no signatures part, and links
    its republication of a week-11 article."""
    store = LocalStore(tmp_path)
    seed = SEEDS[0]
    text = "\n".join(seed["keep"])
    filler = [
        _article(f"f{w}", "outlet_a", f"Week {w} dispatch. " + " ".join(f"w{w}word{i}" for i in range(200)), 1)
        | {"published": _day(7 * w)}
        for w in range(30)
    ]
    original = _article("orig", "outlet_a", text, 1) | {"published": _day(7 * 11)}
    for row in [*filler, original]:
        linking.link_run(store, *[_commit(store, "outlet_a", [row])] * 2)
    republished = _article("copy", "blog_b", "\n".join([*seed["drop"], *seed["keep"]]), 1) | {
        "published": _day(7 * 11 + 3)
    }
    job = _commit(store, "blog_b", [republished])
    counting = Counting(store)
    done = linking.link_run(counting, job, job)  # type: ignore[arg-type]
    read = Counter(layout.parse_part_key(k)[0] for k in counting.gets if layout.parse_part_key(k))  # type: ignore[index]
    assert read["signatures"] == 0 and read["manifests"] == 1  # the run's own part
    weeks = {layout.parse_part_key(k)[1] for k in counting.gets if k.startswith("lsh/")}  # type: ignore[index]
    assert len(weeks) <= 9 and done["weeks_read"] == 9
    assert done["compared_with"] < 12  # the articles of weeks 8 to 16, of thirty-one on file
    links = [(r["republished"], r["original"]) for r in tablelog.load(store, LINKS).to_pylist()]
    assert links == [("copy", "orig")]


def test_a_republication_beyond_the_window_is_not_linked_by_the_run(tmp_path: Path) -> None:
    """The trade-off, pinned: a copy published WEEKS_AROUND + 2 weeks later is not compared."""
    store = LocalStore(tmp_path)
    seed = SEEDS[0]
    original = _article("orig", "outlet_a", "\n".join(seed["keep"]), 1) | {"published": _day(0)}
    job = _commit(store, "outlet_a", [original])
    linking.link_run(store, job, job)
    late = _day(7 * (linkindex.WEEKS_AROUND + 2))
    copy = _article("copy", "blog_b", "\n".join(seed["keep"]), 1) | {"published": late}
    job = _commit(store, "blog_b", [copy])
    assert linking.link_run(store, job, job)["links"] == 0
    # both are on file, each under its own week, with every column a reader needs
    filed = tablelog.load(store, LSH, linkindex.week_of(late)).to_pylist()
    assert [r["capture_id"] for r in filed] == ["copy"] and filed[0]["minhash"]
