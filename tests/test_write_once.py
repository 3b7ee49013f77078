"""The write-once archive, tried as a hostile tester would: one test per case of issue 10.

Every case drives real parts (the run steps, Scrapy's download stack, SeaweedFS `weed mini`,
a fault-injecting proxy in front of it, OS processes that race or are killed) and ends by
checking the archive: `verify` clean, each article archived exactly once, and every
committed byte readable and equal to what the server sent. Cases run on a local directory
and on S3 alike where the case is not specific to one.

Cross-references (cases covered elsewhere): the S3 server killed in the middle of a DAG
run, tests/test_dag_e2e.py; redirect loops, 60 MB pages and robots.txt, tests/test_crawl.py;
read-only credentials refused every write, tests/test_access.py; the store contract
(create-only puts, server-side checksums, multipart), tests/test_store_contract.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pytest
from botocore.config import Config
from typer.testing import CliRunner

from researcher.cli import app
from researcher.reader import Archive, Query
from researcher.verify import verify
from storage import layout, manifest
from storage.errors import ObjectExists, PermanentError, StorageRefused, StorageUnavailable
from storage.store import LocalStore, S3Store, Store
from storage.warcread import CorruptWarc, PayloadTooLarge, decode_body, read_capture_records
from tests.conftest import S3_SERVERS, S3Bucket
from tests.faultproxy import FaultProxy, Rule
from tests.hostile import CHALLENGE, DAY, WINDOW, HostileSite, article, gzip_bomb, run_steps, write_profile
from tests.s3server import ACCESS_KEY, SECRET_KEY, WeedS3

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


@dataclass
class Target:
    """An archive the test and its child processes can open: a store, its URL and environment."""

    store: Store
    url: str
    env: dict[str, str]
    admin: Any = None  # an S3 client that can alter objects behind the archive's back


@pytest.fixture
def site() -> Iterator[HostileSite]:
    s = HostileSite()
    yield s
    s.stop()


def _s3_client(endpoint: str, attempts: int = 3) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": attempts, "mode": "standard"}, connect_timeout=2, read_timeout=20),
    )


@pytest.fixture(params=["local", "s3", "moto"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    return make_target(request, tmp_path)


def make_target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """A local directory, a fresh SeaweedFS bucket or a fresh bucket on moto's server (its one
    failed probe, checksums, accepted), as the fixture's param says."""
    if request.param == "local":
        root = tmp_path / "archive"
        return Target(LocalStore(root), root.as_uri(), {})
    if request.param == "moto":
        moto = S3Bucket("moto", request.getfixturevalue("moto"), request.getfixturevalue("moto_bucket"))
        moto.accepted = S3_SERVERS["moto"]
        return Target(moto.store("arc"), f"s3://{moto.bucket}/arc", moto.env(), moto.server.client())
    weed: WeedS3 = request.getfixturevalue("weed")
    bucket: str = request.getfixturevalue("bucket")
    client = weed.client()
    return Target(S3Store(bucket, "arc", client=client), f"s3://{bucket}/arc", weed.env(), client)  # type: ignore[arg-type]


def _env(target: Target) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), **target.env}


def committed_articles(store: Store, source: str = "hostile_news") -> Counter[str]:
    """Article captures per requested URL (blocked captures and revisits are not articles)."""
    rows = manifest.load_manifests(store, source).to_pylist()
    latest = {r["capture_id"]: r for r in rows}
    return Counter(
        r["requested_url"]
        for r in latest.values()
        if r["status"] in manifest.ARTICLE_STATUSES and r["discovery_kind"] != "revisit"
    )


def assert_sound(store: Store, site: HostileSite, slugs: list[str]) -> None:
    """verify clean; each article archived exactly once; every committed payload is what the site sent."""
    report = verify(store)
    assert report.ok, [p.__dict__ for p in report.problems]
    assert committed_articles(store) == Counter({f"http://news.example/articles/{s}": 1 for s in slugs})
    archive = Archive(store)
    for row in manifest.load_manifests(store).to_pylist():
        if row["status"] == "ok":
            slug = row["requested_url"].rsplit("/", 1)[1]
            assert archive.raw(row["capture_id"]) == article(slug)


