"""The reprocess DAG: re-extract an archive made by the crawl DAG, fetching nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from typer.testing import CliRunner

from researcher.cli import app
from researcher.reader import Archive
from spiders.profile import PROFILES_DIR
from storage import manifest
from storage.store import LocalStore
from tests.fixtures.server import FixtureServer
from tests.test_dag_e2e import LOGICAL, SEED_URL, WIDE

DROPPED = "Le 6 juin, une frappe de la coalition menée par Washington"


def snapshot(store: LocalStore) -> dict[str, bytes]:
    return {k: store.get_bytes(k) for k in store.list("")}


def test_changing_a_noise_rule_changes_the_clean_text_and_nothing_else(
    dags_module: ModuleType, sites: FixtureServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalStore(tmp_path / "archive")
    monkeypatch.setenv("ARCHIVE_URL", store.url)
    monkeypatch.setenv("NEWSARCHIVE_REPLAY", json.dumps(sites.replay_map()))
    assert dags_module.news_rt_fr.test(logical_date=LOGICAL, run_conf=WIDE).state == "success"
    before = snapshot(store)
    archive = Archive(store)
    old_rows = {r["final_url"]: r for r in archive.search_all()}
    seed_old = old_rows[SEED_URL]
    assert DROPPED in seed_old["text"]

    # a reviewer adds a line rule to the RT profile; the DAG reads profiles when it runs
    profiles = tmp_path / "profiles"
    shutil.copytree(PROFILES_DIR, profiles)
    rt = profiles / "rt_fr.yaml"
    rt.write_text(rt.read_text().replace('    - "^Lire aussi ?:"', '    - "^Lire aussi ?:"\n    - "^Le 6 juin"'))
    monkeypatch.setenv("NEWSARCHIVE_PROFILES", str(profiles))
    conf = {"source_id": "rt_fr", "date_from": "2017-06-09", "date_to": "2017-06-09"}
    assert dags_module.news_reprocess.test(run_conf=conf).state == "success"

    after = snapshot(store)
    assert {k: v for k, v in after.items() if k in before} == before, "nothing that existed may change"
    added = sorted(set(after) - set(before))
    new_xid = next(r for r in archive.search_all() if r["final_url"] == SEED_URL)["extraction_id"]
    assert new_xid != seed_old["extraction_id"]
    assert added == sorted(
        ["manifests/source=rt_fr/0000000002.parquet"]  # the re-extraction is the source's next commit
        + [r["clean_key"].replace(r["extraction_id"], new_xid) for r in old_rows.values()]
    )

    new_rows = {r["final_url"]: r for r in archive.search_all()}
    for url, old in old_rows.items():
        new = new_rows[url]
        if url == SEED_URL:
            assert new["text"].splitlines() == [x for x in old["text"].splitlines() if not x.startswith("Le 6 juin")]
        else:
            assert new["text"] == old["text"]
        assert new["payload_sha256"] == old["payload_sha256"] and new["warc_offset"] == old["warc_offset"]
        assert new["fetched_at"] == old["fetched_at"] and new["airflow_run_id"] == old["airflow_run_id"]
        assert '"^Le 6 juin"' in new["extractor_settings"]

    # the latest is shown by default; the earlier extraction on request
    runner = CliRunner()
    shown = json.loads(runner.invoke(app, ["show", seed_old["capture_id"], "--archive", store.url]).stdout)
    assert DROPPED not in shown["text"] and len(shown["extractions"]) == 2
    earlier = runner.invoke(
        app, ["show", seed_old["capture_id"], "-x", seed_old["extraction_id"], "--archive", store.url]
    )
    assert DROPPED in json.loads(earlier.stdout)["text"]

    # idempotent: the same reprocess again adds and changes nothing
    assert dags_module.news_reprocess.test(run_conf=conf).state == "success"
    assert snapshot(store) == after
    assert len(manifest.manifest_keys(store, "rt_fr")) == 2
