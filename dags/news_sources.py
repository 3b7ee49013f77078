"""One DAG per source profile: crawl -> extract -> commit -> changes, links -> report.

Wiring only: schedules, params, retries and task order. Each task is one call into
spiders/, extract/ or storage/. Transient errors (storage outage, killed crawl) are
retried with backoff; permanent ones (bad profile, bad input) fail without retry.
"""

from __future__ import annotations

import functools
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import Asset, AssetAny, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException
from airflow.timetables.interval import CronDataIntervalTimetable

from extract import Extractor, classify_capture
from pipeline import events, linking, runs, summary, window
from pipeline.alerts import FailureWebhook
from spiders.crawl import RunContext, run_crawl
from spiders.profile import Profile, get_profile, load_registry, profiles_dir
from spiders.profile_doc import header_comment, profile_doc
from storage.errors import PermanentError
from storage.store import S3Store, Store, open_store

DEFAULT_ARCHIVE = (Path(__file__).resolve().parent.parent / "archive").as_uri()
log = logging.getLogger(__name__)


def _store() -> Store:
    """ARCHIVE_URL (default: ./archive); for s3:// the client comes from the Airflow
    connection named by ARCHIVE_AWS_CONN_ID when it exists, else boto3's chain, and the
    server is probed before the task does anything (storage/probe.py): a store that would
    break write-once fails the task at once, before a page is fetched."""
    url = os.environ.get("ARCHIVE_URL", DEFAULT_ARCHIVE)
    if not url.startswith("s3://"):
        return open_store(url)
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        client = S3Hook(aws_conn_id=os.environ.get("ARCHIVE_AWS_CONN_ID", "archive_s3")).get_conn()
    except AirflowNotFoundException:
        client = None
    store = open_store(url, s3_client=client)
    if isinstance(store, S3Store):
        store.probe(writer=True)
    return store


def _run_context(profile: Profile) -> RunContext:
    """The crawl window: the data interval, or the params of a manual run (pipeline/window.py)."""
    ctx = get_current_context()
    params = ctx["params"]
    logical: datetime = ctx.get("logical_date") or ctx["dag_run"].run_after
    backfill = str(getattr(ctx["dag_run"], "run_type", "")).lower().endswith("backfill")
    start, end = window.crawl_window(
        params, ctx.get("data_interval_start"), ctx.get("data_interval_end"), logical, backfill=backfill
    )
    return RunContext(
        source_id=profile.id,
        start=start,
        end=end,
        logical_date=logical.date(),
        dag_id=ctx["dag"].dag_id,
        airflow_run_id=ctx["run_id"],
        try_number=ctx["ti"].try_number,
        max_articles=window.max_articles(params.get("max_articles")),
        recheck=window.recheck(params.get("recheck")),
    )


