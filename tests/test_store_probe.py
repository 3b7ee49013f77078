"""The store probe on real S3 servers: SeaweedFS passes, moto stores bodies whatever their
checksum says, s3rver overwrites despite If-None-Match. Each verdict is what the server did,
not what it claims; a refused store gets nothing written under the archive prefix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from storage import probe
from storage.errors import PermanentError, StorageUnavailable
from storage.store import S3Store
from tests.faultproxy import FaultProxy, Rule
from tests.s3others import MotoS3, S3rver
from tests.s3server import WeedS3, client_at


@pytest.fixture(autouse=True)
def _fresh_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    probe.forget()
    monkeypatch.delenv(probe.UNSAFE_ENV, raising=False)


def _keys(client: Any, bucket: str, prefix: str = "") -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


@pytest.fixture
def s3rver_bucket(s3rver: S3rver) -> str:
    import uuid

    name = f"test-{uuid.uuid4().hex[:12]}"
    s3rver.client().create_bucket(Bucket=name)
    return name


# -- the verdicts, server by server --------------------------------------------------------


def test_seaweedfs_passes_every_probe_and_keeps_no_probe_object(weed: WeedS3, bucket: str) -> None:
    store = S3Store(bucket, "arc", client=weed.client())
    verdict = store.probe()
    assert verdict.safe and verdict.failed == {} and verdict.kept == []
    assert "passed conditional-create, conditional-multipart, checksum" in verdict.summary()
    store.put_bytes("manifests/a", b"x")
    assert _keys(weed.client(), bucket) == ["arc/manifests/a"]  # the probe's objects are gone


def test_moto_is_refused_for_storing_bodies_whatever_their_checksum(moto: MotoS3, moto_bucket: str) -> None:
    store = S3Store(moto_bucket, "arc", client=moto.client())
    with pytest.raises(probe.UnsafeStore) as caught:
        store.put_bytes("manifests/a", b"x")
    line = str(caught.value)
    assert "\n" not in line
    assert moto.endpoint in line and "checksum:" in line and "--unsafe-store" in line
    assert "conditional-create" not in line and "conditional-multipart" not in line  # those hold on moto
    assert _keys(moto.client(), moto_bucket) == []  # nothing written, probe objects removed
    with pytest.raises(probe.UnsafeStore):  # a refused store stays refused for every later write
        store.put_bytes("manifests/b", b"y")
    assert _keys(moto.client(), moto_bucket) == []


def test_s3rver_is_refused_for_overwriting_despite_if_none_match(s3rver: S3rver, s3rver_bucket: str) -> None:
    store = S3Store(s3rver_bucket, "arc", client=s3rver.client())
    verdict = probe.verdict_for(store)
    assert set(verdict.failed) == {"conditional-create", "conditional-multipart", "checksum"}
    assert "replaced its bytes" in verdict.failed["conditional-create"]
    with pytest.raises(probe.UnsafeStore, match=r"conditional-create: accepted an upload with If-None-Match"):
        store.put_bytes("raw/a.warc.gz", b"capture")
    assert _keys(s3rver.client(), s3rver_bucket) == []


def test_an_overwriting_proxy_in_front_of_a_safe_server_is_caught(weed: WeedS3, bucket: str) -> None:
    """The server is SeaweedFS, but what answers the archive is a gateway that overwrites on 412:
    the probe judges what the archive talks to, never the brand behind it."""
    rules = [Rule("overwrite", methods=("PUT",), times=None)]
    with FaultProxy(weed.endpoint, rules=rules, admin=weed.client()) as proxy:
        client = weed_client(weed, proxy.endpoint)
        store = S3Store(bucket, "arc", client=client)
        assert set(probe.verdict_for(store).failed) == {"conditional-create"}  # completions and checksums pass
        with pytest.raises(probe.UnsafeStore, match="conditional-create"):
            store.put_bytes("clean/a.json", b"{}")
    assert _keys(weed.client(), bucket) == []


def weed_client(weed: WeedS3, endpoint: str) -> Any:
    """A client for SeaweedFS's credentials that talks to `endpoint` (a proxy in front of it)."""
    return client_at(endpoint)


