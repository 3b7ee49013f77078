"""Acceptance: each fixture page's clean text holds every `keep` line of gold.json and no `drop` line."""

from __future__ import annotations

import json

import pytest

from extract import ExtractionError, Extractor, NoiseRules, extract_document
from spiders.profile import get_profile
from tests.bench.quality import norm
from tests.conftest import SEEDS
from tests.fixtures.server import SITES_DIR

# seed -> (source profile, fixture page)
PAGES = {
    "000": (
        "trt_fr",
        "trt_fr/posts/syrie-la-coalition-frappe-les-soldats-du-regime-reunion-durgence-au-conseil-de-securite-de-lonu.html",
    ),
    "001": (
        "lesmoutonsenrages",
        "lesmoutonsenrages/posts/62-soldats-syriens-tues-dans-une-frappe-attribuee-a-la-coalition-menee-par-les-etats-unis.html",
    ),
    "002": (
        "rt_fr",
        "rt_fr/international/38871-etats-unis-frappent-nouveau-forces-pro-gouvernementales-syrie-drone.html",
    ),
    "003": (
        "antiguerre_fr",
        "antiguerre_fr/posts/les-etats-unis-et-la-russie-ont-echange-des-tirs-plusieurs-fois-en-syrie.html",
    ),
    "004": ("aa_fr", "aa/fr/monde/1748452.html"),
}
GOLD = {e["seed"][:3]: e for e in json.loads((SEEDS / "gold.json").read_text(encoding="utf-8"))}


def gold_cases(kind: str) -> list[tuple[str, str]]:
    return [(seed, line) for seed in PAGES for line in GOLD[seed][kind]]


_CACHE: dict[str, dict[str, object]] = {}


def doc_for(seed: str) -> dict[str, object]:
    """The clean document of a seed's fixture page, extracted with its source's profile."""
    if seed not in _CACHE:
        source, page = PAGES[seed]
        p = get_profile(source)
        ex = Extractor.from_rules(
            p.noise.drop_selectors, p.noise.drop_line_patterns, p.language, lead_selectors=p.noise.lead_selectors
        )
        _CACHE[seed] = ex(
            (SITES_DIR / page).read_bytes(),
            "https://example.invalid/2020/02/28/article.html",
            "text/html; charset=utf-8",
        )
    return _CACHE[seed]


@pytest.mark.parametrize(("seed", "line"), gold_cases("keep"), ids=lambda v: v[:40] if isinstance(v, str) else v)
def test_keep_line_is_in_clean_text(seed: str, line: str) -> None:
    doc = doc_for(seed)
    lines = {norm(x) for x in str(doc["text"]).splitlines()}
    if norm(line) == norm(GOLD[seed]["title"]):
        assert norm(line) in lines or norm(str(doc["title"])) == norm(line)
    else:
        assert norm(line) in lines, f"seed {seed}: keep line missing: {line[:80]}"


@pytest.mark.parametrize(("seed", "line"), gold_cases("drop"), ids=lambda v: v[:40] if isinstance(v, str) else v)
def test_drop_line_is_not_in_clean_text(seed: str, line: str) -> None:
    text = str(doc_for(seed)["text"])
    assert norm(line) not in {norm(x) for x in text.splitlines()}
    if len(line) > 30:  # long lines must not survive even inside another line
        assert norm(line) not in norm(text)


@pytest.mark.parametrize("seed", sorted(PAGES))
def test_every_clean_line_is_gold(seed: str) -> None:
    """No line outside keep/optional: nothing unlabelled leaks either."""
    g = GOLD[seed]
    allowed = {norm(x) for x in g["keep"] + g["optional"]}
    extra = [x for x in str(doc_for(seed)["text"]).splitlines() if norm(x) not in allowed]
    assert extra == []


EXPECTED_META = {
    "000": ("2016-09-18T09:14:00Z", ["TRT Français"]),
    "001": ("2016-09-18T10:31:00Z", ["Benji"]),
    "002": ("2017-06-09T06:42:00Z", []),
    "003": ("2018-12-02T15:00:00Z", ["Kyle Anzalone"]),
    "004": ("2020-02-28T07:55:00Z", ["Michael Hernandez"]),
}


@pytest.mark.parametrize("seed", sorted(PAGES))
def test_metadata(seed: str) -> None:
    doc = doc_for(seed)
    published, authors = EXPECTED_META[seed]
    assert doc["title"] == GOLD[seed]["title"]
    assert doc["published"] == published
    assert doc["authors"] == authors
    assert doc["language"] == "fr"
    assert doc["canonical_url"], "canonical URL from link rel=canonical"
    ex = doc["extractor"]
    assert isinstance(ex, dict) and ex["name"] == "trafilatura" and ex["settings"]["include_comments"] is False


def test_paragraphs_stay_paragraphs() -> None:
    text = str(doc_for("001")["text"])
    assert "\n" in text and len(text.splitlines()) >= len(GOLD["001"]["keep"]) - 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"   \n  ", "empty body"),
        (b"\x00\x01\x02<<<<\xff\xfe</div></p>", "binary content"),
        (b"<html><body><p>\xff\xfe<<<< &gt;&gt; 12 34 ## &lt;&lt;</p></body></html>", "no article text"),
        (b"<html><body><nav>Accueil</nav></body></html>", "no article text"),
    ],
)
def test_bad_pages_raise_a_clear_error(body: bytes, reason: str) -> None:
    with pytest.raises(ExtractionError, match=reason):
        extract_document(body, "https://example.invalid/2020/02/28/article.html", NoiseRules())


def test_line_patterns_drop_lines() -> None:
    html = (
        b"<html><body><article><p>"
        + b"Texte de l'article assez long pour etre garde. " * 6
        + b"</p><p>PUB: achetez</p></article></body></html>"
    )
    kept = extract_document(html, "https://x.invalid/news/article-1.html", NoiseRules())
    dropped = extract_document(html, "https://x.invalid/news/article-1.html", NoiseRules(drop_line_patterns=("^PUB:",)))
    assert "PUB: achetez" in kept.text and "PUB: achetez" not in dropped.text


def test_charset_from_http_header_wins() -> None:
    body = "<html><body><article><p>{}</p></article></body></html>".format("Déjà vu à Idleb, répété. " * 10).encode(
        "cp1252"
    )
    doc = extract_document(
        body, "https://x.invalid/news/article-1.html", NoiseRules(), content_type="text/html; charset=windows-1252"
    )
    assert "Déjà vu à Idleb" in doc.text
