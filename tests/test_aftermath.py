"""Takedowns, edits and syndication through the DAGs, on fixture sites that change over time.

One story, run with dag.test() against a real S3 server (SeaweedFS):
1. news_rt_fr archives RT France's four articles of 7-11 June 2017;
2. a blog (news_lesmoutonsenrages) republishes RT's real drone-strike article a day later,
   inside its own page: its comment thread, its "Source" line, its share prompts;
3. RT changes afterwards: the drone article is rewritten (title and text), one article
   answers 404 and is dropped from the feed (which still lists the articles around it), one
   redirects to the home page, one changes only its furniture (share bar, "read also" box,
   an ad, a comment count);
4. an operator re-checks the period (the DAG's `recheck` param), twice;
5. RT's English, Spanish and German editions of one story are archived by their own DAGs:
   the English page names the Spanish one (hreflang) and the Spanish the English; the
   German page says it translates the English (JSON-LD translationOfWork).
The events and links the archive then holds are asserted exactly, through the CLI too.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from html import escape
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from researcher.cli import app
from researcher.verify import verify
from storage import manifest, tablelog
from storage.store import S3Store
from storage.tables import EVENTS, LINKS, SIGNATURES
from tests.fixtures.server import SITES_DIR, FixtureServer
from tests.s3server import WeedS3

RT = "https://francais.rt.com/international/"
DRONE = RT + "38871-etats-unis-frappent-nouveau-forces-pro-gouvernementales-syrie-drone"
TANAF = RT + "38750-al-tanaf-garnison-coalition"
DAMAS = RT + "38802-damas-denonce-frappe"
MOSCOU = RT + "38911-moscou-appelle-retenue"
WINDOW = {"window_start": "2017-06-07T00:00:00+00:00", "window_end": "2017-06-11T00:00:00+00:00"}
BLOG_WINDOW = {"window_start": "2017-06-09T00:00:00+00:00", "window_end": "2017-06-12T00:00:00+00:00"}
BLOG_POST = "https://lesmoutonsenrages.fr/2017/06/10/les-etats-unis-frappent-encore-en-syrie/"
EDITIONS = {
    "rt_en": "https://www.rt.com/news/552301-deir-ezzor-strike-moscow/",
    "rt_es": "https://actualidad.rt.com/actualidad/425001-moscu-pide-moderacion-deir-ez-zor",
    "rt_de": "https://de.rt.com/international/138001-deir-ez-zor-angriff/",
}
EDITIONS_WINDOW = {"window_start": "2022-03-28T00:00:00+00:00", "window_end": "2022-03-30T00:00:00+00:00"}
OLD_TITLE = "Les Etats-Unis frappent à nouveau des forces pro-gouvernementales en Syrie et abattent un drone"
NEW_TITLE = "Syrie : Washington revendique une nouvelle frappe contre des forces pro-gouvernementales"
ADDED = "<p>Le Pentagone a confirmé le 9 juin qu'un second drone avait été abattu dans la même zone.</p>"


def _site(path: str) -> str:
    return (SITES_DIR / path).read_text(encoding="utf-8")


def _republished_page(rt_html: str) -> str:
    """The blog's real post page with RT's article body in place of its own: the blog's comment
    thread, header, sidebar and share prompts stay around it, as republishing blogs do."""
    blog = _site(
        "lesmoutonsenrages/posts/62-soldats-syriens-tues-dans-une-frappe-attribuee-a-la-coalition-menee-par-les-etats-unis.html"
    )
    body = re.search(r'<div class="article__text text">(.*?)</div>', rt_html, re.S)
    lead = re.search(r'<div class="article__summary[^"]*">(.*?)</div>', rt_html, re.S)
    assert body and lead
    content = (
        '<div class="entry-content">'
        + lead.group(1)
        + body.group(1)
        + "<p>Source : RT France</p><p>Partagez cet article autour de vous !</p></div>"
    )
    page = re.sub(r'<div class="entry-content">.*?</article>', content + "\n</article>", blog, count=1, flags=re.S)
    old_title = "62 soldats syriens tués dans une frappe attribuée à la coalition menée par les États-Unis"
    page = page.replace(old_title, "Les Etats-Unis frappent encore en Syrie")
    old_url = "https://lesmoutonsenrages.fr/2016/09/18/62-soldats-syriens-tues-dans-une-frappe-attribuee-a-la-coalition-menee-par-les-etats-unis/"
    page = page.replace(old_url, BLOG_POST)  # its canonical and og:url name the new post
    return page.replace("2016-09-18T10:31:00+00:00", "2017-06-10T08:00:00+00:00")


def _blog_feed() -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Les moutons enragés</title><link>https://lesmoutonsenrages.fr/</link>
<item><title>Les Etats-Unis frappent encore en Syrie</title><link>{BLOG_POST}</link>
<guid isPermaLink="true">{BLOG_POST}</guid><pubDate>Sat, 10 Jun 2017 08:00:00 +0000</pubDate></item>
</channel></rss>"""


