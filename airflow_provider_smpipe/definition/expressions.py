"""Run-time evaluation of expressions (``Get``, ``Std:Join``, ``Std:JsonGet``) and conditions.

The same :class:`Resolver` serves the dry-run, the emulator and the translated DAG; only where
step properties, property files and S3 objects come from differs, and is passed in.

Rendering and typing rules, chosen to match the service (see docs/README "Expression semantics"):

* ``Get`` returns the typed value: parameters as declared, step properties as the Describe* API
  returns them, Lambda/Callback outputs as their declared ``OutputType``.
* ``Std:Join`` always returns a string; booleans render ``true``/``false`` (the service's form, which
  the ``@step`` runtime decodes), numbers with Python's ``str()``, ``null`` is an error.
* Conditions compare numbers numerically (``1 == 1.0``), strings with strings, booleans with
  booleans; anything else is a :class:`ConditionError`, never a silent ``False``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pendulum

from airflow_provider_smpipe.definition.errors import ConditionError, DefinitionError, ResolutionError
from airflow_provider_smpipe.definition.foreach import child_name, read_item
from airflow_provider_smpipe.definition.jsondoc import loads_value
from airflow_provider_smpipe.definition.model import PipelineDefinition, PropertyFile, Step
from airflow_provider_smpipe.definition.paths import Token, get_path, parse_path
from airflow_provider_smpipe.definition.references import GET, ITERATION_OUTPUT, JOIN, JSON_GET, child_location, expression_kind, parse_reference

#: ``(producing step, property file, s3 uri of the file) -> parsed JSON``; raise KeyError if absent.
PropertyFileLoader = Callable[[Step, PropertyFile, str], Any]
#: ``s3 uri -> parsed JSON``; raise KeyError if absent.
S3JsonLoader = Callable[[str], Any]

JOB_NAME_VARIABLES = {
    "TrainingJobName": ("Training",),
    "ProcessingJobName": ("Processing", "QualityCheck", "ClarifyCheck"),
}


def render_join_value(value: Any, *, step: str | None, location: str) -> str:
    """How a resolved value is written inside a ``Std:Join``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None:
        raise ResolutionError("a Std:Join value resolved to null", step=step, location=location)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


@dataclass(frozen=True, slots=True)
class Iteration:
    """The iteration a ForEach body step runs in.

    :param properties: the properties of the children of this iteration that succeeded, by body
        step name: ``Steps.<bodyStep>...`` in a body step reads its own iteration's child.
    """

    for_each: str
    index: int
    item: Any
    properties: Mapping[str, Any] = field(default_factory=dict)


def s3_join(prefix: str, *parts: str) -> str:
    """Join S3 key parts with exactly one ``/`` between them (the SDK's ``s3_path_join``)."""
    out = prefix.rstrip("/")
    for part in parts:
        out += "/" + part.strip("/")
    return out


