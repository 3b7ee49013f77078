"""The catalog: a local index of every committed manifest row: SQLite for metadata, tantivy for text.

The manifests stay the archive's truth; the catalog is a cache on the researcher's disk
(the archive itself may be read-only S3) that makes search, lookup by capture id and
streaming exports fast at millions of rows. It is brought up to date from the last log
position it applied per source: one delimited LIST names the sources, one LIST per source
starts at that position (S3's StartAfter), and only the parts after it are read, so an
update costs what is new, never the archive's age. The part at the position is listed
again and its version (S3 ETag, or mtime and size) compared: another archive under the
same name makes that source read in full. Parts that cannot be read are kept in `unread`
and tried again at each update. Deleting the catalog rebuilds it from scratch.

SQLite holds each row's metadata (no text), with the two flags readers filter on kept
up to date as rows arrive: `latest` (the capture's newest extraction) and `shown` (latest,
and not a blocked capture superseded by a good capture of its URL). The full text lives in
a tantivy index beside it (researcher/textindex.py), keyed by SQLite's never-reused row id.
Rows whose text entry is still to be written are listed in `text_todo` in the same SQLite
transaction that adds them, and cleared only after tantivy commits: a build killed mid-way
finishes its text index on the next update, from the manifests.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from researcher.textindex import MARK_END, MARK_START, TextIndex, query_string, terms
from researcher.wayback.cdx import line_fields
from storage import layout, manifest
from storage.errors import PermanentError
from storage.store import Store

__all__ = ["MARK_END", "MARK_START", "SORTS", "STATUSES", "Catalog", "Query", "query_string"]

SCHEMA_VERSION = 12  # 10: SURT keys (CDX, Memento); 12: parts' source and number, walk index (JSON API)
SORTS = ("published", "captured", "source", "url", "rank")
STATUSES = ("ok", "extraction_failed", "not_article", "blocked")
FACETS = ("source", "status", "language", "month")
# Columns kept outside the JSON row: what queries filter, sort and show.
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
)
_DDL = f"""
create table manifests(
  id integer primary key, key text unique not null, version text not null, rows integer not null,
  src text, seq integer  -- the part's source and commit number: what an API walk's snapshot names
);
create table positions(folder text primary key, seq integer not null, key text not null, version text not null);
create table unread(key text primary key, version text not null, why text not null);
create table captures(
  rowid integer primary key autoincrement,
  manifest integer not null,
  pos integer not null,  -- the row's place in its manifest part, where its text is read
  latest integer not null default 1,
  shown integer not null default 1,
  has_text integer not null,
  day text,
  {", ".join(f"{c} text" for c in _INDEXED)},
  urlkey text,  -- SURT of final_url: the CDX API's and Memento's key
  rurlkey text,  -- SURT of requested_url where it differs (a redirected fetch)
  cdx text,  -- the capture's CDX fields (JSON), read by CDX and Memento lookups without the row
  row blob not null
);
create table text_todo(rid integer primary key);
create index captures_id on captures(capture_id);
create index captures_manifest on captures(manifest);
create index captures_source_day on captures(shown, source_id, day, status, language);  -- covers facets
create index captures_day on captures(shown, day);
create index captures_fetched on captures(shown, fetched_at);
create index captures_final_url on captures(final_url);
create index captures_requested_url on captures(requested_url);
create index captures_canonical_url on captures(canonical_url);
create index captures_urlkey on captures(urlkey, fetched_at);
create index captures_rurlkey on captures(rurlkey) where rurlkey is not null;
create index captures_walk on captures(fetched_at, capture_id);  -- the JSON API's cursor walks
pragma user_version = {SCHEMA_VERSION};
"""
_COLS = ("manifest", "pos", "has_text", "day", *_INDEXED, "urlkey", "rurlkey", "cdx", "row")
# The rest of a row is stored as zlib-compressed JSON with a preset dictionary of the
# manifest's column names: ~270 bytes instead of ~1,500 (a new dictionary needs a new
# SCHEMA_VERSION, which rebuilds the cache).
_ZDICT = json.dumps({c: None for c in manifest.COLUMNS if c not in _INDEXED and c != "text"}).encode() + (
    b'"raw/source=", "clean/source=", "warc_key": "raw/source=", ".warc.gz", ".json", "text/html; charset=utf-8"'
)


def _urlkeys(row: dict[str, Any]) -> tuple[str | None, str | None]:
    """The SURT keys of a row's final URL and, when the fetch was redirected, its requested one."""
    final, requested = row.get("final_url"), row.get("requested_url")
    key = _surt(final) if final else None
    return key, (_surt(requested) if requested and requested != final else None)


def _cdx(row: dict[str, Any]) -> str | None:
    try:
        return json.dumps(line_fields(row), separators=(",", ":"))
    except (KeyError, ValueError):  # no capture time: a row no CDX query can list
        return None


def _surt(url: str) -> str | None:
    import surt  # not at import time: it loads tldextract (~0.5 s), which every command would pay

    try:
        return str(surt.surt(url))
    except (ValueError, IndexError, UnicodeError):  # a URL surt cannot key: left out of CDX lookups
        return None


