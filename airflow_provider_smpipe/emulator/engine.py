"""The execution engine: walks a pipeline definition with the definition core, for real.

One :class:`Engine` holds every execution of the server. An :class:`Execution` is scheduled
event-driven: whenever it starts, a step ends, it is retried or its parallelism changes,
``_schedule`` starts every step whose upstream steps all succeeded (document order among ready steps,
at most ``MaxParallelExecutionSteps`` at once), each in its own thread. A step thread resolves the
step's arguments with the core's :class:`~airflow_provider_smpipe.definition.expressions.Resolver`,
does what the service would do for the step type against moto (create the job, send the SQS
message, ...), waits as long as the scenario says, and records the outcome. Nothing here holds the
engine lock while it talks to moto over HTTP.

Service rules implemented (see docs/emulator.md for the full list and what is approximate):

* A failed step (or a Fail step) stops new steps from starting; running steps finish; the
  execution then ends ``Failed`` with ``FailureReason`` "Step failure: One or multiple steps failed.".
* A Condition step skips the branch it does not take and everything downstream of that branch.
* ``StopPipelineExecution``: ``Stopping`` until every running step has stopped (Lambda steps run to
  the end; Callback steps get a ``"Stopping"`` SQS message and wait for their answer), then ``Stopped``.
* ``RetryPipelineExecution``: same ARN; failed steps re-run with their ``AttemptCount`` carried on;
  steps that never started start; succeeded steps keep their outputs.
* RetryPolicies, CacheConfig and SelectiveExecutionConfig as documented in docs/emulator.md.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import secrets
import string
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError
from airflow_provider_smpipe.definition.expressions import Resolver, render_join_value, s3_join
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import PipelineDefinition, PropertyFile, RetryPolicy, Step, canonical_json
from airflow_provider_smpipe.definition.naming import job_name as core_job_name
from airflow_provider_smpipe.definition.naming import sanitize_name_part
from airflow_provider_smpipe.definition.parameters import resolve_parameters, to_wire_string
from airflow_provider_smpipe.definition.properties import normalize_properties, output_parameters_map, synthesize_properties
from airflow_provider_smpipe.definition.selective import plan_selective_execution
from airflow_provider_smpipe.emulator.errors import ConflictException, ResourceNotFound, ValidationException
from airflow_provider_smpipe.emulator.gateway import Gateway, json_safe, sagemaker_backend
from airflow_provider_smpipe.emulator.jobs import (
    JobOutputError,
    automl_candidate,
    deep_merge,
    final_metric_data_list,
    normalize_moto_job,
    patch_moto_tuning,
    set_moto_job_status,
    tuning_results,
    wire_outputs,
    write_files,
)
from airflow_provider_smpipe.emulator.scenario import Scenario, StepScript

log = logging.getLogger(__name__)

EXECUTION_TERMINAL = frozenset({"Succeeded", "Failed", "Stopped"})
STEP_TERMINAL = frozenset({"Succeeded", "Failed", "Stopped"})
STEP_FAILURE_REASON = "Step failure: One or multiple steps failed."
ID_ALPHABET = string.ascii_lowercase + string.digits
TOKEN_ALPHABET = string.ascii_letters + string.digits

#: Step type -> (describe method, name member of the request/describe call, ARN member of the describe response)
DESCRIBE = {
    "Processing": ("describe_processing_job", "ProcessingJobName", "ProcessingJobArn"),
    "QualityCheck": ("describe_processing_job", "ProcessingJobName", "ProcessingJobArn"),
    "ClarifyCheck": ("describe_processing_job", "ProcessingJobName", "ProcessingJobArn"),
    "Training": ("describe_training_job", "TrainingJobName", "TrainingJobArn"),
    "Transform": ("describe_transform_job", "TransformJobName", "TransformJobArn"),
    "Tuning": ("describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName", "HyperParameterTuningJobArn"),
    "Model": ("describe_model", "ModelName", "ModelArn"),
    "EndpointConfig": ("describe_endpoint_config", "EndpointConfigName", "EndpointConfigArn"),
    "Endpoint": ("describe_endpoint", "EndpointName", "EndpointArn"),
}
#: Job name length limits that are shorter than the general 63 characters.
#: Step types the emulator synthesises because moto has no API for them.
SYNTHESIZED = ("AutoML", "InferenceComponent", "Lineage")


def now() -> float:
    return time.time()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


def random_id(length: int = 12, alphabet: str = ID_ALPHABET) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


class StepFailed(Exception):
    """Ends a step attempt as Failed; ``exception_type`` is matched against the RetryPolicies."""

    def __init__(self, reason: str, exception_type: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exception_type = exception_type


class StepStopped(Exception):
    """The execution was stopped while the step ran."""


@dataclass
class StepRun:
    """One row of ListPipelineExecutionSteps."""

    name: str
    type: str
    display_name: str | None = None
    description: str | None = None
    status: str = "Starting"
    created: float = field(default_factory=now)
    start_time: float = field(default_factory=now)
    end_time: float | None = None
    attempt_count: int = 1
    failure_reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    cache_source: str | None = None
    selective_source: str | None = None
    job_name: str | None = None
    request: Any = None
    properties: Any = None
    cache_key: str | None = None
    callback_token: str | None = None
    notes: list[str] = field(default_factory=list)

    def finish(self, status: str, reason: str | None = None) -> None:
        self.status = status
        self.end_time = now()
        if reason is not None:
            self.failure_reason = reason[:1024]

    def wire(self) -> dict[str, Any]:
        item: dict[str, Any] = {"StepName": self.name}
        if self.display_name:
            item["StepDisplayName"] = self.display_name[:256]
        if self.description:
            item["StepDescription"] = self.description[:3072]
        item["StartTime"] = self.start_time
        if self.end_time is not None:
            item["EndTime"] = self.end_time
        item["StepStatus"] = self.status
        if self.cache_source:
            item["CacheHitResult"] = {"SourcePipelineExecutionArn": self.cache_source}
        if self.failure_reason and self.status in ("Failed", "Stopped"):
            item["FailureReason"] = self.failure_reason
        if self.metadata:
            item["Metadata"] = copy.deepcopy(self.metadata)
        item["AttemptCount"] = self.attempt_count
        if self.selective_source:
            item["SelectiveExecutionResult"] = {"SourcePipelineExecutionArn": self.selective_source}
        return item

    def state(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "status": self.status,
            "attempt_count": self.attempt_count,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "failure_reason": self.failure_reason,
            "job_name": self.job_name,
            "request": self.request,
            "properties": self.properties,
            "metadata": self.metadata,
            "cache_source": self.cache_source,
            "selective_source": self.selective_source,
            "notes": list(self.notes),
        }


@dataclass
class CacheEntry:
    key: str
    execution_arn: str
    finished: float
    properties: Any
    metadata: dict[str, Any]
    job_name: str | None


class Execution:
    """One pipeline execution. Every attribute is guarded by ``engine.lock``."""

    def __init__(
        self,
        engine: Engine,
        *,
        execution_id: str,
        arn: str,
        pipeline_name: str,
        pipeline_arn: str,
        account: str,
        region: str,
        definition: PipelineDefinition,
        definition_text: str,
        parameters: dict[str, Any],
        wire_parameters: list[dict[str, str]],
        display_name: str,
        description: str | None,
        parallelism: int | None,
        explicit_parallelism: dict[str, Any] | None,
        selective_config: dict[str, Any] | None,
        pipeline_version_id: int | None,
        scenario: Scenario,
    ) -> None:
        self.engine = engine
        self.id = execution_id
        self.arn = arn
        self.pipeline_name = pipeline_name
        self.pipeline_arn = pipeline_arn
        self.account = account
        self.region = region
        self.definition = definition
        self.definition_text = definition_text
        self.parameters = parameters
        self.wire_parameters = wire_parameters
        self.display_name = display_name
        self.description = description
        self.parallelism = parallelism
        self.explicit_parallelism = explicit_parallelism
        self.selective_config = selective_config
        self.pipeline_version_id = pipeline_version_id
        self.scenario = scenario
        self.created = now()
        self.last_modified = self.created
        self.status = "Executing"
        self.failure_reason: str | None = None
        self.runs: dict[str, StepRun] = {}
        self.history: list[dict[str, Any]] = []
        self.properties: dict[str, Any] = {}
        self.skipped: dict[str, str] = {}
        self.excluded: set[str] = set()
        self.prior_attempts: dict[str, int] = {}
        self.stop_event = threading.Event()
        self.stop_tokens: set[str] = set()
        self.retry_tokens: set[str] = set()
        self.experiment_config: dict[str, str] | None = None
        self.execution_variables = {
            "PipelineName": pipeline_name,
            "PipelineArn": pipeline_arn,
            "PipelineExecutionId": execution_id,
            "PipelineExecutionArn": arn,
            "StartDateTime": iso(self.created),
        }

    # -- wire forms --------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "PipelineArn": self.pipeline_arn,
            "PipelineExecutionArn": self.arn,
            "PipelineExecutionDisplayName": self.display_name,
            "PipelineExecutionStatus": self.status,
        }
        if self.description is not None:
            out["PipelineExecutionDescription"] = self.description
        if self.experiment_config:
            out["PipelineExperimentConfig"] = dict(self.experiment_config)
        if self.failure_reason:
            out["FailureReason"] = self.failure_reason[:1300]
        identity = {"IamIdentity": {"Arn": f"arn:aws:sts::{self.account}:user/moto", "PrincipalId": "AKIAIOSFODNN7EXAMPLE"}}
        out.update(CreationTime=self.created, LastModifiedTime=self.last_modified, CreatedBy=identity, LastModifiedBy=identity)
        if self.explicit_parallelism:
            out["ParallelismConfiguration"] = dict(self.explicit_parallelism)
        if self.selective_config:
            out["SelectiveExecutionConfig"] = copy.deepcopy(self.selective_config)
        if self.pipeline_version_id is not None:
            out["PipelineVersionId"] = self.pipeline_version_id
        return out

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "PipelineExecutionArn": self.arn,
            "StartTime": self.created,
            "PipelineExecutionStatus": self.status,
        }
        if self.description is not None:
            out["PipelineExecutionDescription"] = self.description
        out["PipelineExecutionDisplayName"] = self.display_name
        if self.failure_reason:
            out["PipelineExecutionFailureReason"] = self.failure_reason[:3072]
        return out

    def state(self) -> dict[str, Any]:
        return {
            "arn": self.arn,
            "id": self.id,
            "pipeline": self.pipeline_name,
            "status": self.status,
            "failure_reason": self.failure_reason,
            "created": self.created,
            "last_modified": self.last_modified,
            "parameters": json_safe(self.parameters),
            "parallelism": self.parallelism,
            "selective": self.selective_config,
            "steps": [run.state() for run in sorted(self.runs.values(), key=lambda r: r.created)],
            "skipped": dict(self.skipped),
            "not_run": sorted(self.excluded),
            "history": list(self.history),
        }

    # -- scheduling (engine.lock held) -------------------------------------------------------------

    def touch(self) -> None:
        self.last_modified = now()

    def succeeded(self) -> set[str]:
        """Steps that succeeded *and* whose properties are stored: a worker marks its run Succeeded
        before its ``finally`` stores the properties, and another worker scheduling in between must
        not launch a downstream step that would then find no properties."""
        return {name for name, run in self.runs.items() if run.status == "Succeeded" and name in self.properties}

    def running(self) -> list[StepRun]:
        return [run for run in self.runs.values() if run.status not in STEP_TERMINAL]

    def blocked(self) -> bool:
        return self.stop_event.is_set() or any(run.status == "Failed" for run in self.runs.values())

    def schedule(self) -> None:
        if self.status in EXECUTION_TERMINAL:
            return
        running = self.running()
        if not self.blocked():
            limit = self.parallelism if self.parallelism else None
            done = self.succeeded()
            graph = self.definition.graph
            for name in graph.order:
                if limit is not None and len(running) >= limit:
                    break
                if name in self.runs or name in self.skipped or name in self.excluded:
                    continue
                if graph.upstream[name] <= done:
                    running.append(self.launch(name))
        if not running:
            self.finish()

    def launch(self, name: str) -> StepRun:
        step = self.definition.steps[name]
        run = StepRun(
            name=name,
            type=step.type,
            display_name=step.display_name,
            description=step.description,
            attempt_count=self.prior_attempts.get(name, 0) + 1,
        )
        self.runs[name] = run
        self.touch()
        worker = StepWorker(self, run, step)
        threading.Thread(target=worker.main, name=f"smpipe-{self.id}-{name}", daemon=True).start()
        return run

    def skip_branch(self, condition: Step, outcome: bool) -> None:
        not_taken = condition.else_steps if outcome else condition.if_steps
        branch = "ElseSteps" if outcome else "IfSteps"
        for name in not_taken:
            self.skipped.setdefault(name, f"in the {branch} of '{condition.name}', which evaluated {str(outcome).lower()}")
        for name in self.definition.graph.descendants(not_taken):
            self.skipped.setdefault(name, f"downstream of a step skipped by '{condition.name}'")

    def finish(self) -> None:
        failed = [run.name for run in self.runs.values() if run.status == "Failed"]
        if self.stop_event.is_set():
            self.status = "Stopped"
        elif failed:
            self.status = "Failed"
            self.failure_reason = STEP_FAILURE_REASON
        else:
            self.status = "Succeeded"
        self.touch()
        self.engine.on_finished(self)

    def ended_in_fail_step(self) -> bool:
        return any(run.type == "Fail" and run.status == "Failed" for run in self.runs.values())


class Engine:
    """Every execution of one emulator server, plus the step cache and the callback tokens."""

    def __init__(self, gateway: Gateway, scenario: Scenario | None = None) -> None:
        self.gateway = gateway
        self.scenario = scenario or Scenario()
        self.lock = threading.RLock()
        self.executions: dict[str, Execution] = {}
        self.start_tokens: dict[str, str] = {}
        self.callbacks: dict[str, tuple[Execution, StepRun]] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.callback_events: dict[str, threading.Event] = {}
        self.cache: dict[tuple[str, str, str, str], list[CacheEntry]] = {}
        self.finished = threading.Condition(self.lock)

    # -- lookups -----------------------------------------------------------------------------------

    def execution(self, arn: str) -> Execution:
        with self.lock:
            found = self.executions.get(arn)
            if found is None:
                lowered = arn.lower()
                found = next((e for a, e in self.executions.items() if a.lower() == lowered), None)
            if found is None:
                raise ResourceNotFound(f"Pipeline execution with ARN {arn} does not exist.")
            return found

    def executions_of(self, account: str, region: str, pipeline_name: str) -> list[Execution]:
        with self.lock:
            return [
                e
                for e in self.executions.values()
                if e.account == account and e.region == region and e.pipeline_name.lower() == pipeline_name.lower()
            ]

    def on_finished(self, execution: Execution) -> None:
        self.finished.notify_all()

    def wait(self, arn: str, timeout: float = 30.0) -> str:
        """Block until the execution is terminal; return its status (``TimeoutError`` otherwise)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            execution = self.execution(arn)
            while execution.status not in EXECUTION_TERMINAL:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{arn} is still {execution.status} after {timeout} s")
                self.finished.wait(remaining)
            return execution.status

    def state(self, *, arn: str | None = None, pipeline: str | None = None) -> list[dict[str, Any]]:
        """Every execution's state (optionally only the one with ``arn``, or those of ``pipeline``)."""
        with self.lock:
            return [
                e.state()
                for e in self.executions.values()
                if (arn is None or e.arn.lower() == arn.lower()) and (pipeline is None or e.pipeline_name.lower() == pipeline.lower())
            ]

    def forget(self) -> None:
        """Drop finished executions, the cache and answered callbacks (running ones are kept)."""
        with self.lock:
            keep = {arn: e for arn, e in self.executions.items() if e.status not in EXECUTION_TERMINAL}
            self.executions = keep
            self.start_tokens = {t: a for t, a in self.start_tokens.items() if a in keep}
            self.callbacks = {t: v for t, v in self.callbacks.items() if v[0].arn in keep}
            self.cache.clear()

    # -- StartPipelineExecution --------------------------------------------------------------------

    def start(self, account: str, region: str, request: Mapping[str, Any]) -> str:
        token = request["ClientRequestToken"]
        pipeline_ref = request["PipelineName"]
        pipeline_name = pipeline_ref.split(":pipeline/", 1)[1].split("/", 1)[0] if pipeline_ref.startswith("arn:") else pipeline_ref
        with self.lock:
            if token in self.start_tokens:
                existing = self.executions.get(self.start_tokens[token])
                if existing is not None:
                    if existing.pipeline_name.lower() != pipeline_name.lower():
                        raise ConflictException(
                            f"ClientRequestToken {token} was already used to start an execution of pipeline "
                            f"{existing.pipeline_name}; use a new token for another request."
                        )
                    return existing.arn
        backend = sagemaker_backend(account, region)
        pipeline = next((p for n, p in backend.pipelines.items() if n.lower() == pipeline_name.lower()), None)
        if pipeline is None:
            raise ResourceNotFound(
                f"Pipeline 'arn:aws:sagemaker:{region}:{account}:pipeline/{pipeline_name.lower()}' does not exist."
            )
        definition_text = pipeline.pipeline_definition
        try:
            definition = load_definition(definition_text if isinstance(definition_text, (str, bytes)) else json.dumps(definition_text))
        except InvalidDefinitionError as exc:
            raise ValidationException("Pipeline definition is invalid: " + "; ".join(str(p) for p in exc.problems)) from None
        except DefinitionError as exc:
            raise ValidationException(f"Pipeline definition is invalid: {exc}") from None
        given = request.get("PipelineParameters") or []
        overrides: dict[str, str] = {}
        for item in given:
            if item["Name"] in overrides:
                raise ValidationException(f"Parameter '{item['Name']}' is given more than once in PipelineParameters.")
            overrides[item["Name"]] = item["Value"]
        try:
            parameters = resolve_parameters(definition.parameters, overrides, source="PipelineParameters")
        except InvalidDefinitionError as exc:
            raise ValidationException("; ".join(_parameter_message(p) for p in exc.problems)) from None
        wire = [{"Name": name, "Value": overrides[name] if name in overrides else to_wire_string(parameters[name])} for name in definition.parameters]
        selective = request.get("SelectiveExecutionConfig")
        plan = source = None
        if selective is not None:
            plan, source = self._check_selective(definition, pipeline.pipeline_name, selective)
        explicit_parallelism = request.get("ParallelismConfiguration")
        parallelism_config = explicit_parallelism or pipeline.parallelism_configuration or None
        parallelism = parallelism_config.get("MaxParallelExecutionSteps") if isinstance(parallelism_config, Mapping) else None
        with self.lock:
            if token in self.start_tokens:  # a concurrent request with the same token won the race
                return self.start_tokens[token]
            execution_id = random_id()
            while any(e.id == execution_id for e in self.executions.values()):
                execution_id = random_id()
            arn = f"{pipeline.arn}/execution/{execution_id}"
            execution = Execution(
                self,
                execution_id=execution_id,
                arn=arn,
                pipeline_name=pipeline.pipeline_name,
                pipeline_arn=pipeline.arn,
                account=account,
                region=region,
                definition=definition,
                definition_text=definition_text if isinstance(definition_text, str) else json.dumps(definition_text),
                parameters=parameters,
                wire_parameters=wire,
                display_name=request.get("PipelineExecutionDisplayName") or f"execution-{int(now() * 1000)}",
                description=request.get("PipelineExecutionDescription"),
                parallelism=parallelism,
                explicit_parallelism=parallelism_config if parallelism_config else None,
                selective_config=copy.deepcopy(selective) if selective else None,
                pipeline_version_id=request.get("PipelineVersionId"),
                scenario=self.scenario,
            )
            execution.experiment_config = _experiment_config(execution)
            if plan is not None:
                execution.excluded = set(plan.not_run)
                for name in sorted(plan.reused, key=definition.graph.order.index):
                    self._reuse(execution, name, source)
            self.executions[arn] = execution
            self.start_tokens[token] = arn
            try:
                pipeline.last_execution_time = datetime.now(timezone.utc)
            except Exception:  # pragma: no cover - cosmetic
                pass
            execution.schedule()
            return arn

    def _check_selective(self, definition: PipelineDefinition, pipeline_name: str, selective: Mapping[str, Any]) -> tuple[Any, Execution | None]:
        names = [s["StepName"] for s in selective.get("SelectedSteps", [])]
        try:
            plan = plan_selective_execution(definition, names)
        except InvalidDefinitionError as exc:
            raise ValidationException("SelectiveExecutionConfig is invalid: " + "; ".join(p.problem for p in exc.problems)) from None
        source_arn = selective.get("SourcePipelineExecutionArn")
        source: Execution | None = None
        if source_arn:
            try:
                source = self.execution(source_arn)
            except ResourceNotFound:
                raise ValidationException(f"Source pipeline execution {source_arn} does not exist.") from None
            with self.lock:
                if source.pipeline_name.lower() != pipeline_name.lower():
                    raise ValidationException(
                        f"Source pipeline execution {source_arn} belongs to pipeline {source.pipeline_name}, not {pipeline_name}."
                    )
                if source.status not in EXECUTION_TERMINAL:
                    raise ValidationException(
                        f"Source pipeline execution {source_arn} is {source.status}; it must be Succeeded, Failed or Stopped."
                    )
                missing = [
                    name for name in sorted(plan.reused) if name not in source.runs or source.runs[name].status != "Succeeded"
                ]
                if missing:
                    raise ValidationException(
                        f"Step(s) {', '.join(missing)} did not succeed in source pipeline execution {source_arn}; "
                        "their outputs cannot be reused. Select them too, or use another source execution."
                    )
        elif plan.needs_reference:
            raise ValidationException(
                "SourcePipelineExecutionArn is required: selected steps depend on steps that are not selected "
                f"({', '.join(sorted(plan.reused))})."
            )
        return plan, source

    def _reuse(self, execution: Execution, name: str, source: Execution | None) -> None:
        assert source is not None
        original = source.runs[name]
        run = StepRun(
            name=name,
            type=original.type,
            display_name=original.display_name,
            description=original.description,
            status="Succeeded",
            start_time=original.start_time,
            end_time=original.end_time,
            attempt_count=original.attempt_count,
            metadata=copy.deepcopy(original.metadata),
            selective_source=source.arn,
            job_name=original.job_name,
            request=copy.deepcopy(original.request),
            properties=copy.deepcopy(original.properties),
        )
        execution.runs[name] = run
        if original.properties is not None:
            execution.properties[name] = copy.deepcopy(original.properties)
        step = execution.definition.steps[name]
        if step.type == "Condition" and isinstance(original.properties, Mapping):
            execution.skip_branch(step, bool(original.properties.get("Outcome")))

    # -- Stop / Retry / Update ---------------------------------------------------------------------

    def stop(self, arn: str, token: str) -> str:
        execution = self.execution(arn)
        with self.lock:
            if token in execution.stop_tokens:  # the same request again: idempotent
                return execution.arn
            if execution.status == "Stopping":
                raise ConflictException(f"Pipeline execution {execution.arn} is already being stopped.")
            if execution.status != "Executing":
                raise ValidationException(
                    f"Pipeline execution {execution.arn} is in {execution.status} status. "
                    "Only pipelines with 'Executing' status can be stopped."
                )
            execution.stop_tokens.add(token)
            execution.status = "Stopping"
            execution.touch()
            execution.stop_event.set()
            for run in execution.running():
                if run.type != "Lambda":
                    run.status = "Stopping"
            for token_value, (owner, _run) in self.callbacks.items():
                if owner is execution and token_value in self.callback_events:
                    self.callback_events[token_value].set()  # wake the step so it sends "Stopping"
            execution.schedule()
        return execution.arn

    def retry(self, arn: str, token: str, parallelism: Mapping[str, Any] | None) -> str:
        execution = self.execution(arn)
        with self.lock:
            if token in execution.retry_tokens:  # the same request again: idempotent
                return execution.arn
            if execution.status != "Failed":
                raise ValidationException(
                    f"Pipeline execution {execution.arn} is in {execution.status} status; only a Failed execution can be retried."
                )
            fail_steps = [run.name for run in execution.runs.values() if run.type == "Fail" and run.status == "Failed"]
            if fail_steps:
                raise ValidationException(
                    f"Pipeline execution {execution.arn} ended in Fail step {', '.join(fail_steps)}; "
                    "an execution that ended in a Fail step cannot be retried."
                )
            execution.retry_tokens.add(token)
            if parallelism:
                execution.parallelism = parallelism.get("MaxParallelExecutionSteps")
                execution.explicit_parallelism = dict(parallelism)
            for name, run in list(execution.runs.items()):
                if run.status == "Failed":
                    execution.history.append(run.state())
                    execution.prior_attempts[name] = run.attempt_count
                    del execution.runs[name]
                    execution.properties.pop(name, None)
            execution.status = "Executing"
            execution.failure_reason = None
            execution.touch()
            execution.schedule()
            return execution.arn

    def update(self, arn: str, request: Mapping[str, Any]) -> str:
        execution = self.execution(arn)
        with self.lock:
            if "PipelineExecutionDescription" in request:
                execution.description = request["PipelineExecutionDescription"]
            if "PipelineExecutionDisplayName" in request:
                execution.display_name = request["PipelineExecutionDisplayName"]
            if "ParallelismConfiguration" in request:
                execution.explicit_parallelism = dict(request["ParallelismConfiguration"])
                execution.parallelism = request["ParallelismConfiguration"].get("MaxParallelExecutionSteps")
            execution.touch()
            execution.schedule()
            return execution.arn

    # -- callbacks ---------------------------------------------------------------------------------

    def register_callback(self, token: str, execution: Execution, run: StepRun) -> threading.Event:
        with self.lock:
            event = threading.Event()
            self.callbacks[token] = (execution, run)
            self.callback_events[token] = event
            return event

    def answer_callback(self, token: str, answer: dict[str, Any], client_token: str | None = None, *, internal: bool = False) -> str:
        """Record SendPipelineExecutionStepSuccess/Failure for ``token``; returns the execution ARN."""
        with self.lock:
            if token not in self.callbacks:
                raise ResourceNotFound(f"Callback token {token} does not exist or has expired.")
            execution, run = self.callbacks[token]
            previous = self.callback_answers.get(token)
            if previous is not None:
                if client_token is not None and previous.get("client_token") == client_token:
                    return execution.arn
                if internal:
                    return execution.arn
                raise ConflictException(f"The step for callback token {token} has already been completed.")
            if run.status in STEP_TERMINAL:
                raise ConflictException(f"The step for callback token {token} is no longer waiting for a callback.")
            if answer["status"] == "success":
                step = execution.definition.steps[run.name]
                declared = {p.name for p in step.output_parameters}
                unknown = [p["Name"] for p in answer["output_parameters"] if p["Name"] not in declared]
                if unknown:
                    raise ValidationException(
                        f"Output parameter(s) {', '.join(unknown)} are not declared by callback step {run.name} "
                        f"(declared: {', '.join(sorted(declared)) or 'none'})."
                    )
                try:
                    output_parameters_map(step, answer["output_parameters"])
                except DefinitionError as exc:
                    raise ValidationException(str(exc)) from None
            self.callback_answers[token] = {**answer, "client_token": client_token}
            self.callback_events[token].set()
            return execution.arn

    # -- cache -------------------------------------------------------------------------------------

    def cache_lookup(self, execution: Execution, step: Step, key: str) -> CacheEntry | None:
        config = step.cache_config
        if config is None or not config.enabled or not step.info.cacheable:
            return None
        expiry = config.expire_after_duration()
        horizon = None
        if expiry is not None:
            horizon = now() - expiry.total_seconds() * execution.scenario.time_scale
        with self.lock:
            entries = self.cache.get((execution.account, execution.region, execution.pipeline_name, step.name), [])
            for entry in reversed(entries):
                if entry.key == key and entry.execution_arn != execution.arn and (horizon is None or entry.finished >= horizon):
                    return entry
        return None

    def cache_store(self, execution: Execution, run: StepRun) -> None:
        step = execution.definition.steps[run.name]
        if run.cache_key is None or step.cache_config is None or not step.cache_config.enabled or run.cache_source:
            return
        with self.lock:
            self.cache.setdefault((execution.account, execution.region, execution.pipeline_name, step.name), []).append(
                CacheEntry(run.cache_key, execution.arn, now(), copy.deepcopy(run.properties), copy.deepcopy(run.metadata), run.job_name)
            )


