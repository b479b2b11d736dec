"""The dry-run of today's constructs: ForEach fan-out and Selector, run conditions (each trigger),
Cleanup, step statuses, and the new property roots (EMR Serverless ``jobRun``, a Job's document)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from definition_helpers import cleanup, definition, for_each, get, join, lambda_step, on, processing, training, v3_path

from airflow_provider_smpipe.definition.dryrun import EXECUTED, NOT_EXECUTED, DryRunInputs, dry_run
from airflow_provider_smpipe.definition.errors import InvalidDefinitionError, ResolutionError
from airflow_provider_smpipe.definition.loader import load_definition

EXECUTION = {"PipelineExecutionId": "exec123", "PipelineName": "p", "StartDateTime": "2026-01-01T00:00:00+00:00"}


def walk(steps: list[dict[str, Any]], declared: list[dict[str, Any]] | None = None, **inputs: Any) -> dict[str, Any]:
    inputs.setdefault("execution", EXECUTION)
    return dry_run(load_definition(definition(steps, declared)), DryRunInputs(**inputs))


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {name: step["status"] for name, step in report["steps"].items()}


def train_body(name: str = "Train", **extra: Any) -> dict[str, Any]:
    step = training(name, **extra)
    step["Arguments"]["HyperParameters"] = {"depth": get("ForEach.CurrentItem.depth")}
    return step


# -- ForEach ---------------------------------------------------------------------------------------


def test_literal_items_fixture_children_and_what_later_steps_read() -> None:
    report = dry_run(load_definition(v3_path("foreach_literal_regions")), DryRunInputs(execution=EXECUTION))
    children = [n for n in report["order"] if n.startswith("BuildRegionReport-")]
    assert children == ["BuildRegionReport-0", "BuildRegionReport-1", "BuildRegionReport-2"]
    assert report["order"].index("RegionalReports") < report["order"].index("BuildRegionReport-0")
    assert "BuildRegionReport" not in report["steps"]  # the body step itself never runs
    child = report["steps"]["BuildRegionReport-2"]
    assert (child["parent"], child["index"]) == ("RegionalReports", 2)
    assert json.loads(child["item"]) == {"region": "ap", "input": "s3://example-v3-ml-artifacts/raw/ap/"}  # from the parameter
    args = child["arguments"]
    assert args["AppSpecification"]["ContainerArguments"] == ["--region", "ap", "--date", "2025-01-15"]
    assert args["ProcessingInputs"][0]["S3Input"]["S3Uri"] == "s3://example-v3-ml-artifacts/raw/ap/"
    assert args["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == "s3://example-v3-ml-artifacts/reports/exec123/ap"
    assert child["job_name"].startswith("pipelines-exec123-BuildRegionReport-2-")
    loop = report["steps"]["RegionalReports"]
    assert loop["metadata"] == {
        "Status": "Succeeded", "InputItemCount": 3, "TotalStepCount": 3,
        "SucceededStepCount": 3, "FailedStepCount": 0, "StoppedStepCount": 0,
    }
    assert report["steps"]["PublishReportIndex"]["arguments"] == {
        "first_report": "s3://example-v3-ml-artifacts/reports/exec123/us",
        "item_count": 3,
        "last_report": "s3://example-v3-ml-artifacts/reports/exec123/ap",
        "report_date": "2025-01-15",
        "status": "Succeeded",
        "succeeded": 3,
    }
    assert report["execution_status"] == "Succeeded" and report["failed"] is False


ITEMS_PARAMETER = [{"Name": "Configs", "Type": "String", "DefaultValue": '[{"depth": 3}, {"depth": 5}, {"depth": 7}]'}]


def sweep(**kwargs: Any) -> list[dict[str, Any]]:
    reads = {"count": get("Steps.Sweep.InputItemCount")}
    if "selector" in kwargs:
        reads["best"] = get("Steps.Sweep.Selected.TrainingJobName")
    return [for_each("Sweep", get("Parameters.Configs"), [train_body()], **kwargs), lambda_step("Report", reads)]


def test_items_from_a_json_list_parameter_and_its_override() -> None:
    report = walk(sweep(), ITEMS_PARAMETER)
    depths = [report["steps"][f"Train-{i}"]["arguments"]["HyperParameters"]["depth"] for i in range(3)]
    assert depths == [3, 5, 7]
    assert report["steps"]["Train-1"]["item"] == '{"depth": 5}'  # an object item travels as JSON text
    override = walk(sweep(), ITEMS_PARAMETER, parameters={"Configs": '[{"depth": 1}]'})
    assert [n for n in override["order"] if n.startswith("Train-")] == ["Train-0"]


def test_items_from_an_upstream_step_output() -> None:
    steps = [
        lambda_step("List", outputs=(("items", "String"),)),
        for_each("Each", get("Steps.List.OutputParameters['items']"), [lambda_step("Use", {"x": get("ForEach.CurrentItem")})]),
    ]
    report = walk(steps, step_outputs={"List": {"OutputParameters": {"items": '["a", 2, true]'}}})
    assert [report["steps"][f"Use-{i}"]["arguments"]["x"] for i in range(3)] == ["a", 2, True]
    assert [report["steps"][f"Use-{i}"]["item"] for i in range(3)] == ["a", "2", "true"]


def test_an_empty_list_runs_no_child_and_succeeds() -> None:
    report = walk(sweep(), ITEMS_PARAMETER, parameters={"Configs": "[]"})
    assert report["steps"]["Sweep"]["metadata"]["InputItemCount"] == 0
    assert report["steps"]["Report"]["arguments"] == {"count": 0}
    assert report["execution_status"] == "Succeeded"


@pytest.mark.parametrize(("items", "message"), [
    ("not json", "is not JSON"),
    ('{"a": 1}', "IterableItems resolved to dict"),
    ("[null]", "an item is null"),
])
def test_bad_runtime_items_are_located_errors(items: str, message: str) -> None:
    with pytest.raises(ResolutionError, match=message) as caught:
        walk(sweep(), ITEMS_PARAMETER, parameters={"Configs": items})
    assert caught.value.step == "Sweep" and caught.value.location.startswith("$.Steps[0].Arguments.IterableItems")


def test_reading_a_field_of_a_scalar_item_is_an_error() -> None:
    with pytest.raises(ResolutionError, match="it is not a JSON object") as caught:
        walk(sweep(), ITEMS_PARAMETER, parameters={"Configs": '["plain"]'})
    assert caught.value.step == "Train"


def metrics(auc: Any) -> dict[str, Any]:
    return {"FinalMetricDataList": [{"MetricName": "validation:auc", "Value": auc}]}


SELECT_AUC = {"Pick": "MaxBy", "Field": get("IterationOutput.Train.FinalMetricDataList['validation:auc'].Value")}


@pytest.mark.parametrize(("pick", "aucs", "chosen"), [
    ("MaxBy", [0.7, 0.9, 0.8], 1),
    ("MinBy", [0.7, 0.9, 0.6], 2),
    ("MaxBy", [0.9, 0.9, 0.8], 0),  # a tie: the lowest index wins
])
def test_selector_picks_the_child(pick: str, aucs: list[float], chosen: int) -> None:
    outputs = {f"Train-{i}": metrics(auc) for i, auc in enumerate(aucs)}
    report = walk(sweep(selector={**SELECT_AUC, "Pick": pick}), ITEMS_PARAMETER, step_outputs=outputs)
    assert report["steps"]["Sweep"]["metadata"]["Selector"] == {"StepName": f"Train-{chosen}", "Index": chosen}
    assert report["steps"]["Report"]["arguments"]["best"] == report["steps"][f"Train-{chosen}"]["job_name"]


def test_a_body_step_entry_applies_to_every_child_and_the_child_entry_wins() -> None:
    outputs = {"Train": metrics(0.5), "Train-2": metrics(0.95)}
    report = walk(sweep(selector=SELECT_AUC), ITEMS_PARAMETER, step_outputs=outputs)
    assert report["steps"]["Sweep"]["metadata"]["Selector"]["Index"] == 2


def test_a_non_numeric_selector_field_is_an_error_naming_the_child() -> None:
    outputs = {"Train-0": metrics(0.5), "Train-1": metrics("high"), "Train-2": metrics(0.1)}
    with pytest.raises(ResolutionError, match="child 'Train-1' has 'high'") as caught:
        walk(sweep(selector=SELECT_AUC), ITEMS_PARAMETER, step_outputs=outputs)
    assert caught.value.step == "Sweep"


def test_a_missing_selector_field_is_an_error_naming_the_child() -> None:
    with pytest.raises(ResolutionError, match="Selector: child 'Train-0'"):
        walk(sweep(selector=SELECT_AUC), ITEMS_PARAMETER)


def test_a_failed_child_lets_running_siblings_finish_and_starts_no_new_one() -> None:
    steps = [
        for_each("Sweep", get("Parameters.Configs"), [train_body()], max_concurrency=2),
        lambda_step("Report", {"status": get("Steps.Sweep.Status")}),
        lambda_step("OnFailure", {"failed": get("Steps.Sweep.FailedStepCount"), "status": get("Steps.Sweep.Status")},
                    DependsOn=[on("Sweep", "Failed")]),
    ]
    report = walk(steps, ITEMS_PARAMETER, step_status={"Train-0": {"status": "Failed", "reason": "AlgorithmError: NaN"}})
    got = statuses(report)
    assert got["Train-0"] == "Failed" and report["steps"]["Train-0"]["failure_reason"] == "AlgorithmError: NaN"
    assert got["Train-1"] == EXECUTED  # started in the same wave (MaxConcurrency 2)
    assert got["Train-2"] == NOT_EXECUTED and "not started after child Train-0 failed" in report["steps"]["Train-2"]["reason"]
    assert got["Sweep"] == "Failed"
    assert report["steps"]["Sweep"]["metadata"]["TotalStepCount"] == 2
    assert got["Report"] == NOT_EXECUTED  # a plain dependent of a failed ForEach never runs
    assert report["steps"]["OnFailure"]["arguments"] == {"failed": 1, "status": "Failed"}  # aggregates stay readable
    assert report["execution_status"] == "CompletedWithFailures" and report["failed"] is False


def test_an_unhandled_failed_child_fails_the_execution() -> None:
    report = walk(sweep(), ITEMS_PARAMETER, step_status={"Train-1": "Failed"})
    assert report["execution_status"] == "Failed" and report["failed"] is True
    assert report["failure_reason"] == "Step failure: One or multiple steps failed."
    assert report["steps"]["Report"]["reason"] == "the execution failed at Sweep"


def test_multi_step_body_reads_its_own_iteration() -> None:
    body = [
        processing("Prep", Arguments={**processing("Prep")["Arguments"], "Environment": {"ITEM": get("ForEach.CurrentItem")}}),
        lambda_step("Score", {"out": get("Steps.Prep.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri"), "item": get("ForEach.CurrentItem")}),
    ]
    steps = [for_each("Loop", ["a", "b"], body, max_concurrency=5)]
    report = walk(steps, step_outputs={"Prep-1": {"ProcessingOutputConfig": {"Outputs": [{"OutputName": "out", "S3Output": {"S3Uri": "s3://b/one"}}]}}})
    assert report["steps"]["Score-0"]["arguments"] == {"out": "s3://bucket/Prep/out", "item": "a"}
    assert report["steps"]["Score-1"]["arguments"] == {"out": "s3://b/one", "item": "b"}
    assert report["order"][1:] == ["Prep-0", "Prep-1", "Score-0", "Score-1"]
    failed = walk(steps, step_status={"Prep-0": "Failed"})
    assert failed["steps"]["Score-0"]["status"] == NOT_EXECUTED
    assert failed["steps"]["Prep-1"]["status"] == EXECUTED


# -- run conditions --------------------------------------------------------------------------------


def notify_steps() -> list[dict[str, Any]]:
    return [
        training("Train"),
        lambda_step("OnCompleted", DependsOn=["Train"]),
        lambda_step("OnFailed", DependsOn=[on("Train", "Failed")]),
        lambda_step("OnStopped", DependsOn=[on("Train", "Stopped")]),
        lambda_step("OnAny", DependsOn=[on("Train", "Any")]),
    ]


@pytest.mark.parametrize(("train", "ran", "execution_status"), [
    (None, {"OnCompleted", "OnAny"}, "Succeeded"),
    ("Failed", {"OnFailed", "OnAny"}, "CompletedWithFailures"),
    ("Stopped", {"OnStopped", "OnAny"}, "CompletedWithFailures"),
])
def test_each_trigger(train: str | None, ran: set[str], execution_status: str) -> None:
    report = walk(notify_steps(), step_status={"Train": train} if train else None)
    got = statuses(report)
    assert {n for n in ("OnCompleted", "OnFailed", "OnStopped", "OnAny") if got[n] == EXECUTED} == ran
    for name in {"OnCompleted", "OnFailed", "OnStopped", "OnAny"} - ran:
        assert got[name] == NOT_EXECUTED and "it runs only if 'Train'" in report["steps"][name]["reason"]
    assert report["execution_status"] == execution_status


def test_a_list_of_entries_must_all_hold() -> None:
    steps = [
        training("A"), training("B"),
        lambda_step("Both", DependsOn=[on("A", "Failed"), "B"]),
    ]
    assert statuses(walk(steps, step_status={"A": "Failed"}))["Both"] == EXECUTED
    assert statuses(walk(steps, step_status={"A": "Failed", "B": "Failed"}))["Both"] == NOT_EXECUTED
    assert statuses(walk(steps))["Both"] == NOT_EXECUTED


def test_any_holds_for_a_step_that_never_ran() -> None:
    steps = [
        training("A"),
        training("B", DependsOn=["A"]),
        lambda_step("After", DependsOn=[on("A", "Any"), on("B", "Any")]),
    ]
    report = walk(steps, step_status={"A": "Failed"})
    assert statuses(report) == {"A": "Failed", "B": NOT_EXECUTED, "After": EXECUTED}
    assert report["order"] == ["A", "B", "After"]
    assert report["execution_status"] == "CompletedWithFailures"


def test_an_unhandled_failure_stops_new_starts_and_a_handled_one_does_not() -> None:
    steps = [training("A"), training("Slow"), training("Later", DependsOn=["Slow"])]
    halted = walk(steps, step_status={"A": "Failed"})
    assert statuses(halted)["Later"] == NOT_EXECUTED and halted["steps"]["Later"]["reason"] == "the execution failed at A"
    handled = walk([*steps, lambda_step("Notify", DependsOn=[on("A", "Failed")])], step_status={"A": "Failed"})
    assert statuses(handled)["Later"] == EXECUTED and statuses(handled)["Notify"] == EXECUTED
    assert handled["execution_status"] == "CompletedWithFailures"


def test_a_handler_that_cannot_run_leaves_the_execution_failed() -> None:
    steps = [training("A"), training("B"), lambda_step("Notify", DependsOn=[on("A", "Failed"), "B"])]
    report = walk(steps, step_status={"A": "Failed", "B": "Failed"})
    assert statuses(report)["Notify"] == NOT_EXECUTED
    assert report["execution_status"] == "Failed"


def test_an_unhandled_stop_ends_the_execution_stopped() -> None:
    report = walk([training("A"), training("B", DependsOn=["A"])], step_status={"A": "Stopped"})
    assert report["execution_status"] == "Stopped" and report["failed"] is False
    assert report["steps"]["B"]["status"] == NOT_EXECUTED


# -- Cleanup ---------------------------------------------------------------------------------------


def test_cleanup_fixture_after_a_failed_training() -> None:
    report = dry_run(load_definition(v3_path("run_conditions_training")), DryRunInputs(execution=EXECUTION, step_status={"TrainEventsModel": "Failed"}))
    got = statuses(report)
    assert got["NotifyTrainingFailed"] == EXECUTED and got["NotifyTrainingStopped"] == NOT_EXECUTED
    assert got["EvaluateEventsModel"] == NOT_EXECUTED and got["ReportRunOutcome"] == EXECUTED
    step = report["steps"]["CleanupIntermediateData"]
    assert step["would_delete"] == {
        "PreprocessEvents": ["s3://example-v3-ml-artifacts/events/exec123/scratch/joined.parquet"],
        "TrainEventsModel": [f"s3://example-v3-ml-artifacts/events/models/{report['steps']['TrainEventsModel']['job_name']}/"],
    }
    assert step["metadata"] == {"CleanedSteps": ["PreprocessEvents", "TrainEventsModel"], "FailedSteps": [], "SkippedSteps": []}
    assert report["execution_status"] == "CompletedWithFailures"


def test_cleanup_skips_sources_that_never_ran_and_refuses_uris_outside_the_outputs() -> None:
    steps = [
        processing("Prep"),
        training("Train", DependsOn=["Prep"]),
        cleanup("Clean", [{"StepName": "Prep", "S3Uris": ["s3://elsewhere/x"]}, {"StepName": "Train"}],
                DependsOn=[on("Prep", "Any"), on("Train", "Any")]),
    ]
    report = walk(steps, step_status={"Prep": "Failed"})
    meta = report["steps"]["Clean"]["metadata"]
    assert meta["SkippedSteps"] == ["Train"] and meta["CleanedSteps"] == []
    assert meta["FailedSteps"][0]["StepName"] == "Prep" and "not under an output location" in meta["FailedSteps"][0]["ErrorMessage"]
    assert report["steps"]["Clean"]["status"] == EXECUTED  # a failed deletion does not fail the step


# -- new property roots ----------------------------------------------------------------------------


def test_job_document_and_emr_serverless_properties() -> None:
    job = dry_run(load_definition(v3_path("job_step_agent_rft")), DryRunInputs(execution=EXECUTION))
    document = json.loads(job["steps"]["AgentRft"]["arguments"]["JobConfigDocument"])
    assert document["OutputDataConfig"]["S3OutputPath"] == "s3://example-v3-ml-artifacts/agent-rft/output/exec123/"
    published = job["steps"]["PublishAgentModel"]["arguments"]
    assert published["job_status"] == "Completed" and published["job_arn"].endswith(":job/AgentRFT/" + job["steps"]["AgentRft"]["job_name"])
    steps = [
        {"Name": "J", "Type": "Job", "Arguments": {
            "RoleArn": "arn:aws:iam::123456789012:role/R", "JobCategory": "AgentRFT", "JobConfigSchemaVersion": "1.0.0",
            "JobConfigDocument": join(['{"Out": {"Path": "', get("Parameters.P"), '"}}'])}},
        lambda_step("Read", {"path": get("Steps.J.JobConfigDocument.Out.Path")}),
    ]
    report = walk(steps, [{"Name": "P", "Type": "String", "DefaultValue": "s3://b/p"}])
    assert report["steps"]["Read"]["arguments"] == {"path": "s3://b/p"}
    spark = dry_run(load_definition(v3_path("emr_serverless_features")), DryRunInputs(execution=EXECUTION))
    assert spark["steps"]["SparkFeatures"]["job_name"] == "example-feature-build"  # JobConfig.name
    args = spark["steps"]["SparkFeatures"]["arguments"]["JobConfig"]["jobDriver"]["sparkSubmit"]
    assert args["entryPointArguments"] == ["--date", "2025-01-15", "--execution", "exec123"]
    assert args["sparkSubmitParameters"] == "--conf spark.executor.memory=8g"
    assert spark["steps"]["NotifySparkFailure"]["status"] == NOT_EXECUTED


def test_emr_serverless_job_run_is_readable() -> None:
    steps = [
        {"Name": "Spark", "Type": "EMRServerless", "Arguments": {
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/R", "ApplicationId": "app1",
            "JobConfig": {"executionRoleArn": "arn:aws:iam::123456789012:role/R", "jobDriver": {"sparkSubmit": {"entryPoint": "s3://b/x.py"}}}}},
        lambda_step("Read", {"state": get("Steps.Spark.jobRun.state"), "app": get("Steps.Spark.jobRun.applicationId")}),
    ]
    assert walk(steps)["steps"]["Read"]["arguments"] == {"state": "SUCCESS", "app": "app1"}


# -- inputs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("step_status", "message"), [
    ({"Nope": "Failed"}, "unknown step 'Nope'"),
    ({"Train": "Broken"}, "status of 'Train' is 'Broken'"),
    ({"Sweep": "Failed"}, "cannot set the status of ForEach step 'Sweep'"),
    ({"Train": {"status": "Failed", "why": "x"}}, "has keys"),
])
def test_bad_step_status_inputs(step_status: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidDefinitionError, match=message):
        walk(sweep(), ITEMS_PARAMETER, step_status=step_status)


def test_a_child_index_beyond_the_items_is_reported() -> None:
    with pytest.raises(InvalidDefinitionError, match="ran no child 'Train-7'") as caught:
        walk(sweep(), ITEMS_PARAMETER, step_outputs={"Train-7": metrics(0.1)})
    assert caught.value.problems[0].location == "step-outputs.Train-7"


def test_a_cleanup_in_a_body_may_clean_an_outside_step_that_ran_before_its_for_each() -> None:
    steps = [
        training("Prep"),
        for_each("Loop", ["a"], [
            lambda_step("Use", {"x": get("ForEach.CurrentItem")}),
            cleanup("Tidy", [{"StepName": "Prep"}], DependsOn=[on("Use", "Any")]),
        ], DependsOn=[on("Prep", "Any")]),
    ]
    report = walk(steps)
    tidy = report["steps"]["Tidy-0"]
    assert tidy["status"] == EXECUTED and tidy["metadata"]["CleanedSteps"] == ["Prep"]
    assert tidy["would_delete"] == {"Prep": [f"s3://bucket/train/{report['steps']['Prep']['job_name']}/"]}
