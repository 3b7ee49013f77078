"""Collection: the objects that nothing committed references, left by attempts that were
killed or lost a race, and checkpoints superseded by newer ones; deleted only when asked.

The archive never deletes in its run path (storage/store.py has no delete). This module
is the one place that can, and it deletes only what is, at once:
- unreferenced: a raw WARC part or crawl log that no committed manifest row, no takedown's
  evidence, no run report and no source's newest conditional-request state names; a clean
  document no committed row names; a checkpoint that is not among its log's KEEP newest;
  a store probe's object (storage/probe.py) that its credentials could not delete;
- older than the grace period (its S3 LastModified, or mtime): an attempt still in flight
  writes its raw and clean objects before it commits the rows that name them, so an object
  younger than the longest a run can take (the DAGs' 6-hour run timeout, retries included)
  may be referenced any moment. GRACE is 7 days, as Delta Lake's VACUUM retention; anything
  under MIN_GRACE (12 hours: twice the run timeout) is refused unless the caller says no run
  can be in flight (Delta's retentionDurationCheck, Iceberg's orphan-file age of 3 days).
The order makes a late commit safe too: candidates are listed first, references read after,
so a row committed between the two is seen.

Cost: one listing of raw/ and clean/, every manifest part's two key columns and the run
reports of the runs whose attempts are candidates: a maintenance job's cost, proportional
to the archive (as VACUUM's), never a run's.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from storage import checkpoint, layout, manifest, probe, tablelog
from storage.errors import PermanentError, StorageUnavailable
from storage.store import LocalStore, ObjectInfo, S3Store, Store
from storage.tables import EVENTS

GRACE = timedelta(days=7)
MIN_GRACE = timedelta(hours=12)
KEEP = 2  # newest checkpoints kept per log: the newest, and one to fall back on if it is damaged


@dataclass(frozen=True)
class Candidate:
    key: str
    size: int
    modified: datetime
    why: str  # "uncommitted attempt" | "unreferenced extraction" | "superseded checkpoint" | "store probe"


@dataclass
class Plan:
    candidates: list[Candidate] = field(default_factory=list)
    kept_young: int = 0  # unreferenced, but inside the grace period: maybe in flight
    examined: int = 0

    def by_kind(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for c in self.candidates:
            n, size = out.get(c.why, (0, 0))
            out[c.why] = (n + 1, size + c.size)
        return out


def check_grace(grace: timedelta, no_run_in_flight: bool) -> None:
    if grace < MIN_GRACE and not no_run_in_flight:
        raise PermanentError(
            f"a grace period of {grace} is under {MIN_GRACE}: objects of a run still in flight could be "
            "deleted before its commit names them; pass a longer --grace, or --no-run-in-flight when "
            "every DAG is paused and no run is active"
        )


def select(objects: Iterable[ObjectInfo], referenced: Callable[[str], bool], now: datetime, grace: timedelta) -> Plan:
    """The candidates among `objects` (raw and clean ones): unreferenced and older than
    `grace`. Pure."""
    plan = Plan()
    for info in objects:
        plan.examined += 1
        if referenced(info.key):
            continue
        when = info.modified or now
        if now - when < grace:
            plan.kept_young += 1
            continue
        why = "unreferenced extraction" if info.key.startswith("clean/") else "uncommitted attempt"
        plan.candidates.append(Candidate(info.key, info.size, when, why))
    return plan


def superseded(keys: Iterable[ObjectInfo], now: datetime, grace: timedelta, keep: int = KEEP) -> list[Candidate]:
    """Checkpoints older than the `keep` newest of their log, past `grace`. Pure."""
    logs: dict[tuple[str, str], list[tuple[int, ObjectInfo]]] = {}
    for info in keys:
        parsed = checkpoint.parse_key(info.key)
        if parsed:
            logs.setdefault((parsed[0], parsed[1]), []).append((parsed[2], info))
    out = []
    for marks in logs.values():
        for _, info in sorted(marks, key=lambda m: m[0], reverse=True)[keep:]:
            when = info.modified or now
            if now - when >= grace:
                out.append(Candidate(info.key, info.size, when, "superseded checkpoint"))
    return out


def plan(store: Store, now: datetime | None = None, grace: timedelta = GRACE) -> Plan:
    """What `gc --apply` would delete, read from the archive (see the module's order)."""
    now = now or datetime.now(UTC)
    listed = [*store.list_info("raw/"), *store.list_info("clean/")]
    cps = list(store.list_info(checkpoint.PREFIX))
    refs = _references(store, {i.key for i in listed})
    found = select(listed, refs.__contains__, now, grace)
    found.candidates += superseded(cps, now, grace)
    # a store probe's objects left by credentials that could not delete them, or a killed probe
    probes = list(store.list_info(probe.PREFIX))
    found.candidates += [
        Candidate(i.key, i.size, i.modified, "store probe") for i in probes if i.modified and now - i.modified > grace
    ]
    found.examined += len(cps) + len(probes)
    return found


def _references(store: Store, listed: set[str]) -> set[str]:
    """Every raw or clean key something committed names."""
    refs: set[str] = set()
    rows = manifest.load_manifests(store, None, ["warc_key", "clean_key"])
    for warc, clean in zip(rows["warc_key"].to_pylist(), rows["clean_key"].to_pylist(), strict=True):
        if warc:
            refs.update((warc, layout.crawl_log_of(warc)))
        if clean:
            refs.add(clean)
    events = tablelog.load(store, EVENTS, None, ["evidence_warc_key"])
    refs.update(k for k in events["evidence_warc_key"].to_pylist() if k)
    # attempts that wrote no committed row but reported (a crawl that found nothing new):
    # their crawl log is how the next run compares listings; read only the runs concerned
    runs = {_run_of(k) for k in listed - refs if k.startswith("raw/")}
    for source, run in sorted(r for r in runs if r):
        for key in store.list(layout.reports_prefix(source, run)):
            report = json.loads(tablelog.read_bytes(store, key))
            refs.update(p for p in [report.get("crawl_log"), *(report.get("warc_parts") or [])] if p)
    # each source's newest conditional-request state points into the WARC its feeds came from
    sources = {layout.parse_partition(k).get("source") for k in listed - refs if k.startswith("raw/")}
    for source in sorted(s for s in sources if s and layout.is_source_id(s)):
        states = sorted(store.list(layout.validators_prefix(source)))
        if states:
            entries = json.loads(tablelog.read_bytes(store, states[-1]))
            refs.update(e["warc_key"] for e in entries.values() if isinstance(e, dict) and e.get("warc_key"))
    return refs


def _run_of(key: str) -> tuple[str, str] | None:
    parts = key.split("/")  # raw/source=<id>/date=<day>/<run>/<attempt>.<ext>
    if len(parts) != 5:
        return None
    source = layout.parse_partition(key).get("source") or ""
    return (source, parts[3]) if layout.is_source_id(source) else None


def apply(store: Store, found: Plan, say: Callable[[str], None] | None = None) -> tuple[int, int]:
    """Delete the candidates; returns (deleted, bytes). An object already gone counts as
    deleted (another gc ran); a refused delete (S3 Object Lock retention) is said and kept."""
    deleted = size = 0
    for c in found.candidates:
        try:
            _delete(store, c.key)
        except PermissionError as exc:
            if say:
                say(f"kept {c.key}: {exc}")
            continue
        deleted += 1
        size += c.size
    return deleted, size


def _delete(store: Store, key: str) -> None:
    if isinstance(store, LocalStore):
        path = store.root / key
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            pass  # another gc took it; empty folders stay (a writer may be about to use them)
        return
    if isinstance(store, S3Store):
        from botocore.exceptions import BotoCoreError, ClientError

        full = f"{store.prefix}/{key}" if store.prefix else key
        try:
            store.client.delete_object(Bucket=store.bucket, Key=full)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("AccessDenied", "InvalidRequest"):
                raise PermissionError(f"the store refused ({code})") from None
            raise StorageUnavailable(f"deleting {key}: {code or exc}") from None
        except BotoCoreError as exc:
            raise StorageUnavailable(f"deleting {key}: {exc}") from None
        return
    raise PermanentError(f"cannot collect from a {type(store).__name__}")


__all__ = ["GRACE", "KEEP", "MIN_GRACE", "Candidate", "Plan", "apply", "check_grace", "plan", "select", "superseded"]
