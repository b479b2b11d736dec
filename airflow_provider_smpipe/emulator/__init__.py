"""A local SageMaker Pipelines emulator on top of moto (the ``airflow-provider-smpipe[emulator]`` extra).

moto serves every AWS API; the emulator adds real pipeline executions (StartPipelineExecution and
friends) that walk the definition with the definition core, create moto jobs, wait on callbacks,
retry, cache, stop and re-run selectively, with what the steps "produce" scripted by a
:class:`Scenario`; jobs, EMR steps and Lambda invocations that translated pipelines create
directly follow the same scenario (``emulator.direct``). Nothing in the provider's product path
imports this package.

Like the service, the emulator publishes SageMaker's EventBridge events (pipeline execution and
step status changes, model packages registered by a RegisterModel step) on the default bus of the
execution's account and region in moto, so rules with SQS targets deliver them
(:mod:`~airflow_provider_smpipe.emulator.events`; the shapes and their source are in
:mod:`airflow_provider_smpipe.events.shapes`; the scenario's ``duplicate_events`` sends each twice).

>>> from airflow_provider_smpipe.emulator import run_emulator
>>> with run_emulator(scenario={"default_step_seconds": 0.1}) as emulator:  # doctest: +SKIP
...     sm = emulator.client("sagemaker")
...     ...

See docs/emulator.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow_provider_smpipe.emulator.scenario import (
    CallbackScript,
    FailScript,
    LambdaScript,
    Scenario,
    ScenarioError,
    StepScript,
    ThrottleScript,
)
from airflow_provider_smpipe.emulator.server import EmulatorServer
from airflow_provider_smpipe.emulator.shapes import ShapeError, assert_valid_output, validate_output

__all__ = [
    "CallbackScript",
    "EmulatorServer",
    "FailScript",
    "LambdaScript",
    "Scenario",
    "ScenarioError",
    "ShapeError",
    "StepScript",
    "ThrottleScript",
    "assert_valid_output",
    "run_emulator",
    "validate_output",
]


@contextmanager
def run_emulator(
    scenario: Scenario | dict[str, Any] | str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    strict: bool = True,
    verbose: bool = False,
) -> Iterator[EmulatorServer]:
    """Run an emulator in a background thread of this process; yields the running server
    (``.endpoint_url``, ``.client(service)``, ``.state()``, ``.load_scenario()``, ``.reset()``).

    :param strict: check every response of the added operations against botocore's output shape
        and answer a mismatch with a 500 (on by default here: it is meant for tests).
    """
    server = EmulatorServer(host, port, scenario, strict=strict, verbose=verbose)
    server.start()
    try:
        yield server
    finally:
        server.stop()
