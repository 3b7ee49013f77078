"""Shared fixtures: the fixture web server, a real S3 server, an Airflow home with SQLite."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "fixtures" / "seeds"  # gold lines copied once from the project's shared seeds

# Airflow reads its configuration at import time: point it at a throw-away home first.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="newsarchive-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
        "NEWSARCHIVE_RETRIES": "0",
        # catalogs the `archive` command caches per archive go to a throw-away directory
        "NEWSARCHIVE_CACHE": str(_AIRFLOW_HOME / "cache"),
    }
)

from storage import probe  # noqa: E402
from storage.store import S3Store  # noqa: E402
from tests.fixtures.server import SITES_DIR, FixtureServer, fixture_server  # noqa: E402
from tests.s3others import MotoS3, S3rver, node_missing_reason  # noqa: E402
from tests.s3server import WeedS3  # noqa: E402

pytest_plugins = ["tests.browser"]  # the browser_page fixture (Playwright on Debian's Chromium)


@pytest.fixture(scope="session")
def sites() -> Iterator[FixtureServer]:
    """All fixture sites by their real host names; 127.0.0.1 serves the bad-input site."""
    srv = fixture_server(default_site=SITES_DIR / "local")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def aa_archive(tmp_path_factory: pytest.TempPathFactory, sites: FixtureServer) -> str:
    """A local archive with one committed run of aa_fr (four articles); read-only for tests."""
    from datetime import UTC, date, datetime

    from extract import Extractor
    from pipeline import runs
    from spiders.crawl import RunContext, run_crawl
    from spiders.profile import get_profile
    from storage.store import LocalStore

    root = tmp_path_factory.mktemp("aa") / "archive"
    store = LocalStore(root)
    ctx = RunContext("aa_fr", datetime(2020, 2, 26, tzinfo=UTC), datetime(2020, 3, 1, tzinfo=UTC), date(2020, 2, 28))
    crawl = run_crawl(store, ctx, replay=sites.replay_map()).as_dict()
    p = get_profile("aa_fr")
    ex = Extractor.for_profile(p)
    runs.commit_run(store, crawl, runs.extract_run(store, crawl, ex, ex.info))
    return str(root)


@pytest.fixture(scope="session")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeedS3]:
    server = WeedS3(tmp_path_factory.mktemp("weed")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def outage_weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeedS3]:
    """A second S3 server (not started here) that a test may stop and restart."""
    server = WeedS3(tmp_path_factory.mktemp("weed-outage"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def airflow_conns(tmp_path_factory: pytest.TempPathFactory, weed: WeedS3, outage_weed: WeedS3) -> str:
    """Airflow connections file: the DAGs get S3 endpoint and keys as a connection, not environment.

    One file for the session, because Airflow caches its secrets backend per process.
    """

    def conn(server: WeedS3) -> dict[str, object]:
        env = server.env()
        return {
            "conn_type": "aws",
            "login": env["AWS_ACCESS_KEY_ID"],
            "password": env["AWS_SECRET_ACCESS_KEY"],
            "extra": {"endpoint_url": server.endpoint, "region_name": "us-east-1"},
        }

    path = tmp_path_factory.mktemp("airflow-conns") / "connections.json"
    path.write_text(json.dumps({"archive_s3": conn(weed), "archive_s3_outage": conn(outage_weed)}))
    return str(path)


@pytest.fixture
def bucket(weed: WeedS3) -> Iterator[str]:
    """A fresh bucket, emptied and deleted after the test: SeaweedFS gives each bucket volumes
    of its own, and a session that kept hundreds of them ran out ("no free volumes left")."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    client = weed.client()
    client.create_bucket(Bucket=name)  # type: ignore[attr-defined]
    yield name
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):  # type: ignore[attr-defined]
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})  # type: ignore[attr-defined,typeddict-item]
    client.delete_bucket(Bucket=name)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """moto's standalone S3 server: the second implementation the store contract runs on."""
    server = MotoS3(tmp_path_factory.mktemp("moto"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def moto_bucket(moto: MotoS3) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:12]}"
    client = moto.client()
    client.create_bucket(Bucket=name)
    yield name
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=name, Delete={"Objects": keys, "Quiet": True})  # type: ignore[typeddict-item]
    client.delete_bucket(Bucket=name)


