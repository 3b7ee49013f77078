"""The reading room: `archive serve`, a read-only website over the archive.

Server-rendered pages (FastAPI + Jinja2, both already in the lock through Airflow): every
page is a plain HTML document that works without JavaScript, can be bookmarked and cited by
its URL, and is readable by screen readers and keyboard. The archive is only read (listings,
GETs, ranged GETs): read-only S3 credentials suffice. The catalog is the researcher's local
cache, refreshed from the manifests at most every `refresh_seconds`.

The archived page is replayed from its WARC record, its payload checked against the
committed SHA-256, and served with a Content-Security-Policy sandbox that runs no script and
fetches nothing: not from the live web, not from the reading room.
"""

from __future__ import annotations

import asyncio
import difflib
import functools
import html
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import replace
from datetime import date, timedelta
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from researcher import coverage
from researcher.aftermath import Attach
from researcher.api import routes as api
from researcher.api.cursor import BadCursor
from researcher.api.limits import RateLimits
from researcher.catalog import FACETS, MARK_END, MARK_START, SORTS, STATUSES, Catalog, Query, QueryTooCostly
from researcher.cite import bibtex, citation, csl_json
from researcher.export import FORMATS, write_export
from researcher.params import BadRequest, page_number, query_from
from researcher.reader import Archive, UnknownCapture, select_extraction
from researcher.replay import rewrite
from researcher.wayback import routes as wayback
from researcher.wayback import timestamps
from researcher.wayback.routes import web_link
from storage.errors import ArchiveError, PermanentError
from storage.tablelog import CorruptPart

log = logging.getLogger(__name__)

PAGE = 20
SEARCH_SLOTS = max(1, (os.cpu_count() or 2) // 2)  # searches running at once: the other cores serve pages
SEARCH_QUEUE = 64  # searches waiting for a slot before more are refused (503)
QUERY_SECONDS = 5.0  # a request's catalog statements are interrupted past this (Catalog.budget)
SANDBOX_CSP = (  # a click on a link may take the top window to its archived capture; nothing else navigates
    "sandbox allow-top-navigation-by-user-activation; default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; font-src data:; form-action 'none'; frame-ancestors 'self'; base-uri 'none'"
)
PAGE_CSP = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; script-src 'self'; "
    "frame-ancestors 'self'"
)
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def marked(snippet: str) -> Markup:
    """A snippet, escaped, its matched words in <mark>."""
    escaped = html.escape(snippet)
    return Markup(escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))  # noqa: S704 - escaped above


TEMPLATES.env.filters["marked"] = marked


class Busy(Exception):
    """Too many searches already waiting: 503, to be tried again."""


def _params(request: Request) -> dict[str, Any]:
    multi = {"source", "status"}
    out: dict[str, Any] = {k: request.query_params.getlist(k) for k in multi}
    out.update({k: v for k, v in request.query_params.items() if k not in multi})
    return out


def _link(params: dict[str, Any], **change: Any) -> str:
    """The current search with some fields changed (None removes one)."""
    merged = {**params, **change}
    pairs: list[tuple[str, str]] = []
    for k, v in merged.items():
        if v is None or v in ("", []):
            continue
        pairs.extend((k, str(x)) for x in (v if isinstance(v, list) else [v]))
    return "?" + urlencode(pairs)


def side_by_side(old: dict[str, Any], new: dict[str, Any]) -> Markup:
    """Two captures' clean texts as a two-column table, changed words marked (difflib)."""
    table = difflib.HtmlDiff(wrapcolumn=70).make_table(
        (old.get("text") or "").splitlines(),
        (new.get("text") or "").splitlines(),
        fromdesc=html.escape(f"{old['fetched_at']} ({old['capture_id'][-12:]})"),
        todesc=html.escape(f"{new['fetched_at']} ({new['capture_id'][-12:]})"),
        context=False,
    )
    table = table.replace('nowrap="nowrap"', "").replace("&nbsp;", " ")
    return Markup(table)  # noqa: S704 - difflib escapes the lines it puts in the table


