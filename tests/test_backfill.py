"""A backfill started through Airflow's REST API, as the UI starts it, on a real Airflow:
API server, scheduler (LocalExecutor) and DAG processor on loopback over SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from storage import manifest
from storage.store import LocalStore
from tests.airflow_cluster import AirflowCluster, backfill_setup
from tests.fixtures.server import FixtureServer

# Two sources, two discovery paths that reach the past: a WordPress site (REST API and
# sitemaps) and a sitemap-only news site. Their feeds are removed: a real feed only reaches
# the recent past. Each source's posts by publication day (UTC); one a day is their volume here.
SOURCES: dict[str, dict[str, Any]] = {
    "lesmoutonsenrages": {
        "days": ("2016-09-16", "2016-09-19"),
        "posts": {
            "2016-09-16": "alep-les-rebelles-rejettent-la-treve",
            "2016-09-17": "le-pentagone-et-le-cessez-le-feu",
            "2016-09-18": "62-soldats-syriens-tues-dans-une-frappe-attribuee-a-la-coalition-menee-par-les-etats-unis",
        },
        "via": {"wp-api", "sitemap", "news-sitemap"},
    },
    "rt_fr": {
        "days": ("2017-06-07", "2017-06-10"),
        "posts": {
            "2017-06-07": "38750-al-tanaf-garnison-coalition",
            "2017-06-08": "38802-damas-denonce-frappe",
            "2017-06-09": "38871-etats-unis-frappent-nouveau-forces-pro-gouvernementales-syrie-drone",
            "2017-06-10": "38911-moscou-appelle-retenue",
        },
        "via": {"sitemap", "news-sitemap"},
    },
}


def _days(source: str) -> list[str]:
    first, last = (date.fromisoformat(d) for d in SOURCES[source]["days"])
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory, sites: FixtureServer) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("backfill")
    archive = tmp / "archive"
    cluster = AirflowCluster(tmp / "airflow", backfill_setup(tmp, SOURCES, sites.replay_map()))
    try:
        cluster.start()
        backfills = {}
        for source, spec in SOURCES.items():
            dag = f"news_{source}"
            cluster.wait(lambda dag=dag: cluster.get(f"/api/v2/dags/{dag}"), 180, f"{dag} to be parsed")
            cluster.request("PATCH", f"/api/v2/dags/{dag}", {"is_paused": False})
            first, last = spec["days"]
            backfills[source] = cluster.request(
                "POST",
                "/api/v2/backfills",
                {"dag_id": dag, "from_date": f"{first}T00:00:00Z", "to_date": f"{last}T00:00:00Z"},
            )

        def finished() -> dict[str, list[dict[str, Any]]] | None:
            runs = {s: cluster.get(f"/api/v2/dags/news_{s}/dagRuns?limit=50")["dag_runs"] for s in SOURCES}
            done = all(rs and all(r["state"] in ("success", "failed") for r in rs) for rs in runs.values())
            return runs if done else None

        runs = cluster.wait(finished, 900, "the backfills' runs")
        yield {"backfills": backfills, "runs": runs, "store": LocalStore(archive), "logs": cluster.logs}
    finally:
        cluster.stop()


@pytest.mark.parametrize("source", SOURCES)
def test_one_successful_run_per_day(backfilled: dict[str, Any], source: str) -> None:
    runs = sorted(backfilled["runs"][source], key=lambda r: r["logical_date"])
    assert [(r["logical_date"][:10], r["run_type"], r["state"]) for r in runs] == [
        (day, "backfill", "success") for day in _days(source)
    ], backfilled["logs"]()
    first = _days(source)[0]
    backfill = backfilled["backfills"][source]  # what POST /api/v2/backfills answered
    assert (backfill["dag_id"], backfill["from_date"][:10]) == (f"news_{source}", first)
    assert runs[0]["data_interval_start"][:10] == first
    assert runs[0]["data_interval_end"][:10] == (date.fromisoformat(first) + timedelta(days=1)).isoformat()


@pytest.mark.parametrize("source", SOURCES)
def test_each_run_archived_exactly_its_days_articles(backfilled: dict[str, Any], source: str) -> None:
    store: LocalStore = backfilled["store"]
    archived: dict[str, list[str]] = {}
    for key in manifest.manifest_keys(store, source):
        rows = manifest.read_manifest(store, key)
        (day,) = {r["logical_date"] for r in rows}  # one commit per daily run
        archived[day] = [r["final_url"].rstrip("/").rsplit("/", 1)[1] for r in rows]
        assert {r["discovery_kind"] for r in rows} <= SOURCES[source]["via"]
        assert {r["dag_id"] for r in rows} == {f"news_{source}"}
        assert all(r["airflow_run_id"].startswith("backfill__") for r in rows)
    assert archived == {day: [slug] for day, slug in SOURCES[source]["posts"].items()}


@pytest.mark.parametrize("source", SOURCES)
def test_run_reports_account_for_every_day(backfilled: dict[str, Any], source: str) -> None:
    store: LocalStore = backfilled["store"]
    coverage: dict[str, dict[str, Any]] = {}
    for key in store.list(f"runs/source={source}/"):
        coverage.update(json.loads(store.get_bytes(key))["coverage"])
    assert sorted(coverage) == _days(source)
    for day in _days(source):
        expected = (1, 1, False) if day in SOURCES[source]["posts"] else (0, 0, True)  # an empty day: a probable gap
        assert (coverage[day]["discovered"], coverage[day]["archived"], coverage[day]["probable_gap"]) == expected
