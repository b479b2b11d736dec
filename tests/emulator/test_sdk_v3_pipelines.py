"""SDK v3 pipelines on the emulator: ForEach fan-out, run conditions, Cleanup, EMR Serverless, Job
and MlflowConfig, end to end through a shape-validated client (strict server)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from emulator_helpers import Pipelines, definition_with, training_step, wait_for

V3 = Path(__file__).resolve().parents[1] / "fixtures" / "definitions_v3"
FAST = {"default_step_seconds": 0.02, "time_scale": 0.001}


def v3(name: str) -> dict[str, Any]:
    return json.loads((V3 / f"{name}.json").read_text())


def statuses(pipelines: Pipelines, arn: str) -> dict[str, str]:
    return {name: row["StepStatus"] for name, row in pipelines.steps(arn).items()}


def run(pipelines: Pipelines, document: dict[str, Any], prefix: str, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    name = pipelines.create(document, prefix)
    arn = pipelines.start(name, **kwargs)
    return arn, pipelines.wait(arn, timeout=30)


# -- ForEach ---------------------------------------------------------------------------------------


def test_foreach_fixture_children_metadata_and_later_reads(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario(FAST)
    arn, described = run(pipelines, v3("foreach_literal_regions"), "regions")
    assert described["PipelineExecutionStatus"] == "Succeeded"
    rows = pipelines.steps(arn)
    assert set(rows) == {"PrepareRegions", "RegionalReports", "BuildRegionReport-0", "BuildRegionReport-1", "BuildRegionReport-2", "PublishReportIndex"}
    child = rows["BuildRegionReport-2"]
    assert child["IterationContext"] == {
        "ParentStepName": "RegionalReports", "Index": 2, "Item": '{"region": "ap", "input": "s3://example-v3-ml-artifacts/raw/ap/"}',
    }
    assert "ProcessingJob" in child["Metadata"]
    assert rows["RegionalReports"]["Metadata"]["ForEach"] == {
        "Status": "Succeeded", "InputItemCount": 3, "TotalStepCount": 3, "SucceededStepCount": 3, "FailedStepCount": 0, "StoppedStepCount": 0,
    }
    state = pipelines.step_state(arn)
    request = state["BuildRegionReport-2"]["request"]
    assert request["AppSpecification"]["ContainerArguments"][:2] == ["--region", "ap"]
    execution_id = arn.rsplit("/", 1)[1]
    published = state["PublishReportIndex"]["request"]["Payload"]
    assert published["first_report"] == f"s3://example-v3-ml-artifacts/reports/{execution_id}/us"
    assert published["item_count"] == 3 and published["status"] == "Succeeded" and published["succeeded"] == 3


def sweep(items: int, concurrency: int, *, selector: bool = True, handler: bool = True) -> dict[str, Any]:
    body = training_step("Train")
    body["Arguments"]["HyperParameters"] = {"depth": {"Std:Join": {"On": "", "Values": [{"Get": "ForEach.CurrentItem.depth"}]}}}
    arguments: dict[str, Any] = {
        "IterableItems": {"Get": "Parameters.Configs"},
        "MaxConcurrency": concurrency,
        "ForEachBody": [body],
    }
    if selector:
        arguments["Selector"] = {"Pick": "MaxBy", "Field": {"Get": "IterationOutput.Train.FinalMetricDataList['auc'].Value"}}
    steps: list[dict[str, Any]] = [
        {"Name": "Sweep", "Type": "ForEach", "Arguments": arguments},
        {"Name": "Best", "Type": "Lambda", "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:best",
         "Arguments": {"job": {"Get": "Steps.Sweep.Selected.TrainingJobName"} if selector else {"Get": "Steps.Sweep.Status"}}, "OutputParameters": []},
    ]
    if handler:
        steps.append({"Name": "OnFailure", "Type": "Lambda", "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:notify",
                      "Arguments": {"failed": {"Get": "Steps.Sweep.FailedStepCount"}}, "OutputParameters": [],
                      "DependsOn": [{"Step": "Sweep", "Trigger": "Failed"}]})
    configs = json.dumps([{"depth": d} for d in range(items)])
    return definition_with(steps, [{"Name": "Configs", "Type": "String", "DefaultValue": configs}])


def overlap(state: dict[str, dict[str, Any]], names: list[str]) -> int:
    """The most of ``names`` that ran at the same time (from the recorded step times)."""
    events = sorted([(state[n]["start_time"], 1) for n in names] + [(state[n]["end_time"], -1) for n in names])
    most = current = 0
    for _, change in events:
        current += change
        most = max(most, current)
    return most


def test_max_concurrency_is_respected_and_the_selector_picks(pipelines: Pipelines, emulator_scenario: Any) -> None:
    metrics = {f"Train-{i}": {"seconds": 0.15, "metrics": {"auc": 0.5 + (i % 3) / 10 + i / 1000}} for i in range(6)}
    emulator_scenario({**FAST, "steps": metrics})
    arn, described = run(pipelines, sweep(6, 2), "sweep")
    assert described["PipelineExecutionStatus"] == "Succeeded"
    state = pipelines.step_state(arn)
    children = [f"Train-{i}" for i in range(6)]
    assert set(children) <= set(state)
    assert overlap(state, children) == 2
    metadata = pipelines.steps(arn)["Sweep"]["Metadata"]["ForEach"]
    assert metadata["Selector"] == {"StepName": "Train-5", "Index": 5}  # auc 0.705, the largest
    assert state["Best"]["request"]["Payload"]["job"] == state["Train-5"]["job_name"]
    assert "OnFailure" not in state  # its run condition never held: no row


def test_execution_parallelism_also_caps_children(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario({**FAST, "steps": {"Train": {"seconds": 0.15}}})
    arn, described = run(pipelines, sweep(4, 4, selector=False), "capped", ParallelismConfiguration={"MaxParallelExecutionSteps": 1})
    assert described["PipelineExecutionStatus"] == "Succeeded"
    state = pipelines.step_state(arn)
    assert overlap(state, [f"Train-{i}" for i in range(4)]) == 1


def test_a_failed_child_fails_the_for_each_and_its_handler_runs(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario({**FAST, "steps": {"Train": {"seconds": 0.1}, "Train-1": {"seconds": 0.02, "fail": {"reason": "AlgorithmError: NaN"}}}})
    arn, described = run(pipelines, sweep(5, 2, selector=False), "childfail")
    assert described["PipelineExecutionStatus"] == "CompletedWithFailures"
    assert "FailureReason" not in described
    got = statuses(pipelines, arn)
    assert got["Train-1"] == "Failed" and got["Train-0"] == "Succeeded"  # already running: it finished
    assert not any(f"Train-{i}" in got for i in (2, 3, 4))  # no new child started after the failure
    assert got["Sweep"] == "Failed" and got["OnFailure"] == "Succeeded" and "Best" not in got
    meta = pipelines.steps(arn)["Sweep"]["Metadata"]["ForEach"]
    assert (meta["Status"], meta["TotalStepCount"], meta["FailedStepCount"], meta["SucceededStepCount"]) == ("Failed", 2, 1, 1)
    assert pipelines.step_state(arn)["OnFailure"]["request"]["Payload"] == {"failed": 1}


def test_without_a_handler_a_failed_child_fails_the_execution_and_retry_reruns_only_failed_children(pipelines: Pipelines, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario({**FAST, "steps": {"Train-2": {"fail": {"reason": "capacity", "attempts": [1]}}}})
    name = pipelines.create(sweep(3, 3, selector=False, handler=False), "retryfe")
    arn = pipelines.start(name)
    described = pipelines.wait(arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "Step failure: One or multiple steps failed."
    first = pipelines.step_state(arn)
    sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="r" * 32)
    assert pipelines.wait(arn)["PipelineExecutionStatus"] == "Succeeded"
    rows = pipelines.steps(arn)
    assert rows["Train-2"]["AttemptCount"] == 2 and rows["Train-0"]["AttemptCount"] == 1
    second = pipelines.step_state(arn)
    assert second["Train-0"]["job_name"] == first["Train-0"]["job_name"]  # kept its outputs
    assert rows["Sweep"]["StepStatus"] == "Succeeded" and rows["Best"]["StepStatus"] == "Succeeded"


def test_stopping_an_execution_stops_its_running_children(pipelines: Pipelines, emulator_scenario: Any, sm: Any, emulator: Any) -> None:
    emulator_scenario({**FAST, "steps": {"Train": {"seconds": 30}}})
    name = pipelines.create(sweep(4, 2, selector=False, handler=False), "stopfe")
    arn = pipelines.start(name)
    wait_for(lambda: sum(1 for s in pipelines.execution_state(arn)["steps"] if s["name"].startswith("Train-")) == 2, what="two running children")
    sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="s" * 32)
    assert pipelines.wait(arn)["PipelineExecutionStatus"] == "Stopped"
    got = statuses(pipelines, arn)
    assert got["Train-0"] == got["Train-1"] == "Stopped" and "Train-2" not in got
    assert got["Sweep"] == "Stopped"


def test_bad_runtime_items_fail_the_for_each_with_a_located_reason(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario(FAST)
    arn, described = run(pipelines, sweep(2, 2, selector=False, handler=False), "baditems", parameters={"Configs": "not json"})
    assert described["PipelineExecutionStatus"] == "Failed"
    row = pipelines.steps(arn)["Sweep"]
    assert row["StepStatus"] == "Failed" and "IterableItems resolved to a string that is not JSON" in row["FailureReason"]


def test_selective_execution_of_a_for_each_runs_all_its_children(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario(FAST)
    document = v3("foreach_literal_regions")
    name = pipelines.create(document, "selfe")
    source = pipelines.run(name)
    arn = pipelines.start(name, SelectiveExecutionConfig={"SourcePipelineExecutionArn": source, "SelectedSteps": [{"StepName": "RegionalReports"}]})
    assert pipelines.wait(arn)["PipelineExecutionStatus"] == "Succeeded"
    rows = pipelines.steps(arn)
    assert {n for n in rows if n.startswith("BuildRegionReport-")} == {"BuildRegionReport-0", "BuildRegionReport-1", "BuildRegionReport-2"}
    assert rows["PrepareRegions"]["SelectiveExecutionResult"]["SourcePipelineExecutionArn"] == source
    assert "PublishReportIndex" not in rows


# -- run conditions and Cleanup --------------------------------------------------------------------


def put(emulator: Any, uri: str, body: str = "x") -> None:
    bucket, key = uri[5:].split("/", 1)
    s3 = emulator.client("s3")
    try:
        s3.create_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - it exists
        pass
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())


def keys(emulator: Any, bucket: str, prefix: str) -> set[str]:
    pages = emulator.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {f"s3://{bucket}/{item['Key']}" for page in pages for item in page.get("Contents", [])}


def test_run_conditions_training_fails_handled_cleanup_deletes_exactly_what_it_names(pipelines: Pipelines, emulator_scenario: Any, emulator: Any) -> None:
    emulator_scenario({**FAST, "steps": {
        # what preprocessing writes to its scratch output: the file the Cleanup names, and one it does not
        "PreprocessEvents": {"files": {"scratch": {"joined.parquet": "x", "keep.parquet": "y"}}},
        "TrainEventsModel": {"fail": {"reason": "AlgorithmError: loss is NaN"}},
    }})
    arn, described = run(pipelines, v3("run_conditions_training"), "resilient")
    execution_id = arn.rsplit("/", 1)[1]
    base = f"s3://example-v3-ml-artifacts/events/{execution_id}"
    assert described["PipelineExecutionStatus"] == "CompletedWithFailures"
    got = statuses(pipelines, arn)
    assert got == {
        "PreprocessEvents": "Succeeded", "TrainEventsModel": "Failed", "NotifyTrainingFailed": "Succeeded",
        "ReportRunOutcome": "Succeeded", "CleanupIntermediateData": "Succeeded",
    }  # EvaluateEventsModel and NotifyTrainingStopped never held: no rows
    cleanup = pipelines.steps(arn)["CleanupIntermediateData"]["Metadata"]["Cleanup"]
    assert cleanup == {"CleanedSteps": ["PreprocessEvents", "TrainEventsModel"], "FailedSteps": [], "SkippedSteps": []}
    assert keys(emulator, "example-v3-ml-artifacts", f"events/{execution_id}/scratch/") == {f"{base}/scratch/keep.parquet"}
    notes = " ".join(pipelines.step_state(arn)["CleanupIntermediateData"]["notes"])
    assert f"{base}/scratch/joined.parquet" in notes


def test_cleanup_deletes_a_training_jobs_outputs_after_a_failed_sibling(pipelines: Pipelines, emulator_scenario: Any, emulator: Any) -> None:
    # Train runs long enough for the test to put its artifact before Cleanup runs, even on a loaded
    # CI machine (0.6 s lost that race there).
    emulator_scenario({**FAST, "steps": {"Prep": {"fail": {"reason": "boom"}}, "Train": {"seconds": 5.0}}})
    train = training_step("Train", output="s3://clean-bucket/models")
    steps = [
        training_step("Prep", output="s3://clean-bucket/prep"),
        train,
        {"Name": "Clean", "Type": "Cleanup", "Arguments": {"Resources": {"S3": [{"StepName": "Train"}, {"StepName": "Prep"}]}},
         "DependsOn": [{"Step": "Train", "Trigger": "Any"}, {"Step": "Prep", "Trigger": "Any"}]},
        {"Name": "AfterPrep", "Type": "Lambda", "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f", "Arguments": {}, "OutputParameters": [],
         "DependsOn": ["Prep"]},
    ]
    name = pipelines.create(definition_with(steps), "cleantrain")
    arn = pipelines.start(name)
    job = wait_for(lambda: pipelines.step_state(arn).get("Train", {}).get("job_name"), what="the training job name")
    put(emulator, f"s3://clean-bucket/models/{job}/output/model.tar.gz")
    put(emulator, "s3://clean-bucket/models/other-job/output/model.tar.gz")
    assert pipelines.wait(arn)["PipelineExecutionStatus"] == "CompletedWithFailures"
    meta = pipelines.steps(arn)["Clean"]["Metadata"]["Cleanup"]
    # Prep failed but ran: its job exists and its request locates its outputs, so it is cleaned too
    assert meta == {"CleanedSteps": ["Train", "Prep"], "FailedSteps": [], "SkippedSteps": []}
    assert keys(emulator, "clean-bucket", "models/") == {"s3://clean-bucket/models/other-job/output/model.tar.gz"}
    assert "AfterPrep" not in statuses(pipelines, arn)


@pytest.mark.parametrize(("script", "ran", "status"), [
    ({}, {"OnAny", "OnCompleted"}, "Succeeded"),
    ({"fail": {"reason": "boom"}}, {"OnAny", "OnFailed"}, "CompletedWithFailures"),
    ({"stopped": True}, {"OnAny", "OnStopped"}, "CompletedWithFailures"),
])
def test_each_trigger(pipelines: Pipelines, emulator_scenario: Any, script: dict[str, Any], ran: set[str], status: str) -> None:
    emulator_scenario({**FAST, "steps": {"A": script}})

    def notify(name: str, trigger: str | None) -> dict[str, Any]:
        depends: list[Any] = ["A"] if trigger is None else [{"Step": "A", "Trigger": trigger}]
        return {"Name": name, "Type": "Lambda", "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f", "Arguments": {}, "OutputParameters": [], "DependsOn": depends}

    steps = [training_step("A"), notify("OnCompleted", None), notify("OnFailed", "Failed"), notify("OnStopped", "Stopped"), notify("OnAny", "Any")]
    arn, described = run(pipelines, definition_with(steps), "trig")
    assert described["PipelineExecutionStatus"] == status
    assert set(statuses(pipelines, arn)) - {"A"} == ran


def test_an_unhandled_failure_keeps_the_old_rule(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario({**FAST, "steps": {"A": {"fail": {"reason": "boom"}}, "Slow": {"seconds": 0.2}}})
    steps = [training_step("A"), training_step("Slow"), training_step("Later", depends_on=["Slow"])]
    arn, described = run(pipelines, definition_with(steps), "unhandled")
    assert described["PipelineExecutionStatus"] == "Failed"
    assert "Later" not in statuses(pipelines, arn)


# -- EMR Serverless, Job, MlflowConfig -------------------------------------------------------------


def test_emr_serverless_fixture_on_a_new_and_an_unknown_application(pipelines: Pipelines, emulator_scenario: Any, emulator: Any) -> None:
    emulator_scenario(FAST)
    arn, described = run(pipelines, v3("emr_serverless_features"), "spark")
    assert described["PipelineExecutionStatus"] == "Succeeded"
    assert described["MLflowConfig"] == {
        "MlflowResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-example-v3", "MlflowExperimentName": "spark-features",
    }
    rows = pipelines.steps(arn)
    created = rows["SparkAggregates"]["Metadata"]["EMRServerless"]
    run_ = emulator.client("emr-serverless").get_job_run(applicationId=created["ApplicationId"], jobRunId=created["JobRunId"])["jobRun"]
    assert run_["state"] == "SUCCESS" and run_["jobDriver"]["sparkSubmit"]["entryPointArguments"] == ["--date", "2025-01-15"]
    existing = rows["SparkFeatures"]["Metadata"]["EMRServerless"]
    assert existing["ApplicationId"] == "00fexamplev3app01" and existing["JobRunName"] == "example-feature-build"
    assert existing["LogFilePath"].startswith("s3://example-v3-ml-artifacts/spark/logs/applications/00fexamplev3app01/jobs/")
    assert "NotifySparkFailure" not in rows


def test_emr_serverless_failure_is_scripted_and_the_conjunction_rule_holds(pipelines: Pipelines, emulator_scenario: Any, emulator: Any) -> None:
    emulator_scenario({**FAST, "steps": {"SparkAggregates": {"fail": {"reason": "Spark job failed: OOM"}}}})
    arn, described = run(pipelines, v3("emr_serverless_features"), "sparkfail")
    # NotifySparkFailure declares Failed on *both* Spark steps: all entries must hold, and
    # SparkFeatures succeeded, so it never runs and the failure stays unhandled.
    assert described["PipelineExecutionStatus"] == "Failed"
    rows = pipelines.steps(arn)
    assert rows["SparkAggregates"]["StepStatus"] == "Failed" and rows["SparkAggregates"]["FailureReason"] == "Spark job failed: OOM"
    meta = rows["SparkAggregates"]["Metadata"]["EMRServerless"]
    assert emulator.client("emr-serverless").get_job_run(applicationId=meta["ApplicationId"], jobRunId=meta["JobRunId"])["jobRun"]["state"] == "FAILED"
    assert "NotifySparkFailure" not in rows
    # TrainOnFeatures never ran: its Cleanup on Any skips it
    assert rows["CleanupTrainingOutput"]["Metadata"]["Cleanup"]["SkippedSteps"] == ["TrainOnFeatures"]


def test_job_fixture_and_mlflow_experiment_override(pipelines: Pipelines, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario(FAST)
    arn, described = run(pipelines, v3("job_step_agent_rft"), "rft", MlflowExperimentName="override-exp")
    assert described["PipelineExecutionStatus"] == "Succeeded"
    assert described["MLflowConfig"]["MlflowExperimentName"] == "override-exp"
    rows = pipelines.steps(arn)
    job_arn = rows["AgentRft"]["Metadata"]["Job"]["Arn"]
    job = sm.describe_job(JobName=job_arn.rsplit("/", 1)[1], JobCategory="AgentRFT")
    assert job["JobStatus"] == "Completed" and job["JobCategory"] == "AgentRFT"
    document = json.loads(job["JobConfigDocument"])
    assert document["OutputDataConfig"]["S3OutputPath"] == f"s3://example-v3-ml-artifacts/agent-rft/output/{arn.rsplit('/', 1)[1]}/"
    published = pipelines.step_state(arn)["PublishAgentModel"]["request"]["Payload"]
    assert published["job_status"] == "Completed" and published["job_arn"] == job_arn
    assert "NotifyAgentRftFailed" not in rows


def test_job_step_failure_with_retry_policy(pipelines: Pipelines, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario({**FAST, "steps": {"AgentRft": {"fail": {"reason": "ResourceLimitExceeded", "attempts": [1], "exception_type": "SageMaker.RESOURCE_LIMIT"}}}})
    arn, described = run(pipelines, v3("job_step_agent_rft"), "rftretry")
    assert described["PipelineExecutionStatus"] == "Succeeded"
    assert pipelines.steps(arn)["AgentRft"]["AttemptCount"] == 2
    emulator_scenario({**FAST, "steps": {"AgentRft": {"fail": {"reason": "AgentError: reward collapsed"}}}})
    arn, described = run(pipelines, v3("job_step_agent_rft"), "rftfail")
    assert described["PipelineExecutionStatus"] == "CompletedWithFailures"
    rows = pipelines.steps(arn)
    assert rows["AgentRft"]["FailureReason"] == "AgentError: reward collapsed"
    job = sm.describe_job(JobName=rows["AgentRft"]["Metadata"]["Job"]["Arn"].rsplit("/", 1)[1], JobCategory="AgentRFT")
    assert job["JobStatus"] == "Failed" and job["FailureReason"] == "AgentError: reward collapsed"
    assert rows["NotifyAgentRftFailed"]["StepStatus"] == "Succeeded" and "PublishAgentModel" not in rows


def test_classic_steps_written_by_sdk_v3_run(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario({
        "default_step_seconds": 0.02,
        "steps": {"EvaluateChurnV3": {"files": {"evaluation": {"evaluation.json": {"binary_classification_metrics": {"auc": {"value": 0.91}}}}}}},
    })
    arn, described = run(pipelines, v3("classic_churn_v3"), "churn-v3")
    assert described["PipelineExecutionStatus"] == "Succeeded"
    assert "MLflowConfig" not in described  # MlflowConfig: null
    steps = pipelines.steps(arn)
    assert steps["CheckChurnAucV3"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert {"CreateChurnModelV3", "RegisterChurnModelV3", "BatchScoreChurnV3"} <= set(steps)
    assert "ChurnAucTooLowV3" not in steps


def test_cache_hits_children_of_a_second_run(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario(FAST)
    document = sweep(2, 2, selector=False, handler=False)
    body = document["Steps"][0]["Arguments"]["ForEachBody"][0]
    body["CacheConfig"] = {"Enabled": True, "ExpireAfter": "P1D"}
    body["Arguments"]["OutputDataConfig"]["S3OutputPath"] = "s3://cache-bucket/models"  # the same request in both runs
    name = pipelines.create(copy.deepcopy(document), "cachefe")
    first = pipelines.run(name)
    second = pipelines.run(name)
    rows = pipelines.steps(second)
    assert rows["Train-0"]["CacheHitResult"]["SourcePipelineExecutionArn"] == first
    assert rows["Train-1"]["CacheHitResult"]["SourcePipelineExecutionArn"] == first



def test_a_selector_error_fails_the_for_each_and_its_handler_reads_the_aggregates(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario(FAST)  # no metrics: the Selector's field is missing in every child
    arn, described = run(pipelines, sweep(2, 2), "selerr")
    assert described["PipelineExecutionStatus"] == "CompletedWithFailures"
    rows = pipelines.steps(arn)
    assert rows["Sweep"]["StepStatus"] == "Failed"
    assert "FinalMetricDataList" in rows["Sweep"]["FailureReason"]  # what the Selector could not find
    assert rows["Sweep"]["Metadata"]["ForEach"]["Status"] == "Failed" and rows["Sweep"]["Metadata"]["ForEach"]["SucceededStepCount"] == 2
    assert rows["OnFailure"]["StepStatus"] == "Succeeded"
    assert pipelines.step_state(arn)["OnFailure"]["request"]["Payload"] == {"failed": 0}
