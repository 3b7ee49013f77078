"""The catalog follows the manifests: new, rewritten and removed manifests, latest extraction, queries."""

from __future__ import annotations

import gc
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from researcher.catalog import Catalog, Query, query_string
from storage import manifest
from storage.errors import PermanentError
from storage.store import LocalStore, ObjectInfo, Store
from tests.faultproxy import FaultProxy
from tests.test_write_once import Target, proxied  # noqa: F401 - proxied is a fixture

SOURCE = "src_a"


def row(capture: str, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {c: None for c in manifest.COLUMNS}
    return (
        base
        | {
            "capture_id": capture,
            "source_id": "src_a",
            "status": "ok",
            "final_url": f"https://example.invalid/a/{capture}",
            "fetched_at": "2020-01-02T10:00:00Z",
            "published": "2020-01-01T08:00:00Z",
            "extraction_id": "old",
            "extracted_at": "2020-01-02T10:00:01Z",
            "title": f"Title {capture}",
            "text": "Les frappes ont repris à Deir ez-Zor.",
            "authors": [],
            "tags": [],
            "flags": [],
        }
        | kw
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Idleb", '+"Idleb"'),
        ('"deir ez-zor" frappe', '+"deir ez zor" +"frappe"'),
        ("NEAR(a b)", '+"NEAR a" +"b"'),  # a word with punctuation is a phrase of its tokens
        ("title:offensive OR x", '+"title offensive" +"OR" +"x"'),  # no field or operator syntax leaks through
        ("l'armée", '+"l armée"'),
    ],
)
def test_query_string_quotes_every_token(text: str, expected: str) -> None:
    assert query_string(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "()", '"" ^'])
def test_query_string_with_nothing_to_search(text: str) -> None:
    with pytest.raises(PermanentError, match="nothing to search for"):
        query_string(text)


def test_catalog_follows_new_and_removed_manifests(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "archive")
    cat = Catalog(tmp_path / "cat.sqlite")
    manifest.commit(store, SOURCE, [row("c1"), row("c2")])
    assert cat.update(store) == 2
    assert cat.update(store) == 0  # nothing changed, nothing read
    manifest.commit(store, SOURCE, [row("c3", text="Une offensive sur Idleb.")])  # the next commit: only it is read
    assert cat.update(store) == 1
    assert [r["capture_id"] for r in cat.rows(Query(text="Idleb"))] == ["c3"]
    # a re-extraction of c1 becomes its latest; a part that disappears (a restore from an
    # older backup) is forgotten, and c1 falls back to its earlier extraction
    x = manifest.commit(store, SOURCE, [row("c1", extraction_id="new", extracted_at="2021-01-01T00:00:00Z")])
    cat.update(store)
    assert [r["extraction_id"] for r in cat.extractions("c1")] == ["new", "old"]
    assert {r["capture_id"]: r["extraction_id"] for r in cat.rows(Query())} == {"c1": "new", "c2": "old", "c3": "old"}
    assert x.key is not None
    (tmp_path / "archive" / x.key).unlink()
    cat.update(store)
    assert {r["extraction_id"] for r in cat.rows(Query())} == {"old"}
    assert cat.count(Query()) == 3


def test_queries_filter_sort_and_limit(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "archive")
    manifest.commit(
        store,
        SOURCE,
        [
            row("c1", published="2020-01-03T00:00:00Z", language="fr", fetched_at="2020-01-05T00:00:00Z"),
            row("c2", published=None, logical_date="2020-01-01", language="fr-FR"),
            row("c3", published="2020-01-02T00:00:00Z", language="en", final_url="https://example.invalid/ab/c3"),
        ],
    )
    cat = Catalog()
    cat.update(store)

    def ids(**kw: Any) -> list[str]:
        return [r["capture_id"] for r in cat.rows(Query(**kw))]

    assert ids() == ["c2", "c3", "c1"]  # published order; the run's date stands in when unknown
    assert ids(descending=True) == ["c1", "c3", "c2"]
    assert ids(date_from=date(2020, 1, 2), date_to=date(2020, 1, 2)) == ["c3"]
    assert ids(language="fr") == ["c2", "c1"]
    assert ids(url_prefix="https://example.invalid/a/") == ["c2", "c1"]  # not /ab/
    assert ids(captured_from=date(2020, 1, 5)) == ["c1"]
    assert ids(sort="captured", limit=1) == ["c2"]
    assert ids(sources=("other",)) == []


