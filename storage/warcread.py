"""Read captures back from WARC files: whole-file iteration and single-record ranged reads."""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.recordloader import ArcWarcRecord

from storage.errors import PermanentError

if TYPE_CHECKING:  # the crawl process decodes bodies with this module and never opens a store
    from storage.store import Store

DEFAULT_MAX_BODY = 50 * 2**20  # the crawl's default download cap (max_page_mb)


class CorruptWarc(PermanentError):
    """A WARC file or record that cannot be read back."""


class PayloadTooLarge(PermanentError):
    """A payload that decompresses beyond the cap: a compression bomb, or a page no article is."""


def describe(exc: BaseException) -> str:
    """An exception in one short printable line: parsers quote the bytes they choke on."""
    text = " ".join(str(exc).split()).encode("ascii", "backslashreplace").decode("ascii")
    return f"{type(exc).__name__}: {text[:160]}{'…' if len(text) > 160 else ''}"


def decode_body(payload: bytes, encoding: str | None, limit: int = DEFAULT_MAX_BODY) -> bytes:
    """The payload with its Content-Encoding undone, never more than `limit` bytes of it:
    decompression stops as soon as the output passes the cap (a gzip bomb of 11 KB on the
    wire would otherwise allocate gigabytes)."""
    enc = (encoding or "").lower().strip()
    if enc in ("", "identity"):
        return payload
    try:
        if enc in ("gzip", "x-gzip", "deflate"):
            return _inflate(payload, enc, limit)
        if enc == "br":
            return _unbrotli(payload, limit)
    except PayloadTooLarge:
        raise
    except (zlib.error, OSError, EOFError, ValueError, brotli_error()) as exc:
        raise CorruptWarc(f"payload does not decode as {enc}: {describe(exc)}") from None
    raise CorruptWarc(f"unsupported Content-Encoding {enc!r}")


def brotli_error() -> type[Exception]:
    import brotli

    return getattr(brotli, "error", ValueError)  # type: ignore[no-any-return]


STEP = 1 << 20  # the most one decoder call may add to the output


def _unbrotli(payload: bytes, limit: int) -> bytes:
    """Brotli undone, holding at most `limit` plus one step of output: each call's output is
    bounded (output_buffer_limit), whatever the ratio of the input it is given (one 64-byte
    step of a crafted stream can otherwise expand to ~80 MB)."""
    import brotli

    chunks: list[bytes] = []
    total, d, pos = 0, brotli.Decompressor(), 0
    while True:
        if d.can_accept_more_data():
            if pos >= len(payload):
                return b"".join(chunks)
            piece, pos = payload[pos : pos + 65536], pos + 65536
        else:
            piece = b""  # output still pending from input already given
        chunk = d.process(piece, output_buffer_limit=max(1, min(STEP, limit + 1 - total)))
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"body decompresses beyond {limit // 2**20} MB (Content-Encoding br)")
        chunks.append(chunk)


def _inflate(payload: bytes, enc: str, limit: int) -> bytes:
    """gzip or deflate undone a step at a time, holding at most `limit` plus one step."""
    wbits = [16 + zlib.MAX_WBITS] if enc != "deflate" else [zlib.MAX_WBITS, -zlib.MAX_WBITS]
    for i, bits in enumerate(wbits):
        d = zlib.decompressobj(bits)
        chunks: list[bytes] = []
        total, data = 0, payload
        try:
            while data and not d.eof:
                chunk = d.decompress(data, min(STEP, limit + 1 - total))
                total += len(chunk)
                if total > limit:
                    raise PayloadTooLarge(f"body decompresses beyond {limit // 2**20} MB (Content-Encoding {enc})")
                chunks.append(chunk)
                data = d.unconsumed_tail
        except zlib.error:
            if i + 1 < len(wbits):
                continue  # raw deflate without the zlib header, as some servers send it
            raise
        return b"".join(chunks) + d.flush()
    raise AssertionError("unreachable")


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
    metadata: dict[str, Any]
    max_body: int = field(default=DEFAULT_MAX_BODY, compare=False)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @cached_property
    def body(self) -> bytes:
        """Content-encoding undone, for extraction: decoded on first use, within max_body
        (PayloadTooLarge beyond it, CorruptWarc when it does not decode)."""
        return decode_body(self.payload, self.header("Content-Encoding"), self.max_body)


def iter_captures(path: Path, max_body: int = DEFAULT_MAX_BODY) -> Iterator[Capture]:
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
    except (OSError, EOFError, ValueError, ArchiveLoadFailed) as exc:
        raise CorruptWarc(f"{path.name}: unreadable WARC: {describe(exc)}") from None
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
            metadata=metas.get(rid, {}),
            max_body=max_body,
        )


READ_ERRORS = (StopIteration, OSError, EOFError, ValueError, ArchiveLoadFailed, zlib.error)


class RangeReader(Protocol):
    """What reading one record needs: a Store, or a WARC part already downloaded."""

    def get_range(self, key: str, offset: int, length: int) -> bytes: ...


def read_record(store: RangeReader, key: str, offset: int, length: int) -> tuple[ArcWarcRecord, bytes]:
    """One record and its raw payload, by offset and length (a ranged read on S3)."""
    data = store.get_range(key, offset, length)
    if len(data) != length:
        raise CorruptWarc(f"{key}: record at {offset} truncated ({len(data)} of {length} bytes)")
    try:
        record = next(iter(ArchiveIterator(io.BytesIO(data))))
        payload = record.raw_stream.read()
    except READ_ERRORS as exc:
        raise CorruptWarc(f"{key}: no readable record at offset {offset}: {describe(exc)}") from None
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
    except READ_ERRORS as exc:
        raise CorruptWarc(f"{key}: no readable records at offset {offset}: {describe(exc)}") from None
    if response_id is None:
        raise CorruptWarc(f"{key}: no WARC record at offset {offset}")
    return data[:end]


def read_capture(store: RangeReader, key: str, offset: int, length: int, max_body: int = DEFAULT_MAX_BODY) -> Capture:
    """One response record as a Capture (without its metadata record), by ranged read."""
    record, raw = read_record(store, key, offset, length)
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
        metadata={},
        max_body=max_body,
    )


def read_payload(store: Store, key: str, offset: int, length: int) -> bytes:
    """The HTTP payload exactly as the server sent it."""
    return read_record(store, key, offset, length)[1]
