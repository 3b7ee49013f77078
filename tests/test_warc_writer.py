"""The crawl's WARC writer lays out records exactly as warcio's WARCWriter does.

`spiders.warc.WarcFile` builds each exchange's three records itself (it is the crawl's
hot path); the reference below is the warcio-based writer it replaced. For a table of
exchanges both write a file; decompressed, the files are equal byte for byte once record
ids (random) and the warcinfo date (now) are named by order of appearance. Each record is
its own gzip member, the returned offset/length find the response, and `warcio check`
verifies every digest.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import sys
import zlib
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from spiders.warc import _FRAMING_HEADERS, Exchange, WarcFile, _status_line

WHEN = datetime(2026, 11, 30, 5, 6, 7, 891011, tzinfo=UTC)


def _reference(path: Path, info: dict[str, str], exchanges: list[Exchange]) -> None:
    """The warcio-based writer (the project's until issue 12), kept as the oracle."""
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True, warc_version="1.1")
        writer.write_record(writer.create_warcinfo_record(path.name, info))
        for ex in exchanges:
            date = ex.fetched_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            split = urlsplit(ex.url)
            target = (split.path or "/") + (f"?{split.query}" if split.query else "")
            request = writer.create_warc_record(
                ex.url,
                "request",
                payload=BytesIO(ex.request_body),
                http_headers=StatusAndHeaders(
                    f"{ex.method} {target} {ex.protocol}", [("Host", split.netloc), *ex.request_headers],
                    is_http_request=True,
                ),
                warc_headers_dict={"WARC-Date": date},
            )  # fmt: skip
            kept = [(k, v) for k, v in ex.response_headers if k.lower() not in _FRAMING_HEADERS]
            dropped = [(k, v) for k, v in ex.response_headers if k.lower() in _FRAMING_HEADERS]
            warc_headers = {"WARC-Date": date}
            if ex.remote_ip:
                warc_headers["WARC-IP-Address"] = ex.remote_ip
            response = writer.create_warc_record(
                ex.url,
                "response",
                payload=BytesIO(ex.body),
                http_headers=StatusAndHeaders(_status_line(ex.status), kept, protocol=ex.protocol),
                warc_headers_dict=warc_headers,
            )
            response_id = response.rec_headers.get_header("WARC-Record-ID")
            request.rec_headers.add_header("WARC-Concurrent-To", response_id)
            writer.write_record(response)
            writer.write_record(request)
            meta = {
                **ex.metadata,
                "payload_sha256": hashlib.sha256(ex.body).hexdigest(),
                "status_line_note": "reason phrase and header case reconstructed by the client",
                "removed_framing_headers": [f"{k}: {v}" for k, v in dropped],
            }
            writer.write_record(
                writer.create_warc_record(
                    ex.url,
                    "metadata",
                    payload=BytesIO(json.dumps(meta, sort_keys=True, default=str).encode()),
                    warc_content_type="application/json",
                    warc_headers_dict={"WARC-Date": date, "WARC-Refers-To": response_id},
                )
            )


def _exchange(**change: Any) -> Exchange:
    body = "<html><head><title>Été</title></head><body><p>Texte de l’article.</p></body></html>".encode()
    fields: dict[str, Any] = {
        "url": "https://francais.rt.com/international/1-article?x=1&y=%C3%A9",
        "method": "GET",
        "request_headers": [("Accept", "text/html"), ("User-Agent", "newsarchive/0.1"), ("Accept-Encoding", "gzip")],
        "request_body": b"",
        "status": 200,
        "response_headers": [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
        "body": body,
        "protocol": "HTTP/1.1",
        "remote_ip": "127.0.0.1",
        "fetched_at": WHEN,
        "metadata": {"kind": "article", "source_id": "rt_fr", "redirect_chain": [], "proxy": None},
    }
    return Exchange(**{**fields, **change})


CASES = {
    "article": _exchange(),
    "gzip payload, chunked framing dropped": _exchange(
        body=gzip.compress(b"<html>" + b"x" * 50_000 + b"</html>"),
        response_headers=[("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked"), ("Vary", "Accept-Encoding")],
    ),
    "empty body, no address": _exchange(body=b"", status=304, remote_ip=None, response_headers=[]),
    "POST with a body": _exchange(method="POST", request_body=b'{"q": 1}', url="https://x.example/wp-json/"),
    "non-ASCII header values (latin-1 decoded by Scrapy)": _exchange(
        response_headers=[("Content-Disposition", 'inline; filename="é.html"'), ("X-Title", "Ã©tÃ©")]
    ),
    "unknown status, root path": _exchange(status=599, url="https://x.example"),
    "HTTP/2": _exchange(protocol="HTTP/2.0"),
}


def _normalised(path: Path) -> bytes:
    text = gzip.decompress(path.read_bytes())
    ids: dict[bytes, bytes] = {}
    text = re.sub(rb"<urn:uuid:[0-9a-f-]+>", lambda m: ids.setdefault(m[0], b"<id-%d>" % len(ids)), text)
    return re.sub(
        rb"(WARC-Type: warcinfo\r\nWARC-Record-ID: <id-0>\r\nWARC-Filename: [^\r]+\r\nWARC-Date: )[^\r]+",
        rb"\1NOW",
        text,
    )


@pytest.mark.parametrize("names", [[name] for name in CASES] + [list(CASES)], ids=[*CASES, "all in one file"])
def test_records_equal_warcios_byte_for_byte(tmp_path: Path, names: list[str]) -> None:
    exchanges = [CASES[n] for n in names]
    info = {"software": "newsarchive test", "isPartOf": "rt_fr/run"}
    ours, reference = tmp_path / "ours" / "part.warc.gz", tmp_path / "ref" / "part.warc.gz"
    ours.parent.mkdir()
    reference.parent.mkdir()
    warc = WarcFile(ours, info)
    written = [warc.write_exchange(ex) for ex in exchanges]
    warc.close()
    _reference(reference, info, exchanges)
    assert _normalised(ours) == _normalised(reference)

    data = ours.read_bytes()
    for ex, w in zip(exchanges, written, strict=True):
        member = data[w.offset : w.offset + w.length]
        d = zlib.decompressobj(zlib.MAX_WBITS + 16)
        record = d.decompress(member)
        assert d.eof and not d.unused_data, "offset/length name exactly one gzip member"
        assert record.startswith(b"WARC/1.1\r\n") and f"WARC-Record-ID: {w.record_id}".encode() in record
        assert record.endswith(ex.body + b"\r\n\r\n") and w.payload_sha256 == hashlib.sha256(ex.body).hexdigest()
    with ours.open("rb") as fh:
        records = list(ArchiveIterator(fh))
    assert [r.rec_type for r in records] == ["warcinfo"] + ["response", "request", "metadata"] * len(exchanges)
    check = subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", "-v", str(ours)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "digest pass" in check.stdout and "digest fail" not in check.stdout
