"""One parse of a page and one pass over its head-like elements: the facts every later step reads.

Metadata (JSON-LD, meta tags, canonical and hreflang links, <title>, <h1>, html lang) is read here once,
before pruning and extraction change the tree, so nothing downstream walks the page again
for it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import lxml.html
from lxml.etree import XPath

ARTICLE_TYPES = ("Article", "BlogPosting", "Report", "LiveBlogPosting")
LISTING_TYPES = frozenset({"CollectionPage", "ItemList", "SearchResultsPage", "WebSite", "SiteNavigationElement"})


class UnparseableHtml(ValueError):
    """lxml could not make a tree of the page."""


@dataclass
class PageFacts:
    meta: dict[str, list[str]] = field(default_factory=dict)  # lowercased name/property/itemprop -> contents
    json_ld: dict[str, Any] = field(default_factory=dict)  # the first schema.org *Article object
    ld_types: set[str] = field(default_factory=set)  # every @type the page's JSON-LD declares
    canonical: str | None = None
    alternates: list[str] = field(default_factory=list)  # hrefs of the page's editions in other languages
    html_lang: str | None = None
    title_tag: str | None = None
    h1: list[lxml.html.HtmlElement] = field(default_factory=list)

    def first(self, *names: str) -> str | None:
        for name in names:
            for value in self.meta.get(name, ()):
                return value
        return None

    @property
    def marked_article(self) -> bool:
        """The page says it is an article (JSON-LD, Open Graph or an article publication time)."""
        return bool(self.json_ld) or self.first("og:type") == "article" or bool(self.first("article:published_time"))


# The parser trafilatura uses itself: comments and processing instructions never enter the
# tree (fewer nodes for every later walk), ids are not indexed.
_PARSER = lxml.html.HTMLParser(collect_ids=False, default_doctype=False, remove_comments=True, remove_pis=True)


# The same parser reading UTF-8 bytes: for a page that still carries an XML declaration naming
# an encoding (XHTML), which lxml refuses in a decoded string; the explicit encoding wins.
_UTF8_PARSER = lxml.html.HTMLParser(
    collect_ids=False, default_doctype=False, remove_comments=True, remove_pis=True, encoding="utf-8"
)


def parse(html: str) -> lxml.html.HtmlElement:
    try:
        try:
            return lxml.html.document_fromstring(html, parser=_PARSER)
        except ValueError as exc:
            if "encoding declaration" not in str(exc):
                raise
            return lxml.html.document_fromstring(html.encode("utf-8", "surrogatepass"), parser=_UTF8_PARSER)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise UnparseableHtml(f"unparseable HTML: {exc}") from exc


def _types(item: dict[str, Any]) -> list[str]:
    t = item.get("@type", [])
    return [str(x) for x in (t if isinstance(t, list) else [t])]


def _ld_items(data: Any) -> list[dict[str, Any]]:
    items = data if isinstance(data, list) else [data]
    out: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict):
            out.append(item)
            graph = item.get("@graph")
            if isinstance(graph, list):
                out.extend(x for x in graph if isinstance(x, dict))
            main = item.get("mainEntity")
            if isinstance(main, dict):
                out.append(main)
    return out


_CDATA = re.compile(r"^\s*(//\s*)?<!\[CDATA\[|(//\s*)?\]\]>\s*$")
_TRAILING_COMMA = re.compile(r",\s*([\]}])")


def _json(text: str) -> Any:
    """A JSON-LD block as sites write it: wrapped in CDATA, with trailing commas or raw newlines
    in strings; None if it still does not parse."""
    text = _CDATA.sub("", text.strip())
    for attempt in (text, _TRAILING_COMMA.sub(r"\1", text)):
        try:
            return json.loads(attempt, strict=False)
        except json.JSONDecodeError:
            continue
    return None


def translations_in(item: dict[str, Any]) -> list[str]:
    """The addresses a schema.org work names as its translation or its original
    (translationOfWork, workTranslation): a URL, or an object with url or @id, or a list."""
    out: list[str] = []
    for key in ("translationOfWork", "workTranslation"):
        values = item.get(key)
        for v in values if isinstance(values, list) else [values]:
            ref = v.get("url") or v.get("@id") if isinstance(v, dict) else v
            if isinstance(ref, str) and ref.strip().startswith(("http://", "https://", "/")):
                out.append(ref.strip())
    return out


def read_facts(tree: lxml.html.HtmlElement) -> PageFacts:
    facts = PageFacts(html_lang=(tree.get("lang") or tree.get("xml:lang") or "").strip() or None)
    for el in tree.iter("meta", "link", "title", "h1", "script"):
        tag = el.tag
        if tag == "meta":
            key = (el.get("property") or el.get("name") or el.get("itemprop") or el.get("http-equiv") or "").lower()
            content = (el.get("content") or "").strip()
            if key and content:
                values = facts.meta.setdefault(key, [])
                if content not in values:
                    values.append(content)
        elif tag == "link":
            rel = (el.get("rel") or "").lower().split()
            if facts.canonical is None and "canonical" in rel:
                facts.canonical = (el.get("href") or "").strip() or None
            elif "alternate" in rel and (el.get("hreflang") or "x-default").lower() != "x-default" and el.get("href"):
                facts.alternates.append(el.get("href").strip())
        elif tag == "title":
            if facts.title_tag is None and el.getparent() is not None and el.getparent().tag == "head":
                facts.title_tag = " ".join(el.text_content().split()) or None
        elif tag == "h1":
            facts.h1.append(el)
        elif tag == "script" and (el.get("type") or "").lower() == "application/ld+json":
            data = _json(el.text or "")
            if data is None:
                continue
            for item in _ld_items(data):
                types = _types(item)
                facts.ld_types.update(types)
                if not facts.json_ld and any(t.endswith(ARTICLE_TYPES) for t in types):
                    facts.json_ld = item
                    facts.alternates += translations_in(item)
    if facts.title_tag is None:
        title = tree.find(".//title")
        facts.title_tag = " ".join(title.text_content().split()) or None if title is not None else None
    return facts


# Class or id tokens of containers whose names are not the article's author (a commenter, a
# related article's byline, the logged-in user), matched per token: WordPress puts
# "category-news" on the article and "sidebar-primary" on <body>, which say nothing.
_NOT_BYLINE = re.compile(
    r"^(comments?|comment-?list|commentlist|sidebar|widgets?|related(-\w+)?|promo\w*|footer|share|sharing|login"
    r"|account|user-?menu|is-hidden|quote|print|recent-comments(-\d+)?|meta-date)$",
    re.IGNORECASE,
)


def _furniture(el: lxml.html.HtmlElement) -> bool:
    if el.tag in ("time", "figure", "nav", "footer", "aside", "form"):
        return True
    tokens = f"{el.get('class') or ''} {el.get('id') or ''}".split()
    return any(_NOT_BYLINE.match(t) for t in tokens)


# Byline candidates in one XPath (plain contains(), no EXSLT regex: trafilatura's own author
# XPaths test a regex on every element and cost ~3 ms a page)
_BYLINE = XPath(
    "//*[@rel='author' or @itemprop='author' or contains(@itemprop, 'author') or contains(@class, 'author')"
    " or contains(@class, 'Author') or contains(@class, 'byline') or contains(@class, 'Byline')"
    " or contains(@id, 'author') or contains(@class, 'writer') or contains(@data-component, 'Byline')]"
)
_SPECIFIC = re.compile(r"^(author|byline|author-?name|authorName|AuthorName|article-author|c-byline)$|author-?name")
MAX_BYLINE = 120


def bylines(tree: lxml.html.HtmlElement, limit: int = 5) -> list[str]:
    """Visible byline texts, the most specific markup first (rel/itemprop "author", then a class
    that is exactly "author" or "byline", then any class containing them), outside comments,
    sidebars and related-article boxes."""
    ranked: list[tuple[int, int, str]] = []
    for order, el in enumerate(_BYLINE(tree)):
        if el.tag in ("html", "body", "meta", "link", "script", "style"):
            continue
        chain = [el, *islice(el.iterancestors(), 8)]
        if any(_furniture(a) for a in chain if a.tag not in ("body", "html", "article")):
            continue
        text = " ".join(" ".join(el.itertext()).split())
        if not 2 < len(text) < MAX_BYLINE:
            continue
        if el.get("rel") == "author" or "author" in (el.get("itemprop") or ""):
            rank = 0
        elif any(_SPECIFIC.search(c) for c in (el.get("class") or "").split()):
            rank = 1
        else:
            rank = 2
        ranked.append((rank, order, text))
    return list(dict.fromkeys(text for _, _, text in sorted(ranked)))[:limit]
