"""Which captures the extract step leaves out, from the crawl log: a table of orders of events.

Found on the Sputnik fixture crawl once its server stopped delaying responses: the article
was fetched and logged "archived", then the sitemap named it again and discovery logged it
"skipped" (a duplicate); reading the last word alone left an archived article out of the
manifest. An address's response is the run's capture unless it was never archived."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.runs import _crawl_log_facts
from storage.store import LocalStore

A = "https://fr.sputniknews.africa/20200228/idleb-1046.html"
DUP = "duplicate of a URL already discovered in this run"


@pytest.mark.parametrize(
    ("events", "skipped"),
    [
        ([("archived", None), ("skipped", DUP)], set()),  # archived, then named again by a sitemap
        ([("skipped", DUP), ("archived", None)], set()),  # a duplicate listing first, fetched later
        ([("skipped", "its rel=canonical is already archived")], {A}),  # another address of an archived one
        ([("skipped", "over the download cap")], {A}),
        ([("archived", None)], set()),
        ([("failed", "HTTP 500"), ("archived", None)], set()),
    ],
)
def test_skipped_addresses(events: list[tuple[str, str | None]], skipped: set[str], tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    log = "".join(json.dumps({"kind": "article", "url": A, "outcome": o, "reason": r}) + "\n" for o, r in events)
    store.put_bytes("raw/crawl-log.jsonl", log.encode(), "application/jsonl")
    assert _crawl_log_facts(store, {"crawl_log": "raw/crawl-log.jsonl"})[0] == skipped
