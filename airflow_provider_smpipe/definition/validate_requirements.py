"""The validator's last pass: each step's requirements (``DependsOn`` triggers, property reads,
its Condition, a ForEach body's outside needs), the run scopes, and the checks that need them."""

from __future__ import annotations

import re

from airflow_provider_smpipe.definition.graph import StepGraph
from airflow_provider_smpipe.definition.model import ANY, COMPLETED, FAILED, STOPPED, Requirement, Step
from airflow_provider_smpipe.definition.runstate import RunScope, combine_triggers
from airflow_provider_smpipe.definition.validate_base import ValidatorState

_WHEN = {FAILED: "failed", STOPPED: "was stopped", ANY: "ended", COMPLETED: "succeeded"}
_HAVE = {FAILED: "failed", STOPPED: "been stopped", ANY: "ended", COMPLETED: "succeeded"}


class RequirementChecks(ValidatorState):
    def _requirements(self) -> dict[str | None, RunScope]:
        """Set every step's :attr:`~Step.requirements` and build the run scopes."""
        lifted: dict[str, dict[str, Requirement]] = {}
        for step in self.steps.values():
            own = self._own_requirements(step)
            if step.parent_for_each is None:
                step.requirements = tuple(own.values())
                continue
            body = set(self.bodies.get(step.parent_for_each, ()))
            step.requirements = tuple(r for r in own.values() if r.upstream in body)
            # What a body step needs from outside its body, its ForEach needs before it starts.
            outside = lifted.setdefault(step.parent_for_each, {})
            for req in own.values():
                if req.upstream not in body:
                    self.lifted_from.setdefault((step.parent_for_each, req.upstream), step.name)
                    self._merge(step.parent_for_each, outside, req, f"body step '{step.name}'")
        for name, needs in lifted.items():
            merged = {r.upstream: r for r in self.steps[name].requirements}
            for req in needs.values():
                self._merge(name, merged, req, "its body")
            self.steps[name].requirements = tuple(merged.values())
        scopes: dict[str | None, RunScope] = {None: RunScope.build(self.steps, None)}
        for name in self.bodies:
            if name in self.steps:
                scopes[name] = RunScope.build(self.steps, name)
        return scopes

    def _own_requirements(self, step: Step) -> dict[str, Requirement]:
        """``DependsOn`` entries, then one ``Completed`` per step whose properties the step reads
        (a ForEach read under an entry of its own keeps that entry: its aggregates are readable
        whatever the fan-out's outcome), then the step's Condition."""
        # (a body step's dependency on its own ForEach is refused elsewhere; its body edge is no need)
        valid = self.upstream.get(step.name, set()) - {step.parent_for_each}
        requirements = {d.step: Requirement(d.step, d.trigger, True) for d in step.dependencies if d.step in valid}
        for upstream, location in self.references.get(step.name, {}).items():
            declared = requirements.get(upstream)
            if declared is None:
                requirements[upstream] = Requirement(upstream, COMPLETED, False)
                continue
            if self.steps[upstream].type == "ForEach":
                continue
            combined = combine_triggers(declared.trigger, COMPLETED)
            if combined is None:
                entry = next(d for d in step.dependencies if d.step == upstream)
                self.problem(
                    f"runs only if '{upstream}' {_WHEN[declared.trigger]}, but reads its properties (at {location}), which exist only if it succeeded",
                    step=step.name,
                    location=entry.location,
                    expected=f"a {declared.trigger} step that does not read '{upstream}', or a plain dependency",
                )
            else:
                requirements[upstream] = Requirement(upstream, combined, True)
        if step.parent_condition is not None:
            self._merge(step.name, requirements, Requirement(step.parent_condition, COMPLETED, False), "its Condition branch")
        return requirements

    def _merge(self, name: str, into: dict[str, Requirement], req: Requirement, source: str) -> None:
        earlier = into.get(req.upstream)
        if earlier is None:
            into[req.upstream] = req
            return
        combined = combine_triggers(earlier.trigger, req.trigger)
        if combined is None:
            self.problem(
                f"needs '{req.upstream}' to have {_HAVE[earlier.trigger]} and, for {source}, to have {_HAVE[req.trigger]}: it can never run",
                step=name,
                location=self.steps[name].location,
                expected="requirements on one upstream step that can hold together",
            )
            return
        into[req.upstream] = Requirement(req.upstream, combined, earlier.declared or req.declared)

    def _check_scopes(self, scopes: dict[str | None, RunScope]) -> None:
        top = scopes[None]
        cycle = top.graph.find_cycle()
        if cycle:
            through = [
                f"body step '{self.lifted_from[(down, up)]}' of '{down}' needs '{up}'"
                for up, down in zip(cycle, cycle[1:])
                if (down, up) in self.lifted_from
            ]
            self.problem(
                "cycle through a ForEach body: " + " -> ".join(cycle) + (f" ({'; '.join(through)})" if through else ""),
                step=cycle[0],
                location=self.steps[cycle[0]].location,
                expected="no body step reading (or depending on) a step that runs after its ForEach",
            )
        for step in self.steps.values():
            if step.type == "Cleanup":
                self._check_cleanup_order(step, scopes)
        self._check_child_name_collisions()

    def _check_cleanup_order(self, step: Step, scopes: dict[str | None, RunScope]) -> None:
        scope = scopes.get(step.parent_for_each)
        if scope is None:
            return
        ancestors = scope.graph.ancestors([step.name])
        if step.parent_for_each is not None:  # outside sources run before the Cleanup's ForEach
            ancestors |= scopes[None].graph.ancestors([step.parent_for_each])
        for source in step.cleanup_sources:
            if source.step not in ancestors:
                self.problem(
                    f"Cleanup source '{source.step}' does not run before the Cleanup step",
                    step=step.name,
                    location=source.location,
                    expected=f'a DependsOn entry such as {{"Step": "{source.step}", "Trigger": "Any"}}',
                )

    def _check_child_name_collisions(self) -> None:
        """The service names children ``<bodyStep>-<index>``: no other step may be named so."""
        body_steps = {name for names in self.bodies.values() for name in names}
        if not body_steps:
            return
        for step in self.steps.values():
            if step.parent_for_each is not None:
                continue
            match = re.fullmatch(r"(.+)-([0-9]+)", step.name)
            if match and match.group(1) in body_steps:
                self.problem(
                    f"step name '{step.name}' collides with the children of body step '{match.group(1)}' (named <bodyStep>-<index>)",
                    step=step.name,
                    location=f"{step.location}.Name",
                    expected="a name that is not <bodyStep>-<digits>",
                )


def graph_of(order: list[str], upstream: dict[str, set[str]], steps: dict[str, Step]) -> StepGraph:
    """The definition graph with each ``DependsOn`` edge's trigger."""
    triggers = {(d.step, name): d.trigger for name, step in steps.items() for d in step.dependencies if d.step in upstream.get(name, ())}
    return StepGraph.from_upstream(order, {n: upstream.get(n, set()) for n in order}, triggers)
