"""The archive's tables beside the manifests: events, links and signatures.

Each is a per-source log of immutable Parquet parts committed like the manifests
(storage/tablelog.py), so "which articles were taken down in March" or "which of this
blog's posts are RT's texts" is a query over `events/*/*.parquet` or `links/*/*.parquet`.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

from storage.tablelog import Table

_s, _i, _f = pa.string(), pa.int64(), pa.float64()

# What happened to an archived article afterwards (pipeline/changes.py decides, pipeline/events.py records).
EVENTS = Table(
    "events",
    pa.schema(
        [
            ("event_id", _s),
            ("source_id", _s),
            ("kind", _s),  # takedown | edit
            ("reason", _s),  # gone, redirect_home, redirect_section, content_removed, unlisted; edits: text,title,...
            ("capture_id", _s),  # the archived capture the event is about (the version before)
            ("url", _s),  # the article's address, as archived
            ("published", _s),  # the article's publication date, as archived
            ("previous_fetched_at", _s),  # when that version was captured
            ("observed_at", _s),  # when the later fetch saw the change
            ("observed_capture_id", _s),  # the later capture, when it is an archived page (null for a 404)
            ("http_status", _i),
            ("final_url", _s),
            ("evidence_warc_key", _s),  # the later response, as recorded (every exchange is kept in WARC)
            ("evidence_warc_record_id", _s),
            ("evidence_warc_offset", _i),
            ("evidence_warc_length", _i),
            ("summary", _s),  # JSON: the diff summary of an edit, the redirect or status of a takedown
            ("run", _s),
            ("airflow_run_id", _s),
            ("detected_at", _s),
        ]
    ),
    "event_id",
    required=("source_id", "kind", "capture_id"),
)

# A text published again by another source (pipeline/syndication.py finds, pipeline/linking.py records).
LINKS = Table(
    "links",
    pa.schema(
        [
            ("link_id", _s),
            ("kind", _s),  # syndication (the same text), translation (the page names the other edition)
            ("republished", _s),  # capture id of the later publication
            ("republished_source", _s),
            ("republished_url", _s),
            ("republished_published", _s),
            ("original", _s),  # capture id of the earliest publication elsewhere the archive holds
            ("original_source", _s),
            ("original_url", _s),
            ("original_published", _s),
            ("similarity", _f),  # syndication: estimated Jaccard of the clean texts' word 5-gram shingles
            ("method", _s),
            ("run", _s),
            ("detected_at", _s),
        ]
    ),
    "link_id",
    required=("kind", "republished", "original"),
)

# Each clean text's MinHash: the linker's index, so a run compares its articles with the
# whole archive without reading every text again.
SIGNATURES = Table(
    "signatures",
    pa.schema(
        [
            ("capture_id", _s),
            ("source_id", _s),
            ("url", _s),
            ("urls", pa.list_(_s)),  # every address of the capture: requested, final, canonical
            ("translations", pa.list_(_s)),  # the editions in other languages its page names
            ("language", _s),
            ("published", _s),
            ("text_sha256", _s),
            ("words", _i),
            ("method", _s),  # shingles, permutations, scheme: signatures of another method never mix
            ("minhash", pa.binary()),  # little-endian uint32 per permutation
        ]
    ),
    "capture_id",
    required=("source_id", "method"),  # a text too short to sign has no minhash
    # a commit decides on the key only: a checkpoint of every minhash would rewrite a source's
    # whole history (about 600 bytes an article) every tenth commit
    state=("capture_id",),
)


# The links step's index (pipeline/linkindex.py): the signatures rows again, each partitioned
# by the ISO week its article was published (`lsh/source=w2031_22/`), not by source, so a run
# reads the weeks around its articles'. Every column is state: readers link from it.
LSH = Table("lsh", SIGNATURES.schema, "capture_id", required=SIGNATURES.required)


def row_id(*parts: str) -> str:
    """A row's key from what identifies it: the same event or link found twice is one row."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]
