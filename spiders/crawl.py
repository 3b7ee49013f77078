"""Run one crawl (profile x window) in a subprocess, then put its WARC and log in the store.

Scrapy's reactor cannot restart inside one process, so every crawl is its own
`python -m spiders.process` process; the parent waits, reads the crawl log and uploads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from spiders import conditional
from spiders.profile import load_profile, profiles_dir
from spiders.proxy import proxy_url, redact
from spiders.replay import REPLAY_ENV
from spiders.revisit import recheck_window, revisits_due
from spiders.settings import DEFAULT_USER_AGENT, USER_AGENT_ENV
from storage import layout
from storage.errors import ArchiveError, TransientError
from storage.manifest import crawl_state
from storage.store import Store

PIPELINE_VERSION = "0.1.0"


class CrawlFailed(TransientError):
    """The crawl process died or was killed; nothing of it was committed."""


@dataclass(frozen=True)
class RunContext:
    """Who runs this crawl and for which interval; recorded in every WARC metadata record."""

    source_id: str
    start: datetime
    end: datetime
    logical_date: date
    dag_id: str | None = None
    airflow_run_id: str | None = None
    try_number: int | None = None
    max_articles: int | None = None
    recheck: bool = False  # fetch the window's archived articles again (spiders/revisit.py)

    @property
    def run(self) -> str:
        return layout.run_key(self.start, self.end)

    def as_metadata(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "run": self.run,
            "interval_start": self.start.isoformat(),
            "interval_end": self.end.isoformat(),
            "logical_date": self.logical_date.isoformat(),
            "dag_id": self.dag_id,
            "airflow_run_id": self.airflow_run_id,
            "try_number": self.try_number,
            "pipeline_version": PIPELINE_VERSION,
        }


def coverage_by_day(articles: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per publication day, the window's articles: discovered, archived, already archived,
    failed and skipped by reason."""
    days: dict[str, dict[str, Any]] = {}
    for r in articles:
        if not r.get("in_window") or not r.get("published"):
            continue
        day = days.setdefault(
            str(r["published"])[:10],
            {"discovered": 0, "archived": 0, "already_archived": 0, "failed": Counter(), "skipped": Counter()},
        )
        day["discovered"] += 1
        if r["outcome"] == "archived":
            day["archived"] += 1
        elif r["outcome"] == "skipped" and r["reason"] == "already archived":
            day["already_archived"] += 1
        elif r["outcome"] in ("failed", "skipped"):
            day[r["outcome"]][r["reason"]] += 1
    return {d: {**v, "failed": dict(v["failed"]), "skipped": dict(v["skipped"])} for d, v in sorted(days.items())}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts from a crawl log, small enough for XCom whatever the size of the sitemaps."""
    # a revisit that fails is what a takedown looks like (pipeline/events.py), not a crawl failure
    gone = [r for r in rows if r.get("kind") == "article" and r.get("via") == "revisit" and r["outcome"] == "failed"]
    articles = [
        r for r in rows if r.get("kind") == "article" and not (r.get("via") == "revisit" and r["outcome"] == "failed")
    ]
    return {
        "revisit_failures": dict(Counter(r["reason"] for r in gone)),
        "by_day": coverage_by_day(articles),
        "articles": dict(Counter(r["outcome"] for r in articles)),
        "skipped_by_reason": dict(Counter(r["reason"] for r in articles if r["outcome"] == "skipped")),
        "failed_by_reason": dict(Counter(r["reason"] for r in articles if r["outcome"] == "failed")),
        "in_window": sum(1 for r in articles if r.get("in_window")),
        "revisited": sum(1 for r in articles if r["outcome"] == "archived" and r.get("reason") == "revisit"),
        "discovery": dict(Counter(f"{r.get('kind')}:{r['outcome']}" for r in rows if r.get("kind") != "article")),
        "discovery_failures": [
            {"url": r["url"], "kind": r.get("kind"), "reason": r["reason"]}
            for r in rows
            if r.get("kind") != "article" and r["outcome"] == "failed"
        ],
    }


@dataclass
class CrawlResult:
    """What the crawl task hands on: the uploaded keys and the crawl's figures."""

    source_id: str
    run: str
    logical_date: str
    attempt: str = ""  # names this attempt's raw objects: no other attempt writes them
    parts: list[str] = field(default_factory=list)
    crawl_log: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    log_rows: list[dict[str, Any]] = field(default_factory=list, repr=False)  # not passed on: see crawl_log

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["log_rows"]
        return out


