"""Dry-run: walk a pipeline as the service would and report what every step would receive.

The inputs and the report are described here and in the README; the walk itself (waves, run
conditions, ForEach fan-out, Cleanup) is in :mod:`~airflow_provider_smpipe.definition.dryrun_walk`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pendulum

from airflow_provider_smpipe.definition import jsondoc
from airflow_provider_smpipe.definition.dryrun_walk import EXECUTED, NOT_EXECUTED, Walk
from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError, did_you_mean
from airflow_provider_smpipe.definition.foreach import split_child_name
from airflow_provider_smpipe.definition.model import EXECUTION_VARIABLES, FAILED, STOPPED, PipelineDefinition, Step, canonical_json
from airflow_provider_smpipe.definition.naming import execution_arn, pipeline_arn
from airflow_provider_smpipe.definition.parameters import resolve_parameters

__all__ = ["EXECUTED", "NOT_EXECUTED", "DryRunInputs", "dry_run", "load_json_input"]
#: What ``--step-status`` may make a step end as (instead of succeeding).
STEP_END_STATUSES = (FAILED, STOPPED)


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
    :param step_status: ``{step: "Failed" | "Stopped"}`` (or ``{"status": ..., "reason": ...}``):
        steps that end so instead of succeeding, to see which run-condition steps would run. A
        ForEach child is named ``<bodyStep>-<index>``; a body step's name applies to all its children
        (the child's own entry wins). ``step_outputs`` and ``property_files`` take the same names.
    """

    parameters: Mapping[str, Any] | None = None
    step_outputs: Mapping[str, Any] | None = None
    property_files: Mapping[str, Mapping[str, Any]] | None = None
    s3_objects: Mapping[str, Any] | None = None
    execution: Mapping[str, Any] | None = None
    step_status: Mapping[str, Any] | None = None


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
    walker = Walk(definition, inputs, parameters, execution)
    report = walker.run()
    _check_children_named(definition, inputs, walker.children_seen)
    return report


def _check_inputs(definition: PipelineDefinition, inputs: DryRunInputs) -> None:
    problems: list[DefinitionError] = []
    for label, given in (
        ("parameters", inputs.parameters),
        ("step-outputs", inputs.step_outputs),
        ("property-files", inputs.property_files),
        ("s3-objects", inputs.s3_objects),
        ("execution", inputs.execution),
        ("step-status", inputs.step_status),
    ):
        if given is not None and not isinstance(given, Mapping):
            problems.append(DefinitionError(f"{label} is a {type(given).__name__}", location=label, expected="an object"))
    if problems:
        raise InvalidDefinitionError(problems, what="dry-run inputs")
    for label, mapping in (("step-outputs", inputs.step_outputs), ("property-files", inputs.property_files)):
        for name, value in (mapping or {}).items():
            step = _input_step(definition, name)
            if step is None:
                problems.append(DefinitionError(f"unknown step '{name}'{did_you_mean(name, definition.steps)}", location=f"{label}.{name}"))
            elif not isinstance(value, Mapping):
                problems.append(DefinitionError(f"entry for step '{name}' is {type(value).__name__}", location=f"{label}.{name}", expected="an object"))
            elif label == "property-files":
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
    problems += _step_status_problems(definition, inputs.step_status or {})
    for name in inputs.execution or {}:
        if name not in EXECUTION_VARIABLES:
            problems.append(DefinitionError(f"unknown execution variable '{name}'{did_you_mean(name, EXECUTION_VARIABLES)}", location=f"execution.{name}", expected=", ".join(EXECUTION_VARIABLES)))
    if problems:
        raise InvalidDefinitionError(problems, what="dry-run inputs")


def _input_step(definition: PipelineDefinition, name: str) -> Step | None:
    """The step an input entry names: a step, or a ForEach child ``<bodyStep>-<index>``."""
    if name in definition.steps:
        return definition.steps[name]
    child = split_child_name(definition, name)
    return definition.steps[child[0]] if child else None


def _step_status_problems(definition: PipelineDefinition, given: Mapping[str, Any]) -> list[DefinitionError]:
    problems = []
    for name, value in given.items():
        loc = f"step-status.{name}"
        step = _input_step(definition, name)
        status = value.get("status") if isinstance(value, Mapping) else value
        if step is None:
            problems.append(DefinitionError(f"unknown step '{name}'{did_you_mean(name, definition.steps)}", location=loc, expected="a step, or a ForEach child <bodyStep>-<index>"))
        elif step.type in ("Fail", "ForEach"):
            why = "a Fail step always fails" if step.type == "Fail" else "a ForEach ends as its children do: give their status (<bodyStep>-<index>)"
            problems.append(DefinitionError(f"cannot set the status of {step.type} step '{name}': {why}", location=loc))
        elif status not in STEP_END_STATUSES:
            problems.append(DefinitionError(f"status of '{name}' is {status!r}", location=loc, expected='"Failed" or "Stopped" (or {"status": ..., "reason": "..."})'))
        elif isinstance(value, Mapping) and (set(value) - {"status", "reason"} or not isinstance(value.get("reason", ""), str)):
            problems.append(DefinitionError(f"entry for '{name}' has keys {sorted(value)}", location=loc, expected='{"status": "Failed" | "Stopped", "reason": "<text>"}'))
    return problems


def _check_children_named(definition: PipelineDefinition, inputs: DryRunInputs, seen: set[str]) -> None:
    """A child named in an input must exist once the items are known (``Train-7`` with 3 items
    is a mistake worth reporting, not ignoring)."""
    problems = []
    for label, mapping in (("step-outputs", inputs.step_outputs), ("property-files", inputs.property_files), ("step-status", inputs.step_status)):
        for name in mapping or {}:
            if name not in definition.steps and name not in seen:
                body, index = split_child_name(definition, name) or (name, -1)
                parent = definition.steps[body].parent_for_each
                problems.append(DefinitionError(f"ForEach '{parent}' ran no child '{name}' (index {index})", location=f"{label}.{name}", expected="a child index below the number of items"))
    if problems:
        raise InvalidDefinitionError(problems, what="dry-run inputs")


def load_json_input(path: str | Path, what: str) -> Any:
    """Read one of the dry-run's JSON input files strictly (see ``jsondoc``), with errors that name
    the option: too big, not UTF-8, a directory, too deep, ``NaN``, lone surrogates, ..."""
    label = str(path)
    return jsondoc.parse_text(jsondoc.read_file(label, what=what), label=label, what=what)

