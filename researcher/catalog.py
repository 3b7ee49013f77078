"""The catalog: a local SQLite copy of every committed manifest row, with a full-text index.

The manifests stay the archive's truth; the catalog is a cache on the researcher's disk
(the archive itself may be read-only S3) that makes search, lookup by capture id and
streaming exports fast at millions of rows. It is brought up to date incrementally: a
manifest is (re)read only when its listing version (S3 ETag, or mtime and size) changed,
and deleting the file rebuilds it from scratch.

Full text uses FTS5 with the Porter stemmer (English) on top of unicode61 with case and
diacritics folded; other languages (French included) are matched by whole token.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from storage import layout, manifest
from storage.errors import PermanentError
from storage.store import Store

SCHEMA_VERSION = 2
SORTS = ("published", "captured", "source", "url", "rank")
STATUSES = ("ok", "extraction_failed", "blocked")
# FTS5 snippet markers: private-use characters no article contains, turned into brackets
# (JSONL, CSV) or highlighting (a terminal) by whoever shows the snippet.
MARK_START, MARK_END = "\ue000", "\ue001"
# Columns kept outside the JSON row: what queries filter, sort and rank on.
_INDEXED = (
    "capture_id",
    "extraction_id",
    "extracted_at",
    "source_id",
    "status",
    "published",
    "fetched_at",
    "language",
    "requested_url",
    "final_url",
    "canonical_url",
    "title",
    "text",
)
_DDL = f"""
create table manifests(key text primary key, version text not null, rows integer not null);
create table captures(
  rowid integer primary key,
  manifest_key text not null,
  latest integer not null default 0,
  day text,
  {", ".join(f"{c} text" for c in _INDEXED)},
  row text not null
);
create index captures_id on captures(capture_id);
create index captures_manifest on captures(manifest_key);
create index captures_source_day on captures(latest, source_id, day);
create index captures_day on captures(latest, day);
create index captures_fetched on captures(latest, fetched_at);
create index captures_final_url on captures(final_url);
create index captures_requested_url on captures(requested_url);
create index captures_canonical_url on captures(canonical_url);
create virtual table fts using fts5(
  title, text, content='captures', content_rowid='rowid',
  tokenize='porter unicode61 remove_diacritics 2'
);
pragma user_version = {SCHEMA_VERSION};
"""
_LATEST = """
update captures set latest = (rowid = (
  select c2.rowid from captures c2 where c2.capture_id = captures.capture_id
  order by c2.extracted_at desc, c2.rowid desc limit 1))
