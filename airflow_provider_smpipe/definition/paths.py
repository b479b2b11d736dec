"""Property paths (``ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri``) and JsonGet paths.

Written by hand rather than with jmespath because the SDK's grammar is not JMESPath: ``['key']`` on a
*list* picks the element whose name field equals ``key`` (``Outputs['train']``), which JMESPath
cannot express, and quoted keys may contain dots. Brackets are tokenised before dots are split, so
``OutputParameters['a.b']`` works (the SDK's local executor gets this wrong).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from airflow_provider_smpipe.definition.errors import DefinitionError, ResolutionError, did_you_mean

#: Fields that name an element of a list, tried in this order for a string index on a list.
#: Processing outputs/inputs, training channels and metrics, endpoint variants, then a generic Name.
LIST_KEY_FIELDS: tuple[str, ...] = (
    "OutputName",
    "InputName",
    "ChannelName",
    "MetricName",
    "VariantName",
    "Name",
)


@dataclass(frozen=True, slots=True)
class Token:
    """One path step: a member (``.Name``), a list position (``[0]``) or a quoted key (``['k']``)."""

    kind: str  # "member" | "index" | "key"
    value: str | int

    def __str__(self) -> str:
        if self.kind == "member":
            return f".{self.value}"
        if self.kind == "index":
            return f"[{self.value}]"
        return f"['{self.value}']"


_MEMBER = re.compile(r"[^.\[\]'\"]+")
_INDEX = re.compile(r"\[(-?[0-9]+)\]")
_QUOTED = re.compile(r"\[(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")\]")


def parse_path(path: str) -> tuple[Token, ...]:
    """Tokenise a property path; raises :class:`DefinitionError` (without a location) when malformed."""
    if not isinstance(path, str) or not path:
        # checked before the cache: an unhashable argument would raise TypeError there
        raise DefinitionError("empty property path", expected="a path such as 'A.B[0]['key']'")
    return _parse_path(path)


@lru_cache(maxsize=4096)
def _parse_path(path: str) -> tuple[Token, ...]:
    tokens: list[Token] = []
    pos = 0
    text = path[2:] if path.startswith("$.") else path  # JsonPath's root marker is accepted
    while pos < len(text):
        char = text[pos]
        if char == "[":
            match = _INDEX.match(text, pos) or _QUOTED.match(text, pos)
            if match is None:
                raise DefinitionError(
                    f"malformed bracket at character {pos} of path '{path}'",
                    expected="[<integer>] or ['<key>']",
                )
            if match.re is _INDEX:
                tokens.append(Token("index", int(match.group(1))))
            else:
                key = match.group(1) if match.group(1) is not None else match.group(2)
                tokens.append(Token("key", key.replace("\\'", "'").replace('\\"', '"')))
            pos = match.end()
            continue
        if char == ".":
            if not tokens or pos + 1 >= len(text) or text[pos + 1] in ".[":
                raise DefinitionError(f"empty member name in path '{path}'", expected="'.Name'")
            pos += 1
            continue
        if tokens and text[pos - 1] not in ".":
            raise DefinitionError(f"unexpected character {char!r} in path '{path}'")
        match = _MEMBER.match(text, pos)
        if match is None:
            raise DefinitionError(f"unexpected character {char!r} in path '{path}'")
        tokens.append(Token("member", match.group(0)))
        pos = match.end()
    return tuple(tokens)


def format_path(tokens: Sequence[Token]) -> str:
    return "".join(str(t) for t in tokens).lstrip(".")


def _list_element_by_name(items: Sequence[Any], key: str) -> Any:
    for field in LIST_KEY_FIELDS:
        for item in items:
            if isinstance(item, Mapping) and item.get(field) == key:
                return item
    raise KeyError(key)


def _names_in_list(items: Sequence[Any]) -> list[str]:
    names = []
    for item in items:
        if isinstance(item, Mapping):
            for field in LIST_KEY_FIELDS:
                if isinstance(item.get(field), str):
                    names.append(item[field])
                    break
    return names


def get_path(root: Any, tokens: Sequence[Token], *, what: str, step: str | None, location: str) -> Any:
    """Follow ``tokens`` from ``root``; a missing element is a :class:`ResolutionError` naming it.

    :param what: how to describe the root in messages, e.g. ``"the outputs of step 'Train'"``.
    """
    value = root
    for done, token in enumerate(tokens):
        walked = format_path(tokens[:done]) or "<root>"
        try:
            if token.kind == "member":
                if not isinstance(value, Mapping):
                    raise TypeError
                value = value[token.value]
            elif token.kind == "index":
                if not isinstance(value, Sequence) or isinstance(value, str):
                    raise TypeError
                value = value[token.value]  # type: ignore[index]
            elif isinstance(value, Mapping):
                value = value[token.value]
            elif isinstance(value, Sequence) and not isinstance(value, str):
                value = _list_element_by_name(value, str(token.value))
            else:
                raise TypeError
        except TypeError:
            raise ResolutionError(
                f"cannot apply '{token}' to the {type(value).__name__} at '{walked}' of {what}",
                step=step,
                location=location,
            ) from None
        except (KeyError, IndexError):
            raise ResolutionError(
                f"'{format_path(tokens[: done + 1])}' is not in {what}{_hint(value, token)}",
                step=step,
                location=location,
            ) from None
    return value


def _hint(container: Any, token: Token) -> str:
    if isinstance(container, Mapping):
        keys = [str(k) for k in container]
        suggestion = did_you_mean(str(token.value), keys)
        if suggestion:
            return suggestion
        shown = ", ".join(sorted(keys)[:12])
        return f" (available: {shown})" if keys else " (it is empty)"
    if isinstance(container, Sequence) and not isinstance(container, str):
        if token.kind == "key":
            names = _names_in_list(container)
            return f" (names in the list: {', '.join(names)})" if names else " (the list has no named elements)"
        return f" (the list has {len(container)} elements)"
    return ""
