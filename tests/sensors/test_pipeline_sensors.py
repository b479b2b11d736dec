"""Sensors waiting on executions started elsewhere (not by Airflow), deferred and poking."""

from __future__ import annotations

from typing import Any

import pendulum
import pytest

from airflow.sdk import DAG

from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook
from airflow_provider_smpipe.sensors.pipeline import SageMakerPipelineExecutionSensor, SageMakerPipelineStepSensor
from native_helpers import ROLE, chain_definition, run_dag, task_states, unique, xcom


@pytest.fixture
def hook(aws_connection: str) -> SageMakerPipelineHook:
    return SageMakerPipelineHook(aws_conn_id="aws_default")


def dag() -> DAG:
    return DAG(unique("dag"), schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "poke"])
def test_execution_sensor_waits_for_the_latest_execution_started_elsewhere(airflow_env: Any, hook: SageMakerPipelineHook, deferrable: bool) -> None:
    airflow_env({"default_step_seconds": 0.05, "steps": {"A": {"seconds": 1.0}}})
    pipeline = unique("elsewhere")
    hook.upsert_pipeline(pipeline, chain_definition(["A", "B"]), ROLE)
    arn = hook.start_execution(hook.build_start_request(pipeline))  # e.g. an EventBridge schedule
    with dag() as d:
        SageMakerPipelineExecutionSensor(
            task_id="wait", pipeline_name=pipeline, execution_arn="latest", deferrable=deferrable, poke_interval=0.05, timeout=60
        )
    run = run_dag(d)
    assert task_states(run) == {"wait": "success"}
    assert xcom(run, "wait", "execution_arn") == arn
    assert xcom(run, "wait")["execution_status"] == "Succeeded"  # same XCom from poke and deferred paths
    assert hook.describe_execution(arn)["PipelineExecutionStatus"] == "Succeeded"


def test_execution_sensor_failure_names_the_step(airflow_env: Any, hook: SageMakerPipelineHook, capfd: Any) -> None:
    airflow_env({"default_step_seconds": 0.05, "steps": {"B": {"fail": {"reason": "ClientError: bad input", "attempts": [1]}}}})
    pipeline = unique("sfail")
    hook.upsert_pipeline(pipeline, chain_definition(["A", "B"]), ROLE)
    arn = hook.start_execution(hook.build_start_request(pipeline))
    with dag() as d:
        SageMakerPipelineExecutionSensor(task_id="deferred", execution_arn=arn, deferrable=True, poke_interval=0.05)
        SageMakerPipelineExecutionSensor(task_id="poke", execution_arn=arn, deferrable=False, poke_interval=0.05)
    run = run_dag(d)
    assert task_states(run) == {"deferred": "failed", "poke": "failed"}
    output = capfd.readouterr().out
    assert output.count("step 'B' (ProcessingJob) Failed: ClientError: bad input") >= 2  # same report in both paths


def test_step_sensor_succeeds_before_the_execution_ends(airflow_env: Any, hook: SageMakerPipelineHook) -> None:
    airflow_env({"default_step_seconds": 0.05, "steps": {"B": {"seconds": 60.0}}})  # still running when the DAG ends
    pipeline = unique("steps")
    hook.upsert_pipeline(pipeline, chain_definition(["A", "B"]), ROLE)
    arn = hook.start_execution(hook.build_start_request(pipeline))
    with dag() as d:
        SageMakerPipelineStepSensor(task_id="a_done", execution_arn=arn, step_name="A", deferrable=True, poke_interval=0.05)
        SageMakerPipelineStepSensor(task_id="b_running", execution_arn=arn, step_name="B", target_statuses=["Executing"], poke_interval=0.05)
    run = run_dag(d)
    assert task_states(run) == {"a_done": "success", "b_running": "success"}
    assert xcom(run, "a_done")["step"]["status"] == "Succeeded"
    assert hook.describe_execution(arn)["PipelineExecutionStatus"] == "Executing"
    hook.stop_execution(arn)
