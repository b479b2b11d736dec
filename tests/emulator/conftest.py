"""Fixtures for the emulator's tests (the session emulator itself is ``emulator`` in tests/conftest.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.config import Config
from emulator_helpers import Pipelines, load_fixture_definition, validated


@pytest.fixture(scope="session")
def sm(emulator: Any) -> Any:
    """A validated SageMaker client on the session emulator (standard retries, as users configure)."""
    return validated(emulator.client("sagemaker", config=Config(retries={"mode": "standard", "max_attempts": 10})))


@pytest.fixture(scope="session")
def sm_no_retry(emulator: Any) -> Any:
    """A validated client that surfaces every error (no retries)."""
    return validated(emulator.client("sagemaker", config=Config(retries={"mode": "standard", "max_attempts": 1})))


@pytest.fixture
def pipelines(emulator: Any, sm: Any) -> Pipelines:
    return Pipelines(emulator, sm)


@pytest.fixture
def fixture_definition() -> Callable[[str], dict[str, Any]]:
    return lambda name: copy.deepcopy(load_fixture_definition(name))


@pytest.fixture(autouse=True)
def _default_scenario(emulator: Any) -> Iterator[None]:
    """Every emulator test starts from a fast default scenario and zeroed counters."""
    emulator.load_scenario({"default_step_seconds": 0.02, "time_scale": 0.001})
    emulator.reset()
    yield
