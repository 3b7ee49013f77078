"""The pipeline, `archive verify` and `archive serve` on S3 servers that fail the probe: a DAG
run on moto (checksums unchecked, the risk accepted: archived, and said in the run report and
the archive's _meta/), and on s3rver (overwrites despite If-None-Match): refused before a page
is fetched or a byte written, in one line naming the endpoint and what it lacks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from researcher.cli import app
from researcher.verify import verify
from storage import layout, manifest, probe
from storage.store import LocalStore, S3Store
from tests.fixtures.server import FixtureServer
from tests.s3others import MotoS3, S3rver
from tests.test_dag_e2e import LOGICAL, WIDE

runner = CliRunner()


@pytest.fixture(autouse=True)
def _fresh_verdicts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    probe.forget()
    monkeypatch.delenv(probe.UNSAFE_ENV, raising=False)
    yield
    probe.forget()


def _keys(client: Any, bucket: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def _point_dags_at(server: Any, url: str, sites: FixtureServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The DAG's store from the environment (no Airflow connection by that name: boto3's chain)."""
    monkeypatch.setenv("ARCHIVE_URL", url)
    monkeypatch.setenv("ARCHIVE_AWS_CONN_ID", "no_such_connection")
    for k, v in server.env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("NEWSARCHIVE_REPLAY", json.dumps(sites.replay_map()))


def test_a_dag_run_on_moto_with_the_risk_accepted_archives_and_says_so(
    dags_module: ModuleType,
    sites: FixtureServer,
    moto: MotoS3,
    moto_bucket: str,
    airflow_conns: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _point_dags_at(moto, f"s3://{moto_bucket}/archive", sites, monkeypatch)
    monkeypatch.setenv(probe.UNSAFE_ENV, "checksum")
    run = dags_module.news_rt_fr.test(logical_date=LOGICAL, run_conf=WIDE, conn_file_path=airflow_conns)
    assert run.state == "success"
    store = S3Store(moto_bucket, "archive", client=moto.client())
    rows = manifest.load_manifests(store, "rt_fr").to_pylist()
    assert len([r for r in rows if r["status"] == "ok"]) == 4
    report_ok = verify(store)
    assert report_ok.ok, [p.__dict__ for p in report_ok.problems]
    (report_key,) = list(store.list(layout.reports_prefix("rt_fr")))
    report = json.loads(store.get_bytes(report_key))
    assert report["unsafe_store"]["endpoint"] == moto.endpoint
    assert list(report["unsafe_store"]["failed"]) == ["checksum"]
    (meta,) = list(store.list(probe.META_PREFIX))
    assert json.loads(store.get_bytes(meta))["failed"].keys() == {"checksum"}
    assert not list(store.list(probe.PREFIX))  # every task's probe cleaned up after itself


def test_a_dag_run_on_s3rver_is_refused_before_anything_is_fetched(
    dags_module: ModuleType,
    sites: FixtureServer,
    s3rver: S3rver,
    airflow_conns: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    s3rver.client().create_bucket(Bucket=bucket)
    _point_dags_at(s3rver, f"s3://{bucket}/archive", sites, monkeypatch)
    fetched: list[str] = []
    sites.on_request = fetched.append
    try:
        run = dags_module.news_rt_fr.test(logical_date=LOGICAL, run_conf=WIDE, conn_file_path=airflow_conns)
    finally:
        sites.on_request = None
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["crawl"] == "failed" and states["commit"] == "upstream_failed"
    tries = {ti.task_id: ti.try_number for ti in run.get_task_instances()}
    assert tries["crawl"] == 1  # an unsafe store is a permanent error: no retry
    logs = "".join(capfd.readouterr())
    assert f"refusing s3://{bucket}/archive on {s3rver.endpoint}: the server does not keep write-once" in logs
    assert "conditional-create: accepted an upload with If-None-Match: * to an existing key" in logs
    assert fetched == []  # refused before a page was fetched
    assert _keys(s3rver.client(), bucket) == []  # and before a byte was written


@pytest.fixture
def s3rver_archive(s3rver: S3rver, aa_archive: str) -> tuple[str, list[str]]:
    """A real archive (aa_fr's) copied onto s3rver by its own client (the archive's store would
    refuse to write there); the keys it holds."""
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    client = s3rver.client()
    client.create_bucket(Bucket=bucket)
    local = LocalStore(aa_archive)
    for key in local.list():
        client.put_object(Bucket=bucket, Key=f"arc/{key}", Body=local.get_bytes(key))
    return f"s3://{bucket}/arc", _keys(client, bucket)


def _cli(server: Any, *args: str, tmp: Path) -> tuple[int, str]:
    env = server.env() | {"NEWSARCHIVE_CACHE": str(tmp / "cache")}
    out = runner.invoke(app, list(args), env=env)
    assert "Traceback" not in out.output
    return out.exit_code, out.output


@pytest.mark.parametrize("command", ["verify", "serve", "gc"])
def test_verify_serve_and_gc_refuse_an_overwriting_store_in_one_line(
    s3rver: S3rver, s3rver_archive: tuple[str, list[str]], command: str, tmp_path: Path
) -> None:
    url, before = s3rver_archive
    code, out = _cli(s3rver, command, "--archive", url, tmp=tmp_path)
    assert code == 1
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: refusing " + url), out
    assert s3rver.endpoint in out and "--unsafe-store" in out
    bucket = url.split("/")[2]
    assert _keys(s3rver.client(), bucket) == before  # nothing written under the archive prefix


def test_verify_runs_on_an_overwriting_store_when_the_risk_is_accepted(
    s3rver: S3rver, s3rver_archive: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, before = s3rver_archive
    code, out = _cli(s3rver, "verify", "--unsafe-store", "--archive", url, tmp=tmp_path)
    text = " ".join(out.split())
    assert code == 0, out
    assert "warning: unsafe store accepted:" in text and "conditional-create" in text
    assert "0 problem(s)" in text
    assert _keys(s3rver.client(), url.split("/")[2]) == before  # a reader records nothing