def _permanent_fails(fn: Any) -> Any:
    """Permanent errors fail the task at once; transient ones propagate and are retried."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PermanentError as exc:
            raise AirflowFailException(str(exc)) from exc

    return wrapper


def build_dag(profile: Profile) -> Any:
    @dag(
        dag_id=f"news_{profile.id}",
        description=f"Archive {profile.name}",
        # Contiguous data intervals (Airflow 3 defaults cron strings to point-in-time triggers):
        # each scheduled run crawls the interval that has just ended, and no gap opens between runs.
        schedule=CronDataIntervalTimetable(profile.schedule, timezone="UTC"),
        start_date=datetime(2000, 1, 1, tzinfo=UTC),  # early, so backfills can reach old articles
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=6),
        tags=["newsarchive", profile.language],
        default_args={
            "owner": "newsarchive",
            "retries": int(os.environ.get("NEWSARCHIVE_RETRIES", "3")),
            "retry_delay": timedelta(seconds=int(os.environ.get("NEWSARCHIVE_RETRY_DELAY_SECONDS", "120"))),
            "retry_exponential_backoff": True,
            "max_retry_delay": timedelta(minutes=30),
            "on_failure_callback": [FailureWebhook()],  # a webhook, if the connection exists
        },
        params={
            # format date-time: the trigger form shows a date-time picker, and the API and the
            # form refuse anything else (RFC 3339) before a run is created
            "window_start": Param(
                None,
                type=["null", "string"],
                format="date-time",
                description="start of the window to crawl (manual runs; a backfill crawls each run's own interval)",
            ),
            "window_end": Param(
                None,
                type=["null", "string"],
                format="date-time",
                description="end of the window to crawl, after its start, at most 366 days later",
            ),
            "max_articles": Param(
                None,
                type=["null", "integer"],
                minimum=1,
                maximum=window.MAX_ARTICLES,
                description="cap on articles fetched",
            ),
            "recheck": Param(
                False,
                type="boolean",
                description="also fetch again the archived articles published in the window, whatever "
                "their age, to record takedowns and edits (at most the profile's revisit budget)",
            ),
        },
        doc_md=_doc(profile),
    )
    def source_dag() -> None:
        # one XCom value per task (a dict return would otherwise be split into a key per field)
        @task(execution_timeout=timedelta(hours=2), multiple_outputs=False)
        @_permanent_fails
        def crawl() -> dict[str, Any]:
            # Scrapy's periodic figures go to this task's log while the crawl runs
            crawled = run_crawl(_store(), _run_context(profile), progress=log.info).as_dict()
            log.info("%s", summary.crawl_summary(crawled))
            return crawled

        @task(multiple_outputs=False)
        @_permanent_fails
        def extract(crawled: dict[str, Any]) -> dict[str, Any]:
            ex = Extractor.for_profile(profile)
            cap = profile.politeness.max_page_mb * 2**20  # the crawl's download cap bounds decompression too
            return runs.extract_run(_store(), crawled, ex, ex.info, classify_capture, max_body=cap)

        @task(multiple_outputs=False, outlets=[manifests_asset(profile.id)])
        @_permanent_fails
        def commit(crawled: dict[str, Any], extracted: dict[str, Any]) -> dict[str, Any]:
            return runs.commit_run(_store(), crawled, extracted)

        @task(task_id="changes", multiple_outputs=False)
        @_permanent_fails
        def detect_changes(crawled: dict[str, Any], committed: dict[str, Any]) -> dict[str, Any]:
            # what the run's revisits found: takedowns and edits, committed to the events log
            sections = tuple(urlsplit(str(u)).path for u in profile.section_pages.urls) if profile.section_pages else ()
            return events.detect_run(_store(), crawled, sections, get_current_context()["run_id"])

        @task(task_id="links", multiple_outputs=False)
        @_permanent_fails
        def link_syndication(crawled: dict[str, Any], committed: dict[str, Any]) -> dict[str, Any]:
            # the run's new articles signed and linked with every other source's texts
            return linking.link_run(_store(), crawled, committed)

        @task(retries=0, multiple_outputs=False)
        @_permanent_fails
        def report(
            crawled: dict[str, Any],
            extracted: dict[str, Any],
            committed: dict[str, Any],
            changed: dict[str, Any],
            linked: dict[str, Any],
        ) -> dict[str, Any]:
            ctx = _run_context(profile)
            thresholds = runs.Thresholds(profile.expected_daily_volume, **profile.alerts.model_dump())
            return runs.report_run(
                _store(),
                crawled,
                extracted,
                committed,
                thresholds,
                (ctx.start, ctx.end),
                log=log.info,
                changes=changed,
                links=linked,
            )

        crawled = crawl()
        extracted = extract(crawled)
        committed = commit(crawled, extracted)
        report(
            crawled,
            extracted,
            committed,
            detect_changes(crawled, committed),
            link_syndication(crawled, committed),
        )

    return source_dag()


def manifests_asset(source_id: str) -> Asset:
    """A source's committed manifests: each commit task emits an event on it, so other DAGs
    (news_catalog) can be scheduled on new data instead of on the clock."""
    return Asset(name=f"newsarchive_manifests_{source_id}", uri=f"newsarchive://manifests/source={source_id}")


def build_catalog_dag(source_ids: list[str]) -> Any:
    """Bring the researchers' catalog up to date whenever any source commits new manifests."""

    @dag(
        dag_id="news_catalog",
        description="Refresh the search catalog when a source commits new manifests",
        schedule=AssetAny(*(manifests_asset(s) for s in source_ids)),
        start_date=datetime(2000, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=["newsarchive", "catalog"],
        default_args={"owner": "newsarchive", "retries": 2, "on_failure_callback": [FailureWebhook()]},
        doc_md="Brings the researchers' catalog up to date whenever any source commits new manifests. "
        "The catalog file is NEWSARCHIVE_CATALOG (default: the cache `archive` itself uses for this "
        "archive), so the reading room and the CLI find it warm.",
    )
    def catalog_dag() -> None:
        @task
        @_permanent_fails
        def refresh() -> dict[str, Any]:
            from researcher.catalog import Catalog, default_catalog_path

            store = _store()
            path = os.environ.get("NEWSARCHIVE_CATALOG") or default_catalog_path(store.url)
            added = Catalog(Path(path)).update(store)
            log.info("catalog %s: %s new rows", path, added)
            return {"catalog": str(path), "new_rows": added}

        refresh()

    return catalog_dag()


def _doc(profile: Profile) -> str:
    path = profiles_dir() / f"{profile.id}.yaml"
    return profile_doc(profile, header_comment(path) if path.exists() else "")


def build_reprocess_dag(source_ids: list[str]) -> Any:
    """Re-extract a source and date range from the archived WARCs: nothing is fetched."""

    @dag(
        dag_id="news_reprocess",
        description="Re-extract archived captures with the current extractor and noise rules",
        schedule=None,
        start_date=datetime(2000, 1, 1, tzinfo=UTC),
        catchup=False,
        tags=["newsarchive", "reprocess"],
        params={
            "source_id": Param(source_ids[0], enum=source_ids, description="the source to re-extract"),
            "date_from": Param("2000-01-01", type="string", format="date", description="first run date"),
            "date_to": Param("2099-12-31", type="string", format="date", description="last run date"),
        },
        doc_md=build_reprocess_dag.__doc__,
    )
    def reprocess_dag() -> None:
        @task
        @_permanent_fails
        def reprocess() -> dict[str, Any]:
            params = get_current_context()["params"]
            profile = get_profile(params["source_id"])  # read now: rules may have changed since parsing
            ex = Extractor.for_profile(profile)
            return runs.reprocess_range(
                _store(),
                profile.id,
                window.day("date_from", params["date_from"]),
                window.day("date_to", params["date_to"]),
                ex,
                ex.info,
                classify_capture,
                max_body=profile.politeness.max_page_mb * 2**20,
            )

        reprocess()

    return reprocess_dag()


_registry = load_registry()
for _profile in _registry.values():
    globals()[f"news_{_profile.id}"] = build_dag(_profile)
news_reprocess = build_reprocess_dag(sorted(_registry))
news_catalog = build_catalog_dag(sorted(_registry))
