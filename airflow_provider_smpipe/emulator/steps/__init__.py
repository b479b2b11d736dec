"""Step workers: one thread per step run, its behaviour chosen by the step's type.

:class:`StepWorker` combines the per-family modules: ``control`` (Condition, Fail, Lambda,
Callback), ``sagemaker`` (SageMaker job steps on moto), ``emr`` (EMR and EMR Serverless), ``job``
(``CreateJob``), ``cleanup``; ``base`` holds what they share. ForEach steps have no worker: their
children do (:mod:`airflow_provider_smpipe.emulator.fanout`).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_smpipe.emulator.gateway import json_safe
from airflow_provider_smpipe.emulator.jobs import deep_merge
from airflow_provider_smpipe.emulator.steps.base import StepFailed, StepStopped
from airflow_provider_smpipe.emulator.steps.cleanup import CleanupSteps
from airflow_provider_smpipe.emulator.steps.control import ControlSteps
from airflow_provider_smpipe.emulator.steps.emr import EmrSteps
from airflow_provider_smpipe.emulator.steps.job import JobSteps
from airflow_provider_smpipe.emulator.steps.sagemaker import SageMakerJobSteps


class StepWorker(ControlSteps, SageMakerJobSteps, EmrSteps, JobSteps, CleanupSteps):
    """Runs one step run; :meth:`execute` dispatches on the step's type."""

    def execute(self) -> None:
        stype = self.step.type
        if stype == "Condition":
            return self.condition()
        if stype == "Fail":
            return self.fail_step()
        if stype == "Lambda":
            return self.lambda_step()
        if stype == "Callback":
            return self.callback_step()
        if stype == "Cleanup":
            return self.cleanup()
        if stype == "EMR":
            return self.with_retries(self.emr)
        if stype == "EMRServerless":
            return self.with_retries(self.emr_serverless)
        if stype == "Job":
            return self.with_retries(self.create_job)
        if self.step.info.opaque:
            return self.with_retries(self.opaque)
        return self.job_step()

    def opaque(self, name: str | None, arguments: dict[str, Any], fields: dict[str, Any]) -> None:
        """A type whose format is not published (Bedrock, Athena): it takes its scripted time and
        outcome; its properties are its arguments plus the scenario's ``properties``."""
        self.set(status="Executing", job_name=name, request=json_safe(arguments), failure_reason=None)
        self.sleep(self.seconds())
        self.scripted_outcome(self.run.attempt_count)
        props = deep_merge(json_safe(arguments), json_safe(self.script.properties)) if self.script.properties else json_safe(arguments)
        with self.engine.lock:
            self.run.properties = props
            self.run.finish("Succeeded")


__all__ = ["StepFailed", "StepStopped", "StepWorker"]
