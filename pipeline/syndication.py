"""Syndication: the same story's text published by another outlet, found with MinHash LSH.

Every clean text becomes a set of word 5-gram shingles (words after NFC and case folding,
as runs of letters and digits, so quotes, apostrophes, dashes and spacing, typographic or
not, only separate them and a republication's typography does not hide it) and a MinHash
of them: 128 permutations of datasketch's "affine32" scheme, seeded as datasketch seeds
them. Articles are banded as datasketch's LSH would band them for an estimated Jaccard of
0.45, weighing a missed link above a wasted comparison (its optimal b x r: 32 x 4); a new
article is compared with the articles of *other* sources sharing a band; each match at or
above the threshold is a link oriented from the later publication to the earlier one (the
earliest capture elsewhere is the original, as far as the archive knows), with the
estimated similarity.

datasketch's hot loops are replaced by numpy, for speed at a million captures: words are
hashed from prefix sums over the text's code points (no Python call per word), shingles
by a rolling product, and the MinHash is computed as datasketch computes it, bit for bit
(tested), without its Python call per shingle. The band index is ours too: datasketch's
MinHashLSH keeps a Python dict entry per article and band (about 9 KB an article: 9 GB at
a million captures, measured); here each band is a sorted uint64 array (256 bytes an
article, plus the 512-byte signature), searched with numpy, with new articles in a small
second level merged in when it grows.

Versions of one article in one source (revisits, edits) are never linked: they are the
edit events' business. Texts under MIN_WORDS words (briefs, captions, a headline page)
are not indexed: short texts share shingles by accident.
"""

from __future__ import annotations

import multiprocessing
import unicodedata
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache

import numpy as np
from datasketch import MinHash, MinHashLSH

from pipeline.parallel import WorkerLost, die_with_parent

NUM_PERM = 128
# estimated Jaccard of word 5-gram shingles from which two texts are one story: 0.45, not 0.5,
# because 128 permutations estimate a true 0.6 within +-0.09 (2 sd); different stories
# share almost no 5-grams (< 0.05), so precision does not pay for it
THRESHOLD = 0.45
WEIGHTS = (0.3, 0.7)  # datasketch's false positive / false negative weights: a missed link costs more
SHINGLE = 5
MIN_WORDS = 80
SEED = 1
METHOD = f"minhash-lsh/word{SHINGLE}/{NUM_PERM}p/affine32/seed{SEED}/v2"  # v2: words hashed in numpy

_PROTO = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32")
_PARAMS = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, weights=WEIGHTS)
BANDS, ROWS = _PARAMS.b, _PARAMS.r  # datasketch's optimal banding for these (32 bands x 4 rows)
# odd multipliers that fold a band's ROWS values into one 64-bit key (and the words of a shingle)
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
                 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9],
                dtype=np.uint64)  # fmt: skip


@dataclass(frozen=True)
class Article:
    capture_id: str
    source_id: str
    published: str  # ISO date-time; orders original and republication
    text: str
    url: str = ""


@dataclass(frozen=True)
class Link:
    republished: str  # capture id of the later publication
    original: str  # capture id of the earlier one, in another source
    republished_source: str
    original_source: str
    similarity: float  # estimated Jaccard of the two texts' shingles


_K = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2**64: a word's hash from prefix sums


@cache
def _word_chars() -> np.ndarray:
    """Which code points are word characters (letters, digits, underscore: what `\\w` matches),
    built once per process on first use (1.1 MB)."""
    return np.array([chr(c).isalnum() or c == 0x5F for c in range(0x110000)], dtype=bool)


_powers: list[np.ndarray] = []  # K**i and K**-i modulo 2**64, grown to the longest text seen


def _powers_for(n: int) -> tuple[np.ndarray, np.ndarray]:
    if not _powers or len(_powers[0]) < n:
        size = max(n, 1 << 16)
        up = np.empty(size, dtype=np.uint64)
        down = np.empty(size, dtype=np.uint64)
        up[0] = down[0] = 1
        np.cumprod(np.full(size - 1, _K, dtype=np.uint64), out=up[1:])  # wraps modulo 2**64
        np.cumprod(np.full(size - 1, pow(_K, -1, 2**64), dtype=np.uint64), out=down[1:])
        _powers[:] = [up, down]
    return _powers[0], _powers[1]


