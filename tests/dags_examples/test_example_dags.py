"""Every example DAG imports cleanly and runs with dag.test() against the emulator."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_smpipe.assets import model_package_group_asset
from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook
from asset_helpers import asset_event_ids, run_on_asset_events
from native_helpers import REPO_ROOT, run_dag, task_states, unique, wait_for, xcom
from triggered_runs import run_without_logical_date

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
    from airflow_compat import dag_bag_class

    DagBag = dag_bag_class()

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
        "smpipe_deploy_on_upstream_success",
        "smpipe_hp_sweep",
        "smpipe_on_model_registered",
        "smpipe_parallel_launches",
        "smpipe_retrain_abalone",
        "smpipe_selective_rerun",
        "smpipe_wait_for_latest_execution",
    ]


def test_example1_retraining_announces_a_good_model_and_alerts_on_a_bad_one(examples: Any, emulator_scenario: Any, hook: SageMakerPipelineHook) -> None:
    dag = examples["smpipe_retrain_abalone"]
    emulator_scenario(abalone_scenario(4.2))
    good = run_dag(dag, logical_date=pendulum.datetime(2026, 11, 3, tz="UTC"))
    assert task_states(good) == {"upsert_pipeline": "success", "retrain": "success", "announce_model": "success", "alert": "skipped"}
    assert str(good.state) == "success"
    result = xcom(good, "retrain")
    # a backfill or scheduled run retrains on its own day's data
    assert result["parameters"]["InputData"] == "s3://my-ml-bucket/abalone/2026-11-03/abalone-dataset.csv"
    assert hook.describe_execution(result["execution_arn"])["PipelineExecutionDisplayName"] == "retrain-20261103T000000"
    assert xcom(good, "announce_model").startswith("arn:aws:sagemaker:us-east-1:123456789012:model-package/")

    emulator_scenario(abalone_scenario(7.5))  # over the MseThreshold of 6.0: the pipeline's Fail step runs
    bad = run_dag(dag, logical_date=pendulum.datetime(2026, 11, 4, tz="UTC"))
    # the alert ran, and then the run failed: a failed retraining is a failed run, not a green one
    assert task_states(bad) == {"upsert_pipeline": "success", "retrain": "failed", "announce_model": "upstream_failed", "alert": "success"}
    assert str(bad.state) == "failed"
    assert xcom(bad, "upsert_pipeline")["changed"] is False  # same definition: no update call
    assert hook.find_execution(ABALONE, "latest-failed")["PipelineExecutionArn"] == xcom(bad, "retrain", "execution_arn")


def test_example1_a_step_failure_also_fails_the_run_after_alerting(examples: Any, emulator_scenario: Any, hook: SageMakerPipelineHook) -> None:
    """A failed job step (not the evaluation gate), in a run triggered without a logical date."""
    emulator_scenario(abalone_scenario(4.2, TrainAbaloneModel={"fail": {"reason": "AlgorithmError: out of memory"}}))
    run = run_without_logical_date(examples["smpipe_retrain_abalone"])
    assert task_states(run) == {"upsert_pipeline": "success", "retrain": "failed", "announce_model": "upstream_failed", "alert": "success"}
    assert str(run.state) == "failed"
    alert = next(ti for ti in run.get_task_instances() if ti.task_id == "alert")
    assert run.end_date >= alert.end_date  # the run was marked failed once the alert had run
    steps = {s["StepName"]: s["StepStatus"] for s in hook.list_steps(xcom(run, "retrain", "execution_arn"))}
    assert steps["TrainAbaloneModel"] == "Failed"


def test_example1_runs_without_a_logical_date(examples: Any, emulator_scenario: Any, hook: SageMakerPipelineHook) -> None:
    """``airflow dags trigger`` / REST ``{"logical_date": null}``: no ``ds``; the run's day is the day it was triggered."""
    emulator_scenario(abalone_scenario(4.2))
    run = run_without_logical_date(examples["smpipe_retrain_abalone"])
    assert run.logical_date is None
    assert task_states(run) == {"upsert_pipeline": "success", "retrain": "success", "announce_model": "success", "alert": "skipped"}
    assert str(run.state) == "success"
    result = xcom(run, "retrain")
    day = run.run_after.strftime("%Y-%m-%d")
    assert result["parameters"]["InputData"] == f"s3://my-ml-bucket/abalone/{day}/abalone-dataset.csv"
    assert result["parameters"]["BatchData"] == f"s3://my-ml-bucket/abalone/{day}/batch"
    display = hook.describe_execution(result["execution_arn"])["PipelineExecutionDisplayName"]
    assert display == "retrain-" + run.run_after.strftime("%Y%m%dT%H%M%S")


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

    # triggered from the CLI / REST API without a logical date (no {{ ts_nodash }} there)
    untimed = run_without_logical_date(dag, conf={"reference_execution": failed})
    assert untimed.logical_date is None and task_states(untimed) == {"rerun": "success"} and str(untimed.state) == "success"
    described = hook.describe_execution(xcom(untimed, "rerun")["execution_arn"])
    assert described["PipelineExecutionDisplayName"] == "rerun-" + untimed.run_after.strftime("%Y%m%dT%H%M%S")
    assert described["SelectiveExecutionConfig"]["SourcePipelineExecutionArn"] == failed


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
    assert task_states(run) == {"upsert_pipeline": "success", "create_queue": "success", "start": "success", "answer_approval": "success", "wait_for_pipeline": "success"}
    answer = xcom(run, "answer_approval")
    assert answer["answer"] == "success" and answer["output_parameters"] == {"decision": "approve", "score": "0.92"}
    rows = {r["name"]: r for r in xcom(run, "wait_for_pipeline")["steps"]}
    assert rows["Deploy"]["status"] == "Succeeded" and "Rejected" not in rows


