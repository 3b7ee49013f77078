"""Extraction on real pages (tests/fixtures/real): quality and speed beside bare trafilatura.

Quality: for the pipeline's extraction (generic rules, as a source without a profile gets
it) and bare `trafilatura.extract` (defaults; comments off; favor_precision), the standard
4-gram-shingle precision / recall / F1 per collection (tests/bench/scoring.py), keep lines
found and drop lines leaked (gold.json), leads kept, non-article pages refused, and the
pipeline's title / author / language accuracy where the collection records them.

Speed, in one process, interleaved page by page: the pipeline's extract_document against
bare `trafilatura.extract` (median and p95 of per-page times), and the whole extract step
(WARC read, block check, extraction, clean JSON written, manifest committed) against bare
extraction of the same pages.
"""

from __future__ import annotations

import contextlib
import re
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import trafilatura

from extract import ExtractionError, Extractor, NoiseRules, classify_capture, extract_document
from extract.document import NotAnArticle
from pipeline import runs
from spiders.warc import Exchange, WarcFile
from storage import layout
from storage.store import LocalStore
from tests.bench.scoring import NGRAM, PR, bootstrap_f1, mean_pr, norm, overlap, shingle_pr, shingles
from tests.fixtures.real import RealPage, load_pages, split
from tests.fixtures.real import manifest as corpus_manifest

PIPELINE = "pipeline (generic rules)"
BARE_DEFAULTS = "trafilatura, defaults"
BARE_PRECISION = "trafilatura, favor_precision"
FOUND = 0.8  # share of a gold line's shingles in the text for the line to count as there
FAR_BELOW = 0.3  # F1 below bare defaults' on one page by this much: a page the pipeline spoils


@dataclass(frozen=True)
class Output:
    """What an extractor made of a page: its text, or None when refused as not an article."""

    text: str | None
    flags: tuple[str, ...] = ()


def pipeline(page: RealPage, rules: NoiseRules | None = None) -> Output:
    """The pipeline's extraction as a source without a profile gets it (generic rules only)."""
    try:
        doc = extract_document(page.html, page.url, rules or NoiseRules(), content_type="text/html")
    except NotAnArticle:
        return Output(None)
    except ExtractionError:
        return Output("")
    return Output(doc.text, tuple(doc.flags))


def _bare(**kwargs: Any) -> Callable[[RealPage], Output]:
    """`trafilatura.extract` called directly on the page: no project code before or after it."""

    def run(page: RealPage) -> Output:
        return Output(trafilatura.extract(page.html, url=page.url, **kwargs) or "")

    return run


EXTRACTORS: dict[str, Callable[[RealPage], Output]] = {
    PIPELINE: pipeline,
    BARE_DEFAULTS: _bare(),
    "trafilatura, comments off": _bare(include_comments=False),
    BARE_PRECISION: _bare(include_comments=False, favor_precision=True),
}


@dataclass
class PageScore:
    id: str
    collection: str
    half: str
    pr: PR
    keep_found: int
    keep_total: int
    drop_leaked: int
    lead_kept: bool | None  # None where the page marks no lead


def halves() -> dict[str, str]:
    """Each page's half (tests/fixtures/real/split.py): dev or eval, by site."""
    return {entry["id"]: split.half(split.site(entry)) for entry in corpus_manifest()}


def _contains(line: str, got: Counter[tuple[str, ...]], flat: str) -> bool:
    """A gold line is in the text: most of its shingles are, or (a line of fewer than four
    words, whose one shingle would span the line break) the line itself is."""
    return overlap(line, got) >= FOUND or (len(line.split()) < NGRAM and norm(line).casefold() in flat)


def score(page: RealPage, text: str, half: str = split.DEV) -> PageScore:
    gold = page.gold
    keep, drop = gold.get("keep", []), gold.get("drop", [])
    got = shingles(text)
    flat = norm(text).casefold()
    lead = gold.get("lead")
    return PageScore(
        id=page.id,
        collection=page.collection,
        half=half,
        pr=shingle_pr(page.truth or "", text),
        keep_found=sum(1 for line in keep if _contains(line, got, flat)),
        keep_total=len(keep),
        drop_leaked=sum(1 for line in drop if overlap(line, got) >= FOUND),
        lead_kept=None if not lead else overlap(lead, got) >= FOUND,
    )


def _summary(rows: list[PageScore], resamples: int) -> dict[str, Any]:
    pr = mean_pr(r.pr for r in rows)
    leads = [r.lead_kept for r in rows if r.lead_kept is not None]
    keep_total = sum(r.keep_total for r in rows)
    low, high = bootstrap_f1([r.pr for r in rows], resamples)
    return {
        "pages": len(rows),
        "precision": round(pr.precision, 4),
        "recall": round(pr.recall, 4),
        "f1": round(pr.f1, 4),
        "f1_ci": [round(low, 4), round(high, 4)] if resamples else None,
        "keep_recall": round(sum(r.keep_found for r in rows) / keep_total, 4) if keep_total else 1.0,
        "drop_leaked": sum(r.drop_leaked for r in rows),
        "leads_kept": f"{sum(leads)}/{len(leads)}",
        "empty": sum(1 for r in rows if r.pr.recall == 0),
    }


