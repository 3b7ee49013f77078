"""The reading room (`archive serve`) on an archive made by the DAGs: over HTTP, then in a real
browser (Playwright driving Debian's Chromium)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from researcher.catalog import Catalog, Query
from researcher.reader import Archive
from researcher.web import create_app
from storage.store import LocalStore
from tests import roomarchive
from tests.fixtures.server import FixtureServer

REPO = Path(__file__).resolve().parents[1]
URL = "https://www.aa.com.tr/fr/monde/idleb-nouvelle-offensive/1746120"


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory, dags_module: ModuleType, sites: FixtureServer) -> Path:
    return roomarchive.build(tmp_path_factory.mktemp("room") / "archive", dags_module, sites)


@pytest.fixture(scope="module")
def client(room: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    catalog = Catalog(tmp_path_factory.mktemp("roomcat") / "catalog.sqlite")
    with TestClient(create_app(Archive(LocalStore(room), catalog, refresh_each_read=False))) as c:
        yield c


def test_search_counts_facets_and_snippets(client: TestClient, room: Path) -> None:
    page = client.get("/", params={"q": "offensive"})
    assert page.status_code == 200
    cli = Archive(LocalStore(room))
    expected = cli.count(Query(text="offensive"))
    assert expected == 2
    assert f'<strong id="total">{expected}</strong>' in page.text
    assert "<mark>offensive</mark>" in page.text
    assert re.search(r'href="\?source=aa_fr&amp;q=offensive">aa_fr</a>', page.text)  # a facet keeps the query
    filtered = client.get("/", params={"source": "rt_fr", "lang": "fr"})
    assert f'<strong id="total">{cli.count(Query(sources=("rt_fr",)))}</strong>' in filtered.text
    assert "aa_fr ·" not in filtered.text


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"source": "nope"}, 400, "unknown source &#39;nope&#39;; the archive holds: aa_fr, rt_fr"),
        ({"from": "last tuesday"}, 400, "published from: &#39;last tuesday&#39; is not a date (YYYY-MM-DD)"),
        ({"from": "2020-03-01", "to": "2020-02-01"}, 400, "published date range is inverted"),
        ({"q": '""'}, 400, "nothing to search for"),
        ({"status": "deleted"}, 400, "unknown status &#39;deleted&#39;"),
        ({"page": "two"}, 400, "page: &#39;two&#39; is not a page number from 1 to 500"),
        ({"page": "9223372036854775807"}, 400, "page: &#39;9223372036854775807&#39; is not a page number from 1"),
        ({"page": "0"}, 400, "page: &#39;0&#39; is not a page number"),
        ({"page": "-3"}, 400, "page: &#39;-3&#39; is not a page number"),
        ({"q": "word " * 33}, 400, "text query of 33 words; at most 32"),
        ({"q": "x" * 1001}, 400, "text query of 1,001 characters; at most 1,000"),
        ({"title": " ".join(f"w{i}" for i in range(33))}, 400, "title query of 33 words; at most 32"),
        ({"url": "https://x/" + "a" * 2100}, 400, "URL prefix of 2,110 characters; at most 2,048"),
        ({"lang": "<script>"}, 400, "language &#39;&lt;script&gt;&#39; is not a language tag"),
        ({"sort": "rank"}, 400, "sorting by rank needs a text or title query"),
    ],
)
def test_bad_input_is_one_visible_line(client: TestClient, params: dict[str, str], status: int, message: str) -> None:
    page = client.get("/", params=params)
    assert page.status_code == status
    assert f'<p role="alert" class="error">{message}' in page.text
    assert "Traceback" not in page.text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/diff", "a: field required; b: field required"),
        ("/diff?a=x", "b: field required"),
        ("/go", "url: field required"),
        ("/capture/x/raw?exact=maybe", "exact: input should be a valid boolean"),
    ],
)
def test_missing_or_malformed_parameters_are_the_room_s_own_400_page(
    client: TestClient, path: str, message: str
) -> None:
    page = client.get(path)
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert f'<p role="alert" class="error">{message}' in page.text


def test_every_route_answers_head_and_sends_the_hardening_headers(client: TestClient) -> None:
    """Each route of the app, GET and HEAD: nosniff, framing only by the room itself, never a 405."""
    from starlette.routing import Mount, Route

    capture = _capture_ids(client)[0]
    samples = {
        "capture_id": capture,
        "source": "aa_fr",
        "rest:path": f"timemap/link/{URL}",  # /web/...: TimeMaps, mementos, the TimeGate, pywb's CDX
    }
    extra = {
        "/diff": f"?a={capture}&b={capture}",
        "/go": f"?url={quote(URL)}",
        "/export": "?format=csv",
        "/cdx/search/cdx": f"?url={quote(URL)}",
        "/api/v1/search": "?q=Idleb",
        "/api/v1/versions": f"?url={quote(URL)}",
        "/api/v1/diff": f"?a={capture}&b={capture}",
        "/api/v1/coverage/{source_id}": "",
    }
    samples["source_id"] = "aa_fr"
    paths = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            paths.append(route.path + "/room.css")
        elif isinstance(route, Route):
            path = route.path
            for name, value in samples.items():
                path = path.replace("{" + name + "}", value)
            paths.append(path + extra.get(route.path, ""))
    assert len(paths) >= 12
    for path in paths:
        got = client.get(path)
        head = client.head(path)
        assert got.status_code == 200, (path, got.status_code)
        assert head.status_code == 200, (path, head.status_code)
        assert head.content == b""
        for r in (got, head):
            assert r.headers["x-content-type-options"] == "nosniff", path
            assert r.headers["x-frame-options"] == "SAMEORIGIN", path
            assert "frame-ancestors 'self'" in r.headers["content-security-policy"], path
    replay = client.get(f"/capture/{capture}/raw")
    # the replay keeps its sandbox: no script, nothing fetched; only a click may move the top window
    assert replay.headers["content-security-policy"].startswith("sandbox allow-top-navigation-by-user-activation;")


def test_searches_past_the_queue_are_refused_with_retry_after(
    room: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Full-text searches wait for a turn; past SEARCH_QUEUE waiting they are refused at once
    (503, Retry-After), while filter-only pages and a capture's pages are answered."""
    import researcher.web

    monkeypatch.setattr(researcher.web, "SEARCH_QUEUE", 0)  # every full-text search finds the queue full
    with TestClient(create_app(Archive(LocalStore(room), Catalog(tmp_path / "c.sqlite")))) as c:
        busy = c.get("/", params={"q": "offensive"})
        assert busy.status_code == 503 and busy.headers["retry-after"] == "60"
        assert "searches are waiting; try again in a minute" in busy.text
        assert c.get("/", params={"source": "aa_fr"}).status_code == 200
        assert c.get("/export", params={"format": "jsonl"}).status_code == 503


