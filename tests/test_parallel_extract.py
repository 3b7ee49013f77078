"""Extraction on every core (pipeline/parallel.py): re-extraction and a large run's extract step
spread over worker processes give the archive exactly what one process gives, and neither a
killed task nor a killed worker loses or changes a committed byte; the re-run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from extract import classify_capture
from pipeline import runs
from pipeline.parallel import MIN_PARALLEL, WorkerLost
from storage import manifest
from storage.store import LocalStore
from tests.realarchive import CHANGED, DAY, build_archive

KILL_AT = "/100/"  # the worker extracting this capture (the 101st) dies


class WorkerKiller:
    """The changed extractor, except that the worker process given KILL_AT dies (SIGKILL)."""

    def __call__(self, body: bytes, url: str, content_type: str | None) -> dict[str, Any]:
        if KILL_AT in url:
            os.kill(os.getpid(), signal.SIGKILL)
        return CHANGED(body, url, content_type)


def snapshot(store: LocalStore) -> dict[str, bytes]:
    return {k: store.get_bytes(k) for k in store.list("")}


def latest(store: LocalStore) -> dict[str, dict[str, Any]]:
    table = manifest.load_manifests(store, "bench")
    return {r["capture_id"]: r for r in manifest.latest_extractions(table).to_pylist()}


def documents(store: LocalStore) -> dict[str, tuple[Any, ...]]:
    """What each capture's latest extraction says (its time aside)."""
    return {cid: (r["status"], r["text"], r["title"], r["authors"], r["lead"]) for cid, r in latest(store).items()}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("parallel") / "archive"
    build_archive(root)
    return root


def copy_of(archive: Path, tmp_path: Path) -> LocalStore:
    import shutil

    shutil.copytree(archive, tmp_path / "archive")
    return LocalStore(tmp_path / "archive")


def test_two_workers_give_what_one_gives(archive: Path, tmp_path: Path) -> None:
    serial, pooled = copy_of(archive, tmp_path / "a"), copy_of(archive, tmp_path / "b")
    assert len(latest(serial)) >= MIN_PARALLEL  # enough to start the pool
    one = runs.reprocess_range(serial, "bench", DAY, DAY, CHANGED, CHANGED.info, classify_capture, workers=1)
    two = runs.reprocess_range(pooled, "bench", DAY, DAY, CHANGED, CHANGED.info, classify_capture, workers=2)
    assert one["counts"] == two["counts"] and one["errors"] == two["errors"]
    assert documents(serial) == documents(pooled)
    assert {r["extraction_id"] for r in latest(pooled).values()} == {CHANGED.info["extraction_id"]}
    again = runs.reprocess_range(pooled, "bench", DAY, DAY, CHANGED, CHANGED.info, classify_capture, workers=2)
    assert again["commits"] == [] and again["counts"] == {"unchanged": len(latest(pooled))}


def test_a_killed_worker_loses_nothing_and_the_rerun_completes(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = copy_of(archive, tmp_path)
    monkeypatch.setattr(runs, "REPROCESS_BATCH", 16)  # commits before the worker dies
    with pytest.raises(WorkerLost):
        runs.reprocess_range(store, "bench", DAY, DAY, WorkerKiller(), CHANGED.info, classify_capture, workers=2)
    before = snapshot(store)
    xid = CHANGED.info["extraction_id"]
    committed = sum(1 for r in latest(store).values() if r["extraction_id"] == xid)
    assert 0 < committed < len(latest(store))  # some batches were committed, not all
    result = runs.reprocess_range(store, "bench", DAY, DAY, CHANGED, CHANGED.info, classify_capture, workers=2)
    assert result["counts"]["unchanged"] == committed
    after = snapshot(store)
    assert {k: v for k, v in after.items() if k in before} == before, "a committed byte changed"
    assert {r["extraction_id"] for r in latest(store).values()} == {xid}


def test_a_killed_task_keeps_its_commits_and_the_rerun_completes(archive: Path, tmp_path: Path) -> None:
    """The reprocess task itself is SIGKILLed right after its second commit (pool running)."""
    store = copy_of(archive, tmp_path)
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
        from datetime import date
        from extract import classify_capture
        from pipeline import runs
        from storage.store import LocalStore
        from tests.realarchive import CHANGED

        def dying_commit(*args, **kwargs):
            made.append(commit(*args, **kwargs))
            if len(made) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return made[-1]

        if __name__ == "__main__":  # spawned workers import this file as __mp_main__
            runs.REPROCESS_BATCH = 16
            commit, made = runs._commit_batch, []
            runs._commit_batch = dying_commit
            day = date(2024, 1, 1)
            store = LocalStore({str(tmp_path / "archive")!r})
            runs.reprocess_range(store, "bench", day, day, CHANGED, CHANGED.info, classify_capture, workers=2)
        """
    )
    (tmp_path / "killed_task.py").write_text(script)
    # capture_output waits for the pipes to close: a worker outliving its killed task would hang here
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "killed_task.py")], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    xid = CHANGED.info["extraction_id"]
    assert sum(1 for r in latest(store).values() if r["extraction_id"] == xid) == 32
    before = snapshot(store)
    runs.reprocess_range(store, "bench", DAY, DAY, CHANGED, CHANGED.info, classify_capture, workers=2)
    after = snapshot(store)
    assert {k: v for k, v in after.items() if k in before} == before, "a committed byte changed"
    assert {r["extraction_id"] for r in latest(store).values()} == {xid}
    rows = [r for r in manifest.load_manifests(store, "bench").to_pylist() if r["extraction_id"] == xid]
    assert len(rows) == len({r["capture_id"] for r in rows}), "a capture committed twice for one extraction"
