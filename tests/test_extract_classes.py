"""Extraction failure classes met on real pages, each as a table of cases (pure: no I/O).

1 a generic rule deleting the article; 2 the lead lost; 3 teasers, prompts, captions, credits,
bios leaking (multilingual); 4 listings taken for articles; 6 metadata (authors, titles,
language). Class 5 (challenge pages) is in test_quality.py.
"""

from __future__ import annotations

import pytest

from extract import CleanDocument, ExtractionError, NoiseRules, NotAnArticle, extract_document, leak_flags
from extract.listing import is_root
from extract.metadata import choose_title, clean_author, declared_language, detect_language, strip_site
from extract.page import parse
from extract.rules import main_block

URL = "https://news.example/2024/03/01/strike-near-deir-ez-zor.html"
PARAS = [
    "The strike hit a convoy near the airport on Tuesday night, officials said, killing at least six people.",
    "Witnesses described several explosions and a fire that burned until the morning, according to local media.",
    "The defence ministry denied any involvement and called for an independent investigation into the attack.",
    "Diplomats at the United Nations said the Security Council would discuss the incident later this week.",
]
BODY = "".join(f"<p>{p}</p>" for p in PARAS)


def page(article: str, *, body_attrs: str = "", head: str = "", before: str = "", after: str = "") -> bytes:
    return (
        f"<html><head><title>Strike near Deir ez-Zor</title>{head}</head><body {body_attrs}>{before}"
        f"<article><h1>Strike near Deir ez-Zor</h1>{article}</article>{after}</body></html>"
    ).encode()


def extract(html: bytes, url: str = URL, rules: NoiseRules | None = None) -> CleanDocument:
    return extract_document(html, url, rules or NoiseRules(), content_type="text/html; charset=utf-8")


# --- class 1: a drop selector never removes the page or the article's container ---------------


@pytest.mark.parametrize(
    ("body_attrs", "wrapper"),
    [
        ('class="cookies-not-set"', ""),  # a WordPress cookie plugin's class on <body>
        ('class="mm-use-consent-management-enabled home"', ""),
        ("", "site-wrapper consent-given"),  # a page wrapper
        ("", "newsletter-popup-enabled"),
    ],
)
def test_a_generic_rule_never_removes_the_article(body_attrs: str, wrapper: str) -> None:
    inner = f'<div class="{wrapper}">{BODY}</div>' if wrapper else BODY
    banner = '<div class="cookie-banner"><p>We use cookies. Accept all</p></div>'
    doc = extract(page(inner, body_attrs=body_attrs, before=banner))
    assert all(p in doc.text for p in PARAS)
    assert "We use cookies" not in doc.text
    assert any(f.startswith("rule_guarded:") for f in doc.flags)


def test_a_fuzzy_selector_never_removes_the_main_text_block_outside_the_landmarks() -> None:
    """[class*=read-more] matches an article container named "entry-content-read-more"; the
    page has no <article>, no <main> and its h1 sits elsewhere, so only the main-block guard
    stands between the rule and the article (the output was the "Trending now" sidebar)."""
    trending = "".join(f"<p>Trending story number {i} that everyone is reading about today</p>" for i in range(4))
    html = (
        "<html><head><title>Strike</title></head><body><div class='header'><h1>Strike near Deir ez-Zor</h1></div>"
        f"<div class='entry-content entry-content-read-more'>{BODY}</div>"
        f"<div class='sidebar'><h3>Trending now</h3>{trending}</div></body></html>"
    ).encode()
    doc = extract(html)
    assert all(p in doc.text for p in PARAS)
    assert "rule_guarded:[class*=read-more]" in doc.flags


@pytest.mark.parametrize(
    ("html", "block_class"),
    [
        (f"<div class='a'>{BODY}</div><div class='b'><p>Short aside of some length here.</p></div>", "a"),
        (f"<div class='wrap'><div class='x'>{BODY}</div></div><div class='nav'><p>Home</p></div>", "x"),
        # paragraphs one per wrapper: their common grandparent holds the block
        ("<div class='g'>" + "".join(f"<div><p>{p}</p></div>" for p in PARAS) + "</div>", "g"),
        ("<div class='br'>" + "<br>".join(PARAS) + "</div><div><p>One line of a footer text.</p></div>", "br"),
        ("<div class='n'><p>Home</p><p>About</p></div>", None),  # no prose at all
    ],
)
def test_main_block(html: str, block_class: str | None) -> None:
    tree = parse(f"<html><body>{html}</body></html>")
    block = main_block(tree)
    assert (block.get("class") if block is not None else None) == block_class


