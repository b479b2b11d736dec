"""Dry-run: walk a pipeline as the service would and report what every step would receive.

The walk models the service running every ready step at once: steps go in *waves* (all steps whose
upstream steps are done), in document order within a wave. A Condition skips the branch it does not
take and everything downstream of that branch; a Fail step fails the execution, steps of its own
wave still run (they were already running on the service), and nothing starts after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pendulum

from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError, did_you_mean
from airflow_provider_smpipe.definition.expressions import Resolver, render_join_value
from airflow_provider_smpipe.definition.model import EXECUTION_VARIABLES, PipelineDefinition, PropertyFile, Step, canonical_json
from airflow_provider_smpipe.definition.naming import execution_arn, job_name, pipeline_arn
from airflow_provider_smpipe.definition.parameters import resolve_parameters
from airflow_provider_smpipe.definition.properties import normalize_properties, synthesize_properties

EXECUTED = "Executed"
NOT_EXECUTED = "NotExecuted"


@dataclass(slots=True)
class DryRunInputs:
    """Everything a dry-run may be given; every field is optional.

    :param parameters: ``{name: value}`` overrides, typed JSON or StartPipelineExecution strings.
    :param step_outputs: ``{step: properties}``: Describe* responses, Tuning describe plus
        ``TrainingJobSummaries``, ``{"OutputParameters": ...}`` for Lambda/Callback. Merged over
        the response synthesised from the step's request (top-level keys replaced).
    :param property_files: ``{step: {property file name: JSON contents}}``.
    :param s3_objects: ``{s3 uri: JSON contents}`` for ``Std:JsonGet`` (both forms fall back to it).
    :param execution: execution variables by name; missing ones get generated values.
    """

    parameters: Mapping[str, Any] | None = None
    step_outputs: Mapping[str, Any] | None = None
    property_files: Mapping[str, Mapping[str, Any]] | None = None
    s3_objects: Mapping[str, Any] | None = None
    execution: Mapping[str, Any] | None = None


def default_execution(definition: PipelineDefinition, parameters: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Execution variables: the given ones, then generated ones (deterministic id from the inputs)."""
    name = str(given.get("PipelineName") or _pipeline_name(definition))
    seed = definition.content_hash() + canonical_json(dict(parameters))
    execution_id = str(given.get("PipelineExecutionId") or hashlib.sha256(seed.encode()).hexdigest()[:12])
    values = {
        "PipelineName": name,
        "PipelineArn": pipeline_arn(name),
        "PipelineExecutionId": execution_id,
        "PipelineExecutionArn": execution_arn(name, execution_id),
        "StartDateTime": pendulum.now("UTC").isoformat(),
    }
    values.update({k: v for k, v in given.items() if v is not None})
    return values


def _pipeline_name(definition: PipelineDefinition) -> str:
    if definition.source and not definition.source.startswith("<"):
        return Path(definition.source).stem
    return "pipeline"


def dry_run(definition: PipelineDefinition, inputs: DryRunInputs | None = None) -> dict[str, Any]:
    """Walk ``definition`` with ``inputs``; see the README for the output format.

    :raises InvalidDefinitionError: bad inputs (unknown steps, parameters, variables), listed together.
    :raises ResolutionError: an expression a step needs cannot be resolved (names the step and what
        is missing).
    """
    inputs = inputs or DryRunInputs()
    _check_inputs(definition, inputs)
    parameters = resolve_parameters(definition.parameters, inputs.parameters)
    execution = default_execution(definition, parameters, inputs.execution or {})
    walker = _Walk(definition, inputs, parameters, execution)
    return walker.run()


def _check_inputs(definition: PipelineDefinition, inputs: DryRunInputs) -> None:
    problems: list[DefinitionError] = []
    for label, given in (
        ("parameters", inputs.parameters),
        ("step-outputs", inputs.step_outputs),
        ("property-files", inputs.property_files),
        ("s3-objects", inputs.s3_objects),
        ("execution", inputs.execution),
    ):
        if given is not None and not isinstance(given, Mapping):
            problems.append(DefinitionError(f"{label} is a {type(given).__name__}", location=label, expected="an object"))
    if problems:
        raise InvalidDefinitionError(problems, what="dry-run inputs")
    for label, mapping in (("step-outputs", inputs.step_outputs), ("property-files", inputs.property_files)):
        for name, value in (mapping or {}).items():
            if name not in definition.steps:
                problems.append(DefinitionError(f"unknown step '{name}'{did_you_mean(name, definition.steps)}", location=f"{label}.{name}"))
            elif not isinstance(value, Mapping):
                problems.append(DefinitionError(f"entry for step '{name}' is {type(value).__name__}", location=f"{label}.{name}", expected="an object"))
            elif label == "property-files":
                step = definition.steps[name]
                for file_name in value:
                    if step.property_file(file_name) is None:
                        known = [p.name for p in step.property_files]
                        problems.append(
                            DefinitionError(
                                f"step '{name}' has no property file '{file_name}'{did_you_mean(file_name, known)}",
                                location=f"{label}.{name}.{file_name}",
                                expected=", ".join(known) or "a Processing step with PropertyFiles",
                            )
                        )
    for name in inputs.execution or {}:
        if name not in EXECUTION_VARIABLES:
            problems.append(DefinitionError(f"unknown execution variable '{name}'{did_you_mean(name, EXECUTION_VARIABLES)}", location=f"execution.{name}", expected=", ".join(EXECUTION_VARIABLES)))
    if problems:
        raise InvalidDefinitionError(problems, what="dry-run inputs")


