"""The links step of a run: its new articles signed, indexed and linked across every source.

Each committed article's MinHash goes to the source's signatures log and to the log of the
week it was published (pipeline/linkindex.py); then the run's articles are compared with
every source's articles of the weeks around theirs (pipeline/syndication.py) and the links
found are committed to the links log of the source that republished (the later
publication). Signatures are committed before the archive is read, so of two sources'
runs linking at the same time at least one sees the other's articles; a link both find
is one row (keyed by the pair), and a retried step adds nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import linkindex, syndication
from pipeline.parallel import default_workers
from storage import manifest, tablelog
from storage.store import Store
from storage.tables import LINKS, SIGNATURES, row_id

log = logging.getLogger(__name__)


def signature_rows(rows: Iterable[dict[str, Any]], workers: int = 1) -> list[dict[str, Any]]:
    """The signatures-table rows of readable articles (not revisits: they are versions of an
    article already signed), signed on `workers` processes; a text too short to index gets
    no MinHash, but its row keeps its addresses and editions for translation links."""
    out = []
    todo = [r for r in rows if r.get("status") == "ok" and r.get("discovery_kind") != "revisit" and r.get("text")]
    for row, (values, n_words) in zip(todo, syndication.sign_all([r["text"] for r in todo], workers), strict=True):
        urls = {str(row[c]) for c in ("requested_url", "final_url", "canonical_url") if row.get(c)}
        editions = set(row.get("translations") or [])
        canonical, final = row.get("canonical_url"), row.get("final_url") or row.get("requested_url")
        if canonical and final and urlsplit(canonical).hostname != urlsplit(final).hostname:
            editions.add(canonical)  # a canonical on another site: another edition if its language differs
        out.append(
            {
                "capture_id": row["capture_id"],
                "source_id": row["source_id"],
                "url": row.get("final_url") or row.get("requested_url"),  # where it was archived
                "urls": sorted(urls),
                "translations": sorted(editions),
                "language": row.get("language"),
                "published": row.get("published") or row.get("fetched_at"),
                "text_sha256": row.get("text_sha256"),
                "words": n_words,
                "method": syndication.METHOD,
                "minhash": None if values is None else values.astype("<u4").tobytes(),
            }
        )
    return out


def as_matrix(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A binary column of equal-length signatures as an (n, NUM_PERM) uint32 matrix, no copy per row."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return np.zeros((0, syndication.NUM_PERM), dtype=np.uint32)
    if arr.null_count or len(set(pc.binary_length(arr).unique().to_pylist())) != 1:
        raise ValueError("signatures of unequal length")
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype="<u4", count=(offsets[-1] - offsets[0]) // 4, offset=offsets[0])
    return data.reshape(len(arr), syndication.NUM_PERM)


def translation_pairs(new: list[dict[str, Any]], stored: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(capture, capture) pairs of one story's editions in two languages, where either page
    names the other's address (hreflang, JSON-LD, or a canonical on another site) and their
    languages differ. Rows carry capture_id, urls, translations and language. Pure."""
    by_url: dict[str, set[str]] = {}
    rows = {r["capture_id"]: r for r in [*stored, *new]}
    for r in rows.values():
        for u in r.get("urls") or ():
            by_url.setdefault(u, set()).add(r["capture_id"])
    pairs: set[tuple[str, str]] = set()
    new_ids = {r["capture_id"] for r in new}
    for r in rows.values():
        me = r["capture_id"]
        for u in r.get("translations") or ():
            for other in by_url.get(u, ()):
                involves_new = me in new_ids or other in new_ids
                another_language = not r.get("language") or rows[other].get("language") != r.get("language")
                if other != me and involves_new and another_language:
                    pairs.add((min(me, other), max(me, other)))
    return pairs


def link_rows(
    links: list[syndication.Link],
    translations: set[tuple[str, str]],
    meta: dict[str, dict[str, Any]],
    run: str,
    detected_at: str,
) -> list[dict[str, Any]]:
    """Links-table rows: syndication links as found, translation pairs oriented from the later
    publication to the earlier; `meta` holds each capture's source, url and date. Pure."""
    found: list[tuple[str, str, str, float | None, str]] = [
        ("syndication", lk.republished, lk.original, lk.similarity, syndication.METHOD) for lk in links
    ]
    for a, b in sorted(translations):
        later, earlier = (a, b) if (meta[a]["published"], a) > (meta[b]["published"], b) else (b, a)
        found.append(("translation", later, earlier, None, "hreflang/json-ld"))
    return [
        {
            "link_id": row_id(kind, later, earlier),
            "kind": kind,
            "republished": later,
            "republished_source": meta[later]["source_id"],
            "republished_url": meta[later]["url"],
            "republished_published": meta[later]["published"],
            "original": earlier,
            "original_source": meta[earlier]["source_id"],
            "original_url": meta[earlier]["url"],
            "original_published": meta[earlier]["published"],
            "similarity": similarity,
            "method": method,
            "run": run,
            "detected_at": detected_at,
        }
        for kind, later, earlier, similarity, method in found
    ]