def test_a_real_banner_is_still_removed_and_no_guard_recorded() -> None:
    doc = extract(page(BODY, before='<div id="cookie-notice"><p>This site uses cookies, accept them all.</p></div>'))
    assert "uses cookies" not in doc.text
    assert not any(f.startswith("rule_guarded:") for f in doc.flags)


# --- class 2: the lead is article text ------------------------------------------------------------

LEAD = "Moscow accused the coalition of striking Syrian army positions, a charge Washington denied on Tuesday."


@pytest.mark.parametrize(
    ("html", "rules"),
    [
        # RT: the summary is a sibling of the body container
        (page(f'<div class="article__summary summary">{LEAD}</div><div class="article__text">{BODY}</div>'), None),
        # Sputnik: the announce text
        (page(f'<div class="article__announce-text">{LEAD}</div><div class="article__body">{BODY}</div>'), None),
        # named by the profile only
        (
            page(f'<div class="x9">{LEAD}</div><div class="article__text">{BODY}</div>'),
            NoiseRules(lead_selectors=(".x9",)),
        ),
        # no class, but it is the page's declared description
        (page(f"<div>{LEAD}</div><div>{BODY}</div>", head=f'<meta property="og:description" content="{LEAD}">'), None),
        # French chapô, Spanish entradilla
        (page(f'<p class="chapo">{LEAD}</p>{BODY}'), None),
        (page(f'<p class="entradilla">{LEAD}</p>{BODY}'), None),
    ],
)
def test_the_lead_is_kept_first_and_recorded(html: bytes, rules: NoiseRules | None) -> None:
    doc = extract(html, rules=rules)
    assert doc.text.splitlines()[0] == LEAD
    assert doc.lead == LEAD
    assert all(p in doc.text for p in PARAS)


def test_a_lead_that_the_body_already_opens_with_is_not_inserted_twice() -> None:
    """The page's description is its first paragraph, broken over two lines in the HTML (a <br>
    in the paragraph): it comes out as two lines, and the lead must not be put before them."""
    first, rest = LEAD.split(", a charge")
    html = page(
        f"<div><p>{first},<br>a charge{rest}</p>{BODY}</div>", head=f'<meta property="og:description" content="{LEAD}">'
    )
    doc = extract(html)
    assert doc.text.count("Moscow accused the coalition") == 1


@pytest.mark.parametrize(
    "extra",
    [
        f'<div class="comments"><p class="intro">{LEAD}</p></div>',  # a "summary" below the article
        f'<aside><p class="summary">{LEAD}</p></aside>',  # in a sidebar
        f'<div class="related-summary"><p>{LEAD}</p></div>',
    ],
)
def test_no_lead_is_invented(extra: str) -> None:
    doc = extract(page(BODY, after=extra))
    assert doc.lead is None
    assert doc.text.splitlines()[0] == PARAS[0]


# --- class 3: teasers, prompts, captions, credits, bios (multilingual) -------------------------------

