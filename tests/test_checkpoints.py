"""Checkpoints of the table logs (storage/checkpoint.py), on a local archive and on SeaweedFS:
readers start from the newest one and read only the parts after it; a damaged, missing or
unwritten checkpoint costs time, never rows; racing committers and a glob reader still see
every committed row exactly once."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from researcher.verify import check_checkpoints, check_tables
from storage import checkpoint, layout, manifest, tablelog
from storage.errors import PermanentError, StorageUnavailable
from storage.store import LocalStore, ObjectInfo, Store
from storage.tables import EVENTS
from tests.faultproxy import FaultProxy, Rule
from tests.test_tables_write_once import _event
from tests.test_write_once import (  # noqa: F401 - proxied and target are fixtures
    Target,
    _corrupt,
    _row,
    proxied,
    race_two_processes,
    target,
)


class Counting:
    """A Store that counts what its caller reads: GETs by key, LIST calls by prefix."""

    def __init__(self, inner: Store):
        self.inner = inner
        self.gets: Counter[str] = Counter()
        self.lists = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_bytes(self, key: str) -> bytes:
        self.gets[key] += 1
        return self.inner.get_bytes(key)

    def list(self, prefix: str = "", start_after: str = "") -> Iterator[str]:
        self.lists += 1
        return self.inner.list(prefix, start_after)

    def list_info(self, prefix: str = "", start_after: str = "") -> Iterator[ObjectInfo]:
        self.lists += 1
        return self.inner.list_info(prefix, start_after)


def _commit_each(store: Store, ids: range, source: str = "src_a") -> list[tablelog.Appended]:
    return [tablelog.commit(store, EVENTS, source, [_event(i, source)]) for i in ids]


def _ids(store: Store, source: str = "src_a", **kw: Any) -> list[str]:
    return sorted(r["event_id"] for r in tablelog.load(store, EVENTS, source, **kw).to_pylist())


def _checkpoints(store: Store, table: str = "events", source: str = "src_a") -> list[int]:
    return sorted(p[2] for k in store.list(checkpoint.prefix(table, source)) if (p := checkpoint.parse_key(k)))


def test_every_tenth_commit_writes_a_checkpoint_and_readers_read_only_its_tail(target: Target) -> None:  # noqa: F811
    done = _commit_each(target.store, range(1, 26))
    assert [d.checkpoint is not None for d in done] == [(i % 10 == 0) for i in range(1, 26)]
    assert all(d.problems == [] for d in done)
    assert _checkpoints(target.store) == [10, 20]

    counting = Counting(target.store)
    assert _ids(counting) == [f"e{i:04d}" for i in range(1, 26)]  # type: ignore[arg-type]
    parts_read = sorted(k for k in counting.gets if k.startswith("events/"))
    assert parts_read == [layout.part_key("events", "src_a", n) for n in range(21, 26)]
    assert [k for k in counting.gets if k.startswith("_checkpoints/")] == [
        checkpoint.key_of(target.store, "events", "src_a", 20)
    ]
    assert counting.lists == 2  # the checkpoints, then the log after the newest one

    committer = Counting(target.store)  # a commit reads the same: checkpoint plus tail
    again = tablelog.commit(committer, EVENTS, "src_a", [_event(3), _event(26)])  # type: ignore[arg-type]
    assert len(again.rows) == 1 and again.dropped == {"already committed": 1}
    assert sum(1 for k in committer.gets if k.startswith("events/")) == 5


def test_a_columns_read_beyond_the_state_reads_the_parts(tmp_path: Path) -> None:
    """A checkpoint keeps the state columns only: asking for more is answered from the parts."""
    store = LocalStore(tmp_path)
    _commit_each(store, range(1, 12))
    assert set(EVENTS.state_columns) == set(EVENTS.columns)  # events keep everything
    rows = [manifest_row(i) for i in range(1, 12)]
    for row in rows:
        manifest.commit(store, "src_a", [row])
    assert _checkpoints(store, "manifests") == [10]
    counting = Counting(store)
    history = manifest.capture_history(counting, "src_a")  # type: ignore[arg-type]
    assert len(history) == 11 and sum(1 for k in counting.gets if k.startswith("manifests/")) == 1
    counting = Counting(store)
    full = manifest.load_manifests(counting, "src_a")  # type: ignore[arg-type]
    assert full.num_rows == 11 and sum(1 for k in counting.gets if k.startswith("manifests/")) == 11


def manifest_row(i: int) -> dict[str, Any]:
    return _row(f"c{i:04d}", f"https://a.example/{i}") | {"fetched_at": f"2024-01-{i:02d}T00:00:00+00:00"}


def test_a_glob_reader_sees_every_committed_row_exactly_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    _commit_each(store, range(1, 36))
    _commit_each(store, range(1, 13), "src_b")
    assert _checkpoints(store) == [10, 20, 30] and _checkpoints(store, source="src_b") == [10]
    con = duckdb.connect()
    rows = con.execute("select event_id, source_id from read_parquet(?)", [f"{tmp_path}/events/*/*.parquet"]).fetchall()
    assert len(rows) == 47 and len(set(rows)) == 47
    con.close()


def test_a_damaged_newest_checkpoint_is_reported_and_the_older_one_used(target: Target) -> None:  # noqa: F811
    _commit_each(target.store, range(1, 26))
    newest = checkpoint.key_of(target.store, "events", "src_a", 20)
    _corrupt(target, newest)
    seen: list[tablelog.CorruptPart] = []
    counting = Counting(target.store)
    assert _ids(counting, on_corrupt=seen.append) == [f"e{i:04d}" for i in range(1, 26)]  # type: ignore[arg-type]
    assert [e.key for e in seen] == [newest] and "SHA-256" in str(seen[0])
    assert sum(1 for k in counting.gets if k.startswith("events/")) == 15  # parts 11..25 after checkpoint 10
    # a commit reports it, and is not stopped by it
    done = tablelog.commit(target.store, EVENTS, "src_a", [_event(26)])
    assert done.key and any(newest in p for p in done.problems)


def test_a_checkpoint_that_lies_about_itself_is_refused(tmp_path: Path) -> None:
    """Valid Parquet of the right schema under its own digest, but saying it is another part:
    a copy of checkpoint 10 named as 20 would silently drop parts 11..20."""
    store = LocalStore(tmp_path)
    _commit_each(store, range(1, 23))
    ten = checkpoint.read(store, EVENTS, checkpoint.key_of(store, "events", "src_a", 10))
    data = store.get_bytes(ten.key)
    forged = checkpoint.key("events", "src_a", 21, hashlib.sha256(data).hexdigest())
    store.put_bytes(forged, data)
    seen: list[tablelog.CorruptPart] = []
    assert _ids(store, on_corrupt=seen.append) == [f"e{i:04d}" for i in range(1, 23)]
    assert [e.key for e in seen] == [forged] and "not {" in str(seen[0])


def test_the_newest_of_thousands_of_checkpoints_costs_one_list_and_one_get_at_the_s3_endpoint(
    proxied: tuple[FaultProxy, Target],  # noqa: F811
) -> None:
    """Keys list newest first, so finding the newest checkpoint does not grow with the log's
    age: 1,200 checkpoints (12,000 commits) span two LIST pages, and one is read."""
    proxy, t = proxied
    rows = checkpoint.state_rows(EVENTS, [])
    for seq in range(10, 12_001, 10):
        checkpoint.write(t.store, EVENTS, "src_a", seq, rows)
    proxy.verbs.clear()
    newest = checkpoint.latest(t.store, EVENTS, "src_a", on_corrupt=lambda e: pytest.fail(str(e)))
    assert newest is not None and newest.seq == 12_000
    assert dict(proxy.verbs) == {"LIST": 1, "GET": 1}


def test_a_listed_checkpoint_that_reads_as_missing_is_a_fault_not_an_absence(
    proxied: tuple[FaultProxy, Target],  # noqa: F811
) -> None:
    proxy, t = proxied
    _commit_each(t.store, range(1, 12))
    proxy.add(Rule("404", methods=("GET",), match="/_checkpoints/", times=None, when=lambda m, p: "list-type" not in p))
    with pytest.raises(StorageUnavailable, match="_checkpoints/events/source=src_a/9999999989-0000000010"):
        _ids(t.store)
    with pytest.raises(StorageUnavailable):
        tablelog.commit(t.store, EVENTS, "src_a", [_event(12)])
    proxy.clear()
    assert _ids(t.store) == [f"e{i:04d}" for i in range(1, 12)]


def test_a_checkpoint_that_could_not_be_written_is_written_by_the_next_commit(
    proxied: tuple[FaultProxy, Target],  # noqa: F811
) -> None:
    proxy, t = proxied
    _commit_each(t.store, range(1, 10))
    proxy.add(Rule("500", methods=("PUT",), match="/_checkpoints/", times=None))
    tenth = tablelog.commit(t.store, EVENTS, "src_a", [_event(10)])
    assert tenth.key and tenth.checkpoint is None and "checkpoint" in tenth.problems[0]
    proxy.clear()
    eleventh = tablelog.commit(t.store, EVENTS, "src_a", [_event(11)])
    assert eleventh.checkpoint and _checkpoints(t.store) == [11]
    assert _ids(t.store) == [f"e{i:04d}" for i in range(1, 12)]


_RACER = """
import json, sys, time
from storage import tablelog
from storage.store import open_store
from storage.tables import EVENTS
store = open_store(sys.argv[1]); who = sys.argv[2]; t0 = float(sys.argv[3]); n = int(sys.argv[4])
out = []
for i in range(n):
    time.sleep(max(0.0, t0 + i * 0.2 - time.time()))  # both processes commit to one log together
    rows = [{c: None for c in EVENTS.columns} | {"event_id": f"{i}-{who}", "source_id": "one",
            "kind": "edit", "reason": "text", "capture_id": f"c{i}", "url": "u"},
            {c: None for c in EVENTS.columns} | {"event_id": f"{i}-shared", "source_id": "one",
            "kind": "edit", "reason": "text", "capture_id": f"c{i}", "url": "u"}]
    done = tablelog.commit(store, EVENTS, "one", rows)
    out.append({"key": done.key, "checkpoint": done.checkpoint, "problems": done.problems})