def test_an_older_catalog_layout_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "cat.sqlite"
    old = sqlite3.connect(path)
    old.executescript("create table indexed(key text); create table captures(rowid integer primary key, x text);")
    old.close()
    store = LocalStore(tmp_path / "archive")
    manifest.commit(store, SOURCE, [row("c1")])
    cat = Catalog(path)
    assert cat.update(store) == 1 and cat.count(Query()) == 1


def test_a_corrupt_part_is_reported_skipped_and_read_once_readable(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "archive")
    first = manifest.commit(store, SOURCE, [row("c1")]).key
    manifest.commit(store, SOURCE, [row("c2")])
    assert first is not None
    path = tmp_path / "archive" / first
    good = path.read_bytes()
    path.write_bytes(good[:50])
    cat = Catalog(tmp_path / "cat.sqlite")
    with pytest.raises(manifest.CorruptManifest, match=first):
        cat.update(store)
    seen: list[str] = []
    cat.update(store, on_corrupt=lambda exc: seen.append(exc.key))
    assert seen == [first] and [r["capture_id"] for r in cat.rows(Query())] == ["c2"]
    path.write_bytes(good)  # repaired from a replica: the next refresh reads it
    cat.update(store)
    assert sorted(r["capture_id"] for r in cat.rows(Query())) == ["c1", "c2"]


def test_a_blocked_capture_gives_way_to_a_good_one_of_its_url(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "archive")
    url = "https://example.invalid/a/x"
    manifest.commit(store, SOURCE, [row("b1", status="blocked", requested_url=url, run="R1")])
    cat = Catalog()
    cat.update(store)
    assert [r["capture_id"] for r in cat.rows(Query())] == ["b1"]  # alone, the blocked capture is shown
    manifest.commit(store, SOURCE, [row("g1", requested_url=url, run="R2")])
    cat.update(store)
    assert [r["capture_id"] for r in cat.rows(Query())] == ["g1"]
    assert sorted(r["capture_id"] for r in cat.versions(url)) == ["b1", "g1"]  # both stay


