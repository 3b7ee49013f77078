"""Quality checks: block and challenge pages, boilerplate leaks. Plain tables of cases."""

from __future__ import annotations

import pytest

from extract import classify_capture, detect_block, leak_flags
from tests.test_extract_gold import GOLD


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
