"""Helpers for the emulator's tests: validated clients, pipelines, waiting without sleeping blindly.

Every SageMaker client made here validates *every* successful response of the operations the
emulator adds against botocore's output shape (a botocore ``after-call`` hook), so no test has to
remember to; :data:`VALIDATED` records which operations were checked.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_smpipe.emulator.api import DIRECT_OPERATIONS, OWNED_OPERATIONS
from airflow_provider_smpipe.emulator.shapes import assert_valid_output

DEFINITIONS = Path(__file__).resolve().parents[1] / "fixtures" / "definitions"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
VALIDATED: Counter[str] = Counter()
_names = itertools.count(1)


def load_fixture_definition(name: str) -> dict[str, Any]:
    return json.loads((DEFINITIONS / f"{name}.json").read_text())

def _validate_hook(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    if (model.name in OWNED_OPERATIONS or model.name in DIRECT_OPERATIONS) and getattr(http_response, "status_code", 200) < 300:
        assert_valid_output(model.name, parsed)
        VALIDATED[model.name] += 1


def validated(client: Any) -> Any:
    """Register the output-shape check on a boto3 (or aiobotocore) SageMaker client."""
    client.meta.events.register("after-call.sagemaker", _validate_hook)
    return client


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.02, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); fail the test at ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {what} (last value: {last!r})")


def unique(prefix: str) -> str:
    """A pipeline name no other test uses (pipelines live for the whole session)."""
    return f"{prefix}-{next(_names)}-{int(time.time() * 1000) % 100000}"


class Pipelines:
    """Creates pipelines on the emulator and runs them."""

    def __init__(self, emulator: Any, sm: Any) -> None:
        self.emulator = emulator
        self.sm = sm

    def create(self, definition: dict[str, Any] | str, prefix: str = "p", **kwargs: Any) -> str:
        document = load_fixture_definition(definition) if isinstance(definition, str) else definition
        name = unique(prefix)
        self.sm.create_pipeline(PipelineName=name, PipelineDefinition=json.dumps(document), RoleArn=ROLE, **kwargs)
        return name

    def start(self, name: str, **kwargs: Any) -> str:
        params = kwargs.pop("parameters", None)
        if params:
            kwargs["PipelineParameters"] = [{"Name": k, "Value": str(v)} for k, v in params.items()]
        return self.sm.start_pipeline_execution(PipelineName=name, **kwargs)["PipelineExecutionArn"]

    def run(self, name: str, timeout: float = 20.0, **kwargs: Any) -> str:
        arn = self.start(name, **kwargs)
        self.wait(arn, timeout)
        return arn

    def wait(self, arn: str, timeout: float = 20.0) -> dict[str, Any]:
        """Wait (without polling) until the execution is terminal; return DescribePipelineExecution.

        The polling clients are exercised by their own tests (aiobotocore/boto3, the Airflow hook);
        here polling would only compete with the engine's threads for the interpreter."""
        try:
            self.emulator.wait_for_execution(arn, timeout)
        except TimeoutError as exc:
            pytest.fail(str(exc))
        described = self.sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        assert described["PipelineExecutionStatus"] in ("Succeeded", "Failed", "Stopped", "CompletedWithFailures")
        return described

    def steps(self, arn: str) -> dict[str, dict[str, Any]]:
        """Every step row of the execution (all pages), by step name."""
        rows: dict[str, dict[str, Any]] = {}
        for page in self.sm.get_paginator("list_pipeline_execution_steps").paginate(PipelineExecutionArn=arn):
            for row in page["PipelineExecutionSteps"]:
                rows[row["StepName"]] = row
        return rows

    def step_state(self, arn: str) -> dict[str, dict[str, Any]]:
        return {s["name"]: s for s in self.execution_state(arn)["steps"]}

    def execution_state(self, arn: str) -> dict[str, Any]:
        (execution,) = self.emulator.state(execution=arn)["executions"]
        return execution


def definition_with(steps: list[dict[str, Any]], parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"Version": "2020-12-01", "Metadata": {}, "Parameters": parameters or [], "PipelineExperimentConfig": None, "Steps": steps}


def training_step(name: str, *, depends_on: list[str] | None = None, output: str | None = None, **extra: Any) -> dict[str, Any]:
    """A minimal valid Training step (its S3 output path is per execution unless ``output`` is given)."""
    step: dict[str, Any] = {
        "Name": name,
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1", "TrainingInputMode": "File"},
            "OutputDataConfig": {
                "S3OutputPath": output
                or {"Std:Join": {"On": "/", "Values": ["s3://emu-bucket/out", {"Get": "Execution.PipelineExecutionId"}, name]}}
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30},
            "RoleArn": ROLE,
        },
    }
    if depends_on:
        step["DependsOn"] = depends_on
    step.update(extra)
    return step


def callback_step(name: str, queue: str, *, outputs: list[tuple[str, str]] | None = None, **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "Name": name,
        "Type": "Callback",
        "Arguments": {"who": {"Get": "Execution.PipelineName"}, "n": 3},
        "SqsQueueUrl": f"https://sqs.us-east-1.amazonaws.com/123456789012/{queue}",
        "OutputParameters": [{"OutputName": n, "OutputType": t} for n, t in (outputs or [])],
    }
    step.update(extra)
    return step
