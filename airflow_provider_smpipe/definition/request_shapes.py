"""Check request templates from a definition against botocore's service models.

Step types that are one AWS request (``Job`` = ``CreateJob``, ``EMRServerless`` = ``StartJobRun``
and ``CreateApplication``) are checked against the request shapes botocore ships, so a typo in a
member name or a wrong enum value is found by ``smpipe validate`` rather than by the service at run
time. Values that are expressions are not checked (their type is only known at run time); only
literal values are: member names, required members, JSON types, enums, lengths and ranges.
Patterns are not checked: botocore's are Java regular expressions and a false alarm on a valid
definition is worse than a miss. Property paths of these types are checked against the output
shapes (``GetJobRun``, ``DescribeJob``) the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from difflib import get_close_matches
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape

from airflow_provider_smpipe.definition.errors import did_you_mean
from airflow_provider_smpipe.definition.paths import Token
from airflow_provider_smpipe.definition.references import child_location, expression_kind
from airflow_provider_smpipe.definition.validate_base import json_text

#: ``(problem, location, expected)``: how a finding is reported (the validator adds the step).
Report = Callable[[str, str, str | None], None]

_JSON_TYPES = {
    "structure": "an object",
    "map": "an object",
    "list": "an array",
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "double": "a number",
    "float": "a number",
    "boolean": "a boolean",
}


@lru_cache(maxsize=8)
def _service(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def input_shape(service: str, operation: str) -> StructureShape:
    shape = _service(service).operation_model(operation).input_shape
    assert isinstance(shape, StructureShape)
    return shape


def output_shape(service: str, operation: str) -> StructureShape:
    shape = _service(service).operation_model(operation).output_shape
    assert isinstance(shape, StructureShape)
    return shape


def string_bounds(service: str, structure: str, member: str) -> tuple[int, int]:
    """``(min, max)`` length of a string member of a botocore structure shape."""
    shape = _service(service).shape_for(structure).members[member]
    return int(shape.metadata.get("min", 0)), int(shape.metadata.get("max", 1 << 31))


def check_request(
    shape: Shape,
    value: Any,
    location: str,
    report: Report,
    *,
    filled: Collection[str] = (),
    required: Collection[str] = (),
) -> None:
    """Report every way the literal parts of ``value`` depart from ``shape``.

    :param filled: top-level members the service fills in itself (``clientToken``, the job name):
        not required here.
    :param required: top-level members required here although the shape makes them optional.
    """
    if expression_kind(value) is not None:
        return
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        needed = (set(shape.required_members) - set(filled)) | set(required)
        _report_missing(shape, value, sorted(needed), location, report)
    _check(shape, value, location, report, top=True)


def _report_missing(shape: StructureShape, value: dict[str, Any], needed: list[str], location: str, report: Report) -> None:
    """Missing required members, except one an unknown key is a misspelling of (that key is the
    one problem, reported with its "did you mean")."""
    misspelt = {match for key in value if key not in shape.members for match in get_close_matches(str(key), list(shape.members), n=1, cutoff=0.6)}
    for member in needed:
        if member not in value and member not in misspelt:
            report(f"missing required member '{member}'", location, f"{member} ({_describe(shape.members[member])})")


def _check(shape: Shape, value: Any, location: str, report: Report, *, top: bool = False) -> None:
    if value is None or expression_kind(value) is not None:
        return
    kind = shape.type_name
    expected = _JSON_TYPES.get(kind)
    if expected is None:  # timestamps, blobs: nothing a definition writes literally
        return
    if not _is_json_type(kind, value):
        report(f"{_member(location)} is {_json_type(value)} {json_text(value, 40)}", location, expected)
        return
    if isinstance(shape, StructureShape):
        for key, item in value.items():
            if key not in shape.members:
                report(f"unknown member '{key}'{did_you_mean(str(key), shape.members)}", child_location(location, key), ", ".join(shape.members))
                continue
            _check(shape.members[key], item, child_location(location, key), report)
        if not top:  # the top level's required members depend on what the service fills in
            _report_missing(shape, value, list(shape.required_members), location, report)
    elif isinstance(shape, ListShape):
        _check_size(shape, len(value), location, report, "elements")
        for index, item in enumerate(value):
            _check(shape.member, item, f"{location}[{index}]", report)
    elif isinstance(shape, MapShape):
        for key, item in value.items():
            _check(shape.value, item, child_location(location, key), report)
    elif kind == "string":
        enum = shape.enum
        if enum and value not in enum:
            report(f"{_member(location)} {json_text(value, 40)} is not a valid value{did_you_mean(value, enum)}", location, "one of " + ", ".join(enum))
        _check_size(shape, len(value), location, report, "characters")
    elif kind in ("integer", "long", "double", "float"):
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            report(f"{_member(location)} {value} is out of range", location, f"{low if low is not None else '-inf'}..{high if high is not None else 'inf'}")


def _check_size(shape: Shape, size: int, location: str, report: Report, unit: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        report(f"{_member(location)} has {size} {unit}", location, f"at least {low}")
    if high is not None and size > high:
        report(f"{_member(location)} has {size} {unit}", location, f"at most {high}")


def _member(location: str) -> str:
    """The last member of a JSONPath, for messages (``JobConfig.tags['team']`` -> ``tags['team']``)."""
    tail = location.rsplit(".", 1)[-1]
    return tail or location


def _is_json_type(kind: str, value: Any) -> bool:
    if kind in ("structure", "map"):
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("integer", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_type(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array", dict: "an object"}.get(
        type(value), type(value).__name__
    )


def _describe(shape: Shape) -> str:
    return _JSON_TYPES.get(shape.type_name, shape.type_name)


def check_output_path(shape: Shape, tokens: Sequence[Token], *, opaque_members: Collection[str] = ()) -> str | None:
    """Why the property path ``tokens`` does not exist in ``shape`` (``None`` when it may).

    :param opaque_members: string members holding JSON text a path may descend into (a Job's
        ``JobConfigDocument``): nothing after them is checked.
    """
    current: Shape = shape
    for position, token in enumerate(tokens):
        walked = "".join(str(t) for t in tokens[:position]).lstrip(".") or "<root>"
        if isinstance(current, StructureShape):
            if token.kind != "member" or token.value not in current.members:
                name = str(token.value)
                return f"'{name}' is not a member of {walked}{did_you_mean(name, current.members)} (members: {', '.join(current.members)})"
            if token.value in opaque_members and position == 0:
                return None
            current = current.members[str(token.value)]
        elif isinstance(current, ListShape):
            if token.kind == "member":
                return f"{walked} is a list: use [<index>] or ['<name>'], not '.{token.value}'"
            current = current.member
        elif isinstance(current, MapShape):
            current = current.value
        else:
            return f"{walked} is a {current.type_name}: it has no '{token}'"
    return None
