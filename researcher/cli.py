"""`archive`: search, read, fetch raw copies and export from the archive."""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from researcher import aftermath
from researcher.catalog import MARK_END, MARK_START, MAX_LIMIT, SORTS, STATUSES, Catalog, default_catalog_path
from researcher.cite import citation
from researcher.export import FORMATS, atomic_write_bytes, counted, csv_row, write_export
from researcher.gc import gc as collect_command
from researcher.reader import Archive, Query, UnknownCapture, check_archive, select_extraction, text_diff
from storage import layout, probe
from storage.errors import ArchiveError, PermanentError
from storage.manifest import COLUMNS
from storage.store import S3Store, Store, open_store

app = typer.Typer(help="Search and retrieve from the news archive.", no_args_is_help=True, add_completion=False)
err = Console(stderr=True, soft_wrap=True)  # messages are not wrapped at 80 columns in logs
# Piped output (logs, CI, make) gets a wide table instead of rich's 80-column default.
WIDTH = None if sys.stdout.isatty() else 160
ArchiveOpt = Annotated[str, typer.Option("--archive", envvar="ARCHIVE_URL", help="file:///path or s3://bucket/prefix")]
CatalogOpt = Annotated[
    Path | None,
    typer.Option("--catalog", envvar="NEWSARCHIVE_CATALOG", help="catalog file (default: a cache per archive)"),
]
DEFAULT_ARCHIVE = "./archive"
SourceOpt = Annotated[list[str], typer.Option("--source", "-s", help="source id (repeatable)")]
FromOpt = Annotated[str | None, typer.Option("--from", help="published on or after (YYYY-MM-DD)")]
ToOpt = Annotated[str | None, typer.Option("--to", help="published on or before (YYYY-MM-DD)")]
CapturedFromOpt = Annotated[str | None, typer.Option("--captured-from", help="captured on or after (YYYY-MM-DD)")]
CapturedToOpt = Annotated[str | None, typer.Option("--captured-to", help="captured on or before (YYYY-MM-DD)")]
TextOpt = Annotated[
    str | None, typer.Option("--text", "-t", help='full text (title and body); "quoted words" form a phrase')
]
TitleOpt = Annotated[str | None, typer.Option("--title", help="words or a phrase in the title")]
UrlOpt = Annotated[str | None, typer.Option("--url", help="URL prefix (requested, final or canonical)")]
LangOpt = Annotated[str | None, typer.Option("--lang", help="language, e.g. fr (also matches fr-FR)")]
StatusOpt = Annotated[
    list[str],
    typer.Option("--status", help=f"{' | '.join(STATUSES)} (repeatable; default: all, blocked ones superseded hidden)"),
]


def _cell(value: str | None) -> Text:
    """A table cell shown as it is: rich markup in a title ("[VIDEO] ...") must not be eaten."""
    return Text(value or "")


def _snippet_cell(snippet: str) -> Text:
    """The snippet with its matched words highlighted."""
    out = Text()
    for i, part in enumerate(re.split(f"[{MARK_START}{MARK_END}]", snippet)):
        out.append(part, style="bold yellow" if i % 2 else "")
    return out