class Resolver:
    """Evaluates expressions for one execution.

    :param definition: the loaded definition.
    :param parameters: every parameter's typed value (see ``resolve_parameters``).
    :param execution: execution variables by name (``PipelineName``, ``PipelineExecutionId``, ...).
        ``CurrentDateTime`` is taken from here when present, else the current UTC time.
    :param step_properties: the properties of every step that has run, by step name.
    :param property_file_loader: reads a Processing step's property file.
    :param s3_loader: reads a JSON object from S3 for ``Std:JsonGet`` in its ``S3Uri`` form.
    :param iteration: for a ForEach body step's child: its item and its iteration's outputs.
    """

    def __init__(
        self,
        definition: PipelineDefinition,
        *,
        parameters: Mapping[str, Any],
        execution: Mapping[str, Any],
        step_properties: Mapping[str, Any],
        property_file_loader: PropertyFileLoader | None = None,
        s3_loader: S3JsonLoader | None = None,
        iteration: Iteration | None = None,
    ) -> None:
        self.definition = definition
        self.iteration = iteration
        self.parameters = parameters
        self.execution = execution
        self.step_properties = step_properties
        self.property_file_loader = property_file_loader
        self.s3_loader = s3_loader

    # -- values ----------------------------------------------------------------------------------

    def resolve(self, value: Any, *, step: Step | None = None, location: str = "$", job_name: str | None = None) -> Any:
        """Return ``value`` with every expression in it evaluated (containers are copied)."""
        kind = expression_kind(value)
        if kind is not None:
            return self._evaluate(kind, value[kind], step, location, job_name)
        if isinstance(value, dict):
            return {k: self.resolve(v, step=step, location=child_location(location, k), job_name=job_name) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, step=step, location=f"{location}[{i}]", job_name=job_name) for i, v in enumerate(value)]
        return value

    def resolve_arguments(self, step: Step, *, job_name: str | None = None) -> dict[str, Any]:
        """The step's ``Arguments`` fully resolved."""
        return self.resolve(step.arguments, step=step, location=f"{step.location}.Arguments", job_name=job_name)

    def resolve_fields(self, step: Step) -> dict[str, Any]:
        """The type-specific top-level keys (``FunctionArn``, ``SkipCheck``, ...) resolved."""
        return {k: self.resolve(v, step=step, location=f"{step.location}.{k}") for k, v in step.fields.items()}

    def _evaluate(self, kind: str, body: Any, step: Step | None, location: str, job_name: str | None) -> Any:
        if kind == GET:
            return self._get(body, step, location, job_name)
        if kind == JOIN:
            where = f"{location}['{JOIN}']"
            values = [
                render_join_value(self.resolve(v, step=step, location=f"{where}.Values[{i}]", job_name=job_name), step=_name(step), location=f"{where}.Values[{i}]")
                for i, v in enumerate(body["Values"])
            ]
            return str(body.get("On", "")).join(values)
        return self._json_get(body, step, f"{location}['{JSON_GET}']", job_name)

    def _get(self, text: str, step: Step | None, location: str, job_name: str | None) -> Any:
        try:
            ref = parse_reference(text)
        except DefinitionError as exc:
            raise ResolutionError(exc.problem, step=_name(step), location=location, expected=exc.expected) from None
        if ref.root == "Parameters":
            if ref.name not in self.parameters:
                raise ResolutionError(f"no value for parameter '{ref.name}'", step=_name(step), location=location)
            return self.parameters[ref.name]
        if ref.root == "Execution":
            return self._execution_variable(ref.name, step, location, job_name)
        if ref.root == "PipelineExperimentConfig":
            config = self.definition.experiment_config or {}
            if ref.name not in config:
                raise ResolutionError(f"PipelineExperimentConfig has no {ref.name}", step=_name(step), location=location)
            return self.resolve(config[ref.name], location=f"$.PipelineExperimentConfig.{ref.name}")
        if ref.root == "ForEach":
            if self.iteration is None:
                raise ResolutionError(f"'{ref.text}' is only defined inside a ForEach body", step=_name(step), location=location)
            return read_item(self.iteration.item, ref.path, step=_name(step), location=location)
        if ref.root == ITERATION_OUTPUT:
            raise ResolutionError(f"'{ref.text}' is only valid as a ForEach Selector's Field", step=_name(step), location=location)
        properties = self._properties_of(ref.name, step, location)
        return self.read_property(ref.name, properties, ref.path, step=_name(step), location=location)

    def read_property(self, step_name: str, properties: Any, path: tuple[Token, ...], *, step: str | None, location: str) -> Any:
        """Follow ``path`` in the properties of ``step_name``, knowing its type: a Job's
        ``JobConfigDocument`` is JSON text a path may descend into (parsed here), a ForEach's
        ``IterationOutputs[i].<bodyStep>`` and ``Selected`` hold the properties of a body step."""
        owner = self.definition.steps.get(step_name)
        what = f"the properties of step '{step_name}'"
        stype = owner.type if owner is not None else None
        if stype == "Job" and len(path) > 1 and path[0].value == "JobConfigDocument":
            text = get_path(properties, path[:1], what=what, step=step, location=location)
            try:
                document = loads_value(text) if isinstance(text, str) else text
            except ValueError as exc:  # not JSON, or JSON with NaN, lone surrogates, too deep, ...
                why = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                raise ResolutionError(f"JobConfigDocument of step '{step_name}' is not JSON ({why})", step=step, location=location) from None
            return get_path(document, path[1:], what=f"the JobConfigDocument of step '{step_name}'", step=step, location=location)
        if stype == "ForEach" and owner is not None and owner.for_each is not None and path:
            if path[0].value == "IterationOutputs" and len(path) >= 3:
                index, body = int(path[1].value), str(path[2].value)
                outputs = get_path(properties, path[:2], what=what, step=step, location=location)
                if not isinstance(outputs, Mapping) or body not in outputs:
                    raise ResolutionError(
                        f"iteration {index} of ForEach '{step_name}' has no outputs of '{body}': child '{child_name(body, index)}' did not succeed",
                        step=step,
                        location=location,
                    )
                return self.read_property(body, outputs[body], path[3:], step=step, location=location)
            if path[0].value == "Selected" and owner.for_each.selector is not None:
                if not isinstance(properties, Mapping) or "Selected" not in properties:
                    raise ResolutionError(f"ForEach '{step_name}' selected no iteration: no child of '{owner.for_each.selector.body_step}' succeeded", step=step, location=location)
                return self.read_property(owner.for_each.selector.body_step, properties["Selected"], path[1:], step=step, location=location)
        return get_path(properties, path, what=what, step=step, location=location)

    def _properties_of(self, step_name: str, step: Step | None, location: str) -> Any:
        iteration = self.iteration
        if iteration is not None and self.definition.steps.get(step_name) is not None and self.definition.steps[step_name].parent_for_each == iteration.for_each:
            if step_name not in iteration.properties:
                raise ResolutionError(
                    f"child '{child_name(step_name, iteration.index)}' has no properties: it has not run or did not succeed",
                    step=_name(step),
                    location=location,
                    expected=f"properties of '{child_name(step_name, iteration.index)}' (for a dry-run: an entry in --step-outputs)",
                )
            return iteration.properties[step_name]
        if step_name not in self.step_properties:
            raise ResolutionError(
                f"step '{step_name}' has no properties: it has not run, was not executed, or its outputs were not given",
                step=_name(step),
                location=location,
                expected=f"properties of '{step_name}' (for a dry-run: an entry in --step-outputs)",
            )
        return self.step_properties[step_name]

    def _execution_variable(self, name: str, step: Step | None, location: str, job_name: str | None) -> Any:
        if name in self.execution and self.execution[name] is not None:
            return self.execution[name]
        if name == "CurrentDateTime":
            return pendulum.now("UTC").isoformat()
        if name in JOB_NAME_VARIABLES:
            if step is not None and step.type in JOB_NAME_VARIABLES[name] and job_name:
                return job_name
            kinds = " or ".join(JOB_NAME_VARIABLES[name])
            raise ResolutionError(
                f"Execution.{name} is only defined inside a {kinds} step (this is {step.type + ' step' if step else 'not a step'})",
                step=_name(step),
                location=location,
                expected=f"use it in a {kinds} step, or give a value for {name} in the execution variables",
            )
        raise ResolutionError(f"no value for execution variable '{name}'", step=_name(step), location=location)

    def _json_get(self, body: Mapping[str, Any], step: Step | None, location: str, job_name: str | None) -> Any:
        if "PropertyFile" in body:
            ref = parse_reference(body["PropertyFile"][GET])
            producer = self.definition.step(ref.name)
            pfile = producer.property_file(str(ref.path[1].value))
            if pfile is None:  # the validator rejects this; kept for definitions built by hand
                raise ResolutionError(f"step '{producer.name}' has no property file '{ref.path[1].value}'", step=_name(step), location=location)
            properties = self._properties_of(producer.name, step, f"{location}.PropertyFile")
            prefix = get_path(
                properties,
                parse_path(f"ProcessingOutputConfig.Outputs['{pfile.output_name}'].S3Output.S3Uri"),
                what=f"the properties of step '{producer.name}'",
                step=_name(step),
                location=f"{location}.PropertyFile",
            )
            uri = s3_join(str(prefix), pfile.file_path)
            if self.property_file_loader is None:
                raise ResolutionError(f"no way to read property file '{pfile.name}' ({uri})", step=_name(step), location=location)
            try:
                document = self.property_file_loader(producer, pfile, uri)
            except KeyError:
                raise ResolutionError(
                    f"property file '{pfile.name}' of step '{producer.name}' was not found ({uri})",
                    step=_name(step),
                    location=f"{location}.PropertyFile",
                    expected=f"its JSON contents (for a dry-run: --property-files {{\"{producer.name}\": {{\"{pfile.name}\": ...}}}} or --s3-objects)",
                ) from None
            what = f"property file '{pfile.name}' of step '{producer.name}'"
        else:
            uri = self.resolve(body["S3Uri"], step=step, location=f"{location}.S3Uri", job_name=job_name)
            if not isinstance(uri, str):
                raise ResolutionError(f"S3Uri resolved to {uri!r}", step=_name(step), location=f"{location}.S3Uri", expected="an s3:// string")
            if self.s3_loader is None:
                raise ResolutionError(f"no way to read {uri}", step=_name(step), location=location)
            try:
                document = self.s3_loader(uri)
            except KeyError:
                raise ResolutionError(
                    f"no JSON object at {uri}",
                    step=_name(step),
                    location=f"{location}.S3Uri",
                    expected="the object's JSON contents (for a dry-run: an entry in --s3-objects)",
                ) from None
            what = f"the JSON at {uri}"
        if isinstance(document, (bytes, str)):
            try:
                document = loads_value(document.decode("utf-8") if isinstance(document, bytes) else document)
            except ValueError as exc:  # not UTF-8, not JSON, or JSON with NaN, lone surrogates, too deep
                why = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                raise ResolutionError(f"{what} is not valid JSON: {why}", step=_name(step), location=location) from None
        return get_path(document, parse_path(body["Path"]), what=what, step=_name(step), location=f"{location}.Path")

    # -- conditions ------------------------------------------------------------------------------

    def evaluate_conditions(self, step: Step) -> tuple[bool, list[Any]]:
        """Evaluate a Condition step: ``(outcome, the Conditions with every operand resolved)``.

        Every operand is resolved (no short-circuit) so the report shows them all; the list is AND.
        """
        base = f"{step.location}.Arguments.Conditions"
        resolved = [self._resolve_condition(c, step, f"{base}[{i}]") for i, c in enumerate(step.conditions)]
        outcome = all(self._truth(c, step, f"{base}[{i}]") for i, c in enumerate(resolved))
        return outcome, resolved

    def _resolve_condition(self, condition: Mapping[str, Any], step: Step, location: str) -> dict[str, Any]:
        ctype = condition["Type"]
        if ctype == "Not":
            return {"Type": ctype, "Condition": self._resolve_condition(condition["Condition"], step, f"{location}.Condition")}
        if ctype == "Or":
            return {
                "Type": ctype,
                "Conditions": [self._resolve_condition(c, step, f"{location}.Conditions[{i}]") for i, c in enumerate(condition["Conditions"])],
            }
        if ctype == "In":
            return {
                "Type": ctype,
                "QueryValue": self.resolve(condition["QueryValue"], step=step, location=f"{location}.QueryValue"),
                "Values": [self.resolve(v, step=step, location=f"{location}.Values[{i}]") for i, v in enumerate(condition["Values"])],
            }
        return {
            "Type": ctype,
            "LeftValue": self.resolve(condition["LeftValue"], step=step, location=f"{location}.LeftValue"),
            "RightValue": self.resolve(condition["RightValue"], step=step, location=f"{location}.RightValue"),
        }

    def _truth(self, condition: Mapping[str, Any], step: Step, location: str) -> bool:
        ctype = condition["Type"]
        if ctype == "Not":
            return not self._truth(condition["Condition"], step, f"{location}.Condition")
        if ctype == "Or":
            return any(self._truth(c, step, f"{location}.Conditions[{i}]") for i, c in enumerate(condition["Conditions"]))
        if ctype == "In":
            query, values = condition["QueryValue"], condition["Values"]
            comparable = [v for v in values if _comparable(query, v)]
            if values and not comparable:
                raise ConditionError(
                    f"In compares {_kind(query)} {query!r} with values of other types ({', '.join(sorted({_kind(v) for v in values}))})",
                    step=step.name,
                    location=location,
                    expected="values of the same kind as the query (numbers, strings or booleans)",
                )
            return any(_equal(query, v) for v in comparable)
        left, right = condition["LeftValue"], condition["RightValue"]
        if not _comparable(left, right) or (ctype != "Equals" and isinstance(left, bool)):
            raise ConditionError(
                f"{ctype} cannot compare {_kind(left)} {left!r} with {_kind(right)} {right!r}",
                step=step.name,
                location=location,
                expected="two numbers, two strings" + (" or two booleans" if ctype == "Equals" else ""),
            )
        if ctype == "Equals":
            return _equal(left, right)
        if ctype == "GreaterThan":
            return left > right
        if ctype == "GreaterThanOrEqualTo":
            return left >= right
        if ctype == "LessThan":
            return left < right
        return left <= right


def _name(step: Step | None) -> str | None:
    return step.name if step is not None else None


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    return type(value).__name__


def _comparable(a: Any, b: Any) -> bool:
    kind = _kind(a)
    return kind == _kind(b) and kind in ("boolean", "number", "string")


def _equal(a: Any, b: Any) -> bool:
    return a == b
