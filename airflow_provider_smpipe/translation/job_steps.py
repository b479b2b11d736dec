"""SageMaker job steps (Processing, Training, Transform, Tuning, AutoML) and ``Job`` steps
(the generic CreateJob API): create the job, wait for it, apply RetryPolicies, push its describe.

Job names are deterministic per (run, step, try, attempt). A task that runs again while the job an
earlier try created is still running (an Airflow retry, a worker crash) re-attaches to that job
instead of creating a second one; a task cleared after its job finished runs the step again (that
is what clearing asks for).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.definition.expressions import s3_join
from airflow_provider_smpipe.definition.model import STOPPED
from airflow_provider_smpipe.definition.naming import job_name
from airflow_provider_smpipe.definition.paths import get_path, parse_path
from airflow_provider_smpipe.definition.properties import normalize_properties
from airflow_provider_smpipe.translation.base import StepEnded
from airflow_provider_smpipe.translation.runtime import StepRun
from airflow_provider_smpipe.translation.step_common import StepCommon
from airflow_provider_smpipe.triggers.job import KINDS, status_of
from airflow_provider_smpipe.utils.jsonsafe import json_safe

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Step types run as a SageMaker job that is created, then waited for.
JOB_CALLS = {
    "Processing": "create_processing_job",
    "Training": "create_training_job",
    "Transform": "create_transform_job",
    "Tuning": "create_hyper_parameter_tuning_job",
    "AutoML": "create_auto_ml_job",
    "Job": "create_job",
}
MAX_ATTEMPTS_SCANNED = 20


def classify_failure(reason: str | None) -> str:
    """The retry-policy exception type of a job's ``FailureReason`` (the service's categories)."""
    text = (reason or "").lower()
    if "capacity" in text:
        return "SageMaker.CAPACITY_ERROR"
    if "internalservererror" in text or "internal server error" in text or "internal error" in text or "internalfailure" in text:
        return "SageMaker.JOB_INTERNAL_ERROR"
    if "resourcelimitexceeded" in text or "resource limit" in text:
        return "SageMaker.RESOURCE_LIMIT"
    return "Job.FAILURE"


def create_error_type(exc: ClientError) -> str | None:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in ("ThrottlingException", "Throttling", "TooManyRequestsException"):
        return "Step.THROTTLING"
    if code == "ResourceLimitExceeded":
        return "SageMaker.RESOURCE_LIMIT"
    if int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0) >= 500:
        return "Step.SERVICE_FAULT"
    return None




class JobSteps(StepCommon):
    """The SageMaker job family of :class:`~airflow_provider_smpipe.translation.operators.SageMakerPipelineStepOperator`."""

    def _job_name(self, run: StepRun, try_number: int, attempt: int) -> str:
        kept = self.step.arguments.get(self.step.info.name_key or "")
        prefix = str(run.resolver.resolve(kept)) if kept else None
        return job_name(run.child, run.execution_id, prefix=prefix, salt=f"{try_number}:{attempt}", step_type=self.step.type)

    def _earlier_job(self, run: StepRun) -> tuple[str, dict[str, Any]] | None:
        """The newest job an earlier try of this task created, if it is still running.

        Only running work is re-attached to (a retry or a worker crash mid-wait): a user clearing a
        finished task wants the step to run again."""
        kind = KINDS[self.step.type]
        client = run.client("sagemaker")
        for try_number in range(int(run.ti.try_number) - 1, 0, -1):
            latest = None
            for attempt in range(1, MAX_ATTEMPTS_SCANNED + 1):
                name = self._job_name(run, try_number, attempt)
                try:
                    latest = (name, getattr(client, kind.describe)(**{kind.name_argument: name}, **self._describe_arguments(run)))
                except ClientError:
                    break
            if latest is not None:
                status = status_of(kind, latest[1])
                if status not in kind.failed and status not in kind.succeeded:
                    return latest[0], json_safe(latest[1])
        return None

    def _start_job(self, context: Context, run: StepRun, *, attempt: int, first_started: float) -> Any:
        step = self.step
        if attempt == 1 and int(run.ti.try_number) > 1:
            earlier = self._earlier_job(run)
            if earlier is not None:
                self.log.info("Re-attaching to %s, created by an earlier try of this task", earlier[0])
                return self._wait_job(context, run, earlier[0], attempt=attempt, first_started=first_started)
        name = self._job_name(run, int(run.ti.try_number), attempt)
        try:
            arguments = run.resolver.resolve_arguments(step, job_name=name)
        except DefinitionError as exc:
            raise self._resolve_failure(exc) from None
        request = {**arguments, step.info.name_key: name}
        client = run.client("sagemaker")
        try:
            getattr(client, JOB_CALLS[step.type])(**request)
            self.log.info("Created %s job %s for step %s (attempt %d)", step.type, name, self.step_name, attempt)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("ResourceInUse", "ValidationException") and "exist" in str(exc).lower():
                self.log.info("Job %s already exists (created before a restart); attaching to it", name)
            else:
                exception_type = create_error_type(exc)
                policy = self._retry_policy(exception_type, attempt, first_started) if exception_type else None
                if policy is not None:
                    return self._schedule_retry(context, policy, attempt, first_started, f"{code}: {exc}")
                raise AirflowException(f"step '{self.step_name}': {JOB_CALLS[step.type]} failed: {exc}") from exc
        return self._wait_job(context, run, name, attempt=attempt, first_started=first_started)

    def _wait_job(self, context: Context, run: StepRun, name: str, *, attempt: int, first_started: float) -> Any:
        self._record_job(context, name=name, attempt=attempt)
        echo = {"phase": "job", "name": name, "attempt": attempt, "first_started": first_started}
        return self._wait(context, self._resource_trigger(self.step.type, name, echo=echo, describe_arguments=self._describe_arguments(run)))

    def _describe_arguments(self, run: StepRun) -> dict[str, Any]:
        """DescribeJob also takes the job's ``JobCategory``."""
        if self.step.type != "Job":
            return {}
        try:
            return {"JobCategory": run.resolver.resolve_arguments(self.step)["JobCategory"]}
        except (DefinitionError, KeyError):
            return {}


    def _job_done(self, context: Context, run: StepRun, event: dict[str, Any], echo: dict[str, Any]) -> Any:
        name, attempt, first_started = echo["name"], int(echo["attempt"]), float(echo["first_started"])
        if event["status"] != "succeeded":
            reason = event.get("failure_reason") or event.get("resource_status")
            policy = self._retry_policy(classify_failure(reason), attempt, first_started)
            if policy is not None:
                return self._schedule_retry(context, policy, attempt, first_started, f"job {name} failed: {reason}")
            status = event.get("resource_status")
            raise StepEnded(
                f"step '{self.step_name}': {self.step.type} job {name} ended {status}: {reason} (attempt {attempt})",
                status=STOPPED if status == "Stopped" else "Failed",
                properties=normalize_properties(self.step, event.get("described") or {}),
            )
        properties = normalize_properties(self.step, event["described"])
        files: dict[str, Any] = {}
        if self.step.type == "Processing":
            files = self._read_property_files(run, properties)
        elif self.step.type == "Tuning":
            properties["TrainingJobSummaries"] = self._tuning_summaries(run, name, properties)
        return self._finish(context, run, properties, files)


    def _read_property_files(self, run: StepRun, properties: Mapping[str, Any]) -> dict[str, Any]:
        files = {}
        for pfile in self.step.property_files:
            prefix = get_path(
                properties,
                parse_path(f"ProcessingOutputConfig.Outputs['{pfile.output_name}'].S3Output.S3Uri"),
                what=f"the outputs of step '{self.step_name}'",
                step=self.step_name,
                location="PropertyFiles",
            )
            uri = s3_join(str(prefix), pfile.file_path)
            try:
                files[pfile.name] = run._s3_json(uri)
            except KeyError:
                # Like the service's executor: a property file is only needed when a Std:JsonGet reads
                # it, and that read then fails with a message naming the file and the step.
                self.log.warning("Step %s did not write its property file '%s' (%s)", self.step_name, pfile.name, uri)
            except json.JSONDecodeError as exc:
                raise AirflowException(f"step '{self.step_name}': property file '{pfile.name}' at {uri} is not valid JSON: {exc}") from None
        return files

    def _tuning_summaries(self, run: StepRun, name: str, properties: Mapping[str, Any]) -> list[Any]:
        objective = (properties.get("HyperParameterTuningJobConfig") or {}).get("HyperParameterTuningJobObjective") or {}
        order = "Descending" if objective.get("Type") == "Maximize" else "Ascending"
        try:
            response = run.client("sagemaker").list_training_jobs_for_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=name, SortBy="FinalObjectiveMetricValue", SortOrder=order, MaxResults=50
            )
        except ClientError as exc:
            self.log.warning("Could not list the tuning job's training jobs: %s", exc)
            return []
        return json_safe(response.get("TrainingJobSummaries", []))
