"""Raw HTML + URL + noise rules -> clean document. Pure: no network, no files."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from configparser import ConfigParser
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from html import escape as html_escape
from importlib.metadata import version as _pkg_version
from itertools import islice
from typing import Any
from urllib.parse import urljoin

import lxml.html
import trafilatura
from htmldate import find_date
from trafilatura.settings import Document, use_config

from extract.decode import decode_html_checked
from extract.lead import find_lead
from extract.listing import judge
from extract.metadata import authors_from, choose_title, declared_language, detect_language, iso_date
from extract.page import PageFacts, UnparseableHtml, bylines, parse, read_facts
from extract.quality import leak_flags
from extract.rules import NoiseRules

EXTRACTOR_NAME = "trafilatura"
EXTRACTOR_VERSION = _pkg_version("trafilatura")
# Settings passed to trafilatura, recorded verbatim in every clean document.
TRAFILATURA_SETTINGS: dict[str, Any] = {
    "include_comments": False,
    "include_tables": True,
    "include_images": False,
    "include_links": False,
    "favor_precision": False,
    "favor_recall": False,
    "deduplicate": False,
    "with_metadata": False,  # metadata is read once by extract.page and extract.metadata
    # trafilatura's config file setting, not a keyword: below this many characters its main
    # algorithm hands over to its fallbacks. Its default, which the held-out pages bear out
    # (a table layout's debris is short; the fallback finds the article). Profiles of news
    # agencies lower it (noise.min_extracted_size): their two-paragraph dispatches.
    "min_extracted_size": 250,
}
_CONFIG_KEYS = {"min_extracted_size", "min_output_size"}
MIN_LETTER_SHARE = 0.5  # below this share of letters the "text" is markup debris or mojibake
MAX_DATELINES = 3  # dropped datelines kept to date a page that declares no date
LETTER_SAMPLE = 4000  # characters of the text whose letters are counted
MIN_WORDS = 5  # fewer words than this is page furniture, not an article
MIN_TEXT_CHARS = 200  # below this a capture is flagged as a suspiciously short extraction
MAX_TAGS = 20
_LETTERS = re.compile(r"[^\W\d_]")


class ExtractionError(ValueError):
    """The page yields no article text (empty, not HTML, or only boilerplate)."""


class NotAnArticle(ExtractionError):
    """The page is a listing, homepage or tag page: archived, but not an article."""

    status = "not_article"  # what the run step records (pipeline/runs.py reads it, not this class)


@dataclass(frozen=True)
class CleanDocument:
    url: str
    canonical_url: str | None
    title: str | None
    text: str
    authors: list[str]
    published: str | None
    modified: str | None
    language: str | None
    tags: list[str]
    sitename: str | None
    description: str | None
    extractor: dict[str, Any]
    flags: list[str] = field(default_factory=list)
    lead: str | None = None
    # the page's own editions in other languages (hreflang, JSON-LD translationOfWork/workTranslation)
    translations: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _normalize_line(line: str) -> str:
    line = unicodedata.normalize("NFC", line)
    return re.sub(r"\s+", " ", line).strip()


def extractor_info(rules: NoiseRules, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Which code and which settings made a clean document."""
    return {
        "name": EXTRACTOR_NAME,
        "version": EXTRACTOR_VERSION,
        "settings": dict(settings),
        "rules": rules.as_dict(),
        "rules_version": rules.version,
    }


def _lines(raw: str, rules: NoiseRules, datelines: list[str] | None = None) -> list[str]:
    """Normalised, non-empty lines that no line rule drops; the dropped ones that are datelines
    go to `datelines` (the page's visible date, for a page that declares none)."""
    lines = []
    for line in map(_normalize_line, raw.splitlines()):
        if not line:
            continue
        if not rules.drops_line(line):
            lines.append(line)
        elif datelines is not None and len(datelines) < MAX_DATELINES and rules.is_dateline(line):
            datelines.append(line)
    cut = rules.comments_start(lines)
    if cut is not None:
        lines = lines[:cut]
    return lines


