"""Read captures back from WARC files: whole-file iteration and single-record ranged reads."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecord

from storage.errors import PermanentError
from storage.store import Store


class CorruptWarc(PermanentError):
    """A WARC file or record that cannot be read back."""


@dataclass(frozen=True)
class Capture:
    """A response record joined with the metadata record that refers to it."""

    url: str
    record_id: str
    date: str
    status: int
    headers: list[tuple[str, str]]
    remote_ip: str | None
    offset: int
    length: int
    payload: bytes  # as sent, content-encoding not undone
    body: bytes  # content-encoding undone, for extraction
    metadata: dict[str, Any]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def _decoded(record: ArcWarcRecord, raw: bytes) -> bytes:
    encoding = (record.http_headers.get_header("Content-Encoding") or "").lower().strip()
    if encoding in ("", "identity"):
        return raw
    if encoding in ("gzip", "x-gzip"):
        return gzip.decompress(raw)
    if encoding == "deflate":
        try:
            return zlib.decompress(raw)
        except zlib.error:
            return zlib.decompress(raw, -zlib.MAX_WBITS)
    if encoding == "br":
        import brotli

        return bytes(brotli.decompress(raw))
    raise CorruptWarc(f"unsupported Content-Encoding {encoding!r}")


def iter_captures(path: Path) -> Iterator[Capture]:
    """Every response in a WARC file with its metadata (kind, discovery, run, ...)."""
    responses: dict[str, tuple[ArcWarcRecord, bytes, int, int]] = {}
    metas: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    try:
        with path.open("rb") as fh:
            it = ArchiveIterator(fh)
            for record in it:
                kind = record.rec_type
                if kind == "response":
                    raw = record.raw_stream.read()
                    rid = record.rec_headers.get_header("WARC-Record-ID")
                    it.read_to_end(record)
                    responses[rid] = (record, raw, it.get_record_offset(), it.get_record_length())
                    order.append(rid)
                elif kind == "metadata":
                    ref = record.rec_headers.get_header("WARC-Refers-To")
                    metas[ref] = json.loads(record.content_stream().read() or b"{}")
    except (OSError, EOFError, ValueError) as exc:
        raise CorruptWarc(f"{path.name}: unreadable WARC: {exc}") from exc
    for rid in order:
        record, raw, offset, length = responses[rid]
        ip = record.rec_headers.get_header("WARC-IP-Address")
        yield Capture(
            url=record.rec_headers.get_header("WARC-Target-URI"),
            record_id=rid,
            date=record.rec_headers.get_header("WARC-Date"),
            status=int(record.http_headers.get_statuscode()),
            headers=list(record.http_headers.headers),
            remote_ip=ip,
            offset=offset,
            length=length,
            payload=raw,
            body=_decoded(record, raw),
            metadata=metas.get(rid, {}),
        )


_READ_ERRORS = (StopIteration, OSError, EOFError, ValueError, ArchiveLoadFailed, zlib.error)


def read_record(store: Store, key: str, offset: int, length: int) -> tuple[ArcWarcRecord, bytes]:
    """One record and its raw payload, by offset and length (a ranged read on S3)."""
    data = store.get_range(key, offset, length)
    if len(data) != length:
        raise CorruptWarc(f"{key}: record at {offset} truncated ({len(data)} of {length} bytes)")
    try:
        record = next(iter(ArchiveIterator(io.BytesIO(data))))
        payload = record.raw_stream.read()
    except _READ_ERRORS as exc:
        raise CorruptWarc(f"{key}: no readable record at offset {offset}: {exc}") from exc
    return record, bytes(payload)


def read_capture_records(store: Store, key: str, offset: int, length: int, window: int = 1 << 20) -> bytes:
    """The capture's WARC records as stored: its response and the request and metadata
    records written right after it (each its own gzip member), ready to be a WARC file."""
    data = store.get_range(key, offset, length + window)
    if len(data) < length:
        raise CorruptWarc(f"{key}: record at {offset} truncated ({len(data)} of {length} bytes)")
    end = length
    try:
        it = ArchiveIterator(io.BytesIO(data))
        response_id = None
        for record in it:
            rid = record.rec_headers.get_header("WARC-Record-ID")
            related = {
                record.rec_headers.get_header("WARC-Concurrent-To"),
                record.rec_headers.get_header("WARC-Refers-To"),
            }
            if response_id is None:
                response_id = rid
            elif response_id not in related:
                break
            it.read_to_end(record)
            end = it.get_record_offset() + it.get_record_length()
    except _READ_ERRORS as exc:
        raise CorruptWarc(f"{key}: no readable records at offset {offset}: {exc}") from exc
    return data[:end]


def read_capture(store: Store, key: str, offset: int, length: int) -> Capture:
    """One response record as a Capture (without its metadata record), by ranged read."""
    record, raw = read_record(store, key, offset, length)
    try:
        body = _decoded(record, raw)
    except _READ_ERRORS as exc:
        raise CorruptWarc(f"{key}: payload at offset {offset} does not decode: {exc}") from exc
    return Capture(
        url=record.rec_headers.get_header("WARC-Target-URI"),
        record_id=record.rec_headers.get_header("WARC-Record-ID"),
        date=record.rec_headers.get_header("WARC-Date"),
        status=int(record.http_headers.get_statuscode()),
        headers=list(record.http_headers.headers),
        remote_ip=record.rec_headers.get_header("WARC-IP-Address"),
        offset=offset,
        length=length,
        payload=raw,
        body=body,
        metadata={},
    )


def read_payload(store: Store, key: str, offset: int, length: int) -> bytes:
    """The HTTP payload exactly as the server sent it."""
    return read_record(store, key, offset, length)[1]
