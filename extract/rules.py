"""Noise rules: what to strip from a page before and after trafilatura, and where its lead is.

Rules are data (they come from a source profile); this module gives them a type, a
version (so a clean document says exactly which rules made it) and a compiled form built
once per rule set. Generic rules apply to every source; a profile adds what only it knows.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache

import lxml.html
from cssselect import GenericTranslator, SelectorError
from lxml.etree import XPath

# Page furniture that trafilatura does not always recognise on its own.
GENERIC_DROP_SELECTORS: tuple[str, ...] = (
    # consent banners (RT's own, common CMPs)
    "[id*=cookie]",
    "[class*=cookie]",
    "[id*=consent]",
    "[class*=consent]",
    "#didomi-host",
    "#onetrust-consent-sdk",
    "#CybotCookiebotDialog",
    # comment threads and forms (WordPress, Disqus)
    "#comments",
    ".comments-area",
    ".comment-list",
    ".comment-respond",
    "#disqus_thread",
    # share bars, newsletter prompts, related-article and "read also" boxes
    ".sharedaddy",
    ".share-box",
    "[class*=newsletter]",
    ".related-posts",
    ".jp-relatedposts",
    "[class*=read-more]",
    "[class*=readmore]",
    "[class*=read-also]",
    "[class*=lire-aussi]",
    # image captions and credits are not article text
    ".wp-caption-text",
    "figcaption",
)

# Clean-text lines that are furniture whatever the site, in the sources' languages (en, fr,
# es, de, tr, ar, ru). Anchored and bounded in length: an article sentence that merely
# mentions "newsletter" or quotes a "read more" is never a match. Each kind here is also a
# leak flag in extract.quality, so what slips past a rule still shows in the run report.
MAX_TEASER = 90
_READ_ALSO = (
    r"read (also|more)|see also|related|more on this|"
    r"(à |a )?lire (aussi|également)|voir aussi|sur le même (sujet|thème)|"
    r"lea (también|además)|le(e|a) más|ver también|te puede interesar|"
    r"lesen sie (auch|mehr)|mehr zum thema|auch interessant|"
    r"ayrıca (bakınız|okuyun)|ilginizi çekebilir|bunlar da ilginizi|"
    r"читайте (также|еще|ещё)|смотрите также|по теме|"
    r"اقرأ (أيضا|أيضاً|المزيد)|اقرأ ايضا|إقرأ أيضا"
)
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = rf"({_MONTH} \d{{1,2}},? (19|20)\d\d|\d{{1,2}} {_MONTH} (19|20)\d\d)"
_TIME = r"( \d{1,2}[:.]\d\d( ?[ap]\.?m\.?)?( [a-z]{2,4})?)?"
# page tools, alone or several on one line ("E-mail to a friend | Printable version")
_TOOL = (
    r"((e-?mail|send)( (this|the))?( (article|story|page))?( to (a )?friends?)?( by)?( e-?mail)?"
    r"|print(able)?( (version|this (article|story|page)))?|larger text|smaller text|text size|font size"
    r"|reprints?( (&|and) permissions)?|imprimer( cet article)?|envoyer( (à|a) un ami| cet article)?"
    r"|taille du texte|agrandir le texte|réduire le texte)"
)
_SITE_LINK = (
    r"(terms (and|&) conditions|terms of (use|service)|privacy (policy|statement|notice)|contact us|about us"
    r"|site ?map|copyright (and|&) trade ?marks? notice|mentions légales|conditions générales d.utilisation"
    r"|politique de confidentialité)"
)
GENERIC_LINE_PATTERNS: dict[str, tuple[str, ...]] = {
    # "Read also: <headline>" with its separator, or a bare "Read also <headline>" of a headline's length
    "teaser": (
        rf"(?i)^({_READ_ALSO})\s*[:\-–—»|].{{0,200}}$",
        rf"(?i)^({_READ_ALSO})\b.{{0,{MAX_TEASER}}}$",
        r"(?i)^also on [\w.]+\.(com|net|org|tv)\b.{0,200}$",
    ),
    "prompt": (
        r"(?i)^.{0,60}(share this (story|article)|think your friends would be interested)\b.{0,80}$",
        r"(?i)^(partagez|partager) (cet article|cette information|l.article)\b.{0,80}$",
        r"(?i)^(we.d love to get your feedback|send us your feedback|note to readers:).{0,200}$",
        r"(?i)^(passer la publicité|publicité|advertisement|anuncio|werbung|реклама|reklam|إعلان)$",
        r"(?i)^(subscribe|sign up|abonnez-vous|inscrivez-vous|suscríbete|abonnieren sie|abone olun|подпишитесь|اشترك)"
        r"\b.{0,160}(newsletter|bulletin|channel|chaîne|canal|kanal|канал|telegram|email|e-mail|notifications?)\b.{0,80}$",
        r"(?i)^(follow|suivez|síguenos|folgen sie|bizi takip edin|подписывайтесь|تابعونا)\b.{0,40}"
        r"\b(on|sur|en|auf|на|على)?\s*(twitter|x|facebook|telegram|instagram|vk|youtube|tiktok)\b.{0,60}$",
        rf"(?i)^{_TOOL}(\s*[|•·/]\s*{_TOOL})*\s*[.:]?$",
        r"(?i)^(click here to (sign up|subscribe|register)|sign up for .{1,40} free!?$|.{0,60}\bsubscribe (now|today) "
        r"(to|and) save\b).{0,60}$",
        r"(?i)^the full article contains \d+ words\b.{0,120}$",
    ),
    "posted": (
        r"(?i)^(this article was (originally )?(posted|published)( on)?:?|cet article a été publié le)\s.{0,60}$",
        # a dateline left in the text: "Posted on March 1, 2022 at 10:15", "Publié le 01/03/2022"
        r"(?i)^(posted|published|updated|publié|mis à jour|publicado|actualizado|veröffentlicht|aktualisiert"
        r"|yayınlanma|güncellenme|опубликовано|обновлено)( on| le| el| am)?:?\s+\D{0,20}\d.{0,50}$",
        # a line that is only a date (and time), or an agency's dateline: "Associated Press - January 11, 2008"
        rf"(?i)^((the )?(associated press|reuters|afp|agence france-presse|press association|canwest news service"
        rf"|dpa|bloomberg)\s*[-–—|,]\s*)?{_DATE}{_TIME}$",
    ),
    "caption": (
        r"(?i)^(photo|foto|фото|image|illustration|crédit photo|photo credit|featured image|photographer|photographe)"
        r"\s*(:|is from|by|de|par|—|-).{0,160}$",
        r"(?i)^(featured image is from|image credit).{0,160}$",
    ),
    "copyright": (
        r"(?i)^(copyright\s*(©|\(c\))?\s*(19|20)\d\d|©\s*((19|20)\d\d|\w)|\(c\)\s*(19|20)\d\d).{0,160}$",
        r"(?i)^.{0,120}(all rights reserved|tous droits réservés|todos los derechos reservados|alle rechte vorbehalten"
        r"|tüm hakları saklıdır|все права защищены|جميع الحقوق محفوظة)\.?$",
        # the site's legal links, alone or in a row; "Please read our Terms and Conditions ..."
        rf"(?i)^{_SITE_LINK}(\s*[|•·]\s*{_SITE_LINK})*\s*\.?$",
        r"(?i)^please read our (terms|privacy|copyright)\b.{0,160}$",
        r"(?i)^.{0,80}\b(reproduction|republication|redistribution|redissemination)\b.{0,160}\b(prohibited|forbidden"
        r"|interdite?|without (the )?(express(ed)? )?(prior )?written (permission|consent))\b.{0,80}$",
    ),
}


def _anchored_union(patterns: list[str]) -> re.Pattern[str]:
    """All of them as one regex tried at the line's start only (re.match): every generic pattern
    is anchored, and an unanchored union would retry each alternative at every position."""
    alternatives = []
    for p in patterns:
        flags, body = ("i", p.removeprefix("(?i)")) if p.startswith("(?i)") else ("", p)
        if not body.startswith("^"):
            raise ValueError(f"generic line pattern must be anchored at the line start: {p!r}")
        alternatives.append(f"(?{flags}:{body[1:]})" if flags else f"(?:{body[1:]})")
    return re.compile("|".join(alternatives))


GENERIC_LINE_RULES: dict[str, str] = {
    f"line:{kind}:{i}": pattern
    for kind, patterns in GENERIC_LINE_PATTERNS.items()
    for i, pattern in enumerate(patterns)
}


@cache
def _generic_lines(without: frozenset[str]) -> re.Pattern[str] | None:
    """The generic line patterns still in force, as one anchored regex (None if none is)."""
    patterns = [p for name, p in GENERIC_LINE_RULES.items() if name not in without]
    return _anchored_union(patterns) if patterns else None


_DATELINES = _anchored_union(list(GENERIC_LINE_PATTERNS["posted"]))
# A reader comment's timestamp: a run of these marks the thread that follows an article.
RELATIVE_TIME = re.compile(
    r"(?i)^(hace (\d+|una?) (segundos?|minutos?|horas?|días?)|il y a (\d+|une?) (secondes?|minutes?|heures?|jours?)"
    r"|(\d+|an?) (seconds?|minutes?|hours?|days?) ago|vor (\d+|einer?) (Sekunden?|Minuten?|Stunden?|Tagen?)"
    r"|\d+ (saniye|dakika|saat|gün) önce|منذ \d+|\d+ (секунд|минут|час|дн)\w* назад)\b.{0,30}$"
)
COMMENTS_HEADER = re.compile(
    r"(?i)^(\d+ )?(comentar(ios)?|comments?|commentaires?|commenter|kommentare?|yorumlar|yorum yap|комментарии"
    r"|التعليقات|reactions?|réactions?)\b.{0,40}$"
)
MIN_COMMENT_STAMPS = 3


@lru_cache(maxsize=4096)
def _xpath_union(tests: tuple[str, ...]) -> XPath:
    """One compiled XPath for a set of element tests (pages reuse few distinct sets)."""
    return XPath(f"//*[{' or '.join(tests)}]")


@cache
def _translate(selector: str) -> XPath:
    try:
        return XPath(GenericTranslator().css_to_xpath(selector))
    except SelectorError as exc:  # profile validation catches this first
        raise ValueError(f"invalid CSS selector {selector!r}: {exc}") from exc


_SIMPLE = re.compile(
    r"^(?:\.(?P<cls>[\w-]+)|#(?P<id>[\w-]+)|\[(?P<sattr>class|id)\*=[\"']?(?P<sub>[\w-]+)[\"']?\]"
    r"|(?P<tag>[a-z][a-z0-9]*)|\[(?P<attr>[\w-]+)\])$"
)


@dataclass(frozen=True)
class _Matcher:
    """Drop selectors compiled once: the simple forms (.class, #id, [class*=x], [id*=x], tag,
    [attr]) are tested in one walk over the tree, ~6x cheaper than one XPath scan per
    selector; any other selector is an XPath."""

    classes: dict[str, str]
    ids: dict[str, str]
    class_subs: tuple[tuple[str, str], ...]
    id_subs: tuple[tuple[str, str], ...]
    tags: dict[str, str]
    attrs: tuple[tuple[str, str], ...]
    xpaths: tuple[tuple[str, XPath], ...]
    tests: tuple[tuple[str, str], ...]  # (a string the page's source must hold, the XPath test)
    substring_selectors: frozenset[str]  # [class*=x], [id*=x]: the ones that can hit a wrapper

    @classmethod
    def build(cls, selectors: tuple[str, ...]) -> _Matcher:
        classes: dict[str, str] = {}
        ids: dict[str, str] = {}
        tags: dict[str, str] = {}
        class_subs: list[tuple[str, str]] = []
        id_subs: list[tuple[str, str]] = []
        attrs: list[tuple[str, str]] = []
        xpaths: list[tuple[str, XPath]] = []
        for sel in selectors:
            m = _SIMPLE.match(sel.strip())
            if m is None:
                xpaths.append((sel, _translate(sel)))
            elif m["cls"]:
                classes.setdefault(m["cls"], sel)
            elif m["id"]:
                ids.setdefault(m["id"], sel)
            elif m["sattr"]:
                (class_subs if m["sattr"] == "class" else id_subs).append((m["sub"], sel))
            elif m["tag"]:
                tags.setdefault(m["tag"], sel)
            else:
                attrs.append((m["attr"], sel))
        # one XPath over the tree for every simple form: which of its tests are worth running is
        # decided per page on the page's source (`_candidates`)
        tests = (
            # a class as a substring: a superset that is cheap in XPath; matches() decides exactly
            *((c, f"contains(@class, '{c}')") for c in classes),
            *((i, f"@id='{i}'") for i in ids),
            *((sub, f"contains(@class, '{sub}')") for sub, _ in class_subs),
            *((sub, f"contains(@id, '{sub}')") for sub, _ in id_subs),
            *((f"<{t}", f"self::{t}") for t in tags),
            *((a, f"@{a}") for a, _ in attrs),
        )
        substrings = frozenset(sel for _, sel in (*class_subs, *id_subs))
        return cls(
            classes, ids, tuple(class_subs), tuple(id_subs), tags, tuple(attrs), tuple(xpaths), tests, substrings
        )

    def _candidates(self, tree: lxml.html.HtmlElement, source: str | None) -> list[lxml.html.HtmlElement]:
        """Elements some simple selector may match: one XPath of only the tests whose string
        occurs in the page's source (a class name absent from the source matches nothing),
        so a page that holds none of them is not walked at all."""
        lowered = source.lower() if source is not None else None  # a superset: never skips a real match
        tests = tuple(test for needle, test in self.tests if lowered is None or needle.lower() in lowered)
        return _xpath_union(tests)(tree) if tests else []

    def matches(
        self, tree: lxml.html.HtmlElement, source: str | None = None
    ) -> list[tuple[lxml.html.HtmlElement, str]]:
        """(element, the selector that matched it), in document order, then the XPath ones.
        `source`: the page's HTML, to skip the selectors it cannot match."""
        out = []
        for el in self._candidates(tree, source):
            tag = el.tag
            sel = self.tags.get(tag)
            if sel is None:
                klass = el.get("class")
                if klass:
                    sel = next((self.classes[c] for c in klass.split() if c in self.classes), None)
                    if sel is None:
                        sel = next((s for sub, s in self.class_subs if sub in klass), None)
                ident = el.get("id") if sel is None else None
                if ident:
                    sel = self.ids.get(ident) or next((s for sub, s in self.id_subs if sub in ident), None)
                if sel is None and self.attrs:
                    sel = next((s for attr, s in self.attrs if el.get(attr) is not None), None)
            if sel is not None:
                out.append((el, sel))
        for sel, xpath in self.xpaths:
            out.extend((el, sel) for el in xpath(tree))
        return out


