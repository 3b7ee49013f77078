"""Quality checks on captures, pure: anti-bot and block pages, and boilerplate that leaked into clean text."""

from __future__ import annotations

import re

from extract.decode import decode_html

# Interstitials served instead of the article. Checked on the raw page (before extraction),
# because the extractor would happily turn "Just a moment..." into a two-line article.
BLOCK_SIGNATURES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        (
            "cloudflare",
            r"<title>\s*(Just a moment\.\.\.|Attention Required! \| Cloudflare)|cf-browser-verification"
            r"|/cdn-cgi/challenge-platform/|cf_chl_opt",
        ),
        ("datadome", r"captcha-delivery\.com|geo\.captcha-delivery|datadome"),
        (
            "captcha",
            r"class=\"g-recaptcha\"|class=\"h-captcha\"|hcaptcha\.com/1/api\.js|Please verify you are a human"
            r"|Vérifiez que vous êtes un humain",
        ),
        (
            "geo_block",
            r"not available in your (country|region)|n.est pas disponible dans votre (pays|région)"
            r"|Unavailable For Legal Reasons|geo-?block",
        ),
    )
)
BLOCK_STATUSES = {403: "http_403", 451: "http_451", 429: "http_429"}


def classify_capture(status: int, body: bytes, content_type: str | None = None) -> str | None:
    """Block kind of a raw capture (see detect_block), decoding the body as the extractor would.
    A body in an ASCII-compatible charset with none of the signatures' literals (nearly every
    page) is cleared on its bytes, without decoding it: the extract step decodes it once, later."""
    head = body[:BLOCK_SCAN]
    if b"\x00" not in head[:1024]:  # not UTF-16/32, where the literals' bytes differ
        low = head.lower()
        if not any(hint in low for hint in _HINT_BYTES):
            return BLOCK_STATUSES.get(status)
    return detect_block(status, decode_html(head, content_type))


# Literals at least one of which every signature contains (lowercase): a page with none of
# them (nearly every page) is cleared by substring search, ~20x cheaper than the regexes.
_HINTS = (
    "just a moment",
    "attention required",
    "cf-browser-verification",
    "/cdn-cgi/challenge-platform/",
    "cf_chl_opt",
    "captcha-delivery",
    "datadome",
    "g-recaptcha",
    "h-captcha",
    "hcaptcha.com",
    "verify you are a human",
    "vérifiez que vous êtes un humain",
    "not available in your",
    "disponible dans votre",
    "unavailable for legal reasons",
    "geoblock",
    "geo-block",
)
# the same literals as bytes, in the encodings a page without NULs may use for them
_HINT_BYTES = tuple({h.encode(enc, "ignore") for h in _HINTS for enc in ("utf-8", "cp1252")})
BLOCK_SCAN = 200_000
_SIGNATURE = re.compile("|".join(f"(?P<{kind}>{p.pattern})" for kind, p in BLOCK_SIGNATURES), re.IGNORECASE)
_INVISIBLE = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>|<!--.*?-->", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
# A page with this much visible text is an article, whatever widget it carries: a reCAPTCHA
# on its comment or newsletter form, Cloudflare's bot-detection script, a geo notice on a video.
ARTICLE_TEXT = 1500


def visible_text_length(html: str) -> int:
    """Characters of text a reader would see (scripts, styles and comments left out)."""
    return len(" ".join(_TAG.sub(" ", _INVISIBLE.sub(" ", html)).split()))


def detect_block(status: int, html: str) -> str | None:
    """The kind of block or challenge page this is, or None for an ordinary page. A challenge
    page has little else on it: a signature on a page with an article's worth of text is a
    widget of that article, not a block."""
    head = html[:200_000]
    low = head.lower()
    if not any(hint in low for hint in _HINTS):
        return BLOCK_STATUSES.get(status)
    m = _SIGNATURE.search(head)
    if m and visible_text_length(head) < ARTICLE_TEXT:
        return m.lastgroup
    return BLOCK_STATUSES.get(status)