def _edited(html: str) -> str:
    """The drone article rewritten: a new title everywhere the page states it, a number changed,
    a paragraph added; the dates in the page left as they were (a stealth edit)."""
    html = html.replace(OLD_TITLE, NEW_TITLE).replace("55 kilomètres", "60 kilomètres")
    return html.replace('</div>\n  <div class="article__share">', ADDED + '\n</div>\n  <div class="article__share">', 1)


def _furniture_changed(html: str) -> str:
    """Only what the extraction removes changes: the share bar, the "read also" box, an ad
    inserted before the text, a comment count."""
    html = html.replace('<div class="article__share">', '<div class="article__share"><span>1 284 partages</span>', 1)
    html = html.replace(
        '<div class="article__text text">',
        '<div class="read-more"><div class="read-more__title">Lire aussi : Le marché du pétrole recule</div></div>'
        '<div class="article__text text">',
        1,
    )
    return html.replace("</footer>", "<p>42 commentaires</p></footer>", 1)


def _home() -> str:
    items = "".join(f'<li><a href="{u}">{escape(u.rsplit("/", 1)[1])}</a></li>' for u in (DRONE, TANAF, DAMAS, MOSCOU))
    return f"<html lang='fr'><head><title>RT en français</title></head><body><h1>RT en français</h1><ul>{items}</ul></body></html>"


def _key(url: str) -> str:
    return url.removeprefix("https://")


