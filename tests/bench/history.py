"""The history of a years-old archive, built straight into S3 for make bench-years.

AGE years of N_SOURCES sources (the profiled ones, the measured one among them) running
RUNS_PER_DAY times a day, as the pipeline would have left them:
- manifests: one part per run of ROWS rows (every column the schema has, texts short), the
  newest checkpoint of each log (at the last tenth part, as commits leave it), and a run
  report per run;
- signatures: one part per run, a random 128-permutation MinHash per article (random, so no
  article links to another by accident), and their checkpoint; the same rows filed under
  their publication week in the links index (one part per run in its week's log, the
  runs of all sources interleaved in time, and each week's checkpoint);
- events and links: one part a day per source (2 and 3 rows), and their checkpoints;
- raw captures: a stand-in object per run for the last two days only; older rows name raw
  and clean objects that are absent (no step of a run reads them; `archive verify` would
  report them);
- the measured source's history rows say they were captured two days after publication
  (as a backfill would), past its profile's 36-hour revisit mark, so the measured run's
  revisits are the seed run's two articles, not five years of them;
- only each log's newest checkpoint: older ones are never read (a listing names the newest
  first), so a real archive differs by the size of one LIST page.
A marker object records the shape; an archive without it (a build killed mid-way) is emptied
and built again.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import syndication
from storage import checkpoint, layout, manifest, tablelog
from storage.store import S3Store
from storage.tables import EVENTS, LINKS, LSH, SIGNATURES

PREFIX = "arc"
END = datetime(2031, 6, 1, tzinfo=UTC)
LAST_DAY = (END - timedelta(days=3)).date()  # the seed run crawls the two days after it
RUNS_PER_DAY = 6
ROWS = 16
N_SOURCES = 17
MEASURED = "bench_news"
MARKER = "_bench/built.json"
Obj = tuple[str, Callable[[], bytes]]  # a key and how to make its bytes
_TEXT = "A stand-in for an archived article's clean text, kept short so that five years fit on a laptop. "


def sources(scale: float = 1.0) -> list[str]:
    from spiders.profile import load_registry

    others = sorted(load_registry())[: N_SOURCES - 1]
    n = max(1, round((N_SOURCES - 1) * scale))
    return [*others[:n], MEASURED]


def describe() -> str:
    return f"{N_SOURCES} sources x {RUNS_PER_DAY} runs a day, {ROWS} articles a run"


def days(age: int) -> list[date]:
    n = round(age * 365.25)
    return [LAST_DAY - timedelta(days=n - 1 - i) for i in range(n)]


def _iso(d: date, hour: int, minute: int = 0) -> str:
    return f"{d:%Y-%m-%d}T{hour:02d}:{minute:02d}:00Z"


def _run_name(d: date, r: int) -> str:
    start = datetime(d.year, d.month, d.day, 24 // RUNS_PER_DAY * r, tzinfo=UTC)
    return layout.run_key(start, start + timedelta(hours=24 // RUNS_PER_DAY))


def manifest_part(source: str, d: date, r: int) -> pa.Table:
    """One run's manifest rows, built as columns (three million dicts would take longer than the uploads)."""
    run = _run_name(d, r)
    hour = 24 // RUNS_PER_DAY * r
    ids = [f"{source}-{d:%Y%m%d}-{r}-{i:02d}" for i in range(ROWS)]
    urls = [f"https://{source.replace('_', '-')}.example/{d:%Y/%m/%d}/story-{r}-{i}" for i in range(ROWS)]
    fetched = [_iso(d, hour, i) for i in range(ROWS)]
    if source == MEASURED:  # its profile revisits at 36 hours: history captured later has none due
        fetched = [_iso(d + timedelta(days=2), hour, i) for i in range(ROWS)]
    warc = layout.raw_key(source, d, run, f"{_iso(d, hour).replace('-', '').replace(':', '')}-0a0b0c0d")
    values: dict[str, Any] = {
        "capture_id": ids,
        "source_id": [source] * ROWS,
        "status": ["ok"] * ROWS,
        "requested_url": urls,
        "final_url": urls,
        "canonical_url": urls,
        "discovered_via": [f"https://{source.replace('_', '-')}.example/feed.xml"] * ROWS,
        "discovery_kind": ["feed"] * ROWS,
        "discovered_date": fetched,
        "fetched_at": fetched,
        "http_status": [200] * ROWS,
        "warc_key": [warc] * ROWS,
        "warc_record_id": [f"<urn:uuid:{hashlib.md5(c.encode()).hexdigest()}>" for c in ids],  # noqa: S324
        "warc_offset": [i * 9000 for i in range(ROWS)],
        "warc_length": [9000] * ROWS,
        "payload_sha256": [hashlib.sha256(c.encode()).hexdigest() for c in ids],
        "text_sha256": [hashlib.sha256(u.encode()).hexdigest() for u in urls],
        "clean_key": [layout.clean_key(source, d, c, "x1") for c in ids],
        "extraction_id": ["x1"] * ROWS,
        "extracted_at": fetched,
        "extractor_name": ["trafilatura"] * ROWS,
        "run": [run] * ROWS,
        "title": [f"Story {r}-{i} of {d}" for i in range(ROWS)],
        "authors": [[] for _ in range(ROWS)],
        "published": [_iso(d, max(hour - 1, 0), i) for i in range(ROWS)],
        "language": ["en"] * ROWS,
        "tags": [[] for _ in range(ROWS)],
        "flags": [[] for _ in range(ROWS)],
        "translations": [[] for _ in range(ROWS)],
        "text": [f"{_TEXT}{c}" for c in ids],
    }
    # columns the history never fills are left out, as in parts written before a column existed
    fields = [f for f in manifest.SCHEMA if f.name in values]
    return pa.table({f.name: pa.array(values[f.name], f.type) for f in fields}, schema=pa.schema(fields))


