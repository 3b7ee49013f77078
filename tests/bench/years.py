"""Years unattended (make bench-years): what one run of one source costs on an archive five
years old, beside the same run on an empty archive, in the same invocation.

The archives live on SeaweedFS under .work/bench-years/ and are built once (a marker
object records the shape; `--rebuild` starts again). Each is the shape of AGE years of
every profiled source running RUNS_PER_DAY times a day (tests/bench/history.py says what
is real and what is a stand-in). Then, on each archive in turn:

1. a seed run (real: the fixture site, crawled, extracted, committed, linked) archives the
   articles the measured run will meet again: three it finds once more in the feed, one
   it revisits (edited since), one it finds taken down (410);
2. the measured run: the DAG's tasks in order (crawl: discovery, de-duplication and the
   fetch; extract; commit; changes; links; catalog update; report), each in a forked
   process, with wall time, S3 requests by verb and bytes read counted at the S3 endpoint
   (a counting proxy in front of SeaweedFS), and the peak RSS the step adds;
3. what the two runs wrote is removed (and the catalog restored), so the archive is the
   same for the next invocation.

It prints per step the empty and the five-year archive side by side with their ratio, the
whole run at every age, and draws the run's cost against the archive's age
(.work/bench-years.svg).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from storage.store import S3Store
from tests.bench import history
from tests.faultproxy import FaultProxy
from tests.hostile import HOST, HostileSite
from tests.s3server import WeedS3

WORK = Path(".work/bench-years")
END = history.END  # the measured run's window ends here; history ends the day before the seed
STEPS = ("crawl", "extract", "commit", "changes", "links", "catalog", "report")
VERBS = ("GET", "HEAD", "LIST", "PUT")


def _article(slug: str, published: datetime, version: int = 1) -> bytes:
    paras = "".join(
        f"<p>Paragraph {i} of the story {slug}, version {version}: the ministry said on Monday that the talks "
        f"would resume next week in the capital, and observers noted that the ceasefire held in the north "
        f"while aid convoys reached {slug} province for the first time since the spring.</p>"
        for i in range(1, 7)
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Story {slug}</title>'
        f'<meta property="article:published_time" content="{published.isoformat()}"></head>'
        f"<body><article><h1>Story {slug}</h1>{paras}</article></body></html>"
    ).encode()


def _feed(items: list[tuple[str, datetime]]) -> bytes:
    from email.utils import format_datetime

    body = "".join(
        f"<item><title>Story {s}</title><link>http://{HOST}/articles/{s}</link>"
        f"<pubDate>{format_datetime(when)}</pubDate></item>"
        for s, when in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>{body}</channel></rss>'.encode()


# the seed run's window, then the measured run's; revisits are due 36 hours after publication
SEED = (END - timedelta(days=2), END - timedelta(days=1) + timedelta(hours=2))
RUN = (END - timedelta(days=1), END)
REVISITED = [("edited", SEED[0] + timedelta(hours=6)), ("gone", SEED[0] + timedelta(hours=7))]
AGAIN = [(f"again{i}", RUN[0] + timedelta(hours=1, minutes=i)) for i in range(3)]  # archived by the seed run
NEW = [(f"new{i}", RUN[0] + timedelta(hours=3, minutes=i)) for i in range(4)]


def _seed_site(site: HostileSite) -> None:
    for slug, when in [*REVISITED, *AGAIN]:
        site.set(f"/articles/{slug}", _article(slug, when))
    site.set("/feed.xml", _feed([*REVISITED, *AGAIN]), headers={"Content-Type": "application/rss+xml"})


def _run_site(site: HostileSite) -> None:
    edited_at = REVISITED[0][1]
    site.set("/articles/edited", _article("edited", edited_at, version=2))
    site.set("/articles/gone", b"gone", status=410, headers={"Content-Type": "text/plain"})
    for slug, when in NEW:
        site.set(f"/articles/{slug}", _article(slug, when))
    site.set("/feed.xml", _feed([*AGAIN, *NEW]), headers={"Content-Type": "application/rss+xml"})


def write_profile(directory: Path) -> Path:
    path = directory / f"{history.MEASURED}.yaml"
    path.write_text(
        f"""id: {history.MEASURED}
