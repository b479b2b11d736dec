"""Selective execution plans: the service's rules on SelectedSteps."""

from __future__ import annotations

import pytest
from definition_helpers import definition, fixture_path, training

from airflow_provider_smpipe.definition.errors import InvalidDefinitionError, SelectionError
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import PipelineDefinition
from airflow_provider_smpipe.definition.selective import MAX_SELECTED_STEPS, plan_selective_execution

ABALONE_IF = {"RegisterAbaloneModel-RegisterModel", "CreateAbaloneModel-CreateModel", "AbaloneTransform"}


@pytest.fixture(scope="module")
def abalone() -> PipelineDefinition:
    return load_definition(fixture_path("abalone"))


def _selection_error(definition: PipelineDefinition, selected: list[str]) -> InvalidDefinitionError:
    with pytest.raises(InvalidDefinitionError) as caught:
        plan_selective_execution(definition, selected)
    assert caught.value.problems
    assert all(isinstance(p, SelectionError) for p in caught.value.problems)
    assert str(caught.value).startswith("invalid selective execution request (")
    return caught.value


def test_train_and_evaluate_reuse_preprocess(abalone: PipelineDefinition) -> None:
    # the SDK's own SelectiveExecutionConfig example for abalone.json
    plan = plan_selective_execution(abalone, ["TrainAbaloneModel", "EvaluateAbaloneModel"])
    assert plan.selected == {"TrainAbaloneModel", "EvaluateAbaloneModel"}
    assert plan.reused == {"PreprocessAbaloneData"}
    assert plan.not_run == {"CheckMSEAbaloneEvaluation", "AbaloneMSEFail"} | ABALONE_IF
    assert plan.needs_reference


def test_first_step_alone_needs_no_reference(abalone: PipelineDefinition) -> None:
    plan = plan_selective_execution(abalone, ["PreprocessAbaloneData"])
    assert plan.reused == frozenset()
    assert not plan.needs_reference
    assert plan.not_run == set(abalone.steps) - {"PreprocessAbaloneData"}


def test_condition_and_branch_steps(abalone: PipelineDefinition) -> None:
    plan = plan_selective_execution(abalone, ["CheckMSEAbaloneEvaluation", "CreateAbaloneModel-CreateModel", "AbaloneTransform"])
    assert plan.reused == {"PreprocessAbaloneData", "TrainAbaloneModel", "EvaluateAbaloneModel"}
    assert plan.not_run == {"RegisterAbaloneModel-RegisterModel", "AbaloneMSEFail"}


def test_the_three_sets_partition_the_steps(abalone: PipelineDefinition) -> None:
    for selected in (["TrainAbaloneModel"], ["AbaloneTransform"], list(abalone.steps)):
        plan = plan_selective_execution(abalone, selected)
        assert plan.selected | plan.reused | plan.not_run == set(abalone.steps)
        assert not (plan.selected & plan.reused) and not (plan.selected & plan.not_run) and not (plan.reused & plan.not_run)


def test_duplicates_in_the_selection_are_ignored(abalone: PipelineDefinition) -> None:
    plan = plan_selective_execution(abalone, ["TrainAbaloneModel", "TrainAbaloneModel"])
    assert plan.selected == {"TrainAbaloneModel"}


def test_unconnected_selection(abalone: PipelineDefinition) -> None:
    error = _selection_error(abalone, ["CreateAbaloneModel-CreateModel", "AbaloneMSEFail"])
    assert len(error.problems) == 1
    problem = error.problems[0]
    assert "selected steps are not connected: AbaloneMSEFail; CreateAbaloneModel-CreateModel" in str(problem)
    assert problem.location == "SelectedSteps"
    assert problem.expected == "one connected group of steps"


def test_unconnected_selection_in_misc_steps() -> None:
    misc = load_definition(fixture_path("misc_steps"))
    error = _selection_error(misc, ["DataQualityCheck", "DataBiasCheck", "MiscTrain"])
    assert "not connected: DataBiasCheck, DataQualityCheck; MiscTrain" in str(error)


def test_path_closure(abalone: PipelineDefinition) -> None:
    error = _selection_error(abalone, ["PreprocessAbaloneData", "EvaluateAbaloneModel"])
    messages = [str(p) for p in error.problems]
    assert any("steps ['TrainAbaloneModel'] lie on paths between selected steps but are not selected" in m for m in messages)
    assert error.problems[0].expected == "every step on every path between two selected steps"


def test_path_closure_and_connectivity_are_reported_together(abalone: PipelineDefinition) -> None:
    error = _selection_error(abalone, ["PreprocessAbaloneData", "CheckMSEAbaloneEvaluation"])
    messages = " | ".join(str(p) for p in error.problems)
    assert "['EvaluateAbaloneModel', 'TrainAbaloneModel'] lie on paths between selected steps" in messages
    assert "not connected" in messages


def test_unknown_step_with_did_you_mean(abalone: PipelineDefinition) -> None:
    error = _selection_error(abalone, ["TrainAbaloneModel", "EvaluateAbalone"])
    assert len(error.problems) == 1
    problem = error.problems[0]
    assert "unknown step 'EvaluateAbalone' (did you mean 'EvaluateAbaloneModel'?)" in str(problem)
    assert problem.location == "SelectedSteps[1]"


def test_empty_selection(abalone: PipelineDefinition) -> None:
    error = _selection_error(abalone, [])
    assert "no steps selected" in str(error)
    assert error.problems[0].expected == "1 to 50 step names"


def _chain(count: int) -> PipelineDefinition:
    steps = [training("S0")] + [training(f"S{n}", DependsOn=[f"S{n - 1}"]) for n in range(1, count)]
    return load_definition(definition(steps))


def test_more_than_fifty_steps() -> None:
    chain = _chain(MAX_SELECTED_STEPS + 2)
    names = [f"S{n}" for n in range(MAX_SELECTED_STEPS + 1)]
    error = _selection_error(chain, names)
    assert "51 steps selected" in str(error)
    assert error.problems[0].expected == "at most 50"
    plan = plan_selective_execution(chain, names[1:])  # exactly 50 is fine
    assert len(plan.selected) == MAX_SELECTED_STEPS
    assert plan.reused == {"S0"}
    assert plan.not_run == {f"S{MAX_SELECTED_STEPS + 1}"}


def test_selection_errors_are_collected() -> None:
    chain = _chain(MAX_SELECTED_STEPS + 2)
    names = [f"S{n}" for n in range(MAX_SELECTED_STEPS + 1)] + ["Nope"]
    error = _selection_error(chain, names)
    assert len(error.problems) == 2
    assert "52 steps selected" in str(error.problems[0]) and "unknown step 'Nope'" in str(error.problems[1])
