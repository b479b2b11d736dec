"""Fixtures for tests against a real Airflow deployment (see deployment.py).

``airflow_deployment`` starts one deployment per test module (it takes ~20-40 s on a 2-core
machine) whose AWS connection points at the session's emulator. When a test that uses it fails,
the tail of every component's log and of the task logs is added to the failure report.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from deployment import AirflowDeployment, local_airflow


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """``aws_default`` pointing at the emulator, and fake credentials: every component (the
    task workers and the triggerer) calls AWS, and none may reach the real one. The same settings
    ``bash scripts/airflow.sh up`` gives its deployment."""
    settings: dict[str, str] = local_airflow.aws_settings(endpoint_url)
    return settings


@pytest.fixture(scope="module")
def airflow_deployment(emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowDeployment]:
    """A running api-server + scheduler (LocalExecutor) + dag-processor + triggerer, stopped
    after the module's tests (also when they fail)."""
    root: Path = tmp_path_factory.mktemp("airflow-deployment")
    with AirflowDeployment(root, env=aws_environment(emulator.endpoint_url)) as deployment:
        yield deployment


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Attach the deployment's logs to the report of a failed test that used it: the cause of a
    failure in a multi-process deployment is almost always in a log, not in the test's traceback."""
    outcome = yield
    report = outcome.get_result()
    deployment = getattr(item, "funcargs", {}).get("airflow_deployment")
    if report.failed and call.when == "call" and isinstance(deployment, AirflowDeployment):
        report.sections.append(("Airflow deployment logs", deployment.diagnostics()))
