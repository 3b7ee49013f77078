"""Feeds, sitemaps, listings and the WordPress API -> candidates: plain tables of cases."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from spiders.discovery import (
    Candidate,
    ChildSitemap,
    DiscoveryError,
    parse_datetime,
    parse_feed,
    parse_section_page,
    parse_sitemap,
    parse_wp_posts,
    wp_posts_url,
)
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
    body = (SITES_DIR / "aa" / "sitemap.xml").read_bytes()
    page = parse_sitemap(body, "https://www.aa.com.tr/sitemap.xml")
    assert page.children == [ChildSitemap("https://www.aa.com.tr/sitemap/fr/2020-02.xml")] and page.candidates == []


@pytest.mark.parametrize(
    ("lastmod", "modified_by"),
    [
        ("<lastmod>2022-03-31T23:00:00+00:00</lastmod>", datetime(2022, 3, 31, 23, tzinfo=UTC)),
        ("<lastmod>2022-03-31T23:00:00+02:00</lastmod>", datetime(2022, 3, 31, 21, tzinfo=UTC)),
        ("<lastmod>2022-03-31</lastmod>", datetime(2022, 4, 1, tzinfo=UTC)),  # any time that day
        ("<lastmod>last week</lastmod>", None),
        ("", None),
    ],
)
def test_sitemap_index_children_carry_their_lastmod(lastmod: str, modified_by: datetime | None) -> None:
    body = (
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>/sitemap-2022-03.xml</loc>{lastmod}</sitemap></sitemapindex>"
    ).encode()
    (child,) = parse_sitemap(body, "https://example.org/sitemap.xml").children
    assert child == ChildSitemap("https://example.org/sitemap-2022-03.xml", modified_by)


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


API = "https://blog.example/wp-json/wp/v2/posts"


def test_wordpress_api_posts_give_links_gmt_dates_and_titles() -> None:
    body = (SITES_DIR / "lesmoutonsenrages" / "wp-posts.json").read_bytes()
    posts = parse_wp_posts(body, API)
    assert len(posts) == 4 and {p.via_kind for p in posts} == {"wp-api"}
    first = posts[0]
    assert first.published == datetime(2016, 9, 16, 7, 45, tzinfo=UTC)  # date_gmt, not the local date
    assert first.title == "Alep\xa0: les rebelles rejettent la trêve"  # HTML entities decoded
    assert first.url.startswith("https://lesmoutonsenrages.fr/2016/09/16/")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>Error establishing a database connection</html>", "not JSON"),
        (b'{"code": "rest_post_invalid_page_number", "data": {"status": 400}}', "rest_post_invalid_page_number"),
        (b'"just a string"', "expected a list of posts, got str"),
    ],
)
def test_bad_wordpress_api_answers(body: bytes, message: str) -> None:
    with pytest.raises(DiscoveryError, match=message):
        parse_wp_posts(body, API)


def test_wordpress_api_entries_without_links_are_ignored() -> None:
    assert parse_wp_posts(b'[{"id": 1}, {"link": 5}, "x", {"link": "/a", "date_gmt": "2020-01-01T00:00:00"}]', API) == [
        Candidate("https://blog.example/a", datetime(2020, 1, 1, tzinfo=UTC), None, API, "wp-api")
    ]


def test_wordpress_api_query_widens_the_window_by_a_day() -> None:
    url = wp_posts_url(API, datetime(2016, 9, 16, tzinfo=UTC), datetime(2016, 9, 17, tzinfo=UTC), page=3)
    query = parse_qs(urlsplit(url).query)
    assert query["after"] == ["2016-09-15T00:00:00"] and query["before"] == ["2016-09-18T00:00:00"]
    assert query["page"] == ["3"] and query["per_page"] == ["100"] and "date_gmt" in query["_fields"][0]


def test_section_page_lists_dated_items_and_the_next_page() -> None:
    html = (SITES_DIR / "trt_world" / "middle-east-page-2.html").read_text(encoding="utf-8")
    page = parse_section_page(
        html,
        "https://www.trtworld.com/middle-east?page=2",
        "article.card",
        "a.card__link",
        "time::attr(datetime)",
        "a.pagination__next",
    )
    base = "https://www.trtworld.com/middle-east/"
    assert [(c.url, c.published) for c in page.candidates] == [
        (base + "lebanon-fuel-shortage-hospitals-55800", datetime(2022, 3, 29, 7, 45, tzinfo=UTC)),
        (base + "idlib-ceasefire-holds-55790", datetime(2022, 3, 28, 9, tzinfo=UTC)),
    ]  # the sidebar's "most read" link is not an item of the listing
    assert page.next_url == "https://www.trtworld.com/middle-east?page=3"
    assert page.oldest == datetime(2022, 3, 28, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("html", "urls", "oldest"),
    [
        ('<div class="i"><a href="/a">A</a></div>', [("https://x.org/a", None)], None),  # undated: recorded later
        ('<div class="i"><a>no link</a><time datetime="2022-01-01T00:00:00Z"></time></div>', [], None),
        ('<div class="i"><a href=" /b ">B</a><time datetime="soon"></time></div>', [("https://x.org/b", None)], None),
        ("<p>no items</p>", [], None),
    ],
)
def test_section_page_odd_items(html: str, urls: list[tuple[str, datetime | None]], oldest: datetime | None) -> None:
    page = parse_section_page(html, "https://x.org/s", "div.i", "a", "time::attr(datetime)", "a.next")
    assert [(c.url, c.published) for c in page.candidates] == urls
    assert page.oldest == oldest and page.next_url is None
