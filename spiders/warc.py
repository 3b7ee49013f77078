"""Write HTTP exchanges as WARC 1.1 records (request, response, metadata), gzip per record."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

# Hop-by-hop framing the client already undid: the stored payload is the entity body
# exactly as sent (still content-encoded), so these would mislead a WARC reader.
_FRAMING_HEADERS = {"transfer-encoding"}
WARC_VERSION = "1.1"
WARC_VERSION_LINE = f"WARC/{WARC_VERSION}\r\n"
GZIP_LEVEL = 9  # warcio's


@dataclass(frozen=True)
class Exchange:
    url: str
    method: str
    request_headers: list[tuple[str, str]]
    request_body: bytes
    status: int
    response_headers: list[tuple[str, str]]
    body: bytes  # the payload as received: content-encoding (gzip, br...) not undone
    protocol: str
    remote_ip: str | None
    fetched_at: datetime
    metadata: dict[str, Any]


@dataclass(frozen=True)
class WrittenRecord:
    record_id: str
    offset: int
    length: int
    payload_sha256: str
    # the exchange's three records (response, request, metadata) as stored, headers and gzip
    # framing included: from `offset`, this many bytes hash to this SHA-256
    records_length: int
    records_sha256: str


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _sha1(data: bytes) -> str:
    """The WARC digest convention (sha1, base32) warcio and CDX tools use: an identifier, not a security check."""
    return "sha1:" + base64.b32encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode("ascii")


class WarcFile:
    """One WARC part file being written; knows the offset and length of every record.

    The warcinfo record is written by warcio. The three records of each exchange are laid
    out here, byte for byte as warcio's WARCWriter lays them out (same header order, digests,
    HTTP header encoding via warcio's StatusAndHeaders; a test compares the two), one gzip
    member each, at half the cost: warcio's writer re-scans its header lists and
    re-reads every payload through generic streams, which on a fast crawl was the largest
    cost on the reactor thread after Scrapy itself (issue 12).
    """

    def __init__(self, path: Path, warcinfo: dict[str, str]):
        self.path = path
        self._fh: BinaryIO = path.open("wb")
        writer = WARCWriter(self._fh, gzip=True, warc_version=WARC_VERSION)
        writer.write_record(writer.create_warcinfo_record(path.name, warcinfo))

    def _record(
        self,
        warc_headers: list[tuple[str, str]],
        http_head: bytes,
        payload: bytes,
        content_type: str,
        digest: Any,
    ) -> tuple[int, int]:
        """Append one record (its own gzip member), its stored bytes fed to `digest`; its
        offset and compressed length."""
        payload_digest = _sha1(payload)
        head = [
            *warc_headers,
            ("WARC-Payload-Digest", payload_digest),
            ("WARC-Block-Digest", _sha1(http_head + payload) if http_head else payload_digest),
            ("Content-Type", content_type),
            ("Content-Length", str(len(http_head) + len(payload))),
        ]
        text = WARC_VERSION_LINE + "".join(f"{k}: {v}\r\n" for k, v in head) + "\r\n"
        # one call, one gzip member: a streaming compressor's setup and calls cost more than the copy
        data = zlib.compress(b"".join((text.encode("utf-8"), http_head, payload, b"\r\n\r\n")), GZIP_LEVEL, wbits=31)
        offset = self._fh.tell()
        self._fh.write(data)
        digest.update(data)
        return offset, len(data)

    def write_exchange(self, ex: Exchange) -> WrittenRecord:
        date = ex.fetched_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        split = urlsplit(ex.url)
        target = (split.path or "/") + (f"?{split.query}" if split.query else "")
        response_id, request_id, metadata_id = (f"<urn:uuid:{uuid.uuid4()}>" for _ in range(3))
        dropped = [(k, v) for k, v in ex.response_headers if k.lower() in _FRAMING_HEADERS]
        kept = [(k, v) for k, v in ex.response_headers if k.lower() not in _FRAMING_HEADERS]
        ip = [("WARC-IP-Address", ex.remote_ip)] if ex.remote_ip else []
        common = [("WARC-Target-URI", ex.url)]
        response_head = StatusAndHeaders(_status_line(ex.status), kept, protocol=ex.protocol).to_ascii_bytes()
        records = hashlib.sha256()
        offset, length = self._record(
            [("WARC-Date", date), *ip, ("WARC-Type", "response"), ("WARC-Record-ID", response_id), *common],
            response_head,
            ex.body,
            "application/http; msgtype=response",
            records,
        )
        request_head = StatusAndHeaders(
            f"{ex.method} {target} {ex.protocol}", [("Host", split.netloc), *ex.request_headers], is_http_request=True
        ).to_ascii_bytes()
        self._record(
            [("WARC-Date", date), ("WARC-Type", "request"), ("WARC-Record-ID", request_id), *common,
             ("WARC-Concurrent-To", response_id)],
            request_head,
            ex.request_body,
            "application/http; msgtype=request",
            records,
        )  # fmt: skip
        payload_sha256 = hashlib.sha256(ex.body).hexdigest()
        meta = {
            **ex.metadata,
            "payload_sha256": payload_sha256,
            "status_line_note": "reason phrase and header case reconstructed by the client",
            "removed_framing_headers": [f"{k}: {v}" for k, v in dropped],
        }
        self._record(
            [("WARC-Date", date), ("WARC-Refers-To", response_id), ("WARC-Type", "metadata"),
             ("WARC-Record-ID", metadata_id), *common],
            b"",
            json.dumps(meta, sort_keys=True, default=str).encode(),
            "application/json",
            records,
        )  # fmt: skip
        end = self._fh.tell()
        return WrittenRecord(response_id, offset, length, payload_sha256, end - offset, records.hexdigest())

    def close(self) -> None:
        self._fh.close()
