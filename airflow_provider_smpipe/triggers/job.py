"""``SageMakerResourceTrigger``: wait for one SageMaker job (or CreateJob job), endpoint, EMR step or
EMR Serverless job run to finish.

Used by translated pipeline steps. No attempt cap (the amazon job triggers stop after ~30 minutes
by default); an optional absolute deadline instead. Throttling and transient errors are retried with
backoff. The event carries the final Describe* response as plain JSON, so the task needs no further
call to push the step's properties.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_smpipe.triggers.pipeline_execution import MAX_BACKOFF_SECONDS, _retriable
from airflow_provider_smpipe.triggers.base import AwsTrigger, abandoned_by_user
from airflow_provider_smpipe.utils.jsonsafe import json_safe


@dataclass(frozen=True, slots=True)
class ResourceKind:
    """How to describe a kind of resource and read its status."""

    service: str
    describe: str
    name_argument: str
    status_path: tuple[str, ...]
    succeeded: frozenset[str]
    failed: frozenset[str]
    reason_key: str = "FailureReason"
    extra_arguments: tuple[str, ...] = ()


_DONE = frozenset({"Completed"})
_BAD = frozenset({"Failed", "Stopped"})
KINDS: dict[str, ResourceKind] = {
    "Processing": ResourceKind("sagemaker", "describe_processing_job", "ProcessingJobName", ("ProcessingJobStatus",), _DONE, _BAD),
    "Training": ResourceKind("sagemaker", "describe_training_job", "TrainingJobName", ("TrainingJobStatus",), _DONE, _BAD),
    "Transform": ResourceKind("sagemaker", "describe_transform_job", "TransformJobName", ("TransformJobStatus",), _DONE, _BAD),
    "Tuning": ResourceKind(
        "sagemaker", "describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName", ("HyperParameterTuningJobStatus",), _DONE, _BAD
    ),
    "AutoML": ResourceKind("sagemaker", "describe_auto_ml_job", "AutoMLJobName", ("AutoMLJobStatus",), _DONE, _BAD),
    "Endpoint": ResourceKind(
        "sagemaker", "describe_endpoint", "EndpointName", ("EndpointStatus",), frozenset({"InService"}), frozenset({"Failed", "OutOfService"})
    ),
    "EMR": ResourceKind(
        "emr", "describe_step", "StepId", ("Step", "Status", "State"), frozenset({"COMPLETED"}), frozenset({"FAILED", "CANCELLED", "INTERRUPTED"}),
        extra_arguments=("ClusterId",),
    ),
    "EMRServerless": ResourceKind(
        "emr-serverless", "get_job_run", "jobRunId", ("jobRun", "state"), frozenset({"SUCCESS"}), frozenset({"FAILED", "CANCELLED"}),
    ),
    "Job": ResourceKind("sagemaker", "describe_job", "JobName", ("JobStatus",), _DONE, _BAD),
}


#: How to stop each kind of work (the call a killed task makes): ``(service, method)``. Endpoints are
#: not stopped: an endpoint being created or updated is left as the service finishes it.
STOP_CALLS: dict[str, tuple[str, str]] = {
    "Processing": ("sagemaker", "stop_processing_job"),
    "Training": ("sagemaker", "stop_training_job"),
    "Transform": ("sagemaker", "stop_transform_job"),
    "Tuning": ("sagemaker", "stop_hyper_parameter_tuning_job"),
    "AutoML": ("sagemaker", "stop_auto_ml_job"),
    "Job": ("sagemaker", "stop_job"),
    "EMR": ("emr", "cancel_steps"),
    "EMRServerless": ("emr-serverless", "cancel_job_run"),
}


def stop_arguments(step_type: str, name: str, *, cluster_id: str | None = None, describe_arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """The arguments of :data:`STOP_CALLS`' call for one piece of work."""
    kind = KINDS[step_type]
    if step_type == "EMR":
        return {"ClusterId": cluster_id, "StepIds": [name]}
    return {kind.name_argument: name, **(describe_arguments or {})}


def status_of(kind: ResourceKind, described: dict[str, Any]) -> str:
    value: Any = described
    for key in kind.status_path:
        value = value.get(key, {}) if isinstance(value, dict) else {}
    return str(value) if value else "Unknown"


def failure_reason_of(kind: ResourceKind, described: dict[str, Any]) -> str | None:
    if kind.service == "emr-serverless":
        return (described.get("jobRun") or {}).get("stateDetails") or None
    if kind.service == "emr":
        details = described.get("Step", {}).get("Status", {}).get("FailureDetails") or {}
        return details.get("Message") or details.get("Reason")
    return described.get(kind.reason_key)


