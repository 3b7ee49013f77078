"""`make airflow` (infra/airflow_local.py) as an operator runs it: in replay mode it serves the
fixture sites and hands the crawls a closed replay map; the API answers; Ctrl-C (SIGINT)
stops every process it started, executor workers included, and nothing is left running."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from tests.s3server import free_port

REPO = Path(__file__).resolve().parent.parent


def test_replay_tryout_starts_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    home = tmp_path / "airflow"
    proc = subprocess.Popen(
        [sys.executable, "-m", "infra.airflow_local", "--replay", "--home", str(home), "--port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops it" in line or "error:" in line:
                break
        out = "".join(lines)
        assert f"Airflow on http://127.0.0.1:{port}/" in out, out
        assert "replay mode" in out and "rt_fr: 2017-06-07 .. 2017-06-10" in out
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=10) as resp:
            assert resp.status == 200
        family = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in family)  # Airflow retitles its processes
        for component in ("api_server", "scheduler", "dag-processor", "triggerer", "LocalExecutor"):
            assert component in names, names
        # the components got the replay map: every fixture host, all on loopback
        # (setproctitle overwrites a retitled process's environment block: read a component that was not)
        env = next(e for k in psutil.Process(proc.pid).children() if "NEWSARCHIVE_REPLAY" in (e := k.environ()))
        replay = json.loads(env["NEWSARCHIVE_REPLAY"])
        assert "francais.rt.com" in replay and all(a.startswith("127.0.0.1:") for a in replay.values())
        assert int(env["AIRFLOW__CORE__PARALLELISM"]) == 2 * (psutil.cpu_count() or 2)

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while (alive := [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.5)
        assert not alive, [" ".join(p.cmdline()) for p in alive]
    finally:
        if proc.poll() is None:  # the test failed before Ctrl-C: leave nothing running either
            from infra.airflow_local import stop_all

            stop_all([proc], grace=5)
