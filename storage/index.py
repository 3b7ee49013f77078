"""A local full-text index (SQLite FTS5) of committed captures, updated incrementally from the manifests.

The archive itself may be read-only S3: the index is a cache on the researcher's disk,
rebuilt from scratch whenever it is deleted. Each manifest is indexed once per content
digest, so a re-run that merges rows into a manifest is picked up on the next update.
FTS5 ships one stemmer (Porter, English); other languages are matched by token, with
case and diacritics folded.
"""

from __future__ import annotations

import hashlib
import io
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from storage import manifest
from storage.errors import PermanentError
from storage.store import Store

_SCHEMA = """
create table if not exists indexed(key text primary key, sha256 text not null);
create table if not exists captures(
  rowid integer primary key,
  capture_id text not null, extraction_id text, extracted_at text,
  source_id text, published text, fetched_at text, language text,
  final_url text, title text, text text,
  unique(capture_id, extraction_id)
);
create virtual table if not exists fts using fts5(
  title, text, content='captures', content_rowid='rowid',
  tokenize='porter unicode61 remove_diacritics 2'
);
"""
_FIELDS = (
    "capture_id",
    "extraction_id",
    "extracted_at",
    "source_id",
    "published",
    "fetched_at",
    "language",
    "final_url",
    "title",
    "text",
)


@dataclass(frozen=True)
class Hit:
    capture_id: str
    source_id: str
    published: str | None
    title: str | None
    final_url: str
    snippet: str
    score: float


def fts_query(text: str) -> str:
    """User text as an FTS5 query that cannot be a syntax error: every word a quoted token.

    Words in double quotes stay together as a phrase: `"deir ez-zor" frappe`.
    """
    parts = re.findall(r'"([^"]+)"|(\S+)', text)
    terms = []
    for phrase, word in parts:
        tokens = re.findall(r"\w+", phrase or word)
        if tokens:
            terms.append('"' + " ".join(tokens) + '"')
    if not terms:
        raise PermanentError(f"nothing to search for in {text!r}")
    return " AND ".join(terms)


class FullTextIndex:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.executescript(_SCHEMA)

    def update(self, store: Store) -> int:
        """Index manifests that are new or changed; returns how many rows were (re)indexed."""
        known = dict(self.db.execute("select key, sha256 from indexed"))
        added = 0
        for key in manifest.manifest_keys(store):
            data = store.get_bytes(key)
            digest = hashlib.sha256(data).hexdigest()
            if known.get(key) == digest:
                continue
            rows = pq.read_table(io.BytesIO(data)).to_pylist()
            with self.db:
                for row in rows:
                    values = [row.get(f) for f in _FIELDS]
                    old = self.db.execute(
                        "select rowid, title, text from captures where capture_id=? and extraction_id is ?",
                        (row["capture_id"], row.get("extraction_id")),
                    ).fetchone()
                    if old:
                        self.db.execute("insert into fts(fts, rowid, title, text) values('delete', ?, ?, ?)", old)
                        self.db.execute("delete from captures where rowid=?", (old[0],))
                    cur = self.db.execute(
                        f"insert into captures({', '.join(_FIELDS)}) values({', '.join('?' * len(_FIELDS))})", values
                    )
                    self.db.execute(
                        "insert into fts(rowid, title, text) values(?, ?, ?)",
                        (cur.lastrowid, row.get("title"), row.get("text")),
                    )
                    added += 1
                self.db.execute("insert or replace into indexed(key, sha256) values(?, ?)", (key, digest))
        return added

    def search(self, text: str, sources: tuple[str, ...] = (), limit: int = 50) -> list[Hit]:
        """Ranked matches (BM25, title weighted 3x) among each capture's latest extraction."""
        where = ["fts match ?"]
        args: list[Any] = [fts_query(text)]
        if sources:
            where.append(f"c.source_id in ({', '.join('?' * len(sources))})")
            args.extend(sources)
        # only placeholders are interpolated; every value is bound
        sql = f"""
            select c.capture_id, c.source_id, c.published, c.title, c.final_url,
                   snippet(fts, 1, '[', ']', ' … ', 12), bm25(fts, 3.0, 1.0)
            from fts join captures c on c.rowid = fts.rowid
            where {" and ".join(where)}
              and c.extracted_at is (select max(extracted_at) from captures c2 where c2.capture_id = c.capture_id)
            order by bm25(fts, 3.0, 1.0) limit ?"""  # noqa: S608
        args.append(limit)
        return [Hit(*r) for r in self.db.execute(sql, args)]

    def close(self) -> None:
        self.db.close()


def default_index_path(archive_url: str) -> Path:
    digest = hashlib.sha256(archive_url.encode()).hexdigest()[:16]
    return Path.home() / ".cache" / "newsarchive" / f"index-{digest}.sqlite"
