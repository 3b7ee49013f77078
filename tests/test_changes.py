"""What a later fetch of an archived article amounts to (pipeline/changes.py): a table of cases
built on a real article's text (the TRT Français seed), each stating the event expected."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline.changes import Change, Refetch, Version, compare, kept_share, words

SEEDS = Path(__file__).parent / "fixtures" / "seeds" / "gold.json"
_seed = json.loads(SEEDS.read_text(encoding="utf-8"))[0]
TITLE: str = _seed["title"]
PARAGRAPHS: list[str] = [line for line in _seed["keep"] if line != TITLE]
TEXT = "\n".join(PARAGRAPHS)
URL = "https://www.trtfrancais.com/monde/syrie-la-coalition-frappe-les-soldats-du-regime-12345"
OLD = Version("c1", URL, TEXT, TITLE, "2016-09-17T20:10:00+00:00", None, ("TRT Français",))


def _page(text: str = TEXT, **change: Any) -> Version:
    return replace(OLD, capture_id="c2", text=text, **change)


def _fetch(status: int | None = 200, final: str | None = None, page: Version | None = None) -> Refetch:
    return Refetch(URL, status, final or URL, page, sections=("/monde", "/economie"))


ADDED = "Le Kremlin a demandé une enquête internationale sur cette frappe."
CASES: dict[str, tuple[Refetch, tuple[str, str] | None]] = {
    "unchanged": (_fetch(page=_page()), None),
    "typography only (quotes, spaces, dashes, case)": (
        _fetch(page=_page(TEXT.replace("’", "'").replace(" ", "  ").replace("Etats-Unis", "ETATS-UNIS"))), None,
    ),
    "404": (_fetch(404, page=None), ("takedown", "gone")),
    "410 Gone": (_fetch(410), ("takedown", "gone")),
    "redirected to the home page": (_fetch(200, "https://www.trtfrancais.com/", _page("Accueil")), ("takedown", "redirect_home")),
    "redirected to a language edition's root": (_fetch(301, "https://www.trtfrancais.com/fr/"), ("takedown", "redirect_home")),
    "redirected to its section": (_fetch(200, "https://www.trtfrancais.com/monde"), ("takedown", "redirect_section")),
    "redirected to a tag page": (_fetch(200, "https://www.trtfrancais.com/tag/syrie/"), ("takedown", "redirect_section")),
    "redirected to a renamed slug (moved, not taken down)": (
        _fetch(200, URL.replace("12345", "12345-maj"), _page()), None,
    ),
    "200 with a listing where the article was": (
        _fetch(page=_page("Monde\nSyrie\nTurquie", status="not_article")), ("takedown", "content_removed"),
    ),
    "200 with a removal notice and no article text": (
        _fetch(page=_page("Cet article n'est plus disponible.", status="extraction_failed")),
        ("takedown", "content_removed"),
    ),
    "200 with another text": (
        _fetch(page=_page("La Bourse d'Istanbul a clôturé en hausse de deux pour cent mardi, portée par les banques.")),
        ("takedown", "content_removed"),
    ),
    "a paragraph added": (_fetch(page=_page(TEXT + "\n" + ADDED)), ("edit", "text")),
    "a paragraph removed": (_fetch(page=_page("\n".join(PARAGRAPHS[:-1]))), ("edit", "text")),
    "a number changed": (_fetch(page=_page(TEXT.replace("62 soldats", "83 soldats"))), ("edit", "text")),
    "title rewritten": (_fetch(page=_page(title="Syrie : frappe contestée de la coalition")), ("edit", "title")),
    "dates changed with the text": (
        _fetch(page=_page(TEXT + "\n" + ADDED, modified="2016-09-18T08:00:00+00:00")), ("edit", "text,modified"),
    ),
    "author removed from the page is not a change": (_fetch(page=_page(authors=())), None),
    "author replaced": (_fetch(page=_page(authors=("AFP",))), ("edit", "authors")),
    "blocked (403): nothing concluded": (_fetch(403), None),
    "server error: nothing concluded": (_fetch(503), None),
    "no response: nothing concluded": (_fetch(None), None),
    "a block page captured with 200: nothing concluded": (_fetch(page=_page("Just a moment", status="blocked")), None),
}  # fmt: skip


@pytest.mark.parametrize(("later", "expected"), CASES.values(), ids=CASES.keys())
def test_what_a_later_fetch_amounts_to(later: Refetch, expected: tuple[str, str] | None) -> None:
    change = compare(OLD, later)
    assert (None if change is None else (change.kind, change.reason)) == expected, change


def test_an_edit_says_what_was_added_and_removed() -> None:
    later = _fetch(
        page=_page(TEXT.replace("62 soldats", "83 soldats", 1) + "\n" + ADDED, title="Syrie : frappe contestée")
    )
    change = compare(OLD, later)
    assert isinstance(change, Change) and change.kind == "edit" and change.reason == "text,title"
    s = change.summary
    assert s["words_removed"] == 1 and s["removed_sample"] == "62"
    assert s["words_added"] == 1 + len(words(ADDED)) and s["added_sample"].startswith("83 le kremlin a demandé")
    assert s["fields_changed"]["title"] == {"before": TITLE, "after": "Syrie : frappe contestée"}
    assert s["words_after"] - s["words_before"] == len(words(ADDED)) and s["kept_share"] > 0.9


def test_a_takedown_keeps_its_evidence() -> None:
    change = compare(OLD, _fetch(301, "https://www.trtfrancais.com/"))
    assert change == Change("takedown", "redirect_home", {"status": 301, "final_url": "https://www.trtfrancais.com/"})


@pytest.mark.parametrize(
    ("new", "share"),
    [(TEXT, 1.0), ("", 0.0), (PARAGRAPHS[0], None), (TEXT + " " + TEXT, 1.0)],
)
def test_kept_share(new: str, share: float | None) -> None:
    got = kept_share(words(TEXT), words(new))
    if share is None:
        assert 0 < got < 1
    else:
        assert got == share
