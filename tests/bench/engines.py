"""The search engines the catalog was chosen among, each doing the same work bare.

- FTS5: SQLite FTS5 (porter unicode61, diacritics folded), title and text inserted as the
  previous catalog did, beside a metadata table; ranked by bm25.
- tantivy: the same per-language analyser the catalog uses (French Snowball here, the
  synthetic archive's language), title and text indexed, nothing stored.
- DuckDB: no build at all; every query reads the Parquet manifests (locally, or from S3
  through the httpfs extension).

Each takes the manifest tables as pyarrow batches, so reading Parquet is the same work for all.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import tantivy

from researcher.textindex import _analyzer, query_string


def dir_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


class Fts5:
    name = "SQLite FTS5 (bare)"

    def __init__(self, path: Path):
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.executescript(
            """
            pragma journal_mode=wal; pragma synchronous=normal;
            create table meta(rowid integer primary key, capture_id text, source_id text, day text);
            create index meta_id on meta(capture_id);
            create index meta_source_day on meta(source_id, day);
            create virtual table fts using fts5(title, text, tokenize='porter unicode61 remove_diacritics 2');
            """
        )

    def add(self, batch: pa.RecordBatch) -> None:
        cols = batch.to_pydict()
        with self.db:
            start = self.db.execute("select coalesce(max(rowid), 0) from meta").fetchone()[0] + 1
            ids = range(start, start + batch.num_rows)
            days = [(p or "")[:10] for p in cols["published"]]
            self.db.executemany(
                "insert into meta values(?, ?, ?, ?)",
                zip(ids, cols["capture_id"], cols["source_id"], days, strict=True),
            )
            self.db.executemany(
                "insert into fts(rowid, title, text) values(?, ?, ?)",
                zip(ids, cols["title"], cols["text"], strict=True),
            )

    def finish(self) -> None:
        self.db.execute("pragma wal_checkpoint(truncate)")

    def mb(self) -> float:
        return dir_mb(self.path)

    def filter(self, source: str, lo: str, hi: str) -> int:
        sql = "select count(*) from meta where source_id = ? and day between ? and ?"
        n = self.db.execute(sql, (source, lo, hi)).fetchone()[0]
        self.db.execute(
            "select capture_id from meta where source_id = ? and day between ? and ? order by day limit 20",
            (source, lo, hi),
        ).fetchall()
        return int(n)

    def ranked(self, words: str) -> int:
        n = self.db.execute("select count(*) from fts where fts match ?", (words,)).fetchone()[0]
        self.db.execute(
            "select m.capture_id, snippet(fts, 1, '[', ']', '…', 12) from fts join meta m on m.rowid = fts.rowid "
            "where fts match ? order by bm25(fts) limit 20",
            (words,),
        ).fetchall()
        return int(n)

    def get(self, capture_id: str) -> Any:
        return self.db.execute("select rowid from meta where capture_id = ?", (capture_id,)).fetchone()


class Tantivy:
    name = "tantivy (bare, French stemmer)"

    def __init__(self, path: Path):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        sb = tantivy.SchemaBuilder()
        sb.add_text_field("capture_id", stored=True, tokenizer_name="raw")
        sb.add_text_field("source", tokenizer_name="raw")
        sb.add_integer_field("day", indexed=True, fast=True)
        sb.add_text_field("title", tokenizer_name="fr", index_option="position")
        sb.add_text_field("text", tokenizer_name="fr", index_option="position")
        self.schema = sb.build()
        self.path = path
        self.index = tantivy.Index(self.schema, path=str(path))
        self.index.register_tokenizer("fr", _analyzer("french"))
        self.writer = self.index.writer(heap_size=256_000_000, num_threads=2)

    def add(self, batch: pa.RecordBatch) -> None:
        cols = batch.to_pydict()
        for cid, source, pub, title, text in zip(
            cols["capture_id"], cols["source_id"], cols["published"], cols["title"], cols["text"], strict=True
        ):
            day = int((pub or "0000-00-00")[:10].replace("-", ""))
            doc = tantivy.Document(capture_id=cid, source=source, day=day, title=title or "", text=text or "")
            self.writer.add_document(doc)

    def finish(self) -> None:
        self.writer.commit()
        self.writer.wait_merging_threads()
        self.index.reload()
        gc = self.index.writer(heap_size=15_000_000, num_threads=1)  # merged-away segments deleted,
        gc.garbage_collect_files()  # as the catalog does, so sizes compare
        gc.wait_merging_threads()

    def mb(self) -> float:
        return dir_mb(self.path)

    def filter(self, source: str, lo: str, hi: str) -> int:
        q = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "source", source)),
                (
                    tantivy.Occur.Must,
                    tantivy.Query.range_query(
                        self.schema,
                        "day",
                        tantivy.FieldType.Integer,
                        int(lo.replace("-", "")),
                        int(hi.replace("-", "")),
                    ),
                ),
            ]
        )
        res = self.index.searcher().search(q, 20, count=True)
        return int(res.count)  # type: ignore[attr-defined]

    def ranked(self, words: str) -> int:
        q = self.index.parse_query(query_string(words), ["title", "text"], field_boosts={"title": 3.0})
        searcher = self.index.searcher()
        res = searcher.search(q, 20, count=True)
        for _score, address in res.hits:
            searcher.doc(address)
        return int(res.count)  # type: ignore[attr-defined]

    def get(self, capture_id: str) -> Any:
        q = tantivy.Query.term_query(self.schema, "capture_id", capture_id)
        return self.index.searcher().search(q, 1).hits


class DuckDB:
    """No build: SQL over the Parquet manifests where they lie."""

    def __init__(self, glob: str, setup: Callable[[Any], None] | None = None, name: str = "DuckDB on the manifests"):
        import duckdb

        self.name = name
        self.db = duckdb.connect()
        if setup:
            setup(self.db)
        self.src = f"read_parquet('{glob}', union_by_name=true)"

    def filter(self, source: str, lo: str, hi: str) -> int:
        where = f"source_id = '{source}' and substr(published, 1, 10) between '{lo}' and '{hi}'"
        n = self.db.execute(f"select count(*) from {self.src} where {where}").fetchall()[0][0]  # noqa: S608
        self.db.execute(f"select capture_id from {self.src} where {where} order by published limit 20").fetchall()  # noqa: S608
        return int(n)

    def ranked(self, words: str) -> int:
        """Unranked: DuckDB has no inverted index over these files; a phrase is a substring scan."""
        pattern = "%" + words.strip('"').lower() + "%"
        sql = f"select count(*) from {self.src} where lower(text) like ?"  # noqa: S608
        return int(self.db.execute(sql, (pattern,)).fetchall()[0][0])

    def get(self, capture_id: str) -> Any:
        return self.db.execute(f"select warc_key from {self.src} where capture_id = ?", (capture_id,)).fetchone()  # noqa: S608


def build(engine: Any, batches: Callable[[], Iterator[pa.RecordBatch]], rows: int) -> dict[str, Any]:
    """Feed every batch; rows/s per quarter (constant means linear) and size on disk."""
    t0 = time.perf_counter()
    done, marks = 0, []
    for batch in batches():
        engine.add(batch)
        done += batch.num_rows
        marks.append((done, time.perf_counter() - t0))
    engine.finish()
    total = time.perf_counter() - t0
    quarters, prev = [], 0.0
    for q in range(1, 5):
        t = next(t for d, t in marks if d >= rows * q / 4)
        quarters.append(round(rows / 4 / max(t - prev, 1e-9)))
        prev = t
    mb = engine.mb()
    return {
        "build_s": round(total, 1),
        "rows_per_s": round(rows / total),
        "by_quarter": quarters,
        "mb": round(mb),
        "bytes_per_row": round(mb * 2**20 / rows),
    }
