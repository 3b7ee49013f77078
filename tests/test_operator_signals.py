"""What operators get from a run besides its archive: failure alerts through Airflow's notifier
mechanism (a webhook configured by a connection, received by a real HTTP sink on 127.0.0.1),
and an Airflow Asset per source that the catalog DAG is scheduled on."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, ClassVar

import pytest

from pipeline.alerts import ALERTS_CONN_ID, alert_payload
from tests.fixtures.server import FixtureServer

LOGICAL = datetime(2017, 6, 9, tzinfo=UTC)
INVERTED = {"window_start": "2017-06-11T00:00:00+00:00", "window_end": "2017-06-07T00:00:00+00:00"}


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            {"ti": SimpleNamespace(dag_id="news_rt_fr", task_id="crawl", try_number=1), "run_id": "manual__x",
             "exception": ValueError("the window is empty or inverted\nmore detail")},
            {"event": "task_failed", "dag_id": "news_rt_fr", "source_id": "rt_fr", "run_id": "manual__x",
             "task_id": "crawl", "try_number": 1, "error": "ValueError: the window is empty or inverted"},
        ),
        (
            {"ti": SimpleNamespace(dag_id="news_catalog", task_id="refresh", try_number=3), "run_id": "r",
             "exception": TimeoutError()},
            {"event": "task_failed", "dag_id": "news_catalog", "source_id": None, "run_id": "r",
             "task_id": "refresh", "try_number": 3, "error": "TimeoutError: TimeoutError"},
        ),
        (
            {"ti": None, "dag": SimpleNamespace(dag_id="news_aa_fr"), "run_id": "r"},
            {"event": "task_failed", "dag_id": "news_aa_fr", "source_id": "aa_fr", "run_id": "r",
             "task_id": None, "try_number": None, "error": "unknown"},
        ),
    ],
)  # fmt: skip
def test_alert_payload(context: dict[str, Any], expected: dict[str, Any]) -> None:
    assert alert_payload(context) == expected


class _Sink(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.path, json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[ThreadingHTTPServer]:
    _Sink.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_failed_run_posts_one_alert_to_the_configured_webhook(
    dags_module: ModuleType, sink: ThreadingHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = sink.server_address[1]
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{ALERTS_CONN_ID.upper()}", json.dumps(conn))
    monkeypatch.setenv("NEWSARCHIVE_ALERTS_PATH", "/hooks/newsarchive")
    monkeypatch.setenv("ARCHIVE_URL", (tmp_path / "archive").as_uri())
    run = dags_module.news_rt_fr.test(logical_date=LOGICAL, run_conf=INVERTED)
    assert run.state == "failed"
    assert len(_Sink.received) == 1, _Sink.received  # the crawl failed; the tasks after it never ran
    path, alert = _Sink.received[0]
    assert path == "/hooks/newsarchive"
    assert (alert["dag_id"], alert["source_id"], alert["task_id"], alert["try_number"]) == (
        "news_rt_fr", "rt_fr", "crawl", 1,
    )  # fmt: skip
    assert "the window is empty or inverted" in alert["error"] and alert["run_id"] == run.run_id


def test_without_the_connection_a_failure_alerts_nobody(
    dags_module: ModuleType, sink: ThreadingHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(f"AIRFLOW_CONN_{ALERTS_CONN_ID.upper()}", raising=False)
    monkeypatch.setenv("ARCHIVE_URL", (tmp_path / "archive").as_uri())
    run = dags_module.news_rt_fr.test(logical_date=LOGICAL, run_conf=INVERTED)
    assert run.state == "failed" and _Sink.received == []


def test_each_source_emits_its_manifests_asset_and_the_catalog_dag_follows_them(
    dags_module: ModuleType, sites: FixtureServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    sources = [name.removeprefix("news_") for name in vars(dags_module) if name.startswith("news_")]
    sources = [s for s in sources if s not in ("reprocess", "catalog")]
    catalog_dag = dags_module.news_catalog
    followed = {a.uri for a in catalog_dag.timetable.asset_condition.objects}  # AssetAny: any of them
    assert followed == {f"newsarchive://manifests/source={s}" for s in sources}
    commit = dags_module.news_rt_fr.task_dict["commit"]
    assert [o.uri for o in commit.outlets] == ["newsarchive://manifests/source=rt_fr"]

    archive = tmp_path / "archive"
    catalog = tmp_path / "catalog.sqlite"
    monkeypatch.setenv("ARCHIVE_URL", archive.as_uri())
    monkeypatch.setenv("NEWSARCHIVE_REPLAY", json.dumps(sites.replay_map()))
    monkeypatch.setenv("NEWSARCHIVE_CATALOG", str(catalog))
    wide = {"window_start": "2017-06-07T00:00:00+00:00", "window_end": "2017-06-11T00:00:00+00:00"}
    run = dags_module.news_rt_fr.test(logical_date=LOGICAL, run_conf=wide)
    assert run.state == "success"
    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == run.run_id).all()
        assert [e.asset.uri for e in events] == ["newsarchive://manifests/source=rt_fr"]

    refreshed = catalog_dag.test()
    assert refreshed.state == "success" and catalog.exists()
    from researcher.catalog import Catalog, Query

    assert Catalog(catalog).count(Query(sources=("rt_fr",))) == 4
