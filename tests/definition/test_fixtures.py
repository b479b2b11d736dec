"""The four SDK-generated fixtures load, validate, and give exactly the SDK's step graph."""

from __future__ import annotations

import json

import pytest
from definition_helpers import FIXTURE_NAMES, expected_graph, fixture_doc, fixture_path, iter_raw_steps

from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import PipelineDefinition


@pytest.fixture(scope="module", params=FIXTURE_NAMES)
def loaded(request: pytest.FixtureRequest) -> tuple[str, PipelineDefinition]:
    return request.param, load_definition(fixture_path(request.param))


def _edges(definition: PipelineDefinition) -> set[tuple[str, str]]:
    return set(definition.graph.edges())


def test_loads_from_every_source_form(loaded: tuple[str, PipelineDefinition]) -> None:
    name, from_path = loaded
    text = fixture_path(name).read_text(encoding="utf-8")
    from_str_path = load_definition(str(fixture_path(name)))
    from_text = load_definition(text)
    from_bytes = load_definition(text.encode())
    from_dict = load_definition(json.loads(text))
    for other in (from_str_path, from_text, from_bytes, from_dict):
        assert set(other.steps) == set(from_path.steps)
        assert _edges(other) == _edges(from_path)
        assert other.content_hash() == from_path.content_hash()
    assert from_path.source == str(fixture_path(name))
    assert from_dict.source == "<dict>"
    assert from_path.version == "2020-12-01"


def test_step_set_equals_sdk_graph(loaded: tuple[str, PipelineDefinition]) -> None:
    name, definition = loaded
    assert sorted(definition.steps) == sorted(expected_graph(name)["steps"])


def test_edges_equal_sdk_graph(loaded: tuple[str, PipelineDefinition]) -> None:
    name, definition = loaded
    expected = {tuple(edge) for edge in expected_graph(name)["edges"]}
    assert _edges(definition) == expected
    # the graph's own adjacency agrees with its edge list in both directions
    for up, down in expected:
        assert up in definition.graph.upstream[down]
        assert down in definition.graph.downstream[up]


def test_sdk_local_order_is_a_topological_order_of_our_graph(loaded: tuple[str, PipelineDefinition]) -> None:
    name, definition = loaded
    order = expected_graph(name)["sdk_local_execution_order"]
    assert sorted(order) == sorted(definition.steps)
    position = {step: i for i, step in enumerate(order)}
    for up, down in definition.graph.edges():
        assert position[up] < position[down], f"SDK order runs {down} before its upstream {up}"


def test_our_topological_order_respects_every_edge(loaded: tuple[str, PipelineDefinition]) -> None:
    name, definition = loaded
    order = definition.graph.topological_order()
    assert len(order) == len(set(order)) == len(definition.steps)
    position = {step: i for i, step in enumerate(order)}
    for up, down in {tuple(e) for e in expected_graph(name)["edges"]}:
        assert position[up] < position[down]
    # waves: every step's upstream steps are all in earlier waves
    wave_of = {step: i for i, wave in enumerate(definition.graph.waves()) for step in wave}
    for up, down in definition.graph.edges():
        assert wave_of[up] < wave_of[down]
    assert definition.graph.find_cycle() is None


def test_roots_ancestors_descendants(loaded: tuple[str, PipelineDefinition]) -> None:
    name, definition = loaded
    expected = {tuple(e) for e in expected_graph(name)["edges"]}
    with_upstream = {down for _, down in expected}
    assert set(definition.graph.roots()) == set(definition.steps) - with_upstream
    for step in definition.steps:
        ups = definition.graph.ancestors([step])
        assert {u for u, d in expected if d == step} <= ups
        assert step not in ups  # acyclic
        for up in ups:
            assert step in definition.graph.descendants([up])


def test_every_raw_step_is_in_the_step_table(loaded: tuple[str, PipelineDefinition]) -> None:
    name, definition = loaded
    raw_names = [s["Name"] for s in iter_raw_steps(fixture_doc(name)["Steps"])]
    assert raw_names == list(definition.steps)  # document order, branch steps flattened in place
    for raw in iter_raw_steps(fixture_doc(name)["Steps"]):
        assert definition.steps[raw["Name"]].type == raw["Type"]


