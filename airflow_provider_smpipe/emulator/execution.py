"""Executions and their step runs, scheduled by the definition core's run rules.

An :class:`Execution` is scheduled event-driven: whenever it starts, a step ends, it is retried
or its parallelism changes, :meth:`Execution.schedule` starts every step the core's
:class:`~airflow_provider_smpipe.definition.runstate.Scheduler` says may start (run conditions,
halting after an unhandled failure, a stop), at most ``MaxParallelExecutionSteps`` at once, each
in its own thread (:mod:`airflow_provider_smpipe.emulator.steps`). A ForEach step's children are
scheduled the same way by its :class:`~airflow_provider_smpipe.emulator.fanout.FanOutRun`. When
nothing runs and nothing may start, the execution ends with the core's status
(``Succeeded`` / ``Failed`` / ``CompletedWithFailures`` / ``Stopped``).
"""

from __future__ import annotations

import copy
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_smpipe.definition.model import PipelineDefinition, Step
from airflow_provider_smpipe.definition.runstate import NOT_RUN, SUCCEEDED, Scheduler
from airflow_provider_smpipe.emulator.gateway import json_safe
from airflow_provider_smpipe.emulator.scenario import Scenario

if TYPE_CHECKING:
    from airflow_provider_smpipe.emulator.engine import Engine
    from airflow_provider_smpipe.emulator.fanout import FanOutRun

EXECUTION_TERMINAL = frozenset({"Succeeded", "Failed", "Stopped", "CompletedWithFailures"})
STEP_TERMINAL = frozenset({"Succeeded", "Failed", "Stopped"})
STEP_FAILURE_REASON = "Step failure: One or multiple steps failed."
ID_ALPHABET = string.ascii_lowercase + string.digits
TOKEN_ALPHABET = string.ascii_letters + string.digits


def now() -> float:
    return time.time()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


def random_id(length: int = 12, alphabet: str = ID_ALPHABET) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


