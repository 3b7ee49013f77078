"""`archive`: search, read, fetch raw copies and export from the archive."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from storage.errors import ArchiveError
from storage.export import atomic_write_bytes, write_export
from storage.reader import Archive, Query, UnknownCapture, citation, select_extraction, text_diff
from storage.store import open_store

app = typer.Typer(help="Search and retrieve from the news archive.", no_args_is_help=True, add_completion=False)
err = Console(stderr=True)
# Piped output (logs, CI, make) gets a wide table instead of rich's 80-column default.
WIDTH = None if sys.stdout.isatty() else 160
ArchiveOpt = Annotated[str, typer.Option("--archive", envvar="ARCHIVE_URL", help="file:///path or s3://bucket/prefix")]
DEFAULT_ARCHIVE = "./archive"


def _archive(url: str) -> Archive:
    return Archive(open_store(url if "://" in url else Path(url).resolve().as_uri()))


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=name) from None


def _fail(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


@app.command()
def search(
    source: Annotated[list[str], typer.Option("--source", "-s", help="source id (repeatable)")] = [],  # noqa: B006
    date_from: Annotated[str | None, typer.Option("--from", help="published on or after (YYYY-MM-DD)")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="published on or before (YYYY-MM-DD)")] = None,
    text: Annotated[str | None, typer.Option("--text", "-t", help="title or text contains (case-insensitive)")] = None,
    url: Annotated[str | None, typer.Option("--url", help="URL prefix")] = None,
    language: Annotated[str | None, typer.Option("--lang")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1)] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | jsonl")] = "table",
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
) -> None:
    """Find committed captures."""
    try:
        q = Query(tuple(source), _day(date_from, "--from"), _day(date_to, "--to"), text, url, language, limit)
        rows = _archive(archive).search(q)
    except ArchiveError as exc:
        return _fail(exc)
    if fmt == "jsonl":
        for r in rows:
            r.pop("text", None)
            sys.stdout.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
        return
    table = Table(title=f"{len(rows)} capture(s)")
    table.add_column("capture id", no_wrap=True)
    table.add_column("source", no_wrap=True)
    table.add_column("published", no_wrap=True)
    table.add_column("title")
    table.add_column("url", overflow="fold")
    for r in rows:
        table.add_row(r["capture_id"], r["source_id"], (r["published"] or "")[:16], r["title"] or "", r["final_url"])
    Console(width=WIDTH).print(table)


ExtractionOpt = Annotated[
    str | None, typer.Option("--extraction", "-x", help="an earlier extraction id (default: the latest)")
]


@app.command()
def find(
    query: str,
    source: Annotated[list[str], typer.Option("--source", "-s", help="source id (repeatable)")] = [],  # noqa: B006
    limit: Annotated[int, typer.Option("--limit", min=1)] = 20,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | jsonl")] = "table",
    index: Annotated[Path | None, typer.Option("--index", help="index file (default: a cache per archive)")] = None,
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
) -> None:
    """Ranked full-text search with snippets; words in double quotes form a phrase."""
    from storage.index import FullTextIndex, default_index_path

    try:
        a = _archive(archive)
        idx = FullTextIndex(index or default_index_path(a.store.url))
        idx.update(a.store)
        hits = idx.search(query, tuple(source), limit)
    except ArchiveError as exc:
        return _fail(exc)
    if fmt == "jsonl":
        for h in hits:
            sys.stdout.write(json.dumps(h.__dict__, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"{len(hits)} match(es) for {query!r}")
    for col in ("capture id", "source", "published", "title", "snippet"):
        table.add_column(col, no_wrap=col in ("capture id", "source", "published"))
    for h in hits:
        table.add_row(h.capture_id, h.source_id, (h.published or "")[:10], h.title or "", h.snippet)
    Console(width=WIDTH).print(table)


@app.command()
def show(capture_id: str, extraction: ExtractionOpt = None, archive: ArchiveOpt = DEFAULT_ARCHIVE) -> None:
    """Provenance and clean text of one capture, with the list of its extractions."""
    try:
        a = _archive(archive)
        rows = a.extractions(capture_id)  # one read of the manifests for the row and the list
        row = select_extraction(rows, extraction)
        versions = [(r["extraction_id"], r["extracted_at"]) for r in rows]
    except ArchiveError as exc:
        return _fail(exc)
    text = row.pop("text")
    out: dict[str, Any] = {
        "citation": citation({**row, "text": text}),
        "provenance": row,
        "extractions": [{"extraction_id": x, "extracted_at": t} for x, t in versions],
        "text": text,
    }
    sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=1) + "\n")


@app.command()
def get(
    capture_id: str,
    raw: Annotated[bool, typer.Option("--raw", help="the HTTP payload exactly as served")] = False,
    warc: Annotated[
        bool, typer.Option("--warc", help="the capture's WARC records (response, request, metadata)")
    ] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file to write (default: stdout)")] = None,
    extraction: ExtractionOpt = None,
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
) -> None:
    """Write a capture's raw payload (--raw), its WARC records (--warc) or its clean text."""
    try:
        a = _archive(archive)
        if warc:
            data = a.warc_records(capture_id)
        elif raw:
            data = a.raw(capture_id)
        else:
            data = (a.show(capture_id, extraction)["text"] or "").encode()
    except ArchiveError as exc:
        return _fail(exc)
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        atomic_write_bytes(output, data)


