"""Collection (storage/collect.py, `archive gc`): only what nothing committed names and is
past the grace period is listed, and deleted only with --apply; a run in flight, a
committed capture and a log's newest checkpoints are never touched. On a local directory
and on SeaweedFS."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from researcher.cli import app
from researcher.gc import parse_duration
from researcher.verify import verify
from storage import checkpoint, collect, manifest
from storage.errors import PermanentError
from storage.store import ObjectInfo
from tests.hostile import WINDOW, HostileSite, write_profile
from tests.test_checkpoints import _commit_each
from tests.test_write_once import Target, site, target  # noqa: F401 - fixtures

NOW = datetime(2031, 6, 1, tzinfo=UTC)
runner = CliRunner()


def _info(key: str, age_hours: float, size: int = 10) -> ObjectInfo:
    return ObjectInfo(key, size, "v", NOW - timedelta(hours=age_hours))


@pytest.mark.parametrize(
    ("key", "age_hours", "referenced", "verdict"),
    [
        ("raw/source=a/date=2031-05-01/R/x.warc.gz", 24 * 30, True, "kept"),  # committed: never
        ("raw/source=a/date=2031-05-01/R/x.warc.gz", 24 * 30, False, "uncommitted attempt"),
        ("raw/source=a/date=2031-05-01/R/x.crawl-log.jsonl", 24 * 8, False, "uncommitted attempt"),
        ("raw/source=a/date=2031-05-01/R/x.warc.gz", 24 * 6, False, "young"),  # inside 7 days: maybe in flight
        ("raw/source=a/date=2031-05-01/R/x.warc.gz", 0, False, "young"),
        ("clean/source=a/date=2031-05-01/c1/x1.json", 24 * 8, False, "unreferenced extraction"),
        ("clean/source=a/date=2031-05-01/c1/x1.json", 24 * 8, True, "kept"),
    ],
)
def test_select(key: str, age_hours: float, referenced: bool, verdict: str) -> None:
    found = collect.select([_info(key, age_hours)], lambda k: referenced, NOW, collect.GRACE)
    got = found.candidates[0].why if found.candidates else ("young" if found.kept_young else "kept")
    assert got == verdict


def test_superseded_keeps_each_logs_newest_checkpoints() -> None:
    def cp(table: str, source: str, seq: int, age: float) -> ObjectInfo:
        return _info(checkpoint.key(table, source, seq, "0" * 64), age)

    old = 24 * 30
    infos = [cp("events", "src_a", s, old) for s in (10, 20, 30, 40)] + [cp("manifests", "src_a", 10, old)]
    infos += [cp("manifests", "src_b", s, 1) for s in (10, 20, 30)]  # superseded but young: kept
    got = sorted(c.key for c in collect.superseded(infos, NOW, collect.GRACE))
    assert got == sorted(checkpoint.key("events", "src_a", s, "0" * 64) for s in (10, 20))


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("12h", 43200), (" 7d ", 604800)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["7", "7w", "-1d", "1.5h", "", "d"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(PermanentError, match="not a duration"):
        parse_duration(text)


def test_a_short_grace_needs_the_operator_to_say_no_run_is_in_flight() -> None:
    with pytest.raises(PermanentError, match="in flight"):
        collect.check_grace(timedelta(hours=1), no_run_in_flight=False)
    collect.check_grace(timedelta(0), no_run_in_flight=True)
    collect.check_grace(collect.MIN_GRACE, no_run_in_flight=False)


def _crawl_and_extract(store: Any, profile: Path, replay: dict[str, str]) -> dict[str, Any]:
    """An attempt killed before its commit: its raw and clean objects written, no row naming them."""
    from extract import Extractor, classify_capture
    from pipeline import runs
    from spiders.crawl import RunContext, run_crawl
    from spiders.profile import load_profile

    prof = load_profile(profile)
    crawled = run_crawl(store, RunContext(prof.id, *WINDOW, WINDOW[0].date()), profile_path=profile, replay=replay)
    ex = Extractor.from_rules([], [], prof.language, prof.rules_version)
    extracted = runs.extract_run(store, crawled.as_dict(), ex, ex.info, classify_capture, max_body=2**24)
    return {"crawl": crawled.as_dict(), "extract": extracted}


def _keys(t: Target) -> set[str]:
    return set(t.store.list("raw/")) | set(t.store.list("clean/"))


def test_gc_collects_a_killed_attempt_and_nothing_committed(
    target: Target,  # noqa: F811
    site: HostileSite,  # noqa: F811
    tmp_path: Path,
) -> None:
    from tests.hostile import run_steps

    profile = write_profile(tmp_path)
    site.publish(["a", "b"])
    run_steps(target.store, profile, site.replay_map())
    committed = _keys(target)
    site.publish(["a", "b", "c"])
    _crawl_and_extract(target.store, profile, site.replay_map())  # killed before its commit
    leftovers = _keys(target) - committed
    assert leftovers, "the killed attempt left objects"

    young = collect.plan(target.store, grace=timedelta(hours=1))  # they were written just now
    assert young.candidates == [] and young.kept_young == len(leftovers)

    later = datetime.now(UTC) + timedelta(hours=2)
    found = collect.plan(target.store, now=later, grace=timedelta(hours=1))
    assert {c.key for c in found.candidates} == leftovers
    assert collect.apply(target.store, found)[0] == len(leftovers)
    assert _keys(target) == committed
    report = verify(target.store)
    assert report.ok and report.uncommitted == [] and report.raw_ok == 2
    again = collect.plan(target.store, now=later, grace=timedelta(hours=1))
    assert again.candidates == []


def test_a_run_in_flight_beside_gc_loses_nothing(
    target: Target,  # noqa: F811
    site: HostileSite,  # noqa: F811
    tmp_path: Path,
) -> None:
    """gc --apply (grace 1 hour) runs between an attempt's writes and its commit, over and over:
    the attempt's objects are young, so kept; its commit then names them, and verify is clean."""
    from pipeline import runs

    profile = write_profile(tmp_path)
    site.publish(["a", "b", "c"])
    done = _crawl_and_extract(target.store, profile, site.replay_map())
    stop = threading.Event()
    deleted: list[int] = []

    def collector() -> None:
        while not stop.is_set():
            deleted.append(collect.apply(target.store, collect.plan(target.store, grace=timedelta(hours=1)))[0])

    thread = threading.Thread(target=collector)
    thread.start()
    try:
        runs.commit_run(target.store, done["crawl"], done["extract"])
    finally:
        stop.set()
        thread.join()
    assert len(deleted) >= 1 and sum(deleted) == 0
    report = verify(target.store)
    assert report.ok and report.raw_ok == 3 and report.clean_ok == 3