@pytest.fixture(scope="module")
def story(dags_module: ModuleType, sites: FixtureServer, weed: WeedS3, airflow_conns: str) -> Iterator[dict[str, Any]]:
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    weed.client().create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    mp = pytest.MonkeyPatch()
    mp.setenv("ARCHIVE_URL", f"s3://{bucket}/archive")
    mp.setenv("NEWSARCHIVE_REPLAY", json.dumps(sites.replay_map()))
    store = S3Store(bucket, "archive", client=weed.client())  # type: ignore[arg-type]
    runs: dict[str, Any] = {}
    changed = [_key(p) for p in (DRONE, TANAF, DAMAS, MOSCOU, "https://francais.rt.com/", BLOG_POST)] + [
        "lesmoutonsenrages.fr/feed/"
    ]
    try:
        from datetime import UTC, datetime

        day = datetime(2017, 6, 9, tzinfo=UTC)
        runs["rt"] = dags_module.news_rt_fr.test(logical_date=day, run_conf=WINDOW, conn_file_path=airflow_conns)
        # a day later, the blog republishes RT's drone article inside its own page
        rt_html = _site("rt_fr/international/" + DRONE.rsplit("/", 1)[1] + ".html")
        sites.overrides[_key(BLOG_POST)] = {"body": _republished_page(rt_html)}
        sites.overrides["lesmoutonsenrages.fr/feed/"] = {"body": _blog_feed(), "type": "application/rss+xml"}
        runs["blog"] = dags_module.news_lesmoutonsenrages.test(
            logical_date=datetime(2017, 6, 11, tzinfo=UTC), run_conf=BLOG_WINDOW, conn_file_path=airflow_conns
        )
        # then RT changes its pages
        sites.overrides[_key(DRONE)] = {"body": _edited(rt_html)}
        tanaf = _site("rt_fr/international/" + TANAF.rsplit("/", 1)[1] + ".html")
        sites.overrides[_key(TANAF)] = {"body": _furniture_changed(tanaf)}
        sites.overrides[_key(DAMAS)] = {"status": 404, "body": "<html><body><h1>Page introuvable</h1></body></html>"}
        sites.overrides[_key(MOSCOU)] = {"status": 301, "redirect": "https://francais.rt.com/"}
        sites.overrides["francais.rt.com/"] = {"body": _home()}
        # and drops the Damascus article from its feed, which still lists the articles around it
        feed = re.sub(
            r"<item>(?:(?!</item>).)*38802-damas-denonce-frappe.*?</item>", "", _site("rt_fr/rss.xml"), flags=re.S
        )
        assert "38802" not in feed and "38750" in feed and "38871" in feed
        sites.overrides["francais.rt.com/rss"] = {"body": feed, "type": "application/rss+xml; charset=utf-8"}
        recheck = {**WINDOW, "recheck": True}
        runs["recheck"] = dags_module.news_rt_fr.test(logical_date=day, run_conf=recheck, conn_file_path=airflow_conns)
        runs["events_after_first"] = tablelog.load(store, EVENTS).to_pylist()
        runs["again"] = dags_module.news_rt_fr.test(logical_date=day, run_conf=recheck, conn_file_path=airflow_conns)
        for source in EDITIONS:
            runs[source] = getattr(dags_module, f"news_{source}").test(
                logical_date=datetime(2022, 3, 29, tzinfo=UTC), run_conf=EDITIONS_WINDOW, conn_file_path=airflow_conns
            )
        yield {"runs": runs, "store": store, "bucket": bucket, "weed": weed}
    finally:
        for key in changed:
            sites.overrides.pop(key, None)
        mp.undo()  # (the DAGs' params are restored by conftest after each test)


def _captures(store: S3Store) -> dict[tuple[str, str], str]:
    """(requested URL, discovery kind) -> capture id, over the whole archive."""
    table = manifest.load_manifests(store, None, ["capture_id", "requested_url", "discovery_kind"])
    out: dict[tuple[str, str], str] = {}
    for r in table.to_pylist():
        kind = "revisit" if r["discovery_kind"] == "revisit" else "first"
        out.setdefault((r["requested_url"], kind), r["capture_id"])
    return out


def test_every_run_succeeds(story: dict[str, Any]) -> None:
    assert {name: run.state for name, run in story["runs"].items() if hasattr(run, "state")} == {
        "rt": "success",
        "blog": "success",
        "recheck": "success",
        "again": "success",
        "rt_en": "success",
        "rt_es": "success",
        "rt_de": "success",
    }