FURNITURE = [
    # page tools, legal links and notices, sign-up prompts, bare datelines (met on the L3S-GN1 dev half)
    "E-mail to a friend | Printable version",
    "Larger text | Smaller text",
    "Imprimer | Envoyer à un ami",
    "Click here to sign up",
    "Pick up a good habit this new year- subscribe now to save 32%",
    "Jan. 15, 2008 01:00 PM",
    "Associated Press - January 11, 2008 4:13 PM ET",
    "Copyright and Trade Mark Notice",
    "Please read our Terms and Conditions and Privacy Statement before using this site.",
    "Reproduction in whole or in part in any form or medium without express written permission is prohibited.",
    "Also on rt.com US strikes pro-government forces in Syria again",
    "Think your friends would be interested? Share this story!",
    "We'd love to get your feedback at feedback@example.com",
    "Note to readers: please click the share buttons above or below.",
    "Featured image is from Wikimedia Commons",
    "Photo : AFP / Delil Souleiman",
    "Foto: Sputnik / Mijaíl Voskresenski",
    "Passer la publicité",
    "À lire aussi : La coalition frappe encore à Deir ez-Zor",
    "Lire aussi : Les Etats-Unis et la Russie ont échangé des tirs",
    "Lea también: Rusia denuncia un nuevo ataque",
    "Lesen Sie auch: Angriff in Syrien",
    "Mehr zum Thema - Angriff in Syrien",
    "Ayrıca bakınız: Suriye'de yeni saldırı",
    "Читайте также: Удар по Дейр-эз-Зору",
    "اقرأ أيضا: غارة جديدة في دير الزور",
    "This article was posted: Tuesday, March 1, 2022 at 10:15 am",
    "Posted on March 1, 2022 at 10:15",
    "Copyright © 2022 Global Research",
    "© 2022 RT. All rights reserved.",
    "Tous droits réservés.",
    "Subscribe to our newsletter for the latest news",
    "Follow RT on Telegram",
]


@pytest.mark.parametrize("line", FURNITURE)
def test_furniture_lines_are_dropped(line: str) -> None:
    doc = extract(page(f"<p>{line}</p>{BODY}<p>{line}</p>"))
    assert line not in doc.text
    assert all(p in doc.text for p in PARAS)


ARTICLE_LINES = [
    "Terms and conditions of the deal were not disclosed, the company said in a statement on Monday.",
    "Print media in the country are under growing pressure from the government, the union says.",
    "January 11, 2008 was the day the talks collapsed in Geneva, diplomats recall.",
    "Reuters - The dollar fell on Tuesday after the data showed a slowdown in hiring.",
    "Send troops to the border, the minister said on Tuesday, and close the crossings.",
    "Read also the statement of the ministry, which the agency published in full on Monday evening after the vote.",
    "The photo: a key piece of evidence, according to investigators who examined it for several weeks.",
    "Les députés ont voté la loi ; lire aussi entre les lignes, disait un élu, n'a jamais été aussi nécessaire.",
    "Copyright law was at the centre of the debate in the European Parliament, the rapporteur explained.",
    "John Smith is a journalist who was detained in Damascus in 2013, his family said on Tuesday.",
    "The newsletter leaked to reporters showed that the ministry had been warned about the risk.",
]


@pytest.mark.parametrize("line", ARTICLE_LINES)
def test_article_sentences_that_look_alike_are_kept(line: str) -> None:
    doc = extract(page(f"<p>{line}</p>{BODY}"))
    assert line in doc.text


def test_a_closing_author_bio_is_flagged_not_cut_unless_the_profile_says() -> None:
    """The generic bio cut helped no real page and cut an evaluation page's last paragraph:
    a bio is flagged (leak:bio); a source whose articles end with one names it."""
    bio = "Jane Doe is a journalist based in Beirut who covers Syria and Lebanon for several outlets."
    doc = extract(page(BODY + f"<p>{bio}</p>"))
    assert bio in doc.text and "leak:bio" in doc.flags
    doc = extract(page(BODY + f"<p>{bio}</p>"), rules=NoiseRules(drop_line_patterns=(r"^Jane Doe is a journalist",)))
    assert bio not in doc.text
    mid = "John Smith is a journalist who was detained in Damascus in 2013, his family said on Tuesday."
    doc = extract(page(f"<p>{PARAS[0]}</p><p>{mid}</p>" + "".join(f"<p>{p}</p>" for p in PARAS[1:])))
    assert mid in doc.text


def test_a_reader_comment_thread_is_cut() -> None:
    comments = "".join(
        f"<div><p>Lector {i}</p><p>Hace {i + 2} minutos</p><p>Comentario número {i} sobre la noticia, muy largo.</p></div>"
        for i in range(4)
    )
    doc = extract(page(BODY + f"<div><p>Comentarios</p>{comments}</div>"))
    assert "Hace" not in doc.text and "Comentario número" not in doc.text
    assert all(p in doc.text for p in PARAS)