print(json.dumps(out))
"""


def test_two_processes_committing_to_one_log_with_checkpoints_lose_and_double_nothing(target: Target) -> None:  # noqa: F811
    n = 16
    results = race_two_processes(target, _RACER, n)
    keys = tablelog.part_keys(target.store, "events", "one")
    assert tablelog.check_contiguous(keys) == [] and len(keys) == 2 * n
    assert not [p for r in results for c in r for p in c["problems"]]
    want = sorted([f"{i}-{w}" for i in range(n) for w in "pq"] + [f"{i}-shared" for i in range(n)])
    assert _ids(target.store, "one") == want
    # every checkpoint holds exactly the rows of the parts it summarises
    marks = _checkpoints(target.store, source="one")
    assert marks and marks[0] >= 10
    for seq in marks:
        cp = checkpoint.read(target.store, EVENTS, checkpoint.key_of(target.store, "events", "one", seq))
        parts = [tablelog.read_conformed(target.store, k, EVENTS, ["event_id"]) for k in keys[:seq]]
        assert sorted(cp.rows.column("event_id").to_pylist()) == sorted(
            x for p in parts for x in p.column("event_id").to_pylist()
        )


def test_verify_compares_the_newest_checkpoint_with_its_parts(tmp_path: Path) -> None:
    """A checkpoint written wrong (a buggy or hostile writer: valid, self-consistent, under its
    own digest) would hand readers rows the log never committed; verify reads the parts and
    names it, and the log itself stays clean."""
    store = LocalStore(tmp_path)
    _commit_each(store, range(1, 13))
    assert check_checkpoints(store) == []
    good = checkpoint.read(store, EVENTS, checkpoint.key_of(store, "events", "src_a", 10))
    other = tablelog.load(LocalStore(tmp_path), EVENTS, "src_a", checkpoints=False).slice(0, 10)
    forged_rows = other.set_column(0, "event_id", pa.array([f"x{i}" for i in range(10)]))
    numbered = checkpoint.state_rows(EVENTS, [(i + 1, forged_rows.slice(i, 1)) for i in range(10)])
    forged = checkpoint.write(store, EVENTS, "src_a", 11, numbered)
    assert forged != good.key
    problems = check_checkpoints(store)
    assert [(p.kind, p.key) for p in problems] == [("bad_checkpoint", forged)]
    assert "parts 1..11" in problems[0].detail
    assert not [p for p in check_tables(store) if p.kind != "dangling_events"]  # the log is whole


@pytest.mark.parametrize("seed", range(20))
def test_deduplication_from_columns_decides_as_from_every_row(seed: int) -> None:
    """A commit de-duplicates against a checkpoint's columns, keeping only the rows that can
    bear on its candidates; random logs over a few addresses (statuses, revisits, runs,
    canonicals, re-extractions) get the verdicts the row-by-row reading gives."""
    import random

    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    urls = [f"https://a.example/{i}" for i in range(12)]

    def one(i: int) -> dict[str, Any]:
        return {c: None for c in manifest.COLUMNS} | {
            "capture_id": f"c{rng.randrange(40)}",
            "extraction_id": rng.choice(["x1", "x2"]),
            "source_id": "src_a",
            "status": rng.choice(["ok", "ok", "blocked", "not_article", "extraction_failed"]),
            "requested_url": rng.choice(urls),
            "final_url": rng.choice([None, *urls]),
            "canonical_url": rng.choice([None, None, *urls]),
            "discovery_kind": rng.choice(["feed", "sitemap", "revisit"]),
            "run": rng.choice(["R1", "R2", "R3"]),
        }

    committed = [one(i) for i in range(rng.randrange(0, 60))]
    candidates = [one(i) for i in range(rng.randrange(1, 25))]
    state = manifest.MANIFESTS.state_columns
    columnar = pa.Table.from_pylist(
        [{c: r.get(c) for c in state} for r in committed], schema=pa.schema([manifest.SCHEMA.field(c) for c in state])
    )
    assert manifest.select_new(columnar, candidates) == manifest.select_new(committed, candidates)


def test_a_checkpoint_without_a_state_column_is_not_taken_for_nulls(tmp_path: Path) -> None:
    """A checkpoint written before a column joined the table's state (or by another writer)
    lacks it: its rows would read as null where the parts hold values, so it is passed over."""
    store = LocalStore(tmp_path)
    _commit_each(store, range(1, 12))
    narrow = tablelog.load(store, EVENTS, "src_a", checkpoints=False).drop_columns(["url"])
    meta = {"table": "events", "source_id": "src_a", "seq": 11, "rows": 11}
    buf = io.BytesIO()
    pq.write_table(narrow.replace_schema_metadata({checkpoint.METADATA: json.dumps(meta, sort_keys=True)}), buf)
    data = buf.getvalue()
    old = checkpoint.key("events", "src_a", 11, hashlib.sha256(data).hexdigest())
    store.put_bytes(old, data)
    seen: list[tablelog.CorruptPart] = []
    loaded = tablelog.load(store, EVENTS, "src_a", on_corrupt=seen.append)
    assert old in [e.key for e in seen] and "holds no url" in str(seen[[e.key for e in seen].index(old)])
    assert loaded.num_rows == 11 and loaded.column("url").null_count == 0


def test_the_parts_holding_a_few_urls_are_found_from_the_checkpoint_and_the_tail(tmp_path: Path) -> None:
    """Finding a few rows' parts (a revisit's earlier captures) reads the newest checkpoint
    and the parts after it; the parts it names are the only older ones read afterwards. A
    damaged checkpoint costs time (every part read), never a part."""
    store = LocalStore(tmp_path)
    for i in range(1, 26):
        manifest.commit(store, "src_a", [manifest_row(i)])
    wanted = pa.array(["https://a.example/3", "https://a.example/23", "https://a.example/99"])
    columns = ["requested_url", "final_url"]
    counting = Counting(store)
    keys = tablelog.parts_holding(counting, manifest.MANIFESTS, "src_a", columns, wanted)  # type: ignore[arg-type]
    assert keys == [layout.commit_key("src_a", 3), layout.commit_key("src_a", 23)]
    parts_read = sorted(k for k in counting.gets if k.startswith("manifests/"))
    assert parts_read == [layout.commit_key("src_a", n) for n in range(21, 26)]

    for seq in (20, 10):
        (tmp_path / checkpoint.key_of(store, "manifests", "src_a", seq)).write_bytes(b"damaged")
    assert tablelog.parts_holding(store, manifest.MANIFESTS, "src_a", columns, wanted) == keys


def test_a_checkpoint_that_misnumbers_its_parts_is_passed_over(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    _commit_each(store, range(1, 11))
    good = checkpoint.read(store, EVENTS, checkpoint.key_of(store, "events", "src_a", 10))
    backwards = good.rows.set_column(
        good.rows.schema.get_field_index(checkpoint.PART),
        checkpoint.PART,
        pa.array(list(range(10, 0, -1)), pa.uint32()),
    )
    data = checkpoint.encode(EVENTS, "src_a", 11, backwards.slice(0, 10))
    forged = checkpoint.key("events", "src_a", 11, hashlib.sha256(data).hexdigest())
    store.put_bytes(forged, data)
    seen: list[tablelog.CorruptPart] = []
    assert _ids(store, on_corrupt=seen.append) == [f"e{i:04d}" for i in range(1, 11)]
    assert [e.key for e in seen] == [forged] and "out of order" in str(seen[0])


def test_the_interval_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(checkpoint.INTERVAL_ENV, "3")
    store = LocalStore(tmp_path)
    _commit_each(store, range(1, 8))
    assert _checkpoints(store) == [3, 6]
    monkeypatch.setenv(checkpoint.INTERVAL_ENV, "often")
    with pytest.raises(PermanentError, match="NEWSARCHIVE_CHECKPOINT_EVERY='often'"):
        _commit_each(store, range(8, 9))
    assert len(_ids(store)) == 7  # refused before anything was written