def sweep_scenario(**extra: Any) -> dict[str, Any]:
    """Seven candidates (one per day of a weekly interval) with distinct AUCs: candidate 5 is best."""
    aucs = [0.71, 0.74, 0.69, 0.77, 0.72, 0.81, 0.75]
    steps = {f"TrainCandidate-{i}": {"metrics": {"validation:auc": auc}} for i, auc in enumerate(aucs)}
    steps["PrepareFeatures"] = {"files": {"scratch": {"joined.parquet": "x"}}}
    return {"default_step_seconds": 0.05, "steps": {**steps, **extra}}


def test_example7_weekly_sweep_selects_the_best_candidate_and_cleans_up(examples: Any, emulator_scenario: Any, hook: SageMakerPipelineHook) -> None:
    dag = examples["smpipe_hp_sweep"]
    emulator_scenario(sweep_scenario())
    run = run_dag(dag, logical_date=pendulum.datetime(2026, 11, 8, tz="UTC"))
    assert task_states(run) == {"upsert_pipeline": "success", "sweep": "success", "best_candidate": "success"}
    result = xcom(run, "sweep")
    items = json.loads(result["parameters"]["SweepConfigs"])
    assert [i["day"] for i in items] == [f"2026-11-{d:02d}" for d in range(1, 8)]  # the run's interval, a day each
    best = xcom(run, "best_candidate")
    assert best["candidate"] == "TrainCandidate-5" and best["item"]["day"] == "2026-11-06"
    rows = {r["name"]: r for r in result["steps"]}
    assert sum(1 for n in rows if n.startswith("TrainCandidate-")) == 7
    assert rows["CleanupScratch"]["status"] == "Succeeded" and "NotifySweepFailed" not in rows
    assert rows["RegisterBest"]["status"] == "Succeeded"


def test_example7_runs_without_a_logical_date(examples: Any, emulator_scenario: Any, hook: SageMakerPipelineHook) -> None:
    """No data interval: the sweep covers the 7 days before the day the run was triggered."""
    emulator_scenario(sweep_scenario())
    run = run_without_logical_date(examples["smpipe_hp_sweep"])
    assert run.logical_date is None and run.data_interval_start is None
    assert task_states(run) == {"upsert_pipeline": "success", "sweep": "success", "best_candidate": "success"}
    assert str(run.state) == "success"
    result = xcom(run, "sweep")
    today = pendulum.instance(run.run_after).start_of("day")
    expected = [today.subtract(days=7 - i).strftime("%Y-%m-%d") for i in range(7)]
    assert [i["day"] for i in json.loads(result["parameters"]["SweepConfigs"])] == expected
    assert xcom(run, "best_candidate")["item"]["day"] == expected[5]
    display = hook.describe_execution(result["execution_arn"])["PipelineExecutionDisplayName"]
    assert display == "sweep-" + expected[0].replace("-", "")


