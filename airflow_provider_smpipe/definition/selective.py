"""Selective execution: which steps run, which reuse a reference execution's outputs, which do not run.

The service's rules (StartPipelineExecution ``SelectiveExecutionConfig``): selected steps exist,
1 to 50 of them, they are connected, every step on a path between two selected steps is selected too;
non-selected upstream steps are not run and their properties come from the reference execution;
non-selected downstream steps do not run. A ForEach is selected as a whole (its children all run);
its body steps cannot be selected on their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from airflow_provider_smpipe.definition.errors import InvalidDefinitionError, SelectionError, did_you_mean
from airflow_provider_smpipe.definition.model import PipelineDefinition

MAX_SELECTED_STEPS = 50


@dataclass(frozen=True, slots=True)
class SelectivePlan:
    """:param selected: steps that run. :param reused: non-selected ancestors of selected steps, whose
    properties come from the reference execution. :param not_run: every other step."""

    selected: frozenset[str]
    reused: frozenset[str]
    not_run: frozenset[str]

    @property
    def needs_reference(self) -> bool:
        """A reference execution is required when a selected step has non-selected upstream steps."""
        return bool(self.reused)


def plan_selective_execution(definition: PipelineDefinition, selected: Iterable[str]) -> SelectivePlan:
    """Check ``selected`` against the service's rules and split the steps.

    :raises InvalidDefinitionError: with one :class:`SelectionError` per broken rule.
    """
    names = list(dict.fromkeys(selected))
    graph = definition.run_graph
    problems: list[SelectionError] = []
    if not names:
        problems.append(SelectionError("no steps selected", location="SelectedSteps", expected="1 to 50 step names"))
    if len(names) > MAX_SELECTED_STEPS:
        problems.append(SelectionError(f"{len(names)} steps selected", location="SelectedSteps", expected=f"at most {MAX_SELECTED_STEPS}"))
    for index, name in enumerate(names):
        if name not in definition.steps:
            problems.append(
                SelectionError(
                    f"unknown step '{name}'{did_you_mean(name, definition.steps)}",
                    location=f"SelectedSteps[{index}]",
                    expected="a step of the pipeline",
                )
            )
        elif definition.steps[name].parent_for_each is not None:
            parent = definition.steps[name].parent_for_each
            problems.append(
                SelectionError(
                    f"'{name}' is a body step of ForEach '{parent}'",
                    location=f"SelectedSteps[{index}]",
                    expected=f"the ForEach '{parent}' itself (a selected ForEach runs all its children)",
                )
            )
    if problems:
        raise InvalidDefinitionError(problems, what="selective execution request")
    chosen = set(names)
    # Path closure: a step both downstream of one selected step and upstream of another must be selected.
    between = graph.descendants(chosen) & graph.ancestors(chosen)
    missing = sorted(between - chosen)
    if missing:
        problems.append(
            SelectionError(
                f"steps {missing} lie on paths between selected steps but are not selected",
                location="SelectedSteps",
                expected="every step on every path between two selected steps",
            )
        )
    components = _components(chosen, graph.upstream, graph.downstream)
    if len(components) > 1:
        groups = "; ".join(", ".join(sorted(c)) for c in components)
        problems.append(
            SelectionError(
                f"selected steps are not connected: {groups}",
                location="SelectedSteps",
                expected="one connected group of steps",
            )
        )
    if problems:
        raise InvalidDefinitionError(problems, what="selective execution request")
    reused = graph.ancestors(chosen) - chosen
    return SelectivePlan(
        selected=frozenset(chosen),
        reused=frozenset(reused),
        not_run=frozenset(set(graph.order) - chosen - reused),
    )


def _components(nodes: set[str], upstream: dict[str, set[str]], downstream: dict[str, set[str]]) -> list[set[str]]:
    remaining, groups = set(nodes), []
    while remaining:
        start = min(remaining)
        group, stack = {start}, [start]
        while stack:
            node = stack.pop()
            for nxt in (upstream[node] | downstream[node]) & remaining:
                if nxt not in group:
                    group.add(nxt)
                    stack.append(nxt)
        remaining -= group
        groups.append(group)
    return groups
