"""Syndication links (pipeline/syndication.py) on the seeds' real texts: a story republished by
another outlet with that outlet's own noise around it is linked to the earlier publication;
different stories, one outlet's own versions and short texts are not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from pipeline import syndication
from pipeline.syndication import MIN_WORDS, THRESHOLD, Article, Linker

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
    assert links[0].similarity >= THRESHOLD


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
    brief = " ".join(re.findall(r"\w+", _clean(SEEDS[0]))[: MIN_WORDS - 1])
    assert len(syndication.word_hashes(brief)) == MIN_WORDS - 1
    linker.add(Article("a", "x", "2020-01-01T00:00:00+00:00", brief))
    assert linker.add(Article("b", "y", "2020-01-02T00:00:00+00:00", brief)) == []


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("L'armée syrienne", "l’ARMÉE  syrienne", True),  # apostrophe style, case, spacing
        ("cessez-le-feu", "cessez – le – feu", True),  # dashes only separate words
        ("Erdoğan à İstanbul", "erdoğan à i̇stanbul", True),  # case folding, Turkish dotted I included
        ("Café", "Cafe\u0301", True),  # composed or decomposed: NFC
        ("frappe", "frappes", False),
        ("🌟 Alep", "Alep", True),  # symbols are not words
    ],
)
def test_words_are_hashed_as_a_reader_reads_them(a: str, b: str, same: bool) -> None:
    assert (syndication.word_hashes(a).tolist() == syndication.word_hashes(b).tolist()) is same


def test_the_band_index_finds_exactly_the_pairs_sharing_a_band() -> None:
    """Incremental adds in batches, through merges of the second level into the first, against
    brute force over every pair: the index neither misses nor invents a candidate."""
    rng = np.random.default_rng(7)
    n, sources = 600, ["s0", "s1", "s2"]
    sigs = rng.integers(0, 2**32, (n, syndication.NUM_PERM), dtype=np.uint32)
    for i in range(0, n, 10):  # plant near-duplicates: copy 40-90 % of another row's values
        j = int(rng.integers(0, n))
        keep = rng.random(syndication.NUM_PERM) < rng.uniform(0.4, 0.9)
        sigs[i, keep] = sigs[j, keep]
    ids = [f"c{i:03d}" for i in range(n)]
    src = [sources[i % 3] for i in range(n)]
    pub = [f"2020-01-01T00:{i // 60:02d}:{i % 60:02d}" for i in range(n)]
    linker = syndication.Linker()
    linker.MERGE_AT = 150
    found = []
    for lo in range(0, n, 70):
        found += linker.add_signed(ids[lo : lo + 70], src[lo : lo + 70], pub[lo : lo + 70], sigs[lo : lo + 70])
    keys = syndication.band_keys(sigs)
    expected = set()
    for a in range(n):
        for b in range(a + 1, n):
            sim = float(np.count_nonzero(sigs[a] == sigs[b])) / syndication.NUM_PERM
            if src[a] != src[b] and sim >= syndication.THRESHOLD and np.any(keys[a] == keys[b]):
                expected.add((ids[b], ids[a]))  # later publication first
    assert {(lk.republished, lk.original) for lk in found} == expected
    assert len(expected) > 20  # the planted pairs are there to be found


@pytest.mark.parametrize("n", [0, 1, 7, 600])
def test_the_minhash_is_datasketchs_bit_for_bit(n: int) -> None:
    """The signature's vectorised MinHash equals datasketch's own (affine32, same seed)."""
    from datasketch import MinHash

    hashes = np.random.default_rng(n).integers(0, 2**32, n, dtype=np.uint32)
    theirs = MinHash(num_perm=syndication.NUM_PERM, seed=syndication.SEED, scheme="affine32", hashfunc=int)
    theirs.update_batch(hashes.tolist())
    assert np.array_equal(syndication.minhash(hashes), np.asarray(theirs.hashvalues, dtype=np.uint32))


def test_links_on_the_labelled_set_hold_their_floor() -> None:
    """Precision and recall on the labelled set built from the real-page corpus and the seeds
    (tests/bench/linking.py, `make bench-linking`): measured 1.0 and 0.868 on 2026-12-05 with the
    L3S-GN1 news pages in the corpus (0.907 on the 172 articles before them: short wire stories
    among 400 words of page noise fall under the Jaccard threshold)."""
    from tests.bench.linking import quality

    q = quality()
    assert q["precision"] >= 0.98 and q["recall"] >= 0.85, q
    assert q["found_by_how"]["light edits (1 word in 25 replaced)"] == "60/60", q
    assert not q["hard_negative_linked"]  # one story told in two outlets' own words