class _ReportsStatusChanges:
    """Calls ``self._status_changed(previous, new)`` on every change of the ``status`` attribute.

    Statuses are assigned in many places (workers, fan-outs, stop, retry): intercepting the
    assignment itself is what guarantees that no change goes unreported as an event."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "status":
            object.__setattr__(self, name, value)
            return
        previous = self.__dict__.get("status")
        object.__setattr__(self, name, value)
        if value != previous:
            self._status_changed(previous, value)

    def _status_changed(self, previous: str | None, status: str) -> None:
        raise NotImplementedError


@dataclass
class StepRun(_ReportsStatusChanges):
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
    #: for a ForEach child: ``{"ParentStepName", "Index", "Item"}`` (``IterationContext``)
    iteration: dict[str, Any] | None = None
    #: called with ``(run, previous status, new status)`` on every change of :attr:`status` once the
    #: run belongs to an execution (set by :class:`RunTable`); the engine publishes the change as
    #: SageMaker's step event. Not part of :meth:`wire` or :meth:`state`.
    on_status: Callable[[StepRun, str | None, str], None] | None = field(default=None, repr=False, compare=False)

    def _status_changed(self, previous: str | None, status: str) -> None:
        listener = self.__dict__.get("on_status")
        if listener is not None:
            listener(self, previous, status)

    def finish(self, status: str, reason: str | None = None) -> None:
        # The end time and reason first: the status change is reported with them.
        self.end_time = now()
        if reason is not None:
            self.failure_reason = reason[:1024]
        self.status = status

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
        if self.iteration is not None:
            item["IterationContext"] = dict(self.iteration)
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
            "iteration": self.iteration,
            "notes": list(self.notes),
        }


class RunTable(dict[str, StepRun]):
    """``Execution.runs``: a run put in it reports its status changes to ``report``, starting with
    its current status (previous ``None``), whichever code adds it (launch, fan-out, reuse)."""

    def __init__(self, report: Callable[[StepRun, str | None, str], None]) -> None:
        super().__init__()
        self._report = report

    def __setitem__(self, name: str, run: StepRun) -> None:
        super().__setitem__(name, run)
        if run.on_status is not self._report:
            run.on_status = self._report
            self._report(run, None, run.status)


@dataclass
class CacheEntry:
    key: str
    execution_arn: str
    finished: float
    properties: Any
    metadata: dict[str, Any]
    job_name: str | None




class Execution(_ReportsStatusChanges):
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
        self.runs: dict[str, StepRun] = RunTable(self._step_status)
        self.history: list[dict[str, Any]] = []
        self.properties: dict[str, Any] = {}
        self.excluded: set[str] = set()
        self.prior_attempts: dict[str, int] = {}
        self.stop_event = threading.Event()
        self.stop_tokens: set[str] = set()
        self.retry_tokens: set[str] = set()
        self.experiment_config: dict[str, str] | None = None
        self.mlflow_config: dict[str, str] | None = None
        #: the core's scheduler of the top-level steps (see :meth:`schedule`)
        self.scheduler = Scheduler.for_scope(definition.scope(None))
        #: running ForEach steps' fan-outs, and finished ones (kept for RetryPipelineExecution)
        self.fanouts: dict[str, FanOutRun] = {}
        self.execution_variables = {
            "PipelineName": pipeline_name,
            "PipelineArn": pipeline_arn,
            "PipelineExecutionId": execution_id,
            "PipelineExecutionArn": arn,
            "StartDateTime": iso(self.created),
        }
        # Last, when every attribute the event reads is set; later changes go through __setattr__.
        self.engine.events.execution_status(self, None, self.status)

    def _status_changed(self, previous: str | None, status: str) -> None:
        # Published as SageMaker's execution event; the first status, set in __init__, is reported
        # at the end of __init__, when everything the event reads is set.
        if previous is not None:
            self.engine.events.execution_status(self, previous, status)

    def _step_status(self, run: StepRun, previous: str | None, status: str) -> None:
        self.engine.events.step_status(self, run, previous, status)

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
        if self.mlflow_config:
            out["MLflowConfig"] = dict(self.mlflow_config)
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
            "skipped": {n: r for n, r in self.scheduler.reasons.items() if self.scheduler.outcomes.get(n) == NOT_RUN and n not in self.excluded},
            "not_run": sorted(self.excluded),
            "history": list(self.history),
        }

    # -- scheduling (engine.lock held) -------------------------------------------------------------


    # -- scheduling (engine.lock held) -------------------------------------------------------------

    def touch(self) -> None:
        self.last_modified = now()

    def running(self) -> list[StepRun]:
        return [run for run in self.runs.values() if run.status not in STEP_TERMINAL]

    def busy(self) -> int:
        """Steps that count against ``MaxParallelExecutionSteps``: running steps and children, not
        the ForEach steps that only wait for their children."""
        return sum(1 for run in self.running() if run.type != "ForEach")

    def room(self) -> int | None:
        """How many more steps may start now (``None``: no limit)."""
        return None if not self.parallelism else max(0, self.parallelism - self.busy())

    def stopping(self) -> bool:
        return self.stop_event.is_set()

    def schedule(self) -> None:
        """Start what may start, end what has ended; called whenever anything changed."""
        if self.status in EXECUTION_TERMINAL:
            return
        self._settle()
        for fan in list(self.fanouts.values()):
            if fan.active:
                fan.schedule(self)
        self._settle()
        for name in self.scheduler.startable():
            room = self.room()
            if room is not None and room <= 0:
                break
            self.launch(name)
        if not self.running() and not self.scheduler.startable():
            self._settle()
            self.finish()

    def _settle(self) -> None:
        while self.scheduler.settle():
            pass

    def launch(self, name: str) -> StepRun:
        from airflow_provider_smpipe.emulator.fanout import start_for_each
        from airflow_provider_smpipe.emulator.steps import StepWorker

        step = self.definition.steps[name]
        run = StepRun(
            name=name,
            type=step.type,
            display_name=step.display_name,
            description=step.description,
            attempt_count=self.prior_attempts.get(name, 0) + 1,
        )
        self.runs[name] = run
        self.scheduler.start(name)
        self.touch()
        if step.type == "ForEach":
            start_for_each(self, run, step)
        else:
            worker = StepWorker(self, run, step)
            threading.Thread(target=worker.main, name=f"smpipe-{self.id}-{name}", daemon=True).start()
        return run

    def step_ended(self, run: StepRun) -> None:
        """A top-level step ended (its properties are stored): tell the scheduler, schedule."""
        if run.status == "Succeeded" and run.type == "Condition" and isinstance(run.properties, dict):
            self.skip_branch(self.definition.steps[run.name], bool(run.properties.get("Outcome")))
        self.scheduler.finish(run.name, run.status if run.status in STEP_TERMINAL else "Failed")
        self.touch()
        self.schedule()

    def skip_branch(self, condition: Step, outcome: bool) -> None:
        not_taken = condition.else_steps if outcome else condition.if_steps
        branch = "ElseSteps" if outcome else "IfSteps"
        self.scheduler.skip(not_taken, f"in the {branch} of '{condition.name}', which evaluated {str(outcome).lower()}", by=condition.name)

    def stop(self) -> None:
        """StopPipelineExecution: nothing new starts; running steps are told to stop."""
        self.stop_event.set()
        self.scheduler.stop("StopPipelineExecution")
        for fan in self.fanouts.values():
            fan.scheduler.stop("StopPipelineExecution")
        for run in self.running():
            if run.type != "Lambda":
                run.status = "Stopping"

    def finish(self) -> None:
        scope = self.definition.scope(None)
        outcomes = {n: o for n, o in self.scheduler.outcomes.items()}
        status = scope.status(outcomes, stop_requested=self.stopping())
        # The reason and end time first: the status change is reported with them.
        self.failure_reason = STEP_FAILURE_REASON if status == "Failed" else None
        self.touch()
        self.status = status
        self.engine.on_finished(self)

    def rebuild_scheduler(self) -> None:
        """After RetryPipelineExecution: a fresh scheduler that knows what already succeeded (and
        the Condition branches those steps chose); failed steps and the rest may start again."""
        self.scheduler = Scheduler.for_scope(self.definition.scope(None))
        self.scheduler.skip(sorted(self.excluded), "not selected")
        for name in list(self.scheduler.names):
            run = self.runs.get(name)
            if run is None:
                continue
            if run.type == "ForEach" and run.status not in STEP_TERMINAL:
                self.scheduler.start(name)  # its fan-out resumes (failed children re-run)
            elif run.status == "Succeeded":
                if run.type == "Condition" and isinstance(run.properties, dict):
                    self.skip_branch(self.definition.steps[name], bool(run.properties.get("Outcome")))
                self.scheduler.finish(name, SUCCEEDED)

    def ended_in_fail_step(self) -> bool:
        return any(run.type == "Fail" and run.status == "Failed" for run in self.runs.values())

    def described(self) -> dict[str, Any]:
        """What every step that ran would describe: its properties, or (a failed job) its request."""
        return {name: run.properties if run.properties is not None else run.request for name, run in self.runs.items()}
