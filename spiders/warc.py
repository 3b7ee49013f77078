"""Write HTTP exchanges as WARC 1.1 records (request, response, metadata), gzip per record."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

# Hop-by-hop framing the client already undid: the stored payload is the entity body
# exactly as sent (still content-encoded), so these would mislead a WARC reader.
_FRAMING_HEADERS = {"transfer-encoding"}


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


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


class WarcFile:
    """One WARC part file being written; knows the offset and length of every record."""

    def __init__(self, path: Path, warcinfo: dict[str, str]):
        self.path = path
        self._fh: BinaryIO = path.open("wb")
        self._writer = WARCWriter(self._fh, gzip=True, warc_version="1.1")
        info = self._writer.create_warcinfo_record(path.name, warcinfo)
        self._writer.write_record(info)

    def _write(self, record: Any) -> tuple[int, int]:
        start = self._fh.tell()
        self._writer.write_record(record)
        return start, self._fh.tell() - start

    def write_exchange(self, ex: Exchange) -> WrittenRecord:
        date = ex.fetched_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        split = urlsplit(ex.url)
        target = (split.path or "/") + (f"?{split.query}" if split.query else "")
        req_headers = [("Host", split.netloc), *ex.request_headers]
        request = self._writer.create_warc_record(
            ex.url,
            "request",
            payload=BytesIO(ex.request_body),
            http_headers=StatusAndHeaders(f"{ex.method} {target} {ex.protocol}", req_headers, is_http_request=True),
            warc_headers_dict={"WARC-Date": date},
        )
        dropped = [(k, v) for k, v in ex.response_headers if k.lower() in _FRAMING_HEADERS]
        kept = [(k, v) for k, v in ex.response_headers if k.lower() not in _FRAMING_HEADERS]
        warc_headers = {"WARC-Date": date}
        if ex.remote_ip:
            warc_headers["WARC-IP-Address"] = ex.remote_ip
        response = self._writer.create_warc_record(
            ex.url,
            "response",
            payload=BytesIO(ex.body),
            http_headers=StatusAndHeaders(_status_line(ex.status), kept, protocol=ex.protocol),
            warc_headers_dict=warc_headers,
        )
        response_id = response.rec_headers.get_header("WARC-Record-ID")
        request.rec_headers.add_header("WARC-Concurrent-To", response_id)
        offset, length = self._write(response)
        self._write(request)
        payload_sha256 = hashlib.sha256(ex.body).hexdigest()
        meta = {
            **ex.metadata,
            "payload_sha256": payload_sha256,
            "status_line_note": "reason phrase and header case reconstructed by the client",
            "removed_framing_headers": [f"{k}: {v}" for k, v in dropped],
        }
        metadata = self._writer.create_warc_record(
            ex.url,
            "metadata",
            payload=BytesIO(json.dumps(meta, sort_keys=True, default=str).encode()),
            warc_content_type="application/json",
            warc_headers_dict={"WARC-Date": date, "WARC-Refers-To": response_id},
        )
        self._write(metadata)
        return WrittenRecord(response_id, offset, length, payload_sha256)

    def close(self) -> None:
        self._fh.close()