def _title_ok(got: str | None, want: str) -> bool:
    fold = str.maketrans("’‘“”«»–—", '\'\'""""--')
    return norm(got or "").translate(fold).lower() == norm(want).translate(fold).lower()


def _authors_ok(got: list[str], byline: str) -> bool:
    """Same set of name words as the collection's byline (prepositions and roles aside)."""
    skip = {"by", "par", "por", "von", "and", "et", "y", "und", "avec", "with", "the", "staff", "writer", "reporter"}
    want = {w for w in re_words(byline) if w not in skip}
    have = {w for w in re_words(" ".join(got)) if w not in skip}
    return bool(want) and want <= have and len(have - want) <= 1


def re_words(s: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[^\W\d_]+", s) if len(w) > 1]


def metadata_accuracy(pages: tuple[RealPage, ...]) -> dict[str, Any]:
    """The pipeline's title, authors and language against what the collection records."""
    checks: dict[str, list[bool]] = defaultdict(list)
    wrong: dict[str, list[str]] = defaultdict(list)
    half = halves()
    for page in pages:
        meta = page.gold.get("meta", {})
        if page.kind != "article" or not any(meta.values()):
            continue
        try:
            doc = extract_document(page.html, page.url, NoiseRules(), content_type="text/html")
        except ExtractionError:
            continue
        for field, ok, got in (
            ("title", meta.get("title") and _title_ok(doc.title, meta["title"]), doc.title),
            ("authors", meta.get("byline") and _authors_ok(doc.authors, meta["byline"]), doc.authors),
            ("language", meta.get("language") and doc.language == meta["language"], doc.language),
        ):
            want = meta.get({"authors": "byline"}.get(field, field))
            if not want:
                continue
            checks[field].append(bool(ok))
            if not ok and half[page.id] == split.DEV:  # evaluation pages are counted, never listed
                wrong[field].append(f"{page.id}: {got!r} (want {want!r})")
    return {
        field: {"right": sum(v), "of": len(v), "share": round(sum(v) / len(v), 4), "wrong": wrong[field]}
        for field, v in checks.items()
    }


def outputs(run: Callable[[RealPage], Output], pages: tuple[RealPage, ...]) -> dict[str, Output]:
    return {page.id: run(page) for page in pages}


def evaluate_real(
    extractors: dict[str, Callable[[RealPage], Output]] | None = None,
    *,
    resamples: int = 1000,
    with_metadata: bool = True,
) -> dict[str, Any]:
    """Every extractor over the corpus: per collection and half (and ALL per half) precision,
    recall, F1 with a bootstrap interval; real articles refused; pages the pipeline scores far
    below bare trafilatura; metadata accuracy. Evaluation pages are counted, never named."""
    pages = load_pages()
    half = halves()
    out: dict[str, Any] = {"configs": {}}
    per_page: dict[str, dict[str, float]] = {}
    for name, run in (extractors or EXTRACTORS).items():
        rows: list[PageScore] = []
        refused_articles: Counter[str] = Counter()
        refused, nonarticles = 0, 0
        for page, got in zip(pages, outputs(run, pages).values(), strict=True):
            if page.kind != "article":
                nonarticles += 1
                refused += got.text is None
                continue
            refused_articles[page.collection] += got.text is None
            rows.append(score(page, got.text or "", half[page.id]))
        groups: dict[str, list[PageScore]] = defaultdict(list)
        for r in rows:
            groups[f"{r.collection}/{r.half}"].append(r)
            groups[f"ALL/{r.half}"].append(r)
        per_page[name] = {r.id: r.pr.f1 for r in rows}
        out["configs"][name] = {
            "groups": {
                k: _summary(v, resamples) for k, v in sorted(groups.items(), key=lambda kv: kv[0][:4] == "ALL/")
            },
            "refused_articles": {c: refused_articles[c] for c in sorted({p.collection for p in pages})},
            "non_articles_refused": f"{refused}/{nonarticles}",
            "dev_pages": {
                r.id: {"p": round(r.pr.precision, 4), "r": round(r.pr.recall, 4)} for r in rows if r.half == split.DEV
            },
        }
    if PIPELINE in per_page and BARE_DEFAULTS in per_page:
        ours, bare = per_page[PIPELINE], per_page[BARE_DEFAULTS]
        spoiled = [i for i in ours if ours[i] < bare[i] - FAR_BELOW]
        out["far_below_bare"] = {
            h: {
                "pages": sum(1 for i in spoiled if half[i] == h),
                **({"ids": [i for i in spoiled if half[i] == h]} if h == split.DEV else {}),
            }
            for h in split.HALVES
        }
    if with_metadata:
        out["metadata"] = metadata_accuracy(pages)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def per_page_speed(rounds: int = 3) -> dict[str, Any]:
    """Per-page time of the pipeline's extraction and of bare trafilatura.extract, interleaved."""
    pages = [p for p in load_pages() if p.kind == "article"]
    rules = NoiseRules()
    ours: dict[str, list[float]] = defaultdict(list)
    bare: dict[str, list[float]] = defaultdict(list)
    extract_document(pages[0].html, pages[0].url, rules)  # warm caches (py3langid's model, compiled rules)
    for _ in range(rounds):
        for page in pages:
            t0 = time.perf_counter()
            trafilatura.extract(page.html, url=page.url)
            t1 = time.perf_counter()
            with contextlib.suppress(ExtractionError):  # a refused page costs time too, and counts
                extract_document(page.html, page.url, rules, content_type="text/html")
            t2 = time.perf_counter()
            bare[page.id].append(t1 - t0)
            ours[page.id].append(t2 - t1)
    o = [statistics.median(v) * 1000 for v in ours.values()]
    b = [statistics.median(v) * 1000 for v in bare.values()]
    by_round = [
        statistics.median(ours[p][r] for p in ours) / statistics.median(bare[p][r] for p in bare) for r in range(rounds)
    ]
    return {
        "rounds": rounds,
        "round_ratios": [round(x, 3) for x in by_round],  # median page time, ours / bare, each round
        "pages": len(pages),
        "pipeline_ms": {"median": round(statistics.median(o), 2), "p95": round(_pct(o, 0.95), 2)},
        "bare_ms": {"median": round(statistics.median(b), 2), "p95": round(_pct(b, 0.95), 2)},
        "ratio_median": round(statistics.median(o) / statistics.median(b), 3),
        "ratio_p95": round(_pct(o, 0.95) / _pct(b, 0.95), 3),
        "ratio_total": round(sum(o) / sum(b), 3),
    }


def write_warc(path: Path, pages: list[RealPage], logical_date: str = "2024-01-01", source_id: str = "bench") -> None:
    """A WARC part as the crawl writes it, of these pages at made-up addresses (its metadata
    records name the source and day, as the crawl's do)."""
    warc = WarcFile(path, {"software": "bench"})
    for i, page in enumerate(pages):
        url = f"https://bench.example/{i}/{page.id}"
        warc.write_exchange(
            Exchange(
                url=url,
                method="GET",
                request_headers=[("User-Agent", "bench")],
                request_body=b"",
                status=200,
                response_headers=[("Content-Type", "text/html")],
                body=page.html,
                protocol="HTTP/1.1",
                remote_ip="127.0.0.1",
                fetched_at=datetime.now(UTC),
                metadata={
                    "kind": "article",
                    "requested_url": url,
                    "logical_date": logical_date,
                    "source_id": source_id,
                },
            )
        )
    warc.close()


def whole_step_speed(rounds: int = 3) -> dict[str, Any]:
    """The pipeline's extract step (extract_run + commit_run over a local archive) against bare
    trafilatura.extract of the same pages, interleaved."""
    pages = [p for p in load_pages() if p.kind == "article"]
    extractor = Extractor(NoiseRules())
    step, bare = [], []
    with tempfile.TemporaryDirectory(prefix="bench-real-") as tmp:
        for r in range(rounds):
            t0 = time.perf_counter()
            for page in pages:
                trafilatura.extract(page.html, url=page.url)
            t1 = time.perf_counter()
            store = LocalStore(Path(tmp) / f"archive-{r}")
            day = date(2024, 1, 1)
            run = f"bench-{r}"
            local = Path(tmp) / f"part-{r}.warc.gz"
            write_warc(local, pages)
            key = layout.raw_key("bench", day, run, local.name)
            store.put_file(key, local, "application/warc")
            crawl = {"source_id": "bench", "run": run, "logical_date": day.isoformat(), "parts": [key]}
            t2 = time.perf_counter()
            extracted = runs.extract_run(store, crawl, extractor, extractor.info, classify_capture)
            runs.commit_run(store, crawl, extracted)
            t3 = time.perf_counter()
            bare.append(t1 - t0)
            step.append(t3 - t2)
    s, b = statistics.median(step), statistics.median(bare)
    return {
        "pages": len(pages),
        "rounds": rounds,
        "round_ratios": [round(x / y, 3) for x, y in zip(step, bare, strict=True)],
        "step_s": round(s, 3),
        "bare_s": round(b, 3),
        "ratio": round(s / b, 3),
        "step_pages_per_s": round(len(pages) / s, 1),
    }
