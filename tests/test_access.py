"""Access control on a real S3 server: the example identities, read-only researchers,
credentials without list permission, and Object Lock retention of raw captures."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from researcher.cli import app
from storage.errors import AccessDenied
from storage.store import LocalStore, Retention, S3Store, open_store
from tests.conftest import REPO
from tests.s3server import WeedS3

BUCKET = "locked-archive"
PREFIX = "news"
ROLES = ("admin", "pipeline", "researcher")
runner = CliRunner()


def creds(role: str) -> tuple[str, str]:
    return f"test-{role}", f"test-{role}-secret"


@pytest.fixture(scope="module")
def iam_weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeedS3]:
    """SeaweedFS with infra's example identities (placeholders filled in) plus one without List."""
    text = (REPO / "infra" / "s3-policies" / "seaweedfs-identities.json").read_text()
    for role in ROLES:
        access, secret = creds(role)
        text = text.replace(f"CHANGE-ME-{role}-secret", secret).replace(f"CHANGE-ME-{role}", access)
    config = json.loads(text.replace("ARCHIVE-BUCKET", BUCKET))
    # the server's own start-up probe uses the default test credentials: make them the admin's
    config["identities"][0]["credentials"].append(
        {"accessKey": "newsarchive-test", "secretKey": "newsarchive-test-secret"}
    )
    access, secret = creds("nolist")
    config["identities"].append(
        {"name": "nolist", "credentials": [{"accessKey": access, "secretKey": secret}], "actions": [f"Read:{BUCKET}"]}
    )
    data = tmp_path_factory.mktemp("iam-weed")
    (data / "s3.json").write_text(json.dumps(config))
    server = WeedS3(data, s3_config=data / "s3.json").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def locked_archive(iam_weed: WeedS3, aa_archive: str) -> str:
    """The aa_fr archive uploaded by the pipeline identity, raw captures under GOVERNANCE retention."""
    iam_weed.client(*creds("admin")).create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    pipeline = S3Store(
        BUCKET, PREFIX, client=iam_weed.client(*creds("pipeline")), raw_retention=Retention.parse("governance:2")
    )
    local = LocalStore(aa_archive)
    for key in local.list():
        pipeline.put_bytes(key, local.get_bytes(key))
    return f"s3://{BUCKET}/{PREFIX}"


def cli(iam_weed: WeedS3, role: str, *args: str, tmp: Path) -> tuple[int, str]:
    env = iam_weed.env(*creds(role)) | {"NEWSARCHIVE_CACHE": str(tmp / f"cache-{role}")}
    out = runner.invoke(app, list(args), env=env)
    assert "Traceback" not in out.output
    return out.exit_code, out.output


def test_raw_captures_are_locked_and_the_rest_is_not(iam_weed: WeedS3, locked_archive: str) -> None:
    admin = iam_weed.client(*creds("admin"))
    objects = admin.list_object_versions(Bucket=BUCKET, Prefix=f"{PREFIX}/").get("Versions", [])
    raw = [o for o in objects if o["Key"].startswith(f"{PREFIX}/raw/")]
    assert raw and len(raw) < len(objects)
    for obj in objects:
        if obj["Key"].startswith(f"{PREFIX}/raw/"):
            retention = admin.get_object_retention(Bucket=BUCKET, Key=obj["Key"], VersionId=obj["VersionId"])
            assert retention["Retention"]["Mode"] == "GOVERNANCE"
            assert retention["Retention"]["RetainUntilDate"] > datetime.now(UTC)
    # not even the admin deletes a locked version before it expires
    with pytest.raises(Exception, match="AccessDenied"):
        admin.delete_object(Bucket=BUCKET, Key=raw[0]["Key"], VersionId=raw[0]["VersionId"])


