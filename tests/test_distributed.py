"""The distributed deployment on real parts: Airflow with the CeleryExecutor, PostgreSQL as its
metadata database, Redis as the broker, two Celery workers, the archive in SeaweedFS.

The components, their commands and their Airflow settings are read from infra/compose.yaml
(the shipped single-host deployment) with its hosts mapped to 127.0.0.1, so the file and
this test cannot drift apart. Several sources run at once across the two workers: two
backfills and manual runs; then one worker is killed (SIGKILL, its task processes with it)
while it runs a task, and that task is retried on the other worker. At the end every
article is archived exactly once and `verify` is clean.

Needs PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres) and Redis on 127.0.0.1:6379;
elsewhere it skips with a line saying how to start them.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from researcher.verify import verify
from storage import manifest
from storage.store import S3Store, Store
from tests.airflow_cluster import AirflowCluster, backfill_setup
from tests.fixtures.server import FixtureServer
from tests.s3server import ACCESS_KEY, SECRET_KEY, WeedS3
from tests.test_deploy_files import compose_airflow

REPO = Path(__file__).resolve().parent.parent
BUCKET = "newsarchive"
# flags the test adds to the compose commands: every component here shares one host, and
# Airflow's log servers would bind every interface (and clash on one port)
LOCAL_FLAGS = {"scheduler": ["--skip-serve-logs"], "triggerer": ["--skip-serve-logs"]}
WORKER_FLAGS = ["--skip-serve-logs"]
# settings the test shortens so a killed worker's task is noticed in seconds, not minutes
TIMING = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
}

# sources, and the days each one's runs cover; one article a day in the fixture sites
BACKFILLS = {"lesmoutonsenrages": ("2016-09-16", "2016-09-19"), "rt_fr": ("2017-06-07", "2017-06-10")}
MANUAL = {"antiguerre_fr": ("2018-11-30T00:00:00Z", "2018-12-05T00:00:00Z"),
          "aa_fr": ("2020-02-26T00:00:00Z", "2020-03-01T00:00:00Z")}  # fmt: skip


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _missing() -> str | None:
    if not _reachable(5432) or not _reachable(6379):
        return (
            "PostgreSQL (127.0.0.1:5432, trust auth) and Redis (127.0.0.1:6379) are needed: "
            "apt-get install postgresql redis-server && service postgresql start && service redis-server start"
        )
    try:
        import airflow.providers.celery  # noqa: F401
    except ImportError:
        return "the Celery provider is missing: make env (uv sync) installs it"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


def local_settings(compose_env: dict[str, str], db: str, redis_db: int, s3: WeedS3, api: str) -> dict[str, str]:
    """compose's settings with its hosts (postgres, redis, seaweedfs, api-server) mapped to 127.0.0.1."""
    pg = f"postgres@127.0.0.1:5432/{db}"
    mapped = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{pg}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{pg}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
        "ARCHIVE_URL": f"s3://{BUCKET}/",
        "AIRFLOW_CONN_ARCHIVE_S3": json.dumps(
            {
                "conn_type": "aws",
                "login": ACCESS_KEY,
                "password": SECRET_KEY,
                "extra": {"endpoint_url": s3.endpoint, "region_name": "us-east-1"},
            }
        ),
    }
    assert set(mapped) <= set(compose_env), "the test maps a setting infra/compose.yaml no longer has"
    return {**compose_env, **mapped}


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, sites: FixtureServer) -> Iterator[dict[str, Any]]:
    import redis

    tmp = tmp_path_factory.mktemp("distributed")
    db = f"newsarchive_test_{secrets.token_hex(4)}"
    redis_db = 1 + secrets.randbelow(15)
    broker = redis.Redis(host="127.0.0.1", port=6379, db=redis_db)
    broker.flushdb()
    _psql(f"CREATE DATABASE {db}")
    s3 = WeedS3(tmp / "weed").start()
    s3.client().create_bucket(Bucket=BUCKET)
    compose_env, services = compose_airflow()
    cluster = AirflowCluster(tmp / "airflow", {})
    settings = local_settings(compose_env, db, redis_db, s3, cluster.base)
    cluster.env.update(settings)
    cluster.env.update(TIMING)
    cluster.env.update(
        {
            **backfill_setup(tmp, [*BACKFILLS, *MANUAL], sites.replay_map()),
            "ARCHIVE_URL": settings["ARCHIVE_URL"],  # the S3 archive, not a directory
            "NEWSARCHIVE_RETRIES": "2",
            "NEWSARCHIVE_RETRY_DELAY_SECONDS": "1",
        }
    )
    for name in ("scheduler", "dag-processor", "triggerer"):
        cluster.components[name] = services[name] + LOCAL_FLAGS.get(name, [])
    for name in ("worker-1", "worker-2"):
        cluster.components[name] = services[name] + WORKER_FLAGS
    try:
        cluster.start()
        store = S3Store(BUCKET, "", client=s3.client())
        yield {"cluster": cluster, "store": store, "s3": s3}
    finally:
        cluster.stop()
        s3.stop()
        broker.flushdb()
        _psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def _runs(cluster: AirflowCluster, dag: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = cluster.get(f"/api/v2/dags/{dag}/dagRuns?limit=50")["dag_runs"]
    return runs


def _task_instances(cluster: AirflowCluster, dag: str) -> list[dict[str, Any]]:
    tis: list[dict[str, Any]] = cluster.get(f"/api/v2/dags/{dag}/dagRuns/~/taskInstances?limit=200")["task_instances"]
    return tis


def _kill_tree(proc: subprocess.Popen[bytes]) -> int:
    """SIGKILL a worker and every process under it (its pool, task runners, crawls)."""
    root = psutil.Process(proc.pid)
    family = [root, *root.children(recursive=True)]
    for p in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(family, timeout=10)
    return len(family)


def _articles(store: Store) -> Counter[str]:
    rows = manifest.load_manifests(store).to_pylist()
    return Counter(r["requested_url"] for r in rows if r["status"] in manifest.ARTICLE_STATUSES)


def test_runs_spread_over_two_workers_survive_a_killed_one_and_archive_each_article_once(
    cluster: dict[str, Any],
) -> None:
    c: AirflowCluster = cluster["cluster"]
    dags = [f"news_{s}" for s in (*BACKFILLS, *MANUAL)]
    for dag in dags:
        c.wait(lambda dag=dag: c.get(f"/api/v2/dags/{dag}"), 240, f"{dag} to be parsed")
        c.request("PATCH", f"/api/v2/dags/{dag}", {"is_paused": False})
    for source, (first, last) in BACKFILLS.items():
        c.request("POST", "/api/v2/backfills",
                  {"dag_id": f"news_{source}", "from_date": f"{first}T00:00:00Z", "to_date": f"{last}T00:00:00Z"})  # fmt: skip
    for source, (start, end) in MANUAL.items():
        c.request("POST", f"/api/v2/dags/news_{source}/dagRuns",
                  {"logical_date": None, "conf": {"window_start": start, "window_end": end}})  # fmt: skip

    def succeeded(worker: str) -> int:  # Celery logs each task it finished
        return (c.home / f"{worker}.log").read_text(errors="replace").count("succeeded in")

    # once worker-1 has finished a task, kill it while it runs another: that task must be
    # retried on worker-2 (the only one left)
    def running_on_worker_1() -> dict[str, Any] | None:
        if not succeeded("worker-1"):
            return None
        family = {p.pid for p in psutil.Process(c.named["worker-1"].pid).children(recursive=True)}
        for dag in dags:
            for ti in _task_instances(c, dag):
                if ti["state"] == "running" and ti.get("pid") in family:
                    return ti
        return None

    victim = c.wait(running_on_worker_1, 300, "a task running on worker-1")
    worker = c.named["worker-1"]
    assert _kill_tree(worker) >= 2
    c.procs.remove(worker)

    def finished() -> dict[str, list[dict[str, Any]]] | None:
        runs = {dag: _runs(c, dag) for dag in dags}
        done = all(rs and all(r["state"] in ("success", "failed") for r in rs) for rs in runs.values())
        return runs if done else None

    runs = c.wait(finished, 900, "every run to finish")
    failed = [(dag, r["dag_run_id"]) for dag, rs in runs.items() for r in rs if r["state"] != "success"]
    assert not failed, f"runs failed: {failed}\n{c.logs()}"
    assert sum(len(rs) for rs in runs.values()) == 4 + 4 + 1 + 1

    after = next(
        ti for ti in _task_instances(c, victim["dag_id"])
        if ti["dag_run_id"] == victim["dag_run_id"] and ti["task_id"] == victim["task_id"]
    )  # fmt: skip
    assert after["state"] == "success" and after["try_number"] > victim["try_number"]
    assert succeeded("worker-1") > 0 and succeeded("worker-2") > 0, "the runs did not spread over both workers"

    store: Store = cluster["store"]
    report = verify(store)
    assert report.ok, [p.__dict__ for p in report.problems]
    articles = _articles(store)
    assert articles and set(articles.values()) == {1}, articles
    sources = {u.split("/")[2] for u in articles}
    assert {"lesmoutonsenrages.fr", "francais.rt.com", "www.antiguerre.fr", "www.aa.com.tr"} <= sources
