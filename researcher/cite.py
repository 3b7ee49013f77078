"""Citations of a capture: a plain line, BibTeX and CSL-JSON (what Zotero and pandoc read).

Every form names the archived copy (capture id, capture time to the second, payload
SHA-256) beside the original URL, so a reader of the citation can ask the archive for exactly
those bytes; given the archive's address of the capture (`/web/<timestamp>/<url>`, absolute),
the citation carries it too, as the Wayback Machine's citations do.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any


def captured(row: dict[str, Any]) -> str:
    """The capture time to the second, UTC (ISO 8601 with Z): what a reader can check."""
    text = str(row.get("fetched_at") or "")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def citation(row: dict[str, Any], outlet: str | None = None, address: str | None = None) -> str:
    """A stable citation line: outlet, title, published, URL, capture time, [archive address,]
    capture id, SHA-256."""
    published = (row.get("published") or "n.d.")[:10]
    archived = f" Archived at {address}" if address else ""
    return (
        f"{outlet or row['source_id']}. \u201c{row.get('title') or 'Untitled'}.\u201d Published {published}. "
        f"{row['final_url']}. Captured {captured(row)}{archived} (newsarchive capture {row['capture_id']}, "
        f"payload SHA-256 {row['payload_sha256']})."
    )


def _note(row: dict[str, Any], address: str | None = None) -> str:
    capture, sha = row["capture_id"], row["payload_sha256"]
    archived = f", archived at {address}" if address else ""
    return f"newsarchive capture {capture}, captured {captured(row)}{archived}, payload SHA-256 {sha}"


def _date_parts(value: str | None) -> list[list[int]] | None:
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", value or "")
    return [[int(m[1]), int(m[2]), int(m[3])]] if m else None


def _bib_escape(text: str) -> str:
    """BibTeX special characters escaped; braces keep the capitalisation of titles."""
    return re.sub(r"([&%$#_{}])", r"\\\1", text).replace("~", r"\textasciitilde{}").replace("^", r"\^{}")


def bibtex(row: dict[str, Any], outlet: str | None = None, address: str | None = None) -> str:
    """An @online entry (biblatex; BibTeX styles read it as @misc)."""
    key = re.sub(r"\W", "", row["source_id"]) + "_" + (row.get("published") or "nd")[:10].replace("-", "")
    key += "_" + row["capture_id"][-8:]
    fields = [
        ("title", "{" + _bib_escape(row.get("title") or "Untitled") + "}"),
        ("author", " and ".join(_bib_escape(a) for a in row.get("authors") or []) or None),
        ("organization", _bib_escape(outlet or row["source_id"])),
        ("date", (row.get("published") or "")[:10] or None),
        ("url", row["final_url"]),
        ("urldate", (row.get("fetched_at") or "")[:10] or None),
        ("note", _bib_escape(_note(row, address))),
    ]
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields if v)
    return f"@online{{{key},\n{body}\n}}\n"


def csl_json(row: dict[str, Any], outlet: str | None = None, address: str | None = None) -> dict[str, Any]:
    """One CSL-JSON item (type article-newspaper)."""
    item: dict[str, Any] = {
        "id": row["capture_id"],
        "type": "article-newspaper",
        "title": row.get("title") or "Untitled",
        "container-title": outlet or row["source_id"],
        "URL": row["final_url"],
        "note": _note(row, address),
    }
    if address:
        item["archive_location"] = address  # CSL's variable for "where in an archive"
    if row.get("authors"):
        item["author"] = [{"literal": a} for a in row["authors"]]
    if issued := _date_parts(row.get("published")):
        item["issued"] = {"date-parts": issued}
    if accessed := _date_parts(row.get("fetched_at")):
        item["accessed"] = {"date-parts": accessed}
    if row.get("language"):
        item["language"] = row["language"]
    return item
