"""The researcher's read API: search, show, raw payloads and exports over committed manifests."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator

from researcher.catalog import Catalog, Query
from storage.errors import CorruptObject, ObjectNotFound, PermanentError
from storage.store import LocalStore, Store
from storage.tablelog import CorruptPart
from storage.warcread import READ_ERRORS, CorruptWarc, decode_body, read_capture_records, read_payload

__all__ = ["Archive", "Query", "UnknownCapture", "check_archive", "select_extraction", "text_diff"]


class UnknownCapture(ObjectNotFound):
    """No committed manifest lists this capture id."""


class NotAnArchive(PermanentError):
    """The archive URL points at something that holds no archive (a typo must not pass a check)."""


def check_archive(store: Store) -> None:
    """Refuse a location that is not an archive: a missing directory, a file, or a place with
    nothing under manifests/ or raw/ (an empty archive has nothing to search or verify either)."""
    if isinstance(store, LocalStore):
        root = Path(store.root)
        if not root.exists():
            raise NotAnArchive(f"no archive at {root}: no such directory")
        if not root.is_dir():
            raise NotAnArchive(f"no archive at {root}: not a directory")
    for prefix in ("manifests/", "raw/"):
        if next(iter(store.list(prefix)), None) is not None:
            return
    where = store.root if isinstance(store, LocalStore) else store.url
    raise NotAnArchive(f"no archive at {where}: nothing under manifests/ or raw/")


def verified_records(store: Store, row: dict[str, Any]) -> bytes:
    """A committed capture's WARC records as stored, never unverified: all of them (response,
    request, metadata, headers included) against the SHA-256 the manifest committed for
    them, and the response's payload against its own digest. (Rows committed before the
    records' digest was kept have the payload's only.)"""
    if row.get("warc_records_sha256"):
        data = store.get_range(row["warc_key"], row["warc_offset"], row["warc_records_length"])
        digest = hashlib.sha256(data).hexdigest()
        if digest != row["warc_records_sha256"]:
            raise CorruptObject(
                f"capture {row['capture_id']}: its WARC records in {row['warc_key']} at offset {row['warc_offset']} "
                f"are altered (a header or the request): WARC records SHA-256 {digest[:16]}…, "
                f"not the committed {row['warc_records_sha256'][:16]}…; nothing written"
            )
    else:
        data = read_capture_records(store, row["warc_key"], row["warc_offset"], row["warc_length"])
    try:
        payload = next(iter(ArchiveIterator(io.BytesIO(data[: row["warc_length"]])))).raw_stream.read()
    except READ_ERRORS:
        payload = b""  # unreadable: the digest check says so
    verified_payload(row, bytes(payload))
    return data


def verified_payload(row: dict[str, Any], payload: bytes) -> bytes:
    """The payload if its SHA-256 is the one the manifest committed; never unverified bytes."""
    digest = hashlib.sha256(payload).hexdigest()
    if digest != row["payload_sha256"]:
        raise CorruptObject(
            f"capture {row['capture_id']}: the payload in {row['warc_key']} at offset {row['warc_offset']} "
            f"has SHA-256 {digest[:16]}…, not the committed {str(row['payload_sha256'])[:16]}…; nothing written"
        )
    return payload


class Archive:
    """Committed captures of one store, looked up through a catalog kept up to date from its manifests.

    Without a catalog path the catalog lives in memory and is rebuilt per Archive object.
    """

    def __init__(
        self,
        store: Store,
        catalog: Catalog | None = None,
        *,
        refresh_each_read: bool = True,
        on_corrupt: Callable[[CorruptPart], None] | None = None,
    ):
        """refresh_each_read=False: the catalog is brought up to date once, by the first read or an
        explicit refresh(), as a one-shot command wants; a long-lived object sees new commits.
        on_corrupt: told of each manifest part that cannot be read, which is skipped (default: raise)."""
        self.store = store
        self.catalog = catalog or Catalog()
        self.catalog.bind(store)
        self.refresh_each_read = refresh_each_read
        self.on_corrupt = on_corrupt
        self._refreshed = False

    def refresh(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Bring the catalog up to date with the committed manifests; returns rows (re)read."""
        self._refreshed = True
        return self.catalog.update(self.store, progress, self.on_corrupt)

    def _fresh(self) -> None:
        if self.refresh_each_read or not self._refreshed:
            self.refresh()

    def search(self, q: Query) -> list[dict[str, Any]]:
        return list(self.iter_search(q))

    def iter_search(self, q: Query) -> Iterator[dict[str, Any]]:
        """Matching rows streamed in the query's order (bounded memory however many match).
        An unknown source or language is an error naming the known ones."""
        self._fresh()
        self.catalog.check_known(q)
        return self.catalog.rows(q)

    def count(self, q: Query) -> int:
        self._fresh()
        self.catalog.check_known(q)
        return self.catalog.count(q)

    def search_all(self) -> list[dict[str, Any]]:
        """Every committed capture (latest extraction of each)."""
        return self.search(Query())

    def extractions(self, capture_id: str) -> list[dict[str, Any]]:
        """Every committed extraction of a capture, newest first."""
        self._fresh()
        rows = self.catalog.extractions(capture_id)
        if not rows:
            raise UnknownCapture(f"no committed capture with id {capture_id!r}")
        return rows

    def show(self, capture_id: str, extraction: str | None = None) -> dict[str, Any]:
        """A capture's row: its latest extraction, or the one named by id (or id prefix)."""
        return select_extraction(self.extractions(capture_id), extraction)

    def locate(self, capture_id: str) -> dict[str, Any]:
        """The capture's latest extraction without its text (no manifest part read): enough for
        its WARC location, which no re-extraction changes, and its metadata. The catalog is
        consulted first and refreshed only when it does not know the id."""
        rows = self.catalog.extractions(capture_id, text=False)
        return rows[0] if rows else self.show(capture_id)

    def raw(self, capture_id: str) -> bytes:
        """The HTTP payload exactly as the server sent it (content-encoding included), by ranged
        read, checked against the committed SHA-256."""
        return self._raw(self.locate(capture_id))

    def _raw(self, row: dict[str, Any]) -> bytes:
        try:
            payload = read_payload(self.store, row["warc_key"], row["warc_offset"], row["warc_length"])
        except CorruptWarc as exc:
            raise CorruptWarc(f"capture {row['capture_id']}: {exc}; nothing written") from None
        return verified_payload(row, payload)

    def decoded(self, capture_id: str) -> bytes:
        """The verified payload with its Content-Encoding undone (the charset left as declared)."""
        row = self.locate(capture_id)
        payload = self._raw(row)
        encoding = json.loads(row.get("response_headers") or "{}").get("content-encoding")
        return decode_body(payload, encoding)

    def warc_records(self, capture_id: str) -> bytes:
        """The capture's response, request and metadata records: a small, valid WARC file,
        its response's payload checked against the committed SHA-256."""
        return verified_records(self.store, self.locate(capture_id))

    def versions(self, url: str) -> list[dict[str, Any]]:
        """Every committed capture of a URL (requested, final or canonical), oldest first."""
        self._fresh()
        return self.catalog.versions(url)


def select_extraction(rows: list[dict[str, Any]], extraction: str | None) -> dict[str, Any]:
    """From a capture's extractions (newest first): the latest, or the one named by id or id prefix."""
    if extraction is None:
        return rows[0]
    for row in rows:
        if (row["extraction_id"] or "").startswith(extraction):
            return row
    known = ", ".join(r["extraction_id"] for r in rows)
    raise UnknownCapture(f"capture {rows[0]['capture_id']!r} has no extraction {extraction!r} (it has: {known})")


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
