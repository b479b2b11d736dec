"""The event-fed execution wait on the emulator: SageMaker's events reach an SQS queue through a real
(moto) EventBridge rule, and the wait makes no API call between its first look and the event that
ends it. Counted against the polling wait in the same test."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from airflow_provider_smpipe.events.setup import setup_event_queue
from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook
from airflow_provider_smpipe.triggers.execution_events import SageMakerPipelineExecutionEventTrigger, check_wait_via
from airflow_provider_smpipe.triggers.pipeline_execution import SageMakerPipelineExecutionTrigger
from native_helpers import ROLE, chain_definition, unique
from shared_runner import SharedRunner

WAIT_CALLS = ("DescribePipelineExecution", "ListPipelineExecutionSteps")


def events_queue(emulator: Any) -> str:
    """A queue fed by a rule for SageMaker's pipeline events, as ``smpipe events setup`` makes it."""
    made = setup_event_queue(sqs_client=emulator.client("sqs"), events_client=emulator.client("events"), queue_name=unique("waits"))
    return str(made["queue_url"])


def start(names: list[str], definition: dict[str, Any] | None = None) -> str:
    hook = SageMakerPipelineHook(aws_conn_id="aws_default")
    pipeline = unique("evwait")
    hook.upsert_pipeline(pipeline, definition or chain_definition(names), ROLE)
    return hook.start_execution(hook.build_start_request(pipeline))


def calls(emulator: Any) -> dict[str, int]:
    return {name: emulator.calls(name) for name in WAIT_CALLS}


def spent(emulator: Any, before: dict[str, int]) -> dict[str, int]:
    return {name: emulator.calls(name) - before[name] for name in WAIT_CALLS}


async def event_fed_wait(trigger: SageMakerPipelineExecutionEventTrigger, timeout: float = 60.0) -> dict[str, Any]:
    runner = SharedRunner()
    runner.start(1, trigger)
    try:
        await runner.until(lambda: bool(runner.fired[1]), timeout=timeout, what="the wait's event")
    finally:
        await runner.stop()
    return runner.fired[1][0]


async def polling_wait(trigger: SageMakerPipelineExecutionTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("no event")


@pytest.mark.shared_streams
async def test_an_event_fed_wait_looks_once_then_only_when_the_end_event_arrives(airflow_env: Any) -> None:
    emulator = airflow_env({"default_step_seconds": 1.5})
    queue = events_queue(emulator)
    # Each wait starts right after its execution (3 s of steps): a loaded machine cannot let one
    # execution end while the other wait runs.
    polled_arn = start(["A", "B"])
    before = calls(emulator)
    polled = await polling_wait(SageMakerPipelineExecutionTrigger(execution_arn=polled_arn, poll_interval=0.2))
    polling_calls = spent(emulator, before)
    fed_arn = start(["A", "B"])
    before = calls(emulator)
    fed = await event_fed_wait(SageMakerPipelineExecutionEventTrigger(execution_arn=fed_arn, events_queue_url=queue, poll_interval=0.2))
    fed_calls = spent(emulator, before)
    assert polled["status"] == fed["status"] == "succeeded"
    assert [row["name"] for row in fed["steps"]] == [row["name"] for row in polled["steps"]]
    # One Describe when the wait starts (the execution may have ended before it subscribed), one
    # Describe + ListSteps for the report when the end event arrives; no safety poll in 10 minutes.
    assert fed_calls["DescribePipelineExecution"] <= 2, fed_calls
    assert polling_calls["DescribePipelineExecution"] >= 5, polling_calls  # ~2 s of 0.2 s polls


@pytest.mark.shared_streams
async def test_an_event_fed_wait_reports_a_failure_like_the_polling_wait(airflow_env: Any) -> None:
    emulator = airflow_env({"default_step_seconds": 0.3, "steps": {"B": {"fail": "boom in B"}}})
    queue = events_queue(emulator)
    fed = await event_fed_wait(SageMakerPipelineExecutionEventTrigger(execution_arn=start(["A", "B"]), events_queue_url=queue))
    polled = await polling_wait(SageMakerPipelineExecutionTrigger(execution_arn=start(["A", "B"]), poll_interval=0.1))
    assert fed["status"] == polled["status"] == "failed"
    assert [row["name"] for row in fed["failed_steps"]] == ["B"] and "boom in B" in fed["message"]
    assert fed["message"].split(":", 1)[1] != "" and fed.keys() == polled.keys()


@pytest.mark.shared_streams
async def test_an_event_fed_step_wait_ends_when_the_step_event_arrives(airflow_env: Any) -> None:
    emulator = airflow_env({"default_step_seconds": 0.3, "steps": {"B": {"seconds": 60}}})
    queue = events_queue(emulator)
    arn = start(["A", "B"])
    event = await event_fed_wait(SageMakerPipelineExecutionEventTrigger(execution_arn=arn, events_queue_url=queue, step_name="A"))
    assert event["status"] == "step_reached" and event["step"]["status"] == "Succeeded"
    SageMakerPipelineHook(aws_conn_id="aws_default").stop_execution(arn)


@pytest.mark.shared_streams
async def test_the_safety_poll_ends_a_wait_whose_events_never_come(airflow_env: Any) -> None:
    emulator = airflow_env({"default_step_seconds": 0.2})
    sqs = emulator.client("sqs")
    silent = sqs.create_queue(QueueName=unique("silent"))["QueueUrl"]  # no rule sends to it
    started = time.monotonic()
    event = await event_fed_wait(SageMakerPipelineExecutionEventTrigger(execution_arn=start(["A"]), events_queue_url=silent, safety_poll_interval=1.0))
    assert event["status"] == "succeeded" and time.monotonic() - started < 30


@pytest.mark.shared_streams
async def test_an_unreadable_queue_falls_back_to_polling(airflow_env: Any) -> None:
    emulator = airflow_env({"default_step_seconds": 0.2})
    missing = f"{emulator.endpoint_url}/123456789012/{unique('no-such-queue')}"
    event = await event_fed_wait(SageMakerPipelineExecutionEventTrigger(execution_arn=start(["A"]), events_queue_url=missing, poll_interval=0.2))
    assert event["status"] == "succeeded"


async def test_without_shared_streams_the_wait_polls(airflow_env: Any) -> None:
    """What run() does: Airflow < 3.3 calls it (no shared streams); it is the polling wait."""
    airflow_env({"default_step_seconds": 0.2})
    trigger = SageMakerPipelineExecutionEventTrigger(execution_arn=start(["A"]), events_queue_url="https://sqs.us-east-1.amazonaws.com/1/q", poll_interval=0.1)
    event = await polling_wait(trigger)
    assert event["status"] == "succeeded"


def test_wait_arguments_are_checked_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="wait_via must be one of 'polling', 'events', got 'event'"):
        check_wait_via("event", None, True)
    with pytest.raises(ValueError, match="wait_via='events' needs events_queue_url"):
        check_wait_via("events", None, True)
    with pytest.raises(ValueError, match="set deferrable=True"):
        check_wait_via("events", "https://sqs.us-east-1.amazonaws.com/1/q", False)
    with pytest.raises(ValueError, match="events_queue_url must be an SQS queue URL"):
        SageMakerPipelineExecutionEventTrigger(execution_arn="arn:x", events_queue_url="waits")
    assert check_wait_via("polling", None, False) == "polling"
