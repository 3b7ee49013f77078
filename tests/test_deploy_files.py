"""The shipped deployment files (infra/): the compose file valid against the Compose
Specification's JSON schema (vendored: tests/fixtures/schemas/, compose-spec/compose-spec
at 170098ba, Apache-2.0), and the compose file, the Dockerfile and the Helm values agreeing
with each other. tests/test_distributed.py runs the compose file's own commands and settings."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "infra" / "compose.yaml"
SCHEMA = REPO / "tests" / "fixtures" / "schemas" / "compose-spec.json"


def compose_airflow() -> tuple[dict[str, str], dict[str, list[str]]]:
    """infra/compose.yaml's Airflow settings and its Airflow services' commands."""
    spec = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    env = {k: str(v) for k, v in spec["x-airflow-env"].items()}
    services = {
        name: [str(a) for a in svc["command"]]
        for name, svc in spec["services"].items()
        if svc.get("image", "").startswith("newsarchive") and name != "airflow-init"
    }
    return env, services


def _errors(doc: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    schema.pop("$schema", None)  # draft-07, which the validator below is
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]


def test_the_compose_file_follows_the_compose_specification() -> None:
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert _errors(doc) == []


@pytest.mark.parametrize(
    ("break_it", "where"),
    [
        (lambda d: d["services"]["scheduler"].update(comand=["scheduler"]), "services/scheduler"),
        (lambda d: d["services"]["redis"].update(healthcheck={"test": 5}), "services/redis/healthcheck/test"),
        (lambda d: d.update(volumes=["postgres"]), "volumes"),
    ],
)
def test_the_schema_check_catches_a_broken_file(break_it: Any, where: str) -> None:
    """The check can fail: a misspelt key, a wrong type, a wrong shape are each reported."""
    doc = copy.deepcopy(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))
    break_it(doc)
    assert any(e.startswith(where) for e in _errors(doc)), _errors(doc)


def test_compose_and_the_test_run_the_same_components() -> None:
    env, services = compose_airflow()
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert sorted(services) == ["api-server", "dag-processor", "scheduler", "triggerer", "worker-1", "worker-2"]
    assert all(services[w][:2] == ["celery", "worker"] for w in ("worker-1", "worker-2"))
    dockerfile = (REPO / "infra" / "Dockerfile").read_text(encoding="utf-8")
    assert "uv sync --frozen --no-dev" in dockerfile and "COPY dags/ dags/" in dockerfile
    values = yaml.safe_load((REPO / "infra" / "helm" / "values.yaml").read_text(encoding="utf-8"))
    assert values["executor"] == env["AIRFLOW__CORE__EXECUTOR"]
    assert values["workers"]["replicas"] == 2 and values["dags"]["gitSync"]["enabled"] is False
    assert {s["envName"] for s in values["secret"]} == {"AIRFLOW_CONN_ARCHIVE_S3"}
    assert {e["name"]: e["value"] for e in values["env"]}["ARCHIVE_AWS_CONN_ID"] == env["ARCHIVE_AWS_CONN_ID"]
