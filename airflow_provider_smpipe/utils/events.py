"""Turn a wait's final event into the task's outcome: the one rule for every operator and sensor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowSkipException

from airflow_provider_smpipe.utils.reporting import StoppedPolicy, outcome_of

EXECUTION_EVENTS = ("succeeded", "failed", "stopped")


class PipelineExecutionFailed(AirflowException):
    """The pipeline execution (or the awaited step) did not end as required; the message names
    every failed step with its reason and job ARN."""


def finish_from_event(event: Mapping[str, Any] | None, *, stopped_policy: StoppedPolicy = "fail") -> dict[str, Any]:
    """Return the event as a plain dict when the wait succeeded; raise otherwise.

    :raises PipelineExecutionFailed: failure, timeout, error, a step that failed or was never reached,
        or ``Stopped`` under the ``fail`` policy.
    :raises AirflowSkipException: ``Stopped`` under the ``skip`` policy.
    """
    if not event or "status" not in event:
        raise PipelineExecutionFailed(f"the wait ended without a usable event: {event!r}")
    kind = event["status"]
    if kind == "step_reached":
        return dict(event)
    if kind in EXECUTION_EVENTS:
        outcome = outcome_of(str(event["execution_status"]), stopped_policy)
        if outcome == "success":
            return dict(event)
        if outcome == "skip":
            raise AirflowSkipException(f"{event['execution_arn']} was stopped; skipping as stopped_policy='skip'")
    raise PipelineExecutionFailed(str(event.get("message") or event))
