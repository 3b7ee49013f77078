"""Exports: WACZ that pywb indexes and replays, streamed Parquet, interrupted exports leave nothing."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from researcher import export
from researcher.cli import app
from researcher.reader import Archive
from storage.errors import ArchiveError
from storage.store import LocalStore
from tests.s3server import free_port

runner = CliRunner()
# pywb lives in an environment of its own (tests/pywb/pyproject.toml: it pins redis<3)
BIN = Path(__file__).resolve().parent / "pywb" / ".venv" / "bin"


@pytest.fixture(scope="module")
def wacz(aa_archive: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("wacz") / "aa-idleb.wacz"
    out = runner.invoke(app, ["export", "-f", "wacz", "-o", str(target), "-s", "aa_fr", "--archive", aa_archive])
    assert out.exit_code == 0, out.output
    return target


def test_wacz_package_is_complete_and_self_verifying(wacz: Path, aa_archive: str) -> None:
    rows = Archive(LocalStore(aa_archive)).search_all()
    with zipfile.ZipFile(wacz) as z:
        names = set(z.namelist())
        assert names == {
            "archive/data.warc.gz",
            "indexes/index.cdx",
            "pages/pages.jsonl",
            "aftermath/aftermath.jsonl",  # events and links of the captures that have any
            "datapackage.json",
            "datapackage-digest.json",
        }
        assert z.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
        package = json.loads(z.read("datapackage.json"))
        assert package["wacz_version"] == "1.1.1"
        for res in package["resources"]:
            data = z.read(res["path"])
            assert res["hash"] == "sha256:" + hashlib.sha256(data).hexdigest() and res["bytes"] == len(data)
        digest = json.loads(z.read("datapackage-digest.json"))
        assert digest["hash"] == "sha256:" + hashlib.sha256(z.read("datapackage.json")).hexdigest()
        pages = [json.loads(x) for x in z.read("pages/pages.jsonl").splitlines()]
        cdx = z.read("indexes/index.cdx").decode().splitlines()
        aftermath = [json.loads(x) for x in z.read("aftermath/aftermath.jsonl").splitlines()]
    assert {a["capture_id"] for a in aftermath} <= {r["capture_id"] for r in rows}
    assert pages[0]["format"] == "json-pages-1.0"
    assert sorted(p["url"] for p in pages[1:]) == sorted(r["final_url"] for r in rows)
    assert len(cdx) == len(rows) and cdx == sorted(cdx)  # one response per capture, sorted by SURT


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=20) as resp:
        return resp.status, dict(resp.headers), resp.read()


@pytest.fixture(scope="module")
def pywb(wacz: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """pywb with the WACZ added to a collection (wb-manager unpacks and merges its index)."""
    home = tmp_path_factory.mktemp("pywb")
    for cmd in (["init", "news"], ["add", "--unpack-wacz", "news", str(wacz)]):
        subprocess.run([BIN / "wb-manager", *cmd], cwd=home, check=True, capture_output=True, timeout=120)
    port = free_port()
    log = (home / "wayback.log").open("wb")
    proc = subprocess.Popen(
        [BIN / "wayback", "-b", "127.0.0.1", "-p", str(port)], cwd=home, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            _get(base + "/news/cdx?url=x")
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("pywb did not start: " + (home / "wayback.log").read_text()[-2000:])
            time.sleep(0.3)
    yield base
    proc.terminate()
    proc.wait(timeout=15)


def test_pywb_indexes_and_replays_the_exported_pages(pywb: str, aa_archive: str) -> None:
    archive = Archive(LocalStore(aa_archive))
    for row in archive.search_all():
        status, _, body = _get(f"{pywb}/news/cdx?output=json&url={row['final_url']}")
        (entry,) = [json.loads(x) for x in body.splitlines()]
        assert entry["status"] == "200" and entry["mime"] == "text/html"
        # id_: the page exactly as archived (pywb removes the transfer's gzip, as a browser would)
        status, headers, page = _get(f"{pywb}/news/{entry['timestamp']}id_/{row['final_url']}")
        raw = archive.raw(row["capture_id"])
        expected = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        assert status == 200 and page == expected
        assert headers.get("Memento-Datetime")
        # the rewritten replay a researcher's browser gets
        status, _, replayed = _get(f"{pywb}/news/{entry['timestamp']}mp_/{row['final_url']}")
        assert status == 200 and (row["title"] or "").split(":")[0].encode() in replayed


def test_parquet_export_streams_in_batches(aa_archive: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "PARQUET_BATCH", 1)
    target = tmp_path / "aa.parquet"
    out = runner.invoke(app, ["export", "-f", "parquet", "-o", str(target), "--archive", aa_archive])
    assert out.exit_code == 0, out.output
    meta = pq.ParquetFile(target).metadata
    assert meta.num_rows == 4 and meta.num_row_groups == 4  # one batch in memory at a time


@pytest.mark.parametrize("fmt", export.FORMATS)
def test_interrupted_export_leaves_nothing(aa_archive: str, tmp_path: Path, fmt: str) -> None:
    rows = Archive(LocalStore(aa_archive)).search_all()

    def failing() -> Iterator[dict[str, Any]]:
        yield rows[0]
        yield rows[1]
        raise KeyboardInterrupt

    target = tmp_path / f"out.{fmt}"
    with pytest.raises(KeyboardInterrupt):
        export.write_export(failing(), fmt, target, LocalStore(aa_archive))
    assert list(tmp_path.iterdir()) == []


def test_export_into_missing_directory(aa_archive: str, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="is not a directory"):
        export.write_export([], "jsonl", tmp_path / "nope" / "x.jsonl")