def test_retention_is_configured_from_the_environment(
    iam_weed: WeedS3, locked_archive: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCHIVE_RAW_RETENTION", "compliance:1")
    store = open_store(locked_archive, s3_client=iam_weed.client(*creds("pipeline")))
    assert isinstance(store, S3Store) and store.raw_retention == Retention("COMPLIANCE", 1)
    monkeypatch.setenv("ARCHIVE_RAW_RETENTION", "forever")
    with pytest.raises(Exception, match="bad retention 'forever'"):
        open_store(locked_archive)


def test_every_researcher_command_works_read_only(iam_weed: WeedS3, locked_archive: str, tmp_path: Path) -> None:
    """Each command with read-only credentials, and what each one gives back."""
    import hashlib
    import zipfile

    import pyarrow.parquet as pq

    a = ("--archive", locked_archive)
    code, out = cli(iam_weed, "researcher", "search", "-f", "jsonl", *a, tmp=tmp_path)
    assert code == 0, out
    rows = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert len(rows) == 4
    row = next(r for r in rows if "Idleb" in (r["title"] or ""))
    cid, url = row["capture_id"], row["final_url"]

    def run(*args: str) -> str:
        code, out = cli(iam_weed, "researcher", *args, *a, tmp=tmp_path)
        assert code == 0, (args, out)
        return out

    found = [json.loads(x) for x in run("find", "Idleb", "-f", "jsonl").splitlines() if x.startswith("{")]
    assert cid in {h["capture_id"] for h in found} and all("snippet" in h for h in found)
    shown = json.loads(run("show", cid))
    assert shown["provenance"]["capture_id"] == cid and cid in shown["citation"] and shown["text"]
    run("get", cid, "--raw", "-o", str(tmp_path / "raw.bin"))
    assert hashlib.sha256((tmp_path / "raw.bin").read_bytes()).hexdigest() == row["payload_sha256"]
    run("get", cid, "--warc", "-o", str(tmp_path / "c.warc.gz"))
    warc = (tmp_path / "c.warc.gz").read_bytes()
    assert warc[:2] == b"\x1f\x8b" and url.encode() in __import__("gzip").decompress(warc)
    assert cid in run("versions", url)
    verified = " ".join(run("verify").split())
    assert "4 row(s): raw ok 4, clean ok 4" in verified and "0 problem(s)" in verified
    run("export", "-f", "parquet", "-o", str(tmp_path / "x.parquet"))
    exported = pq.read_table(tmp_path / "x.parquet").to_pylist()
    assert sorted(r["capture_id"] for r in exported) == sorted(r["capture_id"] for r in rows)
    run("export", "-f", "wacz", "-o", str(tmp_path / "x.wacz"))
    with zipfile.ZipFile(tmp_path / "x.wacz") as z:
        assert {"datapackage.json", "pages/pages.jsonl", "archive/data.warc.gz"} <= set(z.namelist())
        assert len(z.read("pages/pages.jsonl").splitlines()) == 5  # the header line and four pages


def test_researcher_cannot_write_or_delete(iam_weed: WeedS3, locked_archive: str) -> None:
    store = S3Store(BUCKET, PREFIX, client=iam_weed.client(*creds("researcher")))
    with pytest.raises(AccessDenied, match="s3:PutObject"):
        store.put_bytes("manifests/source=aa_fr/0000000002.parquet", b"x")
    with pytest.raises(Exception, match="AccessDenied"):
        iam_weed.client(*creds("researcher")).delete_object(Bucket=BUCKET, Key=f"{PREFIX}/runs/x.json")


def test_credentials_without_list_permission(
    iam_weed: WeedS3, locked_archive: str, aa_archive: str, tmp_path: Path
) -> None:
    store = S3Store(BUCKET, PREFIX, client=iam_weed.client(*creds("nolist")))
    key = next(LocalStore(aa_archive).list("manifests/"))
    assert store.get_bytes(key) == LocalStore(aa_archive).get_bytes(key)  # reading a known key works
    with pytest.raises(AccessDenied, match="s3:ListBucket"):
        list(store.list("manifests/"))
    code, out = cli(iam_weed, "nolist", "search", "--archive", locked_archive, tmp=tmp_path)
    message = " ".join(out.split())
    assert code == 1 and "access denied" in message and "s3:ListBucket" in message
    code, out = cli(iam_weed, "nolist", "verify", "--archive", locked_archive, tmp=tmp_path)
    assert code == 1 and "s3:ListBucket" in " ".join(out.split())


def test_the_reading_room_serves_an_s3_archive_with_read_only_credentials(
    iam_weed: WeedS3, locked_archive: str, tmp_path: Path
) -> None:
    from starlette.testclient import TestClient

    from researcher.catalog import Catalog
    from researcher.reader import Archive
    from researcher.web import create_app

    admin = iam_weed.client(*creds("admin"))
    before = admin.list_object_versions(Bucket=BUCKET, Prefix=f"{PREFIX}/").get("Versions", [])
    store = S3Store(BUCKET, PREFIX, client=iam_weed.client(*creds("researcher")))
    with TestClient(create_app(Archive(store, Catalog(tmp_path / "catalog.sqlite")))) as room:
        page = room.get("/", params={"q": "Idleb"})
        assert page.status_code == 200 and "<mark>Idleb</mark>" in page.text
        capture = re.search(r'href="/capture/([0-9a-f]+)"', page.text)
        assert capture is not None
        for path in (f"/capture/{capture[1]}", f"/capture/{capture[1]}/raw", "/coverage/aa_fr"):
            assert room.get(path).status_code == 200, path
        export = room.get("/export", params={"format": "wacz", "q": "Idleb"})
        assert export.status_code == 200 and export.content[:2] == b"PK"
    after = admin.list_object_versions(Bucket=BUCKET, Prefix=f"{PREFIX}/").get("Versions", [])
    assert [(o["Key"], o["VersionId"]) for o in after] == [(o["Key"], o["VersionId"]) for o in before]


def test_a_read_only_reader_cannot_probe_the_store_and_says_so(
    iam_weed: WeedS3, locked_archive: str, tmp_path: Path
) -> None:
    """A researcher's key may not write, so it cannot probe: verify says so and goes on. The
    pipeline's probe (it wrote the archive) left nothing under _probe/."""
    from storage import probe

    probe.forget()  # the pipeline identity's verdict, cached in this process, is not the reader's
    code, out = cli(iam_weed, "researcher", "verify", "--archive", locked_archive, tmp=tmp_path)
    text = " ".join(out.split())
    assert code == 0, out
    assert "not probed (these credentials may not write under _probe/)" in text and "0 problem(s)" in text
    probe.forget()
    admin = iam_weed.client(*creds("admin"))
    assert not admin.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/_probe/").get("Contents")


def test_sql_over_s3_with_read_only_credentials(iam_weed: WeedS3, locked_archive: str, tmp_path: Path) -> None:
    """DuckDB over the archive's tables on S3, read by a researcher's read-only key."""
    query = "select source_id, count(*) as n from captures where status = 'ok' group by 1"
    code, out = cli(iam_weed, "researcher", "sql", query, "-f", "jsonl", "--archive", locked_archive, tmp=tmp_path)
    assert code == 0, out
    assert [json.loads(x) for x in out.splitlines() if x.startswith("{")] == [{"source_id": "aa_fr", "n": 4}]