def test_the_changes_are_recorded_as_exactly_these_events(story: dict[str, Any]) -> None:
    store = story["store"]
    caps = _captures(store)
    rows = tablelog.load(store, EVENTS).to_pylist()
    got = {(r["url"], r["kind"], r["reason"]) for r in rows}
    assert got == {
        (DRONE, "edit", "text,title"),
        (DAMAS, "takedown", "gone"),
        (DAMAS, "takedown", "unlisted"),
        (MOSCOU, "takedown", "redirect_home"),
    }  # and nothing for the article whose share bar, "read also" box, ad and comment count changed
    unlisted = next(r for r in rows if r["reason"] == "unlisted")
    assert unlisted["final_url"] == "https://francais.rt.com/rss" and unlisted["http_status"] == 200
    assert json.loads(unlisted["summary"])["neighbours"] == [TANAF, DRONE]  # published before and after it
    by_url = {r["url"]: r for r in rows if r["reason"] != "unlisted"}
    for url in (DRONE, DAMAS, MOSCOU):
        assert by_url[url]["capture_id"] == caps[(url, "first")], "each event names the capture it is about"
    edit = by_url[DRONE]
    assert edit["observed_capture_id"] == caps[(DRONE, "revisit")]
    summary = json.loads(edit["summary"])
    assert summary["fields_changed"]["title"] == {"before": OLD_TITLE, "after": NEW_TITLE}
    assert summary["removed_sample"].split() == ["55"] and summary["added_sample"].startswith("60 le pentagone")
    gone = by_url[DAMAS]
    assert gone["http_status"] == 404 and gone["observed_capture_id"] is None and gone["evidence_warc_key"]
    moved = by_url[MOSCOU]
    assert (
        moved["final_url"] == "https://francais.rt.com/" and moved["observed_capture_id"] == caps[(MOSCOU, "revisit")]
    )


def test_a_second_recheck_adds_no_event(story: dict[str, Any]) -> None:
    """The same takedowns seen again are the same events; the edited text, fetched again
    unchanged, is compared with its edited version: nothing new."""
    after_first = {r["event_id"] for r in story["runs"]["events_after_first"]}
    assert {r["event_id"] for r in tablelog.load(story["store"], EVENTS).to_pylist()} == after_first
    assert len(after_first) == 4


def test_the_takedown_evidence_is_the_404_as_served(story: dict[str, Any], sites: FixtureServer) -> None:
    from storage.warcread import read_capture

    store = story["store"]
    gone = next(r for r in tablelog.load(store, EVENTS).to_pylist() if r["reason"] == "gone")
    cap = read_capture(store, gone["evidence_warc_key"], gone["evidence_warc_offset"], gone["evidence_warc_length"])
    assert cap.status == 404 and cap.url == DAMAS and cap.record_id == gone["evidence_warc_record_id"]
    assert cap.body == b"<html><body><h1>Page introuvable</h1></body></html>"


def test_the_republication_is_linked_to_the_original_exactly_once(story: dict[str, Any]) -> None:
    store = story["store"]
    caps = _captures(store)
    links = [r for r in tablelog.load(store, LINKS).to_pylist() if r["kind"] == "syndication"]
    assert [
        (r["republished_url"], r["original_url"], r["republished_source"], r["original_source"]) for r in links
    ] == [(BLOG_POST, DRONE, "lesmoutonsenrages", "rt_fr")]
    (link,) = links
    assert link["republished"] == caps[(BLOG_POST, "first")] and link["original"] == caps[(DRONE, "first")]
    assert 0.45 <= link["similarity"] <= 1.0
    # revisits are versions of an article, not new texts: only first captures are signed
    signed = {r["capture_id"] for r in tablelog.load(store, SIGNATURES).to_pylist()}
    assert caps[(DRONE, "revisit")] not in signed and caps[(DRONE, "first")] in signed


def test_the_run_report_counts_revisits_events_and_links(story: dict[str, Any]) -> None:
    from pipeline import runs

    store = story["store"]
    reports = sorted(store.list("runs/source=rt_fr/"))
    recheck = json.loads(store.get_bytes(reports[1]))  # reports sort by attempt time: the first recheck
    assert recheck["events"] == {
        "edit:text,title": 1,
        "takedown:gone": 1,
        "takedown:redirect_home": 1,
        "takedown:unlisted": 1,
    }
    assert recheck["revisit_budget"] == {"scheduled": 4, "deferred": 0, "budget": 200}
    assert recheck["revisit_failures"] == {"HTTP 404": 1} and recheck["failed_by_reason"] == {}
    blog = runs.latest_report(store, "lesmoutonsenrages", "20170609T000000Z-20170612T000000Z")
    assert blog is not None and blog["links"] == {"signed": 1, "links": 1, "translations": 0}


