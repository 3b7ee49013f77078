"""The catalog follows the manifests: new, rewritten and removed manifests, latest extraction, queries."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from storage import manifest
from storage.catalog import Catalog, Query, fts_query
from storage.errors import PermanentError
from storage.store import LocalStore

KEY = "manifests/source=src_a/date=2020-01-01/R.parquet"
XKEY = "manifests/source=src_a/date=2020-01-01/R.x-new.parquet"


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


def test_catalog_follows_new_rewritten_and_removed_manifests(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "archive")
    cat = Catalog(tmp_path / "cat.sqlite")
    manifest.commit(store, KEY, [row("c1"), row("c2")])
    assert cat.update(store) == 2
    assert cat.update(store) == 0  # nothing changed, nothing read
    manifest.commit(store, KEY, [row("c3", text="Une offensive sur Idleb.")])  # a re-run merges a row in
    assert cat.update(store) == 3
    assert [r["capture_id"] for r in cat.rows(Query(text="Idleb"))] == ["c3"]
    # a re-extraction of c1 becomes its latest; removing it falls back to the earlier one
    store.put_bytes(XKEY, manifest.to_parquet([row("c1", extraction_id="new", extracted_at="2021-01-01T00:00:00Z")]))
    cat.update(store)
    assert [r["extraction_id"] for r in cat.extractions("c1")] == ["new", "old"]
    assert {r["capture_id"]: r["extraction_id"] for r in cat.rows(Query())} == {"c1": "new", "c2": "old", "c3": "old"}
    (tmp_path / "archive" / XKEY).unlink()
    cat.update(store)
    assert {r["extraction_id"] for r in cat.rows(Query())} == {"old"}
    assert cat.count(Query()) == 3


def test_queries_filter_sort_and_limit(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "archive")
    manifest.commit(
        store,
        KEY,
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
    manifest.commit(store, KEY, [row("c1")])
    cat = Catalog(path)
    assert cat.update(store) == 1 and cat.count(Query()) == 1