where capture_id in (select capture_id from affected)
"""


@dataclass(frozen=True)
class Query:
    """A selection of committed captures (each capture's latest extraction)."""

    sources: tuple[str, ...] = ()
    date_from: date | None = None  # published date (the run's date when unknown), inclusive
    date_to: date | None = None
    text: str | None = None  # full text (title and body); "quoted words" form a phrase
    url_prefix: str | None = None  # requested, final or canonical URL
    language: str | None = None  # 'fr' also matches 'fr-FR'
    limit: int | None = None
    captured_from: date | None = None  # capture (fetch) date, inclusive
    captured_to: date | None = None
    title: str | None = None  # words or phrase in the title only
    sort: str | None = None  # one of SORTS; default: rank with text, else published
    descending: bool = False
    statuses: tuple[str, ...] = ()  # default: all, a blocked capture hidden behind a good one of its URL

    def __post_init__(self) -> None:
        for lo, hi, what in (
            (self.date_from, self.date_to, "published"),
            (self.captured_from, self.captured_to, "capture"),
        ):
            if lo and hi and lo > hi:
                raise PermanentError(f"{what} date range is inverted: {lo} is after {hi}")
        if self.sort is not None and self.sort not in SORTS:
            raise PermanentError(f"unknown sort {self.sort!r}; choose one of {', '.join(SORTS)}")
        if self.sort == "rank" and not (self.text or self.title):
            raise PermanentError("sorting by rank needs a text or title query")
        if self.limit is not None and self.limit < 1:
            raise PermanentError(f"limit must be positive, not {self.limit}")
        unknown = [s for s in self.statuses if s not in STATUSES]
        if unknown:
            raise PermanentError(f"unknown status {unknown[0]!r}; choose one of {', '.join(STATUSES)}")


def fts_query(text: str, column: str | None = None) -> str:
    """User text as an FTS5 query that cannot be a syntax error: every word a quoted token.

    Words in double quotes stay together as a phrase: `"deir ez-zor" frappe`.
    """
    parts = re.findall(r'"([^"]+)"|(\S+)', text)
    terms = []
    for phrase, word in parts:
        tokens = re.findall(r"\w+", phrase or word)
        if tokens:
            terms.append(("title : " if column == "title" else "") + '"' + " ".join(tokens) + '"')
    if not terms:
        raise PermanentError(f"nothing to search for in {text!r}")
    return " AND ".join(terms)


def _next_day(d: date) -> str:
    return (d + timedelta(days=1)).isoformat()


class Catalog:
    def __init__(self, path: Path | str = ":memory:"):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self.db = sqlite3.connect(self.path, timeout=60)
        self.db.execute("pragma journal_mode=wal")
        self.db.execute("pragma synchronous=normal")
        if self.db.execute("pragma user_version").fetchone()[0] != SCHEMA_VERSION:
            self._recreate()

    def _recreate(self) -> None:
        """A cache of an older layout is dropped and rebuilt from the manifests."""
        with self.db:
            names = [r[0] for r in self.db.execute("select name from sqlite_master where type in ('table', 'view')")]
            for name in names:
                if not name.startswith(("sqlite_", "fts_")):
                    self.db.execute(f'drop table if exists "{name}"')
        self.db.executescript(_DDL)

    # -- keeping up with the manifests ------------------------------------------------

    def update(
        self,
        store: Store,
        progress: Callable[[int, int], None] | None = None,
        on_corrupt: Callable[[manifest.CorruptManifest], None] | None = None,
    ) -> int:
        """Read manifest parts that are new or changed, forget removed ones; returns rows (re)indexed.

        A part that cannot be read is reported to on_corrupt and skipped (tried again next
        time), or raises CorruptManifest without on_corrupt."""
        listed = {
            i.key: i.version for i in store.list_info(layout.manifests_prefix()) if layout.parse_commit_key(i.key)
        }
        known = dict(self.db.execute("select key, version from manifests"))
        changed = [k for k, v in listed.items() if known.get(k) != v]
        gone = [k for k in known if k not in listed]
        added = 0
        for done, key in enumerate([*gone, *changed], 1):
            try:
                rows = manifest.read_rows(store, key) if key in listed else []
            except manifest.CorruptManifest as exc:
                if on_corrupt is None:
                    raise
                on_corrupt(exc)
                continue
            with self.db:
                self._replace(key, rows)
                if key in listed:
                    self.db.execute(
                        "insert or replace into manifests(key, version, rows) values(?, ?, ?)",
                        (key, listed[key], len(rows)),
                    )
                else:
                    self.db.execute("delete from manifests where key=?", (key,))
            added += len(rows)
            if progress:
                progress(done, len(gone) + len(changed))
        return added

    def _replace(self, key: str, rows: list[dict[str, Any]]) -> None:
        """Swap one manifest's rows and recompute which extraction of each capture is the latest."""
        db = self.db
        db.execute("create temp table if not exists affected(capture_id text primary key)")
        db.execute("delete from affected")
        db.execute("insert or ignore into affected select capture_id from captures where manifest_key=?", (key,))
        db.executemany("insert or ignore into affected values(?)", [(r["capture_id"],) for r in rows])
        db.execute(
            "insert into fts(fts, rowid, title, text) select 'delete', rowid, title, text "
            "from captures where manifest_key=?",
            (key,),
        )
        db.execute("delete from captures where manifest_key=?", (key,))
        cols = ("manifest_key", "day", *_INDEXED, "row")
        sql = f"insert into captures({', '.join(cols)}) values({', '.join('?' * len(cols))})"
        for r in rows:
            day = (r.get("published") or r.get("logical_date") or "")[:10] or None
            rest = {k: v for k, v in r.items() if k != "text"}
            cur = db.execute(sql, (key, day, *(r.get(c) for c in _INDEXED), json.dumps(rest, ensure_ascii=False)))
            db.execute(
                "insert into fts(rowid, title, text) values(?, ?, ?)", (cur.lastrowid, r.get("title"), r.get("text"))
            )
        db.execute(_LATEST)

    # -- reading ----------------------------------------------------------------------

    def _select(self, q: Query, what: str) -> tuple[str, list[Any]]:
        # a blocked capture is superseded, for readers, by a later good capture of its URL (both stay)
        superseded = (
            "not (c.status = 'blocked' and exists (select 1 from captures g where g.latest = 1 "
            "and g.requested_url = c.requested_url and g.status != 'blocked'))"
        )
        where: list[str] = ["c.latest = 1"]
        args: list[Any] = []
        if q.statuses:  # asked for by status: every capture of those, superseded or not
            where.append(f"c.status in ({', '.join('?' * len(q.statuses))})")
            args.extend(q.statuses)
        else:
            where.append(superseded)
        joined = bool(q.text or q.title)
        if joined:
            match = " AND ".join(fts_query(t, col) for t, col in ((q.text, None), (q.title, "title")) if t is not None)
            where.append("fts match ?")
            args.append(match)
        if q.sources:
            where.append(f"c.source_id in ({', '.join('?' * len(q.sources))})")
            args.extend(q.sources)
        if q.date_from:
            where.append("c.day >= ?")
            args.append(q.date_from.isoformat())
        if q.date_to:
            where.append("c.day <= ?")
            args.append(q.date_to.isoformat())
        if q.captured_from:
            where.append("c.fetched_at >= ?")
            args.append(q.captured_from.isoformat())
        if q.captured_to:
            where.append("c.fetched_at < ?")
            args.append(_next_day(q.captured_to))
        if q.language:
            where.append("(c.language = ? or c.language like ?)")
            args.extend([q.language, f"{q.language}-%"])
        if q.url_prefix:
            ors = " or ".join(f"(c.{c} >= ? and c.{c} < ?)" for c in ("requested_url", "final_url", "canonical_url"))
            where.append(f"({ors})")
            args.extend([q.url_prefix, q.url_prefix + "\U0010ffff"] * 3)
        source = "captures c join fts on fts.rowid = c.rowid" if joined else "captures c"
        return f"select {what} from {source} where {' and '.join(where)}", args  # noqa: S608

    def count(self, q: Query) -> int:
        sql, args = self._select(q, "count(*)")
        return int(self.db.execute(sql, args).fetchone()[0])

    def rows(self, q: Query) -> Iterator[dict[str, Any]]:
        """Matching rows, streamed from the database in the query's order."""
        ranked = bool(q.text or q.title)
        what = "c.row, c.text" + (
            f", snippet(fts, 1, '{MARK_START}', '{MARK_END}', ' … ', 12), bm25(fts, 3.0, 1.0)" if ranked else ""
        )
        sql, args = self._select(q, what)
        sort = q.sort or ("rank" if ranked else "published")
        order = {
            "published": "c.day {d}, c.published {d}, c.capture_id",
            "captured": "c.fetched_at {d}, c.capture_id",
            "source": "c.source_id {d}, c.day, c.capture_id",
            "url": "c.final_url {d}, c.fetched_at",
            "rank": "bm25(fts, 3.0, 1.0) {d}, c.capture_id",
        }[sort].format(d="desc" if q.descending else "asc")
        sql += f" order by {order}"
        if q.limit:
            sql += " limit ?"
            args.append(q.limit)
        for rec in self.db.execute(sql, args):
            row = {**json.loads(rec[0]), "text": rec[1]}
            if ranked:
                row["snippet"], row["score"] = " ".join((rec[2] or "").split()), rec[3]  # one line
            yield row

    def extractions(self, capture_id: str) -> list[dict[str, Any]]:
        """Every extraction of a capture, newest first."""
        cur = self.db.execute(
            "select row, text from captures where capture_id = ? order by extracted_at desc, rowid desc",
            (capture_id,),
        )
        return [{**json.loads(r), "text": t} for r, t in cur]

    def versions(self, url: str) -> list[dict[str, Any]]:
        """Latest extraction of every capture of a URL (requested, final or canonical), oldest first."""
        cur = self.db.execute(
            "select row, text from captures where latest = 1 and capture_id in ("
            " select capture_id from captures where requested_url = ? or final_url = ? or canonical_url = ?)"
            " order by fetched_at, capture_id",
            (url, url, url),
        )
        return [{**json.loads(r), "text": t} for r, t in cur]

    def check_known(self, q: Query) -> None:
        """An unknown source or language is an error that lists the known ones, not an empty result."""
        sources = [r[0] for r in self.db.execute("select distinct source_id from captures order by 1")]
        for source in q.sources:
            if source not in sources:
                raise PermanentError(f"unknown source {source!r}; the archive holds: {', '.join(sources) or 'nothing'}")
        if q.language:
            languages = sorted({str(r[0]) for r in self.db.execute("select distinct language from captures") if r[0]})
            if not any(lang == q.language or lang.startswith(q.language + "-") for lang in languages):
                known = ", ".join(languages) or "none"
                raise PermanentError(f"unknown language {q.language!r}; the archive holds: {known}")

    def close(self) -> None:
        self.db.close()


def default_catalog_path(archive_url: str) -> Path:
    """One catalog per archive URL under $NEWSARCHIVE_CACHE (default ~/.cache/newsarchive)."""
    base = os.environ.get("NEWSARCHIVE_CACHE") or Path.home() / ".cache" / "newsarchive"
    digest = hashlib.sha256(archive_url.encode()).hexdigest()[:16]
    return Path(base) / f"catalog-{digest}.sqlite"
