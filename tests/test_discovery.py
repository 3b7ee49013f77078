"""Feeds and sitemaps -> candidates: plain tables of cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spiders.discovery import DiscoveryError, parse_datetime, parse_feed, parse_sitemap
from tests.fixtures.server import SITES_DIR


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2017-06-09T06:42:00+00:00", datetime(2017, 6, 9, 6, 42, tzinfo=UTC)),
        ("2017-06-09T08:42:00+02:00", datetime(2017, 6, 9, 6, 42, tzinfo=UTC)),
        ("2017-06-09T06:42:00Z", datetime(2017, 6, 9, 6, 42, tzinfo=UTC)),
        ("2017-06-09", datetime(2017, 6, 9, tzinfo=UTC)),
        ("  2017-06-09 ", datetime(2017, 6, 9, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_datetime(value: str | None, expected: datetime | None) -> None:
    assert parse_datetime(value) == expected


def test_rss_feed_entries_with_dates() -> None:
    body = (SITES_DIR / "rt_fr" / "rss.xml").read_bytes()
    cands = parse_feed(body, "https://francais.rt.com/rss")
    assert len(cands) == 4
    first = cands[0]
    assert first.url.startswith("https://francais.rt.com/international/")
    assert first.published == datetime(2017, 6, 10, 11, 20, tzinfo=UTC)
    assert first.via == "https://francais.rt.com/rss" and first.via_kind == "feed"


def test_relative_feed_links_are_resolved() -> None:
    body = (SITES_DIR / "local" / "feed.xml").read_bytes()
    urls = [c.url for c in parse_feed(body, "http://127.0.0.1:9/feed.xml")]
    assert "http://127.0.0.1:9/articles/good" in urls
    assert "https://example.org/articles/elsewhere" in urls


def test_not_a_feed() -> None:
    with pytest.raises(DiscoveryError, match="not a feed"):
        parse_feed(b"<html><body>hello</body></html>", "https://x.invalid/feed")


def test_google_news_sitemap_gives_publication_dates_and_titles() -> None:
    body = (SITES_DIR / "rt_fr" / "newssitemap.xml").read_bytes()
    page = parse_sitemap(body, "https://francais.rt.com/newssitemap.xml")
    assert page.children == []
    by_url = {c.url: c for c in page.candidates}
    seed = by_url[
        "https://francais.rt.com/international/38871-etats-unis-frappent-nouveau-forces-pro-gouvernementales-syrie-drone"
    ]
    assert seed.published == datetime(2017, 6, 9, 6, 42, tzinfo=UTC)
    assert seed.title and seed.title.startswith("Les Etats-Unis frappent")
    assert seed.via_kind == "news-sitemap"


def test_sitemap_index_lists_children() -> None:
    body = (SITES_DIR / "aa_fr" / "sitemap.xml").read_bytes()
    page = parse_sitemap(body, "https://www.aa.com.tr/sitemap.xml")
    assert page.children == ["https://www.aa.com.tr/sitemap/fr/2020-02.xml"] and page.candidates == []


def test_urlset_uses_lastmod() -> None:
    body = (SITES_DIR / "trt_fr" / "post-sitemap.xml").read_bytes()
    page = parse_sitemap(body, "https://turquie2023.com/post-sitemap.xml")
    assert len(page.candidates) == 4 and all(c.published and c.via_kind == "sitemap" for c in page.candidates)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://x.invalid/&lol4;</loc></url></urlset>"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<urlset><url><loc>http://x.invalid/a</loc></url", "malformed sitemap XML"),
        (b"", "malformed sitemap XML"),
        (b"<html><body>not a sitemap</body></html>", "neither <urlset> nor <sitemapindex>"),
    ],
)
def test_bad_sitemaps(body: bytes, message: str) -> None:
    with pytest.raises(DiscoveryError, match=message):
        parse_sitemap(body, "https://x.invalid/sitemap.xml")


def test_xml_bomb_entities_are_not_expanded() -> None:
    page = parse_sitemap(BOMB, "https://x.invalid/sitemap.xml")
    assert all(len(c.url) < 200 for c in page.candidates)
