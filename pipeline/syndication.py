"""Syndication: the same story's text published by another outlet, found with MinHash LSH.

Issue 15's second part, the linker itself (not yet run by the DAGs or stored): every clean
text becomes a set of word 5-gram shingles (words as `pipeline.changes.words` reads them:
case, quotes, dashes and spacing ignored, so a republication's typography does not hide
it), a MinHash of them (datasketch, 128 permutations) and an entry in an LSH index tuned
for an estimated Jaccard similarity of 0.5. A new article is compared with the articles
of *other* sources in its LSH buckets; each match at or above the threshold is a link
oriented from the later publication to the earlier one (the earliest capture elsewhere
is the original, as far as the archive knows), with the estimated similarity.

Versions of one article in one source (revisits, edits) are never linked: they are the
edit events' business. Texts under MIN_WORDS words (briefs, captions, a headline page)
are not indexed: short texts share shingles by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from datasketch import MinHash, MinHashLSH

from pipeline.changes import words

NUM_PERM = 128
THRESHOLD = 0.5  # estimated Jaccard of word 5-gram shingles from which two texts are one story
SHINGLE = 5
MIN_WORDS = 80


@dataclass(frozen=True)
class Article:
    capture_id: str
    source_id: str
    published: str  # ISO date-time; orders original and republication
    text: str


@dataclass(frozen=True)
class Link:
    republished: str  # capture id of the later publication
    original: str  # capture id of the earlier one, in another source
    republished_source: str
    original_source: str
    similarity: float  # estimated Jaccard of the two texts' shingles


def shingles(text: str) -> list[bytes]:
    ws = words(text)
    return list({" ".join(ws[i : i + SHINGLE]).encode() for i in range(len(ws) - SHINGLE + 1)})


class Linker:
    """An incremental index: add articles in any order; each add returns the links it makes."""

    def __init__(self, threshold: float = THRESHOLD, num_perm: int = NUM_PERM):
        self.threshold, self.num_perm = threshold, num_perm
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.articles: dict[str, tuple[Article, np.ndarray]] = {}

    def add(self, article: Article) -> list[Link]:
        if article.capture_id in self.articles or len(words(article.text)) < MIN_WORDS:
            return []
        mh = MinHash(num_perm=self.num_perm)
        mh.update_batch(shingles(article.text))
        links = []
        for key in self.lsh.query(mh):
            other, values = self.articles[key]
            if other.source_id == article.source_id:
                continue
            similarity = float(np.count_nonzero(mh.hashvalues == values)) / self.num_perm
            if similarity < self.threshold:
                continue
            later, earlier = (article, other) if (article.published, article.capture_id) > (
                other.published, other.capture_id) else (other, article)  # fmt: skip
            links.append(Link(later.capture_id, earlier.capture_id, later.source_id, earlier.source_id,
                              round(similarity, 3)))  # fmt: skip
        self.lsh.insert(article.capture_id, mh)
        self.articles[article.capture_id] = (article, mh.hashvalues.copy())
        return sorted(links, key=lambda link: (-link.similarity, link.original))