def test_a_part_that_does_not_fit_the_schema_is_corrupt(tmp_path: Path) -> None:
    """Parquet that reads, but whose columns are not the manifest's types: named, not a traceback."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    store = LocalStore(tmp_path / "archive")
    buf = io.BytesIO()
    pq.write_table(pa.table({"capture_id": ["c1"], "warc_offset": ["not a number"]}), buf)
    store.put_bytes("manifests/source=src_a/0000000001.parquet", buf.getvalue())
    with pytest.raises(manifest.CorruptManifest, match=r"0000000001\.parquet does not fit the manifest schema"):
        manifest.load_manifests(store, SOURCE)
    seen: list[str] = []
    Catalog().update(store, on_corrupt=lambda exc: seen.append(exc.key))
    assert seen == ["manifests/source=src_a/0000000001.parquet"]


STEMMING = [
    # (language of the article, its text, the researcher's query): each must match
    ("fr", "Les frappes aériennes ont repris à l'aube.", "frappe"),
    ("fr", "Une frappe a visé le dépôt.", "frappes"),
    ("fr-FR", "Les frappes aériennes ont repris.", '"frappe aerienne"'),  # a phrase, stemmed and folded
    ("de", "Die Angriffe auf Kiew gingen weiter.", "Angriff"),
    ("es", "Los ataques continuaron durante la noche.", "ataque"),
    ("ru", "Удары по городу продолжились.", "удар"),
    ("en", "The strikes continued overnight.", "strike"),
    ("tr", "Saldırılar gece boyunca sürdü.", "saldırı"),  # Turkish suffixes
    ("tr", "Saldırısı kınandı.", "saldırılar"),
    ("tr", "İstanbul'da protestolar sürüyor.", "istanbul"),  # dotted capital I
    ("tr", "Erdoğan açıklama yaptı.", "Erdogan"),
    ("fr", "Le président Erdoğan a répondu.", "erdogan"),  # diacritics folded in any language
    ("ar", "استمر الهجوم على المدينة", "هجوم"),
    (None, "Undeclared language, plain words.", "PLAIN"),
]


def catalog_of(tmp_path: Path, rows: list[dict[str, Any]]) -> Catalog:
    """An in-memory catalog of one committed manifest part holding these rows."""
    store = LocalStore(tmp_path / "archive")
    manifest.commit(store, SOURCE, rows)
    cat = Catalog()
    cat.update(store)
    return cat


@pytest.mark.parametrize(("language", "text", "query"), STEMMING)
def test_each_language_is_stemmed_by_its_own_rules(tmp_path: Path, language: str | None, text: str, query: str) -> None:
    other = row("miss", language=language, text="Rien à voir, nothing here.")
    cat = catalog_of(tmp_path, [row("hit", language=language, text=text), other])
    assert [r["capture_id"] for r in cat.rows(Query(text=query))] == ["hit"]


@pytest.mark.parametrize(
    ("language", "text", "query"),
    [
        ("en", "The warning was issued.", "war"),  # stems, not prefixes, outside Turkish
        ("fr", "Les frappes ont repris.", "frapper la"),  # every word is required
        ("tr", "Saldırılar sürdü.", '"sürdü saldırılar"'),  # a phrase keeps its order
    ],
)
def test_stemming_does_not_overmatch(tmp_path: Path, language: str, text: str, query: str) -> None:
    cat = catalog_of(tmp_path, [row("c1", language=language, text=text)])
    assert cat.count(Query(text=query)) == 0


def test_snippets_mark_the_matched_words_in_the_archived_text(tmp_path: Path) -> None:
    cat = catalog_of(tmp_path, [row("c1", language="tr", text="Dün İstanbul'da saldırılar kınandı.")])
    [hit] = cat.rows(Query(text="istanbul saldırı"))
    assert hit["snippet"] == "Dün \ue000İstanbul\ue001'da \ue000saldırılar\ue001 kınandı."
    assert hit["text"] == "Dün İstanbul'da saldırılar kınandı."  # the text as archived, İ included


def test_text_queries_take_every_filter_and_facets_count_matches(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "archive")
    manifest.commit(
        store,
        SOURCE,
        [
            row("c1", language="fr", published="2020-01-03T00:00:00Z", text="Frappes à Idleb."),
            row("c2", language="fr-FR", published="2020-02-03T00:00:00Z", text="Frappe sur Idleb."),
            row("c3", language="en", published="2020-02-04T00:00:00Z", text="Idleb strikes.", status="blocked"),
            row(
                "c4",
                language="en",
                published="2020-02-05T00:00:00Z",
                source_id="src_b",
                text="Idleb again.",
                final_url="https://other.invalid/x",
            ),
        ],
    )
    cat = Catalog(tmp_path / "cat.sqlite")
    cat.update(store)
    for kw in (
        {"language": "fr"},
        {"date_from": date(2020, 2, 1)},
        {"sources": ("src_b",)},
        {"url_prefix": "https://other.invalid/"},
        {"statuses": ("blocked",)},
        {"captured_to": date(2020, 1, 1)},
    ):
        text_ids = sorted(r["capture_id"] for r in cat.rows(Query(text="idleb", **kw)))
        meta_ids = sorted(r["capture_id"] for r in cat.rows(Query(**kw)))
        assert text_ids == meta_ids, kw  # the text index filters exactly as SQLite does
        assert cat.count(Query(text="idleb", **kw)) == len(meta_ids)
    both = cat.facets(Query(text="idleb")), cat.facets(Query())
    for facets in both:
        assert facets == {
            "source": {"src_a": 3, "src_b": 1},
            "status": {"ok": 3, "blocked": 1},
            "language": {"fr": 2, "en": 2},
            "month": {"2020-01": 1, "2020-02": 3},
        }
    assert [r["capture_id"] for r in cat.rows(Query(text="idleb", sort="published", descending=True, limit=2))] == [
        "c4",
        "c3",
    ]
    assert [r["capture_id"] for r in cat.rows(Query(title="c2"))] == ["c2"]  # title only


def test_an_interrupted_update_finishes_its_text_index_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after SQLite committed rows but before tantivy committed their text: the rows
    are listed in text_todo, and the next update indexes them from the manifests."""
    from researcher.textindex import TextIndex

    store = LocalStore(tmp_path / "archive")
    manifest.commit(store, SOURCE, [row("c1", text="Frappes à Idleb.")])
    cat = Catalog(tmp_path / "cat.sqlite")
    cat.update(store)
    manifest.commit(store, SOURCE, [row("c2", text="Nouvelles frappes à Idleb.")])
    manifest.commit(
        store, SOURCE, [row("c1", extraction_id="new", extracted_at="2021-01-01T00:00:00Z", text="Idleb, corrigé.")]
    )

    def killed(self: TextIndex) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(TextIndex, "commit", killed)
    with pytest.raises(KeyboardInterrupt):
        cat.update(store)
    cat.db.close()
    cat.text._writer = None  # what the killed process held is gone (its index lock with it)
    gc.collect()
    monkeypatch.undo()
    again = Catalog(tmp_path / "cat.sqlite")
    assert again.update(store) == 0  # the manifests were read; only the text was missing
    assert sorted((r["capture_id"], r["extraction_id"]) for r in again.rows(Query(text="idleb"))) == [
        ("c1", "new"),
        ("c2", "old"),
    ]
    assert [r["text"] for r in again.extractions("c1")] == ["Idleb, corrigé.", "Frappes à Idleb."]
    assert again.db.execute("select count(*) from text_todo").fetchone()[0] == 0


