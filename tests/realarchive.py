"""An archive of the real-page corpus committed like a crawl: the re-extraction tests and
`make bench-reprocess` work on it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from extract import Extractor, NoiseRules, classify_capture
from pipeline import runs
from storage import layout
from storage.store import LocalStore
from tests.bench.real import write_warc
from tests.fixtures.real import load_pages

DAY = date(2024, 1, 1)
BASE = Extractor(NoiseRules(), "en")
# a reviewer's new line rule: a new extraction id, most texts unchanged
CHANGED = Extractor(NoiseRules(drop_line_patterns=("^The ",)), "en")


def build_archive(root: Path, copies: int = 1) -> LocalStore:
    """An archive of the real-page corpus, crawled-and-committed as one run."""
    pages = [p for p in load_pages() if p.kind == "article"] * copies
    store = LocalStore(root)
    local = root.parent / f"{root.name}.warc.gz"
    write_warc(local, pages)
    key = layout.raw_key("bench", DAY, "run-1", local.name)
    store.put_file(key, local, "application/warc")
    crawl = {"source_id": "bench", "run": "run-1", "logical_date": DAY.isoformat(), "parts": [key]}
    extracted = runs.extract_run(store, crawl, BASE, BASE.info, classify_capture, workers=2)
    runs.commit_run(store, crawl, extracted)
    return store
