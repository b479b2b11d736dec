"""SageMakerPipelineCallbackOperator answers a Callback step, both ways, in a real DAG."""

from __future__ import annotations

from typing import Any

import pendulum
import pytest

from airflow.sdk import DAG

from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook
from airflow_provider_smpipe.operators.callback import SageMakerPipelineCallbackOperator
from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineStartOperator
from airflow_provider_smpipe.sensors.pipeline import SageMakerPipelineExecutionSensor
from native_helpers import ROLE, callback_definition, run_dag, task_states, unique, xcom

ARN = "{{ ti.xcom_pull(task_ids='start', key='execution_arn') }}"


@pytest.fixture
def setup(airflow_env: Any, emulator: Any, aws_connection: str) -> tuple[SageMakerPipelineHook, str, str]:
    airflow_env({"default_step_seconds": 0.05})
    hook = SageMakerPipelineHook(aws_conn_id="aws_default")
    queue = emulator.client("sqs").create_queue(QueueName=unique("approvals"))["QueueUrl"]
    pipeline = unique("cb")
    hook.upsert_pipeline(pipeline, callback_definition(queue), ROLE)
    return hook, pipeline, queue


def build(pipeline: str, queue: str, **callback: Any) -> DAG:
    with DAG(unique("dag"), schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        start = SageMakerPipelineStartOperator(task_id="start", pipeline_name=pipeline, wait_for_completion=False)
        answer = SageMakerPipelineCallbackOperator(task_id="answer", queue_url=queue, execution_arn=ARN, wait_timeout=30, **callback)
        wait = SageMakerPipelineExecutionSensor(task_id="wait", execution_arn=ARN, deferrable=True, poke_interval=0.05, trigger_rule="all_done")
        start >> answer >> wait
    return dag


def test_answered_with_success_and_outputs_from_a_callable(setup: Any) -> None:
    hook, pipeline, queue = setup

    def decide(message: dict[str, Any], context: Any) -> dict[str, Any]:
        # The step's resolved arguments arrive in the message.
        assert message["arguments"]["mode"] == "fast"
        return {"decision": "approve", "score": 0.97}

    run = run_dag(build(pipeline, queue, output_parameters={"decision": "reject"}, output_callable=decide))
    assert task_states(run) == {"start": "success", "answer": "success", "wait": "success"}
    answer = xcom(run, "answer")
    assert answer["answer"] == "success" and answer["output_parameters"] == {"decision": "approve", "score": "0.97"}
    rows = {r["name"]: r for r in xcom(run, "wait")["steps"]}
    assert rows["Approve"]["output_parameters"] == {"decision": "approve", "score": "0.97"}
    assert rows["Deploy"]["status"] == "Succeeded" and "Rejected" not in rows


def test_a_failing_callable_answers_with_failure(setup: Any) -> None:
    hook, pipeline, queue = setup

    def broken(message: dict[str, Any], context: Any) -> dict[str, Any]:
        raise RuntimeError("model card missing")

    run = run_dag(build(pipeline, queue, output_callable=broken))
    assert task_states(run) == {"start": "success", "answer": "failed", "wait": "failed"}
    arn = xcom(run, "start", "execution_arn")
    rows = {r["name"]: r for r in hook.step_table(arn)}
    assert rows["Approve"]["status"] == "Failed"
    assert rows["Approve"]["failure_reason"] == "RuntimeError: model card missing"
    assert hook.describe_execution(arn)["PipelineExecutionStatus"] == "Failed"


def test_fail_flag_rejects_with_the_templated_reason(setup: Any) -> None:
    hook, pipeline, queue = setup
    run = run_dag(build(pipeline, queue, fail=True, failure_reason="rejected in run {{ run_id }}"))
    assert task_states(run)["answer"] == "failed"
    arn = xcom(run, "start", "execution_arn")
    reason = next(r for r in hook.step_table(arn) if r["name"] == "Approve")["failure_reason"]
    assert reason == f"rejected in run {run.run_id}"
