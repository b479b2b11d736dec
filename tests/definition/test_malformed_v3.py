"""A corpus of malformed SDK v3 definitions: one or more cases for every rule the SDK v3 / today's
service constructs added (MlflowConfig, run conditions, ForEach, Cleanup, EMRServerless, Job, opaque
step types, lenient CacheConfig.ExpireAfter, empty String parameter values).

Every case must fail with an :class:`InvalidDefinitionError` whose problems include one naming the
mistake, with the right step and JSONPath (see ``test_malformed.py`` for the SDK v2 rules). Cases
marked ``alone`` also require that this one problem is the only one reported: a single mistake
should not drown the user in follow-on problems. Positive checks pin what must keep loading, and a
seeded mutation fuzzer over the valid v3 fixtures checks that nothing but a ``DefinitionError``
ever escapes ``load_definition`` or ``dry_run``.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from definition_helpers import (
    ANY,
    assert_refusal,
    V3_FIXTURE_NAMES,
    cleanup,
    condition,
    definition,
    fail,
    for_each,
    get,
    join,
    lambda_step,
    on,
    random_mutant,
    raw_step,
    refused,
    training,
    v3_doc,
    v3_path,
)

from airflow_provider_smpipe.definition.dryrun import DryRunInputs, dry_run
from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError, ParameterError
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import Parameter
from airflow_provider_smpipe.definition.parameters import resolve_parameters


ROLE = "arn:aws:iam::123456789012:role/R"
MLFLOW_ARN = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-example-v3"
OPAQUE_TYPES = ("BedrockCustomModel", "BedrockCustomModelDeployment", "BedrockProvisionedModelThroughput", "BedrockModelImport", "Athena")


@dataclass
class Case:
    id: str
    make: Callable[[], Any]  # returns what to hand to load_definition
    contains: tuple[str, ...]
    step: Any = ANY
    location: Any = ANY
    alone: bool = False  # the matching problem must be the only one reported


# -- building documents ----------------------------------------------------------------------------


def mutate(name: str, *edits: Callable[[dict[str, Any]], Any]) -> Callable[[], dict[str, Any]]:
    """A v3 fixture with ``edits`` applied (each gets the whole document)."""
    def make() -> dict[str, Any]:
        doc = v3_doc(name)
        for edit in edits:
            edit(doc)
        return doc

    return make


def hand(*steps: dict[str, Any], parameters: list[dict[str, Any]] | None = None, **top: Any) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        doc = definition(copy.deepcopy(list(steps)), copy.deepcopy(parameters))
        doc.update(copy.deepcopy(top))
        return doc

    return make


def S(doc: dict[str, Any], name: str) -> dict[str, Any]:  # noqa: N802 - short on purpose
    return raw_step(doc, name)


def A(doc: dict[str, Any], name: str) -> dict[str, Any]:  # noqa: N802
    return raw_step(doc, name)["Arguments"]


def emr_serverless(name: str, *, application_id: Any = "00fapp", job: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """An EMRServerless step on an existing application."""
    step: dict[str, Any] = {
        "Name": name,
        "Type": "EMRServerless",
        "Arguments": {
            "ExecutionRoleArn": ROLE,
            "ApplicationId": application_id,
            "JobConfig": job or {"executionRoleArn": ROLE, "jobDriver": {"sparkSubmit": {"entryPoint": "s3://bucket/job.py"}}},
        },
    }
    step.update(extra)
    return step


def job_step(name: str, document: Any = '{"TrainingConfig": {}}', **extra: Any) -> dict[str, Any]:
    """A Job (CreateJob) step."""
    step: dict[str, Any] = {
        "Name": name,
        "Type": "Job",
        "Arguments": {"RoleArn": ROLE, "JobCategory": "AgentRFT", "JobConfigSchemaVersion": "1.0.0", "JobConfigDocument": document},
    }
    step.update(extra)
    return step


def opaque(name: str, stype: str, arguments: Any = None, **extra: Any) -> dict[str, Any]:
    """A step of a type whose Arguments are not published (kept as written)."""
    args = {"ModelName": "m", "anything": {"deep": [1, {"x": None}]}} if arguments is None else arguments
    step: dict[str, Any] = {"Name": name, "Type": stype, "Arguments": args}
    step.update(extra)
    return step


# -- MlflowConfig (job_step_agent_rft has one with an ARN and an experiment name) -------------------

J = "job_step_agent_rft"


def mlflow(**members: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["MlflowConfig"].update(members)


def mlflow_is(value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc.update(MlflowConfig=value)


MLFLOW_NAME = "$.MlflowConfig.MlflowExperimentName"
MLFLOW_CASES = [
    Case("mlflow-string", mutate(J, mlflow_is(MLFLOW_ARN)), ("MlflowConfig is string", "null or"), None, "$.MlflowConfig"),
    Case("mlflow-array", mutate(J, mlflow_is([MLFLOW_ARN])), ("MlflowConfig is array",), None, "$.MlflowConfig"),
    # an expression in place of the object is not an object, whatever its JSON type
    Case("mlflow-expression", mutate(J, mlflow_is(get("Parameters.MlflowExperimentName"))), ("MlflowConfig is an expression",), None, "$.MlflowConfig"),
    Case("mlflow-unknown-member", mutate(J, mlflow(MlflowExperimentNam="x")),
         ("unknown MlflowConfig member 'MlflowExperimentNam'", "did you mean 'MlflowExperimentName'"), None, "$.MlflowConfig.MlflowExperimentNam"),
    Case("mlflow-no-arn", mutate(J, lambda d: d["MlflowConfig"].pop("MlflowResourceArn")),
         ("MlflowConfig has no MlflowResourceArn", '"MlflowConfig": null'), None, "$.MlflowConfig"),
    Case("mlflow-empty-object", mutate(J, mlflow_is({})), ("MlflowConfig has no MlflowResourceArn",), None, "$.MlflowConfig"),
    # one mistake, one problem (not "is null" and "has no MlflowResourceArn")
    Case("mlflow-arn-null", mutate(J, mlflow(MlflowResourceArn=None)), ("MlflowResourceArn",), None, "$.MlflowConfig.MlflowResourceArn", alone=True),
    Case("mlflow-arn-not-mlflow", mutate(J, mlflow(MlflowResourceArn="arn:aws:sagemaker:us-east-1:123456789012:experiment/x")),
         ("MlflowResourceArn 'arn:aws:sagemaker:us-east-1:123456789012:experiment/x' is not an MLflow ARN", "mlflow-app", "mlflow-tracking-server"),
         None, "$.MlflowConfig.MlflowResourceArn"),
    Case("mlflow-arn-iam-role", mutate(J, mlflow(MlflowResourceArn=ROLE)), ("is not an MLflow ARN",), None, "$.MlflowConfig.MlflowResourceArn"),
    Case("mlflow-arn-number", mutate(J, mlflow(MlflowResourceArn=5)), ("MlflowConfig MlflowResourceArn is integer", "a string or an expression"),
         None, "$.MlflowConfig.MlflowResourceArn"),
    Case("mlflow-name-boolean", mutate(J, mlflow(MlflowExperimentName=True)), ("MlflowConfig MlflowExperimentName is boolean",), None, MLFLOW_NAME),
    Case("mlflow-name-array", mutate(J, mlflow(MlflowExperimentName=["a"])), ("MlflowConfig MlflowExperimentName is array",), None, MLFLOW_NAME),
    # the service's MlflowExperimentName is 1-256 characters (botocore MlflowExperimentEntityName)
    Case("mlflow-name-empty", mutate(J, mlflow(MlflowExperimentName="")), ("MlflowExperimentName",), None, MLFLOW_NAME),
    Case("mlflow-references-step", mutate(J, mlflow(MlflowExperimentName=get("Steps.AgentRft.JobName"))),
         ("MlflowConfig cannot reference steps", "parameters, execution variables or literals"), None, MLFLOW_NAME),
    Case("mlflow-references-step-in-join", mutate(J, mlflow(MlflowExperimentName=join(["rft-", get("Steps.AgentRft.JobName")]))),
         ("MlflowConfig cannot reference steps",), None, f"{MLFLOW_NAME}['Std:Join'].Values[1]"),
    Case("mlflow-references-property-file", mutate("classic_churn_v3", mlflow_is({"MlflowResourceArn": MLFLOW_ARN, "MlflowExperimentName": {
        "Std:JsonGet": {"PropertyFile": get("Steps.EvaluateChurnV3.PropertyFiles.ChurnEvaluationV3"), "Path": "a"}}})),
         ("MlflowConfig cannot reference steps",), None, f"{MLFLOW_NAME}['Std:JsonGet'].PropertyFile"),
    Case("mlflow-unknown-parameter", mutate(J, mlflow(MlflowExperimentName=get("Parameters.MlflowExperimentNam"))),
         ("references unknown parameter 'MlflowExperimentNam'", "did you mean 'MlflowExperimentName'"), None, MLFLOW_NAME),
    Case("mlflow-current-item", mutate(J, mlflow(MlflowExperimentName=get("ForEach.CurrentItem"))),
         ("'ForEach.CurrentItem' is used in MlflowConfig, outside any ForEach body",), None, MLFLOW_NAME),
]


@pytest.mark.parametrize("config", [
    None,
    {"MlflowResourceArn": MLFLOW_ARN, "MlflowExperimentName": None},
    {"MlflowResourceArn": MLFLOW_ARN},
    {"MlflowResourceArn": "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/tracking", "MlflowExperimentName": "exp"},
    {"MlflowResourceArn": get("Parameters.TrainingDatasetArn"),
     "MlflowExperimentName": join([get("Parameters.MlflowExperimentName"), "-", get("Execution.PipelineExecutionId")])},
], ids=["null", "arn-and-null-name", "arn-only", "tracking-server", "parameter-expressions"])
def test_mlflow_config_forms_that_load(config: Any) -> None:
    doc = v3_doc(J)
    doc["MlflowConfig"] = copy.deepcopy(config)
    loaded = load_definition(doc)
    assert loaded.mlflow_config == config


def test_mlflow_config_key_may_be_absent() -> None:
    doc = v3_doc(J)
    del doc["MlflowConfig"]
    assert load_definition(doc).mlflow_config is None


# -- DependsOn run conditions (run_conditions_training) -------------------------------------------

R = "run_conditions_training"


def depends(step: str, *entries: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: S(doc, step).update(DependsOn=list(entries))


NOTIFY_DEP = "$.Steps[3].DependsOn"  # NotifyTrainingFailed
REPORT_DEP = "$.Steps[5].DependsOn"  # ReportRunOutcome
DEPENDS_ON_CASES = [
    Case("depends-entry-number", mutate(R, depends("NotifyTrainingFailed", 5)),
         ("DependsOn entry is integer", '{"Step": "<name>", "Trigger": "Completed | Failed | Stopped | Any"}'), "NotifyTrainingFailed", f"{NOTIFY_DEP}[0]"),
    Case("depends-entry-array", mutate(R, depends("NotifyTrainingFailed", ["TrainEventsModel"])), ("DependsOn entry is array",), "NotifyTrainingFailed", f"{NOTIFY_DEP}[0]"),
    Case("depends-entry-null", mutate(R, depends("NotifyTrainingFailed", None)), ("DependsOn entry is null",), "NotifyTrainingFailed", f"{NOTIFY_DEP}[0]"),
    Case("depends-entry-unknown-key", mutate(R, depends("NotifyTrainingFailed", {"Step": "TrainEventsModel", "Triger": "Failed"})),
         ("unknown key 'Triger' in a DependsOn entry", "did you mean 'Trigger'"), "NotifyTrainingFailed", f"{NOTIFY_DEP}[0].Triger"),
    Case("depends-entry-extra-key", mutate(R, depends("NotifyTrainingFailed", {"Step": "TrainEventsModel", "Trigger": "Failed", "When": "x"})),
         ("unknown key 'When' in a DependsOn entry", "Step, Trigger"), "NotifyTrainingFailed", f"{NOTIFY_DEP}[0].When"),
    Case("depends-entry-no-step", mutate(R, depends("NotifyTrainingFailed", {"Trigger": "Failed"})),
         ("DependsOn entry has no Step name",), "NotifyTrainingFailed", f"{NOTIFY_DEP}[0].Step"),
    Case("depends-entry-step-not-string", mutate(R, depends("NotifyTrainingFailed", {"Step": 3, "Trigger": "Failed"})),
         ("DependsOn entry has no Step name",), "NotifyTrainingFailed", f"{NOTIFY_DEP}[0].Step"),
    Case("depends-trigger-typo", mutate(R, depends("NotifyTrainingFailed", on("TrainEventsModel", "Faild"))),
         ("DependsOn entry for 'TrainEventsModel' has unknown Trigger 'Faild'", "did you mean 'Failed'", "Completed, Failed, Stopped, Any"),
         "NotifyTrainingFailed", f"{NOTIFY_DEP}[0].Trigger"),
    Case("depends-trigger-lower-case", mutate(R, depends("NotifyTrainingFailed", on("TrainEventsModel", "stopped"))),
         ("unknown Trigger 'stopped'", "did you mean 'Stopped'"), "NotifyTrainingFailed", f"{NOTIFY_DEP}[0].Trigger"),
    Case("depends-trigger-missing", mutate(R, depends("NotifyTrainingFailed", {"Step": "TrainEventsModel"})),
         ("DependsOn entry for 'TrainEventsModel' has no Trigger",), "NotifyTrainingFailed", f"{NOTIFY_DEP}[0].Trigger"),
    Case("depends-trigger-null", mutate(R, depends("NotifyTrainingFailed", {"Step": "TrainEventsModel", "Trigger": None})),
         ("has no Trigger",), "NotifyTrainingFailed", f"{NOTIFY_DEP}[0].Trigger"),
    Case("depends-conflicting-triggers", mutate(R, depends("NotifyTrainingFailed", on("TrainEventsModel", "Failed"), on("TrainEventsModel", "Stopped"))),
         ("conflicting triggers for 'TrainEventsModel': Failed at $.Steps[3].DependsOn[0], Stopped here",), "NotifyTrainingFailed", f"{NOTIFY_DEP}[1]"),
    Case("depends-plain-name-and-any", mutate(R, depends("ReportRunOutcome", "EvaluateEventsModel", on("EvaluateEventsModel", "Any"))),
         ("conflicting triggers for 'EvaluateEventsModel': Completed at $.Steps[5].DependsOn[0], Any here",), "ReportRunOutcome", f"{REPORT_DEP}[1]"),
    Case("depends-any-then-plain-name", mutate(R, depends("ReportRunOutcome", on("EvaluateEventsModel", "Any"), "PreprocessEvents", "EvaluateEventsModel")),
         ("conflicting triggers for 'EvaluateEventsModel': Any at $.Steps[5].DependsOn[0], Completed here",), "ReportRunOutcome", f"{REPORT_DEP}[2]"),
    Case("depends-unknown-step", mutate(R, depends("NotifyTrainingFailed", on("TrainEventModel", "Failed"))),
         ("depends on unknown step 'TrainEventModel'", "did you mean 'TrainEventsModel'"), "NotifyTrainingFailed", f"{NOTIFY_DEP}[0]"),
    Case("depends-top-level-on-body-step", mutate("foreach_literal_regions", depends("PublishReportIndex", on("BuildRegionReport", "Failed"))),
         ("depends on 'BuildRegionReport', a body step of ForEach 'RegionalReports'", "a dependency on the ForEach 'RegionalReports' itself"),
         "PublishReportIndex", "$.Steps[2].DependsOn[0]"),
    # one mistake, one problem (no follow-on "cycle RegionalReports -> RegionalReports")
    Case("depends-body-on-own-foreach", mutate("foreach_literal_regions", depends("BuildRegionReport", "RegionalReports")),
         ("a body step cannot depend on its own ForEach 'RegionalReports'",), "BuildRegionReport",
         "$.Steps[1].Arguments.ForEachBody[0].DependsOn[0]", alone=True),
    Case("depends-failed-but-reads", mutate(R, lambda d: A(d, "NotifyTrainingFailed").update(model=get("Steps.TrainEventsModel.ModelArtifacts.S3ModelArtifacts"))),
         ("runs only if 'TrainEventsModel' failed, but reads its properties (at $.Steps[3].Arguments.model)", "which exist only if it succeeded"),
         "NotifyTrainingFailed", f"{NOTIFY_DEP}[0]"),
    Case("depends-stopped-but-reads", mutate(R, lambda d: A(d, "NotifyTrainingStopped").update(job=get("Steps.TrainEventsModel.TrainingJobName"))),
         ("runs only if 'TrainEventsModel' was stopped, but reads its properties",), "NotifyTrainingStopped", "$.Steps[4].DependsOn[0]"),
    Case("depends-failed-but-reads-emr-serverless", mutate("emr_serverless_features", lambda d: A(d, "NotifySparkFailure").update(state=get("Steps.SparkFeatures.jobRun.state"))),
         ("runs only if 'SparkFeatures' failed, but reads its properties",), "NotifySparkFailure", "$.Steps[4].DependsOn[0]"),
    # a ForEach whose own trigger and whose body's needs on one upstream step cannot both hold
    Case("foreach-lifted-requirements-conflict", mutate("foreach_literal_regions",
                                                       depends("RegionalReports", on("PrepareRegions", "Failed")),
                                                       lambda d: A(d, "BuildRegionReport")["AppSpecification"].update(ContainerArguments=[get("Steps.PrepareRegions.ProcessingJobName")])),
         ("needs 'PrepareRegions' to have failed and, for its body, to have succeeded: it can never run",), "RegionalReports", "$.Steps[1]"),
    Case("foreach-lifted-triggers-conflict-wording", mutate("foreach_literal_regions",
                                                            depends("RegionalReports", on("PrepareRegions", "Failed")),
                                                            depends("BuildRegionReport", on("PrepareRegions", "Stopped"))),
         ("needs 'PrepareRegions' to have failed and, for its body, to have been stopped",), "RegionalReports", "$.Steps[1]"),
]


def test_run_condition_forms_that_load() -> None:
    doc = v3_doc(R)
    S(doc, "ReportRunOutcome")["DependsOn"] = [on("EvaluateEventsModel", "Completed"), "EvaluateEventsModel", "PreprocessEvents"]
    S(doc, "ReportRunOutcome")["Arguments"]["evaluation"] = get("Steps.EvaluateEventsModel.ProcessingJobName")
    loaded = load_definition(doc)
    assert loaded.steps["ReportRunOutcome"].trigger_on("EvaluateEventsModel") == "Completed"
    assert loaded.steps["NotifyTrainingFailed"].trigger_on("TrainEventsModel") == "Failed"


# -- ForEach (foreach_literal_regions, and a hand-built sweep with a Selector) ---------------------

F = "foreach_literal_regions"
F_ARGS = "$.Steps[1].Arguments"
BODY_ARGS = f"{F_ARGS}.ForEachBody[0].Arguments"
CONTAINER_ARG = f"{BODY_ARGS}.AppSpecification.ContainerArguments[0]"
ITEMS_EXPECTED = "a list of 1-100 items"


def for_each_args(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: A(doc, "RegionalReports").update(copy.deepcopy(changes))


def drop_for_each_arg(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: A(doc, "RegionalReports").pop(key)


def add_item(value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: A(doc, "RegionalReports")["IterableItems"].append(copy.deepcopy(value))


def add_body_step(step: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda doc: A(doc, "RegionalReports")["ForEachBody"].append(copy.deepcopy(step))


def body_reads(value: Any) -> Callable[[dict[str, Any]], None]:
    """Make the body step BuildRegionReport's first container argument ``value``."""
    return lambda doc: A(doc, "BuildRegionReport")["AppSpecification"].update(ContainerArguments=[copy.deepcopy(value)])


