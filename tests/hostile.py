"""A small news site whose answers a test changes between runs, and the pipeline's run steps
driven against it, in this process or as an OS process that can be raced or killed.

The site is served on 127.0.0.1 under the host name `news.example` (through the replay
map), so an address the site redirects to on 127.0.0.1 is another host, as it would be in
production. Every request it receives is counted by path.

    python -m tests.hostile --archive URL --profile P --replay JSON --start ISO --end ISO \
        [--kill-after crawl|extract|commit]
runs crawl -> extract -> commit as the DAG does and prints the commit as JSON; with
--kill-after the process SIGKILLs itself right after that step.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HOST = "news.example"
DAY = datetime(2024, 5, 6, tzinfo=UTC)
WINDOW = (DAY, DAY + timedelta(days=1))

CHALLENGE = (
    b'<!DOCTYPE html><html lang="en"><head><title>Just a moment...</title></head><body>'
    b'<h2 id="challenge-running">Checking if the site connection is secure</h2>'
    b'<div id="challenge-body-text">news.example needs to review the security of your connection before '
    b"proceeding.</div><script>window._cf_chl_opt={cType: 'managed'};</script></body></html>"
)


def article(slug: str, version: int = 1) -> bytes:
    """An article page with enough text for any extractor; `version` changes its words."""
    paras = "".join(
        f"<p>Paragraph {i} of the article {slug}, version {version}: the ministry said on Monday that the "
        f"talks would resume next week, and observers noted that the ceasefire held in the north.</p>"
        for i in range(1, 5)
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Story {slug}</title>'
        f'<meta property="article:published_time" content="{DAY.isoformat()}"></head>'
        f"<body><article><h1>Story {slug}</h1>{paras}</article></body></html>"
    ).encode()


def feed(slugs: list[str], when: datetime = DAY + timedelta(hours=8)) -> bytes:
    items = "".join(
        f"<item><title>Story {s}</title><link>http://{HOST}/articles/{s}</link>"
        f"<pubDate>{format_datetime(when + timedelta(minutes=i))}</pubDate></item>"
        for i, s in enumerate(slugs)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>{items}</channel></rss>'.encode()


class HostileSite(ThreadingHTTPServer):
    """Routes path -> (status, headers, body), changeable while it runs; unknown paths 404."""

    daemon_threads = True

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes, float]] = {}
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)
        self.address = f"127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def set(
        self, path: str, body: bytes, status: int = 200, delay: float = 0.0, headers: dict[str, str] | None = None
    ) -> None:
        with self.lock:
            self.routes[path] = (status, {"Content-Type": "text/html; charset=utf-8", **(headers or {})}, body, delay)

    def publish(self, slugs: list[str]) -> None:
        """A feed listing these articles and a page for each."""
        self.set("/feed.xml", feed(slugs), headers={"Content-Type": "application/rss+xml"})
        for s in slugs:
            self.set(f"/articles/{s}", article(s))

    def replay_map(self) -> dict[str, str]:
        return {HOST: self.address}

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: HostileSite
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        with self.server.lock:
            self.server.hits[path] += 1
            route = self.server.routes.get(path, (404, {"Content-Type": "text/plain"}, b"not found", 0.0))
        status, headers, body, delay = route
        time.sleep(delay)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def gzip_bomb(size: int) -> bytes:
    """`size` zero bytes, gzipped (about 1,000 to 1): small on the wire, huge once decoded."""
    return gzip.compress(b"\0" * size, compresslevel=9)


def write_profile(
    directory: Path, *, max_page_mb: int = 50, source_id: str = "hostile_news", sitemaps: tuple[str, ...] = ()
) -> Path:
    path = directory / f"{source_id}.yaml"
    listed = ", ".join(f'"http://{HOST}{s}"' for s in sitemaps)
    path.write_text(
        f"""id: {source_id}
name: A news site that changes its answers
language: en
domains: ["{HOST}"]
feeds: ["http://{HOST}/feed.xml"]
sitemaps: [{listed}]
politeness: {{download_delay: 0, concurrency: 4, retries: 1, timeout: 10, autothrottle: false, max_page_mb: {max_page_mb}}}
expected_daily_volume: 3
""",
        encoding="utf-8",
    )
    return path


def run_steps(
    store: Any,
    profile_path: Path,
    replay: dict[str, str],
    window: tuple[datetime, datetime] = WINDOW,
    kill_after: str | None = None,
) -> dict[str, Any]:
    """crawl -> extract -> commit, wired as the DAG wires them; returns the three results."""
    from extract import Extractor, classify_capture
    from pipeline import runs
    from spiders.crawl import RunContext, run_crawl
    from spiders.profile import load_profile

    profile = load_profile(profile_path)
    ctx = RunContext(profile.id, window[0], window[1], window[0].date())
    crawled = run_crawl(store, ctx, profile_path=profile_path, replay=replay).as_dict()
    _maybe_die(kill_after, "crawl")
    ex = Extractor.from_rules([], [], profile.language, profile.rules_version)
    cap = profile.politeness.max_page_mb * 2**20
    extracted = runs.extract_run(store, crawled, ex, ex.info, classify_capture, max_body=cap)
    _maybe_die(kill_after, "extract")
    committed = runs.commit_run(store, crawled, extracted)
    _maybe_die(kill_after, "commit")
    return {"crawl": crawled, "extract": extracted, "commit": committed}


def _maybe_die(kill_after: str | None, step: str) -> None:
    if kill_after == step:
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def subprocess_cmd(
    archive: str, profile: Path, replay: dict[str, str], window: tuple[datetime, datetime] = WINDOW
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tests.hostile",
        "--archive",
        archive,
        "--profile",
        str(profile),
        "--replay",
        json.dumps(replay),
        "--start",
        window[0].isoformat(),
        "--end",
        window[1].isoformat(),
    ]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--archive", required=True)
    ap.add_argument("--profile", required=True, type=Path)
    ap.add_argument("--replay", required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--kill-after", choices=["crawl", "extract", "commit"])
    args = ap.parse_args()
    from storage.store import open_store

    window = (datetime.fromisoformat(args.start), datetime.fromisoformat(args.end))
    result = run_steps(open_store(args.archive), args.profile, json.loads(args.replay), window, args.kill_after)
    print(json.dumps(result["commit"]))
    return 0


__all__ = ["DAY", "HOST", "WINDOW", "HostileSite", "article", "date", "feed", "gzip_bomb", "write_profile"]

if __name__ == "__main__":
    sys.exit(main())