def test_abalone_model_details() -> None:
    definition = load_definition(fixture_path("abalone"))
    assert set(definition.parameters) == {
        "ProcessingInstanceCount", "TrainingInstanceType", "ModelApprovalStatus", "InputData", "BatchData",
        "MseThreshold", "EnableNetworkIsolation",
    }
    assert definition.parameters["MseThreshold"].default == 6.0
    assert definition.parameters["ModelApprovalStatus"].enum_values == ("PendingManualApproval", "Approved", "Rejected")
    cond = definition.steps["CheckMSEAbaloneEvaluation"]
    assert cond.if_steps == ("RegisterAbaloneModel-RegisterModel", "CreateAbaloneModel-CreateModel", "AbaloneTransform")
    assert cond.else_steps == ("AbaloneMSEFail",)
    assert definition.steps["AbaloneMSEFail"].parent_condition == "CheckMSEAbaloneEvaluation"
    assert definition.steps["AbaloneMSEFail"].branch == "ElseSteps"
    assert set(cond.arguments) == {"Conditions"}
    pre = definition.steps["PreprocessAbaloneData"]
    assert pre.cache_config is not None and pre.cache_config.enabled and pre.cache_config.expire_after == "P30D"
    assert pre.cache_config.expire_after_duration().in_days() == 30
    assert [(p.name, p.output_name, p.file_path) for p in pre.property_files] == [("DatasetStats", "validation", "stats.json")]


def test_integrations_model_details() -> None:
    definition = load_definition(fixture_path("integrations"))
    tune = definition.steps["TuneXGB"]
    assert [p.exception_types for p in tune.retry_policies] == [
        ("Step.SERVICE_FAULT", "Step.THROTTLING"),
        ("SageMaker.RESOURCE_LIMIT", "SageMaker.CAPACITY_ERROR", "SageMaker.JOB_INTERNAL_ERROR"),
    ]
    assert tune.retry_policies[0].max_attempts == 5 and tune.retry_policies[0].expire_after_min is None
    assert tune.retry_policies[1].expire_after_min == 120 and tune.retry_policies[1].max_attempts is None
    assert tune.retry_policies[0].delay_before_retry(3) == 10 * 2.0**2
    notify = definition.steps["NotifyLambda"]
    assert [(p.name, p.type) for p in notify.output_parameters] == [("status", "String"), ("score", "Float")]
    assert notify.fields == {"FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:notify"}
    assert notify.display_name == "Notify via Lambda"
    assert definition.steps["ManualApproval"].fields["SqsQueueUrl"].startswith("https://sqs.")
    assert definition.experiment_config is not None and set(definition.experiment_config) == {"ExperimentName", "TrialName"}


def test_function_and_notebook_steps_are_recognised() -> None:
    functions = load_definition(fixture_path("function_step"))
    assert functions.steps["make_numbers"].is_function_step
    assert functions.steps["summarize"].is_function_step
    assert not functions.steps["make_numbers"].is_notebook_step
    misc = load_definition(fixture_path("misc_steps"))
    assert misc.steps["RunNotebook"].is_notebook_step
    assert not misc.steps["RunNotebook"].is_function_step
    assert not misc.steps["MiscTrain"].is_function_step and not misc.steps["MiscTrain"].is_notebook_step
    assert misc.steps["DataQualityCheck"].fields["ModelPackageGroupName"] == "AbaloneModelPackageGroupName"
    assert misc.steps["MonitorBT-monitoring"].fields["ModelPackageGroupName"] is None  # null tolerated


def test_content_hash_ignores_key_order_and_whitespace() -> None:
    doc = fixture_doc("function_step")
    reordered = json.loads(json.dumps(dict(reversed(list(doc.items())))))  # deep copy, other key order
    assert load_definition(reordered).content_hash() == load_definition(json.dumps(doc, indent=4)).content_hash()
    doc["Parameters"][0]["DefaultValue"] = 11
    assert load_definition(doc).content_hash() != load_definition(reordered).content_hash()
