"""The crawl through Scrapy's real download stack against the local fixture server."""

from __future__ import annotations

import gzip
import itertools
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from extract import Extractor, classify_capture
from pipeline import runs
from spiders.crawl import RunContext, run_crawl
from spiders.profile import load_profile
from storage import manifest
from storage.store import LocalStore
from storage.warcread import iter_captures
from tests.conftest import write_local_profile
from tests.fixtures.server import FixtureServer

DAY = datetime(2022, 3, 1, tzinfo=UTC)
CTX = RunContext("local_test", DAY, datetime(2022, 3, 2, tzinfo=UTC), date(2022, 3, 1))


def outcomes(rows: list[dict[str, Any]], base: str) -> dict[str, tuple[str, str | None]]:
    return {r["url"].replace(base, ""): (r["outcome"], r["reason"]) for r in rows if r.get("kind") == "article"}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory, sites: FixtureServer) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("crawl")
    profile = write_local_profile(tmp, sites.address)
    base = f"http://{sites.address}"
    store = LocalStore(tmp / "archive")
    result = run_crawl(store, CTX, profile_path=profile)
    return {"store": store, "result": result, "base": base, "profile": profile}


def test_every_url_gets_an_outcome_with_a_reason(crawled: dict[str, Any]) -> None:
    got = outcomes(crawled["result"].log_rows, crawled["base"])
    (file_url,) = [u for u in got if u.startswith("file:")]  # feedparser normalises file:/// to file://
    assert got.pop(file_url) == ("skipped", "scheme 'file' not fetched")
    assert got == {
        "/articles/good": ("archived", None),
        "/articles/flaky": ("archived", None),
        "/articles/missing": ("failed", "HTTP 404"),
        "/articles/broken": ("failed", "HTTP 500"),
        "/articles/invalid": ("archived", None),
        "/articles/old": ("archived", None),
        "/private/secret": ("skipped", "disallowed by robots.txt"),
        "https://example.org/articles/elsewhere": ("skipped", "outside the source's domains"),
        "http://127.0.0.2/articles/good": ("skipped", "IP address, not one of the source's domains"),
        "/articles/yesterday": ("skipped", "published outside the window"),
        "/articles/challenge": ("archived", None),  # the crawl got a 200; extraction knows better
        "/articles/geoblocked": ("failed", "HTTP 451"),
        "/articles/loop-a": ("failed", "redirect loop (21 hops)"),
        "/articles/huge": ("failed", "larger than the download cap of 50 MB, not downloaded"),
        "/articles/report": ("archived", None),  # a PDF: archived as served, extraction says what it is
        "/articles/photo": ("archived", None),
        "/articles/throttled": ("archived", None),  # 429 twice, Retry-After honoured, then 200
        "/articles/overloaded": ("failed", "HTTP 503 with Retry-After 3600 s, above the 300 s cap"),
        "/articles/good?utm_source=rss&utm_medium=feed#comments": (
            "skipped",
            "duplicate of a URL already discovered in this run",
        ),
    }


def test_retry_after_pauses_the_host(crawled: dict[str, Any], sites: FixtureServer) -> None:
    times = sites.times[f"{sites.address.split(':')[0]}/articles/throttled"]
    assert len(times) == 3  # two 429s, then the page
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(times)), times  # Retry-After: 1


def test_sitemap_loops_and_bad_sitemaps_are_recorded(crawled: dict[str, Any]) -> None:
    rows = [r for r in crawled["result"].log_rows if r.get("kind") == "sitemap"]
    reasons = {r["url"].replace(crawled["base"], ""): (r["outcome"], r["reason"]) for r in rows}
    assert reasons["/sitemap-loop.xml"][0] == "fetched"
    assert reasons["/sitemap.xml"] in {("fetched", None), ("skipped", "sitemap already visited (loop)")}
    assert reasons["/sitemap-broken.xml"][0] == "failed" and "malformed sitemap XML" in str(
        reasons["/sitemap-broken.xml"][1]
    )
    assert reasons["https://example.org/sitemap.xml"] == ("skipped", "outside the source's domains")