def create_app(
    archive: Archive,
    *,
    refresh_seconds: float = 60.0,
    title: str = "News archive",
    rate_limits: RateLimits | None = None,
) -> FastAPI:
    """The reading room over one archive, with its Wayback, Memento and JSON faces.
    rate_limits: the JSON API's per-client token buckets (default RateLimits(); 20 a second)."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    if archive.on_corrupt is None:
        # the room goes on reading around a damaged part: named in the server's log, left out
        archive.on_corrupt = _log_corrupt
    if archive.catalog.memory:
        # request threads each open their own connection, which an in-memory database cannot share
        room_cache = Path(tempfile.mkdtemp(prefix="newsarchive-room-"))
        archive.catalog = Catalog(room_cache / "catalog.sqlite")
        archive.catalog.bind(archive.store)
        app.router.on_shutdown.append(lambda: shutil.rmtree(room_cache, ignore_errors=True))
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    state: dict[str, Any] = {"refreshed": 0.0}
    # Requests run on Starlette's thread pool, each thread with its own catalog connection: no
    # request waits for another's query. Only a refresh (a writer) is one at a time.
    refreshing = threading.Lock()
    get = functools.partial(app.api_route, methods=["GET", "HEAD"])  # HEAD wherever GET: link checkers probe with it
    charts: dict[tuple[str, str], str] = {}
    report_cache: dict[str, Any] = {}  # run reports by key: written once, read once

    def fresh(now: bool = False) -> None:
        """Read new commits when the last refresh is older than refresh_seconds, or `now`
        (a request that needs them: it waits for a refresh under way, then refreshes)."""
        if not now and time.monotonic() - state["refreshed"] <= refresh_seconds:
            return
        if not refreshing.acquire(blocking=now):
            return  # another request is refreshing: this one reads what is committed meanwhile
        try:
            archive.refresh()
            # events and links, read with the same rhythm (a corrupt part is skipped, as readers do)
            state["aftermath"] = Attach(archive.store, on_corrupt=archive.on_corrupt)
            state["refreshed"] = time.monotonic()
            archive.catalog.facets(Query())  # the home page's facets: a pass over every row, done now
        finally:
            refreshing.release()

    fresh()  # the first visitor does not wait for the first refresh

    def page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        known = archive.catalog.known()
        response = TEMPLATES.TemplateResponse(
            request,
            name,
            {"title": title, "known": known, "statuses": STATUSES, "sorts": SORTS, **ctx},
            status_code=status,
        )
        response.headers["Content-Security-Policy"] = PAGE_CSP
        return response

    def refuse(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        """The room's error page, or the API's JSON error: the same one line."""
        if api.is_api(request):
            return api.error(status, message, headers)
        response = page(request, "error.html", status, message=message)
        response.headers.update(headers or {})
        return response

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return refuse(request, 400, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return refuse(request, 400, _validation_message(exc))

    @app.exception_handler(Busy)
    async def busy(request: Request, exc: Busy) -> Response:
        return refuse(request, 503, str(exc), {"Retry-After": "60"})

    @app.exception_handler(QueryTooCostly)
    async def too_costly(request: Request, exc: QueryTooCostly) -> Response:
        return refuse(request, 503, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return refuse(request, exc.status_code, str(exc.detail), dict(exc.headers or {}))

    @app.middleware("http")
    async def hardened(request: Request, call_next: Any) -> Response:
        """Every answer: never sniffed into another type, framed only by the room itself."""
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'self'")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.exception_handler(UnknownCapture)
    async def unknown(request: Request, exc: UnknownCapture) -> Response:
        return refuse(request, 404, str(exc))

    @app.exception_handler(ArchiveError)
    async def archive_error(request: Request, exc: ArchiveError) -> Response:
        return refuse(request, 400 if isinstance(exc, PermanentError) else 503, str(exc))

    @app.exception_handler(BadCursor)
    async def bad_cursor(request: Request, exc: BadCursor) -> Response:
        return refuse(request, 400, str(exc))

    # Full-text searches and exports take turns in
    # `SEARCH_SLOTS` at once, awaited on the event loop (a waiting request holds no thread);
    # the pages of one capture never wait behind them. Past `SEARCH_QUEUE` waiting, a search
    # is refused at once (503) rather than queued for minutes.
    slots = asyncio.Semaphore(SEARCH_SLOTS)
    queued = [0]

    async def in_turn(work: Any, *args: Any) -> Any:
        if queued[0] >= SEARCH_QUEUE:
            raise Busy(f"{queued[0]} searches are waiting; try again in a minute")
        queued[0] += 1
        try:
            await slots.acquire()  # a client that goes away meanwhile is cancelled here, holding nothing
        finally:
            queued[0] -= 1
        try:
            return await run_in_threadpool(work, *args)
        finally:
            slots.release()

    # Wayback URLs, the CDX APIs, Memento (researcher/wayback/)
    wayback.install(app, archive, fresh=fresh, page=page, sandboxed=_sandboxed, budget_seconds=QUERY_SECONDS)
    # the JSON API (researcher/api/)
    api.install(
        app,
        archive,
        fresh=fresh,
        in_turn=in_turn,
        aftermath=lambda: state["aftermath"],
        report_cache=report_cache,
        budget_seconds=QUERY_SECONDS,
        limits=rate_limits or RateLimits(),
    )

    @get("/", response_class=HTMLResponse)
    async def search(request: Request) -> HTMLResponse:
        if not (request.query_params.get("q") or request.query_params.get("title")):
            # filters only (the home page, a facet, a source): indexed SQL within the request budget
            return await run_in_threadpool(_search, request)  # type: ignore[no-any-return]
        return await in_turn(_search, request)  # type: ignore[no-any-return]

    def _search(request: Request) -> HTMLResponse:
        params = _params(request)
        fresh()
        q = query_from(params)
        number = page_number(params.get("page"))
        with archive.catalog.budget(QUERY_SECONDS):
            archive.catalog.check_known(q)
            total = archive.catalog.count(q)
            facets = archive.catalog.facets(q)
            hits = list(islice(archive.catalog.rows(replace(q, limit=number * PAGE)), (number - 1) * PAGE, None))
        facet_links = {
            name: [
                (value, n, _link(params, page=None, **_facet_change(name, value)))
                for value, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]) if name != "month" else kv[0])
            ]
            for name, counts in facets.items()
        }
        return page(
            request,
            "search.html",
            params=params,
            q=q,
            total=total,
            hits=hits,
            number=number,
            pages=max(1, -(-total // PAGE)),
            facets=facet_links,
            facet_names=FACETS,
            link=lambda **kw: _link(params, **kw),
            export_formats=FORMATS,
        )

    @get("/capture/{capture_id}", response_class=HTMLResponse)
    def capture(request: Request, capture_id: str, extraction: str | None = None) -> HTMLResponse:
        fresh()
        with archive.catalog.budget(QUERY_SECONDS):
            rows = archive.extractions(capture_id)
            row = select_extraction(rows, extraction)
            url = row.get("canonical_url") or row["final_url"]
            versions = archive.versions(url)
        return page(
            request,
            "capture.html",
            row=row,
            extractions=rows,
            versions=versions,
            citation=citation(row, address=_address(request, row)),
            address=_address(request, row),
            provenance=_provenance(row),
            aftermath=state["aftermath"](row["capture_id"]),
        )

    @get("/capture/{capture_id}/cite.bib")
    def cite_bib(request: Request, capture_id: str) -> Response:
        with archive.catalog.budget(QUERY_SECONDS):
            row = archive.locate(capture_id)  # metadata only: no text read
        return Response(bibtex(row, address=_address(request, row)), media_type="application/x-bibtex; charset=utf-8")

    @get("/capture/{capture_id}/cite.json")
    def cite_json(request: Request, capture_id: str) -> JSONResponse:
        with archive.catalog.budget(QUERY_SECONDS):
            row = archive.locate(capture_id)  # metadata only: no text read
        item = csl_json(row, address=_address(request, row))
        return JSONResponse([item], media_type="application/vnd.citationstyles.csl+json")

    @get("/capture/{capture_id}/replay", response_class=HTMLResponse)
    def replay(request: Request, capture_id: str) -> HTMLResponse:
        """This very capture in the frame (the /web/ address picks the closest of its URL's)."""
        with archive.catalog.budget(QUERY_SECONDS):
            row = archive.locate(capture_id)  # metadata only: no text read
        address = str(request.base_url).rstrip("/") + wayback.wayback_address(row)
        return page(request, "replay.html", row=row, frame=f"/capture/{capture_id}/raw", address=address)

    @get("/capture/{capture_id}/raw")
    def raw(capture_id: str, exact: bool = False) -> Response:
        """The archived response body, digest checked, content-encoding undone, sandboxed; its
        links rewritten into the archive unless `exact` (the bytes as archived)."""
        with archive.catalog.budget(QUERY_SECONDS):
            row = archive.locate(capture_id)  # metadata only: no text read
            body = archive.decoded(capture_id)
        ctype = wayback.replay_type(row)  # never an archived body taken for something runnable
        if not exact and ctype.startswith(("text/html", "application/xhtml")):
            links = web_link(timestamps.format_ts(timestamps.from_iso(row["fetched_at"])))
            body, ctype = rewrite(body, ctype, row["final_url"], link=links, top=True), "text/html; charset=utf-8"
        return _sandboxed(body, ctype)

    @get("/go")
    def go(url: str) -> Response:
        """A link followed inside a replayed page: its archived capture, or a note that there is none."""
        with archive.catalog.budget(QUERY_SECONDS):
            found = [v for v in archive.versions(url) if v["status"] != "blocked"]
        if found:
            return RedirectResponse(f"/capture/{found[-1]['capture_id']}/raw", status_code=302)
        note = (
            f"<!DOCTYPE html><meta charset=utf-8><title>Not archived</title><p style='font-family:sans-serif'>"
            f"<strong>{html.escape(url)}</strong> is not in the archive. The live web is not reached from here.</p>"
        )
        return _sandboxed(note.encode(), "text/html; charset=utf-8", status=404)

    @get("/diff", response_class=HTMLResponse)
    def diff(request: Request, a: str, b: str) -> HTMLResponse:
        with archive.catalog.budget(QUERY_SECONDS):
            old, new = archive.show(a), archive.show(b)
        return page(request, "diff.html", old=old, new=new, table=side_by_side(old, new))

    @get("/export")
    async def export(request: Request) -> Response:
        return await in_turn(_export, request)  # type: ignore[no-any-return]

    def _export(request: Request) -> Response:
        params = _params(request)
        fmt = params.get("format") or "jsonl"
        if fmt not in FORMATS:
            raise BadRequest(f"format: {fmt!r} is not one of {', '.join(FORMATS)}")
        fresh()
        q = query_from(params)
        archive.catalog.check_known(q)
        tmp = Path(tempfile.mkdtemp(prefix="newsarchive-export-"))
        target = tmp / f"archive-export.{fmt}"
        try:
            n = write_export(archive.iter_search(q), fmt, target, archive.store, archive.on_corrupt)
        except BaseException:
            _remove_tree(tmp)
            raise
        cleanup = BackgroundTask(_remove_tree, tmp)
        return FileResponse(
            target, filename=target.name, background=cleanup, headers={"X-Rows": str(n)}, media_type=_MEDIA[fmt]
        )

    @get("/coverage", response_class=HTMLResponse)
    def coverage_index(request: Request) -> HTMLResponse:
        fresh()
        with archive.catalog.budget(QUERY_SECONDS):
            counts = archive.catalog.counts_by_source()
        return page(request, "coverage_index.html", counts=counts)

    @get("/coverage/{source}", response_class=HTMLResponse)
    def coverage_page(request: Request, source: str) -> HTMLResponse:
        fresh()
        with archive.catalog.budget(QUERY_SECONDS):
            archive.catalog.check_known(Query(sources=(source,)))
            reports = coverage.read_reports(archive.store, source, report_cache)
            days = coverage.merge(archive.catalog.day_counts(source), reports)
        key = (source, repr(days))  # the chart takes a second at years of days: drawn once per state
        svg = charts.get(key)
        if svg is None:
            svg = coverage.chart_svg(days, f"{source}: captures per published day") if days else ""
            if len(charts) > 32:
                charts.clear()
            charts[key] = svg
        return page(
            request,
            "coverage.html",
            source=source,
            days=days,
            summary=coverage.summary(days),
            chart=Markup(svg),  # noqa: S704 - made by matplotlib from our own figures
        )

    return app


_MEDIA = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "wacz": "application/wacz",
}


