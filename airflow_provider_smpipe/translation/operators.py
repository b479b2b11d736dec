"""The operators a translated pipeline is made of: one task per step.

Arguments are resolved by the definition core at run time from parameters, execution variables
and the XCom of upstream step tasks — never rendered as Jinja. Each task pushes its step's
properties (the Describe* response as plain JSON, Lambda/Callback ``OutputParameters``, a
Condition's ``Outcome``) as ``return_value``; Processing steps also push their property files.

Idempotency: job names are deterministic per (run, step, try, attempt). A task that runs again
while the job an earlier try created is still running (an Airflow retry, a worker crash) re-attaches
to that job instead of creating a second one; a task cleared after its job finished runs the step
again (that is what clearing asks for).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pendulum
from dataclasses import dataclass, field
from botocore.exceptions import ClientError

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, AirflowSkipException, BaseOperator, conf
from airflow.sdk.bases.branch import BaseBranchOperator

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.definition.expressions import render_join_value, s3_join
from airflow_provider_smpipe.definition.model import PipelineDefinition, RetryPolicy, Step, canonical_json
from airflow_provider_smpipe.definition.naming import job_name
from airflow_provider_smpipe.definition.paths import get_path, parse_path
from airflow_provider_smpipe.definition.properties import normalize_properties, output_parameters_map
from airflow_provider_smpipe.translation.runtime import PROPERTIES_KEY, PROPERTY_FILES_KEY, StepRun
from airflow_provider_smpipe.triggers.base import wait_inline
from airflow_provider_smpipe.triggers.job import KINDS, SageMakerResourceTrigger, status_of
from airflow_provider_smpipe.triggers.timer import DelayTrigger
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
}
CACHE_PREFIX = "smpipe_cache_"
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


@dataclass(frozen=True)
class TranslationSettings:
    """What every step task of one translated pipeline shares (one object for the whole DAG, so
    building a large DAG sets two attributes per task instead of a dozen).

    :param definition: the loaded definition.
    :param pipeline_name: ``Execution.PipelineName``.
    :param task_prefix: task-id prefix of the step tasks (a TaskGroup's ``group_id.``).
    :param start_time_from: ``run_start`` or ``logical_date`` for ``Execution.StartDateTime``.
    :param deferrable: wait for jobs in the triggerer.
    :param poll_interval: seconds between status checks.
    :param callback_reply_queue_url: where Callback answers arrive (default ``<SqsQueueUrl>-replies``).
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region.
    :param verify: TLS verification.
    :param botocore_config: botocore ``Config`` keyword arguments.
    """

    definition: PipelineDefinition
    pipeline_name: str
    task_prefix: str = ""
    start_time_from: str = "run_start"
    deferrable: bool = field(default_factory=lambda: conf.getboolean("operators", "default_deferrable", fallback=False))
    poll_interval: float = 30.0
    callback_reply_queue_url: str | None = None
    aws_conn_id: str | None = "aws_default"
    region_name: str | None = None
    verify: bool | str | None = None
    botocore_config: dict[str, Any] | None = None

    def aws(self) -> dict[str, Any]:
        """The AWS connection settings, as triggers and hooks take them."""
        return {"aws_conn_id": self.aws_conn_id, "region_name": self.region_name, "verify": self.verify, "botocore_config": self.botocore_config}


class _TranslatedStep(BaseOperator):
    """Shared construction (kept light: building a 1000-step DAG must stay cheap).

    :param settings: the pipeline-wide :class:`TranslationSettings`.
    :param step_name: the step this task runs.
    """

    template_fields = ()  # values come from params/XCom through the core's evaluator, never Jinja
    ui_color = "#e8f4ff"

    def __init__(self, *, settings: TranslationSettings, step_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.step_name = step_name

    definition = property(lambda self: self.settings.definition)
    pipeline_name = property(lambda self: self.settings.pipeline_name)
    task_prefix = property(lambda self: self.settings.task_prefix)
    start_time_from = property(lambda self: self.settings.start_time_from)
    deferrable = property(lambda self: self.settings.deferrable)
    poll_interval = property(lambda self: self.settings.poll_interval)
    callback_reply_queue_url = property(lambda self: self.settings.callback_reply_queue_url)
    aws_conn_id = property(lambda self: self.settings.aws_conn_id)
    region_name = property(lambda self: self.settings.region_name)
    verify = property(lambda self: self.settings.verify)
    botocore_config = property(lambda self: self.settings.botocore_config)

    @property
    def step(self) -> Step:
        return self.definition.steps[self.step_name]

    def _run(self, context: Context) -> StepRun:
        return StepRun(
            definition=self.definition,
            step=self.step,
            context=context,
            pipeline_name=self.pipeline_name,
            task_prefix=self.task_prefix,
            start_time_from=self.start_time_from,
            aws=self.settings.aws(),
        )

    def _selective(self, run: StepRun) -> str | None:
        """``"reused"``, ``"not_run"`` or ``None`` in a selective re-run."""
        plan = run.selection
        if plan is None or self.step_name in plan.selected:
            return None
        return "reused" if self.step_name in plan.reused else "not_run"

    def _reuse(self, run: StepRun, context: Context) -> Any:
        """Copy this step's outputs from the reference run (a non-selected upstream step)."""
        self.log.info("Selective re-run: reusing the outputs of step %s from run %s", self.step_name, run.reference_run_id)
        source = run.ti.xcom_pull(task_ids=self.task_id, key=PROPERTIES_KEY, run_id=run.reference_run_id)
        files = run.ti.xcom_pull(task_ids=self.task_id, key=PROPERTY_FILES_KEY, run_id=run.reference_run_id)
        if files:
            context["ti"].xcom_push(key=PROPERTY_FILES_KEY, value=files)
        return source

    def _resolve_failure(self, exc: DefinitionError) -> AirflowFailException:
        return AirflowFailException(f"step '{self.step_name}': {exc}")


class SageMakerPipelineStepOperator(_TranslatedStep):
    """Run one pipeline step (every supported type except Condition and Fail) and push its properties.

    Created by :func:`~airflow_provider_smpipe.translation.render.render_steps`, not by hand.

    :param settings: the pipeline-wide :class:`TranslationSettings`.
    :param step_name: the step this task runs.
    """

    def execute(self, context: Context) -> Any:
        run = self._run(context)
        mode = self._selective(run)
        if mode == "reused":
            return self._reuse(run, context)
        if mode == "not_run":
            raise AirflowSkipException(f"selective re-run: step '{self.step_name}' is downstream of the selection and does not run")
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

    # -- caching ---------------------------------------------------------------------------------

    def _cache_key(self, arguments: Mapping[str, Any]) -> str:
        request = {k: v for k, v in arguments.items() if k != self.step.info.name_key}
        return CACHE_PREFIX + hashlib.sha256(canonical_json({"type": self.step.type, "request": request}).encode()).hexdigest()[:32]

    def _cache_lookup(self, run: StepRun, arguments: Mapping[str, Any]) -> Any:
        config = self.step.cache_config
        if config is None or not config.enabled:
            return None
        hit = run.ti.xcom_pull(task_ids=self.task_id, key=self._cache_key(arguments), include_prior_dates=True)
        if not hit:
            return None
        expire = config.expire_after_duration()
        age = pendulum.now("UTC") - pendulum.parse(hit["completed_at"])
        if expire is not None and age > expire:
            self.log.info("Cache entry from run %s expired (%s old, ExpireAfter %s)", hit["run_id"], age, config.expire_after)
            return None
        self.log.info("Cache hit: reusing step %s of run %s (%s old)", self.step_name, hit["run_id"], age)
        if hit.get("property_files"):
            run.ti.xcom_push(key=PROPERTY_FILES_KEY, value=hit["property_files"])
        return hit["properties"]

    def _finish(self, context: Context, run: StepRun, properties: Any, property_files: Mapping[str, Any] | None = None) -> Any:
        """Push property files and the cache entry; the properties become the return value."""
        if property_files:
            context["ti"].xcom_push(key=PROPERTY_FILES_KEY, value=dict(property_files))
        if self.step.cache_config is not None and self.step.cache_config.enabled:
            arguments = run.resolver.resolve_arguments(self.step)
            entry = {
                "properties": properties,
                "property_files": dict(property_files or {}),
                "completed_at": pendulum.now("UTC").isoformat(),
                "run_id": run.run_id,
            }
            context["ti"].xcom_push(key=self._cache_key(arguments), value=entry)
        return properties

    # -- SageMaker jobs --------------------------------------------------------------------------

    def _job_name(self, run: StepRun, try_number: int, attempt: int) -> str:
        kept = self.step.arguments.get(self.step.info.name_key or "")
        prefix = str(run.resolver.resolve(kept)) if kept else None
        return job_name(self.step_name, run.execution_id, prefix=prefix, salt=f"{try_number}:{attempt}", step_type=self.step.type)

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
                    latest = (name, getattr(client, kind.describe)(**{kind.name_argument: name}))
                except ClientError:
                    break
            if latest is not None:
                status = status_of(kind, latest[1])
                if status not in kind.failed and status not in kind.succeeded:
                    return latest[0], json_safe(latest[1])
        return None

    def _start_job(self, context: Context, run: StepRun, *, attempt: int, first_started: float) -> Any:
        step = self.step
        kind = KINDS[step.type]
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
        echo = {"phase": "job", "name": name, "attempt": attempt, "first_started": first_started}
        return self._wait(context, self._resource_trigger(self.step.type, name, echo=echo))

    def _resource_trigger(self, step_type: str, name: str, *, echo: dict[str, Any], cluster_id: str | None = None) -> SageMakerResourceTrigger:
        return SageMakerResourceTrigger(
            step_type=step_type,
            name=name,
            cluster_id=cluster_id,
            echo=echo,
            poll_interval=self.poll_interval,
            **self.settings.aws(),
        )

    def _wait(self, context: Context, trigger: Any) -> Any:
        """Wait for ``trigger``'s event in the triggerer (deferrable) or here; then :meth:`resume`.
        What resume needs travels in the trigger's ``echo`` (defer kwargs are not always kept)."""
        if self.deferrable:
            self.defer(trigger=trigger, method_name="resume")
        return self.resume(context, wait_inline(trigger))

    def resume(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Continue after a wait (deferred or inline): a job ended, a retry delay passed, ..."""
        if not event or "echo" not in event:
            raise AirflowException(f"step '{self.step_name}': the wait ended without a usable event: {event!r}")
        echo = event["echo"]
        run = self._run(context)
        phase = echo["phase"]
        if phase == "retry":
            return self._start_job(context, run, attempt=int(echo["attempt"]), first_started=float(echo["first_started"]))
        if event.get("status") == "timeout":
            raise AirflowException(f"step '{self.step_name}': gave up waiting for {event.get('name')}")
        if event.get("status") == "error":
            raise AirflowException(f"step '{self.step_name}': cannot watch {event.get('name')}: {event.get('message')}")
        if phase == "job":
            return self._job_done(context, run, event, echo)
        if phase == "endpoint":
            return self._endpoint_done(context, run, event)
        if phase == "emr":
            return self._emr_done(context, run, event)
        if phase == "callback":
            return self._callback_done(context, run, event)
        raise AirflowException(f"step '{self.step_name}': unknown wait phase {phase!r}")

    def _job_done(self, context: Context, run: StepRun, event: dict[str, Any], echo: dict[str, Any]) -> Any:
        name, attempt, first_started = echo["name"], int(echo["attempt"]), float(echo["first_started"])
        if event["status"] != "succeeded":
            reason = event.get("failure_reason") or event.get("resource_status")
            policy = self._retry_policy(classify_failure(reason), attempt, first_started)
            if policy is not None:
                return self._schedule_retry(context, policy, attempt, first_started, f"job {name} failed: {reason}")
            raise AirflowException(f"step '{self.step_name}': {self.step.type} job {name} ended {event.get('resource_status')}: {reason} (attempt {attempt})")
        properties = normalize_properties(self.step, event["described"])
        files: dict[str, Any] = {}
        if self.step.type == "Processing":
            files = self._read_property_files(run, properties)
        elif self.step.type == "Tuning":
            properties["TrainingJobSummaries"] = self._tuning_summaries(run, name, properties)
        return self._finish(context, run, properties, files)

    def _retry_policy(self, exception_type: str, attempt: int, first_started: float) -> RetryPolicy | None:
        """The first policy matching ``exception_type``, if it allows another attempt."""
        for policy in self.step.retry_policies:
            if policy.matches(exception_type):
                allowed = policy.allows(attempt, time.time() - first_started)
                self.log.info("Retry policy for %s: %s after attempt %d", exception_type, "retrying" if allowed else "exhausted", attempt)
                return policy if allowed else None
        return None

    def _schedule_retry(self, context: Context, policy: RetryPolicy, attempt: int, first_started: float, why: str) -> Any:
        delay = policy.delay_before_retry(attempt)
        self.log.warning("Step %s: %s; attempt %d in %.1fs (retry policy)", self.step_name, why, attempt + 1, delay)
        echo = {"phase": "retry", "attempt": attempt + 1, "first_started": first_started}
        if self.deferrable and delay > 0:
            self.defer(trigger=DelayTrigger(until=time.time() + delay, echo=echo), method_name="resume")
        time.sleep(delay)
        return self.resume(context, {"status": "delay_done", "echo": echo})

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

    # -- resources created synchronously --------------------------------------------------------

    def _run_model(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        name = job_name(self.step_name, run.execution_id)  # per run: a re-run of the task finds it
        client = run.client("sagemaker")
        try:
            client.create_model(ModelName=name, **arguments)
        except ClientError as exc:
            if "exist" not in str(exc).lower():
                raise AirflowException(f"step '{self.step_name}': CreateModel failed: {exc}") from exc
        return json_safe(client.describe_model(ModelName=name))

    def _run_registermodel(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        client = run.client("sagemaker")
        token = hashlib.sha256(f"{run.execution_id}\0{self.step_name}".encode()).hexdigest()[:36]
        existing = self._find_registered(client, arguments, token)
        if existing is None:
            self._ensure_package_group(client, arguments.get("ModelPackageGroupName"))
            request = {**arguments, "CustomerMetadataProperties": {**(arguments.get("CustomerMetadataProperties") or {}), "smpipe-run": token}}
            arn = client.create_model_package(**request)["ModelPackageArn"]
        else:
            arn = existing
        return json_safe(client.describe_model_package(ModelPackageName=arn))

    def _ensure_package_group(self, client: Any, group: Any) -> None:
        """Create the model package group when it does not exist, as the pipeline service does."""
        if not isinstance(group, str) or group.startswith("arn:"):
            return
        try:
            client.describe_model_package_group(ModelPackageGroupName=group)
        except ClientError:
            self.log.info("Creating model package group %s", group)
            try:
                client.create_model_package_group(ModelPackageGroupName=group)
            except ClientError as exc:
                if "exist" not in str(exc).lower():
                    raise AirflowException(f"step '{self.step_name}': cannot create model package group {group}: {exc}") from exc

    def _find_registered(self, client: Any, arguments: Mapping[str, Any], token: str) -> str | None:
        """A package this run already registered (tagged with the run token), so a re-run does not
        register a second version."""
        group = arguments.get("ModelPackageGroupName")
        if not group:
            return None
        try:
            summaries = client.list_model_packages(ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending", MaxResults=20)
        except ClientError:
            return None
        for summary in summaries.get("ModelPackageSummaryList", []):
            described = client.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            if (described.get("CustomerMetadataProperties") or {}).get("smpipe-run") == token:
                return summary["ModelPackageArn"]
        return None

    def _run_endpointconfig(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        client = run.client("sagemaker")
        try:
            client.create_endpoint_config(**arguments)
        except ClientError as exc:
            if "exist" not in str(exc).lower():
                raise AirflowException(f"step '{self.step_name}': CreateEndpointConfig failed: {exc}") from exc
            self.log.info("Endpoint config %s exists; using it", arguments.get("EndpointConfigName"))
        return json_safe(client.describe_endpoint_config(EndpointConfigName=arguments["EndpointConfigName"]))

    def _run_endpoint(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        client = run.client("sagemaker")
        name = arguments["EndpointName"]
        try:
            client.describe_endpoint(EndpointName=name)
            client.update_endpoint(EndpointName=name, EndpointConfigName=arguments["EndpointConfigName"])
            self.log.info("Updating endpoint %s", name)
        except ClientError:
            client.create_endpoint(**arguments)
            self.log.info("Creating endpoint %s", name)
        return self._wait(context, self._resource_trigger("Endpoint", name, echo={"phase": "endpoint", "name": name}))

    def _endpoint_done(self, context: Context, run: StepRun, event: dict[str, Any]) -> Any:
        if event["status"] != "succeeded":
            raise AirflowException(f"step '{self.step_name}': endpoint {event['name']} is {event.get('resource_status')}: {event.get('failure_reason')}")
        return self._finish(context, run, event["described"])

    # -- Lambda, Callback, EMR ------------------------------------------------------------------

    def _run_lambda(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        response = run.client("lambda").invoke(FunctionName=fields["FunctionArn"], Payload=json.dumps(arguments).encode())
        body = response["Payload"].read()
        if response.get("FunctionError"):
            raise AirflowException(f"step '{self.step_name}': Lambda {fields['FunctionArn']} failed: {body[:500]!r}")
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError:
            raise AirflowException(f"step '{self.step_name}': Lambda returned something that is not JSON: {body[:200]!r}") from None
        if not isinstance(payload, dict):
            raise AirflowException(f"step '{self.step_name}': Lambda returned {type(payload).__name__}, expected a JSON object of outputs")
        declared = {p.name for p in self.step.output_parameters}
        missing = sorted(declared - set(payload))
        if missing:
            raise AirflowException(f"step '{self.step_name}': the Lambda response has no output(s) {missing}")
        return {"OutputParameters": output_parameters_map(self.step, {k: payload[k] for k in declared})}

    def _run_callback(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        from airflow_provider_smpipe.translation.callback import send_callback_request

        token, reply_queue = send_callback_request(run, self.step, fields["SqsQueueUrl"], arguments, self.callback_reply_queue_url)
        return self._wait(context, _callback_trigger(self, reply_queue, token, echo={"phase": "callback", "token": token}))

    def _callback_done(self, context: Context, run: StepRun, event: dict[str, Any]) -> Any:
        if event.get("status") == "failure":
            raise AirflowException(f"step '{self.step_name}': the Callback was answered with failure: {event.get('failure_reason')}")
        return self._finish(context, run, {"OutputParameters": output_parameters_map(self.step, event.get("output_parameters") or [])})

    def _run_emr(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        emr = run.client("emr")
        name = job_name(self.step_name, run.execution_id, salt=str(run.ti.try_number))
        step_config = {"Name": name, "ActionOnFailure": "CONTINUE", **arguments["StepConfig"]}
        if "ClusterId" in arguments:
            cluster = arguments["ClusterId"]
            request: dict[str, Any] = {"JobFlowId": cluster, "Steps": [step_config]}
            if arguments.get("ExecutionRoleArn"):
                request["ExecutionRoleArn"] = arguments["ExecutionRoleArn"]
            step_id = emr.add_job_flow_steps(**request)["StepIds"][0]
        else:
            config = dict(arguments["ClusterConfig"])
            instances = {**config.get("Instances", {}), "KeepJobFlowAliveWhenNoSteps": False}
            cluster = emr.run_job_flow(Name=name, Steps=[step_config], **{**config, "Instances": instances})["JobFlowId"]
            step_id = emr.list_steps(ClusterId=cluster)["Steps"][0]["Id"]
        self.log.info("EMR step %s (%s) on cluster %s", step_id, name, cluster)
        return self._wait(context, self._resource_trigger("EMR", step_id, cluster_id=cluster, echo={"phase": "emr", "name": step_id}))

    def _emr_done(self, context: Context, run: StepRun, event: dict[str, Any]) -> Any:
        if event["status"] != "succeeded":
            raise AirflowException(f"step '{self.step_name}': EMR step {event['name']} ended {event.get('resource_status')}: {event.get('failure_reason')}")
        return self._finish(context, run, event["described"].get("Step", {}))


class SageMakerPipelineConditionOperator(_TranslatedStep, BaseBranchOperator):
    """A Condition step: evaluates its conditions like the service and follows one branch.

    The steps of the branch not taken are skipped, and Airflow's skip propagation skips everything
    downstream of them (the service's semantics). Pushes ``{"Outcome": bool}`` as ``return_value``
    itself (created with ``do_xcom_push=False`` so the followed task ids never replace it).
    """

    ui_color = "#fff4d6"

    def choose_branch(self, context: Context) -> list[str]:
        run = self._run(context)
        step = self.step
        mode = self._selective(run)
        if mode == "not_run":
            raise AirflowSkipException(f"selective re-run: step '{self.step_name}' does not run")
        if mode == "reused":
            outcome = bool((self._reuse(run, context) or {}).get("Outcome"))
            resolved: list[Any] = []
        else:
            try:
                outcome, resolved = run.resolver.evaluate_conditions(step)
            except DefinitionError as exc:
                raise self._resolve_failure(exc) from None
        self.log.info("Condition %s evaluated %s: %s", self.step_name, outcome, json.dumps(resolved, default=str))
        # Pushed here, not returned: the branch machinery raises to report skipped tasks (so a return
        # value may never be pushed) and would otherwise push the followed task ids. Rendering sets
        # do_xcom_push=False on Condition tasks for the same reason.
        context["ti"].xcom_push(key=PROPERTIES_KEY, value={"Outcome": outcome})
        skipped = set(step.else_steps if outcome else step.if_steps)
        return [self.task_prefix + name for name in sorted(self.definition.graph.downstream[self.step_name]) if name not in skipped]


class SageMakerPipelineFailOperator(_TranslatedStep):
    """A Fail step: fails the task, and so the run, with the resolved ``ErrorMessage``."""

    ui_color = "#ffe0e0"

    def execute(self, context: Context) -> None:
        run = self._run(context)
        if self._selective(run) is not None:
            raise AirflowSkipException(f"selective re-run: step '{self.step_name}' is not selected")
        try:
            value = run.resolver.resolve(self.step.arguments.get("ErrorMessage", ""), step=self.step, location=f"{self.step.location}.Arguments.ErrorMessage")
        except DefinitionError as exc:
            raise self._resolve_failure(exc) from None
        message = value if isinstance(value, str) else render_join_value(value, step=self.step_name, location="ErrorMessage")
        raise AirflowFailException(f"Step '{self.step_name}' failed with message: {message}")


def _callback_trigger(operator: SageMakerPipelineStepOperator, reply_queue: str, token: str, *, echo: dict[str, Any]) -> Any:
    from airflow_provider_smpipe.triggers.callback_reply import CallbackReplyTrigger

    return CallbackReplyTrigger(
        queue_url=reply_queue,
        token=token,
        echo=echo,
        poll_interval=operator.poll_interval,
        **operator.settings.aws(),
    )