# Lines that are page furniture in the languages of the sources (en, fr, es, de, tr, ar, ru).
# A clean line matching one is a leak; only short lines are judged, so an article quoting
# "cookies" is not flagged. Broader than the generic drop patterns of extract.rules, which
# must be sure: a flag only says "look here" in the run report.
LEAK_PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "consent",
        r"\b(cookies?|traceurs)\b.*\b(accept|consent|paramétr|choix|choices|settings)"
        r"|tout accepter|tout refuser|accept all|reject all|aceptar todas|alle akzeptieren|tümünü kabul"
        r"|(utilise|uses|utiliza|verwendet) (des |the |)cookies|en matière de cookies|cookie policy"
        r"|politique de (confidentialité|cookies)|çerez|قبول الكل|ملفات تعريف الارتباط",
    ),
    (
        "comments",
        r"^(laisser|leave|deja|hinterlasse|post) (un |a |einen )?(commentaire|comment|comentario|kommentar)"
        r"|^\d+ (commentaires?|comments?|comentarios?|kommentare)$|^répondre$|^reply$|yorum yap|اترك تعليقا"
        r"|votre adresse (e-?mail|de messagerie) ne sera pas publiée|your email address will not be published",
    ),
    (
        "share",
        r"^(partager|share|compartir|teilen|paylaş|شارك)\b.{0,40}$|^partager cet article|share this (story|article)"
        r"|^e-?mail (this )?(article |story )?to a friend|printable version|^envoyer à un ami",
    ),
    (
        "newsletter",
        r"newsletter|abonnez-vous|inscrivez-vous à notre|subscribe to our|suscr[ií]bete"
        r"|abonnieren sie|bültenimize|اشترك في النشرة|recevoir notre bulletin|подпишитесь на",
    ),
    (
        "read_also",
        r"^(lire aussi|à lire aussi|a lire aussi|lire également|voir aussi|read (also|more)|see also"
        r"|also on [\w.]+\.\w+|lea también|lee también|ver también|lesen sie auch|mehr zum thema"
        r"|ayrıca (bakınız|okuyun)|читайте также|اقرأ أيضا|اقرأ أيضاً)\b",
    ),
    (
        "prompt",
        r"would be interested\?|we.d love to get your feedback|note to readers|click the share buttons"
        r"|passer la publicité|^advertisement$|^publicité$|follow (us|rt|him|her) on|suivez-nous sur|síguenos en",
    ),
    ("caption", r"^(photo|foto|фото|image|crédit photo|photo credit|featured image|photographer)\b\s*(:|is from|by|©)"),
    (
        "copyright",
        r"^(copyright|©)|all rights reserved|tous droits réservés|todos los derechos reservados"
        r"|^please read our (terms|privacy)|^terms (and|&) conditions$|(reproduction|republication).{0,160}prohibited",
    ),
    ("posted", r"^this article was (originally )?(posted|published)|^cet article a été publié"),
    (
        "bio",
        r"^[A-ZÀ-Ý][\w.'’-]+( [A-ZÀ-Ý][\w.'’-]+){1,3},? (is|est|ist|es) (a|an|un|une|ein|eine|una?|the)\b.{0,80}"
        r"\b(writer|journalist|author|editor|reporter|correspondent|columnist|analyst|journaliste|auteur|periodista)",
    ),
)
_LEAKS = tuple((kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in LEAK_PATTERNS)
# every kind in one pattern: most lines match none, and one search rules them all out
_ANY_LEAK = re.compile("|".join(f"(?:{pattern})" for _, pattern in LEAK_PATTERNS), re.IGNORECASE)
MAX_FURNITURE_LINE = 220


def leak_flags(text: str) -> list[str]:
    """'leak:<kind>' for each kind of boilerplate found on a short line of the clean text."""
    kinds: set[str] = set()
    for raw in text.splitlines():
        if len(raw) > MAX_FURNITURE_LINE:
            continue
        line = raw.strip()
        if _ANY_LEAK.search(line):
            kinds.update(kind for kind, pattern in _LEAKS if kind not in kinds and pattern.search(line))
    return sorted(f"leak:{k}" for k in kinds)