def _update(path: str, archive: str) -> int:
    return Catalog(path).update(LocalStore(archive))


def test_two_processes_updating_one_catalog_take_turns(tmp_path: Path) -> None:
    """A reading room and a command refreshing the same catalog at once: both succeed, every
    row once in SQLite and once in the text index."""
    import multiprocessing

    store = LocalStore(tmp_path / "archive")
    for part in range(12):
        rows = [row(f"p{part}-{i}", language="fr", text=f"Frappes numéro {part} {i}.") for i in range(50)]
        manifest.commit(store, SOURCE, rows)
    path = str(tmp_path / "cat.sqlite")
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        added = pool.starmap(_update, [(path, str(tmp_path / "archive"))] * 2)
    assert sorted(added) == [0, 600]  # one read the manifests; the other found them read
    cat = Catalog(path)
    assert cat.update(store) == 0
    assert cat.db.execute("select count(*), count(distinct capture_id) from captures").fetchone() == (600, 600)
    assert cat.count(Query(text="frappe")) == 600 and cat.count(Query()) == 600
    assert cat.db.execute("select count(*) from text_todo").fetchone()[0] == 0


def test_a_statement_past_its_budget_is_interrupted_and_named(tmp_path: Path) -> None:
    """Catalog.budget: SQLite's progress handler interrupts a request's statement past its time."""
    from researcher.catalog import QueryTooCostly

    store = LocalStore(tmp_path / "archive")
    manifest.commit(store, SOURCE, [row(f"c{i}") for i in range(50)])
    cat = Catalog(tmp_path / "cat.sqlite")
    cat.update(store)
    heavy = "with recursive n(i) as (select 1 union all select i + 1 from n where i < 50000000) select count(*) from n"
    with pytest.raises(QueryTooCostly, match=r"longer than 0\.2 s; narrow it"), cat.budget(0.2):
        cat.db.execute(heavy).fetchone()
    with cat.budget(5):  # the connection is usable again, and ordinary statements run within budget
        assert cat.count(Query()) == 50
    assert cat.db.execute("select 1").fetchone() == (1,)  # no budget outside the block


def test_threads_read_with_their_own_connections_while_one_refreshes(tmp_path: Path) -> None:
    """The reading room's model: request threads read the same catalog file with a connection
    each while a refresh writes; every answer is one of the committed states, never an error."""
    import threading

    store = LocalStore(tmp_path / "archive")
    manifest.commit(store, SOURCE, [row(f"a{i}", text=f"Offensive numéro {i}.") for i in range(200)])
    cat = Catalog(tmp_path / "cat.sqlite")
    cat.update(store)
    errors: list[BaseException] = []
    counts: list[int] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                counts.append(cat.count(Query(text="offensive")))
                assert len(list(cat.rows(Query(sources=(SOURCE,), limit=5)))) == 5
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(6)]
    for t in readers:
        t.start()
    for batch in range(3):
        manifest.commit(store, SOURCE, [row(f"b{batch}-{i}", text="Une offensive de plus.") for i in range(100)])
        cat.update(store)
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert set(counts) <= {200, 300, 400, 500} and counts
    assert cat.count(Query(text="offensive")) == 500


def _commit_parts(store: Store, source: str, n: int, first: int = 0) -> list[str]:
    rows = [row(f"{source}-{i}", source_id=source) for i in range(first, first + n)]
    return [str(manifest.commit(store, source, [r]).key) for r in rows]


def test_an_update_reads_only_what_is_new_at_the_s3_endpoint(
    proxied: tuple[FaultProxy, Target],  # noqa: F811
    tmp_path: Path,
) -> None:
    """Counted at the S3 server: one delimited LIST for the sources, one LIST per source from
    its position, one GET per new part; the parts before the position are never read again."""
    proxy, t = proxied
    for source in ("src_a", "src_b", "src_c"):
        _commit_parts(t.store, source, 12)
    cat = Catalog(tmp_path / "cat.sqlite")
    assert cat.update(t.store) == 36
    manifest.commit(t.store, "src_b", [row("new-1", source_id="src_b")])
    manifest.commit(t.store, "src_b", [row("new-2", source_id="src_b")])
    proxy.verbs.clear()
    assert Catalog(tmp_path / "cat.sqlite").update(t.store) == 2  # a new process: positions are on disk
    assert dict(proxy.verbs) == {"LIST": 4, "GET": 2}
    proxy.verbs.clear()
    assert cat.update(t.store) == 0
    assert dict(proxy.verbs) == {"LIST": 4}


