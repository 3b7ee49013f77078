"""The JSON API (/api/v1/): cursors that neither skip nor repeat a capture while the pipeline
commits, documents whose provenance checks out against the raw bytes, JSON errors with the
CLI's one lines, rate limits, and an OpenAPI document that a client nobody here wrote
(Schemathesis) fuzzes without a server error or an answer outside the schema.

The pure parts (cursors, token buckets, keyset pages) are tables of cases; the walks run
against archives whose commits land between pages: crafted manifest commits (every
interleaving a seeded generator picks) and the DAGs' own runs, over HTTP on a real socket."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from starlette.testclient import TestClient

from researcher.api import cursor as cursors
from researcher.api.limits import RateLimits
from researcher.api.routes import keyset_page
from researcher.catalog import Catalog
from researcher.reader import Archive
from researcher.web import create_app
from storage import manifest
from storage.store import LocalStore
from tests import roomarchive
from tests.bench.room_load import serving
from tests.fixtures.server import FixtureServer
from tests.test_catalog import row

# -- pure parts ---------------------------------------------------------------------------


def test_a_cursor_survives_its_round_trip() -> None:
    c = cursors.Cursor(snapshot={"rt_fr": 12, "aa_fr": 3}, after=("2020-01-01T00:00:00Z", "c1"), query="q1")
    assert cursors.decode(cursors.encode(c), "q1") == c
    first = cursors.Cursor(snapshot={}, query="q2", descending=True)
    assert cursors.decode(cursors.encode(first), "q2") == first


def _b64(body: object) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a cursor this API gave"),
        ("a b", "not a cursor this API gave"),
        ("!!!", "not a cursor this API gave"),
        ("x" * (cursors.MAX_CURSOR + 1), "not a cursor this API gave"),
        ("abc", "not a cursor this API gave"),  # not base64 of JSON
        (_b64([1, 2]), "not a cursor of this API version"),
        (_b64({"v": 2, "s": {}, "q": "q"}), "not a cursor of this API version"),
        (_b64({"v": 1, "s": {"rt_fr": "7"}, "q": "q"}), "snapshot is malformed"),
        (_b64({"v": 1, "s": {"RT FR": 7}, "q": "q"}), "snapshot is malformed"),
        (_b64({"v": 1, "s": {"rt_fr": -1}, "q": "q"}), "snapshot is malformed"),
        (_b64({"v": 1, "s": {"rt_fr": True}, "q": "q"}), "snapshot is malformed"),
        (_b64({"v": 1, "s": {}, "a": ["t"], "q": "q"}), "position is malformed"),
        (_b64({"v": 1, "s": {}, "a": ["t", 3], "q": "q"}), "position is malformed"),
        (_b64({"v": 1, "s": {}, "a": ["t", "x" * 201], "q": "q"}), "position is malformed"),
        (_b64({"v": 1, "s": {}, "q": "other"}), "made for another query"),
    ],
)
def test_malformed_cursors_are_named(text: str, message: str) -> None:
    with pytest.raises(cursors.BadCursor, match=message):
        cursors.decode(text, "q")


def test_a_query_fingerprint_ignores_order_and_empty_fields() -> None:
    a = cursors.fingerprint({"source": ["rt_fr", "aa_fr"], "q": "idleb", "lang": None, "url": ""})
    assert a == cursors.fingerprint({"q": "idleb", "source": ["aa_fr", "rt_fr"]})
    assert a != cursors.fingerprint({"q": "idleb", "source": ["aa_fr"]})


@pytest.mark.parametrize(
    ("rate", "burst", "calls", "refused"),
    [
        (1.0, 3, [0, 0, 0, 0], [False, False, False, True]),  # a burst, then a wait
        (1.0, 3, [0, 0, 0, 1.0], [False, False, False, False]),  # a second later: one more token
        (10.0, 1, [0, 0.05, 0.1, 0.1], [False, True, False, True]),
        (2.0, 2, [0, 0, 100, 100, 100], [False, False, False, False, True]),  # never more than the burst
    ],
)
def test_token_buckets(rate: float, burst: float, calls: list[float], refused: list[bool]) -> None:
    limits = RateLimits(rate=rate, burst=burst)
    waits = [limits.take("a", t) for t in calls]
    assert [w > 0 for w in waits] == refused
    assert limits.take("b", calls[-1]) == 0  # another client is not slowed by the first


def test_token_buckets_forget_the_least_recent_clients() -> None:
    limits = RateLimits(rate=1, burst=1, clients=2)
    for who in ("a", "b", "c"):
        limits.take(who, 0)
    assert limits.take("a", 0) == 0  # forgotten: a full bucket again
    assert limits.take("c", 0) > 0


ROWS = [{"t": t, "id": i} for t, i in [("1", "a"), ("1", "b"), ("2", "a"), ("3", "c"), (None, "z")]]


@pytest.mark.parametrize("limit", [1, 2, 3, 10])
def test_keyset_pages_cover_rows_once(limit: int) -> None:
    ordered = sorted(ROWS, key=lambda r: (r["t"] or "", r["id"]))
    seen, cursor = [], None
    while True:
        page = keyset_page(ordered, ("t", "id"), "f", limit, cursor)
        seen += page["items"]
        cursor = page["next"]
        assert len(page["items"]) <= limit
        if cursor is None:
            break
    assert seen == ordered
    with pytest.raises(cursors.BadCursor, match="another query"):
        keyset_page(
            ordered, ("t", "id"), "other filter", limit, keyset_page(ordered, ("t", "id"), "f", 1, None)["next"]
        )


# -- walks while the pipeline commits ---------------------------------------------------------


def _fetched(rng: random.Random) -> str:
    return f"2020-01-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"


def _walk(client: TestClient, params: dict[str, Any], between: Any = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        answer = client.get("/api/v1/captures", params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            return items
        if between:
            between()


@pytest.mark.parametrize("seed", range(8))
def test_a_walk_neither_skips_nor_repeats_while_commits_land_between_pages(tmp_path: Path, seed: int) -> None:
    """New captures before and after the cursor, re-extractions that change a capture's
    status and title, a good capture that hides a blocked one in the room, all committed
    between pages: the walk lists exactly the captures committed when it began, each once,
    in order."""
    rng = random.Random(seed)  # noqa: S311 - test data, not a secret
    store = LocalStore(tmp_path / "archive")
    serial = iter(range(10_000))
    made: list[dict[str, Any]] = []

    def capture(source: str, **kw: Any) -> dict[str, Any]:
        r = row(f"{source}-{next(serial)}", source_id=source, fetched_at=_fetched(rng), **kw)
        made.append(r)
        return r

    for _ in range(3):
        for source in ("src_a", "src_b"):
            manifest.commit(store, source, [capture(source, status=rng.choice(["ok", "blocked"])) for _ in range(6)])
    archive = Archive(store, Catalog(tmp_path / "catalog.sqlite"), refresh_each_read=False)
    client = TestClient(create_app(archive, refresh_seconds=0))
    params: dict[str, Any] = {"limit": rng.randint(1, 5), "order": rng.choice(["asc", "desc"])}
    if rng.random() < 0.5:
        params["source"] = "src_a"
    before = {r["capture_id"] for r in made if "source" not in params or r["source_id"] == params["source"]}

    def commit() -> None:
        source = rng.choice(["src_a", "src_b"])
        old = rng.choice(made)
        moves = [
            [capture(source) for _ in range(rng.randint(1, 3))],  # new captures, any time
            [{**old, "extraction_id": f"x{next(serial)}", "status": rng.choice(["ok", "not_article"]), "title": "T"}],
            [capture(source, final_url=old["final_url"], requested_url=old["final_url"], status="ok")],
        ]
        manifest.commit(store, old["source_id"] if moves[1] else source, rng.choice(moves))

    walked = _walk(client, params, commit)
    ids = [i["capture_id"] for i in walked]
    assert len(ids) == len(set(ids)), "a capture was repeated"
    assert set(ids) == before, f"skipped {before - set(ids)}, added {set(ids) - before}"
    keys = [(i["fetched_at"], i["capture_id"]) for i in walked]
    assert keys == sorted(keys, reverse=params["order"] == "desc")


def test_a_walk_over_a_real_server_while_another_thread_commits(tmp_path: Path) -> None:
    """The same promise with the commits racing the pages on a real socket, not between them."""
    store = LocalStore(tmp_path / "archive")
    rng = random.Random(7)  # noqa: S311 - test data, not a secret
    first = [row(f"c{i}", fetched_at=_fetched(rng)) for i in range(60)]
    for chunk in range(0, 60, 10):
        manifest.commit(store, "src_a", first[chunk : chunk + 10])
    archive = Archive(store, Catalog(tmp_path / "catalog.sqlite"), refresh_each_read=False)
    stop = threading.Event()

    def committer() -> None:
        n = 0
        while not stop.is_set():
            manifest.commit(
                store, "src_a", [row(f"n{n}", fetched_at=_fetched(rng)), {**first[n % 60], "extraction_id": f"e{n}"}]
            )
            n += 1

    thread = threading.Thread(target=committer)
    with serving(archive, refresh_seconds=0) as base, httpx.Client(base_url=base, timeout=30) as http:
        ids: list[str] = []
        cursor = None
        try:
            while True:
                page = http.get("/api/v1/captures", params={"limit": 3, **({"cursor": cursor} if cursor else {})})
                ids += [i["capture_id"] for i in page.json()["items"]]
                if not thread.is_alive() and not stop.is_set():
                    thread.start()  # the walk has begun: from now on commits race its pages
                if not (cursor := page.json()["next"]):
                    break
        finally:
            stop.set()
            if thread.is_alive():
                thread.join()
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(r["capture_id"] for r in first)


def test_a_server_whose_catalog_is_behind_the_cursor_says_so(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "archive")
    manifest.commit(store, "src_a", [row("c1"), row("c2", fetched_at="2020-01-03T00:00:00Z")])
    ahead = TestClient(create_app(Archive(store, Catalog(tmp_path / "a.sqlite"), refresh_each_read=False)))
    page = ahead.get("/api/v1/captures", params={"limit": 1}).json()
    forged = cursors.decode(page["next"], cursors.fingerprint({"order": "asc"}))
    future = cursors.encode(cursors.Cursor(snapshot={"src_a": 9}, after=forged.after, query=forged.query))
    refused = ahead.get("/api/v1/captures", params={"limit": 1, "cursor": future})
    assert refused.status_code == 503
    assert refused.json() == {
        "error": "this server's catalog is behind the cursor's walk; try again shortly",
        "status": 503,
    }


# -- an archive made by the DAGs --------------------------------------------------------------


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory, dags_module: ModuleType, sites: FixtureServer) -> Path:
    return roomarchive.build(tmp_path_factory.mktemp("api") / "archive", dags_module, sites)


@pytest.fixture(scope="module")
def archive(room: Path, tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return Archive(
        LocalStore(room), Catalog(tmp_path_factory.mktemp("apicat") / "catalog.sqlite"), refresh_each_read=False
    )


@pytest.fixture(scope="module")
def client(archive: Archive) -> Iterator[TestClient]:
    with TestClient(create_app(archive, rate_limits=RateLimits(rate=1000, burst=10_000))) as c:
        yield c


def test_the_walk_lists_every_capture_with_its_true_status(client: TestClient, archive: Archive) -> None:
    items = _walk(client, {"limit": 2})
    everything = {r["capture_id"]: r for r in archive.catalog.walk(_query(), archive.catalog.snapshot(), None, 10_000)}
    assert [i["capture_id"] for i in items] == list(everything)
    statuses = {i["status"] for i in items}
    assert "blocked" in statuses and "ok" in statuses  # the challenged capture is listed, as it was
    blocked = [i for i in items if i["status"] == "blocked"]
    assert blocked[0]["final_url"] == "https://" + roomarchive.CHALLENGED
    first = client.get("/api/v1/captures", params={"limit": 2}).json()
    assert first["total"] is None and set(first["snapshot"]) == {"aa_fr", "rt_fr"}
    ok_only = _walk(client, {"limit": 50, "status": "ok", "source": "aa_fr"})
    assert ok_only and {i["status"] for i in ok_only} == {"ok"} and {i["source_id"] for i in ok_only} == {"aa_fr"}
    words = {i["capture_id"] for i in _walk(client, {"q": "Idleb", "limit": 1})}
    ranked = {
        i["capture_id"] for i in client.get("/api/v1/search", params={"q": "Idleb", "limit": 100}).json()["items"]
    }
    assert ranked and ranked <= words < set(everything)  # the walk: every status; the ranking: what the room shows


def _query() -> Any:
    from researcher.catalog import STATUSES, Query

    return Query(statuses=STATUSES)


def test_a_document_s_provenance_checks_out_against_the_raw_bytes(client: TestClient) -> None:
    item = client.get("/api/v1/captures", params={"status": "ok", "source": "rt_fr", "limit": 1}).json()["items"][0]
    doc = client.get(item["urls"]["api"]).json()
    assert doc["capture"] == item
    assert hashlib.sha256(doc["text"].encode()).hexdigest() == doc["provenance"]["text_sha256"]
    raw = client.get(item["urls"]["raw"])
    assert raw.status_code == 200
    assert hashlib.sha256(raw.content).hexdigest() == doc["provenance"]["payload_sha256"] or (
        doc["document"].get("response_headers") and "content-encoding" in doc["document"]["response_headers"]
    )
    assert doc["provenance"]["warc_key"].startswith("raw/") and doc["provenance"]["warc_length"] > 0
    assert doc["provenance"]["extractor"]["extractor_name"] == "trafilatura"
    assert doc["extractions"][0]["extraction_id"] == item["extraction_id"]
    assert doc["citation"]["URL"] == item["final_url"] and item["urls"]["wayback"] in json.dumps(doc["citation"])
    wayback = client.get(item["urls"]["wayback"], follow_redirects=False)
    assert wayback.status_code == 200 and "Memento-Datetime" in wayback.headers


def test_search_ranks_one_page_and_versions_and_diffs_name_both_captures(client: TestClient) -> None:
    found = client.get("/api/v1/search", params={"q": "Idleb", "limit": 3}).json()
    assert found["items"] and found["next"] is None and found["total"] >= len(found["items"])
    scores = [i["score"] for i in found["items"]]
    assert scores == sorted(scores, reverse=True) and "[[" in found["items"][0]["snippet"]
    url = "https://" + roomarchive.CHALLENGED
    versions = client.get("/api/v1/versions", params={"url": url}).json()
    assert [v["status"] for v in versions["versions"]] == ["blocked", "ok"] and not versions["truncated"]
    a, b = (v["capture_id"] for v in versions["versions"])
    diff = client.get("/api/v1/diff", params={"a": a, "b": b}).json()
    assert diff["same_url"] and not diff["identical"] and diff["added_lines"] > 0
    other = client.get("/api/v1/captures", params={"source": "rt_fr", "limit": 1}).json()["items"][0]["capture_id"]
    apart = client.get("/api/v1/diff", params={"a": b, "b": other}).json()
    assert apart["same_url"] is False and apart["a"]["final_url"] != apart["b"]["final_url"]


def test_sources_and_coverage(client: TestClient) -> None:
    sources = client.get("/api/v1/sources").json()
    assert [s["source_id"] for s in sources] == ["aa_fr", "rt_fr"]
    cov = client.get("/api/v1/coverage/rt_fr").json()
    assert cov["source_id"] == "rt_fr" and cov["days"] and sum(sum(d["captures"].values()) for d in cov["days"]) > 0
    assert any(d["runs"] for d in cov["days"])


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/api/v1/captures", {"from": "2020-13-01"}, 400, "published from: '2020-13-01' is not a date (YYYY-MM-DD)"),
        ("/api/v1/captures", {"captured_to": "0.0"}, 400, "captured_to: string should match pattern"),
        ("/api/v1/events", {"from": "1700000000"}, 400, "from: string should match pattern"),
        ("/api/v1/captures", {"status": "deleted"}, 400, "unknown status 'deleted'; choose one of"),
        ("/api/v1/captures", {"source": "nope"}, 400, "unknown source 'nope'"),
        ("/api/v1/captures", {"limit": "0"}, 400, "limit: input should be greater than or equal to 1"),
        ("/api/v1/captures", {"limit": "many"}, 400, "limit: input should be a valid integer"),
        ("/api/v1/captures", {"order": "sideways"}, 400, "order: string should match pattern"),
        ("/api/v1/captures", {"cursor": "%%%"}, 400, "cursor: not a cursor this API gave"),
        ("/api/v1/captures", {"from": "2020-02-01", "to": "2020-01-01"}, 400, "published date range is inverted"),
        ("/api/v1/search", {}, 400, "q: a ranked search needs words"),
        ("/api/v1/search", {"q": "x " * 600}, 400, "q: string should have at most 1000 characters"),
        ("/api/v1/search", {"q": "x " * 400}, 400, "text query of 400 words"),
        ("/api/v1/captures/nope", {}, 404, "no committed capture with id 'nope'"),
        ("/api/v1/versions", {}, 400, "url: field required"),
        ("/api/v1/versions", {"url": "https://nowhere.invalid/"}, 400, "has no capture in the archive"),
        ("/api/v1/diff", {"a": "x"}, 400, "b: field required"),
        ("/api/v1/events", {"kind": "deleted"}, 400, "kind: 'deleted' is not one of takedown, edit"),
        ("/api/v1/events", {"kind": "gone"}, 400, "kind: 'gone' is not one of takedown, edit"),
        ("/api/v1/events", {"reason": "x"}, 400, "reason: 'x' is not one of gone, redirect_home"),
        ("/api/v1/events", {"from": "2021-01-02", "to": "2021-01-01"}, 400, "observed date range is inverted"),
        ("/api/v1/links", {"from": "2021-01-02", "to": "2021-01-01"}, 400, "republished date range is inverted"),
        ("/api/v1/links", {"min_similarity": "2"}, 400, "min_similarity: input should be less than or equal to 1"),
        ("/api/v1/coverage/nope", {}, 400, "unknown source 'nope'"),
        ("/api/v1/nothing", {}, 404, "Not Found"),
    ],
)
def test_bad_input_is_a_json_error_with_one_line(
    client: TestClient, path: str, params: dict[str, str], status: int, message: str
) -> None:
    answer = client.get(path, params=params)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["status"] == status and message in body["error"] and "\n" not in body["error"]


def test_a_cursor_from_another_query_is_refused(client: TestClient) -> None:
    page = client.get("/api/v1/captures", params={"limit": 1}).json()
    refused = client.get("/api/v1/captures", params={"limit": 1, "source": "rt_fr", "cursor": page["next"]})
    assert refused.status_code == 400 and "made for another query" in refused.json()["error"]


def test_one_client_past_its_rate_is_told_when_to_come_back(archive: Archive) -> None:
    limited = TestClient(create_app(archive, rate_limits=RateLimits(rate=0.5, burst=3)))
    answers = [limited.get("/api/v1/sources") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["error"].startswith("too many requests from testclient: at most 0.5 a second")
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert limited.get("/").status_code == 200  # the reading room's pages are not counted


def test_every_route_answers_head(client: TestClient) -> None:
    for path in ("/api/v1", "/api/v1/captures", "/api/v1/sources", "/api/v1/openapi.json", "/api/v1/events"):
        assert client.head(path).status_code == 200, path


def test_the_openapi_document_is_valid_and_names_every_operation(client: TestClient) -> None:
    from openapi_spec_validator import validate

    doc = client.get("/api/v1/openapi.json").json()
    validate(doc)
    ops = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert ops == {
        "index",
        "captures",
        "search",
        "document",
        "versions",
        "diff",
        "events",
        "links",
        "sources",
        "coverage_of",
    }


# -- a client nobody here wrote: Schemathesis, from the OpenAPI document ---------------------


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_schema(client: TestClient) -> None:
    """Every operation, from its OpenAPI description: generated valid and invalid requests get
    a 2xx/4xx answer in the documented shape, never a 5xx. (Driven through Hypothesis here:
    Schemathesis' pytest fixture loader does not run under pytest 9.)"""
    from hypothesis import given

    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == 10
    for operation, mode in itertools.product(operations, GenerationMode):
        if mode is GenerationMode.NEGATIVE and not (len(operation.query) or len(operation.path_parameters)):
            continue  # nothing to get wrong

        @given(case=operation.as_strategy(mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case: Any) -> None:
            # a valid-looking value may still be refused (an unknown source, too many words): 400, said why
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        fuzz()
