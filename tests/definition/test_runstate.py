"""The run-condition rules every mode shares: triggers, readiness, halting, execution status."""

from __future__ import annotations

import pytest
from definition_helpers import definition, for_each, get, lambda_step, on, training

from airflow_provider_smpipe.definition.foreach import FanOut, select
from airflow_provider_smpipe.definition.errors import ResolutionError
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import Requirement
from airflow_provider_smpipe.definition.runstate import (
    COMPLETED_WITH_FAILURES,
    NEVER,
    NOT_RUN,
    READY,
    SUCCEEDED,
    WAITING,
    Scheduler,
    combine_triggers,
    readiness,
    trigger_holds,
)

OUTCOMES = (SUCCEEDED, "Failed", "Stopped", NOT_RUN)


@pytest.mark.parametrize(("trigger", "holds_for"), [
    ("Completed", {SUCCEEDED}),
    ("Failed", {"Failed"}),
    ("Stopped", {"Stopped"}),
    ("Any", set(OUTCOMES)),
])
def test_trigger_holds(trigger: str, holds_for: set[str]) -> None:
    assert {o for o in OUTCOMES if trigger_holds(trigger, o)} == holds_for


@pytest.mark.parametrize(("first", "second", "combined"), [
    ("Completed", "Completed", "Completed"),
    ("Any", "Completed", "Completed"),
    ("Failed", "Any", "Failed"),
    ("Any", "Stopped", "Stopped"),
    ("Failed", "Completed", None),
    ("Stopped", "Failed", None),
])
def test_combine_triggers(first: str, second: str, combined: str | None) -> None:
    assert combine_triggers(first, second) == combined == combine_triggers(second, first)


def test_readiness_decides_never_as_soon_as_one_requirement_cannot_hold() -> None:
    reqs = (Requirement("A", "Completed", True), Requirement("B", "Failed", True))
    assert readiness(reqs, {}).state == WAITING
    assert readiness(reqs, {"A": SUCCEEDED}).state == WAITING
    assert readiness(reqs, {"A": SUCCEEDED, "B": "Failed"}).state == READY
    never = readiness(reqs, {"A": "Failed"})  # B has not ended yet: no need to wait for it
    assert never.state == NEVER and never.blocking == reqs[0]
    assert never.reason() == "it runs only if 'A' succeeded, and 'A' failed"


def scope_of(steps: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    return load_definition(definition(steps)).scope(None)


def test_status_of_an_execution() -> None:
    scope = scope_of([training("A"), training("B"), lambda_step("OnA", DependsOn=[on("A", "Any")])])
    assert scope.status({"A": SUCCEEDED, "B": SUCCEEDED, "OnA": SUCCEEDED}) == SUCCEEDED
    assert scope.status({"A": "Failed", "B": SUCCEEDED, "OnA": SUCCEEDED}) == COMPLETED_WITH_FAILURES
    assert scope.status({"A": "Failed", "B": SUCCEEDED, "OnA": NOT_RUN}) == "Failed"  # its handler did not run
    assert scope.status({"A": SUCCEEDED, "B": "Failed", "OnA": SUCCEEDED}) == "Failed"  # B has no handler
    assert scope.status({"A": "Stopped", "B": SUCCEEDED, "OnA": SUCCEEDED}) == COMPLETED_WITH_FAILURES
    assert scope.status({"A": SUCCEEDED, "B": "Stopped", "OnA": SUCCEEDED}) == "Stopped"
    assert scope.status({"A": SUCCEEDED, "B": SUCCEEDED, "OnA": SUCCEEDED}, stop_requested=True) == "Stopped"
    assert scope.unhandled({"A": "Failed", "B": "Failed", "OnA": SUCCEEDED}) == ["B"]


def test_halting_only_on_unhandled_outcomes() -> None:
    scope = scope_of([training("A"), lambda_step("OnA", DependsOn=[on("A", "Failed")])])
    assert scope.halts("A", "Stopped") and not scope.halts("A", "Failed") and not scope.halts("A", SUCCEEDED)
    assert scope.is_handled("A", "Failed") and not scope.is_handled("A", "Stopped")


def test_scheduler_walk_with_a_stop_request() -> None:
    scheduler = Scheduler.for_scope(scope_of([training("A"), training("B", DependsOn=["A"])]))
    assert scheduler.startable() == ["A"]
    scheduler.start("A")
    scheduler.stop("user")
    assert scheduler.startable() == []
    scheduler.finish("A", "Stopped")
    assert scheduler.settle() == ["B"] and scheduler.reasons["B"] == "the execution stopped at user"
    assert scheduler.done


def test_scheduler_limit_counts_running_steps() -> None:
    scheduler = Scheduler.for_scope(scope_of([training("A"), training("B"), training("C")]))
    first = scheduler.startable(limit=2)
    assert first == ["A", "B"]
    scheduler.start("A")
    assert scheduler.startable(limit=2) == ["B"]


def test_fan_out_children_keep_iteration_requirements_and_the_concurrency_cap() -> None:
    body = [training("T"), lambda_step("N", DependsOn=[on("T", "Failed")])]
    loaded = load_definition(definition([for_each("F", ["x", "y"], body, max_concurrency=3)]))
    fan = FanOut.plan(loaded, loaded.steps["F"], ["x", "y"])
    assert list(fan.children) == ["T-0", "N-0", "T-1", "N-1"]
    assert fan.scheduler.startable(limit=fan.max_concurrency) == ["T-0", "T-1"]
    for child in ("T-0", "T-1"):
        fan.scheduler.start(child)
    fan.scheduler.finish("T-0", "Failed")  # handled by N-0: siblings go on
    fan.scheduler.finish("T-1", SUCCEEDED)
    assert fan.scheduler.halted_by is None
    assert fan.scheduler.startable(limit=3) == ["N-0"]
    assert fan.scheduler.settle() == ["N-1"]
    fan.scheduler.start("N-0")
    fan.scheduler.finish("N-0", SUCCEEDED)
    assert fan.status() == "Failed"  # one failed child fails the ForEach, handled or not
    assert fan.counts() == {"InputItemCount": 2, "TotalStepCount": 3, "SucceededStepCount": 2, "FailedStepCount": 1, "StoppedStepCount": 0}


def test_select_rules() -> None:
    kwargs = {"for_each": "F", "body_step": "T", "field_text": "IterationOutput.T.X", "location": "$.x"}
    assert select("MaxBy", {0: 1, 1: 3.5, 2: 3.5}, **kwargs) == 1
    assert select("MinBy", {0: 1, 1: -2}, **kwargs) == 1
    assert select("MaxBy", {}, **kwargs) is None
    with pytest.raises(ResolutionError, match="child 'T-0' has True"):
        select("MaxBy", {0: True}, **kwargs)


def test_requirements_from_references_and_lifted_body_needs() -> None:
    steps = [
        training("Prep"),
        for_each("F", ["a"], [lambda_step("B", {"x": get("Steps.Prep.TrainingJobName")})]),
        lambda_step("After", {"n": get("Steps.F.Status")}, DependsOn=[on("F", "Any")]),
    ]
    loaded = load_definition(definition(steps))
    # what a body step reads outside its body, its ForEach must have before it starts
    assert {(r.upstream, r.trigger) for r in loaded.steps["F"].requirements} == {("Prep", "Completed")}
    assert loaded.steps["B"].requirements == ()
    # reading a ForEach under an Any entry keeps the entry: aggregates are readable after a failure
    assert {(r.upstream, r.trigger) for r in loaded.steps["After"].requirements} == {("F", "Any")}
