"""``SageMakerPipelineHook``: every SageMaker Pipelines API call the provider makes.

Built on the amazon provider's ``AwsBaseHook`` (connection ``aws``, ``endpoint_url`` in the
connection extra, region, ``verify``, botocore config). Throttling is left to botocore's retry
handler: unless the caller passes its own ``retries`` config the hook uses the ``adaptive`` mode with
10 attempts, which backs off and rate-limits on ``ThrottlingException``.

Inputs are checked against the pipeline definition *before* any call that starts work: parameter
overrides (names, declared types, ``EnumValues``) and selected steps (the service's selective
execution rules) go through the definition core, so a typo never starts an execution.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError, SelectionError
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import PipelineDefinition, canonical_json
from airflow_provider_smpipe.definition.parameters import to_start_parameters
from airflow_provider_smpipe.definition.selective import plan_selective_execution
from airflow_provider_smpipe.hooks.start_request import check_start_inputs
from airflow_provider_smpipe.utils.jsonsafe import json_safe
from airflow_provider_smpipe.utils.reporting import (
    ACTIVE_STATUSES,
    COMPLETED_WITH_FAILURES,
    TERMINAL_STATUSES,
    failure_handlers,
    is_terminal,
    step_table,
)

#: CreatePipeline / UpdatePipeline take at most this many characters inline (service limit, botocore).
INLINE_DEFINITION_LIMIT = 100 * 1024
DEFAULT_RETRIES = {"mode": "adaptive", "max_attempts": 10}
#: How the service (ResourceNotFound) and moto (ValidationException) word a missing pipeline.
NOT_FOUND_PHRASES = ("does not exist", "not found", "could not find")
EXECUTION_SELECTORS = ("latest", "latest-succeeded", "latest-failed", "latest-stopped", "latest-completed-with-failures")
#: The final status each selector looks for (``latest``: any status).
SELECTOR_STATUSES = {
    "latest-succeeded": "Succeeded",
    "latest-failed": "Failed",
    "latest-stopped": "Stopped",
    "latest-completed-with-failures": COMPLETED_WITH_FAILURES,
}
#: StartPipelineExecution's ``MlflowExperimentName`` length bounds (botocore ``MlflowExperimentEntityName``).
MLFLOW_EXPERIMENT_NAME_LENGTH = (1, 256)


def with_default_retries(config: Config | dict[str, Any] | None) -> Config:
    """botocore config with the adaptive retry mode unless the caller chose its own retries."""
    if config is None:
        return Config(retries=dict(DEFAULT_RETRIES))
    if isinstance(config, dict):
        return Config(**{"retries": dict(DEFAULT_RETRIES), **config})
    return config


def service_hook(client_type: str, **kwargs: Any) -> AwsBaseHook:
    """An ``AwsBaseHook`` for another service (S3, SQS, EMR, Lambda) with the same retry defaults."""
    kwargs["config"] = with_default_retries(kwargs.get("config"))
    return AwsBaseHook(client_type=client_type, **kwargs)


def check_mlflow_experiment_name(value: Any, argument: str = "mlflow_experiment_name") -> str | None:
    """``value`` if it is ``None`` or a string of 1 to 256 characters (what StartPipelineExecution's
    ``MlflowExperimentName`` accepts); a :class:`DefinitionError` naming ``argument`` otherwise."""
    if value is None:
        return None
    low, high = MLFLOW_EXPERIMENT_NAME_LENGTH
    if not isinstance(value, str):
        raise DefinitionError(f"{argument} is {type(value).__name__} {value!r}", location=argument, expected=f"a string of {low} to {high} characters")
    if not low <= len(value) <= high:
        raise DefinitionError(f"{argument} has {len(value)} characters", location=argument, expected=f"{low} to {high} characters")
    return value


class PipelineNotFoundError(DefinitionError):
    """The named pipeline does not exist (in this account and region)."""


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


class SageMakerPipelineHook(AwsBaseHook):
    """Interact with SageMaker Pipelines.

    Takes the usual ``AwsBaseHook`` arguments (``aws_conn_id``, ``region_name``, ``verify``,
    ``config``). Every list call reads all pages.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["config"] = with_default_retries(kwargs.get("config"))
        kwargs["client_type"] = "sagemaker"
        super().__init__(*args, **kwargs)

    # -- definitions ----------------------------------------------------------------------------

    @staticmethod
    def load_definition_document(definition: Mapping[str, Any] | str | Path) -> dict[str, Any]:
        """Validate a definition (dict, JSON text or file path) and return it as a dict.

        :raises InvalidDefinitionError: listing every problem, before anything is sent to AWS.
        """
        return dict(load_definition(definition).raw)

    def get_pipeline(self, pipeline_name: str, pipeline_version_id: int | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"PipelineName": pipeline_name}
        if pipeline_version_id is not None:
            kwargs["PipelineVersionId"] = pipeline_version_id
        try:
            return self.conn.describe_pipeline(**kwargs)
        except ClientError as exc:
            message = _error_message(exc).lower()
            if _error_code(exc) == "ResourceNotFound" or any(p in message for p in NOT_FOUND_PHRASES):
                raise PipelineNotFoundError(
                    f"pipeline '{pipeline_name}' does not exist: {_error_message(exc)}",
                    expected="an existing pipeline (create it with SageMakerPipelineUpsertOperator)",
                ) from None
            raise

    def get_definition(self, pipeline_name: str, pipeline_version_id: int | None = None) -> PipelineDefinition:
        """The pipeline's current (or given version's) definition, loaded by the core."""
        described = self.get_pipeline(pipeline_name, pipeline_version_id)
        text = described.get("PipelineDefinition")
        if not text:
            raise DefinitionError(f"DescribePipeline returned no definition for '{pipeline_name}'")
        return load_definition(text)

    def upsert_pipeline(
        self,
        pipeline_name: str,
        definition: Mapping[str, Any] | str | Path,
        role_arn: str,
        *,
        description: str | None = None,
        display_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parallelism: int | None = None,
        definition_s3_bucket: str | None = None,
        definition_s3_key: str | None = None,
    ) -> dict[str, Any]:
        """Create the pipeline, or update it when something changed.

        The definition is compared *semantically* (parsed JSON, key order and whitespace ignored)
        with the deployed one, together with role, description, display name and parallelism; when
        all are equal no update call is made. ``definition`` may be a dict, JSON text, a file path or
        an ``s3://bucket/key`` URI (read when the task runs, never at DAG parse time). A definition over 100 KiB is uploaded to
        ``definition_s3_bucket`` (required then) and passed as ``PipelineDefinitionS3Location``.

        :return: ``{"pipeline_arn": str, "created": bool, "changed": bool}`` (plain JSON).
        """
        if isinstance(definition, str) and definition.startswith("s3://"):
            definition = self.read_s3_text(definition)
        document = self.load_definition_document(definition)
        text = json.dumps(document, separators=(",", ":"))
        try:
            existing: dict[str, Any] | None = self.get_pipeline(pipeline_name)
        except PipelineNotFoundError:
            existing = None
        request: dict[str, Any] = {"PipelineName": pipeline_name, "RoleArn": role_arn}
        if description is not None:
            request["PipelineDescription"] = description
        if display_name is not None:
            request["PipelineDisplayName"] = display_name
        if parallelism is not None:
            request["ParallelismConfiguration"] = {"MaxParallelExecutionSteps": int(parallelism)}
        if existing is not None and not self._pipeline_differs(existing, document, request):
            self.log.info("Pipeline %s is unchanged; not updating it", pipeline_name)
            return {"pipeline_arn": existing["PipelineArn"], "created": False, "changed": False}
        request.update(self._definition_argument(pipeline_name, text, definition_s3_bucket, definition_s3_key))
        if existing is None:
            if tags:
                request["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
            request["ClientRequestToken"] = request_token("create", pipeline_name, canonical_json(document))
            arn = self.conn.create_pipeline(**request)["PipelineArn"]
            self.log.info("Created pipeline %s (%s)", pipeline_name, arn)
            return {"pipeline_arn": arn, "created": True, "changed": True}
        arn = self.conn.update_pipeline(**request)["PipelineArn"]
        if tags:
            self.conn.add_tags(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        self.log.info("Updated pipeline %s (%s)", pipeline_name, arn)
        return {"pipeline_arn": arn, "created": False, "changed": True}

    @staticmethod
    def _pipeline_differs(existing: Mapping[str, Any], document: Mapping[str, Any], request: Mapping[str, Any]) -> bool:
        try:
            deployed = json.loads(existing.get("PipelineDefinition") or "null")
        except json.JSONDecodeError:
            return True
        if canonical_json(deployed) != canonical_json(document):
            return True
        for key in ("RoleArn", "PipelineDescription", "PipelineDisplayName", "ParallelismConfiguration"):
            if key in request and request[key] != existing.get(key):
                return True
        return False

    def _s3(self) -> Any:
        return service_hook("s3", aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify).conn

    def read_s3_text(self, uri: str) -> str:
        """The text of ``s3://bucket/key`` (a definition kept in S3); a clear error when absent."""
        bucket, _, key = uri[len("s3://") :].partition("/")
        try:
            return self._s3().get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        except ClientError as exc:
            raise DefinitionError(f"cannot read the definition at {uri}: {_error_message(exc) or _error_code(exc)}", location=uri) from None

    def _definition_argument(self, pipeline_name: str, text: str, bucket: str | None, key: str | None) -> dict[str, Any]:
        if len(text.encode()) < INLINE_DEFINITION_LIMIT:
            return {"PipelineDefinition": text}
        if not bucket:
            raise DefinitionError(
                f"the definition of '{pipeline_name}' is {len(text.encode())} bytes, over the {INLINE_DEFINITION_LIMIT}-byte inline limit",
                expected="definition_s3_bucket to upload it to",
            )
        object_key = key or f"{pipeline_name}/definition-{request_token('def', text)[:16]}.json"
        self._s3().put_object(Bucket=bucket, Key=object_key, Body=text.encode())
        return {"PipelineDefinitionS3Location": {"Bucket": bucket, "ObjectKey": object_key}}

    # -- executions -----------------------------------------------------------------------------

    def build_start_request(
        self,
        pipeline_name: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        display_name: str | None = None,
        description: str | None = None,
        parallelism: int | None = None,
        selected_steps: Sequence[str] | None = None,
        source_execution_arn: str | None = None,
        client_request_token: str | None = None,
        pipeline_version_id: int | None = None,
        definition: PipelineDefinition | None = None,
        mlflow_experiment_name: str | None = None,
    ) -> dict[str, Any]:
        """Check every input against the pipeline definition and build the StartPipelineExecution
        request. Makes one DescribePipeline call (unless ``definition`` is given) and nothing else.

        ``mlflow_experiment_name`` becomes ``MlflowExperimentName`` (the MLflow experiment this
        execution logs to instead of the definition's ``MlflowConfig`` one); its length (1-256) is
        checked before any call. A pipeline whose definition has no ``MlflowConfig`` gets it too,
        with a warning: what the service does then is not documented.

        The shapes of the inputs are checked first, before any call
        (:func:`~airflow_provider_smpipe.hooks.start_request.check_start_inputs`).

        :raises InvalidDefinitionError: unknown or badly typed parameters, bad selected steps.
        :raises DefinitionError: ``mlflow_experiment_name`` is not 1 to 256 characters.
        """
        mlflow_experiment_name = check_mlflow_experiment_name(mlflow_experiment_name)
        inputs = check_start_inputs(
            parameters=parameters, parallelism=parallelism, selected_steps=selected_steps, source_execution=source_execution_arn
        )
        parameters, parallelism, selected_steps, source_execution_arn = inputs.parameters, inputs.parallelism, inputs.selected_steps, inputs.source_execution
        definition = definition or self.get_definition(pipeline_name, pipeline_version_id)
        request: dict[str, Any] = {"PipelineName": pipeline_name}
        request["PipelineParameters"] = to_start_parameters(definition.parameters, parameters)
        if display_name:
            request["PipelineExecutionDisplayName"] = display_name
        if description:
            request["PipelineExecutionDescription"] = description
        if parallelism is not None:
            request["ParallelismConfiguration"] = {"MaxParallelExecutionSteps": parallelism}
        if selected_steps:
            plan = plan_selective_execution(definition, selected_steps)
            if plan.needs_reference and not source_execution_arn:
                raise InvalidDefinitionError(
                    [
                        SelectionError(
                            f"selected steps depend on steps that are not selected ({', '.join(sorted(plan.reused))})",
                            location="source_execution",
                            expected="a reference execution whose outputs they reuse",
                        )
                    ],
                    what="selective execution request",
                )
            config: dict[str, Any] = {"SelectedSteps": [{"StepName": s} for s in selected_steps]}
            if source_execution_arn:
                config["SourcePipelineExecutionArn"] = source_execution_arn
            request["SelectiveExecutionConfig"] = config
        if client_request_token:
            request["ClientRequestToken"] = client_request_token
        if pipeline_version_id is not None:
            request["PipelineVersionId"] = pipeline_version_id
        if mlflow_experiment_name is not None:
            if not definition.raw.get("MlflowConfig"):
                self.log.warning(
                    "Pipeline %s has no MlflowConfig in its definition; sending MlflowExperimentName %r anyway", pipeline_name, mlflow_experiment_name
                )
            request["MlflowExperimentName"] = mlflow_experiment_name
        return request

    def start_execution(self, request: Mapping[str, Any]) -> str:
        """Send a request built by :meth:`build_start_request`; return the execution ARN."""
        arn = self.conn.start_pipeline_execution(**request)["PipelineExecutionArn"]
        self.log.info("Started pipeline execution %s", arn)
        return arn

    def describe_execution(self, execution_arn: str) -> dict[str, Any]:
        return self.conn.describe_pipeline_execution(PipelineExecutionArn=execution_arn)

    def list_steps(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every step of the execution (all pages)."""
        paginator = self.conn.get_paginator("list_pipeline_execution_steps")
        return [s for page in paginator.paginate(PipelineExecutionArn=execution_arn) for s in page.get("PipelineExecutionSteps", [])]

    def step_table(self, execution_arn: str) -> list[dict[str, Any]]:
        """The plain-JSON step table (ForEach children included; see ``utils.reporting.step_row``)."""
        return step_table(self.list_steps(execution_arn))

    def get_execution_definition(self, execution_arn: str) -> PipelineDefinition:
        """The definition an execution runs (DescribePipelineDefinitionForExecution: later
        ``UpdatePipeline`` calls do not change it), loaded by the core."""
        text = self.conn.describe_pipeline_definition_for_execution(PipelineExecutionArn=execution_arn)["PipelineDefinition"]
        return load_definition(text)

    def list_parameters(self, execution_arn: str) -> dict[str, str]:
        """The parameters the execution actually ran with (all pages), as ``{name: value}``."""
        paginator = self.conn.get_paginator("list_pipeline_parameters_for_execution")
        return {
            p["Name"]: p["Value"]
            for page in paginator.paginate(PipelineExecutionArn=execution_arn)
            for p in page.get("PipelineParameters", [])
        }

    def iter_executions(self, pipeline_name: str, **filters: Any) -> Iterator[dict[str, Any]]:
        """Execution summaries, newest first (``CreatedAfter``/``CreatedBefore`` filters accepted)."""
        paginator = self.conn.get_paginator("list_pipeline_executions")
        for page in paginator.paginate(PipelineName=pipeline_name, SortBy="CreationTime", SortOrder="Descending", **filters):
            yield from page.get("PipelineExecutionSummaries", [])

    def find_execution(self, pipeline_name: str, which: str = "latest") -> dict[str, Any] | None:
        """The newest execution summary of the pipeline (``latest``) or the newest with a given
        final status (``latest-succeeded``, ``latest-failed``, ``latest-stopped``,
        ``latest-completed-with-failures``); ``None`` if none. ``latest-failed`` means the status
        ``Failed`` only: an execution that ended ``CompletedWithFailures`` is not matched by it."""
        if which not in EXECUTION_SELECTORS:
            raise DefinitionError(f"unknown execution selector {which!r}", expected=", ".join(EXECUTION_SELECTORS) + " or an execution ARN")
        wanted = SELECTOR_STATUSES.get(which)
        for summary in self.iter_executions(pipeline_name):
            if wanted is None or summary.get("PipelineExecutionStatus") == wanted:
                return summary
        return None

    def resolve_execution_arn(self, pipeline_name: str | None, execution: str) -> str:
        """An ARN as given, or the ARN a selector (``latest``, ``latest-failed``, ...) points at."""
        if execution.startswith("arn:"):
            return execution
        if not pipeline_name:
            raise DefinitionError(f"execution selector {execution!r} needs a pipeline name")
        summary = self.find_execution(pipeline_name, execution)
        if summary is None:
            raise DefinitionError(f"pipeline '{pipeline_name}' has no execution matching '{execution}'", expected="an earlier execution")
        return summary["PipelineExecutionArn"]

    def stop_execution(self, execution_arn: str, *, attempts: int = 5, delay: float = 0.5) -> str:
        """Stop an execution; return its status afterwards.

        Tolerates the transient ``ConflictException`` the service returns while an execution is
        changing state (retried with backoff), and an execution that already ended (its final
        status is returned instead of an error).
        """
        for attempt in range(1, attempts + 1):
            try:
                self.conn.stop_pipeline_execution(PipelineExecutionArn=execution_arn, ClientRequestToken=request_token("stop", execution_arn))
                break
            except ClientError as exc:
                code = _error_code(exc)
                if code == "ConflictException" and attempt < attempts:
                    time.sleep(delay * 2 ** (attempt - 1))
                    continue
                status = self.describe_execution(execution_arn)["PipelineExecutionStatus"]
                if code in ("ValidationException", "ConflictException") and (status in TERMINAL_STATUSES or status == "Stopping"):
                    self.log.info("Execution %s is already %s; nothing to stop", execution_arn, status)
                    return status
                raise
        return self.describe_execution(execution_arn)["PipelineExecutionStatus"]

    def retry_execution(self, execution_arn: str, *, parallelism: int | None = None, client_request_token: str | None = None) -> str:
        """RetryPipelineExecution: re-runs the failed steps in place; returns the (same) ARN."""
        request: dict[str, Any] = {"PipelineExecutionArn": execution_arn}
        request["ClientRequestToken"] = client_request_token or request_token("retry", execution_arn, str(time.time_ns()))
        if parallelism is not None:
            request["ParallelismConfiguration"] = {"MaxParallelExecutionSteps": int(parallelism)}
        return self.conn.retry_pipeline_execution(**request)["PipelineExecutionArn"]

    def send_step_success(self, callback_token: str, output_parameters: Mapping[str, Any] | None = None, *, client_request_token: str | None = None) -> str:
        params = [{"Name": str(k), "Value": wire_value(v)} for k, v in (output_parameters or {}).items()]
        return self.conn.send_pipeline_execution_step_success(
            CallbackToken=callback_token,
            OutputParameters=params,
            ClientRequestToken=client_request_token or request_token("success", callback_token),
        )["PipelineExecutionArn"]

    def send_step_failure(self, callback_token: str, reason: str, *, client_request_token: str | None = None) -> str:
        return self.conn.send_pipeline_execution_step_failure(
            CallbackToken=callback_token,
            FailureReason=reason[:256],
            ClientRequestToken=client_request_token or request_token("failure", callback_token),
        )["PipelineExecutionArn"]

    def execution_summary(self, execution_arn: str) -> dict[str, Any]:
        """Plain-JSON summary: ARN, status, failure reason, step table, parameters used, the
        execution's ``MLflowConfig`` (``mlflow_config``, ``None`` when absent) and, for
        ``CompletedWithFailures``, which steps handled which failure (``handled_failures``; one
        DescribePipelineDefinitionForExecution call, only then)."""
        described = self.describe_execution(execution_arn)
        status = described.get("PipelineExecutionStatus")
        steps = self.step_table(execution_arn)
        handled: list[dict[str, Any]] = []
        if status == COMPLETED_WITH_FAILURES:
            handled = failure_handlers(self.get_execution_definition(execution_arn), steps)
        return {
            "execution_arn": execution_arn,
            "pipeline_arn": described.get("PipelineArn"),
            "status": status,
            "failure_reason": described.get("FailureReason"),
            "steps": steps,
            "parameters": self.list_parameters(execution_arn),
            "mlflow_config": json_safe(described["MLflowConfig"]) if described.get("MLflowConfig") else None,
            "handled_failures": handled,
        }

    def setup_event_queue(
        self, queue_name: str, pipeline_names: Sequence[str] | None = None, rule_name: str | None = None, **kw: Any
    ) -> dict[str, Any]:
        """Deliver SageMaker pipeline events to an SQS queue: create (or find) the queue, its
        policy, the EventBridge rule and its target, with this hook's connection (``endpoint_url``
        and region from it). Idempotent. See :func:`airflow_provider_smpipe.events.setup.setup_event_queue`.

        :param queue_name: a standard SQS queue's name.
        :param pipeline_names: only these pipelines' events (looked up with DescribePipeline);
            ``None``: every pipeline's.
        :param rule_name: the EventBridge rule's name (default ``smpipe-<queue>``).
        :param kw: ``pipeline_arns``, ``retention_seconds``, ``visibility_timeout``, ``event_kinds``.
        :returns: ``queue_url``, ``queue_arn``, ``rule_name``, ``rule_arn``, ``event_pattern``, ...
        """
        # Imported here to keep this method self-contained: the module is pure boto3.
        from airflow_provider_smpipe.events.setup import setup_event_queue

        def client(service: str) -> Any:
            return service_hook(service, aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify).conn

        return setup_event_queue(
            sqs_client=client("sqs"),
            events_client=client("events"),
            sagemaker_client=self.conn,
            queue_name=queue_name,
            pipeline_names=pipeline_names,
            rule_name=rule_name,
            **kw,
        )

    @staticmethod
    def is_active(status: str) -> bool:
        return status in ACTIVE_STATUSES

    @staticmethod
    def is_terminal(status: str) -> bool:
        """Whether an execution in ``status`` has ended. Statuses this version does not know count
        as ended (and, everywhere in this provider, as failures): never as still running forever."""
        return is_terminal(status)


def wire_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def request_token(*parts: str) -> str:
    """A deterministic ClientRequestToken (32-128 characters) from ``parts``."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:64]
