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
ROOTS = ("Parameters", "Execution", "Steps", "PipelineExperimentConfig", "ForEach", "IterationOutput")
#: ``ForEach.CurrentItem``: the item of the iteration a ForEach body step runs in.
CURRENT_ITEM = "CurrentItem"
#: ``IterationOutput.<bodyStep>.<member>``: only valid as a ForEach ``Selector.Field``.
ITERATION_OUTPUT = "IterationOutput"


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed ``{"Get": ...}``.

    :param root: ``Parameters`` | ``Execution`` | ``Steps`` | ``PipelineExperimentConfig`` |
        ``ForEach`` | ``IterationOutput``.
    :param name: the parameter, variable, step or experiment-config member name; ``CurrentItem``
        for ``ForEach``; the body step for ``IterationOutput``.
    :param path: the path after the name: for ``Steps`` the property path (may start with
        ``PropertyFiles``), for ``ForEach.CurrentItem`` the field of the item (may be empty), for
        ``IterationOutput`` the body step's property path.
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
    if root == "ForEach":
        return _parse_current_item(text, rest)
    if root not in ("Steps", ITERATION_OUTPUT):
        if not rest.replace("_", "").replace("-", "").isalnum():
            raise DefinitionError(f"malformed name '{rest}' in reference '{text}'")
        return Reference(text, root, rest)
    name, dot, path = rest.partition(".")
    shape = "'Steps.<StepName>.<Property>'" if root == "Steps" else "'IterationOutput.<BodyStep>.<Property>'"
    if "[" in name:  # Steps.X['a'] is not a form the SDK emits; keep the name clean
        raise DefinitionError(f"malformed step reference '{text}'", expected=shape)
    if not dot or not path:
        raise DefinitionError(f"reference '{text}' names step '{name}' but no property of it", expected=shape)
    try:
        tokens = parse_path(path)
    except DefinitionError as exc:
        raise DefinitionError(f"in reference '{text}': {exc.problem}", expected=exc.expected) from None
    return Reference(text, root, name, tokens)


def _parse_current_item(text: str, rest: str) -> Reference:
    """``ForEach.CurrentItem``, ``ForEach.CurrentItem.a.b``, ``ForEach.CurrentItem['a']``."""
    if not rest.startswith(CURRENT_ITEM) or rest[len(CURRENT_ITEM) : len(CURRENT_ITEM) + 1] not in ("", ".", "["):
        member = rest.split(".", 1)[0].split("[", 1)[0]
        raise DefinitionError(f"unknown ForEach member '{member}' in '{text}'", expected="'ForEach.CurrentItem' (optionally with a field: '.name' or \"['name']\")")
    field = rest[len(CURRENT_ITEM) :]
    if field.startswith("."):
        field = field[1:]
        if not field:
            raise DefinitionError(f"empty field after 'ForEach.CurrentItem.' in '{text}'")
    if not field:
        return Reference(text, "ForEach", CURRENT_ITEM)
    try:
        tokens = parse_path(field)
    except DefinitionError as exc:
        raise DefinitionError(f"in reference '{text}': {exc.problem}", expected=exc.expected) from None
    return Reference(text, "ForEach", CURRENT_ITEM, tokens)


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


#: ``_plain`` of the keys seen so far (a definition repeats a few hundred keys many times).
_PLAIN_KEYS: dict[Any, bool] = {}


def child_location(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    plain = _PLAIN_KEYS.get(key)
    if plain is None:
        plain = _plain(key)
        if len(_PLAIN_KEYS) < 4096 and isinstance(key, str):
            _PLAIN_KEYS[key] = plain
    return f"{base}.{key}" if plain else f"{base}['{key}']"


def step_references(value: Any) -> Iterator[str]:
    """Names of the steps referenced by ``{"Get": "Steps.X..."}`` anywhere in ``value`` (fast path
    used to build the graph; malformed references are reported by the validator, not here)."""
    for kind, expr, _ in iter_expressions(value, "$"):
        if kind == GET and isinstance(expr[GET], str) and expr[GET].startswith("Steps."):
            name = expr[GET][6:].split(".", 1)[0]
            if name:
                yield name
