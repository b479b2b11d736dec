"""``SageMakerPipelineExecutionTrigger``: wait for an execution (or one of its steps) without a worker.

One ``DescribePipelineExecution`` per poll. Steps are listed (every page) only when needed: when
the execution status changes, every ``progress_interval`` seconds for the progress log, for the final
report, and on every poll when waiting for a particular step. Throttling and transient errors are
retried with exponential backoff forever; the trigger never dies on them. It ends with one
structured event (plain JSON):

``{"status": "succeeded" | "failed" | "stopped" | "completed_with_failures" | "timeout" | "error" |
"step_reached" | "step_failed" | "step_not_reached", "execution_arn", "execution_status",
"failure_reason", "steps": [rows], "failed_steps": [rows], "message", "mlflow_config",
"handled_failures", "definition_error"}`` (+ ``"step"`` in step mode). ``mlflow_config`` is
DescribePipelineExecution's ``MLflowConfig`` as plain JSON (``None`` when absent). For
``CompletedWithFailures`` — and only then — the execution's definition is read once
(DescribePipelineDefinitionForExecution) to name, under each failed step, the steps declared to run
on its failure that ran (``handled_failures``, see :func:`~airflow_provider_smpipe.utils.reporting.failure_handlers`);
when that call fails the message says so (``definition_error``) and the wait still ends normally.
An execution status this version does not know ends the wait as ``failed``, naming the status.

In step mode (``step_name``) the definition is read once, on the first poll, to check the name: a
step that is not in the definition, or a ForEach *body* step (it only runs as children
``<name>-<index>``), ends the wait at once with an ``error`` event saying what to wait for instead;
a child ``<bodyStep>-<index>`` that its ForEach ended without ends it with ``step_not_reached`` as
soon as the ForEach ends. If the definition cannot be read the wait goes on without these checks.

All state is in its kwargs (the deadline is absolute), so after a triggerer restart it resumes where
it was. The same coroutine also runs in the worker for ``deferrable=False`` (see :func:`wait_inline`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError

from airflow.triggers.base import TriggerEvent

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import PipelineDefinition
from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook, request_token
from airflow_provider_smpipe.triggers.base import AwsTrigger, abandoned_by_user, wait_inline  # noqa: F401  (wait_inline: re-exported)
from airflow_provider_smpipe.utils.jsonsafe import json_safe
from airflow_provider_smpipe.utils.reporting import (
    COMPLETED_WITH_FAILURES,
    failed_steps,
    failure_handlers,
    failure_message,
    for_each_text,
    is_terminal,
    step_context,
    step_table,
    step_target,
)

#: Error codes retried with backoff instead of ending the wait.
RETRIABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServerError",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
        "SlowDown",
    }
)
MAX_BACKOFF_SECONDS = 300.0
TERMINAL_STEP_STATUSES = frozenset({"Succeeded", "Failed", "Stopped"})


@dataclass
class PollState:
    """What one wait remembers between polls (not serialised: a resumed trigger starts afresh)."""

    status: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    steps_listed_at: float = 0.0
    failures: int = 0
    #: step mode: the step name was checked against the execution's definition (or could not be).
    step_checked: bool = False
    #: step mode: the ForEach whose child the awaited step is.
    step_for_each: str | None = None


def _retriable(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return code in RETRIABLE_CODES or status >= 500
    return isinstance(exc, (BotoConnectionError, HTTPClientError, asyncio.TimeoutError, OSError))


class SageMakerPipelineExecutionTrigger(AwsTrigger):
    """Poll a pipeline execution until it ends (or until ``step_name`` reaches a status).

    :param execution_arn: the execution to watch.
    :param poll_interval: seconds between ``DescribePipelineExecution`` calls.
    :param timeout_at: absolute deadline (epoch seconds); a ``timeout`` event is sent when reached.
    :param step_name: wait for this step instead of the whole execution.
    :param step_statuses: step statuses that end a step wait successfully (default ``["Succeeded"]``).
    :param progress_interval: seconds between step-progress log lines while nothing changes.
    :param stop_on_kill: stop the execution if the waiting task is killed (marked failed, cleared).
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region (defaults to the connection's).
    :param verify: TLS verification, as for botocore.
    :param botocore_config: botocore ``Config`` keyword arguments.
    """

    own_fields = (
        "execution_arn", "poll_interval", "timeout_at", "step_name", "step_statuses", "progress_interval", "stop_on_kill",
    )  # fmt: skip

    def __init__(
        self,
        *,
        execution_arn: str,
        poll_interval: float = 30.0,
        timeout_at: float | None = None,
        step_name: str | None = None,
        step_statuses: Sequence[str] | None = None,
        progress_interval: float = 300.0,
        stop_on_kill: bool = False,
        **aws: Any,
    ) -> None:
        super().__init__(**aws)
        self.execution_arn = execution_arn
        self.poll_interval = float(poll_interval)
        self.timeout_at = timeout_at
        self.step_name = step_name
        self.step_statuses = list(step_statuses or ["Succeeded"])
        self.progress_interval = float(progress_interval)
        self.stop_on_kill = stop_on_kill

    def hook(self) -> SageMakerPipelineHook:
        return SageMakerPipelineHook(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify, config=self.botocore_config
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        async with self.client() as client:
            event = await self._wait(client)
        yield TriggerEvent(event)

    async def _wait(self, client: Any) -> dict[str, Any]:
        state = PollState()
        while True:
            if self.timeout_at is not None and time.time() >= self.timeout_at:
                return await self._timeout_event(client, state)
            try:
                event = await self.poll_once(client, state)
            except Exception as exc:  # noqa: BLE001 - classify, then retry or end with an event
                if not _retriable(exc):
                    return self._event("error", state.status, None, state.rows, f"cannot watch {self.execution_arn}: {exc}")
                state.failures += 1
                backoff = min(self.poll_interval * (2 ** min(state.failures, 10)), MAX_BACKOFF_SECONDS)
                self.log.warning("Transient error watching %s (%s); retrying in %.1fs", self.execution_arn, exc, backoff)
                await asyncio.sleep(backoff)
                continue
            if event is not None:
                return event
            await asyncio.sleep(self.poll_interval)

    async def _timeout_event(self, client: Any, state: PollState) -> dict[str, Any]:
        """Take one last look before giving up at the deadline.

        An execution that ended between the last poll and the deadline reports its real end,
        and a trigger that never polled (a triggerer resumed it after its deadline, or a slow
        first call) still names the execution's current status instead of ``None``.
        """
        try:
            event = await self.poll_once(client, state)
        except Exception as exc:  # noqa: BLE001 - the timeout is reported either way
            self.log.warning("Could not look at %s once more at the timeout: %s", self.execution_arn, exc)
            event = None
        if event is not None:
            return event
        return self._event(
            "timeout", state.status, None, state.rows,
            f"gave up waiting for {self._what()} at the timeout; the execution is {state.status}",
        )

    async def poll_once(self, client: Any, state: PollState) -> dict[str, Any] | None:
        """One poll: the final event, or ``None`` while still waiting. Errors propagate."""
        described = await client.describe_pipeline_execution(PipelineExecutionArn=self.execution_arn)
        status = described["PipelineExecutionStatus"]
        now = time.monotonic()
        terminal = is_terminal(status)
        changed = state.status is not None and status != state.status  # the first poll is not a change
        if state.status is None and not terminal:
            state.steps_listed_at = now  # the progress interval counts from the first poll
        if self.step_name or terminal or changed or now - state.steps_listed_at >= self.progress_interval:
            rows = step_table(await self._list_steps(client))
            self._log_progress(status, state.status, state.rows, rows)
            state.rows, state.steps_listed_at = rows, now
        state.status, state.failures = status, 0
        if self.step_name:
            if not state.step_checked:
                problem = await self._check_step(client, state)
                if problem is not None:
                    return self._event("error", status, None, state.rows, problem, described)
            return self._step_event(status, described, state)
        if not terminal:
            return None
        kind = {"Succeeded": "succeeded", "Stopped": "stopped", COMPLETED_WITH_FAILURES: "completed_with_failures"}.get(status, "failed")
        handled: list[dict[str, Any]] = []
        definition_error = None
        if status == COMPLETED_WITH_FAILURES:
            handled, definition_error = await self._failure_handlers(client, state.rows)
        message = failure_message(
            execution_arn=self.execution_arn,
            status=status,
            failure_reason=described.get("FailureReason"),
            rows=state.rows,
            handled_failures=handled,
            definition_error=definition_error,
        )
        event = self._event(kind, status, described.get("FailureReason"), state.rows, message, described)
        event["handled_failures"], event["definition_error"] = handled, definition_error
        return event

    async def _definition(self, client: Any) -> PipelineDefinition:
        """The definition the execution runs (DescribePipelineDefinitionForExecution), loaded by the core."""
        response = await client.describe_pipeline_definition_for_execution(PipelineExecutionArn=self.execution_arn)
        return load_definition(response["PipelineDefinition"])

    async def _failure_handlers(self, client: Any, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
        """``(handled_failures, None)``, or ``([], why not)`` when the definition cannot be read.
        Throttling and transient errors propagate (the poll is retried with backoff)."""
        try:
            definition = await self._definition(client)
        except DefinitionError as exc:
            return [], f"the execution's definition does not load here: {str(exc).splitlines()[0]}"
        except Exception as exc:  # noqa: BLE001 - say so in the report instead of failing the wait
            if _retriable(exc):
                raise
            return [], f"DescribePipelineDefinitionForExecution failed: {exc}"
        return failure_handlers(definition, rows), None

    async def _check_step(self, client: Any, state: PollState) -> str | None:
        """Step mode, first poll: a message when ``step_name`` can never be reached, else ``None``."""
        try:
            definition = await self._definition(client)
        except Exception as exc:  # noqa: BLE001 - the check is a convenience; wait without it
            if _retriable(exc):
                raise
            self.log.warning("Cannot check step %r against the definition of %s (%s); waiting without that check", self.step_name, self.execution_arn, exc)
            state.step_checked = True
            return None
        state.step_checked = True
        target = step_target(definition, str(self.step_name))
        state.step_for_each = target["for_each"]
        if target["problem"]:
            return f"cannot wait for step '{self.step_name}' of {self.execution_arn}: {target['problem']}"
        return None

    def poll_inline(self, state: PollState | None = None) -> dict[str, Any] | None:
        """One poll from synchronous code (a sensor's ``poke``); pass the same ``state`` to every
        poke so that progress is logged by change and the step check runs once. A transient error
        (throttling, 5xx, a lost connection: the trigger's own classification) is ``None``, "not
        done yet", so the sensor rides out an outage that outlasts botocore's retries; any other
        error is an ``error`` event."""
        state = state if state is not None else PollState()

        async def once() -> dict[str, Any] | None:
            async with self.client() as client:
                return await self.poll_once(client, state)

        try:
            return asyncio.run(once())
        except Exception as exc:  # noqa: BLE001 - classified as in the trigger's own wait loop
            if not _retriable(exc):
                return self._event("error", state.status, None, state.rows, f"cannot watch {self.execution_arn}: {exc}")
            # Throttling, a 5xx, a dropped connection: this poke learned nothing; the next one
            # (poke_interval later, the sensor's own backoff) tries again, as the deferred wait does.
            state.failures += 1
            self.log.warning("Transient error watching %s (%s, %d in a row); trying again at the next poke", self.execution_arn, exc, state.failures)
            return None

    async def _list_steps(self, client: Any) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"PipelineExecutionArn": self.execution_arn, "MaxResults": 100}
        while True:
            page = await client.list_pipeline_execution_steps(**kwargs)
            steps.extend(page.get("PipelineExecutionSteps", []))
            token = page.get("NextToken")
            if not token:
                return steps
            kwargs["NextToken"] = token

    def _step_event(self, status: str, described: dict[str, Any], state: PollState) -> dict[str, Any] | None:
        rows = state.rows
        row = next((r for r in rows if r["name"] == self.step_name), None)
        step_status = row["status"] if row else None
        if step_status in self.step_statuses:
            event = self._event("step_reached", status, None, rows, f"step '{self.step_name}' is {step_status}", described)
            event["step"] = row
            return event
        if step_status in TERMINAL_STEP_STATUSES:
            message = failure_message(execution_arn=self.execution_arn, status=status, failure_reason=described.get("FailureReason"), rows=rows)
            event = self._event(
                "step_failed", status, described.get("FailureReason"), rows,
                f"step '{self.step_name}' ended {step_status} (wanted {', '.join(self.step_statuses)})\n{message}", described,
            )  # fmt: skip
            event["step"] = row
            return event
        parent = next((r for r in rows if r["name"] == state.step_for_each), None) if row is None and state.step_for_each else None
        if parent is not None and parent["status"] in TERMINAL_STEP_STATUSES:
            summary = f" ({for_each_text(parent['for_each'])})" if parent.get("for_each") else ""
            event = self._event(
                "step_not_reached", status, described.get("FailureReason"), rows,
                f"ForEach '{parent['name']}' ended {parent['status']}{summary} without running a child '{self.step_name}': "
                f"it never reached {', '.join(self.step_statuses)}", described,
            )  # fmt: skip
            event["step"] = None
            return event
        if is_terminal(status):
            event = self._event(
                "step_not_reached", status, described.get("FailureReason"), rows,
                f"execution ended {status} and step '{self.step_name}' never reached {', '.join(self.step_statuses)} (it is {step_status or 'not in the execution'})",
                described,
            )  # fmt: skip
            event["step"] = row
            return event
        return None

    def _event(
        self, kind: str, status: str | None, reason: str | None, rows: list[dict[str, Any]], message: str, described: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {
            "status": kind,
            "execution_arn": self.execution_arn,
            "execution_status": status,
            "failure_reason": reason,
            "steps": rows,
            "failed_steps": failed_steps(rows),
            "message": message,
            "mlflow_config": json_safe(described.get("MLflowConfig")) if described and described.get("MLflowConfig") else None,
            "handled_failures": [],
            "definition_error": None,
        }

    def _what(self) -> str:
        return f"step '{self.step_name}' of {self.execution_arn}" if self.step_name else self.execution_arn

    def _log_progress(self, status: str, last_status: str | None, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
        if status != last_status:
            self.log.info("Execution %s is %s", self.execution_arn, status)
        before = {r["name"]: _progress_key(r) for r in old}
        for row in new:
            if before.get(row["name"]) != _progress_key(row):
                detail = f" ({row['failure_reason']})" if row.get("failure_reason") else ""
                context = step_context(row)
                self.log.info("  step %s: %s%s%s", row["name"], row["status"], detail, f" [{context}]" if context else "")

    async def on_kill(self) -> None:
        """Stop the execution when the user marked the waiting task failed, if asked to
        (``stop_on_kill``). A Clear also kills the trigger, but the cleared task's new try
        re-attaches to the execution: it keeps running (see :func:`abandoned_by_user`)."""
        if not self.stop_on_kill:
            return
        if not await abandoned_by_user(self):
            self.log.info("Not stopping %s: the task was cleared and its new try takes the execution over", self.execution_arn)
            return
        async with self.client() as client:
            try:
                await client.stop_pipeline_execution(PipelineExecutionArn=self.execution_arn, ClientRequestToken=request_token("stop", self.execution_arn))
                self.log.info("Stopped %s because the waiting task was killed", self.execution_arn)
            except ClientError as exc:
                self.log.warning("Could not stop %s: %s", self.execution_arn, exc)


def _progress_key(row: dict[str, Any]) -> tuple[Any, ...]:
    """What makes a row worth a new progress line: its status, and a ForEach's counts."""
    summary = row.get("for_each") or {}
    return (row.get("status"), *(summary.get(k) for k in ("total_step_count", "succeeded_step_count", "failed_step_count", "stopped_step_count")))
