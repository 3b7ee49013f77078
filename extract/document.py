"""Raw HTML + URL + noise rules -> clean document. Pure: no network, no files."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as _pkg_version
from typing import Any
from urllib.parse import urljoin

import lxml.html
import trafilatura
from cssselect import GenericTranslator, SelectorError
from trafilatura.settings import Document, use_config

from extract.decode import decode_html_checked
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
    "with_metadata": True,
    # trafilatura's config file setting, not a keyword: below this many characters its main
    # algorithm hands over to a flat fallback that loses paragraphs and keeps inline
    # teasers. The default (250) trips on short dispatches once a banner is pruned.
    "min_extracted_size": 60,
}
_CONFIG_KEYS = {"min_extracted_size", "min_output_size"}
MIN_LETTER_SHARE = 0.5  # below this share of letters the "text" is markup debris or mojibake
MIN_WORDS = 5  # fewer words than this is page furniture, not an article
MIN_TEXT_CHARS = 200  # below this a capture is flagged as a suspiciously short extraction


class ExtractionError(ValueError):
    """The page yields no article text (empty, not HTML, or only boilerplate)."""


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _xpaths(selectors: tuple[str, ...]) -> list[str]:
    translator = GenericTranslator()
    out = []
    for sel in selectors:
        try:
            out.append(translator.css_to_xpath(sel))
        except SelectorError as exc:  # profile validation catches this first
            raise ValueError(f"invalid CSS selector {sel!r}: {exc}") from exc
    return out


def _normalize_line(line: str) -> str:
    line = unicodedata.normalize("NFC", line)
    return re.sub(r"\s+", " ", line).strip()


def _meta(tree: lxml.html.HtmlElement, *names: str) -> list[str]:
    vals: list[str] = []
    for name in names:
        for el in tree.xpath(f'//meta[@property="{name}" or @name="{name}"]'):
            content = (el.get("content") or "").strip()
            if content and content not in vals:
                vals.append(content)
    return vals


def _json_ld(tree: lxml.html.HtmlElement) -> dict[str, Any]:
    """The first schema.org *Article object in the page's JSON-LD, if any."""
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "")
        except json.JSONDecodeError:
            continue
        items = data if isinstance(data, list) else data.get("@graph", [data])
        for item in items:
            if isinstance(item, dict) and str(item.get("@type", "")).endswith("Article"):
                return item
    return {}


def _iso(value: str | None) -> str | None:
    """Normalise a date string to ISO 8601 UTC where it carries a time, else keep the date."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.isoformat()
    return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _ld_authors(ld: dict[str, Any]) -> list[str]:
    raw = ld.get("author")
    people = raw if isinstance(raw, list) else [raw] if raw else []
    names = []
    for p in people:
        name = p.get("name") if isinstance(p, dict) and p.get("@type") != "Organization" else None
        if isinstance(p, str):
            name = p
        if name:
            names.append(str(name).strip())
    return names


def extractor_info(rules: NoiseRules, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Which code and which settings made a clean document."""
    return {
        "name": EXTRACTOR_NAME,
        "version": EXTRACTOR_VERSION,
        "settings": dict(settings),
        "rules": rules.as_dict(),
        "rules_version": rules.version,
    }


def _title_tag(tree: lxml.html.HtmlElement) -> str | None:
    return next(iter(tree.xpath("//title/text()")), None)


def _clean_lines(raw: str, rules: NoiseRules) -> str:
    """Normalised, non-empty lines that no line rule drops; raises if no article remains."""
    lines = []
    for raw_line in raw.splitlines():
        line = _normalize_line(raw_line)
        if line and not rules.drops_line(line):
            lines.append(line)
    text = "\n".join(lines)
    if not text:
        raise ExtractionError("only boilerplate lines left after noise rules")
    words = len(text.split())
    if words < MIN_WORDS:
        raise ExtractionError(f"no article text: only {words} word(s) left")
    letters = sum(ch.isalpha() for ch in text)
    if letters < MIN_LETTER_SHARE * len(text.replace(" ", "").replace("\n", "")):
        raise ExtractionError("no article text: mostly non-letters (undecodable or not prose)")
    return text


def _extract_text(
    tree: lxml.html.HtmlElement, url: str, rules: NoiseRules, effective: dict[str, Any]
) -> tuple[Document, str]:
    config = use_config()
    for key in _CONFIG_KEYS & effective.keys():
        config.set("DEFAULT", key, str(effective[key]))
    result = trafilatura.bare_extraction(
        lxml.html.tostring(tree, encoding="unicode"),
        url=url,
        prune_xpath=_xpaths(rules.selectors) or None,
        config=config,
        **{k: v for k, v in effective.items() if k not in _CONFIG_KEYS},
    )
    if not isinstance(result, Document) or not result.text or not result.text.strip():
        raise ExtractionError("no article text found")
    return result, _clean_lines(result.text, rules)


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
) -> CleanDocument:
    """Turn one captured page into a clean document.

    `settings` overrides trafilatura's (benchmarks compare them); the defaults are
    TRAFILATURA_SETTINGS. Raises ExtractionError when nothing that looks like an article remains.
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
        tree = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ExtractionError(f"unparseable HTML: {exc}") from exc

    ld = _json_ld(tree)
    try:
        result, text = _extract_text(tree, url, rules, effective)
    except ExtractionError as first_error:
        # The article may sit where trafilatura does not look: inside <noscript> (lazy-loading
        # sites) or only in the JSON-LD articleBody. Try those before giving up.
        noscripts = tree.xpath("//noscript")
        if noscripts and sum(len(n.text_content()) for n in noscripts) > MIN_TEXT_CHARS:
            for n in noscripts:
                n.drop_tag()
            result, text = _extract_text(tree, url, rules, effective)
            flags.append("from_noscript")
        elif isinstance(ld.get("articleBody"), str) and len(ld["articleBody"].split()) >= MIN_WORDS:
            result, text = None, _clean_lines(ld["articleBody"], rules)
            flags.append("from_json_ld")
        else:
            raise first_error

    found = result if result is not None else Document()  # metadata trafilatura found, if it ran
    canonical = next(iter(tree.xpath('//link[@rel="canonical"]/@href')), None)
    authors = _ld_authors(ld) or _meta(tree, "author", "article:author")
    if not authors and found.author:
        authors = [a.strip() for a in found.author.split(";") if a.strip()]
    published = _iso(ld.get("datePublished")) or _iso(next(iter(_meta(tree, "article:published_time")), None))
    modified = _iso(ld.get("dateModified")) or _iso(next(iter(_meta(tree, "article:modified_time")), None))
    language = ld.get("inLanguage") or (tree.get("lang") or "").split("-")[0] or found.language or default_language
    tags = _meta(tree, "article:tag") or [t for t in (found.tags or []) if t]
    title = (found.title or ld.get("headline") or _title_tag(tree) or "").strip()

    flags += leak_flags(text)
    if len(text) < MIN_TEXT_CHARS:
        flags.append("short_text")
    return CleanDocument(
        url=url,
        canonical_url=urljoin(url, str(canonical).strip()) if canonical else None,  # hrefs may be relative
        title=title or None,
        text=text,
        authors=authors,
        published=published or found.date or None,
        modified=modified,
        language=language or None,
        tags=tags,
        sitename=found.sitename,
        description=found.description or ld.get("description"),
        extractor=extractor_info(rules, effective),
        flags=flags,
    )
