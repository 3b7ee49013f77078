"""Extraction on every core: the CPU-bound half of the extract and reprocess steps in worker processes.

The main process keeps everything that touches the archive (reading WARC parts in order,
writing clean documents, committing): workers only turn a capture into an Outcome, so a
killed worker loses nothing that was committed and a re-run redoes only what was not.
Outcomes come back in input order, with a bounded number of captures in flight, so memory
stays flat however large the range.

A process pool inside the task rather than Airflow dynamic task mapping over WARC parts:
one task keeps one conditional commit sequence per source (mapped tasks would race their
commits, resolved by retries), a part is the unit of reading but not of balance (parts
differ tenfold in size), and a pool needs no scheduler round-trip per part. Spawned, not
forked: an Airflow task process has threads, which fork does not carry safely.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeVar

from storage.errors import TransientError
from storage.warcread import Capture, CorruptWarc, PayloadTooLarge

# body, url, content type -> clean document as a dict; raises ValueError when no article is found
ExtractFn = Callable[[bytes, str, str | None], dict[str, Any]]
# status, body, content type -> kind of block or challenge page, or None
ClassifyFn = Callable[[int, bytes, str | None], str | None]

CHUNK = 8  # captures per task sent to a worker: amortises pickling, keeps the order cheap to restore
AHEAD = 4  # chunks in flight per worker
MIN_PARALLEL = 64  # below this many captures, starting workers costs more than it saves
WORKERS_ENV = "NEWSARCHIVE_WORKERS"
PR_SET_PDEATHSIG = 1  # linux/prctl.h

T = TypeVar("T")


class WorkerLost(TransientError):
    """A worker process died (killed, out of memory): nothing uncommitted is lost; retry."""


@dataclass(frozen=True)
class Outcome:
    """What one capture is: a failed fetch (status None), blocked, or extracted (or not)."""

    status: str | None  # ok | extraction_failed | not_article | blocked | None (not an article fetch)
    document: dict[str, Any] | None = None
    error: str | None = None
    blocked: str | None = None  # the kind of block page
    reason: str | None = None  # why extraction failed, as counted in the run's errors


def analyse(cap: Capture, extract: ExtractFn, classify: ClassifyFn | None) -> Outcome:
    """Classify and extract one capture (CPU only: no archive access)."""
    try:
        body: bytes | None = cap.body
        error = None
    except (PayloadTooLarge, CorruptWarc) as exc:
        body, error = None, str(exc)
    blocked = classify(cap.status, body, cap.header("Content-Type")) if classify and body is not None else None
    if blocked is None and cap.status != 200:
        return Outcome(None)
    if blocked:
        return Outcome("blocked", error=blocked, blocked=blocked)
    if body is None:
        return Outcome("extraction_failed", error=error, reason=error)
    try:
        return Outcome("ok", document=extract(body, cap.url, cap.header("Content-Type")))
    except ValueError as exc:
        # an extractor's error may name the status it stands for: `not_article` for a listing
        # or homepage (archived and recorded, but not an article)
        status = getattr(exc, "status", "extraction_failed")
        return Outcome(status, error=f"{type(exc).__name__}: {exc}", reason=str(exc))


def default_workers() -> int:
    """NEWSARCHIVE_WORKERS, else the cores this process may run on."""
    configured = os.environ.get(WORKERS_ENV, "").strip()
    if configured:
        return max(1, int(configured))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


_job: tuple[ExtractFn, ClassifyFn | None] | None = None


def die_with_parent() -> None:
    """A pool worker (extraction, signing) never outlives its task: when the task process is
    killed (SIGKILL, OOM), the kernel kills the worker too (Linux prctl PR_SET_PDEATHSIG;
    elsewhere a worker notices its closed queue on its next read)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _start_worker(extract: ExtractFn, classify: ClassifyFn | None) -> None:
    global _job  # noqa: PLW0603 - one job per worker process, set once at its start
    die_with_parent()
    _job = (extract, classify)


def _analyse_chunk(caps: list[Capture]) -> list[Outcome]:
    assert _job is not None, "worker started without its job"
    return [analyse(cap, *_job) for cap in caps]


def outcomes(
    items: Iterable[tuple[T, Capture]],
    extract: ExtractFn,
    classify: ClassifyFn | None,
    *,
    workers: int = 1,
    expected: int | None = None,
) -> Iterator[tuple[T, Outcome]]:
    """(key, outcome) for each (key, capture), in input order; on `workers` processes when
    there are enough captures (`expected`, if known) to pay for starting them."""
    if workers <= 1 or (expected is not None and expected < MIN_PARALLEL):
        for key, cap in items:
            yield key, analyse(cap, extract, classify)
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(extract, classify))
    try:
        with pool:
            pending: deque[tuple[list[T], Future[list[Outcome]]]] = deque()
            source = iter(items)
            while True:
                while len(pending) < workers * AHEAD:
                    chunk = list(islice(source, CHUNK))
                    if not chunk:
                        break
                    pending.append(([k for k, _ in chunk], pool.submit(_analyse_chunk, [c for _, c in chunk])))
                if not pending:
                    return
                keys, future = pending.popleft()
                yield from zip(keys, future.result(), strict=True)
    except BrokenProcessPool as exc:  # raised by result() or, once broken, by submit()
        raise WorkerLost(f"an extraction worker died ({exc}); committed work is kept, retry") from None