def test_researchers_query_events_and_links(story: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in story["weed"].env().items():
        monkeypatch.setenv(k, v)
    url = f"s3://{story['bucket']}/archive"
    runner = CliRunner()

    def jsonl(*args: str) -> list[dict[str, Any]]:
        out = runner.invoke(app, [*args, "--archive", url, "--format", "jsonl"])
        assert out.exit_code == 0, out.output
        return [json.loads(line) for line in out.stdout.splitlines()]

    assert {r["url"] for r in jsonl("events", "--kind", "takedown")} == {DAMAS, MOSCOU}
    assert [r["url"] for r in jsonl("events", "--reason", "unlisted")] == [DAMAS]
    assert [r["url"] for r in jsonl("events", "--reason", "title", "--source", "rt_fr")] == [DRONE]
    assert jsonl("events", "--source", "lesmoutonsenrages") == []
    assert jsonl("events", "--to", "2020-01-01") == []  # observed now, not in 2017
    assert [r["republished_url"] for r in jsonl("links", "--original-source", "rt_fr")] == [BLOG_POST]
    assert jsonl("links", "--republished-by", "rt_fr") == []
    assert jsonl("links", "--min-similarity", "0.45")[0]["similarity"] >= 0.45
    drone = _captures(story["store"])[(DRONE, "first")]
    shown = runner.invoke(app, ["show", drone, "--archive", url])
    assert shown.exit_code == 0, shown.output
    card = json.loads(shown.stdout)
    assert [(e["kind"], e["reason"]) for e in card["events"]] == [("edit", "text,title")]
    assert [(lk["role"], lk["url"]) for lk in card["links"]] == [("republished as", BLOG_POST)]
    bad = runner.invoke(app, ["events", "--kind", "deleted", "--archive", url])
    assert bad.exit_code == 2 and "'deleted' is not one of takedown, edit" in bad.output


def test_exports_carry_events_and_links(story: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in story["weed"].env().items():
        monkeypatch.setenv(k, v)
    url = f"s3://{story['bucket']}/archive"
    out = tmp_path / "rt.jsonl"
    done = CliRunner().invoke(app, ["export", "-o", str(out), "--source", "rt_fr", "--archive", url])
    assert done.exit_code == 0, done.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    first = {r["requested_url"]: r for r in rows if r["discovery_kind"] != "revisit"}
    assert sorted(e["reason"] for e in first[DAMAS]["events"]) == ["gone", "unlisted"]
    assert [lk["url"] for lk in first[DRONE]["links"]] == [BLOG_POST]
    assert first[TANAF]["events"] == [] and first[TANAF]["links"] == []


def test_the_archive_verifies_with_its_events_and_links(story: dict[str, Any]) -> None:
    report = verify(story["store"])
    assert report.ok, [p.__dict__ for p in report.problems]


def test_editions_in_other_languages_are_linked_where_the_pages_say_so(story: dict[str, Any]) -> None:
    """en <-> es (hreflang both ways: one link), de -> en (JSON-LD); nothing says de <-> es."""
    store = story["store"]
    rows = [r for r in tablelog.load(store, LINKS).to_pylist() if r["kind"] == "translation"]
    canonical = {r["capture_id"]: r["canonical_url"] for r in manifest.load_manifests(store).to_pylist()}
    pairs = {frozenset((canonical[r["republished"]], canonical[r["original"]])) for r in rows}
    assert pairs == {
        frozenset((EDITIONS["rt_en"], EDITIONS["rt_es"])),
        frozenset((EDITIONS["rt_de"], EDITIONS["rt_en"])),
    }
    assert len(rows) == 2 and all(r["similarity"] is None for r in rows)
    for r in rows:  # each oriented from the later publication to the earlier
        assert (r["republished_published"], r["republished"]) > (r["original_published"], r["original"])
    # the German text is under the linker's 80 words: translation links do not need a MinHash
    de = next(s for s in tablelog.load(store, SIGNATURES).to_pylist() if s["source_id"] == "rt_de")
    assert de["minhash"] is None and EDITIONS["rt_en"] in de["translations"]  # (and its canonical, if on a mirror)


def test_the_reading_room_shows_what_happened_after_capture(story: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from researcher.reader import Archive
    from researcher.web import create_app

    caps = _captures(story["store"])
    client = TestClient(create_app(Archive(story["store"])))
    page = client.get(f"/capture/{caps[(DRONE, 'first')]}")
    assert page.status_code == 200
    assert "After capture" in page.text and "edit: text,title" in page.text
    assert f'href="/capture/{caps[(BLOG_POST, "first")]}"' in page.text and "republished as" in page.text
    gone = client.get(f"/capture/{caps[(DAMAS, 'first')]}").text
    assert "takedown: gone" in gone and "takedown: unlisted" in gone
    quiet = client.get(f"/capture/{caps[(TANAF, 'first')]}").text
    assert "After capture" not in quiet  # furniture changed: nothing to show


def test_the_json_api_walks_events_links_versions_and_diffs_on_s3(story: dict[str, Any], tmp_path: Path) -> None:
    """The same archive (SeaweedFS, made by the DAGs) through the JSON API on a real socket:
    what `archive events`, `links`, `versions --diff` and `show` say, as JSON, walked by cursor."""
    import httpx

    from researcher.catalog import Catalog
    from researcher.reader import Archive
    from tests.bench.room_load import serving

    caps = _captures(story["store"])
    archive = Archive(story["store"], Catalog(tmp_path / "catalog.sqlite"), refresh_each_read=False)
    with serving(archive) as base, httpx.Client(base_url=base + "/api/v1", timeout=30) as api:

        def walk(path: str, **params: Any) -> list[dict[str, Any]]:
            items, cursor = [], None
            while True:
                page = api.get(path, params={**params, "limit": 1, **({"cursor": cursor} if cursor else {})})
                assert page.status_code == 200, page.text
                items += page.json()["items"]
                if not (cursor := page.json()["next"]):
                    return items

        takedowns = walk("/events", kind="takedown")
        assert {e["url"] for e in takedowns} == {DAMAS, MOSCOU} and len(takedowns) == 3  # gone+unlisted, home
        assert [e["url"] for e in walk("/events", reason="title", source="rt_fr")] == [DRONE]
        assert walk("/events", to="2020-01-01") == []
        (link,) = walk("/links", original_source="rt_fr")
        assert (link["republished_url"], link["original"]) == (BLOG_POST, caps[(DRONE, "first")])
        versions = api.get("/versions", params={"url": DRONE}).json()["versions"]
        assert [v["capture_id"] for v in versions] == [caps[(DRONE, "first")], caps[(DRONE, "revisit")]]
        assert [v["changed"] for v in versions] == [False, True]
        diff = api.get("/diff", params={"a": versions[0]["capture_id"], "b": versions[1]["capture_id"]}).json()
        added = "+" + re.sub(r"</?p>", "", ADDED)
        assert diff["same_url"] and added in diff["unified"].splitlines() and diff["b"]["title"] == NEW_TITLE
        doc = api.get(f"/captures/{caps[(DRONE, 'first')]}").json()
        assert [(e["kind"], e["reason"]) for e in doc["events"]] == [("edit", "text,title")]
        assert [(lk["role"], lk["url"]) for lk in doc["links"]] == [("republished as", BLOG_POST)]
        walked = walk("/captures", source="rt_fr")
        assert {c["capture_id"] for c in walked} == {cid for (url, _), cid in caps.items() if url.startswith(RT)}