def publish_reads(value: Any) -> Callable[[dict[str, Any]], None]:
    """Give the top-level Lambda PublishReportIndex an argument ``x`` = ``value``."""
    return lambda doc: A(doc, "PublishReportIndex").update(x=copy.deepcopy(value))


def append_step(step: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["Steps"].append(copy.deepcopy(step))


PUBLISH_X = "$.Steps[2].Arguments.x"
SELECTOR_FIELD = get("IterationOutput.TrainCandidate.FinalMetricDataList['validation:auc'].Value")


def sweep(selector: Any = None, *after: dict[str, Any], items: Any = ("a", "b")) -> Callable[[], dict[str, Any]]:
    """Prep, then a ForEach ``Sweep`` (body: Training TrainCandidate, Lambda RecordCandidate with a
    Float output ``score``), then ``after``."""
    body = [training("TrainCandidate"),
            lambda_step("RecordCandidate", {"job": get("Steps.TrainCandidate.TrainingJobName")}, outputs=(("score", "Float"),))]
    items = list(items) if isinstance(items, tuple) else items
    return hand(training("Prep"), for_each("Sweep", items, body, selector=selector, DependsOn=["Prep"]), *after)


def pick(how: Any = "MaxBy", field: Any = SELECTOR_FIELD, **extra: Any) -> dict[str, Any]:
    return {"Pick": how, "Field": field, **extra}


SELECTOR = "$.Steps[1].Arguments.Selector"
IO = "Steps.RegionalReports.IterationOutputs"
FOR_EACH_CASES = [
    # IterableItems
    Case("items-missing", mutate(F, drop_for_each_arg("IterableItems")), ("IterableItems is missing", ITEMS_EXPECTED), "RegionalReports", f"{F_ARGS}.IterableItems"),
    Case("items-literal-string", mutate(F, for_each_args(IterableItems='["us", "eu"]')),
         ("IterableItems is a literal string: a single value cannot resolve to a list",), "RegionalReports", f"{F_ARGS}.IterableItems"),
    Case("items-literal-number", mutate(F, for_each_args(IterableItems=3)), ("IterableItems is a literal integer",), "RegionalReports", f"{F_ARGS}.IterableItems"),
    Case("items-literal-object", mutate(F, for_each_args(IterableItems={"region": "us"})), ("IterableItems is a literal object",), "RegionalReports", f"{F_ARGS}.IterableItems"),
    # one mistake, one problem (no "iteration 0 does not exist (expected its 0 items (0..-1))")
    Case("items-empty-list", mutate(F, for_each_args(IterableItems=[])), ("IterableItems has 0 items", ITEMS_EXPECTED),
         "RegionalReports", f"{F_ARGS}.IterableItems", alone=True),
    Case("items-empty-list-hand", sweep(None, items=[]), ("IterableItems has 0 items",), "Sweep", f"{F_ARGS}.IterableItems"),
    Case("items-101", mutate(F, for_each_args(IterableItems=[f"r{i}" for i in range(101)])), ("IterableItems has 101 items",), "RegionalReports", f"{F_ARGS}.IterableItems"),
    Case("item-null", mutate(F, add_item(None)), ("item is null", "a string, number, boolean or expression"), "RegionalReports", f"{F_ARGS}.IterableItems[3]"),
    Case("item-object", mutate(F, add_item({"region": "ap"})), ("item is object",), "RegionalReports", f"{F_ARGS}.IterableItems[3]"),
    Case("item-nested-list", mutate(F, add_item(["ap"])), ("item is array",), "RegionalReports", f"{F_ARGS}.IterableItems[3]"),
    Case("item-unknown-parameter", mutate(F, add_item(get("Parameters.ExtraRegionItems"))),
         ("references unknown parameter 'ExtraRegionItems'", "did you mean 'ExtraRegionItem'"), "RegionalReports", f"{F_ARGS}.IterableItems[3]"),
    # MaxConcurrency
    Case("concurrency-missing", mutate(F, drop_for_each_arg("MaxConcurrency")), ("MaxConcurrency is missing", "an integer 1..50 (not an expression)"),
         "RegionalReports", f"{F_ARGS}.MaxConcurrency"),
    Case("concurrency-zero", mutate(F, for_each_args(MaxConcurrency=0)), ("MaxConcurrency is 0",), "RegionalReports", f"{F_ARGS}.MaxConcurrency"),
    Case("concurrency-51", mutate(F, for_each_args(MaxConcurrency=51)), ("MaxConcurrency is 51", "1..50"), "RegionalReports", f"{F_ARGS}.MaxConcurrency"),
    Case("concurrency-boolean", mutate(F, for_each_args(MaxConcurrency=True)), ("MaxConcurrency is",), "RegionalReports", f"{F_ARGS}.MaxConcurrency"),
    Case("concurrency-float", mutate(F, for_each_args(MaxConcurrency=2.0)), ("MaxConcurrency is 2.0",), "RegionalReports", f"{F_ARGS}.MaxConcurrency"),
    Case("concurrency-expression", mutate(F, for_each_args(MaxConcurrency=get("Parameters.ReportDate"))), ("MaxConcurrency is", "not an expression"),
         "RegionalReports", f"{F_ARGS}.MaxConcurrency"),
    # ForEachBody
    Case("body-missing", mutate(F, drop_for_each_arg("ForEachBody")), ("ForEachBody is missing", "a non-empty array of steps"), "RegionalReports", f"{F_ARGS}.ForEachBody"),
    Case("body-empty", hand(for_each("Loop", ["a"], [])), ("ForEachBody is empty",), "Loop", "$.Steps[0].Arguments.ForEachBody"),
    Case("body-not-list", mutate(F, lambda d: A(d, "RegionalReports").update(ForEachBody=A(d, "RegionalReports")["ForEachBody"][0])),
         ("ForEachBody is object",), "RegionalReports", f"{F_ARGS}.ForEachBody"),
    Case("body-condition-step", mutate(F, add_body_step(condition("CheckRegion", [{"Type": "Equals", "LeftValue": get("ForEach.CurrentItem.region"), "RightValue": "us"}]))),
         ("a Condition step is not allowed in the ForEachBody of ForEach step 'RegionalReports'",), "CheckRegion", f"{F_ARGS}.ForEachBody[1].Type"),
    Case("body-fail-step", mutate(F, add_body_step(fail("RegionFailed"))),
         ("a Fail step is not allowed in the ForEachBody of ForEach step 'RegionalReports'",), "RegionFailed", f"{F_ARGS}.ForEachBody[1].Type"),
    Case("body-nested-foreach", mutate(F, add_body_step(for_each("Inner", ["a"], [lambda_step("InnerWork")]))),
         ("a ForEach step is not allowed in the ForEachBody", "no branching, failing or nesting"), "Inner", f"{F_ARGS}.ForEachBody[1].Type"),
    Case("invalid-v3-fixture", lambda: v3_path("invalid_condition_in_foreach_body"),
         ("a Condition step is not allowed in the ForEachBody of ForEach step 'ScoreItemsLoop'",), "CheckItemScore", "$.Steps[0].Arguments.ForEachBody[1].Type"),
    Case("foreach-unknown-argument", mutate(F, for_each_args(MaxConcurency=2)),
         ("unknown ForEach argument 'MaxConcurency'", "did you mean 'MaxConcurrency'"), "RegionalReports", f"{F_ARGS}.MaxConcurency"),
    # Selector
    Case("selector-not-object", sweep("MaxBy"), ("Selector is string",), "Sweep", SELECTOR),
    Case("selector-unknown-key", sweep(pick(Fields=1)), ("unknown Selector key 'Fields'", "did you mean 'Field'"), "Sweep", f"{SELECTOR}.Fields"),
    Case("selector-pick-typo", sweep(pick("Maxby")), ("Selector Pick is 'Maxby'", "did you mean 'MaxBy'", "MaxBy or MinBy"), "Sweep", f"{SELECTOR}.Pick"),
    Case("selector-pick-missing", sweep({"Field": SELECTOR_FIELD}), ("Selector Pick is",), "Sweep", f"{SELECTOR}.Pick"),
    Case("selector-field-parameter", sweep(pick(field=get("Parameters.X"))),
         ("Selector Field 'Parameters.X' is not an IterationOutput reference",), "Sweep", f"{SELECTOR}.Field"),
    Case("selector-field-steps", sweep(pick(field=get("Steps.TrainCandidate.TrainingJobName"))),
         ("Selector Field 'Steps.TrainCandidate.TrainingJobName' is not an IterationOutput reference",), "Sweep", f"{SELECTOR}.Field"),
    Case("selector-field-not-body-step", sweep(pick(field=get("IterationOutput.TrainCandidat.FinalMetricDataList[0].Value"))),
         ("Selector Field names 'TrainCandidat', which is not a body step of this ForEach", "did you mean 'TrainCandidate'"), "Sweep", f"{SELECTOR}.Field"),
    Case("selector-field-top-level-step", sweep(pick(field=get("IterationOutput.Prep.FinalMetricDataList[0].Value"))),
         ("Selector Field names 'Prep', which is not a body step of this ForEach",), "Sweep", f"{SELECTOR}.Field"),
    Case("selector-field-no-member", sweep(pick(field=get("IterationOutput.TrainCandidate"))),
         ("names step 'TrainCandidate' but no property of it",), "Sweep", f"{SELECTOR}.Field"),
    Case("selector-field-undeclared-lambda-output", sweep(pick("MinBy", get("IterationOutput.RecordCandidate.OutputParameters['scor']"))),
         ("step 'RecordCandidate' declares no output parameter 'scor'", "did you mean 'score'"), "Sweep", f"{SELECTOR}.Field"),
    Case("selector-field-lambda-not-output", sweep(pick("MinBy", get("IterationOutput.RecordCandidate.score"))),
         ("Lambda step 'RecordCandidate' only has OutputParameters['<name>'] properties",), "Sweep", f"{SELECTOR}.Field"),
    # the message must say what is wrong, not "'Get' must be a non-empty string, not None"
    Case("selector-field-missing", sweep({"Pick": "MaxBy"}), ("Selector has no Field",), "Sweep", f"{SELECTOR}.Field"),
    Case("selector-field-plain-string", sweep(pick(field="IterationOutput.TrainCandidate.FinalMetricDataList[0].Value")),
         ("Selector Field is string",), "Sweep", f"{SELECTOR}.Field"),
    # ForEach.CurrentItem and IterationOutput where they mean nothing
    Case("current-item-top-level", mutate(F, publish_reads(get("ForEach.CurrentItem.region"))),
         ("'ForEach.CurrentItem.region' is used in Lambda step 'PublishReportIndex', outside any ForEach body",), "PublishReportIndex", PUBLISH_X),
    Case("current-item-in-own-items", mutate(F, lambda d: A(d, "RegionalReports")["IterableItems"].__setitem__(2, get("ForEach.CurrentItem"))),
         ("'ForEach.CurrentItem' is used in ForEach step 'RegionalReports', outside any ForEach body",), "RegionalReports", f"{F_ARGS}.IterableItems[2]"),
    Case("current-item-unknown-member", mutate(F, body_reads(get("ForEach.CurrentItems"))),
         ("unknown ForEach member 'CurrentItems' in 'ForEach.CurrentItems'",), "BuildRegionReport", CONTAINER_ARG),
    Case("current-item-empty-field", mutate(F, body_reads(get("ForEach.CurrentItem."))),
         ("empty field after 'ForEach.CurrentItem.'",), "BuildRegionReport", CONTAINER_ARG),
    Case("iteration-output-top-level", mutate(F, publish_reads(get("IterationOutput.BuildRegionReport.ProcessingJobName"))),
         ("'IterationOutput.BuildRegionReport.ProcessingJobName' can only be the Field of a ForEach Selector",), "PublishReportIndex", PUBLISH_X),
    Case("iteration-output-in-body", mutate(F, body_reads(get("IterationOutput.BuildRegionReport.ProcessingJobName"))),
         ("can only be the Field of a ForEach Selector",), "BuildRegionReport", CONTAINER_ARG),
    # reading across the ForEach boundary
    Case("top-level-reads-body-step", mutate(F, publish_reads(get("Steps.BuildRegionReport.ProcessingJobName"))),
         ("'BuildRegionReport' is a body step of ForEach 'RegionalReports': only the steps of that body can read it",
          "Steps.RegionalReports.IterationOutputs[<i>].BuildRegionReport.<member>"), "PublishReportIndex", PUBLISH_X),
    Case("body-reads-own-foreach", mutate(F, body_reads(get("Steps.RegionalReports.Status"))),
         ("a body step cannot read the properties of its own ForEach 'RegionalReports'",), "BuildRegionReport", CONTAINER_ARG),
    # Steps.<ForEach>.* properties
    Case("iteration-outputs-no-index", mutate(F, publish_reads(get(f"{IO}.BuildRegionReport.ProcessingJobName"))),
         ("IterationOutputs needs an integer index and a body step name",), "PublishReportIndex", PUBLISH_X),
    Case("iteration-outputs-key-index", mutate(F, publish_reads(get(f"{IO}['0'].BuildRegionReport.ProcessingJobName"))),
         ("IterationOutputs needs an integer index",), "PublishReportIndex", PUBLISH_X),
    Case("iteration-outputs-negative-index", mutate(F, publish_reads(get(f"{IO}[-1].BuildRegionReport.ProcessingJobName"))),
         ("iteration -1 does not exist", "its 3 items (0..2)"), "PublishReportIndex", PUBLISH_X),
    Case("iteration-outputs-index-too-big", mutate(F, publish_reads(get(f"{IO}[3].BuildRegionReport.ProcessingJobName"))),
         ("iteration 3 does not exist", "its 3 items (0..2)"), "PublishReportIndex", PUBLISH_X),
    Case("iteration-outputs-unknown-body-step", mutate(F, publish_reads(get(f"{IO}[0].BuildRegionReprt.ProcessingJobName"))),
         ("'BuildRegionReprt' is not a body step of ForEach 'RegionalReports'", "did you mean 'BuildRegionReport'"), "PublishReportIndex", PUBLISH_X),
    Case("iteration-outputs-no-body-step", mutate(F, publish_reads(get(f"{IO}[0]"))),
         ("IterationOutputs needs an integer index and a body step name",), "PublishReportIndex", PUBLISH_X),
    Case("iteration-outputs-undeclared-output", sweep(None, lambda_step("Use", {"x": get("Steps.Sweep.IterationOutputs[1].RecordCandidate.OutputParameters['scores']")})),
         ("step 'RecordCandidate' declares no output parameter 'scores'", "did you mean 'score'"), "Use", "$.Steps[2].Arguments.x"),
    Case("selected-without-selector", mutate(F, publish_reads(get("Steps.RegionalReports.Selected.ProcessingJobName"))),
         ("ForEach step 'RegionalReports' has no Selector, so no Selected iteration",), "PublishReportIndex", PUBLISH_X),
    Case("selected-undeclared-output", sweep(pick("MinBy", get("IterationOutput.RecordCandidate.OutputParameters['score']")),
                                             lambda_step("Use", {"x": get("Steps.Sweep.Selected.OutputParameters['scor']")})),
         ("step 'RecordCandidate' declares no output parameter 'scor'",), "Use", "$.Steps[2].Arguments.x"),
    Case("foreach-unknown-property", mutate(F, publish_reads(get("Steps.RegionalReports.Statuss"))),
         ("ForEach step 'RegionalReports' has no property 'Statuss'", "did you mean 'Status'"), "PublishReportIndex", PUBLISH_X),
    Case("foreach-aggregate-with-path", mutate(F, publish_reads(get("Steps.RegionalReports.Status.x"))),
         ("'Steps.RegionalReports.Status.x': Status is a single value",), "PublishReportIndex", PUBLISH_X),
    Case("foreach-count-with-index", mutate(F, publish_reads(get("Steps.RegionalReports.InputItemCount[0]"))),
         ("InputItemCount is a single value",), "PublishReportIndex", PUBLISH_X),
    # names and the graph
    Case("top-level-name-collides-with-children", mutate(F, append_step(lambda_step("BuildRegionReport-3"))),
         ("step name 'BuildRegionReport-3' collides with the children of body step 'BuildRegionReport'",), "BuildRegionReport-3", "$.Steps[3].Name"),
    Case("body-step-names-across-bodies", mutate(F, append_step(for_each("OtherLoop", ["a"], [lambda_step("BuildRegionReport")]))),
         ("duplicate step name 'BuildRegionReport'", "first defined at $.Steps[1].Arguments.ForEachBody[0]"),
         "BuildRegionReport", "$.Steps[3].Arguments.ForEachBody[0].Name"),
    Case("body-step-name-reused-at-top-level", mutate(F, append_step(lambda_step("BuildRegionReport"))),
         ("duplicate step name 'BuildRegionReport'",), "BuildRegionReport", "$.Steps[3].Name"),
    # the message must name the body step that closes the cycle, not only "RegionalReports -> After"
    Case("cycle-through-body", mutate(F, append_step(lambda_step("After", DependsOn=["RegionalReports"])),
                                      body_reads(get("Steps.After.OutputParameters['status']"))),
         ("cycle through a ForEach body", "After", "BuildRegionReport"), "RegionalReports", "$.Steps[1]"),
    Case("cycle-through-body-depends-on", mutate(F, append_step(lambda_step("After", DependsOn=["RegionalReports"])),
                                                 depends("BuildRegionReport", "After")),
         ("cycle through a ForEach body: RegionalReports -> After -> RegionalReports",), "RegionalReports", "$.Steps[1]"),
    Case("cycle-through-items", mutate(F, add_item(get("Steps.PublishReportIndex.OutputParameters['IndexUri']"))),
         ("cycle in the step graph: RegionalReports -> PublishReportIndex -> RegionalReports",), "RegionalReports", "$.Steps[1]"),
]


def test_selector_and_for_each_properties_that_load() -> None:
    readers = lambda_step("Use", {
        "best": get("Steps.Sweep.Selected.TrainingJobName"),
        "second": get("Steps.Sweep.IterationOutputs[1].RecordCandidate.OutputParameters['score']"),
        "status": get("Steps.Sweep.Status"),
        "failed": get("Steps.Sweep.FailedStepCount"),
    })
    loaded = load_definition(sweep(pick("MaxBy"), readers)())
    spec = loaded.steps["Sweep"].for_each
    assert spec is not None and spec.selector is not None
    assert (spec.selector.pick, spec.selector.body_step, spec.body) == ("MaxBy", "TrainCandidate", ("TrainCandidate", "RecordCandidate"))
    assert loaded.steps["TrainCandidate"].parent_for_each == "Sweep"


@pytest.mark.parametrize("items", [[f"r{i}" for i in range(100)], get("Parameters.ExtraRegionItem"), ["a", 1, 2.5, True, get("Parameters.ReportDate")]],
                         ids=["100-literal-items", "one-expression", "mixed-scalars"])
def test_iterable_items_that_load(items: Any) -> None:
    doc = v3_doc(F)
    A(doc, "RegionalReports")["IterableItems"] = copy.deepcopy(items)
    A(doc, "PublishReportIndex").pop("last_report")  # IterationOutputs[2] needs three literal items
    assert load_definition(doc).steps["RegionalReports"].for_each.items == items


# -- Cleanup (run_conditions_training, emr_serverless_features, classic_churn_v3) -----------------

C_ARGS = "$.Steps[6].Arguments"  # CleanupIntermediateData
C_S3 = f"{C_ARGS}.Resources.S3"


def cleanup_args(edit: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    return lambda doc: edit(A(doc, "CleanupIntermediateData"))


def source(index: int, **changes: Any) -> Callable[[dict[str, Any]], None]:
    return cleanup_args(lambda args: args["Resources"]["S3"][index].update(copy.deepcopy(changes)))


def drop_from_source(index: int, key: str) -> Callable[[dict[str, Any]], None]:
    return cleanup_args(lambda args: args["Resources"]["S3"][index].pop(key))


def add_source(entry: Any) -> Callable[[dict[str, Any]], None]:
    return cleanup_args(lambda args: args["Resources"]["S3"].append(copy.deepcopy(entry)))


def churn_cleanup(*sources: dict[str, Any], after: str = "BatchScoreChurnV3") -> Callable[[], dict[str, Any]]:
    """classic_churn_v3 with a Cleanup appended (Steps[5]) that runs on Any of ``after``."""
    return mutate("classic_churn_v3", append_step(cleanup("Clean", list(sources), DependsOn=[on(after, "Any")])))


VPC = {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1"]}
CLEANUP_CASES = [
    Case("cleanup-unknown-argument", mutate(R, cleanup_args(lambda a: a.update(Resource={}))),
         ("unknown Cleanup argument 'Resource'", "did you mean 'Resources'"), "CleanupIntermediateData", f"{C_ARGS}.Resource"),
    Case("cleanup-no-resources", mutate(R, cleanup_args(lambda a: a.pop("Resources"))),
         ("Cleanup step has no Resources", '{"S3": [{"StepName": ..., "S3Uris": [...]}]}'), "CleanupIntermediateData", f"{C_ARGS}.Resources"),
    Case("cleanup-unknown-resource-kind", mutate(R, cleanup_args(lambda a: a["Resources"].update(EFS=[]))),
         ("unknown Cleanup resource kind 'EFS'",), "CleanupIntermediateData", f"{C_ARGS}.Resources.EFS"),
    Case("cleanup-no-s3", mutate(R, cleanup_args(lambda a: a["Resources"].pop("S3"))),
         ("Cleanup step needs a non-empty Resources.S3 array",), "CleanupIntermediateData", C_S3),
    Case("cleanup-s3-empty", mutate(R, cleanup_args(lambda a: a["Resources"].update(S3=[]))),
         ("Cleanup step needs a non-empty Resources.S3 array",), "CleanupIntermediateData", C_S3),
    Case("cleanup-s3-object", mutate(R, cleanup_args(lambda a: a["Resources"].update(S3={"StepName": "TrainEventsModel"}))),
         ("Cleanup step needs a non-empty Resources.S3 array",), "CleanupIntermediateData", C_S3),
    Case("cleanup-source-not-object", mutate(R, cleanup_args(lambda a: a["Resources"]["S3"].__setitem__(1, "TrainEventsModel"))),
         ("Cleanup source is string",), "CleanupIntermediateData", f"{C_S3}[1]"),
    Case("cleanup-source-unknown-key", mutate(R, source(1, S3Uri=["s3://b/k"])),
         ("unknown key 'S3Uri' in a Cleanup source", "did you mean 'S3Uris'"), "CleanupIntermediateData", f"{C_S3}[1].S3Uri"),
    Case("cleanup-source-no-step-name", mutate(R, drop_from_source(1, "StepName")),
         ("Cleanup source has no StepName",), "CleanupIntermediateData", f"{C_S3}[1].StepName"),
    Case("cleanup-source-unknown-step", mutate(R, source(1, StepName="TrainEventModel")),
         ("Cleanup source 'TrainEventModel' is not a step", "did you mean 'TrainEventsModel'"), "CleanupIntermediateData", f"{C_S3}[1].StepName"),
    Case("cleanup-source-fail-step", churn_cleanup({"StepName": "ChurnAucTooLowV3"}),
         ("Cleanup source 'ChurnAucTooLowV3' is a Fail step, which writes no S3 outputs",), "Clean", "$.Steps[5].Arguments.Resources.S3[0].StepName"),
    Case("cleanup-source-condition-step", churn_cleanup({"StepName": "CheckChurnAucV3"}),
         ("Cleanup source 'CheckChurnAucV3' is a Condition step",), "Clean", "$.Steps[5].Arguments.Resources.S3[0].StepName"),
    Case("cleanup-source-cleanup-step", mutate("emr_serverless_features", append_step(cleanup("CleanAgain", [{"StepName": "CleanupTrainingOutput"}],
                                                                                              DependsOn=[on("CleanupTrainingOutput", "Any")]))),
         ("Cleanup source 'CleanupTrainingOutput' is a Cleanup step",), "CleanAgain", "$.Steps[5].Arguments.Resources.S3[0].StepName"),
    Case("cleanup-source-twice", mutate(R, add_source({"StepName": "TrainEventsModel"})),
         ("source step 'TrainEventsModel' is listed twice",), "CleanupIntermediateData", f"{C_S3}[2]"),
    Case("cleanup-s3-uris-empty", mutate(R, source(0, S3Uris=[])),
         ("S3Uris must be omitted or a non-empty array",), "CleanupIntermediateData", f"{C_S3}[0].S3Uris"),
    Case("cleanup-s3-uris-string", mutate(R, source(0, S3Uris="s3://b/k")),
         ("S3Uris must be omitted or a non-empty array",), "CleanupIntermediateData", f"{C_S3}[0].S3Uris"),
    Case("cleanup-s3-uri-not-s3", mutate(R, source(0, S3Uris=["https://bucket/key"])),
         ("S3Uri 'https://bucket/key' is not an s3:// URI",), "CleanupIntermediateData", f"{C_S3}[0].S3Uris[0]"),
    Case("cleanup-s3-uri-number", mutate(R, source(0, S3Uris=[5])), ("S3Uri is integer",), "CleanupIntermediateData", f"{C_S3}[0].S3Uris[0]"),
    Case("cleanup-s3-uri-unknown-parameter", mutate(R, source(0, S3Uris=[get("Parameters.InputDataUrl")])),
         ("references unknown parameter 'InputDataUrl'", "did you mean 'InputDataUri'"), "CleanupIntermediateData", f"{C_S3}[0].S3Uris[0]"),
    Case("cleanup-processing-without-uris", mutate(R, drop_from_source(0, "S3Uris")),
         ("Cleanup source 'PreprocessEvents' is a Processing step and has no S3Uris",), "CleanupIntermediateData", f"{C_S3}[0]"),
    Case("cleanup-transform-without-uris", churn_cleanup({"StepName": "BatchScoreChurnV3"}),
         ("Cleanup source 'BatchScoreChurnV3' is a Transform step and has no S3Uris",), "Clean", "$.Steps[5].Arguments.Resources.S3[0]"),
    # the service locates outputs by itself only for Training and Athena sources
    Case("cleanup-training-in-vpc", mutate(R, lambda d: A(d, "TrainEventsModel").update(VpcConfig=copy.deepcopy(VPC))),
         ("Cleanup source 'TrainEventsModel' runs in a VPC (Arguments.VpcConfig)", "cannot clean up"), "CleanupIntermediateData", f"{C_S3}[1].StepName"),
    Case("cleanup-processing-in-vpc", mutate(R, lambda d: A(d, "PreprocessEvents").update(NetworkConfig={"VpcConfig": copy.deepcopy(VPC)})),
         ("Cleanup source 'PreprocessEvents' runs in a VPC (Arguments.NetworkConfig.VpcConfig)",), "CleanupIntermediateData", f"{C_S3}[0].StepName"),
    Case("cleanup-source-not-upstream", mutate(R, add_source({"StepName": "NotifyTrainingFailed", "S3Uris": ["s3://bucket/x"]})),
         ("Cleanup source 'NotifyTrainingFailed' does not run before the Cleanup step", '{"Step": "NotifyTrainingFailed", "Trigger": "Any"}'),
         "CleanupIntermediateData", f"{C_S3}[2]"),
    Case("cleanup-without-depends-on", mutate(R, lambda d: S(d, "CleanupIntermediateData").pop("DependsOn")),
         ("Cleanup source 'TrainEventsModel' does not run before the Cleanup step",), "CleanupIntermediateData", f"{C_S3}[1]"),
    Case("cleanup-source-body-step", mutate(F, append_step(cleanup("CleanRegions", [{"StepName": "BuildRegionReport", "S3Uris": ["s3://bucket/x"]}],
                                                                   DependsOn=[on("RegionalReports", "Any")]))),
         ("Cleanup source 'BuildRegionReport' is a body step of ForEach 'RegionalReports'",), "CleanRegions", "$.Steps[3].Arguments.Resources.S3[0].StepName"),
    Case("cleanup-properties-read", mutate(R, lambda d: A(d, "ReportRunOutcome").update(cleaned=get("Steps.CleanupIntermediateData.CleanedSteps"))),
         ("references Cleanup step 'CleanupIntermediateData', which has no properties",), "ReportRunOutcome", "$.Steps[5].Arguments.cleaned"),
    Case("cleanup-cache-config", mutate(R, lambda d: S(d, "CleanupIntermediateData").update(CacheConfig={"Enabled": True})),
         ("CacheConfig is not supported on Cleanup steps",), "CleanupIntermediateData", "$.Steps[6].CacheConfig"),
]


def test_a_source_the_service_may_locate_loads_and_the_dry_run_reports_it() -> None:
    # Only Processing and Transform sources are documented as needing S3Uris; for a Model source the
    # documentation says nothing, so it loads, and the dry-run (which cannot know where the service
    # looks) reports it in FailedSteps asking for S3Uris.
    loaded = load_definition(churn_cleanup({"StepName": "CreateChurnModelV3"}, after="CreateChurnModelV3")())
    evaluation = {"binary_classification_metrics": {"auc": {"value": 0.9}}}
    report = dry_run(loaded, DryRunInputs(property_files={"EvaluateChurnV3": {"ChurnEvaluationV3": evaluation}}))
    [failed] = report["steps"]["Clean"]["metadata"]["FailedSteps"]
    assert failed["StepName"] == "CreateChurnModelV3" and "give S3Uris" in failed["ErrorMessage"]


def test_cleanup_sources_are_recorded() -> None:
    loaded = load_definition(v3_path(R))
    sources = loaded.steps["CleanupIntermediateData"].cleanup_sources
    assert [s.step for s in sources] == ["PreprocessEvents", "TrainEventsModel"]
    assert sources[0].s3_uris is not None and sources[1].s3_uris is None


# -- EMRServerless (emr_serverless_features) --------------------------------------------------------

E = "emr_serverless_features"
SPARK = "$.Steps[0].Arguments"  # SparkFeatures, ApplicationId form
AGGREGATES = "$.Steps[1].Arguments"  # SparkAggregates, ApplicationConfig form


def spark(step: str = "SparkFeatures", **changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: A(doc, step).update(copy.deepcopy(changes))


def spark_drop(key: str, step: str = "SparkFeatures") -> Callable[[dict[str, Any]], None]:
    return lambda doc: A(doc, step).pop(key)


def spark_job(edit: Callable[[dict[str, Any]], Any], step: str = "SparkFeatures") -> Callable[[dict[str, Any]], None]:
    return lambda doc: edit(A(doc, step)["JobConfig"])


def spark_app(edit: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    return lambda doc: edit(A(doc, "SparkAggregates")["ApplicationConfig"])


def train_reads(value: Any) -> Callable[[dict[str, Any]], None]:
    """Make TrainOnFeatures (Steps[2], after both Spark steps) read ``value`` as a hyperparameter."""
    return lambda doc: A(doc, "TrainOnFeatures")["HyperParameters"].update(x=copy.deepcopy(value))


TRAIN_X = "$.Steps[2].Arguments.HyperParameters.x"
EMR_SERVERLESS_CASES = [
    Case("emrs-unknown-argument", mutate(E, spark(ApplicationID="00fx")),
         ("unknown EMRServerless argument 'ApplicationID'", "did you mean 'ApplicationId'"), "SparkFeatures", f"{SPARK}.ApplicationID"),
    Case("emrs-no-execution-role", mutate(E, spark_drop("ExecutionRoleArn")),
         ("EMRServerless step needs an ExecutionRoleArn string",), "SparkFeatures", f"{SPARK}.ExecutionRoleArn"),
    Case("emrs-application-id-and-config", mutate(E, spark(ApplicationConfig={"releaseLabel": "emr-7.2.0", "type": "SPARK"})),
         ("needs exactly one of ApplicationId (an existing application) and ApplicationConfig (a new one)",), "SparkFeatures", SPARK),
    Case("emrs-neither-application", mutate(E, spark_drop("ApplicationId")),
         ("needs exactly one of ApplicationId", "ApplicationConfig"), "SparkFeatures", SPARK),
    Case("emrs-application-id-number", mutate(E, spark(ApplicationId=5)),
         ("ApplicationId is integer", "a string or an expression"), "SparkFeatures", f"{SPARK}.ApplicationId"),
    Case("emrs-no-job-config", mutate(E, spark_drop("JobConfig")),
         ("EMRServerless step needs a JobConfig object (the StartJobRun request)",), "SparkFeatures", f"{SPARK}.JobConfig"),
    Case("emrs-job-config-string", mutate(E, spark(JobConfig="--class Main")), ("needs a JobConfig object",), "SparkFeatures", f"{SPARK}.JobConfig"),
    Case("emrs-job-config-expression", mutate(E, spark(JobConfig=get("Parameters.FeatureDate"))), ("needs a JobConfig object",), "SparkFeatures", f"{SPARK}.JobConfig"),
    Case("emrs-job-config-member-typo", mutate(E, spark_job(lambda j: j.update(jobDrivr=j.pop("jobDriver")))),
         ("unknown member 'jobDrivr'", "did you mean 'jobDriver'"), "SparkFeatures", f"{SPARK}.JobConfig.jobDrivr"),
    Case("emrs-job-config-no-job-driver", mutate(E, spark_job(lambda j: j.pop("jobDriver"))),
         ("missing required member 'jobDriver'",), "SparkFeatures", f"{SPARK}.JobConfig"),
    Case("emrs-job-config-no-execution-role", mutate(E, spark_job(lambda j: j.pop("executionRoleArn"))),
         ("missing required member 'executionRoleArn'",), "SparkFeatures", f"{SPARK}.JobConfig"),
    Case("emrs-timeout-string", mutate(E, spark_job(lambda j: j.update(executionTimeoutMinutes="x"))),
         ("executionTimeoutMinutes is a string \"x\"", "an integer"), "SparkFeatures", f"{SPARK}.JobConfig.executionTimeoutMinutes"),
    Case("emrs-timeout-out-of-range", mutate(E, spark_job(lambda j: j.update(executionTimeoutMinutes=-5))),
         ("-5 is out of range",), "SparkFeatures", f"{SPARK}.JobConfig.executionTimeoutMinutes"),
    Case("emrs-tags-array", mutate(E, spark_job(lambda j: j.update(tags=["team=features"]))), ("is an array",), "SparkFeatures", f"{SPARK}.JobConfig.tags"),
    Case("emrs-spark-submit-typo", mutate(E, spark_job(lambda j: j["jobDriver"]["sparkSubmit"].update(entrypoint="s3://b/x.py"))),
         ("unknown member 'entrypoint'", "did you mean 'entryPoint'"), "SparkFeatures", f"{SPARK}.JobConfig.jobDriver.sparkSubmit.entrypoint"),
    Case("emrs-application-config-no-release-label", mutate(E, spark_app(lambda a: a.pop("releaseLabel"))),
         ("missing required member 'releaseLabel'",), "SparkAggregates", f"{AGGREGATES}.ApplicationConfig"),
    Case("emrs-application-config-no-type", mutate(E, spark_app(lambda a: a.pop("type"))),
         ("missing required member 'type'",), "SparkAggregates", f"{AGGREGATES}.ApplicationConfig"),
    Case("emrs-application-config-unknown-member", mutate(E, spark_app(lambda a: a.update(relaseLabel="emr-7.2.0"))),
         ("unknown member 'relaseLabel'", "did you mean 'releaseLabel'"), "SparkAggregates", f"{AGGREGATES}.ApplicationConfig.relaseLabel"),
    Case("emrs-application-config-string", mutate(E, spark("SparkAggregates", ApplicationConfig="SPARK")),
         ("ApplicationConfig is a string \"SPARK\"", "an object"), "SparkAggregates", f"{AGGREGATES}.ApplicationConfig"),
    Case("emrs-job-application-id-differs", mutate(E, spark_job(lambda j: j.update(applicationId="00fother"))),
         ("JobConfig.applicationId '00fother' differs from ApplicationId '00fexamplev3app01'",), "SparkFeatures", f"{SPARK}.JobConfig.applicationId"),
    Case("emrs-property-typo", mutate(E, train_reads(get("Steps.SparkFeatures.jobRun.stat"))),
         ("'Steps.SparkFeatures.jobRun.stat': 'stat' is not a member of jobRun", "did you mean 'state'", "GetJobRun"), "TrainOnFeatures", TRAIN_X),
    Case("emrs-property-without-job-run", mutate(E, train_reads(get("Steps.SparkFeatures.state"))),
         ("'state' is not a member of <root>", "members: jobRun"), "TrainOnFeatures", TRAIN_X),
    Case("emrs-property-job-run-case", mutate(E, train_reads(get("Steps.SparkFeatures.JobRun.state"))),
         ("'JobRun' is not a member", "did you mean 'jobRun'"), "TrainOnFeatures", TRAIN_X),
    Case("emrs-property-list-member", mutate(E, train_reads(get("Steps.SparkFeatures.jobRun.jobDriver.sparkSubmit.entryPointArguments.x"))),
         ("entryPointArguments is a list",), "TrainOnFeatures", TRAIN_X),
    Case("emrs-retry-sagemaker-exception", mutate(E, lambda d: S(d, "SparkFeatures")["RetryPolicies"][0].update(ExceptionType=["SageMaker.JOB_INTERNAL_ERROR"])),
         ("ExceptionType ['SageMaker.JOB_INTERNAL_ERROR'] not valid for an EMRServerless step", "Step.SERVICE_FAULT, Step.THROTTLING"),
         "SparkFeatures", "$.Steps[0].RetryPolicies[0].ExceptionType"),
    Case("emrs-in-body-reads-item-typo", hand(for_each("Loop", ["a"], [emr_serverless("SparkItem", job={
        "executionRoleArn": ROLE, "jobDriver": {"sparkSubmit": {"entryPoint": get("ForEach.CurrentItems")}}})])),
         ("unknown ForEach member 'CurrentItems'",), "SparkItem", "$.Steps[0].Arguments.ForEachBody[0].Arguments.JobConfig.jobDriver.sparkSubmit.entryPoint"),
]


def test_emr_serverless_properties_that_load() -> None:
    doc = v3_doc(E)
    A(doc, "TrainOnFeatures")["HyperParameters"].update(
        state=get("Steps.SparkFeatures.jobRun.state"),
        entry=get("Steps.SparkFeatures.jobRun.jobDriver.sparkSubmit.entryPoint"),
        team=get("Steps.SparkAggregates.jobRun.tags['team']"),
    )
    assert "SparkFeatures" in load_definition(doc).graph.upstream["TrainOnFeatures"]


def test_emr_serverless_builder_loads() -> None:
    loaded = load_definition(hand(emr_serverless("Spark", application_id=get("Parameters.App")), parameters=[{"Name": "App", "Type": "String"}])())
    assert loaded.steps["Spark"].type == "EMRServerless"


# -- Job (job_step_agent_rft) -----------------------------------------------------------------------

JOB = "$.Steps[1].Arguments"  # AgentRft
JOB_DOC = f"{JOB}.JobConfigDocument"


def job(**changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: A(doc, "AgentRft").update(copy.deepcopy(changes))


def job_drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: A(doc, "AgentRft").pop(key)


def job_join(edit: Callable[[list[Any]], Any]) -> Callable[[dict[str, Any]], None]:
    return lambda doc: edit(A(doc, "AgentRft")["JobConfigDocument"]["Std:Join"]["Values"])


def publish_agent_reads(value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: A(doc, "PublishAgentModel").update(x=copy.deepcopy(value))


BROKEN_FIRST_FRAGMENT = '{"AgentConfig": {"CustomAgentLambdaConfig": {"LambdaArn": "arn"}}, "InputDataConfig": [{"ChannelName": "train", "DataSource": {"DatasetSource": {"DatasetArn": '
JOB_CASES = [
    *[Case(f"job-no-{key}", mutate(J, job_drop(key)), (f"missing required member '{key}'",), "AgentRft", JOB)
      for key in ("RoleArn", "JobCategory", "JobConfigSchemaVersion", "JobConfigDocument")],
    Case("job-category-typo", mutate(J, job(JobCategory="AgentRFTEval")),
         ("JobCategory \"AgentRFTEval\" is not a valid value", "did you mean 'AgentRFTEvaluation'", "one of AgentRFT, AgentRFTEvaluation"), "AgentRft", f"{JOB}.JobCategory"),
    Case("job-category-unknown", mutate(J, job(JobCategory="Training")), ("JobCategory \"Training\" is not a valid value",), "AgentRft", f"{JOB}.JobCategory"),
    Case("job-unknown-argument", mutate(J, job(JobNam="rft")), ("unknown member 'JobNam'", "did you mean 'JobName'"), "AgentRft", f"{JOB}.JobNam"),
    Case("job-role-number", mutate(J, job(RoleArn=1)), ("is an integer 1", "a string"), "AgentRft", f"{JOB}.RoleArn"),
    Case("job-document-not-json", mutate(J, job(JobConfigDocument="{not json")),
         ("JobConfigDocument is not valid JSON: Expecting property name", "a JSON object as a string"), "AgentRft", JOB_DOC),
    Case("job-document-json-array", mutate(J, job(JobConfigDocument="[1, 2]")), ("JobConfigDocument is a JSON array",), "AgentRft", JOB_DOC),
    Case("job-document-json-number", mutate(J, job(JobConfigDocument="3")), ("JobConfigDocument is a JSON integer",), "AgentRft", JOB_DOC),
    Case("job-document-dict-literal", mutate(J, job(JobConfigDocument={"TrainingConfig": {}})), ("is an object", "a string"), "AgentRft", JOB_DOC),
    Case("job-document-empty", mutate(J, job(JobConfigDocument="")), ("has 0 characters", "at least 1"), "AgentRft", JOB_DOC),
    # one mistake, one problem (not "has N characters" twice)
    Case("job-document-too-long", mutate(J, job(JobConfigDocument=json.dumps({"x": "a" * 262_144}))),
         ("JobConfigDocument has 262153 characters", "at most 262144"), "AgentRft", JOB_DOC, alone=True),
    Case("job-document-join-not-json", mutate(J, job_join(lambda values: values.__setitem__(0, BROKEN_FIRST_FRAGMENT))),
         ("JobConfigDocument is not valid JSON once its expressions are filled in",), "AgentRft", JOB_DOC),
    Case("job-document-join-extra-data", mutate(J, job_join(lambda values: values.append("}"))),
         ("not valid JSON once its expressions are filled in: Extra data",), "AgentRft", JOB_DOC),
    Case("job-document-join-unknown-parameter", mutate(J, job_join(lambda values: values.__setitem__(1, get("Parameters.TrainingDatasetARN")))),
         ("references unknown parameter 'TrainingDatasetARN'", "did you mean 'TrainingDatasetArn'"), "AgentRft", f"{JOB_DOC}['Std:Join'].Values[1]"),
    Case("job-document-hand-not-json", hand(job_step("Rft", document="{'single': 'quotes'}")),
         ("JobConfigDocument is not valid JSON",), "Rft", "$.Steps[0].Arguments.JobConfigDocument"),
    Case("job-tags-object", mutate(J, job(Tags={"team": "rft"})), ("is an object", "an array"), "AgentRft", f"{JOB}.Tags"),
    Case("job-tag-without-value", mutate(J, lambda d: A(d, "AgentRft")["Tags"][0].pop("Value")),
         ("missing required member 'Value'",), "AgentRft", f"{JOB}.Tags[0]"),
    Case("job-tag-key-typo", mutate(J, lambda d: A(d, "AgentRft")["Tags"][0].update(Keys="x")),
         ("unknown member 'Keys'", "did you mean 'Key'"), "AgentRft", f"{JOB}.Tags[0].Keys"),
    Case("job-tag-string", mutate(J, lambda d: A(d, "AgentRft")["Tags"].append("team=rft")), ("Tags[2] is a string \"team=rft\"",), "AgentRft", f"{JOB}.Tags[2]"),
    Case("job-property-typo", mutate(J, publish_agent_reads(get("Steps.AgentRft.JobStatu"))),
         ("'Steps.AgentRft.JobStatu': 'JobStatu' is not a member", "did you mean 'JobStatus'", "DescribeJob"), "PublishAgentModel", "$.Steps[2].Arguments.x"),
    Case("job-property-path-into-string", mutate(J, publish_agent_reads(get("Steps.AgentRft.JobArn.x"))),
         ("JobArn is a string: it has no '.x'",), "PublishAgentModel", "$.Steps[2].Arguments.x"),
    Case("job-retry-emr-exception", mutate(J, lambda d: S(d, "AgentRft")["RetryPolicies"][0].update(ExceptionType=["Emr.RESOURCE_LIMIT"])),
         ("ExceptionType ['Emr.RESOURCE_LIMIT'] not valid for a Job step",), "AgentRft", "$.Steps[1].RetryPolicies[0].ExceptionType"),
]


@pytest.mark.parametrize("path", ["JobConfigDocument.Anything.Deep", "JobConfigDocument['a'][0].b", "JobConfigDocument", "FailureReason", "JobName"])
def test_job_properties_that_load(path: str) -> None:
    doc = v3_doc(J)
    A(doc, "PublishAgentModel")["x"] = get(f"Steps.AgentRft.{path}")
    assert "AgentRft" in load_definition(doc).graph.upstream["PublishAgentModel"]


def test_job_document_forms_that_load() -> None:
    exact = json.dumps({"x": "a" * (262_144 - 9)})
    assert len(exact) == 262_144
    steps = [job_step("Exact", exact), job_step("FromParameter", get("Parameters.Doc")), job_step("Joined", join(['{"a": "', get("Parameters.Doc"), '"}']))]
    loaded = load_definition(hand(*steps, parameters=[{"Name": "Doc", "Type": "String", "DefaultValue": "{}"}])())
    assert [s.type for s in loaded.steps.values()] == ["Job"] * 3


# -- opaque step types -------------------------------------------------------------------------------

OPAQUE_CASES = [
    Case("opaque-type-typo", hand(opaque("Tune", "BedrockCustomModell")),
         ("unknown step type 'BedrockCustomModell'", "did you mean 'BedrockCustomModel'"), "Tune", "$.Steps[0].Type"),
    Case("opaque-type-lower-case", hand(opaque("Query", "athena")), ("unknown step type 'athena'", "did you mean 'Athena'"), "Query", "$.Steps[0].Type"),
    Case("opaque-arguments-array", hand(opaque("Query", "Athena", ["SELECT 1"])), ("Arguments is array", "an object"), "Query", "$.Steps[0].Arguments"),
    Case("opaque-arguments-string", hand(opaque("Import", "BedrockModelImport", "s3://bucket/model")), ("Arguments is string",), "Import", "$.Steps[0].Arguments"),
    Case("opaque-arguments-expression", hand(opaque("Import", "BedrockModelImport", get("Parameters.Args")), parameters=[{"Name": "Args", "Type": "String"}]),
         ("Arguments is an expression",), "Import", "$.Steps[0].Arguments"),
    Case("opaque-unknown-step-key", hand(opaque("Query", "Athena", FunctionArn="arn")),
         ("unknown key 'FunctionArn' on an Athena step",), "Query", "$.Steps[0].FunctionArn"),
    Case("opaque-argument-unknown-parameter", hand(opaque("Query", "Athena", {"QueryString": get("Parameters.Query")})),
         ("references unknown parameter 'Query'",), "Query", "$.Steps[0].Arguments.QueryString"),
    Case("opaque-retry-unknown-exception", hand(opaque("Query", "Athena", RetryPolicies=[{"ExceptionType": ["Athena.QUERY_FAILED"]}])),
         ("ExceptionType ['Athena.QUERY_FAILED'] not valid for an Athena step",), "Query", "$.Steps[0].RetryPolicies[0].ExceptionType"),
]


def test_opaque_types_load_with_any_arguments() -> None:
    policies = [{"ExceptionType": ["Step.SERVICE_FAULT", "SageMaker.JOB_INTERNAL_ERROR", "Emr.RESOURCE_LIMIT"], "MaxAttempts": 3}]
    steps = [opaque(t, t, CacheConfig={"Enabled": True, "ExpireAfter": "P1D"}, RetryPolicies=policies) for t in OPAQUE_TYPES]
    steps.append(lambda_step("Use", {t: get(f"Steps.{t}.Anything.Deep[0]['x']") for t in OPAQUE_TYPES}))
    loaded = load_definition(hand(*steps)())
    for name in OPAQUE_TYPES:
        step = loaded.steps[name]
        assert step.type == name and step.info.opaque
        assert step.arguments == {"ModelName": "m", "anything": {"deep": [1, {"x": None}]}}
        assert step.cache_config is not None and step.cache_config.expire_after == "P1D"
        assert step.retry_policies[0].max_attempts == 3
    assert loaded.graph.upstream["Use"] == set(OPAQUE_TYPES)


# -- CacheConfig.ExpireAfter (run_conditions_training: PreprocessEvents caches for P7D) -------------

EXPIRE = "$.Steps[0].CacheConfig.ExpireAfter"


def expire_after(value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: S(doc, "PreprocessEvents")["CacheConfig"].update(ExpireAfter=value)


BAD_EXPIRE_AFTER = {"words": "30 days", "p-only": "P", "t-only": "T", "pt-only": "PT", "unit-first": "d30", "number": 30,
                    "no-unit": "P30", "empty": "", "negative": "P-1D", "boolean": True}
EXPIRE_AFTER_CASES = [
    Case(f"expire-after-{slug}", mutate(R, expire_after(value)),
         (f"ExpireAfter {value!r} is not an ISO-8601 duration or its short form", "30d, 5y, T16m, 30dT5h"), "PreprocessEvents", EXPIRE)
    for slug, value in BAD_EXPIRE_AFTER.items()
]


@pytest.mark.parametrize("value", ["30d", "5y", "T16m", "30dT5h", "p30d", "PT12H", "P4DT12H", "P1W", "30D"])
def test_expire_after_forms_that_load(value: str) -> None:
    doc = v3_doc(R)
    expire_after(value)(doc)
    loaded = load_definition(doc)
    cache = loaded.steps["PreprocessEvents"].cache_config
    assert cache is not None and cache.expire_after == value
    assert cache.expire_after_duration().total_seconds() > 0


# -- parameters: empty String values -----------------------------------------------------------------

DECLARED = {
    "Name": Parameter("Name", "String", "x", True),
    "Count": Parameter("Count", "Integer", 1, True),
    "Rate": Parameter("Rate", "Float", 0.5, True),
    "Flag": Parameter("Flag", "Boolean", True, True),
}


def test_empty_string_override_is_a_string_value() -> None:
    assert resolve_parameters(DECLARED, {"Name": ""})["Name"] == ""


@pytest.mark.parametrize("name", ["Count", "Rate", "Flag"])
def test_empty_override_of_a_typed_parameter_is_refused(name: str) -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        resolve_parameters(DECLARED, {name: ""})
    (problem,) = caught.value.problems
    assert isinstance(problem, ParameterError)
    assert f"parameter '{name}' got '': the value is empty" in str(problem)
    assert problem.location == f"$.{name}"


def test_string_parameter_may_default_to_empty() -> None:
    loaded = load_definition(hand(fail("Stop", get("Parameters.Suffix")), parameters=[{"Name": "Suffix", "Type": "String", "DefaultValue": ""}])())
    assert loaded.parameters["Suffix"].has_default and loaded.parameters["Suffix"].default == ""


PARAMETER_CASES = [
    Case("integer-default-empty-string", hand(fail("Stop", get("Parameters.N")), parameters=[{"Name": "N", "Type": "Integer", "DefaultValue": ""}]),
         ("default of Integer parameter 'N' is string ''",), None, "$.Parameters[0].DefaultValue"),
    Case("enum-default-empty-string", hand(fail("Stop", get("Parameters.E")), parameters=[{"Name": "E", "Type": "String", "DefaultValue": "", "EnumValues": ["a"]}]),
         ("default '' of 'E' is not one of its EnumValues",), None, "$.Parameters[0].DefaultValue"),
]


# -- running the corpus --------------------------------------------------------------------------------

DEFINITION_CASES: list[Case] = [
    *MLFLOW_CASES, *DEPENDS_ON_CASES, *FOR_EACH_CASES, *CLEANUP_CASES, *EMR_SERVERLESS_CASES, *JOB_CASES,
    *OPAQUE_CASES, *EXPIRE_AFTER_CASES, *PARAMETER_CASES,
]


def _ids(cases: list[Case]) -> list[str]:
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return ids


def test_corpus_is_big_enough() -> None:
    assert len(DEFINITION_CASES) >= 60
    for group in (MLFLOW_CASES, DEPENDS_ON_CASES, FOR_EACH_CASES, CLEANUP_CASES, EMR_SERVERLESS_CASES, JOB_CASES, OPAQUE_CASES, EXPIRE_AFTER_CASES):
        assert len(group) >= 2


@pytest.mark.parametrize("case", DEFINITION_CASES, ids=_ids(DEFINITION_CASES))
def test_malformed_v3_definition(case: Case) -> None:
    error = refused(case.make())
    assert_refusal(error, case.contains, case.step, case.location)
    if case.alone:
        assert len(error.problems) == 1, f"one mistake, {len(error.problems)} problems:\n{error}"
    json.dumps([p.as_dict() for p in error.problems])


def test_every_v3_problem_is_reported_at_once() -> None:
    doc = v3_doc(F)
    doc["MlflowConfig"] = {"MlflowResourceArn": "arn:aws:iam::123456789012:role/R"}
    A(doc, "RegionalReports")["MaxConcurrency"] = 0
    S(doc, "PublishReportIndex")["DependsOn"] = [on("RegionalReports", "Faild")]
    S(doc, "PrepareRegions")["CacheConfig"] = {"Enabled": True, "ExpireAfter": "30 days"}
    with pytest.raises(InvalidDefinitionError) as caught:
        load_definition(doc)
    locations = sorted(p.location for p in caught.value.problems)
    assert locations == ["$.MlflowConfig.MlflowResourceArn", "$.Steps[0].CacheConfig.ExpireAfter",
                         "$.Steps[1].Arguments.MaxConcurrency", "$.Steps[2].DependsOn[0].Trigger"], str(caught.value)
    assert "4 problems" in str(caught.value)


# -- seeded mutation fuzzing over the valid v3 fixtures ------------------------------------------------

REPLACEMENTS: list[Any] = [
    None, 0, -1, 1.5, True, "", "x", "s3://b/k", [], {}, [1], ["x"], {"a": 1},
    "ForEach", "Cleanup", "EMRServerless", "Job", "Athena", "Failed", "Any", "P", "30d",
    {"Step": "X", "Trigger": "Failed"}, {"Step": "TrainEventsModel", "Trigger": "Any"}, {"Trigger": "Stopped"},
    {"Get": "ForEach.CurrentItem.x"}, {"Get": "ForEach.CurrentItem"}, {"Get": "IterationOutput.X.Y"},
    {"Get": "Steps.Nope.X"}, {"Get": "Parameters.Nope"}, {"Get": 5}, {"Std:Join": {"On": "", "Values": ["{", {"Get": "Execution.PipelineExecutionId"}]}},
    {"Get": "Steps.RegionalReports.IterationOutputs[0].BuildRegionReport.ProcessingJobName"}, {"Get": "Steps.RegionalReports.Status"},
    {"Get": "Steps.SparkFeatures.jobRun.state"}, {"Get": "Steps.AgentRft.JobConfigDocument.a"},
    {"StepName": "TrainEventsModel"}, {"StepName": "PreprocessEvents", "S3Uris": []}, {"Pick": "MaxBy", "Field": {"Get": "IterationOutput.X.Y"}},
    {"MlflowResourceArn": MLFLOW_ARN}, float("nan"), 10**30, 51,
]


def _mutant(name: str, seed: int) -> tuple[dict[str, Any], str]:
    return random_mutant(v3_doc(name), random.Random(f"v3:{name}:{seed}"), REPLACEMENTS)


def _inputs_for(name: str) -> DryRunInputs:
    property_files = None
    if name == "classic_churn_v3":
        property_files = {"EvaluateChurnV3": {"ChurnEvaluationV3": {"binary_classification_metrics": {"auc": {"value": 0.9}}}}}
    return DryRunInputs(execution={"PipelineExecutionId": "abc123def456"}, property_files=property_files)


MUTANTS_PER_FIXTURE = 60


@pytest.mark.parametrize("name", V3_FIXTURE_NAMES)
def test_unmutated_v3_fixtures_dry_run(name: str) -> None:
    report = dry_run(load_definition(v3_path(name)), _inputs_for(name))
    assert report["steps"] and all(step["status"] in ("Executed", "NotExecuted") for step in report["steps"].values())


@pytest.mark.parametrize("seed", range(MUTANTS_PER_FIXTURE))
@pytest.mark.parametrize("name", V3_FIXTURE_NAMES)
def test_v3_mutants_fail_only_with_definition_errors(name: str, seed: int) -> None:
    doc, applied = _mutant(name, seed)
    try:
        loaded = load_definition(doc)
    except InvalidDefinitionError as exc:
        assert exc.problems and all(isinstance(p, DefinitionError) for p in exc.problems), applied
        str(exc)  # renders
        return
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"load_definition raised {type(exc).__name__} for mutation [{applied}]: {exc!r}")
    try:
        report = dry_run(loaded, _inputs_for(name))
    except DefinitionError:
        return
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"dry_run raised {type(exc).__name__} for mutation [{applied}]: {exc!r}")
    json.dumps(report, default=str)  # the report is always serialisable
    top_level = {n for n, step in loaded.steps.items() if step.parent_for_each is None}
    assert top_level <= set(report["steps"]), applied


def test_v3_fuzzer_produces_both_valid_and_invalid_mutants() -> None:
    outcomes = {"invalid": 0, "valid": 0}
    for name in V3_FIXTURE_NAMES:
        for seed in range(MUTANTS_PER_FIXTURE):
            try:
                load_definition(_mutant(name, seed)[0])
                outcomes["valid"] += 1
            except InvalidDefinitionError:
                outcomes["invalid"] += 1
    assert outcomes["invalid"] >= 40 and outcomes["valid"] >= 40, outcomes
