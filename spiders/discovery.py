"""Parse feeds and sitemaps into candidate article URLs. Pure: bytes in, candidates out.

Sitemaps are parsed with lxml directly (not Scrapy's helper) because Google News
sitemaps keep the publication date in a nested <news:publication_date> element.
Entity expansion and network access are off, so an XML bomb fails fast.
"""

from __future__ import annotations

import calendar
import html
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode, urljoin

import feedparser
from lxml import etree
from parsel import Selector

from storage.errors import PermanentError

SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
NEWS_NS = "{http://www.google.com/schemas/sitemap-news/0.9}"
MAX_SITEMAP_ENTRIES = 50_000  # the sitemap protocol's own limit per file


class DiscoveryError(PermanentError):
    """A feed or sitemap that cannot be parsed."""


@dataclass(frozen=True)
class Candidate:
    url: str
    published: datetime | None
    title: str | None
    via: str  # the feed or sitemap URL it was found in
    via_kind: str  # feed | sitemap | news-sitemap | wp-api | archive-page | section-page


@dataclass(frozen=True)
class ChildSitemap:
    url: str
    # the latest moment the index's <lastmod> can mean (a bare date: the end of that day), or None
    modified_by: datetime | None = None


@dataclass(frozen=True)
class SitemapPage:
    children: list[ChildSitemap]  # sitemaps listed by an index
    candidates: list[Candidate]  # article URLs (for a urlset)


def parse_datetime(value: str | None) -> datetime | None:
    """W3C datetime (as sitemaps use) to an aware UTC datetime; a bare date counts as midnight UTC."""
    if not value:
        return None
    value = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _absolute(base: str, loc: str) -> str:
    """A sitemap <loc> made absolute; they almost always are already, and urljoin is most of
    the parsing time of a 50,000-entry sitemap."""
    return loc if loc.startswith(("https://", "http://")) else urljoin(base, loc)


def _latest_meaning(value: str) -> datetime | None:
    """A W3C datetime as the latest moment it can stand for: a bare date is the whole day."""
    parsed = parse_datetime(value)
    if parsed is not None and "T" not in value:
        parsed += timedelta(days=1)
    return parsed


def parse_feed(body: bytes, feed_url: str) -> list[Candidate]:
    parsed = feedparser.parse(body)
    if not parsed.entries and (parsed.bozo or not parsed.get("version")):
        why = parsed.get("bozo_exception") or "no RSS or Atom root element"
        raise DiscoveryError(f"{feed_url}: not a feed: {why}")
    out = []
    for entry in parsed.entries:
        link = entry.get("link")
        if not link:
            continue
        struct = entry.get("published_parsed") or entry.get("updated_parsed")
        published = datetime.fromtimestamp(calendar.timegm(struct), UTC) if struct else None
        out.append(Candidate(urljoin(feed_url, link.strip()), published, entry.get("title"), feed_url, "feed"))
    return out


_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, remove_comments=True
)


