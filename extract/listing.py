"""Is this capture a listing (homepage, section, tag or "latest" page) rather than an article?

A refused article is a hole in the archive nobody sees (it never reaches search); a listing
kept as an article costs a flagged document. So a page is refused only on strong,
independent evidence, and every weaker sign becomes a `maybe_listing` flag on a kept page:

Refused (NotAnArticle):
- `home`: the address is a site's or a language edition's root, or one the source's
  profile names as an index (its section pages), and the page does not say it is an article;
- `index`: all three of: no article markup (JSON-LD article, og:type=article, an article
  publication time, or an <article> holding a long paragraph); many headline links in
  same-shaped blocks (sibling <li>/<div>/<article> items of one class); and no run of prose
  of an article's length in the extracted text.

Flagged only (`maybe_listing:<signal>`): `teasers` (lines cut off with an ellipsis),
`link-titles` (most of the text is link titles), `headlines` (well over a hundred headline
links beside few paragraphs), `declared` (JSON-LD CollectionPage/ItemList and link titles).
Each signal has a name so `make bench-quality` can measure it (NoiseRules.without).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
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
# same-shaped link blocks: a group is at least GROUP sibling items of one tag and class, each
# holding a headline link; an index has at least MANY_BLOCKS items in such groups
GROUP = 4
MANY_BLOCKS = 12
ITEM_HOPS = 3
ITEM_TAGS = frozenset({"li", "article", "div", "section", "tr", "dd", "dt", "h2", "h3", "h4", "p", "td"})
ARTICLE_RUN = 200  # characters of consecutive prose lines: two sentences, the shortest dispatch
PROSE_LINE = 40
# the more the page is a grid of links, the more prose it takes to be an article: every block
# past MANY_BLOCKS raises the run required by RUN_PER_BLOCK characters, up to MAX_RUN
RUN_PER_BLOCK = 2
MAX_RUN = 800
_ROOT = re.compile(r"^/?([a-z]{2}(-[a-z]{2})?/?)?(index\.(html?|php))?$", re.IGNORECASE)
_CUT = ("…", "...", "[…]", "(…)")

REFUSING = ("home", "index")
FLAGGING = ("teasers", "link-titles", "headlines", "declared")


@dataclass(frozen=True)
class Verdict:
    """What the listing check found: `refuse` is why the page is not an article (None for an
    article); `flags` the weaker signs on a kept page, as `maybe_listing:<signal>`."""

    refuse: str | None = None
    flags: tuple[str, ...] = ()


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
    linked = sum(len(line) for line in lines if _linked(line, exact, heads))
    return linked / total


def _linked(line: str, exact: set[str], heads: set[str]) -> bool:
    return line in exact or (len(line) >= PREFIX and line[:PREFIX] in heads)


def is_root(url: str) -> bool:
    """https://site/, https://site/fr/, https://site/index.html: a homepage's address."""
    parts = urlsplit(url)
    return not parts.query and bool(_ROOT.match(parts.path))


def link_blocks(tree: lxml.html.HtmlElement) -> int:
    """Headline links that sit in same-shaped blocks: items (li, div, article...) of one tag
    and class under one parent, at least GROUP of them, each holding a headline link."""
    # elements themselves as keys, not id(): lxml makes a proxy per access, and an id() may be
    # reused once a proxy is collected; holding them keeps one proxy per node
    groups: dict[tuple[lxml.html.HtmlElement, str, str], set[lxml.html.HtmlElement]] = {}
    for a in tree.iter("a"):
        if len(a.text_content().split()) < MIN_ANCHOR_WORDS:
            continue
        item = a
        for _ in range(ITEM_HOPS):
            parent = item.getparent()
            if parent is None:
                break
            item = parent
            if item.tag in ITEM_TAGS:
                break
        container = item.getparent()
        if container is None:
            continue
        key = (container, str(item.tag), item.get("class") or "")
        groups.setdefault(key, set()).add(item)
    return sum(len(items) for items in groups.values() if len(items) >= GROUP)