def _capture_ids(client: TestClient) -> list[str]:
    lines = client.get("/export", params={"format": "jsonl", "source": "aa_fr", "status": ["ok", "blocked"]}).text
    return [json.loads(x)["capture_id"] for x in lines.splitlines()]


def test_article_page_cites_and_shows_provenance_and_versions(client: TestClient, room: Path) -> None:
    row = next(r for r in Archive(LocalStore(room)).versions(URL) if r["status"] == "ok")
    page = client.get(f"/capture/{row['capture_id']}")
    assert page.status_code == 200
    for part in (
        row["title"],
        row["payload_sha256"],
        row["warc_key"],
        "offensive à Idleb",
        "blocked",
        "diff with this one",
    ):
        assert part.replace("’", "’") in page.text
    bib = client.get(f"/capture/{row['capture_id']}/cite.bib").text
    assert bib.startswith("@online{aa_fr_20200226_") and f"url = {{{URL}}}" in bib and row["capture_id"] in bib
    [item] = client.get(f"/capture/{row['capture_id']}/cite.json").json()
    assert item["type"] == "article-newspaper" and item["issued"] == {"date-parts": [[2020, 2, 26]]}
    assert item["URL"] == URL and row["payload_sha256"] in item["note"]
    assert client.get("/capture/nope").status_code == 404


