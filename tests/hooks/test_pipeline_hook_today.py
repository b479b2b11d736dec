"""SageMakerPipelineHook and today's service: ``MlflowConfig`` / ``MlflowExperimentName`` and the
execution's definition against the emulator; the ``CompletedWithFailures`` selector and summary on
the scripted endpoint (exact, repeatable statuses)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.hooks.pipeline import EXECUTION_SELECTORS, SageMakerPipelineHook
from native_helpers import ROLE, unique, wait_for
from utils.synthetic_sagemaker import SYNTHETIC_CONN_ID, SyntheticSageMaker, dry_run_execution, synthetic, synthetic_service, timeline, v3  # noqa: F401

MLFLOW = {"MlflowResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-example-v3", "MlflowExperimentName": "churn"}
CHURN_FILES = {"EvaluateChurnV3": {"files": {"evaluation": {"evaluation.json": {"binary_classification_metrics": {"auc": {"value": 0.91}}}}}}}


@pytest.fixture
def hook(aws_connection: str) -> SageMakerPipelineHook:
    return SageMakerPipelineHook(aws_conn_id="aws_default")


def churn_with_mlflow() -> dict[str, Any]:
    document = v3("classic_churn_v3")
    document["MlflowConfig"] = dict(MLFLOW)
    return document


def test_upsert_keeps_mlflow_config_and_start_sends_the_experiment(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator = emulator_scenario({"default_step_seconds": 0.01, "steps": CHURN_FILES})
    pipeline = unique("mlflow")
    assert hook.upsert_pipeline(pipeline, churn_with_mlflow(), ROLE)["created"]
    assert json.loads(hook.get_pipeline(pipeline)["PipelineDefinition"])["MlflowConfig"] == MLFLOW
    assert hook.upsert_pipeline(pipeline, churn_with_mlflow(), ROLE)["changed"] is False
    changed = churn_with_mlflow()
    changed["MlflowConfig"]["MlflowExperimentName"] = {"Get": "Parameters.ModelApprovalStatus"}  # an expression is valid too
    assert hook.upsert_pipeline(pipeline, changed, ROLE)["changed"] is True
    assert hook.get_definition(pipeline).raw["MlflowConfig"]["MlflowExperimentName"] == {"Get": "Parameters.ModelApprovalStatus"}

    request = hook.build_start_request(pipeline, mlflow_experiment_name="churn-2026-03-04")
    assert request["MlflowExperimentName"] == "churn-2026-03-04"
    emulator.reset()
    arn = hook.start_execution(request)
    wait_for(lambda: hook.describe_execution(arn)["PipelineExecutionStatus"] == "Succeeded", what="success")
    summary = hook.execution_summary(arn)
    assert summary["status"] == "Succeeded" and summary["handled_failures"] == []
    # DescribePipelineExecution's MLflowConfig: the definition's, its experiment replaced by the start's.
    assert summary["mlflow_config"] == {**MLFLOW, "MlflowExperimentName": "churn-2026-03-04"}
    assert hook.get_execution_definition(arn).raw["MlflowConfig"]["MlflowExperimentName"] == {"Get": "Parameters.ModelApprovalStatus"}


def test_upsert_of_sdk_v3_definitions_with_mlflow_config(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator_scenario(None)
    for fixture in ("emr_serverless_features", "job_step_agent_rft"):
        pipeline = unique(fixture.replace("_", "-"))
        assert hook.upsert_pipeline(pipeline, v3(fixture), ROLE)["created"]
        assert hook.get_definition(pipeline).raw["MlflowConfig"] == v3(fixture)["MlflowConfig"]


def test_a_bad_experiment_name_makes_no_call(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator = emulator_scenario(None)
    with pytest.raises(DefinitionError, match=r"mlflow_experiment_name has 257 characters \(expected 1 to 256 characters\)"):
        hook.build_start_request("any-pipeline", mlflow_experiment_name="x" * 257)
    assert emulator.state()["calls"] == {}


def test_completed_with_failures_selector_and_summary(synthetic: SyntheticSageMaker) -> None:
    hook = SageMakerPipelineHook(aws_conn_id=SYNTHETIC_CONN_ID)
    assert "latest-completed-with-failures" in EXECUTION_SELECTORS
    pipeline = unique("cwf")
    synthetic.pipeline(pipeline, v3("run_conditions_training"))
    run = dry_run_execution(v3("run_conditions_training"), {"TrainEventsModel": "Failed"})
    cwf = synthetic.execution(pipeline, timeline(run)[-1:], started=True, mlflow=MLFLOW)
    failed = synthetic.execution(pipeline, [{"status": "Failed", "steps": run["steps"][:2]}], started=True)
    for arn in (cwf, failed):
        hook.describe_execution(arn)
    assert hook.resolve_execution_arn(pipeline, "latest") == failed
    assert hook.resolve_execution_arn(pipeline, "latest-completed-with-failures") == cwf
    assert hook.resolve_execution_arn(pipeline, "latest-failed") == failed
    assert hook.is_terminal("CompletedWithFailures") and hook.is_terminal("SomethingNew") and not hook.is_terminal("Stopping")
    summary = hook.execution_summary(cwf)
    assert summary["status"] == "CompletedWithFailures" and summary["mlflow_config"] == MLFLOW
    assert [h["name"] for h in summary["handled_failures"][0]["handlers"]] == ["NotifyTrainingFailed", "CleanupIntermediateData"]
    assert hook.stop_execution(cwf) == "CompletedWithFailures"  # already ended: its status, no error
