"""The catalog follows the manifests: new, rewritten and removed manifests, latest extraction, queries."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from researcher.catalog import Catalog, Query, fts_query
from storage import manifest
from storage.errors import PermanentError
from storage.store import LocalStore

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
    ("text", "column", "expected"),
    [
        ("Idleb", None, '"Idleb"'),
        ('"deir ez-zor" frappe', None, '"deir ez zor" AND "frappe"'),
        ("NEAR(a b)", None, '"NEAR a" AND "b"'),  # a word with punctuation is a phrase of its tokens
        ("offensive", "title", 'title : "offensive"'),
        ("l'armée", None, '"l armée"'),
    ],
)
def test_fts_query_quotes_every_token(text: str, column: str | None, expected: str) -> None:
    assert fts_query(text, column) == expected


@pytest.mark.parametrize("text", ["", "   ", "()", '"" ^'])
def test_fts_query_with_nothing_to_search(text: str) -> None:
    with pytest.raises(PermanentError, match="nothing to search for"):
        fts_query(text)


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
