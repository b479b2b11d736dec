"""ForEach steps in the emulator: resolve the items, run the children, report the fan-out.

The rules are the definition core's (:mod:`airflow_provider_smpipe.definition.foreach`, shared with
the dry-run and translation); this module runs them for real. A ForEach step has no worker of its
own: a short thread resolves its items (that may read S3, so not under the engine lock), then its
:class:`FanOutRun` is scheduled with the execution. Each child ``<bodyStep>-<index>`` is an
ordinary step run (its own row in ``ListPipelineExecutionSteps``, with ``IterationContext``),
started when the fan-out's scheduler allows it: at most ``MaxConcurrency`` children at once, and
within the execution's ``MaxParallelExecutionSteps``. When every child has ended, the ForEach's
``Metadata.ForEach``, ``Selected`` and aggregates are computed and it ends as its children did.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.definition.expressions import Iteration, Resolver
from airflow_provider_smpipe.definition.foreach import FanOut, child_name, item_text, resolve_items, selected_index
from airflow_provider_smpipe.definition.model import Step
from airflow_provider_smpipe.definition.runstate import NOT_RUN, SUCCEEDED, Scheduler
from airflow_provider_smpipe.emulator.execution import STEP_TERMINAL, StepRun

if TYPE_CHECKING:
    from airflow_provider_smpipe.emulator.execution import Execution

log = logging.getLogger(__name__)


@dataclass
class FanOutRun:
    """One ForEach step's children in one execution (every attribute guarded by the engine lock).

    :param child_properties: the properties of the children that succeeded, by child name.
    """

    run: StepRun
    fan: FanOut
    child_properties: dict[str, Any] = field(default_factory=dict)
    active: bool = True

    @property
    def step(self) -> Step:
        return self.fan.step

    @property
    def scheduler(self) -> Scheduler:
        return self.fan.scheduler

    def iteration(self, index: int) -> Iteration:
        """What a child of iteration ``index`` reads: its item and its iteration's outputs."""
        outputs = {b: self.child_properties[child_name(b, index)] for b in self.fan.body if child_name(b, index) in self.child_properties}
        return Iteration(for_each=self.step.name, index=index, item=self.fan.items[index], properties=outputs)

    def schedule(self, execution: Execution) -> None:
        while self.scheduler.settle():
            pass
        for child in self.scheduler.startable(limit=self.fan.max_concurrency):
            room = execution.room()
            if room is not None and room <= 0:
                break
            self._launch(execution, child)
        if self.scheduler.done:
            self._finish(execution)

    def _launch(self, execution: Execution, child: str) -> None:
        from airflow_provider_smpipe.emulator.steps import StepWorker

        body, index = self.fan.children[child]
        step = execution.definition.steps[body]
        run = StepRun(
            name=child,
            type=step.type,
            display_name=step.display_name,
            description=step.description,
            attempt_count=execution.prior_attempts.get(child, 0) + 1,
            iteration={"ParentStepName": self.step.name, "Index": index, "Item": item_text(self.fan.items[index])},
        )
        execution.runs[child] = run
        self.scheduler.start(child)
        worker = StepWorker(execution, run, step, fan_out=self, index=index)
        threading.Thread(target=worker.main, name=f"smpipe-{execution.id}-{child}", daemon=True).start()

    def child_ended(self, execution: Execution, run: StepRun) -> None:
        """A child ended (called by its worker, engine lock held)."""
        if run.status == "Succeeded":
            self.child_properties[run.name] = run.properties
        self.scheduler.finish(run.name, run.status if run.status in STEP_TERMINAL else "Failed")
        execution.touch()
        execution.schedule()

    def _finish(self, execution: Execution) -> None:
        """Every child ended: the ForEach's results, metadata and outcome."""
        self.active = False
        run = self.run
        selector_error = None
        try:
            selected = self._select(execution)
        except DefinitionError as exc:
            selected, selector_error = None, f"ClientError: {exc}"
        status, reason = self.fan.status(), self.fan.failure_reason()
        if selector_error is not None:
            status, reason = "Failed", selector_error
        elif status == SUCCEEDED and execution.stopping() and NOT_RUN in self.scheduler.outcomes.values():
            status, reason = "Stopped", "the execution was stopped before every child started"
        # Readable whatever the outcome (a Selector error included): a Failed/Any dependent reads
        # the aggregates.
        properties = self.fan.properties(self.child_properties, selected, status)
        execution.properties[self.step.name] = properties
        run.properties = properties
        run.metadata = {"ForEach": self.fan.metadata(selected, status)}
        run.finish(status, reason)
        execution.step_ended(run)

    def _select(self, execution: Execution) -> int | None:
        resolver = Resolver(execution.definition, parameters=execution.parameters, execution=execution.execution_variables, step_properties={})
        return selected_index(resolver, self.step, self.child_properties, len(self.fan.items))

    def resume_for_retry(self, execution: Execution) -> None:
        """RetryPipelineExecution of a failed ForEach: its failed (and never started) children run
        again; the children that succeeded keep their outputs."""
        fresh = FanOut.plan(execution.definition, self.step, self.fan.items)
        for child in fresh.scheduler.names:
            old = execution.runs.get(child)
            if old is not None and old.status == "Succeeded" and child in self.child_properties:
                fresh.scheduler.finish(child, SUCCEEDED)
            elif old is not None:
                execution.history.append(old.state())
                execution.prior_attempts[child] = old.attempt_count
                del execution.runs[child]
        self.fan = fresh
        self.active = True
        self.run.status = "Executing"
        self.run.end_time = None
        self.run.failure_reason = None


def start_for_each(execution: Execution, run: StepRun, step: Step) -> None:
    """Launch a ForEach: resolve its items in a thread, then let the execution schedule children."""
    run.status = "Executing"
    threading.Thread(target=_resolve_and_plan, args=(execution, run, step), name=f"smpipe-{execution.id}-{step.name}", daemon=True).start()


def _resolve_and_plan(execution: Execution, run: StepRun, step: Step) -> None:
    engine = execution.engine
    try:
        items = _items(execution, step)
    except DefinitionError as exc:
        with engine.lock:
            run.finish("Failed", f"ClientError: {exc}")
            execution.step_ended(run)
        return
    except Exception as exc:  # a bug in the emulator must not hang the execution
        log.exception("ForEach %s of %s crashed", step.name, execution.arn)
        with engine.lock:
            run.finish("Failed", f"InternalError: the emulator failed to run this step: {type(exc).__name__}: {exc}")
            execution.step_ended(run)
        return
    with engine.lock:
        run.request = {"IterableItems": [item_text(i) for i in items], "MaxConcurrency": step.for_each.max_concurrency if step.for_each else 1}
        fan_out = FanOutRun(run=run, fan=FanOut.plan(execution.definition, step, items))
        if execution.stopping():
            fan_out.scheduler.stop("StopPipelineExecution")
        execution.fanouts[step.name] = fan_out
        execution.touch()
        execution.schedule()


def _items(execution: Execution, step: Step) -> list[Any]:
    assert step.for_each is not None
    with execution.engine.lock:
        properties = dict(execution.properties)
    gateway, region = execution.engine.gateway, execution.region
    resolver = Resolver(
        execution.definition,
        parameters=execution.parameters,
        execution=execution.execution_variables,
        step_properties=properties,
        property_file_loader=lambda _step, _pfile, uri: gateway.read_json(uri, region),
        s3_loader=lambda uri: gateway.read_json(uri, region),
    )
    return resolve_items(resolver, step)
