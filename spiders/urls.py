"""Canonical URLs, so one article discovered under several addresses is archived once. Pure.

Discovered URLs are cleaned with courlan (host lower-cased, default port and tracking
parameters such as utm_*, fbclid, at_* removed, query sorted) and lose their fragment;
the cleaned URL is what gets fetched. For comparison with what was already discovered or
archived, a profile's mirror hosts are also folded onto its primary domain (the fetch still
goes to the host that listed the URL: mirrors often exist because the primary is blocked).
A page's own <link rel=canonical> is recorded at extraction and takes part in the next
runs' comparisons through the archive.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

import courlan


@lru_cache(maxsize=4096)
def clean_url(url: str) -> str:
    """The URL to fetch: tracking parameters and fragment removed (other schemes untouched).

    Memoised (bounded): a crawl asks for the same article's URL up to five times (discovery,
    its key, its rel=canonical, the requested and the final address), and courlan's
    normalisation was a tenth of a fast crawl's CPU."""
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")):
        return url
    try:
        normalized = courlan.normalize_url(url)
    except ValueError:
        return url
    return urlunsplit(urlsplit(normalized)._replace(fragment=""))


def url_key(url: str, primary: str, mirrors: Iterable[str] = ()) -> str:
    """The identity of an article URL: clean_url with mirror hosts folded onto the primary domain."""
    cleaned = clean_url(url)
    split = urlsplit(cleaned)
    host = (split.hostname or "").lower()
    if host and host in {m.lower() for m in mirrors}:
        netloc = primary + (f":{split.port}" if split.port else "")
        return urlunsplit(split._replace(netloc=netloc))
    return cleaned
