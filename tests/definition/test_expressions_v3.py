"""The expression forms today's service added: ``ForEach.CurrentItem`` (whole item and fields),
``IterationOutputs[i]``, ``Selected``, the aggregates, EMR Serverless ``jobRun.*`` and drilling
into a Job's ``JobConfigDocument``."""

from __future__ import annotations

from typing import Any

import pytest
from definition_helpers import definition, for_each, get, lambda_step, training

from airflow_provider_smpipe.definition.errors import DefinitionError, ResolutionError
from airflow_provider_smpipe.definition.expressions import Iteration, Resolver
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import PipelineDefinition
from airflow_provider_smpipe.definition.references import parse_reference

SELECTOR = {"Pick": "MaxBy", "Field": get("IterationOutput.T.FinalMetricDataList['auc'].Value")}


def pipeline() -> PipelineDefinition:
    body = [training("T"), lambda_step("L", {"job": get("Steps.T.TrainingJobName")}, outputs=(("score", "Float"),))]
    job = {"Name": "J", "Type": "Job", "Arguments": {
        "RoleArn": "arn:aws:iam::123456789012:role/R", "JobCategory": "AgentRFT", "JobConfigSchemaVersion": "1.0.0",
        "JobConfigDocument": '{"Out": {"Arn": "arn:x"}, "List": [1, 2]}'}}
    return load_definition(definition([for_each("F", ["a", "b"], body, selector=SELECTOR), job, lambda_step("After")]))


def resolver(defn: PipelineDefinition, properties: dict[str, Any] | None = None, iteration: Iteration | None = None) -> Resolver:
    return Resolver(defn, parameters={}, execution={"PipelineExecutionId": "e"}, step_properties=properties or {}, iteration=iteration)


@pytest.mark.parametrize(("text", "item", "value"), [
    ("ForEach.CurrentItem", "plain", "plain"),
    ("ForEach.CurrentItem", 7, 7),
    ("ForEach.CurrentItem.hp.max_depth", '{"hp": {"max_depth": 6}}', 6),
    ("ForEach.CurrentItem['compute']['instance_type']", '{"compute": {"instance_type": "ml.m5.xlarge"}}', "ml.m5.xlarge"),
    ("ForEach.CurrentItem['a.b']", '{"a.b": 1}', 1),
    ("ForEach.CurrentItem[1]", "[10, 20]", 20),
])
def test_current_item(text: str, item: Any, value: Any) -> None:
    defn = pipeline()
    got = resolver(defn, iteration=Iteration("F", 0, item)).resolve(get(text), step=defn.steps["T"])
    assert got == value


def test_current_item_errors() -> None:
    defn = pipeline()
    with pytest.raises(ResolutionError, match="not a JSON object"):
        resolver(defn, iteration=Iteration("F", 0, "plain")).resolve(get("ForEach.CurrentItem.x"), step=defn.steps["T"])
    with pytest.raises(ResolutionError, match="'missing' is not in the current item"):
        resolver(defn, iteration=Iteration("F", 0, '{"x": 1}')).resolve(get("ForEach.CurrentItem.missing"), step=defn.steps["T"])
    with pytest.raises(ResolutionError, match="only defined inside a ForEach body"):
        resolver(defn).resolve(get("ForEach.CurrentItem"), step=defn.steps["After"])


def test_a_body_step_reads_the_child_of_its_own_iteration() -> None:
    defn = pipeline()
    iteration = Iteration("F", 1, "b", {"T": {"TrainingJobName": "job-1"}})
    assert resolver(defn, iteration=iteration).resolve_arguments(defn.steps["L"]) == {"job": "job-1"}
    with pytest.raises(ResolutionError, match="child 'T-0' has no properties"):
        resolver(defn, iteration=Iteration("F", 0, "a")).resolve_arguments(defn.steps["L"])


def for_each_properties() -> dict[str, Any]:
    child0 = {"TrainingJobName": "t0", "FinalMetricDataList": [{"MetricName": "auc", "Value": 0.5}]}
    return {
        "Status": "Failed", "InputItemCount": 2, "TotalStepCount": 3, "SucceededStepCount": 2, "FailedStepCount": 1, "StoppedStepCount": 0,
        "IterationOutputs": [{"T": child0, "L": {"OutputParameters": {"score": 0.7}}}, {}],
        "Selected": child0,
    }


@pytest.mark.parametrize(("text", "value"), [
    ("Steps.F.IterationOutputs[0].T.TrainingJobName", "t0"),
    ("Steps.F.IterationOutputs[0].L.OutputParameters['score']", 0.7),
    ("Steps.F.Selected.FinalMetricDataList['auc'].Value", 0.5),
    ("Steps.F.Status", "Failed"),
    ("Steps.F.FailedStepCount", 1),
    ("Steps.J.JobConfigDocument.Out.Arn", "arn:x"),
    ("Steps.J.JobConfigDocument.List[1]", 2),
    ("Steps.J.JobStatus", "Completed"),
])
def test_reading_for_each_results_and_job_documents(text: str, value: Any) -> None:
    defn = pipeline()
    properties = {"F": for_each_properties(), "J": {"JobStatus": "Completed", "JobConfigDocument": '{"Out": {"Arn": "arn:x"}, "List": [1, 2]}'}}
    assert resolver(defn, properties).resolve(get(text), step=defn.steps["After"]) == value


def test_reading_an_iteration_whose_child_did_not_succeed() -> None:
    defn = pipeline()
    with pytest.raises(ResolutionError, match="child 'T-1' did not succeed"):
        resolver(defn, {"F": for_each_properties()}).resolve(get("Steps.F.IterationOutputs[1].T.TrainingJobName"), step=defn.steps["After"])
    no_selection = {**for_each_properties()}
    del no_selection["Selected"]
    with pytest.raises(ResolutionError, match="selected no iteration"):
        resolver(defn, {"F": no_selection}).resolve(get("Steps.F.Selected.TrainingJobName"), step=defn.steps["After"])


def test_a_job_document_that_is_not_json() -> None:
    defn = pipeline()
    with pytest.raises(ResolutionError, match="JobConfigDocument of step 'J' is not JSON"):
        resolver(defn, {"J": {"JobConfigDocument": "{oops"}}).resolve(get("Steps.J.JobConfigDocument.Out"), step=defn.steps["After"])


@pytest.mark.parametrize(("text", "message"), [
    ("ForEach.Current", "unknown ForEach member 'Current'"),
    ("ForEach.CurrentItem.", "empty field"),
    ("ForEach.CurrentItem[x]", "malformed bracket"),
    ("IterationOutput.T", "names step 'T' but no property"),
])
def test_malformed_new_references(text: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message.replace("[", r"\[")):
        parse_reference(text)
