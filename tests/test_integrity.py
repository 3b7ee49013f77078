"""Nothing read is trusted before it is checked (issue 31), on a local directory and on
SeaweedFS alike: every WARC record a capture consists of, re-extraction's input, and every
Parquet part of every table against its schema. Damage is named, skipped and reported, and
contained to what it touches."""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from extract import Extractor, classify_capture
from pipeline import runs
from researcher.cli import app
from researcher.verify import verify
from storage import layout, manifest, tablelog
from storage.errors import PermanentError
from storage.tables import EVENTS, LINKS, SIGNATURES
from tests.hostile import HostileSite, run_steps, write_profile
from tests.test_write_once import Target, _rewrite, make_target, runner


@pytest.fixture(params=["local", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    return make_target(request, tmp_path)


@pytest.fixture
def site() -> Iterator[HostileSite]:
    s = HostileSite()
    yield s
    s.stop()


def _archive_one(target: Target, site: HostileSite, tmp_path: Path) -> dict[str, Any]:
    site.publish(["a"])
    run_steps(target.store, write_profile(tmp_path), site.replay_map())
    (row,) = manifest.load_manifests(target.store).to_pylist()
    return dict(row)


def _records(target: Target, row: dict[str, Any]) -> tuple[bytes, list[bytes]]:
    """The WARC part and the capture's three gzip members (response, request, metadata)."""
    warc = target.store.get_bytes(row["warc_key"])
    data = warc[row["warc_offset"] : row["warc_offset"] + row["warc_records_length"]]
    members, rest = [], data
    while rest:
        d = zlib.decompressobj(31)
        plain = d.decompress(rest)
        members.append(plain)
        rest = d.unused_data
    return warc, members


def _replace_records(target: Target, row: dict[str, Any], warc: bytes, members: list[bytes]) -> None:
    off = row["warc_offset"]
    new = b"".join(gzip.compress(m) for m in members)
    _rewrite(target, row["warc_key"], warc[:off] + new + warc[off + row["warc_records_length"] :])


@pytest.mark.parametrize(
    ("which", "old", "new"),
    [
        (0, b"WARC-Target-URI: http://news.example/articles/a", b"WARC-Target-URI: http://news.example/articles/z"),
        (1, b"GET /articles/a", b"GET /articles/z"),  # the request record
        (2, b'"payload_sha256"', b'"payload_sha256 "'),  # the metadata record
        (0, b"Content-Type: text/html", b"Content-Type: text/xml "),  # an HTTP header of the response
    ],
)
def test_every_record_of_a_capture_is_checked_by_get_warc_export_and_verify(
    target: Target, site: HostileSite, tmp_path: Path, which: int, old: bytes, new: bytes
) -> None:
    """The manifest keeps the SHA-256 of the capture's records as stored (response, request,
    metadata, headers included): a rewrite of any of them is refused, though the response's
    payload is intact."""
    row = _archive_one(target, site, tmp_path)
    assert row["warc_records_length"] > row["warc_length"] and len(row["warc_records_sha256"]) == 64
    assert verify(target.store).ok
    warc, members = _records(target, row)
    assert len(members) == 3 and old in members[which]
    members[which] = members[which].replace(old, new, 1)
    _replace_records(target, row, warc, members)
    env = {**target.env, "NEWSARCHIVE_CACHE": str(tmp_path / "cache")}
    got = runner.invoke(app, ["get", row["capture_id"], "--warc", "--archive", target.url], env=env)
    assert got.exit_code == 1 and got.stdout == "" and "its WARC records" in got.stderr, got.output
    raw = runner.invoke(app, ["get", row["capture_id"], "--raw", "--archive", target.url], env=env)
    assert raw.exit_code == 0  # the payload itself is intact, and its own digest says so
    out = tmp_path / "x.wacz"
    exported = runner.invoke(app, ["export", "-o", str(out), "-f", "wacz", "--archive", target.url], env=env)
    assert exported.exit_code == 1 and not out.exists(), exported.output
    report = verify(target.store)
    assert [(p.kind, p.capture_id) for p in report.problems] == [("corrupt_raw", row["capture_id"])]
    assert "WARC records SHA-256" in report.problems[0].detail


def _regzip_payload(target: Target, row: dict[str, Any], old: bytes, new: bytes) -> None:
    """Rewrite the response payload at the same length, as a forger would."""
    assert len(old) == len(new)
    warc, members = _records(target, row)
    members[0] = members[0].replace(old, new)
    _replace_records(target, row, warc, members)


def test_reprocess_refuses_a_payload_rewritten_at_the_same_length(
    target: Target, site: HostileSite, tmp_path: Path
) -> None:
    row = _archive_one(target, site, tmp_path)
    _regzip_payload(target, row, b"the ministry said", b"the rebels denied")
    ex = Extractor.from_rules([], [], "en", 2)  # another rules version: every capture is re-extracted
    day = manifest.load_manifests(target.store).to_pylist()[0]["logical_date"]
    from datetime import date

    result = runs.reprocess_range(
        target.store, "hostile_news", date.fromisoformat(day), date.fromisoformat(day), ex, ex.info, classify_capture
    )
    assert result["counts"].get("refused") == 1 and result["commits"] == []
    assert result["refused"][0]["capture_id"] == row["capture_id"]
    rows = manifest.load_manifests(target.store).to_pylist()
    assert [r["extraction_id"] for r in rows] == [row["extraction_id"]]  # nothing forged was committed
    assert "the rebels denied" not in (rows[0]["text"] or "")


def test_extract_refuses_a_warc_altered_between_the_crawl_and_the_extraction(
    target: Target, site: HostileSite, tmp_path: Path
) -> None:
    from spiders.crawl import RunContext, run_crawl
    from spiders.profile import load_profile
    from tests.hostile import WINDOW

    site.publish(["a", "b"])
    profile_path = write_profile(tmp_path)
    profile = load_profile(profile_path)
    ctx = RunContext(profile.id, WINDOW[0], WINDOW[1], WINDOW[0].date())
    crawled = run_crawl(target.store, ctx, profile_path=profile_path, replay=site.replay_map()).as_dict()
    (part,) = crawled["parts"]
    log = [json.loads(x) for x in target.store.get_bytes(crawled["crawl_log"]).splitlines()]
    a = next(r for r in log if r.get("outcome") == "archived" and r["url"].endswith("/a"))
    fake = {
        "warc_key": part,
        "warc_offset": a["offset"],
        "warc_records_length": a["records_length"],
    }
    _regzip_payload(target, fake, b"the ministry said", b"the rebels denied")
    ex = Extractor.from_rules([], [], "en", 1)
    extracted = runs.extract_run(target.store, crawled, ex, ex.info, classify_capture)
    assert extracted["counts"]["refused"] == 1
    assert extracted["errors"] == {"payload altered after the crawl wrote it": 1}
    committed = runs.commit_run(target.store, crawled, extracted)
    assert [r["requested_url"] for r in manifest.read_manifest(target.store, committed["manifest"])] == [
        "http://news.example/articles/b"
    ]


# -- Parquet parts that read but are not their table's -----------------------------------------


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _manifest_row(cid: str | None = "c1") -> dict[str, Any]:
    return {
        "capture_id": cid,
        "source_id": "src_a",
        "status": "ok",
        "run": "R1",
        "warc_key": "raw/x.warc.gz",
        "warc_offset": 0,
        "warc_length": 10,
        "payload_sha256": "0" * 64,
        "requested_url": f"https://x/{cid}",
    }


DAMAGE: list[tuple[str, tablelog.Table, Any, str]] = [
    (
        "foreign columns",
        manifest.MANIFESTS,
        lambda: _parquet(pa.table({"a": [1, 2], "b": ["x", "y"]})),
        "no capture_id, source_id, status column",
    ),
    (
        "offsets as text",
        manifest.MANIFESTS,
        lambda: _parquet(
            pa.Table.from_pylist([{**_manifest_row(), "warc_offset": "0"}]).cast(
                pa.schema(
                    [
                        manifest.SCHEMA.field(c) if c != "warc_offset" else pa.field(c, pa.string())
                        for c in _manifest_row()
                    ]
                )
            )
        ),
        "column warc_offset is string, not int64",
    ),
    (
        "null capture id",
        manifest.MANIFESTS,
        lambda: manifest.to_parquet([_manifest_row(None)]),
        "1 row(s) with no capture_id",
    ),
    (
        "null event id",
        EVENTS,
        lambda: tablelog.encode(EVENTS, [{"event_id": None, "source_id": "src_a", "kind": "edit", "capture_id": "c"}]),
        "1 row(s) with no event_id",
    ),
    ("links of another schema", LINKS, lambda: _parquet(pa.table({"link": ["x"]})), "no link_id"),
    (
        "signatures as text",
        SIGNATURES,
        lambda: _parquet(
            pa.table({"capture_id": ["c"], "source_id": ["s"], "method": ["m"], "minhash": ["not bytes"]})
        ),
        "column minhash is string, not binary",
    ),
]


@pytest.mark.parametrize(("case", "table", "make", "detail"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_a_part_that_reads_but_is_not_its_table_s_is_corrupt(
    target: Target, case: str, table: tablelog.Table, make: Any, detail: str
) -> None:
    """Named by readers and skipped, a permanent error for a commit on top of it, a finding of
    verify (never a traceback, never rows)."""
    key = layout.part_key(table.name, "src_a", 1)
    target.store.put_bytes(key, make())
    seen: list[tablelog.CorruptPart] = []
    assert tablelog.load(target.store, table, "src_a", on_corrupt=seen.append).num_rows == 0
    assert [s.key for s in seen] == [key] and detail in str(seen[0])
    with pytest.raises(table.error, match=detail.replace("(", r"\(").replace(")", r"\)")):
        tablelog.load(target.store, table, "src_a")
    row = {c: "x" for c in table.columns if table.schema.field(c).type == pa.string()}
    with pytest.raises(PermanentError):
        tablelog.commit(target.store, table, "src_a", [row])
    assert tablelog.part_keys(target.store, table.name, "src_a") == [key]  # nothing went on top of it
    report = verify(target.store, "src_a") if table is manifest.MANIFESTS else verify(target.store)
    assert not report.ok and any(key in p.key and detail in p.detail for p in report.problems), report.problems


def test_search_of_a_source_whose_only_part_is_corrupt_says_so(target: Target, tmp_path: Path) -> None:
    key = layout.part_key("manifests", "src_a", 1)
    target.store.put_bytes(key, _parquet(pa.table({"a": [1]})))
    target.store.put_bytes("raw/placeholder", b"x")  # an archive, with nothing readable of src_a
    env = {**target.env, "NEWSARCHIVE_CACHE": str(tmp_path / "cache")}
    out = runner.invoke(app, ["search", "--source", "src_a", "--archive", target.url], env=env)
    assert out.exit_code == 1
    text = " ".join(out.output.split())
    assert f"source 'src_a' has no readable manifest part: {key} is corrupt" in text and "Traceback" not in text


def test_a_damaged_events_part_of_one_source_does_not_stop_another_s_export(
    target: Target, site: HostileSite, tmp_path: Path
) -> None:
    _archive_one(target, site, tmp_path)
    bad = layout.part_key("events", "other_src", 1)
    target.store.put_bytes(bad, b"PAR1 truncated")
    env = {**target.env, "NEWSARCHIVE_CACHE": str(tmp_path / "cache")}
    for fmt in ("jsonl", "csv", "parquet", "wacz"):
        out = tmp_path / f"x.{fmt}"
        got = runner.invoke(app, ["export", "-o", str(out), "-f", fmt, "--archive", target.url], env=env)
        assert got.exit_code == 0 and out.exists(), got.output
        assert f"warning: event {bad} is corrupt" in " ".join(got.stderr.split())


def test_a_damaged_part_of_the_links_index_does_not_stop_the_links(
    target: Target, site: HostileSite, tmp_path: Path
) -> None:
    """A week's log of the links index holding a damaged part: its articles are not linked
    this run (named in the step's result), every other one is."""
    from pipeline.linking import link_run

    site.publish(["a"])
    done = run_steps(target.store, write_profile(tmp_path), site.replay_map())
    bad = layout.part_key("lsh", "w2024_18", 1)  # the week before the article's: read by its run
    target.store.put_bytes(
        bad, _parquet(pa.table({"capture_id": [None]}, schema=pa.schema([("capture_id", pa.string())])))
    )
    linked = link_run(target.store, done["crawl"], done["commit"])
    assert linked["signed"] == 1 and linked["skipped_parts"] == [bad]


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_no_decoder_holds_more_than_the_cap_and_one_step(encoding: str) -> None:
    """A bomb of 1 GiB of zeros against an 8 MiB cap: refused, and the decoder's output never
    grew past the cap plus one step (brotli: one crafted 64-byte step used to yield ~80 MB)."""
    import tracemalloc

    import brotli

    from storage.warcread import STEP, PayloadTooLarge, decode_body

    zeros = b"\0" * (1 << 30)
    if encoding == "gzip":
        bomb = gzip.compress(zeros, compresslevel=9)
    elif encoding == "deflate":
        bomb = zlib.compress(zeros, 9)
    else:
        bomb = brotli.compress(zeros, quality=11)
    del zeros
    cap = 8 << 20
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge, match="beyond 8 MB"):
            decode_body(bomb, encoding, cap)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= cap + 2 * STEP + len(bomb) + (1 << 20), (peak, len(bomb))  # the input may be copied once


def test_the_reading_room_reads_around_a_foreign_part(target: Target, site: HostileSite, tmp_path: Path) -> None:
    """A source's part replaced by Parquet of other columns: the room's pages still answer
    (the part is named in the server's log and left out), never a 500."""
    from starlette.testclient import TestClient

    from researcher.catalog import Catalog
    from researcher.reader import Archive
    from researcher.web import create_app

    row = _archive_one(target, site, tmp_path)
    target.store.put_bytes(layout.part_key("manifests", "other_src", 1), _parquet(pa.table({"a": [1]})))
    events = layout.part_key("events", "other_src", 1)
    target.store.put_bytes(events, tablelog.encode(EVENTS, [{"event_id": "e", "kind": "edit", "capture_id": "c"}]))
    room = create_app(Archive(target.store, Catalog(tmp_path / "cat.sqlite"), refresh_each_read=False))
    with TestClient(room) as client:
        for path in ("/", f"/capture/{row['capture_id']}", "/coverage", "/export?format=jsonl"):
            assert client.get(path).status_code == 200, path
        unknown = client.get("/", params={"source": "other_src"})
        assert unknown.status_code == 400 and "has no readable manifest part" in unknown.text


def test_a_part_replaced_by_a_directory_is_named_not_dropped(tmp_path: Path) -> None:
    """On a local archive, a directory where a part was: listed, read as a corrupt part (named
    by readers, a verify finding), never a silent absence of its rows."""
    from storage.store import LocalStore

    store = LocalStore(tmp_path / "archive")
    manifest.commit(store, "src_a", [_manifest_row("c1")])
    manifest.commit(store, "src_a", [_manifest_row("c2") | {"requested_url": "https://x/c2"}])
    key = layout.commit_key("src_a", 2)
    (store.root / key).unlink()
    (store.root / key).mkdir()
    seen: list[tablelog.CorruptPart] = []
    rows = manifest.load_manifests(store, "src_a", on_corrupt=seen.append).to_pylist()
    assert [r["capture_id"] for r in rows] == ["c1"] and [s.key for s in seen] == [key]
    assert "is a directory" in str(seen[0])
    with pytest.raises(manifest.CorruptManifest, match="is a directory"):
        manifest.commit(store, "src_a", [_manifest_row("c3")])
    report = verify(store, "src_a")
    assert any(p.kind == "corrupt_manifest" and p.key == key for p in report.problems)
