"""The SDK v3 fixtures load, their graphs are the SDK v3's own, and the invalid one is refused
naming the offending steps."""

from __future__ import annotations

import json

import pytest
from definition_helpers import V3_FIXTURE_NAMES, V3_INVALID, iter_raw_steps, refused, v3_doc, v3_expected, v3_path

from airflow_provider_smpipe.definition.graph_render import graph_document
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import PipelineDefinition


@pytest.fixture(scope="module", params=V3_FIXTURE_NAMES)
def loaded(request: pytest.FixtureRequest) -> tuple[str, PipelineDefinition]:
    return request.param, load_definition(v3_path(request.param))


def test_every_v3_fixture_loads_from_every_source_form(loaded: tuple[str, PipelineDefinition]) -> None:
    name, definition = loaded
    text = v3_path(name).read_text(encoding="utf-8")
    for other in (load_definition(text), load_definition(json.loads(text)), load_definition(text.encode())):
        assert other.graph.edges() == definition.graph.edges()
        assert other.content_hash() == definition.content_hash()


def test_steps_and_edges_equal_the_sdk_v3_graph(loaded: tuple[str, PipelineDefinition]) -> None:
    name, definition = loaded
    expected = v3_expected(name)
    assert sorted(definition.steps) == sorted(expected["steps"])
    assert {tuple(e) for e in definition.graph.edges()} == {tuple(e) for e in expected["edges"]}
    assert {n: s.type for n, s in definition.steps.items()} == expected["step_types"]
    # the SDK's topological order respects every one of our edges
    position = {step: i for i, step in enumerate(expected["sdk_topological_order"])}
    assert all(position[up] < position[down] for up, down in definition.graph.edges())


def test_depends_on_edges_keep_their_trigger(loaded: tuple[str, PipelineDefinition]) -> None:
    name, definition = loaded
    expected = v3_expected(name)
    for entry in expected["edge_kinds"]:
        if "depends_on" in entry["kinds"]:
            assert definition.graph.triggers[(entry["from"], entry["to"])] == entry["trigger"]
    ours = [(t["from"], t["to"], t["trigger"], t["form"]) for t in graph_document(definition)["depends_on_triggers"]]  # type: ignore[index]
    theirs = [(t["from"], t["to"], t["trigger"], t["form"]) for t in expected["depends_on_triggers"]]
    assert sorted(ours) == sorted(theirs)


def test_for_each_description_equals_the_sdk_one(loaded: tuple[str, PipelineDefinition]) -> None:
    name, definition = loaded
    assert graph_document(definition)["for_each"] == v3_expected(name)["for_each"]


def test_every_raw_step_is_in_the_step_table_body_steps_included(loaded: tuple[str, PipelineDefinition]) -> None:
    name, definition = loaded
    raw = list(iter_raw_steps(v3_doc(name)["Steps"]))
    assert [s["Name"] for s in raw] == list(definition.steps)


def test_the_invalid_fixture_is_refused_naming_the_step_not_as_an_unknown_type() -> None:
    verdict = v3_expected(V3_INVALID)
    error = refused(v3_doc(V3_INVALID))
    [problem] = error.problems
    assert problem.step in verdict["offending_steps"]
    assert problem.step == "CheckItemScore"
    assert "ScoreItemsLoop" in str(problem) and "Condition" in str(problem)
    assert "unknown step type" not in str(error)
    assert problem.location == "$.Steps[0].Arguments.ForEachBody[1].Type"


def test_mlflow_config_is_kept() -> None:
    none = load_definition(v3_path("foreach_literal_regions"))
    assert none.mlflow_config is None
    given = load_definition(v3_path("emr_serverless_features"))
    assert given.mlflow_config == {
        "MlflowExperimentName": "spark-features",
        "MlflowResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-example-v3",
    }


def test_for_each_model() -> None:
    definition = load_definition(v3_path("foreach_literal_regions"))
    loop = definition.steps["RegionalReports"]
    assert loop.for_each is not None
    assert loop.for_each.body == ("BuildRegionReport",) and loop.for_each.max_concurrency == 2
    assert len(loop.for_each.items) == 3 and loop.for_each.selector is None
    assert "ForEachBody" not in loop.arguments  # body steps are steps of their own
    body = definition.steps["BuildRegionReport"]
    assert body.parent_for_each == "RegionalReports" and body.is_body_step
    assert definition.for_each_of("BuildRegionReport") is loop
    # the top level runs without body steps; the body is a scope of its own
    assert "BuildRegionReport" not in definition.run_graph.order
    assert definition.scope("RegionalReports").order == ("BuildRegionReport",)
    assert definition.run_graph.upstream["PublishReportIndex"] == {"RegionalReports"}


def test_run_condition_requirements() -> None:
    definition = load_definition(v3_path("run_conditions_training"))
    report = definition.steps["ReportRunOutcome"]
    assert {(r.upstream, r.trigger, r.declared) for r in report.requirements} == {
        ("EvaluateEventsModel", "Any", True),
        ("PreprocessEvents", "Completed", True),
    }
    train = definition.steps["TrainEventsModel"]
    # a property reference is an implied Completed requirement
    assert {(r.upstream, r.trigger, r.declared) for r in train.requirements} == {("PreprocessEvents", "Completed", False)}
    scope = definition.scope(None)
    assert set(scope.handlers["TrainEventsModel"]["Failed"]) == {"NotifyTrainingFailed", "CleanupIntermediateData"}
    assert set(scope.handlers["TrainEventsModel"]["Stopped"]) == {"NotifyTrainingStopped", "CleanupIntermediateData"}
    cleanup = definition.steps["CleanupIntermediateData"]
    assert [(s.step, s.s3_uris is not None) for s in cleanup.cleanup_sources] == [("PreprocessEvents", True), ("TrainEventsModel", False)]


def test_job_and_emr_serverless_model() -> None:
    job = load_definition(v3_path("job_step_agent_rft")).steps["AgentRft"]
    assert job.info.api == "CreateJob" and job.info.metadata_key == "Job"
    assert [p.exception_types for p in job.retry_policies] == [("SageMaker.RESOURCE_LIMIT",)]
    spark = load_definition(v3_path("emr_serverless_features")).steps["SparkFeatures"]
    assert spark.cache_config is not None and spark.cache_config.expire_after == "PT12H"
    assert spark.info.metadata_key == "EMRServerless"
