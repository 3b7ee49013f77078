"""A real Airflow on loopback for the tests: API server, scheduler (LocalExecutor) and DAG
processor over SQLite, driven through the public REST API like the UI drives it."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from infra.airflow_sqlite import use_wal
from spiders.profile import profiles_dir
from tests.s3server import free_port

REPO = Path(__file__).resolve().parent.parent


class ApiError(RuntimeError):
    """The API answered with an error status (the message carries its detail)."""


class AirflowCluster:
    """SQLite and the LocalExecutor by default; `env` overrides any setting (the distributed
    test points it at PostgreSQL and Celery) and `extra` adds processes (Celery workers)."""

    def __init__(self, home: Path, env: dict[str, str], extra: dict[str, list[str]] | None = None):
        self.home = home
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            **env,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "infra.airflow_sqlite.CONNECT_ARGS",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            # only runs asked for (backfills, triggers) run: no scheduled run of "today" to wait for
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "PYTHONPATH": str(REPO),
        }
        self.env.update(env)  # the caller's settings win over the embedded defaults above
        self.components: dict[str, list[str]] = {
            "api-server": ["api-server", "-H", "127.0.0.1", "-p", str(self.port), "-w", "1"],
            "scheduler": ["scheduler", "--skip-serve-logs"],  # its log server would bind 0.0.0.0
            "dag-processor": ["dag-processor"],
            **(extra or {}),
        }
        self.procs: list[subprocess.Popen[bytes]] = []
        self.named: dict[str, subprocess.Popen[bytes]] = {}
        self.token: str | None = None  # a bearer token, when the API is not open to all (login())

    def airflow(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
        return proc

    def start(self, timeout: float = 240) -> AirflowCluster:
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite"):
            # the busy timeout is SQLite's (infra/airflow_sqlite.py); other drivers refuse it
            self.env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS", None)
        self.airflow("db", "migrate")
        if self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite"):
            use_wal(self.home / "airflow.db")
        for name in self.components:
            self.launch(name)
        self.wait(lambda: self.get("/api/v2/monitor/health"), timeout, "the API server")
        return self

    def launch(self, name: str) -> subprocess.Popen[bytes]:
        """Start (or start again) one component, its output in HOME/<name>.log."""
        log = (self.home / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "airflow", *self.components[name]],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        self.named[name] = proc
        return proc

    def request(self, method: str, path: str, body: dict[str, Any] | None = None, attempts: int = 10) -> Any:
        """One API call; a 503 (SQLite busy: "Database is locked") is tried again, as a UI user would."""
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(1, attempts + 1):
            headers = {"Content-Type": "application/json"}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    return json.loads(resp.read() or b"null")
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")
                if exc.code != 503 or attempt == attempts:
                    raise ApiError(f"{method} {path}: HTTP {exc.code}: {detail}") from None
                time.sleep(2 * attempt)
        raise AssertionError("unreachable")

    def login(self, user: str = "admin") -> str:
        """Sign the API calls in as `user` (simple auth manager); returns the user's password."""
        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        self.token = self.request("POST", "/auth/token", {"username": user, "password": passwords[user]})[
            "access_token"
        ]
        return str(passwords[user])

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def wait(self, probe: Any, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"an Airflow process exited while waiting for {what}:\n{self.logs()}")
            try:
                result = probe()
                if result:
                    return result
            except (urllib.error.URLError, ConnectionError, TimeoutError, ApiError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout:.0f} s for {what}:\n{self.logs()}")
            time.sleep(1)

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-tail:]}" for p in sorted(self.home.glob("*.log"))
        )

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


def backfill_setup(tmp: Path, sources: Iterable[str], replay: dict[str, str]) -> dict[str, str]:
    """The settings of a cluster that backfills these sources from their fixture sites: their
    profiles copied with feeds removed (a real feed reaches only the recent past), a daily
    schedule and a volume of one article a day; replay to the fixture server; an archive in
    TMP/archive; no retries."""
    profiles = tmp / "profiles"
    profiles.mkdir(exist_ok=True)
    for source in sources:
        profile = yaml.safe_load((profiles_dir() / f"{source}.yaml").read_text())
        profile.update(feeds=[], expected_daily_volume=1, schedule="@daily")
        (profiles / f"{source}.yaml").write_text(yaml.safe_dump(profile))
    return {
        "NEWSARCHIVE_PROFILES": str(profiles),
        "ARCHIVE_URL": (tmp / "archive").as_uri(),
        "NEWSARCHIVE_REPLAY": json.dumps(replay),
        "NEWSARCHIVE_RETRIES": "0",
    }
