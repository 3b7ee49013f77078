"""Conditional requests for feeds and sitemaps (ETag / Last-Modified), kept in the archive.

After each crawl, the validators of every feed or sitemap response that went into an
uploaded WARC are stored in `state/source=<id>/validators/<attempt>.json` with that response's
WARC location. The next crawl sends If-None-Match / If-Modified-Since; on 304 Not
Modified the previous body is read back from the archive and parsed again, so a run
whose window differs from the previous one still sees every entry. Pure except
`load` / `save`, which take the store.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from storage import layout, recent
from storage.errors import ObjectNotFound
from storage.store import Store
from storage.warcread import decode_body, read_payload

Validators = dict[str, dict[str, Any]]  # url -> {etag, last_modified, warc_key, offset, length, encoding}


def load(store: Store, source_id: str, now: datetime | None = None) -> Validators:
    """The newest saved version (attempt names sort by time), or nothing yet: the last days'
    versions are listed, not every crawl's since the source began (storage/recent.py)."""
    keys = recent.keys_since(store, layout.validators_prefix(source_id), now or datetime.now(UTC), 1)
    if not keys:
        return {}
    try:
        return dict(json.loads(store.get_bytes(keys[-1])))
    except (ObjectNotFound, ValueError):
        return {}  # a cache: without it every feed is fetched unconditionally, nothing is missed


def request_headers(entry: dict[str, Any]) -> dict[str, str]:
    headers = {}
    if entry.get("etag"):
        headers["If-None-Match"] = entry["etag"]
    if entry.get("last_modified"):
        headers["If-Modified-Since"] = entry["last_modified"]
    return headers


def decoded(payload: bytes, encoding: str | None) -> bytes:
    """A stored payload as the parser needs it (the WARC keeps it content-encoded, as sent), within the cap."""
    return decode_body(payload, encoding)


def previous_body(store: Store, entry: dict[str, Any]) -> bytes:
    return decoded(read_payload(store, entry["warc_key"], entry["offset"], entry["length"]), entry.get("encoding"))


def updated(old: Validators, rows: list[dict[str, Any]]) -> Validators:
    """The state after a crawl whose log rows point into an uploaded WARC part."""
    new = dict(old)
    for r in rows:
        if r.get("kind") not in ("feed", "sitemap") or r["outcome"] != "fetched" or r.get("not_modified"):
            continue
        if not (r.get("etag") or r.get("last_modified")) or "offset" not in r:
            continue
        new[r["url"]] = {
            "etag": r.get("etag"),
            "last_modified": r.get("last_modified"),
            "encoding": r.get("content_encoding"),
            "warc_key": r["warc_file"],
            "offset": r["offset"],
            "length": r["length"],
        }
    return new


def save(store: Store, source_id: str, attempt: str, old: Validators, new: Validators) -> None:
    """A new version under the attempt's name when anything changed (keys are written once)."""
    if new != old:
        data = json.dumps(new, indent=1, sort_keys=True).encode()
        store.put_bytes(layout.validators_key(source_id, attempt), data, "application/json")
