"""Is this capture a listing (homepage, section, tag or "latest" page) rather than an article?

Whatever path led to it (a sitemap that lists sections, a redirect to the homepage), a page
whose extracted "text" is a column of headlines is an index, not an article. Signals, any
one of which decides (each tuned to refuse no article of the real-page corpus):
- the address is a site's or a language edition's root, and the page does not say it is an
  article (JSON-LD, og:type, article:published_time);
- most of the extracted text is the titles of links on the page;
- the lines are teasers: many of them sentences cut off with an ellipsis;
- the page does not say it is an article, links to well over a hundred headlines and has
  hardly a paragraph of prose.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from urllib.parse import urlsplit

import lxml.html

from extract.page import LISTING_TYPES, PageFacts

MIN_ANCHOR_WORDS = 3
MIN_LINES = 6
PREFIX = 30
MAX_MEDIAN_LINE = 200  # a listing's lines are headlines (and short teasers); an article's are paragraphs
LISTING_SHARE = 0.6  # of the text's characters in link titles, for a page that says it is an article
UNMARKED_SHARE = 0.35  # the same for a page that does not say it is an article
TEASER_SHARE = 0.4  # of the lines cut off with an ellipsis
MIN_TEASERS = 3
TEASER_LENGTH = 80  # a sentence cut off mid-way, not a heading styled "Eating & Drinking..."
MANY_HEADLINES = 150  # links with headline-length text
FEW_PARAGRAPHS = 3  # paragraphs of more than PARAGRAPH characters
PARAGRAPH = 150
_ROOT = re.compile(r"^/?([a-z]{2}(-[a-z]{2})?/?)?(index\.(html?|php))?$", re.IGNORECASE)
_CUT = ("…", "...", "[…]", "(…)")


def anchor_texts(tree: lxml.html.HtmlElement) -> list[str]:
    """Normalised texts of the page's links long enough to be headlines."""
    out = []
    for a in tree.iter("a"):
        text = " ".join(a.text_content().split())
        if len(text.split()) >= MIN_ANCHOR_WORDS:
            out.append(text)
    return out


def listing_share(lines: list[str], anchors: list[str]) -> float:
    total = sum(len(line) for line in lines)
    if not total:
        return 0.0
    exact = set(anchors)
    heads = {a[:PREFIX] for a in anchors if len(a) >= PREFIX}
    # a line that is a link title, or starts with one (a headline followed by its teaser)
    linked = sum(len(line) for line in lines if line in exact or (len(line) >= PREFIX and line[:PREFIX] in heads))
    return linked / total


def is_root(url: str) -> bool:
    """https://site/, https://site/fr/, https://site/index.html: a homepage's address."""
    parts = urlsplit(url)
    return not parts.query and bool(_ROOT.match(parts.path))


def _page_signal(
    lines: list[str], tree: lxml.html.HtmlElement, facts: PageFacts, url: str, anchors: Callable[[], list[str]]
) -> str | None:
    marked = facts.marked_article
    if not marked and is_root(url):
        return "the site's home page (root address, not marked as an article)"
    if len(lines) >= MIN_TEASERS:
        cut = sum(1 for line in lines if len(line) >= TEASER_LENGTH and line.endswith(_CUT))
        if cut >= MIN_TEASERS and cut >= TEASER_SHARE * len(lines):
            return f"{cut} of {len(lines)} lines are teasers cut off with an ellipsis"
    if not marked:
        links = len(anchors())
        paragraphs = sum(1 for p in tree.iter("p") if len(p.text_content()) > PARAGRAPH)
        if links >= MANY_HEADLINES and paragraphs <= FEW_PARAGRAPHS:
            return f"{links} headline links and {paragraphs} paragraph(s) of prose"
    return None


def _text_signal(lines: list[str], facts: PageFacts, anchors: Callable[[], list[str]]) -> str | None:
    if len(lines) < MIN_LINES or sorted(map(len, lines))[len(lines) // 2] > MAX_MEDIAN_LINE:
        return None  # an article's paragraphs, not a column of headlines
    marked = facts.marked_article
    share = listing_share(lines, anchors())
    if share >= (LISTING_SHARE if marked else UNMARKED_SHARE):
        return f"{share:.0%} of the text is link titles ({len(lines)} lines)"
    if not marked and facts.ld_types & LISTING_TYPES and share >= UNMARKED_SHARE / 2:
        kinds = ", ".join(sorted(facts.ld_types & LISTING_TYPES))
        return f"the page declares itself {kinds} and {share:.0%} of the text is link titles"
    return None


def is_listing(lines: list[str], tree: lxml.html.HtmlElement, facts: PageFacts, url: str) -> str | None:
    """Why the page is a listing, or None for an article (tree: the page as extracted)."""
    anchors = cache(lambda: anchor_texts(tree))  # both signals may need them: walked once, if at all
    why = _page_signal(lines, tree, facts, url, anchors) or _text_signal(lines, facts, anchors)
    return f"listing: {why}" if why else None