@pytest.mark.parametrize(
    ("line", "flag"),
    [
        ("Also on rt.com: Syria strikes", "leak:read_also"),
        ("Lee también: Rusia denuncia", "leak:read_also"),
        ("Think your friends would be interested? Share this story!", "leak:share"),
        ("We'd love to get your feedback at x@y.z", "leak:prompt"),
        ("Passer la publicité", "leak:prompt"),
        ("Photo: Reuters", "leak:caption"),
        ("Copyright 2022 Global Research", "leak:copyright"),
        ("This article was posted: Tuesday", "leak:posted"),
        ("Jane Doe is a journalist based in Beirut.", "leak:bio"),
    ],
)
def test_leak_flags_name_each_class(line: str, flag: str) -> None:
    assert flag in leak_flags(line)


# --- class 4: listings and homepages -----------------------------------------------------------------


def listing_page(n: int = 30, *, marked: bool = False) -> bytes:
    items = "".join(
        f'<li><a href="/2024/03/0{i % 9 + 1}/story-{i}.html">Headline number {i} about events in the region today</a></li>'
        for i in range(n)
    )
    head = '<meta property="og:type" content="article">' if marked else ""
    return (
        f"<html><head><title>Latest news</title>{head}</head><body><main><ul>{items}</ul></main></body></html>".encode()
    )


def test_a_column_of_headlines_is_a_listing() -> None:
    """All three: no article markup, 30 headline links in same-shaped blocks, no prose run."""
    with pytest.raises(NotAnArticle, match="same-shaped blocks"):
        extract(listing_page(), url="https://news.example/latest/")


def test_the_same_column_on_a_page_marked_as_an_article_is_kept_and_flagged() -> None:
    doc = extract(listing_page(marked=True), url="https://news.example/latest/")
    assert "maybe_listing:link-titles" in doc.flags


def test_teasers_cut_off_with_ellipses_are_a_sign_not_proof() -> None:
    """A one-paragraph article whose related lines are cut off is an article: kept, flagged."""
    teasers = "".join(
        f"<div><p>Officials said on Tuesday that the convoy number {i} had been hit near the airport and that …</p></div>"
        for i in range(6)
    )
    html = f"<html><head><title>Section</title></head><body><main>{teasers}</main></body></html>".encode()
    doc = extract(html, url="https://news.example/section/world")
    assert "maybe_listing:teasers" in doc.flags


def test_an_unmarked_article_beside_a_long_headline_rail_is_kept() -> None:
    """No article markup and 160 headline links in a rail, but three paragraphs' worth of prose
    (eight short ones here, ~850 characters): an article, not a listing. The same rail beside
    one teaser paragraph is a listing (a homepage met at an article's address)."""
    rail = "".join(
        f'<li class="r"><a href="/n/{i}">Headline {i} of the legal news rail today</a></li>' for i in range(160)
    )
    body = BODY + BODY.replace("<p>", "<p>Later, ")
    html = (
        f"<html><head><title>Court rules</title></head><body><div class='c'>{body}</div>"
        f"<ul class='rail'>{rail}</ul></body></html>"
    ).encode()
    doc = extract(html, url="https://legal.example/actualite/court-rules")
    assert all(p in doc.text for p in PARAS)
    teaser = html.replace(body.encode(), f"<p>{PARAS[0]} {PARAS[1]} {PARAS[2]}</p>".encode())
    with pytest.raises(NotAnArticle, match="160 headline links"):
        extract(teaser, url="https://legal.example/actualite/court-rules")


def test_a_news_round_up_of_linked_items_with_article_markup_is_kept() -> None:
    items = "".join(
        f'<li><a href="/s/{i}">Round-up item {i}: the council voted on the budget and the new school</a></li>'
        for i in range(12)
    )
    head = '<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Round-up"}</script>'
    html = f"<html><head><title>Round-up</title>{head}</head><body><article><ul>{items}</ul></article></body></html>"
    doc = extract(html.encode(), url="https://news.example/2024/03/01/round-up")
    assert "Round-up item 3" in doc.text


def test_an_index_page_the_profile_names_is_refused() -> None:
    index = "https://news.example/section/world"
    with pytest.raises(NotAnArticle, match="profile names"):
        extract_document(
            page(BODY).replace(b"<article>", b"<div>").replace(b"</article>", b"</div>"),
            index,
            NoiseRules(),
            content_type="text/html",
            index_urls=frozenset({index}),
        )


