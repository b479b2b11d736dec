"""What every step worker does: the thread's life, stop handling, resolving, naming, cache, retries.

A worker runs one step run (a top-level step, or a ForEach child ``<bodyStep>-<index>``) in its
own thread; the step types' behaviour is in the sibling modules, mixed into
:class:`~airflow_provider_smpipe.emulator.steps.StepWorker`. Nothing here holds the engine lock while
it talks to moto over HTTP.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from typing import TYPE_CHECKING, Any

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.definition.expressions import Resolver
from airflow_provider_smpipe.definition.model import PropertyFile, RetryPolicy, Step, canonical_json
from airflow_provider_smpipe.definition.naming import job_name as core_job_name
from airflow_provider_smpipe.emulator.execution import Execution, StepRun
from airflow_provider_smpipe.emulator.gateway import json_safe
from airflow_provider_smpipe.emulator.scenario import StepScript

if TYPE_CHECKING:
    from airflow_provider_smpipe.emulator.fanout import FanOutRun

log = logging.getLogger(__name__)


class StepFailed(Exception):
    """Ends a step attempt as Failed; ``exception_type`` is matched against the RetryPolicies."""

    def __init__(self, reason: str, exception_type: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.exception_type = exception_type


class StepStopped(Exception):
    """The execution was stopped while the step ran (or the scenario stopped its job)."""


class WorkerBase:
    """Runs one step run of one execution, in its own thread.

    :param fan_out: for a ForEach child, its ForEach's fan-out, and ``index`` its iteration.
    """

    def __init__(self, execution: Execution, run: StepRun, step: Step, *, fan_out: FanOutRun | None = None, index: int | None = None) -> None:
        self.execution = execution
        self.engine = execution.engine
        self.run = run
        self.step = step
        self.fan_out = fan_out
        self.index = index
        body = step.name if fan_out is not None else None
        self.script: StepScript = execution.scenario.step(run.name, body)
        self.gateway = self.engine.gateway
        self.region = execution.region

    @property
    def name(self) -> str:
        """The run's name: the step's, or the child's ``<bodyStep>-<index>``."""
        return self.run.name

    def seconds(self) -> float:
        return self.execution.scenario.seconds_for(self.name, self.step.name if self.fan_out is not None else None)

    # -- the thread --

    def execute(self) -> None:  # pragma: no cover - StepWorker dispatches
        raise NotImplementedError

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
            log.exception("step %s of %s crashed", self.name, self.execution.arn)
            with self.engine.lock:
                self.run.finish("Failed", f"InternalError: the emulator failed to run this step: {type(exc).__name__}: {exc}")
        finally:
            with self.engine.lock:
                if self.run.status == "Succeeded":
                    if self.fan_out is None:
                        self.execution.properties[self.name] = self.run.properties
                    self.engine.cache_store(self.execution, self.run)
                if self.fan_out is not None:
                    self.fan_out.child_ended(self.execution, self.run)
                else:
                    self.execution.step_ended(self.run)

    def set(self, **changes: Any) -> None:
        with self.engine.lock:
            if changes.get("status") == "Executing" and self.stopped() and self.step.type != "Lambda":
                changes["status"] = "Stopping"
            # The status last: its step event is built from the run as the other changes leave it.
            for key, value in sorted(changes.items(), key=lambda item: item[0] == "status"):
                setattr(self.run, key, value)
            self.execution.touch()

    def stopped(self) -> bool:
        return self.execution.stop_event.is_set()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; raise :class:`StepStopped` if the execution is stopped meanwhile."""
        if self.execution.stop_event.wait(max(0.0, seconds)):
            raise StepStopped()

    def scripted_end(self) -> None:
        """The scenario's ``stopped``: the step's job ends Stopped on its own."""
        if self.script.stopped:
            with self.engine.lock:
                self.run.failure_reason = "Stopped: the job was stopped (scenario)"
            raise StepStopped()

    # -- resolving --

    def resolver(self) -> Resolver:
        with self.engine.lock:
            properties = dict(self.execution.properties)
            iteration = self.fan_out.iteration(self.index) if self.fan_out is not None and self.index is not None else None
        return Resolver(
            self.execution.definition,
            parameters=self.execution.parameters,
            execution=self.execution.execution_variables,
            step_properties=properties,
            property_file_loader=self._property_file,
            s3_loader=lambda uri: self.gateway.read_json(uri, self.region),
            iteration=iteration,
        )

    def _property_file(self, step: Step, pfile: PropertyFile, uri: str) -> Any:
        return self.gateway.read_json(uri, self.region)

    def resolve(self, resolver: Resolver, job_name: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            return resolver.resolve_arguments(self.step, job_name=job_name), resolver.resolve_fields(self.step)
        except DefinitionError as exc:
            raise StepFailed(f"ClientError: {exc}") from None

    # -- names, retries, cache --

    def job_name(self, attempt: int) -> str | None:
        info = self.step.info
        execution_id = self.execution.id
        salt = "" if attempt == 1 else f"attempt-{attempt}"
        if info.name_key is None:
            return core_job_name(self.name, execution_id, salt=salt) if self.step.type in ("EMR", "EMRServerless") else None
        kept = self.step.arguments.get(info.name_key)
        if kept is not None:
            try:
                kept = self.resolver().resolve(kept, step=self.step, location=f"{self.step.location}.Arguments.{info.name_key}")
            except DefinitionError as exc:
                raise StepFailed(f"ClientError: {exc}") from None
        if info.name_is_kept:
            return str(kept) if kept is not None else core_job_name(self.name, execution_id)
        return core_job_name(self.name, execution_id, prefix=str(kept) if kept else None, salt=salt, step_type=self.step.type)

    def retry_policy(self, exception_type: str | None) -> RetryPolicy | None:
        if exception_type is None or not self.step.info.retryable:
            return None
        return next((p for p in self.step.retry_policies if p.matches(exception_type)), None)

    def with_retries(self, attempt_once: Any, *, cache_request: bool = True) -> None:
        """Run ``attempt_once(name, arguments, fields)`` until it succeeds or no RetryPolicy allows
        another attempt (each attempt gets a fresh job name); a cache hit runs nothing."""
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
                if self.cached(key, json_safe(arguments) if cache_request else None):
                    return
                self.set(cache_key=key)
            try:
                attempt_once(name, arguments, fields)
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

    def cache_key(self, arguments: Any, fields: Any) -> str:
        document = {"type": self.step.type, "arguments": json_safe(arguments), "fields": json_safe(fields)}
        return hashlib.sha256(canonical_json(document).encode()).hexdigest()

    def cached(self, key: str, request: Any = None) -> bool:
        entry = self.engine.cache_lookup(self.execution, self.step, key, self.name)
        if entry is None:
            return False
        with self.engine.lock:
            self.run.request = request
            self.run.cache_key = key
            self.run.cache_source = entry.execution_arn
            self.run.properties = copy.deepcopy(entry.properties)
            self.run.metadata = copy.deepcopy(entry.metadata)
            self.run.job_name = entry.job_name
            self.run.notes.append(f"cache hit: reused the outputs of {entry.execution_arn}")
            self.run.status = "Executing"  # last: its step event carries the cache hit and metadata
        time.sleep(min(0.05, self.execution.scenario.default_step_seconds))
        with self.engine.lock:
            self.run.finish("Succeeded")
        return True

    def scripted_failure(self, attempt: int) -> None:
        fail = self.script.fail
        if fail is not None and fail.fails_attempt(attempt):
            raise StepFailed(fail.reason, fail.exception_type)

    def scripted_outcome(self, attempt: int) -> None:
        """After a job's seconds: the scenario's failure for this attempt, or its ``stopped``."""
        self.scripted_failure(attempt)
        self.scripted_end()


def _without(arguments: dict[str, Any], key: str | None) -> dict[str, Any]:
    return {k: v for k, v in arguments.items() if k != key}
