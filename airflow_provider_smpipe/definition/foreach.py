"""ForEach: its items, its children, the order they start in, the Selector, and the results later
steps read (``IterationOutputs[i]``, ``Selected``, the aggregates).

Shared by the dry-run, the emulator and translation. Where the service is not documented these are
the choices (README, "Run conditions and ForEach: the choices"):

* Items: a literal list's elements are resolved one by one; an expression must resolve to a JSON
  list string (or a list). An object or array item travels as its JSON text, as the service
  records every item as a string (``IterationContext.Item``, at most 12,800 characters); a field
  of it is read by parsing that text, and reading a field of a scalar item is an error. An empty
  list runs no child and the ForEach succeeds.
* Children are ``<bodyStep>-<index>``; they start in order of index, then body order, at most
  ``MaxConcurrency`` at once (and at most the execution's ``MaxParallelExecutionSteps``).
* A failed or stopped child makes the ForEach ``Failed`` / ``Stopped``. Children already running
  finish; no new child starts, unless a body step declared ``Failed``/``Any`` on the failed one
  (the same rule as the execution's). Its dependents then follow their run conditions, and the
  aggregates stay readable by them.
* The Selector compares the number at its field over the children of its body step that
  succeeded; on a tie the lowest index wins; a value that is not a number is an error; when no
  child succeeded there is no ``Selected``.
* ``TotalStepCount`` counts the children that started; ``InputItemCount`` the items.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_smpipe.definition.errors import ResolutionError
from airflow_provider_smpipe.definition.jsondoc import loads_value
from airflow_provider_smpipe.definition.model import FAILED, STOPPED, Requirement, Step
from airflow_provider_smpipe.definition.paths import Token, format_path, get_path
from airflow_provider_smpipe.definition.runstate import RAN, SUCCEEDED, Scheduler

if TYPE_CHECKING:
    from airflow_provider_smpipe.definition.expressions import Resolver
    from airflow_provider_smpipe.definition.model import PipelineDefinition

AGGREGATES = ("Status", "InputItemCount", "TotalStepCount", "SucceededStepCount", "FailedStepCount", "StoppedStepCount")
FOR_EACH_MEMBERS = ("IterationOutputs", "Selected", *AGGREGATES)
MAX_ITEM_LENGTH = 12_800
MAX_BY, MIN_BY = "MaxBy", "MinBy"
PICKS = (MAX_BY, MIN_BY)
_CHILD = re.compile(r"(.+)-([0-9]+)")  # full match: "Train-1\n" is no child name


def child_name(body_step: str, index: int) -> str:
    return f"{body_step}-{index}"


def split_child_name(definition: PipelineDefinition, name: str) -> tuple[str, int] | None:
    """``("TrainCandidate", 1)`` for ``"TrainCandidate-1"`` when ``TrainCandidate`` is a body step."""
    match = _CHILD.fullmatch(name)
    if match is None:
        return None
    body = definition.steps.get(match.group(1))
    if body is None or body.parent_for_each is None:
        return None
    return body.name, int(match.group(2))


# -- items -----------------------------------------------------------------------------------------


def normalize_item(item: Any, *, step: str, location: str) -> Any:
    """An item as a body step sees it: scalars as they are, objects and arrays as their JSON text."""
    if item is None:
        raise ResolutionError("an item is null", step=step, location=location, expected="a string, number, boolean or JSON object")
    if isinstance(item, float) and not math.isfinite(item):
        raise ResolutionError(f"an item is {item}", step=step, location=location, expected="a finite number")
    if isinstance(item, (dict, list)):
        item = json.dumps(item, separators=(", ", ": "))
    if isinstance(item, str) and len(item) > MAX_ITEM_LENGTH:
        raise ResolutionError(
            f"an item has {len(item)} characters", step=step, location=location, expected=f"at most {MAX_ITEM_LENGTH} (the service's IterationContext.Item limit)"
        )
    return item


def item_text(item: Any) -> str:
    """The item as ``IterationContext.Item`` records it."""
    if isinstance(item, bool):
        return "true" if item else "false"
    return item if isinstance(item, str) else str(item)


def items_from_value(value: Any, *, step: str, location: str) -> list[Any]:
    """The items of an ``IterableItems`` expression's value: a JSON list string (or a list)."""
    if isinstance(value, str):
        try:
            value = loads_value(value)
        except ValueError as exc:  # not JSON, or JSON with NaN, lone surrogates, too deep, ...
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise ResolutionError(
                f"IterableItems resolved to a string that is not JSON ({why}): {value[:80]!r}",
                step=step,
                location=location,
                expected='a JSON list string such as \'["a", "b"]\'',
            ) from None
    if not isinstance(value, list):
        raise ResolutionError(
            f"IterableItems resolved to {type(value).__name__} {str(value)[:80]!r}",
            step=step,
            location=location,
            expected='a JSON list string such as \'["a", "b"]\'',
        )
    return [normalize_item(item, step=step, location=f"{location}[{index}]") for index, item in enumerate(value)]


