""""Re-run the failed steps of an execution" on today's definitions: a failed ForEach child selects
its ForEach (a ForEach runs whole; body steps cannot be selected), run-condition handlers follow."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.selective import plan_selective_execution
from airflow_provider_smpipe.operators.pipeline import failed_steps_to_rerun

V3 = Path(__file__).resolve().parents[1] / "fixtures" / "definitions_v3"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/abc"


def test_a_failed_child_selects_its_for_each_and_what_follows() -> None:
    definition = load_definition(V3 / "foreach_literal_regions.json")
    steps = [
        {"StepName": "BuildRegionReport-1", "StepStatus": "Failed"},
        {"StepName": "BuildRegionReport-0", "StepStatus": "Succeeded"},
        {"StepName": "RegionalReports", "StepStatus": "Failed"},
        {"StepName": "PrepareRegions", "StepStatus": "Succeeded"},
    ]
    selected = failed_steps_to_rerun(definition, steps, ARN)
    assert selected == ["RegionalReports", "PublishReportIndex"]
    plan = plan_selective_execution(definition, selected)  # the service's rules hold for it
    assert plan.reused == {"PrepareRegions"}


def test_run_condition_dependents_are_selected_with_the_failed_step() -> None:
    definition = load_definition(V3 / "run_conditions_training.json")
    steps = [{"StepName": "TrainEventsModel", "StepStatus": "Failed"}, {"StepName": "NotifyTrainingFailed", "StepStatus": "Succeeded"}]
    selected = failed_steps_to_rerun(definition, steps, ARN)
    assert selected[0] == "TrainEventsModel"
    assert set(selected) == {"TrainEventsModel", "EvaluateEventsModel", "NotifyTrainingFailed", "NotifyTrainingStopped", "ReportRunOutcome", "CleanupIntermediateData"}


def test_an_unknown_failed_step_is_a_located_error() -> None:
    definition = load_definition(V3 / "foreach_literal_regions.json")
    with pytest.raises(DefinitionError, match="step 'Gone' of .* is not in the current definition"):
        failed_steps_to_rerun(definition, [{"StepName": "Gone", "StepStatus": "Failed"}], ARN)
