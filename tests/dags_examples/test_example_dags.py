"""Every example DAG imports cleanly and runs with dag.test() against the emulator."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook
from native_helpers import REPO_ROOT, run_dag, task_states, wait_for, xcom

EXAMPLES = REPO_ROOT / "dags_examples"
ABALONE = "smpipe-example-abalone"


def evaluation(mse: float) -> dict[str, Any]:
    """The abalone evaluation step writes this report; the pipeline registers the model when mse <= 6."""
    return {"files": {"evaluation": {"evaluation.json": {"regression_metrics": {"mse": {"value": mse, "standard_deviation": 0.5}}}}}}


def abalone_scenario(mse: float, **steps: Any) -> dict[str, Any]:
    return {"default_step_seconds": 0.05, "steps": {"EvaluateAbaloneModel": evaluation(mse), **steps}}


@pytest.fixture(scope="module")
def examples(airflow_db: None, aws_connection: str) -> Any:
    """The example DAGs, parsed from their files the way the DAG processor does."""
    from airflow.dag_processing.dagbag import DagBag

    os.environ["SMPIPE_EXAMPLE_POLL_SECONDS"] = "0.05"
    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    return bag.dags


@pytest.fixture
def hook(aws_connection: str) -> SageMakerPipelineHook:
    return SageMakerPipelineHook(aws_conn_id="aws_default")


def test_every_example_imports_with_no_errors(examples: Any) -> None:
    assert sorted(examples) == [
        "smpipe_abalone_translated",
        "smpipe_callback_approval",
        "smpipe_parallel_launches",
        "smpipe_retrain_abalone",
        "smpipe_selective_rerun",
        "smpipe_wait_for_latest_execution",
    ]


def test_example1_retraining_announces_a_good_model_and_alerts_on_a_bad_one(examples: Any, emulator_scenario: Any, hook: SageMakerPipelineHook) -> None:
    dag = examples["smpipe_retrain_abalone"]
    emulator_scenario(abalone_scenario(4.2))
    good = run_dag(dag, logical_date=pendulum.datetime(2026, 11, 3, tz="UTC"))
    assert task_states(good) == {"upsert_pipeline": "success", "retrain": "success", "outcome": "success", "announce_model": "success", "alert": "skipped"}
    result = xcom(good, "retrain")
    assert result["parameters"]["InputData"] == "s3://my-ml-bucket/abalone/2026-11-03/abalone-dataset.csv"
    assert xcom(good, "announce_model").startswith("arn:aws:sagemaker:us-east-1:123456789012:model-package/")

    emulator_scenario(abalone_scenario(7.5))  # over the MseThreshold of 6.0: the pipeline's Fail step runs
    bad = run_dag(dag, logical_date=pendulum.datetime(2026, 11, 4, tz="UTC"))
    states = task_states(bad)
    assert states["retrain"] == "failed" and states["alert"] == "success" and states["announce_model"] == "skipped"
    assert xcom(bad, "upsert_pipeline")["changed"] is False  # same definition: no update call
    assert hook.find_execution(ABALONE, "latest-failed")["PipelineExecutionArn"] == xcom(bad, "retrain", "execution_arn")


def test_example2_waits_for_an_execution_started_elsewhere(examples: Any, emulator_scenario: Any, hook: SageMakerPipelineHook) -> None:
    emulator_scenario(abalone_scenario(4.0, PreprocessAbaloneData={"seconds": 1.0}))
    hook.upsert_pipeline(ABALONE, EXAMPLES / "definitions" / "abalone.json", "arn:aws:iam::123456789012:role/SageMakerExecutionRole")
    arn = hook.start_execution(hook.build_start_request(ABALONE))  # e.g. an EventBridge schedule
    run = run_dag(examples["smpipe_wait_for_latest_execution"])
    assert task_states(run) == {"wait_for_latest_execution": "success", "publish_report": "success"}
    assert xcom(run, "wait_for_latest_execution", "execution_arn") == arn
    assert xcom(run, "publish_report")["TrainAbaloneModel"] == "Succeeded"


def test_example3_selective_rerun_from_the_trigger_form(examples: Any, emulator_scenario: Any, hook: SageMakerPipelineHook) -> None:
    hook.upsert_pipeline(ABALONE, EXAMPLES / "definitions" / "abalone.json", "arn:aws:iam::123456789012:role/SageMakerExecutionRole")
    emulator_scenario(abalone_scenario(4.0, TrainAbaloneModel={"fail": {"reason": "AlgorithmError: out of memory", "attempts": [1]}}))
    failed = hook.start_execution(hook.build_start_request(ABALONE))
    wait_for(lambda: hook.describe_execution(failed)["PipelineExecutionStatus"] == "Failed", what="the failed reference execution")
    emulator_scenario(abalone_scenario(4.0))
    dag = examples["smpipe_selective_rerun"]

    selected = run_dag(dag)  # the form's defaults: Train + Evaluate against the latest failed execution
    assert task_states(selected) == {"rerun": "success"}
    rows = {r["name"]: r for r in xcom(selected, "rerun")["steps"]}
    assert rows["PreprocessAbaloneData"]["reused_from"] == failed
    assert {"TrainAbaloneModel", "EvaluateAbaloneModel"} <= {n for n, r in rows.items() if r["status"] == "Succeeded" and not r["reused_from"]}

    rerun_failed = run_dag(dag, run_conf={"rerun_failed_steps": True, "reference_execution": failed})
    assert task_states(rerun_failed) == {"rerun": "success"}
    described = hook.describe_execution(xcom(rerun_failed, "rerun")["execution_arn"])
    selected_steps = [s["StepName"] for s in described["SelectiveExecutionConfig"]["SelectedSteps"]]
    assert selected_steps[0] == "TrainAbaloneModel" and "CheckMSEAbaloneEvaluation" in selected_steps
    assert "PreprocessAbaloneData" not in selected_steps


def test_example5_parallel_launches_report_every_execution(examples: Any, emulator_scenario: Any, hook: SageMakerPipelineHook) -> None:
    hook.upsert_pipeline(ABALONE, EXAMPLES / "definitions" / "abalone.json", "arn:aws:iam::123456789012:role/SageMakerExecutionRole")
    emulator_scenario(abalone_scenario(4.5))  # the third set's threshold is 3.0: only it fails
    run = run_dag(examples["smpipe_parallel_launches"])
    launches = sorted((ti.map_index, str(ti.state)) for ti in run.get_task_instances() if ti.task_id == "launch")
    assert launches == [(0, "success"), (1, "success"), (2, "failed")]
    summary = xcom(run, "summarize")
    assert [row["status"] for row in summary] == ["Succeeded", "Succeeded", "Failed"]
    assert len({row["execution_arn"] for row in summary}) == 3


def test_example6_callback_answered_by_an_airflow_task(examples: Any, emulator_scenario: Any, hook: SageMakerPipelineHook) -> None:
    emulator_scenario({"default_step_seconds": 0.05})
    run = run_dag(examples["smpipe_callback_approval"])
    assert task_states(run) == {"upsert_pipeline": "success", "start": "success", "answer_approval": "success", "wait_for_pipeline": "success"}
    answer = xcom(run, "answer_approval")
    assert answer["answer"] == "success" and answer["output_parameters"] == {"decision": "approve", "score": "0.92"}
    rows = {r["name"]: r for r in xcom(run, "wait_for_pipeline")["steps"]}
    assert rows["Deploy"]["status"] == "Succeeded" and "Rejected" not in rows


def test_example_files_have_docstrings(examples: Any) -> None:
    for path in sorted(EXAMPLES.glob("*.py")):
        assert Path(path).read_text().startswith('"""Example '), path.name


def test_example4_translated_abalone_both_ways(examples: Any, emulator_scenario: Any) -> None:
    dag = examples["smpipe_abalone_translated"]
    emulator_scenario(abalone_scenario(4.2))
    good = run_dag(dag, logical_date=pendulum.datetime(2026, 11, 5, tz="UTC"))
    states = task_states(good)
    assert states.pop("AbaloneMSEFail") == "skipped" and set(states.values()) == {"success"}
    # Backfill-friendly: Execution.StartDateTime is the run's logical date in this example.
    assert xcom(good, "CheckMSEAbaloneEvaluation") == {"Outcome": True}
    emulator_scenario(abalone_scenario(7.5))
    bad = run_dag(dag, logical_date=pendulum.datetime(2026, 11, 6, tz="UTC"))
    assert task_states(bad)["AbaloneMSEFail"] == "failed" and task_states(bad)["AbaloneTransform"] == "skipped"
