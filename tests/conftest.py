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
        yield server


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
