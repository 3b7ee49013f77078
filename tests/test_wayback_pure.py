"""The protocols' rules as tables: timestamps, CDX parameters and lines, Memento links."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from researcher.wayback import cdx, memento, timestamps
from researcher.wayback.memento import Memento


def _dt(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc,arg-type]


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2017", _dt(2017, 1, 1), _dt(2017, 12, 31, 23, 59, 59)),
        ("201602", _dt(2016, 2, 1), _dt(2016, 2, 29, 23, 59, 59)),
        ("201612", _dt(2016, 12, 1), _dt(2016, 12, 31, 23, 59, 59)),
        ("20170609", _dt(2017, 6, 9), _dt(2017, 6, 9, 23, 59, 59)),
        ("2017060912", _dt(2017, 6, 9, 12), _dt(2017, 6, 9, 12, 59, 59)),
        ("201706091230", _dt(2017, 6, 9, 12, 30), _dt(2017, 6, 9, 12, 30, 59)),
        ("20170609123015", _dt(2017, 6, 9, 12, 30, 15), _dt(2017, 6, 9, 12, 30, 15)),
    ],
)
def test_timestamps_name_periods(text: str, start: datetime, end: datetime) -> None:
    assert timestamps.parse(text) == start
    assert timestamps.parse(text, end=True) == end


@pytest.mark.parametrize("text", ["", "17", "20171", "2017-06", "20171301", "20170230", "201706091260", "1" * 15])
def test_bad_timestamps(text: str) -> None:
    with pytest.raises(timestamps.BadTimestamp):
        timestamps.parse(text)


def test_http_dates_round_trip() -> None:
    moment = _dt(2017, 6, 9, 12, 30, 15)
    assert timestamps.http_date(moment) == "Fri, 09 Jun 2017 12:30:15 GMT"
    assert timestamps.parse_http_date("Fri, 09 Jun 2017 12:30:15 GMT") == moment
    with pytest.raises(timestamps.BadTimestamp):
        timestamps.parse_http_date("last tuesday")
    assert timestamps.format_ts(timestamps.from_iso("2017-06-09T12:30:15.123456Z")) == "20170609123015"


@pytest.mark.parametrize(
    ("url", "match", "inside", "outside"),
    [
        ("https://www.example.com/a?b=1&a=2", "exact", ["com,example)/a?a=2&b=1"], ["com,example)/a"]),
        ("example.com/news/", "prefix", ["com,example)/news/x", "com,example)/news/"], ["com,example)/new"]),
        ("example.com", "host", ["com,example)/", "com,example)/x"], ["com,example,fr)/", "com,examples)/"]),
        ("example.com", "domain", ["com,example)/", "com,example,fr)/x"], ["com,examples)/", "com,exampla)/"]),
        ("example.com:8080/x", "exact", ["com,example:8080)/x"], ["com,example)/x"]),
    ],
)
def test_key_ranges(url: str, match: str, inside: list[str], outside: list[str]) -> None:
    _, low, high = cdx.key_range(url, match)
    assert all(low <= k < high for k in inside)
    assert not any(low <= k < high for k in outside)


@pytest.mark.parametrize(
    ("params", "check"),
    [
        ({"url": ["example.com/*"]}, lambda q: q.match == "prefix" and q.url == "example.com/"),
        ({"url": ["*.example.com"]}, lambda q: q.match == "domain"),
        ({"url": ["x.org"], "limit": ["-3"]}, lambda q: q.reverse and q.limit == 3),
        ({"url": ["x.org"], "limit": ["-3"], "sort": ["reverse"]}, lambda q: not q.reverse),
        ({"url": ["x.org"], "fl": ["original,statuscode"]}, lambda q: q.fl == ("url", "status")),
        ({"url": ["x.org"], "filter": ["!~mimetype:html"]}, lambda q: q.filters[0].negate and q.filters[0].substring),
        ({"url": ["x.org"], "collapse": ["timestamp:8"]}, lambda q: q.collapse == [("timestamp", 8)]),
        ({"url": ["x.org"], "from": ["2017"], "to": ["2017"]}, lambda q: q.end == _dt(2017, 12, 31, 23, 59, 59)),
    ],
)
def test_parsing(params: dict[str, list[str]], check: object) -> None:
    assert check(cdx.parse(params, cdx.WAYBACK))  # type: ignore[operator]


def test_pywb_ignores_collapse_as_pywb_does() -> None:
    assert cdx.parse({"url": ["x.org"], "collapse": ["urlkey"]}, cdx.PYWB).collapse == []


LINES = [
    {
        "urlkey": "org,x)/a",
        "timestamp": "20170101000000",
        "url": "http://x.org/a",
        "mime": "text/html",
        "status": "200",
    },
    {
        "urlkey": "org,x)/a",
        "timestamp": "20170102000000",
        "url": "http://x.org/a",
        "mime": "text/html",
        "status": "404",
    },
    {
        "urlkey": "org,x)/b",
        "timestamp": "20170103000000",
        "url": "http://x.org/b",
        "mime": "text/plain",
        "status": "200",
    },
]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"filter": ["status:200"]}, ["20170101000000", "20170103000000"]),
        ({"filter": ["!status:200"]}, ["20170102000000"]),
        ({"filter": ["~mimetype:plain"]}, ["20170103000000"]),
        ({"filter": ["status:200", "mime:html"]}, ["20170101000000"]),
        ({"collapse": ["urlkey"]}, ["20170101000000", "20170103000000"]),
        ({"collapse": ["timestamp:6"]}, ["20170101000000"]),
    ],
)
def test_select(params: dict[str, list[str]], expected: list[str]) -> None:
    q = cdx.parse({"url": ["x.org"], "matchType": ["host"], **params}, cdx.WAYBACK)
    assert [x["timestamp"] for x in cdx.select(q, LINES)] == expected


def test_render_forms() -> None:
    wb = cdx.parse({"url": ["x.org"], "output": ["json"], "fl": ["timestamp,original"]}, cdx.WAYBACK)
    body, media = cdx.render(wb, LINES[:1])
    assert json.loads(body) == [["timestamp", "original"], ["20170101000000", "http://x.org/a"]]
    assert media == "application/json"
    pywb = cdx.parse({"url": ["x.org"], "output": ["json"], "fl": ["timestamp,url"]}, cdx.PYWB)
    assert json.loads(cdx.render(pywb, LINES[:1])[0]) == {"timestamp": "20170101000000", "url": "http://x.org/a"}
    text = cdx.parse({"url": ["x.org"]}, cdx.WAYBACK)
    assert cdx.render(text, LINES[:1])[0] == "org,x)/a 20170101000000 http://x.org/a text/html 200 - -\n"
    assert cdx.num_pages(cdx.parse({"url": ["x"], "pageSize": ["2"]}, cdx.WAYBACK), 5)[0] == "3\n"


MS = [Memento(_dt(2017, 1, d), "http://x.org/a") for d in (1, 10, 20)]


@pytest.mark.parametrize(
    ("target", "index"),
    [(None, 2), (_dt(2000, 1, 1), 0), (_dt(2017, 1, 5, 13), 1), (_dt(2017, 1, 5, 12), 0), (_dt(2030, 1, 1), 2)],
)
def test_closest(target: datetime | None, index: int) -> None:
    assert memento.closest(MS, target) == index


def test_link_header_names_neighbours_with_combined_rels() -> None:
    link = memento.links("http://h", "http://x.org/a", MS, 0)
    assert '<http://x.org/a>; rel="original"' in link
    assert '</web/20170101000000/http://x.org/a>; rel="first memento"' in link.replace("http://h", "")
    assert 'rel="next memento"' in link and 'rel="last memento"' in link
    middle = memento.links("http://h", "http://x.org/a", MS, 1)
    assert 'rel="first prev memento"' in middle and 'rel="next last memento"' in middle


def test_timemaps() -> None:
    text = memento.link_timemap("http://h", "http://x.org/a", MS)
    assert text.count("rel=") == 6 and 'from="Sun, 01 Jan 2017 00:00:00 GMT"' in text
    doc = json.loads(memento.json_timemap("http://h", "http://x.org/a", MS))
    assert doc["mementos"]["first"]["datetime"] == "2017-01-01T00:00:00Z" and len(doc["mementos"]["list"]) == 3
