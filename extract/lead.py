"""The lead (standfirst, chapô, announce text): the summary paragraph a page shows beside its body.

trafilatura keeps the body container and loses a summary that sits in a sibling element
(RT's div.article__summary, Sputnik's announce text). A reader needs it: it is article
text. Found by the profile's lead selectors, else generically: a block whose class names a
summary, or whose text is the page's declared description, placed after the headline.
"""

from __future__ import annotations

import re
from itertools import islice

import lxml.html

from extract.page import PageFacts
from extract.rules import main_block

_LEAD_CLASS = re.compile(
    r"(?:^|[\s_-])(standfirst|summary|lead|lede|chapo|chapeau|chapô|intro|announce(?:-text)?|excerpt|dek|deck"
    r"|subtitle|subheadline|sub-?title|sapo|entradilla|bajada|spot|ozet|özet|anons)(?:$|[\s_-])",
    re.IGNORECASE,
)
_NOT_LEAD = re.compile(
    r"author|bio|comment|asset|media|hero|related|promo|card|teaser|nav|menu|footer|sidebar|widget|video|image|photo|caption|figure"
    r"|share|social|newsletter|cookie|consent|list|item|more|tag|breadcrumb|meta|date|time|rubric|category",
    re.IGNORECASE,
)
_BLOCK_TAGS = ("p", "div", "h2", "h3", "span", "section", "header", "strong", "em", "b")
_FURNITURE_TAGS = ("nav", "aside", "footer", "li", "a", "form", "figure")
MIN_LEAD, MAX_LEAD = 40, 800
HEADLINE_HOPS = 4
BODY_HOPS = 2  # a lead sits within LEAD_HOPS of the main text block, its parent or grandparent,
LEAD_HOPS = 2  # or of the h1's parent or grandparent
_TITLE_PARTS = re.compile(r"\s+[|\-–—:]+\s+")  # "Headline | Section | Site"


def _text(el: lxml.html.HtmlElement) -> str:
    return " ".join(el.text_content().split())


def _plausible(el: lxml.html.HtmlElement) -> bool:
    """Prose of a summary's size, not a list of links or a script, not inside furniture."""
    if el.find(".//script") is not None or el.find(".//h1") is not None:
        return False
    text = _text(el)
    if not MIN_LEAD <= len(text) <= MAX_LEAD or len(text.split()) < 6:
        return False
    links = sum(len(" ".join(a.text_content().split())) for a in el.iter("a"))
    if links > 0.3 * len(text):
        return False
    return all(anc.tag not in _FURNITURE_TAGS for anc in el.iterancestors())


def _norm(s: str) -> str:
    return " ".join(s.split()).rstrip(" .…").lower()


def find_lead(
    tree: lxml.html.HtmlElement,
    facts: PageFacts,
    profile_leads: list[lxml.html.HtmlElement],
    *,
    by_class: bool = True,
    by_description: bool = True,
) -> str | None:
    """The lead's text, or None. Call before pruning: some templates put it in a header that a
    generic rule would remove with the share bar."""
    for el in profile_leads:
        text = _text(el)
        if len(text) >= MIN_LEAD // 2:
            return text
    if not (by_class or by_description):
        return None
    after = facts.h1[0].sourceline if len(facts.h1) == 1 and facts.h1[0].sourceline else None
    # a summary named by its class must sit in the headline's block: within HEADLINE_HOPS
    # ancestors of the element there is one that also holds the h1 (and is not the body)
    headline_blocks = {
        anc for h in facts.h1 for anc in islice(h.iterancestors(), HEADLINE_HOPS) if anc.tag not in ("body", "html")
    }
    headlines = [
        _norm(part)
        for h in (facts.h1[0].text_content() if facts.h1 else None, facts.first("og:title"), facts.title_tag)
        for part in _TITLE_PARTS.split(h or "")
        if len(_norm(part)) > 10
    ]
    near_body: set[lxml.html.HtmlElement] | None = None  # the main text block's near ancestors, when needed
    # the headline's container and the one above it: a lead beside the h1 sits in one of them
    headline_near = {anc for h in facts.h1 for anc in islice(h.iterancestors(), 2)} - {tree, tree.find("body")}
    declared = [
        " ".join(d.split())
        for d in (facts.first("og:description"), facts.first("description"), facts.json_ld.get("description"))
        if isinstance(d, str) and len(d) >= MIN_LEAD
    ]
    descriptions = {_norm(d) for d in declared} if by_description else set()
    prefixes = tuple(d[:25] for d in descriptions)
    for el in tree.iter(*_BLOCK_TAGS):
        cls = f"{el.get('class') or ''} {el.get('id') or ''}"
        named = (
            by_class
            and bool(_LEAD_CLASS.search(cls))
            and not _NOT_LEAD.search(cls)
            and any(anc in headline_blocks for anc in islice(el.iterancestors(), HEADLINE_HOPS))
        )
        # or the text starts where a description starts: cheap, no text_content() per div
        if not named and not (prefixes and el.text and _norm(el.text).startswith(prefixes)):
            continue
        if after is not None and el.sourceline is not None and el.sourceline < after:
            continue
        text = _text(el)
        if not MIN_LEAD <= len(text) <= MAX_LEAD or any(h in _norm(text) for h in headlines):
            continue  # a header block holding the headline (and its byline) is not a lead
        declared_here = any(_norm(text) == d or (len(d) > 80 and _norm(text).startswith(d)) for d in descriptions)
        if not (named or declared_here) or not _plausible(el):
            continue
        # a "summary" module or a block repeating the description can be anything the page also
        # shows (a promo, another story's teaser): a lead sits beside the article's main text
        if near_body is None:
            block = main_block(tree)
            near_body = {block, *islice(block.iterancestors(), BODY_HOPS)} if block is not None else set()
            near_body -= {tree, tree.find("body")}
        if any(anc in near_body or anc in headline_near for anc in islice(el.iterancestors(), LEAD_HOPS)):
            return text
    return None