class HidingStore:
    """A store whose listings leave out the keys in `hidden` (a listing behind the writes)."""

    def __init__(self, inner: Store):
        self.inner = inner
        self.hidden: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def list_info(self, prefix: str = "", start_after: str = "") -> Iterator[ObjectInfo]:
        return (i for i in self.inner.list_info(prefix, start_after) if i.key not in self.hidden)


def test_a_part_missing_from_a_listing_holds_the_position_until_it_is_read(tmp_path: Path) -> None:
    local = LocalStore(tmp_path / "archive")
    store = HidingStore(local)
    keys = _commit_parts(local, SOURCE, 5)
    store.hidden = {keys[2]}
    cat = Catalog(tmp_path / "cat.sqlite")
    assert cat.update(store) == 4  # type: ignore[arg-type]
    assert cat.db.execute("select seq from positions").fetchone()[0] == 2
    store.hidden = set()
    assert cat.update(store) == 1  # type: ignore[arg-type]
    assert cat.db.execute("select seq from positions").fetchone()[0] == 5
    assert cat.count(Query()) == 5


def test_an_unreadable_part_before_the_position_is_tried_again_by_later_processes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "archive")
    keys = _commit_parts(store, SOURCE, 4)
    path = tmp_path / "archive" / keys[1]
    good = path.read_bytes()
    path.write_bytes(good[:40])
    seen: list[str] = []
    assert Catalog(tmp_path / "cat.sqlite").update(store, on_corrupt=lambda e: seen.append(e.key)) == 3
    path.write_bytes(good)  # (a commit reads the log: two more parts land while it reads well)
    _commit_parts(store, SOURCE, 2, first=4)
    path.write_bytes(good[:40])
    cat = Catalog(tmp_path / "cat.sqlite")  # another process: the unread part is on disk, not in memory
    assert cat.update(store, on_corrupt=lambda e: seen.append(e.key)) == 2
    assert seen == [keys[1], keys[1]] and list(cat.corrupt) == [keys[1]]
    path.write_bytes(good)  # repaired from a replica
    assert cat.update(store) == 1 and cat.corrupt == {} and cat.count(Query()) == 6


def test_another_archive_under_the_same_name_is_read_again(tmp_path: Path) -> None:
    """The part at a source's position is listed with every update: if it is gone or holds
    other bytes, the catalog is not looking at the archive it read, and reads the source anew."""
    root = tmp_path / "archive"
    _commit_parts(LocalStore(root), SOURCE, 3)
    cat = Catalog(tmp_path / "cat.sqlite")
    assert cat.update(LocalStore(root)) == 3
    shutil.rmtree(root)
    store = LocalStore(root)
    manifest.commit(store, SOURCE, [row("other-1"), row("other-2")])
    assert cat.update(store) == 2
    assert sorted(r["capture_id"] for r in cat.rows(Query())) == ["other-1", "other-2"]


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        ("select cdx from captures c where c.latest = 1 and c.urlkey >= 'a' and c.urlkey < 'b'", "captures_urlkey"),
        ("select row from captures where urlkey = 'x' and latest = 1", "captures_urlkey"),
        (
            "select row from captures c where c.latest = 1 and (c.fetched_at, c.capture_id) > ('t', 'i') "
            "order by c.fetched_at, c.capture_id limit 100",
            "captures_walk",
        ),
    ],
)
def test_each_lookup_keeps_its_index(tmp_path: Path, sql: str, index: str) -> None:
    """A new index must not take another lookup's plan (one led by `latest` once took the
    CDX and Memento lookups: ten times slower at 30,000 captures)."""
    cat = Catalog(tmp_path / "cat.sqlite")
    plan = " ".join(str(r[-1]) for r in cat.db.execute("explain query plan " + sql))
    assert f"INDEX {index}" in plan, plan


def _open(path: str) -> int:
    return int(Catalog(path).db.execute("select count(*) from captures").fetchone()[0])


def test_processes_opening_one_new_catalog_at_once_all_get_it(tmp_path: Path) -> None:
    """The first opening of a catalog creates it and switches it to WAL: others opening it at
    the same moment wait their turn instead of failing with "database is locked"."""
    import multiprocessing

    path = str(tmp_path / "new.sqlite")
    # spawned, not forked: a fork of the test process (with its servers' threads) can deadlock
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        assert pool.map(_open, [path] * 6) == [0] * 6
