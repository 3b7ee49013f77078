"""The JSON API's shapes: what the OpenAPI document promises and every answer is checked against."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ApiError(BaseModel):
    error: str = Field(description="one line naming what was wrong and where, as the CLI says it")
    status: int


class Addresses(BaseModel):
    api: str = Field(description="this capture's document in the API")
    room: str = Field(description="the capture's page in the reading room")
    wayback: str = Field(description="the citable archive address, /web/<timestamp>/<url>")
    raw: str = Field(description="the archived bytes, unmodified (payload digest checked)")


class Capture(BaseModel):
    """A capture's latest extraction, metadata only."""

    capture_id: str
    extraction_id: str | None
    source_id: str
    status: str = Field(description="ok, extraction_failed, not_article or blocked")
    title: str | None
    published: str | None
    fetched_at: str
    language: str | None
    requested_url: str | None
    final_url: str | None
    canonical_url: str | None
    http_status: int | None
    payload_sha256: str | None
    text_sha256: str | None
    snippet: str | None = Field(None, description="with a text query: the matched passage, words in [[ ]]")
    score: float | None = Field(None, description="with sort=rank: the BM25 score")
    urls: Addresses


class CapturePage(BaseModel):
    items: list[Capture]
    next: str | None = Field(description="the cursor of the next page; null at the end of the walk")
    snapshot: dict[str, int] = Field(description="the commits the walk sees, per source (the archive's numbering)")
    total: int | None = Field(None, description="ranked search: how many captures match (a walk counts as it goes)")


class Provenance(BaseModel):
    """What ties the clean text to the exact raw bytes."""

    warc_key: str | None
    warc_offset: int | None
    warc_length: int | None
    warc_record_id: str | None
    payload_sha256: str | None
    clean_key: str | None
    text_sha256: str | None
    extraction_id: str | None
    extracted_at: str | None
    extractor: dict[str, Any] | None = Field(None, description="the extractor and rules versions")
    run: str | None


class ExtractionRef(BaseModel):
    extraction_id: str | None
    extracted_at: str | None
    status: str
    text_sha256: str | None


class Document(BaseModel):
    capture: Capture
    text: str
    document: dict[str, Any] = Field(description="every field of the capture's manifest row but its text")
    provenance: Provenance
    extractions: list[ExtractionRef] = Field(description="every extraction of the capture, newest first")
    events: list[dict[str, Any]] = Field(description="edits and takedowns observed after this capture")
    links: list[dict[str, Any]] = Field(description="republications of this text and what it republished")
    citation: dict[str, Any] = Field(description="CSL-JSON, with the archive address")


class Version(BaseModel):
    capture_id: str
    fetched_at: str
    status: str
    title: str | None
    text_sha256: str | None
    changed: bool = Field(description="its text differs from the version before")
    urls: Addresses


class Versions(BaseModel):
    url: str
    versions: list[Version]
    truncated: bool = Field(description="more captures than listed: the newest are")


class Diff(BaseModel):
    a: Capture
    b: Capture
    same_url: bool = Field(description="false when the two captures are of different URLs (both are named)")
    identical: bool
    added_lines: int
    removed_lines: int
    unified: str = Field(description="a unified diff of the clean texts, line by line")


class EventPage(BaseModel):
    items: list[dict[str, Any]]
    next: str | None


class LinkPage(BaseModel):
    items: list[dict[str, Any]]
    next: str | None


class Source(BaseModel):
    source_id: str
    captures: dict[str, int] = Field(description="captures a researcher sees, by status")


class CoverageDay(BaseModel):
    day: str
    captures: dict[str, int]
    discovered: int
    expected: float
    runs: int
    probable_gap: bool
    uncovered: bool


class Coverage(BaseModel):
    source_id: str
    summary: dict[str, Any]
    days: list[CoverageDay]