def _pack(rest: dict[str, Any]) -> bytes:
    z = zlib.compressobj(6, zdict=_ZDICT)
    return z.compress(json.dumps(rest, ensure_ascii=False).encode()) + z.flush()


def _unpack(data: bytes) -> dict[str, Any]:
    z = zlib.decompressobj(zdict=_ZDICT)
    return dict(json.loads(z.decompress(data) + z.flush()))


_INSERT = f"insert into captures({', '.join(_COLS)}) values({', '.join('?' * len(_COLS))})"
_READ = f"c.rowid, c.has_text, c.row, c.manifest, c.pos, {', '.join('c.' + c for c in _INDEXED)}"
_PART_CACHE = 32  # manifest parts whose texts are kept in memory (an export reads parts in runs)
_TEXT_COMMIT_ROWS = 200_000  # text index committed (and text_todo cleared) at least this often
_TXN_ROWS = 20_000
# A query's cost grows with its words (each one a term lookup per language field): a bound keeps
# every search of the reading room and the CLI within a known cost.
MAX_QUERY_CHARS = 1_000
MAX_QUERY_WORDS = 32
MAX_URL_CHARS = 2_048
MAX_LIMIT = 10_000_000


class QueryTooCostly(PermanentError):
    """A query ran past its time budget (Catalog.budget)."""


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
        if self.limit is not None and not 1 <= self.limit <= MAX_LIMIT:
            raise PermanentError(f"limit must be from 1 to {MAX_LIMIT:,}, not {self.limit}")
        for what, words in (("text", self.text), ("title", self.title)):
            if words is None:
                continue
            if len(words) > MAX_QUERY_CHARS:
                raise PermanentError(f"{what} query of {len(words):,} characters; at most {MAX_QUERY_CHARS:,}")
            n = sum(len(t) for t in terms(words))
            if n > MAX_QUERY_WORDS:
                raise PermanentError(f"{what} query of {n} words; at most {MAX_QUERY_WORDS}")
        if self.url_prefix is not None and len(self.url_prefix) > MAX_URL_CHARS:
            raise PermanentError(f"URL prefix of {len(self.url_prefix):,} characters; at most {MAX_URL_CHARS:,}")
        if self.language is not None and not re.fullmatch(r"[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8}){0,3}", self.language):
            raise PermanentError(f"language {self.language[:40]!r} is not a language tag (such as fr or fr-FR)")
        unknown = [s for s in self.statuses if s not in STATUSES]
        if unknown:
            raise PermanentError(f"unknown status {unknown[0]!r}; choose one of {', '.join(STATUSES)}")


def _next_day(d: date) -> str:
    return (d + timedelta(days=1)).isoformat()


def _day(row: dict[str, Any]) -> str | None:
    return (row.get("published") or row.get("logical_date") or "")[:10] or None


_READ_AHEAD = 16  # manifest parts fetched ahead of the one being indexed (S3 latency, not bandwidth)