name: The measured source (a fixture site)
language: en
domains: ["{HOST}"]
feeds: ["http://{HOST}/feed.xml"]
revisit_after: ["36h"]
politeness: {{download_delay: 0, concurrency: 4, retries: 1, timeout: 10, autothrottle: false}}
expected_daily_volume: 4
""",
        encoding="utf-8",
    )
    return path


class Steps:
    """The DAG's tasks for one run, called as the tasks call them (dags/news_sources.py)."""

    def __init__(self, store: S3Store, endpoint: str, profile_path: Path, replay: dict[str, str], catalog: Path):
        self.store, self.endpoint = store, endpoint
        self.profile_path, self.replay, self.catalog = profile_path, replay, catalog
        self.out: dict[str, Any] = {}

    def crawl(self, window: tuple[datetime, datetime]) -> dict[str, Any]:
        from spiders.crawl import RunContext, run_crawl

        ctx = RunContext(history.MEASURED, window[0], window[1], window[0].date())
        return run_crawl(self.store, ctx, profile_path=self.profile_path, replay=self.replay).as_dict()

    def extract(self) -> dict[str, Any]:
        from extract import Extractor, classify_capture
        from pipeline import runs
        from spiders.profile import load_profile

        profile = load_profile(self.profile_path)
        ex = Extractor.for_profile(profile)
        cap = profile.politeness.max_page_mb * 2**20
        return runs.extract_run(self.store, self.out["crawl"], ex, ex.info, classify_capture, max_body=cap)

    def commit(self) -> dict[str, Any]:
        from pipeline import runs

        return runs.commit_run(self.store, self.out["crawl"], self.out["extract"])

    def changes(self) -> dict[str, Any]:
        from pipeline import events

        return events.detect_run(self.store, self.out["crawl"], (), "bench")

    def links(self) -> dict[str, Any]:
        from pipeline import linking

        return linking.link_run(self.store, self.out["crawl"], self.out["commit"])

    def catalog_update(self) -> dict[str, Any]:
        from researcher.catalog import Catalog

        return {"new_rows": Catalog(self.catalog).update(self.store)}

    def report(self, window: tuple[datetime, datetime]) -> dict[str, Any]:
        from pipeline import runs

        thresholds = runs.Thresholds(0)
        try:
            return runs.report_run(
                self.store,
                self.out["crawl"],
                self.out["extract"],
                self.out["commit"],
                thresholds,
                window,
                changes=self.out["changes"],
                links=self.out["links"],
            )
        except runs.RunAlert as exc:  # the report is written first; a crossed threshold is not a cost
            return {"threshold": str(exc)}

    def call(self, step: str, window: tuple[datetime, datetime]) -> dict[str, Any]:
        fns: dict[str, Callable[[], dict[str, Any]]] = {
            "crawl": lambda: self.crawl(window),
            "extract": self.extract,
            "commit": self.commit,
            "changes": self.changes,
            "links": self.links,
            "catalog": self.catalog_update,
            "report": lambda: self.report(window),
        }
        return fns[step]()


