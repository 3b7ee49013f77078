"""An archive made by the DAGs for the reading-room tests.

aa_fr is crawled while one article answers with a Cloudflare challenge (a blocked capture),
then the same window is crawled again once the site answers normally: the URL then has two
captures, blocked and good, to list and compare. rt_fr adds a second source."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

from tests.fixtures.server import FixtureServer

AA_WINDOW = {"window_start": "2020-02-26T00:00:00+00:00", "window_end": "2020-03-01T00:00:00+00:00"}
RT_WINDOW = {"window_start": "2017-06-07T00:00:00+00:00", "window_end": "2017-06-11T00:00:00+00:00"}
CHALLENGED = "www.aa.com.tr/fr/monde/idleb-nouvelle-offensive/1746120"
CHALLENGE = {
    "status": 403,
    "body": "<html><head><title>Just a moment...</title></head><body><p>Checking your browser before "
    "accessing www.aa.com.tr.</p><script src='/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1'></script>"
    "</body></html>",
}


def build(root: Path, dags: ModuleType, sites: FixtureServer) -> Path:
    """Run the DAGs with dag.test() into a local archive at root; returns root."""
    before = {k: os.environ.get(k) for k in ("ARCHIVE_URL", "NEWSARCHIVE_REPLAY")}
    os.environ["ARCHIVE_URL"] = root.resolve().as_uri()
    os.environ["NEWSARCHIVE_REPLAY"] = json.dumps(sites.replay_map())
    runs = [
        (dags.news_aa_fr, datetime(2020, 2, 28, tzinfo=UTC), AA_WINDOW, True),
        (dags.news_aa_fr, datetime(2020, 2, 29, tzinfo=UTC), AA_WINDOW, False),  # the window again
        (dags.news_rt_fr, datetime(2017, 6, 9, tzinfo=UTC), RT_WINDOW, False),
    ]
    try:
        for dag, logical, conf, challenged in runs:
            if challenged:
                sites.overrides[CHALLENGED] = CHALLENGE
            try:
                run = dag.test(logical_date=logical, run_conf=conf)
            finally:
                sites.overrides.pop(CHALLENGED, None)
            # a run with a blocked capture fails its report (the data is committed first)
            assert challenged or run.state == "success", f"{dag.dag_id} {logical}: {run.state}"
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return root
