"""Property paths and Get references: tokenising, walking, and the errors on the way."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_smpipe.definition.errors import DefinitionError, ResolutionError
from airflow_provider_smpipe.definition.paths import LIST_KEY_FIELDS, Token, format_path, get_path, parse_path
from airflow_provider_smpipe.definition.references import (
    expression_kind,
    iter_expressions,
    parse_reference,
    step_references,
)


def m(name: str) -> Token:
    return Token("member", name)


def k(key: str) -> Token:
    return Token("key", key)


def i(index: int) -> Token:
    return Token("index", index)


@pytest.mark.parametrize(
    ("path", "tokens"),
    [
        ("ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri",
         (m("ProcessingOutputConfig"), m("Outputs"), k("train"), m("S3Output"), m("S3Uri"))),
        ("TrainingJobSummaries[1].TrainingJobName", (m("TrainingJobSummaries"), i(1), m("TrainingJobName"))),
        ("FinalMetricDataList['validation:rmse'].Value", (m("FinalMetricDataList"), k("validation:rmse"), m("Value"))),
        ("OutputParameters['a.b']", (m("OutputParameters"), k("a.b"))),  # a dot inside a quoted key
        ("OutputParameters['a.b.c'].x", (m("OutputParameters"), k("a.b.c"), m("x"))),
        ('Environment["SM_INPUT"]', (m("Environment"), k("SM_INPUT"))),  # double quotes accepted too
        ("Result", (m("Result"),)),
        ("Result[0]", (m("Result"), i(0))),
        ("Result[2]['k']", (m("Result"), i(2), k("k"))),
        ("Result[-1]", (m("Result"), i(-1))),
        ("a['it\\'s']", (m("a"), k("it's"))),  # escaped quote inside the key
        ("a['[0]']", (m("a"), k("[0]"))),  # brackets inside a quoted key
        ("$.regression_metrics.mse.value", (m("regression_metrics"), m("mse"), m("value"))),  # JsonPath root
        ("HyperParameters['eta']", (m("HyperParameters"), k("eta"))),
        ("a b.c", (m("a b"), m("c"))),
        ("['only']", (k("only"),)),
        ("[3]", (i(3),)),
    ],
)
def test_parse_path(path: str, tokens: tuple[Token, ...]) -> None:
    assert parse_path(path) == tokens


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "empty property path"),
        ("a..b", "empty member name"),
        ("a.", "empty member name"),
        (".a", "empty member name"),
        ("a.[0]", "empty member name"),
        ("a[", "malformed bracket at character 1"),
        ("a[x]", "malformed bracket"),
        ("a['b'", "malformed bracket"),
        ("a[1.5]", "malformed bracket"),
        ("a]b", "unexpected character"),
        ("a'b", "unexpected character"),
        ("a[0]b", "unexpected character 'b'"),
        ("a['k']b", "unexpected character 'b'"),
    ],
)
def test_parse_path_errors(path: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        parse_path(path)


@pytest.mark.parametrize("bad", [None, 5, ["a"], {"a": 1}])
def test_parse_path_rejects_non_strings(bad: Any) -> None:
    with pytest.raises(DefinitionError, match="empty property path"):
        parse_path(bad)


@pytest.mark.parametrize(
    "path",
    ["A.B[0]['key'].C", "OutputParameters['a.b']", "Result[2]['k']", "x"],
)
def test_format_path_round_trips(path: str) -> None:
    assert format_path(parse_path(path)) == path
    assert parse_path(format_path(parse_path(path))) == parse_path(path)


DESCRIBE: dict[str, Any] = {
    "ProcessingOutputConfig": {"Outputs": [
        {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train"}},
        {"OutputName": "validation", "S3Output": {"S3Uri": "s3://b/validation"}},
    ]},
    "ProcessingInputs": [{"InputName": "code", "S3Input": {"S3Uri": "s3://b/code.py"}}],
    "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/ch"}}}],
    "FinalMetricDataList": [{"MetricName": "validation:rmse", "Value": 0.25}, {"MetricName": "train:rmse", "Value": 0.5}],
    "ProductionVariants": [{"VariantName": "AllTraffic", "CurrentWeight": 1.0}],
    "Applications": [{"Name": "Spark", "Version": "3"}],
    "HyperParameters": {"eta": "0.2", "a.b": "dotted"},
    "TrainingJobSummaries": [{"TrainingJobName": "best"}, {"TrainingJobName": "second"}],
    "Mixed": [{"Name": "x", "v": "by-name"}, {"OutputName": "x", "v": "by-output-name"}],
    "Count": 3,
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("ProcessingOutputConfig.Outputs['validation'].S3Output.S3Uri", "s3://b/validation"),  # OutputName
        ("ProcessingInputs['code'].S3Input.S3Uri", "s3://b/code.py"),  # InputName
        ("InputDataConfig['train'].DataSource.S3DataSource.S3Uri", "s3://b/ch"),  # ChannelName
        ("FinalMetricDataList['validation:rmse'].Value", 0.25),  # MetricName
        ("ProductionVariants['AllTraffic'].CurrentWeight", 1.0),  # VariantName
        ("Applications['Spark'].Version", "3"),  # generic Name
        ("ProcessingOutputConfig.Outputs[1].OutputName", "validation"),
        ("TrainingJobSummaries[0].TrainingJobName", "best"),
        ("TrainingJobSummaries[-1].TrainingJobName", "second"),
        ("HyperParameters['eta']", "0.2"),
        ("HyperParameters['a.b']", "dotted"),
        ("HyperParameters.eta", "0.2"),
        ("Mixed['x'].v", "by-output-name"),  # OutputName is tried before Name
        ("Count", 3),
    ],
)
def test_get_path(path: str, value: Any) -> None:
    assert get_path(DESCRIBE, parse_path(path), what="the describe", step="S", location="$.x") == value


def test_list_key_fields_order() -> None:
    assert LIST_KEY_FIELDS == ("OutputName", "InputName", "ChannelName", "MetricName", "VariantName", "Name")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("ProcessingOutputConfig.Outputs['test'].S3Output", "'ProcessingOutputConfig.Outputs['test']' is not in the describe (names in the list: train, validation)"),
        ("ProcessingOutputConfig.Outputz", "did you mean 'Outputs'"),
        ("Nothing", "'Nothing' is not in the describe (available: "),
        ("TrainingJobSummaries[5]", "(the list has 2 elements)"),
        ("TrainingJobSummaries.TrainingJobName", "cannot apply '.TrainingJobName' to the list at 'TrainingJobSummaries'"),
        ("Count.x", "cannot apply '.x' to the int at 'Count'"),
        ("Count[0]", "cannot apply '[0]' to the int at 'Count'"),
        ("HyperParameters[0]", "cannot apply '[0]' to the dict at 'HyperParameters'"),
        ("HyperParameters['eta'][0]", "cannot apply '[0]' to the str"),
        ("Count['k']", "cannot apply '['k']' to the int"),
        ("ProductionVariants['Canary']", "names in the list: AllTraffic"),
    ],
)
def test_get_path_errors(path: str, message: str) -> None:
    with pytest.raises(ResolutionError) as caught:
        get_path(DESCRIBE, parse_path(path), what="the describe", step="S", location="$.Steps[0].Arguments.x")
    assert message in str(caught.value)
    assert caught.value.step == "S"
    assert caught.value.location == "$.Steps[0].Arguments.x"


def test_get_path_hints_for_empty_and_unnamed_containers() -> None:
    with pytest.raises(ResolutionError, match=r"\(it is empty\)"):
        get_path({}, parse_path("a"), what="w", step=None, location="$")
    with pytest.raises(ResolutionError, match="the list has no named elements"):
        get_path([1, 2], parse_path("['a']"), what="w", step=None, location="$")


@pytest.mark.parametrize(
    ("text", "root", "name", "path"),
    [
        ("Parameters.InputData", "Parameters", "InputData", ()),
        ("Execution.PipelineExecutionId", "Execution", "PipelineExecutionId", ()),
        ("PipelineExperimentConfig.TrialName", "PipelineExperimentConfig", "TrialName", ()),
        ("Steps.PreprocessAbaloneData.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri", "Steps", "PreprocessAbaloneData",
         (m("ProcessingOutputConfig"), m("Outputs"), k("train"), m("S3Output"), m("S3Uri"))),
        ("Steps.CreateAbaloneModel-CreateModel.ModelName", "Steps", "CreateAbaloneModel-CreateModel", (m("ModelName"),)),
        ("Steps.NotifyLambda.OutputParameters['a.b']", "Steps", "NotifyLambda", (m("OutputParameters"), k("a.b"))),
        ("Steps.Eval.PropertyFiles.EvaluationReport", "Steps", "Eval", (m("PropertyFiles"), m("EvaluationReport"))),
        ("Parameters.my_param-1", "Parameters", "my_param-1", ()),
    ],
)
def test_parse_reference(text: str, root: str, name: str, path: tuple[Token, ...]) -> None:
    ref = parse_reference(text)
    assert (ref.text, ref.root, ref.name, ref.path) == (text, root, name, path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Foo.Bar", "unknown reference root 'Foo' in 'Foo.Bar'"),
        ("parameters.X", "unknown reference root 'parameters'"),
        ("Parameters", "names nothing after 'Parameters.'"),
        ("Parameters.", "names nothing after"),
        ("Parameters.a.b", "malformed name 'a.b'"),
        ("Execution.Pipeline Name", "malformed name"),
        ("Steps.X", "names step 'X' but no property of it"),
        ("Steps.X['a']", "malformed step reference"),
        ("Steps.X.a..b", "in reference 'Steps.X.a..b': empty member name"),
        ("", "'Get' must be a non-empty string"),
    ],
)
def test_parse_reference_errors(text: str, message: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_reference(text)
    assert message in str(caught.value)


@pytest.mark.parametrize("bad", [None, 5, ["Parameters.X"], {"a": 1}])
def test_parse_reference_rejects_non_strings_without_type_error(bad: Any) -> None:
    with pytest.raises(DefinitionError, match="'Get' must be a non-empty string"):
        parse_reference(bad)


def test_expression_kind() -> None:
    assert expression_kind({"Get": "Parameters.X"}) == "Get"
    assert expression_kind({"Std:Join": {}}) == "Std:Join"
    assert expression_kind({"Std:JsonGet": {}}) == "Std:JsonGet"
    assert expression_kind({"Get": "x", "y": 1}) is None
    assert expression_kind({"Std:Concat": {}}) is None
    assert expression_kind("Parameters.N") is None
    assert expression_kind(["Get"]) is None


def test_iter_expressions_walks_literals_and_nested_functions() -> None:
    value = {
        "args": ["--property_references", "Parameters.N", {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.N"}]}}],
        "odd key": {"Std:JsonGet": {"S3Uri": {"Std:Join": {"On": "/", "Values": [{"Get": "Steps.A.B"}, "r.json"]}}, "Path": "Result"}},
    }
    found = [(kind, where) for kind, _, where in iter_expressions(value, "$")]
    assert found == [
        ("Std:Join", "$.args[2]"),
        ("Get", "$.args[2]['Std:Join'].Values[0]"),
        ("Std:JsonGet", "$['odd key']"),
        ("Std:Join", "$['odd key']['Std:JsonGet'].S3Uri"),
        ("Get", "$['odd key']['Std:JsonGet'].S3Uri['Std:Join'].Values[0]"),
    ]
    assert list(step_references(value)) == ["A"]
    assert list(step_references({"literal": "Steps.A.B", "x": {"Get": "Parameters.Steps"}})) == []