class SageMakerResourceTrigger(AwsTrigger):
    """Poll one resource until it succeeds or fails.

    :param step_type: a key of :data:`KINDS` (``Processing``, ``Training``, ``Endpoint``, ``EMR``, ...).
    :param name: the job/endpoint name, the EMR step id, or the EMR Serverless job run id.
    :param cluster_id: the EMR cluster (EMR only).
    :param describe_arguments: more arguments of the describe call (EMR Serverless ``applicationId``,
        a Job's ``JobCategory``).
    :param echo: returned unchanged in the event (what the resumed task needs).
    :param poll_interval: seconds between Describe* calls.
    :param timeout_at: absolute deadline (epoch seconds); ``None`` for none.
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region.
    :param verify: TLS verification.
    :param botocore_config: botocore ``Config`` keyword arguments.
    """

    own_fields = ("step_type", "name", "cluster_id", "describe_arguments", "echo", "poll_interval", "timeout_at")

    def __init__(
        self,
        *,
        step_type: str,
        name: str,
        cluster_id: str | None = None,
        describe_arguments: dict[str, Any] | None = None,
        echo: dict[str, Any] | None = None,
        poll_interval: float = 30.0,
        timeout_at: float | None = None,
        **aws: Any,
    ) -> None:
        super().__init__(**aws)
        self.step_type = step_type
        self.name = name
        self.cluster_id = cluster_id
        self.describe_arguments = dict(describe_arguments or {})
        self.echo = echo
        self.poll_interval = float(poll_interval)
        self.timeout_at = timeout_at

    async def on_kill(self) -> None:
        """Stop the work when the user marked the waiting task failed. A Clear also kills the
        trigger, but the cleared task's new try re-attaches to the same work: it keeps running."""
        call = STOP_CALLS.get(self.step_type)
        if call is None:
            return
        if not await abandoned_by_user(self):
            self.log.info("Not stopping %s %s: the task was cleared and its new try takes it over", self.step_type, self.name)
            return
        service, method = call
        async with self.client(service) as client:
            try:
                await getattr(client, method)(**stop_arguments(self.step_type, self.name, cluster_id=self.cluster_id, describe_arguments=self.describe_arguments))
                self.log.info("Stopped %s %s because the waiting task was marked failed", self.step_type, self.name)
            except Exception as exc:  # noqa: BLE001 - already ended, no permission: say so, never raise here
                self.log.warning("Could not stop %s %s: %s", self.step_type, self.name, exc)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        kind = KINDS[self.step_type]
        arguments = {kind.name_argument: self.name}
        if "ClusterId" in kind.extra_arguments:
            arguments["ClusterId"] = self.cluster_id
        arguments.update(self.describe_arguments)
        failures = 0
        async with self.client(kind.service) as client:
            describe = getattr(client, kind.describe)
            while True:
                # The deadline is checked after each look, never before it: a resource that ended
                # just before the deadline (or while a triggerer was down past it) reports its end.
                try:
                    described = json_safe(await describe(**arguments))
                except Exception as exc:  # noqa: BLE001 - classify, then retry or report
                    if not _retriable(exc):
                        yield TriggerEvent({"status": "error", "name": self.name, "step_type": self.step_type, "message": str(exc), "echo": self.echo})
                        return
                    if self._deadline_passed():
                        yield self._timeout_event()
                        return
                    failures += 1
                    await asyncio.sleep(min(self.poll_interval * 2 ** min(failures, 10), MAX_BACKOFF_SECONDS))
                    continue
                failures = 0
                status = status_of(kind, described)
                if status in kind.succeeded or status in kind.failed:
                    described.pop("ResponseMetadata", None)
                    yield TriggerEvent(
                        {
                            "status": "succeeded" if status in kind.succeeded else "failed",
                            "resource_status": status,
                            "name": self.name,
                            "step_type": self.step_type,
                            "failure_reason": failure_reason_of(kind, described),
                            "described": described,
                            "echo": self.echo,
                        }
                    )
                    return
                if self._deadline_passed():
                    yield self._timeout_event()
                    return
                await asyncio.sleep(self.poll_interval)

    def _deadline_passed(self) -> bool:
        return self.timeout_at is not None and time.time() >= self.timeout_at

    def _timeout_event(self) -> TriggerEvent:
        return TriggerEvent({"status": "timeout", "name": self.name, "step_type": self.step_type, "echo": self.echo})