def resolve_items(resolver: Resolver, step: Step) -> list[Any]:
    """The items of ForEach ``step``: a literal list's elements resolved one by one, or the JSON list
    its expression resolves to (see the module docstring). Raises :class:`ResolutionError`."""
    assert step.for_each is not None
    raw, location = step.for_each.items, f"{step.location}.Arguments.IterableItems"
    if isinstance(raw, list):
        return [
            normalize_item(resolver.resolve(item, step=step, location=f"{location}[{i}]"), step=step.name, location=f"{location}[{i}]")
            for i, item in enumerate(raw)
        ]
    return items_from_value(resolver.resolve(raw, step=step, location=location), step=step.name, location=location)


def read_item(item: Any, tokens: tuple[Token, ...], *, step: str | None, location: str) -> Any:
    """``ForEach.CurrentItem`` (no tokens) or a field of it (the item parsed from its JSON text)."""
    if not tokens:
        return item
    document = item
    if isinstance(item, str):
        try:
            document = loads_value(item)
        except ValueError:  # plain text (or JSON this core refuses): not an object to read fields of
            document = item
    if not isinstance(document, (dict, list)):
        raise ResolutionError(
            f"cannot read '{format_path(tokens)}' of the item {item_text(item)[:80]!r}: it is not a JSON object",
            step=step,
            location=location,
            expected="items that are JSON objects (as text) to read fields of them",
        )
    return get_path(document, tokens, what="the current item", step=step, location=location)


# -- children --------------------------------------------------------------------------------------


