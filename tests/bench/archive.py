"""Researcher-side benchmark on a synthetic archive (run on demand: make bench-archive).

Generates N manifest rows (default 1,000,000) in a local store the way the pipeline lays
them out: one WARC and one Parquet manifest per source and day, HTML payloads and clean
texts of news-article size (300-700 words drawn from a Zipf-distributed vocabulary).
Then it measures, in one run and side by side with the engines it was chosen among
(tests/bench/engines.py: bare SQLite FTS5, bare tantivy, DuckDB on the manifests locally
and over S3), the same work for each:

- the build from scratch (rows/s per quarter of the manifests: constant means linear) and
  bytes per row on disk,
- a source + month filter (count and first page), a phrase and two very common words
  (count and the 20 best), a lookup by capture id;
- for the catalog also: get raw by capture id (a ranged WARC read, digest checked), a
  refresh that finds nothing new, and an export of 10,000 rows to Parquet (time and the
  exporting process's peak memory);
- the Wayback protocols through `archive serve`'s app (researcher/wayback/): a CDX query for
  one URL, a Memento TimeGate lookup and a CDX prefix query of 1,000 rows, beside bare SQLite
  reading the same rows from the catalog's SURT index;
- the JSON API (researcher/api/): a page of 100 captures walked by cursor (first and deep in
  the walk), a capture's document, and a ranked search, beside bare SQLite reading the same
  page by the same keyset.

The archive is kept between runs (--dir); delete it to regenerate.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing
import os
import platform
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from researcher.catalog import STATUSES, Catalog, Query
from researcher.export import write_export
from researcher.reader import Archive
from storage import layout, manifest
from storage.store import LocalStore
from tests.bench import engines, room_load

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


def manifest_batches(root: Path) -> Callable[[], Iterator[pa.RecordBatch]]:
    """The manifests' rows as Arrow batches, the same input for every bare engine."""
    parts = sorted((root / "manifests").rglob("*.parquet"))
    cols = ["capture_id", "source_id", "published", "title", "text"]

    def batches() -> Iterator[pa.RecordBatch]:
        for part in parts:
            yield from pq.ParquetFile(part).iter_batches(columns=cols)

    return batches


def catalog_engine(root: Path, cat_path: Path, rows: int) -> tuple[dict[str, Any], Archive]:
    """The project's catalog, built from scratch through the API `archive` uses."""
    for p in cat_path.parent.glob(cat_path.name + "*"):
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    marks: list[tuple[int, float]] = []
    catalog = Catalog(cat_path)
    t0 = time.perf_counter()
    catalog.update(LocalStore(root), lambda done, total: marks.append((done, time.perf_counter() - t0)))
    build = time.perf_counter() - t0
    total = marks[-1][0]
    quarters, prev_t = [], 0.0
    for q in range(1, 5):
        t = next(t for done, t in marks if done >= total * q / 4)
        quarters.append(round(rows / 4 / (t - prev_t)))
        prev_t = t
    mb = engines.dir_mb(cat_path) + engines.dir_mb(Path(str(cat_path) + ".text"))
    for wal in cat_path.parent.glob(cat_path.name + "-*"):
        mb += engines.dir_mb(wal)
    figures = {
        "build_s": round(build, 1),
        "rows_per_s": round(rows / build),
        "by_quarter": quarters,
        "mb": round(mb),
        "bytes_per_row": round(mb * 2**20 / rows),
    }
    return figures, Archive(LocalStore(root), catalog, refresh_each_read=False)


class CatalogQueries:
    """The catalog answering the shared queries as a researcher's command would: counts, and
    the first page of rows with their text (and snippets when ranked)."""

    name = "catalog (SQLite + tantivy)"

    def __init__(self, archive: Archive):
        self.archive = archive

    def filter(self, source: str, lo: str, hi: str) -> int:
        q = Query(sources=(source,), date_from=date.fromisoformat(lo), date_to=date.fromisoformat(hi))
        list(self.archive.catalog.rows(Query(**{**q.__dict__, "limit": 20})))
        return self.archive.catalog.count(q)

    def ranked(self, words: str) -> int:
        list(self.archive.catalog.rows(Query(text=words, limit=20)))
        return self.archive.catalog.count(Query(text=words))

    def get(self, capture_id: str) -> Any:
        return self.archive.show(capture_id)


