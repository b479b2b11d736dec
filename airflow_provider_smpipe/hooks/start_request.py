"""The caller's side of a StartPipelineExecution request, checked before any AWS call.

What the caller passes (operator arguments, rendered templates, a run conf) is checked for its
shape here, so a wrong shape is a located error naming the argument — never a ``TypeError`` from
deep inside, and never a request that does something else than asked:

* ``parameters``: ``None`` or a mapping of parameter names (strings) to scalar values;
* ``parallelism``: ``None`` or a whole number >= 1 (its string form too: templates render strings);
* ``selected_steps``: ``None`` (a full run), a list of step names, or one string of names separated
  by commas. An **empty** selection is an error: an empty "steps" field must not start the whole
  pipeline;
* a reference execution (``source_execution``) only goes with selected steps.

The values are then checked against the pipeline's definition (names, types, ``EnumValues``, the
selective-execution rules) by :meth:`SageMakerPipelineHook.build_start_request`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError, ParameterError, SelectionError

_SCALARS = (str, int, float, bool)


@dataclass(frozen=True, slots=True)
class StartInputs:
    """The caller's inputs, in the shapes the request builder takes."""

    parameters: dict[str, Any] | None
    parallelism: int | None
    selected_steps: list[str] | None
    source_execution: str | None


def _parameters(value: Any, problems: list[DefinitionError]) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.append(ParameterError(f"parameters is {type(value).__name__} {str(value)[:80]!r}", location="parameters", expected="a mapping of parameter names to values"))
        return None
    good: dict[str, Any] = {}
    for name, item in value.items():
        if not isinstance(name, str):
            problems.append(ParameterError(f"a parameter name is {type(name).__name__} {name!r}", location="parameters", expected="parameter names as strings"))
            continue
        if item is not None and not isinstance(item, _SCALARS):
            problems.append(
                ParameterError(f"parameter '{name}' is {type(item).__name__}", location=f"parameters.{name}", expected="a string, number or boolean")
            )
            continue
        good[name] = item
    return good


def _parallelism(value: Any, problems: list[DefinitionError]) -> int | None:
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or number < 1:
        problems.append(DefinitionError(f"parallelism is {value!r}", location="parallelism", expected="a whole number >= 1 (MaxParallelExecutionSteps)"))
        return None
    return number


def _selected_steps(value: Any, argument: str, problems: list[DefinitionError]) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        steps = [part.strip() for part in value.split(",")]
        steps = [s for s in steps if s]
    elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        bad = [s for s in value if not isinstance(s, str) or not s.strip()]
        if bad:
            problems.append(SelectionError(f"{argument} holds {bad[0]!r}", location=argument, expected="step names (non-empty strings)"))
            return None
        steps = [s.strip() for s in value]
    else:
        problems.append(SelectionError(f"{argument} is {type(value).__name__} {str(value)[:80]!r}", location=argument, expected="a list of step names"))
        return None
    if not steps:
        problems.append(
            SelectionError(
                f"{argument} is empty",
                location=argument,
                expected="at least one step name (leave it unset, None, for a full run: an empty selection never starts the whole pipeline)",
            )
        )
        return None
    return steps


def check_start_inputs(
    *,
    parameters: Any = None,
    parallelism: Any = None,
    selected_steps: Any = None,
    source_execution: Any = None,
) -> StartInputs:
    """Check the shapes of a start request's inputs; raises :class:`InvalidDefinitionError`
    listing every problem, located by argument name."""
    problems: list[DefinitionError] = []
    checked_parameters = _parameters(parameters, problems)
    checked_parallelism = _parallelism(parallelism, problems)
    steps = _selected_steps(selected_steps, "selected_steps", problems)
    source: str | None = None
    if source_execution is not None:
        if not isinstance(source_execution, str) or not source_execution.strip():
            problems.append(SelectionError(f"source_execution is {source_execution!r}", location="source_execution", expected="an execution ARN or a selector"))
        elif selected_steps is None:
            problems.append(
                SelectionError(
                    "source_execution is given without selected_steps",
                    location="source_execution",
                    expected="selected_steps too (a reference execution only serves a selective run; it would be ignored)",
                )
            )
        else:
            source = source_execution.strip()
    if problems:
        raise InvalidDefinitionError(problems, what="start request")
    return StartInputs(checked_parameters, checked_parallelism, steps, source)