@dataclass(slots=True)
class FanOut:
    """The children of one ForEach run: which may start, and how the fan-out ended.

    :param items: the resolved items (see :func:`normalize_item`).
    """

    step: Step
    items: list[Any]
    body: list[str]
    scheduler: Scheduler
    children: dict[str, tuple[str, int]] = field(default_factory=dict)

    @classmethod
    def plan(cls, definition: PipelineDefinition, step: Step, items: list[Any]) -> FanOut:
        scope = definition.scope(step.name)
        body = scope.graph.topological_order()
        children = {child_name(b, i): (b, i) for i in range(len(items)) for b in body}
        requirements = {
            name: tuple(Requirement(child_name(r.upstream, i), r.trigger, r.declared) for r in scope.requirements[b])
            for name, (b, i) in children.items()
        }
        halting = {name: frozenset(o for o in (FAILED, STOPPED) if scope.halts(b, o)) for name, (b, _) in children.items()}
        scheduler = Scheduler(list(children), requirements, halting, halt_wording="not started after child {culprit} {verb}")
        return cls(step=step, items=items, body=body, scheduler=scheduler, children=children)

    @property
    def max_concurrency(self) -> int:
        assert self.step.for_each is not None
        return self.step.for_each.max_concurrency

    def status(self) -> str:
        outcomes = self.scheduler.outcomes.values()
        if FAILED in outcomes:
            return FAILED
        if STOPPED in outcomes:
            return STOPPED
        return SUCCEEDED

    def counts(self) -> dict[str, int]:
        outcomes = list(self.scheduler.outcomes.values())
        return {
            "InputItemCount": len(self.items),
            "TotalStepCount": sum(1 for o in outcomes if o in RAN),
            "SucceededStepCount": outcomes.count(SUCCEEDED),
            "FailedStepCount": outcomes.count(FAILED),
            "StoppedStepCount": outcomes.count(STOPPED),
        }

    def failure_reason(self) -> str | None:
        """Why the ForEach did not succeed (``None`` when it did)."""
        if self.status() == SUCCEEDED:
            return None
        counts = self.counts()
        return f"{counts['FailedStepCount']} child step(s) failed, {counts['StoppedStepCount']} stopped"

    def properties(self, child_properties: Mapping[str, Any], selected: int | None, status: str | None = None) -> dict[str, Any]:
        """What ``Steps.<ForEach>.*`` reads once every child ended (``status``: the ForEach's, when
        something other than its children decided it, e.g. a Selector error or a stop)."""
        iteration_outputs = [
            {b: child_properties[child_name(b, i)] for b in self.body if child_name(b, i) in child_properties}
            for i in range(len(self.items))
        ]
        result: dict[str, Any] = {"Status": status or self.status(), **self.counts(), "IterationOutputs": iteration_outputs}
        selector = self.step.for_each.selector if self.step.for_each else None
        if selector is not None and selected is not None:
            result["Selected"] = child_properties[child_name(selector.body_step, selected)]
        return result

    def metadata(self, selected: int | None, status: str | None = None) -> dict[str, Any]:
        """``ForEachStepMetadata`` for the ForEach's entry in ``ListPipelineExecutionSteps``."""
        metadata: dict[str, Any] = {"Status": status or self.status(), **self.counts()}
        selector = self.step.for_each.selector if self.step.for_each else None
        if selector is not None and selected is not None:
            metadata["Selector"] = {"StepName": child_name(selector.body_step, selected), "Index": selected}
        return metadata


def select(pick: str, values: Mapping[int, Any], *, for_each: str, body_step: str, field_text: str, location: str) -> int | None:
    """The index the Selector picks among ``{index: value at its field}`` (children that succeeded)."""
    best: int | None = None
    for index in sorted(values):
        value = values[index]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ResolutionError(
                f"Selector {pick} compares numbers, but child '{child_name(body_step, index)}' has {value!r} at {field_text}",
                step=for_each,
                location=location,
                expected="a number at the Selector's Field in every child that succeeded",
            )
        if best is None or (value > values[best] if pick == MAX_BY else value < values[best]):
            best = index
    return best


def selected_index(resolver: Resolver, step: Step, child_properties: Mapping[str, Any], item_count: int) -> int | None:
    """The iteration the Selector of ForEach ``step`` picks among the children that succeeded
    (``child_properties`` by child name), or ``None`` without a Selector or a child to pick.
    Raises :class:`ResolutionError` when the field is missing or not a number."""
    selector = step.for_each.selector if step.for_each else None
    if selector is None:
        return None
    location = f"{step.location}.Arguments.Selector.Field"
    values: dict[int, Any] = {}
    for index in range(item_count):
        name = child_name(selector.body_step, index)
        if name in child_properties:
            try:
                values[index] = resolver.read_property(selector.body_step, child_properties[name], selector.path, step=step.name, location=location)
            except ResolutionError as exc:
                raise ResolutionError(f"Selector: child '{name}': {exc.problem}", step=step.name, location=location, expected=exc.expected) from None
    return select(selector.pick, values, for_each=step.name, body_step=selector.body_step, field_text=selector.text, location=location)
