"""Load a pipeline definition (JSON string, bytes, dict or file) and validate it as the service would.

Validation collects *every* problem before raising one :class:`InvalidDefinitionError`, so a user
fixes a definition in one round. Each problem names the step, the JSONPath and what was expected.

Whatever the input, nothing else escapes: the JSON is read strictly first (:mod:`.jsondoc`: size,
UTF-8, nesting, ``NaN``/``Infinity``, integer length, lone surrogates), and the names and values the
definition carries to the API are checked against botocore's limits (:mod:`.constraints`, matched in
full: a trailing newline is a character like any other).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_smpipe.definition import constraints, jsondoc
from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError, did_you_mean
from airflow_provider_smpipe.definition.model import PARAMETER_TYPES, STEP_TYPES, Parameter, PipelineDefinition, Step
from airflow_provider_smpipe.definition.parameters import to_wire_string
from airflow_provider_smpipe.definition.request_shapes import string_bounds
from airflow_provider_smpipe.definition.validate_base import article, is_expression, short_repr, type_name
from airflow_provider_smpipe.definition.validate_envelope import EnvelopeChecks
from airflow_provider_smpipe.definition.validate_expressions import EXPERIMENT_CONFIG_MEMBERS
from airflow_provider_smpipe.definition.validate_requirements import RequirementChecks, graph_of
from airflow_provider_smpipe.definition.validate_steps import DISALLOWED_BODY_TYPES, StepChecks

SUPPORTED_VERSIONS = ("2020-12-01",)
TOP_LEVEL_KEYS = ("Version", "Metadata", "Parameters", "PipelineExperimentConfig", "MlflowConfig", "Steps")
MLFLOW_MEMBERS = ("MlflowResourceArn", "MlflowExperimentName")
MLFLOW_ARN = re.compile(r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:(mlflow-app|mlflow-tracking-server)/.+")  # full match
ENVELOPE_KEYS = {"Name", "Type", "Arguments", "DependsOn", "DisplayName", "Description", "CacheConfig", "RetryPolicies"}
TYPE_FIELDS: dict[str, set[str]] = {
    "Processing": {"PropertyFiles"},
    "Lambda": {"FunctionArn", "OutputParameters"},
    "Callback": {"SqsQueueUrl", "OutputParameters"},
    "QualityCheck": {
        "CheckType", "ModelPackageGroupName", "SkipCheck", "FailOnViolation", "RegisterNewBaseline",
        "SuppliedBaselineStatistics", "SuppliedBaselineConstraints",
    },
    "ClarifyCheck": {
        "CheckType", "ModelPackageGroupName", "SkipCheck", "FailOnViolation", "RegisterNewBaseline",
        "SuppliedBaselineConstraints", "ModelName",
    },
}


def load_definition(source: str | bytes | os.PathLike[str] | Mapping[str, Any]) -> PipelineDefinition:
    """Load and validate a definition.

    :param source: a dict, a JSON string or bytes, or the path of a JSON file (``str`` or ``Path``;
        a ``str`` that starts with ``{`` or ``[`` is taken as JSON). Bytes and files must be UTF-8;
        a dict goes through the same strict checks as text (and is copied).
    :raises InvalidDefinitionError: listing every problem, each with step, location and expectation.
    """
    document, label = _read(source)
    return _Validator(document, label).run()


def _read(source: str | bytes | os.PathLike[str] | Mapping[str, Any]) -> tuple[Any, str]:
    """The document and a label for messages. Every form is read strictly (``jsondoc``): too big,
    not UTF-8, too deep, ``NaN``, lone surrogates, ... are located problems, never other exceptions."""
    if isinstance(source, Mapping):
        # A private copy: the loaded definition must not change when the caller's dict does.
        return jsondoc.from_object(dict(source), label="<dict>"), "<dict>"
    if isinstance(source, (bytes, bytearray)):
        if len(source) > jsondoc.MAX_BYTES:
            too_big = DefinitionError(f"the document has {len(source)} bytes", location="$", expected=jsondoc.size_expectation())
            raise InvalidDefinitionError([too_big], "<bytes>")
        return jsondoc.parse_text(jsondoc.decode(bytes(source), label="<bytes>"), label="<bytes>"), "<bytes>"
    if isinstance(source, str) and source.lstrip().startswith(("{", "[")):
        return jsondoc.parse_text(source, label="<string>"), "<string>"
    if isinstance(source, (str, os.PathLike)):
        label = os.fsdecode(source)
        return jsondoc.parse_text(jsondoc.read_file(label), label=label), label
    raise InvalidDefinitionError(
        [DefinitionError(f"cannot load a definition from a {type(source).__name__}", expected="dict, JSON or path")]
    )


_TOP_LEVEL_STEP = re.compile(r"^\$\.Steps\[(\d+)\]")


def _document_position(problem: DefinitionError) -> int:
    """Problems are reported in the document order of the top-level step they are in (those outside
    the steps first); within a step, in the order the checks found them (the sort is stable)."""
    match = _TOP_LEVEL_STEP.match(problem.location or "")
    return int(match.group(1)) if match else -1


class _Validator(StepChecks, EnvelopeChecks, RequirementChecks):
    # -- top level -------------------------------------------------------------------------------

    def run(self) -> PipelineDefinition:
        doc = self.document
        if not isinstance(doc, dict):
            self.problem(f"the definition is a JSON {type_name(doc)}", location="$", expected="a JSON object")
            raise InvalidDefinitionError(self.problems, self.label)
        version = doc.get("Version")
        if version not in SUPPORTED_VERSIONS:
            self.problem(f"unsupported Version {short_repr(version)}", location="$.Version", expected="'2020-12-01'")
        metadata = doc.get("Metadata", {})
        if not isinstance(metadata, dict):
            self.problem(f"Metadata is {type_name(metadata)}", location="$.Metadata", expected="an object")
            metadata = {}
        for key in doc:
            if key not in TOP_LEVEL_KEYS:
                self.problem(
                    f"unknown top-level key '{key}'{did_you_mean(str(key), TOP_LEVEL_KEYS)}",
                    location=f"$.{key}",
                    expected=", ".join(TOP_LEVEL_KEYS),
                )
        self._parameters(doc.get("Parameters", []))
        self._experiment_config(doc.get("PipelineExperimentConfig"))
        mlflow = self._mlflow_config(doc.get("MlflowConfig"))
        steps = doc.get("Steps")
        if not isinstance(steps, list) or not steps:
            self.problem(
                "Steps is missing or empty" if not steps else f"Steps is {type_name(steps)}",
                location="$.Steps",
                expected="a non-empty array of steps",
            )
        else:
            for index, raw in enumerate(steps):
                self._collect_step(raw, f"$.Steps[{index}]", None, None)
            for step in self.steps.values():
                self._check_step_body(step)
        graph = graph_of(list(self.steps), self.upstream, self.steps)
        scopes = None
        if not any(p.problem.startswith(("depends on unknown", "references unknown")) for p in self.problems):
            cycle = graph.find_cycle()
            if cycle:
                self.problem(
                    "cycle in the step graph: " + " -> ".join(cycle),
                    step=cycle[0],
                    location=self.steps[cycle[0]].location,
                    expected="an acyclic graph (DependsOn and Steps.* references)",
                )
            else:
                scopes = self._requirements()
                self._check_scopes(scopes)
        if self.problems:
            raise InvalidDefinitionError(sorted(self.problems, key=_document_position), self.label)
        definition = PipelineDefinition(
            version=version,
            metadata=metadata,
            parameters=self.parameters,
            experiment_config=self.experiment_config,
            steps=self.steps,
            graph=graph,
            raw=doc,
            source=self.label,
            mlflow_config=mlflow,
        )
        definition._scopes.update(scopes or {})
        return definition

    def _parameters(self, params: Any) -> None:
        if not isinstance(params, list):
            self.problem(f"Parameters is {type_name(params)}", location="$.Parameters", expected="an array")
            return
        for index, raw in enumerate(params):
            loc = f"$.Parameters[{index}]"
            if not isinstance(raw, dict):
                self.problem(f"parameter is {type_name(raw)}", location=loc, expected="an object with Name and Type")
                continue
            name, ptype = raw.get("Name"), raw.get("Type")
            if not isinstance(name, str) or not name:
                self.problem("parameter has no Name", location=f"{loc}.Name", expected="a non-empty string")
                continue
            why = constraints.PARAMETER_NAME.problem(name)
            if why is not None:  # still declared below, so references to it add no problems of their own
                self.problem(f"invalid parameter Name {short_repr(name)}: {why}", location=f"{loc}.Name", expected=constraints.PARAMETER_NAME.expected())
            if name in self.parameters:
                self.problem(f"duplicate parameter name '{name}'", location=f"{loc}.Name", expected="unique names")
                continue
            if not isinstance(ptype, str) or ptype not in PARAMETER_TYPES:
                self.problem(
                    f"parameter '{name}' has unknown Type {short_repr(ptype)}",
                    location=f"{loc}.Type",
                    expected="String, Integer, Float or Boolean",
                )
                continue
            for key in raw:
                if key not in ("Name", "Type", "DefaultValue", "EnumValues", "Description"):
                    self.problem(f"parameter '{name}' has unknown key '{key}'", location=f"{loc}.{key}")
            enum = raw.get("EnumValues")
            if enum is not None:
                if ptype != "String":
                    self.problem(f"EnumValues on {ptype} parameter '{name}'", location=f"{loc}.EnumValues", expected="EnumValues only on String parameters")
                    enum = None
                elif not isinstance(enum, list) or not enum or not all(isinstance(v, str) for v in enum):
                    self.problem(f"EnumValues of '{name}' must be a non-empty array of strings", location=f"{loc}.EnumValues")
                    enum = None
                else:
                    for position, value in enumerate(enum):
                        self._parameter_value(name, value, f"{loc}.EnumValues[{position}]")
            has_default = "DefaultValue" in raw and raw["DefaultValue"] is not None
            default = raw.get("DefaultValue")
            if has_default:
                allowed = PARAMETER_TYPES[ptype]
                if not isinstance(default, allowed) or (isinstance(default, bool) and ptype != "Boolean"):
                    self.problem(
                        f"default of {ptype} parameter '{name}' is {type_name(default)} {short_repr(default)}",
                        location=f"{loc}.DefaultValue",
                        expected=f"a JSON {'number' if ptype == 'Float' else ptype.lower()}",
                    )
                elif enum and default not in enum:
                    self.problem(
                        f"default {short_repr(default)} of '{name}' is not one of its EnumValues",
                        location=f"{loc}.DefaultValue",
                        expected=" | ".join(enum),
                    )
                else:
                    default = self._parameter_default(name, ptype, default, f"{loc}.DefaultValue")
            description = raw.get("Description")
            if description is not None and not isinstance(description, str):
                self.problem(f"Description of parameter '{name}' is {type_name(description)}", location=f"{loc}.Description", expected="a string")
                description = None
            elif description is not None and len(description) > constraints.MAX_PARAMETER_DESCRIPTION:
                self.problem(
                    f"Description of parameter '{name}' has {len(description)} characters",
                    location=f"{loc}.Description",
                    expected=f"at most {constraints.MAX_PARAMETER_DESCRIPTION} (the definition schema's ParameterDescription)",
                )
            self.parameters[name] = Parameter(
                name=name,
                type=ptype,
                default=default if has_default else None,
                has_default=has_default,
                enum_values=tuple(enum) if enum else None,
                description=description,
            )

    def _parameter_default(self, name: str, ptype: str, default: Any, loc: str) -> Any:
        """A default of the declared type: finite, and as a value the service carries at most 1024
        characters (``Parameter.Value``: an execution lists every parameter's value)."""
        if ptype == "Float":
            try:
                default = float(default)
            except OverflowError:  # an integer literal beyond the float range
                self.problem(f"default of Float parameter '{name}' is out of range", location=loc, expected="a finite number")
                return None
            if not math.isfinite(default):  # only a dict source can hold one; parsed text refuses NaN
                self.problem(f"default of Float parameter '{name}' is {default}", location=loc, expected="a finite number")
                return None
        self._parameter_value(name, default, loc)
        return default

    def _parameter_value(self, name: str, value: Any, loc: str) -> None:
        wire = to_wire_string(value)
        why = constraints.PARAMETER_VALUE.problem(wire)
        if why is not None:
            self.problem(f"a value of parameter '{name}' {why}", location=loc, expected=constraints.PARAMETER_VALUE.expected())

    def _experiment_config(self, config: Any) -> None:
        if config is None:
            return
        if not isinstance(config, dict):
            self.problem(f"PipelineExperimentConfig is {type_name(config)}", location="$.PipelineExperimentConfig", expected="an object or null")
            return
        self.top_level_context = "PipelineExperimentConfig"
        for key, value in config.items():
            loc = f"$.PipelineExperimentConfig.{key}"
            if key not in EXPERIMENT_CONFIG_MEMBERS:
                self.problem(f"unknown PipelineExperimentConfig member '{key}'", location=loc, expected="ExperimentName, TrialName")
                continue
            if isinstance(value, str):  # a literal name: the experiment or trial the service creates
                why = constraints.EXPERIMENT_ENTITY_NAME.problem(value)
                if why is not None:
                    self.problem(f"{key} {short_repr(value)} {why}", location=loc, expected=constraints.EXPERIMENT_ENTITY_NAME.expected() + ", or an expression")
            # Step references are reported by _step_target (steps are not collected yet at this point).
            self._check_value(value, loc, None, {})
        self.experiment_config = config

    def _mlflow_config(self, config: Any) -> dict[str, Any] | None:
        """``MlflowConfig``: SDK v3 always writes it, ``null`` when unset; values may be expressions
        of parameters and execution variables, like ``PipelineExperimentConfig``'s."""
        if config is None:
            return None
        base = "$.MlflowConfig"
        if not isinstance(config, dict) or is_expression(config):
            shown = "an expression" if is_expression(config) else type_name(config)
            self.problem(f"MlflowConfig is {shown}", location=base, expected='null or {"MlflowResourceArn": ..., "MlflowExperimentName": ...}')
            return None
        self.top_level_context = "MlflowConfig"
        for key, value in config.items():
            loc = f"{base}.{key}"
            if key not in MLFLOW_MEMBERS:
                self.problem(f"unknown MlflowConfig member '{key}'{did_you_mean(str(key), MLFLOW_MEMBERS)}", location=loc, expected=", ".join(MLFLOW_MEMBERS))
                continue
            if value is None:  # an absent experiment name; an absent ARN is reported below
                continue
            if isinstance(value, str):
                if key == "MlflowResourceArn" and MLFLOW_ARN.fullmatch(value) is None:
                    self.problem(f"MlflowResourceArn {short_repr(value)} is not an MLflow ARN", location=loc, expected="arn:aws:sagemaker:<region>:<account>:mlflow-app/<id> or ...:mlflow-tracking-server/<name>")
                low, high = string_bounds("sagemaker", "MlflowConfig", key)
                if not low <= len(value) <= high:
                    self.problem(f"{key} has {len(value)} characters", location=loc, expected=f"{low}..{high} characters")
            elif is_expression(value):
                self._check_value(value, loc, None, {})
            else:
                self.problem(f"MlflowConfig {key} is {type_name(value)}", location=loc, expected="a string or an expression")
        if config.get("MlflowResourceArn") is None:
            present = "MlflowResourceArn" in config
            self.problem(
                "MlflowResourceArn is null" if present else "MlflowConfig has no MlflowResourceArn",
                location=f"{base}.MlflowResourceArn" if present else base,
                expected="the ARN of an MLflow app or tracking server (or \"MlflowConfig\": null)",
            )
        self.top_level_context = "PipelineExperimentConfig"
        return config

    # -- steps -----------------------------------------------------------------------------------

    def _collect_step(self, raw: Any, loc: str, parent: str | None, branch: str | None, for_each: str | None = None) -> None:
        if not isinstance(raw, dict):
            self.problem(f"step is {type_name(raw)}", location=loc, expected="an object with Name, Type, Arguments")
            return
        name, stype = raw.get("Name"), raw.get("Type")
        if not isinstance(name, str) or constraints.STEP_NAME.problem(name) is not None:
            why = constraints.STEP_NAME.problem(name) if isinstance(name, str) else "not a string"
            self.problem(f"invalid step Name {short_repr(name)}: {why}", location=f"{loc}.Name", expected=constraints.STEP_NAME.expected())
            return
        if name in self.steps:
            self.problem(f"duplicate step name '{name}'", step=name, location=f"{loc}.Name", expected=f"unique names; first defined at {self.steps[name].location}")
            return
        if not isinstance(stype, str) or stype not in STEP_TYPES:
            self.problem(
                f"unknown step type {short_repr(stype)}{did_you_mean(str(stype), STEP_TYPES)}",
                step=name,
                location=f"{loc}.Type",
                expected="one of " + ", ".join(sorted(STEP_TYPES)),
            )
            self.rejected_steps.add(name)
            return
        if for_each is not None and stype in DISALLOWED_BODY_TYPES:
            self.problem(
                f"a {stype} step is not allowed in the ForEachBody of ForEach step '{for_each}' (no branching, failing or nesting inside an iteration)",
                step=name,
                location=f"{loc}.Type",
                expected="a body of steps of other types than " + ", ".join(DISALLOWED_BODY_TYPES),
            )
            self.rejected_steps.add(name)
            return
        args = raw.get("Arguments")
        if args is None and stype in ("Lambda", "Callback", "Fail"):
            args = {}
        if not isinstance(args, dict) or is_expression(args):
            # an expression here would resolve to a string/number, not the request object a step needs
            kind = "an expression" if isinstance(args, dict) else type_name(args)
            shown = f"{article(stype)} step has no Arguments" if "Arguments" not in raw else f"Arguments is {kind}"
            self.problem(shown, step=name, location=f"{loc}.Arguments", expected="an object")
            self.rejected_steps.add(name)
            return
        allowed = ENVELOPE_KEYS | TYPE_FIELDS.get(stype, set())
        for key in raw:
            if key not in allowed:
                self.problem(
                    f"unknown key '{key}' on {article(stype)} step{did_you_mean(str(key), allowed)}",
                    step=name,
                    location=f"{loc}.{key}",
                    expected=", ".join(sorted(allowed)),
                )
        step = Step(
            name=name,
            type=stype,
            location=loc,
            arguments=args,
            display_name=raw.get("DisplayName"),
            description=raw.get("Description"),
            fields={k: raw[k] for k in TYPE_FIELDS.get(stype, ()) if k in raw and k not in ("PropertyFiles", "OutputParameters")},
            parent_condition=parent,
            branch=branch,
            parent_for_each=for_each,
            raw=raw,
        )
        self.steps[name] = step
        container = parent or for_each  # a Condition branch or a ForEach body: an edge from it
        self.upstream[name] = {container} if container else set()
        for key, limit in (("DisplayName", constraints.STEP_DISPLAY_NAME), ("Description", constraints.STEP_DESCRIPTION)):
            if key in raw and not isinstance(raw[key], str):
                self.problem(f"{key} is {type_name(raw[key])}", step=name, location=f"{loc}.{key}", expected="a string")
            elif key in raw and limit.problem(raw[key]) is not None:
                self.problem(f"{key} {limit.problem(raw[key])}", step=name, location=f"{loc}.{key}", expected=limit.expected())
        self._envelope(step, raw)
        if stype == "Condition":
            self._collect_condition(step)
        elif stype == "ForEach":
            self._collect_for_each(step)

    def _collect_condition(self, step: Step) -> None:
        args = step.arguments
        for key in args:
            if key not in ("Conditions", "IfSteps", "ElseSteps"):
                self.problem(f"unknown Condition argument '{key}'", step=step.name, location=f"{step.location}.Arguments.{key}", expected="Conditions, IfSteps, ElseSteps")
        conditions = args.get("Conditions")
        if not isinstance(conditions, list):
            self.problem(
                "Condition step has no Conditions array" if conditions is None else f"Conditions is {type_name(conditions)}",
                step=step.name,
                location=f"{step.location}.Arguments.Conditions",
                expected="an array of conditions",
            )
            conditions = []
        step.conditions = conditions
        branches: dict[str, list[str]] = {}
        for branch in ("IfSteps", "ElseSteps"):
            nested = args.get(branch, [])
            loc = f"{step.location}.Arguments.{branch}"
            if not isinstance(nested, list):
                self.problem(f"{branch} is {type_name(nested)}", step=step.name, location=loc, expected="an array of steps")
                nested = []
            names = []
            for index, raw in enumerate(nested):
                self._collect_step(raw, f"{loc}[{index}]", step.name, branch)
                child = self.steps.get(raw["Name"]) if isinstance(raw, dict) and isinstance(raw.get("Name"), str) else None
                if child is not None and child.parent_condition == step.name and child.branch == branch:
                    names.append(child.name)
            branches[branch] = names
        step.if_steps = tuple(branches["IfSteps"])
        step.else_steps = tuple(branches["ElseSteps"])
        both = set(step.if_steps) & set(step.else_steps)
        if both:
            self.problem(f"steps in both branches: {sorted(both)}", step=step.name, location=step.location)
        # Branch steps are separate Step objects; the Condition's own Arguments keep only Conditions.
        step.arguments = {"Conditions": conditions}

    def _collect_for_each(self, step: Step) -> None:
        """Body steps become steps of their own (``parent_for_each`` set), like Condition branches;
        the ForEach's own Arguments keep IterableItems, MaxConcurrency and Selector."""
        body = step.arguments.get("ForEachBody")
        loc = f"{step.location}.Arguments.ForEachBody"
        names: list[str] = []
        if not isinstance(body, list) or not body:
            shown = "missing" if body is None else ("empty" if isinstance(body, list) else type_name(body))
            self.problem(f"ForEachBody is {shown}", step=step.name, location=loc, expected="a non-empty array of steps")
            body = []
        for index, raw in enumerate(body):
            self._collect_step(raw, f"{loc}[{index}]", None, None, for_each=step.name)
            child = self.steps.get(raw["Name"]) if isinstance(raw, dict) and isinstance(raw.get("Name"), str) else None
            if child is not None and child.parent_for_each == step.name:
                names.append(child.name)
        self.bodies[step.name] = names
        step.arguments = {k: v for k, v in step.arguments.items() if k != "ForEachBody"}
