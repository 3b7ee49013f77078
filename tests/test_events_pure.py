"""The pure parts of the events step, of the links step's edition rules and of the researcher's
event and link filters, as tables."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest

from pipeline import changes
from pipeline.events import before_and_after, event_row, listings, revisits, vanished
from pipeline.linking import signature_rows, translation_pairs
from researcher.aftermath import EventFilter, LinkFilter, of_capture, select_events, select_links

U = "https://x.example/a"


@pytest.mark.parametrize(
    ("row", "revisit"),
    [
        ({"url": U, "kind": "article", "outcome": "archived", "reason": "revisit"}, True),
        ({"url": U, "kind": "article", "outcome": "failed", "reason": "HTTP 404", "via": "revisit"}, True),
        ({"url": U, "kind": "article", "outcome": "archived", "reason": None}, False),  # a new article
        ({"url": U, "kind": "article", "outcome": "failed", "reason": "HTTP 404", "via": "https://x/feed"}, False),
        ({"url": U, "kind": "article", "outcome": "skipped", "reason": "already archived"}, False),
        ({"url": U, "kind": "sitemap", "outcome": "failed", "reason": "HTTP 404", "via": "revisit"}, False),
    ],
)
def test_which_crawl_log_rows_are_revisits(row: dict[str, Any], revisit: bool) -> None:
    assert (U in revisits([row])) is revisit


def _cap(cid: str, fetched: str, run: str = "R0", kind: str = "feed", status: str = "ok", **kw: Any) -> dict[str, Any]:
    return {"capture_id": cid, "requested_url": U, "final_url": U, "fetched_at": fetched, "run": run,
            "discovery_kind": kind, "status": status, "extracted_at": fetched, **kw}  # fmt: skip


REV = {"kind": "revisit", "run": "R9"}
PAIRS: dict[str, tuple[list[dict[str, Any]], tuple[str | None, str | None]]] = {
    "first capture, then this run's revisit": ([_cap("a", "1"), _cap("r", "5", **REV)], ("a", "r")),
    "an earlier revisit is the version before": (
        [_cap("a", "1"), _cap("r1", "3", kind="revisit", run="R5"), _cap("r", "5", **REV)], ("r1", "r"),
    ),
    "an unreadable earlier capture is not a version": (
        [_cap("a", "1"), _cap("x", "3", status="blocked"), _cap("r", "5", **REV)], ("a", "r"),
    ),
    "a failed revisit (no capture): the latest readable one": ([_cap("a", "1"), _cap("b", "2")], ("b", None)),
    "never readable: nothing to compare": ([_cap("x", "1", status="extraction_failed")], (None, None)),
    "the same run's two revisits: the later one is the run's": (
        [_cap("a", "1"), _cap("r1", "4", **REV), _cap("r", "5", **REV)], ("r1", "r"),
    ),
}  # fmt: skip


@pytest.mark.parametrize(("rows", "expected"), PAIRS.values(), ids=PAIRS.keys())
def test_the_version_before_and_the_runs_capture(
    rows: list[dict[str, Any]], expected: tuple[str | None, str | None]
) -> None:
    before, after = before_and_after(rows, "R9", {U})[U]
    assert (before and before["capture_id"], after and after["capture_id"]) == expected


def test_a_newer_extraction_of_a_capture_is_the_one_compared() -> None:
    rows = [_cap("a", "1", text="old"), {**_cap("a", "1", text="new"), "extracted_at": "9"}, _cap("r", "5", **REV)]
    before, _ = before_and_after(rows, "R9", {U})[U]
    assert before is not None and before["text"] == "new"


def test_a_takedown_seen_twice_is_one_event_and_an_edit_is_one_per_pair() -> None:
    before = _cap("a", "1")
    run = {"run": "R9", "detected_at": "now"}
    gone = changes.Change("takedown", "gone", {"status": 404})
    first = event_row(gone, before, {"http_status": 404, "warc_record_id": "<urn:1>"}, "s", run)
    second = event_row(gone, before, {"http_status": 404, "warc_record_id": "<urn:2>"}, "s", run)
    assert first["event_id"] == second["event_id"]
    edit = changes.Change("edit", "text", {})
    one = event_row(edit, before, {"capture_id": "r1"}, "s", run)
    two = event_row(edit, before, {"capture_id": "r2"}, "s", run)
    assert one["event_id"] != two["event_id"] and one["capture_id"] == "a" and one["observed_capture_id"] == "r1"


def _ev(eid: str, **kw: Any) -> dict[str, Any]:
    base = {"event_id": eid, "source_id": "rt_fr", "kind": "takedown", "reason": "gone", "capture_id": "c1",
            "observed_capture_id": None, "url": "https://francais.rt.com/a", "observed_at": "2026-11-30T08:00:00Z",
            "http_status": 404, "final_url": None}  # fmt: skip
    return base | kw


EVENTS = [
    _ev("e1"),
    _ev("e2", kind="edit", reason="text,title", capture_id="c2", observed_capture_id="c3", http_status=200),
    _ev(
        "e3",
        source_id="aa_fr",
        reason="redirect_home",
        capture_id="c9",
        url="https://www.aa.com.tr/fr/x",
        observed_at="2025-01-02",
    ),
    _ev("e1"),  # the same event read from two parts
]
EVENT_CASES: dict[str, tuple[EventFilter, list[str]]] = {
    "everything, once, by observation time": (EventFilter(), ["e3", "e1", "e2"]),
    "one source": (EventFilter(sources=("rt_fr",)), ["e1", "e2"]),
    "one kind": (EventFilter(kinds=("edit",)), ["e2"]),
    "a field an edit changed": (EventFilter(reasons=("title",)), ["e2"]),
    "a takedown reason": (EventFilter(reasons=("redirect_home", "gone")), ["e3", "e1"]),
    "observed in a date range": (EventFilter(date_from=date(2025, 1, 1), date_to=date(2025, 12, 31)), ["e3"]),
    "the capture before or the one that observed": (EventFilter(capture="c3"), ["e2"]),
    "an address prefix": (EventFilter(url="https://www.aa.com.tr/"), ["e3"]),
}


@pytest.mark.parametrize(("f", "ids"), EVENT_CASES.values(), ids=EVENT_CASES.keys())
def test_event_filters(f: EventFilter, ids: list[str]) -> None:
    assert [r["event_id"] for r in select_events(EVENTS, f)] == ids


def _lk(lid: str, rep: str, orig: str, **kw: Any) -> dict[str, Any]:
    base = {"link_id": lid, "kind": "syndication", "republished": rep, "original": orig, "republished_source": "blog",
            "original_source": "rt_fr", "republished_url": f"https://blog/{rep}", "original_url": f"https://rt/{orig}",
            "republished_published": "2017-06-10T08:00:00Z", "original_published": "2017-06-09T06:00:00Z",
            "similarity": 0.9}  # fmt: skip
    return base | kw


LINKS = [
    _lk("l1", "b1", "o1"),
    _lk("l2", "b2", "o2", original_source="aa_fr", similarity=0.5, republished_published="2020-03-01"),
    _lk("l3", "t1", "o1", republished_source="trt_fr", republished_published="2017-06-09T12:00:00Z"),
]
LINKS.append(  # b1 also resembles t1, TRT's copy of o1, published after o1: not b1's original
    _lk("l4", "b1", "t1", original_source="trt_fr", original_published="2017-06-09T12:00:00Z")
)
LINK_CASES: dict[str, tuple[LinkFilter, list[str]]] = {
    "everything, by republication date": (LinkFilter(), ["l3", "l1", "l2"]),
    "either side's source": (LinkFilter(sources=("aa_fr",)), ["l2"]),
    "the republishing source": (LinkFilter(republished_sources=("trt_fr",)), ["l3"]),
    "the original's source": (LinkFilter(original_sources=("rt_fr",)), ["l3", "l1"]),
    "similar enough": (LinkFilter(min_similarity=0.6), ["l3", "l1"]),
    "republished in a date range": (LinkFilter(date_from=date(2017, 6, 10), date_to=date(2017, 12, 31)), ["l1"]),
    "every similar earlier text": (LinkFilter(republished_sources=("blog",), every_pair=True), ["l1", "l4", "l2"]),
    "one capture, either side": (LinkFilter(capture="o1"), ["l3", "l1"]),
}


@pytest.mark.parametrize(("f", "ids"), LINK_CASES.values(), ids=LINK_CASES.keys())
def test_link_filters(f: LinkFilter, ids: list[str]) -> None:
    assert [r["link_id"] for r in select_links(LINKS, f)] == ids


def test_a_captures_card_says_which_way_each_link_goes() -> None:
    card = of_capture(EVENTS, LINKS, "o1")
    assert [(lk["role"], lk["capture_id"], lk["source_id"]) for lk in card["links"]] == [
        ("republished as", "t1", "trt_fr"),
        ("republished as", "b1", "blog"),
    ]
    assert [e["event_id"] for e in of_capture(EVENTS, LINKS, "c1")["events"]] == ["e1"]
    assert of_capture(EVENTS, LINKS, "b1")["links"][0]["role"] == "republication of"


NOW = {"a": "2017-06-10T11:20:00+00:00", "b": "2017-06-09T06:42:00+00:00", "d": "2017-06-07T14:05:00+00:00"}
VANISHED: dict[str, tuple[Mapping[str, str | None], Mapping[str, str | None], dict[str, tuple[str, str]]]] = {
    "dropped between its neighbours": ({**NOW, "c": "2017-06-08T09:30:00+00:00"}, NOW, {"c": ("d", "b")}),
    "rolled off the end (older than all listed)": ({**NOW, "e": "2017-06-01T00:00:00+00:00"}, NOW, {}),
    "newer than all listed (a listing cut short)": ({**NOW, "f": "2017-06-11T00:00:00+00:00"}, NOW, {}),
    "still listed": (NOW, NOW, {}),
    "undated before": ({**NOW, "g": None}, NOW, {}),
    "a listing of one article cannot say": ({"x": "2017-06-08T00:00:00+00:00", "y": "2017-06-09T00:00:00+00:00"},
                                            {"y": "2017-06-09T00:00:00+00:00"}, {}),
}  # fmt: skip


@pytest.mark.parametrize(("before", "now", "gone"), VANISHED.values(), ids=VANISHED.keys())
def test_an_article_vanished_from_a_listing_that_still_holds_its_neighbours(
    before: Mapping[str, str | None], now: Mapping[str, str | None], gone: dict[str, tuple[str, str]]
) -> None:
    assert vanished(before, now) == gone


def test_listings_are_read_from_the_crawl_log() -> None:
    rows: list[dict[str, Any]] = [
        {"url": "https://x/feed", "outcome": "fetched", "kind": "feed", "listed": [["https://x/a", "2017"]]},
        {"url": "https://x/big-sitemap", "outcome": "fetched", "kind": "sitemap"},  # too long to be listed
        {"url": "https://x/feed2", "outcome": "failed", "kind": "feed", "reason": "HTTP 500"},
        {"url": "https://x/a", "outcome": "archived", "kind": "article"},
    ]
    assert {u: v["items"] for u, v in listings(rows).items()} == {"https://x/feed": {"https://x/a": "2017"}}


def _sig(cid: str, lang: str, urls: list[str], names: list[str]) -> dict[str, Any]:
    return {"capture_id": cid, "language": lang, "urls": urls, "translations": names}


EN, ES, DE = "https://www.rt.com/a", "https://actualidad.rt.com/a", "https://de.rt.com/a"
EDITION_CASES: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]], set[tuple[str, str]]]] = {
    "the new page names a stored edition": ([_sig("es", "es", [ES], [EN])], [_sig("en", "en", [EN], [])],
                                            {("en", "es")}),
    "a stored page names the new one": ([_sig("es", "es", [ES], [])], [_sig("en", "en", [EN], [ES])], {("en", "es")}),
    "named both ways: one pair": ([_sig("es", "es", [ES], [EN])], [_sig("en", "en", [EN], [ES])], {("en", "es")}),
    "an edition not archived": ([_sig("es", "es", [ES], [DE])], [_sig("en", "en", [EN], [])], set()),
    "the same language (a mirror's canonical)": ([_sig("m", "de", ["https://rtde.site/a", DE], [DE])],
                                                 [_sig("de", "de", [DE], [])], set()),
    "two stored pages: not this run's business": ([_sig("x", "fr", ["https://x/"], [])],
                                                  [_sig("en", "en", [EN], [ES]), _sig("es", "es", [ES], [EN])], set()),
}  # fmt: skip


@pytest.mark.parametrize(("new", "stored", "pairs"), EDITION_CASES.values(), ids=EDITION_CASES.keys())
def test_editions_named_by_their_pages(
    new: list[dict[str, Any]], stored: list[dict[str, Any]], pairs: set[tuple[str, str]]
) -> None:
    assert translation_pairs(new, stored) == pairs


def test_a_canonical_on_another_site_names_an_edition() -> None:
    row = {"capture_id": "c", "source_id": "rt_de", "status": "ok", "text": "kurz", "language": "de",
           "requested_url": DE, "final_url": DE, "canonical_url": EN, "translations": []}  # fmt: skip
    mirror = {**row, "final_url": "https://rtde.site/a", "canonical_url": DE}
    assert signature_rows([row])[0]["translations"] == [EN]
    assert signature_rows([mirror])[0]["translations"] == [DE]  # kept; the language rule decides
