"""One contract, three stores: a local directory and two real S3 servers (SeaweedFS, and
moto's standalone server with its one failed probe, checksums, accepted)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from storage import manifest, probe
from storage.errors import ObjectExists, ObjectNotFound, PermanentError, StorageUnavailable
from storage.store import LocalStore, S3Store, Store, open_store
from tests.conftest import S3_SERVERS, S3Bucket
from tests.s3server import ACCESS_KEY, SECRET_KEY


@pytest.fixture(params=["local", "seaweedfs", "moto"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "local":
        yield LocalStore(tmp_path / "archive")
    else:
        server = request.getfixturevalue("moto" if request.param == "moto" else "weed")
        bucket = request.getfixturevalue("moto_bucket" if request.param == "moto" else "bucket")
        yield S3Bucket(request.param, server, bucket, S3_SERVERS[request.param]).store("prefix/archive")


def test_put_get_roundtrip(store: Store) -> None:
    store.put_bytes("a/b/c.json", b'{"x": 1}', "application/json")
    assert store.get_bytes("a/b/c.json") == b'{"x": 1}'
    assert store.exists("a/b/c.json")
    assert not store.exists("a/b/missing.json")


def test_keys_are_written_once(store: Store) -> None:
    """A taken key keeps its bytes: other bytes are refused, the same bytes again are a no-op
    (a retried upload whose first try landed)."""
    store.put_bytes("k/v", b"first version, longer")
    store.put_bytes("k/v", b"first version, longer")
    with pytest.raises(ObjectExists, match="k/v already holds other bytes"):
        store.put_bytes("k/v", b"second")
    assert store.get_bytes("k/v") == b"first version, longer"
    assert list(store.list("k/")) == ["k/v"]


def test_put_file_is_written_once(store: Store, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"A" * 1000)
    b.write_bytes(b"B" * 1000)
    store.put_file("raw/p.warc.gz", a)
    store.put_file("raw/p.warc.gz", a)
    with pytest.raises(ObjectExists):
        store.put_file("raw/p.warc.gz", b)
    assert store.get_bytes("raw/p.warc.gz") == b"A" * 1000


def test_racing_writers_one_winner(store: Store) -> None:
    """Eight writers put different bytes under one key at the same instant, 40 times: exactly
    one succeeds, the others get ObjectExists, and the key holds the winner's bytes."""
    if isinstance(store, S3Store):  # one client per writer, as separate processes would have
        clients = [boto3_client_like(store) for _ in range(8)]
        stores: list[Store] = [S3Store(store.bucket, store.prefix, client=c, unsafe=store.unsafe) for c in clients]
    else:
        stores = [store] * 8
    for it in range(40):
        won, refused = _race(stores, f"race/{it}")
        assert len(won) == 1 and len(refused) == 7, (it, won, refused)
        assert store.get_bytes(f"race/{it}") == f"writer {won[0]} ".encode() * 500


def _race(stores: list[Store], key: str) -> tuple[list[int], list[int]]:
    """Each store puts its own bytes under key, all released at once; who won, who was refused."""
    import threading

    won: list[int] = []
    refused: list[int] = []
    barrier = threading.Barrier(len(stores))

    def put(i: int) -> None:
        barrier.wait()
        try:
            stores[i].put_bytes(key, f"writer {i} ".encode() * 500)
            won.append(i)
        except ObjectExists:
            refused.append(i)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won, refused


def boto3_client_like(store: S3Store) -> Any:
    meta = store.client.meta
    return boto3.session.Session().client(
        "s3",
        endpoint_url=meta.endpoint_url,
        region_name=meta.region_name,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )


def test_the_store_has_no_way_to_replace_or_delete() -> None:
    """Write-once by construction: the protocol offers create-only puts and reads, nothing else."""
    writers = {name for name in dir(Store) if not name.startswith("_")} - {"url"}
    assert writers == {
        "put_bytes",
        "put_file",
        "get_bytes",
        "get_range",
        "download",
        "exists",
        "list",
        "list_info",
        "children",
    }


def test_ranged_read(store: Store) -> None:
    data = bytes(range(256)) * 40
    store.put_bytes("raw/x.bin", data)
    assert store.get_range("raw/x.bin", 1000, 300) == data[1000:1300]


def test_list_by_prefix_is_sorted_and_scoped(store: Store) -> None:
    for key in ["m/s=a/2.p", "m/s=a/1.p", "m/s=b/1.p", "other/1.p"]:
        store.put_bytes(key, b"x")
    assert sorted(store.list("m/s=a/")) == ["m/s=a/1.p", "m/s=a/2.p"]
    assert sorted(store.list("m/")) == ["m/s=a/1.p", "m/s=a/2.p", "m/s=b/1.p"]
    assert list(store.list("nothing/")) == []