_TMP_PREFIX = "newsarchive-crawl-"


def _die_with_parent() -> None:
    """In the crawl subprocess, before exec: die when the task process dies, even by SIGKILL
    (Linux's parent-death signal), so a killed task never leaves a crawler running. (Like
    pipeline.parallel.die_with_parent, kept here so spiders/ imports nothing of pipeline/.)"""
    import ctypes
    import signal

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def sweep_stale_workdirs(base: Path) -> list[Path]:
    """Remove work directories left by crawl tasks that were killed (their pid is gone)."""
    removed = []
    for path in base.glob(f"{_TMP_PREFIX}*"):
        try:
            pid = int(path.name.removeprefix(_TMP_PREFIX).split("-", 1)[0])
        except ValueError:
            continue
        if pid == os.getpid() or Path(f"/proc/{pid}").exists():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def sweep_stale_job_files() -> list[Path]:
    """Remove the remote-control job files (port and token of a crawl's code-execution endpoint)
    that crawls of this spider left when killed, before the endpoint was turned off
    (spiders/settings.py). Another live process's files are not touched."""
    from platformdirs import user_state_dir

    removed = []
    for path in Path(user_state_dir("scrapy", appauthor=False), "job_files").glob("*.json"):
        try:
            job = json.loads(path.read_text(encoding="utf-8"))
            pid, spider = int(job["pid"]), job.get("spider")
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a job file this code understands: left as found
        if spider == "news" and not Path(f"/proc/{pid}").exists():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def run_crawl(
    store: Store,
    ctx: RunContext,
    *,
    profile_path: Path | None = None,
    user_agent: str | None = None,
    replay: dict[str, str] | None = None,
    workdir: Path | None = None,
    timeout: float = 3600,
    progress: Callable[[str], None] | None = None,
) -> CrawlResult:
    """Crawl the window in a subprocess and upload the WARC part and crawl log.

    The attempt's objects get keys of their own (time and a random token), so a retry, a
    re-run or a concurrent run of the interval never writes over another's. Every crawl
    uploads its log; its WARC part too when it recorded any exchange. The subprocess dies with this process, and a work
    directory left by a killed task is removed by the next crawl.
    """
    profile_path = profile_path or profiles_dir() / f"{ctx.source_id}.yaml"
    # a broken profile fails here, before anything is fetched
    profile = load_profile(profile_path)
    if profile.politeness.proxy:
        proxy_url(profile.politeness.proxy.url_env)  # unset or malformed: fail before starting Scrapy
    state = crawl_state(store, ctx.source_id)  # one read: the newest checkpoint and the parts after it
    history = state.history
    if ctx.recheck:
        plan = recheck_window(history, ctx.start, ctx.end, profile.revisit_budget)
    else:
        plan = revisits_due(history, ctx.end, profile.revisit_ages, profile.revisit_budget)
    due = plan.due
    known = state.archived - set(due)
    attempt = layout.new_attempt()
    base = Path(workdir or tempfile.gettempdir())
    sweep_stale_workdirs(base)
    sweep_stale_job_files()
    with tempfile.TemporaryDirectory(prefix=f"{_TMP_PREFIX}{os.getpid()}-{ctx.source_id}-", dir=base) as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "known.txt").write_text("\n".join(sorted(known)), encoding="utf-8")
        (tmpdir / "revisits.json").write_text(json.dumps(due), encoding="utf-8")
        validators = conditional.load(store, ctx.source_id)
        _write_previous_bodies(store, validators, tmpdir)
        cmd = [
            sys.executable,
            "-m",
            "spiders.process",
            "--profile",
            str(profile_path),
            "--context",
            json.dumps({**ctx.as_metadata(), "max_articles": ctx.max_articles}),
            "--workdir",
            str(tmpdir),
            "--user-agent",
            user_agent or os.environ.get(USER_AGENT_ENV, DEFAULT_USER_AGENT),
        ]
        env = dict(os.environ)
        if replay:
            env[REPLAY_ENV] = json.dumps(replay)
        returncode, stderr = _run_crawler(cmd, env, timeout, progress)
        if returncode is None:
            raise CrawlFailed(f"crawl of {ctx.source_id} {ctx.run} killed after {timeout:.0f} s")
        log_path, warc_path = tmpdir / "crawl-log.jsonl", tmpdir / "part.warc.gz"
        if returncode != 0 or not log_path.exists():
            tail = redact("\n".join(stderr[-15:]))
            raise CrawlFailed(f"crawl of {ctx.source_id} {ctx.run} exited with {returncode}:\n{tail}")
        rows = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        result = CrawlResult(
            ctx.source_id,
            ctx.run,
            ctx.logical_date.isoformat(),
            attempt,
            summary={**summarize(rows), "revisit_budget": {**plan.as_summary(), "budget": profile.revisit_budget}},
            log_rows=rows,
        )
        # Every run keeps its crawl log, even one that archives nothing (what it saw and why it
        # took nothing is the evidence a gap needs), and its WARC part whenever it recorded an
        # exchange (the feeds and sitemaps it read are raw captures too).
        part_key = layout.raw_key(ctx.source_id, ctx.logical_date, ctx.run, attempt)
        log_key = layout.crawl_log_key(ctx.source_id, ctx.logical_date, ctx.run, attempt)
        if any("warc_file" in r for r in rows):
            for r in rows:
                if "warc_file" in r:
                    r["warc_file"] = part_key
            store.put_file(part_key, warc_path, "application/warc")
            result.parts = [part_key]
        store.put_bytes(
            log_key, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode(), "application/x-ndjson"
        )
        result.crawl_log = log_key
        if any(r["outcome"] == "archived" for r in rows):
            conditional.save(store, ctx.source_id, attempt, validators, conditional.updated(validators, rows))
        return result


