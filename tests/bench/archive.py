"""Researcher-side benchmark on a synthetic archive (run on demand: make bench-archive).

Generates N manifest rows (default 1,000,000) in a local store the way the pipeline lays
them out: one WARC and one Parquet manifest per source and day, HTML payloads and clean
texts of news-article size (300-700 words drawn from a Zipf-distributed vocabulary).
Then it measures, through the same API the `archive` command uses:

- the catalog build (rows/s per quarter of the manifests: constant means linear),
- search by source + date range, and a full-text search of a two-word phrase,
- get raw by capture id (a catalog lookup and a ranged WARC read),
- an export of 10,000 rows to Parquet (time and the exporting process's peak memory).

The archive is kept between runs (--dir); delete it to regenerate.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from researcher.catalog import Catalog, Query
from researcher.export import write_export
from researcher.reader import Archive
from storage import layout, manifest
from storage.store import LocalStore

SOURCES = ("rt_en", "rt_fr", "sputnik_fr", "aa_fr", "aa_tr", "trt_world")
START = date(2020, 1, 1)
PHRASE = "frappe aérienne"
COMMON = [
    "le",
    "la",
    "les",
    "de",
    "des",
    "du",
    "un",
    "une",
    "et",
    "à",
    "en",
    "est",
    "dans",
    "pour",
    "que",
    "qui",
    "sur",
    "par",
    "avec",
    "au",
    "il",
    "elle",
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
]
REPO = Path(__file__).resolve().parents[2]


def vocabulary(rng: random.Random, size: int = 40_000) -> tuple[list[str], list[float]]:
    """Pseudo-words with Zipf frequencies, common function words first."""
    letters = "abcdefghijklmnoprstuvéèà"
    words = COMMON + ["".join(rng.choices(letters, k=rng.randint(3, 11))) for _ in range(size - len(COMMON))]
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)
    return words, cum


def article(rng: random.Random, words: list[str], cum: list[float]) -> tuple[str, str]:
    body = rng.choices(words, cum_weights=cum, k=rng.randint(300, 700))
    if rng.random() < 0.005:
        body[rng.randrange(len(body))] = PHRASE
    paragraphs = [" ".join(body[i : i + 60]).capitalize() + "." for i in range(0, len(body), 60)]
    title = " ".join(rng.choices(words[30:2000], k=rng.randint(5, 10))).capitalize()
    return title, "\n".join(paragraphs)


def partition(args: tuple[str, str, int, int]) -> int:
    """One source-day: its WARC of responses and its commit to the source's manifest log."""
    root, source, day_index, n = args
    store = LocalStore(root)
    rng = random.Random(f"{source}-{day_index}")
    words, cum = vocabulary(random.Random(0))
    day = START + timedelta(days=day_index)
    start = f"{day:%Y%m%d}T000000Z"
    run = f"{start}-{day + timedelta(days=1):%Y%m%d}T000000Z"
    warc_key = layout.raw_key(source, day, run, "bench")
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    rows = []
    for i in range(n):
        title, text = article(rng, words, cum)
        url = f"https://{source}.example.invalid/{day:%Y/%m/%d}/article-{i}"
        html = f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        html += "".join(f"<p>{p}</p>" for p in text.split("\n")) + "</article></body></html>"
        payload = html.encode()
        fetched = f"{day:%Y-%m-%d}T{i % 24:02d}:{i % 60:02d}:00Z"
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        offset = buf.tell()
        record = writer.create_warc_record(
            url, "response", payload=io.BytesIO(payload), http_headers=headers, warc_headers_dict={"WARC-Date": fetched}
        )
        writer.write_record(record)
        cid = layout.capture_id(source, run, url, record.rec_headers.get_header("WARC-Record-ID"))
        rows.append(
            {
                "capture_id": cid,
                "source_id": source,
                "status": "ok",
                "requested_url": url,
                "final_url": url,
                "canonical_url": url,
                "fetched_at": fetched,
                "http_status": 200,
                "warc_key": warc_key,
                "warc_offset": offset,
                "warc_length": buf.tell() - offset,
                "payload_sha256": hashlib.sha256(payload).hexdigest(),
                "text_sha256": hashlib.sha256(text.encode()).hexdigest(),
                "clean_key": layout.clean_key(source, day, cid, "bench"),
                "extraction_id": "bench",
                "extracted_at": fetched,
                "run": run,
                "logical_date": day.isoformat(),
                "title": title,
                "published": f"{day:%Y-%m-%d}T{i % 24:02d}:00:00Z",
                "language": "fr",
                "authors": [],
                "tags": [],
                "flags": [],
                "text": text,
            }
        )
    store.put_bytes(warc_key, buf.getvalue())
    # one commit per source-day, numbered as the pipeline's log numbers them (days are contiguous)
    store.put_bytes(layout.commit_key(source, day_index + 1), manifest.to_parquet(rows))
    return n


