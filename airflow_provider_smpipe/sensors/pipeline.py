"""Deferrable sensors for pipeline executions started anywhere (by Airflow, EventBridge, a person).

Both sensors report failures exactly like the start operator (the same trigger code, the same
``Stopped`` policy, the same message naming every failed step with its reason and job ARN).
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
from airflow_provider_smpipe.triggers.pipeline_execution import SageMakerPipelineExecutionTrigger
from airflow_provider_smpipe.utils.events import finish_from_event
from airflow_provider_smpipe.utils.reporting import StoppedPolicy, check_stopped_policy, pipeline_name_from_arn

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
        stopped_policy: StoppedPolicy = "fail",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
        self.execution_arn = execution_arn
        self.pipeline_name = pipeline_name
        self.stopped_policy = check_stopped_policy(stopped_policy)
        self.deferrable = deferrable
        self._resolved_arn: str | None = None

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
        event = self._trigger(self._arn(context), None).poll_inline()
        if event is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=finish_from_event(event, stopped_policy=self.stopped_policy))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        return finish_from_event(event, stopped_policy=self.stopped_policy)


class SageMakerPipelineExecutionSensor(_PipelineSensor):
    """Wait until a pipeline execution ends; fail (naming every failed step) unless it succeeded.

    :param execution_arn: the execution ARN (templated, e.g. from XCom), or a selector: ``latest``,
        ``latest-succeeded``, ``latest-failed``, ``latest-stopped`` — resolved once, when the sensor
        starts, against ``pipeline_name``. Use ``latest`` to wait for an execution started elsewhere.
    :param pipeline_name: the pipeline, needed with a selector (templated).
    :param stopped_policy: what ``Stopped`` means: ``fail`` (default), ``succeed`` or ``skip``.
    :param deferrable: wait in the triggerer (poke_interval is its poll interval; timeout is kept).
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region.
    :param verify: TLS verification.
    :param botocore_config: botocore ``Config`` keyword arguments.
    """

    template_fields: Sequence[str] = aws_template_fields("execution_arn", "pipeline_name")

    def _trigger(self, arn: str, timeout_at: float | None) -> SageMakerPipelineExecutionTrigger:
        return SageMakerPipelineExecutionTrigger(
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

    :param execution_arn: the execution ARN or a selector (see the execution sensor; templated).
    :param step_name: the step to watch (templated).
    :param target_statuses: step statuses that satisfy the sensor (default ``["Succeeded"]``).
    :param pipeline_name: the pipeline, needed with a selector (templated).
    :param stopped_policy: unused for steps except through the execution report.
    :param deferrable: wait in the triggerer.
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region.
    :param verify: TLS verification.
    :param botocore_config: botocore ``Config`` keyword arguments.
    """

    template_fields: Sequence[str] = aws_template_fields("execution_arn", "pipeline_name", "step_name")

    def __init__(self, *, step_name: str, target_statuses: Sequence[str] = ("Succeeded",), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.step_name = step_name
        self.target_statuses = list(target_statuses)

    def _trigger(self, arn: str, timeout_at: float | None) -> SageMakerPipelineExecutionTrigger:
        return SageMakerPipelineExecutionTrigger(
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