def word_hashes(text: str) -> np.ndarray:
    """A 64-bit hash of each word of the text, in order, computed in numpy without a Python
    call per word: NFC and case folding, then words as maximal runs of letters, digits and
    underscores (so quotes, apostrophes, dashes and spacing, typographic or not, only
    separate words), each hashed as a polynomial over its code points from prefix sums."""
    folded = unicodedata.normalize("NFC", text).casefold()
    cp = np.frombuffer(folded.encode("utf-32-le"), dtype=np.uint32)
    edges = np.diff(_word_chars()[cp].astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    up, down = _powers_for(len(cp) + 1)
    prefix = np.zeros(len(cp) + 1, dtype=np.uint64)
    np.cumsum((cp.astype(np.uint64) + np.uint64(1)) * up[: len(cp)], out=prefix[1:])
    return np.asarray((prefix[ends] - prefix[starts]) * down[starts], dtype=np.uint64)


def shingle_hashes(h: np.ndarray) -> np.ndarray:
    """The distinct 32-bit hashes of the word 5-grams, from the words' hashes."""
    if len(h) < SHINGLE:
        return np.zeros(0, dtype=np.uint32)
    n = len(h) - SHINGLE + 1
    acc = np.zeros(n, dtype=np.uint64)
    for i in range(SHINGLE):
        acc = (acc ^ h[i : i + n]) * _MIX[i]  # wraps modulo 2**64: order-sensitive, well mixed
    return np.unique((acc >> np.uint64(32)).astype(np.uint32))


_A, _B = (np.asarray(v, dtype=np.uint32) for v in _PROTO.permutations)


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch's affine32 scheme pre-mixes each input."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return np.asarray(h ^ (h >> np.uint32(16)), dtype=np.uint32)


def minhash(hashes: np.ndarray) -> np.ndarray:
    """The MinHash of a set of 32-bit hashes: what datasketch's MinHash(scheme="affine32",
    seed=SEED).update_batch computes, bit for bit (a test compares them), without its
    per-value Python calls: fmix, then a*h + b modulo 2**32 per permutation, then the minimum."""
    if not len(hashes):
        return np.full(NUM_PERM, np.iinfo(np.uint32).max, dtype=np.uint32)
    return np.asarray((_fmix32(hashes.astype(np.uint32))[:, None] * _A + _B).min(axis=0), dtype=np.uint32)


def signature(text: str) -> tuple[np.ndarray | None, int]:
    """(MinHash values as uint32[NUM_PERM], or None for a text too short to index; word count)."""
    h = word_hashes(text)
    return (minhash(shingle_hashes(h)) if len(h) >= MIN_WORDS else None), len(h)


def _sign_chunk(texts: list[str]) -> list[tuple[np.ndarray | None, int]]:
    return [signature(t) for t in texts]


_pool: tuple[int, ProcessPoolExecutor] | None = None


def sign_all(texts: Sequence[str], workers: int = 1, chunk: int = 100) -> list[tuple[np.ndarray | None, int]]:
    """signature() of each text, in order; on `workers` spawned processes when there are
    enough texts to pay for them. The pool is started once (about a second: numpy and
    datasketch) and kept for the process's later batches."""
    global _pool  # noqa: PLW0603 - one pool per process, started on first need
    if workers <= 1 or len(texts) < 2 * chunk:
        return _sign_chunk(list(texts))
    if _pool is None or _pool[0] != workers:
        context = multiprocessing.get_context("spawn")
        _pool = (workers, ProcessPoolExecutor(workers, mp_context=context, initializer=die_with_parent))
    chunks = [list(texts[i : i + chunk]) for i in range(0, len(texts), chunk)]
    try:
        return [s for part in _pool[1].map(_sign_chunk, chunks) for s in part]
    except BrokenProcessPool as exc:
        _pool = None
        raise WorkerLost(f"a signing worker died ({exc}); nothing was committed by it, retry") from None


def band_keys(sigs: np.ndarray) -> np.ndarray:
    """(n, BANDS) uint64: each band's ROWS values folded into one key, per article."""
    bands = sigs[:, : BANDS * ROWS].astype(np.uint64).reshape(len(sigs), BANDS, ROWS)
    keys = np.zeros((len(sigs), BANDS), dtype=np.uint64)
    for i in range(ROWS):
        keys = (keys ^ bands[:, :, i]) * _MIX[i]
    return keys


class _Level:
    """Band keys of a set of rows, each band sorted for searchsorted, with the row of each key.

    Stored band by band (BANDS x n), so each search runs over contiguous memory. Two levels
    merge in linear time: numpy's stable sort is a timsort, which merges the two sorted runs
    of their concatenation instead of sorting it again."""

    def __init__(self, sorted_keys: np.ndarray, rows: np.ndarray):
        self.sorted, self.rows = sorted_keys, rows

    @classmethod
    def of(cls, keys: np.ndarray, first_row: int) -> _Level:
        by_band = np.ascontiguousarray(keys.T)
        order = np.argsort(by_band, axis=1, kind="stable")
        return cls(np.take_along_axis(by_band, order, axis=1), order + first_row)

    def __len__(self) -> int:
        return int(self.sorted.shape[1])

    def merged(self, other: _Level) -> _Level:
        keys = np.concatenate([self.sorted, other.sorted], axis=1)
        rows = np.concatenate([self.rows, other.rows], axis=1)
        order = np.argsort(keys, axis=1, kind="stable")  # two sorted runs per band: a linear merge
        return _Level(np.take_along_axis(keys, order, axis=1), np.take_along_axis(rows, order, axis=1))

    def matches(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query index, row) pairs sharing at least one band key (a pair once per shared band)."""
        qs, rs = [], []
        for band in range(BANDS):
            col = self.sorted[band]
            lo = np.searchsorted(col, keys[:, band], "left")
            lens = np.searchsorted(col, keys[:, band], "right") - lo
            hit = np.nonzero(lens)[0]
            if not len(hit):
                continue
            counts = lens[hit]
            # every position lo[q] .. lo[q] + lens[q] - 1 of every query q that hit, without a Python loop
            starts = np.repeat(lo[hit] - np.cumsum(counts) + counts, counts)
            qs.append(np.repeat(hit, counts))
            rs.append(self.rows[band, starts + np.arange(counts.sum())])
        if not qs:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(qs), np.concatenate(rs)


class _Rows:
    """A growable 2-D array: appending is amortised O(appended), not a copy of everything."""

    def __init__(self, width: int, dtype: type):
        self.data: np.ndarray = np.zeros((1024, width), dtype=dtype)
        self.n = 0

    def extend(self, rows: np.ndarray) -> None:
        if self.n + len(rows) > len(self.data):
            grown = np.zeros((max(2 * len(self.data), self.n + len(rows)), self.data.shape[1]), self.data.dtype)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : self.n + len(rows)] = rows
        self.n += len(rows)

    def view(self, start: int = 0) -> np.ndarray:
        return self.data[start : self.n]


class Linker:
    """An incremental index over the archive's signatures: add batches of articles in any
    order; each add returns the links its articles make with everything indexed so far."""

    MERGE_AT = 50_000  # rows in the second level before it is merged into the first

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.sources: list[str] = []
        self.published: list[str] = []
        self.known: set[str] = set()
        self._sigs = _Rows(NUM_PERM, np.uint32)
        self._main: _Level | None = None  # most rows, merged into rarely
        self._recent: _Level | None = None  # rows added since, merged into at every add

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, ids: Sequence[str], sources: Sequence[str], published: Sequence[str], sigs: np.ndarray) -> None:
        """Index stored signatures without linking them (they were linked when stored)."""
        self._append(ids, sources, published, sigs, band_keys(sigs))
        self._merge()

    def add(self, article: Article) -> list[Link]:
        return self.add_batch([article])

    def add_batch(self, articles: Iterable[Article]) -> list[Link]:
        """Sign, index and link the articles (short texts and ids already indexed are skipped)."""
        batch: list[tuple[Article, np.ndarray]] = []
        for a in articles:
            values = signature(a.text)[0] if a.capture_id not in self.known else None
            if values is not None:
                batch.append((a, values))
                self.known.add(a.capture_id)
        if not batch:
            return []
        return self.add_signed(
            [a.capture_id for a, _ in batch],
            [a.source_id for a, _ in batch],
            [a.published for a, _ in batch],
            np.stack([s for _, s in batch]),
        )

    def add_signed(
        self, ids: Sequence[str], sources: Sequence[str], published: Sequence[str], sigs: np.ndarray
    ) -> list[Link]:
        """Index signed articles and return the links they make (among themselves too)."""
        if not len(sigs):
            return []
        first = len(self.ids)
        queries = band_keys(np.asarray(sigs, dtype=np.uint32))
        self._append(ids, sources, published, sigs, queries)
        qs, rs = [], []
        for level in (self._main, self._recent):
            if level is not None:
                qi, rows = level.matches(queries)
                qs.append(qi + first)
                rs.append(rows)
        if not qs:
            return []
        q, r = np.concatenate(qs), np.concatenate(rs)
        keep = (q != r) & ~((r >= first) & (r < q))  # a pair within the batch once
        pairs = np.unique(np.stack([q[keep], r[keep]], axis=1), axis=0)
        return self._links(pairs)

    def _links(self, pairs: np.ndarray) -> list[Link]:
        links: list[Link] = []
        if not len(pairs):
            return links
        a, b = pairs[:, 0], pairs[:, 1]
        data = self._sigs.data
        sims = np.count_nonzero(data[a] == data[b], axis=1) / NUM_PERM
        for x, y, sim in zip(a.tolist(), b.tolist(), sims.tolist(), strict=True):
            if sim < THRESHOLD or self.sources[x] == self.sources[y]:
                continue
            later, earlier = (x, y) if (self.published[x], self.ids[x]) > (self.published[y], self.ids[y]) else (y, x)
            links.append(
                Link(self.ids[later], self.ids[earlier], self.sources[later], self.sources[earlier], round(sim, 3))
            )
        return sorted(links, key=lambda lk: (lk.republished, -lk.similarity, lk.original))

    def _append(
        self, ids: Sequence[str], sources: Sequence[str], published: Sequence[str], sigs: np.ndarray, keys: np.ndarray
    ) -> None:
        first = len(self.ids)
        self.ids += ids
        self.sources += sources
        self.published += published
        self.known.update(ids)
        self._sigs.extend(sigs)
        new = _Level.of(keys, first)
        self._recent = new if self._recent is None else self._recent.merged(new)
        if len(self._recent) >= self.MERGE_AT:
            self._merge()

    def _merge(self) -> None:
        if self._recent is not None:
            self._main = self._recent if self._main is None else self._main.merged(self._recent)
            self._recent = None