MIN_PROSE = 25  # characters: a paragraph shorter than this is a label, not prose
HOLDS = 0.5  # an element inside the main block holding this share of its text holds the block


def main_block(tree: lxml.html.HtmlElement) -> lxml.html.HtmlElement | None:
    """The element holding the page's densest run of prose: each paragraph (<p>, or text broken
    by <br>) adds its length to its parent and half of it to its grandparent (readability's
    scoring, without its class-name guesses), and the best-scored element wins. It is what
    any extractor keeps, so no fuzzy rule may remove it."""
    scores: dict[lxml.html.HtmlElement, float] = {}

    def credit(el: lxml.html.HtmlElement | None, n: int) -> None:
        if el is None:
            return
        scores[el] = scores.get(el, 0.0) + n
        grand = el.getparent()
        if grand is not None:
            scores[grand] = scores.get(grand, 0.0) + n / 2

    for p in tree.iter("p"):
        n = len(p.text_content().strip())
        if n >= MIN_PROSE:
            credit(p.getparent(), n)
    for br in tree.iter("br"):
        n = len((br.tail or "").strip())
        if n >= MIN_PROSE:
            credit(br.getparent(), n)
    return max(scores, key=scores.__getitem__) if scores else None


def holds(el: lxml.html.HtmlElement, block: lxml.html.HtmlElement | None, block_chars: int) -> bool:
    """Whether removing `el` would remove the main text block or most of it."""
    if block is None:
        return False
    if el is block or any(anc is el for anc in block.iterancestors()):
        return True
    return (
        block_chars > 0
        and len(el.text_content()) >= HOLDS * block_chars
        and any(anc is block for anc in el.iterancestors())
    )


