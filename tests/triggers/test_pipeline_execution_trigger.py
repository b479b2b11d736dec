"""SageMakerPipelineExecutionTrigger: real aiobotocore polling against the emulator."""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

import pytest

from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook
from airflow_provider_smpipe.triggers.pipeline_execution import SageMakerPipelineExecutionTrigger
from native_helpers import ROLE, callback_definition, chain_definition, unique


@pytest.fixture
def hook(aws_connection: str) -> SageMakerPipelineHook:
    return SageMakerPipelineHook(aws_conn_id="aws_default")


def start(hook: SageMakerPipelineHook, names: list[str]) -> str:
    pipeline = unique("trig")
    hook.upsert_pipeline(pipeline, chain_definition(names), ROLE)
    return hook.start_execution(hook.build_start_request(pipeline))


async def first_event(trigger: SageMakerPipelineExecutionTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("no event")


def rebuild(trigger: SageMakerPipelineExecutionTrigger) -> SageMakerPipelineExecutionTrigger:
    """What the triggerer does after a restart: import the class path, pass the stored kwargs."""
    path, kwargs = trigger.serialize()
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


def test_serialize_round_trip_keeps_every_argument() -> None:
    trigger = SageMakerPipelineExecutionTrigger(
        execution_arn="arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/abc",
        poll_interval=5,
        timeout_at=1234.5,
        step_name="Train",
        step_statuses=["Succeeded", "Executing"],
        progress_interval=60,
        stop_on_kill=True,
        aws_conn_id="other",
        region_name="eu-west-1",
        verify=False,
        botocore_config={"retries": {"max_attempts": 3}},
    )
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_smpipe.triggers.pipeline_execution.SageMakerPipelineExecutionTrigger"
    assert rebuild(trigger).serialize() == (path, kwargs)
    assert kwargs["timeout_at"] == 1234.5 and kwargs["step_statuses"] == ["Succeeded", "Executing"]


async def test_success_event_carries_the_step_table(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.05})
    arn = start(hook, ["A", "B"])
    event = await first_event(SageMakerPipelineExecutionTrigger(execution_arn=arn, poll_interval=0.05))
    assert event["status"] == "succeeded" and event["execution_status"] == "Succeeded"
    assert [r["name"] for r in event["steps"]] == ["A", "B"]
    assert all(r["job_arn"] and r["type"] == "ProcessingJob" for r in event["steps"])
    assert event["failed_steps"] == []


async def test_failure_event_names_step_reason_and_job(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.02, "steps": {"B": {"fail": {"reason": "AlgorithmError: loss is NaN", "attempts": [1]}}}})
    arn = start(hook, ["A", "B", "C"])
    event = await first_event(SageMakerPipelineExecutionTrigger(execution_arn=arn, poll_interval=0.05))
    assert event["status"] == "failed" and event["execution_status"] == "Failed"
    [failed] = event["failed_steps"]
    assert failed["name"] == "B" and failed["failure_reason"] == "AlgorithmError: loss is NaN"
    assert "processing-job/" in failed["job_arn"]
    message = event["message"]
    assert arn in message and "step 'B' (ProcessingJob) Failed: AlgorithmError: loss is NaN" in message
    assert failed["job_arn"] in message


async def test_throttling_beyond_botocore_retries_never_kills_the_wait(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator = emulator_scenario(
        {
            "default_step_seconds": 0.05,
            "throttle": {"operations": ["DescribePipelineExecution", "ListPipelineExecutionSteps"], "fraction": 0.6, "seed": 3},
        }
    )
    arn = start(hook, ["A", "B"])
    # One botocore attempt per call: every throttle reaches the trigger's own backoff.
    trigger = SageMakerPipelineExecutionTrigger(
        execution_arn=arn, poll_interval=0.02, botocore_config={"retries": {"mode": "standard", "max_attempts": 1}}
    )
    event = await first_event(trigger)
    assert event["status"] == "succeeded"
    state = emulator.state()
    assert state["throttled"].get("DescribePipelineExecution", 0) > 0


async def test_resumes_after_a_triggerer_restart(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.05, "steps": {"A": {"seconds": 0.6}}})
    arn = start(hook, ["A", "B"])
    original = SageMakerPipelineExecutionTrigger(execution_arn=arn, poll_interval=0.05, timeout_at=time.time() + 60)
    running = asyncio.ensure_future(first_event(original))
    await asyncio.sleep(0.2)
    assert not running.done()
    running.cancel()  # the triggerer dies mid-wait
    with pytest.raises(asyncio.CancelledError):
        await running
    resumed = rebuild(original)
    assert resumed.timeout_at == original.timeout_at  # the deadline is absolute, not restarted
    event = await first_event(resumed)
    assert event["status"] == "succeeded" and event["execution_arn"] == arn


