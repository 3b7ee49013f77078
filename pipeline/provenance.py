"""Provenance: one manifest row tying the exact raw bytes to the clean text. Pure.

A row is the capture's fields (fixed once fetched) plus one extraction's fields
(which change when the archive is re-extracted with a newer extractor or rules).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from storage.manifest import text_sha256
from storage.warcread import Capture

SELECTED_HEADERS = (
    "content-type",
    "content-length",
    "content-encoding",
    "content-language",
    "last-modified",
    "etag",
    "date",
    "server",
    "cache-control",
    "location",
    "retry-after",
)


def selected_headers(capture: Capture) -> dict[str, str]:
    return {k.lower(): v for k, v in capture.headers if k.lower() in SELECTED_HEADERS}


def capture_fields(capture: Capture, *, capture_id: str, warc_key: str) -> dict[str, Any]:
    """What was fetched, when, from where and by whom: never changes after the crawl."""
    meta = capture.metadata
    return {
        "capture_id": capture_id,
        "source_id": meta.get("source_id"),
        "requested_url": meta.get("requested_url") or capture.url,
        "final_url": capture.url,
        "discovered_via": meta.get("discovered_via"),
        "discovery_kind": meta.get("discovery_kind"),
        "discovered_date": meta.get("discovered_date"),
        "fetched_at": capture.date,
        "http_status": capture.status,
        "response_headers": json.dumps(selected_headers(capture), sort_keys=True),
        "remote_ip": capture.remote_ip,
        "replayed_to": meta.get("replayed_to"),
        "user_agent": meta.get("user_agent"),
        "proxy": meta.get("proxy"),
        "warc_key": warc_key,
        "warc_record_id": capture.record_id,
        "warc_offset": capture.offset,
        "warc_length": capture.length,
        "payload_sha256": hashlib.sha256(capture.payload).hexdigest(),
        "pipeline_version": meta.get("pipeline_version"),
        "run": meta.get("run"),
        "interval_start": meta.get("interval_start"),
        "interval_end": meta.get("interval_end"),
        "logical_date": meta.get("logical_date"),
        "dag_id": meta.get("dag_id"),
        "airflow_run_id": meta.get("airflow_run_id"),
        "try_number": meta.get("try_number"),
    }


# The columns capture_fields fills: kept as they are when a capture is re-extracted.
CAPTURE_COLUMNS = frozenset(
    (
        "capture_id",
        "source_id",
        "requested_url",
        "final_url",
        "discovered_via",
        "discovery_kind",
        "discovered_date",
        "fetched_at",
        "http_status",
        "response_headers",
        "remote_ip",
        "replayed_to",
        "user_agent",
        "proxy",
        "warc_key",
        "warc_record_id",
        "warc_offset",
        "warc_length",
        "payload_sha256",
        "warc_records_length",
        "warc_records_sha256",
        "pipeline_version",
        "run",
        "interval_start",
        "interval_end",
        "logical_date",
        "dag_id",
        "airflow_run_id",
        "try_number",
    )
)


def extraction_fields(
    *,
    status: str,
    document: dict[str, Any] | None,
    error: str | None,
    extractor: dict[str, Any],
    clean_key: str,
    extracted_at: str,
) -> dict[str, Any]:
    """What one extraction made of the capture, and with which code and settings."""
    doc = document or {}
    text = doc.get("text")
    return {
        "status": status,
        "error": error,
        "canonical_url": doc.get("canonical_url"),
        "text_sha256": text_sha256(text) if text is not None else None,
        "clean_key": clean_key,
        "extraction_id": extractor.get("extraction_id"),
        "extracted_at": extracted_at,
        "extractor_name": extractor.get("name"),
        "extractor_version": extractor.get("version"),
        "extractor_settings": json.dumps(
            {"settings": extractor.get("settings"), "rules": extractor.get("rules")}, sort_keys=True
        ),
        "rules_version": extractor.get("rules_version"),
        "profile_rules_version": extractor.get("profile_rules_version"),
        "title": doc.get("title"),
        "lead": doc.get("lead"),
        "authors": doc.get("authors") or [],
        "published": doc.get("published"),
        "modified": doc.get("modified"),
        "language": doc.get("language"),
        "tags": doc.get("tags") or [],
        "flags": doc.get("flags") or [],
        "translations": doc.get("translations") or [],
        "text": text,
    }
