"""Bytes to text the way browsers do: HTTP charset, then BOM, then the page's meta tag.

Servers do lie about the charset (cp1251 or latin-1 pages labelled UTF-8): when the
declared decoding leaves replacement characters, a detected charset that decodes
cleanly wins, and the caller is told so it can flag the document. The reverse lie
(a page re-saved as UTF-8 whose meta still says gb2312 or windows-1251) leaves no
replacement characters, only mojibake: bytes with non-ASCII sequences that are valid
UTF-8 are UTF-8 (legacy-encoded text is practically never valid UTF-8).
"""

from __future__ import annotations

from charset_normalizer import from_bytes
from w3lib.encoding import html_to_unicode

REPLACEMENT = "\ufffd"


def decode_html(body: bytes, content_type: str | None = None) -> str:
    return decode_html_checked(body, content_type)[0]


def decode_html_checked(body: bytes, content_type: str | None = None) -> tuple[str, str | None]:
    """(text, the charset actually used if the declared one was wrong, else None)."""
    used, text = html_to_unicode(content_type, body)
    if used not in ("utf-8", "ascii") and not body.isascii():
        try:
            return body.decode("utf-8").removeprefix("\ufeff"), "utf-8"
        except UnicodeDecodeError:
            pass
    bad = text.count(REPLACEMENT)
    if bad <= max(2, len(text) // 2000):
        return str(text), None
    best = from_bytes(body[:2_000_000]).best()
    if best is None:
        return str(text), None
    guess = str(best)
    if guess.count(REPLACEMENT) < bad:
        return guess, best.encoding
    return str(text), None
