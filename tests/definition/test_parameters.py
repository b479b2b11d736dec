"""Parameter values: casting typed JSON and StartPipelineExecution strings, merging, stringifying."""

from __future__ import annotations

from typing import Any

import pytest
from definition_helpers import definition, fail, fixture_path

from airflow_provider_smpipe.definition.errors import InvalidDefinitionError, ParameterError
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import Parameter
from airflow_provider_smpipe.definition.parameters import (
    MAX_PARAMETERS,
    cast_parameter_value,
    resolve_parameters,
    to_start_parameters,
    to_wire_string,
)

STRING = Parameter("S", "String", "a", True)
ENUM = Parameter("E", "String", "PendingManualApproval", True, ("PendingManualApproval", "Approved", "Rejected"))
INTEGER = Parameter("I", "Integer", 1, True)
FLOAT = Parameter("F", "Float", 6.0, True)
BOOLEAN = Parameter("B", "Boolean", False, True)
REQUIRED = Parameter("R", "String")


@pytest.mark.parametrize(
    ("parameter", "given", "expected"),
    [
        (STRING, "ml.m5.xlarge", "ml.m5.xlarge"),
        (STRING, " padded ", " padded "),  # strings are kept as they are
        (STRING, "True", "True"),
        (ENUM, "Approved", "Approved"),
        (INTEGER, 3, 3),
        (INTEGER, "3", 3),
        (INTEGER, " 42 ", 42),
        (INTEGER, "-7", -7),
        (INTEGER, 2.0, 2),  # an integral JSON number
        (FLOAT, 0.5, 0.5),
        (FLOAT, "0.5", 0.5),
        (FLOAT, "3.5", 3.5),
        (FLOAT, "1e3", 1000.0),
        (FLOAT, "6", 6.0),
        (FLOAT, 2, 2.0),  # ints are accepted for Float and become floats
        (BOOLEAN, True, True),
        (BOOLEAN, False, False),
        (BOOLEAN, "True", True),  # the SDK's str(True)
        (BOOLEAN, "true", True),
        (BOOLEAN, "FALSE", False),
        (BOOLEAN, "False", False),
        (BOOLEAN, " tRuE ", True),
    ],
)
def test_cast_parameter_value(parameter: Parameter, given: Any, expected: Any) -> None:
    value = cast_parameter_value(parameter, given)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("parameter", "given", "message"),
    [
        (INTEGER, "abc", "not an integer"),
        (INTEGER, "1.5", "not an integer"),
        (INTEGER, 1.5, "a number with a fraction is not an Integer"),
        (INTEGER, True, "a boolean is not accepted here"),
        (INTEGER, "", "the value is empty"),
        (FLOAT, "abc", "not a number"),
        (FLOAT, "nan", "not a finite number"),
        (FLOAT, float("inf"), "not a finite number"),
        (FLOAT, False, "a boolean is not accepted here"),
        (BOOLEAN, "maybe", "not a boolean"),
        (BOOLEAN, "1", "not a boolean"),
        (BOOLEAN, 1, "a number is not accepted here"),
        (BOOLEAN, 0.0, "a number is not accepted here"),
        (FLOAT, "", "the value is empty"),
        (BOOLEAN, "", "the value is empty"),
        (STRING, 5, "a number is not accepted here"),
        (STRING, None, "a value is required"),
        (STRING, {"a": 1}, "a JSON dict is not accepted"),
        (STRING, "x" * 1025, "longer than 1024 characters"),
        (ENUM, "approved", "not one of its EnumValues"),
    ],
)
def test_cast_parameter_value_errors(parameter: Parameter, given: Any, message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        cast_parameter_value(parameter, given, location="$.here")
    assert message in str(caught.value)
    assert caught.value.location == "$.here"
    assert f"{parameter.type} parameter '{parameter.name}'" in str(caught.value)


def test_empty_string_is_a_string_value() -> None:
    # StartPipelineExecution's Value has length 0..1024, and definitions declare "" defaults.
    assert cast_parameter_value(STRING, "") == ""
    with pytest.raises(ParameterError, match="not one of its EnumValues"):
        cast_parameter_value(ENUM, "")


def test_cast_error_default_location_and_expectation() -> None:
    with pytest.raises(ParameterError) as caught:
        cast_parameter_value(ENUM, "Nope")
    assert caught.value.location == "$.E"
    assert caught.value.expected == "one of PendingManualApproval, Approved, Rejected"


def test_string_of_exactly_1024_characters_is_accepted() -> None:
    assert cast_parameter_value(STRING, "x" * 1024) == "x" * 1024


@pytest.mark.parametrize(
    ("value", "wire"),
    [(True, "true"), (False, "false"), (3, "3"), (0.5, "0.5"), (6.0, "6.0"), ("True", "True"), ("s3://b/k", "s3://b/k")],
)
def test_to_wire_string(value: Any, wire: str) -> None:
    assert to_wire_string(value) == wire


def test_to_start_parameters_only_sends_overrides_as_strings() -> None:
    declared = {p.name: p for p in (STRING, INTEGER, FLOAT, BOOLEAN, ENUM)}
    assert to_start_parameters(declared, {"B": True, "I": "2", "F": 1, "E": "Rejected"}) == [
        {"Name": "B", "Value": "true"},
        {"Name": "I", "Value": "2"},
        {"Name": "F", "Value": "1.0"},
        {"Name": "E", "Value": "Rejected"},
    ]
    assert to_start_parameters(declared, {"B": "FALSE"}) == [{"Name": "B", "Value": "false"}]
    assert to_start_parameters(declared, None) == []
    with pytest.raises(InvalidDefinitionError, match="unknown parameter 'Nope'"):
        to_start_parameters(declared, {"Nope": 1})


def test_to_start_parameters_round_trips_through_the_cast() -> None:
    abalone = load_definition(fixture_path("abalone")).parameters
    overrides = {"EnableNetworkIsolation": True, "MseThreshold": 3.5, "ProcessingInstanceCount": 2, "ModelApprovalStatus": "Approved"}
    wire = {p["Name"]: p["Value"] for p in to_start_parameters(abalone, overrides)}
    assert wire == {"EnableNetworkIsolation": "true", "MseThreshold": "3.5", "ProcessingInstanceCount": "2", "ModelApprovalStatus": "Approved"}
    assert resolve_parameters(abalone, wire) == resolve_parameters(abalone, overrides)


def test_resolve_parameters_merges_defaults_and_overrides() -> None:
    abalone = load_definition(fixture_path("abalone")).parameters
    values = resolve_parameters(abalone, {"MseThreshold": "3.5", "EnableNetworkIsolation": "True"})
    assert values == {
        "ProcessingInstanceCount": 1,
        "TrainingInstanceType": "ml.m5.xlarge",
        "ModelApprovalStatus": "PendingManualApproval",
        "InputData": "s3://my-ml-bucket/abalone/abalone-dataset.csv",
        "BatchData": "s3://my-ml-bucket/abalone/abalone-dataset-batch",
        "MseThreshold": 3.5,
        "EnableNetworkIsolation": True,
    }
    assert resolve_parameters(abalone, None)["MseThreshold"] == 6.0


def test_integral_float_default_is_a_float() -> None:
    loaded = load_definition(definition([fail("F")], [{"Name": "T", "Type": "Float", "DefaultValue": 6}]))
    assert loaded.parameters["T"].default == 6.0
    assert type(resolve_parameters(loaded.parameters, None)["T"]) is float


def test_resolve_parameters_reports_every_problem() -> None:
    declared = {p.name: p for p in (INTEGER, BOOLEAN, REQUIRED)}
    with pytest.raises(InvalidDefinitionError) as caught:
        resolve_parameters(declared, {"Intt": 1, "I": "x", "B": "maybe"}, source="run conf")
    problems = caught.value.problems
    assert [p.location for p in problems] == ["$.Intt", "$.I", "$.B", "$.R"]
    assert "unknown parameter 'Intt'" in str(problems[0]) and "one of I, B, R" in str(problems[0])
    assert "parameter 'R' has no default and no value was given" in str(problems[3])
    assert str(caught.value).startswith("run conf: invalid parameters (4 problems)")


def test_unknown_parameter_when_none_are_declared() -> None:
    with pytest.raises(InvalidDefinitionError, match="the pipeline declares none"):
        resolve_parameters({}, {"X": 1})


def test_too_many_overrides() -> None:
    declared = {f"P{n}": Parameter(f"P{n}", "Integer", 0, True) for n in range(MAX_PARAMETERS + 1)}
    with pytest.raises(InvalidDefinitionError, match=f"{MAX_PARAMETERS + 1} overrides; at most 200"):
        resolve_parameters(declared, {name: 1 for name in declared})
    assert len(resolve_parameters(declared, {f"P{n}": 1 for n in range(MAX_PARAMETERS)})) == MAX_PARAMETERS + 1


def test_required_parameter_must_be_given() -> None:
    declared = {"R": REQUIRED}
    assert resolve_parameters(declared, {"R": "x"}) == {"R": "x"}
    with pytest.raises(InvalidDefinitionError, match="has no default"):
        resolve_parameters(declared, {})
    # a declared DefaultValue of null means "no default", as when the SDK omits it
    loaded = load_definition(definition([fail("F")], [{"Name": "R", "Type": "Integer", "DefaultValue": None}]))
    assert not loaded.parameters["R"].has_default
    with pytest.raises(InvalidDefinitionError, match="has no default"):
        resolve_parameters(loaded.parameters, None)
