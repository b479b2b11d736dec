"""Static view of expressions: recognising them, parsing ``Get`` references, finding them in a step."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.definition.paths import Token, parse_path

GET = "Get"
JOIN = "Std:Join"
JSON_GET = "Std:JsonGet"
FUNCTIONS = (JOIN, JSON_GET)
ROOTS = ("Parameters", "Execution", "Steps", "PipelineExperimentConfig")


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed ``{"Get": ...}``.

    :param root: ``Parameters`` | ``Execution`` | ``Steps`` | ``PipelineExperimentConfig``.
    :param name: the parameter, variable, step or experiment-config member name.
    :param path: for ``Steps``: the property path after the step name (may start with
        ``PropertyFiles``).
    """

    text: str
    root: str
    name: str
    path: tuple[Token, ...] = ()


def parse_reference(text: Any) -> Reference:
    """Parse the string of a ``Get``; raises :class:`DefinitionError` (no location) when malformed."""
    if not isinstance(text, str) or not text:
        # checked before the cache: a list or dict is unhashable and would raise TypeError there
        raise DefinitionError(f"'Get' must be a non-empty string, not {text!r}", expected="'Root.Name...'")
    return _parse_reference(text)


@lru_cache(maxsize=8192)
def _parse_reference(text: str) -> Reference:
    root, dot, rest = text.partition(".")
    if root not in ROOTS:
        raise DefinitionError(
            f"unknown reference root '{root}' in '{text}'",
            expected="one of " + ", ".join(ROOTS),
        )
    if not dot or not rest:
        raise DefinitionError(f"reference '{text}' names nothing after '{root}.'")
    if root != "Steps":
        if not rest.replace("_", "").replace("-", "").isalnum():
            raise DefinitionError(f"malformed name '{rest}' in reference '{text}'")
        return Reference(text, root, rest)
    name, dot, path = rest.partition(".")
    if "[" in name:  # Steps.X['a'] is not a form the SDK emits; keep the name clean
        raise DefinitionError(f"malformed step reference '{text}'", expected="'Steps.<StepName>.<Property>'")
    if not dot or not path:
        raise DefinitionError(
            f"reference '{text}' names step '{name}' but no property of it",
            expected="'Steps.<StepName>.<Property>'",
        )
    try:
        tokens = parse_path(path)
    except DefinitionError as exc:
        raise DefinitionError(f"in reference '{text}': {exc.problem}", expected=exc.expected) from None
    return Reference(text, root, name, tokens)


def expression_kind(value: Any) -> str | None:
    """``"Get"``, ``"Std:Join"``, ``"Std:JsonGet"`` or ``None`` for a literal."""
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key == GET or key in FUNCTIONS:
            return key
    return None


def iter_expressions(value: Any, location: str) -> Iterator[tuple[str, Any, str]]:
    """Yield ``(kind, expression, location)`` for every expression in ``value``, outermost first,
    then the ones nested inside ``Std:Join`` / ``Std:JsonGet`` operands. Literal containers are
    walked; literal strings (even ``"Parameters.N"``) are not expressions."""
    stack: list[tuple[Any, str]] = [(value, location)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, dict):
            kind = expression_kind(current)
            if kind is not None:
                yield kind, current, where
                body = current[kind]
                if kind == JOIN and isinstance(body, Mapping) and isinstance(body.get("Values"), list):
                    base = f"{where}['{JOIN}'].Values"
                    stack.extend((v, f"{base}[{i}]") for i, v in reversed(list(enumerate(body["Values"]))))
                elif kind == JSON_GET and isinstance(body, Mapping):
                    for key in ("S3Uri", "PropertyFile"):
                        if key in body:
                            stack.append((body[key], f"{where}['{JSON_GET}'].{key}"))
                continue
            items = list(current.items())
            stack.extend((v, f"{where}.{k}" if _plain(k) else f"{where}['{k}']") for k, v in reversed(items))
        elif isinstance(current, list):
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(current))))


def _plain(key: Any) -> bool:
    return isinstance(key, str) and key.replace("_", "").isalnum()


def child_location(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f"{base}.{key}" if _plain(key) else f"{base}['{key}']"


def step_references(value: Any) -> Iterator[str]:
    """Names of the steps referenced by ``{"Get": "Steps.X..."}`` anywhere in ``value`` (fast path
    used to build the graph; malformed references are reported by the validator, not here)."""
    for kind, expr, _ in iter_expressions(value, "$"):
        if kind == GET and isinstance(expr[GET], str) and expr[GET].startswith("Steps."):
            name = expr[GET][6:].split(".", 1)[0]
            if name:
                yield name