def test_an_article_with_a_related_links_box_is_an_article() -> None:
    related = "".join(f'<li><a href="/x/{i}">Related headline {i} about the war in Syria</a></li>' for i in range(12))
    doc = extract(page(BODY, after=f"<ul>{related}</ul>"))
    assert PARAS[0] in doc.text


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("https://www.rt.com/", True),
        ("https://francais.rt.com/fr/", True),
        ("https://news.example/index.html", True),
        ("https://news.example/en", True),
        ("https://news.example/news/123-title", False),
        ("https://news.example/?p=123", False),  # a WordPress article by id
    ],
)
def test_root_addresses(url: str, root: bool) -> None:
    assert is_root(url) is root


def test_a_root_address_that_says_it_is_an_article_is_extracted() -> None:
    head = '<meta property="og:type" content="article">'
    doc = extract(page(BODY, head=head), url="https://blog.example/")
    assert PARAS[0] in doc.text


def test_a_root_address_without_article_marks_is_a_homepage() -> None:
    with pytest.raises(ExtractionError, match="home page"):
        extract(page(BODY), url="https://blog.example/")


# --- class 6: metadata --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ("Par Jean Dupont", ["Jean Dupont"]),
        ("By Nathan Willis March 25, 2015", ["Nathan Willis"]),
        ("by Lucas Nolan22 Dec 2016651", ["Lucas Nolan"]),
        (
            "Martin Untersinger (avec Damien Leloup et Morgane Tual)",
            ["Martin Untersinger", "Damien Leloup", "Morgane Tual"],
        ),
        ("Bruno (Henrique Zecchin) Rodrigues", ["Bruno Henrique Zecchin Rodrigues"]),
        ("Richard (R.J.) Eskow", ["Richard Eskow"]),
        ("Ben Silverman Games Editor", ["Ben Silverman"]),
        ("Por Ana García y Luis Pérez", ["Ana García", "Luis Pérez"]),
        ("Von Anna Schmidt und Jonas Weber", ["Anna Schmidt", "Jonas Weber"]),
        ("Автор: Иван Петров", ["Иван Петров"]),
        ("بقلم محمد علي", ["محمد علي"]),
        ("Yazar: Ayşe Yılmaz", ["Ayşe Yılmaz"]),
        ("Sputnik https://cdnarabic1.img.sputniknews.com/img/logo.png", []),
        ("Cdnarabic1 I Logo Png", []),
        ("Name *", []),
        ("Sign In", []),
        ("AFP", []),
        ("admin", []),
        ("jean@example.com", []),
    ],
)
def test_clean_author(raw: str, names: list[str]) -> None:
    assert clean_author(raw, ["sputniknews"]) == names


def test_a_declared_author_may_be_the_outlet_a_visible_byline_may_not() -> None:
    assert clean_author("TRT Français", ["trt"], declared=True) == ["TRT Français"]
    assert clean_author("TRT Français", ["trt"]) == []


@pytest.mark.parametrize(
    ("title", "sitename", "url", "clean"),
    [
        ("Israel strikes Gaza | EUTimes.net", None, "https://www.eutimes.net/2024/x", "Israel strikes Gaza"),
        ("Who benefits? - Global Research", "Global Research", "https://www.globalresearch.ca/x", "Who benefits?"),
        ("RT en français — La coalition frappe", "RT en français", "https://francais.rt.com/x", "La coalition frappe"),
        (
            "Erdoğan: Türkiye will respond",
            "Anadolu Ajansı",
            "https://www.aa.com.tr/tr/x",
            "Erdoğan: Türkiye will respond",
        ),
        ("Syria - the war goes on", None, "https://antiwar.com/x", "Syria - the war goes on"),
    ],
)
def test_strip_site(title: str, sitename: str | None, url: str, clean: str) -> None:
    assert strip_site(title, sitename, url) == clean


