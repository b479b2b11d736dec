"""Translation mode, SDK v3 constructs at DAG-build time: the shape of the DAG (ForEach task groups
and mapped body steps, trigger rules for run conditions, the execution-status task), what is refused
and why, and the DAG's doc."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_smpipe.definition.errors import InvalidDefinitionError
from airflow_provider_smpipe.translation.base import MAP_INDEX_TEMPLATE
from airflow_provider_smpipe.translation.plan import REFUSED
from v3_helpers import translated, v3


def rule(task: Any) -> str:
    return str(getattr(task.trigger_rule, "value", task.trigger_rule))


def test_a_for_each_is_a_task_group_with_a_mapped_body() -> None:
    dag = translated(v3("foreach_literal_regions"))
    assert sorted(dag.task_dict) == [
        "PrepareRegions", "PublishReportIndex", "RegionalReports.items", "RegionalReports.iterations.BuildRegionReport", "RegionalReports.results",
    ]  # fmt: skip
    body = dag.task_dict["RegionalReports.iterations.BuildRegionReport"]
    assert body.task_group.group_id == "RegionalReports.iterations" and type(body.task_group).__name__ == "MappedTaskGroup"
    assert body.task_group.parent_group.group_id == "RegionalReports"
    assert body.max_active_tis_per_dagrun == 2  # MaxConcurrency
    assert body.map_index_template == MAP_INDEX_TEMPLATE
    assert body.upstream_task_ids == {"RegionalReports.items"}
    assert dag.task_dict["RegionalReports.items"].upstream_task_ids == {"PrepareRegions"}
    results = dag.task_dict["RegionalReports.results"]
    assert rule(results) == "all_done" and results.upstream_task_ids == {"RegionalReports.items", "RegionalReports.iterations.BuildRegionReport"}
    assert dag.task_dict["PublishReportIndex"].upstream_task_ids == {"RegionalReports.results"}
    assert "execution_status" not in dag.task_dict  # no run conditions: Airflow's own run state is the service's


def test_run_conditions_become_all_done_tasks_and_an_execution_status_leaf() -> None:
    dag = translated(v3("run_conditions_training"))
    rules = {task_id: rule(task) for task_id, task in dag.task_dict.items()}
    assert rules == {
        "PreprocessEvents": "all_success", "TrainEventsModel": "all_success", "EvaluateEventsModel": "all_success",
        "NotifyTrainingFailed": "all_done", "NotifyTrainingStopped": "all_done", "ReportRunOutcome": "all_done",
        "CleanupIntermediateData": "all_done", "execution_status": "all_done",
    }  # fmt: skip
    assert dag.task_dict["ReportRunOutcome"].upstream_task_ids == {"EvaluateEventsModel", "PreprocessEvents"}
    leaves = [t for t in dag.task_dict.values() if not t.downstream_task_ids]
    assert [t.task_id for t in leaves] == ["execution_status"]  # so the run's state is the execution status


def test_the_status_task_never_collides_with_a_step_name() -> None:
    document = v3("job_step_agent_rft")
    document["Steps"][0]["Name"] = "execution_status"
    for step in document["Steps"]:
        for key, value in list(step.get("Arguments", {}).items()):
            if value == {"Get": "Steps.ValidateAgentDataset.OutputParameters['DatasetOk']"}:
                step["Arguments"][key] = {"Get": "Steps.execution_status.OutputParameters['DatasetOk']"}
        step["DependsOn"] = [("execution_status" if d == "ValidateAgentDataset" else d) for d in step.get("DependsOn", [])]
    dag = translated(document)
    assert {"execution_status", "execution_status_"} <= set(dag.task_dict)
    assert [t.task_id for t in dag.task_dict.values() if not t.downstream_task_ids] == ["execution_status_"]


def test_every_sdk_v3_fixture_builds() -> None:
    for name in ("classic_churn_v3", "emr_serverless_features", "foreach_literal_regions", "job_step_agent_rft", "run_conditions_training"):
        assert translated(v3(name)).task_dict


def test_mlflow_config_is_accepted_and_shown_in_the_doc() -> None:
    dag = translated(v3("job_step_agent_rft"))
    assert "**MlflowConfig** (MlflowExperimentName `agent-rft-pipeline`, MlflowResourceArn `arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-example-v3`)" in dag.doc_md
    assert "not used by translated runs" in dag.doc_md
    assert "MlflowConfig" not in translated(v3("classic_churn_v3")).doc_md


@pytest.mark.parametrize("step_type", ["BedrockCustomModel", "BedrockCustomModelDeployment", "BedrockProvisionedModelThroughput", "BedrockModelImport", "Athena"])
def test_bedrock_and_athena_steps_are_refused_naming_the_step_the_reason_and_native_mode(step_type: str) -> None:
    document = v3("job_step_agent_rft")
    document["Steps"].append({"Name": "Opaque", "Type": step_type, "Arguments": {"Anything": "goes"}, "DependsOn": ["AgentRft"]})
    with pytest.raises(InvalidDefinitionError) as caught:
        translated(document)
    [problem] = caught.value.problems
    assert problem.step == "Opaque" and problem.location == "$.Steps[4].Type"
    assert problem.problem == f"{step_type} steps cannot be translated to Airflow tasks: {REFUSED[step_type]}"
    assert "definition format is not published" in problem.problem and "native mode (SageMakerPipelineStartOperator)" in problem.problem


def test_a_condition_in_a_for_each_body_is_refused_by_the_core() -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        translated(v3("invalid_condition_in_foreach_body"))
    assert any(p.step == "CheckItemScore" and p.location == "$.Steps[0].Arguments.ForEachBody[1].Type" for p in caught.value.problems)