def test_replay_is_sandboxed_checked_and_links_stay_in_the_archive(client: TestClient, room: Path) -> None:
    a = Archive(LocalStore(room))
    blocked, good = a.versions(URL)
    raw = client.get(f"/capture/{good['capture_id']}/raw")
    csp = raw.headers["content-security-policy"]
    assert csp.startswith("sandbox allow-top-navigation-by-user-activation;") and "default-src 'none'" in csp
    assert "script-src" not in csp and "allow-scripts" not in csp
    assert raw.headers["x-content-type-options"] == "nosniff"
    ts = good["fetched_at"][:19].replace("-", "").replace(":", "").replace("T", "")
    assert f'href="/web/{ts}/https://www.aa.com.tr/fr/monde" target="_top"' in raw.text  # the Wayback scheme
    assert 'href="https://www.aa.com.tr/fr/monde"' not in raw.text
    exact = client.get(f"/capture/{good['capture_id']}/raw", params={"exact": "1"})
    assert exact.content == a.decoded(good["capture_id"])  # the bytes as archived, still sandboxed
    assert exact.headers["content-security-policy"] == csp
    archived = client.get("/go", params={"url": URL}, follow_redirects=False)
    assert archived.status_code == 302 and archived.headers["location"] == f"/capture/{good['capture_id']}/raw"
    missing = client.get("/go", params={"url": "https://www.aa.com.tr/fr/monde"})
    assert missing.status_code == 404 and "not in the archive" in missing.text
    assert missing.headers["content-security-policy"] == csp
    diff = client.get("/diff", params={"a": blocked["capture_id"], "b": good["capture_id"]})
    assert diff.status_code == 200 and "diff_add" in diff.text and "Le deuxième paragraphe" in diff.text


def test_a_payload_that_does_not_match_its_digest_is_not_served(tmp_path: Path, room: Path) -> None:
    copy = tmp_path / "archive"
    shutil.copytree(room, copy)
    a = Archive(LocalStore(copy))
    good = a.versions(URL)[-1]
    warc = copy / good["warc_key"]
    data = bytearray(warc.read_bytes())
    data[good["warc_offset"] + good["warc_length"] - 30] ^= 0xFF  # inside the gzip member of its record
    warc.chmod(0o644)
    warc.write_bytes(bytes(data))
    with TestClient(create_app(Archive(LocalStore(copy), Catalog(tmp_path / "c.sqlite")))) as c:
        page = c.get(f"/capture/{good['capture_id']}/raw")
    assert page.status_code in (400, 503), page.text
    assert good["capture_id"] in page.text, re.findall(r"role=.alert.*", page.text)
    assert "Idleb" not in page.text.split("<main", 1)[1].split('role="alert"')[0]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "wacz"])
def test_export_of_the_result_set(client: TestClient, room: Path, fmt: str) -> None:
    q = {"q": "Idleb", "format": fmt}
    got = client.get("/export", params=q)
    assert got.status_code == 200
    expected = Archive(LocalStore(room)).count(Query(text="Idleb"))
    assert got.headers["x-rows"] == str(expected)
    assert f"archive-export.{fmt}" in got.headers["content-disposition"]
    if fmt == "jsonl":
        assert len(got.text.splitlines()) == expected
    elif fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(got.text)))) == expected
    elif fmt == "parquet":
        assert pq.read_table(io.BytesIO(got.content)).num_rows == expected
    else:
        assert got.content[:2] == b"PK"


def test_coverage_marks_what_the_reports_say(client: TestClient) -> None:
    index = client.get("/coverage")
    assert 'href="/coverage/aa_fr"' in index.text and 'href="/coverage/rt_fr"' in index.text
    page = client.get("/coverage/aa_fr")
    assert page.status_code == 200 and "<svg" in page.text
    # the fixture site publishes one article a day where the profile expects dozens
    assert "Probable gaps" in page.text and "2020-02-26, 2020-02-27, 2020-02-28, 2020-02-29" in page.text
    assert client.get("/coverage/nope").status_code == 400


def test_the_reading_room_never_writes_to_the_archive(client: TestClient, room: Path) -> None:
    before = snapshot(room)
    for path in ("/", "/?q=Idleb", "/coverage/aa_fr", "/export?format=wacz", f"/go?url={quote(URL)}"):
        assert client.get(path).status_code == 200
    assert snapshot(room) == before


