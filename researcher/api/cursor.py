"""Opaque cursors for the JSON API's walks. Pure: no I/O.

A cursor names where a walk stands (the last capture's time and id), what it walks (the
archive's commits it began with, per source, as the archive numbers them) and which query
it belongs to (a digest of the filters). It is not signed: a forged cursor only moves a walk
to another place of the same archive, which any client may ask for anyway; it is checked
field by field, and anything malformed is refused with the one line a 400 carries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

MAX_CURSOR = 8192  # characters: a snapshot of a few hundred sources
_SOURCE = re.compile(r"^[a-z0-9_]{1,64}$")


class BadCursor(ValueError):
    """A cursor that is not one of ours, or not for this query."""


@dataclass(frozen=True)
class Cursor:
    snapshot: Mapping[str, int]
    after: tuple[str, str] | None = None  # (fetched_at, capture_id) of the last item given
    query: str = ""  # fingerprint() of the query the walk answers
    descending: bool = False


def fingerprint(params: Mapping[str, object]) -> str:
    """A digest of a query's filters (paging parameters excluded), order-insensitive."""
    canon = {k: sorted(v) if isinstance(v, list | tuple) else v for k, v in params.items() if v not in (None, "", [])}
    return hashlib.sha256(json.dumps(canon, sort_keys=True, default=str).encode()).hexdigest()[:16]


def encode(cursor: Cursor) -> str:
    body = {"v": 1, "s": dict(sorted(cursor.snapshot.items())), "q": cursor.query}
    if cursor.after is not None:
        body["a"] = list(cursor.after)
    if cursor.descending:
        body["d"] = 1
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str, query: str) -> Cursor:
    """The cursor `text`, made for the query with fingerprint `query`."""
    if len(text) > MAX_CURSOR or not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        raise BadCursor("cursor: not a cursor this API gave (use the `next` of a page, unchanged)")
    try:
        body = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise BadCursor("cursor: not a cursor this API gave (use the `next` of a page, unchanged)") from None
    if not isinstance(body, dict) or body.get("v") != 1:
        raise BadCursor("cursor: not a cursor of this API version")
    snapshot, after, q = body.get("s"), body.get("a"), body.get("q")
    if not isinstance(snapshot, dict) or not all(
        isinstance(k, str) and _SOURCE.match(k) and type(v) is int and 0 <= v < 2**53 for k, v in snapshot.items()
    ):
        raise BadCursor("cursor: its snapshot is malformed")
    if after is not None and not (
        isinstance(after, list) and len(after) == 2 and all(isinstance(x, str) and len(x) <= 200 for x in after)
    ):
        raise BadCursor("cursor: its position is malformed")
    if q != query:
        raise BadCursor("cursor: made for another query (the filters changed); start again without a cursor")
    return Cursor(
        snapshot=snapshot, after=(after[0], after[1]) if after else None, query=q, descending=bool(body.get("d"))
    )
