"""Captures by URL from the catalog, as CDX lines and mementos: the protocols' one reader.

Every lookup walks one range of the catalog's SURT index (`captures.urlkey`), lazily, and
stops when the request has what it asked for or after MAX_SCAN captures: no request reads
the archive in full, however large (a prefix or domain query over more than MAX_SCAN
captures answers the first MAX_SCAN and says so in `X-Archive-Truncated`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from researcher.catalog import Catalog
from researcher.wayback import cdx, timestamps
from researcher.wayback.memento import Memento

MAX_SCAN = 200_000  # captures one request may walk
REPLAYABLE = ("ok", "extraction_failed", "not_article")  # what a memento may be: never a block page


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class Answer:
    lines: list[dict[str, str]]
    total: int | None = None  # every line the query selects (showNumPages)
    truncated: bool = False  # MAX_SCAN reached before the query was answered


def _scan(catalog: Catalog, q: cdx.CdxQuery) -> Iterator[dict[str, str]]:
    since = _iso(q.start) if q.start else None
    before = _iso(q.end + timedelta(seconds=1)) if q.end else None
    exact = q.key if q.match == "exact" else None
    return catalog.by_urlkey(q.low, q.high, exact=exact, since=since, before=before, reverse=q.reverse)


def query(catalog: Catalog, q: cdx.CdxQuery) -> Answer:
    """The lines of one CDX request (one page when paged), at most MAX_SCAN captures walked."""
    walked = [0]

    def counted() -> Iterator[dict[str, str]]:
        for line in _scan(catalog, q):
            walked[0] += 1
            yield line
            if walked[0] >= MAX_SCAN:
                return

    selected = cdx.select(q, counted())
    if q.show_num_pages:
        total = sum(1 for _ in selected)
        return Answer([], total, walked[0] >= MAX_SCAN)
    if q.closest is not None:
        ranked = cdx.by_closeness(q, list(selected))
        return Answer(ranked[: q.limit] if q.limit else ranked, truncated=walked[0] >= MAX_SCAN)
    if q.page is not None:
        skip = q.page * q.page_size
        lines = list(islice(selected, skip, skip + q.page_size))
        if q.limit is not None:
            lines = lines[: q.limit]
    else:
        lines = list(islice(selected, q.limit if q.limit is not None else cdx.MAX_LIMIT))
    return Answer(lines, truncated=walked[0] >= MAX_SCAN)


def mementos(catalog: Catalog, url: str) -> list[tuple[Memento, str]]:
    """A URL's replayable captures, oldest first, with their capture ids (fetched at that URL,
    or redirected from it): what its TimeGate and TimeMap offer. A blocked capture (a
    challenge or block page the server sent) is listed by the CDX API with its status, never
    offered as a memento."""
    key, low, high = cdx.key_range(url, "exact")
    found: list[tuple[Memento, str]] = []
    for line in islice(catalog.by_urlkey(low, high, exact=key), MAX_SCAN):
        if line["capture_status"] in REPLAYABLE:
            moment = timestamps.parse(line["timestamp"])
            found.append((Memento(moment, line["url"] or url), line["capture_id"]))
    found.sort(key=lambda pair: (pair[0].moment, pair[1]))
    return found
