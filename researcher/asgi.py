"""The reading room (and its Wayback, CDX and Memento routes) for a production ASGI server:

    ARCHIVE_URL=s3://bucket/archive uvicorn --factory researcher.asgi:create --host 0.0.0.0 --port 8000

(or `gunicorn -k uvicorn.workers.UvicornWorker 'researcher.asgi:create()'`). The same app
`archive serve` runs, configured from the environment instead of options: ARCHIVE_URL (the
archive), NEWSARCHIVE_CATALOG (the catalog file; default: the per-archive cache `archive`
uses), NEWSARCHIVE_REFRESH_SECONDS (default 60), ARCHIVE_UNSAFE_STORE (storage/probe.py).
A mistyped archive or an S3 server that fails the store probe stops the start with one line.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from researcher.catalog import Catalog, default_catalog_path
from researcher.reader import Archive, check_archive
from researcher.web import create_app
from storage.errors import InputError
from storage.store import S3Store, open_store


def create() -> FastAPI:
    url = os.environ.get("ARCHIVE_URL", "").strip()
    if not url:
        raise InputError("ARCHIVE_URL is not set: the archive to serve (file:///path or s3://bucket/prefix)")
    store = open_store(url if "://" in url else Path(url).resolve().as_uri())
    if isinstance(store, S3Store):
        store.probe(writer=False)
    check_archive(store)
    catalog = os.environ.get("NEWSARCHIVE_CATALOG") or str(default_catalog_path(store.url))
    text = os.environ.get("NEWSARCHIVE_REFRESH_SECONDS", "60")
    try:
        refresh = float(text)
    except ValueError:
        raise InputError(f"NEWSARCHIVE_REFRESH_SECONDS={text!r} is not a number of seconds") from None
    archive = Archive(store, Catalog(catalog), refresh_each_read=False)
    archive.refresh()
    return create_app(archive, refresh_seconds=refresh)
