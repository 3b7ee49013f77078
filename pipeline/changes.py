"""What happened to an archived article when its address was fetched again. Pure.

Issue 15's first part: the rules that turn a later fetch of an archived article (a revisit
at a fixed age, or any later capture of its URL) into an event a researcher can query:

- `takedown`: the address answers 404 or 410 (`gone`), redirects to the site's home page or
  a section page (`redirect_home`, `redirect_section`), or answers 200 with a page that no
  longer holds the article (`content_removed`: a listing, a page without article text such
  as a removal notice, or a text sharing less than a fifth of the article's word 4-grams);
- `edit`: the article is still there and its clean text, title, dates or authors differ;
  the summary says how (words added and removed, with samples, and which fields changed).

Only the clean documents are compared, never the raw pages: ads, comment counts, share
bars and "read also" boxes are removed by the extraction before they could look like an
edit. Spacing, typographic quotes and dashes are normalised away for the same reason.
A redirect to another article address (a renamed slug) and a transient failure (5xx, a
timeout) are neither: nothing is concluded from them.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

TAKEDOWN: Final = "takedown"
EDIT: Final = "edit"
CONTENT_KEPT = 0.2  # share of the old text's word 4-grams a page must keep to still hold the article
SAMPLE_WORDS = 30  # words of added and removed text kept in an edit's summary


@dataclass(frozen=True)
class Version:
    """One archived clean capture of an article: what the comparison reads."""

    capture_id: str
    url: str
    text: str
    title: str | None = None
    published: str | None = None
    modified: str | None = None
    authors: tuple[str, ...] = ()
    status: str = "ok"  # the manifest's status: ok, not_article, extraction_failed, blocked


@dataclass(frozen=True)
class Refetch:
    """A later fetch of the article's address: its HTTP outcome and, when it yielded a page,
    that page's clean capture."""

    url: str
    status: int | None  # HTTP status of the final response; None: no response (timeout, refused)
    final_url: str | None = None  # after redirects
    version: Version | None = None
    sections: tuple[str, ...] = ()  # the source's section path prefixes (its profile), if any


@dataclass(frozen=True)
class Change:
    kind: Literal["takedown", "edit"]
    reason: str  # gone, redirect_home, redirect_section, content_removed; for edits: text, title, dates, authors
    summary: dict[str, Any] = field(default_factory=dict)


_QUOTES = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"',
           "\u2013": "-", "\u2014": "-", "\u00a0": " ", "\u202f": " "}  # fmt: skip
_WORD = re.compile(r"\w+(?:['-]\w+)*")


def words(text: str) -> list[str]:
    """The text's words, compared as a reader would: case, spacing, quote and dash styles ignored."""
    norm = unicodedata.normalize("NFC", text)
    for typographic, plain in _QUOTES.items():  # str.replace per character: 6x faster than str.translate
        if typographic in norm:
            norm = norm.replace(typographic, plain)
    return _WORD.findall(norm.casefold())


def _grams(ws: list[str], n: int = 4) -> set[tuple[str, ...]]:
    return {tuple(ws[i : i + n]) for i in range(max(len(ws) - n + 1, 1))} if ws else set()


def kept_share(old: list[str], new: list[str]) -> float:
    """Share of the old text's word 4-grams still found in the new text (containment)."""
    before = _grams(old)
    return len(before & _grams(new)) / len(before) if before else 1.0


_LISTING_WORDS = {"category", "categorie", "tag", "tags", "rubrique", "rubriques", "section", "sections", "topics",
                  "themes", "theme"}  # fmt: skip


def _is_root_or_section(url: str, original: str, sections: tuple[str, ...]) -> str | None:
    split, orig = urlsplit(url), urlsplit(original)
    if split.netloc.lower().removeprefix("www.") != orig.netloc.lower().removeprefix("www."):
        return None  # another site: not this site's home or section (left to the redirect guard's record)
    path = split.path or "/"
    if path == "/" or re.fullmatch(r"/[a-z]{2}(-[a-z]{2})?/?", path):  # /, or a language edition's root
        return "redirect_home"
    if any(path.rstrip("/") == s.rstrip("/") for s in sections):
        return "redirect_section"
    segments = [seg for seg in path.split("/") if seg]
    if segments and segments[0].lower() in _LISTING_WORDS:
        return "redirect_section"  # /category/monde/, /tag/syrie/, /rubrique/...
    # a short path whose last part is a word, not a slug or an id: /international/, /fr/monde
    if len(segments) <= 2 and not re.search(r"[-_\d.]", segments[-1]):
        return "redirect_section"
    return None


def diff_summary(old: Version, new: Version) -> dict[str, Any]:
    """Words added and removed (counts and the first SAMPLE_WORDS of each), and which of the
    title, dates and authors changed (before and after)."""
    a, b = words(old.text), words(new.text)
    added: list[str] = []
    removed: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            removed += a[i1:i2]
        if op in ("insert", "replace"):
            added += b[j1:j2]
    fields: dict[str, Any] = {}
    for name in ("title", "published", "modified", "authors"):
        before, after = getattr(old, name), getattr(new, name)
        if name == "title":
            before, after = (" ".join(words(v)) if v else v for v in (before, after))
        if before != after and after not in (None, "", ()):  # a field the new page does not state is not a change
            fields[name] = {"before": getattr(old, name), "after": getattr(new, name)}
    return {
        "words_before": len(a),
        "words_after": len(b),
        "words_added": len(added),
        "words_removed": len(removed),
        "added_sample": " ".join(added[:SAMPLE_WORDS]),
        "removed_sample": " ".join(removed[:SAMPLE_WORDS]),
        "fields_changed": fields,
    }


def compare(previous: Version, later: Refetch) -> Change | None:
    """The event a later fetch of an archived article amounts to, or None (unchanged, or
    nothing can be concluded)."""
    if later.status in (404, 410):
        return Change(TAKEDOWN, "gone", {"status": later.status, "final_url": later.final_url or later.url})
    if later.status is None or later.status >= 500 or later.status in (401, 403, 429, 451):
        return None  # transient or a block: the article may still be there
    final = later.final_url or later.url
    moved = _is_root_or_section(final, previous.url, later.sections) if final != later.url else None
    if moved:
        return Change(TAKEDOWN, moved, {"status": later.status, "final_url": final})
    return _compare_pages(previous, later.version, final) if later.status == 200 and later.version else None


def _compare_pages(previous: Version, new: Version, final: str) -> Change | None:
    if new.status == "not_article":
        return Change(TAKEDOWN, "content_removed", {"status": 200, "final_url": final, "page": "not an article"})
    if new.status == "extraction_failed":
        # a 200 with no article text where the article was: a removal notice, an empty shell
        return Change(TAKEDOWN, "content_removed", {"status": 200, "final_url": final, "page": "no article text"})
    if new.status != "ok":
        return None  # a block or challenge page: nothing to compare
    share = kept_share(words(previous.text), words(new.text))
    if share < CONTENT_KEPT:
        return Change(TAKEDOWN, "content_removed", {"status": 200, "final_url": final, "kept_share": round(share, 3)})
    summary = diff_summary(previous, new)
    changed = [k for k in ("title", "published", "modified", "authors") if k in summary["fields_changed"]]
    if summary["words_added"] or summary["words_removed"]:
        changed.insert(0, "text")
    if not changed:
        return None
    return Change(EDIT, ",".join(changed), {**summary, "kept_share": round(share, 3), "final_url": final})
