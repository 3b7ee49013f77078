"""Airflow's own UI in a real browser (Playwright driving Debian's Chromium): an operator signs
in, opens a source's DAG, starts a backfill of three days of its fixture site from the Trigger
dialog, and the archive then holds exactly those days' articles (`archive search`); a bad
param typed in the Trigger form is refused on the page and no run is created. A screenshot of
every step is kept under .work/artifacts/<test>/ when a test fails."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.airflow_cluster import AirflowCluster, backfill_setup
from tests.fixtures.server import FixtureServer

REPO = Path(__file__).resolve().parent.parent
SOURCE = "lesmoutonsenrages"
DAG = f"news_{SOURCE}"
# the fixture site's posts by publication day; the backfill covers the first three days
POSTS = {
    "2016-09-16": "alep-les-rebelles-rejettent-la-treve",
    "2016-09-17": "le-pentagone-et-le-cessez-le-feu",
    "2016-09-18": "62-soldats-syriens-tues-dans-une-frappe-attribuee-a-la-coalition-menee-par-les-etats-unis",
}


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, sites: FixtureServer) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("airflow-ui")
    archive = tmp / "archive"
    cluster = AirflowCluster(
        tmp / "airflow",
        {
            **backfill_setup(tmp, [SOURCE], sites.replay_map()),
            # a login page, as an operator meets it (not the open all-admins mode of the other tests)
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        },
    )
    try:
        cluster.start()
        password = cluster.login()
        cluster.wait(lambda: cluster.get(f"/api/v2/dags/{DAG}"), 180, f"{DAG} to be parsed")
        cluster.request("PATCH", f"/api/v2/dags/{DAG}", {"is_paused": False})
        yield {"cluster": cluster, "password": password, "archive": archive}
    finally:
        cluster.stop()


def _sign_in(page: Any, base: str, password: str) -> None:
    page.goto(base + "/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", password)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(lambda url: "/auth/login" not in url)


def _trigger_dialog(page: Any, base: str) -> Any:
    page.goto(f"{base}/dags/{DAG}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.locator("[role=dialog][data-state=open]")
    dialog.get_by_text("Single Run", exact=True).wait_for()
    return dialog


def _pick(page: Any, dialog: Any, label: str, day: str) -> None:
    """Set the From or To date-time picker: open it, type the date and the time, close it."""
    dialog.get_by_text("Select date and time").first.click()
    date_field = page.get_by_role("textbox", name=label)
    date_field.fill(day.replace("-", "/"))
    page.locator("input[placeholder='HH:mm']:visible").fill("00:00")
    dialog.get_by_text("Date Range").click()  # closes the picker
    date_field.wait_for(state="hidden")


def test_a_backfill_started_in_the_ui_archives_exactly_its_days(airflow: dict[str, Any], browser_page: Any) -> None:
    page, steps, outside = browser_page
    errors: list[str] = []  # SQLite's "database is locked" surfaced as 5xx answers before WAL and the busy timeout
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 500 else None)
    cluster: AirflowCluster = airflow["cluster"]
    _sign_in(page, cluster.base, airflow["password"])
    steps.shot("signed-in")
    dialog = _trigger_dialog(page, cluster.base)
    dialog.get_by_text("Backfill", exact=True).click()
    dialog.get_by_text("Date Range").wait_for()
    first, last = min(POSTS), max(POSTS)
    _pick(page, dialog, "From", first)
    _pick(page, dialog, "To", last)
    steps.shot("backfill-form")
    dialog.get_by_role("button", name="Run Backfill").click()
    dialog.wait_for(state="hidden")
    steps.shot("backfill-started")

    def finished() -> list[dict[str, Any]] | None:
        runs: list[dict[str, Any]] = cluster.get(f"/api/v2/dags/{DAG}/dagRuns?limit=50")["dag_runs"]
        return runs if len(runs) == len(POSTS) and all(r["state"] in ("success", "failed") for r in runs) else None

    runs = cluster.wait(finished, 600, "the backfill's runs")
    page.goto(f"{cluster.base}/dags/{DAG}")
    steps.shot("runs-finished")
    assert {r["run_type"] for r in runs} == {"backfill"}
    assert sorted(r["logical_date"][:10] for r in runs) == sorted(POSTS)
    assert all(r["state"] == "success" for r in runs), [(r["dag_run_id"], r["state"]) for r in runs]

    search = subprocess.run(
        [sys.executable, "-m", "researcher.cli", "search", "--archive", str(airflow["archive"]),
         "--source", SOURCE, "--format", "jsonl"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = [json.loads(line) for line in search.stdout.splitlines() if line.strip()]
    slugs = sorted(r["requested_url"].rstrip("/").rsplit("/", 1)[-1] for r in rows)
    assert slugs == sorted(POSTS.values()), rows
    assert not [u for u in outside if not u.startswith(("data:", "blob:"))], "the UI fetched something from outside"
    assert errors == [], errors


def test_a_bad_param_in_the_trigger_form_is_refused_on_the_page(airflow: dict[str, Any], browser_page: Any) -> None:
    page, steps, _ = browser_page
    cluster: AirflowCluster = airflow["cluster"]
    before = cluster.get(f"/api/v2/dags/{DAG}/dagRuns?limit=100")["total_entries"]
    _sign_in(page, cluster.base, airflow["password"])
    dialog = _trigger_dialog(page, cluster.base)
    dialog.get_by_text("Advanced Options").click()
    dialog.locator(".view-lines").click()  # the run's configuration as JSON (a code editor)
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    bad = '{"window_start": "last tuesday"}'
    page.keyboard.insert_text(bad)  # as a paste: the editor's auto-closing of quotes stays out of it
    editor = dialog.locator(".view-lines")
    assert editor.inner_text().replace("\xa0", " ").strip() == bad
    steps.shot("bad-param-typed")
    dialog.get_by_role("button", name="Trigger").click()
    message = page.get_by_text("Invalid input for param window_start: 'last tuesday' is not a 'date-time'")
    message.wait_for()
    steps.shot("bad-param-refused")
    assert message.is_visible()
    assert cluster.get(f"/api/v2/dags/{DAG}/dagRuns?limit=100")["total_entries"] == before
