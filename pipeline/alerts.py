"""Failure alerts through Airflow's notifier mechanism: a webhook configured by a connection.

Every task of the pipeline's DAGs has `on_failure_callback=FailureWebhook()`: when a task
fails for good (retries spent, or an input error that is never retried), it POSTs a small
JSON document to the HTTP connection `newsarchive_alerts` (host, port, schema, credentials:
in the connection, never in code; the path, if any, in NEWSARCHIVE_ALERTS_PATH). An
installation without that connection sends nothing: alerts are opt-in. The payload is built
by a pure function, so what an alert says is tested without a server.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.providers.http.notifications.http import HttpNotifier
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

ALERTS_CONN_ID = "newsarchive_alerts"
NOT_SOURCES = {"news_reprocess", "news_catalog"}  # the pipeline's DAGs that are not one source's


def alert_payload(context: dict[str, Any]) -> dict[str, Any]:
    """What an alert says: which source, run and task failed, on which try, and why (one line)."""
    ti = context.get("ti") or context.get("task_instance")
    error = context.get("exception")
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0] if error else "unknown"
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", None)
    return {
        "event": "task_failed",
        "dag_id": dag_id,
        "source_id": dag_id.removeprefix("news_")
        if dag_id and dag_id.startswith("news_") and dag_id not in NOT_SOURCES
        else None,
        "run_id": context.get("run_id"),
        "task_id": getattr(ti, "task_id", None),
        "try_number": getattr(ti, "try_number", None),
        "error": f"{type(error).__name__}: {reason}" if error else reason,
    }


class FailureWebhook(HttpNotifier):
    """HttpNotifier that builds its JSON from the failure and stays silent when unconfigured."""

    def __init__(self, **kwargs: Any):
        super().__init__(http_conn_id=ALERTS_CONN_ID, method="POST", **kwargs)

    def notify(self, context: Any) -> None:
        try:
            BaseHook.get_connection(self.http_conn_id)
        except AirflowNotFoundException:
            return  # no alerts configured on this installation
        self.endpoint = os.environ.get("NEWSARCHIVE_ALERTS_PATH", "")
        self.json = alert_payload(dict(context))
        super().notify(context)
