"""The events, links and signatures logs keep the manifests' guarantees: raced, killed mid-way
and fed storage faults, then verified (on a local archive and on SeaweedFS)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline import linking
from researcher.verify import check_tables
from storage import manifest, tablelog
from storage.errors import StorageUnavailable
from storage.tables import EVENTS, LINKS, SIGNATURES
from tests.faultproxy import FaultProxy, Rule
from tests.test_write_once import (  # noqa: F401 - proxied and target are fixtures
    REPO,
    Target,
    _corrupt,
    _env,
    proxied,
    race_two_processes,
    target,
)

SEEDS = json.loads((REPO / "tests" / "fixtures" / "seeds" / "gold.json").read_text(encoding="utf-8"))
LINKED_SEEDS = [0, 2, 3, 4]  # seed 1's republication drowns the article in a comment thread (test_syndication)


def _event(i: int, source: str = "src_a") -> dict[str, Any]:
    return {c: None for c in EVENTS.columns} | {
        "event_id": f"e{i:04d}",
        "source_id": source,
        "kind": "takedown",
        "reason": "gone",
        "capture_id": f"c{i}",
        "url": f"https://x/{i}",
        "http_status": 404,
        "summary": "{}",
    }


_RACER = """
import json, sys, time
from storage import tablelog
from storage.store import open_store
from storage.tables import EVENTS
store = open_store(sys.argv[1]); who = sys.argv[2]; t0 = float(sys.argv[3]); n = int(sys.argv[4])
out = []
for i in range(n):
    time.sleep(max(0.0, t0 + i * 0.25 - time.time()))  # both processes start each race together
    rows = [{c: None for c in EVENTS.columns} | {"event_id": f"{i}-{who}-{j}", "source_id": f"race_{i}",
            "kind": "edit", "reason": "text", "capture_id": f"c{j}", "url": "u"} for j in range(3)]
    rows.append({c: None for c in EVENTS.columns} | {"event_id": f"{i}-shared", "source_id": f"race_{i}",
                 "kind": "takedown", "reason": "gone", "capture_id": "c", "url": "u"})
    done = tablelog.commit(store, EVENTS, f"race_{i}", rows)
    out.append({"key": done.key, "new": len(done.rows), "conflicts": done.conflicts})
