"""The reading room's pure parts, by tables of cases: citations, replay rewriting, coverage."""

from __future__ import annotations

from typing import Any

import pytest

from researcher import coverage
from researcher.cite import bibtex, citation, csl_json
from researcher.replay import rewrite

ROW: dict[str, Any] = {
    "capture_id": "0123456789abcdef01234567",
    "source_id": "rt_fr",
    "title": "Les États-Unis frappent à nouveau : 50 % des {forces}",
    "authors": ["Jean Dupont", "A & B"],
    "published": "2017-06-08T19:30:00+00:00",
    "fetched_at": "2026-11-29T21:50:29.649Z",
    "final_url": "https://francais.rt.com/international/38871-x",
    "payload_sha256": "ab" * 32,
    "language": "fr",
}


def test_citation_line_names_the_archived_copy() -> None:
    line = citation(ROW)
    assert line.startswith("rt_fr. “Les États-Unis frappent")
    for part in ("Published 2017-06-08", ROW["final_url"], ROW["capture_id"], ROW["payload_sha256"]):
        assert part in line


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "  title = {{Les États-Unis frappent à nouveau : 50 \\% des \\{forces\\}}}"),
        ({}, "  author = {Jean Dupont and A \\& B}"),
        ({}, "  date = {2017-06-08}"),
        ({}, "  urldate = {2026-11-29}"),
        ({"published": None}, "@online{rt_fr_nd_01234567"),
        ({"authors": []}, None),  # no author field at all
    ],
)
def test_bibtex(changes: dict[str, Any], expected: str | None) -> None:
    bib = bibtex(ROW | changes)
    assert bib.startswith("@online{rt_fr_") and bib.endswith("}\n")
    if expected is None:
        assert "author =" not in bib
    else:
        assert expected in [line.rstrip(",") for line in bib.splitlines()]


@pytest.mark.parametrize(
    ("changes", "key", "expected"),
    [
        ({}, "issued", {"date-parts": [[2017, 6, 8]]}),
        ({}, "accessed", {"date-parts": [[2026, 11, 29]]}),
        ({}, "author", [{"literal": "Jean Dupont"}, {"literal": "A & B"}]),
        ({"published": None}, "issued", None),
        ({"authors": []}, "author", None),
        ({}, "type", "article-newspaper"),
    ],
)
def test_csl_json(changes: dict[str, Any], key: str, expected: Any) -> None:
    assert csl_json(ROW | changes).get(key) == expected


PAGE = "https://www.aa.com.tr/fr/monde/x/1"


@pytest.mark.parametrize(
    ("html", "present", "absent"),
    [
        ('<a href="/fr/monde">M</a>', 'href="/go?url=https%3A%2F%2Fwww.aa.com.tr%2Ffr%2Fmonde"', 'href="/fr/monde"'),
        ('<a href="https://twitter.com/x" target="_blank">t</a>', "/go?url=https%3A%2F%2Ftwitter.com%2Fx", "_blank"),
        ('<base href="https://cdn.example/"><a href="y">y</a>', "/go?url=https%3A%2F%2Fcdn.example%2Fy", "<base"),
        ('<meta http-equiv="refresh" content="0;url=https://live.example/"><p>x</p>', "<p>x</p>", "live.example"),
        ('<a href="javascript:alert(1)">j</a>', "<a>j</a>", "javascript:"),
        ('<a href="#top">t</a>', 'href="#top"', "/go?"),
        ("<map><area href='/a' alt='a'></map>", "/go?url=https%3A%2F%2Fwww.aa.com.tr%2Fa", 'href="/a"'),
    ],
)
def test_replay_keeps_every_link_in_the_archive(html: str, present: str, absent: str) -> None:
    out = rewrite(f"<html><head></head><body>{html}</body></html>".encode(), "text/html; charset=utf-8", PAGE).decode()
    assert present in out and absent not in out


def test_replay_decodes_the_declared_charset() -> None:
    body = "<html><body><p>Déclaration</p></body></html>".encode("cp1252")
    out = rewrite(body, "text/html; charset=windows-1252", PAGE)
    assert "Déclaration" in out.decode("utf-8") and b'<meta charset="utf-8">' in out


@pytest.mark.parametrize(
    ("counts", "reports", "gaps", "uncovered"),
    [
        ({}, [], [], []),
        # two runs covered 01-02: one found it short, the other did not -> not a gap
        (
            {"2020-01-01": {"ok": 3}, "2020-01-03": {"ok": 1}},
            [
                {"coverage": {"2020-01-01": {"probable_gap": False}, "2020-01-02": {"probable_gap": True}}},
                {"coverage": {"2020-01-02": {"probable_gap": False}}},
            ],
            [],
            ["2020-01-03"],
        ),
        ({"2020-01-01": {"blocked": 1}}, [{"coverage": {"2020-01-01": {"probable_gap": True}}}], ["2020-01-01"], []),
        # a day nobody covered, between covered days, is listed (and shown hatched)
        (
            {"2020-01-01": {"ok": 1}, "2020-01-04": {"ok": 1}},
            [],
            [],
            ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"],
        ),
    ],
)
def test_coverage_merge(
    counts: dict[str, dict[str, int]], reports: list[dict[str, Any]], gaps: list[str], uncovered: list[str]
) -> None:
    days = coverage.merge(counts, reports)
    assert [d.day for d in days] == sorted({d.day for d in days})  # contiguous, oldest first
    assert [d.day for d in days if d.probable_gap] == gaps
    assert [d.day for d in days if d.uncovered] == uncovered
    if days:
        assert "<svg" in coverage.chart_svg(days, "t")