_META = ["capture_id", "source_id", "url", "urls", "translations", "language", "published"]


def load_index(
    store: Store,
    exclude: set[str],
    weeks: list[str],
    on_corrupt: Callable[[tablelog.CorruptPart], None] | None = None,
) -> tuple[syndication.Linker, dict[str, dict[str, Any]]]:
    """The signatures of this method filed under `weeks` (pipeline/linkindex.py) but
    `exclude`, indexed; and each one's source, addresses, translations, language and date.
    A corrupt part is reported to `on_corrupt` and left out: its articles are not linked
    this time, every other one is."""
    table = linkindex.read(store, weeks, [*_META, "method", "minhash"], on_corrupt=on_corrupt)
    table = table.filter(pc.equal(table["method"], syndication.METHOD))
    if exclude:
        table = table.filter(pc.invert(pc.is_in(table["capture_id"], pa.array(sorted(exclude)))))
    meta = {r["capture_id"]: {**r, "published": r["published"] or ""} for r in table.select(_META).to_pylist()}
    signed = table.filter(pc.is_valid(table["minhash"]))
    linker = syndication.Linker()
    published = [p or "" for p in signed["published"].to_pylist()]
    ids, sources = signed["capture_id"].to_pylist(), signed["source_id"].to_pylist()
    linker.load(ids, sources, published, as_matrix(signed["minhash"]))
    return linker, meta


def link_run(store: Store, crawl: dict[str, Any], committed: dict[str, Any]) -> dict[str, Any]:
    """Sign the articles the run committed, link them with the archive, commit both."""
    source_id, run = crawl["source_id"], crawl["run"]
    if not committed.get("manifest"):
        return {"signed": 0, "links": 0, "commits": []}
    rows = manifest.read_rows(store, committed["manifest"])
    signed = signature_rows(rows, default_workers())
    if not signed:
        return {"signed": 0, "links": 0, "commits": []}
    done = tablelog.commit(store, SIGNATURES, source_id, signed, {"kind": "signatures", "run": run})
    commits: list[dict[str, Any]] = [{"key": done.key, "new_rows": len(done.rows)}]
    # filed before the index is read, so of two sources linking at once one sees the other's
    filed = linkindex.file(store, signed, {"kind": "lsh", "run": run, "by": source_id})
    commits += filed
    new_ids = {r["capture_id"] for r in signed}
    damaged: list[str] = []

    def skip(exc: tablelog.CorruptPart) -> None:
        log.warning("links: %s; skipped (its articles are not linked this run; run `archive verify`)", exc)
        damaged.append(exc.key)

    weeks = linkindex.weeks_around(f["week"] for f in filed)
    linker, meta = load_index(store, new_ids, weeks, skip)
    new = [{**{k: r[k] for k in _META}, "published": r["published"] or ""} for r in signed]
    stored = [m for m in meta.values() if m["translations"]]
    meta |= {r["capture_id"]: r for r in new}
    indexed = [r for r in signed if r["minhash"] is not None]
    found = linker.add_signed(
        [r["capture_id"] for r in indexed],
        [r["source_id"] for r in indexed],
        [r["published"] or "" for r in indexed],
        np.stack([np.frombuffer(r["minhash"], dtype="<u4") for r in indexed])
        if indexed
        else np.zeros((0, syndication.NUM_PERM), dtype=np.uint32),
    )
    editions = translation_pairs(new, stored)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in link_rows(found, editions, meta, run, now):
        by_source.setdefault(row["republished_source"], []).append(row)
    for source, link_batch in sorted(by_source.items()):
        done = tablelog.commit(store, LINKS, source, link_batch, {"kind": "links", "run": run, "by": source_id})
        commits.append({"key": done.key, "new_rows": len(done.rows)})
    return {
        "signed": len(indexed),
        "weeks_read": len(weeks),
        "compared_with": len(linker) - len(indexed),
        "links": len(found),
        "translations": len(editions),
        "commits": commits,
        **({"skipped_parts": damaged} if damaged else {}),
    }