def _read_ahead(store: Store, keys: list[str], listed: dict[str, str]) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Each key's rows (nothing for a key no longer listed) as a call that returns them or
    raises what reading raised, in order, fetched a few at a time on threads: one update of
    many parts waits for the store once per batch, not once per part."""
    from concurrent.futures import Future, ThreadPoolExecutor

    def read(key: str) -> list[dict[str, Any]]:
        return manifest.read_rows(store, key) if key in listed else []

    if len(keys) <= 1:
        yield from (functools.partial(read, k) for k in keys)
        return
    with ThreadPoolExecutor(min(_READ_AHEAD, len(keys))) as pool:
        pending: list[Future[list[dict[str, Any]]]] = []
        ahead = iter(keys)
        for key in ahead:
            pending.append(pool.submit(read, key))
            if len(pending) >= _READ_AHEAD:
                break
        while pending:
            yield pending.pop(0).result
            nxt = next(ahead, None)
            if nxt is not None:
                pending.append(pool.submit(read, nxt))


def _source_of(folder: str) -> str:
    """The source of a manifests folder (`manifests/source=<id>/`), "" for any other folder."""
    name = folder[len(layout.manifests_prefix()) :].rstrip("/")
    source = name.removeprefix("source=")
    return source if name.startswith("source=") and layout.is_source_id(source) else ""


def _chunks(items: list[Any], n: int = 500) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


@contextmanager
def _creating(lock: Path | None) -> Iterator[None]:
    """One process at a time (re)creates a catalog file: an exclusive lock on a file beside it."""
    if lock is None:
        yield
        return
    import fcntl

    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Catalog:
    def __init__(self, path: Path | str = ":memory:"):
        memory = str(path) == ":memory:"
        if not memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self.memory = memory
        # A file catalog gives each thread its own connection (the reading room answers requests
        # on a pool of threads: WAL lets them read while a refresh writes); an in-memory one
        # has a single connection, for one user at a time.
        self._local = threading.local()
        self._shared = self._connect() if memory else None
        self._deadline = threading.local()
        text_path = None if memory else Path(self.path + ".text")
        if self.db.execute("pragma user_version").fetchone()[0] != SCHEMA_VERSION:
            with _creating(None if memory else Path(self.path + ".lock")):
                # another process opening the same new (or older) catalog waits, then finds it made
                if self.db.execute("pragma user_version").fetchone()[0] != SCHEMA_VERSION:
                    self._recreate(text_path)
        self.text = TextIndex(text_path)
        self._unindexed: set[int] = set()  # rows added by this object: no text entry to delete first
        self._store: Store | None = None  # the archive the rows (and their texts) come from
        self._parts: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
        self._parts_lock = threading.Lock()
        self._distinct_cache: tuple[Any, list[str], list[str]] | None = None
        self._facet_cache: dict[tuple[Any, Query], dict[str, dict[str, int]]] = {}
        self._by_source: tuple[Any, dict[str, dict[str, int]]] | None = None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        # Switching a new file to WAL takes an exclusive lock and SQLite answers "locked" at
        # once, without waiting, while another process opens or creates the same catalog:
        # waited for here, as the connection's timeout waits for other statements.
        deadline = time.monotonic() + 60
        while True:
            try:
                db.execute("pragma journal_mode=wal")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        db.execute("pragma synchronous=normal")
        db.execute("pragma cache_size=-200000")
        db.set_progress_handler(self._over_budget, 10_000)
        return db

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection."""
        if self._shared is not None:
            return self._shared
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    def _over_budget(self) -> int:
        """SQLite's progress handler: a non-zero answer interrupts the statement running."""
        deadline = getattr(self._deadline, "at", None)
        return 1 if deadline is not None and time.monotonic() > deadline else 0

    @contextmanager
    def budget(self, seconds: float) -> Iterator[None]:
        """Statements this thread runs inside are interrupted after `seconds`
        (QueryTooCostly), so one costly request cannot hold a reading-room thread for long."""
        self._deadline.at = time.monotonic() + seconds
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "interrupted" not in str(exc):
                raise
            raise QueryTooCostly(
                f"the query took longer than {seconds:g} s; narrow it (a source, dates, fewer words)"
            ) from None
        finally:
            self._deadline.at = None

    def bind(self, store: Store) -> None:
        """The archive this catalog indexes: where rows' texts are read from."""
        self._store = store

    def _recreate(self, text_path: Path | None) -> None:
        """A cache of an older layout is dropped and rebuilt from the manifests."""
        with self.db:
            names = [r[0] for r in self.db.execute("select name from sqlite_master where type in ('table', 'view')")]
            for name in names:
                if not name.startswith("sqlite_"):
                    self.db.execute(f'drop table if exists "{name}"')
        if text_path is not None:
            TextIndex.drop(text_path)
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
        self._store = store
        listed, gone, base = self._listing(store)
        changed = self._unapplied(listed)
        if changed or gone:
            # the text index's writer lock first: two processes updating one catalog take
            # turns instead of each holding what the other waits for (SQLite's write lock)
            self.text.writer()
            changed = self._unapplied(listed)  # what the other one did
        self._finish_text(store)  # what an earlier, interrupted update left
        added = in_txn = since_text = 0
        try:
            todo = [*gone, *changed]
            for done, (key, read) in enumerate(zip(todo, _read_ahead(store, todo, listed), strict=True), 1):
                try:
                    rows = read()
                except manifest.CorruptManifest as exc:
                    if on_corrupt is None:
                        raise
                    self.db.execute("insert or replace into unread values(?, ?, ?)", (key, listed[key], str(exc)))
                    on_corrupt(exc)
                    continue
                self.db.execute("delete from unread where key=?", (key,))
                self._replace(key, rows)
                if key in listed:
                    self.db.execute("update manifests set version=?, rows=? where key=?", (listed[key], len(rows), key))
                else:
                    self.db.execute("delete from manifests where key=?", (key,))
                added += len(rows)
                in_txn += len(rows) + 1
                since_text += len(rows)
                if in_txn >= _TXN_ROWS:  # one SQLite commit per batch of manifests, not per manifest
                    self.db.commit()
                    in_txn = 0
                if since_text >= _TEXT_COMMIT_ROWS:
                    self.db.commit()
                    self._finish_text(store)
                    since_text = 0
                if progress:
                    progress(done, len(gone) + len(changed))
            self._advance(listed, base)
            self.db.commit()
        except BaseException:
            # rows not committed to SQLite must not be in the text index either; rows that were
            # committed are listed in text_todo and indexed by the next update
            self.db.rollback()
            self.text.rollback()
            self._unindexed.clear()
            raise
        self._finish_text(store)
        if self.text.pending:  # the writer was taken but there was nothing to write: let it go
            self.text.commit()
        self.text.reload()  # what other processes committed becomes visible too
        return added

    @property
    def corrupt(self) -> dict[str, str]:
        """Manifest parts the catalog could not read (tried again at each update), and why."""
        return dict(self.db.execute("select key, why from unread"))

    def _listing(self, store: Store) -> tuple[dict[str, str], list[str], dict[str, int]]:
        """(key -> version of each part listed at or after each source's position, with the
        unread parts to try again; keys the catalog holds that the archive no longer does;
        each listed source's position before this update)."""
        db = self.db
        positions = {f: (seq, k, v) for f, seq, k, v in db.execute("select folder, seq, key, version from positions")}
        unread = dict(db.execute("select key, version from unread"))
        listed: dict[str, str] = {}
        gone: list[str] = []
        base: dict[str, int] = {}
        folders = [f for f in store.children(layout.manifests_prefix()) if _source_of(f)]
        for folder in folders:
            seq, key, version = positions.get(folder, (0, "", ""))
            start = layout.commit_key(_source_of(folder), seq - 1) if seq > 1 else ""
            infos = [i for i in store.list_info(folder, start) if layout.parse_commit_key(i.key)]
            if seq and not (infos and infos[0].key == key and infos[0].version == version):
                # the part at the position is gone or other bytes: not the archive this catalog read
                infos = [i for i in store.list_info(folder) if layout.parse_commit_key(i.key)]
                here = {i.key for i in infos}
                gone += [k for k in self._keys_under(folder) if k not in here]
                seq = 0
            else:  # parts before the position that could not be read are tried again
                listed.update({k: v for k, v in unread.items() if k.startswith(folder)})
            base[folder] = seq
            listed.update({i.key: i.version for i in infos})
        for folder in positions.keys() - set(folders):  # a source no longer in the archive
            gone += self._keys_under(folder)
            db.execute("delete from positions where folder=?", (folder,))
        for k in unread.keys() - listed.keys():
            db.execute("delete from unread where key=?", (k,))
        return listed, gone, base

    def _keys_under(self, folder: str) -> list[str]:
        rows = self.db.execute("select key from manifests where key > ? and key < ?", (folder, folder + "~"))
        return [k for (k,) in rows]

    def _unapplied(self, listed: dict[str, str]) -> list[str]:
        """The listed parts whose version the catalog does not hold, in key order."""
        held: dict[str, str] = {}
        for chunk in _chunks(sorted(listed)):
            marks = ", ".join("?" * len(chunk))
            held.update(self.db.execute(f"select key, version from manifests where key in ({marks})", chunk))  # noqa: S608
        return [k for k in sorted(listed) if held.get(k) != listed[k]]

    def _advance(self, listed: dict[str, str], base: dict[str, int]) -> None:
        """Move each source's position over the contiguous run of parts now applied (or
        recorded unread) after it; a gap in the numbering (a listing behind the writes) holds
        the position, so the part is listed again next time."""
        by_folder: dict[str, list[tuple[int, str]]] = {}
        for k in listed:
            parsed = layout.parse_commit_key(k)
            if parsed:
                by_folder.setdefault(k[: k.rindex("/") + 1], []).append((parsed[1], k))
        for folder, start in base.items():
            seq, at = start, ""
            for n, k in sorted(by_folder.get(folder, [])):
                if n == seq + 1:
                    seq, at = n, k
                elif n > seq + 1:
                    break
            if at:
                self.db.execute("insert or replace into positions values(?, ?, ?, ?)", (folder, seq, at, listed[at]))
            elif start == 0:
                self.db.execute("delete from positions where folder=?", (folder,))

    def _replace(self, key: str, rows: list[dict[str, Any]]) -> None:
        """Swap one manifest's rows; recompute the flags of the captures and URLs it touches."""
        db = self.db
        src, seq = layout.parse_commit_key(key) or (None, None)
        db.execute(
            "insert or ignore into manifests(key, version, rows, src, seq) values(?, '', 0, ?, ?)", (key, src, seq)
        )
        mid = db.execute("select id from manifests where key=?", (key,)).fetchone()[0]
        old = db.execute("select rowid, capture_id, requested_url from captures where manifest=?", (mid,)).fetchall()
        db.execute("delete from captures where manifest=?", (mid,))
        db.executemany("insert or ignore into text_todo values(?)", [(r[0],) for r in old])
        ids = Counter(r["capture_id"] for r in rows)
        recompute = {r[1] for r in old} | {c for c, n in ids.items() if n > 1}
        for chunk in _chunks(list(ids)):
            marks = ", ".join("?" * len(chunk))
            recompute.update(
                r[0]
                for r in db.execute(f"select distinct capture_id from captures where capture_id in ({marks})", chunk)  # noqa: S608
            )
        first = db.execute("select coalesce(max(rowid), 0) from captures").fetchone()[0]
        seq = db.execute("select seq from sqlite_sequence where name='captures'").fetchone()
        first = max(first, seq[0] if seq else 0) + 1
        db.executemany(
            _INSERT,
            [
                (
                    mid,
                    pos,
                    int(bool(r.get("text"))),
                    _day(r),
                    *(r.get(c) for c in _INDEXED),
                    *_urlkeys(r),
                    _cdx(r),
                    _pack({k: v for k, v in r.items() if k != "text" and k not in _INDEXED}),
                )
                for pos, r in enumerate(rows)
            ],
        )
        rids = [first + i for i in range(len(rows))]
        if rows and db.execute("select max(rowid) from captures").fetchone()[0] != rids[-1]:
            raise RuntimeError("catalog row ids are not sequential")  # pragma: no cover - sqlite invariant
        db.executemany("insert or ignore into text_todo values(?)", [(rid,) for rid in rids])
        urls = {str(r["requested_url"]) for r in rows if r.get("requested_url")} | {str(u) for _, _, u in old if u}
        changed = self._reflag(recompute, urls)
        db.executemany("insert or ignore into text_todo values(?)", [(rid,) for rid in changed])
        self._unindexed.update(set(rids) - changed)
        with_text = [(rid, r) for rid, r in zip(rids, rows, strict=True) if r.get("text") and rid not in changed]
        if with_text:
            flags = dict(self._flags([rid for rid, _ in with_text]))
            for rid, r in with_text:
                latest, shown = flags[rid]
                self.text.add(rid, r, bool(latest), bool(shown))

    def _flags(self, rids: list[int]) -> Iterator[tuple[int, tuple[int, int]]]:
        for chunk in _chunks(rids):
            marks = ", ".join("?" * len(chunk))
            for rid, latest, shown in self.db.execute(
                f"select rowid, latest, shown from captures where rowid in ({marks})",  # noqa: S608
                chunk,
            ):
                yield rid, (latest, shown)

    def _reflag(self, capture_ids: set[str], urls: set[str]) -> set[int]:
        """Recompute `latest` for the given captures and `shown` for their rows and the blocked
        rows of the given URLs; rows whose flags changed are queued for the text index."""
        db = self.db
        before: dict[int, tuple[int, int]] = {}
        for chunk in _chunks(sorted(capture_ids)):
            marks = ", ".join("?" * len(chunk))
            rows = db.execute(
                f"select rowid, capture_id, latest, shown from captures where capture_id in ({marks}) "  # noqa: S608
                "order by capture_id, extracted_at desc, rowid desc",
                chunk,
            ).fetchall()
            seen: set[str] = set()
            for rid, cid, latest, shown in rows:
                before[rid] = (latest, shown)
                db.execute("update captures set latest=?, shown=? where rowid=?", (int(cid not in seen), 0, rid))
                seen.add(cid)
            urls.update(
                u
                for (u,) in db.execute(
                    f"select requested_url from captures where capture_id in ({marks}) and requested_url is not null",  # noqa: S608
                    chunk,
                )
            )
        # shown = latest, unless a blocked capture has a good capture of its URL to give way to
        rids = list(before)
        for chunk in _chunks(sorted(urls)):
            marks = ", ".join("?" * len(chunk))
            for rid, latest, shown in db.execute(
                f"select rowid, latest, shown from captures where status='blocked' and requested_url in ({marks})",  # noqa: S608
                chunk,
            ):
                before.setdefault(rid, (latest, shown))
                rids.append(rid)
        for chunk in _chunks(rids):
            marks = ", ".join("?" * len(chunk))
            db.execute(
                f"update captures set shown = latest and not (status = 'blocked' and exists ("  # noqa: S608
                "select 1 from captures g where g.requested_url = captures.requested_url and g.latest = 1 "
                f"and g.status != 'blocked')) where rowid in ({marks})",
                chunk,
            )
        changed = {rid for rid, flags in self._flags(rids) if before.get(rid) != flags}
        return changed

    def _finish_text(self, store: Store) -> None:
        """Write the text entries still listed in text_todo, commit tantivy, then clear the list."""
        todo = [r[0] for r in self.db.execute("select rid from text_todo")]
        if todo and not self.text.pending:  # maybe another process's update under way: wait for it
            self.text.writer()
            todo = [r[0] for r in self.db.execute("select rid from text_todo")]
        redo = [rid for rid in todo if rid not in self._unindexed]
        if redo:
            self.text.delete(redo)
            self._reindex(store, redo)
        if todo:
            self.text.commit()
        if todo:
            self.db.execute("delete from text_todo")
            self.db.commit()
        self._unindexed.clear()

    def _reindex(self, store: Store, rids: list[int]) -> None:
        """Text entries for existing rows, their text read back from the manifests (a rare path:
        flags changed by a re-extraction, or an update interrupted before its text commit)."""
        by_part: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for chunk in _chunks(rids):
            marks = ", ".join("?" * len(chunk))
            for rec in self.db.execute(
                f"select {_READ}, m.key from captures c join manifests m on m.id = c.manifest "  # noqa: S608
                f"where c.has_text = 1 and c.rowid in ({marks})",
                chunk,
            ):
                by_part.setdefault(rec[-1], []).append((rec[0], self._row(rec[:-1], "")))
        for key, wanted in by_part.items():
            texts = {(r["capture_id"], r["extraction_id"]): r.get("text") for r in manifest.read_rows(store, key)}
            flags = dict(self._flags([rid for rid, _ in wanted]))
            for rid, row in wanted:
                row["text"] = texts.get((row["capture_id"], row["extraction_id"])) or ""
                self.text.add(rid, row, bool(flags[rid][0]), bool(flags[rid][1]))

    # -- reading ----------------------------------------------------------------------

    @staticmethod
    def _row(rec: tuple[Any, ...], text: str) -> dict[str, Any]:
        return {**_unpack(rec[2]), **dict(zip(_INDEXED, rec[5:], strict=True)), "text": text}

    def _texts(self, recs: list[tuple[Any, ...]]) -> dict[int, str]:
        """The clean texts of catalog records, read from their manifest parts: the catalog keeps
        no copy of the text (the archive has it), which halves its size."""
        by_part: dict[int, list[tuple[Any, ...]]] = {}
        for rec in recs:
            if rec[1]:
                by_part.setdefault(rec[3], []).append(rec)
        out: dict[int, str] = {}
        for mid, group in by_part.items():
            texts = self._part_texts(mid)
            for rec in group:
                ids = (rec[5] or "", rec[6] or "")  # capture_id, extraction_id
                entry = texts[rec[4]] if rec[4] < len(texts) else None
                if entry is None or entry[:2] != ids:  # parts never change; this is a guard, not a path
                    entry = next((t for t in texts if t[:2] == ids), (*ids, ""))
                out[rec[0]] = entry[2]
        return out

    def _part_texts(self, mid: int) -> list[tuple[str, str, str]]:
        key, version = self.db.execute("select key, version from manifests where id=?", (mid,)).fetchone()
        with self._parts_lock:  # request threads share the cache; the read below is done outside it
            cached = self._parts.pop((key, version), None)
        if cached is None:
            if self._store is None:
                raise PermanentError("the catalog has not been updated from an archive yet")
            table = manifest.read_part(self._store, key, ["capture_id", "extraction_id", "text"])
            cols = [
                table.column(c).to_pylist() if c in table.column_names else [None] * table.num_rows
                for c in ("capture_id", "extraction_id", "text")
            ]
            cached = [(c or "", e or "", t or "") for c, e, t in zip(*cols, strict=True)]
        with self._parts_lock:
            self._parts[(key, version)] = cached  # most recently used last
            while len(self._parts) > _PART_CACHE:
                self._parts.pop(next(iter(self._parts)))
        return cached

    def _where(self, q: Query, every: bool = False) -> tuple[str, list[Any]]:
        """q's filters as SQL over `captures c`; `every`: superseded blocked captures too."""
        where: list[str] = []
        args: list[Any] = []
        if q.statuses:  # asked for by status: every capture of those, superseded or not
            where.append(f"c.latest = 1 and c.status in ({', '.join('?' * len(q.statuses))})")
            args.extend(q.statuses)
        else:
            where.append("c.latest = 1" if every else "c.shown = 1")
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
        return " and ".join(where), args

    def _text_query(self, q: Query) -> Any:
        return self.text.query(
            q.text,
            q.title,
            statuses=q.statuses,
            sources=q.sources,
            language=q.language,
            day_from=q.date_from.isoformat() if q.date_from else None,
            day_to=q.date_to.isoformat() if q.date_to else None,
            fetched_from=q.captured_from.isoformat() if q.captured_from else None,
            fetched_to=q.captured_to.isoformat() if q.captured_to else None,
            url_prefix=q.url_prefix,
        )

    def count(self, q: Query) -> int:
        if q.text or q.title:
            return self.text.count(self._text_query(q))
        where, args = self._where(q)
        return int(self.db.execute(f"select count(*) from captures c where {where}", args).fetchone()[0])  # noqa: S608

    def _state(self) -> tuple[int, int, int]:
        """Changes whenever a manifest part is added, replaced or removed."""
        return tuple(  # type: ignore[return-value]
            self.db.execute("select count(*), coalesce(sum(rows), 0), coalesce(max(id), 0) from manifests").fetchone()
        )

    def facets(self, q: Query) -> dict[str, dict[str, int]]:
        """How many matching captures each source, status, language and month holds (kept per
        state of the catalog: the reading room asks again for every page of a search)."""
        key = (self._state(), replace(q, sort=None, descending=False, limit=None))  # order does not count
        found = self._facet_cache.get(key)
        if found is None:
            if len(self._facet_cache) > 64:
                self._facet_cache.clear()
            found = self._facet_cache[key] = self._facets(q)
        return found

    def _facets(self, q: Query) -> dict[str, dict[str, int]]:
        if q.text or q.title:
            got = self.text.facets(self._text_query(q), ("source", "status", "lang", "month"))
            langs = {k: v for k, v in got.pop("lang").items() if "-" not in k}  # primary subtags only
            return {"source": got["source"], "status": got["status"], "language": langs, "month": got["month"]}
        where, args = self._where(q)
        # one pass over the rows (over the covering index when the query filters nothing else)
        sql = (
            "select c.source_id, c.status, lower(substr(c.language, 1, instr(c.language || '-', '-') - 1)), "  # noqa: S608
            f"substr(c.day, 1, 7), count(*) from captures c where {where} group by 1, 2, 3, 4"
        )
        out: dict[str, dict[str, int]] = {name: {} for name in FACETS}
        for *values, n in self.db.execute(sql, args):
            for name, value in zip(FACETS, values, strict=True):
                if value:
                    out[name][value] = out[name].get(value, 0) + n
        return out

    def counts_by_source(self) -> dict[str, dict[str, int]]:
        """Captures a researcher sees, per source and status (kept per state of the catalog)."""
        state = self._state()
        if self._by_source is None or self._by_source[0] != state:
            out: dict[str, dict[str, int]] = {}
            for source, status, n in self.db.execute(
                "select source_id, status, count(*) from captures where shown = 1 group by 1, 2"
            ):
                out.setdefault(source, {})[status] = n
            self._by_source = (state, out)
        return self._by_source[1]

    def rows(self, q: Query) -> Iterator[dict[str, Any]]:
        """Matching rows, streamed in the query's order."""
        ranked = bool(q.text or q.title)
        sort = q.sort or ("rank" if ranked else "published")
        if ranked and sort == "rank":
            yield from self._ranked(q)
            return
        order = {
            "published": "c.day {d}, c.published {d}, c.capture_id",
            "captured": "c.fetched_at {d}, c.capture_id",
            "source": "c.source_id {d}, c.day, c.capture_id",
            "url": "c.final_url {d}, c.fetched_at",
        }[sort].format(d="desc" if q.descending else "asc")
        where, args = self._where(q)
        if ranked:  # matched by the text index, ordered by SQLite
            where, args = self._matched(q), []
        sql = f"select {_READ} from captures c where {where} order by {order}"  # noqa: S608
        if q.limit:
            sql += f" limit {int(q.limit)}"
        cur = self.db.execute(sql, args)
        while batch := cur.fetchmany(500):
            texts = self._texts(batch)
            for rec in batch:
                yield self._row(rec, texts.get(rec[0], ""))

    def _matched(self, q: Query) -> str:
        """The rows q's text matches, put in this connection's temp table `matched`: the SQL
        condition that keeps them (an ordering other than rank is SQLite's to do)."""
        self.db.execute("create temp table if not exists matched(rid integer primary key)")
        self.db.execute("delete from matched")
        self.db.executemany(
            "insert or ignore into matched values(?)", ((r,) for r in self.text.all_rids(self._text_query(q)))
        )
        return "c.rowid in (select rid from matched)"

    def _ranked(self, q: Query) -> Iterator[dict[str, Any]]:
        tq = self._text_query(q)
        limit = q.limit or max(self.text.count(tq), 1)
        hits = self.text.hits(tq, limit)
        if q.descending:
            hits.reverse()
        for chunk in _chunks(hits, 200):
            found = [(score, self.text.rid(address)) for score, address in chunk]
            marks = ", ".join("?" * len(found))
            recs = {
                rec[0]: rec
                for rec in self.db.execute(
                    f"select {_READ} from captures c where c.rowid in ({marks})",  # noqa: S608
                    [rid for _, rid in found],
                )
            }
            texts = self._texts(list(recs.values()))
            for score, rid in found:
                if rid in recs:
                    text = texts.get(rid, "")
                    row = self._row(recs[rid], text)
                    yield {
                        **row,
                        "snippet": self.text.snippet(tq, text, row.get("language"), q.text or q.title or ""),
                        "score": score,
                    }

    def snapshot(self) -> dict[str, int]:
        """Each source's last commit applied with none missing before it: what a walk begun
        now sees, in the archive's own numbering (a rebuilt catalog or another server's
        catalog names the same captures)."""
        return {_source_of(f): seq for f, seq in self.db.execute("select folder, seq from positions")}

    def walk(
        self,
        q: Query,
        snapshot: dict[str, int],
        after: tuple[str, str] | None,
        limit: int,
        descending: bool = False,
    ) -> list[dict[str, Any]]:
        """One page of a walk (the JSON API's cursor): the captures matching q that were
        committed within `snapshot`, every status unless q names some (superseded blocked
        captures included), ordered by capture time and capture id, strictly after `after`.
        Each capture's latest extraction, metadata only. The order's keys never change (a
        re-extraction keeps its capture's time and id) and later commits are outside the
        snapshot, so successive pages neither skip nor repeat a capture."""
        where, args = self._where(q, every=True)
        if q.text or q.title:
            where += " and " + self._matched(replace(q, statuses=q.statuses or STATUSES))
        pairs = sorted(snapshot.items())
        case = "case {a}.src " + " ".join("when ? then ?" for _ in pairs) + " else 0 end" if pairs else "0"
        flat = [x for kv in pairs for x in kv]
        # the capture's row is in a part within the snapshot, or (re-extracted since) an earlier row of it is
        where += (
            f" and (exists (select 1 from manifests m where m.id = c.manifest and m.seq <= ({case.format(a='m')}))"  # noqa: S608
            " or exists (select 1 from captures o join manifests om on om.id = o.manifest"
            f" where o.capture_id = c.capture_id and o.rowid != c.rowid and om.seq <= ({case.format(a='om')})))"
        )
        args += flat + flat
        if after is not None:
            where += f" and (c.fetched_at, c.capture_id) {'<' if descending else '>'} (?, ?)"
            args += list(after)
        order = "desc" if descending else "asc"
        sql = (
            f"select {_READ} from captures c where {where} "  # noqa: S608
            f"order by c.fetched_at {order}, c.capture_id {order} limit {int(limit)}"
        )
        return [self._row(rec, "") for rec in self.db.execute(sql, args)]

    def _with_text(self, sql: str, args: tuple[Any, ...], text: bool = True) -> list[dict[str, Any]]:
        recs = self.db.execute(sql, args).fetchall()
        texts = self._texts(recs) if text else {}
        return [self._row(rec, texts.get(rec[0], "")) for rec in recs]

    def extractions(self, capture_id: str, text: bool = True) -> list[dict[str, Any]]:
        """Every extraction of a capture, newest first (text=False: metadata only, no part read)."""
        return self._with_text(
            f"select {_READ} from captures c where c.capture_id = ? order by c.extracted_at desc, c.rowid desc",  # noqa: S608
            (capture_id,),
            text,
        )

    def versions(self, url: str, text: bool = True) -> list[dict[str, Any]]:
        """Latest extraction of every capture of a URL (requested, final or canonical), oldest first."""
        return self._with_text(
            f"select {_READ} from captures c where c.latest = 1 and c.capture_id in ("  # noqa: S608
            " select capture_id from captures where requested_url = ? or final_url = ? or canonical_url = ?)"
            " order by c.fetched_at, c.capture_id",
            (url, url, url),
            text,
        )

    def by_urlkey(
        self,
        low: str,
        high: str,
        *,
        exact: str | None = None,
        since: str | None = None,
        before: str | None = None,
        reverse: bool = False,
    ) -> Iterator[dict[str, str]]:
        """The CDX fields (urlkey included) of every capture's latest extraction keyed
        low <= urlkey < high (with `exact`, also the redirected fetches requested at that key),
        in key and capture-time order, fetched_at within [since, before) (ISO prefixes). Read
        lazily from the SURT index: a caller stops when it has enough."""
        where = ["c.latest = 1", "c.cdx is not null"]
        where.append("(c.urlkey >= ? and c.urlkey < ?" + (" or c.rurlkey = ?)" if exact else ")"))
        args: list[Any] = [low, high, *([exact] if exact else [])]
        if since:
            where.append("c.fetched_at >= ?")
            args.append(since)
        if before:
            where.append("c.fetched_at < ?")
            args.append(before)
        order = "desc" if reverse else "asc"
        sql = (
            f"select c.urlkey, c.cdx from captures c where {' and '.join(where)} "  # noqa: S608
            f"order by c.urlkey {order}, c.fetched_at {order}, c.capture_id {order}"
        )
        for urlkey, fields in self.db.execute(sql, args):
            line = json.loads(fields)
            line["urlkey"] = urlkey
            yield line

    def day_counts(self, source: str) -> dict[str, dict[str, int]]:
        """Captures a researcher sees (each capture's latest extraction, superseded blocked
        captures left out) per published day and status."""
        out: dict[str, dict[str, int]] = {}
        for day, status, n in self.db.execute(
            "select day, status, count(*) from captures where shown = 1 and source_id = ? and day is not null "
            "group by day, status",
            (source,),
        ):
            out.setdefault(day, {})[status] = n
        return out

    def _distinct(self) -> tuple[list[str], list[str]]:
        """Distinct sources and language tags, read once per state of the catalog (a scan of
        every row at millions of rows: not something to repeat on every page)."""
        state = self.db.execute(
            "select count(*), coalesce(sum(rows), 0), coalesce(max(id), 0) from manifests"
        ).fetchone()
        if self._distinct_cache is None or self._distinct_cache[0] != state:
            sources = [
                r[0] for r in self.db.execute("select distinct source_id from captures where source_id is not null")
            ]
            langs = [str(r[0]) for r in self.db.execute("select distinct language from captures") if r[0]]
            self._distinct_cache = (state, sorted(sources), sorted(langs))
        return self._distinct_cache[1], self._distinct_cache[2]

    def known(self) -> dict[str, list[str]]:
        """The sources and languages (primary subtags) the catalog holds."""
        sources, langs = self._distinct()
        return {"source": sources, "language": sorted({x.split("-")[0].lower() for x in langs})}

    def check_known(self, q: Query) -> None:
        """An unknown source or language is an error that lists the known ones, not an empty result."""
        sources, languages = self._distinct()
        for source in q.sources:
            if source not in sources:
                damaged = sorted(
                    k for k in self.corrupt if k.startswith(layout.manifests_prefix() + f"source={source}/")
                )
                if damaged:
                    raise PermanentError(
                        f"source {source!r} has no readable manifest part: {damaged[0]} "
                        f"{'and others are' if len(damaged) > 1 else 'is'} corrupt (run `archive verify`)"
                    )
                raise PermanentError(f"unknown source {source!r}; the archive holds: {', '.join(sources) or 'nothing'}")
        if q.language and not any(lang == q.language or lang.startswith(q.language + "-") for lang in languages):
            known = ", ".join(languages) or "none"
            raise PermanentError(f"unknown language {q.language!r}; the archive holds: {known}")

    def close(self) -> None:
        self.db.close()
        if self._shared is None:
            del self._local.db


def default_catalog_path(archive_url: str) -> Path:
    """One catalog per archive URL under $NEWSARCHIVE_CACHE (default ~/.cache/newsarchive)."""
    base = os.environ.get("NEWSARCHIVE_CACHE") or Path.home() / ".cache" / "newsarchive"
    digest = hashlib.sha256(archive_url.encode()).hexdigest()[:16]
    return Path(base) / f"catalog-{digest}.sqlite"
