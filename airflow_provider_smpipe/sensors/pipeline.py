"""Deferrable sensors for pipeline executions started anywhere (by Airflow, EventBridge, a person).

Both sensors report failures exactly like the start operator (the same trigger code, the same
``Stopped`` and ``CompletedWithFailures`` policies, the same message naming every failed step with
its reason and job ARN).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.utils.mixins import AwsBaseHookMixin, aws_template_fields
from airflow.providers.common.compat.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook
from airflow_provider_smpipe.links.pipeline import SageMakerPipelineExecutionLink
from airflow_provider_smpipe.triggers.execution_events import DEFAULT_SAFETY_POLL_SECONDS, check_wait_via, execution_wait_trigger
from airflow_provider_smpipe.triggers.pipeline_execution import PollState, SageMakerPipelineExecutionTrigger
from airflow_provider_smpipe.utils.events import finish_from_event
from airflow_provider_smpipe.utils.reporting import Policy, check_completed_with_failures_policy, check_stopped_policy, pipeline_name_from_arn

if TYPE_CHECKING:
    from airflow.sdk import Context

EXECUTION_ARN_KEY = "execution_arn"


class _PipelineSensor(AwsBaseHookMixin[SageMakerPipelineHook], BaseSensorOperator):
    aws_hook_class = SageMakerPipelineHook
    operator_extra_links = (SageMakerPipelineExecutionLink(),)

    def __init__(
        self,
        *,
        execution_arn: str,
        pipeline_name: str | None = None,
        stopped_policy: Policy = "fail",
        completed_with_failures_policy: Policy = "fail",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
        wait_via: str = "polling",
        events_queue_url: str | None = None,
        safety_poll_interval: float = DEFAULT_SAFETY_POLL_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait_via = check_wait_via(wait_via, events_queue_url, deferrable)
        self.events_queue_url = events_queue_url
        self.safety_poll_interval = safety_poll_interval
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.execution_arn = execution_arn
        self.pipeline_name = pipeline_name
        self.stopped_policy = check_stopped_policy(stopped_policy)
        self.completed_with_failures_policy = check_completed_with_failures_policy(completed_with_failures_policy)
        self.deferrable = deferrable
        self._resolved_arn: str | None = None
        self._poll_state: PollState | None = None

    def _trigger(self, arn: str, timeout_at: float | None) -> SageMakerPipelineExecutionTrigger:
        raise NotImplementedError

    def _arn(self, context: Context) -> str:
        if self._resolved_arn is None:
            self._resolved_arn = self.hook.resolve_execution_arn(self.pipeline_name, self.execution_arn)
            context["ti"].xcom_push(key=EXECUTION_ARN_KEY, value=self._resolved_arn)
            SageMakerPipelineExecutionLink.persist(
                context=context,
                operator=self,
                region_name=self.hook.conn_region_name,
                aws_partition=self.hook.conn_partition,
                pipeline_name=pipeline_name_from_arn(self._resolved_arn),
                execution_id=self._resolved_arn.rsplit("/", 1)[-1],
            )
        return self._resolved_arn

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        arn = self._arn(context)
        timeout = float(self.timeout) if self.timeout is not None else None
        trigger = self._trigger(arn, time.time() + timeout if timeout is not None else None)
        backstop = timedelta(seconds=timeout + 2 * float(self.poke_interval) + 60) if timeout is not None else None
        self.defer(trigger=trigger, method_name="execute_complete", timeout=backstop)

    def poke(self, context: Context) -> Any:
        if self._poll_state is None:  # kept between pokes: progress is logged by change, the step check runs once
            self._poll_state = PollState()
        event = self._trigger(self._arn(context), None).poll_inline(self._poll_state)
        if event is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish(event))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        self._resolved_arn = (event or {}).get("execution_arn") or self._resolved_arn  # a resumed task is a new instance
        return self._finish(event)

    def _finish(self, event: dict[str, Any] | None) -> dict[str, Any]:
        return finish_from_event(
            event, stopped_policy=self.stopped_policy, completed_with_failures_policy=self.completed_with_failures_policy, log=self.log
        )


class SageMakerPipelineExecutionSensor(_PipelineSensor):
    """Wait until a pipeline execution ends; fail (naming every failed step) unless it succeeded.

    :param execution_arn: the execution ARN (templated, e.g. from XCom), or a selector: ``latest``,
        ``latest-succeeded``, ``latest-failed``, ``latest-stopped`` — resolved once, when the sensor
        starts, against ``pipeline_name``. Use ``latest`` to wait for an execution started elsewhere.
    :param pipeline_name: the pipeline, needed with a selector (templated).
    :param stopped_policy: what ``Stopped`` means: ``fail`` (default), ``succeed`` or ``skip``.
    :param completed_with_failures_policy: what ``CompletedWithFailures`` means (a step failed, and
        every failed step had a step declared to run on its failure that ran): ``fail`` (default),
        ``succeed`` or ``skip``. The message names the failed steps and the steps that handled them.
    :param deferrable: wait in the triggerer (poke_interval is its poll interval; timeout is kept).
    :param wait_via: ``"polling"`` (default) or ``"events"``: the deferred wait is fed by SageMaker's
        EventBridge events from ``events_queue_url`` (no Describe per poke, only a safety poll;
        Airflow >= 3.3, below it polls every ``poke_interval``). Needs ``deferrable=True``.
    :param events_queue_url: the SQS queue of SageMaker's pipeline events (``smpipe events setup``; templated).
    :param safety_poll_interval: with ``wait_via="events"``, seconds between safety polls (default 600).
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region.
    :param verify: TLS verification.
    :param botocore_config: botocore ``Config`` keyword arguments.
    """

    template_fields: Sequence[str] = aws_template_fields("execution_arn", "pipeline_name", "events_queue_url")

    def _trigger(self, arn: str, timeout_at: float | None) -> SageMakerPipelineExecutionTrigger:
        return execution_wait_trigger(
            wait_via=self.wait_via,
            events_queue_url=self.events_queue_url,
            safety_poll_interval=self.safety_poll_interval,
            execution_arn=arn,
            poll_interval=float(self.poke_interval),
            timeout_at=timeout_at,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
        )


class SageMakerPipelineStepSensor(_PipelineSensor):
    """Wait until step ``step_name`` of an execution reaches one of ``target_statuses``.

    Fails (with the execution's failure report) when the step ends in another status, or when the
    execution ends without the step reaching one (e.g. the step is in a branch that was not taken).

    ``step_name`` may be a ForEach (it ends when all its children have: its row carries the
    fan-out's counts and selected child under ``for_each``) or one ForEach child ``<bodyStep>-<index>``
    (``Train-3``: the fourth item's ``Train``). A body step's own name (``Train``) never runs as
    itself: on its first poll the sensor reads the execution's definition and fails at once, saying
    to wait for a child or for the ForEach, as it does for a name the definition does not have. A
    child its ForEach ended without (fewer items) fails the sensor as soon as the ForEach ends.

    :param execution_arn: the execution ARN or a selector (see the execution sensor; templated).
    :param step_name: the step to watch (templated): a step, a ForEach, or a child ``<bodyStep>-<index>``.
    :param target_statuses: step statuses that satisfy the sensor (default ``["Succeeded"]``).
    :param pipeline_name: the pipeline, needed with a selector (templated).
    :param stopped_policy: unused: the step's own status decides (kept for a uniform signature).
    :param completed_with_failures_policy: unused, like ``stopped_policy``: an execution that ends
        ``CompletedWithFailures`` satisfies the sensor if the step reached a target status, and
        fails it otherwise.
    :param deferrable: wait in the triggerer.
    :param wait_via: ``"polling"`` (default) or ``"events"``: the deferred wait is fed by SageMaker's
        EventBridge events from ``events_queue_url`` (no Describe per poke, only a safety poll;
        Airflow >= 3.3, below it polls every ``poke_interval``). Needs ``deferrable=True``.
    :param events_queue_url: the SQS queue of SageMaker's pipeline events (``smpipe events setup``; templated).
    :param safety_poll_interval: with ``wait_via="events"``, seconds between safety polls (default 600).
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region.
    :param verify: TLS verification.
    :param botocore_config: botocore ``Config`` keyword arguments.
    """

    template_fields: Sequence[str] = aws_template_fields("execution_arn", "pipeline_name", "step_name", "events_queue_url")

    def __init__(self, *, step_name: str, target_statuses: Sequence[str] = ("Succeeded",), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step_name = step_name
        self.target_statuses = list(target_statuses)

    def _trigger(self, arn: str, timeout_at: float | None) -> SageMakerPipelineExecutionTrigger:
        return execution_wait_trigger(
            wait_via=self.wait_via,
            events_queue_url=self.events_queue_url,
            safety_poll_interval=self.safety_poll_interval,
            execution_arn=arn,
            poll_interval=float(self.poke_interval),
            timeout_at=timeout_at,
            step_name=self.step_name,
            step_statuses=self.target_statuses,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
        )
