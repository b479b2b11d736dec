"""SageMakerPipelineEventTrigger on a real (emulated) SQS queue: filters, duplicates, foreign and
malformed messages, deletion only after Airflow recorded the event, one shared receive loop for
every watcher of a queue (Airflow >= 3.3), and each trigger reading alone below that."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_smpipe.triggers.pipeline_event import SageMakerPipelineEventTrigger
from event_helpers import execution_event, messages_left, new_queue, send, step_event
from shared_runner import SharedRunner, alone_until, run_alone


def watcher(queue_url: str, **filters: Any) -> SageMakerPipelineEventTrigger:
    return SageMakerPipelineEventTrigger(queue_url=queue_url, aws_conn_id="aws_default", wait_time_seconds=1, visibility_timeout=30, **filters)


def test_a_wrong_filter_is_an_error_naming_the_argument() -> None:
    with pytest.raises(ValueError, match="statuses: 'Done' is not a status; choose from"):
        SageMakerPipelineEventTrigger(queue_url="https://sqs.us-east-1.amazonaws.com/1/q", statuses=["Done"])
    with pytest.raises(ValueError, match="step_names only filters step events"):
        SageMakerPipelineEventTrigger(queue_url="https://sqs.us-east-1.amazonaws.com/1/q", step_names=["Train"])
    with pytest.raises(ValueError, match="queue_url must be an SQS queue URL"):
        SageMakerPipelineEventTrigger(queue_url="my-queue")
    with pytest.raises(ValueError, match="event_kind 'run' is not one of"):
        SageMakerPipelineEventTrigger(queue_url="https://sqs.us-east-1.amazonaws.com/1/q", event_kind="run")


def test_the_trigger_rebuilds_from_what_it_serialises() -> None:
    trigger = SageMakerPipelineEventTrigger(queue_url="https://sqs.us-east-1.amazonaws.com/1/q", pipeline_names="Train", statuses="Succeeded")
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_smpipe.triggers.pipeline_event.SageMakerPipelineEventTrigger"
    assert SageMakerPipelineEventTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert kwargs["pipeline_names"] == ["Train"] and kwargs["statuses"] == ["Succeeded"]


@pytest.mark.shared_streams
async def test_watchers_on_one_queue_each_get_their_events_once_and_the_queue_is_emptied(emulator: Any, aws_connection: str) -> None:
    sqs, url = new_queue(emulator)
    runner = SharedRunner()
    runner.start(1, watcher(url, pipeline_names=["Train"], statuses=["Succeeded"]))
    runner.start(2, watcher(url, pipeline_names=["train", "Score"]))
    runner.start(3, watcher(url, event_kind="step", step_names=["Fit"], statuses=["Failed"]))
    try:
        send(
            sqs, url,
            execution_event("Train", "e1", "Succeeded"), execution_event("Train", "e1", "Succeeded"),  # SageMaker's duplicate
            execution_event("Score", "e2", "Failed"), execution_event("Other", "e3", "Succeeded"),
            step_event("Train", "e4", "Fit", "Failed", reason="OOM"), "not json at all", '{"source": "aws.s3", "detail-type": "Object Created"}',
        )  # fmt: skip
        await runner.until(lambda: len(runner.fired[1]) >= 1 and len(runner.fired[2]) >= 2 and len(runner.fired[3]) >= 1, what="the events")
        await runner.until(lambda: messages_left(sqs, url) == 0, what="the queue to be emptied")
    finally:
        await runner.stop()
    assert [(e["pipeline_name"], e["status"]) for e in runner.fired[1]] == [("train", "Succeeded")]
    assert sorted((e["pipeline_name"], e["status"]) for e in runner.fired[2]) == [("score", "Failed"), ("train", "Succeeded")]
    assert [(e["step_name"], e["status"], e["failure_reason"]) for e in runner.fired[3]] == [("Fit", "Failed", "OOM")]
    fired = runner.fired[1][0]
    assert fired["execution_arn"].endswith("/execution/e1") and fired["kind"] == "execution" and fired["previous_status"] == "Executing"


@pytest.mark.shared_streams
async def test_a_message_is_deleted_only_after_airflow_recorded_its_event(emulator: Any, aws_connection: str) -> None:
    sqs, url = new_queue(emulator)
    runner = SharedRunner(confirm=False)
    runner.start(1, watcher(url, statuses=["Succeeded"]))
    try:
        send(sqs, url, execution_event("Train", "e1", "Succeeded"))
        await runner.until(lambda: len(runner.fired[1]) == 1, what="the event")
        await asyncio.sleep(1.5)  # a full long poll and more: the advance would have run by now
        assert messages_left(sqs, url) == 1, "deleted before Airflow recorded the event"
        runner.persisted()
        await runner.until(lambda: messages_left(sqs, url) == 0, what="the deletion after persistence")
    finally:
        await runner.stop()


@pytest.mark.shared_streams
async def test_n_watchers_share_one_receive_loop(emulator: Any, aws_connection: str) -> None:
    """Count ReceiveMessage on an idle queue (1 s long polls) for 1 and 6 watchers sharing a stream,
    and for 6 reading alone, over the same time."""

    async def receives(count: int, shared: bool, seconds: float = 3.0) -> int:
        sqs, url = new_queue(emulator)
        before = emulator.calls("ReceiveMessage")
        triggers = [watcher(url, pipeline_names=[f"P{i}"]) for i in range(count)]
        if shared:
            runner = SharedRunner()
            for i, trigger in enumerate(triggers):
                runner.start(i, trigger)
            await asyncio.sleep(seconds)
            await runner.stop()
        else:
            tasks = [asyncio.ensure_future(run_alone(t, [])) for t in triggers]
            await asyncio.sleep(seconds)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return emulator.calls("ReceiveMessage") - before

    one, six_shared, six_alone = await receives(1, True), await receives(6, True), await receives(6, False)
    assert 1 <= six_shared <= one + 2, (one, six_shared)
    assert six_alone >= 4 * max(six_shared, 1) - 2, (six_shared, six_alone)


async def test_reading_alone_fires_once_per_change_and_deletes_what_it_read(emulator: Any, aws_connection: str) -> None:
    """The path below Airflow 3.3 (and with share_stream=False): the trigger is the queue's only reader."""
    sqs, url = new_queue(emulator)
    trigger = watcher(url, pipeline_names=["Train"], statuses=["Succeeded", "Failed"], share_stream=False)
    assert trigger.shared_stream_key() is None
    send(
        sqs, url, execution_event("Train", "e1", "Succeeded"), execution_event("Train", "e1", "Succeeded"),
        execution_event("Train", "e2", "Executing", None), "{broken", execution_event("Train", "e3", "Failed"),
    )  # fmt: skip
    fired = await alone_until(trigger, lambda fired: len(fired) >= 2 and messages_left(sqs, url) == 0)
    assert [(e["execution_arn"].rsplit("/", 1)[-1], e["status"]) for e in fired] == [("e1", "Succeeded"), ("e3", "Failed")]
    assert messages_left(sqs, url) == 0


