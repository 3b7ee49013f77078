"""Soak: many runs of one source against a site and a faulty S3 server, then the archive is checked.

Runs are OS processes (the pipeline's run steps, as tests/hostile.py drives them) archiving
into SeaweedFS through a fault-injecting proxy that answers a share of all requests with
500, 503 or SlowDown, or delays them. Between them, at random: a task SIGKILLed after a
step or at a random instant, two runs of the same interval at once, and a wide backfill
window running beside a daily one. A failed run is tried again, as Airflow's retries do. Beside some runs, `archive gc --apply`
collects with a grace period of GC_GRACE (longer than any soak run takes, as the 7-day
default is longer than any DAG run may take): what killed attempts left is deleted once it
is older than that, and nothing a run in flight or a commit names.
At the end the faults stop, each day is run once more (the next scheduled run), and the
archive must hold every published article exactly once, with `verify` clean.

The budget is NEWSARCHIVE_SOAK_SECONDS (CI runs the default, short; `make soak` runs 300 s).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from researcher.verify import verify
from storage import checkpoint, manifest
from storage.store import S3Store
from tests.faultproxy import FaultProxy, Rule
from tests.hostile import DAY, HOST, HostileSite, article, feed, subprocess_cmd, write_profile
from tests.s3server import WeedS3
from tests.test_write_once import REPO, _s3_client

ARCHIVE_CMD = [sys.executable, "-c", "from researcher.cli import main; main()"]
DAYS = 3
PER_DAY = 3
RETRIES = 3  # as the DAGs' default_args
GC_GRACE = "120s"


@pytest.fixture
def soak_site() -> Iterator[HostileSite]:
    site = HostileSite()
    items = []
    for d in range(DAYS):
        for i in range(PER_DAY):
            slug = f"d{d}-{i}"
            site.set(f"/articles/{slug}", article(slug), delay=0.05)
            items.append((slug, DAY + timedelta(days=d, hours=6 + i)))
    body = b"".join(
        feed([slug], when).split(b"<channel><title>News</title>", 1)[1].rsplit(b"</channel>", 1)[0]
        for slug, when in items
    )
    site.set(
        "/feed.xml",
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>' + body + b"</channel></rss>",
    )
    yield site
    site.stop()


def test_soak(weed: WeedS3, bucket: str, soak_site: HostileSite, tmp_path: Path) -> None:
    budget = float(os.environ.get("NEWSARCHIVE_SOAK_SECONDS", "45"))
    rng = random.Random(int(os.environ.get("NEWSARCHIVE_SOAK_SEED", "20261129")))
    proxy = FaultProxy(weed.endpoint, seed=rng.randrange(1 << 30)).start()
    url = f"s3://{bucket}/soak"
    env = {**os.environ, "PYTHONPATH": str(REPO), **weed.env(), "AWS_ENDPOINT_URL": proxy.endpoint}
    env[checkpoint.INTERVAL_ENV] = "2"  # the soak's few commits a log write checkpoints through the faults
    profile = write_profile(tmp_path)
    replay = soak_site.replay_map()
    days = [(DAY + timedelta(days=d), DAY + timedelta(days=d + 1)) for d in range(DAYS)]
    figures: Counter[str] = Counter()

    def start(window: tuple[object, ...], kill_after: str | None = None) -> subprocess.Popen[bytes]:
        cmd = subprocess_cmd(url, profile, replay, window)  # type: ignore[arg-type]
        if kill_after:
            cmd += ["--kill-after", kill_after]
        figures["runs"] += 1
        return subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def finish(proc: subprocess.Popen[bytes], window: tuple[object, ...], retry: bool = True) -> None:
        proc.communicate(timeout=300)
        tries = 0
        while proc.returncode not in (0, -signal.SIGKILL) and retry and tries < RETRIES:
            figures["failed_runs_retried"] += 1
            tries += 1
            proc = start(window)
            proc.communicate(timeout=300)

    for action in ("500", "503", "slowdown"):
        proxy.add(Rule(action, times=None, probability=0.02))
    proxy.add(Rule("latency", times=None, probability=0.05, delay=0.3))

    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        op = rng.choice(["run", "kill-after-step", "kill-any-time", "duplicate", "overlap", "gc"])
        window = rng.choice(days)
        figures[f"op:{op}"] += 1
        if op == "run":
            finish(start(window), window)
        elif op == "kill-after-step":
            figures["killed"] += 1
            finish(start(window, rng.choice(["crawl", "extract", "commit"])), window, retry=False)
        elif op == "kill-any-time":
            proc = start(window)
            time.sleep(rng.uniform(0.5, 6.0))
            if proc.poll() is None:
                figures["killed"] += 1
                proc.send_signal(signal.SIGKILL)
            finish(proc, window, retry=False)
        elif op == "duplicate":
            procs = [start(window), start(window)]
            for p in procs:
                finish(p, window)
        elif op == "gc":  # beside a run in flight
            run = start(window)
            gc = subprocess.run(
                [*ARCHIVE_CMD, "gc", "--archive", url, "--grace", GC_GRACE, "--no-run-in-flight", "--apply"],
                env=env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            figures["gc_runs"] += 1
            figures["gc_failed"] += gc.returncode != 0  # a fault the proxy injected: tried next time
            figures["gc_deleted"] += sum(int(m) for m in re.findall(r"deleted (\d+) object", gc.stderr))
            finish(run, window)
        else:
            wide = (days[0][0], days[-1][1])
            procs = [start(wide), start(window)]
            finish(procs[0], wide)
            finish(procs[1], window)

    proxy.clear()
    for window in days:  # the next scheduled runs, with the faults gone
        finish(start(window), window)
    figures["faults_injected"] = sum(proxy.injected.values())
    proxy.stop()

    store = S3Store(bucket, "soak", client=_s3_client(weed.endpoint))  # type: ignore[arg-type]
    rows = manifest.load_manifests(store, "hostile_news").to_pylist()
    latest = {r["capture_id"]: r for r in rows}
    archived = Counter(r["requested_url"] for r in latest.values() if r["status"] in manifest.ARTICLE_STATUSES)
    published = {f"http://{HOST}/articles/d{d}-{i}" for d in range(DAYS) for i in range(PER_DAY)}
    report = verify(store)
    figures["captures"] = len(latest)
    figures["lost"] = len(published - set(archived))
    figures["duplicated"] = sum(n - 1 for n in archived.values() if n > 1)
    figures["corrupt"] = len(report.problems)
    figures["uncommitted_objects"] = len(report.uncommitted)
    figures["manifest_parts"] = report.manifests
    # checkpoints written through the faults and kills; verify compared the newest with its parts
    figures["checkpoints"] = sum(1 for _ in store.list(checkpoint.prefix("manifests", "hostile_news")))
    print("soak:", json.dumps(dict(sorted(figures.items()))))
    assert figures["lost"] == 0 and figures["duplicated"] == 0 and figures["corrupt"] == 0, figures
    assert set(archived) == published
