"""Title, authors, dates and language of an article from what the page declares: pure cleaning.

Order of trust: JSON-LD, then meta tags, then what the page shows (h1, byline). Declared
values are cleaned the way a cataloguer would: a site name is not part of a title, a
preposition is not part of a name, a logo or a URL is not an author.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

# " | Site", " - Site", " — Site", " :: Site", " « Site"
_SEPARATORS = re.compile(r"\s+[|\-–—:·•»«/@_]{1,2}\s+")
_SQUASH = re.compile(r"[\W_]+")


def squash(s: str) -> str:
    """Lowercase letters and digits only, accents folded: 'EUTimes.net' -> 'eutimesnet'."""
    folded = unicodedata.normalize("NFKD", s.lower())
    return _SQUASH.sub("", "".join(c for c in folded if not unicodedata.combining(c)))


def host_names(url: str | None) -> list[str]:
    """The host's distinctive labels: https://www.globalresearch.ca/x -> ['globalresearch']."""
    host = (urlsplit(url or "").hostname or "").lower()
    labels = [
        x for x in host.split(".") if x and x not in ("www", "m", "amp", "fr", "en", "de", "es", "tr", "ar", "ru")
    ]
    return [squash(x) for x in labels[:-1] if len(x) > 2] if len(labels) > 1 else []


def _is_site(segment: str, site_keys: list[str]) -> bool:
    seg = squash(segment)
    return bool(seg) and any(key and (key in seg or seg in key) for key in site_keys if len(key) > 2)


def strip_site(title: str, sitename: str | None, url: str | None) -> str:
    """Remove a leading or trailing segment that names the site (compared with og:site_name and the host)."""
    keys = [squash(sitename)] if sitename else []
    keys += host_names(url)
    parts = _SEPARATORS.split(title)
    if len(parts) < 2 or not keys:
        return title
    seps = _SEPARATORS.findall(title)
    if _is_site(parts[-1], keys) and len(" ".join(parts[:-1]).split()) >= 2:
        return "".join(p + s for p, s in zip(parts[:-1], [*seps[:-1], ""], strict=True)).strip()
    if _is_site(parts[0], keys) and len(" ".join(parts[1:]).split()) >= 2:
        return "".join(p + s for p, s in zip(parts[1:], [*seps[1:], ""], strict=True)).strip()
    return title


def _words(s: str) -> set[str]:
    return {w for w in re.findall(r"\w+", s.lower()) if len(w) > 1}


def choose_title(
    h1s: Iterable[str], declared: Iterable[str | None], sitename: str | None, url: str | None
) -> str | None:
    """The page's own headline: an h1 that agrees with a declared title (JSON-LD headline,
    og:title, <title>) wins, as it carries no site suffix; else the first declared title,
    stripped of the site's name; else the only h1."""
    titles = [" ".join(t.split()) for t in declared if t and t.strip()]
    heads = [" ".join(h.split()) for h in h1s if h and h.strip()]
    keys = ([squash(sitename)] if sitename else []) + host_names(url)
    heads = [h for h in heads if not _is_site(h, keys) or len(h.split()) > 3]
    # an h1 that is the tail of a declared title ("Story :: Blog Name") is the site's banner
    tails = {squash(seg) for t in titles for seg in _SEPARATORS.split(t)[1:]}
    heads = [h for h in heads if squash(h) not in tails]
    for head in heads:
        for t in titles:
            hw, tw = _words(head), _words(t)
            if hw and len(hw & tw) >= 0.6 * len(hw) and len(hw & tw) >= 0.5 * len(_words(strip_site(t, sitename, url))):
                return head
    if titles:
        return strip_site(titles[0], sitename, url)
    return heads[0] if len(heads) == 1 else None


_BY = re.compile(
    r"^(by|par|por|von|door|av|от|автор|yazar|yazan|بقلم|كتب|written by|écrit par|escrito por|posted by|publié par)"
    r"\s*:?\s+",
    re.IGNORECASE,
)
_SPLIT = re.compile(
    r"\s*(?:,|;|\||/|&|\band\b|\bet\b|\by\b|\bund\b|\bve\b|\bи\b|،| و |\bavec\b|\bwith\b|\bcon\b|\bmit\b)\s*",
    re.IGNORECASE,
)
_NOT_A_NAME = re.compile(
    r"\blogo\b|^(more|plus|sign|log|name|admin|staff|redaction|rédaction|editor|editors|newsroom|username|user|guest"
    r"|anonymous)\b",
    re.IGNORECASE,
)
# Outlets and agencies: a visible "byline" naming one is a masthead or a credit, not an author
_OUTLET = re.compile(
    r"^(agencies|agences|reuters|afp|ap|dpa|efe|tass|ria novosti|sputnik|rt|anadolu|aa|trt)\b", re.IGNORECASE
)
_NAME_CHARS = re.compile(r"^[^\W\d_]+(?:[ .'’-]+[^\W\d_]+)*\.?$")  # letters, with spaces, dots, apostrophes, hyphens
_URL = re.compile(r"https?://\S+|www\.\S+|\S+@\S+")
_PAREN = re.compile(r"\((.*?)\)|\[(.*?)\]")
_WITH = re.compile(r"^(avec|with|con|mit|and|et)\b", re.IGNORECASE)
# A byline's tail that is not the name: a date ("Lucas Nolan22 Dec 2016"), a role ("Games Editor")
_TAIL = re.compile(
    r"\d.*$|\s+(?:(?:senior|chief|staff|contributing|business|political|games|tech|science|health|sports?|news|"
    r"foreign|special|deputy|managing|executive|associate)\s+)*(?:editor|writer|reporter|correspondent|columnist"
    r"|contributor|journalist|analyst|journaliste|rédacteur|envoyé spécial|corresponsal|periodista|redakteur)\b.*$"
    r"|\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|july|august"
    r"|september|october|november|december|janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre"
    r"|novembre|décembre)\.?$",
    re.IGNORECASE,
)
MAX_NAME_WORDS = 5


