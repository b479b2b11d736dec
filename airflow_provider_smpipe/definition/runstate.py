"""Run conditions: when a step may start, when nothing more starts, and how an execution ends.

Decided once here and shared by the dry-run, the emulator and translation, so every mode agrees.
The service documents the trigger values and the ``CompletedWithFailures`` status; the rest is
our reading of it, chosen as follows (README, "Run conditions and ForEach: the choices"):

* A step's requirements are a conjunction: every ``DependsOn`` entry must hold, and every step
  whose properties it reads must have succeeded (the values only exist then).
* ``Completed`` holds when the upstream step succeeded, ``Failed`` when it failed, ``Stopped``
  when it was stopped, ``Any`` once it can no longer change: it succeeded, failed, was stopped, or
  will never run (a Condition skipped it, its own requirements can no longer hold, or the execution
  ended before it started). So a Cleanup on ``Any`` still runs when some of its sources never ran.
* A requirement that can no longer hold means the step never runs and never appears in the step
  list (there is no "Skipped" status), like the untaken branch of a Condition.
* A failure (or stop) is *handled* when some step declares ``Failed`` (``Stopped``) or ``Any`` on
  the step. After an unhandled one nothing new starts (steps already running finish), as before
  run conditions existed; after a handled one the execution goes on.
* The execution ends ``Failed`` when a step failed and none of its ``Failed``/``Any`` dependents
  ran, ``Stopped`` when it was stopped (or a step was stopped and none of its ``Stopped``/``Any``
  dependents ran), ``CompletedWithFailures`` when every failed or stopped step had such a dependent
  that ran, ``Succeeded`` when nothing failed.

A ForEach body is a scope of its own: its children follow the same rules inside their fan-out
(see :mod:`~airflow_provider_smpipe.definition.foreach`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_provider_smpipe.definition.graph import StepGraph
from airflow_provider_smpipe.definition.model import ANY, COMPLETED, FAILED, STOPPED, Requirement

if TYPE_CHECKING:
    from airflow_provider_smpipe.definition.model import PipelineDefinition, Step

#: Step outcomes. ``NotRun``: the step will never run (skipped, unreachable, or never started).
SUCCEEDED = "Succeeded"
NOT_RUN = "NotRun"
RAN = frozenset({SUCCEEDED, FAILED, STOPPED})

#: Execution statuses an ended execution can have (botocore ``PipelineExecutionStatus``).
COMPLETED_WITH_FAILURES = "CompletedWithFailures"

READY, WAITING, NEVER = "ready", "waiting", "never"

_HOLDS: dict[str, frozenset[str]] = {
    COMPLETED: frozenset({SUCCEEDED}),
    FAILED: frozenset({FAILED}),
    STOPPED: frozenset({STOPPED}),
    ANY: frozenset({SUCCEEDED, FAILED, STOPPED, NOT_RUN}),
}
_WHEN = {COMPLETED: "succeeded", FAILED: "failed", STOPPED: "was stopped", ANY: "ended"}
_WHAT_HAPPENED = {SUCCEEDED: "succeeded", FAILED: "failed", STOPPED: "was stopped", NOT_RUN: "did not run"}


def trigger_holds(trigger: str, outcome: str) -> bool:
    """Whether a requirement with ``trigger`` is met by an upstream step that ended in ``outcome``."""
    return outcome in _HOLDS[trigger]


def combine_triggers(first: str, second: str) -> str | None:
    """Two requirements on the same upstream step as one (a conjunction), or ``None`` when no
    outcome meets both (``Failed`` and ``Completed``)."""
    if first == second:
        return first
    if ANY in (first, second):
        return second if first == ANY else first
    return None


def readiness(requirements: Iterable[Requirement], outcomes: Mapping[str, str]) -> Readiness:
    """Whether a step with ``requirements`` may start, given the outcomes of the steps that ended.
    A requirement that can no longer hold decides at once, even while others still wait."""
    waiting = False
    for req in requirements:
        outcome = outcomes.get(req.upstream)
        if outcome is None:
            waiting = True
        elif not trigger_holds(req.trigger, outcome):
            return Readiness(NEVER, req, outcome)
    return Readiness(WAITING) if waiting else Readiness(READY)


@dataclass(frozen=True, slots=True)
class Readiness:
    """Whether a step may start: :data:`READY`, :data:`WAITING` (an upstream step has not ended) or
    :data:`NEVER` (``blocking`` can no longer hold: the upstream ended in ``outcome``)."""

    state: str
    blocking: Requirement | None = None
    outcome: str | None = None

    def reason(self) -> str:
        if self.blocking is None or self.outcome is None:
            return ""
        up, trigger = self.blocking.upstream, self.blocking.trigger
        return f"it runs only if '{up}' {_WHEN[trigger]}, and '{up}' {_WHAT_HAPPENED[self.outcome]}"


@dataclass(slots=True)
class RunScope:
    """Steps scheduled together: the top level of a pipeline, or one ForEach body.

    :param for_each: ``None`` for the top level, else the ForEach whose body this is.
    :param order: the scope's steps in document order.
    :param requirements: per step, the requirements on steps of this scope.
    :param graph: edges from :attr:`requirements` (the graph the scope runs by).
    :param handlers: ``{step: {"Failed": dependents with Failed/Any on it, "Stopped": ... }}``.
    """

    for_each: str | None
    order: tuple[str, ...]
    requirements: dict[str, tuple[Requirement, ...]]
    graph: StepGraph
    handlers: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)

    @classmethod
    def of(cls, definition: PipelineDefinition, for_each: str | None) -> RunScope:
        return cls.build(definition.steps, for_each)

    @classmethod
    def build(cls, steps: Mapping[str, Step], for_each: str | None) -> RunScope:
        names = tuple(name for name, step in steps.items() if step.parent_for_each == for_each)
        members = set(names)
        requirements = {
            name: tuple(r for r in steps[name].requirements if r.upstream in members) for name in names
        }
        handlers: dict[str, dict[str, list[str]]] = {name: {FAILED: [], STOPPED: []} for name in names}
        for name in names:
            for req in requirements[name]:
                if not req.declared:
                    continue
                if req.trigger in (FAILED, ANY):
                    handlers[req.upstream][FAILED].append(name)
                if req.trigger in (STOPPED, ANY):
                    handlers[req.upstream][STOPPED].append(name)
        graph = StepGraph.from_upstream(
            list(names),
            {name: {r.upstream for r in reqs} for name, reqs in requirements.items()},
            {(r.upstream, name): r.trigger for name, reqs in requirements.items() for r in reqs if r.declared},
        )
        return cls(
            for_each=for_each,
            order=names,
            requirements=requirements,
            graph=graph,
            handlers={name: {kind: tuple(v) for kind, v in kinds.items()} for name, kinds in handlers.items()},
        )

    def readiness(self, name: str, outcomes: Mapping[str, str]) -> Readiness:
        """Whether ``name`` may start given the outcomes of the steps that have ended."""
        return readiness(self.requirements[name], outcomes)

    def is_handled(self, name: str, outcome: str) -> bool:
        """Whether a ``Failed``/``Stopped`` outcome of ``name`` has a dependent declared for it."""
        return outcome in (FAILED, STOPPED) and bool(self.handlers.get(name, {}).get(outcome))

    def halts(self, name: str, outcome: str) -> bool:
        """An unhandled failure or stop: nothing new starts in this scope after it."""
        return outcome in (FAILED, STOPPED) and not self.is_handled(name, outcome)

    def status(self, outcomes: Mapping[str, str], *, stop_requested: bool = False) -> str:
        """How the scope ended, once every step has an outcome (see the module docstring)."""
        if stop_requested:
            return STOPPED
        unhandled = self.unhandled(outcomes)
        if any(outcomes[name] == FAILED for name in unhandled):
            return FAILED
        if unhandled:
            return STOPPED
        if any(outcome in (FAILED, STOPPED) for outcome in outcomes.values()):
            return COMPLETED_WITH_FAILURES
        return SUCCEEDED

    def unhandled(self, outcomes: Mapping[str, str]) -> list[str]:
        """Failed or stopped steps none of whose ``Failed``/``Stopped``/``Any`` dependents ran."""
        return [
            name
            for name in self.order
            if outcomes.get(name) in (FAILED, STOPPED)
            and not any(outcomes.get(h) in RAN for h in self.handlers.get(name, {}).get(outcomes[name], ()))
        ]


@dataclass(slots=True)
class Scheduler:
    """Which steps of a scope (or children of a fan-out) may start, given what has happened.

    The caller starts what :meth:`startable` returns, reports each end with :meth:`finish`, skips
    Condition branches with :meth:`skip`, and asks :meth:`settle` which waiting steps can no longer
    run. ``names`` are in the order ties are broken (topological, document order first).

    Bookkeeping is incremental (each end updates only the steps that depend on it), so a fan-out
    of thousands of children costs time in proportion to its size, not its square.

    :param requirements: per name, the requirements on other names of this scheduler.
    :param halting: per name, the outcomes of it that stop new starts (unhandled failure or stop).
    :param halt_wording: the reason given to what never started after a halt.
    """

    names: list[str]
    requirements: Mapping[str, tuple[Requirement, ...]]
    halting: Mapping[str, frozenset[str]]
    halt_wording: str = "the execution {verb} at {culprit}"
    outcomes: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    halted_by: tuple[str, str] | None = None
    #: For a step that will not run because of a skipped Condition branch: that Condition.
    skipped_by: dict[str, str] = field(default_factory=dict)
    _position: dict[str, int] = field(default_factory=dict)
    _dependents: dict[str, list[tuple[str, Requirement]]] = field(default_factory=dict)
    _unsettled: dict[str, int] = field(default_factory=dict)
    _ready: list[int] = field(default_factory=list)  # heap of positions; stale entries skipped
    _blocked: dict[str, Readiness] = field(default_factory=dict)
    _to_settle: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._position = {name: i for i, name in enumerate(self.names)}
        for name in self.names:
            reqs = self.requirements.get(name, ())
            self._unsettled[name] = len(reqs)
            for req in reqs:
                self._dependents.setdefault(req.upstream, []).append((name, req))
            if not reqs:
                heapq.heappush(self._ready, self._position[name])

    @classmethod
    def for_scope(cls, scope: RunScope) -> Scheduler:
        order = scope.graph.topological_order()
        halting = {name: frozenset(o for o in (FAILED, STOPPED) if scope.halts(name, o)) for name in order}
        return cls(order, scope.requirements, halting)

    @property
    def done(self) -> bool:
        return len(self.outcomes) == len(self.names) and not self.running

    def pending(self) -> list[str]:
        return [n for n in self.names if n not in self.outcomes and n not in self.running]

    def _startable_now(self, name: str) -> bool:
        return name not in self.outcomes and name not in self.running and name not in self._blocked

    def startable(self, limit: int | None = None) -> list[str]:
        """Steps whose requirements all hold, in order, at most ``limit`` running at once."""
        if self.halted_by is not None:
            return []
        capacity = len(self.names) if limit is None else max(0, limit - len(self.running))
        taken: list[int] = []
        while self._ready and len(taken) < capacity:
            position = heapq.heappop(self._ready)
            if self._startable_now(self.names[position]) and (not taken or taken[-1] != position):
                taken.append(position)
        for position in taken:  # asking does not start anything
            heapq.heappush(self._ready, position)
        return [self.names[p] for p in taken]

    def start(self, name: str) -> None:
        self.running.add(name)

    def finish(self, name: str, outcome: str, reason: str | None = None) -> None:
        self.running.discard(name)
        if reason:
            self.reasons[name] = reason
        self._record(name, outcome)
        if self.halted_by is None and outcome in self.halting.get(name, frozenset()):
            self.halted_by = (name, outcome)

    def _record(self, name: str, outcome: str) -> None:
        """Set an outcome and update the steps that depend on it."""
        self.outcomes[name] = outcome
        for dependent, req in self._dependents.get(name, ()):
            self._unsettled[dependent] -= 1
            if not self._startable_now(dependent):
                continue
            if not trigger_holds(req.trigger, outcome):
                self._blocked[dependent] = Readiness(NEVER, req, outcome)
                self._to_settle.append(dependent)
            elif self._unsettled[dependent] == 0:
                heapq.heappush(self._ready, self._position[dependent])

    def skip(self, names: Iterable[str], reason: str, *, by: str | None = None) -> None:
        for name in names:
            if name not in self.outcomes and name not in self.running:
                self.reasons[name] = reason
                if by is not None:
                    self.skipped_by[name] = by
                self._record(name, NOT_RUN)

    def stop(self, by: str) -> None:
        """No new step starts (a stop request); running steps are the caller's to stop."""
        if self.halted_by is None:
            self.halted_by = (by, STOPPED)

    def settle(self) -> list[str]:
        """Mark ``NotRun`` (one level deep) every pending step that can no longer start: a requirement
        can no longer hold, or the scope halted and nothing is left running to change that."""
        if self.halted_by is not None and not self.running:
            culprit, outcome = self.halted_by
            verb = "failed" if outcome == FAILED else "stopped"
            settled = self.pending()
            for name in settled:
                self.reasons[name] = self.halt_wording.format(verb=verb, culprit=culprit)
                self.outcomes[name] = NOT_RUN
            return settled
        settled, self._to_settle = [n for n in self._to_settle if n not in self.outcomes], []
        for name in settled:
            blocking = self._blocked[name]
            assert blocking.blocking is not None
            origin = self.skipped_by.get(blocking.blocking.upstream)
            if origin is not None and blocking.outcome == NOT_RUN:
                self.skipped_by[name] = origin
                self.reasons[name] = f"downstream of a step skipped by '{origin}'"
            else:
                self.reasons[name] = blocking.reason()
        for name in settled:
            self._record(name, NOT_RUN)
        return settled
