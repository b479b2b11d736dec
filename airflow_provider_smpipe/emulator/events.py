"""SageMaker's EventBridge events, sent by the emulator on moto's default bus.

SageMaker puts an event on the default EventBridge bus of the execution's account and region on
every pipeline execution status change, every step status change, and when a model package is
created; rules route them (to SQS queues, typically). The emulator does the same: the engine
reports each change to its :class:`EventPublisher`, which builds the event with
:mod:`airflow_provider_smpipe.events.shapes` (the one definition of the shapes, with their source)
and puts it into moto's EventBridge backend in this process (what moto's ``PutEvents`` handler
calls; not over HTTP, so neither counted nor throttled). moto's events backend matches the rules of
the default bus and delivers to their targets, so an SQS target receives the whole event as the
message body, as on AWS.

Reporting only appends to a queue (the engine reports while it holds its lock, and a status change
must not wait for the delivery); one daemon thread publishes the queue in order, at most 10 entries
at a time (``PutEvents``' limit). A failure to publish is logged, never raised into the engine.
:meth:`EventPublisher.flush` waits until everything reported so far has been published (tests).

The scenario's ``events`` (default true) turns publishing off; ``duplicate_events`` puts every
event twice, as separate entries with their own ids (SageMaker "may send multiple events to
EventBridge for each state change").
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_smpipe.events.shapes import (
    EXECUTION_STATUS_CHANGE,
    MODEL_PACKAGE_STATE_CHANGE,
    STEP_STATUS_CHANGE,
    envelope,
    execution_status_detail,
    model_package_detail,
    step_status_detail,
)
from airflow_provider_smpipe.emulator.execution import EXECUTION_TERMINAL, STEP_TERMINAL, now

if TYPE_CHECKING:
    from airflow_provider_smpipe.emulator.execution import Execution, StepRun
    from airflow_provider_smpipe.emulator.gateway import Gateway

log = logging.getLogger(__name__)

#: ``PutEvents`` takes at most this many entries per call.
MAX_ENTRIES = 10
EVENT_BUS = "default"


@dataclass(frozen=True)
class _Pending:
    """One ``PutEvents`` entry waiting to be published, with the region whose bus gets it.

    The detail is JSON text already: it is a snapshot of the state at the change, and later changes
    to the run (its metadata, its end time) must not leak into it."""

    region: str
    entry: dict[str, Any]


class EventPublisher:
    """Publishes the engine's status changes as SageMaker's events (see the module docstring)."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self._changed = threading.Condition()
        self._queue: deque[_Pending] = deque()
        #: entries ever queued / ever handled (published or given up): :meth:`flush` compares them
        self._queued = 0
        self._handled = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        #: published entries (failed ones not counted), for tests and the state endpoint
        self.published = 0
        self.failed = 0

    # -- reporting (cheap: the engine lock may be held) ------------------------------------------

    def execution_status(self, execution: Execution, previous: str | None, status: str) -> None:
        detail = execution_status_detail(
            pipeline_arn=execution.pipeline_arn,
            execution_arn=execution.arn,
            status=status,
            previous_status=previous,
            display_name=execution.display_name,
            description=execution.description,
            start_time=execution.created,
            end_time=execution.last_modified if status in EXECUTION_TERMINAL else None,
        )
        self._report(execution, EXECUTION_STATUS_CHANGE, detail, [execution.pipeline_arn, execution.arn])

    def step_status(self, execution: Execution, run: StepRun, previous: str | None, status: str) -> None:
        detail = step_status_detail(
            pipeline_arn=execution.pipeline_arn,
            execution_arn=execution.arn,
            step_name=run.name,
            step_type=run.type,
            status=status,
            previous_status=previous,
            start_time=run.start_time,
            end_time=run.end_time if status in STEP_TERMINAL else None,
            metadata=event_metadata(run.metadata),
            failure_reason=run.failure_reason,
            cache_hit_result={"sourcePipelineExecutionArn": run.cache_source} if run.cache_source else None,
        )
        self._report(execution, STEP_STATUS_CHANGE, detail, [execution.pipeline_arn, execution.arn])

    def model_package(self, execution: Execution, described: Mapping[str, Any]) -> None:
        """A RegisterModel step (of ``execution``) created the model package ``described``
        (DescribeModelPackage's answer, JSON-safe)."""
        detail = model_package_detail(dict(described), execution_arn=execution.arn)
        arn = detail.get("ModelPackageArn")
        self._report(execution, MODEL_PACKAGE_STATE_CHANGE, detail, [arn] if isinstance(arn, str) else [])

    def _report(self, execution: Execution, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        scenario = execution.scenario
        if not scenario.events:
            return
        event = envelope(detail_type, detail, account=execution.account, region=execution.region, resources=resources, at=now())
        entry = _entry(event)
        copies = 2 if scenario.duplicate_events else 1
        with self._changed:
            for _ in range(copies):
                self._queue.append(_Pending(execution.region, entry))
                self._queued += 1
            self._ensure_thread()
            self._changed.notify_all()

    # -- waiting and stopping -----------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event reported so far was published (or given up); ``False`` at ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            target = self._queued
            while self._handled < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def close(self, timeout: float = 2.0) -> None:
        """Publish what is queued (for up to ``timeout``), then stop the thread; what is still
        queued then is dropped (logged). A later report starts a new thread."""
        self.flush(timeout)
        with self._changed:
            self._stopping = True
            thread = self._thread
            self._changed.notify_all()
        if thread is not None:
            thread.join(timeout)
        with self._changed:
            if self._queue:
                log.warning("emulator events: %d event(s) not published (the server stopped)", len(self._queue))
                self._handled += len(self._queue)
                self._queue.clear()
            self._thread = None
            self._stopping = False
            self._changed.notify_all()

    def state(self) -> dict[str, int]:
        with self._changed:
            return {"queued": len(self._queue), "published": self.published, "failed": self.failed}

    # -- the publishing thread ----------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        """Start the publishing thread when there is none (``self._changed`` held)."""
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(target=self._main, name="smpipe-events", daemon=True)
            self._thread.start()

    def _main(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._stopping:
                    self._changed.wait()
                # A thread that close() gave up waiting for (stuck in a call) must not outlive it
                # next to its successor: two publishers would break the order.
                if self._stopping or self._thread is not threading.current_thread():
                    return
                batch = self._take()
            published = self._publish(batch)
            with self._changed:
                self._handled += len(batch)
                self.published += published
                self.failed += len(batch) - published
                self._changed.notify_all()

    def _take(self) -> list[_Pending]:
        """The next entries of one region, in order, at most :data:`MAX_ENTRIES` (lock held)."""
        region = self._queue[0].region
        batch: list[_Pending] = []
        while self._queue and len(batch) < MAX_ENTRIES and self._queue[0].region == region:
            batch.append(self._queue.popleft())
        return batch

    def _publish(self, batch: list[_Pending]) -> int:
        """``PutEvents`` of ``batch``; the number of entries published. Never raises: a failure is
        logged and the events are lost, as the engine must go on whatever EventBridge does."""
        region = batch[0].region
        try:
            # moto's EventBridge backend in this process, not a PutEvents over HTTP: the emulator
            # makes thousands of events in a test session, and the HTTP round trip through its own
            # server (serialising, routing, counting) made publishing fall behind the executions.
            # The backend call is what moto's PutEvents handler makes (Time as epoch seconds, as
            # botocore sends it); rules and their SQS targets behave the same.
            from moto.events.models import events_backends

            from airflow_provider_smpipe.emulator.gateway import moto_account

            entries = [{**pending.entry, "Time": pending.entry["Time"].timestamp()} for pending in batch]
            answered = events_backends[moto_account()][region].put_events(entries)
        except Exception as exc:  # noqa: BLE001 - the engine must never see a publishing failure
            log.warning("emulator events: PutEvents of %d event(s) in %s failed: %s", len(batch), region, exc)
            return 0
        response = {"FailedEntryCount": sum(1 for entry in answered if "ErrorCode" in entry), "Entries": answered}
        failed = int(response.get("FailedEntryCount") or 0)
        if failed:
            errors = {entry.get("ErrorCode") for entry in response.get("Entries", []) if entry.get("ErrorCode")}
            log.warning("emulator events: %d of %d event(s) in %s were refused: %s", failed, len(batch), region, ", ".join(sorted(map(str, errors))))
        return len(batch) - failed


def _entry(event: dict[str, Any]) -> dict[str, Any]:
    """A ``PutEvents`` entry for ``event`` (an :func:`~airflow_provider_smpipe.events.shapes.envelope`):
    EventBridge sets the ``id``, ``account``, ``region`` and ``version`` itself."""
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"], default=str),
        "Resources": list(event["resources"]),
        "Time": datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc),
        "EventBusName": EVENT_BUS,
    }


def lower_camel(key: str) -> str:
    """``TrainingJob`` -> ``trainingJob``, ``Arn`` -> ``arn``, ``EMRServerless`` -> ``emrServerless``,
    ``EMR`` -> ``emr``: the step event's spelling of ListPipelineExecutionSteps' metadata keys."""
    upper = 0
    while upper < len(key) and key[upper].isupper():
        upper += 1
    if upper <= 1:
        return key[:1].lower() + key[1:]
    if upper == len(key):
        return key.lower()
    return key[: upper - 1].lower() + key[upper - 1 :]


def event_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """A step's ListPipelineExecutionSteps ``Metadata`` as the step event spells it: the developer
    guide's example has ``{"processingJob": {"arn": ...}}`` for ``{"ProcessingJob": {"Arn": ...}}``,
    so the keys of the first two levels are lower camel case; deeper values are copied as they are
    (the guide shows nothing deeper)."""
    out: dict[str, Any] = {}
    for key, value in (metadata or {}).items():
        if isinstance(value, Mapping):
            out[lower_camel(str(key))] = {lower_camel(str(k)): v for k, v in value.items()}
        else:
            out[lower_camel(str(key))] = value
    return out
