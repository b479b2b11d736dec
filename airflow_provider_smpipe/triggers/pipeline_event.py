"""``SageMakerPipelineEventTrigger``: schedule DAGs on SageMaker pipeline events (an ``AssetWatcher``).

It reads an SQS queue that an EventBridge rule fills with SageMaker's events (``smpipe events setup``
creates both), keeps the events its filter wants, drops the copies SageMaker may send of one state
change, and fires one trigger event per state change. Airflow turns each into an asset event whose
``extra["payload"]`` is :meth:`~airflow_provider_smpipe.events.shapes.PipelineEvent.to_payload`
(``execution_arn``, ``pipeline_name``, ``status``, ``step_name``, ``model_package_arn`` ...), plus
``parameters`` (the execution's parameters, read once) with ``fetch_parameters=True``.

How the queue is read and when messages are deleted: :mod:`.sqs_stream`. On Airflow >= 3.3 every
watcher on the same queue shares one receive loop and a message is deleted only after Airflow has
recorded the events made from it; below 3.3 each watcher reads alone and deletes what it received
(give each watcher its own queue there).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Hashable, Sequence
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_smpipe.events.filters import Deduplicator, EventFilter
from airflow_provider_smpipe.events.shapes import PipelineEvent
from airflow_provider_smpipe.triggers.base import AwsTrigger
from airflow_provider_smpipe.triggers.pipeline_execution import _retriable
from airflow_provider_smpipe.triggers.sqs_stream import SHARED_STREAM, QueuedEvent, delete, make_producer, receive_forever

SHARED_KEY_PREFIX = "smpipe-sqs-events"


def check_queue_url(queue_url: Any, argument: str = "queue_url") -> str:
    if not isinstance(queue_url, str) or not queue_url.startswith(("https://", "http://")):
        raise ValueError(f"{argument} must be an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<queue>), got {queue_url!r}")
    return queue_url


def shared_key(trigger: AwsTrigger, queue_url: str) -> tuple[str, ...]:
    """Triggers reading one queue through the same connection share a receive loop."""
    settings = json.dumps({"verify": trigger.verify, "config": trigger.botocore_config}, sort_keys=True, default=str)
    return (SHARED_KEY_PREFIX, queue_url, str(trigger.aws_conn_id), str(trigger.region_name), settings)


class SageMakerPipelineEventTrigger(AwsTrigger, BaseEventTrigger):
    """Fire on SageMaker pipeline events read from an SQS queue; use it in an ``AssetWatcher``.

    :param queue_url: the SQS queue an EventBridge rule sends SageMaker's events to.
    :param event_kind: ``execution`` (execution status changes, the default), ``step`` (step status
        changes) or ``model_package`` (model package state changes, e.g. a model registered).
    :param pipeline_names: only these pipelines (case-insensitive); ``None`` for every pipeline.
    :param statuses: only these statuses: execution statuses (``Succeeded``, ``Failed``,
        ``Stopped``, ``CompletedWithFailures``, ``Executing``, ``Stopping``), step statuses, or model
        approval statuses (``Approved``, ``Rejected``, ``PendingManualApproval``); ``None`` for any.
    :param step_names: only these steps (``event_kind="step"``).
    :param model_package_groups: only these model package groups (``event_kind="model_package"``).
    :param fetch_parameters: add the execution's parameters to the payload (one
        ``ListPipelineParametersForExecution`` per fired event).
    :param wait_time_seconds: SQS long-poll wait (1-20 s).
    :param visibility_timeout: seconds a received message stays hidden from other readers while
        Airflow records its event (then it is deleted, or shown again for redelivery).
    :param share_stream: share one receive loop with the other triggers on this queue (Airflow >= 3.3).
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region (defaults to the connection's).
    :param verify: TLS verification, as for botocore.
    :param botocore_config: botocore ``Config`` keyword arguments.
    """

    own_fields = (
        "queue_url", "event_kind", "pipeline_names", "statuses", "step_names", "model_package_groups",
        "fetch_parameters", "wait_time_seconds", "visibility_timeout", "share_stream",
    )  # fmt: skip

    def __init__(
        self,
        *,
        queue_url: str,
        event_kind: str = "execution",
        pipeline_names: Sequence[str] | str | None = None,
        statuses: Sequence[str] | str | None = None,
        step_names: Sequence[str] | str | None = None,
        model_package_groups: Sequence[str] | str | None = None,
        fetch_parameters: bool = False,
        wait_time_seconds: int = 20,
        visibility_timeout: int = 120,
        share_stream: bool = True,
        **aws: Any,
    ) -> None:
        super().__init__(**aws)
        self.queue_url = check_queue_url(queue_url)
        # Built (and so checked) here: a wrong filter is an import error of the DAG file naming the argument.
        self.filter = EventFilter.build(
            kind=event_kind, pipeline_names=pipeline_names, statuses=statuses, step_names=step_names, model_package_groups=model_package_groups
        )
        self.event_kind = event_kind
        self.pipeline_names = list(self.filter.pipeline_names) if self.filter.pipeline_names else None
        self.statuses = list(self.filter.statuses) if self.filter.statuses else None
        self.step_names = list(self.filter.step_names) if self.filter.step_names else None
        self.model_package_groups = list(self.filter.model_package_groups) if self.filter.model_package_groups else None
        self.fetch_parameters = bool(fetch_parameters)
        if not isinstance(wait_time_seconds, int) or not 1 <= wait_time_seconds <= 20:
            raise ValueError(f"wait_time_seconds must be an integer from 1 to 20 (SQS's long-poll limit), got {wait_time_seconds!r}")
        if not isinstance(visibility_timeout, int) or not 10 <= visibility_timeout <= 43200:
            raise ValueError(f"visibility_timeout must be an integer from 10 to 43200 seconds, got {visibility_timeout!r}")
        self.wait_time_seconds = wait_time_seconds
        self.visibility_timeout = visibility_timeout
        self.share_stream = bool(share_stream)

    # -- shared stream (Airflow >= 3.3) -------------------------------------------------------------

    def shared_stream_key(self) -> Hashable | None:
        if not self.share_stream or SHARED_STREAM is None:
            return None
        return shared_key(self, self.queue_url)

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> Any:
        reader = cls(**kwargs)
        return make_producer(
            lambda: reader.client("sqs"), reader.queue_url,
            wait_seconds=reader.wait_time_seconds, visibility_timeout=reader.visibility_timeout, is_retriable=_retriable,
        )  # fmt: skip

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        seen = Deduplicator()
        async for item in shared_stream:
            event = self._wanted(item, seen)
            if event is None:
                if item.event is None:
                    # A message that can never be an event: every subscriber rejects it, so it is deleted.
                    SHARED_STREAM.reject_shared_stream_event()
                continue
            yield TriggerEvent(await self._payload(event))

    # -- alone ----------------------------------------------------------------------------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read the queue alone: every received message is deleted once dealt with (a wanted event
        after the triggerer took it), so this trigger must be the queue's only reader."""
        seen = Deduplicator()
        async with self.client("sqs") as sqs:
            async for item in receive_forever(
                sqs, self.queue_url, wait_seconds=self.wait_time_seconds, visibility_timeout=self.visibility_timeout, is_retriable=_retriable
            ):
                event = self._wanted(item, seen)
                if event is not None:
                    yield TriggerEvent(await self._payload(event))
                await delete(sqs, self.queue_url, [item.receipt_handle])

    # -- shared by both ---------------------------------------------------------------------------

    def _wanted(self, item: QueuedEvent, seen: Deduplicator) -> PipelineEvent | None:
        if item.event is None:
            self.log.warning("Skipping SQS message %s of %s: %s", item.message_id, self.queue_url, item.problem)
            return None
        if not self.filter.matches(item.event):
            return None
        if not seen.first_time(item.event.dedup_key()):
            self.log.info("Ignoring a repeated %s event for %s (%s)", item.event.kind, item.event.execution_arn, item.event.status)
            return None
        return item.event

    async def _payload(self, event: PipelineEvent) -> dict[str, Any]:
        payload = event.to_payload()
        if self.fetch_parameters and event.execution_arn:
            try:
                async with self.client() as sagemaker:
                    answer = await sagemaker.list_pipeline_parameters_for_execution(PipelineExecutionArn=event.execution_arn)
                payload["parameters"] = {item["Name"]: item["Value"] for item in answer.get("PipelineParameters", [])}
            except Exception as exc:  # noqa: BLE001 - the event still fires; the payload says what is missing
                self.log.warning("Could not read the parameters of %s: %s", event.execution_arn, exc)
                payload["parameters_error"] = str(exc)
        return payload
