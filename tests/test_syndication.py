"""Syndication links (pipeline/syndication.py) on the seeds' real texts: a story republished by
another outlet with that outlet's own noise around it is linked to the earlier publication;
different stories, one outlet's own versions and short texts are not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.syndication import MIN_WORDS, Article, Linker

SEEDS = json.loads((Path(__file__).parent / "fixtures" / "seeds" / "gold.json").read_text(encoding="utf-8"))


def _clean(seed: dict[str, object]) -> str:
    return "\n".join(seed["keep"])  # type: ignore[arg-type]


def _as_seen(seed: dict[str, object]) -> str:
    """The page's text as the republishing blog showed it: the article among its own noise
    (comment threads, share prompts, banners: the seed's lines labelled drop)."""
    return "\n".join([*seed["drop"], *seed["keep"]])  # type: ignore[misc]


# seed 1's page carries a 28-comment thread three times the article's length: as seen raw it
# is not "the same text" (estimated Jaccard 0.21); its clean capture is (the next test), and
# clean captures are what the archive links
@pytest.mark.parametrize(("n", "linked"), [(0, True), (1, False), (2, True), (3, True), (4, True)])
def test_a_republication_with_its_own_noise_is_linked_to_the_original(n: int, linked: bool) -> None:
    seed = SEEDS[n]
    linker = Linker()
    assert linker.add(Article("orig", "outlet_a", "2020-01-01T10:00:00+00:00", _clean(seed))) == []
    links = linker.add(Article("copy", "blog_b", "2020-01-01T18:00:00+00:00", _as_seen(seed)))
    if not linked:
        assert links == []
        return
    assert [(lk.republished, lk.original, lk.original_source) for lk in links] == [("copy", "orig", "outlet_a")]
    assert links[0].similarity >= 0.5


@pytest.mark.parametrize("n", range(len(SEEDS)))
def test_clean_copies_link_whatever_order_they_arrive_in(n: int) -> None:
    """A backfill may archive the republication before the original: the link still points
    from the later publication to the earlier one."""
    text = _clean(SEEDS[n])
    linker = Linker()
    linker.add(Article("copy", "blog_b", "2020-01-02T00:00:00+00:00", text.replace("’", "'")))
    (link,) = linker.add(Article("orig", "outlet_a", "2020-01-01T00:00:00+00:00", text))
    assert (link.republished, link.original, link.similarity) == ("copy", "orig", 1.0)


def test_different_stories_are_not_linked() -> None:
    linker = Linker()
    for i, seed in enumerate(SEEDS):
        assert linker.add(Article(f"c{i}", f"s{i}", f"2020-01-0{i + 1}T00:00:00+00:00", _clean(seed))) == []


def test_one_outlets_own_versions_are_not_syndication() -> None:
    linker = Linker()
    text = _clean(SEEDS[2])
    linker.add(Article("v1", "rt_fr", "2017-06-09T10:00:00+00:00", text))
    assert linker.add(Article("v2", "rt_fr", "2017-06-10T10:00:00+00:00", text + "\nMise à jour.")) == []


def test_short_texts_are_not_indexed() -> None:
    linker = Linker()
    brief = " ".join(_clean(SEEDS[0]).split()[: MIN_WORDS - 1])
    linker.add(Article("a", "x", "2020-01-01T00:00:00+00:00", brief))
    assert linker.add(Article("b", "y", "2020-01-02T00:00:00+00:00", brief)) == []
