"""Which pipeline events a consumer wants, and forgetting the copies SageMaker may send twice."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_smpipe.events.shapes import PipelineEvent

EXECUTION_STATUSES = ("Executing", "Stopping", "Stopped", "Failed", "Succeeded", "CompletedWithFailures")
STEP_STATUSES = ("Starting", "Executing", "Stopping", "Stopped", "Failed", "Succeeded")
APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")
KIND_NAMES = ("execution", "step", "model_package")


class FilterError(ValueError):
    """A filter argument that can never match; the message names the argument and the choices."""


def _names(value: str | Sequence[str] | None, argument: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    if not items or not all(isinstance(item, str) and item for item in items):
        raise FilterError(f"{argument} must be a non-empty string or a non-empty list of non-empty strings, got {value!r}")
    return tuple(items)


def _statuses(value: str | Sequence[str] | None, argument: str, allowed: Sequence[str]) -> tuple[str, ...] | None:
    items = _names(value, argument)
    if items is None:
        return None
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise FilterError(f"{argument}: {', '.join(map(repr, unknown))} is not a status; choose from {', '.join(allowed)}")
    return items


@dataclass(frozen=True)
class EventFilter:
    """What one consumer wants. ``None`` means any; names compare case-insensitively (SageMaker
    pipeline names are case-insensitive).

    :param kind: ``execution``, ``step`` or ``model_package`` events.
    :param pipeline_names: pipelines whose events match.
    :param statuses: execution statuses (kind ``execution``), step statuses (``step``) or model
        approval statuses (``model_package``).
    :param step_names: steps whose events match (kind ``step``).
    :param model_package_groups: model package groups (kind ``model_package``).
    :param execution_arn: one execution (the event-fed wait).
    """

    kind: str = "execution"
    pipeline_names: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    step_names: tuple[str, ...] | None = None
    model_package_groups: tuple[str, ...] | None = None
    execution_arn: str | None = None

    @classmethod
    def build(
        cls,
        *,
        kind: str = "execution",
        pipeline_names: str | Sequence[str] | None = None,
        statuses: str | Sequence[str] | None = None,
        step_names: str | Sequence[str] | None = None,
        model_package_groups: str | Sequence[str] | None = None,
        execution_arn: str | None = None,
    ) -> EventFilter:
        """Check the arguments (:class:`FilterError` naming the wrong one) and build the filter."""
        if kind not in KIND_NAMES:
            raise FilterError(f"event_kind {kind!r} is not one of {', '.join(KIND_NAMES)}")
        allowed = {"execution": EXECUTION_STATUSES, "step": STEP_STATUSES, "model_package": APPROVAL_STATUSES}[kind]
        if step_names is not None and kind != "step":
            raise FilterError("step_names only filters step events: set event_kind='step'")
        if model_package_groups is not None and kind != "model_package":
            raise FilterError("model_package_groups only filters model package events: set event_kind='model_package'")
        return cls(
            kind=kind,
            pipeline_names=_names(pipeline_names, "pipeline_names"),
            statuses=_statuses(statuses, "statuses", allowed),
            step_names=_names(step_names, "step_names"),
            model_package_groups=_names(model_package_groups, "model_package_groups"),
            execution_arn=execution_arn or None,
        )

    def matches(self, event: PipelineEvent) -> bool:
        if event.kind != self.kind:
            return False
        if self.execution_arn is not None and event.execution_arn.lower() != self.execution_arn.lower():
            return False
        if self.pipeline_names is not None and event.pipeline_name.lower() not in {n.lower() for n in self.pipeline_names}:
            return False
        if self.statuses is not None and event.status not in self.statuses:
            return False
        if self.step_names is not None and event.step_name not in self.step_names:
            return False
        return self.model_package_groups is None or (event.model_package_group or "").lower() in {g.lower() for g in self.model_package_groups}


class Deduplicator:
    """Remembers the last ``capacity`` state changes seen; :meth:`first_time` is ``True`` once per change.

    Bounded so that a long-lived watcher's memory stays flat; a duplicate arrives within seconds of
    the original, far inside any reasonable capacity.
    """

    def __init__(self, capacity: int = 10_000, seen: Iterable[Any] = ()) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[Any, None] = OrderedDict()
        for key in seen:
            self.first_time(key)

    def first_time(self, key: Any) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._seen)
