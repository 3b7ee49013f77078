"""The researcher's read API: search, show, raw payloads and exports over committed manifests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from storage import manifest
from storage.errors import ObjectNotFound, PermanentError
from storage.store import Store
from storage.warcread import read_capture_records, read_payload


class UnknownCapture(ObjectNotFound):
    """No committed manifest lists this capture id."""


@dataclass(frozen=True)
class Query:
    sources: tuple[str, ...] = ()
    date_from: date | None = None  # published date, inclusive
    date_to: date | None = None  # published date, inclusive
    text: str | None = None  # case-insensitive substring of title or text
    url_prefix: str | None = None
    language: str | None = None
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise PermanentError(f"date range is inverted: {self.date_from} is after {self.date_to}")


class Archive:
    def __init__(self, store: Store):
        self.store = store

    def table(self, sources: Iterable[str] = (), all_extractions: bool = False) -> pa.Table:
        """Committed rows; by default only each capture's latest extraction."""
        srcs = list(sources)
        if not srcs:
            t = manifest.load_manifests(self.store)
        else:
            t = pa.concat_tables([manifest.load_manifests(self.store, s) for s in srcs])
        return t if all_extractions else manifest.latest_extractions(t)

    def search(self, q: Query) -> list[dict[str, Any]]:
        t = self.table(q.sources)
        if t.num_rows == 0:
            return []
        day = pc.utf8_slice_codeunits(pc.coalesce(t["published"], t["logical_date"]), 0, 10)
        mask = pc.is_valid(t["capture_id"])
        if q.date_from:
            mask = pc.and_(mask, pc.greater_equal(day, q.date_from.isoformat()))
        if q.date_to:
            mask = pc.and_(mask, pc.less_equal(day, q.date_to.isoformat()))
        if q.language:
            mask = pc.and_(mask, pc.equal(t["language"], q.language))
        if q.url_prefix:
            mask = pc.and_(
                mask,
                pc.or_kleene(
                    pc.starts_with(t["final_url"], q.url_prefix), pc.starts_with(t["requested_url"], q.url_prefix)
                ),
            )
        if q.text:
            hay = pc.binary_join_element_wise(pc.fill_null(t["title"], ""), pc.fill_null(t["text"], ""), "\n")
            mask = pc.and_(mask, pc.match_substring(hay, q.text, ignore_case=True))
        rows: list[dict[str, Any]] = t.filter(pc.fill_null(mask, False)).to_pylist()
        rows.sort(key=lambda r: (r.get("published") or r.get("logical_date") or "", r["capture_id"]))
        return rows[: q.limit] if q.limit else rows

    def extractions(self, capture_id: str) -> list[dict[str, Any]]:
        """Every committed extraction of a capture, newest first."""
        t = self.table(all_extractions=True)
        found = t.filter(pc.equal(t["capture_id"], capture_id)) if t.num_rows else t
        if found.num_rows == 0:
            raise UnknownCapture(f"no committed capture with id {capture_id!r}")
        rows: list[dict[str, Any]] = found.sort_by([("extracted_at", "descending")]).to_pylist()
        return rows

    def search_all(self) -> list[dict[str, Any]]:
        """Every committed capture (latest extraction of each)."""
        return self.search(Query())

    def show(self, capture_id: str, extraction: str | None = None) -> dict[str, Any]:
        """A capture's row: its latest extraction, or the one named by id (or id prefix)."""
        return select_extraction(self.extractions(capture_id), extraction)

    def raw(self, capture_id: str) -> bytes:
        """The HTTP payload exactly as the server sent it (content-encoding included)."""
        row = self.show(capture_id)
        return read_payload(self.store, row["warc_key"], row["warc_offset"], row["warc_length"])

    def warc_records(self, capture_id: str) -> bytes:
        """The capture's response, request and metadata records: a small, valid WARC file."""
        row = self.show(capture_id)
        return read_capture_records(self.store, row["warc_key"], row["warc_offset"], row["warc_length"])

    def versions(self, url: str) -> list[dict[str, Any]]:
        """Every committed capture of a URL (requested, final or canonical), oldest first."""
        t = self.table()
        if t.num_rows == 0:
            return []
        mask = pc.or_kleene(
            pc.or_kleene(pc.equal(t["requested_url"], url), pc.equal(t["final_url"], url)),
            pc.equal(t["canonical_url"], url),
        )
        rows: list[dict[str, Any]] = t.filter(pc.fill_null(mask, False)).to_pylist()
        return sorted(rows, key=lambda r: (r["fetched_at"] or "", r["capture_id"]))


def select_extraction(rows: list[dict[str, Any]], extraction: str | None) -> dict[str, Any]:
    """From a capture's extractions (newest first): the latest, or the one named by id or id prefix."""
    if extraction is None:
        return rows[0]
    for row in rows:
        if (row["extraction_id"] or "").startswith(extraction):
            return row
    known = ", ".join(r["extraction_id"] for r in rows)
    raise UnknownCapture(f"capture {rows[0]['capture_id']!r} has no extraction {extraction!r} (it has: {known})")


def citation(row: dict[str, Any], outlet: str | None = None) -> str:
    """A stable citation line: outlet, title, published, URL, capture time, capture id, SHA-256."""
    published = (row.get("published") or "n.d.")[:10]
    return (
        f"{outlet or row['source_id']}. \u201c{row.get('title') or 'Untitled'}.\u201d Published {published}. "
        f"{row['final_url']}. Captured {row['fetched_at']} (newsarchive capture {row['capture_id']}, "
        f"payload SHA-256 {row['payload_sha256']})."
    )


def text_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A readable unified diff of two captures' clean texts, line by line."""
    import difflib

    return "\n".join(
        difflib.unified_diff(
            (old.get("text") or "").splitlines(),
            (new.get("text") or "").splitlines(),
            fromfile=f"{old['capture_id']} ({old['fetched_at']})",
            tofile=f"{new['capture_id']} ({new['fetched_at']})",
            lineterm="",
        )
    )