def _marked(row: dict[str, Any]) -> dict[str, Any]:
    """For JSONL and CSV: matched words between square brackets."""
    if "snippet" in row:
        row["snippet"] = row["snippet"].replace(MARK_START, "[").replace(MARK_END, "]")
    return row


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int | None], None]]:
    """A rich progress bar on stderr; yields update(done, total)."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    # no bar when stderr is a pipe or a log: it would only leave blank lines there
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _store(url: str, probed: bool | None = None) -> Store:
    """The store at --archive, which must hold an archive (a mistyped path is an error, not an
    empty result). With `probed` (the --unsafe-store flag's value), an S3 server is probed first."""
    store = open_store(url if "://" in url else Path(url).resolve().as_uri())
    if probed is not None:
        _probed(store, probed)
    check_archive(store)
    return store


UnsafeOpt = Annotated[
    bool,
    typer.Option(
        "--unsafe-store",
        help=f"use an S3 server that failed the write-once probes anyway ({probe.UNSAFE_ENV}=1 alike; "
        "see docs/storage.md)",
    ),
]


def _probed(store: Store, unsafe: bool, *, writer: bool = False) -> probe.Verdict | None:
    """Probe an S3 store (storage/probe.py) before a command that judges or serves the archive:
    a server that would break write-once is refused in one line unless --unsafe-store."""
    if not isinstance(store, S3Store):
        return None
    if unsafe:  # else ARCHIVE_UNSAFE_STORE decides
        store.unsafe = frozenset(probe.NAMES)
    verdict: probe.Verdict = store.probe(writer=writer)
    if verdict.safe:
        err.print(f"store {verdict.summary()}", markup=False, highlight=False)
    elif verdict.unprobed:
        err.print(f"note: store {verdict.summary()}", markup=False, highlight=False)
    elif verdict.failed:
        err.print(f"[yellow]warning:[/yellow] unsafe store accepted: {verdict.summary()}", highlight=False)
    return verdict


def _warn_corrupt(exc: Exception) -> None:
    err.print(f"[yellow]warning:[/yellow] {exc}; skipped (run `archive verify`)")


def _archive(url: str, catalog: Path | None, probed: bool | None = None) -> Archive:
    """The archive with its catalog brought up to date (a progress bar when manifests are new)."""
    store = _store(url, probed)
    a = Archive(
        store, Catalog(catalog or default_catalog_path(store.url)), refresh_each_read=False, on_corrupt=_warn_corrupt
    )
    with _progress("reading new manifests") as update:
        a.refresh(update)
    return a


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


def _looked_up(store: Store, catalog: Path | None = None) -> Archive:
    """The archive for looking up captures by id: its catalog is refreshed only when it does
    not know the id asked for (one ranged read), not up front as `_archive` does."""
    return Archive(store, Catalog(catalog or default_catalog_path(store.url)), on_corrupt=_warn_corrupt)


def _check_filters(store: Store, sources: tuple[str, ...], capture: str | None) -> None:
    """An unknown source or capture is an error, never an empty table: one look at the first
    manifest key of each source named (not a listing of the archive), the catalog for a capture."""
    for source in dict.fromkeys(sources):
        try:
            prefix = layout.manifests_prefix(source)
        except ValueError:
            raise PermanentError(f"unknown source {source!r}: not a source id") from None
        if next(iter(store.list(prefix)), None) is None:
            raise PermanentError(f"unknown source {source!r}: the archive has committed nothing for it")
    if capture is not None:
        _looked_up(store).locate(capture)


def _fail(exc: Exception | str) -> None:
    err.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


def _query(
    source: list[str],
    date_from: str | None,
    date_to: str | None,
    captured_from: str | None,
    captured_to: str | None,
    **rest: Any,
) -> Query:
    return Query(
        sources=tuple(source),
        date_from=_day(date_from, "--from"),
        date_to=_day(date_to, "--to"),
        captured_from=_day(captured_from, "--captured-from"),
        captured_to=_day(captured_to, "--captured-to"),
        **rest,
    )


def _write_rows(rows: Iterator[dict[str, Any]], fmt: str) -> None:
    """Rows to stdout as JSON lines or CSV (provenance columns, plus snippet and score when ranked)."""
    rows = map(_marked, rows)
    if fmt == "jsonl":
        for r in rows:
            r.pop("text", None)
            sys.stdout.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
        return
    first = next(rows, None)
    if first is None:
        return
    fields = [c for c in COLUMNS if c != "text"] + [c for c in ("snippet", "score") if c in first]
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in (first, *rows):
        writer.writerow(csv_row(r))


@app.command()
def search(
    source: SourceOpt = [],  # noqa: B006
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    captured_from: CapturedFromOpt = None,
    captured_to: CapturedToOpt = None,
    text: TextOpt = None,
    title: TitleOpt = None,
    url: UrlOpt = None,
    language: LangOpt = None,
    status: StatusOpt = [],  # noqa: B006
    sort: Annotated[
        str | None, typer.Option("--sort", help=f"{' | '.join(SORTS)} (default: rank with --text, else published)")
    ] = None,
    desc: Annotated[bool, typer.Option("--desc", help="descending order")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, max=MAX_LIMIT)] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | jsonl | csv")] = "table",
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
    catalog: CatalogOpt = None,
) -> None:
    """Find committed captures (each capture's latest extraction)."""
    if fmt not in ("table", "jsonl", "csv"):
        raise typer.BadParameter(f"{fmt!r}: choose table, jsonl or csv", param_hint="--format")
    try:
        q = _query(
            source, date_from, date_to, captured_from, captured_to, text=text, title=title, url_prefix=url,
            language=language, sort=sort, descending=desc, limit=limit, statuses=tuple(status),
        )  # fmt: skip
        a = _archive(archive, catalog)
        if fmt != "table":
            return _write_rows(a.iter_search(q), fmt)
        rows = a.search(q)
    except ArchiveError as exc:
        return _fail(exc)
    table = Table(title=f"{len(rows)} capture(s)")
    table.add_column("capture id", no_wrap=True)
    table.add_column("source", no_wrap=True)
    table.add_column("published", no_wrap=True)
    table.add_column("title")
    table.add_column("url", overflow="fold")
    for r in rows:
        table.add_row(
            r["capture_id"], r["source_id"], (r["published"] or "")[:16], _cell(r["title"]), _cell(r["final_url"])
        )
    Console(width=WIDTH).print(table)


