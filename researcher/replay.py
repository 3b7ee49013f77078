"""An archived page made safe to show: every link points back into the archive.

The Content-Security-Policy sandbox the reading room sends stops scripts, forms and every
subresource, but not a click: a link in the archived page would take the frame to the live
site. So links (`a`, `area`) are rewritten into the archive: by default to the Wayback
scheme at the page's own capture time (`/web/<timestamp>/<url>`, the capture of that URL
closest to it, or a note that there is none), opened in the top window, so the banner and
the address bar show the capture a researcher is now reading (the frame's sandbox allows a
top navigation on a click only). What could navigate on its own (`<meta http-equiv=refresh>`,
`<base>`) is removed. As in any web archive's replay
(Wayback, pywb), the view is a rewritten copy; the exact bytes stay available, digest-checked,
from `/capture/<id>/raw?exact=1` and the WARC record.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urljoin

import lxml.html
from lxml import etree

from extract.decode import decode_html


def go_link(url: str) -> str:
    return "/go?url=" + quote(url, safe="")


def rewrite(
    body: bytes, content_type: str | None, page_url: str, link: Callable[[str], str] = go_link, top: bool = False
) -> bytes:
    """The page's HTML with links into the archive (`link` maps an absolute URL to its address
    there; `top`: opened in the top window) and self-navigation removed (UTF-8)."""
    text = decode_html(body, content_type)
    try:
        doc = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return b""
    base = page_url
    for el in doc.iter("base"):
        base = urljoin(page_url, el.get("href") or "")
        el.drop_tree()
    for el in list(doc.iter("meta")):
        if (el.get("http-equiv") or "").lower() == "refresh":
            el.drop_tree()
    for el in doc.iter("a", "area"):
        href = (el.get("href") or "").strip()
        if not href or href.startswith("#"):
            continue
        target = urljoin(base, href)
        el.attrib.pop("target", None)
        if target.startswith(("http://", "https://")):
            el.set("href", link(target))
            if top:
                el.set("target", "_top")
        else:  # javascript:, mailto:, data: ... go nowhere
            el.attrib.pop("href", None)
    head = doc.find("head")
    if head is None:
        head = etree.SubElement(doc, "head")
        doc.insert(0, head)
    meta = etree.Element("meta", charset="utf-8")
    head.insert(0, meta)
    return bytes(lxml.html.tostring(doc, encoding="utf-8", doctype="<!DOCTYPE html>"))
