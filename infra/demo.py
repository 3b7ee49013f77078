"""Offline demo: replay every fixture site locally and run each source's DAG once.

Runs with embedded defaults: Airflow on SQLite in ./.airflow, the archive in ./archive.
The sources' real host names are kept; a replay map sends their requests to a local
server, and provenance records that it did.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("AIRFLOW_HOME", str(REPO / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("ARCHIVE_URL", (REPO / "archive").as_uri())
os.environ.setdefault("NEWSARCHIVE_RETRIES", "0")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
sys.path[:0] = [str(REPO), str(REPO / "dags")]

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from pipeline import runs  # noqa: E402
from storage import layout  # noqa: E402
from storage.store import open_store  # noqa: E402
from tests.fixtures.days import DEMO_RUNS  # noqa: E402
from tests.fixtures.server import fixture_server  # noqa: E402


def _utc(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def main() -> int:
    console = Console(width=None if sys.stdout.isatty() else 140)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    server = fixture_server()
    os.environ["NEWSARCHIVE_REPLAY"] = json.dumps(server.replay_map())
    import news_sources  # after the environment is set: Airflow reads it at import

    store = open_store(os.environ["ARCHIVE_URL"])
    table = Table(title=f"Demo runs into {os.environ['ARCHIVE_URL']}")
    for col in ("source", "window", "state", "discovered", "archived", "already", "failed", "links", "s"):
        table.add_column(col, no_wrap=True)
    ok = True
    for source, (logical, start, end) in DEMO_RUNS.items():
        dag = getattr(news_sources, f"news_{source}")
        conf = {"window_start": _utc(start).isoformat(), "window_end": _utc(end).isoformat()}
        t0 = time.monotonic()
        console.print(f"running news_{source} for {start} .. {end} (logical date {logical})")
        with contextlib.redirect_stdout(io.StringIO()) as logs:
            run = dag.test(logical_date=_utc(logical), run_conf=conf)
        run_key = layout.run_key(_utc(start), _utc(end))
        try:
            report = runs.latest_report(store, source, run_key) or {}
        except KeyError:
            report = {}
        state = str(run.state)
        ok &= state == "success"
        if state != "success":
            (REPO / ".airflow").mkdir(exist_ok=True)
            (REPO / ".airflow" / f"demo-{source}.log").write_text(logs.getvalue())
        failed = sum(report.get("failed_by_reason", {}).values())
        table.add_row(
            source,
            f"{start}..{end}",
            state,
            str(report.get("discovered", "-")),
            str(report.get("archived", "-")),
            str(report.get("already_archived", "-")),
            str(failed),
            str(sum((report.get("links") or {}).get(k, 0) for k in ("links", "translations"))),
            f"{time.monotonic() - t0:.1f}",
        )
    server.stop()
    console.print(table)
    console.print("\n[bold]Example:[/bold] archive links (RT's editions of one story, linked by their pages)")
    subprocess.run(
        [sys.executable, "-m", "researcher.cli", "links", "--archive", os.environ["ARCHIVE_URL"]], check=False
    )
    console.print("\n[bold]Example:[/bold] archive search --text Idleb --limit 1")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "researcher.cli",
            "search",
            "--text",
            "Idleb",
            "--limit",
            "1",
            "--archive",
            os.environ["ARCHIVE_URL"],
        ],
        check=False,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
