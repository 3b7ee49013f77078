"""Every shipped profile against its fixture site, through the whole crawl -> extract -> commit.

Each fixture site is modelled on the outlet's real page structure (see the profile's header
comment for what is known and what comes from conventions). One table row per source: the
day crawled, what must be archived, what discovery must record otherwise, and which article
sentences must survive extraction while the page's noise must not. The sites are healthy
(outages, bad input and loops are the local bad-input site's business, tests/test_crawl.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from extract import Extractor, classify_capture
from pipeline import runs
from spiders.crawl import RunContext, run_crawl
from spiders.profile import get_profile, profiles_dir
from storage import manifest
from storage.store import LocalStore
from tests.fixtures.server import FixtureServer


@dataclass(frozen=True)
class Case:
    source: str
    day: date
    archived: dict[str, str]  # requested URL -> final URL
    other: dict[str, str] = field(default_factory=dict)  # listed URL -> crawl-log reason
    keep: tuple[str, ...] = ()  # sentences of the article that the clean text holds
    drop: tuple[str, ...] = ()  # page noise that it must not hold
    meta: dict[str, Any] = field(default_factory=dict)  # manifest fields of the first archived row
    crawl_delay: float | None = None  # robots.txt's Crawl-delay (read; replay does not wait it out)
    stale_sitemaps: tuple[str, ...] = ()  # child sitemaps not fetched: last modified before the window


D22, D19 = date(2022, 3, 29), date(2019, 5, 20)
RT_EN = "https://www.rt.com"
RT_EN_ART = f"{RT_EN}/news/552301-deir-ezzor-strike-moscow/"
AA = "https://www.aa.com.tr"
AA_EN_ART = f"{AA}/en/middle-east/turkiye-calls-for-calm-in-northeastern-syria/2545123"
AA_TR_ART = f"{AA}/tr/dunya/disisleri-bakanligi-suriyenin-kuzeydogusunda-itidal-cagrisi/2545200"
SPUTNIK_ART = "https://sputnikglobe.com/20220329/russian-diplomat-urges-restraint-1094512345.html"
TRT_ART = "https://www.trtworld.com/middle-east/ankara-warns-of-grave-consequences-after-strike-near-qamishli-55812"
DUPLICATE = "duplicate of a URL already discovered in this run"
WP_NOISE = ("Share this:", "Leave a Reply", "thoughts on", "Related", "powered by WordPress")

CASES = [
    # the five sources of the seed pages (their pages are also checked line by line against
    # tests/fixtures/seeds/gold.json in test_extract_gold.py)
    Case(
        "rt_fr",
        date(2017, 6, 9),
        archived={
            "https://francais.rt.com/international/38871-etats-unis-frappent-nouveau-forces-pro-gouvernementales-syrie-drone": ""
        },
        other={"https://francais.rt.com/international/38911-moscou-appelle-retenue": "published outside the window"},
        keep=("Deux jours après un bombardement sur des forces alliées au gouvernement syrien",),
        drop=("Suivez RT en français", "Lire aussi", "Raconter l'actualité", "Tout Accepter", "utilise des cookies"),
        meta={"published": "2017-06-09T06:42:00Z", "language": "fr"},
    ),
    Case(
        "trt_fr",
        date(2016, 9, 18),
        archived={
            "https://turquie2023.com/2016/09/18/syrie-la-coalition-frappe-les-soldats-du-regime-reunion-durgence-au-conseil-de-securite-de-lonu/": ""
        },
        keep=("a frappé une base militaire du régime Assad à Deyr Zor",),
        drop=("Partager cet article",),
        meta={"published": "2016-09-18T09:14:00Z"},
    ),
    Case(
        "lesmoutonsenrages",
        date(2016, 9, 18),
        archived={
            "https://lesmoutonsenrages.fr/2016/09/18/62-soldats-syriens-tues-dans-une-frappe-attribuee-a-la-coalition-menee-par-les-etats-unis/": ""
        },
        keep=("on aurait presque l’impression que les États-Unis",),
        drop=("28 Commentaires", "Daech passe à l’attaque", "Le budget militaire des États-Unis est impressionant"),
        meta={"authors": ["Benji"]},
    ),
    Case(
        "antiguerre_fr",
        date(2018, 12, 2),
        archived={
            "https://www.antiguerre.fr/2018/12/02/les-etats-unis-et-la-russie-ont-echange-des-tirs-plusieurs-fois-en-syrie/": ""
        },
        keep=("L’ambassadeur James Jeffrey",),
        drop=("Tapez pour rechercher", "Mots clés", "Vous pourriez aussi aimer", "Doug Bryant", "Trumpanzee"),
        meta={"authors": ["Kyle Anzalone"]},
    ),
    Case(
        "aa_fr",
        date(2020, 2, 28),
        archived={
            "https://www.aa.com.tr/fr/monde/syrie-washington-appelle-moscou-et-damas-a-cesser-le-carnage-a-idleb/1748452": ""
        },
        keep=("Les États-Unis ont exprimé jeudi leur solidarité avec leur allié de l’OTAN",),
        drop=("Quitter la version mobile",),
        meta={"authors": ["Michael Hernandez"], "published": "2020-02-28T07:55:00Z"},
    ),
    Case(
        "rt_en",
        D22,
        archived={RT_EN_ART: RT_EN_ART, f"{RT_EN}/russia/552333-duma-sanctions-vote/": ""},
        other={
            # the feed's address with tracking parameters is the sitemap's once cleaned
            f"{RT_EN_ART}": DUPLICATE,
            f"{RT_EN}/news/552240-an-earlier-article/": "published outside the window",
        },
        keep=("urged every party to show restraint", "runway remained open to traffic"),
        drop=(
            "READ MORE",
            "Astana talks",
            "Join the conversation",
            "HyperComments",
            "RT Stories",
            "Share this story",
            "cookies",
            "Follow RT on",
            "Trending",
        ),
        meta={"title": "Moscow urges restraint after Deir ez-Zor strike", "language": "en"},
        # the index's older monthly sitemaps are not fetched (they are not served either: a
        # fetch would show up as a discovery failure)
        stale_sitemaps=(f"{RT_EN}/sitemap_2022-02.xml", f"{RT_EN}/sitemap_2022-01.xml"),
    ),
    Case(
        "rt_de",
        D22,
        # the feed lists the article on a mirror, the news sitemap on the primary domain:
        # one address is fetched, the other recorded as its duplicate
        archived={"https://de.rt.com/international/138001-deir-ez-zor-angriff/": ""},
        other={"https://rtde.site/international/138001-deir-ez-zor-angriff/": DUPLICATE},
        keep=("ein Versorgungslager beschädigt",),
        drop=("Mehr zum Thema", "Folgen Sie RT DE", "Cookies"),
        meta={"canonical_url": "https://de.rt.com/international/138001-deir-ez-zor-angriff/", "language": "de"},
    ),
    Case(
        "rt_es",
        D22,
        archived={"https://actualidad.rt.com/actualidad/425001-moscu-pide-moderacion-deir-ez-zor": ""},
        keep=("dañó un depósito de suministros", "aún no se ha pronunciado"),
        drop=("LEER MÁS", "Se reanudan las conversaciones", "compártelo", "Síguenos", "cookies"),
        meta={"language": "es"},
    ),
    Case(
        "aa_en",
        D22,
        archived={AA_EN_ART: AA_EN_ART},
        keep=("exercise restraint after a series of drone strikes", "casualty figures have not yet been confirmed"),
        drop=(
            "contains only a portion",
            "Related news",
            "Talks on Qamishli stall",
            "newsletter",
            "mobile version",
            "WhatsApp",
        ),
        # the newer layout: dates and author from article:published_time and JSON-LD
        meta={"published": "2022-03-29T10:20:00Z", "authors": ["Esra Kaya"], "language": "en"},
    ),
    Case(
        "aa_tr",
        D22,
        archived={AA_TR_ART: AA_TR_ART},
        # the host serves every edition: the English article in the Turkish sitemap is not aa_tr's
        other={AA_EN_ART: "outside the source's sections (/tr/)"},
        keep=("tüm tarafları itidale davet etti", "bir depo hedef alındı"),
        drop=("İlgili Haberler", "Kamışlı'da gerginlik sürüyor", "AA Haber Akış Sistemi", "Mobil sürümden"),
        meta={"language": "tr"},
    ),
    Case(
        "trt_world",
        D22,
        # the second article is listed only on the section's second page
        archived={TRT_ART: TRT_ART, "https://www.trtworld.com/middle-east/lebanon-fuel-shortage-hospitals-55800": ""},
        other={
            "https://www.trtworld.com/middle-east/iraq-kurdish-region-talks-55830": "published outside the window",
            "https://www.trtworld.com/middle-east/idlib-ceasefire-holds-55790": "published outside the window",
            "https://www.trtworld.com/middle-east": "no publication date to place it in the window",
        },
        keep=("wounding two soldiers", "a threat to its national security"),
        drop=(
            "Recommended",
            "Idlib ceasefire holds",
            "Sign up for our newsletter",
            "Route 6",
            "Copy link",
            "We use cookies",
        ),
        meta={"title": "Ankara warns of 'grave consequences' after strike near Qamishli", "language": "en"},
    ),
    Case(
        "sputnik_fr",
        date(2020, 2, 28),
        archived={"https://fr.sputniknews.africa/20200228/idleb-ankara-renforts-1046.html": ""},
        other={"https://fr.sputniknews.africa/20200228/idleb-ankara-renforts-1046.html": DUPLICATE},
        # "read also" and Telegram blocks sit between the body's paragraphs
        keep=("véhicules blindés turcs ont franchi la frontière", "les combats autour de Saraqeb"),
        drop=("Lire aussi", "Erdogan et Poutine", "Telegram", "commentaires sont modérés", "cookies"),
        meta={"language": "fr", "published": "2020-02-28T09:15:00Z"},
    ),
    Case(
        "sputnik_global",
        D22,
        # the feed still lists the former domain, which redirects to the current one
        archived={SPUTNIK_ART.replace("sputnikglobe.com", "sputniknews.com"): SPUTNIK_ART},
        other={SPUTNIK_ART: DUPLICATE},
        keep=("undermined efforts to stabilise the region", "intercepted several missiles"),
        drop=("Also read", "Astana Talks", "Telegram channel", "comments are moderated", "cookies"),
        meta={"canonical_url": SPUTNIK_ART, "language": "en"},
    ),
    Case(
        "antiwar_news",
        D19,
        crawl_delay=10,
        archived={"https://news.antiwar.com/2019/05/20/us-strikes-in-eastern-syria/": ""},
        other={"https://news.antiwar.com/2019/05/21/yemen-truce-talks-stall/": "published outside the window"},
        keep=("killing at least six fighters", "2001 authorization for the use of military force"),
        drop=WP_NOISE,
        meta={"authors": ["Dave DeCamp"], "published": "2019-05-20T14:10:00Z"},
    ),
    Case(
        "antiwar_original",
        D19,
        crawl_delay=10,
        archived={"https://original.antiwar.com/2019/05/20/the-forever-war-in-syria/": ""},
        keep=("no plausible theory of victory", "bring the troops home"),
        drop=(*WP_NOISE, "Reprinted with permission"),
        meta={"authors": ["Ron Paul"]},
    ),
    Case(
        "antiwar_blog",
        D19,
        crawl_delay=10,
        archived={"https://www.antiwar.com/blog/2019/05/20/syria-strike-roundup/": ""},
        keep=("statements issued by the Pentagon and by Damascus",),
        drop=WP_NOISE,
    ),
    Case(
        "reseauinternational",
        D19,
        # not in the feed: found through the REST API and the sitemap
        archived={"https://reseauinternational.net/2019/05/20/syrie-frappes-americaines-deir-ez-zor/": ""},
        other={"https://reseauinternational.net/2019/05/21/yemen-la-treve-de-hodeida/": "published outside the window"},
        keep=("violation de sa souveraineté", "restent au point mort"),
        drop=(*WP_NOISE, "Source : Réseau International", "Imprimer cet article", "Partager"),
        meta={"language": "fr"},
    ),
]


def test_every_shipped_profile_has_a_row() -> None:
    assert sorted(c.source for c in CASES) == sorted(p.stem for p in profiles_dir().glob("*.yaml"))


@pytest.mark.parametrize("case", CASES, ids=[c.source for c in CASES])
def test_source_profile_crawls_its_site(case: Case, sites: FixtureServer, tmp_path: Any) -> None:
    start = datetime(case.day.year, case.day.month, case.day.day, tzinfo=UTC)
    ctx = RunContext(case.source, start, start + timedelta(days=1), case.day)
    store = LocalStore(tmp_path / "archive")
    result = run_crawl(store, ctx, replay=sites.replay_map())
    crawl, rows = result.as_dict(), result.log_rows
    articles = [r for r in rows if r.get("kind") == "article"]

    p = get_profile(case.source)
    # feeds and sitemaps answer in any order: which of two equivalent addresses comes first varies
    archived = {p.url_key(r["url"]): r["final_url"] for r in articles if r["outcome"] == "archived"}
    assert archived.keys() == {p.url_key(u) for u in case.archived}, articles
    for url, final in case.archived.items():
        assert p.url_key(archived[p.url_key(url)]) == p.url_key(final or url)
    reasons = [(p.url_key(r["url"]), r["reason"]) for r in articles if r["outcome"] != "archived"]
    for url, reason in case.other.items():
        assert reason in [why for key, why in reasons if key == p.url_key(url)], (url, reasons)
    robots = [r for r in rows if r.get("kind") == "robots"]
    assert [r["crawl_delay"] for r in robots] == ([case.crawl_delay] if case.crawl_delay else [])
    stale = [r["url"] for r in rows if r.get("kind") == "sitemap" and str(r["reason"]).startswith("last modified")]
    assert sorted(stale) == sorted(case.stale_sitemaps)
    assert crawl["summary"]["discovery_failures"] == []  # every feed and sitemap of the profile answers

    ex = Extractor.for_profile(p)
    extracted = runs.extract_run(store, crawl, ex, ex.info, classify_capture)
    committed = runs.commit_run(store, crawl, extracted)
    assert committed["manifest"] and committed["dropped"] == {}, committed
    manifest_rows = manifest.read_manifest(store, committed["manifest"])
    assert sorted(p.url_key(r["requested_url"]) for r in manifest_rows) == sorted(map(p.url_key, case.archived))
    for row in manifest_rows:
        assert row["status"] == "ok" and row["flags"] == [], (row["requested_url"], row["flags"])
        assert str(row["published"])[:10] == case.day.isoformat()
    first = next(r for r in manifest_rows if p.url_key(r["requested_url"]) == p.url_key(next(iter(case.archived))))
    for sentence in case.keep:
        assert sentence in first["text"], sentence
    for noise in case.drop:
        assert noise not in first["text"], (noise, first["text"])
    for key, value in case.meta.items():
        got = first[key]
        got = got.isoformat().replace("+00:00", "Z") if isinstance(got, datetime) else got
        assert (list(got) if key == "authors" else got) == value, key


def test_google_news_sitemap_titles_in_cdata_reach_the_crawl_log(sites: FixtureServer, tmp_path: Any) -> None:
    ctx = RunContext("rt_en", datetime(2022, 3, 29, tzinfo=UTC), datetime(2022, 3, 30, tzinfo=UTC), D22)
    rows = run_crawl(LocalStore(tmp_path / "a"), ctx, replay=sites.replay_map()).log_rows
    (duma,) = [r for r in rows if r.get("kind") == "article" and "552333" in r["url"]]
    assert duma["listed_title"] == "Duma votes on 'mirror' sanctions & export curbs"
    assert duma["via"] == "https://www.rt.com/newssitemap.xml"


def test_a_section_listing_is_followed_back_to_the_window_and_no_further(sites: FixtureServer, tmp_path: Any) -> None:
    ctx = RunContext("trt_world", datetime(2022, 3, 29, tzinfo=UTC), datetime(2022, 3, 30, tzinfo=UTC), D22)
    rows = run_crawl(LocalStore(tmp_path / "a"), ctx, replay=sites.replay_map()).log_rows
    pages = [
        (r["url"].removeprefix("https://www.trtworld.com"), r["outcome"], r.get("entries"), r["reason"])
        for r in rows
        if r.get("kind") == "section-page"
    ]
    assert sorted(pages) == [
        ("/middle-east", "fetched", 2, None),
        ("/middle-east?page=2", "fetched", 2, None),
        # page 2 already lists the 28th: page 3 cannot hold the 29th
        ("/middle-east?page=3", "skipped", None, "the listing has reached articles older than the window"),
        ("/turkiye", "fetched", 1, None),
        ("/turkiye?page=2", "skipped", None, "the listing has reached articles older than the window"),
    ]


def test_a_section_listing_stops_at_the_profile_s_page_cap(sites: FixtureServer, tmp_path: Any) -> None:
    profile = tmp_path / "trt_world.yaml"
    profile.write_text(
        (profiles_dir() / "trt_world.yaml").read_text(encoding="utf-8").replace("max_pages: 30", "max_pages: 1"),
        encoding="utf-8",
    )
    ctx = RunContext(
        "trt_world", datetime(2022, 3, 28, tzinfo=UTC), datetime(2022, 3, 29, tzinfo=UTC), date(2022, 3, 28)
    )
    rows = run_crawl(LocalStore(tmp_path / "a"), ctx, profile_path=profile, replay=sites.replay_map()).log_rows
    skipped = [(r["url"], r["reason"]) for r in rows if r.get("kind") == "section-page" and r["outcome"] == "skipped"]
    assert ("https://www.trtworld.com/middle-east?page=2", "pagination beyond 1 pages not followed") in skipped
