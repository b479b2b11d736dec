"""Shared pytest setup.

Airflow reads its configuration when first imported, so everything here that configures Airflow
happens in ``pytest_configure``, before any test module imports it. Nothing at module level imports
Airflow.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEFINITIONS = FIXTURES / "definitions"
ORACLES = FIXTURES / "oracles"
FIXTURE_NAMES = ("abalone", "integrations", "function_step", "misc_steps")

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths and the like stay on the machine
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: not allowed in tests


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_loopback(address):
        raise ConnectionRefusedError(f"tests may only connect to loopback, not {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_loopback(address):
        raise ConnectionRefusedError(f"tests may only connect to loopback, not {address!r}")
    return _real_connect_ex(self, address)


def pytest_configure(config: pytest.Config) -> None:
    home = Path(tempfile.mkdtemp(prefix="smpipe-airflow-home-"))
    dags = home / "dags"
    dags.mkdir()
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home}/airflow.db"
    # Fake credentials and region: no test may reach real AWS, and boto3 must not probe EC2 metadata.
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        os.environ[key] = value
    os.environ.pop("AWS_PROFILE", None)
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[None]:
    """Create the Airflow metadata DB (SQLite, in the session's AIRFLOW_HOME) once per session."""
    from airflow.utils import db

    from airflow_compat import plain_task_logs

    db.resetdb()
    plain_task_logs()
    yield


def load_fixture_definition(name: str) -> dict[str, Any]:
    return json.loads((DEFINITIONS / f"{name}.json").read_text())


def load_expected_graph(name: str) -> dict[str, Any]:
    return json.loads((DEFINITIONS / "expected" / f"{name}.graph.json").read_text())


# -- the local SageMaker Pipelines emulator (airflow_provider_smpipe.emulator) ---------------------


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    """One in-process emulator (moto + pipeline executions) for the whole session, on 127.0.0.1.

    Yields the running :class:`~airflow_provider_smpipe.emulator.EmulatorServer`: ``.endpoint_url``
    for boto3/aiobotocore clients or an Airflow connection's ``endpoint_url`` extra,
    ``.client("sagemaker")``, ``.state()``, ``.wait_for_execution(arn)``. Strict: every response of
    the pipeline operations it adds is checked against botocore's output shape. Pipelines persist
    for the session, so give each test its own pipeline names.
    """
    # A hard import on purpose: the test environment always installs the 'emulator' extra, and a
    # skip here would turn a broken install into a green run.
    from airflow_provider_smpipe.emulator import run_emulator

    with run_emulator(strict=True) as server:
        _running_emulators.append(server)
        try:
            yield server
        finally:
            _running_emulators.remove(server)


#: the session's emulator while it runs (see :func:`_event_routes_end_with_their_module`)
_running_emulators: list[Any] = []
#: regions whose EventBridge rules tests make on the session emulator
_EVENT_REGIONS = ("us-east-1", "eu-west-1")


def _event_routes(server: Any) -> set[tuple[str, str]]:
    """``(region, rule name)`` of every rule on the emulator's default event buses."""
    routes: set[tuple[str, str]] = set()
    for region in _EVENT_REGIONS:
        for page in server.client("events", region).get_paginator("list_rules").paginate():
            routes.update((region, rule["Name"]) for rule in page["Rules"])
    return routes


def _delete_route(server: Any, region: str, rule: str) -> None:
    """Delete ``rule`` and the SQS queues it targets (they were made for it, by the same test)."""
    events, sqs = server.client("events", region), server.client("sqs", region)
    targets = events.list_targets_by_rule(Rule=rule)["Targets"]
    if targets:
        events.remove_targets(Rule=rule, Ids=[target["Id"] for target in targets], Force=True)
    events.delete_rule(Name=rule, Force=True)
    for target in targets:
        if target["Arn"].startswith("arn:aws:sqs:"):
            queue_region, queue_name = target["Arn"].split(":")[3], target["Arn"].rsplit(":", 1)[-1]
            queues = server.client("sqs", queue_region) if queue_region != region else sqs
            try:
                queues.delete_queue(QueueUrl=queues.get_queue_url(QueueName=queue_name)["QueueUrl"])
            except queues.exceptions.QueueDoesNotExist:
                pass


@pytest.fixture(scope="module", autouse=True)
def _event_routes_end_with_their_module() -> Iterator[None]:
    """The EventBridge rules a test module made on the session emulator, and their SQS queues, are
    deleted when the module ends (after its deployment, if it has one, stopped).

    The emulator puts every SageMaker event through moto's rules, and moto's SendMessage scans the
    whole target queue (its approximate-count attributes) on every send: a catch-all rule left
    behind with nobody reading its queue made every later execution slower and slower (profiled: a
    4 s stress test took 40 s after the deployment tests, most of it in moto's SQS counting; a CI
    run timed out on it)."""
    server = _running_emulators[0] if _running_emulators else None
    before = _event_routes(server) if server is not None else set()
    yield
    server = _running_emulators[0] if _running_emulators else None
    if server is None:
        return
    for region, rule in sorted(_event_routes(server) - before):
        _delete_route(server, region, rule)


@pytest.fixture
def emulator_scenario(emulator: Any) -> Iterator[Any]:
    """Load a scenario for this test and zero the call counters: ``emulator_scenario({...})``
    (a dict, a Scenario, JSON text or a file path; ``None`` for the defaults) returns the server.
    The default scenario is restored afterwards."""

    def load(scenario: Any = None) -> Any:
        emulator.load_scenario(scenario)
        emulator.reset()
        return emulator

    yield load
    emulator.load_scenario(None)
