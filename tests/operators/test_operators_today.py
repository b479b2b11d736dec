"""Native-mode operators on today's service responses: ``CompletedWithFailures`` and its policy in
every waiting path (start deferred / in the worker, retry, stop), ForEach rows in XCom, ``MLflowConfig``,
``mlflow_experiment_name``. Real DAGs with ``dag.test()``; the SageMaker side is the scripted endpoint
(``utils/synthetic_sagemaker.py``, real HTTP) because the emulator does not produce these yet."""

from __future__ import annotations

import json
from typing import Any

import pendulum
import pytest

from airflow.sdk import DAG

from airflow_provider_smpipe.operators.pipeline import (
    SageMakerPipelineRetryOperator,
    SageMakerPipelineStartOperator,
    SageMakerPipelineStopOperator,
)
from native_helpers import run_dag, task_states, unique, xcom
from utils.synthetic_sagemaker import (
    SYNTHETIC_CONN_ID,
    SyntheticSageMaker,
    dry_run_execution,
    sweep_definition,
    sweep_outputs,
    timeline,
    v3,
)

START = pendulum.datetime(2026, 1, 1, tz="UTC")
MLFLOW = {"MlflowResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-example-v3", "MlflowExperimentName": "events-nightly"}
TRAIN_FAILED = {"TrainEventsModel": {"status": "Failed", "reason": "AlgorithmError: loss is NaN"}}
HANDLED = "handled by 'NotifyTrainingFailed' (Lambda) Succeeded, 'CleanupIntermediateData' (Cleanup) Succeeded (cleaned PreprocessEvents, TrainEventsModel)"
POLICY_STATES = {"fail": "failed", "skip": "skipped", "succeed": "success"}


def dag() -> DAG:
    return DAG(unique("dag"), schedule=None, start_date=START)


def cwf_pipeline(synthetic: SyntheticSageMaker, *, started: bool = False, **kwargs: Any) -> tuple[str, str]:
    """A run_conditions_training pipeline whose (next, or already started) execution ends
    CompletedWithFailures: the training failed, its notification and the Cleanup ran."""
    pipeline = unique("cwf")
    synthetic.pipeline(pipeline, v3("run_conditions_training"))
    run = dry_run_execution(v3("run_conditions_training"), TRAIN_FAILED)
    kwargs.setdefault("mlflow", MLFLOW)
    arn = synthetic.execution(pipeline, timeline(run, running_polls=2), started=started, **kwargs)
    return pipeline, arn


def test_start_applies_completed_with_failures_policy_deferred_and_in_the_worker(airflow_db: None, synthetic: SyntheticSageMaker, capfd: Any) -> None:
    with dag() as d:
        for policy in POLICY_STATES:
            for deferrable in (True, False):
                pipeline, _ = cwf_pipeline(synthetic)
                SageMakerPipelineStartOperator(
                    task_id=f"{policy}_{'deferred' if deferrable else 'worker'}", pipeline_name=pipeline, aws_conn_id=SYNTHETIC_CONN_ID,
                    completed_with_failures_policy=policy, deferrable=deferrable, poll_interval=0.01,
                )  # fmt: skip
    run = run_dag(d)
    states = task_states(run)
    for policy, state in POLICY_STATES.items():
        assert states[f"{policy}_deferred"] == state and states[f"{policy}_worker"] == state, states
    output = capfd.readouterr().out
    assert output.count(HANDLED) >= 6  # in the failure, the skip and the warning of every path
    assert "ended CompletedWithFailures; skipping as completed_with_failures_policy='skip'" in output
    assert "succeeding as completed_with_failures_policy='succeed'" in output
    for mode in ("deferred", "worker"):
        result = xcom(run, f"succeed_{mode}")
        assert result["status"] == "CompletedWithFailures" and result["mlflow_config"] == MLFLOW
        assert result["handled_failures"][0]["step"] == "TrainEventsModel"
        assert [h["name"] for h in result["handled_failures"][0]["handlers"]] == ["NotifyTrainingFailed", "CleanupIntermediateData"]
        rows = {r["name"]: r for r in result["steps"]}
        assert rows["CleanupIntermediateData"]["cleanup"]["cleaned_steps"] == ["PreprocessEvents", "TrainEventsModel"]
        assert "EvaluateEventsModel" not in rows  # it never ran: no row
        assert xcom(run, f"fail_{mode}") is None


def test_stopped_policy_does_not_decide_completed_with_failures(airflow_db: None, synthetic: SyntheticSageMaker) -> None:
    pipeline, _ = cwf_pipeline(synthetic)
    with dag() as d:
        SageMakerPipelineStartOperator(task_id="start", pipeline_name=pipeline, aws_conn_id=SYNTHETIC_CONN_ID, stopped_policy="succeed", poll_interval=0.01)
    assert task_states(run_dag(d)) == {"start": "failed"}


def test_retry_operator_applies_the_policy(airflow_db: None, synthetic: SyntheticSageMaker) -> None:
    retried = timeline(dry_run_execution(v3("run_conditions_training"), TRAIN_FAILED))
    failed = dry_run_execution(v3("foreach_literal_regions"), {"BuildRegionReport-1": "Failed"})
    arns = {}
    for policy in ("fail", "succeed"):
        pipeline = unique("retry")
        synthetic.pipeline(pipeline, v3("run_conditions_training"))
        arns[policy] = synthetic.execution(pipeline, [{"status": "Failed", "steps": failed["steps"]}], started=True, on_retry=retried)
    with dag() as d:
        for policy, arn in arns.items():
            SageMakerPipelineRetryOperator(
                task_id=f"retry_{policy}", execution_arn=arn, aws_conn_id=SYNTHETIC_CONN_ID, completed_with_failures_policy=policy,
                deferrable=policy == "fail", poll_interval=0.01,
            )  # fmt: skip
    run = run_dag(d)
    assert task_states(run) == {"retry_fail": "failed", "retry_succeed": "success"}
    assert xcom(run, "retry_succeed")["execution_arn"] == arns["succeed"]
    assert synthetic.count("RetryPipelineExecution") == 2