# -- accepting the risk ----------------------------------------------------------------------


def test_an_accepted_risk_is_recorded_in_the_archive(
    moto: MotoS3, moto_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(probe.UNSAFE_ENV, "checksum")
    store = S3Store(moto_bucket, "arc", client=moto.client())
    store.put_bytes("manifests/a", b"x")
    S3Store(moto_bucket, "arc", client=moto.client()).put_bytes("manifests/b", b"y")  # same day, same verdict
    meta = _keys(moto.client(), moto_bucket, "arc/_meta/")
    assert len(meta) == 1 and meta[0].startswith("arc/" + probe.META_PREFIX)
    doc = json.loads(store.get_bytes(meta[0].removeprefix("arc/")))
    assert doc["endpoint"] == moto.endpoint and list(doc["failed"]) == ["checksum"]
    # accepting one probe is not accepting another
    probe.forget()
    monkeypatch.setenv(probe.UNSAFE_ENV, "conditional-create")
    with pytest.raises(probe.UnsafeStore, match="checksum"):
        S3Store(moto_bucket, "arc", client=moto.client()).put_bytes("manifests/c", b"z")


def test_the_verdict_is_probed_once_per_process_and_endpoint(weed: WeedS3, bucket: str) -> None:
    with FaultProxy(weed.endpoint) as proxy:
        S3Store(bucket, "arc", client=weed_client(weed, proxy.endpoint)).put_bytes("a", b"1")
        first = proxy.requests
        S3Store(bucket, "arc", client=weed_client(weed, proxy.endpoint)).put_bytes("b", b"2")
        assert proxy.requests - first == 1  # the second store's write is its PUT alone
        # the probe's 11 requests (5 writes, 3 reads back, a multipart start and abort, a delete), then the PUT
        assert first == 12, proxy.verbs


def test_a_fault_during_the_probe_is_transient_and_decides_nothing(weed: WeedS3, bucket: str) -> None:
    rule = Rule("503", match="/_probe/", times=None)
    with FaultProxy(weed.endpoint, rules=[rule]) as proxy:
        store = S3Store(bucket, "arc", client=weed_client(weed, proxy.endpoint))
        with pytest.raises(StorageUnavailable):
            store.put_bytes("a", b"1")
        proxy.rules.clear()
        store.put_bytes("a", b"1")  # probed again once the fault passed, then written
    assert _keys(weed.client(), bucket, "arc/") == ["arc/a"]


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("", frozenset()),
        ("0", frozenset()),
        ("1", frozenset(probe.NAMES)),
        ("all", frozenset(probe.NAMES)),
        ("checksum", frozenset({"checksum"})),
        (" Checksum , conditional-multipart ", frozenset({"checksum", "conditional-multipart"})),
    ],
)
def test_accepted_probes(setting: str, expected: frozenset[str]) -> None:
    assert probe.accepted(setting) == expected


def test_an_unknown_probe_name_is_an_input_error() -> None:
    with pytest.raises(PermanentError, match=r"unknown probe 'checksums'"):
        probe.accepted("checksums")


@pytest.mark.parametrize(
    ("status", "code", "first_kept", "expected"),
    [
        (412, "PreconditionFailed", True, None),
        (200, "", True, "accepted an upload with If-None-Match: * to an existing key"),
        (200, "", False, "and replaced its bytes"),
        (412, "PreconditionFailed", False, "refused an upload with 412 but replaced the bytes anyway"),
        (501, "NotImplemented", True, "by NotImplemented (HTTP 501), not 412"),
        (400, "InvalidArgument", True, "by InvalidArgument (HTTP 400), not 412"),
    ],
)
def test_conditional_outcomes(status: int, code: str, first_kept: bool, expected: str | None) -> None:
    found = probe._conditional(status, code, first_kept, "an upload")
    assert found == expected if expected is None else expected in (found or "")


def test_probe_objects_live_where_no_reader_looks(tmp_path: Path) -> None:
    from storage import layout

    for table in layout.TABLES:
        assert not layout.table_prefix(table).startswith(probe.PREFIX)
    assert not probe.PREFIX.startswith(("manifests", "raw", "clean", "_checkpoints"))
