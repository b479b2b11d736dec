"""Native-mode operators in real DAGs: ``dag.test()`` on the metadata DB, the emulator over HTTP,
deferred waits through the real trigger (dag.test runs triggers inline)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
import pytest

from airflow.sdk import DAG

from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook
from airflow_provider_smpipe.operators.pipeline import (
    SageMakerPipelineRetryOperator,
    SageMakerPipelineStartOperator,
    SageMakerPipelineStopOperator,
    SageMakerPipelineUpsertOperator,
)
from airflow_provider_smpipe.sensors.pipeline import SageMakerPipelineExecutionSensor
from native_helpers import ROLE, chain_definition, run_dag, task_instance, task_states, unique, wait_for, xcom

START = pendulum.datetime(2026, 1, 1, tz="UTC")
FAST = {"default_step_seconds": 0.05}


@pytest.fixture
def hook(aws_connection: str) -> SageMakerPipelineHook:
    return SageMakerPipelineHook(aws_conn_id="aws_default")


def new_pipeline(hook: SageMakerPipelineHook, names: list[str] = ["A", "B", "C"]) -> str:  # noqa: B006 - read only
    name = unique("pipe")
    hook.upsert_pipeline(name, chain_definition(names), ROLE)
    return name


def execution_of(hook: SageMakerPipelineHook, pipeline: str, *, status: str, **start: Any) -> str:
    arn = hook.start_execution(hook.build_start_request(pipeline, **start))
    wait_for(lambda: hook.describe_execution(arn)["PipelineExecutionStatus"] == status, what=f"{arn} {status}")
    return arn


def dag(**kwargs: Any) -> DAG:
    return DAG(unique("dag"), schedule=None, start_date=START, **kwargs)


def start_calls(emulator: Any) -> int:
    return int(emulator.state()["calls"].get("StartPipelineExecution", 0))


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "in-worker"])
def test_upsert_then_start_succeeds_with_templated_parameters(airflow_env: Any, hook: SageMakerPipelineHook, deferrable: bool) -> None:
    airflow_env(FAST)
    pipeline = unique("pipe")
    with dag() as d:
        upsert = SageMakerPipelineUpsertOperator(task_id="upsert", pipeline_name=pipeline, definition=chain_definition(["A", "B"]), role_arn=ROLE)
        start = SageMakerPipelineStartOperator(
            task_id="start",
            pipeline_name=pipeline,
            parameters={"InputData": "s3://my-ml-bucket/input/{{ ds }}/data.csv", "InstanceCount": 2, "Mode": "full"},
            deferrable=deferrable,
            poll_interval=0.05,
        )
        upsert >> start
    run = run_dag(d, logical_date=pendulum.datetime(2026, 3, 4, tz="UTC"))
    assert task_states(run) == {"upsert": "success", "start": "success"}
    result = xcom(run, "start")
    assert result["status"] == "Succeeded" and result["pipeline_name"] == pipeline
    assert result["parameters"]["InputData"] == "s3://my-ml-bucket/input/2026-03-04/data.csv"
    assert result["parameters"]["InstanceCount"] == "2"
    assert [s["name"] for s in result["steps"]] == ["A", "B"] and all(s["status"] == "Succeeded" for s in result["steps"])
    assert xcom(run, "start", "execution_arn") == result["execution_arn"]
    link = xcom(run, "start", "smpipe_pipeline_execution")
    assert link["pipeline_name"] == pipeline and link["region_name"] == "us-east-1"
    assert xcom(run, "upsert") == {"pipeline_arn": hook.get_pipeline(pipeline)["PipelineArn"], "created": True, "changed": True}


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "in-worker"])
def test_failure_names_the_failed_step_reason_and_job(airflow_env: Any, hook: SageMakerPipelineHook, capfd: Any, deferrable: bool) -> None:
    airflow_env({**FAST, "steps": {"B": {"fail": {"reason": "AlgorithmError: loss is NaN", "attempts": [1]}}}})
    pipeline = new_pipeline(hook)
    with dag() as d:
        SageMakerPipelineStartOperator(task_id="start", pipeline_name=pipeline, deferrable=deferrable, poll_interval=0.05)
    run = run_dag(d)
    assert task_states(run) == {"start": "failed"}
    arn = xcom(run, "start", "execution_arn")
    job = next(r for r in hook.step_table(arn) if r["name"] == "B")["job_arn"]
    output = capfd.readouterr().out
    assert f"SageMaker pipeline '{pipeline}' execution {arn} ended Failed" in output
    assert f"step 'B' (ProcessingJob) Failed: AlgorithmError: loss is NaN [{job}]" in output


def test_wait_for_completion_false_returns_at_once_even_when_deferrable(airflow_env: Any, hook: SageMakerPipelineHook) -> None:
    airflow_env({**FAST, "steps": {"A": {"seconds": 30}}})
    pipeline = new_pipeline(hook)
    with dag() as d:
        SageMakerPipelineStartOperator(task_id="start", pipeline_name=pipeline, deferrable=True, wait_for_completion=False)
    run = run_dag(d)
    assert task_states(run) == {"start": "success"}
    result = xcom(run, "start")
    assert result["status"] == "Executing"
    hook.stop_execution(result["execution_arn"])


def test_stop_operator_and_the_stopped_policy_in_every_path(airflow_env: Any, hook: SageMakerPipelineHook) -> None:
    airflow_env({**FAST, "steps": {"A": {"seconds": 30}}})
    pipeline = new_pipeline(hook)
    arn_xcom = "{{ ti.xcom_pull(task_ids='start', key='execution_arn') }}"
    with dag() as d:
        start = SageMakerPipelineStartOperator(task_id="start", pipeline_name=pipeline, wait_for_completion=False)
        stop = SageMakerPipelineStopOperator(task_id="stop", execution_arn=arn_xcom, deferrable=True, poll_interval=0.05)
        sensors = [
            SageMakerPipelineExecutionSensor(
                task_id=f"sensor_{policy}_{'deferred' if deferrable else 'poke'}",
                execution_arn=arn_xcom,
                stopped_policy=policy,
                deferrable=deferrable,
                poke_interval=0.05,
                trigger_rule="all_done",
            )
            for policy in ("fail", "skip", "succeed")
            for deferrable in (True, False)
        ]
        start >> stop >> sensors
    run = run_dag(d)
    states = task_states(run)
    assert states["stop"] == "success" and xcom(run, "stop")["status"] == "Stopped"
    for mode in ("deferred", "poke"):
        assert states[f"sensor_fail_{mode}"] == "failed"
        assert states[f"sensor_skip_{mode}"] == "skipped"
        assert states[f"sensor_succeed_{mode}"] == "success"


def test_stop_of_a_finished_execution_is_not_an_error(airflow_env: Any, hook: SageMakerPipelineHook) -> None:
    airflow_env(FAST)
    pipeline = new_pipeline(hook, ["A"])
    arn = execution_of(hook, pipeline, status="Succeeded")
    with dag() as d:
        SageMakerPipelineStopOperator(task_id="stop", execution_arn=arn, poll_interval=0.05)
    run = run_dag(d)
    assert task_states(run) == {"stop": "success"} and xcom(run, "stop")["status"] == "Succeeded"


@pytest.mark.parametrize("source", ["arn", "latest", "latest-succeeded", "latest-failed"])
def test_selective_execution_with_each_kind_of_source(airflow_env: Any, hook: SageMakerPipelineHook, source: str) -> None:
    airflow_env({**FAST, "steps": {"C": {"fail": {"reason": "AlgorithmError: x", "attempts": [1]}}}} if source == "latest-failed" else FAST)
    pipeline = new_pipeline(hook)
    reference = execution_of(hook, pipeline, status="Failed" if source == "latest-failed" else "Succeeded")
    airflow_env(FAST)
    with dag() as d:
        SageMakerPipelineStartOperator(
            task_id="rerun",
            pipeline_name=pipeline,
            selected_steps=["B", "C"],
            source_execution=reference if source == "arn" else source,
            deferrable=True,
            poll_interval=0.05,
        )
    run = run_dag(d)
    assert task_states(run) == {"rerun": "success"}
    rows = {r["name"]: r for r in xcom(run, "rerun")["steps"]}
    assert rows["A"]["reused_from"] == reference  # the upstream step's outputs came from the reference
    assert rows["B"]["reused_from"] is None and rows["B"]["status"] == "Succeeded"
    assert rows["C"]["status"] == "Succeeded"


def test_rerun_failed_steps_of_the_latest_failed_execution(airflow_env: Any, hook: SageMakerPipelineHook) -> None:
    airflow_env({**FAST, "steps": {"B": {"fail": {"reason": "CapacityError: none left", "attempts": [1]}}}})
    pipeline = new_pipeline(hook, ["A", "B", "C", "D"])
    failed = execution_of(hook, pipeline, status="Failed")
    airflow_env(FAST)
    with dag() as d:
        SageMakerPipelineStartOperator(task_id="rerun", pipeline_name=pipeline, rerun_failed_steps_of="latest-failed", deferrable=True, poll_interval=0.05)
    run = run_dag(d)
    assert task_states(run) == {"rerun": "success"}
    result = xcom(run, "rerun")
    rows = {r["name"]: r for r in result["steps"]}
    assert rows["A"]["reused_from"] == failed
    assert {n for n in ("B", "C", "D") if rows[n]["status"] == "Succeeded" and not rows[n]["reused_from"]} == {"B", "C", "D"}
    described = hook.describe_execution(result["execution_arn"])
    assert [s["StepName"] for s in described["SelectiveExecutionConfig"]["SelectedSteps"]] == ["B", "C", "D"]


def test_retry_operator_retries_in_place(airflow_env: Any, hook: SageMakerPipelineHook) -> None:
    airflow_env({**FAST, "steps": {"B": {"fail": {"reason": "InternalServerError: transient", "attempts": [1]}}}})
    pipeline = new_pipeline(hook)
    failed = execution_of(hook, pipeline, status="Failed")
    with dag() as d:
        SageMakerPipelineRetryOperator(task_id="retry", pipeline_name=pipeline, execution_arn="latest-failed", deferrable=True, poll_interval=0.05)
    run = run_dag(d)
    assert task_states(run) == {"retry": "success"}
    result = xcom(run, "retry")
    assert result["execution_arn"] == failed and result["status"] == "Succeeded"
    assert next(r for r in result["steps"] if r["name"] == "B")["attempt_count"] == 2


def test_throttling_during_a_deferred_wait(airflow_env: Any, hook: SageMakerPipelineHook) -> None:
    emulator = airflow_env(
        {**FAST, "throttle": {"operations": ["DescribePipelineExecution", "ListPipelineExecutionSteps"], "fraction": 0.5, "seed": 11}}
    )
    pipeline = new_pipeline(hook)
    with dag() as d:
        SageMakerPipelineStartOperator(task_id="start", pipeline_name=pipeline, deferrable=True, poll_interval=0.05)
    run = run_dag(d)
    assert task_states(run) == {"start": "success"}
    assert sum(emulator.state()["throttled"].values()) > 0


@pytest.mark.parametrize("task_state", [True, False], ids=["task-state-store", "description-marker"])
def test_task_retry_after_start_reattaches_instead_of_starting_again(airflow_env: Any, hook: SageMakerPipelineHook, task_state: bool) -> None:
    emulator = airflow_env({**FAST, "steps": {"A": {"seconds": 6.0}}})
    pipeline = new_pipeline(hook, ["A"])
    emulator.reset()

    class StartThenWorkerDies(SageMakerPipelineStartOperator):
        """The worker dies right after StartPipelineExecution on the first try; on Airflow before
        3.3 (no task_state_store) the description marker must find the execution."""

        def execute(self, context: Any) -> Any:
            if not task_state:
                context = dict(context)
                context.pop("task_state_store", None)
            return super().execute(context)

        def _wait(self, context: Any, execution_arn: str, **kwargs: Any) -> Any:
            if context["ti"].try_number == 1:
                raise RuntimeError("worker lost after the start call")
            return super()._wait(context, execution_arn, **kwargs)

    with dag() as d:
        StartThenWorkerDies(task_id="start", pipeline_name=pipeline, poll_interval=0.05, retries=1, retry_delay=timedelta(seconds=0))
    run = run_dag(d)
    assert task_states(run) == {"start": "success"}
    assert task_instance(run, "start").try_number == 2  # the first try really failed
    assert start_calls(emulator) == 1
    executions = list(hook.iter_executions(pipeline))
    assert len(executions) == 1 and xcom(run, "start")["execution_arn"] == executions[0]["PipelineExecutionArn"]
    assert xcom(run, "start")["status"] == "Succeeded"


def test_on_kill_stops_the_execution(airflow_env: Any, hook: SageMakerPipelineHook) -> None:
    airflow_env({**FAST, "steps": {"A": {"seconds": 30}}})
    pipeline = new_pipeline(hook, ["A"])
    with dag() as d:
        SageMakerPipelineStartOperator(task_id="start", pipeline_name=pipeline, wait_for_completion=False)
    run = run_dag(d)
    arn = xcom(run, "start", "execution_arn")
    # A worker being killed mid-wait calls on_kill on the operator instance that started it.
    operator = SageMakerPipelineStartOperator(task_id="killed", pipeline_name=pipeline)
    operator._execution_arn = arn
    operator.on_kill()
    wait_for(lambda: hook.describe_execution(arn)["PipelineExecutionStatus"] == "Stopped", what="stopped")


def test_bad_parameters_and_unknown_steps_start_nothing(airflow_env: Any, hook: SageMakerPipelineHook, capfd: Any) -> None:
    emulator = airflow_env(FAST)
    pipeline = new_pipeline(hook)
    emulator.reset()
    with dag() as d:
        SageMakerPipelineStartOperator(task_id="bad_params", pipeline_name=pipeline, parameters={"InstanceCount": "two", "Nope": 1})
        SageMakerPipelineStartOperator(task_id="bad_steps", pipeline_name=pipeline, selected_steps=["B", "Cc"], source_execution=None)
    run = run_dag(d)
    assert task_states(run) == {"bad_params": "failed", "bad_steps": "failed"}
    assert start_calls(emulator) == 0
    output = capfd.readouterr().out
    assert "Integer parameter 'InstanceCount' got 'two': not an integer" in output
    assert "unknown parameter 'Nope'" in output
    assert "unknown step 'Cc' (did you mean 'C'?)" in output