# -- steps ------------------------------------------------------------------------------------------


class StepWorker:
    """Runs one step of one execution, in its own thread."""

    def __init__(self, execution: Execution, run: StepRun, step: Step) -> None:
        self.execution = execution
        self.engine = execution.engine
        self.run = run
        self.step = step
        self.script: StepScript = execution.scenario.step(step.name)
        self.gateway = self.engine.gateway
        self.region = execution.region

    # -- plumbing --

    def main(self) -> None:
        try:
            self.execute()
        except StepStopped:
            with self.engine.lock:
                self.run.finish("Stopped", self.run.failure_reason)
        except StepFailed as exc:
            with self.engine.lock:
                self.run.finish("Failed", exc.reason)
        except Exception as exc:  # a bug in the emulator must not hang the execution
            log.exception("step %s of %s crashed", self.step.name, self.execution.arn)
            with self.engine.lock:
                self.run.finish("Failed", f"InternalError: the emulator failed to run this step: {type(exc).__name__}: {exc}")
        finally:
            with self.engine.lock:
                if self.run.status == "Succeeded":
                    self.execution.properties[self.run.name] = self.run.properties
                    if self.step.type == "Condition":
                        self.execution.skip_branch(self.step, bool(self.run.properties["Outcome"]))
                    self.engine.cache_store(self.execution, self.run)
                self.execution.touch()
                self.execution.schedule()

    def set(self, **changes: Any) -> None:
        with self.engine.lock:
            if changes.get("status") == "Executing" and self.stopped() and self.step.type != "Lambda":
                changes["status"] = "Stopping"
            for key, value in changes.items():
                setattr(self.run, key, value)
            self.execution.touch()

    def stopped(self) -> bool:
        return self.execution.stop_event.is_set()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; raise :class:`StepStopped` if the execution is stopped meanwhile."""
        if self.execution.stop_event.wait(max(0.0, seconds)):
            raise StepStopped()

    def resolver(self) -> Resolver:
        with self.engine.lock:
            properties = dict(self.execution.properties)
        return Resolver(
            self.execution.definition,
            parameters=self.execution.parameters,
            execution=self.execution.execution_variables,
            step_properties=properties,
            property_file_loader=self._property_file,
            s3_loader=lambda uri: self.gateway.read_json(uri, self.region),
        )

    def _property_file(self, step: Step, pfile: PropertyFile, uri: str) -> Any:
        return self.gateway.read_json(uri, self.region)

    def resolve(self, resolver: Resolver, job_name: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            return resolver.resolve_arguments(self.step, job_name=job_name), resolver.resolve_fields(self.step)
        except DefinitionError as exc:
            raise StepFailed(f"ClientError: {exc}") from None

    # -- dispatch --

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
        return self.job_step()

    def condition(self) -> None:
        self.set(status="Executing")
        self.sleep(self.execution.scenario.seconds_for(self.step.name))
        try:
            outcome, resolved = self.resolver().evaluate_conditions(self.step)
        except DefinitionError as exc:
            raise StepFailed(f"ClientError: {exc}") from None
        with self.engine.lock:
            self.run.request = {"Conditions": json_safe(resolved)}
            self.run.properties = {"Outcome": outcome}
            self.run.metadata = {"Condition": {"Outcome": "True" if outcome else "False"}}
            self.run.finish("Succeeded")

    def fail_step(self) -> None:
        self.set(status="Executing")
        self.sleep(self.execution.scenario.seconds_for(self.step.name))
        raw = self.step.arguments.get("ErrorMessage", "")
        try:
            value = self.resolver().resolve(raw, step=self.step, location=f"{self.step.location}.Arguments.ErrorMessage")
            message = value if isinstance(value, str) else render_join_value(value, step=self.step.name, location="ErrorMessage")
        except DefinitionError as exc:
            raise StepFailed(f"ClientError: {exc}") from None
        with self.engine.lock:
            self.run.request = {"ErrorMessage": message}
            self.run.metadata = {"Fail": {"ErrorMessage": message[:3072]}}
            self.run.finish("Failed", message or "Fail step")

    # -- Lambda --

    def lambda_step(self) -> None:
        arguments, fields = self.resolve(self.resolver())
        function_arn = str(fields.get("FunctionArn", ""))
        key = self.cache_key(arguments, fields)
        if self.cached(key):
            return
        self.set(status="Executing", request={"FunctionArn": function_arn, "Payload": json_safe(arguments)}, cache_key=key)
        # An execution cannot be stopped while a Lambda step runs: it runs to the end.
        time.sleep(self.execution.scenario.seconds_for(self.step.name))
        self.scripted_failure(self.run.attempt_count)
        try:
            props = normalize_properties(self.step, {"OutputParameters": dict(self.script.output_parameters)})
        except DefinitionError as exc:
            raise StepFailed(f"ClientError: {exc}") from None
        metadata = {"Arn": function_arn[:256], "OutputParameters": wire_outputs(self.script.output_parameters)}
        with self.engine.lock:
            self.run.properties = props
            self.run.metadata = {"Lambda": metadata}
            self.run.finish("Succeeded")

    # -- Callback --

    def callback_step(self) -> None:
        arguments, fields = self.resolve(self.resolver())
        definition_url = str(fields.get("SqsQueueUrl", ""))
        key = self.cache_key(arguments, fields)
        if self.cached(key):
            return
        token = random_id(10, TOKEN_ALPHABET)
        try:
            queue_url, queue_region, created = self.gateway.queue_url(definition_url, self.region)
        except (ClientError, BotoCoreError, ValueError) as exc:
            raise StepFailed(f"ClientError: cannot reach SQS queue {definition_url}: {exc}") from None
        event = self.engine.register_callback(token, self.execution, self.run)
        with self.engine.lock:
            self.run.callback_token = token
            self.run.cache_key = key
            self.run.request = {"SqsQueueUrl": definition_url, "arguments": json_safe(arguments)}
            self.run.metadata = {"Callback": {"CallbackToken": token, "SqsQueueUrl": definition_url[:256]}}
            if created:
                self.run.notes.append(f"created SQS queue {queue_url} (it did not exist in moto)")
            self.run.status = "Executing"
        message = {"token": token, "pipelineExecutionArn": self.execution.arn, "arguments": json_safe(arguments), "status": "Executing"}
        try:
            self.gateway.send_message(queue_url, queue_region, message)
        except (ClientError, BotoCoreError) as exc:
            raise StepFailed(f"ClientError: sending the callback message to {definition_url} failed: {exc}") from None
        script = self.script.callback_answer()
        answer_at = time.monotonic() + script.after_seconds if script is not None else None
        stopping_sent = False
        while True:
            with self.engine.lock:
                answer = self.engine.callback_answers.get(token)
            if answer is not None:
                break
            if self.stopped() and not stopping_sent:
                stopping_sent = True
                with self.engine.lock:
                    self.run.status = "Stopping"
                try:
                    self.gateway.send_message(queue_url, queue_region, {**message, "status": "Stopping"})
                except (ClientError, BotoCoreError) as exc:  # pragma: no cover - moto SQS does not fail
                    log.warning("could not send the Stopping message: %s", exc)
                event.clear()
            if answer_at is not None and time.monotonic() >= answer_at:
                assert script is not None
                scripted = {
                    "status": script.answer,
                    "output_parameters": wire_outputs(script.output_parameters),
                    "reason": script.reason,
                }
                try:
                    self.engine.answer_callback(token, scripted, internal=True)
                except (ValidationException, ConflictException, ResourceNotFound) as exc:
                    raise StepFailed(f"ClientError: the scenario's callback answer was rejected: {exc.message}") from None
                continue
            timeout = 0.5 if answer_at is None else max(0.0, min(0.5, answer_at - time.monotonic()))
            event.wait(timeout)
        with self.engine.lock:
            outputs = answer.get("output_parameters") or []
            if answer["status"] == "success":
                self.run.metadata["Callback"]["OutputParameters"] = [dict(p) for p in outputs]
                self.run.properties = normalize_properties(self.step, {"OutputParameters": outputs})
                self.run.finish("Stopped" if self.stopped() else "Succeeded")
            else:
                self.run.finish("Stopped" if self.stopped() else "Failed", answer.get("reason") or "Callback step failed.")

    # -- job-like steps --

    def job_step(self) -> None:
        attempt = self.run.attempt_count
        first_attempt_at = time.monotonic()
        time_scale = self.execution.scenario.time_scale
        cache_checked = False
        while True:
            name = self.job_name(attempt)
            arguments, fields = self.resolve(self.resolver(), job_name=name)
            if not cache_checked:
                cache_checked = True
                key = self.cache_key(_without(arguments, self.step.info.name_key), fields)
                if self.cached(key, json_safe(arguments)):
                    return
                self.set(cache_key=key)
            try:
                self.attempt(name, arguments, fields)
                return
            except StepFailed as failure:
                policy = self.retry_policy(failure.exception_type)
                emulated_elapsed = (time.monotonic() - first_attempt_at) / time_scale if time_scale > 0 else 0.0
                if policy is None or not policy.allows(attempt, emulated_elapsed):
                    raise
                with self.engine.lock:
                    self.run.notes.append(f"attempt {attempt} failed ({failure.reason}); retrying per a RetryPolicy matching {failure.exception_type}")
                self.sleep(policy.delay_before_retry(attempt) * time_scale)
                attempt += 1
                self.set(attempt_count=attempt, status="Executing")

    def retry_policy(self, exception_type: str | None) -> RetryPolicy | None:
        if exception_type is None or not self.step.info.retryable:
            return None
        return next((p for p in self.step.retry_policies if p.matches(exception_type)), None)

    def job_name(self, attempt: int) -> str | None:
        info = self.step.info
        execution_id = self.execution.id
        salt = "" if attempt == 1 else f"attempt-{attempt}"
        if info.name_key is None:
            return core_job_name(self.step.name, execution_id, salt=salt) if self.step.type == "EMR" else None
        kept = self.step.arguments.get(info.name_key)
        if kept is not None:
            try:
                kept = self.resolver().resolve(kept, step=self.step, location=f"{self.step.location}.Arguments.{info.name_key}")
            except DefinitionError as exc:
                raise StepFailed(f"ClientError: {exc}") from None
        if info.name_is_kept:
            return str(kept) if kept is not None else core_job_name(self.step.name, execution_id)
        return core_job_name(self.step.name, execution_id, prefix=str(kept) if kept else None, salt=salt, step_type=self.step.type)

    def attempt(self, name: str | None, arguments: dict[str, Any], fields: dict[str, Any]) -> None:
        stype = self.step.type
        request = dict(arguments)
        if self.step.info.name_key and name is not None:
            request[self.step.info.name_key] = name
        self.set(status="Executing", job_name=name, request=json_safe(request), failure_reason=None)
        if stype == "EMR":
            return self.emr(name, arguments)
        skip_check = stype in ("QualityCheck", "ClarifyCheck") and fields.get("SkipCheck") is True
        described: dict[str, Any] = {}
        arn: str | None = None
        if stype in SYNTHESIZED or skip_check:
            described = synthesize_properties(self.step, arguments, job_name=name, fields=fields, region=self.region, account=self.execution.account)
            arn = _synthetic_arn(stype, described)
        else:
            arn = self.create(request)
        self.set(metadata=self.metadata(arn, fields, None))
        self.moto_status("InProgress")
        try:
            self.sleep(self.execution.scenario.seconds_for(self.step.name))
        except StepStopped:
            self.moto_status("Stopped")
            with self.engine.lock:
                self.run.status = "Stopping"
            time.sleep(min(0.05, self.execution.scenario.default_step_seconds))
            raise
        fail = self.script.fail
        if fail is not None and fail.fails_attempt(self.run.attempt_count):
            self.moto_status("Failed", fail.reason)
            raise StepFailed(fail.reason, fail.exception_type)
        self.write_files(arguments)
        self.moto_status("Completed")
        if stype not in SYNTHESIZED and not skip_check:
            described = self.describe(name, arn)
        props = self.properties(described, arguments, fields, name)
        with self.engine.lock:
            self.run.properties = props
            self.run.metadata = self.metadata(arn, fields, props)
            self.run.finish("Succeeded")

    def create(self, request: dict[str, Any]) -> str | None:
        stype = self.step.type
        sagemaker = self.gateway.client("sagemaker", self.region)
        try:
            if stype == "RegisterModel":
                group = request.get("ModelPackageGroupName")
                if group:
                    self._ensure_model_package_group(str(group))
                return sagemaker.create_model_package(**request)["ModelPackageArn"]
            method = _snake(self.step.info.api or "")
            if stype == "Endpoint":
                method = "create_endpoint"
            response = getattr(sagemaker, method)(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise StepFailed(f"ClientError: {error.get('Code')}: {error.get('Message')}", _exception_type(exc)) from None
        except BotoCoreError as exc:  # e.g. a resolved request that does not fit the Create* input shape
            raise StepFailed(f"ClientError: {exc}") from None
        if self.step.info.name_key:
            normalize_moto_job(self.execution.account, self.region, stype, request.get(self.step.info.name_key), request)
        return next((v for k, v in response.items() if k.endswith("Arn") and isinstance(v, str)), None)

    def _ensure_model_package_group(self, group: str) -> None:
        sagemaker = self.gateway.client("sagemaker", self.region)
        try:
            sagemaker.describe_model_package_group(ModelPackageGroupName=group)
        except ClientError:
            try:
                sagemaker.create_model_package_group(ModelPackageGroupName=group)
                with self.engine.lock:
                    self.run.notes.append(f"created model package group {group} (it did not exist in moto)")
            except ClientError:
                pass

    def describe(self, name: str | None, arn: str | None) -> dict[str, Any]:
        stype = self.step.type
        sagemaker = self.gateway.client("sagemaker", self.region)
        try:
            if stype == "RegisterModel":
                return json_safe(sagemaker.describe_model_package(ModelPackageName=arn))
            method, name_key, _ = DESCRIBE[stype]
            return json_safe(getattr(sagemaker, method)(**{name_key: name}))
        except (ClientError, BotoCoreError) as exc:
            raise StepFailed(f"InternalError: describing the created resource failed: {exc}") from None

    def moto_status(self, status: str, reason: str | None = None) -> None:
        """Move the moto job's status along (moto creates jobs already Completed)."""
        set_moto_job_status(self.execution.account, self.region, self.step.type, self.run.job_name, status, reason, self.script.metrics)

    def write_files(self, arguments: Mapping[str, Any]) -> None:
        def written(uri: str) -> None:
            with self.engine.lock:
                self.run.notes.append(f"wrote {uri}")

        try:
            write_files(self.gateway, self.region, self.script.files, self.step.type, self.step.name, arguments, written)
        except JobOutputError as exc:
            raise StepFailed(str(exc)) from None

    def properties(self, described: dict[str, Any], arguments: dict[str, Any], fields: dict[str, Any], name: str | None) -> dict[str, Any]:
        stype = self.step.type
        props = dict(described)
        stamp = iso(now())
        if stype == "Training" and self.script.metrics:
            props["FinalMetricDataList"] = final_metric_data_list(self.script.metrics, stamp)
        if stype == "Tuning":
            props.update(tuning_results(arguments, name or self.step.name, self.script.metrics, self.region, self.execution.account, stamp))
            patch_moto_tuning(self.execution.account, self.region, name, props)
        if stype in ("QualityCheck", "ClarifyCheck") and described.get("ProcessingJobArn"):
            synthetic = synthesize_properties(self.step, arguments, job_name=name, fields=fields, region=self.region, account=self.execution.account)
            for key in ("CalculatedBaselineConstraints", "BaselineUsedForDriftCheckConstraints", "CalculatedBaselineStatistics", "BaselineUsedForDriftCheckStatistics"):
                if key in synthetic:
                    props[key] = synthetic[key]
        if stype == "AutoML":
            props.setdefault("BestCandidate", automl_candidate(arguments, name or self.step.name, self.region, self.execution.account, self.script.metrics))
        if self.script.properties:
            props = deep_merge(props, json_safe(self.script.properties))
        return normalize_properties(self.step, props)

    def metadata(self, arn: str | None, fields: Mapping[str, Any], props: Mapping[str, Any] | None) -> dict[str, Any]:
        stype = self.step.type
        key = self.step.info.metadata_key
        if stype in ("QualityCheck", "ClarifyCheck"):
            entry: dict[str, Any] = {"CheckType": str(fields.get("CheckType", ""))}
            for member in ("BaselineUsedForDriftCheckStatistics", "BaselineUsedForDriftCheckConstraints", "CalculatedBaselineStatistics", "CalculatedBaselineConstraints"):
                if stype == "ClarifyCheck" and member.endswith("Statistics"):
                    continue
                value = (props or {}).get(member)
                if isinstance(value, str) and value:
                    entry[member] = value
            if fields.get("ModelPackageGroupName"):
                entry["ModelPackageGroupName"] = str(fields["ModelPackageGroupName"])
            if arn and not arn.startswith("synthetic:"):
                entry["CheckJobArn"] = arn
            for member in ("SkipCheck", "RegisterNewBaseline"):
                if isinstance(fields.get(member), bool):
                    entry[member] = fields[member]
            return {key: entry}
        if stype == "Lineage":
            if props is None:
                return {}
            return {key: _lineage_metadata(props)}
        if arn is None or arn.startswith("synthetic:"):
            return {}
        return {key: {"Arn": arn}}

    # -- EMR --

    def emr(self, name: str | None, arguments: dict[str, Any]) -> None:
        emr = self.gateway.client("emr", self.region)
        config = dict(arguments.get("StepConfig") or {})
        step_request = {"Name": name or self.step.name, "ActionOnFailure": "CONTINUE", **config}
        step_request.setdefault("HadoopJarStep", {})
        cluster_id = arguments.get("ClusterId")
        created_cluster = False
        step_id: str | None = None
        try:
            if arguments.get("ClusterConfig"):
                cluster = dict(arguments["ClusterConfig"])
                instances = dict(cluster.get("Instances") or {})
                instances["KeepJobFlowAliveWhenNoSteps"] = False
                cluster["Instances"] = instances
                response = emr.run_job_flow(Name=name or self.step.name, Steps=[step_request], **cluster)
                cluster_id = response["JobFlowId"]
                created_cluster = True
                step_id = emr.list_steps(ClusterId=cluster_id)["Steps"][0]["Id"]
            elif cluster_id and self._emr_cluster_exists(str(cluster_id)):
                step_id = emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[step_request])["StepIds"][0]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise StepFailed(f"ClientError: {error.get('Code')}: {error.get('Message')}", _exception_type(exc, emr=True)) from None
        except BotoCoreError as exc:
            raise StepFailed(f"ClientError: {exc}") from None
        if step_id is None:
            with self.engine.lock:
                self.run.notes.append(f"EMR cluster {cluster_id} does not exist in moto: the step's properties are synthesised")
        metadata: dict[str, Any] = {"ClusterId": str(cluster_id), "StepName": str(name)}
        if step_id:
            metadata["StepId"] = step_id
        self.set(metadata={"EMR": dict(metadata)})
        try:
            self.sleep(self.execution.scenario.seconds_for(self.step.name))
        except StepStopped:
            try:  # (moto has no CancelSteps: a step on an existing cluster is left as moto has it)
                if created_cluster:
                    emr.terminate_job_flows(JobFlowIds=[cluster_id])
            except (ClientError, BotoCoreError):  # pragma: no cover - best effort
                pass
            raise
        fail = self.script.fail
        failed = fail is not None and fail.fails_attempt(self.run.attempt_count)
        if step_id is not None:
            props = json_safe(emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"])
            log_uri = json_safe(emr.describe_cluster(ClusterId=cluster_id)["Cluster"]).get("LogUri")
            if log_uri:
                metadata["LogFilePath"] = s3_join(str(log_uri), str(cluster_id), "steps", step_id)
            if created_cluster:
                try:
                    emr.terminate_job_flows(JobFlowIds=[cluster_id])
                except ClientError:  # pragma: no cover
                    pass
        else:
            props = synthesize_properties(self.step, arguments, job_name=name, region=self.region, account=self.execution.account)
            metadata["StepId"] = props["Id"]
        props.setdefault("Status", {})["State"] = "FAILED" if failed else "COMPLETED"
        if failed:
            assert fail is not None
            self.set(metadata={"EMR": metadata})
            raise StepFailed(fail.reason, fail.exception_type)
        if self.script.properties:
            props = deep_merge(props, json_safe(self.script.properties))
        with self.engine.lock:
            self.run.properties = props
            self.run.metadata = {"EMR": metadata}
            self.run.finish("Succeeded")

    def _emr_cluster_exists(self, cluster_id: str) -> bool:
        try:
            self.gateway.client("emr", self.region).describe_cluster(ClusterId=cluster_id)
            return True
        except ClientError:
            return False
        except BotoCoreError:  # pragma: no cover
            return False

    # -- cache and scripted failures --

    def cache_key(self, arguments: Any, fields: Any) -> str:
        document = {"type": self.step.type, "arguments": json_safe(arguments), "fields": json_safe(fields)}
        return hashlib.sha256(canonical_json(document).encode()).hexdigest()

    def cached(self, key: str, request: Any = None) -> bool:
        entry = self.engine.cache_lookup(self.execution, self.step, key)
        if entry is None:
            return False
        with self.engine.lock:
            self.run.status = "Executing"
            self.run.request = request
            self.run.cache_key = key
            self.run.cache_source = entry.execution_arn
            self.run.properties = copy.deepcopy(entry.properties)
            self.run.metadata = copy.deepcopy(entry.metadata)
            self.run.job_name = entry.job_name
            self.run.notes.append(f"cache hit: reused the outputs of {entry.execution_arn}")
        time.sleep(min(0.05, self.execution.scenario.default_step_seconds))
        with self.engine.lock:
            self.run.finish("Succeeded")
        return True

    def scripted_failure(self, attempt: int) -> None:
        fail = self.script.fail
        if fail is not None and fail.fails_attempt(attempt):
            raise StepFailed(fail.reason, fail.exception_type)


# -- helpers ---------------------------------------------------------------------------------------


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)



