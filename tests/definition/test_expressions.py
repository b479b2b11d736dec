"""The Resolver: Get / Std:Join / Std:JsonGet evaluation and condition semantics."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from definition_helpers import condition, definition, fail, get, join, lambda_step, processing, training

from airflow_provider_smpipe.definition.errors import ConditionError, ResolutionError
from airflow_provider_smpipe.definition.expressions import Resolver, render_join_value, s3_join
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import PipelineDefinition
from airflow_provider_smpipe.definition.parameters import resolve_parameters
from airflow_provider_smpipe.definition.properties import normalize_properties, output_parameters_map

PARAMETERS = [
    {"Name": "Flag", "Type": "Boolean", "DefaultValue": True},
    {"Name": "Off", "Type": "Boolean", "DefaultValue": False},
    {"Name": "N", "Type": "Integer", "DefaultValue": 1},
    {"Name": "X", "Type": "Float", "DefaultValue": 1.0},
    {"Name": "Half", "Type": "Float", "DefaultValue": 0.5},
    {"Name": "Label", "Type": "String", "DefaultValue": "demo"},
]
EXECUTION = {"PipelineName": "P", "PipelineExecutionId": "abc123def456", "StartDateTime": "2025-01-01T00:00:00+00:00"}


def _definition(*steps: dict[str, Any], experiment_config: Any = None) -> PipelineDefinition:
    return load_definition(definition(list(steps) or [fail("F")], PARAMETERS, experiment_config))


def _resolver(loaded: PipelineDefinition, *, overrides: dict[str, Any] | None = None, properties: dict[str, Any] | None = None,
              execution: dict[str, Any] | None = None, files: dict[str, Any] | None = None, s3: dict[str, Any] | None = None) -> Resolver:
    return Resolver(
        loaded,
        parameters=resolve_parameters(loaded.parameters, overrides),
        execution=EXECUTION if execution is None else execution,
        step_properties=properties or {},
        property_file_loader=(lambda step, pfile, uri: (files or {})[uri]) if files is not None else None,
        s3_loader=(lambda uri: (s3 or {})[uri]) if s3 is not None else None,
    )


# -- Std:Join rendering --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "on", "expected"),
    [
        ([get("Parameters.Flag")], "", "true"),  # booleans render lowercase, as the service does
        ([get("Parameters.Off")], "", "false"),
        (["flag=", get("Parameters.Flag"), ",off=", get("Parameters.Off")], "", "flag=true,off=false"),
        ([get("Parameters.N")], "", "1"),
        ([get("Parameters.X")], "", "1.0"),  # Python's str() of a float
        ([get("Parameters.Half")], "", "0.5"),
        (["s3:/", "bucket", get("Execution.PipelineExecutionId"), "out"], "/", "s3://bucket/abc123def456/out"),
        ([1, 2.5, True, "x"], "-", "1-2.5-true-x"),  # literal primitives too
        ([join(["a", get("Parameters.Label")], "_"), "b"], "/", "a_demo/b"),  # nested Join
        ([], "/", ""),
        (["only"], "/", "only"),
    ],
)
def test_join_rendering(values: list[Any], on: str, expected: str) -> None:
    resolver = _resolver(_definition())
    assert resolver.resolve(join(values, on)) == expected


def test_join_without_on_uses_empty_separator() -> None:
    resolver = _resolver(_definition())
    assert resolver.resolve({"Std:Join": {"Values": ["a", get("Parameters.N")]}}) == "a1"


def test_join_renders_overridden_values() -> None:
    resolver = _resolver(_definition(), overrides={"Flag": "FALSE", "N": "7", "X": 2})
    assert resolver.resolve(join([get("Parameters.Flag"), get("Parameters.N"), get("Parameters.X")], ",")) == "false,7,2.0"


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (True, "true"), (False, "false"), (0, "0"), (-3, "-3"), (6.0, "6.0"), (4.4867, "4.4867"), ("x", "x"),
        (datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "2025-01-02T03:04:05+00:00"),
        ({"b": 1, "a": [1, 2]}, '{"a":[1,2],"b":1}'),
        ([1, "a"], '[1,"a"]'),
    ],
)
def test_render_join_value(value: Any, rendered: str) -> None:
    assert render_join_value(value, step="S", location="$") == rendered


def test_render_join_value_rejects_null() -> None:
    with pytest.raises(ResolutionError, match="a Std:Join value resolved to null") as caught:
        render_join_value(None, step="S", location="$.x")
    assert (caught.value.step, caught.value.location) == ("S", "$.x")


@pytest.mark.parametrize(
    ("prefix", "parts", "joined"),
    [
        ("s3://b/out/", ("evaluation.json",), "s3://b/out/evaluation.json"),
        ("s3://b/out", ("/evaluation.json",), "s3://b/out/evaluation.json"),
        ("s3://b", ("a/", "/b/", "c"), "s3://b/a/b/c"),
    ],
)
def test_s3_join(prefix: str, parts: tuple[str, ...], joined: str) -> None:
    assert s3_join(prefix, *parts) == joined


# -- Get -------------------------------------------------------------------------------------------


def test_get_returns_typed_values() -> None:
    resolver = _resolver(_definition())
    assert resolver.resolve(get("Parameters.Flag")) is True
    assert resolver.resolve(get("Parameters.N")) == 1 and type(resolver.resolve(get("Parameters.N"))) is int
    assert type(resolver.resolve(get("Parameters.X"))) is float
    assert resolver.resolve(get("Execution.PipelineName")) == "P"


def test_resolve_copies_containers_and_leaves_literal_strings_alone() -> None:
    resolver = _resolver(_definition())
    value = {"args": ["--property_references", "Parameters.N", join([get("Parameters.N")]), "Steps.X.Y"], "nested": {"n": get("Parameters.N")}}
    resolved = resolver.resolve(value)
    assert resolved == {"args": ["--property_references", "Parameters.N", "1", "Steps.X.Y"], "nested": {"n": 1}}
    assert value["nested"]["n"] == {"Get": "Parameters.N"}  # the input is not modified


def test_current_date_time_defaults_to_now() -> None:
    resolver = _resolver(_definition())
    value = resolver.resolve(get("Execution.CurrentDateTime"))
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None
    assert abs((datetime.now(timezone.utc) - parsed).total_seconds()) < 60
    fixed = _resolver(_definition(), execution=dict(EXECUTION, CurrentDateTime="2025-01-01T00:05:00+00:00"))
    assert fixed.resolve(get("Execution.CurrentDateTime")) == "2025-01-01T00:05:00+00:00"


def test_job_name_variables_inside_their_own_step() -> None:
    train = training("T", Arguments={"Environment": {"JOB": get("Execution.TrainingJobName")}})
    proc = processing("P", Arguments={"Environment": {"JOB": get("Execution.ProcessingJobName")}})
    loaded = _definition(train, proc)
    resolver = _resolver(loaded)
    assert resolver.resolve_arguments(loaded.steps["T"], job_name="train-1") == {"Environment": {"JOB": "train-1"}}
    assert resolver.resolve_arguments(loaded.steps["P"], job_name="proc-1") == {"Environment": {"JOB": "proc-1"}}
    with pytest.raises(ResolutionError) as caught:
        resolver.resolve_arguments(loaded.steps["P"], job_name=None)
    assert "Execution.ProcessingJobName is only defined inside a Processing or QualityCheck or ClarifyCheck step" in str(caught.value)
    assert caught.value.step == "P"
    assert caught.value.location == "$.Steps[1].Arguments.Environment.JOB"


def test_job_name_variable_in_another_step_type_needs_a_value() -> None:
    loaded = _definition(lambda_step("L", {"job": get("Execution.TrainingJobName")}))
    with pytest.raises(ResolutionError, match="this is Lambda step"):
        _resolver(loaded).resolve_arguments(loaded.steps["L"], job_name="ignored")
    given = _resolver(loaded, execution=dict(EXECUTION, TrainingJobName="tj-given"))
    assert given.resolve_arguments(loaded.steps["L"]) == {"job": "tj-given"}


def test_missing_execution_variable() -> None:
    resolver = _resolver(_definition(), execution={"PipelineName": "P"})
    with pytest.raises(ResolutionError, match="no value for execution variable 'PipelineExecutionId'"):
        resolver.resolve(get("Execution.PipelineExecutionId"))


def test_experiment_config_is_resolved_as_an_expression() -> None:
    config = {"ExperimentName": join(["exp", get("Execution.PipelineName")], "-"), "TrialName": get("Execution.PipelineExecutionId")}
    resolver = _resolver(_definition(experiment_config=config))
    assert resolver.resolve(get("PipelineExperimentConfig.ExperimentName")) == "exp-P"
    assert resolver.resolve(get("PipelineExperimentConfig.TrialName")) == "abc123def456"
    with pytest.raises(ResolutionError, match="PipelineExperimentConfig has no TrialName"):
        _resolver(_definition(experiment_config={"ExperimentName": "e"})).resolve(get("PipelineExperimentConfig.TrialName"))


def test_step_properties() -> None:
    loaded = _definition(processing("Prep", outputs=("train", "test")), training("T"))
    props = {"Prep": {"ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train"}}]}}}
    resolver = _resolver(loaded, properties=props)
    assert resolver.resolve(get("Steps.Prep.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri")) == "s3://b/train"
    with pytest.raises(ResolutionError) as caught:
        resolver.resolve(get("Steps.T.ModelArtifacts.S3ModelArtifacts"), step=loaded.steps["Prep"], location="$.here")
    assert "step 'T' has no properties" in str(caught.value)
    assert "--step-outputs" in str(caught.value)
    assert (caught.value.step, caught.value.location) == ("Prep", "$.here")


def test_lambda_and_callback_outputs_are_typed_by_output_type() -> None:
    loaded = _definition(lambda_step("L", outputs=(("s", "String"), ("n", "Integer"), ("x", "Float"), ("b", "Boolean"))))
    step = loaded.steps["L"]
    typed = output_parameters_map(step, {"s": 5, "n": "3", "x": "0.25", "b": "TRUE"})
    assert typed == {"s": "5", "n": 3, "x": 0.25, "b": True}
    assert [type(v) for v in typed.values()] == [str, int, float, bool]
    as_list = output_parameters_map(step, [{"Name": "n", "Value": "4"}, {"Name": "undeclared", "Value": "kept"}])
    assert as_list == {"n": 4, "undeclared": "kept"}
    assert normalize_properties(step, {"OutputParameters": {"b": False}, "Other": 1}) == {"OutputParameters": {"b": False}}
    resolver = _resolver(loaded, properties={"L": {"OutputParameters": typed}})
    assert resolver.resolve(get("Steps.L.OutputParameters['n']")) == 3
    assert resolver.resolve(join([get("Steps.L.OutputParameters['b']")])) == "true"


# -- Std:JsonGet -------------------------------------------------------------------------------------

EVAL = processing("Eval", outputs=("evaluation",), property_files=[
    {"PropertyFileName": "Report", "OutputName": "evaluation", "FilePath": "metrics/evaluation.json"}])
EVAL_PROPS = {"Eval": {"ProcessingOutputConfig": {"Outputs": [{"OutputName": "evaluation", "S3Output": {"S3Uri": "s3://b/eval/"}}]}}}
REPORT_URI = "s3://b/eval/metrics/evaluation.json"


def _json_get(path: str) -> dict[str, Any]:
    return {"Std:JsonGet": {"PropertyFile": get("Steps.Eval.PropertyFiles.Report"), "Path": path}}


def test_json_get_property_file_form() -> None:
    loaded = _definition(EVAL)
    document = {"metrics": {"mse": {"value": 4.5}, "a.b": [10, {"k": "v"}]}, "ok": True}
    resolver = _resolver(loaded, properties=EVAL_PROPS, files={REPORT_URI: document})
    assert resolver.resolve(_json_get("metrics.mse.value")) == 4.5
    assert resolver.resolve(_json_get("metrics['a.b'][1].k")) == "v"
    assert resolver.resolve(_json_get("$.ok")) is True
    assert resolver.resolve(join(["mse=", _json_get("metrics.mse.value"), " ok=", _json_get("ok")])) == "mse=4.5 ok=true"


def test_json_get_reads_text_documents() -> None:
    loaded = _definition(EVAL)
    resolver = _resolver(loaded, properties=EVAL_PROPS, files={REPORT_URI: '{"metrics": {"n": 3}}'})
    assert resolver.resolve(_json_get("metrics.n")) == 3
    broken = _resolver(loaded, properties=EVAL_PROPS, files={REPORT_URI: b"{oops"})
    with pytest.raises(ResolutionError, match="property file 'Report' of step 'Eval' is not valid JSON"):
        broken.resolve(_json_get("metrics.n"))


def test_json_get_without_a_loader_or_file() -> None:
    loaded = _definition(EVAL)
    with pytest.raises(ResolutionError, match="no way to read property file 'Report'"):
        _resolver(loaded, properties=EVAL_PROPS).resolve(_json_get("a"))
    with pytest.raises(ResolutionError, match="property file 'Report' of step 'Eval' was not found"):
        _resolver(loaded, properties=EVAL_PROPS, files={}).resolve(_json_get("a"))


def test_json_get_s3_uri_form() -> None:
    loaded = _definition(training("Make"))
    props = {"Make": {"OutputDataConfig": {"S3OutputPath": "s3://b/make/results"}}}
    uri = join([get("Steps.Make.OutputDataConfig.S3OutputPath"), "results.json"], "/")
    resolver = _resolver(loaded, properties=props, s3={"s3://b/make/results/results.json": {"Result": {"total": 20, "items": [1, 2]}}})
    assert resolver.resolve({"Std:JsonGet": {"S3Uri": uri, "Path": "Result['total']"}}) == 20
    assert resolver.resolve({"Std:JsonGet": {"S3Uri": uri, "Path": "Result['items'][1]"}}) == 2
    assert resolver.resolve({"Std:JsonGet": {"S3Uri": uri, "Path": "Result"}}) == {"total": 20, "items": [1, 2]}
    with pytest.raises(ResolutionError, match="no way to read s3://b/make/results/results.json"):
        _resolver(loaded, properties=props).resolve({"Std:JsonGet": {"S3Uri": uri, "Path": "Result"}})
    with pytest.raises(ResolutionError, match="S3Uri resolved to 1"):
        _resolver(loaded, s3={}).resolve({"Std:JsonGet": {"S3Uri": get("Parameters.N"), "Path": "Result"}})


# -- conditions ----------------------------------------------------------------------------------


def _outcome(conditions: list[Any], **resolver_kwargs: Any) -> tuple[bool, list[Any]]:
    loaded = _definition(condition("C", conditions))
    return _resolver(loaded, **resolver_kwargs).evaluate_conditions(loaded.steps["C"])


def eq(left: Any, right: Any) -> dict[str, Any]:
    return {"Type": "Equals", "LeftValue": left, "RightValue": right}


def binary(kind: str, left: Any, right: Any) -> dict[str, Any]:
    return {"Type": kind, "LeftValue": left, "RightValue": right}


def is_in(query: Any, values: list[Any]) -> dict[str, Any]:
    return {"Type": "In", "QueryValue": query, "Values": values}


def not_(inner: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "Not", "Condition": inner}


def or_(*inner: dict[str, Any]) -> dict[str, Any]:
    return {"Type": "Or", "Conditions": list(inner)}


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([eq(1, 1.0)], True),  # numbers compare numerically, int vs float included
        ([eq(get("Parameters.N"), 1.0)], True),  # an Integer parameter against a float literal
        ([eq(get("Parameters.X"), get("Parameters.N"))], True),
        ([eq(1, 2)], False),
        ([eq("a", "a")], True),
        ([eq(get("Parameters.Flag"), True)], True),
        ([eq(get("Parameters.Off"), True)], False),
        ([binary("GreaterThan", 2, 1.5)], True),
        ([binary("GreaterThan", 1, 1)], False),
        ([binary("GreaterThanOrEqualTo", 1, 1.0)], True),
        ([binary("LessThan", get("Parameters.Half"), 1)], True),
        ([binary("LessThanOrEqualTo", 4.4867, 6.0)], True),
        ([binary("LessThanOrEqualTo", 4.9213, 3.5)], False),
        ([binary("GreaterThan", "b", "a")], True),  # strings compare as strings
        ([is_in(1, [1.0, 2])], True),
        ([is_in("RUNNING", ["COMPLETED", "RUNNING"])], True),
        ([is_in("FAILED", ["COMPLETED", "RUNNING"])], False),
        ([is_in(get("Parameters.Label"), ["x", 1, "demo"])], True),  # incomparable members are skipped
        ([is_in(1, [])], False),
        ([not_(eq(1, 2))], True),
        ([not_(not_(eq(1, 1)))], True),
        ([or_(eq(1, 2), eq(2, 2))], True),
        ([or_(eq(1, 2), eq(3, 2))], False),
        ([or_(eq(1, 1), binary("GreaterThan", "a", 1))], True),  # Or short-circuits: the bad comparison is never made
        ([], True),  # an empty Conditions list is True
        ([eq(1, 1), eq(1, 2)], False),  # the list is an AND
        ([eq(1, 1), is_in(2, [2]), not_(eq(get("Parameters.Flag"), False))], True),
    ],
)
def test_condition_outcomes(conditions: list[Any], expected: bool) -> None:
    outcome, _ = _outcome(conditions)
    assert outcome is expected


def test_conditions_are_all_resolved_for_the_report() -> None:
    outcome, resolved = _outcome([
        eq(get("Parameters.N"), 2),
        not_(is_in(get("Parameters.Label"), [get("Execution.PipelineName"), "b"])),
        or_(binary("LessThan", get("Parameters.X"), 0), eq(join(["a", get("Parameters.Flag")]), "atrue")),
    ])
    assert outcome is False  # the first one is false, but every operand is still resolved
    assert resolved == [
        {"Type": "Equals", "LeftValue": 1, "RightValue": 2},
        {"Type": "Not", "Condition": {"Type": "In", "QueryValue": "demo", "Values": ["P", "b"]}},
        {"Type": "Or", "Conditions": [
            {"Type": "LessThan", "LeftValue": 1.0, "RightValue": 0},
            {"Type": "Equals", "LeftValue": "atrue", "RightValue": "atrue"},
        ]},
    ]


@pytest.mark.parametrize(
    ("conditions", "message", "location"),
    [
        ([eq("1", 1)], "Equals cannot compare string '1' with number 1", "$.Steps[0].Arguments.Conditions[0]"),
        ([eq(True, 1)], "Equals cannot compare boolean True with number 1", "$.Steps[0].Arguments.Conditions[0]"),
        ([eq(1, 1), binary("GreaterThan", True, 0)], "GreaterThan cannot compare boolean True with number 0", "$.Steps[0].Arguments.Conditions[1]"),
        ([binary("LessThan", get("Parameters.Flag"), get("Parameters.Off"))], "LessThan cannot compare boolean True with boolean False", "$.Steps[0].Arguments.Conditions[0]"),
        ([binary("GreaterThanOrEqualTo", "a", 1)], "cannot compare string 'a' with number 1", "$.Steps[0].Arguments.Conditions[0]"),
        ([not_(or_(eq(1, 2), binary("LessThan", 1, "z")))], "LessThan cannot compare number 1 with string 'z'",
         "$.Steps[0].Arguments.Conditions[0].Condition.Conditions[1]"),
        ([is_in(1, ["1", "2"])], "In compares number 1 with values of other types (string)", "$.Steps[0].Arguments.Conditions[0]"),
        ([is_in(True, [1, "x"])], "In compares boolean True with values of other types (number, string)", "$.Steps[0].Arguments.Conditions[0]"),
    ],
)
def test_incomparable_conditions_raise(conditions: list[Any], message: str, location: str) -> None:
    with pytest.raises(ConditionError) as caught:
        _outcome(conditions)
    assert message in str(caught.value)
    assert caught.value.step == "C"
    assert caught.value.location == location