def test_superseded_checkpoints_go_and_readers_still_read_the_log(target: Target) -> None:  # noqa: F811
    from storage import tablelog
    from storage.tables import EVENTS

    _commit_each(target.store, range(1, 36))
    later = datetime.now(UTC) + timedelta(days=8)
    found = collect.plan(target.store, now=later)
    assert [c.why for c in found.candidates] == ["superseded checkpoint"]
    assert found.candidates[0].key == checkpoint.key_of(target.store, "events", "src_a", 10)
    collect.apply(target.store, found)
    assert len(tablelog.load(target.store, EVENTS, "src_a")) == 35
    assert len(manifest.load_manifests(target.store)) == 0


def test_the_command_lists_then_deletes_only_with_apply(tmp_path: Path) -> None:
    from storage.store import LocalStore

    store = LocalStore(tmp_path / "archive")
    store.put_bytes("raw/source=a/date=2031-05-01/R/20310501T000000Z-0a0b0c0d.warc.gz", b"lost")
    url = str(tmp_path / "archive")
    listed = runner.invoke(app, ["gc", "--archive", url, "--grace", "0s", "--no-run-in-flight"])
    assert listed.exit_code == 0 and "uncommitted attempt" in listed.stdout and "--apply" in listed.stderr
    assert list(store.list("raw/"))
    applied = runner.invoke(app, ["gc", "--archive", url, "--grace", "0s", "--no-run-in-flight", "--apply"])
    assert applied.exit_code == 0 and "deleted 1 object(s)" in applied.stderr
    assert list(store.list("raw/")) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--grace", "1h"], "under 12:00:00"), (["--grace", "soon"], "not a duration")],
)
def test_the_command_refuses_bad_input_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    got = runner.invoke(app, ["gc", "--archive", str(tmp_path), *args])
    text = " ".join(got.stderr.split())
    assert got.exit_code == 2 and message in text and "Traceback" not in text