# Scrapy's periodic figures and its closing line: what the crawl task's log shows while it runs
_PROGRESS = ("[scrapy.extensions.logstats]", "Spider closed", "Closing spider")


def _run_crawler(
    cmd: list[str], env: dict[str, str], timeout: float, progress: Callable[[str], None] | None
) -> tuple[int | None, list[str]]:
    """Run the crawl process; pass its progress lines on as they come. (exit code or None if it
    was killed for running past `timeout`, its stderr lines)."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        # only prctl between fork and exec: safe beside the task process's threads
        preexec_fn=_die_with_parent,  # noqa: PLW1509
    )
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, expire)
    timer.start()
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if progress and any(mark in line for mark in _PROGRESS):
                progress(redact(line.rstrip("\n").split("] ", 1)[-1].removeprefix("INFO: ")))
        proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return (None if expired.is_set() else proc.returncode), lines


def _write_previous_bodies(store: Store, validators: conditional.Validators, tmpdir: Path) -> None:
    """Validators and previous bodies for the spider: it sends the first and parses the second on a 304."""
    offered = {}
    for i, (url, entry) in enumerate(sorted(validators.items())):
        try:
            body = conditional.previous_body(store, entry)
        except ArchiveError:
            continue  # the old body cannot be read back: fetch unconditionally
        path = tmpdir / f"previous-{i}.body"
        path.write_bytes(body)
        offered[url] = {"headers": conditional.request_headers(entry), "body_file": str(path)}
    (tmpdir / "validators.json").write_text(json.dumps(offered), encoding="utf-8")
