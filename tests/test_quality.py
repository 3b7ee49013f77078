"""Quality checks: block and challenge pages, boilerplate leaks. Plain tables of cases."""

from __future__ import annotations

import pytest

from extract import classify_capture, detect_block, leak_flags
from tests.test_extract_gold import GOLD

ARTICLE = (
    "<article>"
    + "<p>Les frappes ont repris à l'aube sur la province d'Idleb, selon des témoins.</p>" * 25
    + "</article>"
)


@pytest.mark.parametrize(
    ("status", "html", "kind"),
    [
        (
            503,
            "<html><head><title>Just a moment...</title></head><body>Checking your browser</body></html>",
            "cloudflare",
        ),
        (403, "<title>Attention Required! | Cloudflare</title>", "cloudflare"),
        (200, '<script src="/cdn-cgi/challenge-platform/h/b/orchestrate/jsch/v1"></script>', "cloudflare"),
        (403, '<script src="https://ct.captcha-delivery.com/c.js"></script>', "datadome"),
        (200, '<div class="g-recaptcha" data-sitekey="x"></div>', "captcha"),
        (200, "<p>Please verify you are a human</p>", "captcha"),
        (200, "<h1>This content is not available in your country</h1>", "geo_block"),
        (451, "<h1>Ce contenu n'est pas disponible dans votre pays.</h1>", "geo_block"),
        (451, "<h1>Gone</h1>", "http_451"),
        (403, "<h1>Forbidden</h1>", "http_403"),
        (429, "<h1>Too many requests</h1>", "http_429"),
        (200, "<article><p>Un article ordinaire sur Idleb.</p></article>", None),
        # an article's worth of text: the widget is the article's, not a challenge
        (200, ARTICLE + '<form class="comments"><div class="g-recaptcha" data-sitekey="x"></div></form>', None),
        (200, ARTICLE + '<script src="/cdn-cgi/challenge-platform/scripts/jsd/main.js"></script>', None),
        (200, ARTICLE + "<p>This video is not available in your country.</p>", None),
        (403, ARTICLE + '<div class="g-recaptcha"></div>', "http_403"),  # the status still speaks
        # text hidden in scripts, styles and comments is not an article's worth
        (
            200,
            f"<script>var t = '{'x' * 5000}';</script><!-- {'y' * 5000} --><div class=\"g-recaptcha\"></div>",
            "captcha",
        ),
        (404, "<h1>Not found</h1>", None),
        (500, "<h1>Internal Server Error</h1>", None),
    ],
)
def test_detect_block(status: int, html: str, kind: str | None) -> None:
    assert detect_block(status, html) == kind


def test_classify_capture_decodes_bytes() -> None:
    body = "<title>Just a moment...</title>".encode("utf-16")
    assert classify_capture(503, body, "text/html; charset=utf-16") == "cloudflare"


@pytest.mark.parametrize(
    ("line", "flags"),
    [
        ("Tout AccepterTout refuserParamétrer vos choix", ["leak:consent"]),
        ("RT en français utilise des cookies pour exploiter et améliorer ses services.", ["leak:consent"]),
        ("Accept all cookies", ["leak:consent"]),
        ("Alle akzeptieren", ["leak:consent"]),
        ("Tümünü kabul et", ["leak:consent"]),
        ("قبول الكل", ["leak:consent"]),
        ("Laisser un commentaire", ["leak:comments"]),
        ("Leave a comment", ["leak:comments"]),
        ("28 Commentaires", ["leak:comments"]),
        ("Your email address will not be published.", ["leak:comments"]),
        ("Partager cet article? https://turquie2023.com/3fkPaC", ["leak:share"]),
        ("Share this:", ["leak:share"]),
        ("Abonnez-vous à notre newsletter", ["leak:newsletter"]),
        ("Suscríbete a nuestro boletín", ["leak:newsletter"]),
        ("Lire aussi : La coalition frappe", ["leak:read_also"]),
        ("Read more: Syria strikes", ["leak:read_also"]),
        ("Le porte-parole a partagé les documents avec la presse.", []),
        ("Les cookies de la cantine étaient excellents, a-t-il raconté.", []),
        ("Les commentaires de Moscou sur la frappe ont été virulents.", []),
    ],
)
def test_leak_flags(line: str, flags: list[str]) -> None:
    assert leak_flags(line) == flags


@pytest.mark.parametrize("seed", sorted(GOLD))
def test_no_leak_flag_on_any_gold_article_line(seed: str) -> None:
    gold = GOLD[seed]
    assert leak_flags("\n".join(gold["keep"] + gold["optional"])) == []


def test_long_lines_are_not_judged() -> None:
    paragraph = "Le ministère a publié sa politique de cookies, " + "un long paragraphe d'article. " * 10
    assert leak_flags(paragraph) == []


def test_every_signature_has_a_hint() -> None:
    """The substring pre-check never hides a signature: each example of each kind contains a hint."""
    from extract.quality import _HINTS, BLOCK_SIGNATURES

    examples = {
        "cloudflare": [
            "<title>Just a moment...</title>",
            "<title>Attention Required! | Cloudflare</title>",
            "cf-browser-verification",
            "/cdn-cgi/challenge-platform/h/b",
            "window._cf_chl_opt={}",
        ],
        "datadome": ["https://geo.captcha-delivery.com/captcha/", "DataDome"],
        "captcha": [
            '<div class="g-recaptcha">',
            '<div class="h-captcha">',
            "https://hcaptcha.com/1/api.js",
            "Please verify you are a human",
            "Vérifiez que vous êtes un humain",
        ],
        "geo_block": [
            "not available in your region",
            "n’est pas disponible dans votre pays",
            "451 Unavailable For Legal Reasons",
            "geo-block",
            "geoblock",
        ],
    }
    patterns = dict(BLOCK_SIGNATURES)
    for kind, texts in examples.items():
        for text in texts:
            assert patterns[kind].search(text), text
            assert any(h in text.lower() for h in _HINTS), text
            assert detect_block(200, text) == kind


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "iso-8859-1", "utf-16"])
def test_classify_capture_finds_a_signature_in_any_encoding(encoding: str) -> None:
    """The byte-level pre-check (no decoding for a page without any signature literal) never
    clears a challenge page: the French literal in single-byte encodings, UTF-16 decoded."""
    page = "<html><head><title>Vérification</title></head><body><p>Vérifiez que vous êtes un humain</p></body></html>"
    assert classify_capture(200, page.encode(encoding), f"text/html; charset={encoding}") == "captcha"