ExtractionOpt = Annotated[
    str | None, typer.Option("--extraction", "-x", help="an earlier extraction id (default: the latest)")
]


@app.command()
def find(
    query: str,
    source: SourceOpt = [],  # noqa: B006
    limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_LIMIT)] = 20,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | jsonl | csv")] = "table",
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
    catalog: CatalogOpt = None,
) -> None:
    """Ranked full-text search (BM25, title weighted) with snippets; "quoted words" form a phrase."""
    try:
        hits = _archive(archive, catalog).search(Query(sources=tuple(source), text=query, limit=limit))
    except ArchiveError as exc:
        return _fail(exc)
    if fmt != "table":
        return _write_rows(iter(hits), fmt)
    table = Table(title=f"{len(hits)} match(es) for {query!r}")
    for col in ("capture id", "source", "published", "title", "snippet"):
        table.add_column(col, no_wrap=col in ("capture id", "source", "published"))
    for h in hits:
        table.add_row(
            h["capture_id"], h["source_id"], (h["published"] or "")[:10], _cell(h["title"]), _snippet_cell(h["snippet"])
        )
    Console(width=WIDTH).print(table)


@app.command()
def show(
    capture_id: str, extraction: ExtractionOpt = None, archive: ArchiveOpt = DEFAULT_ARCHIVE, catalog: CatalogOpt = None
) -> None:
    """Provenance and clean text of one capture, its extractions, events and links."""
    try:
        a = _archive(archive, catalog)
        rows = a.extractions(capture_id)  # one read of the manifests for the row and the list
        row = select_extraction(rows, extraction)
        versions = [(r["extraction_id"], r["extracted_at"]) for r in rows]
        after = aftermath.of_capture(
            aftermath.read_events(a.store, _warn_corrupt),
            aftermath.read_links(a.store, _warn_corrupt),
            row["capture_id"],
        )
    except ArchiveError as exc:
        return _fail(exc)
    text = row.pop("text")
    out: dict[str, Any] = {
        "citation": citation({**row, "text": text}),
        "provenance": row,
        "extractions": [{"extraction_id": x, "extracted_at": t} for x, t in versions],
        "events": after["events"],  # what happened to it afterwards: takedowns, edits
        "links": after["links"],  # the same text published by another source
        "text": text,
    }
    sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=1) + "\n")


@app.command()
def get(
    capture_id: str,
    raw: Annotated[bool, typer.Option("--raw", help="the HTTP payload exactly as served")] = False,
    decoded: Annotated[
        bool, typer.Option("--decoded", help="with --raw: Content-Encoding (gzip, br) undone, charset as declared")
    ] = False,
    warc: Annotated[
        bool, typer.Option("--warc", help="the capture's WARC records (response, request, metadata)")
    ] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing --output file")] = False,
    extraction: ExtractionOpt = None,
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
    catalog: CatalogOpt = None,
) -> None:
    """Write a capture's raw payload (--raw), its WARC records (--warc) or its clean text.

    Raw bytes are written only after their SHA-256 matches the committed one."""
    try:
        if output is not None and output.exists() and not force:
            raise PermanentError(f"{output} already exists; choose another name or pass --force")
        store = _store(archive)
        # the catalog is refreshed only if it does not know the capture yet: one ranged read
        a = _looked_up(store, catalog)
        if warc:
            data = a.warc_records(capture_id)
        elif raw:
            data = a.decoded(capture_id) if decoded else a.raw(capture_id)
        else:
            data = (a.show(capture_id, extraction)["text"] or "").encode()
    except ArchiveError as exc:
        return _fail(exc)
    if output is None:
        sys.stdout.buffer.write(data)
        return None
    try:
        atomic_write_bytes(output, data, replace=force)
    except ArchiveError as exc:
        return _fail(exc)
    return None


