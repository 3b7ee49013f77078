"""rel=canonical from a page's head bytes (spiders/canonical.py): a table of real-world shapes."""

from __future__ import annotations

import pytest

from spiders.canonical import HEAD_SCAN, NotScannable, canonical_href


@pytest.mark.parametrize(
    ("page", "href"),
    [
        (b'<html><head><link rel="canonical" href="https://rt.com/news/1-a/"></head><body></body></html>',
         "https://rt.com/news/1-a/"),
        (b"<HEAD><LINK REL='Canonical' HREF='/fr/2'></HEAD>", "/fr/2"),  # case, quotes, relative
        (b"<head><link href=https://x.org/a rel=canonical /></head>", "https://x.org/a"),  # unquoted, href first
        (b'<head><link rel="alternate" hreflang="en" href="/en/1"><link rel="canonical" href="/fr/1"></head>',
         "/fr/1"),
        (b'<head><link rel="amphtml canonical" href="/a?x=1&amp;y=2"></head>', "/a?x=1&y=2"),  # rel tokens, entities
        (b'<head><link rel="canonical-ish" href="/no"></head>', None),
        (b"<head><title>no canonical</title></head><body><p>canonical is a word here</p></body>", None),
        (b'<head></head><body><link rel="canonical" href="/misplaced"></body>', "/misplaced"),
        (b'<head><link rel="canonical"></head>', None),  # no href
        (b'<head><link rel="canonical" href="  /spaced  "></head>', "/spaced"),
        ('<head><link rel="canonical" href="/actualité/é"></head>'.encode("cp1252"), "/actualité/é"),
    ],
)  # fmt: skip
def test_canonical_href(page: bytes, href: str | None) -> None:
    encoding = "cp1252" if "é".encode("cp1252") in page else "utf-8"
    assert canonical_href(page, encoding) == href


def test_a_huge_head_is_scanned_up_to_the_cap_then_the_body_if_it_names_a_canonical() -> None:
    script = b"<script>" + b"x" * HEAD_SCAN + b"</script>"
    page = b"<head>" + script + b'<link rel="canonical" href="/late"></head><body></body>'
    assert canonical_href(page) == "/late"  # beyond the cap, found by the fallback scan


def test_utf16_is_left_to_a_full_parse() -> None:
    with pytest.raises(NotScannable):
        canonical_href('<head><link rel="canonical" href="/a"></head>'.encode("utf-16"))
