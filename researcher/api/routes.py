"""The JSON API, installed on the reading room's app (`archive serve`) under /api/v1/:

- `/captures`: every capture matching the filters, walked by cursor in capture-time order
  (every status; a walk sees the commits it began with, so it neither skips nor repeats a
  capture while the pipeline commits); `/captures/{id}`: the clean document, its provenance,
  extractions, events, links and citation.
- `/search`: the best matches of a text query, ranked (one page: scores move as the archive
  grows, so a ranked walk could not keep the cursor's promise; walk `/captures?q=` instead).
- `/versions`, `/diff`: every capture of a URL, and what changed between two captures.
- `/events`, `/links`: edits and takedowns, republications, walked by cursor.
- `/sources`, `/coverage/{source}`: what the archive holds, per source and day.
- `/openapi.json`: the OpenAPI document of all of the above.

Read-only, GET and HEAD. Errors are JSON, `{"error": <the CLI's one line>, "status": n}`.
Bounded: pages of at most MAX_LIMIT items, each request's catalog statements within the
room's time budget (503 past it), text queries in the room's search slots, and a token
bucket per client address (researcher/api/limits.py; 429 with Retry-After).
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from researcher import coverage
from researcher.aftermath import (
    EVENT_KINDS,
    EVENT_REASONS,
    Attach,
    EventFilter,
    LinkFilter,
    select_events,
    select_links,
)
from researcher.api import cursor as cursors
from researcher.api import models
from researcher.api.limits import RateLimits
from researcher.catalog import MARK_END, MARK_START, MAX_QUERY_CHARS, STATUSES
from researcher.catalog import Query as CatalogQuery
from researcher.cite import csl_json
from researcher.params import BadRequest, day, query_from
from researcher.reader import Archive, select_extraction
from researcher.wayback import memento, timestamps
from researcher.wayback.routes import wayback_address
from storage.errors import TransientError

PREFIX = "/api/v1"
MAX_LIMIT = 100  # items a page: a deeper result is more pages, each bounded
DEFAULT_LIMIT = 20
MAX_VERSIONS = 1_000  # captures of one URL listed (the newest), with `truncated` beyond
MAX_DIFF_LINES = 20_000  # per side: difflib's cost grows faster than the text

Multi = Annotated[list[str], Query()]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"items per page, 1 to {MAX_LIMIT}")]
Cursor = Annotated[str | None, Query(max_length=cursors.MAX_CURSOR, description="the `next` of the page before")]
DATE = r"^\d{4}-\d{2}-\d{2}$"  # YYYY-MM-DD only: pydantic would also take 0.0 for 1970-01-01
Day = Annotated[str | None, Query(pattern=DATE, description="YYYY-MM-DD")]
Order = Annotated[str, Query(pattern="^(asc|desc)$", description="capture time, oldest (asc) or newest (desc) first")]


class Behind(TransientError):
    """This server's catalog has not yet read commits a cursor's walk began with."""


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def is_api(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


def snippet_text(snippet: str | None) -> str | None:
    """A snippet's matched words as [[word]]: plain text a program can show or strip."""
    return snippet.replace(MARK_START, "[[").replace(MARK_END, "]]") if snippet else None