def _checked(lines: list[str]) -> str:
    """The article text; raises if no article remains."""
    text = "\n".join(lines)
    if not text:
        raise ExtractionError("only boilerplate lines left after noise rules")
    words = len(text.split())
    if words < MIN_WORDS:
        raise ExtractionError(f"no article text: only {words} word(s) left")
    sample = text[:LETTER_SAMPLE]  # a sample decides: mojibake and markup debris are everywhere
    letters = len(_LETTERS.findall(sample))
    if letters < MIN_LETTER_SHARE * len(sample.replace(" ", "").replace("\n", "")):
        raise ExtractionError("no article text: mostly non-letters (undecodable or not prose)")
    return text


@lru_cache(maxsize=8)
def _config(items: tuple[tuple[str, str], ...]) -> ConfigParser:
    """trafilatura's config, built once per distinct setting (use_config() reads a file)."""
    config = use_config()
    for key, value in items:
        config.set("DEFAULT", key, value)
    return config


def _run_trafilatura(tree: lxml.html.HtmlElement, url: str, effective: dict[str, Any]) -> str:
    config = _config(tuple(sorted((k, str(v)) for k, v in effective.items() if k in _CONFIG_KEYS)))
    kwargs = {k: v for k, v in effective.items() if k not in _CONFIG_KEYS}
    result = trafilatura.bare_extraction(tree, url=url, config=config, **kwargs)  # works on a copy of tree
    if not isinstance(result, Document) or not result.text or not result.text.strip():
        raise ExtractionError("no article text found")
    return str(result.text)


def _precedes(html: str, lead: str, first_line: str) -> bool:
    """Whether the lead comes before the body's first line in the page source (True when
    either cannot be found verbatim, e.g. behind entities)."""
    at_lead, at_body = html.find(lead[:30]), html.find(first_line[:30])
    return at_lead == -1 or at_body == -1 or at_lead < at_body


def _htmldate(tree: lxml.html.HtmlElement, url: str) -> str | None:
    """Publication date from the page's markup and URL (htmldate's fast search, ~1 ms), for
    pages that declare none. Its extensive search (a regex scan of the whole page, ~6.5 ms
    a page, more than a third of trafilatura's own time) is run on the page's visible
    datelines only (`_dateline_date`): on the real-page corpus the fast search dates 497 of
    784 pages, the extensive one 776."""
    found = find_date(tree, url=url, extensive_search=False, original_date=True, outputformat="%Y-%m-%d")
    return str(found) if found else _headline_date(tree)


HEADLINE_REGION = 30_000  # characters of markup: the headline's block, not a whole page


def _headline_date(tree: lxml.html.HtmlElement) -> str | None:
    """A date shown beside the headline (Anadolu's `29.03.2022 14:35` under its h1): htmldate's
    extensive search over the h1's enclosing block only, read before any rule prunes it."""
    h1 = tree.find(".//h1")
    if h1 is None:
        return None
    region = next((a for a in islice(h1.iterancestors(), 1, 2) if a.tag not in ("body", "html")), h1.getparent())
    if region is None or region.tag in ("body", "html"):
        return None
    markup = lxml.html.tostring(region, encoding="unicode")
    if len(markup) > HEADLINE_REGION:
        return None
    found = find_date(
        f"<html><body>{markup}</body></html>", extensive_search=True, original_date=True, outputformat="%Y-%m-%d"
    )
    return str(found) if found else None


def _dateline_date(datelines: list[str]) -> str | None:
    """A date read from the first datelines the line rules removed ("Posted on March 1, 2022",
    "Jan. 15, 2008 01:00 PM"): htmldate's extensive search over those few words."""
    for line in datelines[:MAX_DATELINES]:
        found = find_date(
            f"<html><body><p>{html_escape(line)}</p></body></html>",
            extensive_search=True,
            original_date=True,
            outputformat="%Y-%m-%d",
        )
        if found:
            return str(found)
    return None


_MAGIC = ((b"%PDF-", "PDF"), (b"\x89PNG", "PNG image"), (b"\xff\xd8\xff", "JPEG image"), (b"GIF8", "GIF image"),
          (b"PK\x03\x04", "ZIP archive"))  # fmt: skip
_NOT_PAGE_TYPES = ("image/", "audio/", "video/", "application/pdf", "application/zip", "font/")


