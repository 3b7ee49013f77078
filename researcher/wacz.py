"""WACZ export: the selected captures' WARC records with a CDXJ index and a page list,
zipped per the WACZ 1.1.1 spec so pywb and ReplayWeb.page replay them as served.

Each capture contributes its response, request and metadata records, copied byte for
byte from the archive (each record its own gzip member), so the digests in the
manifests still hold inside the package. Memory stays bounded: records stream into a
temporary WARC, the index is sorted by cdxj-indexer, pages stream to disk.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from researcher.reader import verified_records
from storage.store import Store

WACZ_VERSION = "1.1.1"
WARC_NAME = "data.warc.gz"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _page(row: dict[str, Any]) -> dict[str, Any]:
    """A pages.jsonl entry; the clean text lets ReplayWeb.page search the package."""
    return {
        "id": row["capture_id"],
        "url": row["final_url"],
        "ts": row["fetched_at"],
        "title": row.get("title") or row["final_url"],
        "text": row.get("text") or "",
    }


def _index(warc: Path, out: Path) -> None:
    from cdxj_indexer.main import CDXJIndexer

    # response records only: the JSON metadata record shares the URL and must not be replayed
    CDXJIndexer(str(out), [str(warc)], sort=True, filename=WARC_NAME, records="response,revisit,resource").process_all()


def write_wacz(rows: Iterable[dict[str, Any]], store: Store, path: Path, title: str = "newsarchive export") -> int:
    """Write the rows' captures as a WACZ file at path; returns the number of captures."""
    n = 0
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.") as tmp:
        parts = {
            f"archive/{WARC_NAME}": Path(tmp, WARC_NAME),
            "pages/pages.jsonl": Path(tmp, "pages.jsonl"),
            "indexes/index.cdx": Path(tmp, "index.cdx"),
            # what happened to the captures afterwards: events and links, a line per capture that has any
            "aftermath/aftermath.jsonl": Path(tmp, "aftermath.jsonl"),
        }
        with (
            parts[f"archive/{WARC_NAME}"].open("wb") as warc,
            parts["pages/pages.jsonl"].open("w") as pages,
            parts["aftermath/aftermath.jsonl"].open("w") as aftermath,
        ):
            pages.write(json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}) + "\n")
            for row in rows:
                warc.write(verified_records(store, row))  # never packs bytes the archive did not commit
                pages.write(json.dumps(_page(row), ensure_ascii=False) + "\n")
                found = {c: json.loads(row.get(c) or "[]") for c in ("events", "links")}
                if found["events"] or found["links"]:
                    aftermath.write(json.dumps({"capture_id": row["capture_id"], **found}, ensure_ascii=False) + "\n")
                n += 1
        _index(parts[f"archive/{WARC_NAME}"], parts["indexes/index.cdx"])
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        package = {
            "profile": "data-package",
            "wacz_version": WACZ_VERSION,
            "title": title,
            "created": now,
            "modified": now,
            "software": f"newsarchive {version('newsarchive')}",
            "resources": [
                {"name": Path(name).name, "path": name, "hash": f"sha256:{_sha256(p)}", "bytes": p.stat().st_size}
                for name, p in parts.items()
            ],
        }
        data = json.dumps(package, indent=1).encode()
        digest = {"path": "datapackage.json", "hash": f"sha256:{hashlib.sha256(data).hexdigest()}"}
        with zipfile.ZipFile(path, "w") as z:
            for name, p in parts.items():
                # WARCs are stored, not deflated: replay tools read records by offset inside the zip
                z.write(p, name, zipfile.ZIP_STORED if name.startswith("archive/") else zipfile.ZIP_DEFLATED)
            z.writestr("datapackage.json", data, zipfile.ZIP_DEFLATED)
            z.writestr("datapackage-digest.json", json.dumps(digest), zipfile.ZIP_DEFLATED)
    return n