def _vm(field: str) -> int:
    """A /proc/self/status figure in bytes (VmHWM: the peak resident set so far)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def _in_child(steps: Steps, step: str, window: tuple[datetime, datetime]) -> dict[str, Any]:
    """Run one step in a forked process (its own peak RSS; children's too, for the crawl's
    Scrapy process); returns its result, wall time and peak RSS."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        payload: dict[str, Any]
        try:
            steps.store = S3Store(steps.store.bucket, steps.store.prefix, client=history.client(steps.endpoint))  # type: ignore[arg-type]
            # the peak counts from here, above what the fork inherited (the parent's pages are
            # counted in the child's resident set once touched, so they are subtracted)
            Path("/proc/self/clear_refs").write_text("5")
            base = _vm("VmRSS")
            t0 = time.perf_counter()
            result = steps.call(step, window)
            payload = {"result": result, "wall": time.perf_counter() - t0, "rss": _vm("VmHWM") - base}
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails loudly
            payload = {"error": f"{type(exc).__name__}: {exc}"}
        payload["child_rss"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        with os.fdopen(write, "wb") as fh:
            pickle.dump(payload, fh)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    answer: dict[str, Any] = pickle.loads(data)  # noqa: S301 - our own child's answer
    if "error" in answer:
        raise RuntimeError(f"step {step} failed: {answer['error']}")
    return answer


def measure(
    weed: WeedS3, proxy: FaultProxy, bucket: str, profile: Path, site: HostileSite, catalog: Path
) -> dict[str, Any]:
    """The seed run, then the measured run step by step; then both runs' objects removed.
    The seed run probes the store (storage/probe.py) in this process and the forked steps
    inherit its verdict: the figures are the run's own requests, without the probe's
    constant 11 a task process pays once (README)."""
    admin = weed.client()
    store = S3Store(bucket, history.PREFIX, client=history.client(proxy.endpoint))  # type: ignore[arg-type]
    before = set(history.all_keys(admin, bucket))
    saved = catalog.with_name(catalog.name + ".saved")
    _copy_catalog(catalog, saved)
    steps = Steps(store, proxy.endpoint, profile, site.replay_map(), catalog)
    try:
        _seed_site(site)
        for step in STEPS:  # the seed run: real, in this process, not measured
            steps.out[step] = steps.call(step, SEED)
        _run_site(site)
        steps.out = {}
        figures: dict[str, Any] = {}
        for step in STEPS:
            verbs0, bytes0 = Counter(proxy.verbs), proxy.bytes_read
            payload = _in_child(steps, step, RUN)
            steps.out[step] = payload["result"]
            requests = {v: proxy.verbs[v] - verbs0[v] for v in VERBS}
            figures[step] = {
                "wall_s": payload["wall"],
                "requests": requests,
                "bytes_read": proxy.bytes_read - bytes0,
                "peak_rss": max(payload["rss"], payload["child_rss"]),  # the step's own, or its Scrapy process's
            }
        figures["outcome"] = _outcome(steps.out)
        return figures
    finally:
        created = [k for k in history.all_keys(admin, bucket) if k not in before]
        history.delete(admin, bucket, created)
        _copy_catalog(saved, catalog)


def _outcome(out: dict[str, Any]) -> dict[str, Any]:
    """What the measured run did, so a reader sees it did the work the bench says it did."""
    committed, changes, links = out["commit"], out["changes"], out["links"]
    return {
        "new_articles": committed.get("new_articles"),
        "crawl": {k: out["crawl"]["summary"].get(k) for k in ("articles", "skipped_by_reason", "revisit_failures")},
        "revisits": changes.get("revisits"),
        "events": changes.get("events"),
        "signed": links.get("signed"),
        "catalog_rows": out["catalog"]["new_rows"],
    }


def _copy_catalog(src: Path, dst: Path) -> None:
    for s, d in zip(history.catalog_files(src), history.catalog_files(dst), strict=True):
        if d.is_dir():
            shutil.rmtree(d)
        elif d.exists():
            d.unlink()
        if s.is_dir():
            shutil.copytree(s, d)
        elif s.exists():
            shutil.copy2(s, d)


def _total(fig: dict[str, Any]) -> dict[str, Any]:
    return {
        "wall_s": sum(fig[s]["wall_s"] for s in STEPS),
        "requests": {v: sum(fig[s]["requests"][v] for s in STEPS) for v in VERBS},
        "bytes_read": sum(fig[s]["bytes_read"] for s in STEPS),
        "peak_rss": max(fig[s]["peak_rss"] for s in STEPS),
    }


def _req(r: dict[str, int]) -> str:
    return " ".join(f"{v[0]}{r[v]}" for v in VERBS if r[v]) or "-"


def _mb(n: float) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.0f} kB"


def _ratio(a: float, b: float) -> str:
    return f"{b / a:.2f}x" if a else ("1.00x" if not b else "inf")