def _article_ancestors(tree: lxml.html.HtmlElement) -> set[lxml.html.HtmlElement]:
    """The article's landmarks (first h1, <article>, <main>) and every element above them."""
    out: set[lxml.html.HtmlElement] = set()
    for tag in ("h1", "article", "main"):
        el = tree.find(f".//{tag}")
        if el is not None:
            out.add(el)
            out.update(el.iterancestors())
    return out


# Generic rules that are not selectors or line patterns, by the names the rule table uses.
# (A generic cut of a closing author bio was removed: on the real pages it helped none and cut
# an evaluation page's last paragraph; extract.quality still flags a bio as leak:bio, and a
# source whose articles end with one names it in its profile's drop_line_patterns.)
OTHER_GENERIC_RULES = ("comments-cut", "lead", "lead-by-class", "lead-by-description")  # "lead": both routes


@dataclass(frozen=True)
class NoiseRules:
    """Rules applied around trafilatura for one source.

    drop_selectors: CSS selectors removed from the DOM before extraction.
    drop_line_patterns: regular expressions; a clean-text line matching one is removed.
    lead_selectors: CSS selectors of the page's lead / standfirst (kept as article text).
    without: names of generic rules switched off (a selector, `line:<kind>:<n>`, one of
    OTHER_GENERIC_RULES, or `listing:<signal>`): how `make bench-quality` measures what each
    generic rule is worth; sources never set it.
    """

    drop_selectors: tuple[str, ...] = ()
    drop_line_patterns: tuple[str, ...] = ()
    use_generic: bool = True
    lead_selectors: tuple[str, ...] = ()
    without: frozenset[str] = frozenset()
    _compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)
    _matcher: _Matcher = field(init=False, repr=False, compare=False)
    _lead_xpaths: tuple[XPath, ...] = field(init=False, repr=False, compare=False)
    _generic: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __reduce__(self) -> tuple[type[NoiseRules], tuple[object, ...]]:
        """Pickled as its definition (compiled XPath objects do not pickle): extraction workers
        rebuild it."""
        return (
            NoiseRules,
            (self.drop_selectors, self.drop_line_patterns, self.use_generic, self.lead_selectors, self.without),
        )

    def __post_init__(self) -> None:
        object.__setattr__(self, "without", frozenset(self.without))
        object.__setattr__(self, "_compiled", tuple(re.compile(p) for p in self.drop_line_patterns))
        object.__setattr__(self, "_matcher", _Matcher.build(self.selectors))
        object.__setattr__(self, "_lead_xpaths", tuple(_translate(s) for s in self.lead_selectors))
        object.__setattr__(self, "_generic", _generic_lines(self.without) if self.use_generic else None)

    def generic(self, name: str) -> bool:
        """Whether the generic rule `name` is in force ("lead-by-class" is off with "lead" too)."""
        return self.use_generic and name not in self.without and name.partition("-by-")[0] not in self.without

    @property
    def selectors(self) -> tuple[str, ...]:
        generic = tuple(s for s in GENERIC_DROP_SELECTORS if s not in self.without) if self.use_generic else ()
        return generic + self.drop_selectors

    def drops_line(self, line: str) -> bool:
        return (self._generic is not None and self._generic.match(line) is not None) or any(
            p.search(line) for p in self._compiled
        )

    def is_dateline(self, line: str) -> bool:
        """A line the generic `posted` patterns match: the page's visible date."""
        return self.use_generic and _DATELINES.match(line) is not None

    def comments_start(self, lines: list[str]) -> int | None:
        """Index where a reader-comment thread begins (a run of relative timestamps in the
        article's second half, cut back to the thread's header), or None."""
        if not self.generic("comments-cut"):
            return None
        stamps = [i for i, line in enumerate(lines) if len(line) < 60 and RELATIVE_TIME.match(line)]
        if len(stamps) < MIN_COMMENT_STAMPS or stamps[0] < len(lines) // 3:
            return None
        start = stamps[0] - 1  # the first comment's author or text sits just above its timestamp
        for i in range(stamps[0] - 1, max(-1, stamps[0] - 8), -1):
            if COMMENTS_HEADER.match(lines[i]):
                return i
        return max(start, 1)

    def prune(self, tree: lxml.html.HtmlElement, source: str | None = None) -> list[str]:
        """Remove what the drop selectors match, guarded by what a removal would take with it:
        never the page's root or an ancestor of the article's landmarks (its h1, <article>,
        <main>); and for a selector that matches a class or id *substring* ([class*=read-more]
        also matches an "entry-content-read-more" article container, [class*=cookie] a
        "cookies-not-set" page wrapper), never an element that holds the main text block
        (`main_block`). An exact selector (.comments-area) is trusted with a comment thread
        longer than the article. `source` (the page's HTML) lets a page skip the selectors it
        cannot match. Returns the selectors so guarded, for the document's flags."""
        matches = self._matcher.matches(tree, source)
        if not matches:
            return []
        protected = _article_ancestors(tree)
        block: lxml.html.HtmlElement | None = None
        block_chars = -1
        guarded: list[str] = []
        dropped: set[lxml.html.HtmlElement] = set()
        for el, selector in matches:
            if el in dropped or any(anc in dropped for anc in el.iterancestors()):
                continue  # gone with an ancestor
            keep = el.tag in ("html", "body") or el.getparent() is None or el in protected
            if not keep and selector in self._matcher.substring_selectors:
                if block_chars < 0:
                    block = main_block(tree)
                    block_chars = len(block.text_content()) if block is not None else 0
                keep = holds(el, block, block_chars)
            if keep:
                if selector not in guarded:
                    guarded.append(selector)
                continue
            el.drop_tree()
            dropped.add(el)
        return guarded

    def leads(self, tree: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
        return [el for xpath in self._lead_xpaths for el in xpath(tree)]

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "drop_selectors": list(self.drop_selectors),
            "drop_line_patterns": list(self.drop_line_patterns),
            "use_generic": self.use_generic,
            "lead_selectors": list(self.lead_selectors),
        }
        if self.without:
            out["without"] = sorted(self.without)
        return out

    @property
    def version(self) -> str:
        """Content hash of the effective rules: changes whenever the output could."""
        payload = json.dumps(
            {
                "selectors": list(self.selectors),
                "patterns": list(self.drop_line_patterns),
                "generic_lines": GENERIC_LINE_PATTERNS if self.use_generic else {},
                "lead": list(self.lead_selectors),
                **({"without": sorted(self.without)} if self.without else {}),
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:12]