async def test_fetch_parameters_adds_the_execution_parameters(emulator: Any, aws_connection: str, emulator_scenario: Any) -> None:
    from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook
    from native_helpers import ROLE, chain_definition, unique

    emulator_scenario({"default_step_seconds": 0.05})
    hook = SageMakerPipelineHook(aws_conn_id="aws_default")
    name = unique("params")
    hook.upsert_pipeline(name, chain_definition(["A"]), ROLE)
    arn = hook.start_execution(hook.build_start_request(name, parameters={"InputData": "s3://bucket/in"}))
    sqs, url = new_queue(emulator)
    send(sqs, url, execution_event(name, arn.rsplit("/", 1)[-1], "Succeeded"))
    fired = await alone_until(watcher(url, fetch_parameters=True, share_stream=False), bool)
    assert fired and fired[0]["parameters"]["InputData"] == "s3://bucket/in", fired


async def test_a_watcher_deployed_before_its_queue_exists_starts_reading_once_it_does(emulator: Any, aws_connection: str) -> None:
    from native_helpers import unique

    sqs = emulator.client("sqs")
    name = unique("later")
    url = f"{emulator.endpoint_url}/123456789012/{name}"

    async def create_the_queue_later() -> None:
        await asyncio.sleep(0.5)  # the watcher's first receives find no queue
        assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
        send(sqs, url, execution_event("Train", "e1", "Succeeded"))

    fired = await alone_until(watcher(url, share_stream=False), bool, before=create_the_queue_later)
    assert [e["status"] for e in fired] == ["Succeeded"]