def _run_children(target: Target, profile: Path, site: HostileSite, windows: list[Any], gap: float = 0.3) -> list[str]:
    """Start one pipeline process per window, `gap` seconds apart; wait for all; their outputs."""
    from tests.hostile import subprocess_cmd

    procs = []
    for window in windows:
        cmd = subprocess_cmd(target.url, profile, site.replay_map(), window)
        procs.append(subprocess.Popen(cmd, env=_env(target), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        time.sleep(gap)
    outs = []
    for p in procs:
        out, errs = p.communicate(timeout=240)
        assert p.returncode == 0, errs.decode()[-2000:]
        outs.append(out.decode())
    return outs


# -- 1. a blocked capture, then the site answers normally -------------------------------------


def test_rerun_after_a_block_adds_the_good_capture_and_keeps_both(
    target: Target, site: HostileSite, tmp_path: Path
) -> None:
    site.publish(["a", "b"])
    site.set("/articles/a", CHALLENGE)
    profile = write_profile(tmp_path)
    first = run_steps(target.store, profile, site.replay_map())
    assert first["commit"]["new_blocked"] == 1 and first["commit"]["new_articles"] == 1
    site.set("/articles/a", article("a"))
    second = run_steps(target.store, profile, site.replay_map())
    assert second["commit"]["new_articles"] == 1, second["commit"]
    assert first["crawl"]["parts"] != second["crawl"]["parts"], "an attempt must never reuse another's WARC key"

    rows = manifest.load_manifests(target.store, "hostile_news").to_pylist()
    by_url: dict[str, list[str]] = {}
    for r in rows:
        by_url.setdefault(r["requested_url"].rsplit("/", 1)[1], []).append(r["status"])
    assert sorted(by_url["a"]) == ["blocked", "ok"] and by_url["b"] == ["ok"]
    assert_sound(target.store, site, ["a", "b"])
    archive = Archive(target.store)
    blocked = next(r for r in rows if r["status"] == "blocked")
    assert archive.raw(blocked["capture_id"]) == CHALLENGE  # the block page stays as served
    # readers see the good capture by default; the blocked one stays listed under its URL
    shown = archive.search(Query(url_prefix="http://news.example/articles/a"))
    assert [r["status"] for r in shown] == ["ok"]
    assert sorted(r["status"] for r in archive.versions("http://news.example/articles/a")) == ["blocked", "ok"]


# -- 2 and 4. two runs of one interval at once; a backfill over a scheduled window at once -----


@pytest.mark.parametrize("overlap", [False, True], ids=["same-interval", "overlapping-window"])
def test_concurrent_runs_archive_each_article_once(
    target: Target, site: HostileSite, tmp_path: Path, overlap: bool
) -> None:
    slugs = ["a", "b", "c"]
    site.publish(slugs)
    for s in slugs:
        site.set(f"/articles/{s}", article(s), delay=0.3)  # both runs are fetching at the same time
    profile = write_profile(tmp_path)
    wide = (WINDOW[0] - timedelta(days=1), WINDOW[1] + timedelta(days=1))
    outs = _run_children(target, profile, site, [WINDOW, wide if overlap else WINDOW])
    commits = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    assert sum(c["new_articles"] for c in commits) == 3, commits
    assert_sound(target.store, site, slugs)
    # both raw copies stay: the losing run's WARC is kept as uncommitted raw data, not written over
    assert len(verify(target.store).uncommitted) >= 1


# -- 3. commits: conditional, linearizable, never an error read as "empty" --------------------


_COMMIT_RACER = """
import json, sys, time
from storage import manifest
from storage.store import open_store
store = open_store(sys.argv[1]); who = sys.argv[2]; t0 = float(sys.argv[3]); n = int(sys.argv[4])
out = []
for i in range(n):
    source = f"race_{i}"
    time.sleep(max(0.0, t0 + i * 0.25 - time.time()))  # both processes start each race together
    rows = []
    for j in range(3):
        url = f"https://x/{i}/{who}-{j}"
        rows.append({c: None for c in manifest.COLUMNS} | {
            "capture_id": f"{who}{i}-{j}", "source_id": source, "status": "ok", "requested_url": url,
            "run": "R", "authors": [], "tags": [], "flags": []})
    shared = {c: None for c in manifest.COLUMNS} | {
        "capture_id": f"{who}{i}-shared", "source_id": source, "status": "ok",
        "requested_url": f"https://x/{i}/shared", "run": "R", "authors": [], "tags": [], "flags": []}
    r = manifest.commit(store, source, rows + [shared], {"who": who})
    out.append({"key": r.key, "new": r.new_rows, "conflicts": r.conflicts})
print(json.dumps(out))
"""


def race_two_processes(target: Target, script: str, n: int) -> list[Any]:
    """Run `script` (argv: archive URL, who, start time, n) in two OS processes, "p" and "q",
    which start each of their n commits at the same instants; their JSON outputs."""
    t0 = time.time() + 3
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, target.url, who, str(t0), str(n)],
            env=_env(target),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for who in ("p", "q")
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()[-2000:]
        results.append(json.loads(out))
    return results


def test_commit_race_between_two_processes(target: Target) -> None:
    """Two OS processes commit to one source at the same instant, 20 times: no row is lost, the
    article both carry is committed once, and the log's parts are numbered without a gap."""
    n = 20
    results = race_two_processes(target, _COMMIT_RACER, n)
    conflicts = sum(r["conflicts"] for res in results for r in res)
    for i in range(n):
        rows = manifest.load_manifests(target.store, f"race_{i}").to_pylist()
        urls = Counter(r["requested_url"] for r in rows)
        assert set(urls.values()) == {1}, urls
        assert len(urls) == 7  # 3 + 3 own rows and the shared article once
        keys = manifest.manifest_keys(target.store, f"race_{i}")
        assert manifest.check_contiguous(keys) == [] and len(keys) == 2
    # the races were real: in some rounds one process lost part 1 to the other and retried
    assert conflicts > 0, f"{n} rounds and not one conflict: the processes never raced"
    print(f"commit races: {n}, conflicts resolved by retry: {conflicts}")


def test_a_persistently_stale_listing_is_read_around_not_raced_against(proxied: tuple[FaultProxy, Target]) -> None:
    """The store refuses to create part 1 (it exists) while every listing leaves it out: the
    committer reads part 1 by its key, de-duplicates against it and commits part 2 at once,
    instead of losing 200 "races" over ~110 s."""
    proxy, t = proxied
    manifest.commit(t.store, "src_a", [_row("c1", "https://x/1")])
    proxy.add(Rule("stale", methods=("GET",), match="list-type", times=None, hide="0000000001.parquet"))
    assert manifest.manifest_keys(t.store, "src_a") == []  # the listing is behind
    t0 = time.monotonic()
    done = manifest.commit(t.store, "src_a", [_row("c1", "https://x/1"), _row("c2", "https://x/2")])
    assert done.key == layout.commit_key("src_a", 2) and done.committed == ["c2"] and done.conflicts == 1
    assert time.monotonic() - t0 < 10
    proxy.clear()
    rows = manifest.load_manifests(t.store, "src_a").to_pylist()
    assert sorted(r["capture_id"] for r in rows) == ["c1", "c2"]


def test_a_committer_that_loses_every_race_gives_up_as_transient(target: Target) -> None:
    """MAX_CONFLICTS exhausted: a StorageUnavailable (retried later) naming the source and log,
    nothing written by the loser, the winner's parts untouched."""
    manifest.commit(target.store, "src_a", [_row("c1", "https://x/1")])
    real_put = target.store.put_bytes
    taken: list[str] = []

    def always_taken(key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        # another committer takes every number first: its part appears, ours is refused
        real_put(key, manifest.to_parquet([_row(f"other{len(taken)}", f"https://x/o{len(taken)}")]), content_type)
        taken.append(key)
        raise ObjectExists(f"{key} exists")

    target.store.put_bytes = always_taken  # type: ignore[method-assign]
    try:
        with pytest.raises(StorageUnavailable, match="src_a's manifests log lost 5 races in a row"):
            manifest.commit(target.store, "src_a", [_row("c2", "https://x/2")], max_conflicts=5)
    finally:
        target.store.put_bytes = real_put  # type: ignore[method-assign]
    assert len(taken) == 6  # the first try and five retries
    rows = manifest.load_manifests(target.store, "src_a").to_pylist()
    assert [r["capture_id"] for r in rows] == ["c1", *(f"other{i}" for i in range(6))]  # c2 not written
    assert manifest.check_contiguous(manifest.manifest_keys(target.store, "src_a")) == []


@pytest.fixture
def proxied(weed: WeedS3, bucket: str) -> Iterator[tuple[FaultProxy, Target]]:
    proxy = FaultProxy(weed.endpoint).start()
    env = {**weed.env(), "AWS_ENDPOINT_URL": proxy.endpoint}
    store = S3Store(bucket, "arc", client=_s3_client(proxy.endpoint))  # type: ignore[arg-type]
    yield proxy, Target(store, f"s3://{bucket}/arc", env, weed.client())
    proxy.stop()


def _row(cid: str, url: str) -> dict[str, Any]:
    return {c: None for c in manifest.COLUMNS} | {
        "capture_id": cid,
        "source_id": "src_a",
        "status": "ok",
        "requested_url": url,
        "run": "R",
        "authors": [],
        "tags": [],
        "flags": [],
    }


@pytest.mark.parametrize(
    "fault",
    [
        Rule("404", methods=("GET",), match="/manifests/", times=1, when=lambda m, p: "list-type" not in p),
        Rule("404", methods=("GET",), match="/manifests/", times=1, when=lambda m, p: "list-type" in p),
        Rule("truncate", methods=("GET",), match="/manifests/", times=5),
        Rule("500", methods=("GET",), match="/manifests/", times=5),
        Rule("slowdown", methods=("GET", "PUT"), match="/manifests/", times=5),
        Rule("503", methods=("GET",), match="list-type=2", times=5, when=lambda m, p: "list-type" in p),
    ],
    ids=["404-on-get", "404-on-list", "truncated-body", "500", "slowdown", "503-on-list"],
)
def test_a_read_fault_during_commit_aborts_it_and_loses_nothing(
    proxied: tuple[FaultProxy, Target], fault: Rule
) -> None:
    proxy, t = proxied
    assert manifest.commit(t.store, "src_a", [_row("c1", "https://x/1"), _row("c2", "https://x/2")]).new_rows == 2
    proxy.add(fault)
    # the committed rows are offered again with the new one: a committer that took a faulted
    # read for "nothing there" would add c1 and c2 a second time
    offered = [_row("c1", "https://x/1"), _row("c2", "https://x/2"), _row("c3", "https://x/3")]
    try:
        result = manifest.commit(t.store, "src_a", offered)
        assert result.new_rows == 1  # the client's own retries got through: fine, if nothing was lost
    except StorageUnavailable as exc:
        assert "src_a" in str(exc) or "manifests" in str(exc)
    assert proxy.injected, "the fault was never served"
    proxy.clear()
    manifest.commit(t.store, "src_a", offered)
    rows = manifest.load_manifests(t.store, "src_a").to_pylist()
    assert sorted(r["capture_id"] for r in rows) == ["c1", "c2", "c3"]  # each once
    assert manifest.check_contiguous(manifest.manifest_keys(t.store, "src_a")) == []


def test_select_new_table() -> None:
    """De-duplication, the pure heart of the commit: (committed, candidate) -> kept or why not."""
    ok = {"status": "ok", "run": "R1", "discovery_kind": "feed"}
    cases: list[tuple[list[dict[str, Any]], dict[str, Any], str | None]] = [
        ([], {"capture_id": "a", "requested_url": "u", **ok}, None),
        (
            [{"capture_id": "a", "requested_url": "u", **ok}],
            {"capture_id": "a", "requested_url": "u", **ok},
            "already committed",
        ),
        # the same article captured by another attempt of the same run (a concurrent duplicate)
        (
            [{"capture_id": "a", "requested_url": "u", **ok}],
            {"capture_id": "b", "requested_url": "u", **ok},
            "captured by another attempt of the same run",
        ),
        # ... or by an overlapping run (its canonical URL names the address the other fetched)
        (
            [{"capture_id": "a", "requested_url": "u", "canonical_url": "u", **ok}],
            {"capture_id": "b", "requested_url": "u2", "canonical_url": "u", **ok, "run": "R2"},
            "article already archived by another run",
        ),
        # a canonical trusted only when it names a page fetched as an article: two addresses
        # naming a page nobody fetched (the home page) are two articles ...
        (
            [{"capture_id": "a", "requested_url": "u", "canonical_url": "c", **ok}],
            {"capture_id": "b", "requested_url": "u2", "canonical_url": "c", **ok, "run": "R2"},
            None,
        ),
        # ... and the page a committed article named as canonical is not archived until fetched
        (
            [{"capture_id": "a", "requested_url": "u", "canonical_url": "c", **ok}],
            {"capture_id": "b", "requested_url": "c", **ok, "run": "R2"},
            None,
        ),
        # a blocked capture does not archive the article: the good capture goes in beside it
        (
            [{"capture_id": "a", "requested_url": "u", **ok, "status": "blocked"}],
            {"capture_id": "b", "requested_url": "u", **ok},
            None,
        ),
        # but a second blocked capture of the URL by the same run does not
        (
            [{"capture_id": "a", "requested_url": "u", **ok, "status": "blocked"}],
            {"capture_id": "b", "requested_url": "u", **ok, "status": "blocked"},
            "captured by another attempt of the same run",
        ),
        # a revisit is a new capture of an archived URL, once per run
        (
            [{"capture_id": "a", "requested_url": "u", **ok}],
            {"capture_id": "b", "requested_url": "u", **ok, "run": "R2", "discovery_kind": "revisit"},
            None,
        ),
        (
            [{"capture_id": "b", "requested_url": "u", **ok, "run": "R2", "discovery_kind": "revisit"}],
            {"capture_id": "c", "requested_url": "u", **ok, "run": "R2", "discovery_kind": "revisit"},
            "captured by another attempt of the same run",
        ),
        # a new extraction of a committed capture is a new row
        (
            [{"capture_id": "a", "requested_url": "u", **ok, "extraction_id": "x1"}],
            {"capture_id": "a", "requested_url": "u", **ok, "extraction_id": "x2"},
            None,
        ),
    ]
    dedup = manifest.MANIFESTS.state_columns
    for committed, candidate, why in cases:
        new, dropped = manifest.select_new(committed, [candidate])
        assert (new == [candidate], dropped) == (why is None, {why: 1} if why else {}), (committed, candidate)
        # the same, from the columnar log a commit hands it (a checkpoint and the parts after it)
        columnar = pa.Table.from_pylist(
            [{c: r.get(c) for c in dedup} for r in committed],
            schema=pa.schema([manifest.SCHEMA.field(c) for c in dedup]),
        )
        assert manifest.select_new(columnar, [candidate]) == (new, dropped), (committed, candidate)


# -- 5. a corrupt manifest: named, skipped by readers, reported by verify, fatal to the crawl --


def _corrupt(target: Target, key: str) -> None:
    """Truncate a committed part behind the archive's back (bit rot, a broken copy)."""
    if isinstance(target.store, LocalStore):
        path = target.store.root / key
        path.write_bytes(path.read_bytes()[:100])
    else:
        assert isinstance(target.store, S3Store)
        full = f"{target.store.prefix}/{key}"
        data = target.admin.get_object(Bucket=target.store.bucket, Key=full)["Body"].read()
        target.admin.put_object(Bucket=target.store.bucket, Key=full, Body=data[:100])


def test_a_corrupt_manifest_is_named_skipped_and_stops_the_source(
    target: Target, site: HostileSite, tmp_path: Path
) -> None:
    from spiders.crawl import RunContext, run_crawl

    site.publish(["a"])
    profile = write_profile(tmp_path)
    run_steps(target.store, profile, site.replay_map())
    site.publish(["a", "b"])
    run_steps(target.store, profile, site.replay_map())
    bad = layout.commit_key("hostile_news", 1)
    _corrupt(target, bad)
    env = {**target.env, "NEWSARCHIVE_CACHE": str(tmp_path / "cache")}

    found = runner.invoke(app, ["search", "--archive", target.url, "-f", "jsonl"], env=env)
    assert found.exit_code == 0, found.output
    assert f"warning: manifest {bad} is corrupt" in found.stderr
    assert [json.loads(line)["requested_url"] for line in found.stdout.splitlines()] == [
        "http://news.example/articles/b"
    ]
    checked = runner.invoke(app, ["verify", "--archive", target.url], env=env)
    assert checked.exit_code == 1 and "corrupt_manifest" in checked.stdout and bad in checked.stdout
    assert "Traceback" not in checked.output

    ctx = RunContext("hostile_news", WINDOW[0], WINDOW[1], DAY.date())
    with pytest.raises(PermanentError, match=bad):
        run_crawl(target.store, ctx, profile_path=profile, replay=site.replay_map())
    with pytest.raises(PermanentError, match=bad):
        manifest.commit(target.store, "hostile_news", [_row("c9", "https://x/9")])


# -- 6. readers never return unverified bytes ------------------------------------------------


def _rewrite(target: Target, key: str, data: bytes) -> None:
    if isinstance(target.store, LocalStore):
        (target.store.root / key).write_bytes(data)
    else:
        assert isinstance(target.store, S3Store)
        target.admin.put_object(Bucket=target.store.bucket, Key=f"{target.store.prefix}/{key}", Body=data)


@pytest.mark.parametrize("damage", ["flipped-byte", "regzipped-tampered"])
def test_get_raw_refuses_bytes_that_do_not_match_the_digest(
    target: Target, site: HostileSite, tmp_path: Path, damage: str
) -> None:
    import gzip

    site.publish(["a"])
    result = run_steps(target.store, write_profile(tmp_path), site.replay_map())
    row = manifest.load_manifests(target.store).to_pylist()[0]
    key, off, length = row["warc_key"], row["warc_offset"], row["warc_length"]
    warc = target.store.get_bytes(key)
    record = warc[off : off + length]
    if damage == "flipped-byte":
        i = length // 2
        record = record[:i] + bytes([record[i] ^ 0x01]) + record[i + 1 :]
    else:  # a valid gzip member whose payload says something else, same length or not
        plain = gzip.decompress(record).replace(b"version 1", b"version 9")
        record = gzip.compress(plain)
    _rewrite(target, key, warc[:off] + record + warc[off + length :])
    env = {**target.env, "NEWSARCHIVE_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "page.bin"
    for args in (["--raw", "-o", str(out)], ["--raw"], ["--warc", "-o", str(out)]):
        got = runner.invoke(app, ["get", row["capture_id"], *args, "--archive", target.url], env=env)
        assert got.exit_code == 1, (args, got.output)
        assert "Traceback" not in got.output and got.stdout == ""
        assert not out.exists()
        message = got.stderr.strip()
        assert (message.count("\n") == 0 and message.isascii()) or "…" in message, message
    assert result["commit"]["new_articles"] == 1
    assert not verify(target.store).ok


# -- 7. --archive must point at an archive ---------------------------------------------------


def test_archive_option_must_name_an_archive(tmp_path: Path) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("hello")
    empty = tmp_path / "empty"
    empty.mkdir()
    for where, why in (
        (tmp_path / "nonexistent", "no such directory"),
        (afile, "not a directory"),
        (empty, "nothing under manifests/ or raw/"),
    ):
        for cmd in (["verify"], ["search"], ["get", "0123"], ["export", "-o", str(tmp_path / "x.jsonl")]):
            result = runner.invoke(app, [*cmd, "--archive", str(where)])
            assert result.exit_code == 1, (cmd, where, result.output)
            assert f"no archive at {where}" in result.stderr and why in result.stderr
            assert "Traceback" not in result.output


# -- 8. decompression is capped in extract as in the crawl ------------------------------------


def test_a_gzip_bomb_is_skipped_and_never_decompressed(target: Target, site: HostileSite, tmp_path: Path) -> None:
    site.publish(["a", "bomb"])
    site.set("/articles/bomb", gzip_bomb(64 * 2**20), headers={"Content-Encoding": "gzip"})
    result = run_steps(target.store, write_profile(tmp_path, max_page_mb=1), site.replay_map())
    log = [json.loads(line) for line in target.store.get_bytes(result["crawl"]["crawl_log"]).splitlines()]
    bomb = next(r for r in log if r["url"].endswith("/bomb"))
    assert bomb["outcome"] == "skipped"
    statuses = {
        r["requested_url"].rsplit("/", 1)[1]: r["status"] for r in manifest.load_manifests(target.store).to_pylist()
    }
    assert statuses == {"a": "ok"}, "a capture the crawl skipped is not listed as extracted"
    assert_sound(target.store, site, ["a"])


def test_a_gzipped_sitemap_bomb_is_a_recorded_discovery_failure(
    target: Target, site: HostileSite, tmp_path: Path
) -> None:
    """A .xml.gz sitemap (gzip as a file, not a Content-Encoding) is inflated within the download cap."""
    site.publish(["a"])
    site.set("/sitemap.xml.gz", gzip_bomb(64 * 2**20), headers={"Content-Type": "application/x-gzip"})
    result = run_steps(
        target.store, write_profile(tmp_path, max_page_mb=1, sitemaps=("/sitemap.xml.gz",)), site.replay_map()
    )
    failures = result["crawl"]["summary"]["discovery_failures"]
    assert [f["url"] for f in failures] == ["http://news.example/sitemap.xml.gz"]
    assert "decompresses beyond 1 MB" in failures[0]["reason"]
    assert_sound(target.store, site, ["a"])


def test_extract_caps_decompression_with_a_recorded_reason(target: Target, site: HostileSite, tmp_path: Path) -> None:
    """A crawl with a generous cap stores the bomb; extract with the profile's cap records why
    it did not decode it, and the run's other articles commit."""
    from extract import Extractor, classify_capture
    from pipeline import runs
    from spiders.crawl import RunContext, run_crawl

    site.publish(["a", "bomb"])
    site.set("/articles/bomb", gzip_bomb(8 * 2**20), headers={"Content-Encoding": "gzip"})
    profile = write_profile(tmp_path, max_page_mb=50)
    crawled = run_crawl(
        target.store, RunContext("hostile_news", *WINDOW, DAY.date()), profile_path=profile, replay=site.replay_map()
    ).as_dict()
    ex = Extractor.from_rules([], [], "en", 1)
    extracted = runs.extract_run(target.store, crawled, ex, ex.info, classify_capture, max_body=2**20)
    runs.commit_run(target.store, crawled, extracted)
    rows = {r["requested_url"].rsplit("/", 1)[1]: r for r in manifest.load_manifests(target.store).to_pylist()}
    assert rows["a"]["status"] == "ok"
    assert rows["bomb"]["status"] == "extraction_failed"
    assert "decompresses beyond 1 MB" in rows["bomb"]["error"]
    assert verify(target.store).ok


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_decode_body_stops_at_the_cap(encoding: str) -> None:
    import zlib

    import brotli

    plain = b"\0" * (256 * 2**20)
    packed = {
        "gzip": lambda: gzip_bomb(len(plain)),
        "deflate": lambda: zlib.compress(plain, 9),
        "br": lambda: brotli.compress(plain, quality=5),  # type: ignore[no-untyped-call]
    }[encoding]()
    assert len(packed) < 2**20
    with pytest.raises(PayloadTooLarge, match="beyond 1 MB"):
        decode_body(packed, encoding, 2**20)
    small: dict[str, Callable[[int], bytes]] = {
        "gzip": gzip_bomb,
        "deflate": lambda n: zlib.compress(b"\0" * n),
        "br": lambda n: brotli.compress(b"\0" * n),  # type: ignore[no-untyped-call]
    }
    assert decode_body(small[encoding](1000), encoding, 2**20) == b"\0" * 1000
    with pytest.raises(CorruptWarc, match="does not decode"):
        decode_body(b"definitely not a compressed stream, whatever the header says", encoding, 2**20)


# -- 9. redirects pass the same guard as discovered URLs ------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/admin",
        "http://localhost:{port}/admin",
        "http://evil.example/admin",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_off_the_source_is_refused(target: Target, site: HostileSite, tmp_path: Path, location: str) -> None:
    site.publish(["a", "r"])
    site.set("/admin", b"<html><body><p>internal admin page</p></body></html>")
    port = site.address.rsplit(":", 1)[1]
    site.set("/articles/r", b"", status=302, headers={"Location": location.format(port=port)})
    result = run_steps(target.store, write_profile(tmp_path), site.replay_map())
    assert site.hits["/admin"] == 0, "the crawler contacted an address the source may not"
    log = [json.loads(line) for line in target.store.get_bytes(result["crawl"]["crawl_log"]).splitlines()]
    r = next(row for row in log if row["url"].endswith("/articles/r"))
    # Scrapy itself never follows a redirect to a scheme it cannot fetch: the 302 stands as the answer
    expected = "HTTP 302" if location.startswith("file:") else "refused: "
    assert r["outcome"] == "failed" and expected in r["reason"], r
    assert_sound(target.store, site, ["a"])
    rows = manifest.load_manifests(target.store).to_pylist()
    assert all(row["replayed_to"] == site.address for row in rows)


def test_a_redirect_within_the_source_is_followed(target: Target, site: HostileSite, tmp_path: Path) -> None:
    site.publish(["a"])
    site.set("/feed.xml", site.routes["/feed.xml"][2].replace(b"/articles/a", b"/articles/old-a"))
    site.set("/articles/old-a", b"", status=301, headers={"Location": "http://news.example/articles/a"})
    run_steps(target.store, write_profile(tmp_path), site.replay_map())
    (row,) = manifest.load_manifests(target.store).to_pylist()
    assert row["final_url"] == "http://news.example/articles/a" and row["replayed_to"] == site.address
    assert Archive(target.store).raw(row["capture_id"]) == article("a")


# -- 10. smaller: get -o, killed tasks, disk full, messages --------------------------------


def test_get_output_file_is_never_silently_replaced(target: Target, site: HostileSite, tmp_path: Path) -> None:
    site.publish(["a"])
    run_steps(target.store, write_profile(tmp_path), site.replay_map())
    cid = manifest.load_manifests(target.store).to_pylist()[0]["capture_id"]
    env = {**target.env, "NEWSARCHIVE_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "page.html"
    out.write_bytes(b"precious")
    base = ["get", cid, "--raw", "--archive", target.url]
    refused = runner.invoke(app, [*base, "-o", str(out)], env=env)
    assert refused.exit_code == 1 and "already exists" in refused.stderr and out.read_bytes() == b"precious"
    old = os.umask(0o022)
    try:
        forced = runner.invoke(app, [*base, "-o", str(out), "--force"], env=env)
        fresh = runner.invoke(app, [*base, "-o", str(tmp_path / "new.html")], env=env)
    finally:
        os.umask(old)
    assert forced.exit_code == 0 and out.read_bytes() == article("a")
    assert fresh.exit_code == 0 and (tmp_path / "new.html").stat().st_mode & 0o777 == 0o644
    missing = runner.invoke(app, [*base, "-o", str(tmp_path / "no" / "such" / "dir.html")], env=env)
    assert missing.exit_code == 1 and "is not a directory" in missing.stderr and "Traceback" not in missing.output


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_killed_task_takes_its_crawl_with_it_and_leaves_no_temporary_files(site: HostileSite, tmp_path: Path) -> None:
    from tests.hostile import subprocess_cmd

    site.publish(["a", "b"])
    for s in ("a", "b"):
        site.set(f"/articles/{s}", article(s), delay=30)  # the crawl is mid-fetch when its task dies
    work = tmp_path / "tmp"
    work.mkdir()
    archive = tmp_path / "archive"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(work)}
    cmd = subprocess_cmd(archive.as_uri(), write_profile(tmp_path), site.replay_map())
    task = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (crawlers := _children(task.pid)) or site.hits["/articles/a"] == 0:
        assert time.monotonic() < deadline, "the crawl never started"
        time.sleep(0.2)
    assert list(work.glob("newsarchive-crawl-*")), "the crawl's work directory is where we look"
    task.send_signal(signal.SIGKILL)
    task.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in crawlers):
        assert time.monotonic() < deadline, f"crawler {crawlers} outlived its task"
        time.sleep(0.1)
    # the next crawl removes what the killed one left, and nothing was committed meanwhile
    from spiders.crawl import sweep_stale_workdirs

    assert sweep_stale_workdirs(work) and not list(work.glob("newsarchive-crawl-*"))
    assert not archive.exists() or manifest.manifest_keys(LocalStore(archive)) == []


@pytest.mark.parametrize("step", ["crawl", "extract", "commit"])
def test_kill_at_every_step_boundary_then_rerun(target: Target, site: HostileSite, tmp_path: Path, step: str) -> None:
    from tests.hostile import subprocess_cmd

    slugs = ["a", "b", "c"]
    site.publish(slugs)
    profile = write_profile(tmp_path)
    cmd = [*subprocess_cmd(target.url, profile, site.replay_map()), "--kill-after", step]
    killed = subprocess.run(cmd, env=_env(target), cwd=REPO, capture_output=True, timeout=240, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    assert verify(target.store).ok
    rerun = run_steps(target.store, profile, site.replay_map())
    assert rerun["commit"]["new_articles"] == (3 if step != "commit" else 0)
    assert_sound(target.store, site, slugs)


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, check=False
    )
    return done.returncode == 0


def test_disk_full_and_read_only_are_refused_with_the_path(tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    if not _mount_tmpfs(mnt, "256k"):
        pytest.skip("cannot mount a small tmpfs here (needs root and CAP_SYS_ADMIN); ENOSPC not exercised")
    try:
        store = LocalStore(mnt / "archive")
        store.put_bytes("raw/small.bin", b"x" * 1000)
        with pytest.raises(StorageRefused, match=r"cannot write .*raw/big\.bin: no space left on device"):
            store.put_bytes("raw/big.bin", b"x" * (1 << 20))
        assert list(store.list("raw/")) == ["raw/small.bin"]
        assert not [p for p in (mnt / "archive" / "raw").iterdir() if p.name.startswith(".tmp-")]
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        with pytest.raises(StorageRefused, match=r"raw/other\.bin: read-only file system"):
            store.put_bytes("raw/other.bin", b"y")
        assert store.get_bytes("raw/small.bin") == b"x" * 1000
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_errors_name_the_key_and_never_print_payload_bytes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "archive")
    store.put_bytes("raw/x.warc.gz", b"\x1f\x8b\x08\x00\xff\xfe binary \x00\x01 garbage" * 50)
    with pytest.raises(CorruptWarc) as caught:
        read_capture_records(store, "raw/x.warc.gz", 0, 200)
    message = str(caught.value)
    assert "raw/x.warc.gz" in message and message.isascii() and "\x00" not in message and len(message) < 400
    with pytest.raises(ObjectExists, match=r"raw/x\.warc\.gz already holds other bytes"):
        store.put_bytes("raw/x.warc.gz", b"other")


def test_s3_retries_exhausted_name_the_key(proxied: tuple[FaultProxy, Target], tmp_path: Path) -> None:
    proxy, t = proxied
    t.store.put_bytes("raw/x.bin", b"payload" * 100)
    proxy.add(Rule("500", methods=("GET",), match="raw/x.bin", times=None))
    with pytest.raises(StorageUnavailable, match=r"raw/x\.bin: InternalError \(HTTP 500\)"):
        t.store.get_bytes("raw/x.bin")
    with pytest.raises(StorageUnavailable, match=r"raw/x\.bin"):
        t.store.download("raw/x.bin", tmp_path / "x.bin")
    assert not (tmp_path / "x.bin").exists()
