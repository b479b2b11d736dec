"""Check request and response dicts against botocore's service model.

One walker, two uses:

* :func:`validate_output` / :func:`assert_valid_output`: does a response (the server's own JSON, or
  what boto3 parsed from it) conform to the operation's output shape? Every member must be declared
  by the shape, required members present, types, enums, lengths, ranges and patterns respected.
  Used by the emulator's test-suite on every response of the operations it adds, and by the server
  itself in strict mode.
* :func:`validate_input`: the service's own request validation, with its message wording
  (``1 validation error detected: Value 'x' at 'pipelineExecutionArn' failed to satisfy constraint:
  Member must satisfy regular expression pattern: ...``). Members the model does not know are
  ignored, as the service ignores them. ``structural=True`` checks only required members and
  types (what the server checks before a request reaches moto, which crashes on wrong types).

:func:`json_target_services` maps the ``X-Amz-Target`` prefixes of the JSON-protocol services to
botocore's service names (how the server recognises an unknown operation).
"""

from __future__ import annotations

import gzip
import logging
import os
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

log = logging.getLogger(__name__)

#: Strings longer than this are not matched against their pattern (the definition's pattern has
#: nested quantifiers and all the ones that matter are on short values: names, ARNs, tokens).
MAX_PATTERN_CHECK_LENGTH = 4096


class ShapeError(AssertionError):
    """A response does not conform to its botocore output shape; ``problems`` lists each mismatch."""

    def __init__(self, operation: str, problems: list[str]) -> None:
        self.operation = operation
        self.problems = problems
        super().__init__(f"{operation} response does not match botocore's output shape:\n  - " + "\n  - ".join(problems))


@lru_cache(maxsize=8)
def service_model(service: str = "sagemaker") -> ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def operation_model(operation: str, service: str = "sagemaker") -> OperationModel:
    return service_model(service).operation_model(operation)


#: The JSON-protocol services the emulator serves itself, should botocore's data not be readable.
_KNOWN_TARGETS = {"SageMaker": "sagemaker", "ElasticMapReduce": "emr", "AmazonSQS": "sqs"}
_TARGET_PREFIX = re.compile(rb'"targetPrefix"\s*:\s*"([^"]+)"')


@lru_cache(maxsize=1)
def json_target_services() -> dict[str, str]:
    """``{targetPrefix: botocore service name}`` for every JSON-protocol service botocore knows.

    Only the beginning of each ``service-2`` model is read (its ``metadata`` comes first), so this
    takes a fraction of a second instead of loading ~400 models.
    """
    found = dict(_KNOWN_TARGETS)
    try:
        loader = botocore.session.get_session().get_component("data_loader")
        for name in loader.list_available_services("service-2"):
            version = loader.determine_latest_version(name, "service-2")
            for base in loader.search_paths:
                path = os.path.join(base, name, version, "service-2.json")
                opener: Any = open
                if not os.path.exists(path):
                    path, opener = path + ".gz", gzip.open
                    if not os.path.exists(path):
                        continue
                with opener(path, "rb") as handle:
                    match = _TARGET_PREFIX.search(handle.read(8192))
                if match:
                    found.setdefault(match.group(1).decode(), name)
                break
    except Exception:  # pragma: no cover - botocore's data layout changed: the known services remain
        log.debug("could not read the target prefixes from botocore's data", exc_info=True)
    return found


def service_for_target(prefix: str) -> ServiceModel | None:
    """The botocore model of the JSON-protocol service whose ``X-Amz-Target`` prefix is ``prefix``."""
    name = json_target_services().get(prefix)
    if name is None:
        return None
    try:
        return service_model(name)
    except Exception:  # pragma: no cover - listed but not loadable
        return None


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:  # a Java-only construct: skip the check rather than guess
        return None


# -- outputs ---------------------------------------------------------------------------------------


def validate_output(operation: str, response: Mapping[str, Any], *, service: str = "sagemaker") -> list[str]:
    """Every way ``response`` departs from the output shape of ``operation`` (empty when it conforms).

    ``response`` may be the wire JSON (timestamps as epoch numbers) or boto3's parsed dict
    (datetimes; its ``ResponseMetadata`` is ignored).
    """
    shape = operation_model(operation, service).output_shape
    problems: list[str] = []
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    if shape is None:
        if body:
            problems.append(f"$: the operation has no output, got keys {sorted(body)}")
        return problems
    _check(shape, body, "$", problems, output=True)
    return problems