print(json.dumps(out))
"""


def test_two_processes_racing_on_one_events_log_lose_nothing(target: Target) -> None:  # noqa: F811
    n = 15
    results = race_two_processes(target, _RACER, n)
    for i in range(n):
        ids = [r["event_id"] for r in tablelog.load(target.store, EVENTS, f"race_{i}").to_pylist()]
        assert sorted(ids) == sorted([f"{i}-{w}-{j}" for w in "pq" for j in range(3)] + [f"{i}-shared"])
        keys = tablelog.part_keys(target.store, "events", f"race_{i}")
        assert tablelog.check_contiguous(keys) == [] and len(keys) == 2
    conflicts = sum(r["conflicts"] for x in results for r in x)
    assert conflicts > 0, f"{n} rounds and not one conflict: the processes never raced"
    print(f"events races: {n}, conflicts resolved by retry: {conflicts}")


def test_a_repeated_commit_adds_nothing(target: Target) -> None:  # noqa: F811
    first = tablelog.commit(target.store, EVENTS, "src_a", [_event(1), _event(2)])
    again = tablelog.commit(target.store, EVENTS, "src_a", [_event(2), _event(1)])
    assert first.key == "events/source=src_a/0000000001.parquet" and len(first.rows) == 2
    assert again.key is None and again.dropped == {"already committed": 2}


@pytest.mark.parametrize(
    "fault",
    [
        Rule("404", methods=("GET",), match="/events/", times=1, when=lambda m, p: "list-type" not in p),
        Rule("truncate", methods=("GET",), match="/events/", times=5),
        Rule("500", methods=("GET", "PUT"), match="/events/", times=5),
        Rule("503", methods=("GET",), match="list-type=2", times=5, when=lambda m, p: "list-type" in p),
    ],
    ids=["404-on-a-listed-part", "truncated-body", "500", "503-on-list"],
)
def test_a_storage_fault_during_an_events_commit_loses_nothing(
    proxied: tuple[FaultProxy, Target],  # noqa: F811
    fault: Rule,
) -> None:
    proxy, t = proxied
    tablelog.commit(t.store, EVENTS, "src_a", [_event(1), _event(2)])
    proxy.add(fault)
    try:
        assert len(tablelog.commit(t.store, EVENTS, "src_a", [_event(2), _event(3)]).rows) == 1
    except StorageUnavailable as exc:  # never "absent": a listed part that reads as missing is a fault
        assert "events" in str(exc)
    assert proxy.injected, "the fault was never served"
    proxy.clear()
    tablelog.commit(t.store, EVENTS, "src_a", [_event(3)])
    assert sorted(r["event_id"] for r in tablelog.load(t.store, EVENTS, "src_a").to_pylist()) == [
        "e0001",
        "e0002",
        "e0003",
    ]
    assert tablelog.check_contiguous(tablelog.part_keys(t.store, "events", "src_a")) == []


def test_a_corrupt_part_is_named_by_readers_and_verify(target: Target) -> None:  # noqa: F811
    tablelog.commit(target.store, EVENTS, "src_a", [_event(1)])
    tablelog.commit(target.store, EVENTS, "src_a", [_event(2)])
    bad = "events/source=src_a/0000000001.parquet"
    _corrupt(target, bad)
    with pytest.raises(tablelog.CorruptPart, match=bad):
        tablelog.load(target.store, EVENTS)
    with pytest.raises(tablelog.CorruptPart, match=bad):  # a commit never decides on a partial log
        tablelog.commit(target.store, EVENTS, "src_a", [_event(3)])
    skipped: list[tablelog.CorruptPart] = []
    rows = tablelog.load(target.store, EVENTS, on_corrupt=skipped.append).to_pylist()
    assert [r["event_id"] for r in rows] == ["e0002"] and [e.key for e in skipped] == [bad]
    kinds = {(p.kind, p.key) for p in check_tables(target.store)}
    assert ("corrupt_events", bad) in kinds and ("dangling_events", "e0002") in kinds  # c2 is no capture


# -- linking: two sources' manifests with real republished texts ---------------------------------


def _article(cid: str, source: str, text: str, day: int) -> dict[str, Any]:
    return {c: None for c in manifest.COLUMNS} | {
        "capture_id": cid,
        "source_id": source,
        "status": "ok",
        "requested_url": f"https://{source}.example/{cid}",
        "final_url": f"https://{source}.example/{cid}",
        "published": f"2020-01-{day:02d}T10:00:00+00:00",
        "discovery_kind": "feed",
        "run": "R",
        "text": text,
        "authors": [],
        "tags": [],
        "flags": [],
    }


def _two_sources(store: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """outlet_a publishes the five seed articles; blog_b republishes each the next day, among
    its own page noise (the seed's lines labelled drop). Both committed, neither linked yet."""
    a = [_article(f"a{i}", "outlet_a", "\n".join(s["keep"]), 1 + i) for i, s in enumerate(SEEDS)]
    b = [_article(f"b{i}", "blog_b", "\n".join([*s["drop"], *s["keep"]]), 2 + i) for i, s in enumerate(SEEDS)]
    ca = manifest.commit(store, "outlet_a", a)
    cb = manifest.commit(store, "blog_b", b)
    crawl = {"run": "R"}
    return {**crawl, "source_id": "outlet_a", "manifest": ca.key}, {**crawl, "source_id": "blog_b", "manifest": cb.key}


def _expected_links() -> set[tuple[str, str]]:
    return {(f"b{i}", f"a{i}") for i in LINKED_SEEDS}


_LINKER = """
import json, sys
from pipeline import linking
from storage.store import open_store
store = open_store(sys.argv[1]); job = json.loads(sys.argv[2])
print(json.dumps(linking.link_run(store, job, job)))
"""


def _link_in_child(t: Target, job: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _LINKER, t.url, json.dumps(job)],
        env=_env(t),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _links(store: Any) -> list[tuple[str, str]]:
    return sorted((r["republished"], r["original"]) for r in tablelog.load(store, LINKS).to_pylist())


def test_two_sources_linking_at_once_find_each_link_once(target: Target) -> None:  # noqa: F811
    """Each run commits its signatures before reading the others', so whichever order the two
    interleave in, at least one sees the other; a link both find is one row."""
    job_a, job_b = _two_sources(target.store)
    procs = [_link_in_child(target, job) for job in (job_a, job_b)]
    for p in procs:
        _out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()[-2000:]
    assert _links(target.store) == sorted(_expected_links())
    assert len(tablelog.load(target.store, SIGNATURES).to_pylist()) == 10
    assert check_tables(target.store) == []


def test_a_linking_run_killed_at_any_moment_then_rerun_links_once(target: Target) -> None:  # noqa: F811
    job_a, job_b = _two_sources(target.store)
    linking.link_run(target.store, job_a, job_a)
    rng = random.Random(15)  # noqa: S311 - kill times, not a secret
    for _ in range(4):  # killed somewhere between start, signatures commit, links commit and exit
        p = _link_in_child(target, job_b)
        time.sleep(rng.uniform(0.5, 3.0))
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
        assert check_tables(target.store) == [], "a killed run leaves only whole, committed parts"
    done = linking.link_run(target.store, job_b, job_b)
    assert done["signed"] == 5
    assert _links(target.store) == sorted(_expected_links())
    again = linking.link_run(target.store, job_b, job_b)
    assert again["commits"][0]["new_rows"] == 0 and _links(target.store) == sorted(_expected_links())
    assert check_tables(target.store) == []


def test_signatures_survive_the_round_trip(tmp_path: Path) -> None:
    """The stored bytes read back as the same matrix, without a copy per row."""
    rows = [_article(f"a{i}", "outlet_a", "\n".join(s["keep"]), 1 + i) for i, s in enumerate(SEEDS)]
    signed = linking.signature_rows(rows)
    from storage.store import LocalStore

    store = LocalStore(tmp_path / "archive")
    tablelog.commit(store, SIGNATURES, "outlet_a", signed)
    table = tablelog.load(store, SIGNATURES)
    matrix = linking.as_matrix(table["minhash"])
    by_id = dict(zip(table["capture_id"].to_pylist(), matrix, strict=True))
    for row in signed:
        assert by_id[row["capture_id"]].tobytes() == row["minhash"]
