"""An Airflow ``aws`` connection whose extra holds the emulator's ``endpoint_url`` drives it unchanged
through the Amazon provider's own SageMakerHook (start, verbose describe, stop)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from emulator_helpers import Pipelines, definition_with, training_step, wait_for


@pytest.fixture
def aws_conn_id(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    extra = {"endpoint_url": emulator.endpoint_url, "region_name": "us-east-1"}
    connection = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_SMPIPE_EMULATOR", json.dumps(connection))
    return "smpipe_emulator"


def test_amazon_sagemaker_hook_runs_against_the_emulator(pipelines: Pipelines, emulator: Any, emulator_scenario: Any, aws_conn_id: str) -> None:
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    emulator_scenario({"default_step_seconds": 0.05})
    parameters = [{"Name": "Size", "Type": "Integer", "DefaultValue": 1}]
    name = pipelines.create(definition_with([training_step("A"), training_step("B", depends_on=["A"])], parameters), "airflow")
    hook = SageMakerHook(aws_conn_id=aws_conn_id)
    arn = hook.start_pipeline(name, display_name="from-airflow", pipeline_params={"Size": "2"})
    assert arn.startswith(f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{name}/execution/")
    described = wait_for(lambda: (d := hook.describe_pipeline_exec(arn, verbose=True))["PipelineExecutionStatus"] == "Succeeded" and d)
    assert described["PipelineExecutionDisplayName"] == "from-airflow"
    # stopping a finished execution: the hook recognises the service's message and does not raise
    assert hook.stop_pipeline(arn) == "Succeeded"
    calls = emulator.state()["calls"]
    assert calls["StartPipelineExecution"] == 1 and calls["ListPipelineExecutionSteps"] >= 1 and calls["StopPipelineExecution"] == 1