def required_run(blocks: int) -> int:
    """Characters of prose a page with `blocks` headline links in same-shaped blocks needs to be
    an article: two sentences beside a related-links box, a real body beside a homepage's grid."""
    return min(MAX_RUN, ARTICLE_RUN + RUN_PER_BLOCK * max(0, blocks - MANY_BLOCKS))


def prose_run(lines: list[str], anchors: list[str]) -> int:
    """Characters in the longest run of consecutive prose lines: not a link title, not a
    teaser cut off with an ellipsis, at least PROSE_LINE characters."""
    exact = set(anchors)
    heads = {a[:PREFIX] for a in anchors if len(a) >= PREFIX}
    best = run = 0
    for line in lines:
        if len(line) >= PROSE_LINE and not line.endswith(_CUT) and not _linked(line, exact, heads):
            run += len(line)
            best = max(best, run)
        else:
            run = 0
    return best


def _marked(tree: lxml.html.HtmlElement, facts: PageFacts) -> bool:
    """Article markup: what the page declares, or an <article> holding a long paragraph."""
    if facts.marked_article:
        return True
    return any(len(p.text_content()) > PARAGRAPH for art in tree.iter("article") for p in art.iter("p"))


def _weak_signals(
    lines: list[str], tree: lxml.html.HtmlElement, facts: PageFacts, marked: bool, anchors: Callable[[], list[str]]
) -> list[tuple[str, str]]:
    """(signal, why) for each weaker sign of a listing."""
    out = []
    if len(lines) >= MIN_TEASERS:
        cut = sum(1 for line in lines if len(line) >= TEASER_LENGTH and line.endswith(_CUT))
        if cut >= MIN_TEASERS and cut >= TEASER_SHARE * len(lines):
            out.append(("teasers", f"{cut} of {len(lines)} lines are teasers cut off with an ellipsis"))
    if not marked:
        links = len(anchors())
        if links >= MANY_HEADLINES:
            paragraphs = sum(1 for p in tree.iter("p") if len(p.text_content()) > PARAGRAPH)
            if paragraphs <= FEW_PARAGRAPHS:
                out.append(("headlines", f"{links} headline links and {paragraphs} paragraph(s) of prose"))
    if len(lines) >= MIN_LINES and sorted(map(len, lines))[len(lines) // 2] <= MAX_MEDIAN_LINE:
        share = listing_share(lines, anchors())
        if share >= (LISTING_SHARE if marked else UNMARKED_SHARE):
            out.append(("link-titles", f"{share:.0%} of the text is link titles ({len(lines)} lines)"))
        elif not marked and facts.ld_types & LISTING_TYPES and share >= UNMARKED_SHARE / 2:
            kinds = ", ".join(sorted(facts.ld_types & LISTING_TYPES))
            out.append(("declared", f"the page declares itself {kinds} and {share:.0%} of the text is link titles"))
    return out


def judge(
    lines: list[str],
    tree: lxml.html.HtmlElement,
    facts: PageFacts,
    url: str,
    *,
    index_urls: frozenset[str] = frozenset(),
    without: frozenset[str] = frozenset(),
) -> Verdict:
    """Whether the page (tree: as extracted) is a listing, and the weaker signs if it is kept."""
    anchors = cache(lambda: anchor_texts(tree))  # several signals may need them: walked once, if at all
    marked = _marked(tree, facts)
    if not marked and "listing:home" not in without:
        if is_root(url):
            return Verdict("listing: the site's home page (root address, not marked as an article)")
        if url in index_urls:
            return Verdict("listing: an index page the source's profile names (not marked as an article)")
    if not marked and "listing:index" not in without:
        blocks = link_blocks(tree)
        if blocks >= MANY_BLOCKS:
            run = prose_run(lines, anchors())
            if run < required_run(blocks):
                return Verdict(
                    f"listing: no article markup, {blocks} headline links in same-shaped blocks, "
                    f"and no run of prose of an article's length (longest {run} characters)"
                )
    flags = tuple(
        f"maybe_listing:{signal}"
        for signal, _ in _weak_signals(lines, tree, facts, marked, anchors)
        if f"listing:{signal}" not in without
    )
    return Verdict(None, flags)