def test_children_are_the_folders_directly_under_a_prefix(store: Store) -> None:
    """A log's sources without listing its parts: folders only, one level, in key order."""
    for k in ["t/source=b/0000000001.parquet", "t/source=a/0000000001.parquet", "t/source=a/0000000002.parquet"]:
        store.put_bytes(k, b"x")
    store.put_bytes("t/loose.json", b"{}")
    store.put_bytes("tt/source=c/0000000001.parquet", b"x")
    assert list(store.children("t/")) == ["t/source=a/", "t/source=b/"]
    assert list(store.children("t/source=a/")) == []
    assert list(store.children("nothing/")) == []


def test_missing_object(store: Store) -> None:
    with pytest.raises(ObjectNotFound, match="missing"):
        store.get_bytes("missing/key")
    with pytest.raises(ObjectNotFound):
        store.get_range("missing/key", 0, 10)


@pytest.mark.parametrize("bad", ["", "/abs", "a//b", "a/../b", "./a"])
def test_bad_keys_are_refused(store: Store, bad: str) -> None:
    with pytest.raises(PermanentError, match="invalid archive key"):
        store.put_bytes(bad, b"x")


def test_put_file_and_download(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "part.warc.gz"
    src.write_bytes(b"W" * 100_000)
    store.put_file("raw/part.warc.gz", src, "application/warc")
    dst = tmp_path / "back"
    store.download("raw/part.warc.gz", dst)
    assert dst.read_bytes() == src.read_bytes()


def test_manifest_commit_is_idempotent(store: Store) -> None:
    row = {c: None for c in manifest.COLUMNS} | {
        "capture_id": "c1",
        "source_id": "s1",
        "status": "ok",
        "requested_url": "https://x/1",
        "authors": [],
        "tags": [],
        "flags": [],
    }
    first = manifest.commit(store, "s1", [row])
    assert (first.key, first.new_rows) == ("manifests/source=s1/0000000001.parquet", 1)
    before = store.get_bytes("manifests/source=s1/0000000001.parquet")
    again = manifest.commit(store, "s1", [row])
    assert (again.key, again.new_rows, again.dropped) == (None, 0, {"already committed": 1})
    assert store.get_bytes("manifests/source=s1/0000000001.parquet") == before
    row2 = row | {"capture_id": "c2", "requested_url": "https://x/2"}
    second = manifest.commit(store, "s1", [row, row2], {"kind": "crawl", "run": "R"})
    assert (second.key, second.committed) == ("manifests/source=s1/0000000002.parquet", ["c2"])
    assert second.key is not None
    assert [r["capture_id"] for r in manifest.read_manifest(store, second.key)] == ["c2"]
    info = manifest.commit_info(manifest.read_part(store, second.key))
    assert info["kind"] == "crawl" and info["run"] == "R" and info["seq"] == 2
    assert sorted(manifest.load_manifests(store, "s1").column("capture_id").to_pylist()) == ["c1", "c2"]


def test_s3_upload_carries_a_sha256_checksum(s3: S3Bucket) -> None:
    """The server kept the SHA-256 the upload carried (not only our metadata)."""
    import base64

    client, bucket = s3.server.client(), s3.bucket
    store = s3.store("p")
    store.put_bytes("x/y", b"payload")
    head = client.head_object(Bucket=bucket, Key="p/x/y", ChecksumMode="ENABLED")
    assert head["Metadata"]["sha256"] == hashlib.sha256(b"payload").hexdigest()
    assert store._digest("x/y") == hashlib.sha256(b"payload").hexdigest()  # what a retried upload compares
    if "checksum" not in s3.accepted:  # a server that verifies checksums keeps them (moto keeps neither)
        assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"payload").digest()).decode()


def test_s3_refuses_a_body_that_does_not_match_its_checksum(s3: S3Bucket) -> None:
    """The checksum is verified by the server: bytes altered on the way are refused, not stored.
    A server that stores them (moto) is refused by the probe before the archive writes there."""
    import base64

    from botocore.exceptions import ClientError

    client, bucket = s3.server.client(), s3.bucket
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    if "checksum" in s3.accepted:
        client.put_object(Bucket=bucket, Key="p/bad", Body=b"payload", ChecksumSHA256=wrong)  # stored: unsafe
        probe.forget()
        with pytest.raises(probe.UnsafeStore, match=r"checksum: stored an upload whose x-amz-checksum-sha256"):
            S3Store(bucket, "q", client=client).put_bytes("a", b"x")  # type: ignore[arg-type]
        return
    with pytest.raises(ClientError):
        client.put_object(Bucket=bucket, Key="p/bad", Body=b"payload", ChecksumSHA256=wrong)
    assert not S3Store(bucket, "p", client=client).exists("bad")  # type: ignore[arg-type]


