"""State shared by the validator's parts (envelope, expressions, step types): one per load."""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.definition.model import Parameter, Step
from airflow_provider_smpipe.definition.references import FUNCTIONS, GET


class ValidatorState:
    """What the validator knows so far; every check appends to :attr:`problems` and goes on."""

    def __init__(self, document: Any, label: str) -> None:
        self.document = document
        self.label = label
        self.problems: list[DefinitionError] = []
        self.steps: dict[str, Step] = {}
        self.parameters: dict[str, Parameter] = {}
        self.experiment_config: dict[str, Any] | None = None
        #: graph edges: step -> upstream steps (SDK ``PipelineGraph`` rules)
        self.upstream: dict[str, set[str]] = {}
        #: step -> {referenced step: location of the first reference}
        self.references: dict[str, dict[str, str]] = {}
        #: ForEach -> its body step names, in document order
        self.bodies: dict[str, list[str]] = {}
        #: Steps with a valid name that were rejected (e.g. unknown type): already reported, so
        #: references to them must not add "unknown step" problems on top.
        self.rejected_steps: set[str] = set()
        #: (ForEach, outside step) -> the body step whose need of it the ForEach took over
        self.lifted_from: dict[tuple[str, str], str] = {}
        #: what a step-less expression belongs to, for messages ("PipelineExperimentConfig", ...)
        self.top_level_context = "PipelineExperimentConfig"

    def problem(self, problem: str, *, step: str | None = None, location: str | None = None, expected: str | None = None) -> None:
        self.problems.append(DefinitionError(problem, step=step, location=location, expected=expected))


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def article(word: str) -> str:
    """``"a Lambda"``, ``"an EMRServerless"``, ``"an Athena"``."""
    return f"{'an' if word[:1].upper() in 'AEIOU' else 'a'} {word}"


def json_text(value: Any, limit: int = 60) -> str:
    """A value as it looks in the definition (JSON, not Python's repr), shortened."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]  # no need to serialise a megabyte to show 60 characters of it
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = short_repr(value, limit)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)``, at most ``limit`` characters (never raises: a long string is cut first)."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # pragma: no cover - documents are checked for both first
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and (GET in value or next(iter(value)) in FUNCTIONS)
