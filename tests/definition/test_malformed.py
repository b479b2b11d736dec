"""A corpus of malformed definitions and bad run-time values.

Every case must fail with a :class:`DefinitionError` (never a bare ``KeyError``/``TypeError``/...),
with a message naming the problem and, for definition problems, the right step and JSONPath.
A seeded mutation fuzzer then checks the same property over a few hundred random mutants.
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
    refused,
    FIXTURE_NAMES,
    condition,
    definition,
    fail,
    fixture_doc,
    fixture_path,
    get,
    integrations_inputs,
    join,
    lambda_step,
    oracle,
    oracle_inputs,
    processing,
    random_mutant,
    raw_step,
    training,
)

from airflow_provider_smpipe.definition.dryrun import DryRunInputs, dry_run
from airflow_provider_smpipe.definition.errors import (
    ConditionError,
    DefinitionError,
    InvalidDefinitionError,
    ParameterError,
    ResolutionError,
)
from airflow_provider_smpipe.definition.loader import load_definition



@dataclass
class Case:
    id: str
    make: Callable[[], Any]  # returns what to hand to load_definition
    contains: tuple[str, ...]
    step: Any = ANY
    location: Any = ANY


def mutate(name: str, *edits: Callable[[dict[str, Any]], Any]) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        doc = fixture_doc(name)
        for edit in edits:
            edit(doc)
        return doc

    return make


def S(doc: dict[str, Any], name: str) -> dict[str, Any]:  # noqa: N802 - short on purpose
    return raw_step(doc, name)


def A(doc: dict[str, Any], name: str) -> dict[str, Any]:  # noqa: N802
    return raw_step(doc, name)["Arguments"]


def P(doc: dict[str, Any], name: str) -> dict[str, Any]:  # noqa: N802
    return next(p for p in doc["Parameters"] if p["Name"] == name)


def hand(*steps: dict[str, Any], parameters: list[dict[str, Any]] | None = None, config: Any = None) -> Callable[[], dict[str, Any]]:
    return lambda: definition(copy.deepcopy(list(steps)), parameters, config)


def set_train_input(value: Any) -> Callable[[dict[str, Any]], None]:
    """Replace the S3Uri of TrainAbaloneModel's first channel (abalone) with ``value``."""
    def edit(doc: dict[str, Any]) -> None:
        A(doc, "TrainAbaloneModel")["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = value

    return edit


TRAIN_INPUT = "$.Steps[1].Arguments.InputDataConfig[0].DataSource.S3DataSource.S3Uri"
CONDITION0 = "$.Steps[3].Arguments.Conditions[0]"
JSON_GET_LOC = f"{CONDITION0}.LeftValue['Std:JsonGet']"


def set_json_get(**body: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        A(doc, "CheckMSEAbaloneEvaluation")["Conditions"][0]["LeftValue"] = {"Std:JsonGet": body}

    return edit


def set_condition(value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        A(doc, "CheckMSEAbaloneEvaluation")["Conditions"][0] = value

    return edit


EVAL_REPORT = get("Steps.EvaluateAbaloneModel.PropertyFiles.EvaluationReport")
PARAM_LOC = "$.Parameters[{}]"
EMR_LOC = "$.Steps[3].Arguments"  # EMRExistingCluster in integrations

DEFINITION_CASES: list[Case] = [
    # -- the document ------------------------------------------------------------------------------
    Case("invalid-json", lambda: '{"Version": "2020-12-01", "Steps": [', ("not valid JSON", "line 1"), None, "$"),
    Case("invalid-json-bytes", lambda: b'{"Version": 1,,}', ("not valid JSON",), None, "$"),
    Case("top-level-array", lambda: "[1, 2]", ("the definition is a JSON array", "a JSON object"), None, "$"),
    Case("top-level-string", lambda: b'"just text"', ("the definition is a JSON string",), None, "$"),
    Case("no-such-file", lambda: "/nonexistent/definition.json", ("no such file",), None, None),
    Case("wrong-version", mutate("abalone", lambda d: d.update(Version="2021-01-01")), ("unsupported Version '2021-01-01'", "2020-12-01"), None, "$.Version"),
    Case("missing-version", mutate("abalone", lambda d: d.pop("Version")), ("unsupported Version None",), None, "$.Version"),
    Case("missing-steps", mutate("abalone", lambda d: d.pop("Steps")), ("Steps is missing or empty",), None, "$.Steps"),
    Case("empty-steps", mutate("abalone", lambda d: d.update(Steps=[])), ("Steps is missing or empty", "non-empty array"), None, "$.Steps"),
    Case("steps-not-array", mutate("abalone", lambda d: d.update(Steps="TrainAbaloneModel")), ("Steps is string",), None, "$.Steps"),
    Case("unknown-top-level-key", mutate("abalone", lambda d: d.update(Stepz=[])), ("unknown top-level key 'Stepz'", "did you mean 'Steps'"), None, "$.Stepz"),
    Case("metadata-not-object", mutate("abalone", lambda d: d.update(Metadata=[])), ("Metadata is array",), None, "$.Metadata"),
    Case("parameters-not-array", mutate("abalone", lambda d: d.update(Parameters={})), ("Parameters is object",), None, "$.Parameters"),
    Case("experiment-config-not-object", mutate("abalone", lambda d: d.update(PipelineExperimentConfig="exp")), ("PipelineExperimentConfig is string",), None, "$.PipelineExperimentConfig"),
    Case("experiment-config-unknown-member", mutate("abalone", lambda d: d["PipelineExperimentConfig"].update(RunName="x")), ("unknown PipelineExperimentConfig member 'RunName'",), None, "$.PipelineExperimentConfig.RunName"),
    Case("experiment-config-references-step", mutate("abalone", lambda d: d["PipelineExperimentConfig"].update(TrialName=get("Steps.TrainAbaloneModel.TrainingJobName"))),
         ("PipelineExperimentConfig cannot reference steps",), None, "$.PipelineExperimentConfig.TrialName"),
    # -- step envelope -------------------------------------------------------------------------------
    Case("unknown-step-type", mutate("abalone", lambda d: S(d, "TrainAbaloneModel").update(Type="Trainer")),
         ("unknown step type 'Trainer'", "did you mean 'Training'"), "TrainAbaloneModel", "$.Steps[1].Type"),
    Case("missing-step-type", mutate("abalone", lambda d: S(d, "TrainAbaloneModel").pop("Type")), ("unknown step type None",), "TrainAbaloneModel", "$.Steps[1].Type"),
    Case("missing-step-name", mutate("abalone", lambda d: S(d, "PreprocessAbaloneData").pop("Name")), ("invalid step Name None", "[A-Za-z0-9-_]"), None, "$.Steps[0].Name"),
    Case("invalid-step-name-characters", mutate("abalone", lambda d: S(d, "AbaloneMSEFail").update(Name="MSE fail!")),
         ("invalid step Name 'MSE fail!'",), None, "$.Steps[3].Arguments.ElseSteps[0].Name"),
    Case("step-name-too-long", hand(fail("F" * 65)), ("invalid step Name 'FFFF", "1-64 characters"), None, "$.Steps[0].Name"),
    Case("step-name-not-string", hand({"Name": ["a"], "Type": "Fail", "Arguments": {}}), ("invalid step Name ['a']",), None, "$.Steps[0].Name"),
    Case("branch-step-name-not-string", hand(condition("C", [], else_steps=[{"Name": {"x": 1}, "Type": "Fail"}])),
         ("invalid step Name {'x': 1}",), None, "$.Steps[0].Arguments.ElseSteps[0].Name"),
    Case("duplicate-step-name", mutate("abalone", lambda d: S(d, "EvaluateAbaloneModel").update(Name="TrainAbaloneModel")),
         ("duplicate step name 'TrainAbaloneModel'", "first defined at $.Steps[1]"), "TrainAbaloneModel", "$.Steps[2].Name"),
    Case("duplicate-step-name-in-branch", mutate("abalone", lambda d: S(d, "AbaloneMSEFail").update(Name="PreprocessAbaloneData")),
         ("duplicate step name 'PreprocessAbaloneData'",), "PreprocessAbaloneData", "$.Steps[3].Arguments.ElseSteps[0].Name"),
    Case("step-not-object", mutate("abalone", lambda d: d["Steps"].append(42)), ("step is integer",), None, "$.Steps[4]"),
    Case("arguments-not-object", mutate("abalone", lambda d: S(d, "TrainAbaloneModel").update(Arguments=[])), ("Arguments is array",), "TrainAbaloneModel", "$.Steps[1].Arguments"),
    Case("arguments-is-expression", mutate("abalone", lambda d: S(d, "TrainAbaloneModel").update(Arguments=get("PipelineExperimentConfig.TrialName"))),
         ("Arguments is an expression",), "TrainAbaloneModel", "$.Steps[1].Arguments"),
    Case("unknown-step-key", mutate("abalone", lambda d: S(d, "TrainAbaloneModel").update(DependOn=["PreprocessAbaloneData"])),
         ("unknown key 'DependOn' on a Training step", "did you mean 'DependsOn'"), "TrainAbaloneModel", "$.Steps[1].DependOn"),
    Case("property-files-on-training", mutate("abalone", lambda d: S(d, "TrainAbaloneModel").update(PropertyFiles=[])),
         ("unknown key 'PropertyFiles' on a Training step",), "TrainAbaloneModel", "$.Steps[1].PropertyFiles"),
    Case("display-name-not-string", mutate("abalone", lambda d: S(d, "TrainAbaloneModel").update(DisplayName=3)), ("DisplayName is integer",), "TrainAbaloneModel", "$.Steps[1].DisplayName"),
    Case("depends-on-not-names", mutate("abalone", lambda d: S(d, "TrainAbaloneModel").update(DependsOn="PreprocessAbaloneData")),
         ("DependsOn must be an array of step names",), "TrainAbaloneModel", "$.Steps[1].DependsOn"),
    # -- graph ---------------------------------------------------------------------------------------
    Case("cycle-two-steps", hand(training("A", DependsOn=["B"]), training("B", DependsOn=["A"])),
         ("cycle in the step graph", "A -> B -> A"), "A", "$.Steps[0]"),
    Case("cycle-three-steps-via-get",
         hand(training("A", DependsOn=["C"]),
              lambda_step("B", {"x": get("Steps.A.TrainingJobName")}),
              lambda_step("C", {"x": get("Steps.B.OutputParameters['status']")})),
         ("cycle in the step graph", "A -> B -> C -> A"), "A", "$.Steps[0]"),
    Case("cycle-in-fixture", mutate("abalone", lambda d: S(d, "PreprocessAbaloneData").update(DependsOn=["EvaluateAbaloneModel"])),
         ("cycle in the step graph", "PreprocessAbaloneData", "EvaluateAbaloneModel"), ANY, ANY),
    Case("condition-reads-its-own-branch", hand(condition("C", [{"Type": "Equals", "LeftValue": get("Steps.X.TrainingJobName"), "RightValue": "x"}],
                                                     if_steps=[training("X")])),
         ("cycle in the step graph", "C -> X -> C"), "C", "$.Steps[0]"),
    Case("self-depends-on", mutate("abalone", lambda d: S(d, "TrainAbaloneModel").update(DependsOn=["TrainAbaloneModel"])),
         ("step depends on itself",), "TrainAbaloneModel", "$.Steps[1].DependsOn[0]"),
    Case("self-reference-get", mutate("abalone", set_train_input(get("Steps.TrainAbaloneModel.OutputDataConfig.S3OutputPath"))),
         ("step references its own properties",), "TrainAbaloneModel", TRAIN_INPUT),
    Case("dangling-depends-on", mutate("abalone", lambda d: S(d, "TrainAbaloneModel").update(DependsOn=["PreprocesAbaloneData"])),
         ("depends on unknown step 'PreprocesAbaloneData'", "did you mean 'PreprocessAbaloneData'"), "TrainAbaloneModel", "$.Steps[1].DependsOn[0]"),
    Case("dangling-get", mutate("abalone", set_train_input(get("Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"))),
         ("references unknown step 'Preprocess'",), "TrainAbaloneModel", TRAIN_INPUT),
    Case("get-to-fail-step", mutate("abalone", lambda d: A(d, "AbaloneTransform").update(Environment={"MSG": get("Steps.AbaloneMSEFail.ErrorMessage")})),
         ("references Fail step 'AbaloneMSEFail'", "no properties"), "AbaloneTransform", "$.Steps[3].Arguments.IfSteps[2].Arguments.Environment.MSG"),
    Case("depends-on-fail-step", mutate("abalone", lambda d: S(d, "AbaloneTransform").update(DependsOn=["AbaloneMSEFail"])),
         ("depends on Fail step 'AbaloneMSEFail'",), "AbaloneTransform", "$.Steps[3].Arguments.IfSteps[2].DependsOn[0]"),
    # -- references --------------------------------------------------------------------------------
    Case("unknown-get-root", mutate("abalone", set_train_input(get("Foo.Bar"))),
         ("unknown reference root 'Foo'", "Parameters, Execution, Steps, PipelineExperimentConfig"), "TrainAbaloneModel", TRAIN_INPUT),
    Case("get-not-string", mutate("abalone", set_train_input({"Get": 5})), ("'Get' must be a non-empty string",), "TrainAbaloneModel", TRAIN_INPUT),
    Case("get-is-list", mutate("abalone", set_train_input({"Get": ["Parameters.InputData"]})), ("'Get' must be a non-empty string",), "TrainAbaloneModel", TRAIN_INPUT),
    Case("get-names-nothing", mutate("abalone", set_train_input(get("Parameters."))), ("names nothing after 'Parameters.'",), "TrainAbaloneModel", TRAIN_INPUT),
    Case("get-step-without-property", mutate("abalone", set_train_input(get("Steps.PreprocessAbaloneData"))),
         ("names step 'PreprocessAbaloneData' but no property",), "TrainAbaloneModel", TRAIN_INPUT),
    Case("get-bad-property-path", mutate("abalone", set_train_input(get("Steps.PreprocessAbaloneData.ProcessingOutputConfig.Outputs['train'.S3Output"))),
         ("malformed bracket",), "TrainAbaloneModel", TRAIN_INPUT),
    Case("unknown-parameter", mutate("abalone", lambda d: A(d, "CheckMSEAbaloneEvaluation")["Conditions"][0].update(RightValue=get("Parameters.MseTreshold"))),
         ("references unknown parameter 'MseTreshold'", "did you mean 'MseThreshold'"), "CheckMSEAbaloneEvaluation", f"{CONDITION0}.RightValue"),
    Case("unknown-execution-variable", mutate("abalone", set_train_input(get("Execution.PipelineExecutionID"))),
         ("unknown execution variable 'PipelineExecutionID'", "did you mean 'PipelineExecutionId'"), "TrainAbaloneModel", TRAIN_INPUT),
    Case("experiment-config-null", mutate("abalone", lambda d: d.update(PipelineExperimentConfig=None), set_train_input(get("PipelineExperimentConfig.TrialName"))),
         ("references PipelineExperimentConfig.TrialName but PipelineExperimentConfig is null",), "TrainAbaloneModel", TRAIN_INPUT),
    Case("experiment-config-unknown-reference", mutate("abalone", set_train_input(get("PipelineExperimentConfig.RunName"))),
         ("unknown PipelineExperimentConfig member 'RunName'",), "TrainAbaloneModel", TRAIN_INPUT),
    Case("experiment-config-member-not-set", mutate("abalone", lambda d: d["PipelineExperimentConfig"].pop("TrialName"), set_train_input(get("PipelineExperimentConfig.TrialName"))),
         ("which the config does not set",), "TrainAbaloneModel", TRAIN_INPUT),
    Case("condition-property-not-outcome", mutate("abalone", lambda d: A(d, "AbaloneTransform").update(Environment={"OK": get("Steps.CheckMSEAbaloneEvaluation.Result")})),
         ("Condition step 'CheckMSEAbaloneEvaluation' only has the property Outcome",), "AbaloneTransform", "$.Steps[3].Arguments.IfSteps[2].Arguments.Environment.OK"),
    Case("lambda-output-not-declared", mutate("integrations", lambda d: A(d, "ManualApproval").update(status_via_properties=get("Steps.NotifyLambda.OutputParameters['stat']"))),
         ("step 'NotifyLambda' declares no output parameter 'stat'", "did you mean 'status'", "one of status, score"), "ManualApproval", "$.Steps[2].Arguments.status_via_properties"),
    Case("lambda-property-not-output", mutate("integrations", lambda d: A(d, "ManualApproval").update(exec_arn=get("Steps.NotifyLambda.FunctionArn"))),
         ("Lambda step 'NotifyLambda' only has OutputParameters['<name>'] properties",), "ManualApproval", "$.Steps[2].Arguments.exec_arn"),
    Case("callback-output-not-declared", mutate("integrations", lambda d: A(d, "ApprovalGate")["Conditions"][0].update(LeftValue=get("Steps.ManualApproval.OutputParameters['decisions']"))),
         ("declares no output parameter 'decisions'",), "ApprovalGate", "$.Steps[4].Arguments.Conditions[0].LeftValue"),
    Case("property-file-get-outside-jsonget", mutate("abalone", lambda d: A(d, "AbaloneTransform").update(Environment={"R": EVAL_REPORT})),
         ("can only be used as the PropertyFile of a Std:JsonGet",), "AbaloneTransform", "$.Steps[3].Arguments.IfSteps[2].Arguments.Environment.R"),
    # -- functions ---------------------------------------------------------------------------------
    Case("jsonget-unknown-property-file", mutate("abalone", set_json_get(PropertyFile=get("Steps.EvaluateAbaloneModel.PropertyFiles.EvalReport"), Path="a")),
         ("step 'EvaluateAbaloneModel' has no property file 'EvalReport'", "did you mean 'EvaluationReport'"), "CheckMSEAbaloneEvaluation", f"{JSON_GET_LOC}.PropertyFile"),
    Case("jsonget-property-file-on-training-step", mutate("abalone", set_json_get(PropertyFile=get("Steps.TrainAbaloneModel.PropertyFiles.EvaluationReport"), Path="a")),
         ("property file reference to Training step 'TrainAbaloneModel'", "a Processing step"), "CheckMSEAbaloneEvaluation", f"{JSON_GET_LOC}.PropertyFile"),
    Case("jsonget-property-file-not-a-property-file", mutate("abalone", set_json_get(PropertyFile=get("Steps.EvaluateAbaloneModel.ProcessingJobName"), Path="a")),
         ("does not name a property file",), "CheckMSEAbaloneEvaluation", f"{JSON_GET_LOC}.PropertyFile"),
    Case("jsonget-property-file-unknown-step", mutate("abalone", set_json_get(PropertyFile=get("Steps.Evaluate.PropertyFiles.EvaluationReport"), Path="a")),
         ("references unknown step 'Evaluate'",), "CheckMSEAbaloneEvaluation", f"{JSON_GET_LOC}.PropertyFile"),
    Case("jsonget-both-forms", mutate("abalone", set_json_get(PropertyFile=EVAL_REPORT, S3Uri="s3://b/k.json", Path="a")),
         ("Std:JsonGet needs exactly one of PropertyFile and S3Uri",), "CheckMSEAbaloneEvaluation", JSON_GET_LOC),
    Case("jsonget-neither-form", mutate("abalone", set_json_get(Path="a")),
         ("Std:JsonGet needs exactly one of PropertyFile and S3Uri",), "CheckMSEAbaloneEvaluation", JSON_GET_LOC),
    Case("jsonget-bad-path-double-dot", mutate("abalone", set_json_get(PropertyFile=EVAL_REPORT, Path="regression_metrics..mse")),
         ("empty member name in path 'regression_metrics..mse'",), "CheckMSEAbaloneEvaluation", f"{JSON_GET_LOC}.Path"),
    Case("jsonget-bad-path-bracket", mutate("abalone", set_json_get(PropertyFile=EVAL_REPORT, Path="metrics[mse]")),
         ("malformed bracket at character 7",), "CheckMSEAbaloneEvaluation", f"{JSON_GET_LOC}.Path"),
    Case("jsonget-path-missing", mutate("abalone", set_json_get(PropertyFile=EVAL_REPORT)),
         ("Std:JsonGet has no Path string",), "CheckMSEAbaloneEvaluation", f"{JSON_GET_LOC}.Path"),
    Case("jsonget-s3uri-not-s3", mutate("abalone", set_json_get(S3Uri="https://b/k.json", Path="a")),
         ("S3Uri 'https://b/k.json' is not an s3:// URI",), "CheckMSEAbaloneEvaluation", f"{JSON_GET_LOC}.S3Uri"),
    Case("jsonget-body-not-object", mutate("abalone", lambda d: A(d, "CheckMSEAbaloneEvaluation")["Conditions"][0].update(LeftValue={"Std:JsonGet": "a.b"})),
         ("Std:JsonGet body is string",), "CheckMSEAbaloneEvaluation", JSON_GET_LOC),
    Case("join-values-not-list", mutate("abalone", lambda d: A(d, "AbaloneMSEFail").update(ErrorMessage={"Std:Join": {"On": " ", "Values": "MSE too high"}})),
         ("Std:Join needs an object with a Values array",), "AbaloneMSEFail", "$.Steps[3].Arguments.ElseSteps[0].Arguments.ErrorMessage['Std:Join']"),
    Case("join-literal-object-value", mutate("abalone", lambda d: A(d, "AbaloneMSEFail")["ErrorMessage"]["Std:Join"]["Values"].append({"mse": 1})),
         ("Std:Join value is a literal object",), "AbaloneMSEFail", "$.Steps[3].Arguments.ElseSteps[0].Arguments.ErrorMessage['Std:Join'].Values[2]"),
    Case("join-on-not-string", mutate("abalone", lambda d: A(d, "AbaloneMSEFail")["ErrorMessage"]["Std:Join"].update(On=1)),
         ("Std:Join On is integer",), "AbaloneMSEFail", "$.Steps[3].Arguments.ElseSteps[0].Arguments.ErrorMessage['Std:Join'].On"),
    Case("unknown-function", mutate("abalone", set_train_input({"Std:Concat": {"Values": ["a", "b"]}})),
         ("unknown function 'Std:Concat'", "Std:Join or Std:JsonGet"), "TrainAbaloneModel", TRAIN_INPUT),
    Case("expression-extra-keys", mutate("abalone", set_train_input({"Get": "Parameters.InputData", "Default": "s3://x"})),
         ("expression object has extra keys ['Default']",), "TrainAbaloneModel", TRAIN_INPUT),
    # -- parameters ----------------------------------------------------------------------------------
    Case("string-default-wrong-type", mutate("abalone", lambda d: P(d, "TrainingInstanceType").update(DefaultValue=5)),
         ("default of String parameter 'TrainingInstanceType' is integer 5", "a JSON string"), None, "$.Parameters[1].DefaultValue"),
    Case("integer-default-wrong-type", mutate("abalone", lambda d: P(d, "ProcessingInstanceCount").update(DefaultValue="1")),
         ("default of Integer parameter 'ProcessingInstanceCount' is string '1'",), None, "$.Parameters[0].DefaultValue"),
    Case("integer-default-float", mutate("abalone", lambda d: P(d, "ProcessingInstanceCount").update(DefaultValue=1.5)),
         ("default of Integer parameter 'ProcessingInstanceCount' is number 1.5",), None, "$.Parameters[0].DefaultValue"),
    Case("integer-default-boolean", mutate("abalone", lambda d: P(d, "ProcessingInstanceCount").update(DefaultValue=True)),
         ("default of Integer parameter 'ProcessingInstanceCount' is boolean True",), None, "$.Parameters[0].DefaultValue"),
    Case("float-default-wrong-type", mutate("abalone", lambda d: P(d, "MseThreshold").update(DefaultValue="6.0")),
         ("default of Float parameter 'MseThreshold' is string '6.0'", "a JSON number"), None, "$.Parameters[5].DefaultValue"),
    Case("boolean-default-wrong-type", mutate("abalone", lambda d: P(d, "EnableNetworkIsolation").update(DefaultValue="false")),
         ("default of Boolean parameter 'EnableNetworkIsolation' is string 'false'", "a JSON boolean"), None, "$.Parameters[6].DefaultValue"),
    Case("boolean-default-zero", mutate("abalone", lambda d: P(d, "EnableNetworkIsolation").update(DefaultValue=0)),
         ("default of Boolean parameter 'EnableNetworkIsolation' is integer 0",), None, "$.Parameters[6].DefaultValue"),
    Case("enum-values-on-integer", mutate("abalone", lambda d: P(d, "ProcessingInstanceCount").update(EnumValues=["1", "2"])),
         ("EnumValues on Integer parameter 'ProcessingInstanceCount'",), None, "$.Parameters[0].EnumValues"),
    Case("default-not-in-enum", mutate("abalone", lambda d: P(d, "ModelApprovalStatus").update(DefaultValue="Pending")),
         ("default 'Pending' of 'ModelApprovalStatus' is not one of its EnumValues", "PendingManualApproval | Approved | Rejected"), None, "$.Parameters[2].DefaultValue"),
    Case("enum-values-empty", mutate("abalone", lambda d: P(d, "ModelApprovalStatus").update(EnumValues=[])),
         ("EnumValues of 'ModelApprovalStatus' must be a non-empty array of strings",), None, "$.Parameters[2].EnumValues"),
    Case("duplicate-parameter", mutate("abalone", lambda d: d["Parameters"].append({"Name": "InputData", "Type": "String"})),
         ("duplicate parameter name 'InputData'",), None, "$.Parameters[7].Name"),
    Case("unknown-parameter-type", mutate("abalone", lambda d: P(d, "InputData").update(Type="Str")),
         ("parameter 'InputData' has unknown Type 'Str'", "String, Integer, Float or Boolean"), None, "$.Parameters[3].Type"),
    Case("parameter-type-is-list", mutate("abalone", lambda d: P(d, "InputData").update(Type=["String"])),
         ("parameter 'InputData' has unknown Type ['String']",), None, "$.Parameters[3].Type"),
    Case("parameter-without-name", mutate("abalone", lambda d: d["Parameters"].append({"Type": "String"})),
         ("parameter has no Name",), None, "$.Parameters[7].Name"),
    Case("parameter-unknown-key", mutate("abalone", lambda d: P(d, "InputData").update(Default="x")),
         ("parameter 'InputData' has unknown key 'Default'",), None, "$.Parameters[3].Default"),
    # -- retry and cache -----------------------------------------------------------------------------
    Case("retry-bad-exception-type", mutate("integrations", lambda d: S(d, "TuneXGB")["RetryPolicies"][0].update(ExceptionType=["Step.TIMEOUT"])),
         ("ExceptionType ['Step.TIMEOUT'] not valid for a Tuning step", "SageMaker.CAPACITY_ERROR"), "TuneXGB", "$.Steps[0].RetryPolicies[0].ExceptionType"),
    Case("retry-job-exception-on-emr", mutate("integrations", lambda d: S(d, "EMRExistingCluster")["RetryPolicies"][0].update(ExceptionType=["SageMaker.CAPACITY_ERROR"])),
         ("not valid for an EMR step",), "EMRExistingCluster", "$.Steps[3].RetryPolicies[0].ExceptionType"),
    Case("retry-exception-type-empty", mutate("integrations", lambda d: S(d, "TuneXGB")["RetryPolicies"][0].update(ExceptionType=[])),
         ("retry policy has no ExceptionType",), "TuneXGB", "$.Steps[0].RetryPolicies[0].ExceptionType"),
    Case("retry-max-attempts-zero", mutate("integrations", lambda d: S(d, "TuneXGB")["RetryPolicies"][0].update(MaxAttempts=0)),
         ("MaxAttempts is 0", "an integer 1..20"), "TuneXGB", "$.Steps[0].RetryPolicies[0].MaxAttempts"),
    Case("retry-max-attempts-21", mutate("integrations", lambda d: S(d, "TuneXGB")["RetryPolicies"][0].update(MaxAttempts=21)),
         ("MaxAttempts is 21", "1..20"), "TuneXGB", "$.Steps[0].RetryPolicies[0].MaxAttempts"),
    Case("retry-max-attempts-fraction", mutate("integrations", lambda d: S(d, "TuneXGB")["RetryPolicies"][0].update(MaxAttempts=2.5)),
         ("MaxAttempts is 2.5",), "TuneXGB", "$.Steps[0].RetryPolicies[0].MaxAttempts"),
    Case("retry-negative-interval", mutate("integrations", lambda d: S(d, "TuneXGB")["RetryPolicies"][0].update(IntervalSeconds=-1)),
         ("IntervalSeconds is -1", ">= 0"), "TuneXGB", "$.Steps[0].RetryPolicies[0].IntervalSeconds"),
    Case("retry-expire-too-long", mutate("integrations", lambda d: S(d, "TuneXGB")["RetryPolicies"][1].update(ExpireAfterMin=14401)),
         ("ExpireAfterMin is 14401", "0..14400"), "TuneXGB", "$.Steps[0].RetryPolicies[1].ExpireAfterMin"),
    Case("retry-on-condition", mutate("abalone", lambda d: S(d, "CheckMSEAbaloneEvaluation").update(RetryPolicies=[{"ExceptionType": ["Step.THROTTLING"], "MaxAttempts": 2}])),
         ("RetryPolicies are not supported on Condition steps",), "CheckMSEAbaloneEvaluation", "$.Steps[3].RetryPolicies"),
    Case("retry-not-array", mutate("integrations", lambda d: S(d, "TuneXGB").update(RetryPolicies={"MaxAttempts": 2})),
         ("RetryPolicies is object",), "TuneXGB", "$.Steps[0].RetryPolicies"),
    Case("cache-expire-not-iso", mutate("abalone", lambda d: S(d, "PreprocessAbaloneData")["CacheConfig"].update(ExpireAfter="30 days")),
         ("ExpireAfter '30 days' is not an ISO-8601 duration", "P30D"), "PreprocessAbaloneData", "$.Steps[0].CacheConfig.ExpireAfter"),
    Case("cache-enabled-not-boolean", mutate("abalone", lambda d: S(d, "PreprocessAbaloneData")["CacheConfig"].update(Enabled="yes")),
         ("CacheConfig needs a boolean Enabled",), "PreprocessAbaloneData", "$.Steps[0].CacheConfig"),
    Case("cache-on-fail-step", mutate("abalone", lambda d: S(d, "AbaloneMSEFail").update(CacheConfig={"Enabled": True})),
         ("CacheConfig is not supported on Fail steps",), "AbaloneMSEFail", "$.Steps[3].Arguments.ElseSteps[0].CacheConfig"),
    # -- property files and outputs ----------------------------------------------------------------
    Case("property-file-missing-output", mutate("abalone", lambda d: S(d, "EvaluateAbaloneModel")["PropertyFiles"][0].update(OutputName="evaluaton")),
         ("property file 'EvaluationReport' names output 'evaluaton', which the step does not have", "did you mean 'evaluation'"),
         "EvaluateAbaloneModel", "$.Steps[2].PropertyFiles[0].OutputName"),
    Case("property-file-missing-file-path", mutate("abalone", lambda d: S(d, "EvaluateAbaloneModel")["PropertyFiles"][0].pop("FilePath")),
         ("property file needs PropertyFileName, OutputName and FilePath strings",), "EvaluateAbaloneModel", "$.Steps[2].PropertyFiles[0]"),
    Case("property-file-duplicate", mutate("abalone", lambda d: S(d, "EvaluateAbaloneModel")["PropertyFiles"].append(dict(S(d, "EvaluateAbaloneModel")["PropertyFiles"][0]))),
         ("duplicate property file 'EvaluationReport'",), "EvaluateAbaloneModel", "$.Steps[2].PropertyFiles[1].PropertyFileName"),
    Case("output-name-is-list", mutate("abalone", lambda d: A(d, "EvaluateAbaloneModel")["ProcessingOutputConfig"]["Outputs"][0].update(OutputName=["evaluation"])),
         ("names output 'evaluation', which the step does not have",), "EvaluateAbaloneModel", "$.Steps[2].PropertyFiles[0].OutputName"),
    Case("lambda-without-function-arn", mutate("integrations", lambda d: S(d, "NotifyLambda").pop("FunctionArn")),
         ("Lambda step has no FunctionArn",), "NotifyLambda", "$.Steps[1].FunctionArn"),
    Case("callback-without-queue", mutate("integrations", lambda d: S(d, "ManualApproval").update(SqsQueueUrl="")),
         ("Callback step has no SqsQueueUrl",), "ManualApproval", "$.Steps[2].SqsQueueUrl"),
    Case("unknown-output-type", mutate("integrations", lambda d: S(d, "NotifyLambda")["OutputParameters"][1].update(OutputType="Double")),
         ("unknown OutputType 'Double'", "String, Integer, Float, Boolean"), "NotifyLambda", "$.Steps[1].OutputParameters[1].OutputType"),
    Case("duplicate-output-parameter", mutate("integrations", lambda d: S(d, "NotifyLambda")["OutputParameters"][1].update(OutputName="status")),
         ("duplicate output parameter 'status'",), "NotifyLambda", "$.Steps[1].OutputParameters[1].OutputName"),
    # -- EMR -------------------------------------------------------------------------------------------
    Case("emr-cluster-id-and-config", mutate("integrations", lambda d: A(d, "EMRExistingCluster").update(ClusterConfig={"Instances": {"InstanceGroups": []}})),
         ("EMR step needs exactly one of ClusterId and ClusterConfig",), "EMRExistingCluster", EMR_LOC),
    Case("emr-neither-cluster", mutate("integrations", lambda d: A(d, "EMRExistingCluster").pop("ClusterId")),
         ("EMR step needs exactly one of ClusterId and ClusterConfig",), "EMRExistingCluster", EMR_LOC),
    Case("emr-groups-and-fleets", mutate("integrations", lambda d: A(d, "EMRNewCluster")["ClusterConfig"]["Instances"].update(InstanceFleets=[])),
         ("exactly one of InstanceGroups and InstanceFleets",), "EMRNewCluster", "$.Steps[4].Arguments.IfSteps[0].Arguments.ClusterConfig.Instances"),
    Case("emr-no-hadoop-jar-step", mutate("integrations", lambda d: A(d, "EMRExistingCluster").update(StepConfig={})),
         ("EMR step needs StepConfig.HadoopJarStep",), "EMRExistingCluster", f"{EMR_LOC}.StepConfig"),
    Case("emr-role-with-new-cluster", mutate("integrations", lambda d: A(d, "EMRNewCluster").update(ExecutionRoleArn="arn:aws:iam::1:role/r")),
         ("ExecutionRoleArn is only valid with ClusterId",), "EMRNewCluster", "$.Steps[4].Arguments.IfSteps[0].Arguments.ExecutionRoleArn"),
    # -- conditions ------------------------------------------------------------------------------------
    Case("condition-unknown-type", mutate("abalone", lambda d: A(d, "CheckMSEAbaloneEvaluation")["Conditions"][0].update(Type="LessThanOrEqual")),
         ("unknown condition type 'LessThanOrEqual'", "did you mean 'LessThanOrEqualTo'"), "CheckMSEAbaloneEvaluation", f"{CONDITION0}.Type"),
    Case("condition-type-is-list", mutate("abalone", lambda d: A(d, "CheckMSEAbaloneEvaluation")["Conditions"][0].update(Type=["Equals"])),
         ("unknown condition type ['Equals']",), "CheckMSEAbaloneEvaluation", f"{CONDITION0}.Type"),
    Case("condition-missing-right-value", mutate("abalone", lambda d: A(d, "CheckMSEAbaloneEvaluation")["Conditions"][0].pop("RightValue")),
         ("LessThanOrEqualTo condition has no RightValue",), "CheckMSEAbaloneEvaluation", CONDITION0),
    Case("condition-in-values-not-list", mutate("integrations", lambda d: A(d, "ApprovalGate")["Conditions"][4].update(Values="COMPLETED")),
         ("In condition Values is not an array",), "ApprovalGate", "$.Steps[4].Arguments.Conditions[4].Values"),
    Case("condition-or-empty", mutate("integrations", lambda d: A(d, "ApprovalGate")["Conditions"][6].update(Conditions=[])),
         ("Or needs a non-empty Conditions array",), "ApprovalGate", "$.Steps[4].Arguments.Conditions[6].Conditions"),
    Case("condition-not-without-condition", mutate("integrations", lambda d: A(d, "ApprovalGate")["Conditions"][5].pop("Condition")),
         ("Not condition has no Condition",), "ApprovalGate", "$.Steps[4].Arguments.Conditions[5]"),
    Case("condition-nested-error-location", mutate("integrations", lambda d: A(d, "ApprovalGate")["Conditions"][6]["Conditions"][1].update(QueryValue={"name": "a"})),
         ("condition operand is a literal object",), "ApprovalGate", "$.Steps[4].Arguments.Conditions[6].Conditions[1].QueryValue"),
    Case("condition-operand-literal-object", mutate("abalone", lambda d: A(d, "CheckMSEAbaloneEvaluation")["Conditions"][0].update(RightValue={"value": 6.0})),
         ("condition operand is a literal object",), "CheckMSEAbaloneEvaluation", f"{CONDITION0}.RightValue"),
    Case("condition-operand-literal-list", mutate("abalone", lambda d: A(d, "CheckMSEAbaloneEvaluation")["Conditions"][0].update(RightValue=[6.0])),
         ("condition operand is a literal array",), "CheckMSEAbaloneEvaluation", f"{CONDITION0}.RightValue"),
    Case("condition-not-object", mutate("abalone", set_condition("LessThan")), ("condition is string",), "CheckMSEAbaloneEvaluation", CONDITION0),
    Case("condition-unknown-key", mutate("integrations", lambda d: A(d, "ApprovalGate")["Conditions"][4].update(Value="X")),
         ("unknown key 'Value' in an In condition",), "ApprovalGate", "$.Steps[4].Arguments.Conditions[4].Value"),
    Case("conditions-not-array", mutate("abalone", lambda d: A(d, "CheckMSEAbaloneEvaluation").update(Conditions={"Type": "Equals"})),
         ("Conditions is object",), "CheckMSEAbaloneEvaluation", "$.Steps[3].Arguments.Conditions"),
    Case("condition-unknown-argument", mutate("abalone", lambda d: A(d, "CheckMSEAbaloneEvaluation").update(Otherwise=[])),
         ("unknown Condition argument 'Otherwise'",), "CheckMSEAbaloneEvaluation", "$.Steps[3].Arguments.Otherwise"),
    Case("condition-branch-not-array", mutate("abalone", lambda d: A(d, "CheckMSEAbaloneEvaluation").update(ElseSteps={"Name": "x"})),
         ("ElseSteps is object",), "CheckMSEAbaloneEvaluation", "$.Steps[3].Arguments.ElseSteps"),
    Case("fail-unknown-argument", mutate("abalone", lambda d: A(d, "AbaloneMSEFail").update(Message="x")),
         ("unknown Fail argument 'Message'",), "AbaloneMSEFail", "$.Steps[3].Arguments.ElseSteps[0].Arguments.Message"),
    Case("fail-message-literal-object", mutate("abalone", lambda d: A(d, "AbaloneMSEFail").update(ErrorMessage={"text": "x"})),
         ("ErrorMessage is an object",), "AbaloneMSEFail", "$.Steps[3].Arguments.ElseSteps[0].Arguments.ErrorMessage"),
]


def _ids(cases: list[Case]) -> list[str]:
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return ids


def test_corpus_is_big_enough() -> None:
    assert len(DEFINITION_CASES) + len(VALUE_CASES) >= 60
    assert len(DEFINITION_CASES) >= 60


def _matching(problems: list[DefinitionError], contains: tuple[str, ...]) -> list[DefinitionError]:
    return [p for p in problems if all(text in str(p) for text in contains)]


@pytest.mark.parametrize("case", DEFINITION_CASES, ids=_ids(DEFINITION_CASES))
def test_malformed_definition(case: Case) -> None:
    assert_refusal(refused(case.make()), case.contains, case.step, case.location)


def test_every_problem_is_reported_at_once() -> None:
    doc = fixture_doc("abalone")
    S(doc, "TrainAbaloneModel")["Retries"] = 3
    P(doc, "MseThreshold")["DefaultValue"] = "6"
    S(doc, "AbaloneTransform")["DependsOn"] = ["Nope"]
    A(doc, "CheckMSEAbaloneEvaluation")["Conditions"][0]["Type"] = "Equal"
    with pytest.raises(InvalidDefinitionError) as caught:
        load_definition(doc)
    messages = [str(p) for p in caught.value.problems]
    assert len(messages) == 4, messages
    assert "4 problems" in str(caught.value)
    # document order: parameters first, then steps in order
    assert "MseThreshold" in messages[0]
    assert "unknown key 'Retries'" in messages[1]


def test_file_source_is_named_in_the_message(tmp_path: Any) -> None:
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(definition([fail("F", message={"Get": "Parameters.Nope"})])))
    with pytest.raises(InvalidDefinitionError) as caught:
        load_definition(path)
    assert str(caught.value).startswith(f"{path}: invalid pipeline definition (1 problem)")
    assert caught.value.source == str(path)
    assert caught.value.step == "F"
    assert caught.value.location == "$.Steps[0].Arguments.ErrorMessage"


def test_unsupported_source_type() -> None:
    with pytest.raises(InvalidDefinitionError, match="cannot load a definition from a int"):
        load_definition(42)  # type: ignore[arg-type]


# -- bad values at run time ----------------------------------------------------------------------


@dataclass
class ValueCase:
    id: str
    run: Callable[[], Any]
    error: type[DefinitionError]
    contains: tuple[str, ...]
    step: Any = ANY
    location: Any = ANY


def _abalone_run(parameters: Any = None, **kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        inputs = oracle_inputs(oracle("abalone.default"))
        inputs.parameters = parameters
        for key, value in kwargs.items():
            setattr(inputs, key, value)
        return dry_run(load_definition(fixture_path("abalone")), inputs)

    return run


def _report(contents: Any) -> dict[str, Any]:
    return {"EvaluateAbaloneModel": {"EvaluationReport": contents}}


def _integrations_run(execution_drop: tuple[str, ...] = (), **kwargs: Any) -> Callable[[], Any]:
    def run() -> Any:
        inputs = integrations_inputs(**kwargs)
        inputs.execution = {k: v for k, v in inputs.execution.items() if k not in execution_drop}
        return dry_run(load_definition(fixture_path("integrations")), inputs)

    return run


def _hand_run(steps: list[dict[str, Any]], parameters: list[dict[str, Any]] | None = None, **inputs: Any) -> Callable[[], Any]:
    return lambda: dry_run(load_definition(definition(copy.deepcopy(steps), parameters)), DryRunInputs(**inputs))


def _compare(kind: str, left: Any, right: Any) -> list[dict[str, Any]]:
    return [condition("Check", [{"Type": kind, "LeftValue": left, "RightValue": right}])]


BOOL_PARAM = [{"Name": "B", "Type": "Boolean", "DefaultValue": True}, {"Name": "N", "Type": "Integer", "DefaultValue": 3}]
COND_LOC = "$.Steps[0].Arguments.Conditions[0]"
S3_STEPS = [
    processing("Make"),
    fail("Show", message=join(["got", {"Std:JsonGet": {"S3Uri": join([get("Steps.Make.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri"), "r.json"], "/"), "Path": "Result[2]"}}], " ")),
]

VALUE_CASES: list[ValueCase] = [
    ValueCase("override-unknown-name", _abalone_run({"MseTreshold": 1.0}), ParameterError,
              ("unknown parameter 'MseTreshold'", "did you mean 'MseThreshold'"), None, "$.MseTreshold"),
    ValueCase("override-integer-from-text", _abalone_run({"ProcessingInstanceCount": "abc"}), ParameterError,
              ("Integer parameter 'ProcessingInstanceCount' got 'abc': not an integer",), None, "$.ProcessingInstanceCount"),
    ValueCase("override-integer-from-fraction", _abalone_run({"ProcessingInstanceCount": 1.5}), ParameterError,
              ("got 1.5: a number with a fraction is not an Integer",), None, "$.ProcessingInstanceCount"),
    ValueCase("override-integer-from-fraction-text", _abalone_run({"ProcessingInstanceCount": "1.5"}), ParameterError,
              ("not an integer",), None, "$.ProcessingInstanceCount"),
    ValueCase("override-integer-from-boolean", _abalone_run({"ProcessingInstanceCount": True}), ParameterError,
              ("a boolean is not accepted here",), None, "$.ProcessingInstanceCount"),
    ValueCase("override-boolean-maybe", _abalone_run({"EnableNetworkIsolation": "maybe"}), ParameterError,
              ("Boolean parameter 'EnableNetworkIsolation' got 'maybe': not a boolean", "true or false"), None, "$.EnableNetworkIsolation"),
    ValueCase("override-boolean-from-number", _abalone_run({"EnableNetworkIsolation": 1}), ParameterError,
              ("a number is not accepted here",), None, "$.EnableNetworkIsolation"),
    ValueCase("override-not-in-enum", _abalone_run({"ModelApprovalStatus": "Approve"}), ParameterError,
              ("got 'Approve': not one of its EnumValues", "one of PendingManualApproval, Approved, Rejected"), None, "$.ModelApprovalStatus"),
    ValueCase("override-empty-integer", _abalone_run({"ProcessingInstanceCount": ""}), ParameterError,
              ("Integer parameter 'ProcessingInstanceCount' got '': the value is empty",), None, "$.ProcessingInstanceCount"),
    ValueCase("override-float-not-finite", _abalone_run({"MseThreshold": "inf"}), ParameterError,
              ("not a finite number",), None, "$.MseThreshold"),
    ValueCase("override-string-from-number", _abalone_run({"TrainingInstanceType": 5}), ParameterError,
              ("a number is not accepted here",), None, "$.TrainingInstanceType"),
    ValueCase("override-string-from-list", _abalone_run({"TrainingInstanceType": ["ml.m5.xlarge"]}), ParameterError,
              ("a JSON list is not accepted",), None, "$.TrainingInstanceType"),
    ValueCase("override-too-long", _abalone_run({"InputData": "s3://" + "x" * 1100}), ParameterError,
              ("longer than 1024 characters",), None, "$.InputData"),
    ValueCase("missing-required-parameter", _hand_run([fail("F", get("Parameters.Who"))], [{"Name": "Who", "Type": "String"}]), ParameterError,
              ("parameter 'Who' has no default and no value was given",), None, "$.Who"),
    ValueCase("condition-string-vs-number", _abalone_run(property_files=_report({"regression_metrics": {"mse": {"value": "high"}}})), ConditionError,
              ("LessThanOrEqualTo cannot compare string 'high' with number 6.0", "two numbers, two strings"), "CheckMSEAbaloneEvaluation", CONDITION0),
    ValueCase("condition-boolean-vs-number", _abalone_run(property_files=_report({"regression_metrics": {"mse": {"value": True}}})), ConditionError,
              ("cannot compare boolean True with number 6.0",), "CheckMSEAbaloneEvaluation", CONDITION0),
    ValueCase("condition-greater-than-booleans", _hand_run(_compare("GreaterThan", get("Parameters.B"), False), BOOL_PARAM), ConditionError,
              ("GreaterThan cannot compare boolean True with boolean False",), "Check", COND_LOC),
    ValueCase("condition-equals-string-vs-number", _hand_run(_compare("Equals", get("Parameters.N"), "3"), BOOL_PARAM), ConditionError,
              ("Equals cannot compare number 3 with string '3'", "or two booleans"), "Check", COND_LOC),
    ValueCase("condition-equals-boolean-vs-number", _hand_run(_compare("Equals", get("Parameters.B"), 1), BOOL_PARAM), ConditionError,
              ("Equals cannot compare boolean True with number 1",), "Check", COND_LOC),
    ValueCase("condition-in-incomparable", _hand_run([condition("Check", [{"Type": "Not", "Condition": {"Type": "In", "QueryValue": get("Parameters.N"), "Values": ["3", "4"]}}])], BOOL_PARAM),
              ConditionError, ("In compares number 3 with values of other types (string)",), "Check", f"{COND_LOC}.Condition"),
    ValueCase("condition-null-operand", _abalone_run(property_files=_report({"regression_metrics": {"mse": {"value": None}}})), ConditionError,
              ("cannot compare null None with number 6.0",), "CheckMSEAbaloneEvaluation", CONDITION0),
    ValueCase("jsonget-missing-key", _abalone_run(property_files=_report({"regression_metrics": {"accuracy": 0.9, "r2": 0.5}})), ResolutionError,
              ("'regression_metrics.mse' is not in property file 'EvaluationReport' of step 'EvaluateAbaloneModel'", "available: accuracy, r2"),
              "CheckMSEAbaloneEvaluation", f"{JSON_GET_LOC}.Path"),
    ValueCase("jsonget-key-on-scalar", _abalone_run(property_files=_report({"regression_metrics": 4.2})), ResolutionError,
              ("cannot apply '.mse' to the float at 'regression_metrics'",), "CheckMSEAbaloneEvaluation", f"{JSON_GET_LOC}.Path"),
    ValueCase("jsonget-invalid-json-text", _abalone_run(property_files=_report("{not json")), ResolutionError,
              ("property file 'EvaluationReport' of step 'EvaluateAbaloneModel' is not valid JSON",), "CheckMSEAbaloneEvaluation", JSON_GET_LOC),
    ValueCase("property-file-missing", _abalone_run(property_files={}, s3_objects={}), ResolutionError,
              ("property file 'EvaluationReport' of step 'EvaluateAbaloneModel' was not found", "/EvaluateAbaloneModel/output/evaluation/evaluation.json", "--property-files"),
              "CheckMSEAbaloneEvaluation", f"{JSON_GET_LOC}.PropertyFile"),
    ValueCase("property-files-unknown-file", _abalone_run(property_files=_report({}) | {"PreprocessAbaloneData": {"Stats": {}}}), DefinitionError,
              ("step 'PreprocessAbaloneData' has no property file 'Stats'",), None, "property-files.PreprocessAbaloneData.Stats"),
    ValueCase("step-outputs-unknown-step", _abalone_run(step_outputs={"TrainAbaloneModl": {}}), DefinitionError,
              ("unknown step 'TrainAbaloneModl'", "did you mean 'TrainAbaloneModel'"), None, "step-outputs.TrainAbaloneModl"),
    ValueCase("step-outputs-not-object", _abalone_run(step_outputs={"TrainAbaloneModel": ["x"]}), DefinitionError,
              ("entry for step 'TrainAbaloneModel' is list",), None, "step-outputs.TrainAbaloneModel"),
    ValueCase("parameters-input-not-object", _abalone_run(["MseThreshold", 1.0]), DefinitionError,
              ("parameters is a list", "an object"), None, "parameters"),
    ValueCase("s3-objects-input-not-object", _abalone_run(property_files={}, s3_objects=["s3://x"]), DefinitionError,
              ("s3-objects is a list",), None, "s3-objects"),
    ValueCase("unknown-execution-variable-input", _abalone_run(execution={"PipelineExecutionID": "x"}), DefinitionError,
              ("unknown execution variable 'PipelineExecutionID'", "did you mean 'PipelineExecutionId'"), None, "execution.PipelineExecutionID"),
    ValueCase("training-job-name-in-lambda", _integrations_run(("TrainingJobName",)), ResolutionError,
              ("Execution.TrainingJobName is only defined inside a Training step (this is Lambda step)",), "NotifyLambda",
              "$.Steps[1].Arguments.exec_vars['Std:Join'].Values[6]"),
    ValueCase("tuning-outputs-not-given", lambda: dry_run(load_definition(fixture_path("integrations")), DryRunInputs(execution=dict(integrations_inputs().execution))),
              ResolutionError, ("'TrainingJobSummaries' is not in the properties of step 'TuneXGB'",), "NotifyLambda", ANY),
    ValueCase("lambda-output-wrong-type", _integrations_run(score="high"), ParameterError,
              ("output parameter 'score' of Lambda step 'NotifyLambda' is 'high'", "a Float value"), "NotifyLambda", ANY),
    ValueCase("s3-object-missing", _hand_run(S3_STEPS), ResolutionError,
              ("no JSON object at s3://bucket/Make/out/r.json",), "Show", ANY),
    ValueCase("jsonget-index-out-of-range", _hand_run(S3_STEPS, s3_objects={"s3://bucket/Make/out/r.json": {"Result": [1, 2]}}), ResolutionError,
              ("'Result[2]' is not in the JSON at s3://bucket/Make/out/r.json", "the list has 2 elements"), "Show", ANY),
    ValueCase("join-value-null", _hand_run(S3_STEPS, s3_objects={"s3://bucket/Make/out/r.json": {"Result": [1, 2, None]}}), ResolutionError,
              ("a Std:Join value resolved to null",), "Show", "$.Steps[1].Arguments.ErrorMessage['Std:Join'].Values[1]"),
]


@pytest.mark.parametrize("case", VALUE_CASES, ids=_ids(VALUE_CASES))
def test_bad_value(case: ValueCase) -> None:
    try:
        case.run()
    except DefinitionError as exc:
        error: DefinitionError = exc
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{type(exc).__name__} escaped instead of a DefinitionError: {exc!r}")
    else:
        pytest.fail("the bad value was accepted")
    problems = error.problems if isinstance(error, InvalidDefinitionError) else [error]
    for text in case.contains:
        assert text in str(error), f"{text!r} not in:\n{error}"
    matches = _matching(problems, case.contains)
    assert matches, f"no single problem mentions all of {case.contains}:\n{error}"
    problem = matches[0]
    assert isinstance(problem, case.error), f"{type(problem).__name__} is not a {case.error.__name__}"
    if case.step is not ANY:
        assert problem.step == case.step, str(problem)
    if case.location is not ANY:
        assert problem.location == case.location, str(problem)


ODD_BUT_VALID = {
    # shapes the validator does not police inside Arguments; the dry-run must still not crash
    "emr-property-key-is-list": ("integrations", lambda d: A(d, "EMRExistingCluster")["StepConfig"]["HadoopJarStep"]["Properties"][0].update(Key=["k"])),
    "emr-properties-not-list": ("integrations", lambda d: A(d, "EMRExistingCluster")["StepConfig"]["HadoopJarStep"].update(Properties=5)),
    "lineage-associations-int": ("misc_steps", lambda d: A(d, "RecordLineage").update(Associations=1)),
    "lineage-actions-object": ("misc_steps", lambda d: A(d, "RecordLineage").update(Actions={"ActionName": "a"})),
    "check-outputs-int": ("misc_steps", lambda d: A(d, "DataQualityCheck")["ProcessingOutputConfig"].update(Outputs=-1)),
    "check-output-uri-list": ("misc_steps", lambda d: A(d, "DataBiasCheck")["ProcessingOutputConfig"]["Outputs"][0]["S3Output"].update(S3Uri=["s3://b"])),
}


@pytest.mark.parametrize("case", sorted(ODD_BUT_VALID))
def test_dry_run_tolerates_odd_argument_shapes(case: str) -> None:
    name, edit = ODD_BUT_VALID[case]
    loaded = load_definition(mutate(name, edit)())
    report = dry_run(loaded, _inputs_for(name))
    assert all(step["status"] == "Executed" for step in report["steps"].values() if step["type"] != "Fail")


def test_non_string_execution_names_are_rendered() -> None:
    report = dry_run(load_definition(fixture_path("misc_steps")), DryRunInputs(execution={"PipelineName": 5, "PipelineExecutionId": 7}))
    assert report["execution"]["PipelineArn"].endswith(":pipeline/5")
    assert report["execution"]["PipelineExecutionArn"].endswith(":pipeline/5/execution/7")
    assert report["steps"]["RunNotebook"]["arguments"]["HyperParameters"]["exec"] == 7


def test_every_bad_override_is_reported_at_once() -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        _abalone_run({"Nope": 1, "ProcessingInstanceCount": "x", "EnableNetworkIsolation": "maybe"})()
    assert len(caught.value.problems) == 3
    assert all(isinstance(p, ParameterError) for p in caught.value.problems)


# -- seeded mutation fuzzing -----------------------------------------------------------------------

REPLACEMENTS: list[Any] = [
    None, 0, -1, 1.5, True, False, "", "x", "s3://b/k", "Steps.Nope", [], {}, [1], ["x"], {"a": 1},
    {"Get": "Steps.Nope.X"}, {"Get": 5}, {"Get": ["a"]}, {"Get": {"a": 1}}, {"Get": "Parameters.Nope"},
    {"Std:Join": 3}, {"Std:Join": {"On": [], "Values": [{}]}}, {"Std:JsonGet": {"S3Uri": 1, "Path": 2}},
    {"Std:JsonGet": {"PropertyFile": {"Get": ["x"]}, "Path": "a"}}, {"Std:Nope": 1}, {"Get": "Execution.Nope"},
    {"Get": "PipelineExperimentConfig.TrialName"}, float("nan"), 10**30, "PT", "P-1D",
]


def _mutant(name: str, seed: int) -> tuple[dict[str, Any], str]:
    return random_mutant(fixture_doc(name), random.Random(f"{name}:{seed}"), REPLACEMENTS)


def _inputs_for(name: str) -> DryRunInputs:
    if name == "abalone":
        return oracle_inputs(oracle("abalone.default"))
    if name == "function_step":
        return oracle_inputs(oracle("function_step.default"))
    if name == "integrations":
        return integrations_inputs()
    return DryRunInputs(execution={"PipelineExecutionId": "abc123def456"})


MUTANTS_PER_FIXTURE = 75


@pytest.mark.parametrize("seed", range(MUTANTS_PER_FIXTURE))
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_mutants_fail_only_with_definition_errors(name: str, seed: int) -> None:
    doc, applied = _mutant(name, seed)
    try:
        loaded = load_definition(doc)
    except InvalidDefinitionError as exc:
        assert exc.problems and all(isinstance(p, DefinitionError) for p in exc.problems)
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
    assert set(report["steps"]) == set(loaded.steps)


def test_fuzzer_produces_both_valid_and_invalid_mutants() -> None:
    outcomes = {"invalid": 0, "valid": 0}
    for name in FIXTURE_NAMES:
        for seed in range(MUTANTS_PER_FIXTURE):
            try:
                load_definition(_mutant(name, seed)[0])
                outcomes["valid"] += 1
            except InvalidDefinitionError:
                outcomes["invalid"] += 1
    assert outcomes["invalid"] >= 50 and outcomes["valid"] >= 50, outcomes