def signature_part(part: pa.Table) -> pa.Table:
    """The signatures of a run's articles: random MinHashes, the same for the same run in any process."""
    rng = np.random.default_rng(int(hashlib.sha256(part["capture_id"][0].as_py().encode()).hexdigest()[:12], 16))
    sigs = rng.integers(0, 2**32, size=(ROWS, syndication.NUM_PERM), dtype=np.uint64).astype("<u4")
    values = {
        "capture_id": part["capture_id"],
        "source_id": part["source_id"],
        "url": part["final_url"],
        "urls": [[u] for u in part["final_url"].to_pylist()],
        "translations": [[] for _ in range(ROWS)],
        "language": part["language"],
        "published": part["published"],
        "text_sha256": part["text_sha256"],
        "words": [400] * ROWS,
        "method": [syndication.METHOD] * ROWS,
        "minhash": [s.tobytes() for s in sigs],
    }
    return pa.table({f.name: pa.array(values[f.name], f.type) for f in SIGNATURES.schema}, schema=SIGNATURES.schema)


def events_part(source: str, d: date) -> pa.Table:
    rows = [
        {"event_id": f"{source}-{d}-e{i}", "source_id": source, "kind": kind, "reason": reason,
         "capture_id": f"{source}-{d - timedelta(days=2):%Y%m%d}-0-{i:02d}", "observed_at": _iso(d, 1),
         "http_status": status, "run": _run_name(d, 0), "detected_at": _iso(d, 1)}
        for i, (kind, reason, status) in enumerate([("edit", "text", 200), ("takedown", "gone", 410)])
    ]  # fmt: skip
    return pa.Table.from_pylist([{c: r.get(c) for c in EVENTS.columns} for r in rows], schema=EVENTS.schema)


def links_part(source: str, d: date) -> pa.Table:
    rows = [
        {"link_id": f"{source}-{d}-l{i}", "kind": "syndication", "republished": f"{source}-{d:%Y%m%d}-1-{i:02d}",
         "republished_source": source, "original": f"other-{d:%Y%m%d}-0-{i:02d}", "original_source": "other",
         "similarity": 0.8, "method": syndication.METHOD, "run": _run_name(d, 1), "detected_at": _iso(d, 5)}
        for i in range(3)
    ]  # fmt: skip
    return pa.Table.from_pylist([{c: r.get(c) for c in LINKS.columns} for r in rows], schema=LINKS.schema)