def parse_sitemap(body: bytes, sitemap_url: str) -> SitemapPage:
    """A sitemap index (children) or a urlset (candidates, with news dates when present)."""
    try:
        root = etree.fromstring(body, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise DiscoveryError(f"{sitemap_url}: malformed sitemap XML: {exc}") from None
    if root is None:
        raise DiscoveryError(f"{sitemap_url}: empty sitemap")
    tag = etree.QName(root).localname
    if tag == "sitemapindex":
        children = []
        for el in root.iterchildren(f"{SITEMAP_NS}sitemap", "sitemap"):
            loc = (el.findtext(f"{SITEMAP_NS}loc") or el.findtext("loc") or "").strip()
            if loc:
                lastmod = (el.findtext(f"{SITEMAP_NS}lastmod") or el.findtext("lastmod") or "").strip()
                children.append(ChildSitemap(_absolute(sitemap_url, loc), _latest_meaning(lastmod)))
        return SitemapPage(children[:MAX_SITEMAP_ENTRIES], [])
    if tag != "urlset":
        raise DiscoveryError(f"{sitemap_url}: root element <{tag}> is neither <urlset> nor <sitemapindex>")
    out = []
    for url_el in root.iterchildren(f"{SITEMAP_NS}url", "url"):
        loc = url_el.findtext(f"{SITEMAP_NS}loc") or url_el.findtext("loc")
        if not loc or not loc.strip():
            continue
        news = url_el.find(f"{NEWS_NS}news")
        if news is not None:
            published = parse_datetime(news.findtext(f"{NEWS_NS}publication_date"))
            title = (news.findtext(f"{NEWS_NS}title") or "").strip() or None
            kind = "news-sitemap"
        else:
            published = parse_datetime(url_el.findtext(f"{SITEMAP_NS}lastmod") or url_el.findtext("lastmod"))
            title, kind = None, "sitemap"
        out.append(Candidate(_absolute(sitemap_url, loc.strip()), published, title, sitemap_url, kind))
        if len(out) >= MAX_SITEMAP_ENTRIES:
            break
    return SitemapPage([], out)


@dataclass(frozen=True)
class ListingPage:
    candidates: list[Candidate]
    next_url: str | None
    oldest: datetime | None  # the oldest date listed on the page


def parse_section_page(
    html: str, page_url: str, item: str, link: str, date: str, next_selector: str | None
) -> ListingPage:
    """A section listing: each item's link and date (CSS selectors), and the next page's URL."""
    sel = Selector(text=html)
    out = []
    for el in sel.css(item):
        href = el.css(link if "::" in link else f"{link}::attr(href)").get()
        if not href or not href.strip():
            continue
        published = parse_datetime(el.css(date).get())
        out.append(Candidate(urljoin(page_url, href.strip()), published, None, page_url, "section-page"))
    nxt = sel.css(f"{next_selector}::attr(href)").get() if next_selector else None
    dates = [c.published for c in out if c.published]
    return ListingPage(out, urljoin(page_url, nxt.strip()) if nxt else None, min(dates) if dates else None)


WP_PER_PAGE = 100  # the WordPress REST API's own maximum
WP_MAX_PAGES = 200  # 20,000 posts per run window: far beyond any source's daily volume
WP_FIELDS = "id,link,date_gmt,modified_gmt,title"


def wp_posts_url(api: str, start: datetime, end: datetime, page: int = 1) -> str:
    """The REST API query for posts of a window. WordPress compares `after`/`before` with the
    site's local post date, so the query is widened by a day on each side and the window is
    applied to `date_gmt` afterwards."""
    params = {
        "after": (start - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        "before": (end + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S"),
        "per_page": WP_PER_PAGE,
        "page": page,
        "orderby": "date",
        "order": "asc",
        "_fields": WP_FIELDS,
    }
    return f"{api}?{urlencode(params)}"


def parse_wp_posts(body: bytes, api_url: str) -> list[Candidate]:
    """A page of /wp-json/wp/v2/posts: each post's link, GMT publication date and title."""
    try:
        posts = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DiscoveryError(f"{api_url}: not JSON: {exc}") from None
    if not isinstance(posts, list):
        code = posts.get("code") if isinstance(posts, dict) else None
        raise DiscoveryError(f"{api_url}: expected a list of posts, got {code or type(posts).__name__}")
    out = []
    for post in posts:
        if not isinstance(post, dict) or not isinstance(post.get("link"), str):
            continue
        published = parse_datetime(post.get("date_gmt"))  # no offset in the value: UTC by name
        rendered = (post.get("title") or {}).get("rendered") if isinstance(post.get("title"), dict) else None
        title = html.unescape(rendered).strip() if rendered else None
        out.append(Candidate(urljoin(api_url, post["link"].strip()), published, title, api_url, "wp-api"))
    return out