def test_every_exchange_is_in_the_warc(crawled: dict[str, Any], sites: FixtureServer) -> None:
    store: LocalStore = crawled["store"]
    (part,) = crawled["result"].parts
    seen: dict[str, list[tuple[str, int]]] = {}
    with (store.root / part).open("rb") as fh:
        for rec in ArchiveIterator(fh):
            if rec.rec_type in ("request", "response", "metadata"):
                url = rec.rec_headers.get_header("WARC-Target-URI").replace(crawled["base"], "")
                status = int(rec.http_headers.get_statuscode()) if rec.rec_type == "response" else 0
                seen.setdefault(url, []).append((rec.rec_type, status))
    responses = {u: [s for t, s in v if t == "response"] for u, v in seen.items()}
    assert responses["/robots.txt"] == [200]
    assert responses["/feed.xml"] == [200]
    assert responses["/articles/broken"] == [500, 500, 500]  # first try + 2 retries, each recorded
    assert responses["/articles/flaky"] == [503, 200]
    assert responses["/articles/missing"] == [404]
    assert responses["/articles/old"] == [301] and responses["/articles/moved"] == [200]
    assert "/private/secret" not in responses
    for url, recs in seen.items():
        kinds = [t for t, _ in recs]
        assert kinds.count("request") == kinds.count("response") == kinds.count("metadata"), url


def test_payload_is_recorded_as_sent(crawled: dict[str, Any], sites: FixtureServer) -> None:
    store: LocalStore = crawled["store"]
    (part,) = crawled["result"].parts
    caps = {c.url.replace(crawled["base"], ""): c for c in iter_captures(store.root / part)}
    good = caps["/articles/good"]
    assert good.header("Content-Encoding") == "gzip"
    assert good.payload in sites.sent["127.0.0.1/articles/good"]
    assert gzip.decompress(good.payload) == good.body
    assert good.metadata["kind"] == "article" and good.metadata["discovered_via"].endswith("/feed.xml")
    moved = caps["/articles/moved"]
    assert moved.metadata["requested_url"].endswith("/articles/old")
    assert moved.metadata["redirect_chain"][0].endswith("/articles/old")


def test_extract_commit_report_on_bad_input(crawled: dict[str, Any]) -> None:
    store: LocalStore = crawled["store"]
    crawl = crawled["result"].as_dict()
    profile = load_profile(crawled["profile"])
    ex = Extractor.from_rules(
        profile.noise.drop_selectors, profile.noise.drop_line_patterns, profile.language, profile.rules_version
    )
    extracted = runs.extract_run(store, crawl, ex, ex.info, classify_capture)
    assert extracted["counts"] == {
        "ok": 4,
        "extraction_failed": 3,
        "blocked:cloudflare": 1,
        "blocked:geo_block": 1,
    }
    committed = runs.commit_run(store, crawl, extracted)
    rows = {
        r["requested_url"].replace(crawled["base"], ""): r for r in manifest.read_manifest(store, committed["manifest"])
    }
    assert set(rows) == {
        "/articles/good",
        "/articles/flaky",
        "/articles/invalid",
        "/articles/old",
        "/articles/challenge",
        "/articles/geoblocked",
        "/articles/report",
        "/articles/photo",
        "/articles/throttled",
    }
    assert (rows["/articles/report"]["status"], rows["/articles/report"]["error"]) == (
        "extraction_failed",
        "ExtractionError: not an article page: application/pdf",
    )
    assert rows["/articles/photo"]["error"] == "ExtractionError: not an article page: image/png"
    assert (rows["/articles/challenge"]["status"], rows["/articles/challenge"]["error"]) == ("blocked", "cloudflare")
    assert rows["/articles/challenge"]["text"] is None  # never extracted
    assert (rows["/articles/geoblocked"]["status"], rows["/articles/geoblocked"]["http_status"]) == ("blocked", 451)
    assert manifest.archived_urls(store, "local_test") >= {crawled["base"] + "/articles/good"}
    assert crawled["base"] + "/articles/challenge" not in manifest.archived_urls(store, "local_test")
    assert rows["/articles/invalid"]["status"] == "extraction_failed"
    assert "binary content" in rows["/articles/invalid"]["error"]
    assert rows["/articles/invalid"]["payload_sha256"]  # the raw capture is kept and findable
    assert rows["/articles/old"]["final_url"].endswith("/articles/moved")
    assert "commentaire de lecteur" not in rows["/articles/good"]["text"]
    with pytest.raises(runs.RunAlert, match=r"block or challenge pages served.*feed/sitemap fetches failed") as alert:
        runs.report_run(store, crawl, extracted, committed, runs.Thresholds(10), (CTX.start, CTX.end))
    assert "data committed" in str(alert.value)
    report = runs.latest_report(store, "local_test", CTX.run)
    assert report is not None
    assert report["skipped_by_reason"]["disallowed by robots.txt"] == 1
    assert report["failed_by_reason"] == {
        "HTTP 404": 1,
        "HTTP 500": 1,
        "HTTP 451": 1,
        "redirect loop (21 hops)": 1,
        "larger than the download cap of 50 MB, not downloaded": 1,
        "HTTP 503 with Retry-After 3600 s, above the 300 s cap": 1,
    }
    assert report["archived"] == 7 and report["blocked"] == {"cloudflare": 1, "geo_block": 1}
    assert report["discovered_in_window"] == 15 and report["probable_gap"] is False