def query_figures(engine: Any, sample: list[str], repeat: int = 5) -> dict[str, Any]:
    """Medians over `repeat` runs (the first run of each query included: caches start cold)."""
    lo, hi = (START + timedelta(days=30)).isoformat(), (START + timedelta(days=59)).isoformat()
    out: dict[str, Any] = {}
    out["filter_ms"], out["filter_rows"] = timed(lambda: engine.filter("rt_fr", lo, hi), repeat)
    out["phrase_ms"], out["phrase_matches"] = timed(lambda: engine.ranked(f'"{PHRASE}"'), repeat)
    out["common_ms"], out["common_matches"] = timed(lambda: engine.ranked("la dans"), repeat)
    times = []
    for cid in sample:
        t0 = time.perf_counter()
        engine.get(cid)
        times.append(time.perf_counter() - t0)
    out["get_ms"] = statistics.median(times)
    for k in ("filter_ms", "phrase_ms", "common_ms", "get_ms"):
        out[k] = round(out[k] * 1000, 2)
    return out


def duckdb_s3(root: Path, workdir: Path) -> tuple[Any, Callable[[], None]] | None:
    """DuckDB reading the manifests from a SeaweedFS S3 server through httpfs, if the
    extension is installed (the duckdb-extension-httpfs wheel); None otherwise."""
    try:
        import duckdb_extension_httpfs  # type: ignore[import-not-found]
    except ImportError:
        return None
    found = sorted(Path(duckdb_extension_httpfs.__file__).parent.rglob("httpfs.duckdb_extension"))
    if not found:
        return None
    from tests.s3server import ACCESS_KEY, SECRET_KEY, WeedS3

    weed_dir = Path(tempfile.mkdtemp(prefix="weed-", dir=workdir))
    weed = WeedS3(weed_dir).start()

    def stop() -> None:
        weed.stop()
        shutil.rmtree(weed_dir, ignore_errors=True)

    try:
        client = weed.client()
        client.create_bucket(Bucket="bench")
        for part in sorted((root / "manifests").rglob("*.parquet")):
            client.upload_file(str(part), "bench", str(part.relative_to(root)))
        endpoint = weed.endpoint.split("://", 1)[1]

        def setup(db: Any) -> None:
            db.execute(f"load '{found[-1]}'")  # the wheel's file: nothing is downloaded
            db.execute(
                f"create secret (type s3, key_id '{ACCESS_KEY}', secret '{SECRET_KEY}', endpoint '{endpoint}', "
                "url_style 'path', use_ssl false, region 'us-east-1')"
            )

        engine = engines.DuckDB("s3://bench/manifests/*/*.parquet", setup, name="DuckDB on the manifests, S3 (httpfs)")
    except BaseException:
        stop()
        raise
    return engine, stop