# -- in a real browser -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(room: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "NEWSARCHIVE_CACHE": str(tmp_path_factory.mktemp("cache"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "researcher.cli", "serve", "--archive", str(room), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read().decode() if proc.stdout else "serve exited") from None
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def test_a_researcher_searches_filters_reads_replays_compares_and_exports(
    browser_page: Any, server: str, room: Path, tmp_path: Path
) -> None:
    page, steps, outside = browser_page
    from playwright.sync_api import expect

    page.goto(server)
    steps.shot("home")
    page.get_by_label("Words in title or text").fill("Idleb")
    page.keyboard.press("Enter")
    page.wait_for_url("**/?q=Idleb*")
    expected = Archive(LocalStore(room)).count(Query(text="Idleb"))
    expect(page.locator("#total")).to_have_text(str(expected))
    expect(page.locator(".snippet mark").first).to_have_text("Idleb")
    steps.shot("results")

    page.get_by_role("complementary", name="Facets").get_by_role("link", name="aa_fr").click()
    expect(page.locator("#total")).to_have_text(
        str(Archive(LocalStore(room)).count(Query(text="Idleb", sources=("aa_fr",))))
    )
    steps.shot("filtered")

    with page.expect_download() as download:
        page.get_by_role("link", name="JSONL").click()
    saved = tmp_path / "export.jsonl"
    download.value.save_as(saved)
    rows = [json.loads(x) for x in saved.read_text().splitlines()]
    assert len(rows) == int(page.locator("#total").inner_text()) and {r["source_id"] for r in rows} == {"aa_fr"}

    page.get_by_role("link", name="Idleb : le régime lance une nouvelle offensive").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Idleb : le régime lance une nouvelle offensive")
    assert "newsarchive capture" in page.get_by_label("Citation").input_value()
    steps.shot("article")

    page.get_by_role("link", name="View the archived page").click()
    frame = page.frame_locator("iframe.replay")
    expect(frame.get_by_role("heading", level=1)).to_have_text("Idleb : le régime lance une nouvelle offensive")
    steps.shot("replay")
    frame.get_by_role("link", name="Monde").click()  # a link in the archived page: stays in the archive
    page.wait_for_url("**/web/*/https://www.aa.com.tr/fr/monde*")  # the top window: address and banner follow
    expect(page.get_by_role("alert")).to_contain_text("is not in the archive")
    steps.shot("replay-link")
    page.go_back()

    page.get_by_role("link", name="Back to the article").click()
    page.get_by_role("link", name="diff with this one").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("What changed between two captures")
    expect(page.locator("table.diff")).to_contain_text("Le deuxième paragraphe")
    steps.shot("diff")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Coverage").click()
    page.get_by_role("link", name="aa_fr").click()
    expect(page.locator("figure.chart svg")).to_be_visible()
    expect(page.locator("#gaps")).to_contain_text("2020-02-26")
    steps.shot("coverage")
    assert outside == []  # nothing was fetched from anywhere but the reading room


def test_concurrent_requests_to_a_real_server_get_the_answers_of_sequential_ones(server: str) -> None:
    """`archive serve` answers on a pool of threads with a catalog connection each: eight
    clients asking at once get exactly what one client asking in turn gets, a costliest-size
    search included, and a page asked meanwhile is answered."""
    import threading
    import urllib.error
    import urllib.request
    from urllib.parse import urlencode

    from researcher.catalog import MAX_QUERY_WORDS

    def fetch(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(server + path, timeout=60) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    words = (["offensive", "idleb", "régime", "le", "la", "de"] * 6)[:MAX_QUERY_WORDS]
    paths = ["/?q=offensive", "/?source=aa_fr", "/coverage", "/?" + urlencode({"q": " ".join(words)})]
    paths.append("/?" + urlencode({"q": "x " * 40}))
    expected = {p: fetch(p) for p in paths}
    assert expected["/?" + urlencode({"q": "x " * 40})][0] == 400
    got: list[tuple[str, tuple[int, str]]] = []

    def client(i: int) -> None:
        for n in range(6):
            p = paths[(i + n) % len(paths)]
            got.append((p, fetch(p)))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    assert fetch("/")[0] == 200
    for t in threads:
        t.join()
    assert len(got) == 48
    for p, answer in got:
        assert answer == expected[p], p


def test_keyboard_only_and_a_bad_date_is_said_on_the_page(browser_page: Any, server: str) -> None:
    page, steps, _ = browser_page
    from playwright.sync_api import expect

    page.goto(server)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # from the skipped-to main: into the search form
    expect(page.get_by_label("Words in title or text")).to_be_focused()
    page.keyboard.type("frappe")
    page.keyboard.press("Enter")
    expect(page.locator("#total")).not_to_have_text("0")
    steps.shot("keyboard-search")
    page.goto(server + "/?from=2020-13-45")
    expect(page.get_by_role("alert")).to_have_text("published from: '2020-13-45' is not a date (YYYY-MM-DD)")
    steps.shot("bad-date")
