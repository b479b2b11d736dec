"""The operator of every step that does work (everything but Condition, Fail, ForEach and
Cleanup): it resolves the step's arguments, runs the step by its family (SageMaker jobs, resources,
Lambda/Callback/EMR/EMR Serverless) and pushes its properties.

Arguments are resolved by the definition core at run time from parameters, execution variables
and the XCom of upstream step tasks — never rendered as Jinja. Each task pushes its step's
properties (the Describe* response as plain JSON, Lambda/Callback ``OutputParameters``, a
Condition's ``Outcome``) as ``return_value``; Processing steps also push their property files.
See :mod:`~airflow_provider_smpipe.translation.job_steps` for job naming and re-attaching.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.translation.cleanup import SageMakerPipelineCleanupOperator
from airflow_provider_smpipe.translation.control import SageMakerPipelineConditionOperator, SageMakerPipelineFailOperator
from airflow_provider_smpipe.translation.foreach import SageMakerPipelineForEachItemsOperator, SageMakerPipelineForEachResultsOperator
from airflow_provider_smpipe.translation.integration_steps import IntegrationSteps
from airflow_provider_smpipe.translation.job_steps import JOB_CALLS, JobSteps, classify_failure, create_error_type
from airflow_provider_smpipe.translation.resource_steps import ResourceSteps
from airflow_provider_smpipe.translation.settings import TranslationSettings
from airflow_provider_smpipe.translation.status import SageMakerPipelineExecutionStatusOperator
from airflow_provider_smpipe.translation.step_common import CACHE_PREFIX

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "CACHE_PREFIX",
    "JOB_CALLS",
    "SageMakerPipelineCleanupOperator",
    "SageMakerPipelineConditionOperator",
    "SageMakerPipelineExecutionStatusOperator",
    "SageMakerPipelineFailOperator",
    "SageMakerPipelineForEachItemsOperator",
    "SageMakerPipelineForEachResultsOperator",
    "SageMakerPipelineStepOperator",
    "TranslationSettings",
    "classify_failure",
    "create_error_type",
]


class SageMakerPipelineStepOperator(JobSteps, ResourceSteps, IntegrationSteps):
    """Run one pipeline step and push its properties.

    Created by :func:`~airflow_provider_smpipe.translation.render.render_steps`, not by hand.

    :param settings: the pipeline-wide :class:`TranslationSettings`.
    :param step_name: the step this task runs.
    """

    def run_step(self, context: Context) -> Any:
        run = self._run(context)
        reused, outputs = self._reused_or_runs(run, context)
        if reused:
            return outputs
        step = self.step
        try:
            arguments = run.resolver.resolve_arguments(step)
            fields = run.resolver.resolve_fields(step)
        except DefinitionError as exc:
            raise self._resolve_failure(exc) from None
        cached = self._cache_lookup(run, arguments)
        if cached is not None:
            return cached
        if step.type in JOB_CALLS:
            return self._start_job(context, run, attempt=1, first_started=time.time())
        handler = getattr(self, f"_run_{step.type.lower()}")
        return self._finish(context, run, handler(context, run, arguments, fields))

    def resume_step(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Continue after a wait (deferred or inline): a job ended, a retry delay passed, ..."""
        if not event or "echo" not in event:
            raise AirflowException(f"step '{self.step_name}': the wait ended without a usable event: {event!r}")
        echo = event["echo"]
        run = self._run(context)
        phase = echo["phase"]
        if phase == "retry":
            attempt, first_started = int(echo["attempt"]), float(echo["first_started"])
            if self.step.type == "EMRServerless":
                try:
                    arguments = run.resolver.resolve_arguments(self.step)
                except DefinitionError as exc:
                    raise self._resolve_failure(exc) from None
                return self._start_job_run(context, run, arguments, attempt=attempt, first_started=first_started)
            return self._start_job(context, run, attempt=attempt, first_started=first_started)
        if event.get("status") == "timeout":
            raise AirflowException(f"step '{self.step_name}': gave up waiting for {event.get('name')}")
        if event.get("status") == "error":
            raise AirflowException(f"step '{self.step_name}': cannot watch {event.get('name')}: {event.get('message')}")
        done = {
            "job": lambda: self._job_done(context, run, event, echo),
            "endpoint": lambda: self._endpoint_done(context, run, event),
            "emr": lambda: self._emr_done(context, run, event),
            "emr_serverless": lambda: self._emr_serverless_done(context, run, event),
            "callback": lambda: self._callback_done(context, run, event),
        }.get(phase)
        if done is None:
            raise AirflowException(f"step '{self.step_name}': unknown wait phase {phase!r}")
        return done()