@app.command()
def versions(
    url: str,
    diff: Annotated[
        tuple[int, int] | None, typer.Option("--diff", help="diff versions N M (1-based, oldest first)")
    ] = None,
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
    catalog: CatalogOpt = None,
) -> None:
    """Every capture of one URL in time order, or a text diff between two of them."""
    try:
        rows = _archive(archive, catalog).versions(url)
    except ArchiveError as exc:
        return _fail(exc)
    if not rows:
        return _fail(UnknownCapture(f"no committed capture of {url}"))
    if diff:
        a, b = diff
        if not (1 <= a <= len(rows) and 1 <= b <= len(rows)):
            raise typer.BadParameter(f"versions are numbered 1..{len(rows)}", param_hint="--diff")
        sys.stdout.write(text_diff(rows[a - 1], rows[b - 1]) + "\n")
        return
    table = Table(title=f"{len(rows)} capture(s) of {url}")
    for col in ("#", "capture id", "fetched", "text sha-256", "title"):
        table.add_column(col, no_wrap=col != "title")
    for i, r in enumerate(rows, 1):
        table.add_row(str(i), r["capture_id"], r["fetched_at"], (r["text_sha256"] or "-")[:16], _cell(r["title"]))
    Console(width=WIDTH).print(table)


@app.command()
def verify(
    source: Annotated[
        str | None, typer.Option("--source", "-s", help="one source (default: the whole archive)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text | json")] = "text",
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
    unsafe_store: UnsafeOpt = False,
) -> None:
    """Recompute raw and clean SHA-256 digests against the manifests; exit 1 on any problem.
    An S3 store is probed first: one that would break write-once is refused."""
    from researcher.verify import verify as run_verify

    try:
        store = _store(archive, probed=unsafe_store)
        _check_filters(store, (source,) if source else (), None)  # a source with nothing in it is not "clean"
        with _progress("verifying") as update:
            report = run_verify(store, source, update)
    except ArchiveError as exc:
        return _fail(exc)
    if fmt == "json":
        sys.stdout.write(json.dumps(report.as_dict(), indent=1) + "\n")
    else:
        for p in report.problems:
            sys.stdout.write(f"{p.kind}\t{p.key}\t{p.capture_id or '-'}\t{p.detail}\n")
        err.print(
            f"{report.rows} row(s): raw ok {report.raw_ok}, clean ok {report.clean_ok}; "
            f"{report.manifests} manifest part(s); {report.objects} object(s) under raw/ and clean/ "
            f"({len(report.uncommitted)} of attempts that committed nothing); {len(report.problems)} problem(s)"
        )
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def export(
    output: Annotated[Path, typer.Option("--output", "-o")],
    fmt: Annotated[str, typer.Option("--format", "-f", help=" | ".join(FORMATS))] = "jsonl",
    source: SourceOpt = [],  # noqa: B006
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    captured_from: CapturedFromOpt = None,
    captured_to: CapturedToOpt = None,
    text: TextOpt = None,
    title: TitleOpt = None,
    url: UrlOpt = None,
    language: LangOpt = None,
    status: StatusOpt = [],  # noqa: B006
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
    catalog: CatalogOpt = None,
) -> None:
    """Export a selection with provenance columns, or as WACZ for replay; streamed, and the file
    appears only when complete."""
    try:
        q = _query(
            source, date_from, date_to, captured_from, captured_to, text=text, title=title, url_prefix=url,
            language=language, sort="published", statuses=tuple(status),
        )  # fmt: skip
        a = _archive(archive, catalog)
        total = a.count(q)
        with _progress(f"exporting {fmt}") as update:
            done = 0

            def tick() -> None:
                nonlocal done
                done += 1
                update(done, total)

            n = write_export(counted(a.iter_search(q), tick), fmt, output, a.store, _warn_corrupt)
    except ArchiveError as exc:
        return _fail(exc)
    err.print(f"exported {n} capture(s) to {output}")


FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table | jsonl | csv")]


