"""The `archive` command on a real (local) archive: answers and clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from researcher.cli import app
from researcher.reader import Archive
from storage.store import LocalStore
from tests.fixtures.server import FixtureServer

runner = CliRunner()


@pytest.fixture(scope="module")
def archive(aa_archive: str) -> str:
    return aa_archive


def test_search_by_source_date_and_text(archive: str) -> None:
    out = runner.invoke(
        app,
        [
            "search",
            "-s",
            "aa_fr",
            "--from",
            "2020-02-28",
            "--to",
            "2020-02-28",
            "--format",
            "jsonl",
            "--archive",
            archive,
        ],
    )
    assert out.exit_code == 0, out.output
    rows = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["title"] for r in rows] == ["Syrie: Washington appelle Moscou et Damas à cesser le carnage à Idleb"]
    by_text = runner.invoke(app, ["search", "-t", "OTAN", "--format", "jsonl", "--archive", archive])
    assert len(by_text.stdout.splitlines()) == 2  # the seed dispatch and the NATO consultations item
    table = runner.invoke(app, ["search", "--archive", archive])
    assert "4 capture(s)" in table.stdout


def test_export_jsonl_and_refuse_to_overwrite(archive: str, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    ok = runner.invoke(app, ["export", "-o", str(target), "--archive", archive])
    assert ok.exit_code == 0
    rows = [json.loads(x) for x in target.read_text().splitlines()]
    assert len(rows) == 4 and all(r["payload_sha256"] and r["warc_key"] for r in rows)
    again = runner.invoke(app, ["export", "-o", str(target), "--archive", archive])
    assert again.exit_code == 1 and "already exists" in again.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["show", "0000deadbeef"], 1, "no committed capture with id '0000deadbeef'"),
        (["get", "0000deadbeef", "--raw"], 1, "no committed capture"),
        (["search", "--from", "2020-03-01", "--to", "2020-02-01"], 1, "date range is inverted"),
        (["search", "--from", "last week"], 2, "is not a date"),
    ],
)
def test_clear_errors_without_traceback(archive: str, args: list[str], code: int, message: str) -> None:
    out = runner.invoke(app, [*args, "--archive", archive])
    assert out.exit_code == code
    assert message in " ".join(out.output.split())
    assert "Traceback" not in out.output


def test_raw_payload_round_trip(archive: str, tmp_path: Path, sites: FixtureServer) -> None:
    rows = [
        json.loads(x)
        for x in runner.invoke(
            app, ["search", "-t", "carnage", "--format", "jsonl", "--archive", archive]
        ).stdout.splitlines()
    ]
    target = tmp_path / "raw.bin"
    out = runner.invoke(app, ["get", rows[0]["capture_id"], "--raw", "-o", str(target), "--archive", archive])
    assert out.exit_code == 0
    assert (
        target.read_bytes()
        in sites.sent[
            "www.aa.com.tr/fr/monde/syrie-washington-appelle-moscou-et-damas-a-cesser-le-carnage-a-idleb/1748452"
        ]
    )


def test_verify_a_sound_archive(archive: str) -> None:
    out = runner.invoke(app, ["verify", "--format", "json", "--archive", archive])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["rows"] == 4 and report["raw_ok"] == 4 and report["clean_ok"] == 4 and report["problems"] == []


def test_verify_finds_corrupt_and_missing_objects_and_counts_uncommitted_ones(archive: str, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "archive"
    shutil.copytree(archive, copy)
    store = LocalStore(copy)
    rows = {r["final_url"].rsplit("/", 1)[1]: r for r in Archive(store).search_all()}
    # flip one byte inside the compressed record of one capture
    victim = rows["1748452"]
    path = copy / victim["warc_key"]
    data = bytearray(path.read_bytes())
    data[victim["warc_offset"] + victim["warc_length"] // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    (copy / rows["1746120"]["clean_key"]).unlink()
    # an object no commit references (an attempt killed before its commit) is counted, not a problem
    (copy / "clean/source=aa_fr/date=2020-02-28/stray.json").write_text("{}")
    # a Parquet file that is not a commit of the log is one: readers would miss it
    (copy / "manifests/source=aa_fr/extra.parquet").write_bytes(b"PAR1")
    out = runner.invoke(app, ["verify", "--format", "json", "--archive", str(copy)])
    assert out.exit_code == 1
    report = json.loads(out.stdout)
    kinds = sorted((p["kind"], p["capture_id"]) for p in report["problems"])
    assert kinds == sorted(
        [
            ("corrupt_raw", victim["capture_id"]),
            ("missing_clean", rows["1746120"]["capture_id"]),
            ("foreign_manifest", None),
        ]
    )
    assert report["uncommitted"] == 1


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_formats_carry_provenance(archive: str, tmp_path: Path, fmt: str) -> None:
    import csv

    import pyarrow.parquet as pq

    target = tmp_path / f"aa.{fmt}"
    out = runner.invoke(app, ["export", "-f", fmt, "-o", str(target), "-s", "aa_fr", "--archive", archive])
    assert out.exit_code == 0, out.output
    if fmt == "jsonl":
        rows = [json.loads(x) for x in target.read_text().splitlines()]
    elif fmt == "csv":
        rows = list(csv.DictReader(target.open(encoding="utf-8")))
    else:
        rows = pq.read_table(target).to_pylist()
    assert len(rows) == 4
    assert all(r["payload_sha256"] and r["warc_key"] and r["fetched_at"] and r["text"] for r in rows)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_export_unknown_format(archive: str, tmp_path: Path) -> None:
    out = runner.invoke(app, ["export", "-f", "xlsx", "-o", str(tmp_path / "x"), "--archive", archive])
    assert out.exit_code == 1 and "unknown export format" in out.output


def test_versions_and_diff(tmp_path: Path) -> None:
    from storage import manifest

    store = LocalStore(tmp_path / "archive")
    base = {c: None for c in manifest.COLUMNS} | {
        "authors": [],
        "tags": [],
        "flags": [],
        "source_id": "src_a",
        "status": "ok",
    }
    url = "https://example.invalid/article"
    rows = [
        base
        | {
            "capture_id": "c1",
            "final_url": url,
            "fetched_at": "2020-01-01T10:00:00Z",
            "title": "T",
            "text": "Premier paragraphe.\nDeuxième paragraphe.",
            "payload_sha256": "a" * 64,
        },
        base
        | {
            "capture_id": "c2",
            "discovery_kind": "revisit",  # a later capture of the URL: how a second version arises
            "run": "R2",
            "final_url": url,
            "fetched_at": "2020-01-02T10:00:00Z",
            "title": "T",
            "text": "Premier paragraphe.\nDeuxième paragraphe, corrigé.",
            "payload_sha256": "b" * 64,
        },
    ]
    manifest.commit(store, "src_a", rows)
    listing = runner.invoke(app, ["versions", url, "--archive", store.url])
    assert listing.exit_code == 0 and "2 capture(s)" in listing.stdout
    assert listing.stdout.index("c1") < listing.stdout.index("c2")
    diff = runner.invoke(app, ["versions", url, "--diff", "1", "2", "--archive", store.url])
    assert "-Deuxième paragraphe." in diff.stdout and "+Deuxième paragraphe, corrigé." in diff.stdout
    none = runner.invoke(app, ["versions", "https://example.invalid/other", "--archive", store.url])
    assert none.exit_code == 1 and "no committed capture" in none.output


def test_show_gives_a_citation(archive: str) -> None:
    rows = [
        json.loads(x)
        for x in runner.invoke(
            app, ["search", "-t", "carnage", "-f", "jsonl", "--archive", archive]
        ).stdout.splitlines()
    ]
    shown = json.loads(runner.invoke(app, ["show", rows[0]["capture_id"], "--archive", archive]).stdout)
    cite = shown["citation"]
    for part in (
        "aa_fr",
        "Syrie: Washington appelle Moscou",
        "2020-02-28",
        rows[0]["final_url"],
        rows[0]["capture_id"],
        rows[0]["payload_sha256"],
    ):
        assert part in cite


def test_full_text_find_ranks_and_snippets(archive: str, tmp_path: Path) -> None:
    idx = tmp_path / "index.sqlite"
    out = runner.invoke(app, ["find", "Idleb", "-f", "jsonl", "--catalog", str(idx), "--archive", archive])
    assert out.exit_code == 0, out.output
    hits = [json.loads(x) for x in out.stdout.splitlines()]
    assert {h["title"] for h in hits} == {
        "Syrie: Washington appelle Moscou et Damas à cesser le carnage à Idleb",
        "Idleb : le régime lance une nouvelle offensive",
    }
    assert hits[0]["score"] >= hits[1]["score"]  # BM25: higher is better, best first
    assert all("[Idleb]" in h["snippet"] for h in hits)
    phrase = runner.invoke(app, ["find", '"fin immédiate"', "-f", "jsonl", "--catalog", str(idx), "--archive", archive])
    assert len(phrase.stdout.splitlines()) == 1
    folded = runner.invoke(app, ["find", "IMMEDIATE", "-f", "jsonl", "--catalog", str(idx), "--archive", archive])
    assert len(folded.stdout.splitlines()) == 1  # case and diacritics folded
    from researcher.catalog import Catalog
    from storage.store import LocalStore as Local

    assert Catalog(idx).update(Local(archive)) == 0  # incremental: nothing new to index


@pytest.mark.parametrize("query", ["AND OR NOT", '"unbalanced', "NEAR(a b)", "col:umn*", "(((", "-x ^y"])
def test_find_survives_fts_syntax(archive: str, tmp_path: Path, query: str) -> None:
    out = runner.invoke(app, ["find", "--catalog", str(tmp_path / "i.sqlite"), "--archive", archive, "--", query])
    assert out.exit_code in (0, 1) and "Traceback" not in out.output
    if out.exit_code == 1:
        assert "nothing to search for" in out.output


def test_get_warc_writes_the_capture_records(archive: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    from warcio.archiveiterator import ArchiveIterator

    hit = json.loads(runner.invoke(app, ["search", "-t", "carnage", "-f", "jsonl", "--archive", archive]).stdout)
    target = tmp_path / "capture.warc.gz"
    out = runner.invoke(app, ["get", hit["capture_id"], "--warc", "-o", str(target), "--archive", archive])
    assert out.exit_code == 0, out.output
    with target.open("rb") as fh:
        kinds = [r.rec_type for r in ArchiveIterator(fh)]
    assert kinds == ["response", "request", "metadata"]
    check = subprocess.run([sys.executable, "-m", "warcio.cli", "check", str(target)], capture_output=True, check=False)
    assert check.returncode == 0


def test_get_raw_when_the_warc_is_gone(archive: str, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "archive"
    shutil.copytree(archive, copy)
    hit = json.loads(runner.invoke(app, ["search", "-t", "carnage", "-f", "jsonl", "--archive", str(copy)]).stdout)
    (copy / hit["warc_key"]).unlink()
    out = runner.invoke(app, ["get", hit["capture_id"], "--raw", "--archive", str(copy)])
    assert out.exit_code == 1 and "not found" in out.output and "Traceback" not in out.output


def test_search_formats_sorting_and_filters(archive: str) -> None:
    import csv
    import io

    base = ["search", "--archive", archive]
    asc = runner.invoke(app, [*base, "--format", "csv"])
    assert asc.exit_code == 0, asc.output
    rows = list(csv.DictReader(io.StringIO(asc.stdout)))
    assert len(rows) == 4 and rows[0]["payload_sha256"] and "text" not in rows[0]
    days = [r["published"] for r in rows]
    assert days == sorted(days)
    desc = list(csv.DictReader(io.StringIO(runner.invoke(app, [*base, "-f", "csv", "--desc"]).stdout)))
    assert [r["published"] for r in desc] == days[::-1]
    by_url = runner.invoke(app, [*base, "-f", "jsonl", "--sort", "url", "--limit", "2"]).stdout.splitlines()
    assert [json.loads(x)["final_url"] for x in by_url] == sorted(r["final_url"] for r in rows)[:2]
    fetched = rows[0]["fetched_at"][:10]
    same_day = runner.invoke(app, [*base, "-f", "jsonl", "--captured-from", fetched, "--captured-to", fetched])
    assert len(same_day.stdout.splitlines()) == 4
    before = runner.invoke(app, [*base, "-f", "jsonl", "--captured-to", "2020-01-01"])
    assert before.stdout == ""
    title = runner.invoke(app, [*base, "-f", "jsonl", "--title", "offensive"]).stdout.splitlines()
    assert [json.loads(x)["title"] for x in title] == ["Idleb : le régime lance une nouvelle offensive"]
    prefix = runner.invoke(app, [*base, "-f", "jsonl", "--url", "https://www.aa.com.tr/fr/monde/idleb"])
    assert len(prefix.stdout.splitlines()) == 1
    lang = runner.invoke(app, [*base, "-f", "jsonl", "--lang", "fr"])
    assert len(lang.stdout.splitlines()) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sort", "rank"], "sorting by rank needs a text or title query"),
        (["--sort", "size"], "unknown sort 'size'"),
        (["--captured-from", "2020-03-02", "--captured-to", "2020-03-01"], "capture date range is inverted"),
    ],
)
def test_search_rejects_bad_options(archive: str, args: list[str], message: str) -> None:
    out = runner.invoke(app, ["search", *args, "--archive", archive])
    assert out.exit_code == 1 and message in " ".join(out.output.split()) and "Traceback" not in out.output


def test_get_from_a_truncated_or_missing_warc(archive: str, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "archive"
    shutil.copytree(archive, copy)
    rows = sorted(Archive(LocalStore(copy)).search_all(), key=lambda r: r["warc_offset"])
    last = rows[-1]
    warc = copy / last["warc_key"]
    warc.write_bytes(warc.read_bytes()[: last["warc_offset"] + last["warc_length"] // 2])
    args = ["--archive", str(copy), "--catalog", str(tmp_path / "cat.sqlite")]
    out = runner.invoke(app, ["get", last["capture_id"], "--raw", *args])
    assert out.exit_code == 1 and "truncated" in out.output and "Traceback" not in out.output
    warc.unlink()
    out = runner.invoke(app, ["get", last["capture_id"], "--warc", *args])
    assert out.exit_code == 1 and "not found" in out.output and "Traceback" not in out.output


def test_snippets_keep_the_matched_words_in_every_format(archive: str, tmp_path: Path) -> None:
    args = ["find", "Idleb", "--archive", archive, "--catalog", str(tmp_path / "c.sqlite")]
    table = runner.invoke(app, args)
    assert table.exit_code == 0 and "Idleb" in table.stdout.split("snippet", 1)[1]  # rich ate "[Idleb]" before
    assert "\ue000" not in table.stdout and "\ue001" not in table.stdout
    hits = [json.loads(x) for x in runner.invoke(app, [*args, "-f", "jsonl"]).stdout.splitlines()]
    assert hits and all("[Idleb]" in h["snippet"] for h in hits)
    csv_out = runner.invoke(app, [*args, "-f", "csv"]).stdout
    assert "[Idleb]" in csv_out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "rt_fx"], "unknown source 'rt_fx'; the archive holds: aa_fr"),
        (["--lang", "de"], "unknown language 'de'; the archive holds: fr"),
        (
            ["--status", "published"],
            "unknown status 'published'; choose one of ok, extraction_failed, not_article, blocked",
        ),
    ],
)
def test_unknown_filter_values_are_errors_that_list_the_known_ones(
    archive: str, tmp_path: Path, args: list[str], message: str
) -> None:
    for cmd in (["search"], ["export", "-o", str(tmp_path / "x.jsonl")]):
        out = runner.invoke(app, [*cmd, *args, "--archive", archive, "--catalog", str(tmp_path / "c.sqlite")])
        assert out.exit_code == 1 and message in " ".join(out.stderr.split()), out.output
        assert "Traceback" not in out.output
    assert not (tmp_path / "x.jsonl").exists()


def test_search_by_status(archive: str, tmp_path: Path) -> None:
    base = ["search", "-f", "jsonl", "--archive", archive, "--catalog", str(tmp_path / "c.sqlite")]
    ok = runner.invoke(app, [*base, "--status", "ok"]).stdout.splitlines()
    blocked = runner.invoke(app, [*base, "--status", "blocked"]).stdout.splitlines()
    assert len(ok) == 4 and blocked == []


def test_get_raw_decoded_undoes_the_content_encoding(archive: str, tmp_path: Path) -> None:
    import gzip

    row = next(r for r in Archive(LocalStore(archive)).search_all() if "1746120" in r["final_url"])
    assert json.loads(row["response_headers"])["content-encoding"] == "gzip"
    args = ["get", row["capture_id"], "--raw", "--archive", archive, "--catalog", str(tmp_path / "c.sqlite")]
    raw = runner.invoke(app, args).stdout_bytes
    decoded = runner.invoke(app, [*args, "--decoded"]).stdout_bytes
    assert raw[:2] == b"\x1f\x8b" and decoded == gzip.decompress(raw)
    assert b"<html" in decoded.lower() and b"Idleb" in decoded


def _fifo(tmp: Path) -> str:
    import os

    path = tmp / "pipe"
    os.mkfifo(path)
    return str(path)


# (arguments, exit code, what the one error line says); {archive} and {tmp} filled in
BAD_INPUT = [
    (["search", "--limit", "99999999999999999999"], 2, "'--limit': Input should be less than or equal to 10000000"),
    (["search", "--limit", "0"], 2, "'--limit': Input should be greater than or equal to 1"),
    (["search", "--from", "yesterday"], 2, "'yesterday' is not a date (YYYY-MM-DD)"),
    (["search", "--text", "w " * 40], 1, "text query of 40 words; at most 32"),
    (["search", "--url", "https://x/" + "a" * 3000], 1, "URL prefix of 3,010 characters; at most 2,048"),
    (["search", "--lang", "x" * 50], 1, "is not a language tag"),
    (["find", ""], 1, "nothing to search for in ''"),
    (["find", "   "], 1, "nothing to search for"),
    (["find", "Idleb", "--limit", "-1"], 2, "'--limit': Input should be greater than or equal to 1"),
    (["show", "nope"], 1, "nope"),
    (["get", "nope"], 1, "nope"),
    (["versions", "https://nowhere.example/x"], 1, "no committed capture of https://nowhere.example/x"),
    (["versions", "https://nowhere.example/x", "--diff", "a", "b"], 2, "'--diff': Input should be a valid integer"),
    (["serve", "--port", "99999"], 2, "'--port': Input should be less than or equal to 65535"),
    (["serve", "--port", "0"], 2, "'--port': Input should be greater than or equal to 1"),
    (["serve", "--refresh", "nan"], 2, "'--refresh': Input should be less than or equal to 86400"),  # NaN too
    (["serve", "--refresh", "0"], 2, "'--refresh': Input should be greater than or equal to 1"),
    (["events", "--source", "nope"], 1, "unknown source 'nope': the archive has committed nothing for it"),
    (["events", "--source", "Not An Id"], 1, "unknown source 'Not An Id': not a source id"),
    (["events", "--from", "2020-02-01", "--to", "2020-01-01"], 1, "observed date range is inverted"),
    (["events", "--from", "last week"], 2, "'last week' is not a date (YYYY-MM-DD)"),
    (["events", "--kind", "deleted"], 2, "'deleted' is not one of takedown, edit"),
    (["events", "--capture", "nope"], 1, "nope"),
    (["links", "--source", "nope"], 1, "unknown source 'nope'"),
    (["links", "--original-source", "nope"], 1, "unknown source 'nope'"),
    (["links", "--republished-by", "nope"], 1, "unknown source 'nope'"),
    (["links", "--capture", "nope"], 1, "nope"),
    (["links", "--from", "2020-02-01", "--to", "2020-01-01"], 1, "republished date range is inverted"),
    (["links", "--min-similarity", "nan"], 2, "'--min-similarity': Input should be less than or equal to"),
    (["links", "--min-similarity", "2"], 2, "'--min-similarity': Input should be less than or equal to"),
    (["links", "-f", "xml"], 2, "'xml' is not one of table, jsonl, csv"),
    (["verify", "--source", "nope"], 1, "unknown source 'nope'"),
    (["export", "-o", "{tmp}/x.jsonl", "-f", "xml"], 1, "xml"),
    (["export", "-o", "{tmp}/x.jsonl", "--from", "2020-03-01", "--to", "2020-01-01"], 1, "date range is inverted"),
]


@pytest.mark.parametrize(("args", "code", "message"), BAD_INPUT, ids=[" ".join(a)[:60] for a, _, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_the_right_exit_code(
    archive: str, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    _fifo(tmp_path)
    filled = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = runner.invoke(
        app, [*filled, "--archive", archive, *(["--catalog", str(tmp_path / "c")] if _takes_catalog(args[0]) else [])]
    )
    text = " ".join(out.output.split())
    assert out.exit_code == code, out.output
    assert message in text, out.output
    assert ("Traceback" not in out.output and out.exception is None) or isinstance(out.exception, SystemExit)
    assert (tmp_path / "pipe").exists() and not (tmp_path / "x.jsonl").exists()
    import stat

    assert stat.S_ISFIFO((tmp_path / "pipe").stat().st_mode)  # never replaced by a file


def _takes_catalog(command: str) -> bool:
    return command in ("search", "find", "show", "get", "versions", "export", "serve")


@pytest.mark.parametrize("args", [["show", b"caf\xe9"], ["versions", b"https://x/\xff"], ["find", b"\xc3"]])
def test_arguments_that_are_not_utf8_are_one_line(archive: str, args: list[Any]) -> None:
    import os
    import subprocess
    import sys

    argv = [os.fsencode(a) if isinstance(a, str) else a for a in args]
    out = subprocess.run(
        [sys.executable.encode(), b"-m", b"researcher.cli", *argv, b"--archive", archive.encode()],
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    err = out.stderr.decode("utf-8", "replace")
    assert out.returncode == 2, err
    assert "is not valid UTF-8" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_force_replaces_regular_files_only(archive: str, tmp_path: Path) -> None:
    """`get -o X --force` over a FIFO (as root, /dev/null would be the device node): refused, left as it was."""
    import os
    import stat

    capture = Archive(LocalStore(archive)).search_all()[0]["capture_id"]
    fifo = _fifo(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    for target, kind in ((fifo, "FIFO"), (str(link), "symbolic link"), (str(tmp_path), "directory")):
        out = runner.invoke(app, ["get", capture, "-o", target, "--force", "--archive", archive])
        assert out.exit_code == 1 and f"is a {kind}; --force replaces regular files only" in out.output, out.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and link.is_symlink()
    plain = tmp_path / "plain.txt"
    plain.write_text("old")
    out = runner.invoke(app, ["get", capture, "-o", str(plain), "--force", "--archive", archive])
    assert out.exit_code == 0 and plain.read_text() != "old"
