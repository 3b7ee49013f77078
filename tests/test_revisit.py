"""The revisit policy: archived articles captured again at set ages, so `versions` can show change."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from extract import Extractor
from pipeline import runs
from researcher.reader import Archive
from spiders.crawl import RunContext, run_crawl
from spiders.profile import get_profile, profiles_dir
from spiders.revisit import parse_age, revisits_due
from storage import manifest
from storage.store import LocalStore
from tests.fixtures.server import FixtureServer

END = datetime(2020, 3, 6, tzinfo=UTC)
PUB = "2020-02-28T10:00:00Z"


@pytest.mark.parametrize(
    ("published", "last_fetched", "ages", "due"),
    [
        (PUB, "2020-02-28T11:00:00Z", ["1d", "7d"], True),  # one day has passed since, not yet recaptured
        (PUB, "2020-03-01T00:00:00Z", ["1d", "7d"], False),  # captured after the 1-day mark; 7 days not reached
        (PUB, "2020-02-28T10:30:00Z", ["1h"], True),  # the one-hour mark passed after the first capture
        (PUB, "2020-02-28T11:00:00Z", ["1h"], False),  # captured after the one-hour mark already
        (PUB, "2020-02-28T11:00:00Z", [], False),  # the profile does not revisit
        (PUB, "2020-02-28T11:00:00Z", ["30d"], False),  # its age has not come by the window's end
        (None, "2020-02-28T11:00:00Z", ["1d"], False),  # no publication date: nothing to count from
        (PUB, "2026-11-23T08:00:00Z", ["1d", "7d"], False),  # a backfill captured it long after: never revisited
    ],
)
def test_revisits_due(published: str | None, last_fetched: str, ages: list[str], due: bool) -> None:
    url = "https://example.invalid/a"
    plan = revisits_due({url: (published, last_fetched)}, END, [parse_age(a) for a in ages])
    assert (url in plan.due) is due


def test_a_run_revisits_within_its_budget_youngest_mark_first() -> None:
    """Three articles past their 1-day mark and two past their 7-day mark, a budget of 3: the
    1-day ones go first (earliest deadline first), the 7-day ones wait and are counted."""
    history: dict[str, tuple[str | None, str | None]] = {f"https://example.invalid/new{i}": (f"2020-03-0{i + 2}T00:00:00Z", f"2020-03-0{i + 2}T01:00:00Z")
               for i in range(3)}  # fmt: skip
    history |= {f"https://example.invalid/old{i}": (f"2020-02-2{i}T00:00:00Z", f"2020-02-2{i + 1}T01:00:00Z")
                for i in range(2)}  # fmt: skip
    plan = revisits_due(history, END, [parse_age("1d"), parse_age("7d")], budget=3)
    assert sorted(plan.due) == [f"https://example.invalid/new{i}" for i in range(3)]
    assert plan.as_summary() == {"scheduled": 3, "deferred": 2}


@pytest.mark.parametrize(("text", "hours"), [("1h", 1), ("36h", 36), ("7d", 168), (" 30d ", 720)])
def test_ages(text: str, hours: int) -> None:
    assert parse_age(text).total_seconds() == hours * 3600


@pytest.mark.parametrize("text", ["0h", "1w", "d", "1.5d", "-1d", ""])
def test_bad_ages_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an age"):
        parse_age(text)


def _row(url: str) -> dict[str, Any]:
    base: dict[str, Any] = {c: None for c in manifest.COLUMNS}
    return base | {
        "capture_id": "earlier",
        "source_id": "aa_fr",
        "status": "ok",
        "requested_url": url,
        "final_url": url,
        "published": PUB,
        "fetched_at": "2020-02-28T11:00:00Z",
        "extracted_at": "2020-02-28T11:00:01Z",
        "text": "Une version antérieure du texte.",
        "authors": [],
        "tags": [],
        "flags": [],
    }


def test_a_due_article_is_captured_again_once(tmp_path: Path, sites: FixtureServer) -> None:
    url = "https://www.aa.com.tr/fr/monde/idleb-nouvelle-offensive/1746120"
    store = LocalStore(tmp_path / "archive")
    manifest.commit(store, "aa_fr", [_row(url)])
    profile = yaml.safe_load((profiles_dir() / "aa_fr.yaml").read_text())
    path = tmp_path / "aa_fr.yaml"
    path.write_text(yaml.safe_dump(profile | {"revisit_after": ["1d", "7d"]}))
    ctx = RunContext("aa_fr", datetime(2020, 3, 5, tzinfo=UTC), END, date(2020, 3, 5))

    crawl = run_crawl(store, ctx, profile_path=path, replay=sites.replay_map()).as_dict()
    # nothing else is published in this window: the one archived article is the revisit
    assert crawl["summary"]["revisited"] == 1 and crawl["summary"]["articles"]["archived"] == 1
    p = get_profile("aa_fr")
    ex = Extractor.for_profile(p)
    runs.commit_run(store, crawl, runs.extract_run(store, crawl, ex, ex.info))

    versions = Archive(store).versions(url)
    assert len(versions) == 2 and versions[0]["capture_id"] == "earlier"
    assert versions[1]["discovery_kind"] == "revisit" and "offensive" in versions[1]["text"]
    # the new capture ends this article's revisits: re-running the interval fetches nothing
    again = run_crawl(store, ctx, profile_path=path, replay=sites.replay_map()).as_dict()
    assert again["summary"]["revisited"] == 0 and "archived" not in again["summary"]["articles"]