@dataclass
class S3Bucket:
    """A fresh bucket on one of the S3 servers the contract runs on, and the probes that
    server is known to fail (accepted here so the rest of the contract can run on it; the
    refusal itself is tested in test_store_probe.py)."""

    name: str  # the server: seaweedfs | moto
    server: Any  # WeedS3 | MotoS3: .endpoint, .client(), .env()
    bucket: str
    accepted: frozenset[str] = frozenset()

    def store(self, prefix: str = "") -> S3Store:
        return S3Store(self.bucket, prefix, client=self.server.client(), unsafe=self.accepted)

    def env(self) -> dict[str, str]:
        extra = {probe.UNSAFE_ENV: ",".join(sorted(self.accepted))} if self.accepted else {}
        return {**self.server.env(), **extra}


# moto stores a body whatever its x-amz-checksum-sha256 says; everything else holds
S3_SERVERS = {"seaweedfs": frozenset[str](), "moto": frozenset({"checksum"})}


@pytest.fixture(params=list(S3_SERVERS))
def s3(request: pytest.FixtureRequest) -> S3Bucket:
    """The same test on SeaweedFS and on moto's server."""
    if request.param == "seaweedfs":
        server, bucket = request.getfixturevalue("weed"), request.getfixturevalue("bucket")
    else:
        server, bucket = request.getfixturevalue("moto"), request.getfixturevalue("moto_bucket")
    return S3Bucket(request.param, server, bucket, S3_SERVERS[request.param])


@pytest.fixture(scope="session")
def s3rver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3rver]:
    """s3rver (npm): accepts If-None-Match and overwrites anyway. Missing under CI is a failure."""
    reason = node_missing_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"s3rver cannot run: {reason}")
        pytest.skip(reason)
    server = S3rver(tmp_path_factory.mktemp("s3rver"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(weed: WeedS3, monkeypatch: pytest.MonkeyPatch) -> WeedS3:
    for k, v in weed.env().items():
        monkeypatch.setenv(k, v)
    return weed


def write_local_profile(directory: Path, address: str) -> Path:
    """A test-only profile whose domain is the local server itself (robots.txt, error cases)."""
    base = f"http://{address}"
    path = directory / "local_test.yaml"
    path.write_text(
        f"""id: local_test
name: Local bad-input site
language: fr
domains: ["127.0.0.1"]
feeds: ["{base}/feed.xml"]
sitemaps: ["{base}/sitemap.xml"]
politeness: {{download_delay: 0, concurrency: 4, retries: 2, timeout: 10, autothrottle: false}}
network: {{internal_addresses: true, ports: [{address.rsplit(":", 1)[1]}]}}
expected_daily_volume: 10
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def local_profile(tmp_path: Path, sites: FixtureServer) -> Path:
    return write_local_profile(tmp_path, sites.address)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata database (once per session)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def dags_module(airflow_db: Path) -> ModuleType:
    sys.path.insert(0, str(REPO / "dags"))
    return importlib.import_module("news_sources")


@pytest.fixture(autouse=True)
def _dag_params_restored(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that ran DAGs in this process: dag.test() runs tasks here, and Airflow merges
    a run's conf into each task's Param objects, so a later run without that key would inherit
    it (a recheck=true, a window). Production runs are separate processes; tests share one."""
    yield
    if "dags_module" not in request.fixturenames:
        return
    for dag in vars(request.getfixturevalue("dags_module")).values():
        if getattr(dag, "tasks", None) is not None and getattr(dag, "params", None) is not None:
            for task in dag.tasks:
                for name in dag.params:
                    task.params[name] = dag.params[name]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Each phase's report on the test item (item.rep_call ...), for fixtures that keep
    artefacts such as screenshots only when the test failed."""
    rep = yield
    if os.environ.get("CI") and rep.skipped and not hasattr(rep, "wasxfail"):
        # CI runs every test: a missing browser or an unreachable PostgreSQL/Redis is a failure
        # there, with its reason, never a green run that tested less
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"skipped under CI (CI={os.environ['CI']}), which must run every test: {reason}"
    setattr(item, f"rep_{rep.when}", rep)
    return rep