@pytest.mark.parametrize(
    ("h1s", "declared", "sitename", "want"),
    [
        (["La coalition frappe"], ["La coalition frappe | RT en français"], "RT en français", "La coalition frappe"),
        (["Apple’s Vision Pro is the Retina display moment"], ["Apple’s Vision Pro hands-on: the Retina display moment"], None,
         "Apple’s Vision Pro is the Retina display moment"),
        (["RT en français", "La coalition frappe"], ["La coalition frappe - RT en français"], "RT en français",
         "La coalition frappe"),
        ([], ["Strike near Deir ez-Zor - Antiwar.com"], "Antiwar.com", "Strike near Deir ez-Zor"),
        (["Blog Name"], ["Story of the day :: Blog Name"], None, "Story of the day :: Blog Name"),
    ],
)  # fmt: skip
def test_choose_title(h1s: list[str], declared: list[str], sitename: str | None, want: str) -> None:
    assert choose_title(h1s, declared, sitename, "https://news.example/x") == want


@pytest.mark.parametrize(
    ("codes", "lang"),
    [(("fr-FR",), "fr"), (("en_US",), "en"), ((None, "", "tr"), "tr"), (("x-klingon-9",), None), ((None,), None)],
)
def test_declared_language(codes: tuple[str | None, ...], lang: str | None) -> None:
    assert declared_language(*codes) == lang


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("La coalition menée par les Etats-Unis a frappé des positions de l'armée syrienne près de Deir ez-Zor.", "fr"),
        ("The US-led coalition struck Syrian army positions near Deir ez-Zor, the ministry said on Tuesday.", "en"),
        ("ABD liderliğindeki koalisyon, Deyrizor yakınlarında Suriye ordusunun mevzilerini vurdu.", "tr"),
        ("Коалиция во главе с США нанесла удар по позициям сирийской армии около Дейр-эз-Зора.", "ru"),
        ("قصف التحالف بقيادة الولايات المتحدة مواقع للجيش السوري قرب دير الزور، بحسب الوزارة.", "ar"),
        ("Die von den USA geführte Koalition hat Stellungen der syrischen Armee bei Deir ez-Zor angegriffen.", "de"),
        ("La coalición liderada por Estados Unidos atacó posiciones del ejército sirio cerca de Deir ez-Zor.", "es"),
    ],
)
def test_detect_language(text: str, lang: str) -> None:
    assert detect_language(text) == lang


def test_an_undeclared_language_is_detected_and_flagged() -> None:
    text = "".join(
        f"<p>La coalition menée par les Etats-Unis a frappé des positions de l'armée syrienne, phrase {i}.</p>"
        for i in range(4)
    )
    html = f"<html><head><title>Frappe</title></head><body><article><h1>Frappe</h1>{text}</article></body></html>"
    doc = extract(html.encode())
    assert doc.language == "fr"
    assert "language_detected" in doc.flags


def test_authors_come_from_the_visible_byline_when_nothing_is_declared() -> None:
    byline = (
        '<p class="byline"><span class="by">by</span> <a rel="author" href="/author/ln">Lucas Nolan</a> 22 Dec 2016</p>'
    )
    comments = '<ol class="comment-list"><li><cite class="author">Troll</cite><p>First!</p></li></ol>'
    doc = extract(page(byline + BODY, after=comments))
    assert doc.authors == ["Lucas Nolan"]


@pytest.mark.parametrize(
    "declaration",
    [
        '<?xml version="1.0" encoding="iso-8859-1"?>',
        "\n<?xml version='1.0' encoding='utf-8' ?>\n",
        '<?xml version="1.0" encoding="' + "word, " * 600 + '"?>',  # a broken one, longer than a page head
    ],
)
def test_an_xhtml_page_with_an_xml_declaration_is_extracted(declaration: str) -> None:
    """lxml refuses a decoded string that still names an encoding; such pages were lost whole."""
    doc = extract(declaration.encode() + page(BODY))
    assert all(p in doc.text for p in PARAS)


@pytest.mark.parametrize(
    ("dateline", "published"),
    [
        ("Posted on March 1, 2022 at 10:15", "2022-03-01"),
        ("Jan. 15, 2008 01:00 PM", "2008-01-15"),
        ("Associated Press - January 11, 2008 4:13 PM ET", "2008-01-11"),
    ],
)
def test_a_page_that_declares_no_date_is_dated_by_its_visible_dateline(dateline: str, published: str) -> None:
    """htmldate's fast search finds nothing in the markup; the dateline the line rules drop
    from the text still dates the page (its extensive search runs on those few words only)."""
    doc = extract(page(f"<p>{dateline}</p>{BODY}"), url="https://news.example/story/strike")
    assert dateline not in doc.text
    assert doc.published == published
