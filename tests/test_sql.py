"""`archive sql` and researcher.sql: DuckDB over verified reads of the archive's tables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from researcher import sql
from researcher.cli import app
from storage import manifest
from storage.store import LocalStore

runner = CliRunner()


def _run(*args: str) -> tuple[int, str]:
    out = runner.invoke(app, ["sql", *args])
    assert "Traceback" not in out.output
    return out.exit_code, out.output


def test_a_query_over_captures(aa_archive: str) -> None:
    code, out = _run(
        "select source_id, count(*) as n, count(distinct final_url) as urls from captures group by 1",
        "-f",
        "jsonl",
        "--archive",
        aa_archive,
    )
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    expected = len(manifest.load_manifests(LocalStore(aa_archive), "aa_fr"))
    assert rows == [{"source_id": "aa_fr", "n": expected, "urls": expected}]


def test_tables_join_and_the_text_is_there(aa_archive: str) -> None:
    con = sql.connect(LocalStore(aa_archive), everything=True)
    try:
        (n, with_text) = con.sql(
            "select count(*), count(*) filter (where length(text) > 200) from captures c "
            "left join events e on e.capture_id = c.capture_id where c.status = 'ok'"
        ).fetchone()
        assert n == with_text and n > 0
        assert con.sql("select count(*) from links").fetchone() == (0,)
    finally:
        con.close()


def test_csv_and_parquet_outputs(aa_archive: str, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    code, out = _run("select capture_id, title from captures order by 1", "-f", "csv", "--archive", aa_archive)
    assert code == 0 and out.splitlines()[0] == "capture_id,title"
    target = tmp_path / "q.parquet"
    code, out = _run("select * from manifests", "-f", "parquet", "-o", str(target), "--archive", aa_archive)
    assert code == 0 and pq.read_table(target).num_rows == len(manifest.load_manifests(LocalStore(aa_archive)))


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("selec 1", "Parser Error"),
        ("select * from nowhere", "nowhere"),
        ("select * from read_csv('/etc/hostname')", "disabled"),  # no file is read or written
        ("copy (select 1) to '/tmp/newsarchive-sql-escape.csv'", "disabled"),
    ],
)
def test_a_bad_query_is_one_line(aa_archive: str, query: str, says: str) -> None:
    code, out = _run(query, "--archive", aa_archive)
    assert code == 1 and out.startswith("error:") and says in out and out.strip().count("\n") <= 1, out
    assert not Path("/tmp/newsarchive-sql-escape.csv").exists()


def test_a_damaged_part_is_named_and_skipped_never_taken_as_rows(aa_archive: str, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    shutil.copytree(aa_archive, root)
    store = LocalStore(root)
    (key,) = manifest.manifest_keys(store, "aa_fr")
    path = root / key
    path.write_bytes(path.read_bytes()[:-40] + b"\0" * 40)
    code, out = _run("select count(*) as n from manifests", "-f", "jsonl", "--archive", str(root))
    assert code == 0, out
    assert f"{key}" in " ".join(out.split()) and "corrupt" in out
    assert json.loads(next(line for line in out.splitlines() if line.startswith("{"))) == {"n": 0}


def test_only_the_named_tables_are_read() -> None:
    assert set(sql.named("select * from captures join events using (capture_id)")) == {"events", "captures"}
    assert sql.named("select 1") == []
