"""End to end: a source's DAG run with dag.test(), archiving into a real S3 server."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from pipeline import runs
from researcher.cli import app
from storage import manifest
from storage.store import S3Store
from tests.bench.quality import norm
from tests.fixtures.server import FixtureServer
from tests.s3server import WeedS3
from tests.test_extract_gold import GOLD

LOGICAL = datetime(2017, 6, 9, tzinfo=UTC)
WIDE = {"window_start": "2017-06-07T00:00:00+00:00", "window_end": "2017-06-11T00:00:00+00:00"}
SEED_URL = (
    "https://francais.rt.com/international/38871-etats-unis-frappent-nouveau-forces-pro-gouvernementales-syrie-drone"
)
PROVENANCE = [
    "capture_id",
    "source_id",
    "requested_url",
    "final_url",
    "canonical_url",
    "discovered_via",
    "discovery_kind",
    "discovered_date",
    "fetched_at",
    "http_status",
    "response_headers",
    "remote_ip",
    "replayed_to",
    "user_agent",
    "warc_key",
    "warc_record_id",
    "warc_offset",
    "warc_length",
    "payload_sha256",
    "text_sha256",
    "clean_key",
    "extractor_name",
    "extractor_version",
    "extractor_settings",
    "rules_version",
    "profile_rules_version",
    "pipeline_version",
    "run",
    "interval_start",
    "interval_end",
    "logical_date",
    "dag_id",
    "airflow_run_id",
    "try_number",
    "title",
    "published",
    "modified",
    "language",
    "text",
]


def snapshot(store: S3Store) -> dict[str, bytes]:
    return {k: store.get_bytes(k) for k in store.list("")}


@pytest.fixture
def rt_run(
    dags_module: ModuleType,
    sites: FixtureServer,
    weed: WeedS3,
    bucket: str,
    airflow_conns: str,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    monkeypatch.setenv("ARCHIVE_URL", f"s3://{bucket}/archive")
    monkeypatch.setenv("NEWSARCHIVE_REPLAY", json.dumps(sites.replay_map()))
    conns = airflow_conns
    dag = dags_module.news_rt_fr
    run = dag.test(logical_date=LOGICAL, run_conf=WIDE, conn_file_path=conns)
    store = S3Store(bucket, "archive", client=weed.client())  # type: ignore[arg-type]
    return {"dag": dag, "run": run, "store": store, "conns": conns, "bucket": bucket, "weed": weed}


def test_dag_run_archives_raw_and_clean_with_provenance(rt_run: dict[str, Any], sites: FixtureServer) -> None:
    assert rt_run["run"].state == "success"
    store: S3Store = rt_run["store"]
    (mkey,) = manifest.manifest_keys(store, "rt_fr")
    assert mkey == "manifests/source=rt_fr/0000000001.parquet"  # the source's first commit
    rows = {r["final_url"]: r for r in manifest.read_manifest(store, mkey)}
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows.values())
    seed = rows[SEED_URL]
    for field in PROVENANCE:
        assert seed[field] not in (None, ""), f"provenance field {field} is empty"
    assert seed["dag_id"] == "news_rt_fr" and seed["try_number"] == 1 and seed["logical_date"] == "2017-06-09"
    assert seed["remote_ip"] == "127.0.0.1" and seed["replayed_to"] == sites.address
    assert seed["discovery_kind"] in {"feed", "sitemap", "news-sitemap"}
    assert json.loads(seed["response_headers"])["content-encoding"] == "gzip"
    # the clean text meets the gold lines
    lines = {norm(x) for x in seed["text"].splitlines()}
    gold = GOLD["002"]
    assert all(norm(k) in lines for k in gold["keep"] if k != gold["title"])
    assert not any(norm(d) in lines for d in gold["drop"])
    # the clean document carries the same provenance
    clean = json.loads(store.get_bytes(seed["clean_key"]))
    assert clean["provenance"]["payload_sha256"] == seed["payload_sha256"]
    assert clean["text"] == seed["text"]
    report = runs.latest_report(store, "rt_fr", "20170607T000000Z-20170611T000000Z")
    assert report is not None
    assert report["archived"] == 4 and report["failed_by_reason"] == {}


def test_warc_digests_verify(rt_run: dict[str, Any], tmp_path: Path) -> None:
    store: S3Store = rt_run["store"]
    parts = [k for k in store.list("raw/") if k.endswith(".warc.gz")]
    assert len(parts) == 1
    local = tmp_path / "part.warc.gz"
    store.download(parts[0], local)
    out = subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", "-v", str(local)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "digest pass" in out.stdout and "digest fail" not in out.stdout


def test_archive_get_raw_returns_the_bytes_the_server_sent(
    rt_run: dict[str, Any], sites: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in rt_run["weed"].env().items():
        monkeypatch.setenv(k, v)
    url = f"s3://{rt_run['bucket']}/archive"
    runner = CliRunner()
    found = runner.invoke(app, ["search", "--archive", url, "--text", "abattent un drone", "--format", "jsonl"])
    assert found.exit_code == 0, found.output
    (hit,) = [json.loads(line) for line in found.stdout.splitlines()]
    raw = runner.invoke(app, ["get", hit["capture_id"], "--raw", "--archive", url])
    assert raw.exit_code == 0
    assert raw.stdout_bytes in sites.sent["francais.rt.com/international/" + SEED_URL.rsplit("/", 1)[1]]
    shown = runner.invoke(app, ["show", hit["capture_id"], "--archive", url])
    assert json.loads(shown.stdout)["provenance"]["payload_sha256"] == hit["payload_sha256"]


def test_rerun_of_the_same_interval_changes_nothing(rt_run: dict[str, Any]) -> None:
    store: S3Store = rt_run["store"]
    before = snapshot(store)
    again = rt_run["dag"].test(logical_date=LOGICAL, run_conf=WIDE, conn_file_path=rt_run["conns"])
    assert again.state == "success"
    after = snapshot(store)
    assert {k: after.get(k) for k in before} == before, "nothing committed may change"
    added = sorted(set(after) - set(before))
    # the run fetched nothing new: no clean document, no commit; it keeps its report, its crawl
    # log and the WARC of the feed and sitemaps it read (evidence of what it saw)
    run = "20170607T000000Z-20170611T000000Z"
    kinds = sorted(k.rsplit(".", 1)[-1] if k.startswith("raw/") else k.split("/", 1)[0] for k in added)
    assert kinds == ["gz", "jsonl", "runs"], added
    assert all(run in k for k in added) and not any(k.startswith(("manifests/", "clean/")) for k in added)
    (report_key,) = [k for k in added if k.startswith("runs/")]
    report = json.loads(after[report_key])
    assert report["already_archived"] == 4 and report["archived"] == 0


def test_storage_outage_mid_run_loses_nothing(
    dags_module: ModuleType,
    sites: FixtureServer,
    outage_weed: WeedS3,
    airflow_conns: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    weed = outage_weed.start()
    try:
        weed.client().create_bucket(Bucket="outage")
        monkeypatch.setenv("ARCHIVE_URL", "s3://outage/archive")
        monkeypatch.setenv("ARCHIVE_AWS_CONN_ID", "archive_s3_outage")
        monkeypatch.setenv("NEWSARCHIVE_REPLAY", json.dumps(sites.replay_map()))

        def stop_storage(key: str) -> None:  # the S3 server dies while the crawl is fetching articles
            if key.endswith(SEED_URL.rsplit("/", 1)[1]):
                sites.on_request = None
                weed.stop()

        sites.on_request = stop_storage
        failed = dags_module.news_rt_fr.test(logical_date=LOGICAL, run_conf=WIDE, conn_file_path=airflow_conns)
        sites.on_request = None
        assert failed.state == "failed"
        states = {ti.task_id: ti.state for ti in failed.get_task_instances()}
        assert states == {
            "crawl": "failed",
            "extract": "upstream_failed",
            "commit": "upstream_failed",
            "changes": "upstream_failed",
            "links": "upstream_failed",
            "report": "upstream_failed",
        }
        logs = "".join(capfd.readouterr())
        assert "StorageUnavailable: put s3://outage/archive/raw/source=rt_fr" in logs

        weed.start()
        store = S3Store("outage", "archive", client=weed.client())
        assert manifest.manifest_keys(store, "rt_fr") == [], "nothing may be committed by the failed run"

        rerun = dags_module.news_rt_fr.test(logical_date=LOGICAL, run_conf=WIDE, conn_file_path=airflow_conns)
        assert rerun.state == "success"
        (mkey,) = manifest.manifest_keys(store, "rt_fr")
        assert len(manifest.read_manifest(store, mkey)) == 4
    finally:
        sites.on_request = None
        weed.stop()


def test_scheduled_runs_crawl_contiguous_intervals(dags_module: ModuleType) -> None:
    """Each source's schedule yields back-to-back data intervals: the crawl windows leave no gap."""
    import pendulum
    from airflow.timetables.base import DataInterval, TimeRestriction

    for name in ("news_rt_fr", "news_trt_fr", "news_aa_fr"):
        timetable = dags_module.__dict__[name].timetable
        restriction = TimeRestriction(earliest=pendulum.instance(LOGICAL), latest=None, catchup=True)
        first = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
        second = timetable.next_dagrun_info(last_automated_data_interval=first.data_interval, restriction=restriction)
        assert first.data_interval.end == second.data_interval.start > first.data_interval.start
        assert isinstance(second.data_interval, DataInterval)


