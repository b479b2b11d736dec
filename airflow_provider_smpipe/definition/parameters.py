"""Pipeline parameter values: check overrides against the declared parameters, cast, stringify.

Two forms are accepted for an override, as the service and Airflow users produce them:

* typed JSON (``3``, ``0.5``, ``true``, ``"ml.m5.xlarge"``), e.g. from a DAG's ``params``;
* the strings ``StartPipelineExecution`` carries (``"3"``, ``"0.5"``, ``"True"``), cast by the
  declared type like the service does (booleans case-insensitively, because the SDK sends ``"True"``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_smpipe.definition.errors import InvalidDefinitionError, ParameterError, did_you_mean
from airflow_provider_smpipe.definition.model import Parameter

#: StartPipelineExecution limits (botocore: PipelineParameters <= 200 items, Value String1024).
MAX_PARAMETERS = 200
MAX_VALUE_LENGTH = 1024


def cast_parameter_value(parameter: Parameter, value: Any, *, location: str | None = None) -> Any:
    """Return ``value`` as the parameter's declared Python type, or raise :class:`ParameterError`."""
    where = location or f"$.{parameter.name}"
    ptype = parameter.type

    def fail(why: str) -> ParameterError:
        return ParameterError(
            f"{ptype} parameter '{parameter.name}' got {_describe(value)}: {why}",
            location=where,
            expected=_expected(parameter),
        )

    if value is None:
        raise fail("a value is required")
    if isinstance(value, str):
        # StartPipelineExecution's Value may be empty (length 0..1024) and definitions declare ""
        # defaults; only a typed parameter needs characters to parse.
        if value == "" and ptype != "String":
            raise fail("the value is empty")
        if ptype == "String":
            typed: Any = value
        elif ptype == "Integer":
            try:
                typed = parse_integer(value)
            except ValueError:
                raise fail("not an integer") from None
        elif ptype == "Float":
            try:
                typed = parse_float(value)
            except ValueError:
                raise fail("not a number") from None
            if not math.isfinite(typed):
                raise fail("not a finite number")
        else:
            lowered = value.strip().lower()
            if lowered not in ("true", "false"):
                raise fail("not a boolean")
            typed = lowered == "true"
    elif isinstance(value, bool):
        if ptype != "Boolean":
            raise fail("a boolean is not accepted here")
        typed = value
    elif isinstance(value, int):
        if ptype == "Integer":
            typed = value
        elif ptype == "Float":
            typed = float(value)
        else:
            raise fail("a number is not accepted here")
    elif isinstance(value, float):
        if ptype == "Float":
            if not math.isfinite(value):
                raise fail("not a finite number")
            typed = value
        elif ptype == "Integer" and value.is_integer():
            typed = int(value)
        else:
            raise fail("a number with a fraction is not an Integer" if ptype == "Integer" else "a number is not accepted here")
    else:
        raise fail(f"a JSON {type(value).__name__} is not accepted")
    if ptype == "String" and parameter.enum_values and typed not in parameter.enum_values:
        raise fail("not one of its EnumValues")
    if len(to_wire_string(typed)) > MAX_VALUE_LENGTH:
        raise fail(f"longer than {MAX_VALUE_LENGTH} characters")
    return typed


def resolve_parameters(
    declared: Mapping[str, Parameter], overrides: Mapping[str, Any] | None, *, source: str = "parameters"
) -> dict[str, Any]:
    """Merge defaults with ``overrides`` and return every parameter's typed value.

    :raises InvalidDefinitionError: listing every unknown name, bad value and missing value.
    """
    overrides = dict(overrides or {})
    problems: list[ParameterError] = []
    if len(overrides) > MAX_PARAMETERS:
        problems.append(ParameterError(f"{len(overrides)} overrides; at most {MAX_PARAMETERS} are accepted", location="$"))
    for name in overrides:
        if name not in declared:
            problems.append(
                ParameterError(
                    f"unknown parameter '{name}'{did_you_mean(name, declared)}",
                    location=f"$.{name}",
                    expected="one of " + ", ".join(declared) if declared else "no parameters (the pipeline declares none)",
                )
            )
    values: dict[str, Any] = {}
    for name, parameter in declared.items():
        try:
            if name in overrides:
                values[name] = cast_parameter_value(parameter, overrides[name], location=f"$.{name}")
            elif parameter.has_default:
                values[name] = parameter.default
            else:
                raise ParameterError(
                    f"parameter '{name}' has no default and no value was given",
                    location=f"$.{name}",
                    expected=_expected(parameter),
                )
        except ParameterError as exc:
            problems.append(exc)
    if problems:
        raise InvalidDefinitionError(problems, source, what="parameters")
    return values


#: Numbers as text: ASCII decimal digits only. Python's ``int()`` and ``float()`` also take
#: ``"1_000"``, Arabic-Indic digits and ``"nan"``, which the service does not.
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:inf|infinity|nan)", re.IGNORECASE)


def parse_integer(text: str) -> int:
    """An integer written in decimal (surrounding blanks allowed); ``ValueError`` otherwise."""
    stripped = text.strip()
    if _INTEGER_TEXT.fullmatch(stripped) is None:
        raise ValueError(f"not an integer: {text[:40]!r}")
    return int(stripped)  # ValueError beyond 4300 digits too


def parse_float(text: str) -> float:
    """A number written in decimal (surrounding blanks allowed; ``inf``/``nan`` parse, for the
    caller to refuse as not finite); ``ValueError`` otherwise."""
    stripped = text.strip()
    if _FLOAT_TEXT.fullmatch(stripped) is None:
        raise ValueError(f"not a number: {text[:40]!r}")
    return float(stripped)


def to_wire_string(value: Any) -> str:
    """The string StartPipelineExecution carries for a typed value (``true``/``false`` for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_start_parameters(declared: Mapping[str, Parameter], overrides: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Check ``overrides`` and return ``PipelineParameters`` for the API: only the names given,
    values as strings. Defaults are left to the service so the execution shows what was overridden."""
    values = resolve_parameters(declared, overrides)
    return [{"Name": name, "Value": to_wire_string(values[name])} for name in (overrides or {})]


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(parameter: Parameter) -> str:
    if parameter.enum_values:
        return "one of " + ", ".join(parameter.enum_values)
    return {
        "String": "a string",
        "Integer": "an integer (or its string form)",
        "Float": "a number (or its string form)",
        "Boolean": "true or false (any case, or a JSON boolean)",
    }[parameter.type]
