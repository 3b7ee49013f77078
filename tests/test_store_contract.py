"""One contract, two stores: a local directory and a real S3 server (SeaweedFS)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import manifest
from storage.errors import ObjectNotFound, PermanentError, StorageUnavailable
from storage.store import LocalStore, S3Store, Store, open_store
from tests.s3server import WeedS3


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "local":
        yield LocalStore(tmp_path / "archive")
    else:
        weed: WeedS3 = request.getfixturevalue("weed")
        bucket: str = request.getfixturevalue("bucket")
        yield S3Store(bucket, "prefix/archive", client=weed.client())  # type: ignore[arg-type]


def test_put_get_roundtrip(store: Store) -> None:
    store.put_bytes("a/b/c.json", b'{"x": 1}', "application/json")
    assert store.get_bytes("a/b/c.json") == b'{"x": 1}'
    assert store.exists("a/b/c.json")
    assert not store.exists("a/b/missing.json")


def test_overwrite_is_whole(store: Store) -> None:
    store.put_bytes("k/v", b"first version, longer")
    store.put_bytes("k/v", b"second")
    assert store.get_bytes("k/v") == b"second"


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
        "source_id": "s",
        "authors": [],
        "tags": [],
        "flags": [],
    }
    assert manifest.commit(store, "manifests/source=s/date=2020-01-01/R.parquet", [row]) == (True, 1)
    before = store.get_bytes("manifests/source=s/date=2020-01-01/R.parquet")
    assert manifest.commit(store, "manifests/source=s/date=2020-01-01/R.parquet", [row]) == (False, 1)
    assert store.get_bytes("manifests/source=s/date=2020-01-01/R.parquet") == before
    row2 = row | {"capture_id": "c2"}
    assert manifest.commit(store, "manifests/source=s/date=2020-01-01/R.parquet", [row, row2]) == (True, 2)
    assert [r["capture_id"] for r in manifest.read_manifest(store, "manifests/source=s/date=2020-01-01/R.parquet")] == [
        "c1",
        "c2",
    ]


def test_s3_upload_carries_a_sha256_checksum(weed: WeedS3, bucket: str) -> None:
    client = weed.client()
    store = S3Store(bucket, "p", client=client)  # type: ignore[arg-type]
    store.put_bytes("x/y", b"payload")
    head = client.head_object(Bucket=bucket, Key="p/x/y", ChecksumMode="ENABLED")  # type: ignore[attr-defined]
    assert head["Metadata"]["sha256"] == hashlib.sha256(b"payload").hexdigest()


def test_s3_multipart_upload(weed: WeedS3, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import storage.store as st

    monkeypatch.setattr(st, "MULTIPART_THRESHOLD", 5 * 1024 * 1024)
    big = tmp_path / "big.bin"
    big.write_bytes(b"0123456789abcdef" * (7 * 1024 * 1024 // 16))
    store = S3Store(bucket, "", client=weed.client())  # type: ignore[arg-type]
    store.put_file("big/one.bin", big)
    assert hashlib.sha256(store.get_bytes("big/one.bin")).digest() == hashlib.sha256(big.read_bytes()).digest()


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
        [{c: None for c in old_columns} | {"capture_id": "c0", "authors": [], "tags": [], "flags": []}],
        schema=pa.schema([manifest.SCHEMA.field(c) for c in old_columns]),
    )
    buf = io.BytesIO()
    pq.write_table(old, buf)
    store.put_bytes("manifests/source=src_a/date=2020-01-01/OLD.parquet", buf.getvalue())
    row = {c: None for c in manifest.COLUMNS} | {
        "capture_id": "c1",
        "extracted_at": "2026-01-01T00:00:00.000Z",
        "authors": [],
        "tags": [],
        "flags": [],
    }
    manifest.commit(store, "manifests/source=src_a/date=2020-01-01/NEW.parquet", [row])
    table = manifest.latest_extractions(manifest.load_manifests(store, "src_a"))
    assert sorted(table.column("capture_id").to_pylist()) == ["c0", "c1"]
    assert table.schema == manifest.SCHEMA