def not_a_page(body: bytes | str, content_type: str | None) -> str | None:
    """What the response is when it is a document or media file, not a web page (by type or magic bytes)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media.startswith(_NOT_PAGE_TYPES):
        return media
    head = body[:8] if isinstance(body, bytes) else b""
    return next((f"{name} ({media or 'no content type'})" for magic, name in _MAGIC if head.startswith(magic)), None)


def extract_document(
    body: bytes | str,
    url: str,
    rules: NoiseRules,
    *,
    content_type: str | None = None,
    default_language: str | None = None,
    settings: Mapping[str, Any] | None = None,
    index_urls: frozenset[str] = frozenset(),
) -> CleanDocument:
    """Turn one captured page into a clean document.

    The page is parsed once; its metadata is read once before pruning; trafilatura works on
    that tree (no serialise and re-parse) without its own metadata pass, which would read
    JSON-LD and meta tags again and run htmldate on every page (here only where the page
    declares no date). `settings` overrides trafilatura's (benchmarks compare them);
    `index_urls` are the source's own index pages (its profile's section pages).
    Raises NotAnArticle for a listing, ExtractionError when nothing like an article remains.
    """
    effective = {**TRAFILATURA_SETTINGS, **(settings or {})}
    not_page = not_a_page(body, content_type)
    if not_page:
        raise ExtractionError(f"not an article page: {not_page}")
    if isinstance(body, bytes) and b"\x00" in body[:4096]:
        raise ExtractionError("no article text: binary content (NUL bytes), not HTML")
    flags: list[str] = []
    if isinstance(body, bytes):
        html, repaired = decode_html_checked(body, content_type)
        if repaired:
            flags.append(f"charset_repaired:{repaired}")
    else:
        html = body
    if not html.strip():
        raise ExtractionError("empty body")
    try:
        tree = parse(html)
    except UnparseableHtml as exc:
        raise ExtractionError(str(exc)) from exc

    facts = read_facts(tree)
    sitename = _sitename(facts)
    # what the page declares and shows is read before pruning: a profile's rule may remove a
    # share bar that holds the date (AA's span.tarih) or a header that holds the h1 and lead
    title = _title(facts, sitename, url)
    meta = _metadata(facts, tree, url, sitename)
    lead = find_lead(
        tree,
        facts,
        rules.leads(tree),
        by_class=rules.generic("lead-by-class"),
        by_description=rules.generic("lead-by-description"),
    )
    flags += [f"rule_guarded:{sel}" for sel in rules.prune(tree, html)]
    lines, fallback, datelines = _body(tree, url, rules, effective, facts.json_ld)
    flags += [fallback] if fallback else []
    verdict = judge(lines, tree, facts, url, index_urls=index_urls, without=rules.without)
    if verdict.refuse:
        raise NotAnArticle(verdict.refuse)
    flags += verdict.flags
    if title and len(lines) > 1 and lines[0].casefold() == title.casefold():
        lines = lines[1:]  # the headline is the document's title, not its first paragraph
    lead = _place_lead(lead, lines, html, rules)
    text = _checked(lines)
    if not meta["published"]:
        meta["published"] = _dateline_date(datelines)
    language = meta.pop("declared_language")
    if not language:
        language = detect_language(text) or default_language
        if language:
            flags.append("language_detected")
    flags += leak_flags(text)
    if len(text) < MIN_TEXT_CHARS:
        flags.append("short_text")
    return CleanDocument(
        url=url,
        canonical_url=urljoin(url, facts.canonical) if facts.canonical else None,  # hrefs may be relative
        title=title or None,
        text=text,
        language=language or None,
        sitename=sitename,
        extractor=extractor_info(rules, effective),
        flags=flags,
        lead=lead,
        translations=_translations(facts, url),
        **meta,
    )


def _translations(facts: PageFacts, url: str) -> list[str]:
    """Absolute addresses of the page's other-language editions, itself excluded."""
    own = {url, urljoin(url, facts.canonical) if facts.canonical else url}
    return sorted({urljoin(url, href) for href in facts.alternates} - own)