def test_example7_a_failed_candidate_is_handled_but_fails_the_task(examples: Any, emulator_scenario: Any, hook: SageMakerPipelineHook) -> None:
    dag = examples["smpipe_hp_sweep"]
    emulator_scenario(sweep_scenario(**{"TrainCandidate-2": {"fail": {"reason": "AlgorithmError: out of memory"}}}))
    run = run_dag(dag, logical_date=pendulum.datetime(2026, 11, 15, tz="UTC"))
    assert task_states(run) == {"upsert_pipeline": "success", "sweep": "failed", "best_candidate": "upstream_failed"}
    execution = hook.describe_execution(xcom(run, "sweep", "execution_arn"))
    assert execution["PipelineExecutionStatus"] == "CompletedWithFailures"  # NotifySweepFailed handled it
    steps = {s["StepName"]: s["StepStatus"] for s in hook.list_steps(execution["PipelineExecutionArn"])}
    assert steps["NotifySweepFailed"] == "Succeeded" and steps["CleanupScratch"] == "Succeeded" and "RegisterBest" not in steps


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


def test_example4_runs_without_a_logical_date(examples: Any, emulator_scenario: Any) -> None:
    """Execution.StartDateTime falls back to the run's start when the run has no logical date."""
    emulator_scenario(abalone_scenario(4.2))
    run = run_without_logical_date(examples["smpipe_abalone_translated"])
    assert run.logical_date is None
    states = task_states(run)
    assert states.pop("AbaloneMSEFail") == "skipped" and set(states.values()) == {"success"}
    assert str(run.state) == "success"


def test_example9_reports_packages_registered_by_an_airflow_task_or_seen_by_the_watcher(
    examples: Any, emulator_scenario: Any, hook: SageMakerPipelineHook
) -> None:
    from airflow.models.asset import AssetModel
    from airflow.models.dag import DagModel
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    from airflow_compat import sync_dag_to_db

    dag = examples["smpipe_on_model_registered"]
    asset = model_package_group_asset("AbaloneModelPackageGroupName")
    manual = run_without_logical_date(dag)  # by hand: no event, nothing new
    assert task_states(manual) == {"report_new_models": "success"} and xcom(manual, "report_new_models") == []

    # an Airflow task registered a package: example 4's translated RegisterModel step (a literal group)
    emulator_scenario(abalone_scenario(4.2))
    translated = run_dag(examples["smpipe_abalone_translated"], logical_date=pendulum.datetime(2026, 11, 9, tz="UTC"))
    package = xcom(translated, "RegisterAbaloneModel-RegisterModel")["ModelPackageArn"]
    run = run_on_asset_events(dag, asset_event_ids(asset.name, translated))
    assert task_states(run) == {"report_new_models": "success"}
    (reported,) = xcom(run, "report_new_models")
    assert (reported["model_package_arn"], reported["approval_status"], reported["source"]) == (package, "PendingManualApproval", "task")

    # a pipeline started outside Airflow registered one: SageMaker's event, read by the asset's watcher
    # (its trigger run here on a queue of the emulator's events; Airflow's triggerer hands the event
    # to the example's watcher as Trigger.submit_event)
    queue_url = hook.setup_event_queue(unique("models"))["queue_url"]
    hook.upsert_pipeline(ABALONE, EXAMPLES / "definitions" / "abalone.json", "arn:aws:iam::123456789012:role/SageMakerExecutionRole")
    execution = hook.start_execution(hook.build_start_request(ABALONE, parameters={"ModelApprovalStatus": "Approved"}))
    wait_for(lambda: hook.describe_execution(execution)["PipelineExecutionStatus"] == "Succeeded", what="the abalone execution")
    registered = next(r for r in hook.step_table(execution) if r["type"] == "RegisterModel")["job_arn"]
    trigger = model_package_group_asset("AbaloneModelPackageGroupName", events_queue_url=queue_url).watchers[0].trigger

    async def first_event() -> Any:
        async for event in trigger.run():
            return event

    event = asyncio.run(asyncio.wait_for(first_event(), 60))
    with create_session() as session:  # an active DAG: Airflow registers its asset's watcher trigger
        session.query(DagModel).filter_by(dag_id=dag.dag_id).update({"is_paused": False})
    sync_dag_to_db(dag)
    with create_session() as session:
        (watcher_trigger,) = session.query(AssetModel).filter_by(name=asset.name).one().triggers
        Trigger.submit_event(watcher_trigger.id, event, session=session)
    run = run_on_asset_events(dag, asset_event_ids(asset.name)[-1:])
    (reported,) = xcom(run, "report_new_models")
    assert reported == {
        "model_package_arn": registered,
        "model_package_group": "AbaloneModelPackageGroupName",
        "approval_status": "Approved",
        "execution_arn": execution,
        "pipeline_name": ABALONE,
        "step_name": None,
        "source": "watcher",
    }