class _Walk:
    def __init__(self, definition: PipelineDefinition, inputs: DryRunInputs, parameters: dict[str, Any], execution: dict[str, Any]) -> None:
        self.definition = definition
        self.inputs = inputs
        self.parameters = parameters
        self.execution = execution
        self.properties: dict[str, Any] = {}
        self.resolver = Resolver(
            definition,
            parameters=parameters,
            execution=execution,
            step_properties=self.properties,
            property_file_loader=self._property_file,
            s3_loader=self._s3_object,
        )
        self.report: dict[str, dict[str, Any]] = {}
        self.skipped: dict[str, str] = {}
        self.failure: str | None = None

    def _property_file(self, step: Step, pfile: PropertyFile, uri: str) -> Any:
        given = (self.inputs.property_files or {}).get(step.name, {})
        if pfile.name in given:
            return given[pfile.name]
        return (self.inputs.s3_objects or {})[uri]

    def _s3_object(self, uri: str) -> Any:
        return (self.inputs.s3_objects or {})[uri]

    def run(self) -> dict[str, Any]:
        order: list[str] = []
        for wave in self.definition.graph.waves():
            failed_before_wave = self.failure is not None
            for name in wave:
                order.append(name)
                step = self.definition.steps[name]
                if failed_before_wave:
                    self.report[name] = {"type": step.type, "status": NOT_EXECUTED, "reason": f"the execution failed at {self.failure}"}
                elif name in self.skipped:
                    self.report[name] = {"type": step.type, "status": NOT_EXECUTED, "reason": self.skipped[name]}
                else:
                    self.report[name] = self._execute(step)
        failure_message = None
        if self.failure is not None:
            failure_message = f"Step '{self.failure}' failed with message: {self.report[self.failure]['error_message']}"
        return {
            "order": order,
            "steps": {name: self.report[name] for name in order},
            "failed": self.failure is not None,
            "failure_reason": failure_message,
            "parameters": self.parameters,
            "execution": {k: v for k, v in self.execution.items()},
        }

    def _execute(self, step: Step) -> dict[str, Any]:
        if step.type == "Condition":
            outcome, resolved = self.resolver.evaluate_conditions(step)
            self.properties[step.name] = {"Outcome": outcome}
            not_taken = step.else_steps if outcome else step.if_steps
            branch = "ElseSteps" if outcome else "IfSteps"
            for name in not_taken:
                self.skipped.setdefault(name, f"in the {branch} of '{step.name}', which evaluated {str(outcome).lower()}")
            for name in self.definition.graph.descendants(not_taken):
                self.skipped.setdefault(name, f"downstream of a step skipped by '{step.name}'")
            return {"type": step.type, "status": EXECUTED, "arguments": {"Conditions": resolved}, "outcome": outcome}
        if step.type == "Fail":
            raw = step.arguments.get("ErrorMessage", "")
            value = self.resolver.resolve(raw, step=step, location=f"{step.location}.Arguments.ErrorMessage")
            message = value if isinstance(value, str) else render_join_value(value, step=step.name, location=f"{step.location}.Arguments.ErrorMessage")
            if self.failure is None:
                self.failure = step.name
            return {"type": step.type, "status": EXECUTED, "arguments": {"ErrorMessage": message}, "error_message": message}
        name = self._job_name(step)
        arguments = self.resolver.resolve_arguments(step, job_name=name)
        fields = self.resolver.resolve_fields(step)
        properties = synthesize_properties(step, arguments, job_name=name, fields=fields, now=self.execution["StartDateTime"])
        given = (self.inputs.step_outputs or {}).get(step.name)
        if given is not None:
            properties = normalize_properties(step, given) if step.type in ("Lambda", "Callback") else {**properties, **normalize_properties(step, given)}
        self.properties[step.name] = properties
        entry: dict[str, Any] = {"type": step.type, "status": EXECUTED, "arguments": arguments}
        if fields:
            entry["fields"] = fields
        if name is not None:
            entry["job_name"] = name
        return entry

    def _job_name(self, step: Step) -> str | None:
        info = step.info
        if info.name_key is None:
            return job_name(step.name, self.execution["PipelineExecutionId"]) if step.type == "EMR" else None
        kept = step.arguments.get(info.name_key)
        if kept is not None:
            kept = self.resolver.resolve(kept, step=step, location=f"{step.location}.Arguments.{info.name_key}")
        if info.name_is_kept:
            return str(kept) if kept is not None else job_name(step.name, self.execution["PipelineExecutionId"])
        return job_name(step.name, self.execution["PipelineExecutionId"], prefix=str(kept) if kept else None, step_type=step.type)


def load_json_input(path: str | Path, what: str) -> Any:
    """Read one of the dry-run's JSON input files, with an error that names the option."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidDefinitionError([DefinitionError(f"no such file: {path}", location=what)], what=f"{what} input") from None
    except json.JSONDecodeError as exc:
        raise InvalidDefinitionError(
            [DefinitionError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", location=f"{what} {path}")], what=f"{what} input"
        ) from None
