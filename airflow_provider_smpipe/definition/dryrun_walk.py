"""The dry-run's walk: the service's run semantics in *waves*, with nothing taking time.

Every step that may start starts at once (a wave); all of a wave's steps start before any ends,
so a step that fails does not keep the rest of its wave from running (on the service they were
already running). When a step may start, whether it never will, and how the execution ends are
decided by :mod:`~airflow_provider_smpipe.definition.runstate`, shared with the emulator and
translation. A ForEach runs its children in waves of at most ``MaxConcurrency``
(:mod:`~airflow_provider_smpipe.definition.foreach`); a Cleanup reports what it would delete
(:mod:`~airflow_provider_smpipe.definition.cleanup`).

``order`` lists steps as the walk places them: a step once every step upstream of it has been
placed (so the order is topological), those of one wave in topological order; a ForEach's children
follow the ForEach. Steps that never run are placed where the walk decides they cannot run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_smpipe.definition.cleanup import plan_cleanup
from airflow_provider_smpipe.definition.expressions import Iteration, Resolver, render_join_value
from airflow_provider_smpipe.definition.foreach import FanOut, child_name, item_text, resolve_items, selected_index
from airflow_provider_smpipe.definition.model import FAILED, PipelineDefinition, PropertyFile, Step
from airflow_provider_smpipe.definition.naming import job_name
from airflow_provider_smpipe.definition.properties import normalize_properties, synthesize_properties
from airflow_provider_smpipe.definition.runstate import SUCCEEDED, Scheduler

if TYPE_CHECKING:
    from airflow_provider_smpipe.definition.dryrun import DryRunInputs

EXECUTED = "Executed"
NOT_EXECUTED = "NotExecuted"
STEP_FAILURE_REASON = "Step failure: One or multiple steps failed."


class Walk:
    """One dry-run. :attr:`children_seen` lists the ForEach children it created."""

    def __init__(self, definition: PipelineDefinition, inputs: DryRunInputs, parameters: dict[str, Any], execution: dict[str, Any]) -> None:
        self.definition = definition
        self.inputs = inputs
        self.parameters = parameters
        self.execution = execution
        #: properties of the top-level steps that succeeded (and of every ForEach): what Get reads
        self.properties: dict[str, Any] = {}
        #: properties of every step that ran, failed ones included (their jobs exist): for Cleanup
        self.described: dict[str, Any] = {}
        self.resolver = self._resolver(None)
        self.report: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.failed_fail_steps: list[str] = []
        self.children_seen: set[str] = set()
        self.scheduler = Scheduler.for_scope(definition.scope(None))

    def _resolver(self, iteration: Iteration | None) -> Resolver:
        return Resolver(
            self.definition,
            parameters=self.parameters,
            execution=self.execution,
            step_properties=self.properties,
            property_file_loader=self._property_file,
            s3_loader=self._s3_object,
            iteration=iteration,
        )

    def _given(self, mapping: Mapping[str, Any] | None, step: Step, run_name: str) -> Any:
        """An input for a step run: its own name first, then (for a child) its body step's."""
        mapping = mapping or {}
        if run_name in mapping:
            return mapping[run_name]
        return mapping.get(step.name) if run_name != step.name else None

    def _property_file(self, step: Step, pfile: PropertyFile, uri: str) -> Any:
        given = (self.inputs.property_files or {}).get(step.name, {})
        if pfile.name in given:
            return given[pfile.name]
        return (self.inputs.s3_objects or {})[uri]

    def _s3_object(self, uri: str) -> Any:
        return (self.inputs.s3_objects or {})[uri]

    # -- the top level ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        scope = self.definition.scope(None)
        position = {name: i for i, name in enumerate(self.scheduler.names)}
        unplaced: list[str] = []
        placed: set[str] = set()
        while True:
            unplaced.extend(n for n in self.scheduler.settle() if n not in unplaced)
            wave: list[str] = []
            in_wave: set[str] = set()

            def upstream_placed(name: str) -> bool:
                return all(u in placed or u in in_wave for u in scope.graph.upstream[name])

            for name in sorted(unplaced, key=position.__getitem__):
                if upstream_placed(name):
                    wave.append(name)
                    in_wave.add(name)
            ready = [n for n in self.scheduler.startable() if upstream_placed(n)]
            if not wave and not ready:
                break
            for name in ready:
                self.scheduler.start(name)
            for name in sorted(wave + ready, key=position.__getitem__):
                placed.add(name)
                self.order.append(name)
                if name in ready:
                    outcome = self._run_step(self.definition.steps[name])
                    self.scheduler.finish(name, outcome)
                else:
                    unplaced.remove(name)
                    step = self.definition.steps[name]
                    self.report[name] = {"type": step.type, "status": NOT_EXECUTED, "reason": self.scheduler.reasons.get(name, "")}
            unplaced.extend(n for n in self.scheduler.outcomes if n not in placed and n not in unplaced)
        status = scope.status(self.scheduler.outcomes)
        return {
            "order": self.order,
            "steps": {name: self.report[name] for name in self.order},
            "failed": status == FAILED,
            "failure_reason": self._failure_reason(status),
            "execution_status": status,
            "parameters": self.parameters,
            "execution": dict(self.execution),
        }

    def _failure_reason(self, status: str) -> str | None:
        if status != FAILED:
            return None
        if self.failed_fail_steps:
            first = self.failed_fail_steps[0]
            return f"Step '{first}' failed with message: {self.report[first]['error_message']}"
        return STEP_FAILURE_REASON

    def _run_step(self, step: Step) -> str:
        """Run one top-level step; record its report and properties; return its outcome."""
        if step.type == "Condition":
            return self._condition(step)
        if step.type == "Fail":
            return self._fail(step)
        if step.type == "ForEach":
            return self._for_each(step)
        if step.type == "Cleanup":
            return self._cleanup(step)
        outcome, entry, properties = self._job(step, step.name, self.resolver)
        self.report[step.name] = entry
        self.described[step.name] = properties
        if outcome == SUCCEEDED:
            self.properties[step.name] = properties
        return outcome

    def _condition(self, step: Step) -> str:
        ended = self._ended(step, step.name)
        outcome, resolved = self.resolver.evaluate_conditions(step)
        entry: dict[str, Any] = {"type": step.type, "status": EXECUTED, "arguments": {"Conditions": resolved}, "outcome": outcome}
        if ended is not None:
            entry.update(status=ended[0], failure_reason=ended[1])
            self.report[step.name] = entry
            return ended[0]
        self.properties[step.name] = {"Outcome": outcome}
        not_taken = step.else_steps if outcome else step.if_steps
        branch = "ElseSteps" if outcome else "IfSteps"
        self.scheduler.skip(not_taken, f"in the {branch} of '{step.name}', which evaluated {str(outcome).lower()}", by=step.name)
        self.report[step.name] = entry
        return SUCCEEDED

    def _fail(self, step: Step) -> str:
        raw = step.arguments.get("ErrorMessage", "")
        value = self.resolver.resolve(raw, step=step, location=f"{step.location}.Arguments.ErrorMessage")
        message = value if isinstance(value, str) else render_join_value(value, step=step.name, location=f"{step.location}.Arguments.ErrorMessage")
        self.failed_fail_steps.append(step.name)
        self.report[step.name] = {"type": step.type, "status": EXECUTED, "arguments": {"ErrorMessage": message}, "error_message": message}
        return FAILED

    def _cleanup(self, step: Step) -> str:
        outcome, self.report[step.name] = self._cleanup_entry(step, step.name, self.resolver, self.scheduler.outcomes, self.described)
        return outcome

    def _cleanup_entry(
        self, step: Step, run_name: str, resolver: Resolver, outcomes: Mapping[str, str], described: Mapping[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        plan = plan_cleanup(
            self.definition,
            step,
            outcomes=outcomes,
            described=described,
            resolve_uris=lambda uris, location: resolver.resolve(uris, step=step, location=location),
        )
        entry: dict[str, Any] = {
            "type": step.type,
            "status": EXECUTED,
            "arguments": resolver.resolve_arguments(step),
            "would_delete": plan.deletes,
            "metadata": plan.metadata(),
        }
        ended = self._ended(step, run_name)
        if ended is not None:
            entry.update(status=ended[0], failure_reason=ended[1])
            return ended[0], entry
        return SUCCEEDED, entry

    # -- job-like steps (top level and ForEach children) -----------------------------------------

    def _ended(self, step: Step, run_name: str) -> tuple[str, str] | None:
        """``(Failed | Stopped, reason)`` when ``--step-status`` says so."""
        given = self._given(self.inputs.step_status, step, run_name)
        if given is None:
            return None
        status = given.get("status") if isinstance(given, Mapping) else given
        reason = given.get("reason") if isinstance(given, Mapping) else None
        return str(status), reason or f"{str(status).lower()} (given in --step-status)"

    def _job(self, step: Step, run_name: str, resolver: Resolver) -> tuple[str, dict[str, Any], dict[str, Any]]:
        name = self._job_name(step, run_name, resolver)
        arguments = resolver.resolve_arguments(step, job_name=name)
        fields = resolver.resolve_fields(step)
        properties = synthesize_properties(step, arguments, job_name=name, fields=fields, now=self.execution["StartDateTime"])
        given = self._given(self.inputs.step_outputs, step, run_name)
        if given is not None:
            properties = normalize_properties(step, given) if step.type in ("Lambda", "Callback") else {**properties, **normalize_properties(step, given)}
        entry: dict[str, Any] = {"type": step.type, "status": EXECUTED, "arguments": arguments}
        if fields:
            entry["fields"] = fields
        if name is not None:
            entry["job_name"] = name
        ended = self._ended(step, run_name)
        if ended is not None:
            entry.update(status=ended[0], failure_reason=ended[1])
            return ended[0], entry, properties
        return SUCCEEDED, entry, properties

    def _job_name(self, step: Step, run_name: str, resolver: Resolver) -> str | None:
        info = step.info
        execution_id = self.execution["PipelineExecutionId"]
        if step.type == "EMRServerless":  # the job run's name: JobConfig.name when given
            config = step.arguments.get("JobConfig")
            given = config.get("name") if isinstance(config, dict) else None
            if given is not None:
                return str(resolver.resolve(given, step=step, location=f"{step.location}.Arguments.JobConfig.name"))
        if info.name_key is None:
            return job_name(run_name, execution_id) if step.type in ("EMR", "EMRServerless") else None
        kept = step.arguments.get(info.name_key)
        if kept is not None:
            kept = resolver.resolve(kept, step=step, location=f"{step.location}.Arguments.{info.name_key}")
        if info.name_is_kept:
            return str(kept) if kept is not None else job_name(run_name, execution_id)
        return job_name(run_name, execution_id, prefix=str(kept) if kept else None, step_type=step.type)

    # -- ForEach ---------------------------------------------------------------------------------

    def _for_each(self, step: Step) -> str:
        assert step.for_each is not None
        items = self._items(step)
        fan = FanOut.plan(self.definition, step, items)
        child_properties: dict[str, Any] = {}
        entry: dict[str, Any] = {"type": step.type, "status": EXECUTED}
        self.report[step.name] = entry
        while True:
            settled = fan.scheduler.settle()
            ready = fan.scheduler.startable(limit=fan.max_concurrency)
            if not settled and not ready:
                break
            for child in ready:
                fan.scheduler.start(child)
            for child in settled:
                self._place_child(fan, child, {"status": NOT_EXECUTED, "reason": fan.scheduler.reasons.get(child, "")})
            for child in ready:
                fan.scheduler.finish(child, self._run_child(fan, child, child_properties))
        selected = self._select(step, fan, child_properties)
        properties = fan.properties(child_properties, selected)
        self.properties[step.name] = self.described[step.name] = properties
        status = fan.status()
        entry.update(
            arguments={
                "IterableItems": [item_text(item) for item in items],
                "MaxConcurrency": step.for_each.max_concurrency,
                **({"Selector": step.arguments["Selector"]} if "Selector" in step.arguments else {}),
            },
            metadata=fan.metadata(selected),
        )
        if status != SUCCEEDED:
            entry["status"] = status
            entry["failure_reason"] = fan.failure_reason()
        return status

    def _items(self, step: Step) -> list[Any]:
        return resolve_items(self.resolver, step)

    def _run_child(self, fan: FanOut, child: str, child_properties: dict[str, Any]) -> str:
        body, index = fan.children[child]
        step = self.definition.steps[body]
        iteration = Iteration(
            for_each=fan.step.name,
            index=index,
            item=fan.items[index],
            properties={b: child_properties[child_name(b, index)] for b in fan.body if child_name(b, index) in child_properties},
        )
        resolver = self._resolver(iteration)
        if step.type == "Cleanup":  # a body source is this iteration's child; others are top-level steps
            mine = [c for c, (_, i) in fan.children.items() if i == index]
            outcomes = {**self.scheduler.outcomes, **{fan.children[c][0]: fan.scheduler.outcomes[c] for c in mine if c in fan.scheduler.outcomes}}
            described = {**self.described, **{fan.children[c][0]: self.described[c] for c in mine if c in self.described}}
            outcome, entry = self._cleanup_entry(step, child, resolver, outcomes, described)
            properties: dict[str, Any] = {}
        else:
            outcome, entry, properties = self._job(step, child, resolver)
            self.described[child] = properties
        if outcome == SUCCEEDED:
            child_properties[child] = properties
        self._place_child(fan, child, entry)
        return outcome

    def _place_child(self, fan: FanOut, child: str, entry: dict[str, Any]) -> None:
        body, index = fan.children[child]
        self.children_seen.add(child)
        self.order.append(child)
        self.report[child] = {
            "type": self.definition.steps[body].type,
            **entry,
            "parent": fan.step.name,
            "index": index,
            "item": item_text(fan.items[index]),
        }

    def _select(self, step: Step, fan: FanOut, child_properties: Mapping[str, Any]) -> int | None:
        return selected_index(self.resolver, step, child_properties, len(fan.items))
