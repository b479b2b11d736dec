"""The execution engine: every pipeline execution of one emulator server, walked for real.

:class:`Engine` answers the pipeline-execution operations (start, stop, retry, update, callbacks)
and keeps the step cache. Executions and their scheduling are in
:mod:`~airflow_provider_smpipe.emulator.execution` (using the definition core's run rules), ForEach
fan-outs in :mod:`~airflow_provider_smpipe.emulator.fanout`, and what each step type does in
:mod:`~airflow_provider_smpipe.emulator.steps`. Nothing here holds the engine lock while it talks to
moto over HTTP.

Service rules implemented (see docs/emulator.md for the full list and what is approximate):

* Run conditions: a step starts when every ``DependsOn`` entry holds (``Completed``, ``Failed``,
  ``Stopped``, ``Any``) and the steps it reads succeeded; a step whose requirements can no longer
  hold never starts and never appears in the step list. After an unhandled failure (no step
  declared ``Failed``/``Any`` on it) nothing new starts; running steps finish. The execution ends
  ``Failed`` ("Step failure: One or multiple steps failed."), ``CompletedWithFailures`` (every
  failure handled by a dependent that ran), ``Stopped`` or ``Succeeded``.
* A Condition step skips the branch it does not take.
* ForEach: children ``<bodyStep>-<index>``, at most ``MaxConcurrency`` at once.
* ``StopPipelineExecution``: ``Stopping`` until every running step has stopped (Lambda steps run to
  the end; Callback steps get a ``"Stopping"`` SQS message and wait for their answer), then ``Stopped``.
* ``RetryPipelineExecution``: same ARN; failed steps (and a failed ForEach's failed children) re-run
  with their ``AttemptCount`` carried on; steps that never started start; succeeded steps keep
  their outputs.
* RetryPolicies, CacheConfig and SelectiveExecutionConfig as documented in docs/emulator.md.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError
from airflow_provider_smpipe.definition.expressions import Resolver
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import PipelineDefinition, Step
from airflow_provider_smpipe.definition.naming import sanitize_name_part
from airflow_provider_smpipe.definition.parameters import resolve_parameters, to_wire_string
from airflow_provider_smpipe.definition.properties import output_parameters_map
from airflow_provider_smpipe.definition.selective import plan_selective_execution
from airflow_provider_smpipe.emulator.errors import ConflictException, ResourceNotFound, ValidationException
from airflow_provider_smpipe.emulator.events import EventPublisher
from airflow_provider_smpipe.emulator.execution import (
    EXECUTION_TERMINAL,
    STEP_FAILURE_REASON,
    STEP_TERMINAL,
    TOKEN_ALPHABET,
    CacheEntry,
    Execution,
    StepRun,
    iso,
    now,
    random_id,
)
from airflow_provider_smpipe.emulator.gateway import Gateway, sagemaker_backend
from airflow_provider_smpipe.emulator.scenario import Scenario

log = logging.getLogger(__name__)

__all__ = [
    "EXECUTION_TERMINAL",
    "STEP_FAILURE_REASON",
    "STEP_TERMINAL",
    "TOKEN_ALPHABET",
    "Engine",
    "Execution",
    "StepRun",
    "iso",
    "now",
    "random_id",
]


class Engine:
    #: the emulator's CreateJob store (set by the server; see :mod:`~airflow_provider_smpipe.emulator.job_api`)
    job_store: Any = None

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
        #: SageMaker's EventBridge events of every status change (executions report to it)
        self.events = EventPublisher(gateway)

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
            execution.mlflow_config = _mlflow_config(execution, request.get("MlflowExperimentName"))
            if plan is not None:
                execution.excluded = set(plan.not_run)
                execution.scheduler.skip(sorted(plan.not_run), "not selected")
                for name in sorted(plan.reused, key=definition.run_graph.order.index):
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
        execution.scheduler.finish(name, "Succeeded")

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
            execution.stop()
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
            # Executing again before any step changes: the execution event precedes its steps'.
            execution.status = "Executing"
            execution.failure_reason = None
            if parallelism:
                execution.parallelism = parallelism.get("MaxParallelExecutionSteps")
                execution.explicit_parallelism = dict(parallelism)
            for name, run in list(execution.runs.items()):
                if run.iteration is not None or run.status not in ("Failed", "Stopped"):
                    continue  # a ForEach child is retried by its ForEach
                if run.type == "ForEach" and name in execution.fanouts:
                    execution.fanouts[name].resume_for_retry(execution)
                    continue
                execution.history.append(run.state())
                execution.prior_attempts[name] = run.attempt_count
                del execution.runs[name]
                execution.properties.pop(name, None)
            execution.rebuild_scheduler()
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

    def cache_lookup(self, execution: Execution, step: Step, key: str, run_name: str | None = None) -> CacheEntry | None:
        config = step.cache_config
        if config is None or not config.enabled or not step.info.cacheable:
            return None
        expiry = config.expire_after_duration()
        horizon = None
        if expiry is not None:
            horizon = now() - expiry.total_seconds() * execution.scenario.time_scale
        with self.lock:
            entries = self.cache.get((execution.account, execution.region, execution.pipeline_name, run_name or step.name), [])
            for entry in reversed(entries):
                if entry.key == key and entry.execution_arn != execution.arn and (horizon is None or entry.finished >= horizon):
                    return entry
        return None

    def cache_store(self, execution: Execution, run: StepRun) -> None:
        step = execution.definition.steps[run.name] if run.iteration is None else _body_step(execution, run)
        if run.cache_key is None or step.cache_config is None or not step.cache_config.enabled or run.cache_source:
            return
        with self.lock:
            self.cache.setdefault((execution.account, execution.region, execution.pipeline_name, run.name), []).append(
                CacheEntry(run.cache_key, execution.arn, now(), copy.deepcopy(run.properties), copy.deepcopy(run.metadata), run.job_name)
            )



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



def _body_step(execution: Execution, run: StepRun) -> Step:
    """The body step a ForEach child runs (``run.name`` is ``<bodyStep>-<index>``)."""
    return execution.definition.steps[run.name.rsplit("-", 1)[0]]


def _mlflow_config(execution: Execution, experiment: Any) -> dict[str, str] | None:
    """``MLflowConfig`` of DescribePipelineExecution: the definition's ``MlflowConfig`` resolved,
    its experiment replaced by StartPipelineExecution's ``MlflowExperimentName`` when given."""
    config = execution.definition.mlflow_config
    if not config and not experiment:
        return None
    resolver = Resolver(execution.definition, parameters=execution.parameters, execution=execution.execution_variables, step_properties={})
    out: dict[str, str] = {}
    for key, value in (config or {}).items():
        if value is None:
            continue
        try:
            out[key] = str(resolver.resolve(value, location=f"$.MlflowConfig.{key}"))
        except DefinitionError:
            continue
    if experiment:
        out["MlflowExperimentName"] = str(experiment)
    return out or None