def test_real_hosts_are_replayed_and_capped(tmp_path: Path, sites: FixtureServer) -> None:
    """The rt_fr profile as shipped, its hosts sent to the local server; max_articles caps fetches."""
    store = LocalStore(tmp_path / "archive")
    ctx = RunContext(
        "rt_fr", datetime(2017, 6, 7, tzinfo=UTC), datetime(2017, 6, 11, tzinfo=UTC), date(2017, 6, 9), max_articles=1
    )
    result = run_crawl(store, ctx, replay=sites.replay_map())
    articles = [r for r in result.log_rows if r.get("kind") == "article"]
    assert [r["outcome"] for r in articles].count("archived") == 1
    assert sum(1 for r in articles if r["reason"] == "article cap of 1 reached") == 3
    assert all(r["url"].startswith("https://francais.rt.com/") for r in articles)
    (part,) = result.parts
    caps = list(iter_captures(store.root / part))
    assert {c.remote_ip for c in caps} == {"127.0.0.1"}
    assert {c.metadata["replayed_to"] for c in caps} == {sites.address}
    assert all(c.url.startswith("https://francais.rt.com/") for c in caps)


def test_a_dead_crawl_process_is_a_transient_error(
    tmp_path: Path, local_profile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from spiders.crawl import CrawlFailed

    monkeypatch.setattr(sys, "executable", "/bin/false")  # the crawl process dies at once
    with pytest.raises(CrawlFailed, match="exited with 1"):
        run_crawl(LocalStore(tmp_path / "a"), CTX, profile_path=local_profile)
    assert not (tmp_path / "a").exists() or not list(LocalStore(tmp_path / "a").list(""))


def test_wordpress_api_discovers_any_past_day(tmp_path: Path, sites: FixtureServer) -> None:
    """A profile with only the REST API: paginated (the site caps pages at 2 posts), windowed by date_gmt."""
    profile = tmp_path / "wp_only.yaml"
    profile.write_text(
        "id: wp_only\nname: WordPress API only\nlanguage: fr\ndomains: [lesmoutonsenrages.fr]\n"
        "wordpress_api: https://lesmoutonsenrages.fr/wp-json/wp/v2/posts\n"
        "politeness: {download_delay: 0, autothrottle: false}\n",
        encoding="utf-8",
    )
    store = LocalStore(tmp_path / "archive")
    day = RunContext("wp_only", datetime(2016, 9, 17, tzinfo=UTC), datetime(2016, 9, 18, tzinfo=UTC), date(2016, 9, 17))
    rows = run_crawl(store, day, profile_path=profile, replay=sites.replay_map()).log_rows
    api = [r for r in rows if r.get("kind") == "wp-api"]
    assert [(r["outcome"], r["entries"], r["pages"]) for r in api] == [("fetched", 2, 2), ("fetched", 1, 2)]
    assert all("after=2016-09-16T00%3A00%3A00" in r["url"] for r in api)
    articles = {r["url"].rsplit("/", 2)[-2]: (r["outcome"], r["reason"]) for r in rows if r.get("kind") == "article"}
    assert articles == {
        "le-pentagone-et-le-cessez-le-feu": ("archived", None),
        "alep-les-rebelles-rejettent-la-treve": ("skipped", "published outside the window"),
        "62-soldats-syriens-tues-dans-une-frappe-attribuee-a-la-coalition-menee-par-les-etats-unis": (
            "skipped",
            "published outside the window",
        ),
    }


SECRET = "s3cr3t-proxy-pw"


def _crawl_through_proxy(tmp_path: Path, address: str, proxy: str, monkeypatch: pytest.MonkeyPatch) -> LocalStore:
    """Crawl the local site through `proxy`, commit, and check its credentials went nowhere we write."""
    profile = write_local_profile(tmp_path, address)
    text = profile.read_text().replace(
        "politeness: {", "politeness: {proxy: {url_env: TEST_PROXY_URL, label: test-exit-1, region: FR}, "
    )
    profile.write_text(text)
    monkeypatch.setenv("TEST_PROXY_URL", proxy)
    store = LocalStore(tmp_path / "archive")
    result = run_crawl(store, CTX, profile_path=profile)
    crawl = result.as_dict()
    assert outcomes(result.log_rows, f"http://{address}")["/articles/good"] == ("archived", None)
    extracted = runs.extract_run(store, crawl, Extractor.from_rules([], [], "fr", 1), {"extraction_id": "x"})
    committed = runs.commit_run(store, crawl, extracted)
    rows = manifest.read_manifest(store, committed["manifest"])
    assert rows and {r["proxy"] for r in rows} == {"test-exit-1 (FR)"}
    import base64

    encoded = base64.b64encode(f"researcher:{SECRET}".encode())
    for key in store.list():
        data = store.get_bytes(key)
        blob = gzip.decompress(data) if key.endswith(".gz") else data
        assert SECRET.encode() not in blob and encoded not in blob, key
        assert b"Proxy-Authorization" not in blob, key
    assert SECRET not in json.dumps(crawl)  # what goes to XCom
    return store


def test_proxy_is_used_and_its_credentials_never_written(
    tmp_path: Path, sites: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fixture server doubles as the forward proxy: it sees the credentials; nothing we write does."""
    before = len(sites.proxied)
    _crawl_through_proxy(tmp_path, sites.address, f"http://researcher:{SECRET}@{sites.address}", monkeypatch)
    proxied = sites.proxied[before:]
    assert proxied and all(auth and auth.startswith("Basic ") for _, auth in proxied)  # it went through the proxy


def test_a_socks5_proxy_is_used_and_its_credentials_never_written(
    tmp_path: Path, sites: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fixtures.socks import SocksServer

    socks = SocksServer("researcher", SECRET).start()
    try:
        _crawl_through_proxy(tmp_path, sites.address, f"socks5://researcher:{SECRET}@{socks.address}", monkeypatch)
    finally:
        socks.stop()
    port = int(sites.address.rsplit(":", 1)[1])
    assert socks.connections and set(socks.connections) == {("researcher", "127.0.0.1", port)}


def test_a_proxy_profile_without_its_url_does_not_crawl(tmp_path: Path, sites: FixtureServer) -> None:
    from storage.errors import PermanentError

    profile = write_local_profile(tmp_path, sites.address)
    profile.write_text(
        profile.read_text().replace(
            "politeness: {", "politeness: {proxy: {url_env: UNSET_PROXY_URL, label: x, region: FR}, "
        )
    )
    with pytest.raises(PermanentError, match=r"\$UNSET_PROXY_URL is not set"):
        run_crawl(LocalStore(tmp_path / "archive"), CTX, profile_path=profile)


def test_feeds_and_sitemaps_are_fetched_conditionally(tmp_path: Path, sites: FixtureServer) -> None:
    """The second run sends the archived ETag, gets 304 and parses the archived body again."""
    from spiders import conditional

    profile = write_local_profile(tmp_path, sites.address)
    store = LocalStore(tmp_path / "archive")
    first = run_crawl(store, CTX, profile_path=profile)
    ex = Extractor.from_rules([], [], "fr", 1)
    runs.commit_run(store, first.as_dict(), runs.extract_run(store, first.as_dict(), ex, ex.info))
    state = conditional.load(store, "local_test")
    feed = f"http://{sites.address}/feed.xml"
    assert state[feed]["etag"] and state[feed]["warc_key"] in first.parts

    second = run_crawl(store, CTX, profile_path=profile)
    (row,) = [r for r in second.log_rows if r["url"] == feed]
    assert (row["outcome"], row.get("not_modified")) == ("fetched", True), row
    assert row["reason"] == "not modified (304): the archived body parsed again"
    (before,) = [r for r in first.log_rows if r["url"] == feed]
    assert row["entries"] == before["entries"]  # every entry seen again, from the archived body
    articles = {r["url"]: r["reason"] for r in second.log_rows if r.get("kind") == "article"}
    assert articles[f"http://{sites.address}/articles/good"] == "already archived"
    assert "archived" not in second.summary["articles"] and conditional.load(store, "local_test") == state
    # nothing new, validators kept; the run still keeps its log and the WARC of what it fetched (the 304)
    assert second.crawl_log and store.exists(second.crawl_log) and len(second.parts) == 1


def test_date_archive_pages_are_followed_through_their_pagination(tmp_path: Path, sites: FixtureServer) -> None:
    profile = tmp_path / "archive_only.yaml"
    profile.write_text(
        "id: archive_only\nname: Archive pages only\nlanguage: fr\ndomains: [www.antiguerre.fr]\n"
        "archive_pages:\n  url: 'https://www.antiguerre.fr/{year}/{month:02d}/{day:02d}/'\n"
        "  link_selector: h2.entry-title a\n  next_selector: a.next.page-numbers\n"
        "politeness: {download_delay: 0, autothrottle: false}\n",
        encoding="utf-8",
    )
    ctx = RunContext(
        "archive_only", datetime(2018, 12, 1, tzinfo=UTC), datetime(2018, 12, 3, tzinfo=UTC), date(2018, 12, 1)
    )
    result = run_crawl(LocalStore(tmp_path / "archive"), ctx, profile_path=profile, replay=sites.replay_map())
    rows = result.log_rows
    pages = [
        (r["url"].removeprefix("https://www.antiguerre.fr"), r["entries"])
        for r in rows
        if r.get("kind") == "archive-page" and r["outcome"] == "fetched"
    ]
    assert pages == [("/2018/12/01/", 1), ("/2018/12/01/page/2/", 1)]  # the sidebar's links are not the day's
    # the 2nd has no archive page (404, as WordPress answers an empty day): skipped, not failed
    (empty,) = [r for r in rows if r.get("kind") == "archive-page" and r["outcome"] != "fetched"]
    assert (empty["url"], empty["outcome"]) == ("https://www.antiguerre.fr/2018/12/02/", "skipped")
    assert result.summary["discovery_failures"] == []
    articles = {r["url"].rsplit("/", 2)[-2]: r["outcome"] for r in rows if r.get("kind") == "article"}
    assert articles == {"afghanistan-pertes-civiles": "archived", "yemen-treve-hodeida": "archived"}


def _crawl_polite_host(tmp_path: Path, politeness: str) -> tuple[list[dict[str, Any]], list[float]]:
    """Crawl a host whose robots.txt asks Crawl-delay: 1 (local profile, no delay of its own,
    `politeness` settings added): the crawl log, and the gaps between requests after robots.txt."""
    from tests.fixtures.server import SITES_DIR

    polite = FixtureServer({}, default_site=SITES_DIR / "polite").start()
    try:
        profile = write_local_profile(tmp_path, polite.address)
        # AutoThrottle on: it must not bring the delay below what robots.txt asks
        profile.write_text(profile.read_text().replace("autothrottle: false", f"autothrottle: true, {politeness}"))
        rows = run_crawl(LocalStore(tmp_path / "archive"), CTX, profile_path=profile).log_rows
    finally:
        polite.stop()
    times = sorted(t for key, ts in polite.times.items() if key != "127.0.0.1/robots.txt" for t in ts)
    return rows, [b - a for a, b in itertools.pairwise(times)]


def test_robots_crawl_delay_spaces_the_host_s_requests(tmp_path: Path) -> None:
    rows, gaps = _crawl_polite_host(tmp_path, "max_crawl_delay: 60")
    (robots,) = [r for r in rows if r.get("kind") == "robots"]
    assert (robots["crawl_delay"], robots["delay"], robots["reason"]) == (1, 1, "Crawl-delay 1 s applied")
    articles = {r["url"].rsplit("/", 1)[-1]: (r["outcome"], r["reason"]) for r in rows if r.get("kind") == "article"}
    assert articles["four"] == ("skipped", "disallowed by robots.txt")
    assert [articles[n][0] for n in ("one", "two", "three")] == ["archived"] * 3
    # the feed, the profile's (missing) sitemap and three articles, a second apart
    assert len(gaps) == 4 and min(gaps) >= 0.95, gaps


def test_a_crawl_delay_above_the_profile_s_cap_is_capped(tmp_path: Path) -> None:
    rows, gaps = _crawl_polite_host(tmp_path, "max_crawl_delay: 0.25")
    (robots,) = [r for r in rows if r.get("kind") == "robots"]
    assert (robots["crawl_delay"], robots["delay"]) == (1, 0.25)
    assert robots["reason"] == "Crawl-delay 1 s above the 0.25 s cap: 0.25 s used"
    assert min(gaps) >= 0.2, gaps


def test_two_addresses_with_one_rel_canonical_are_archived_once(tmp_path: Path) -> None:
    """A renamed article: the feed lists both addresses; the page names one canonical."""
    from tests.fixtures.server import SITES_DIR

    renamed = FixtureServer({}, default_site=SITES_DIR / "renamed").start()
    try:
        profile = write_local_profile(tmp_path, renamed.address)
        store = LocalStore(tmp_path / "archive")
        first = run_crawl(store, CTX, profile_path=profile)
        crawl = first.as_dict()
        rows = {r["url"].rsplit("/", 1)[-1]: r for r in first.log_rows if r.get("kind") == "article"}
        pair = ["1001-strike-near-airport", "1001-strike-near-airport-kills-six"]
        outcomes = sorted((rows[n]["outcome"], rows[n]["reason"]) for n in pair)
        assert outcomes == [("archived", None), ("skipped", "its rel=canonical was archived in this run")]
        kept, dup = sorted(pair, key=lambda n: rows[n]["outcome"])
        assert rows[dup]["same_as"] == rows[kept]["url"]
        assert rows["1002-another"]["outcome"] == "archived"
        # both responses are in the WARC; only one becomes an article of the archive
        (part,) = first.parts
        fetched = {c.metadata["requested_url"] for c in iter_captures(store.root / part)}
        assert {rows[n]["url"] for n in pair} <= fetched
        ex = Extractor.from_rules([], [], "en", 1)
        committed = runs.commit_run(store, crawl, runs.extract_run(store, crawl, ex, ex.info))
        urls = sorted(
            r["requested_url"].rsplit("/", 1)[-1] for r in manifest.read_manifest(store, committed["manifest"])
        )
        assert urls == sorted([kept, "1002-another"])
        assert crawl["summary"]["skipped_by_reason"] == {"its rel=canonical was archived in this run": 1}

        # the next run knows the article by its canonical address, whichever address was kept
        again = run_crawl(store, CTX, profile_path=profile)
        reasons = {r["url"].rsplit("/", 1)[-1]: r["reason"] for r in again.log_rows if r.get("kind") == "article"}
        assert reasons[kept] == "already archived" and "archived" not in again.summary["articles"], again.log_rows
        assert reasons[dup] in ("already archived", "its rel=canonical is already archived")
    finally:
        renamed.stop()


def test_the_replay_map_is_closed(tmp_path: Path) -> None:
    """A replayed crawl never reaches the network: a host the map does not name is refused and
    recorded, and nothing is sent to it."""
    from tests.hostile import HostileSite, write_profile

    site = HostileSite()
    try:
        site.publish(["a"])
        profile = write_profile(tmp_path)
        ctx = RunContext(
            "hostile_news", datetime(2024, 5, 6, tzinfo=UTC), datetime(2024, 5, 7, tzinfo=UTC), date(2024, 5, 6)
        )
        progress: list[str] = []
        result = run_crawl(
            LocalStore(tmp_path / "a"),
            ctx,
            profile_path=profile,
            replay={"other.example": site.address},
            progress=progress.append,
        )
    finally:
        site.stop()
    (feed,) = [r for r in result.log_rows if r.get("kind") == "feed"]
    assert feed["outcome"] == "skipped" and "news.example is not in the replay map" in feed["reason"]
    assert sum(site.hits.values()) == 0 and result.parts == []  # no exchange, no WARC part
    assert result.crawl_log is not None  # but the log of what was refused, and why, is archived
    assert any(line.startswith("Spider closed (finished)") for line in progress), progress  # the task's log


def test_a_canonical_that_names_no_fetched_article_keeps_nothing_out(tmp_path: Path) -> None:
    """Three articles whose template names the home page as canonical are three articles; a
    page an archived article named as its canonical is fetched when a later run lists it."""
    from tests.fixtures.server import SITES_DIR

    site = FixtureServer({}, default_site=SITES_DIR / "canonical_home").start()
    try:
        profile = write_local_profile(tmp_path, site.address)
        store = LocalStore(tmp_path / "archive")
        first = run_crawl(store, CTX, profile_path=profile)
        rows = {r["url"].rsplit("/", 1)[-1]: r for r in first.log_rows if r.get("kind") == "article"}
        assert {n: (r["outcome"], r["reason"]) for n, r in rows.items()} == {
            "2001-first": ("archived", None),
            "2002-second": ("archived", None),
            "2003-third": ("archived", None),
            "2004-names-another": ("archived", None),
        }
        # the canonical that was not trusted is recorded with the page
        assert rows["2003-third"]["canonical_not_trusted"] == f"http://{site.address}/"
        assert rows["2004-names-another"]["canonical_not_trusted"] == f"http://{site.address}/news/2005-named-only"
        ex = Extractor.from_rules([], [], "en", 1)
        crawl = first.as_dict()
        committed = runs.commit_run(store, crawl, runs.extract_run(store, crawl, ex, ex.info))
        assert len(manifest.read_manifest(store, committed["manifest"])) == 4

        later = tmp_path / "later"
        later.mkdir()
        profile2 = later / "local_test.yaml"
        profile2.write_text(profile.read_text(encoding="utf-8").replace("/feed.xml", "/feed2.xml"), encoding="utf-8")
        again = run_crawl(store, CTX, profile_path=profile2)
        rows2 = {
            r["url"].rsplit("/", 1)[-1]: (r["outcome"], r["reason"])
            for r in again.log_rows
            if r.get("kind") == "article"
        }
        assert rows2 == {"2004-names-another": ("skipped", "already archived"), "2005-named-only": ("archived", None)}
        crawl2 = again.as_dict()
        committed2 = runs.commit_run(store, crawl2, runs.extract_run(store, crawl2, ex, ex.info))
        (row,) = manifest.read_manifest(store, committed2["manifest"])
        assert row["requested_url"].endswith("/news/2005-named-only")
    finally:
        site.stop()