def _unparen(m: re.Match[str]) -> str:
    """'(avec Damien Leloup et Morgane Tual)' are co-authors; '(Henrique Zecchin)' middle names;
    '(R.J.)', '(Brad)' or a URL are not part of a name."""
    inner = (m[1] if m[1] is not None else m[2] or "").strip()
    if _WITH.match(inner):
        return f", {_WITH.sub('', inner)}"
    words = inner.split()
    if len(words) >= 2 and all(w[:1].isupper() and w.isalpha() for w in words):
        return f" {inner} "
    return " "


def clean_author(raw: str, site_keys: list[str], *, declared: bool = False) -> list[str]:
    """Person names in one author string ("Par Jean Dupont et Marie Curie" -> two names).
    A visible byline naming the site or an agency is dropped (a logo or masthead read as a
    byline); a declared author (meta tag, JSON-LD) may be the outlet itself."""
    names: list[str] = []
    text = " ".join(_URL.sub(" ", _PAREN.sub(_unparen, raw)).split())
    text = _BY.sub("", text)
    for part in _SPLIT.split(text):
        name = _BY.sub("", part.strip(" .:-–—·•\"'“”«»*")).strip()
        for _ in range(3):  # "Nathan Willis March 25, 2015": the date, then the month
            name = _TAIL.sub("", name).strip(" ,.:-–—•·|")
        if not name or not _NAME_CHARS.match(name) or _NOT_A_NAME.search(name):
            continue
        if not declared and (_OUTLET.search(name) or _is_site(name, site_keys)):
            continue
        words = name.split()
        if not 1 <= len(words) <= MAX_NAME_WORDS or len(name) < 3 or name.islower():
            continue
        if len(words) == 1 and (not declared or len(name) < 4 or name.isupper()):
            continue  # "AFP", "I", "Cdnarabic": an agency or debris; a lone word is a person only if declared
        if name not in names:
            names.append(name)
    return names


def authors_from(
    ld: dict[str, Any], meta_authors: list[str], visible: Callable[[], list[str]], sitename: str | None, url: str
) -> list[str]:
    """The first source (JSON-LD persons, meta tags, the visible bylines) that yields a clean
    name; `visible` is only called when the declared ones yield none (it searches the page)."""
    keys = ([squash(sitename)] if sitename else []) + host_names(url)
    raw = ld.get("author")
    people = raw if isinstance(raw, list) else [raw] if raw else []
    ld_names = []
    for p in people:
        if isinstance(p, dict) and "Organization" not in str(p.get("@type", "")):
            ld_names.append(str(p.get("name") or ""))
        elif isinstance(p, str):
            ld_names.append(p)
    for candidates in (ld_names, meta_authors):  # declared: the outlet may sign as itself
        names = [n for c in candidates if c for n in clean_author(c, keys, declared=True)]
        if names:
            return list(dict.fromkeys(names))
    for byline in visible():  # the most specific visible byline that names someone, alone
        names = clean_author(byline, keys)
        if names:
            return names
    return []


def iso_date(value: str | None) -> str | None:
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


def declared_language(*candidates: str | None) -> str | None:
    """The first well-formed language code ('fr-FR' -> 'fr', 'en_US' -> 'en')."""
    for c in candidates:
        code = re.split(r"[-_]", (c or "").strip().lower())[0]
        if re.fullmatch(r"[a-z]{2,3}", code):
            return code
    return None


MIN_DETECT_CHARS = 40
DETECT_CHARS = 1000  # py3langid's time grows with the text; a thousand characters decide


def detect_language(text: str) -> str | None:
    """Language of a text by py3langid (an offline model shipped in the wheel, loaded on first
    use: ~0.4 s), for pages that declare none."""
    if len(text) < MIN_DETECT_CHARS:
        return None
    import py3langid

    lang, _ = py3langid.classify(text[:DETECT_CHARS])
    return str(lang)
