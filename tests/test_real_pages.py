"""Real pages (tests/fixtures/real): the corpus is intact, the quality gate holds on it and only
ratchets up, and a real homepage met at an article's address is archived as `not_article`
by a real crawl (Scrapy against the fixture server), extraction and commit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from extract import ExtractionError, Extractor, NoiseRules, NotAnArticle, classify_capture, extract_document
from pipeline import runs
from spiders.crawl import RunContext, run_crawl
from storage import manifest
from storage.store import LocalStore
from tests.bench.quality import gate_figures, targets
from tests.bench.real import BARE_DEFAULTS, BARE_PRECISION, EXTRACTORS, PIPELINE, evaluate_real
from tests.conftest import write_local_profile
from tests.fixtures.real import REAL, load_pages, split
from tests.fixtures.real import manifest as corpus_manifest
from tests.fixtures.server import SITES_DIR, FixtureServer, fixture_server

FLOORS = json.loads((REAL / "floor.json").read_text())
ARTICLES = [p for p in load_pages() if p.kind == "article"]


@cache
def result() -> dict[str, Any]:
    """The pipeline and the two bare trafilatura configurations the targets name, over the
    whole corpus, once per test session (not at collection); no bootstrap intervals."""
    extractors = {name: EXTRACTORS[name] for name in (PIPELINE, BARE_DEFAULTS, BARE_PRECISION)}
    return evaluate_real(extractors, resamples=0)


def test_every_page_has_its_origin_and_licence() -> None:
    licences = {p.name for p in (REAL / "LICENSES").iterdir()}
    for entry in corpus_manifest():
        origin = entry["origin"]
        assert origin["repository"] and len(origin["commit"]) == 40 and origin["path"], entry["id"]
        assert origin["licence"] in {"Apache-2.0", "MIT", "L3S-GN1 research use"}, entry["id"]
        assert any(origin["repository"].replace("/", "-") in name for name in licences), entry["id"]
    assert len(load_pages()) >= 700  # load_pages checks every page's sha256 against the manifest


def test_each_site_is_on_one_side_of_the_split_and_both_halves_are_large() -> None:
    sides: dict[str, set[str]] = {}
    for entry in corpus_manifest():
        sides.setdefault(split.site(entry), set()).add(split.half(split.site(entry)))
    assert all(len(s) == 1 for s in sides.values())
    for collection in {e["collection"] for e in corpus_manifest()}:
        halves = [split.half(split.site(e)) for e in corpus_manifest() if e["collection"] == collection]
        assert min(halves.count(split.DEV), halves.count(split.EVAL)) >= 20, collection


@pytest.mark.parametrize("figure", sorted(FLOORS))
def test_real_page_figures_hold_the_ratcheted_floor(figure: str) -> None:
    """`make bench-quality RATCHET=1` (python -m tests.bench.quality --ratchet) raises these floors."""
    assert gate_figures(result())[figure] >= FLOORS[figure]


def test_on_every_evaluation_half_the_pipeline_meets_the_targets_beside_bare_trafilatura() -> None:
    """F1 at or above bare favor_precision's, recall no more than 0.01 below bare defaults'."""
    missed = [f"{t['target']}: {t['figure']}" for t in targets(result()) if t["eval"] and not t["met"]]
    assert not missed, missed


def test_no_real_article_is_refused_and_none_is_spoiled() -> None:
    """No article of any collection is taken for a listing, and on no page does the pipeline
    score FAR_BELOW under bare trafilatura (a generic rule deleting the article)."""
    cfg = result()["configs"][PIPELINE]
    assert sum(cfg["refused_articles"].values()) == 0, cfg["refused_articles"]
    assert all(v["pages"] == 0 for v in result()["far_below_bare"].values()), result()["far_below_bare"]


def test_no_article_is_a_block_page() -> None:
    for page in ARTICLES:
        assert classify_capture(200, page.html, "text/html") is None, page.id


def test_every_marked_lead_is_kept() -> None:
    leads = [g["leads_kept"].split("/") for k, g in result()["configs"][PIPELINE]["groups"].items() if k[:4] != "ALL/"]
    kept, of = sum(int(k) for k, _ in leads), sum(int(o) for _, o in leads)
    assert kept == of and of >= 10


@pytest.mark.parametrize("page", [p for p in load_pages() if p.kind != "article"], ids=lambda p: p.id)
def test_real_homepages_are_not_articles(page: Any) -> None:
    with pytest.raises(NotAnArticle, match="listing"):
        extract_document(page.html, page.url, NoiseRules(), content_type="text/html")


@pytest.fixture
def own_sites() -> Iterator[FixtureServer]:
    """A server of its own: the shared one counts hits per address for other modules' tests."""
    srv = fixture_server(default_site=SITES_DIR / "local")
    yield srv
    srv.stop()


def test_a_homepage_at_an_article_address_is_archived_as_not_article(tmp_path: Path, own_sites: FixtureServer) -> None:
    """Whatever led the crawler there (here: a feed entry whose address now answers with the
    site's front page), the capture is kept raw and recorded as `not_article`, never `ok`."""
    sites = own_sites
    homepage = next(p for p in load_pages() if p.id == "newspaper/cnn_main_site")
    key = "127.0.0.1/articles/good"
    sites.overrides[key] = {"body": homepage.html.decode("utf-8", "replace")}
    try:
        profile = write_local_profile(tmp_path, sites.address)
        store = LocalStore(tmp_path / "archive")
        ctx = RunContext(
            "local_test", datetime(2022, 3, 1, tzinfo=UTC), datetime(2022, 3, 2, tzinfo=UTC), date(2022, 3, 1)
        )
        crawl = run_crawl(store, ctx, profile_path=profile).as_dict()
    finally:
        sites.overrides.pop(key, None)
    extracted = runs.extract_run(store, crawl, Extractor.from_rules([], [], "fr", 1), {"extraction_id": "x"})
    committed = runs.commit_run(store, crawl, extracted)
    rows = {
        r["requested_url"].split(sites.address)[-1]: r for r in manifest.read_manifest(store, committed["manifest"])
    }
    row = rows["/articles/good"]
    assert row["status"] == "not_article"
    assert row["warc_key"] and row["payload_sha256"]  # the raw capture is in the archive
    assert extracted["counts"]["not_article"] == 1
    assert "ok" in {r["status"] for r in rows.values()}  # the other articles are untouched
    with pytest.raises(ExtractionError):  # and reprocessing says the same
        extract_document(homepage.html, "http://127.0.0.1/articles/good", NoiseRules(), content_type="text/html")