def install(
    app: FastAPI,
    archive: Archive,
    *,
    fresh: Callable[..., None],
    in_turn: Callable[..., Any],
    aftermath: Callable[[], Attach],
    report_cache: dict[str, Any],
    budget_seconds: float,
    limits: RateLimits | None,
) -> None:
    catalog = archive.catalog

    def get(path: str, model: Any, summary: str) -> Callable[..., Any]:
        """GET (in the OpenAPI document, named for the function) and HEAD (link checkers)."""
        errors: dict[int | str, dict[str, Any]] = {n: {"model": models.ApiError} for n in (400, 404, 429, 503)}

        def route(fn: Callable[..., Any]) -> Callable[..., Any]:
            common = {"response_model": model, "summary": summary, "tags": ["archive"], "responses": errors}
            app.api_route(PREFIX + path, methods=["GET"], operation_id=fn.__name__, **common)(fn)  # type: ignore[arg-type]
            app.api_route(PREFIX + path, methods=["HEAD"], include_in_schema=False, **common)(fn)  # type: ignore[arg-type]
            return fn

        return route

    if limits is not None:

        @app.middleware("http")
        async def rate_limited(request: Request, call_next: Any) -> Response:
            if is_api(request):
                client = request.client.host if request.client else "-"
                wait = limits.take(client, time.monotonic())
                if wait:
                    return error(
                        429,
                        f"too many requests from {client}: at most {limits.rate:g} a second, "
                        f"in bursts of {limits.burst:g}",
                        {"Retry-After": str(max(1, round(wait)))},
                    )
            response: Response = await call_next(request)
            return response

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def addresses(request: Request, row: dict[str, Any]) -> dict[str, str]:
        b = base(request)
        ts = timestamps.format_ts(timestamps.from_iso(row["fetched_at"]))
        url = str(row.get("final_url") or row.get("requested_url"))
        return {
            "api": f"{b}{PREFIX}/captures/{row['capture_id']}",
            "room": f"{b}/capture/{row['capture_id']}",
            "wayback": b + wayback_address(row),
            "raw": b + memento.memento_path(ts, url, "id_"),
        }

    def summary(request: Request, row: dict[str, Any]) -> dict[str, Any]:
        out = {k: row.get(k) for k in models.Capture.model_fields if k not in ("urls", "snippet", "score")}
        out["snippet"] = snippet_text(row.get("snippet"))
        out["score"] = row.get("score")
        out["urls"] = addresses(request, row)
        return out

    def search_params(
        q: str | None,
        title: str | None,
        source: list[str],
        status: list[str],
        lang: str | None,
        published_from: str | None,
        published_to: str | None,
        captured_from: str | None,
        captured_to: str | None,
        url: str | None,
    ) -> dict[str, Any]:
        return {
            "q": q,
            "title": title,
            "source": source,
            "status": status,
            "lang": lang,
            "from": published_from,
            "to": published_to,
            "captured_from": captured_from,
            "captured_to": captured_to,
            "url": url,
        }

    def checked(params: dict[str, Any]) -> CatalogQuery:
        q = query_from(params)
        catalog.check_known(q)
        return q

    @get("", dict[str, Any], "What this API offers")
    def index(request: Request) -> dict[str, Any]:
        b = base(request) + PREFIX
        return {
            "openapi": f"{b}/openapi.json",
            "endpoints": {
                name: f"{b}/{name}"
                for name in ("captures", "search", "versions", "diff", "events", "links", "sources", "coverage")
            },
            "limits": {
                "page_items": MAX_LIMIT,
                "seconds_per_request": budget_seconds,
                "requests_per_second": limits.rate if limits else None,
                "burst": limits.burst if limits else None,
            },
        }

    @get("/captures", models.CapturePage, "Walk the captures matching filters, by capture time")
    async def captures(
        request: Request,
        q: Annotated[
            str | None,
            Query(max_length=MAX_QUERY_CHARS, description="words in the title or text; quoted words form a phrase"),
        ] = None,
        title: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS)] = None,
        source: Multi = [],  # noqa: B006 - FastAPI copies defaults
        status: Annotated[list[str], Query(description=f"any of {', '.join(STATUSES)}; default: every status")] = [],  # noqa: B006
        lang: str | None = None,
        published_from: Annotated[
            str | None, Query(pattern=DATE, alias="from", description="published on or after")
        ] = None,
        published_to: Annotated[
            str | None, Query(pattern=DATE, alias="to", description="published on or before")
        ] = None,
        captured_from: Day = None,
        captured_to: Day = None,
        url: Annotated[str | None, Query(description="address prefix (requested, final or canonical URL)")] = None,
        order: Order = "asc",
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Any:
        params = search_params(
            q, title, source, status, lang, published_from, published_to, captured_from, captured_to, url
        )
        args = (request, params, order == "desc", limit, cursor)
        if q or title:
            return await in_turn(walk_page, *args)
        return await run_in_threadpool(walk_page, *args)

    def walk_page(
        request: Request, params: dict[str, Any], descending: bool, limit: int, text: str | None
    ) -> dict[str, Any]:
        fresh()
        print_ = cursors.fingerprint({**params, "order": "desc" if descending else "asc"})
        with catalog.budget(budget_seconds):
            q = checked(params)
            if text:
                at = cursors.decode(text, print_)
                now = catalog.snapshot()
                if any(now.get(s, 0) < n for s, n in at.snapshot.items()):
                    fresh(True)  # commits the walk began with that this catalog has not read yet
                    now = catalog.snapshot()
                    if any(now.get(s, 0) < n for s, n in at.snapshot.items()):
                        raise Behind("this server's catalog is behind the cursor's walk; try again shortly")
            else:
                at = cursors.Cursor(snapshot=catalog.snapshot(), query=print_, descending=descending)
            rows = catalog.walk(q, dict(at.snapshot), at.after, limit + 1, descending)
        more = len(rows) > limit
        rows = rows[:limit]
        after = (rows[-1]["fetched_at"], rows[-1]["capture_id"]) if rows else None
        return {
            "items": [summary(request, r) for r in rows],
            "next": cursors.encode(replace(at, after=after)) if more else None,
            "snapshot": dict(at.snapshot),
        }

    @get("/search", models.CapturePage, "The best matches of a text query, ranked (one page)")
    async def search(
        request: Request,
        q: Annotated[
            str | None,
            Query(max_length=MAX_QUERY_CHARS, description="words in the title or text; quoted words form a phrase"),
        ] = None,
        title: Annotated[str | None, Query(max_length=MAX_QUERY_CHARS)] = None,
        source: Multi = [],  # noqa: B006
        status: Multi = [],  # noqa: B006
        lang: str | None = None,
        published_from: Annotated[str | None, Query(pattern=DATE, alias="from")] = None,
        published_to: Annotated[str | None, Query(pattern=DATE, alias="to")] = None,
        captured_from: Day = None,
        captured_to: Day = None,
        url: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Any:
        params = search_params(
            q, title, source, status, lang, published_from, published_to, captured_from, captured_to, url
        )
        if not (q or title):
            raise BadRequest("q: a ranked search needs words (q or title); walk /api/v1/captures to list by filters")
        return await in_turn(ranked, request, params, limit)

    def ranked(request: Request, params: dict[str, Any], limit: int) -> dict[str, Any]:
        fresh()
        with catalog.budget(budget_seconds):
            q = checked({**params, "sort": "rank"})
            rows = list(catalog.rows(replace(q, limit=limit)))
            total = catalog.count(q)
        return {
            "items": [summary(request, r) for r in rows],
            "next": None,
            "snapshot": catalog.snapshot(),
            "total": total,
        }

    @get("/captures/{capture_id}", models.Document, "A capture's clean document, provenance and aftermath")
    def document(
        request: Request,
        capture_id: Annotated[str, Path(max_length=200)],
        extraction: Annotated[str | None, Query(max_length=200, description="an extraction id or its prefix")] = None,
    ) -> dict[str, Any]:
        fresh()
        with catalog.budget(budget_seconds):
            rows = archive.extractions(capture_id)
            row = select_extraction(rows, extraction)
        rest = {k: v for k, v in row.items() if k != "text"}
        after = aftermath()(row["capture_id"])
        return {
            "capture": summary(request, row),
            "text": row.get("text") or "",
            "document": rest,
            "provenance": provenance(row),
            "extractions": [
                {k: r.get(k) for k in ("extraction_id", "extracted_at", "status", "text_sha256")} for r in rows
            ],
            "events": after["events"],
            "links": after["links"],
            "citation": csl_json(row, address=base(request) + wayback_address(row)),
        }

    @get("/versions", models.Versions, "Every capture of a URL, oldest first, and which changed the text")
    def versions(request: Request, url: Annotated[str, Query(min_length=1, max_length=4096)]) -> dict[str, Any]:
        fresh()
        with catalog.budget(budget_seconds):
            rows = catalog.versions(url, text=False)
        truncated = len(rows) > MAX_VERSIONS
        rows = rows[-MAX_VERSIONS:]
        out, before = [], None
        for r in rows:
            digest = r.get("text_sha256")
            out.append(
                {
                    **{k: r.get(k) for k in ("capture_id", "fetched_at", "status", "title", "text_sha256")},
                    "changed": before is not None and digest != before,
                    "urls": addresses(request, r),
                }
            )
            before = digest if r.get("status") == "ok" else before
        if not out:
            raise BadRequest(f"url: {url[:200]!r} has no capture in the archive (requested, final or canonical URL)")
        return {"url": url, "versions": out, "truncated": truncated}

    @get("/diff", models.Diff, "What changed between two captures' clean texts")
    async def diff(
        request: Request,
        a: Annotated[str, Query(max_length=200, description="the earlier capture id")],
        b: Annotated[str, Query(max_length=200, description="the later capture id")],
    ) -> Any:
        return await in_turn(diffed, request, a, b)

    def diffed(request: Request, a: str, b: str) -> dict[str, Any]:
        fresh()
        with catalog.budget(budget_seconds):
            old, new = archive.show(a), archive.show(b)
        lines = [(r.get("text") or "").splitlines() for r in (old, new)]
        if max(len(x) for x in lines) > MAX_DIFF_LINES:
            raise BadRequest(
                f"a, b: texts of more than {MAX_DIFF_LINES:,} lines are not diffed here; use `archive versions --diff`"
            )
        unified = list(
            difflib.unified_diff(
                lines[0],
                lines[1],
                fromfile=f"{old['capture_id']} {old.get('final_url')} ({old['fetched_at']})",
                tofile=f"{new['capture_id']} {new.get('final_url')} ({new['fetched_at']})",
                lineterm="",
            )
        )
        body = unified[2:]
        return {
            "a": summary(request, old),
            "b": summary(request, new),
            "same_url": _urls(old) & _urls(new) != set(),
            "identical": lines[0] == lines[1],
            "added_lines": sum(1 for x in body if x.startswith("+")),
            "removed_lines": sum(1 for x in body if x.startswith("-")),
            "unified": "\n".join(unified),
        }

    @get("/events", models.EventPage, "Edits and takedowns observed after capture, by observation time")
    def events(
        source: Multi = [],  # noqa: B006
        kind: Annotated[list[str], Query(description=f"any of {', '.join(EVENT_KINDS)}")] = [],  # noqa: B006
        reason: Annotated[list[str], Query(description=f"any of {', '.join(EVENT_REASONS)}")] = [],  # noqa: B006
        observed_from: Annotated[
            str | None, Query(pattern=DATE, alias="from", description="observed on or after")
        ] = None,
        observed_to: Annotated[str | None, Query(pattern=DATE, alias="to", description="observed on or before")] = None,
        capture: Annotated[str | None, Query(max_length=200)] = None,
        url: Annotated[str | None, Query(max_length=4096, description="address prefix")] = None,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        fresh()
        for name, values, known in (("kind", kind, EVENT_KINDS), ("reason", reason, EVENT_REASONS)):
            unknown = [v for v in values if v not in known]
            if unknown:
                raise BadRequest(f"{name}: {unknown[0][:40]!r} is not one of {', '.join(known)}")
        # an inverted date range is a PermanentError: the app's handler answers it 400
        f = EventFilter(
            sources=tuple(source),
            kinds=tuple(kind),
            reasons=tuple(reason),
            date_from=day(observed_from, "from"),
            date_to=day(observed_to, "to"),
            capture=capture,
            url=url,
        )
        rows = select_events(aftermath().all_events, f)
        return keyset_page(rows, ("observed_at", "event_id"), f, limit, cursor)

    @get("/links", models.LinkPage, "Republications and translations, by republication date")
    def links(
        source: Annotated[list[str], Query(description="either side")] = [],  # noqa: B006
        republished_source: Multi = [],  # noqa: B006
        original_source: Multi = [],  # noqa: B006
        republished_from: Annotated[str | None, Query(pattern=DATE, alias="from")] = None,
        republished_to: Annotated[str | None, Query(pattern=DATE, alias="to")] = None,
        min_similarity: Annotated[float, Query(ge=0.0, le=1.0)] = 0.0,
        capture: Annotated[str | None, Query(max_length=200, description="either side")] = None,
        every_pair: Annotated[bool, Query(description="every similar earlier text, not only the earliest")] = False,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> dict[str, Any]:
        fresh()
        f = LinkFilter(
            sources=tuple(source),
            republished_sources=tuple(republished_source),
            original_sources=tuple(original_source),
            date_from=day(republished_from, "from"),
            date_to=day(republished_to, "to"),
            min_similarity=min_similarity,
            capture=capture,
            every_pair=every_pair,
        )
        rows = select_links(aftermath().all_links, f)
        return keyset_page(rows, ("republished_published", "link_id"), f, limit, cursor)

    @get("/sources", list[models.Source], "The sources the archive holds, with their captures by status")
    def sources() -> list[dict[str, Any]]:
        fresh()
        with catalog.budget(budget_seconds):
            counts = catalog.counts_by_source()
        return [{"source_id": s, "captures": counts[s]} for s in sorted(counts)]

    @get("/coverage/{source_id}", models.Coverage, "Captures per published day beside what the runs expected")
    def coverage_of(source_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        fresh()
        with catalog.budget(budget_seconds):
            catalog.check_known(CatalogQuery(sources=(source_id,)))
            days = coverage.merge(
                catalog.day_counts(source_id), coverage.read_reports(archive.store, source_id, report_cache)
            )
        return {
            "source_id": source_id,
            "summary": coverage.summary(days),
            "days": [
                {
                    "day": d.day,
                    "captures": d.captures,
                    "discovered": d.discovered,
                    "expected": d.expected,
                    "runs": d.runs,
                    "probable_gap": d.probable_gap,
                    "uncovered": d.uncovered and not d.total(),
                }
                for d in days
            ],
        }

    api_routes = [r for r in app.routes if getattr(r, "path", "").startswith(PREFIX)]
    document_cache: dict[str, Any] = {}

    @app.api_route(PREFIX + "/openapi.json", methods=["GET", "HEAD"], include_in_schema=False)
    def openapi() -> JSONResponse:
        if "doc" not in document_cache:
            document_cache["doc"] = get_openapi(
                title=f"{app.title}: JSON API",
                version="1",
                description=__doc__ or "",
                routes=api_routes,
            )
        return JSONResponse(document_cache["doc"])


def _urls(row: dict[str, Any]) -> set[str]:
    return {u for u in (row.get("requested_url"), row.get("final_url"), row.get("canonical_url")) if u}


def provenance(row: dict[str, Any]) -> dict[str, Any]:
    """What ties a clean text to the raw bytes it came from, as the manifest records it."""
    out = {k: row.get(k) for k in models.Provenance.model_fields if k != "extractor"}
    extractor = {
        k: row.get(k)
        for k in ("extractor_name", "extractor_version", "extractor_settings", "rules_version", "profile_rules_version")
    }
    out["extractor"] = {k: v for k, v in extractor.items() if v is not None} or None
    return out


def keyset_page(
    rows: list[dict[str, Any]], key: tuple[str, str], f: object, limit: int, text: str | None
) -> dict[str, Any]:
    """One page of rows already in `key` order, after the cursor's position. Keys are
    (time, id) pairs no commit changes: a walk never repeats a row."""
    print_ = cursors.fingerprint({"filter": repr(f)})
    after = cursors.decode(text, print_).after if text else None
    if after is not None:
        rows = [r for r in rows if ((r.get(key[0]) or ""), r[key[1]]) > after]
    page = rows[:limit]
    more = len(rows) > limit
    last = ((page[-1].get(key[0]) or ""), page[-1][key[1]]) if page else None
    return {
        "items": page,
        "next": cursors.encode(cursors.Cursor(snapshot={}, after=last, query=print_)) if more else None,
    }