def generate(root: Path, rows: int, per_day: int) -> None:
    days = max(1, rows // (per_day * len(SOURCES)))
    jobs = []
    left = rows
    for d in range(days):
        for s in SOURCES:
            n = min(per_day, left) if d < days - 1 or s != SOURCES[-1] else left
            if n > 0:
                jobs.append((str(root), s, d, n))
                left -= n
    done, t0 = 0, time.perf_counter()
    with multiprocessing.Pool() as pool:
        for n in pool.imap_unordered(partition, jobs, chunksize=4):
            done += n
            if done % 50_000 < n:
                print(f"  generated {done:,} rows ({done / (time.perf_counter() - t0):,.0f}/s)", file=sys.stderr)
    print(f"generated {rows:,} rows in {len(jobs):,} manifests: {time.perf_counter() - t0:.0f} s")


def timed(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    """Median wall time in seconds over repeats, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def export_child(root: str, catalog: str, target: str, q: Query, out: Any) -> None:
    archive = Archive(LocalStore(root), Catalog(catalog))
    t0 = time.perf_counter()
    n = write_export(archive.iter_search(q), "parquet", Path(target))
    out.put((n, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--per-day", type=int, default=250, help="rows per source and day (one manifest)")
    ap.add_argument("--dir", type=Path, default=REPO / ".work" / "bench-archive")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    root = args.dir / f"archive-{args.rows}"
    if not (root / "manifests").exists():
        generate(root, args.rows, args.per_day)
    cat_path = args.dir / f"catalog-{args.rows}.sqlite"
    for p in cat_path.parent.glob(cat_path.name + "*"):
        p.unlink()
    figures: dict[str, Any] = {"rows": args.rows}

    marks: list[tuple[int, float]] = []
    catalog = Catalog(cat_path)
    t0 = time.perf_counter()
    catalog.update(LocalStore(root), lambda done, total: marks.append((done, time.perf_counter() - t0)))
    build = time.perf_counter() - t0
    total = marks[-1][0]
    quarters, prev_t = [], 0.0
    for q in range(1, 5):
        t = next(t for done, t in marks if done >= total * q / 4)
        quarters.append(round(args.rows / 4 / (t - prev_t)))
        prev_t = t
    figures["catalog_build_s"] = round(build, 1)
    figures["catalog_rows_per_s_by_quarter"] = quarters
    figures["catalog_mb"] = round(sum(p.stat().st_size for p in args.dir.glob(cat_path.name + "*")) / 2**20)

    archive = Archive(LocalStore(root), catalog)
    month = Query(sources=("rt_fr",), date_from=START + timedelta(days=30), date_to=START + timedelta(days=59))
    figures["search_source_month_s"], hits = timed(lambda: archive.search(month))
    figures["search_source_month_rows"] = len(hits)
    phrase = Query(text=f'"{PHRASE}"', limit=20)
    figures["fulltext_phrase_s"], hits = timed(lambda: archive.search(phrase))
    figures["fulltext_phrase_matches"] = archive.count(phrase)
    two = Query(text="la dans", limit=20)
    figures["fulltext_common_words_s"], _ = timed(lambda: archive.search(two))
    figures["refresh_nothing_new_s"], _ = timed(archive.refresh)

    ids = [r["capture_id"] for r in archive.search(Query(sources=("aa_tr",), limit=2000))]
    sample = random.Random(1).sample(ids, 50)
    times = []
    for cid in sample:
        t0 = time.perf_counter()
        archive.raw(cid)
        times.append(time.perf_counter() - t0)
    figures["get_raw_median_ms"] = round(statistics.median(times) * 1000, 2)
    figures["get_raw_p95_ms"] = round(sorted(times)[int(len(times) * 0.95)] * 1000, 2)

    target = args.dir / "export-10k.parquet"
    target.unlink(missing_ok=True)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(
        target=export_child,
        args=(str(root), str(cat_path), str(target), Query(sources=("sputnik_fr",), limit=10_000), out),
    )
    child.start()
    n, secs, rss = out.get()
    child.join()
    figures.update(export_rows=n, export_parquet_s=round(secs, 2), export_peak_rss_mb=round(rss))
    for k in ("search_source_month_s", "fulltext_phrase_s", "fulltext_common_words_s", "refresh_nothing_new_s"):
        figures[k] = round(figures[k], 3)

    width = max(map(len, figures))
    for k, v in figures.items():
        print(f"{k:<{width}}  {v}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
