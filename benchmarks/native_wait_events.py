"""Event-fed waits for ``bench_native_wait.py``: the queue a real (moto) EventBridge rule fills, and
the triggerer's shared-stream machinery that the event-fed wait needs.

``SageMakerPipelineExecutionEventTrigger`` learns of the end of an execution only through a shared
stream (Airflow >= 3.3): its ``run()`` is the polling fallback. :class:`TriggererStreams` therefore
drives the trigger as ``TriggerRunner.run_trigger`` does, with Airflow's own
``SharedStreamManager``: subscribe with the trigger's ``shared_stream_key()``, iterate
``filter_shared_stream``, bind each fired event to the raw event it came from, confirm it persisted,
unsubscribe when the trigger is done. One manager serves the whole child process, as one serves a
triggerer; the waits on one queue share one receive loop (one ``ReceiveMessage`` long poll at a
time, whatever the number of waits). The persistence of a fired event is confirmed at once; in a
triggerer it comes one state sync later, which delays the ``DeleteMessageBatch`` of that message,
not the wait.

The queue is made with the provider's own set-up (``setup_event_queue``: queue, policy, rule for the
named pipeline, target), so the events reach it the way they do on AWS; every measurement gets a
fresh queue, removed with its rule afterwards, so it starts empty and no stale message or leftover
long poll of an earlier measurement is counted.

Imports Airflow lazily: the parent process (which hosts the emulator) only calls the queue helpers.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"
#: The operations of the event-fed wait's queue reads (the rule's delivery is not a client call).
SQS_OPERATIONS = ("ReceiveMessage", "DeleteMessageBatch", "ChangeMessageVisibilityBatch")


def boto(endpoint: str, service: str) -> Any:
    import boto3

    return boto3.session.Session().client(
        service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def make_queue(endpoint: str, pipeline: str, label: str) -> dict[str, str]:
    """A fresh queue fed by a rule for ``pipeline``'s events (``smpipe events setup``'s code)."""
    from airflow_provider_smpipe.events.setup import pipeline_arn, setup_event_queue

    made = setup_event_queue(
        sqs_client=boto(endpoint, "sqs"),
        events_client=boto(endpoint, "events"),
        queue_name=f"bench-{label}-{uuid.uuid4().hex[:8]}",
        pipeline_arns=[pipeline_arn(pipeline, partition="aws", region=REGION, account=ACCOUNT)],
        # --event-kinds of the benchmark (passed to its child processes in the environment).
        event_kinds=os.environ["SMPIPE_BENCH_EVENT_KINDS"].split(",") if os.environ.get("SMPIPE_BENCH_EVENT_KINDS") else None,
    )
    return {"queue_url": str(made["queue_url"]), "rule_name": str(made["rule_name"])}


def drop_queue(endpoint: str, queue: dict[str, str]) -> None:
    """Remove the rule (so no more events are sent to the queue) and the queue."""
    from airflow_provider_smpipe.events.setup import TARGET_ID

    events, sqs = boto(endpoint, "events"), boto(endpoint, "sqs")
    events.remove_targets(Rule=queue["rule_name"], Ids=[TARGET_ID])
    events.delete_rule(Name=queue["rule_name"])
    sqs.delete_queue(QueueUrl=queue["queue_url"])


def event_trigger(arn: str, queue_url: str, poll_interval: float) -> Any:
    """The event-fed wait as ``wait_via='events'`` builds it (default safety poll: 10 minutes)."""
    from airflow_provider_smpipe.triggers.execution_events import SageMakerPipelineExecutionEventTrigger

    return SageMakerPipelineExecutionEventTrigger(
        execution_arn=arn, events_queue_url=queue_url, poll_interval=poll_interval, aws_conn_id="aws_default"
    )


def check_shared_streams() -> None:
    from airflow_provider_smpipe.triggers.sqs_stream import SHARED_STREAM

    if SHARED_STREAM is None:
        raise SystemExit("the event-fed wait needs Airflow >= 3.3 (shared streams); run with --no-events")


class TriggererStreams:
    """The triggerer's shared-stream path for event triggers (``TriggerRunner.run_trigger``)."""

    def __init__(self) -> None:
        from airflow.triggers.shared_stream import SharedStreamManager

        self.manager = SharedStreamManager()
        self._ids = iter(range(1, 1 << 30))

    async def wait(self, trigger: Any) -> tuple[float, str]:
        """Run ``trigger`` until its first event; return (arrival time, outcome), like ``wait_for_event``."""
        trigger_id = next(self._ids)
        key = trigger.shared_stream_key()
        if key is None:  # pragma: no cover - checked by check_shared_streams
            raise SystemExit("the event-fed trigger did not opt into a shared stream")
        stream = self.manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)
        arrived, outcome = None, "no event"
        try:
            async for event in trigger.filter_shared_stream(stream):
                if arrived is None:
                    arrived, outcome = time.time(), str(event.payload.get("status"))
                seq = self.manager.bind_pending_event(trigger_id=trigger_id, key=key)
                if seq is not None:
                    self.manager.confirm_persisted([seq])  # the supervisor's confirmation, at once
        except Exception as exc:  # noqa: BLE001 - recorded as the outcome, as for the polling waits
            arrived, outcome = time.time(), f"raised {type(exc).__name__}: {exc}"[:200]
        finally:
            await self.manager.unsubscribe(trigger_id, key)
        return (arrived if arrived is not None else time.time()), outcome

    async def stop(self) -> None:
        await self.manager.stop_all()