def test_s3_multipart_upload(s3: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import storage.store as st

    monkeypatch.setattr(st, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)
    big = tmp_path / "big.bin"
    big.write_bytes(b"0123456789abcdef" * (7 * 1024 * 1024 // 16))
    monkeypatch.setattr(st, "MULTIPART_CHUNK", 5 * 1024 * 1024)
    client, bucket = s3.server.client(), s3.bucket
    store = s3.store("")
    store.put_file("big/one.bin", big)
    assert hashlib.sha256(store.get_bytes("big/one.bin")).digest() == hashlib.sha256(big.read_bytes()).digest()
    etag = client.head_object(Bucket=bucket, Key="big/one.bin")["ETag"]
    assert etag.strip('"').endswith("-2"), f"not a multipart upload of two parts: ETag {etag}"
    store.put_file("big/one.bin", big)  # the same bytes again: a no-op
    other = tmp_path / "other.bin"
    other.write_bytes(b"x" * (7 * 1024 * 1024))
    with pytest.raises(ObjectExists):
        store.put_file("big/one.bin", other)  # the conditional completion refuses it
    assert hashlib.sha256(store.get_bytes("big/one.bin")).digest() == hashlib.sha256(big.read_bytes()).digest()
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_unreachable_s3_is_a_transient_error() -> None:
    import boto3
    from botocore.config import Config

    from tests.s3server import free_port

    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    store = S3Store("nobucket", "", client=client)  # type: ignore[arg-type]
    with pytest.raises(StorageUnavailable, match="nobucket"):
        store.put_bytes("a/b", b"x")


@pytest.mark.parametrize(
    ("url", "kind"),
    [("file:///tmp/a", LocalStore), ("/tmp/a", LocalStore), ("s3://bucket/pre/fix", S3Store)],
)
def test_open_store_by_scheme(url: str, kind: type) -> None:
    assert isinstance(open_store(url), kind)


@pytest.mark.parametrize("url", ["ftp://x/y", "s3:///nobucket"])
def test_open_store_rejects(url: str) -> None:
    with pytest.raises(PermanentError):
        open_store(url)


def test_manifests_written_by_an_older_schema_still_load(store: Store) -> None:
    """Columns added later (extraction_id, extracted_at) read back as nulls, not as an error."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    old_columns = [c for c in manifest.COLUMNS if c not in ("extraction_id", "extracted_at")]
    old = pa.Table.from_pylist(
        [
            {c: None for c in old_columns}
            | {"capture_id": "c0", "source_id": "src_a", "status": "ok", "authors": [], "tags": [], "flags": []}
        ],
        schema=pa.schema([manifest.SCHEMA.field(c) for c in old_columns]),
    )
    buf = io.BytesIO()
    pq.write_table(old, buf)
    store.put_bytes("manifests/source=src_a/0000000001.parquet", buf.getvalue())
    row = {c: None for c in manifest.COLUMNS} | {
        "capture_id": "c1",
        "source_id": "src_a",
        "status": "ok",
        "extracted_at": "2026-01-01T00:00:00.000Z",
        "authors": [],
        "tags": [],
        "flags": [],
    }
    assert manifest.commit(store, "src_a", [row]).key == "manifests/source=src_a/0000000002.parquet"
    table = manifest.latest_extractions(manifest.load_manifests(store, "src_a"))
    assert sorted(table.column("capture_id").to_pylist()) == ["c0", "c1"]
    assert table.schema == manifest.SCHEMA


def test_local_archive_files_honour_the_umask(tmp_path: Path) -> None:
    import os

    store = LocalStore(tmp_path / "archive")
    old = os.umask(0o022)
    try:
        store.put_bytes("raw/a.bin", b"a")
        src = tmp_path / "src"
        src.write_bytes(b"b")
        store.put_file("raw/b.bin", src)
        os.umask(0o027)
        store.put_bytes("raw/c.bin", b"c")
    finally:
        os.umask(old)
    modes = {k: (tmp_path / "archive" / k).stat().st_mode & 0o777 for k in ("raw/a.bin", "raw/b.bin", "raw/c.bin")}
    assert modes == {"raw/a.bin": 0o644, "raw/b.bin": 0o644, "raw/c.bin": 0o640}