def _encode(table: pa.Table, commit: dict[str, Any]) -> bytes:
    meta = table.schema.with_metadata({tablelog.COMMIT_METADATA: json.dumps(commit, sort_keys=True)})
    buf = io.BytesIO()
    pq.write_table(table.cast(meta), buf, compression="zstd")
    return buf.getvalue()


class _Log:
    """One source's log of one table as it is built: parts numbered from 1, the state rows
    kept for the checkpoint its last tenth commit would have written."""

    def __init__(self, table: tablelog.Table, source: str):
        self.table, self.source, self.seq = table, source, 0
        self.state: list[tuple[int, pa.Table]] = []

    def add(self, part: pa.Table, commit: dict[str, Any]) -> Obj:
        """The part's key and its bytes, encoded only when asked (a resumed build skips what is there)."""
        self.seq += 1
        self.state.append((self.seq, part.select(self.table.state_columns)))
        return layout.part_key(self.table.name, self.source, self.seq), partial(
            _encode, part, {**commit, "seq": self.seq}
        )

    def checkpoint(self) -> Obj | None:
        mark = self.seq - self.seq % checkpoint.EVERY
        if not mark:
            return None
        rows = checkpoint.state_rows(self.table, self.state[:mark])
        data = checkpoint.encode(self.table, self.source, mark, rows)
        return checkpoint.key(self.table.name, self.source, mark, hashlib.sha256(data).hexdigest()), partial(
            bytes, data
        )


def objects(source: str, age: int) -> Iterator[Obj]:
    """Every object of one source's history, in commit order, checkpoints last."""
    logs = {t.name: _Log(t, source) for t in (manifest.MANIFESTS, SIGNATURES, EVENTS, LINKS)}
    all_days = days(age)
    for d in all_days:
        for r in range(RUNS_PER_DAY):
            run = _run_name(d, r)
            part = manifest_part(source, d, r)
            yield logs["manifests"].add(part, {"kind": "crawl", "run": run})
            yield logs["signatures"].add(signature_part(part), {"kind": "signatures", "run": run})
            attempt = f"{_iso(d, 24 // RUNS_PER_DAY * r).replace('-', '').replace(':', '')}-0a0b0c0d"
            report = {"source_id": source, "run": run, "crawl_log": None, "bench_history": True}
            yield layout.report_key(source, run, attempt), partial(str.encode, json.dumps(report))
            if d >= all_days[-1] - timedelta(days=1):
                yield layout.raw_key(source, d, run, attempt), partial(bytes, b"stand-in: not a WARC")
        yield logs["events"].add(events_part(source, d), {"kind": "events", "run": _run_name(d, 0)})
        yield logs["links"].add(links_part(source, d), {"kind": "links", "run": _run_name(d, 1)})
    for log in logs.values():
        cp = log.checkpoint()
        if cp:
            yield cp


def weeks(age: int) -> list[str]:
    from pipeline.linkindex import week_of

    return sorted({week_of(d.isoformat()) for d in days(age)})


def week_objects(week: str, age: int, names: list[str]) -> Iterator[Obj]:
    """One week's log of the links index (pipeline/linkindex.py): each run of each source
    files its articles under the week they were published, in the order the runs ran."""
    from pipeline.linkindex import week_of

    log = _Log(LSH, week)
    for d in [d for d in days(age) if week_of(d.isoformat()) == week]:
        for r in range(RUNS_PER_DAY):
            for source in names:
                rows = signature_part(manifest_part(source, d, r))
                yield log.add(rows, {"kind": "lsh", "run": _run_name(d, r), "by": source})
    cp = log.checkpoint()
    if cp:
        yield cp


def all_keys(client: Any, bucket: str) -> Iterator[str]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def delete(client: Any, bucket: str, keys: Iterable[str]) -> int:
    """The harness's own clean-up (the archive never deletes): a thousand keys a request."""
    batch: list[str] = []
    n = 0
    for k in [*keys, None]:
        if k is not None:
            batch.append(k)
        if batch and (k is None or len(batch) == 1000):
            client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": x} for x in batch], "Quiet": True})
            n += len(batch)
            batch = []
    return n


