"""What happened to articles after capture, for researchers: the events and links tables read,
filtered and attached to captures. Filtering is pure; reading goes through storage.tablelog.

A link found by two sources' runs at once may sit in the log twice (storage/tables.py keys
rows per log); readers see it once, by link_id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from storage import tablelog
from storage.errors import PermanentError
from storage.store import Store
from storage.tables import EVENTS, LINKS

EVENT_KINDS = ("takedown", "edit")
EVENT_REASONS = ("gone", "redirect_home", "redirect_section", "content_removed", "unlisted", "text", "title",
                 "published", "modified", "authors")  # fmt: skip


@dataclass(frozen=True)
class EventFilter:
    sources: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()  # an edit matches each field it changed (reason "text,title")
    date_from: date | None = None  # observed on or after
    date_to: date | None = None  # observed on or before
    capture: str | None = None  # the capture before, or the capture that observed it
    url: str | None = None  # address prefix

    def __post_init__(self) -> None:
        _check_range(self.date_from, self.date_to, "observed")


def _check_range(lo: date | None, hi: date | None, what: str) -> None:
    if lo and hi and lo > hi:
        raise PermanentError(f"{what} date range is inverted: {lo} is after {hi}")


@dataclass(frozen=True)
class LinkFilter:
    sources: tuple[str, ...] = ()  # either side
    republished_sources: tuple[str, ...] = ()
    original_sources: tuple[str, ...] = ()
    date_from: date | None = None  # republished on or after
    date_to: date | None = None  # republished on or before
    min_similarity: float = 0.0
    capture: str | None = None  # either side
    every_pair: bool = False  # every similar earlier text, not only each republication's earliest

    def __post_init__(self) -> None:
        _check_range(self.date_from, self.date_to, "republished")
        if not 0.0 <= self.min_similarity <= 1.0:  # also refuses NaN
            raise PermanentError(f"minimum similarity must be from 0 to 1, not {self.min_similarity}")


def _day(value: str | None) -> str:
    return (value or "")[:10]


def _in_range(value: str | None, lo: date | None, hi: date | None) -> bool:
    day = _day(value)
    if (lo or hi) and not day:
        return False
    return (lo is None or day >= lo.isoformat()) and (hi is None or day <= hi.isoformat())


def select_events(rows: Iterable[dict[str, Any]], f: EventFilter) -> list[dict[str, Any]]:
    """The matching events, once each, in the order they were observed. Pure."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if f.sources and r["source_id"] not in f.sources:
            continue
        if f.kinds and r["kind"] not in f.kinds:
            continue
        if f.reasons and not set(f.reasons) & set((r["reason"] or "").split(",")):
            continue
        if f.capture and f.capture not in (r["capture_id"], r.get("observed_capture_id")):
            continue
        if f.url and not (r["url"] or "").startswith(f.url):
            continue
        if _in_range(r.get("observed_at"), f.date_from, f.date_to):
            out.setdefault(r["event_id"], r)
    return sorted(out.values(), key=lambda r: (r.get("observed_at") or "", r["event_id"]))


def earliest(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each republication's link to its earliest original only: the linker records every
    similar earlier text in another source (a blog copying a blog that copied RT links to
    both), and the original is the first of them. Translation links are kept as they are. Pure."""
    first: dict[str, dict[str, Any]] = {}
    kept: list[dict[str, Any]] = []
    for r in rows:
        if r["kind"] != "syndication":
            kept.append(r)
            continue
        held = first.get(r["republished"])
        if held is None or (r["original_published"] or "", r["original"]) < (
            held["original_published"] or "",
            held["original"],
        ):
            first[r["republished"]] = r
    return kept + list(first.values())


def select_links(rows: Iterable[dict[str, Any]], f: LinkFilter) -> list[dict[str, Any]]:
    """The matching links, once each, by republication date: each republication's earliest
    original, or every similar pair with `every_pair`. Pure."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows if f.every_pair else earliest(rows):
        sides = {r["republished_source"], r["original_source"]}
        if f.sources and not sides & set(f.sources):
            continue
        if f.republished_sources and r["republished_source"] not in f.republished_sources:
            continue
        if f.original_sources and r["original_source"] not in f.original_sources:
            continue
        if f.capture and f.capture not in (r["republished"], r["original"]):
            continue
        if (r["similarity"] or 0.0) < f.min_similarity:
            continue
        if _in_range(r.get("republished_published"), f.date_from, f.date_to):
            out.setdefault(r["link_id"], r)
    return sorted(out.values(), key=lambda r: (r.get("republished_published") or "", r["link_id"]))


OnCorrupt = Callable[[tablelog.CorruptPart], None] | None


def read_events(store: Store, on_corrupt: OnCorrupt = None) -> list[dict[str, Any]]:
    return list(tablelog.load(store, EVENTS, on_corrupt=on_corrupt).to_pylist())


def read_links(store: Store, on_corrupt: OnCorrupt = None) -> list[dict[str, Any]]:
    return list(tablelog.load(store, LINKS, on_corrupt=on_corrupt).to_pylist())


def of_capture(events: Iterable[dict[str, Any]], links: Iterable[dict[str, Any]], capture_id: str) -> dict[str, Any]:
    """A capture's events and links as `archive show` and exports attach them. Pure."""
    evs = select_events(events, EventFilter(capture=capture_id))
    lks = select_links(links, LinkFilter(capture=capture_id, every_pair=True))  # the card shows them all
    return {
        "events": [
            {k: e[k] for k in ("event_id", "kind", "reason", "observed_at", "http_status", "final_url")} for e in evs
        ],
        "links": [
            {
                "link_id": lk["link_id"],
                "role": "republication of" if lk["republished"] == capture_id else "republished as",
                "capture_id": lk["original"] if lk["republished"] == capture_id else lk["republished"],
                "source_id": lk["original_source"] if lk["republished"] == capture_id else lk["republished_source"],
                "url": lk["original_url"] if lk["republished"] == capture_id else lk["republished_url"],
                "similarity": lk["similarity"],
            }
            for lk in lks
        ],
    }


class Attach:
    """Events and links read once, attached to many captures (an export)."""

    def __init__(self, store: Store, on_corrupt: OnCorrupt = None):
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.links: dict[str, list[dict[str, Any]]] = {}
        self.all_events = read_events(store, on_corrupt)  # the JSON API filters these
        self.all_links = read_links(store, on_corrupt)
        for e in self.all_events:
            for cid in {e["capture_id"], e.get("observed_capture_id")} - {None}:
                self.events.setdefault(cid, []).append(e)
        for lk in self.all_links:
            for cid in (lk["republished"], lk["original"]):
                self.links.setdefault(cid, []).append(lk)

    def __call__(self, capture_id: str) -> dict[str, Any]:
        return of_capture(self.events.get(capture_id, []), self.links.get(capture_id, []), capture_id)