def _without(arguments: Mapping[str, Any], key: str | None) -> dict[str, Any]:
    return {k: v for k, v in arguments.items() if k != key}


def _exception_type(exc: ClientError, *, emr: bool = False) -> str | None:
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
    if code in ("ThrottlingException", "Throttling", "TooManyRequestsException"):
        return "Step.THROTTLING"
    if code == "ResourceLimitExceeded":
        return "Emr.RESOURCE_LIMIT" if emr else "SageMaker.RESOURCE_LIMIT"
    if status >= 500:
        return "Step.SERVICE_FAULT"
    return None


def _synthetic_arn(stype: str, props: Mapping[str, Any]) -> str | None:
    for key in ("AutoMLJobArn", "InferenceComponentArn", "ProcessingJobArn"):
        if isinstance(props.get(key), str):
            return props[key] if stype != "QualityCheck" and stype != "ClarifyCheck" else f"synthetic:{props[key]}"
    return None


def _lineage_metadata(props: Mapping[str, Any]) -> dict[str, Any]:
    arns = {"Action": props.get("ActionArns", {}), "Artifact": props.get("ArtifactArns", {}), "Context": props.get("ContextArns", {})}

    def arn_of(end: Any) -> str:
        if isinstance(end, Mapping):
            if "Arn" in end:
                return str(end["Arn"])
            return str(arns.get(str(end.get("Type")), {}).get(str(end.get("Name")), end.get("Name")))
        return str(end)

    associations = [
        {"SourceArn": arn_of(a.get("Source")), "DestinationArn": arn_of(a.get("Destination"))}
        for a in props.get("Associations", [])
        if isinstance(a, Mapping)
    ]
    return {
        "ActionArns": dict(arns["Action"]),
        "ArtifactArns": dict(arns["Artifact"]),
        "ContextArns": dict(arns["Context"]),
        "Associations": associations,
    }


def _experiment_config(execution: Execution) -> dict[str, str] | None:
    config = execution.definition.experiment_config
    if not config:
        return None
    resolver = Resolver(execution.definition, parameters=execution.parameters, execution=execution.execution_variables, step_properties={})
    out: dict[str, str] = {}
    for key in ("ExperimentName", "TrialName"):
        if key in config:
            try:
                value = resolver.resolve(config[key], location=f"$.PipelineExperimentConfig.{key}")
            except DefinitionError:
                continue
            text = sanitize_name_part(str(value))[:120]
            if text:
                out[key] = text
    return out or None


def _parameter_message(problem: DefinitionError) -> str:
    return problem.problem + (f" (expected {problem.expected})" if problem.expected else "")
