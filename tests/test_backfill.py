"""A backfill started through Airflow's REST API, as the UI starts it, on a real Airflow:
API server, scheduler (LocalExecutor) and DAG processor on loopback over SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from spiders.profile import profiles_dir
from storage import layout, manifest
from storage.store import LocalStore
from tests.airflow_cluster import AirflowCluster
from tests.fixtures.server import FixtureServer

DAG = "news_lesmoutonsenrages"
POSTS = {  # the fixture site's posts by publication day (UTC)
    "2016-09-16": "alep-les-rebelles-rejettent-la-treve",
    "2016-09-17": "le-pentagone-et-le-cessez-le-feu",
    "2016-09-18": "62-soldats-syriens-tues-dans-une-frappe-attribuee-a-la-coalition-menee-par-les-etats-unis",
}


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory, sites: FixtureServer) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("backfill")
    profiles = tmp / "profiles"
    profiles.mkdir()
    profile = yaml.safe_load((profiles_dir() / "lesmoutonsenrages.yaml").read_text())
    # no feed: a real feed only reaches the recent past; one post a day is this site's volume
    profile.update(feeds=[], expected_daily_volume=1)
    (profiles / "lesmoutonsenrages.yaml").write_text(yaml.safe_dump(profile))
    archive = tmp / "archive"
    cluster = AirflowCluster(
        tmp / "airflow",
        {
            "NEWSARCHIVE_PROFILES": str(profiles),
            "ARCHIVE_URL": archive.as_uri(),
            "NEWSARCHIVE_REPLAY": json.dumps(sites.replay_map()),
            "NEWSARCHIVE_RETRIES": "0",
        },
    )
    try:
        cluster.start()
        cluster.wait(lambda: cluster.get(f"/api/v2/dags/{DAG}"), 180, f"{DAG} to be parsed")
        cluster.request("PATCH", f"/api/v2/dags/{DAG}", {"is_paused": False})
        backfill = cluster.request(
            "POST",
            "/api/v2/backfills",
            {"dag_id": DAG, "from_date": "2016-09-16T00:00:00Z", "to_date": "2016-09-19T00:00:00Z"},
        )

        def finished() -> list[dict[str, Any]] | None:
            runs: list[dict[str, Any]] = cluster.get(f"/api/v2/dags/{DAG}/dagRuns?limit=50")["dag_runs"]
            done = runs and all(r["state"] in ("success", "failed") for r in runs)
            return runs if done else None

        runs = cluster.wait(finished, 900, "the backfill's runs")
        yield {"backfill": backfill, "runs": runs, "store": LocalStore(archive), "logs": cluster.logs}
    finally:
        cluster.stop()


def test_one_successful_run_per_day(backfilled: dict[str, Any]) -> None:
    runs = sorted(backfilled["runs"], key=lambda r: r["logical_date"])
    assert [(r["logical_date"][:10], r["run_type"], r["state"]) for r in runs] == [
        (day, "backfill", "success") for day in ("2016-09-16", "2016-09-17", "2016-09-18", "2016-09-19")
    ], backfilled["logs"]()
    assert runs[0]["data_interval_start"][:10] == "2016-09-16" and runs[0]["data_interval_end"][:10] == "2016-09-17"


def test_each_run_archived_exactly_its_days_articles(backfilled: dict[str, Any]) -> None:
    store: LocalStore = backfilled["store"]
    archived: dict[str, list[str]] = {}
    for key in manifest.manifest_keys(store, "lesmoutonsenrages"):
        rows = manifest.read_manifest(store, key)
        archived[layout.parse_partition(key)["date"]] = [r["final_url"].rstrip("/").rsplit("/", 1)[1] for r in rows]
        assert {r["discovery_kind"] for r in rows} <= {"wp-api", "sitemap", "news-sitemap"}
        assert {r["dag_id"] for r in rows} == {"news_lesmoutonsenrages"}
        assert all(r["airflow_run_id"].startswith("backfill__") for r in rows)
    assert archived == {day: [slug] for day, slug in POSTS.items()}


def test_run_reports_account_for_every_day(backfilled: dict[str, Any]) -> None:
    store: LocalStore = backfilled["store"]
    coverage: dict[str, dict[str, Any]] = {}
    for key in store.list("runs/source=lesmoutonsenrages/"):
        coverage.update(json.loads(store.get_bytes(key))["coverage"])
    assert sorted(coverage) == ["2016-09-16", "2016-09-17", "2016-09-18", "2016-09-19"]
    for day in POSTS:
        assert (coverage[day]["discovered"], coverage[day]["archived"], coverage[day]["probable_gap"]) == (1, 1, False)
    assert (coverage["2016-09-19"]["discovered"], coverage["2016-09-19"]["probable_gap"]) == (0, True)