def catalog_vs_bare(rows: int, workdir: Path) -> dict[str, Any]:
    """For `make bench`: the catalog's build beside bare tantivy indexing the same rows (the
    engine its text search is built on), its queries beside tantivy alone (ids only, no rows)
    and DuckDB over the manifests (no build; the same answers: counts and rows with text)."""
    root = workdir / f"archive-{rows}"
    if not (root / "manifests").exists():
        generate(root, rows, 250)
    cat_build, archive = catalog_engine(root, workdir / f"catalog-{rows}.sqlite", rows)
    ids = [r["capture_id"] for r in archive.search(Query(sources=("aa_tr",), limit=2000))]
    sample = random.Random(1).sample(ids, min(50, len(ids)))
    ours = {**cat_build, **query_figures(CatalogQueries(archive), sample)}
    bare_engine = engines.Tantivy(workdir / "tantivy")
    bare = {**engines.build(bare_engine, manifest_batches(root), rows), **query_figures(bare_engine, sample)}
    duck = query_figures(engines.DuckDB(str(root / "manifests" / "*" / "*.parquet")), sample[:10], repeat=3)
    return {"rows": rows, "ours": ours, "bare": bare, "duckdb": duck}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--per-day", type=int, default=250, help="rows per source and day (one manifest)")
    ap.add_argument("--dir", type=Path, default=REPO / ".work" / "bench-archive")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--catalog-only", action="store_true", help="skip the bare engines")
    ap.add_argument("--room-only", action="store_true", help="only the reading room under concurrent heavy queries")
    ap.add_argument("--wayback-only", action="store_true", help="only the CDX, Memento and JSON API lookups")
    args = ap.parse_args()
    root = args.dir / f"archive-{args.rows}"
    if not (root / "manifests").exists():
        generate(root, args.rows, args.per_day)
    figures: dict[str, Any] = {"rows": args.rows, "machine": f"{os.cpu_count()} cores, {platform.machine()}"}

    cat_build, archive = catalog_engine(root, args.dir / f"catalog-{args.rows}.sqlite", args.rows)
    ids = [r["capture_id"] for r in archive.search(Query(sources=("aa_tr",), limit=2000))]
    sample = random.Random(1).sample(ids, min(50, len(ids)))
    figures["wayback"] = wayback_figures(archive, sample)
    print(json.dumps(figures["wayback"], indent=1))
    figures["api"] = api_figures(archive, sample)
    print(json.dumps(figures["api"], indent=1))
    if args.wayback_only:
        return
    # plain pages while 10 clients send the costliest searches a request may ask (issue 28)
    figures["room_under_load"] = room_load.measure(archive, sample[0], COMMON)
    print(json.dumps(figures["room_under_load"], indent=1))
    if args.room_only:
        return
    results: dict[str, dict[str, Any]] = {}
    results["catalog (SQLite + tantivy)"] = {**cat_build, **query_figures(CatalogQueries(archive), sample)}
    times = []
    for cid in sample:
        t0 = time.perf_counter()
        archive.raw(cid)
        times.append(time.perf_counter() - t0)
    figures["get_raw_median_ms"] = round(statistics.median(times) * 1000, 2)
    figures["refresh_nothing_new_ms"] = round(timed(archive.refresh)[0] * 1000, 1)

    if not args.catalog_only:
        batches = manifest_batches(root)
        for engine in (engines.Fts5(args.dir / "fts5.sqlite"), engines.Tantivy(args.dir / "tantivy")):
            results[engine.name] = {**engines.build(engine, batches, args.rows), **query_figures(engine, sample)}
        duck = engines.DuckDB(str(root / "manifests" / "*" / "*.parquet"))
        results[duck.name] = {"build_s": 0, **query_figures(duck, sample[:10], repeat=3)}
        s3 = duckdb_s3(root, args.dir)
        if s3 is None:
            print("DuckDB over S3: skipped (pip install duckdb-extension-httpfs to measure it)", file=sys.stderr)
        else:
            engine, stop = s3
            try:
                results[engine.name] = {"build_s": 0, **query_figures(engine, sample[:5], repeat=3)}
            finally:
                stop()
    figures["engines"] = results

    target = args.dir / "export-10k.parquet"
    target.unlink(missing_ok=True)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(
        target=export_child,
        args=(
            str(root),
            str(args.dir / f"catalog-{args.rows}.sqlite"),
            str(target),
            Query(sources=("sputnik_fr",), limit=10_000),
            out,
        ),
    )
    child.start()
    n, secs, rss = out.get()
    child.join()
    figures.update(export_rows=n, export_parquet_s=round(secs, 2), export_peak_rss_mb=round(rss))

    print(table(results))
    for k, v in figures.items():
        if k != "engines":
            print(f"{k:<24}  {v}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


def wayback_figures(archive: Archive, sample: list[str], repeat: int = 20) -> dict[str, Any]:
    """Medians, in ms, of CDX and TimeGate requests through the app (HTTP handling, catalog
    lookup, rendering) beside bare SQLite reading the same rows from the SURT index."""
    import sqlite3

    from starlette.testclient import TestClient

    from researcher.wayback import cdx
    from researcher.web import create_app

    rows = [archive.locate(cid) for cid in sample[:repeat]]
    urls = [r["final_url"] for r in rows]
    prefix = urls[0].rsplit("/", 1)[0] + "/"  # one source-day: 250 articles; the query asks 1,000 rows of the source
    source_prefix = prefix.split("/20", 1)[0] + "/"
    db = sqlite3.connect(str(archive.catalog.path))
    out: dict[str, Any] = {}
    with TestClient(create_app(archive)) as client:

        def median(fn: Callable[[str], Any], args: list[str]) -> float:
            times = []
            for a in args:
                t0 = time.perf_counter()
                fn(a)
                times.append(time.perf_counter() - t0)
            return round(statistics.median(times) * 1000, 2)

        def one_url(u: str) -> None:
            r = client.get("/cdx/search/cdx", params={"url": u, "output": "json"})
            assert r.status_code == 200 and len(r.json()) == 2, r.text[:200]

        def gate(u: str) -> None:
            r = client.get(
                f"/web/{u}", headers={"Accept-Datetime": "Mon, 01 Jun 2020 00:00:00 GMT"}, follow_redirects=False
            )
            assert r.status_code == 302, r.text[:200]

        def prefix_1000(p: str) -> None:
            r = client.get("/cdx/search/cdx", params={"url": p + "*", "limit": "1000"})
            assert r.text.count("\n") == 1000, r.text[:200]

        def bare_one(u: str) -> None:
            key = cdx.surt_of(u)
            assert db.execute("select row from captures where urlkey = ? and latest = 1", (key,)).fetchall()

        def bare_prefix(p: str) -> None:
            key = cdx.surt_of(p)
            found = db.execute(
                "select row from captures where urlkey >= ? and urlkey < ? and latest = 1 "
                "order by urlkey, fetched_at limit 1000",
                (key, key + "\U0010ffff"),
            ).fetchall()
            assert len(found) == 1000

        out["cdx_one_url_ms"] = median(one_url, urls)
        out["timegate_ms"] = median(gate, urls)
        out["cdx_prefix_1000_ms"] = median(prefix_1000, [source_prefix] * 5)
        out["bare_sqlite_one_url_ms"] = median(bare_one, urls)
        out["bare_sqlite_prefix_1000_ms"] = median(bare_prefix, [source_prefix] * 5)
    db.close()
    return out


def api_figures(archive: Archive, sample: list[str], repeat: int = 20) -> dict[str, Any]:
    """Medians, in ms, of JSON API requests through the app beside bare SQLite reading the
    same page of 100 rows by the same keyset (capture time, capture id)."""
    import sqlite3

    from starlette.testclient import TestClient

    from researcher.api import cursor as cursors
    from researcher.api.limits import RateLimits
    from researcher.web import create_app

    db = sqlite3.connect(str(archive.catalog.path))
    total = archive.catalog.count(Query(statuses=STATUSES))
    deep = db.execute(
        "select fetched_at, capture_id from captures where latest = 1 order by fetched_at, capture_id limit 1 offset ?",
        (total // 2,),
    ).fetchone()
    snapshot = archive.catalog.snapshot()
    deep_cursor = cursors.encode(
        cursors.Cursor(snapshot=snapshot, after=(deep[0], deep[1]), query=cursors.fingerprint({"order": "asc"}))
    )
    out: dict[str, Any] = {"captures": total}
    with TestClient(create_app(archive, rate_limits=RateLimits(rate=1e6, burst=1e6))) as client:

        def median(fn: Callable[[], Any], n: int = repeat) -> float:
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
            return round(statistics.median(times) * 1000, 2)

        def page(**params: Any) -> None:
            r = client.get("/api/v1/captures", params={"limit": 100, **params})
            assert r.status_code == 200 and len(r.json()["items"]) == 100, r.text[:200]

        def bare_page() -> None:
            found = db.execute(
                "select row from captures where latest = 1 and (fetched_at, capture_id) > (?, ?) "
                "order by fetched_at, capture_id limit 100",
                deep,
            ).fetchall()
            assert len(found) == 100

        docs = iter(sample * repeat)
        out["walk_first_page_100_ms"] = median(page)
        out["walk_deep_page_100_ms"] = median(lambda: page(cursor=deep_cursor))
        out["walk_source_page_100_ms"] = median(lambda: page(source="aa_tr"))
        out["document_ms"] = median(lambda: client.get(f"/api/v1/captures/{next(docs)}").raise_for_status())
        out["search_ranked_20_ms"] = median(
            lambda: client.get("/api/v1/search", params={"q": PHRASE}).raise_for_status(), 5
        )
        out["bare_sqlite_page_100_ms"] = median(bare_page)
    db.close()
    return out


COLUMNS = [
    ("build_s", "build s"),
    ("rows_per_s", "rows/s"),
    ("by_quarter", "rows/s by quarter"),
    ("bytes_per_row", "bytes/row"),
    ("filter_ms", "source+month ms"),
    ("phrase_ms", "phrase ms"),
    ("common_ms", "2 common words ms"),
    ("get_ms", "get by id ms"),
    ("phrase_matches", "phrase matches"),
]


def table(results: dict[str, dict[str, Any]]) -> str:
    """Engines side by side, one row each."""
    head = ["engine"] + [label for _, label in COLUMNS]
    rows = [[name] + [str(r.get(k, "-")) for k, _ in COLUMNS] for name, r in results.items()]
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))

    return "\n".join([line(head), "-+-".join("-" * w for w in widths), *(line(r) for r in rows)])


if __name__ == "__main__":
    main()