def show(results: dict[int, dict[str, Any]], oldest: int, console: Console) -> None:
    empty, old = results[0], results[oldest]
    t = Table(title=f"one run of {history.MEASURED}: empty archive vs {oldest} years of {history.describe()}")
    for c in ("step", "wall empty", f"wall {oldest}y", "ratio", "S3 empty", f"S3 {oldest}y", "read empty",
              f"read {oldest}y", "RSS+ empty", f"RSS+ {oldest}y"):  # fmt: skip
        t.add_column(c, justify="left" if c == "step" else "right")
    for step in (*STEPS, "whole run"):
        a = empty[step] if step != "whole run" else _total(empty)
        b = old[step] if step != "whole run" else _total(old)
        t.add_row(
            step,
            f"{a['wall_s']:.2f} s",
            f"{b['wall_s']:.2f} s",
            _ratio(a["wall_s"], b["wall_s"]),
            _req(a["requests"]),
            _req(b["requests"]),
            _mb(a["bytes_read"]),
            _mb(b["bytes_read"]),
            _mb(a["peak_rss"]),
            _mb(b["peak_rss"]),
        )
    console.print(t)
    ages = Table(title="the whole run against the archive's age")
    for c in ("age", "wall", "ratio to empty", "S3 requests", "bytes read", "peak RSS"):
        ages.add_column(c, justify="right")
    for age, fig in sorted(results.items()):
        tot = _total(fig)
        ages.add_row(
            f"{age} y",
            f"{tot['wall_s']:.2f} s",
            _ratio(_total(empty)["wall_s"], tot["wall_s"]),
            _req(tot["requests"]),
            _mb(tot["bytes_read"]),
            _mb(tot["peak_rss"]),
        )
    console.print(ages)
    console.print(f"what the measured run did: {json.dumps(old['outcome'], sort_keys=True)}")


def plot(results: dict[int, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    ages = sorted(results)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for step in STEPS:
        left.plot(ages, [results[a][step]["wall_s"] for a in ages], marker="o", label=step)
    left.plot(ages, [_total(results[a])["wall_s"] for a in ages], marker="o", color="black", label="whole run")
    left.set_xlabel("archive age (years)")
    left.set_ylabel("wall time (s)")
    left.legend(fontsize=7)
    for verb in VERBS:
        right.plot(ages, [_total(results[a])["requests"][verb] for a in ages], marker="o", label=verb)
    right.set_xlabel("archive age (years)")
    right.set_ylabel("S3 requests in the run")
    right.legend(fontsize=7)
    fig.suptitle(f"one run of {history.MEASURED} against the archive's age")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ages", default="0,1,2,5", help="archive ages in years (0 is the empty archive)")
    ap.add_argument("--scale", type=float, default=1.0, help="share of the sources x runs shape (tries)")
    ap.add_argument("--rebuild", action="store_true", help="build the archives again")
    ap.add_argument("--build-only", action="store_true", help="build (or keep) the archives, measure nothing")
    ap.add_argument("--resume", action="store_true", help="finish an interrupted build (keeps what it wrote)")
    ap.add_argument("--json", type=Path, default=Path(".work/bench-years.json"))
    ap.add_argument("--plot", type=Path, default=Path(".work/bench-years.svg"))
    args = ap.parse_args()
    ages = sorted({int(a) for a in args.ages.split(",")} | {0})
    console = Console(width=200)
    WORK.mkdir(parents=True, exist_ok=True)
    weed = WeedS3(WORK / "weed").start()
    proxy = FaultProxy(weed.endpoint).start()
    site = HostileSite()
    os.environ.update({**weed.env(), "AWS_ENDPOINT_URL": proxy.endpoint})  # the crawl's subprocess too
    try:
        profile = write_profile(WORK)
        results: dict[int, dict[str, Any]] = {}
        for age in ages:
            bucket = f"years-{age}"
            catalog = WORK / f"catalog-{age}.sqlite"
            built = history.ensure(
                weed.client(), bucket, age, args.scale, catalog, args.rebuild, console.print, resume=args.resume
            )
            console.print(f"[bold]{age} years[/]: {built}")
            if not args.build_only:
                results[age] = measure(weed, proxy, bucket, profile, site, catalog)
        if args.build_only:
            return 0
        show(results, max(ages), console)
        plot(results, args.plot)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({str(a): r for a, r in results.items()}, indent=1, sort_keys=True))
        console.print(f"plot: {args.plot}  figures: {args.json}")
    finally:
        site.stop()
        proxy.stop()
        weed.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