def _choices(values: list[str], allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    for v in values:
        if v not in allowed:
            raise typer.BadParameter(f"{v!r} is not one of {', '.join(allowed)}", param_hint=name)
    return tuple(values)


def _emit(rows: list[dict[str, Any]], fmt: str, columns: list[tuple[str, str]], title: str) -> None:
    """Rows as a table (the columns named), or every field as JSON lines or CSV."""
    if fmt not in ("table", "jsonl", "csv"):
        raise typer.BadParameter(f"{fmt!r} is not one of table, jsonl, csv", param_hint="--format")
    if fmt == "jsonl":
        for r in rows:
            sys.stdout.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
    elif fmt == "csv" and rows:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    elif fmt == "table":
        table = Table(title=title)
        for _, header in columns:
            table.add_column(header, overflow="fold")
        for r in rows:
            table.add_row(*(_cell(None if r.get(k) is None else str(r[k])) for k, _ in columns))
        Console(width=WIDTH).print(table)


@app.command()
def events(
    source: SourceOpt = [],  # noqa: B006
    kind: Annotated[list[str], typer.Option("--kind", help="takedown | edit (repeatable)")] = [],  # noqa: B006
    reason: Annotated[
        list[str], typer.Option("--reason", help=f"{' | '.join(aftermath.EVENT_REASONS)} (repeatable)")
    ] = [],  # noqa: B006
    date_from: Annotated[str | None, typer.Option("--from", help="observed on or after (YYYY-MM-DD)")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="observed on or before (YYYY-MM-DD)")] = None,
    capture: Annotated[str | None, typer.Option("--capture", help="events of one capture")] = None,
    url: UrlOpt = None,
    fmt: FormatOpt = "table",
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
) -> None:
    """Takedowns and edits seen when archived articles were fetched again."""
    kinds = _choices(kind, aftermath.EVENT_KINDS, "--kind")
    reasons = _choices(reason, aftermath.EVENT_REASONS, "--reason")
    try:
        f = aftermath.EventFilter(
            sources=tuple(source),
            kinds=kinds,
            reasons=reasons,
            date_from=_day(date_from, "--from"),
            date_to=_day(date_to, "--to"),
            capture=capture,
            url=url,
        )
        store = _store(archive)
        _check_filters(store, f.sources, f.capture)
        rows = aftermath.select_events(aftermath.read_events(store, _warn_corrupt), f)
    except ArchiveError as exc:
        return _fail(exc)
    cols = [("observed_at", "observed"), ("source_id", "source"), ("kind", "kind"), ("reason", "reason"),
            ("http_status", "HTTP"), ("capture_id", "capture before"), ("url", "url")]  # fmt: skip
    _emit(rows, fmt, cols, f"{len(rows)} event(s)")
    return None


@app.command()
def links(
    source: Annotated[list[str], typer.Option("--source", "-s", help="either side's source (repeatable)")] = [],  # noqa: B006
    republished_by: Annotated[
        list[str], typer.Option("--republished-by", help="the republishing source (repeatable)")
    ] = [],  # noqa: B006
    original_source: Annotated[
        list[str], typer.Option("--original-source", help="the original's source (repeatable)")
    ] = [],  # noqa: B006
    date_from: Annotated[str | None, typer.Option("--from", help="republished on or after (YYYY-MM-DD)")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="republished on or before (YYYY-MM-DD)")] = None,
    min_similarity: Annotated[
        float, typer.Option("--min-similarity", min=0.0, max=1.0, help="estimated Jaccard, 0..1")
    ] = 0.0,
    capture: Annotated[str | None, typer.Option("--capture", help="links of one capture (either side)")] = None,
    every_pair: Annotated[
        bool, typer.Option("--every-pair", help="every similar earlier text, not only each republication's earliest")
    ] = False,
    fmt: FormatOpt = "table",
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
) -> None:
    """Articles another source published again: each republication and its earliest original
    (every similar pair with --every-pair), and editions in other languages."""
    try:
        f = aftermath.LinkFilter(
            sources=tuple(source),
            republished_sources=tuple(republished_by),
            original_sources=tuple(original_source),
            date_from=_day(date_from, "--from"),
            date_to=_day(date_to, "--to"),
            min_similarity=min_similarity,
            capture=capture,
            every_pair=every_pair,
        )
        store = _store(archive)
        _check_filters(store, (*f.sources, *f.republished_sources, *f.original_sources), f.capture)
        rows = aftermath.select_links(aftermath.read_links(store, _warn_corrupt), f)
    except ArchiveError as exc:
        return _fail(exc)
    cols = [("kind", "kind"), ("republished_published", "republished"), ("republished_source", "by"),
            ("republished_url", "url"),
            ("original_source", "original source"), ("original_url", "original"),
            ("similarity", "similarity")]  # fmt: skip
    _emit(rows, fmt, cols, f"{len(rows)} link(s)")
    return None


