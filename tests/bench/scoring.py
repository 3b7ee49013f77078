"""How close an extraction is to the truth: pure functions, no I/O.

The standard score is the one of the Zyte article-extraction benchmark: the text is split
into word tokens (regex \\w+), every run of 4 consecutive tokens is a shingle, and
precision / recall count shingles as a multiset (Counter intersection). Over a collection
the per-page precisions and recalls are averaged and F1 is taken from the two means.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

TOKEN = re.compile(r"\w+")
NGRAM = 4


def norm(s: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", s)).strip()


def shingles(text: str, n: int = NGRAM) -> Counter[tuple[str, ...]]:
    tokens = TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i : i + n])


@dataclass(frozen=True)
class PR:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        return f1(self.precision, self.recall)


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def shingle_pr(truth: str, predicted: str) -> PR:
    """Precision and recall of one page (an empty prediction of a non-empty truth scores 0/0)."""
    want, got = shingles(truth), shingles(predicted)
    tp = sum((want & got).values())
    fp = sum((got - want).values())
    fn = sum((want - got).values())
    precision = tp / (tp + fp) if tp + fp else (1.0 if not want else 0.0)
    recall = tp / (tp + fn) if tp + fn else 1.0
    return PR(precision, recall)


def mean_pr(scores: Iterable[PR]) -> PR:
    rows = list(scores)
    if not rows:
        return PR(1.0, 1.0)
    return PR(sum(s.precision for s in rows) / len(rows), sum(s.recall for s in rows) / len(rows))


def overlap(line: str, text_shingles: Counter[tuple[str, ...]]) -> float:
    """Share of a line's shingles found in a text (1.0 for a line too short to have any)."""
    own = shingles(line)
    if not own:
        return 1.0
    return sum((own & text_shingles).values()) / sum(own.values())


def bootstrap_f1(scores: list[PR], resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95 % interval of a collection's F1 (from mean precision and mean recall), resampling its
    pages with replacement; seeded, so a run's intervals can be reproduced."""
    if not scores or resamples <= 0:
        return (float("nan"), float("nan"))
    rng = random.Random(seed)
    n = len(scores)
    p = [s.precision for s in scores]
    r = [s.recall for s in scores]
    values = []
    for _ in range(resamples):
        picks = [rng.randrange(n) for _ in range(n)]
        values.append(f1(sum(p[i] for i in picks) / n, sum(r[i] for i in picks) / n))
    values.sort()
    return (values[int(0.025 * (resamples - 1))], values[int(0.975 * (resamples - 1))])
