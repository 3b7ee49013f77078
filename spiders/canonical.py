"""A page's rel=canonical read from its head's bytes: no parse tree for every archived article.

The crawl only needs one attribute of the head to fold a second address of an archived
article; building a selector tree of the whole page for it cost ~0.3 ms a page. Scanned:
the bytes up to </head>, at most HEAD_SCAN (the rest of the page only when it mentions
"canonical": a <link> misplaced in the body still counts). A page whose encoding puts NULs
in ASCII text (UTF-16/32) is left to the caller's full parse.
"""

from __future__ import annotations

import html
import re

HEAD_SCAN = 256 * 1024
_HEAD_END = re.compile(rb"</head\s*>", re.IGNORECASE)
_LINK = re.compile(rb"<link\b[^>]*>", re.IGNORECASE)
_ATTR = rb"""\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))"""
_REL = re.compile(rb"\brel" + _ATTR, re.IGNORECASE)
_HREF = re.compile(rb"\bhref" + _ATTR, re.IGNORECASE)


class NotScannable(ValueError):
    """The bytes are not in an ASCII-compatible encoding: parse the page instead."""


def _value(m: re.Match[bytes]) -> bytes:
    return next(g for g in m.groups() if g is not None)


def canonical_href(body: bytes, encoding: str = "utf-8") -> str | None:
    """The href of the first <link rel="canonical"> in the page's head, unescaped, or None."""
    if b"\x00" in body[:1024]:
        raise NotScannable("NUL bytes in the first KiB: not an ASCII-compatible encoding")
    end = _HEAD_END.search(body, 0, HEAD_SCAN)
    cut = end.start() if end else HEAD_SCAN
    found = _first_canonical(body[:cut], encoding)
    if found is None and body.find(b"canonical", cut) != -1:
        found = _first_canonical(body, encoding)  # a <link> misplaced in the body
    return found


def _first_canonical(data: bytes, encoding: str) -> str | None:
    for link in _LINK.finditer(data):
        rel = _REL.search(link[0])
        if rel is None or b"canonical" not in _value(rel).lower().split():
            continue
        href = _HREF.search(link[0])
        if href is None:
            continue
        return html.unescape(_value(href).decode(encoding, "replace")).strip() or None
    return None