def _sitename(facts: PageFacts) -> str | None:
    publisher = facts.json_ld.get("publisher")
    return facts.first("og:site_name") or (
        str(publisher["name"]) if isinstance(publisher, dict) and publisher.get("name") else None
    )


def _title(facts: PageFacts, sitename: str | None, url: str) -> str | None:
    headline = facts.json_ld.get("headline")
    return choose_title(
        (h.text_content() for h in facts.h1),
        (headline if isinstance(headline, str) else None, facts.first("og:title", "twitter:title"), facts.title_tag),
        sitename,
        url,
    )


def _body(
    tree: lxml.html.HtmlElement, url: str, rules: NoiseRules, effective: dict[str, Any], ld: dict[str, Any]
) -> tuple[list[str], str | None, list[str]]:
    """The article's lines, how they were found when trafilatura found none on the page, and
    the datelines the line rules removed."""
    datelines: list[str] = []
    try:
        lines = _lines(_run_trafilatura(tree, url, effective), rules, datelines)
        _checked(lines)
        return lines, None, datelines
    except ExtractionError as first_error:
        # The article may sit where trafilatura does not look: inside <noscript> (lazy-loading
        # sites) or only in the JSON-LD articleBody. Try those before giving up.
        noscripts = tree.xpath("//noscript")
        if noscripts and sum(len(n.text_content()) for n in noscripts) > MIN_TEXT_CHARS:
            for n in noscripts:
                n.drop_tag()
            return _lines(_run_trafilatura(tree, url, effective), rules, datelines), "from_noscript", datelines
        if isinstance(ld.get("articleBody"), str) and len(ld["articleBody"].split()) >= MIN_WORDS:
            return _lines(ld["articleBody"], rules), "from_json_ld", datelines
        raise first_error


def _place_lead(lead: str | None, lines: list[str], html: str, rules: NoiseRules) -> str | None:
    """Put the lead first in `lines` when the extraction lost it; the lead kept, or None when it
    is furniture or sits below the article (a comment or promo box, not a lead)."""
    if not lead:
        return None
    lead = _normalize_line(lead)
    if rules.drops_line(lead):
        return None
    if _already_there(lead, lines):
        return lead
    if not _precedes(html, lead, lines[0]):
        return None
    lines.insert(0, lead)
    return lead


_WORDS = re.compile(r"\w+")
LEAD_PROBE = 12  # words: the lead's opening, looked for in the body's first lines


def _already_there(lead: str, lines: list[str]) -> bool:
    """Whether the body already holds the lead, however its lines break: the lead's first words
    as a run of words anywhere in the text (a paragraph split over two lines in the HTML comes
    out as two lines; a lead repeated further down must not be put on top a second time)."""
    probe = " ".join(_WORDS.findall(lead.lower())[:LEAD_PROBE])
    return bool(probe) and f" {probe} " in f" {' '.join(_WORDS.findall(' '.join(lines).lower()))} "


def _metadata(facts: PageFacts, tree: lxml.html.HtmlElement, url: str, sitename: str | None) -> dict[str, Any]:
    """Authors, dates, tags, description and declared language: what the page declares first."""
    ld = facts.json_ld
    authors = authors_from(
        ld, facts.meta.get("author", []) + facts.meta.get("article:author", []), lambda: bylines(tree), sitename, url
    )
    published = iso_date(ld.get("datePublished")) or iso_date(
        facts.first("article:published_time", "datepublished", "date", "dc.date", "dcterms.created", "pubdate")
    )
    tags = (
        facts.meta.get("article:tag")
        or [t.strip() for t in (facts.first("keywords", "news_keywords") or "").split(",") if t.strip()][:MAX_TAGS]
    )
    description = facts.first("og:description", "description") or ld.get("description")
    return {
        "authors": authors,
        "published": published or _htmldate(tree, url),  # else a dateline's, after extraction
        "modified": iso_date(ld.get("dateModified")) or iso_date(facts.first("article:modified_time", "datemodified")),
        "tags": tags,
        "description": description if isinstance(description, str) else None,
        "declared_language": declared_language(
            ld.get("inLanguage") if isinstance(ld.get("inLanguage"), str) else None,
            facts.html_lang,
            facts.first("content-language", "og:locale", "language", "dc.language"),
        ),
    }
