"""``SageMakerPipelineExecutionTrigger``: wait for an execution (or one of its steps) without a worker.

One ``DescribePipelineExecution`` per poll. Steps are listed (every page) only when needed: when
the execution status changes, every ``progress_interval`` seconds for the progress log, for the final
report, and on every poll when waiting for a particular step. Throttling and transient errors are
retried with exponential backoff forever; the trigger never dies on them. It ends with one
structured event (plain JSON):

``{"status": "succeeded" | "failed" | "stopped" | "timeout" | "error" | "step_reached" |
"step_failed" | "step_not_reached", "execution_arn", "execution_status", "failure_reason",
"steps": [rows], "failed_steps": [rows], "message"}`` (+ ``"step"`` in step mode).

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

from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook, request_token
from airflow_provider_smpipe.triggers.base import AwsTrigger, wait_inline  # noqa: F401  (wait_inline: re-exported)
from airflow_provider_smpipe.utils.reporting import ACTIVE_STATUSES, failed_steps, failure_message, step_table

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
                return self._event(
                    "timeout", state.status, None, state.rows,
                    f"gave up waiting for {self._what()} at the timeout; the execution is {state.status}",
                )
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

    async def poll_once(self, client: Any, state: PollState) -> dict[str, Any] | None:
        """One poll: the final event, or ``None`` while still waiting. Errors propagate."""
        described = await client.describe_pipeline_execution(PipelineExecutionArn=self.execution_arn)
        status = described["PipelineExecutionStatus"]
        now = time.monotonic()
        terminal = status not in ACTIVE_STATUSES
        changed = state.status is not None and status != state.status  # the first poll is not a change
        if state.status is None and not terminal:
            state.steps_listed_at = now  # the progress interval counts from the first poll
        if self.step_name or terminal or changed or now - state.steps_listed_at >= self.progress_interval:
            rows = step_table(await self._list_steps(client))
            self._log_progress(status, state.status, state.rows, rows)
            state.rows, state.steps_listed_at = rows, now
        state.status, state.failures = status, 0
        if self.step_name:
            return self._step_event(status, described, state.rows)
        if not terminal:
            return None
        kind = {"Succeeded": "succeeded", "Stopped": "stopped"}.get(status, "failed")
        message = failure_message(
            execution_arn=self.execution_arn, status=status, failure_reason=described.get("FailureReason"), rows=state.rows
        )
        return self._event(kind, status, described.get("FailureReason"), state.rows, message)

    def poll_inline(self) -> dict[str, Any] | None:
        """One poll from synchronous code (a sensor's ``poke``)."""

        async def once() -> dict[str, Any] | None:
            async with self.client() as client:
                return await self.poll_once(client, PollState())

        return asyncio.run(once())

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

    def _step_event(self, status: str, described: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any] | None:
        row = next((r for r in rows if r["name"] == self.step_name), None)
        step_status = row["status"] if row else None
        if step_status in self.step_statuses:
            event = self._event("step_reached", status, None, rows, f"step '{self.step_name}' is {step_status}")
            event["step"] = row
            return event
        if step_status in TERMINAL_STEP_STATUSES:
            message = failure_message(execution_arn=self.execution_arn, status=status, failure_reason=described.get("FailureReason"), rows=rows)
            event = self._event("step_failed", status, described.get("FailureReason"), rows, f"step '{self.step_name}' ended {step_status} (wanted {', '.join(self.step_statuses)})\n{message}")
            event["step"] = row
            return event
        if status not in ACTIVE_STATUSES:
            event = self._event(
                "step_not_reached", status, described.get("FailureReason"), rows,
                f"execution ended {status} and step '{self.step_name}' never reached {', '.join(self.step_statuses)} (it is {step_status or 'not in the execution'})",
            )
            event["step"] = row
            return event
        return None

    def _event(self, kind: str, status: str | None, reason: str | None, rows: list[dict[str, Any]], message: str) -> dict[str, Any]:
        return {
            "status": kind,
            "execution_arn": self.execution_arn,
            "execution_status": status,
            "failure_reason": reason,
            "steps": rows,
            "failed_steps": failed_steps(rows),
            "message": message,
        }

    def _what(self) -> str:
        return f"step '{self.step_name}' of {self.execution_arn}" if self.step_name else self.execution_arn

    def _log_progress(self, status: str, last_status: str | None, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
        if status != last_status:
            self.log.info("Execution %s is %s", self.execution_arn, status)
        before = {r["name"]: r["status"] for r in old}
        for row in new:
            if before.get(row["name"]) != row["status"]:
                detail = f" ({row['failure_reason']})" if row.get("failure_reason") else ""
                self.log.info("  step %s: %s%s", row["name"], row["status"], detail)

    async def on_kill(self) -> None:
        """Stop the execution when the waiting task is killed, if asked to (``stop_on_kill``)."""
        if not self.stop_on_kill:
            return
        async with self.client() as client:
            try:
                await client.stop_pipeline_execution(PipelineExecutionArn=self.execution_arn, ClientRequestToken=request_token("stop", self.execution_arn))
                self.log.info("Stopped %s because the waiting task was killed", self.execution_arn)
            except ClientError as exc:
                self.log.warning("Could not stop %s: %s", self.execution_arn, exc)
