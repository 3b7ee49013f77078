"""The archive through researchers' own tools: Wayback URLs, the CDX server API in pywb's and
the Wayback Machine's forms, and Memento, on an archive made by the DAGs (aa_fr with a
blocked then a good capture of one article, rt_fr captured and then re-checked, so each of
its articles has two captures). Over HTTP with the app, then with clients nobody here wrote:
cdx_toolkit and the Memento project's memento_client, against `archive serve`'s app on a
real socket."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from starlette.testclient import TestClient

from researcher.catalog import Catalog
from researcher.reader import Archive
from researcher.web import create_app
from storage.store import LocalStore
from tests import roomarchive
from tests.bench.room_load import serving
from tests.fixtures.server import FixtureServer
from tests.s3server import free_port

RT = "https://francais.rt.com/international/38871-etats-unis-frappent-nouveau-forces-pro-gouvernementales-syrie-drone"
AA = "https://www.aa.com.tr/fr/monde/idleb-nouvelle-offensive/1746120"


@pytest.fixture(scope="module")
def archive_root(tmp_path_factory: pytest.TempPathFactory, dags_module: ModuleType, sites: FixtureServer) -> Path:
    """The reading room's archive, then rt_fr's window re-checked: two captures per article."""
    import os

    root = roomarchive.build(tmp_path_factory.mktemp("wayback") / "archive", dags_module, sites)
    before = {k: os.environ.get(k) for k in ("ARCHIVE_URL", "NEWSARCHIVE_REPLAY")}
    os.environ["ARCHIVE_URL"] = root.resolve().as_uri()
    os.environ["NEWSARCHIVE_REPLAY"] = json.dumps(sites.replay_map())
    try:
        run = dags_module.news_rt_fr.test(
            logical_date=datetime(2017, 6, 20, tzinfo=UTC), run_conf={**roomarchive.RT_WINDOW, "recheck": True}
        )
        assert run.state == "success"
    finally:
        for k, v in before.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    return root


@pytest.fixture(scope="module")
def archive(archive_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Archive:
    catalog = Catalog(tmp_path_factory.mktemp("wbcat") / "catalog.sqlite")
    return Archive(LocalStore(archive_root), catalog, refresh_each_read=False)


@pytest.fixture(scope="module")
def client(archive: Archive) -> Iterator[TestClient]:
    with TestClient(create_app(archive)) as c:
        yield c


def _wayback(client: TestClient, **params: Any) -> Any:
    r = client.get("/cdx/search/cdx", params={"output": "json", **params})
    assert r.status_code == 200, r.text
    rows = r.json()
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]] if rows else []


def _pywb(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    r = client.get("/web/cdx", params={"output": "json", **params})
    assert r.status_code in (200, 404), r.text
    return [json.loads(line) for line in r.text.splitlines()] if r.status_code == 200 else []


# -- the CDX API ------------------------------------------------------------------------------


def test_wayback_form_lists_every_capture_of_a_url_oldest_first(client: TestClient, archive: Archive) -> None:
    r = client.get("/cdx/search/cdx", params={"url": RT, "output": "json"})
    rows = r.json()
    assert rows[0][:7] == ["urlkey", "timestamp", "original", "mimetype", "statuscode", "digest", "length"]
    lines = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(lines) == 2 and lines[0]["timestamp"] < lines[1]["timestamp"]
    assert {x["original"] for x in lines} == {RT} and {x["statuscode"] for x in lines} == {"200"}
    assert lines[0]["urlkey"] == "com,rt,francais)/international/" + RT.rsplit("/", 1)[1]
    assert lines[0]["mimetype"] == "text/html" and lines[0]["source"] == "rt_fr"
    row = archive.locate(lines[0]["capture_id"])
    assert lines[0]["digest"] == "sha256:" + row["payload_sha256"] and lines[0]["filename"] == row["warc_key"]
    assert (lines[0]["offset"], lines[0]["length"]) == (str(row["warc_offset"]), str(row["warc_length"]))
    assert lines[0]["text_digest"] == row["text_sha256"] and lines[0]["capture_status"] == "ok"
    text = client.get("/cdx/search/cdx", params={"url": RT}).text.splitlines()
    assert len(text) == 2 and all(len(t.split(" ")) == 7 for t in text)


def test_pywb_form_names_fields_its_way_one_object_a_line(client: TestClient) -> None:
    lines = _pywb(client, url=RT)
    assert len(lines) == 2
    assert {"urlkey", "timestamp", "url", "mime", "status", "digest", "length", "offset", "filename"} <= set(lines[0])
    assert "original" not in lines[0] and lines[0]["url"] == RT and lines[0]["status"] == "200"
    cdxj = client.get("/web/cdx", params={"url": RT}).text.splitlines()
    key, ts, rest = cdxj[0].split(" ", 2)
    assert key == lines[0]["urlkey"] and ts == lines[0]["timestamp"] and json.loads(rest)["url"] == RT


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"url": "francais.rt.com", "matchType": "host"}, 8),  # 4 articles x 2 captures (+ no others)
        ({"url": "*.rt.com"}, 8),
        ({"url": "rt.com", "matchType": "domain"}, 8),
        ({"url": "francais.rt.com/international/*"}, None),
        ({"url": "www.aa.com.tr", "matchType": "host"}, None),
        ({"url": RT, "limit": "1"}, 1),
    ],
)
def test_match_types_and_ranges(client: TestClient, params: dict[str, str], expected: int | None) -> None:
    lines = _wayback(client, **params)
    if expected is not None:
        assert len(lines) == expected, lines
    else:
        assert lines
    if params.get("matchType") == "host" or params["url"].startswith("*."):
        assert all("francais.rt.com" in x["original"] or "aa.com.tr" in x["original"] for x in lines)


def test_prefix_and_host_do_not_leak_into_neighbours(client: TestClient) -> None:
    prefix = _wayback(client, url="francais.rt.com/international/*")
    assert prefix and all(x["original"].startswith("https://francais.rt.com/international/") for x in prefix)
    aa = _wayback(client, url="aa.com.tr", matchType="domain")
    assert aa and all("aa.com.tr" in x["original"] for x in aa)
    assert not _wayback(client, url="francais.rt.co", matchType="domain")


def test_order_limit_closest_and_time_bounds(client: TestClient) -> None:
    both = _wayback(client, url=RT)
    first, last = both[0]["timestamp"], both[1]["timestamp"]
    assert [x["timestamp"] for x in _wayback(client, url=RT, sort="reverse")] == [last, first]
    assert [x["timestamp"] for x in _wayback(client, url=RT, limit="-1")] == [last]
    assert [x["timestamp"] for x in _wayback(client, url=RT, sort="closest", closest=last, limit="1")] == [last]
    assert [x["timestamp"] for x in _wayback(client, url=RT, sort="closest", closest="2000")] == [first, last]
    assert [x["timestamp"] for x in _wayback(client, url=RT, **{"from": last})] == [last]
    assert [x["timestamp"] for x in _wayback(client, url=RT, to=first)] == [first]
    year = first[:4]  # captured now (the fixture sites replay old articles)
    assert len(_wayback(client, url=RT, **{"from": year, "to": year})) == 2
    assert not _wayback(client, url=RT, to="2017")


def test_filters_fields_and_collapse(client: TestClient) -> None:
    blocked = _wayback(client, url="www.aa.com.tr", matchType="host", filter="capture_status:blocked")
    assert (
        len(blocked) == 1 and blocked[0]["statuscode"] == "403" and blocked[0]["original"] == AA
    )  # listed, true status
    not_blocked = _wayback(client, url=AA, filter="!statuscode:403")
    assert [x["statuscode"] for x in not_blocked] == ["200"]
    assert _wayback(client, url="aa.com.tr", matchType="domain", filter="~original:idleb")
    both = _wayback(client, url="rt.com", matchType="domain", filter=["statuscode:200", "~original:syrie"])
    assert both and all("syrie" in x["original"] for x in both)
    fl = client.get("/cdx/search/cdx", params={"url": RT, "fl": "timestamp,original"}).text.splitlines()
    assert all(line.split(" ")[1] == RT and len(line.split(" ")) == 2 for line in fl)
    per_url = _wayback(client, url="francais.rt.com", matchType="host", collapse="urlkey")
    assert len(per_url) == 4 and len({x["urlkey"] for x in per_url}) == 4
    assert len(_pywb(client, url="francais.rt.com", matchType="host", collapse="urlkey")) == 8  # pywb has no collapse


def test_paging_as_each_original_pages(client: TestClient) -> None:
    pages = client.get(
        "/cdx/search/cdx", params={"url": "rt.com", "matchType": "domain", "showNumPages": "true", "pageSize": "3"}
    )
    assert pages.text.strip() == "3"  # 8 lines, 3 a page
    pywb = client.get("/web/cdx", params={"url": "*.rt.com", "showNumPages": "true", "pageSize": "3"}).json()
    assert pywb["blocks"] == 3
    seen = []
    for page in range(3):
        seen += _wayback(client, url="*.rt.com", page=str(page), pageSize="3")
    assert len(seen) == 8 and len({x["capture_id"] for x in seen}) == 8
    past = client.get("/cdx/search/cdx", params={"url": "*.rt.com", "page": "3", "pageSize": "3", "output": "json"})
    assert past.status_code == 200 and past.text == ""  # the Wayback Machine: an empty page is the end
    assert client.get("/web/cdx", params={"url": "*.rt.com", "page": "3", "pageSize": "3"}).status_code == 400


@pytest.mark.parametrize(
    ("path", "params", "says"),
    [
        ("/cdx/search/cdx", {}, "url is required"),
        ("/cdx/search/cdx", {"url": RT, "from": "2017-06"}, "from/to"),
        ("/cdx/search/cdx", {"url": RT, "matchType": "everything"}, "matchType"),
        ("/cdx/search/cdx", {"url": RT, "filter": "statuscode:("}, "not a regular expression"),
        ("/cdx/search/cdx", {"url": RT, "filter": "nofield"}, "field:regex"),
        ("/cdx/search/cdx", {"url": RT, "fl": "timestamp,bogus"}, "unknown field 'bogus'"),
        ("/cdx/search/cdx", {"url": RT, "limit": "many"}, "limit"),
        ("/cdx/search/cdx", {"url": RT, "sort": "closest"}, "closest="),
        ("/cdx/search/cdx", {"url": "rt.com", "matchType": "domain", "sort": "closest", "closest": "2017"}, "exact"),
        ("/web/cdx", {"url": RT, "pageSize": "0"}, "pageSize"),
        ("/web/cdx", {"url": RT, "output": "xml"}, "output"),
    ],
)
def test_malformed_cdx_requests_are_400_naming_the_parameter(
    client: TestClient, path: str, params: dict[str, str], says: str
) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 400 and says in r.text and r.text.count("\n") == 1, r.text


def test_no_captures(client: TestClient) -> None:
    assert client.get("/cdx/search/cdx", params={"url": "example.org/none", "output": "json"}).json() == []
    none = client.get("/web/cdx", params={"url": "example.org/none", "output": "json"})
    assert none.status_code == 404 and "No Captures found" in none.json()["error"]


# -- replay and Memento ---------------------------------------------------------------------


def test_wayback_replay_redirects_to_the_capture_and_serves_it_as_a_memento(
    client: TestClient, archive: Archive
) -> None:
    first, last = _wayback(client, url=RT)
    near = client.get(f"/web/2017/{RT}", follow_redirects=False)  # 2017-01-01: the first is closest
    assert near.status_code == 302 and near.headers["location"].endswith(f"/web/{first['timestamp']}/{RT}")
    page = client.get(f"/web/{last['timestamp']}/{RT}")
    assert page.status_code == 200 and f'src="/web/{last["timestamp"]}mp_/{RT}"' in page.text
    assert page.headers["memento-datetime"].endswith("GMT")
    assert f"/web/{last['timestamp']}/{RT}" in page.text  # the banner's citable address
    raw = client.get(f"/web/{first['timestamp']}id_/{RT}")
    assert raw.content == archive.decoded(first["capture_id"])  # the bytes, unmodified
    assert raw.headers["memento-datetime"] and "sandbox" in raw.headers["content-security-policy"]
    framed = client.get(f"/web/{first['timestamp']}mp_/{RT}")
    assert (
        framed.status_code == 200
        and "sandbox allow-top-navigation-by-user-activation" in framed.headers["content-security-policy"]
    )
    assert f'href="/web/{first["timestamp"]}/https://francais.rt.com/' in framed.text and 'target="_top"' in framed.text
    assert client.head(f"/web/{first['timestamp']}/{RT}").status_code == 200


def test_timegate_picks_the_closest_memento_and_links_its_neighbours(client: TestClient) -> None:
    first, last = _wayback(client, url=RT)
    gate = client.get(
        f"/web/{RT}", headers={"Accept-Datetime": "Sat, 01 Jan 2000 00:00:00 GMT"}, follow_redirects=False
    )
    assert gate.status_code == 302 and gate.headers["vary"] == "accept-datetime"
    assert gate.headers["location"].endswith(f"/web/{first['timestamp']}/{RT}")
    link = gate.headers["link"]
    assert f'<{RT}>; rel="original"' in link and 'rel="timemap"; type="application/link-format"' in link
    assert 'rel="first memento"' in link and 'rel="next last memento"' in link
    newest = client.get(f"/web/{RT}", follow_redirects=False)  # no Accept-Datetime: the newest
    assert newest.headers["location"].endswith(f"/web/{last['timestamp']}/{RT}")
    bad = client.get(f"/web/{RT}", headers={"Accept-Datetime": "yesterday"})
    assert bad.status_code == 400 and "Accept-Datetime" in bad.text
    missing = client.get("/web/https://example.org/never")
    assert missing.status_code == 404 and missing.headers["link"] == '<https://example.org/never>; rel="original"'
    assert "https://example.org/never is not in the archive" in missing.text


def test_timemaps(client: TestClient) -> None:
    first, last = _wayback(client, url=RT)
    link = client.get(f"/web/timemap/link/{RT}")
    assert link.headers["content-type"].startswith("application/link-format")
    assert link.text.count('rel="first memento"') == 1 and link.text.count('rel="last memento"') == 1
    assert f"/web/{first['timestamp']}/{RT}>" in link.text and 'rel="self"' in link.text
    doc = client.get(f"/web/timemap/json/{RT}").json()
    assert doc["original_uri"] == RT and len(doc["mementos"]["list"]) == 2
    assert doc["mementos"]["last"]["uri"].endswith(f"/web/{last['timestamp']}/{RT}")
    assert client.get("/web/timemap/link/https://example.org/never").status_code == 404


def test_a_blocked_capture_is_listed_but_never_replayed(client: TestClient) -> None:
    lines = _wayback(client, url=AA)
    assert sorted(x["capture_status"] for x in lines) == ["blocked", "ok"]
    doc = client.get(f"/web/timemap/json/{AA}").json()
    assert len(doc["mementos"]["list"]) == 1  # the good capture only


@pytest.mark.parametrize(
    "path",
    [
        f"/web/20171/{RT}",  # odd digits
        f"/web/20171399000000/{RT}",  # month 13
        f"/web/201706091200000000/{RT}",  # too long
        "/web/2017/ftp://example.org/file",
        "/web/2017/http://exa mple.org/",
        "/web/timemap/link/javascript:alert(1)",
    ],
)
def test_malformed_wayback_addresses_are_400(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 400, (path, r.status_code, r.text)


def test_citations_carry_the_archive_address(client: TestClient, archive: Archive) -> None:
    first, _ = _wayback(client, url=RT)
    cid = first["capture_id"]
    page = client.get(f"/capture/{cid}").text
    assert f"/web/{first['timestamp']}/{RT}" in page
    item = client.get(f"/capture/{cid}/cite.json").json()[0]
    assert item["archive_location"].endswith(f"/web/{first['timestamp']}/{RT}")
    bib = client.get(f"/capture/{cid}/cite.bib").text
    assert f"archived at http://testserver/web/{first['timestamp']}/" in bib


# -- clients nobody here wrote, on a real socket --------------------------------------------


@pytest.fixture(scope="module")
def served(archive: Archive) -> Iterator[str]:
    with serving(archive) as base:
        yield base


def test_the_same_app_behind_a_production_asgi_server(archive_root: Path, tmp_path: Path) -> None:
    """uvicorn's own command line with the app factory, configured from the environment."""
    import os
    import subprocess
    import sys
    import urllib.request

    port = free_port()
    env = {**os.environ, "ARCHIVE_URL": str(archive_root), "NEWSARCHIVE_CATALOG": str(tmp_path / "cat.sqlite")}
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "researcher.asgi:create", "--port", str(port)]
    proc = subprocess.Popen([*cmd, "--host", "127.0.0.1"], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/cdx/search/cdx?url={RT}", timeout=5) as r:
                    assert len(r.read().decode().splitlines()) == 2
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(10)
    unset = subprocess.run(cmd, env={**env, "ARCHIVE_URL": ""}, capture_output=True, text=True, timeout=60, check=False)
    assert unset.returncode != 0 and "ARCHIVE_URL is not set" in unset.stderr


@pytest.mark.parametrize("form", ["/cdx/search/cdx", "/web/cdx"])
def test_cdx_toolkit_lists_and_fetches_captures(served: str, archive: Archive, form: str) -> None:
    import cdx_toolkit

    cdx = cdx_toolkit.CDXFetcher(source=served + form, wb=served + "/web")
    captures = list(cdx.iter("francais.rt.com/*", filter=["status:200"]))
    assert len(captures) == 8
    one = next(c for c in captures if c["url"] == RT)
    assert one.content == archive.decoded(one["capture_id"])  # fetched through /web/<ts>id_/
    assert len(cdx.get(RT)) == 2


def test_memento_client_walks_timegate_and_memento(served: str) -> None:
    import requests
    from memento_client import MementoClient

    lines = requests.get(served + "/cdx/search/cdx", params={"url": RT, "output": "json"}, timeout=10).json()
    first_ts, last_ts = lines[1][1], lines[2][1]
    client = MementoClient(timegate_uri=served + "/web/", check_native_timegate=False)
    # start from a memento's address: the client finds its original there, then asks the TimeGate
    info = client.get_memento_info(f"{served}/web/{last_ts}/{RT}", datetime(2000, 1, 1))
    assert info["original_uri"] == RT and info["timegate_uri"] == f"{served}/web/{RT}"
    closest = info["mementos"]["closest"]
    assert closest["uri"] == [f"{served}/web/{first_ts}/{RT}"]
    assert info["mementos"]["last"]["uri"] == [f"{served}/web/{last_ts}/{RT}"]
    assert info["mementos"]["next"]["uri"] == [f"{served}/web/{last_ts}/{RT}"]


def test_a_pasted_wayback_address_replays_and_a_link_in_it_moves_the_banner(
    browser_page: Any, served: str, client: TestClient
) -> None:
    from playwright.sync_api import expect

    page, steps, outside = browser_page
    first, _ = _wayback(client, url=RT)
    page.goto(f"{served}/web/{first['timestamp'][:8]}/{RT}")  # a day: redirected to the capture's second
    page.wait_for_url(f"**/web/{first['timestamp']}/{RT}")
    expect(page.locator("a.wayback")).to_have_text(f"{served}/web/{first['timestamp']}/{RT}")
    frame = page.frame_locator("iframe.replay")
    expect(frame.get_by_role("heading", level=1)).to_contain_text("Les Etats-Unis frappent à nouveau")
    steps.shot("replay")
    frame.get_by_role("link", name="International").first.click()  # a link in the archived page
    section = "https://francais.rt.com/international/"
    page.wait_for_url(f"**/web/{first['timestamp']}/{section}")  # the address follows the click
    expect(page.get_by_role("alert")).to_contain_text(f"{section} is not in the archive")
    steps.shot("followed")
    assert outside == []  # the live site was never reached
