"""Hostile or odd pages: each yields a correct clean document or a clear ExtractionError, never a crash."""

from __future__ import annotations

import json

import pytest

from extract import CleanDocument, ExtractionError, NoiseRules, extract_document

URL = "https://example.invalid/article"


def extract(body: bytes, content_type: str | None = None) -> CleanDocument:
    return extract_document(body, URL, NoiseRules(), content_type=content_type)


RUSSIAN = "Министерство обороны России сообщило об ударе коалиции по позициям сирийской армии."
FRENCH = "Le ministère a déclaré que la frappe était une « erreur » regrettable à Deir ez-Zor."


@pytest.mark.parametrize(
    ("sentence", "encoding", "flag"),
    [(RUSSIAN, "cp1251", "charset_repaired:cp1251"), (FRENCH, "latin-1", "charset_repaired:cp1252")],
)
def test_wrong_declared_charset_is_repaired_and_flagged(sentence: str, encoding: str, flag: str) -> None:
    page = f"<html><head><meta charset='utf-8'></head><body><article><p>{' '.join([sentence] * 5)}</p></article></body></html>"
    doc = extract(page.encode(encoding), "text/html; charset=utf-8")
    assert sentence in doc.text
    assert flag in doc.flags


CHINESE = "谷歌在2014年收购的人工智能公司DeepMind开发出一款能够用自己的记忆学习新知识的计算机。"


@pytest.mark.parametrize(
    ("sentence", "declared", "content_type"),
    [
        (
            CHINESE,
            "gb2312",
            None,
        ),  # a page re-saved as UTF-8 whose meta still says gb2312 (real: Readability's qq page)
        (RUSSIAN, "windows-1251", None),
        (FRENCH, "utf-8", "text/html; charset=iso-8859-1"),  # the server's header lies
    ],
)
def test_utf8_bytes_under_a_legacy_label_are_read_as_utf8(
    sentence: str, declared: str, content_type: str | None
) -> None:
    page = f"<html><head><meta charset='{declared}'></head><body><article><p>{' '.join([sentence] * 5)}</p></article></body></html>"
    doc = extract(page.encode("utf-8"), content_type)
    assert sentence in doc.text
    if declared != "utf-8" or content_type:
        assert "charset_repaired:utf-8" in doc.flags


def test_a_page_that_is_only_a_comment_thread_is_not_an_article() -> None:
    items = "".join(
        f'<li class="comment"><div class="comment-content"><p>Commentaire {i} : je ne suis pas d’accord avec'
        " cette analyse de la situation en Syrie, pas du tout.</p></div></li>"
        for i in range(5)
    )
    page = f'<html><body><div id="comments" class="comments-area"><ol class="comment-list">{items}</ol></div></body></html>'
    with pytest.raises(ExtractionError, match="no article text"):
        extract(page.encode())


def test_five_megabytes_of_tables_complete() -> None:
    cell = "<table><tr>" + "<td>cellule de données chiffrées 12,5 %</td>" * 20 + "</tr></table>"
    lead = "Un paragraphe d’article normal qui présente les faits du jour avec clarté. " * 4
    page = f"<html><body><article><p>{lead}</p>{cell * (5_000_000 // len(cell))}</article></body></html>"
    doc = extract(page.encode())
    assert doc.text.startswith("Un paragraphe d’article normal")


def test_deeply_nested_tables_with_no_prose_fail_clearly() -> None:
    page = "<html><body>" + "<table><tr><td>" * 300 + "<p>Texte profond</p>" + "</td></tr></table>" * 300
    with pytest.raises(ExtractionError, match="no article text"):
        extract(page.encode())


def test_article_inside_noscript() -> None:
    text = "Le texte complet n’est servi qu’aux navigateurs sans JavaScript, dans la balise noscript. " * 4
    page = f"<html><body><div id='app'></div><noscript><article><p>{text}</p></article></noscript></body></html>"
    assert "balise noscript" in extract(page.encode()).text


def test_article_only_in_json_ld() -> None:
    ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": "Titre seulement en JSON-LD",
        "articleBody": "Premier paragraphe, seulement dans les données structurées.\n\nSecond paragraphe, avec des précisions.",
        "datePublished": "2020-02-28T07:55:00Z",
        "inLanguage": "fr",
    }
    page = f"<html><head><script type='application/ld+json'>{json.dumps(ld)}</script></head><body><div id='root'></div></body></html>"
    doc = extract(page.encode())
    assert "Premier paragraphe, seulement dans les données structurées." in doc.text
    assert doc.title == "Titre seulement en JSON-LD" and doc.published == "2020-02-28T07:55:00Z"


@pytest.mark.parametrize(
    ("page", "lang", "needle"),
    [
        (
            "<html lang='ar' dir='rtl'><body><article><p>{}</p></article></body></html>",
            "ar",
            "أعلنت وزارة الدفاع الروسية أن طائرات التحالف قصفت مواقع للجيش السوري.",
        ),
        (
            "<html lang='tr'><body><article><p>{}</p></article></body></html>",
            "tr",
            "Rusya Savunma Bakanlığı, koalisyon uçaklarının Suriye ordusu mevzilerini vurduğunu açıkladı.",
        ),
    ],
)
def test_arabic_and_turkish(page: str, lang: str, needle: str) -> None:
    doc = extract(page.format(" ".join([needle] * 4)).encode())
    assert needle in doc.text and doc.language == lang