async def test_timeout_event_when_the_deadline_passes(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.05, "steps": {"A": {"seconds": 30}}})
    arn = start(hook, ["A"])
    event = await first_event(SageMakerPipelineExecutionTrigger(execution_arn=arn, poll_interval=0.05, timeout_at=time.time() + 0.3))
    assert event["status"] == "timeout" and event["execution_status"] == "Executing"
    assert "gave up waiting" in event["message"]
    hook.stop_execution(arn)


async def test_one_describe_per_poll_and_steps_only_when_needed(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator = emulator_scenario({"default_step_seconds": 0.05, "steps": {"A": {"seconds": 3.0}}})
    arn = start(hook, ["A"])
    emulator.reset()
    event = await first_event(SageMakerPipelineExecutionTrigger(execution_arn=arn, poll_interval=0.05, progress_interval=3600))
    assert event["status"] == "succeeded"
    counted = emulator.state()["calls"]
    assert counted["DescribePipelineExecution"] >= 8  # it really polled (a 3 s step at 0.05 s: ~60 polls when idle)
    # Steps are listed once, for the final report: the execution status changed only at the end.
    assert counted["ListPipelineExecutionSteps"] == 1


async def test_step_mode_reached_not_reached_and_failed(hook: SageMakerPipelineHook, emulator_scenario: Any, emulator: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.05, "steps": {"B": {"seconds": 0.5}}})
    arn = start(hook, ["A", "B"])
    reached = await first_event(SageMakerPipelineExecutionTrigger(execution_arn=arn, poll_interval=0.05, step_name="A"))
    assert reached["status"] == "step_reached" and reached["step"]["name"] == "A"
    assert reached["execution_status"] == "Executing"  # it did not wait for the whole pipeline

    sqs = emulator.client("sqs")
    queue = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    emulator_scenario({"default_step_seconds": 0.02, "steps": {"Approve": {"callback": {"answer": "success", "after_seconds": 0.05, "output_parameters": {"decision": "reject", "score": 0.1}}}}})
    pipeline = unique("branch")
    hook.upsert_pipeline(pipeline, callback_definition(queue), ROLE)
    rejected = hook.start_execution(hook.build_start_request(pipeline))
    not_reached = await first_event(SageMakerPipelineExecutionTrigger(execution_arn=rejected, poll_interval=0.05, step_name="Deploy"))
    assert not_reached["status"] == "step_not_reached" and "never reached Succeeded" in not_reached["message"]
    failed = await first_event(SageMakerPipelineExecutionTrigger(execution_arn=rejected, poll_interval=0.05, step_name="Rejected"))
    assert failed["status"] == "step_failed" and "decision was reject" in failed["message"]


async def test_on_kill_stops_the_execution_when_asked(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.05, "steps": {"A": {"seconds": 30}}})
    arn = start(hook, ["A"])
    await SageMakerPipelineExecutionTrigger(execution_arn=arn, stop_on_kill=False).on_kill()
    assert hook.describe_execution(arn)["PipelineExecutionStatus"] == "Executing"
    await SageMakerPipelineExecutionTrigger(execution_arn=arn, stop_on_kill=True).on_kill()
    assert hook.describe_execution(arn)["PipelineExecutionStatus"] in ("Stopping", "Stopped")


async def test_concurrent_waits_share_one_client_and_close_it(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    from airflow_provider_smpipe.triggers.shared_client import open_clients

    emulator_scenario({"default_step_seconds": 0.05})
    arns = [start(hook, ["A"]) for _ in range(5)]
    triggers = [SageMakerPipelineExecutionTrigger(execution_arn=arn, poll_interval=0.05) for arn in arns]
    waits = [asyncio.ensure_future(first_event(t)) for t in triggers]
    await asyncio.sleep(0.05)
    assert open_clients() == 1  # five waits, one client
    events = await asyncio.gather(*waits)
    assert [e["status"] for e in events] == ["succeeded"] * 5
    assert open_clients() == 0  # the last user closed it


async def test_a_trigger_resumed_after_its_deadline_names_the_execution_status(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    # The triggerer was down past the deadline: the trigger never polled before it, yet the
    # timeout event still says what the execution is doing.
    emulator_scenario({"default_step_seconds": 0.05, "steps": {"A": {"seconds": 30}}})
    arn = start(hook, ["A"])
    event = await first_event(SageMakerPipelineExecutionTrigger(execution_arn=arn, poll_interval=0.05, timeout_at=time.time() - 1))
    assert event["status"] == "timeout" and event["execution_status"] == "Executing"
    assert "the execution is Executing" in event["message"]
    hook.stop_execution(arn)


async def test_an_execution_that_ended_before_the_deadline_check_reports_its_end(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.05})
    arn = start(hook, ["A"])
    await first_event(SageMakerPipelineExecutionTrigger(execution_arn=arn, poll_interval=0.05))  # it has ended
    event = await first_event(SageMakerPipelineExecutionTrigger(execution_arn=arn, poll_interval=0.05, timeout_at=time.time() - 1))
    assert event["status"] == "succeeded" and event["execution_status"] == "Succeeded"
