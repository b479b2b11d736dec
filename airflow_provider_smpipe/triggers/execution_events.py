"""``SageMakerPipelineExecutionEventTrigger``: the execution wait of :mod:`.pipeline_execution`, fed by
SageMaker's EventBridge events instead of polling.

It subscribes to the shared receive loop of an SQS queue that an EventBridge rule fills with
SageMaker's pipeline events (Airflow >= 3.3 shared streams; :mod:`.sqs_stream`), looks once
(``DescribePipelineExecution``) when it starts — an execution may have ended before the wait
subscribed — and then makes no API call until an event says the execution (or, in step mode, the
awaited step) changed in a way that may end the wait; then one poll (Describe + ListSteps) builds
the same final event the polling trigger sends, so the operators' and sensors' outcome rules are
unchanged. A slow safety poll (``safety_poll_interval``, default 10 minutes) covers an event that
never arrives (a rule deleted, a queue read by another triggerer). Step events are logged as
progress at no cost.

Below Airflow 3.3 (no shared streams) the trigger waits by polling every ``poll_interval`` and says
so in its log: SQS gives each message to one reader, so waits reading a queue each on their own
would take each other's events.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Hashable
from contextlib import suppress
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_smpipe.events.shapes import PipelineEvent
from airflow_provider_smpipe.triggers.pipeline_event import check_queue_url, shared_key
from airflow_provider_smpipe.triggers.pipeline_execution import (
    MAX_BACKOFF_SECONDS,
    TERMINAL_STEP_STATUSES,
    PollState,
    SageMakerPipelineExecutionTrigger,
    _retriable,
)
from airflow_provider_smpipe.triggers.sqs_stream import SHARED_STREAM, make_producer, queue_missing
from airflow_provider_smpipe.utils.reporting import is_terminal

DEFAULT_SAFETY_POLL_SECONDS = 600.0


class SageMakerPipelineExecutionEventTrigger(SageMakerPipelineExecutionTrigger, BaseEventTrigger):
    """Wait for an execution (or one of its steps) on SageMaker's events; same final event as
    :class:`~airflow_provider_smpipe.triggers.pipeline_execution.SageMakerPipelineExecutionTrigger`.

    :param events_queue_url: the SQS queue an EventBridge rule sends SageMaker's pipeline events to
        (``smpipe events setup``).
    :param safety_poll_interval: seconds between safety polls while no event arrives.
    :param visibility_timeout: seconds a received message stays hidden from other readers while the
        triggers sharing the queue deal with it.
    :param poll_interval: seconds between polls when the wait cannot use events (Airflow < 3.3, or
        the queue cannot be read).
    Every other argument is the polling trigger's.
    """

    own_fields = (*SageMakerPipelineExecutionTrigger.own_fields, "events_queue_url", "safety_poll_interval", "visibility_timeout")

    def __init__(
        self, *, events_queue_url: str, safety_poll_interval: float = DEFAULT_SAFETY_POLL_SECONDS, visibility_timeout: int = 120, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.events_queue_url = check_queue_url(events_queue_url, "events_queue_url")
        if float(safety_poll_interval) <= 0:
            raise ValueError(f"safety_poll_interval must be a positive number of seconds, got {safety_poll_interval!r}")
        self.safety_poll_interval = float(safety_poll_interval)
        self.visibility_timeout = int(visibility_timeout)

    def shared_stream_key(self) -> Hashable | None:
        # The same key as the watchers' (SageMakerPipelineEventTrigger): waits and watchers on one
        # queue share one receive loop, and see the same messages.
        return None if SHARED_STREAM is None else shared_key(self, self.events_queue_url)

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> Any:
        reader = cls(**kwargs)
        return make_producer(
            lambda: reader.client("sqs"), reader.events_queue_url, wait_seconds=20, visibility_timeout=reader.visibility_timeout, is_retriable=_retriable
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """No shared stream (Airflow < 3.3): wait by polling."""
        self.log.warning(
            "Waiting for %s by polling every %.0fs: event-fed waits need Airflow 3.3 or later (shared streams)", self._what(), self.poll_interval
        )
        async for event in super().run():
            yield event

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        arrivals: asyncio.Queue[PipelineEvent | None] = asyncio.Queue()
        if not await self._queue_exists():
            arrivals.put_nowait(None)  # the wait polls from its first look on
        pumping = asyncio.create_task(self._pump(shared_stream, arrivals))
        try:
            async with self.client() as client:
                event = await self._wait_on_events(client, arrivals)
        finally:
            pumping.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await pumping
        yield TriggerEvent(event)

    async def _queue_exists(self) -> bool:
        """One look at the queue before relying on it: the shared receive loop waits for a missing
        queue (a watcher may be deployed before the set-up), but a wait must not sit out its
        safety interval on one, so it polls instead."""
        try:
            async with self.client("sqs") as sqs:
                await sqs.get_queue_attributes(QueueUrl=self.events_queue_url, AttributeNames=["QueueArn"])
        except Exception as exc:  # noqa: BLE001 - missing or refused: poll; a transient error: the stream retries it
            if queue_missing(exc) or not _retriable(exc):
                self.log.warning("Cannot use SageMaker events from %s (%s); waiting by polling every %.0fs", self.events_queue_url, exc, self.poll_interval)
                return False
        return True

    async def _pump(self, shared_stream: AsyncIterator[Any], arrivals: asyncio.Queue[PipelineEvent | None]) -> None:
        """Move this execution's events from the shared stream to ``arrivals`` (a separate task, so
        that the wait can time out for a safety poll without cancelling the stream); ``None`` when
        the stream ends."""
        try:
            async for item in shared_stream:
                if item.event is not None and item.event.execution_arn.lower() == self.execution_arn.lower():
                    arrivals.put_nowait(item.event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the wait goes on by polling; say why
            self.log.warning("Cannot read SageMaker events from %s (%s); waiting by polling", self.events_queue_url, exc)
        arrivals.put_nowait(None)

    def _ends_wait(self, event: PipelineEvent) -> bool:
        """Whether ``event`` may end this wait (then one poll reads the outcome)."""
        if event.kind == "execution":
            return is_terminal(event.status)
        if event.kind != "step" or not self.step_name or not event.step_name:
            return False
        ours = event.step_name == self.step_name or event.step_name.startswith(f"{self.step_name}-")
        return ours and (event.status in TERMINAL_STEP_STATUSES or event.status in self.step_statuses)

    async def _wait_on_events(self, client: Any, arrivals: asyncio.Queue[PipelineEvent | None]) -> dict[str, Any]:
        state = PollState()
        look_now, next_safety = True, 0.0
        while True:
            if self.timeout_at is not None and time.time() >= self.timeout_at:
                return await self._timeout_event(client, state)
            if look_now:
                try:
                    event = await self.poll_once(client, state)
                except Exception as exc:  # noqa: BLE001 - classified as in the polling wait
                    if not _retriable(exc):
                        return self._event("error", state.status, None, state.rows, f"cannot watch {self.execution_arn}: {exc}")
                    state.failures += 1
                    backoff = min(self.poll_interval * (2 ** min(state.failures, 10)), MAX_BACKOFF_SECONDS)
                    self.log.warning("Transient error watching %s (%s); looking again in %.1fs", self.execution_arn, exc, backoff)
                    next_safety = time.monotonic() + backoff
                else:
                    if event is not None:
                        return event
                    next_safety = time.monotonic() + self.safety_poll_interval
                look_now = False
            wait = max(0.0, next_safety - time.monotonic())
            if self.timeout_at is not None:
                wait = min(wait, max(0.0, self.timeout_at - time.time()))
            try:
                arrived = await asyncio.wait_for(arrivals.get(), timeout=wait)
            except TimeoutError:
                look_now = True  # the safety poll (or the deadline, checked at the top)
                continue
            if arrived is None:
                return await self._wait(client)  # the stream ended: poll from here on
            self._log_event(arrived)
            look_now = self._ends_wait(arrived)

    def _log_event(self, event: PipelineEvent) -> None:
        if event.kind == "step":
            reason = f" ({event.failure_reason})" if event.failure_reason else ""
            self.log.info("  step %s: %s%s", event.step_name, event.status, reason)
        elif event.kind == "execution":
            self.log.info("Execution %s is %s", self.execution_arn, event.status)


#: How a deferred wait learns that an execution changed: by polling (the default: needs no AWS
#: set-up) or from SageMaker's events in an SQS queue.
WAIT_VIA = ("polling", "events")


def check_wait_via(wait_via: Any, events_queue_url: Any, deferrable: bool) -> str:
    """Check an operator's or sensor's wait arguments when the DAG is parsed; the error names the argument."""
    if wait_via not in WAIT_VIA:
        raise ValueError(f"wait_via must be one of {', '.join(map(repr, WAIT_VIA))}, got {wait_via!r}")
    if wait_via == "events":
        if not events_queue_url:
            raise ValueError("wait_via='events' needs events_queue_url: the SQS queue SageMaker's events go to (smpipe events setup)")
        if not deferrable:
            raise ValueError("wait_via='events' waits in the triggerer, where the queue is read: set deferrable=True")
    return str(wait_via)


def execution_wait_trigger(
    *, wait_via: str, events_queue_url: str | None, safety_poll_interval: float, **kwargs: Any
) -> SageMakerPipelineExecutionTrigger:
    """The trigger for a deferred wait: polling, or event-fed (same final event either way)."""
    if wait_via == "events":
        return SageMakerPipelineExecutionEventTrigger(events_queue_url=str(events_queue_url), safety_poll_interval=safety_poll_interval, **kwargs)
    return SageMakerPipelineExecutionTrigger(**kwargs)