@app.command()
def serve(
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
    catalog: CatalogOpt = None,
    host: Annotated[
        str, typer.Option(help="address to bind (anything but loopback exposes the archive)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port", min=1, max=65535)] = 8000,
    refresh: Annotated[
        float, typer.Option(help="seconds between looks for new manifests", min=1.0, max=86400.0)
    ] = 60.0,
    unsafe_store: UnsafeOpt = False,
) -> None:
    """The reading room: a read-only website to search, read, cite, replay, compare and export.
    An S3 store is probed first: one that would break write-once is refused."""
    import socket

    try:
        a = _archive(archive, catalog, probed=unsafe_store)
    except ArchiveError as exc:
        return _fail(exc)
    try:  # a port in use is one line, not a server traceback
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        return _fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    import uvicorn

    from researcher.web import create_app

    err.print(f"reading room of {a.store.url} on http://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(create_app(a, refresh_seconds=refresh), host=host, port=port, log_level="warning")


@app.command("sql")
def sql_command(
    query: Annotated[str, typer.Argument(help="SQL over manifests, captures, events, links (DuckDB)")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | csv | jsonl | parquet")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="a file (parquet needs one)")] = None,
    limit: Annotated[int, typer.Option(help="rows shown in a table (0: all)", min=0)] = 100,
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
) -> None:
    """DuckDB SQL over the archive's tables, each read and verified by the archive's reader."""
    import csv

    import pyarrow.parquet as pq

    from researcher import sql

    if fmt not in ("table", "csv", "jsonl", "parquet"):
        raise typer.BadParameter(f"{fmt!r}: table, csv, jsonl or parquet", param_hint="--format")
    if fmt == "parquet" and output is None:
        raise typer.BadParameter("parquet needs --output FILE", param_hint="--format")
    try:
        store = _store(archive)
        result = sql.query(store, query, _warn_corrupt, limit=limit if fmt == "table" and limit else None)
    except ArchiveError as exc:
        return _fail(exc)
    if fmt == "parquet":
        assert output is not None
        tmp = output.with_name(output.name + ".part")
        pq.write_table(result, tmp)
        tmp.replace(output)  # the file appears only when complete
        err.print(f"{result.num_rows} row(s) to {output}")
        return
    rows = result.to_pylist()
    sink = output.open("w", encoding="utf-8", newline="") if output else sys.stdout
    try:
        if fmt == "jsonl":
            for row in rows:
                sink.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        elif fmt == "csv":
            writer = csv.writer(sink)
            writer.writerow(result.column_names)
            writer.writerows([[row[c] for c in result.column_names] for row in rows])
        else:
            table = Table(*result.column_names, box=None)
            for row in rows:
                table.add_row(*(_cell(None if row[c] is None else str(row[c])) for c in result.column_names))
            Console(width=WIDTH).print(table)
            err.print(f"{len(rows)} row(s)" + (f" (--limit {limit})" if limit and len(rows) == limit else ""))
    finally:
        if output:
            sink.close()


app.command("gc")(collect_command)  # an operator's command, in its own module


def main() -> None:
    """The `archive` command: arguments the terminal could not decode are refused in one line
    before any command runs (they would fail deep inside as UnicodeEncodeError)."""
    for i, arg in enumerate(sys.argv[1:], 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            err.print(f"[red]error:[/red] argument {i} ({shown!r}) is not valid UTF-8", markup=True, highlight=False)
            _leave(2)
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            err.print(exc.code, markup=False, highlight=False)
    except KeyboardInterrupt:
        code = 130
    _leave(code)


def _leave(code: int) -> NoReturn:
    """End the process without the interpreter's teardown.

    pyarrow's C++ thread pools (Parquet reads, its S3 filesystem) can still be alive when the
    interpreter finalises; destroying them then aborts the process with status 134
    ("terminate called without an active exception") after complete output, in about one
    run of twenty. Every file a command writes is closed by its own code before this; the
    standard streams and logging are flushed here, then the process exits at once.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            continue  # the reader went away (`| head`): it had what it asked for
    os._exit(code)


if __name__ == "__main__":
    main()
