"""Sensors on today's service responses (scripted endpoint, real HTTP; the emulator does not produce
them yet): ``CompletedWithFailures`` under each policy, deferred and poking; the step sensor on a
ForEach, on one of its children, and on a body step's own name (refused at once)."""

from __future__ import annotations

from typing import Any

import pendulum

from airflow.sdk import DAG

from airflow_provider_smpipe.sensors.pipeline import SageMakerPipelineExecutionSensor, SageMakerPipelineStepSensor
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

POLICY_STATES = {"fail": "failed", "skip": "skipped", "succeed": "success"}
TRAIN_FAILED = {"TrainEventsModel": {"status": "Failed", "reason": "AlgorithmError: loss is NaN"}}


def dag() -> DAG:
    return DAG(unique("dag"), schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))


def started(synthetic: SyntheticSageMaker, document: dict[str, Any], run: dict[str, Any]) -> str:
    pipeline = unique("sense")
    synthetic.pipeline(pipeline, document)
    return synthetic.execution(pipeline, timeline(run, running_polls=2), started=True)


def test_execution_sensor_applies_completed_with_failures_policy(airflow_db: None, synthetic: SyntheticSageMaker, capfd: Any) -> None:
    run_ = dry_run_execution(v3("run_conditions_training"), TRAIN_FAILED)
    with dag() as d:
        for policy in POLICY_STATES:
            for deferrable in (True, False):
                SageMakerPipelineExecutionSensor(
                    task_id=f"{policy}_{'deferred' if deferrable else 'poke'}", execution_arn=started(synthetic, v3("run_conditions_training"), run_),
                    aws_conn_id=SYNTHETIC_CONN_ID, completed_with_failures_policy=policy, deferrable=deferrable, poke_interval=0.01,
                )  # fmt: skip
    run = run_dag(d)
    states = task_states(run)
    for policy, state in POLICY_STATES.items():
        assert states[f"{policy}_deferred"] == state and states[f"{policy}_poke"] == state, states
    for mode in ("deferred", "poke"):  # the same XCom from both paths
        result = xcom(run, f"succeed_{mode}")
        assert result["status"] == "completed_with_failures" and result["execution_status"] == "CompletedWithFailures"
        assert [h["name"] for h in result["handled_failures"][0]["handlers"]] == ["NotifyTrainingFailed", "CleanupIntermediateData"]
    assert capfd.readouterr().out.count("handled by 'NotifyTrainingFailed' (Lambda) Succeeded") >= 6


def test_step_sensor_on_a_child_a_for_each_and_a_body_step(airflow_db: None, synthetic: SyntheticSageMaker, capfd: Any) -> None:
    run_ = dry_run_execution(sweep_definition(), {}, step_outputs=sweep_outputs())
    with dag() as d:
        for deferrable in (True, False):
            mode = "deferred" if deferrable else "poke"
            common = {"aws_conn_id": SYNTHETIC_CONN_ID, "deferrable": deferrable, "poke_interval": 0.01}
            SageMakerPipelineStepSensor(task_id=f"child_{mode}", execution_arn=started(synthetic, sweep_definition(), run_), step_name="TrainCandidate-2", **common)
            SageMakerPipelineStepSensor(task_id=f"for_each_{mode}", execution_arn=started(synthetic, sweep_definition(), run_), step_name="Sweep", **common)
            SageMakerPipelineStepSensor(task_id=f"body_{mode}", execution_arn=started(synthetic, sweep_definition(), run_), step_name="TrainCandidate", **common)
    run = run_dag(d)
    states = task_states(run)
    for mode in ("deferred", "poke"):
        assert (states[f"child_{mode}"], states[f"for_each_{mode}"], states[f"body_{mode}"]) == ("success", "success", "failed"), states
        child = xcom(run, f"child_{mode}")["step"]
        assert (child["name"], child["parent"], child["index"], child["status"]) == ("TrainCandidate-2", "Sweep", 2, "Succeeded")
        assert xcom(run, f"for_each_{mode}")["step"]["for_each"]["selected"]["step_name"] == "TrainCandidate-1"
    output = capfd.readouterr().out
    assert output.count("cannot wait for step 'TrainCandidate'") >= 2
    assert "wait for one child, or for the ForEach 'Sweep'" in output
