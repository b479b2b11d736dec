"""SageMakerPipelineExecutionTrigger on today's responses (ForEach children and summaries,
``CompletedWithFailures``, ``MLflowConfig``, statuses of the future), served by the scripted endpoint
over real HTTP: the emulator does not produce them yet. Real aiobotocore polling, as in the triggerer."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_provider_smpipe.triggers.pipeline_execution import PollState, SageMakerPipelineExecutionTrigger
from native_helpers import unique
from utils.synthetic_sagemaker import (
    SYNTHETIC_CONN_ID,
    SyntheticSageMaker,
    dry_run_execution,
    for_each,
    lambda_step,
    step,
    sweep_definition,
    sweep_outputs,
    timeline,
    v3,
)

MLFLOW = {"MlflowResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:mlflow-app/app-example-v3", "MlflowExperimentName": "events-nightly"}
TRAIN_FAILED = {"TrainEventsModel": {"status": "Failed", "reason": "AlgorithmError: loss is NaN"}}
CANDIDATE_FAILED = {"TrainCandidate-1": {"status": "Failed", "reason": "AlgorithmError: loss is NaN"}}


def trigger(arn: str, **kwargs: Any) -> SageMakerPipelineExecutionTrigger:
    kwargs.setdefault("poll_interval", 0.01)
    return SageMakerPipelineExecutionTrigger(execution_arn=arn, aws_conn_id=SYNTHETIC_CONN_ID, **kwargs)


async def first_event(t: SageMakerPipelineExecutionTrigger) -> dict[str, Any]:
    async for event in t.run():
        return dict(event.payload)
    raise AssertionError("no event")


def started(synthetic: SyntheticSageMaker, document: dict[str, Any], snapshots: list[dict[str, Any]], **kwargs: Any) -> str:
    pipeline = unique("today")
    synthetic.pipeline(pipeline, document)
    return synthetic.execution(pipeline, snapshots, started=True, **kwargs)


async def test_completed_with_failures_names_failed_steps_and_handlers(synthetic: SyntheticSageMaker) -> None:
    arn = started(synthetic, v3("run_conditions_training"), timeline(dry_run_execution(v3("run_conditions_training"), TRAIN_FAILED), running_polls=2), mlflow=MLFLOW)
    event = await first_event(trigger(arn))
    assert event["status"] == "completed_with_failures" and event["execution_status"] == "CompletedWithFailures"
    assert [r["name"] for r in event["failed_steps"]] == ["TrainEventsModel"]
    assert event["handled_failures"] == [
        {
            "step": "TrainEventsModel",
            "status": "Failed",
            "declared": ["NotifyTrainingFailed", "CleanupIntermediateData"],
            "handlers": [{"name": "NotifyTrainingFailed", "status": "Succeeded"}, {"name": "CleanupIntermediateData", "status": "Succeeded"}],
        }
    ]
    assert event["definition_error"] is None
    assert "step 'TrainEventsModel' (TrainingJob) Failed: AlgorithmError: loss is NaN" in event["message"]
    assert "handled by 'NotifyTrainingFailed' (Lambda) Succeeded, 'CleanupIntermediateData' (Cleanup) Succeeded" in event["message"]
    assert event["mlflow_config"] == MLFLOW
    assert synthetic.count("DescribePipelineDefinitionForExecution") == 1  # once, at the end
    assert synthetic.count("DescribePipelineExecution") == 3


@pytest.mark.parametrize(
    ("fixture", "step_status", "expected"),
    [("run_conditions_training", {}, "succeeded"), ("foreach_literal_regions", {"BuildRegionReport-1": "Failed"}, "failed")],
)
async def test_the_definition_is_read_only_for_completed_with_failures(synthetic: SyntheticSageMaker, fixture: str, step_status: dict[str, Any], expected: str) -> None:
    run = dry_run_execution(v3(fixture), step_status)
    assert run["status"] == expected.capitalize()
    arn = started(synthetic, v3(fixture), timeline(run))
    event = await first_event(trigger(arn))
    assert event["status"] == expected and event["handled_failures"] == [] and event["mlflow_config"] is None
    assert synthetic.count("DescribePipelineDefinitionForExecution") == 0


async def test_an_unreadable_definition_is_reported_not_fatal(synthetic: SyntheticSageMaker) -> None:
    denied = ("AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/airflow is not authorized to perform: sagemaker:DescribePipelineDefinitionForExecution")
    arn = started(synthetic, v3("run_conditions_training"), timeline(dry_run_execution(v3("run_conditions_training"), TRAIN_FAILED)), definition_error=denied)
    event = await first_event(trigger(arn))
    assert event["status"] == "completed_with_failures" and event["handled_failures"] == []
    assert "AccessDeniedException" in event["definition_error"]
    assert "step 'TrainEventsModel' (TrainingJob) Failed" in event["message"]
    assert "(the steps that handled these failures cannot be named: DescribePipelineDefinitionForExecution failed:" in event["message"]


async def test_a_throttled_definition_call_is_retried_like_any_poll(synthetic: SyntheticSageMaker) -> None:
    arn = started(synthetic, v3("run_conditions_training"), timeline(dry_run_execution(v3("run_conditions_training"), TRAIN_FAILED)))
    synthetic.fail_next["DescribePipelineDefinitionForExecution"] = [("ThrottlingException", "Rate exceeded", 400)] * 2
    t = trigger(arn, botocore_config={"retries": {"mode": "standard", "max_attempts": 1}})
    event = await first_event(t)
    assert event["status"] == "completed_with_failures" and event["handled_failures"][0]["handlers"]
    assert synthetic.count("DescribePipelineDefinitionForExecution") == 3


async def test_a_status_of_the_future_ends_the_wait_as_a_failure(synthetic: SyntheticSageMaker) -> None:
    run = dry_run_execution(v3("run_conditions_training"))
    snapshots = [*timeline(run)[:-1], {"status": "PartiallySucceeded", "steps": run["steps"], "unvalidated": True}]
    arn = started(synthetic, v3("run_conditions_training"), snapshots)
    event = await first_event(trigger(arn))
    assert event["status"] == "failed" and event["execution_status"] == "PartiallySucceeded"
    assert "ended PartiallySucceeded" in event["message"] and "never as success" in event["message"]


async def test_for_each_children_in_the_event_and_the_progress_log(synthetic: SyntheticSageMaker, capfd: Any) -> None:
    run = dry_run_execution(sweep_definition(), CANDIDATE_FAILED, step_outputs=sweep_outputs())
    arn = started(synthetic, sweep_definition(), timeline(run, running_polls=2))
    event = await first_event(trigger(arn, progress_interval=0))
    rows = {r["name"]: r for r in event["steps"]}
    assert rows["TrainCandidate-1"]["parent"] == "Sweep" and rows["TrainCandidate-1"]["index"] == 1
    assert rows["Sweep"]["for_each"]["selected"]["step_name"] == "TrainCandidate-2"
    assert {h["step"] for h in event["handled_failures"]} == {"Sweep", "TrainCandidate-1"}
    logged = capfd.readouterr().out  # Airflow's logging writes the trigger's log lines to stdout
    assert "step Sweep: Executing [3 items, 2 child steps: 1 succeeded, 0 failed, 0 stopped]" in logged
    assert "step Sweep: Failed (1 child step(s) failed, 0 stopped) [3 items, 4 child steps: 3 succeeded, 1 failed, 0 stopped; selected 'TrainCandidate-2']" in logged
    assert "step TrainCandidate-1: Failed (AlgorithmError: loss is NaN) [iteration 1 of 'Sweep', item {\"max_depth\": 6, \"eta\": 0.1}]" in logged


async def test_every_page_of_a_large_fan_out_is_read(synthetic: SyntheticSageMaker) -> None:
    children = [step(f"Score-{i}", "Succeeded", {"ProcessingJob": {"Arn": f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/score-{i}"}},
                     start=1 + i, iteration=("ScoreAll", i, f"shard-{i}")) for i in range(250)]  # fmt: skip
    steps = [for_each("ScoreAll", "Succeeded", items=250, succeeded=250), *children]
    arn = started(synthetic, v3("run_conditions_training"), [{"status": "Succeeded", "steps": steps}])
    event = await first_event(trigger(arn))
    assert len(event["steps"]) == 251 and event["steps"][-1]["name"] == "Score-249"
    assert synthetic.count("ListPipelineExecutionSteps") == 3  # 100 + 100 + 50


# -- step mode on ForEach children and ForEach steps ---------------------------------------------------


def sweep_execution(synthetic: SyntheticSageMaker, step_status: dict[str, Any] | None = None, **kwargs: Any) -> str:
    run = dry_run_execution(sweep_definition(), step_status or {}, step_outputs=sweep_outputs())
    return started(synthetic, sweep_definition(), timeline(run, running_polls=2), **kwargs)


async def test_step_mode_waits_for_a_child(synthetic: SyntheticSageMaker) -> None:
    event = await first_event(trigger(sweep_execution(synthetic), step_name="TrainCandidate-2"))
    assert event["status"] == "step_reached"
    assert (event["step"]["name"], event["step"]["parent"], event["step"]["index"]) == ("TrainCandidate-2", "Sweep", 2)
    assert synthetic.count("DescribePipelineDefinitionForExecution") == 1  # the name is checked once


async def test_step_mode_on_a_for_each_reports_its_children(synthetic: SyntheticSageMaker) -> None:
    reached = await first_event(trigger(sweep_execution(synthetic), step_name="Sweep"))
    assert reached["status"] == "step_reached" and reached["step"]["for_each"]["succeeded_step_count"] == 3
    failed = await first_event(trigger(sweep_execution(synthetic, CANDIDATE_FAILED), step_name="Sweep"))
    assert failed["status"] == "step_failed"
    assert "step 'Sweep' ended Failed (wanted Succeeded)" in failed["message"]
    assert "step 'TrainCandidate-1' (TrainingJob) Failed: AlgorithmError: loss is NaN" in failed["message"]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("TrainCandidate", "'TrainCandidate' is a body step of ForEach 'Sweep': it never runs as itself"),
        ("RegisterBst", "the execution's definition has no step 'RegisterBst' (did you mean 'RegisterBest'?)"),
    ],
)
async def test_step_mode_refuses_names_that_never_appear(synthetic: SyntheticSageMaker, name: str, problem: str) -> None:
    event = await first_event(trigger(sweep_execution(synthetic), step_name=name))
    assert event["status"] == "error" and problem in event["message"]
    assert event["execution_status"] == "Executing"  # at once, not when the execution ends
    assert synthetic.count("DescribePipelineExecution") == 1


async def test_a_child_the_for_each_never_ran_ends_the_wait_when_the_for_each_ends(synthetic: SyntheticSageMaker) -> None:
    run = dry_run_execution(sweep_definition(), {}, step_outputs=sweep_outputs())
    final = {"status": "Succeeded", "steps": run["steps"]}
    register = next(s for s in run["steps"] if s["StepName"] == "RegisterBest")
    still_running = copy.deepcopy(final) | {"status": "Executing"}
    still_running["steps"] = [s for s in still_running["steps"] if s["StepName"] != "RegisterBest"] + [lambda_step("RegisterBest", "Executing", start=99)]
    arn = started(synthetic, sweep_definition(), [{"status": "Executing", "steps": run["steps"][:2]}, still_running, still_running, final])
    assert register["StepStatus"] == "Succeeded"
    event = await first_event(trigger(arn, step_name="TrainCandidate-5"))
    assert event["status"] == "step_not_reached" and event["execution_status"] == "Executing"
    assert "ForEach 'Sweep' ended Succeeded (3 items, 3 child steps: 3 succeeded, 0 failed, 0 stopped; selected 'TrainCandidate-1') without running a child 'TrainCandidate-5'" in event["message"]


async def test_step_mode_without_the_definition_still_waits(synthetic: SyntheticSageMaker) -> None:
    arn = sweep_execution(synthetic, definition_error=("AccessDeniedException", "not authorized"))
    event = await first_event(trigger(arn, step_name="TrainCandidate-0"))
    assert event["status"] == "step_reached"
    assert synthetic.count("DescribePipelineDefinitionForExecution") == 1  # tried once, not on every poll


def test_poll_inline_keeps_its_state_between_pokes(synthetic: SyntheticSageMaker) -> None:
    """What a poking step sensor does: one poll per poke, the name checked on the first only."""
    arn = sweep_execution(synthetic)
    t = trigger(arn, step_name="RegisterBest")
    state = PollState()
    events = [t.poll_inline(state) for _ in range(3)]
    assert events[:2] == [None, None] and events[2] is not None and events[2]["status"] == "step_reached"
    assert state.step_checked and synthetic.count("DescribePipelineDefinitionForExecution") == 1
