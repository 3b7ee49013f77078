"""Every `archive` command exits with its own status, every time (issue 31): no abort at
interpreter exit after complete output (status 134, "terminate called without an active
exception", once in 15-30 runs when pyarrow's thread pools were torn down at finalisation).

Each command runs NEWSARCHIVE_EXIT_RUNS times (default 200) as its own process, on an
archive made by a real run; every status must be 0 and every output complete.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from researcher.reader import Archive
from storage.store import LocalStore

REPO = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("NEWSARCHIVE_EXIT_RUNS", "200"))


@pytest.fixture(scope="module")
def commands(aa_archive: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], str]]:
    """Each command with arguments that make it read Parquet (the manifests, events, links),
    and a line its complete output ends with."""
    row = next(r for r in Archive(LocalStore(aa_archive)).search_all() if r["status"] == "ok")
    cid = row["capture_id"]
    return {
        "search": (["search", "-f", "jsonl"], cid),
        "show": (["show", cid], '"text"'),
        "links": (["links", "-f", "jsonl"], ""),
        "find": (["find", "Idleb", "-f", "jsonl"], cid[:8]),
        "get": (["get", cid], row["title"].split()[0] if row["title"] else ""),
    }


@pytest.mark.parametrize("command", ["search", "show", "links", "find", "get"])
def test_a_command_exits_0_every_time(
    command: str, commands: dict[str, tuple[list[str], str]], aa_archive: str, tmp_path: Path
) -> None:
    args, expected = commands[command]
    env = {**os.environ, "NEWSARCHIVE_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    first = subprocess.run(
        [sys.executable, "-m", "researcher.cli", *args, "--archive", aa_archive],
        capture_output=True,
        env=env,
        check=False,
    )
    assert first.returncode == 0, first.stderr.decode()[-500:]  # builds the catalog the rest read

    def run(_: int) -> tuple[int, bytes]:
        done = subprocess.run(
            [sys.executable, "-m", "researcher.cli", *args, "--archive", aa_archive],
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
        return done.returncode, done.stdout

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run, range(RUNS)))
    statuses = [code for code, _ in results]
    assert statuses.count(0) == RUNS, sorted(set(statuses))
    assert all(out == first.stdout for _, out in results)  # complete, the same every time
    assert expected.encode() in first.stdout