def _address(request: Request, row: dict[str, Any]) -> str:
    """The capture's citable archive address on this server: /web/<timestamp>/<url>."""
    return str(request.base_url).rstrip("/") + wayback.wayback_address(row)


def _log_corrupt(exc: CorruptPart) -> None:
    log.warning("%s; skipped (run `archive verify`)", exc)


def _validation_message(exc: RequestValidationError) -> str:
    """FastAPI's validation errors as the room's one line: which parameter, what is wrong."""
    parts = []
    for e in exc.errors():
        name = ".".join(str(x) for x in e.get("loc", ())[1:]) or "request"
        parts.append(f"{name}: {e.get('msg', 'invalid').lower()}")
    return "; ".join(parts) or "invalid request"


def _facet_change(name: str, value: str) -> dict[str, Any]:
    """The search fields a click on a facet value sets."""
    if name == "month":
        first = date.fromisoformat(f"{value}-01")
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        return {"from": first.isoformat(), "to": last.isoformat()}
    return {"source": [value]} if name == "source" else {"status": [value]} if name == "status" else {"lang": value}


def _provenance(row: dict[str, Any]) -> list[tuple[str, Any]]:
    keys = (
        "capture_id",
        "source_id",
        "requested_url",
        "final_url",
        "canonical_url",
        "http_status",
        "fetched_at",
        "warc_key",
        "warc_offset",
        "warc_length",
        "payload_sha256",
        "clean_key",
        "text_sha256",
        "extraction_id",
        "extracted_at",
        "run",
    )
    return [(k, row.get(k)) for k in keys if row.get(k) is not None]


def _sandboxed(body: bytes, ctype: str, status: int = 200) -> Response:
    return Response(
        body,
        status_code=status,
        media_type=ctype,
        headers={
            "Content-Security-Policy": SANDBOX_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


def _remove_tree(path: Path) -> None:
    for child in path.iterdir():
        child.unlink()
    path.rmdir()