def client(endpoint: str) -> Any:
    """A boto3 client of the test server's account: patient (long reads) and pooled (threads)."""
    import boto3
    from botocore.config import Config

    from tests.s3server import ACCESS_KEY, SECRET_KEY

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 5, "mode": "standard"}, read_timeout=300, max_pool_connections=8),
    )


def _prefixes(name: str) -> list[str]:
    if name.startswith("w") and "_" in name and name[1:5].isdigit():
        return [f"lsh/source={name}/", f"{checkpoint.PREFIX}lsh/source={name}/"]
    tables = ["manifests", "signatures", "events", "links"]
    return [
        *(f"{t}/source={name}/" for t in tables),
        *(f"{checkpoint.PREFIX}{t}/source={name}/" for t in tables),
        f"runs/source={name}/",
        f"raw/source={name}/",
    ]


def _build(job: tuple[str, str, str, int, list[str]]) -> tuple[str, int]:
    """One source's history, or one week of the links index, generated and uploaded in a
    worker process (two: one a core)."""
    endpoint, bucket, name, age, names = job
    s3 = client(endpoint)
    there: set[str] = set()  # what an earlier, interrupted build left: kept, not made again
    for prefix in _prefixes(name):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{PREFIX}/{prefix}"):
            there.update(o["Key"][len(PREFIX) + 1 :] for o in page.get("Contents", []))

    def put(item: Obj) -> None:
        if item[0] not in there:
            s3.put_object(Bucket=bucket, Key=f"{PREFIX}/{item[0]}", Body=item[1]())

    made = week_objects(name, age, names) if name in weeks(age) else objects(name, age)
    with ThreadPoolExecutor(6) as pool:
        return name, sum(1 for _ in pool.map(put, made))


def catalog_files(catalog: Path) -> list[Path]:
    """A catalog's files: its SQLite database, WAL and lock, and its text index folder."""
    return [Path(str(catalog) + suffix) for suffix in ("", ".text", "-wal", "-shm", ".lock")]


def ensure(
    client: Any,
    bucket: str,
    age: int,
    scale: float,
    catalog: Path,
    rebuild: bool,
    say: Callable[[str], None],
    resume: bool = False,
) -> str:
    """The archive of `age` years in `bucket`, built unless its marker says it is there."""
    shape = {"age": age, "sources": sources(scale), "runs_per_day": RUNS_PER_DAY, "rows": ROWS, "version": 3}
    try:
        client.create_bucket(Bucket=bucket)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    except client.exceptions.ClientError as exc:
        if "BucketAlreadyExists" not in str(exc):
            raise
    try:
        built = json.loads(client.get_object(Bucket=bucket, Key=f"{PREFIX}/{MARKER}")["Body"].read())
    except client.exceptions.NoSuchKey:
        built = None
    if built and built.get("shape") == shape and not rebuild and catalog.exists():
        return f"kept from {built['built_at']} ({built['objects']:,} objects, built in {built['seconds']:.0f} s)"
    import time

    t0 = time.monotonic()
    gone = 0 if resume else delete(client, bucket, list(all_keys(client, bucket)))
    for p in catalog_files(catalog) if not resume else ():
        if p.is_dir():
            import shutil

            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    doing = "resuming" if resume else "building"
    say(f"{doing} {age} years in {bucket} ({gone:,} old objects removed) ...")
    n = 0
    names = sources(scale)
    jobs = [(client.meta.endpoint_url, bucket, name, age, names) for name in [*names, *weeks(age)]]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as procs:
        for i, (name, count) in enumerate(procs.map(_build, jobs)):
            n += count
            if name in names or i % 50 == 0 or i == len(jobs) - 1:
                say(f"  {name}: done ({i + 1}/{len(jobs)}, {n:,} objects, {time.monotonic() - t0:.0f} s)")
    from researcher.catalog import Catalog

    store = S3Store(bucket, PREFIX, client=client)
    rows = Catalog(catalog).update(store)
    say(f"  catalog: {rows:,} rows ({time.monotonic() - t0:.0f} s)")
    seconds = time.monotonic() - t0
    marker = {"shape": shape, "objects": n, "seconds": seconds, "built_at": datetime.now(UTC).isoformat()}
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/{MARKER}", Body=json.dumps(marker).encode())
    return f"built ({n:,} objects in {seconds:.0f} s)"
