"""`make airflow`: Airflow on this machine, sized for it, stopped whole by Ctrl-C.

Starts the API server (127.0.0.1 only), scheduler, DAG processor and triggerer with the
LocalExecutor over SQLite (WAL, long busy timeout: infra/airflow_sqlite.py) instead of
`airflow standalone`, which starts 32 executor workers whatever the machine and leaves
them running when it is interrupted. Parallelism is two task slots per core (crawls wait
on the network; extraction uses its own worker pool). Ctrl-C or SIGTERM stops every
process this started, executor workers and crawl subprocesses included.

`--replay` (make airflow REPLAY=1) is the tryout mode: the fixture sites are served on
127.0.0.1 and every crawl is replayed to them (NEWSARCHIVE_REPLAY); a host the map does not
name is refused and recorded, never fetched, so nothing reaches the network. The fixture
sites' dates are printed with the URL: trigger or backfill a source over those days.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent


def environment(home: Path, port: int, replay: dict[str, str] | None) -> dict[str, str]:
    cores = os.cpu_count() or 2
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(2 * cores),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "infra.airflow_sqlite.CONNECT_ARGS",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": "1",
        "PYTHONPATH": str(REPO),
    }
    if replay:
        env["NEWSARCHIVE_REPLAY"] = json.dumps(replay)
    return env


def stop_all(procs: Sequence[subprocess.Popen[Any]], grace: float = 15) -> None:
    """SIGTERM to every process started and all their descendants, then SIGKILL what is left."""
    family: list[psutil.Process] = []
    for p in procs:
        try:
            parent = psutil.Process(p.pid)
            family += [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    for proc in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(family, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()


def _wait_healthy(port: int, procs: list[subprocess.Popen[bytes]], timeout: float = 180) -> None:
    """Until the API server answers its health check (or a component dies)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and all(p.poll() is None for p in procs):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5):
                return
        except OSError:
            time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", type=Path, default=Path(os.environ.get("AIRFLOW_HOME", REPO / ".airflow")))
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--replay", action="store_true", help="serve the fixture sites and replay every crawl to them")
    args = ap.parse_args(argv)
    server = None
    replay = None
    if args.replay:
        from tests.fixtures.server import fixture_server

        server = fixture_server()
        replay = server.replay_map()
    env = environment(args.home, args.port, replay)
    args.home.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "infra.airflow_sqlite", str(args.home / "airflow.db")], env=env, check=True)
    procs: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            print(f"\nstopping Airflow ({signal.Signals(signum).name}): every process it started", flush=True)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    components = {
        "api-server": ["api-server", "-H", "127.0.0.1", "-p", str(args.port), "-w", "1"],
        "scheduler": ["scheduler", "--skip-serve-logs"],  # its log server would bind every interface
        "dag-processor": ["dag-processor"],
        "triggerer": ["triggerer", "--skip-serve-logs"],
    }
    try:
        for name, cmd in components.items():
            log = (args.home / f"{name}.log").open("ab")
            procs.append(subprocess.Popen([sys.executable, "-m", "airflow", *cmd], env=env, stdout=log, stderr=log))
        _wait_healthy(args.port, procs)
        if replay:
            print("replay mode: every crawl goes to the local fixture sites, nothing to the network; their days:")
            from tests.fixtures.days import days_by_source

            for sources, days in days_by_source().items():
                print(f"  {sources}: {days}")
        passwords = args.home / "simple_auth_manager_passwords.json.generated"
        if passwords.exists():
            for user, password in json.loads(passwords.read_text()).items():
                print(f"login: {user} / {password}")
        print(f"Airflow on http://127.0.0.1:{args.port}/ (logs in {args.home}/*.log); Ctrl-C stops it", flush=True)
        while not stopping:
            if any(p.poll() is not None for p in procs):
                dead = [n for n, p in zip(components, procs, strict=True) if p.poll() is not None]
                print(f"error: {', '.join(dead)} exited (see {args.home}/{dead[0]}.log); stopping the rest", flush=True)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        stop_all(procs)
        if server:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
