"""The step dependency graph.

Edges (upstream -> downstream), as the SDK's ``PipelineGraph`` derives them: ``DependsOn`` (run
conditions included: the edge keeps its trigger in :attr:`StepGraph.triggers`); every
``{"Get": "Steps.<name>..."}`` in a step (for a Condition: in its ``Conditions`` only; for a
ForEach: in ``IterableItems`` and ``Selector``, not its body); the parent Condition of every branch
step; the ForEach of every body step. One deliberate difference: references in a step's top-level
fields (a ClarifyCheck's ``ModelName``, a Lambda's ``FunctionArn``) also make edges, because their
values cannot be resolved before that step ran; the SDK only scans ``Arguments``.

Scheduling uses :class:`~airflow_provider_smpipe.definition.runstate.RunScope` graphs, which leave
ForEach body steps out of the top level (they run as children of their ForEach).
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(slots=True)
class StepGraph:
    """Upstream/downstream adjacency over step names; ``order`` is document order (used for ties)."""

    order: list[str]
    upstream: dict[str, set[str]] = field(default_factory=dict)
    downstream: dict[str, set[str]] = field(default_factory=dict)
    #: ``(upstream, downstream) -> trigger`` for every edge that comes from a ``DependsOn`` entry.
    triggers: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def from_upstream(
        cls, order: list[str], upstream: Mapping[str, Iterable[str]], triggers: Mapping[tuple[str, str], str] | None = None
    ) -> StepGraph:
        graph = cls(order=list(order), triggers=dict(triggers or {}))
        graph.upstream = {name: set() for name in order}
        graph.downstream = {name: set() for name in order}
        for name, ups in upstream.items():
            for up in ups:
                graph.upstream[name].add(up)
                graph.downstream[up].add(name)
        return graph

    def edges(self) -> list[tuple[str, str]]:
        """Every ``(upstream, downstream)`` pair, sorted."""
        return sorted((up, down) for down, ups in self.upstream.items() for up in ups)

    def find_cycle(self) -> list[str] | None:
        """One cycle as ``[a, b, ..., a]``, or ``None``. Iterative DFS, so deep graphs cannot overflow."""
        colour = dict.fromkeys(self.order, 0)  # 0 new, 1 on the stack, 2 done
        for start in self.order:
            if colour[start]:
                continue
            stack: list[tuple[str, list[str]]] = [(start, sorted(self.downstream[start]))]
            path = [start]
            colour[start] = 1
            while stack:
                node, pending = stack[-1]
                if not pending:
                    stack.pop()
                    path.pop()
                    colour[node] = 2
                    continue
                nxt = pending.pop()
                if colour[nxt] == 1:
                    return path[path.index(nxt) :] + [nxt]
                if colour[nxt] == 0:
                    colour[nxt] = 1
                    path.append(nxt)
                    stack.append((nxt, sorted(self.downstream[nxt])))
        return None

    def topological_order(self) -> list[str]:
        """Kahn's algorithm; among ready steps the one earliest in the document goes first."""
        return [name for wave in self.waves() for name in wave]

    def waves(self) -> list[list[str]]:
        """Steps grouped by when the service could start them if every step took the same time:
        wave 0 has no upstream, wave k+1 becomes ready when wave k is done."""
        position = {name: i for i, name in enumerate(self.order)}
        missing = {name: len(ups) for name, ups in self.upstream.items()}
        ready = [(position[n], n) for n, count in missing.items() if count == 0]
        heapq.heapify(ready)
        waves: list[list[str]] = []
        while ready:
            wave = [heapq.heappop(ready)[1] for _ in range(len(ready))]
            waves.append(wave)
            nxt: list[tuple[int, str]] = []
            for name in wave:
                for down in self.downstream[name]:
                    missing[down] -= 1
                    if missing[down] == 0:
                        nxt.append((position[down], down))
            heapq.heapify(nxt)
            ready = nxt
        return waves

    def descendants(self, roots: Iterable[str]) -> set[str]:
        """Every step reachable downstream of ``roots`` (the roots themselves excluded unless reached)."""
        return self._reach(roots, self.downstream)

    def ancestors(self, roots: Iterable[str]) -> set[str]:
        return self._reach(roots, self.upstream)

    @staticmethod
    def _reach(roots: Iterable[str], adjacency: Mapping[str, set[str]]) -> set[str]:
        seen: set[str] = set()
        queue = deque(roots)
        while queue:
            for nxt in adjacency[queue.popleft()]:
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        return seen

    def roots(self) -> list[str]:
        return [n for n in self.order if not self.upstream[n]]