@app.command()
def versions(
    url: str,
    diff: Annotated[
        tuple[int, int] | None, typer.Option("--diff", help="diff versions N M (1-based, oldest first)")
    ] = None,
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
) -> None:
    """Every capture of one URL in time order, or a text diff between two of them."""
    try:
        rows = _archive(archive).versions(url)
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
        table.add_row(str(i), r["capture_id"], r["fetched_at"], (r["text_sha256"] or "-")[:16], r["title"] or "")
    Console(width=WIDTH).print(table)


@app.command()
def verify(
    source: Annotated[
        str | None, typer.Option("--source", "-s", help="one source (default: the whole archive)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text | json")] = "text",
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
) -> None:
    """Recompute raw and clean SHA-256 digests against the manifests; exit 1 on any problem."""
    from rich.progress import Progress

    from storage.verify import verify as run_verify

    try:
        store = _archive(archive).store
        with Progress(console=err, transient=True) as bar:
            task = bar.add_task("verifying", total=None)
            report = run_verify(store, source, lambda done, total: bar.update(task, completed=done, total=total))
    except ArchiveError as exc:
        return _fail(exc)
    if fmt == "json":
        sys.stdout.write(json.dumps(report.as_dict(), indent=1) + "\n")
    else:
        for p in report.problems:
            sys.stdout.write(f"{p.kind}\t{p.key}\t{p.capture_id or '-'}\t{p.detail}\n")
        err.print(
            f"{report.rows} row(s): raw ok {report.raw_ok}, clean ok {report.clean_ok}; "
            f"{report.objects} object(s) under raw/ and clean/; {len(report.problems)} problem(s)"
        )
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def export(
    output: Annotated[Path, typer.Option("--output", "-o")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl | csv | parquet")] = "jsonl",
    source: Annotated[list[str], typer.Option("--source", "-s")] = [],  # noqa: B006
    date_from: Annotated[str | None, typer.Option("--from")] = None,
    date_to: Annotated[str | None, typer.Option("--to")] = None,
    text: Annotated[str | None, typer.Option("--text", "-t")] = None,
    archive: ArchiveOpt = DEFAULT_ARCHIVE,
) -> None:
    """Export a selection with provenance columns; the file appears only when complete."""
    try:
        rows = _archive(archive).search(Query(tuple(source), _day(date_from, "--from"), _day(date_to, "--to"), text))
        n = write_export(rows, fmt, output)
    except ArchiveError as exc:
        return _fail(exc)
    err.print(f"exported {n} capture(s) to {output}")


if __name__ == "__main__":
    app()
