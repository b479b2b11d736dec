"""Turn a wait's final event into the task's outcome: the one rule for every operator and sensor."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowSkipException

from airflow_provider_smpipe.utils.reporting import COMPLETED_WITH_FAILURES, POLICY_ARGUMENTS, Policy, outcome_of

#: Trigger event kinds that report how the whole execution ended.
EXECUTION_EVENTS = ("succeeded", "failed", "stopped", "completed_with_failures")

_log = logging.getLogger(__name__)


class PipelineExecutionFailed(AirflowException):
    """The pipeline execution (or the awaited step) did not end as required; the message names
    every failed step with its reason and job ARN."""


def finish_from_event(
    event: Mapping[str, Any] | None,
    *,
    stopped_policy: Policy = "fail",
    completed_with_failures_policy: Policy = "fail",
    log: Any = None,
) -> dict[str, Any]:
    """Return the event as a plain dict when the wait succeeded; raise otherwise.

    ``Stopped`` and ``CompletedWithFailures`` end as their policies say; ``CompletedWithFailures``
    under ``succeed`` still logs the report (which steps failed, which steps handled them) as a
    warning, on ``log`` (the task's logger) or this module's.

    :raises PipelineExecutionFailed: failure, timeout, error, a step that failed or was never reached,
        an unknown execution status, or ``Stopped`` / ``CompletedWithFailures`` under the ``fail`` policy.
    :raises AirflowSkipException: ``Stopped`` / ``CompletedWithFailures`` under the ``skip`` policy.
    """
    if not event or "status" not in event:
        raise PipelineExecutionFailed(f"the wait ended without a usable event: {event!r}")
    kind = event["status"]
    if kind == "step_reached":
        return dict(event)
    if kind in EXECUTION_EVENTS:
        status = str(event.get("execution_status"))
        outcome = outcome_of(status, stopped_policy, completed_with_failures_policy)
        argument = POLICY_ARGUMENTS.get(status)
        if outcome == "success":
            if status == COMPLETED_WITH_FAILURES:
                (log or _log).warning("%s ended %s; succeeding as %s='succeed'\n%s", event.get("execution_arn"), status, argument, event.get("message") or "")
            return dict(event)
        if outcome == "skip":
            if status == "Stopped":
                raise AirflowSkipException(f"{event['execution_arn']} was stopped; skipping as stopped_policy='skip'")
            raise AirflowSkipException(f"{event['execution_arn']} ended {status}; skipping as {argument}='skip'\n{event.get('message') or ''}".rstrip())
    raise PipelineExecutionFailed(str(event.get("message") or event))