def assert_valid_output(operation: str, response: Mapping[str, Any], *, service: str = "sagemaker") -> Mapping[str, Any]:
    """Raise :class:`ShapeError` unless ``response`` conforms; return it for chaining."""
    problems = validate_output(operation, response, service=service)
    if problems:
        raise ShapeError(operation, problems)
    return response


def to_wire(operation: str, document: Mapping[str, Any], *, service: str = "sagemaker") -> dict[str, Any]:
    """``document`` (an output of ``operation``) in wire form: every timestamp the output shape
    declares, given as a datetime or an ISO-8601 string (what step properties hold), becomes epoch
    seconds. Anything the shape does not declare is left as it is."""
    shape = operation_model(operation, service).output_shape
    if shape is None:
        return dict(document)
    return _wire(shape, document)


def _wire(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        assert isinstance(shape, StructureShape)
        return {k: _wire(shape.members[k], v) if k in shape.members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        assert isinstance(shape, ListShape)
        return [_wire(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, Mapping):
        assert isinstance(shape, MapShape)
        return {k: _wire(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                return value
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=timezone.utc)
            return value.timestamp()
    return value


def _check(shape: Shape, value: Any, path: str, problems: list[str], *, output: bool) -> None:
    kind = shape.type_name
    if value is None:
        problems.append(f"{path}: null is not a valid {kind} ({shape.name})")
        return
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, Mapping):
            problems.append(f"{path}: expected an object ({shape.name}), got {type(value).__name__}")
            return
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(f"{path}.{name}: required by {shape.name} but missing")
        for name, member_value in value.items():
            member = shape.members.get(name)
            if member is None:
                problems.append(f"{path}.{name}: not a member of {shape.name} (members: {', '.join(shape.members)})")
                continue
            _check(member, member_value, f"{path}.{name}", problems, output=output)
        if getattr(shape, "is_tagged_union", False) and len([v for v in value.values() if v is not None]) > 1:
            problems.append(f"{path}: {shape.name} is a union, but {len(value)} members are set")
    elif kind == "list":
        assert isinstance(shape, ListShape)
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list ({shape.name}), got {type(value).__name__}")
            return
        _length(shape, len(value), path, problems, "items")
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}[{index}]", problems, output=output)
    elif kind == "map":
        assert isinstance(shape, MapShape)
        if not isinstance(value, Mapping):
            problems.append(f"{path}: expected a map ({shape.name}), got {type(value).__name__}")
            return
        for key, item in value.items():
            _check(shape.key, key, f"{path}<key {key!r}>", problems, output=output)
            _check(shape.value, item, f"{path}[{key!r}]", problems, output=output)
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string ({shape.name}), got {type(value).__name__} {value!r}")
            return
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {shape.enum} ({shape.name})")
        _length(shape, len(value), path, problems, "characters")
        pattern = shape.metadata.get("pattern")
        if pattern and len(value) <= MAX_PATTERN_CHECK_LENGTH:
            compiled = _compiled(pattern)
            if compiled is not None and not compiled.fullmatch(value):
                problems.append(f"{path}: {value!r} does not match the pattern {pattern} ({shape.name})")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: expected an integer ({shape.name}), got {type(value).__name__} {value!r}")
            return
        _range(shape, value, path, problems)
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{path}: expected a number ({shape.name}), got {type(value).__name__} {value!r}")
            return
        _range(shape, value, path, problems)
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean ({shape.name}), got {type(value).__name__} {value!r}")
    elif kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (datetime, date, int, float)):
            problems.append(f"{path}: expected a timestamp ({shape.name}), got {type(value).__name__} {value!r}")
    elif kind == "blob":
        if not isinstance(value, (bytes, bytearray, str)):
            problems.append(f"{path}: expected a blob ({shape.name}), got {type(value).__name__}")
    # "document" and anything newer: any JSON value


def _length(shape: Shape, length: int, path: str, problems: list[str], unit: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and length < low:
        problems.append(f"{path}: {length} {unit}, fewer than the minimum {low} ({shape.name})")
    if high is not None and length > high:
        problems.append(f"{path}: {length} {unit}, more than the maximum {high} ({shape.name})")


def _range(shape: Shape, value: float, path: str, problems: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        problems.append(f"{path}: {value} is below the minimum {low} ({shape.name})")
    if high is not None and value > high:
        problems.append(f"{path}: {value} is above the maximum {high} ({shape.name})")


# -- inputs ----------------------------------------------------------------------------------------


def validate_input(operation: str, params: Mapping[str, Any], *, service: str = "sagemaker", structural: bool = False) -> list[str]:
    """The service's validation messages for a request (empty when valid).

    Each message reads like the service's: ``Value '<v>' at '<camelCasePath>' failed to satisfy
    constraint: Member must ...``. ``structural``: only required members and types (no lengths,
    ranges, enums or patterns).
    """
    shape = operation_model(operation, service).input_shape
    errors: list[str] = []
    if shape is not None:
        _check_input(shape, params, "", errors, structural=structural)
    return errors


def validation_message(errors: list[str]) -> str:
    count = len(errors)
    return f"{count} validation error{'s' if count != 1 else ''} detected: " + "; ".join(errors)


def _member_path(parent: str, name: str) -> str:
    camel = name[:1].lower() + name[1:]
    return f"{parent}.{camel}" if parent else camel


def _shown(value: Any) -> str:
    if value is None:
        return "null"
    text = str(value)
    return f"'{text if len(text) <= 200 else text[:197] + '...'}'"


def _check_input(shape: Shape, value: Any, path: str, errors: list[str], *, structural: bool = False) -> None:
    kind = shape.type_name
    where = path or "request"
    if structural and kind in ("string", "integer", "long", "float", "double", "boolean", "timestamp"):
        _check_type(kind, value, where, errors)
        return

    def fail(constraint: str) -> None:
        errors.append(f"Value {_shown(value)} at '{where}' failed to satisfy constraint: Member {constraint}")

    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, Mapping):
            fail("must be a structure")
            return
        for name, member in shape.members.items():
            member_path = _member_path(path, name)
            if value.get(name) is None:
                if name in shape.required_members:
                    errors.append(f"Value null at '{member_path}' failed to satisfy constraint: Member must not be null")
                continue
            _check_input(member, value[name], member_path, errors, structural=structural)
    elif kind == "list":
        assert isinstance(shape, ListShape)
        if not isinstance(value, list):
            fail("must be a list")
            return
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if not structural and low is not None and len(value) < low:
            fail(f"must have length greater than or equal to {low}")
        if not structural and high is not None and len(value) > high:
            fail(f"must have length less than or equal to {high}")
        for index, item in enumerate(value):
            _check_input(shape.member, item, f"{path}.{index + 1}.member", errors, structural=structural)
    elif kind == "map":
        assert isinstance(shape, MapShape)
        if not isinstance(value, Mapping):
            fail("must be a map")
            return
        for key, item in value.items():
            _check_input(shape.value, item, f"{path}.{key}", errors, structural=structural)
    elif kind == "string":
        if not isinstance(value, str):
            fail("must be a string")
            return
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and len(value) < low:
            fail(f"must have length greater than or equal to {low}")
        if high is not None and len(value) > high:
            fail(f"must have length less than or equal to {high}")
        if shape.enum and value not in shape.enum:
            fail(f"must satisfy enum value set: [{', '.join(shape.enum)}]")
        pattern = shape.metadata.get("pattern")
        if pattern and len(value) <= MAX_PATTERN_CHECK_LENGTH:
            compiled = _compiled(pattern)
            if compiled is not None and not compiled.fullmatch(value):
                fail(f"must satisfy regular expression pattern: {pattern}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            fail("must be an integer")
            return
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and value < low:
            fail(f"must have value greater than or equal to {low}")
        if high is not None and value > high:
            fail(f"must have value less than or equal to {high}")
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail("must be a number")
    elif kind == "boolean":
        if not isinstance(value, bool):
            fail("must be a boolean")
    elif kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            fail("must be a timestamp")


def _check_type(kind: str, value: Any, where: str, errors: list[str]) -> None:
    """A scalar's type only (``structural`` validation)."""
    expected = {
        "string": ("a string", lambda v: isinstance(v, str)),
        "integer": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
        "long": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
        "float": ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
        "double": ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
        "boolean": ("a boolean", lambda v: isinstance(v, bool)),
        "timestamp": ("a timestamp", lambda v: isinstance(v, (int, float, str)) and not isinstance(v, bool)),
    }[kind]
    if not expected[1](value):
        errors.append(f"Value {_shown(value)} at '{where}' failed to satisfy constraint: Member must be {expected[0]}")
