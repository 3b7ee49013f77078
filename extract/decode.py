"""Bytes to text the way browsers do: HTTP charset, then BOM, then the page's meta tag."""

from __future__ import annotations

from w3lib.encoding import html_to_unicode


def decode_html(body: bytes, content_type: str | None = None) -> str:
    _, text = html_to_unicode(content_type, body)
    return str(text)