def test_a_malformed_window_is_refused_before_any_run(dags_module: ModuleType, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """The params are JSON-schema date-times: the trigger form and the API refuse anything else
    with one line naming the param, before a run exists (nothing to retry, nothing fetched)."""
    from airflow.sdk.exceptions import ParamValidationError

    archive = tmp_path / "archive"
    monkeypatch.setenv("ARCHIVE_URL", archive.as_uri())
    with pytest.raises(
        ParamValidationError, match="Invalid input for param window_start: 'last tuesday' is not a 'date-time'"
    ):
        dags_module.news_rt_fr.test(logical_date=LOGICAL, run_conf={"window_start": "last tuesday"})
    assert not archive.exists()


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        (
            {"window_start": "2017-06-11T00:00:00+00:00", "window_end": "2017-06-07T00:00:00+00:00"},
            "the window is empty or inverted",
        ),
        (
            {"window_start": "2010-01-01T00:00:00+00:00", "window_end": "2017-06-07T00:00:00+00:00"},
            "backfill it instead",
        ),
    ],
)
def test_bad_params_fail_the_run_at_once_without_retry(
    dags_module: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    conf: dict[str, str],
    message: str,
) -> None:
    """A well-formed but wrong window is an input error: the crawl task fails on its first try
    (retries are not spent on it, the source's schedule is not blocked), with one line naming
    what is wrong, and nothing is fetched or written."""
    archive = tmp_path / "archive"
    monkeypatch.setenv("ARCHIVE_URL", archive.as_uri())
    dag = dags_module.news_rt_fr
    monkeypatch.setattr(dag.task_dict["crawl"], "retries", 3)
    run = dag.test(logical_date=LOGICAL, run_conf=conf)
    states = {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert run.state == "failed" and states["crawl"] == ("failed", 1), states
    assert message in capfd.readouterr().out
    assert not archive.exists()


def test_each_source_dag_says_what_it_does(dags_module: ModuleType) -> None:
    """Owner, a run timeout, a single XCom value per task and documentation from the profile."""
    from datetime import timedelta

    dag = dags_module.news_rt_fr
    assert dag.dagrun_timeout == timedelta(hours=6)
    assert {t.owner for t in dag.tasks} == {"newsarchive"}
    assert all(t.multiple_outputs is False for t in dag.tasks)
    doc = dag.doc_md
    assert doc.startswith("# RT en français (`rt_fr`)")
    for needle in (
        "francais.rt.com",
        "https://francais.rt.com/rss",
        "`0 */6 * * *`",
        "robots.txt obeyed",
        "Lire aussi",
    ):
        assert needle in doc, needle
    assert dags_module.news_trt_world.doc_md != doc
