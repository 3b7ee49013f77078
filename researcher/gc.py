"""`archive gc`: list, and with --apply delete, what nothing committed references and is
past the grace period (storage/collect.py decides; this is the command's face)."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from typing import Annotated

import typer

from storage import collect
from storage.errors import ArchiveError, PermanentError

_DURATION = re.compile(r"^(\d+)\s*([smhd])$")


def parse_duration(text: str) -> timedelta:
    """'90s', '30m', '12h' or '7d'; anything else is a PermanentError naming the forms. Pure."""
    m = _DURATION.match(text.strip())
    if not m:
        raise PermanentError(f"--grace {text!r} is not a duration: a whole number and s, m, h or d, e.g. 7d")
    n, unit = int(m.group(1)), m.group(2)
    return timedelta(seconds=n * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit])


def gc(
    grace: Annotated[
        str, typer.Option("--grace", help="only objects older than this: 90s, 30m, 12h, 7d (under 12h refused)")
    ] = "7d",
    apply: Annotated[bool, typer.Option("--apply", help="delete them (default: only list)")] = False,
    no_run_in_flight: Annotated[
        bool, typer.Option("--no-run-in-flight", help="allow a grace under 12h: every DAG is paused, no run active")
    ] = False,
    archive: Annotated[
        str, typer.Option("--archive", envvar="ARCHIVE_URL", help="file:///path or s3://bucket/prefix")
    ] = "./archive",
    unsafe_store: Annotated[
        bool, typer.Option("--unsafe-store", help="collect on an S3 server that failed the write-once probes")
    ] = False,
) -> None:
    """Objects of killed or raced attempts, superseded checkpoints and leftover store probes,
    past the grace period. An S3 store is probed first."""
    from researcher.cli import _fail, _store, err

    try:
        period = parse_duration(grace)
        collect.check_grace(period, no_run_in_flight)
    except PermanentError as exc:  # the user's input: said in one line, usage status
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        store = _store(archive, probed=unsafe_store)
        found = collect.plan(store, grace=period)
        for c in found.candidates:
            sys.stdout.write(f"{c.why}\t{c.key}\t{c.size}\t{c.modified.isoformat()}\n")
        kinds = ", ".join(f"{n} {why} ({size:,} bytes)" for why, (n, size) in sorted(found.by_kind().items()))
        err.print(
            f"{found.examined} object(s) examined; {len(found.candidates)} to collect: {kinds or 'none'}; "
            f"{found.kept_young} unreferenced but younger than {grace} (maybe a run in flight), kept",
            markup=False,
            highlight=False,
        )
        if apply and found.candidates:
            deleted, size = collect.apply(store, found, say=lambda m: err.print(m, markup=False, highlight=False))
            err.print(f"deleted {deleted} object(s), {size:,} bytes", markup=False, highlight=False)
        elif found.candidates:
            err.print("nothing deleted: run again with --apply", markup=False, highlight=False)
    except ArchiveError as exc:
        _fail(exc)