def test_stop_operator_on_an_execution_that_ended_completed_with_failures(airflow_db: None, synthetic: SyntheticSageMaker, capfd: Any) -> None:
    ended = {}
    for name in ("default", "fail"):
        _, arn = cwf_pipeline(synthetic, started=True)
        synthetic.executions[arn].position = len(synthetic.executions[arn].timeline) - 1  # it already ended
        ended[name] = arn
    _, ending = cwf_pipeline(synthetic, started=True)  # still executing: ends on its own while being stopped
    with dag() as d:
        SageMakerPipelineStopOperator(task_id="ended_default", execution_arn=ended["default"], aws_conn_id=SYNTHETIC_CONN_ID, poll_interval=0.01)
        SageMakerPipelineStopOperator(
            task_id="ended_fail", execution_arn=ended["fail"], aws_conn_id=SYNTHETIC_CONN_ID, completed_with_failures_policy="fail", poll_interval=0.01
        )
        SageMakerPipelineStopOperator(task_id="ending", execution_arn=ending, aws_conn_id=SYNTHETIC_CONN_ID, deferrable=True, poll_interval=0.01)
    run = run_dag(d)
    assert task_states(run) == {"ended_default": "success", "ended_fail": "failed", "ending": "success"}
    assert xcom(run, "ended_default")["status"] == "CompletedWithFailures"
    assert xcom(run, "ending")["status"] == "CompletedWithFailures"
    assert HANDLED in capfd.readouterr().out


def test_for_each_rows_in_xcom_are_plain_json(airflow_db: None, synthetic: SyntheticSageMaker) -> None:
    pipeline = unique("sweep")
    synthetic.pipeline(pipeline, sweep_definition())
    run_ = dry_run_execution(sweep_definition(), {}, step_outputs=sweep_outputs())
    synthetic.execution(pipeline, timeline(run_), mlflow=MLFLOW)
    with dag() as d:
        SageMakerPipelineStartOperator(task_id="start", pipeline_name=pipeline, aws_conn_id=SYNTHETIC_CONN_ID, deferrable=True, poll_interval=0.01)
    run = run_dag(d)
    assert task_states(run) == {"start": "success"}
    result = xcom(run, "start")
    assert json.loads(json.dumps(result)) == result
    rows = {r["name"]: r for r in result["steps"]}
    assert rows["Sweep"]["for_each"]["selected"]["step_name"] == "TrainCandidate-1" and rows["Sweep"]["for_each"]["input_item_count"] == 3
    assert [(rows[f"TrainCandidate-{i}"]["parent"], rows[f"TrainCandidate-{i}"]["index"]) for i in range(3)] == [("Sweep", i) for i in range(3)]
    assert json.loads(rows["TrainCandidate-2"]["item"]) == {"max_depth": 9, "eta": 0.05}
    assert result["handled_failures"] == [] and result["mlflow_config"] == MLFLOW


def test_mlflow_experiment_name_is_templated_and_sent(airflow_db: None, synthetic: SyntheticSageMaker) -> None:
    pipeline = unique("mlflow")
    synthetic.pipeline(pipeline, sweep_definition())
    synthetic.execution(pipeline, timeline(dry_run_execution(sweep_definition(), {}, step_outputs=sweep_outputs())), mlflow=MLFLOW)
    with dag() as d:
        SageMakerPipelineStartOperator(
            task_id="start", pipeline_name=pipeline, aws_conn_id=SYNTHETIC_CONN_ID, mlflow_experiment_name="sweeps-{{ ds_nodash }}",
            wait_for_completion=False,
        )  # fmt: skip
    run = run_dag(d, logical_date=pendulum.datetime(2026, 3, 4, tz="UTC"))
    assert task_states(run) == {"start": "success"}
    assert synthetic.last_request("StartPipelineExecution")["MlflowExperimentName"] == "sweeps-20260304"
    assert xcom(run, "start")["mlflow_config"] == MLFLOW  # from DescribePipelineExecution, without a wait too


@pytest.mark.parametrize("name", ["{{ '' }}", "{{ 'x' * 257 }}"], ids=["empty", "too-long"])
def test_a_bad_mlflow_experiment_name_fails_before_any_call(airflow_db: None, synthetic: SyntheticSageMaker, capfd: Any, name: str) -> None:
    pipeline = unique("mlflow")
    synthetic.pipeline(pipeline, sweep_definition())
    with dag() as d:
        SageMakerPipelineStartOperator(task_id="start", pipeline_name=pipeline, aws_conn_id=SYNTHETIC_CONN_ID, mlflow_experiment_name=name)
    assert task_states(run_dag(d)) == {"start": "failed"}
    assert synthetic.count("DescribePipeline") == 0 and synthetic.count("StartPipelineExecution") == 0
    assert "at mlflow_experiment_name: mlflow_experiment_name has" in capfd.readouterr().out
