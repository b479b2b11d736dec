"""Load a pipeline definition (JSON string, bytes, dict or file) and validate it as the service would.

Validation collects *every* problem before raising one :class:`InvalidDefinitionError`, so a user
fixes a definition in one round. Each problem names the step, the JSONPath and what was expected.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError, did_you_mean
from airflow_provider_smpipe.definition.graph import StepGraph
from airflow_provider_smpipe.definition.model import (
    EXECUTION_VARIABLES,
    OUTPUT_PARAMETER_TYPES,
    PARAMETER_TYPES,
    STEP_TYPES,
    CacheConfig,
    OutputParameter,
    Parameter,
    PipelineDefinition,
    PropertyFile,
    RetryPolicy,
    Step,
    parse_iso_duration,
)
from airflow_provider_smpipe.definition.paths import parse_path
from airflow_provider_smpipe.definition.references import FUNCTIONS, GET, JOIN, JSON_GET, child_location, parse_reference

SUPPORTED_VERSIONS = ("2020-12-01",)
STEP_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")
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
STEP_EXCEPTION_TYPES = {"Step.SERVICE_FAULT", "Step.THROTTLING"}
JOB_EXCEPTION_TYPES = {"SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT"}
EMR_EXCEPTION_TYPES = {"Emr.RESOURCE_LIMIT"}
BINARY_CONDITIONS = {"Equals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo"}
CONDITION_TYPES = BINARY_CONDITIONS | {"In", "Not", "Or"}
LAMBDA_CALLBACK = ("Lambda", "Callback")
#: Step types whose only properties are ``OutputParameters['<name>']``.
EXPERIMENT_CONFIG_MEMBERS = ("ExperimentName", "TrialName")


def load_definition(source: str | bytes | os.PathLike[str] | Mapping[str, Any]) -> PipelineDefinition:
    """Load and validate a definition.

    :param source: a dict, a JSON string or bytes, or the path of a JSON file (``str`` or ``Path``;
        a ``str`` that starts with ``{`` is taken as JSON).
    :raises InvalidDefinitionError: listing every problem, each with step, location and expectation.
    """
    document, label = _read(source)
    return _Validator(document, label).run()


def _read(source: str | bytes | os.PathLike[str] | Mapping[str, Any]) -> tuple[Any, str]:
    if isinstance(source, Mapping):
        # A private copy: the loaded definition must not change when the caller's dict does.
        return copy.deepcopy(dict(source)), "<dict>"
    if isinstance(source, bytes):
        return _parse_json(source.decode("utf-8", errors="replace"), "<bytes>"), "<bytes>"
    if isinstance(source, str) and source.lstrip().startswith(("{", "[")):
        return _parse_json(source, "<string>"), "<string>"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidDefinitionError([DefinitionError(f"no such file: {path}")], str(path)) from None
        except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
            raise InvalidDefinitionError([DefinitionError(f"cannot read {path}: {exc}")], str(path)) from None
        return _parse_json(text, str(path)), str(path)
    raise InvalidDefinitionError(
        [DefinitionError(f"cannot load a definition from a {type(source).__name__}", expected="dict, JSON or path")]
    )


def _parse_json(text: str, label: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problem = DefinitionError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", location="$"
        )
        raise InvalidDefinitionError([problem], label) from None


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


class _Validator:
    def __init__(self, document: Any, label: str) -> None:
        self.document = document
        self.label = label
        self.problems: list[DefinitionError] = []
        self.steps: dict[str, Step] = {}
        self.parameters: dict[str, Parameter] = {}
        self.experiment_config: dict[str, Any] | None = None
        self.upstream: dict[str, set[str]] = {}
        #: Steps with a valid name that were rejected (e.g. unknown type): already reported, so
        #: references to them must not add "unknown step" problems on top.
        self.rejected_steps: set[str] = set()

    # -- helpers ---------------------------------------------------------------------------------

    def problem(self, problem: str, *, step: str | None = None, location: str | None = None, expected: str | None = None) -> None:
        self.problems.append(DefinitionError(problem, step=step, location=location, expected=expected))

    # -- top level -------------------------------------------------------------------------------

    def run(self) -> PipelineDefinition:
        doc = self.document
        if not isinstance(doc, dict):
            self.problem(f"the definition is a JSON {_type_name(doc)}", location="$", expected="a JSON object")
            raise InvalidDefinitionError(self.problems, self.label)
        version = doc.get("Version")
        if version not in SUPPORTED_VERSIONS:
            self.problem(f"unsupported Version {version!r}", location="$.Version", expected="'2020-12-01'")
        metadata = doc.get("Metadata", {})
        if not isinstance(metadata, dict):
            self.problem(f"Metadata is {_type_name(metadata)}", location="$.Metadata", expected="an object")
            metadata = {}
        for key in doc:
            if key not in {"Version", "Metadata", "Parameters", "PipelineExperimentConfig", "Steps"}:
                self.problem(
                    f"unknown top-level key '{key}'{did_you_mean(key, ['Parameters', 'Steps', 'Metadata'])}",
                    location=f"$.{key}",
                    expected="Version, Metadata, Parameters, PipelineExperimentConfig, Steps",
                )
        self._parameters(doc.get("Parameters", []))
        self._experiment_config(doc.get("PipelineExperimentConfig"))
        steps = doc.get("Steps")
        if not isinstance(steps, list) or not steps:
            self.problem(
                "Steps is missing or empty" if not steps else f"Steps is {_type_name(steps)}",
                location="$.Steps",
                expected="a non-empty array of steps",
            )
        else:
            for index, raw in enumerate(steps):
                self._collect_step(raw, f"$.Steps[{index}]", None, None)
            for step in self.steps.values():
                self._check_step_body(step)
        graph = StepGraph.from_upstream(list(self.steps), {n: self.upstream.get(n, set()) for n in self.steps})
        if not any(p.problem.startswith(("depends on unknown", "references unknown")) for p in self.problems):
            cycle = graph.find_cycle()
            if cycle:
                self.problem(
                    "cycle in the step graph: " + " -> ".join(cycle),
                    step=cycle[0],
                    location=self.steps[cycle[0]].location,
                    expected="an acyclic graph (DependsOn and Steps.* references)",
                )
        if self.problems:
            raise InvalidDefinitionError(self.problems, self.label)
        return PipelineDefinition(
            version=version,
            metadata=metadata,
            parameters=self.parameters,
            experiment_config=self.experiment_config,
            steps=self.steps,
            graph=graph,
            raw=doc,
            source=self.label,
        )

    def _parameters(self, params: Any) -> None:
        if not isinstance(params, list):
            self.problem(f"Parameters is {_type_name(params)}", location="$.Parameters", expected="an array")
            return
        for index, raw in enumerate(params):
            loc = f"$.Parameters[{index}]"
            if not isinstance(raw, dict):
                self.problem(f"parameter is {_type_name(raw)}", location=loc, expected="an object with Name and Type")
                continue
            name, ptype = raw.get("Name"), raw.get("Type")
            if not isinstance(name, str) or not name:
                self.problem("parameter has no Name", location=f"{loc}.Name", expected="a non-empty string")
                continue
            if name in self.parameters:
                self.problem(f"duplicate parameter name '{name}'", location=f"{loc}.Name", expected="unique names")
                continue
            if not isinstance(ptype, str) or ptype not in PARAMETER_TYPES:
                self.problem(
                    f"parameter '{name}' has unknown Type {ptype!r}",
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
            has_default = "DefaultValue" in raw and raw["DefaultValue"] is not None
            default = raw.get("DefaultValue")
            if has_default:
                allowed = PARAMETER_TYPES[ptype]
                if not isinstance(default, allowed) or (isinstance(default, bool) and ptype != "Boolean"):
                    self.problem(
                        f"default of {ptype} parameter '{name}' is {_type_name(default)} {default!r}",
                        location=f"{loc}.DefaultValue",
                        expected=f"a JSON {'number' if ptype == 'Float' else ptype.lower()}",
                    )
                elif enum and default not in enum:
                    self.problem(
                        f"default {default!r} of '{name}' is not one of its EnumValues",
                        location=f"{loc}.DefaultValue",
                        expected=" | ".join(enum),
                    )
                if ptype == "Float" and isinstance(default, int) and not isinstance(default, bool):
                    default = float(default)
            self.parameters[name] = Parameter(
                name=name,
                type=ptype,
                default=default if has_default else None,
                has_default=has_default,
                enum_values=tuple(enum) if enum else None,
                description=raw.get("Description"),
            )

    def _experiment_config(self, config: Any) -> None:
        if config is None:
            return
        if not isinstance(config, dict):
            self.problem(f"PipelineExperimentConfig is {_type_name(config)}", location="$.PipelineExperimentConfig", expected="an object or null")
            return
        for key, value in config.items():
            loc = f"$.PipelineExperimentConfig.{key}"
            if key not in EXPERIMENT_CONFIG_MEMBERS:
                self.problem(f"unknown PipelineExperimentConfig member '{key}'", location=loc, expected="ExperimentName, TrialName")
                continue
            # Step references are reported by _step_target (steps are not collected yet at this point).
            self._check_value(value, loc, None, set())
        self.experiment_config = config

    # -- steps -----------------------------------------------------------------------------------

    def _collect_step(self, raw: Any, loc: str, parent: str | None, branch: str | None) -> None:
        if not isinstance(raw, dict):
            self.problem(f"step is {_type_name(raw)}", location=loc, expected="an object with Name, Type, Arguments")
            return
        name, stype = raw.get("Name"), raw.get("Type")
        if not isinstance(name, str) or not STEP_NAME.match(name):
            self.problem(
                f"invalid step Name {name!r}", location=f"{loc}.Name", expected="1-64 characters from [A-Za-z0-9-_]"
            )
            return
        if name in self.steps:
            self.problem(f"duplicate step name '{name}'", step=name, location=f"{loc}.Name", expected=f"unique names; first defined at {self.steps[name].location}")
            return
        if not isinstance(stype, str) or stype not in STEP_TYPES:
            self.problem(
                f"unknown step type {stype!r}{did_you_mean(str(stype), STEP_TYPES)}",
                step=name,
                location=f"{loc}.Type",
                expected="one of " + ", ".join(sorted(STEP_TYPES)),
            )
            self.rejected_steps.add(name)
            return
        args = raw.get("Arguments")
        if args is None and stype in ("Lambda", "Callback", "Fail"):
            args = {}
        if not isinstance(args, dict) or _is_expression(args):
            # an expression here would resolve to a string/number, not the request object a step needs
            kind = "an expression" if isinstance(args, dict) else _type_name(args)
            self.problem(f"Arguments is {kind}", step=name, location=f"{loc}.Arguments", expected="an object")
            self.rejected_steps.add(name)
            return
        allowed = ENVELOPE_KEYS | TYPE_FIELDS.get(stype, set())
        for key in raw:
            if key not in allowed:
                self.problem(
                    f"unknown key '{key}' on a {stype} step{did_you_mean(key, allowed)}",
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
            raw=raw,
        )
        self.steps[name] = step
        self.upstream[name] = {parent} if parent else set()
        for key in ("DisplayName", "Description"):
            if key in raw and not isinstance(raw[key], str):
                self.problem(f"{key} is {_type_name(raw[key])}", step=name, location=f"{loc}.{key}", expected="a string")
        self._envelope(step, raw)
        if stype == "Condition":
            self._collect_condition(step)

    def _collect_condition(self, step: Step) -> None:
        args = step.arguments
        for key in args:
            if key not in ("Conditions", "IfSteps", "ElseSteps"):
                self.problem(f"unknown Condition argument '{key}'", step=step.name, location=f"{step.location}.Arguments.{key}", expected="Conditions, IfSteps, ElseSteps")
        conditions = args.get("Conditions")
        if not isinstance(conditions, list):
            self.problem(
                "Condition step has no Conditions array" if conditions is None else f"Conditions is {_type_name(conditions)}",
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
                self.problem(f"{branch} is {_type_name(nested)}", step=step.name, location=loc, expected="an array of steps")
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

    def _envelope(self, step: Step, raw: dict[str, Any]) -> None:
        loc, name, info = step.location, step.name, STEP_TYPES[step.type]
        depends = raw.get("DependsOn", [])
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            self.problem("DependsOn must be an array of step names", step=name, location=f"{loc}.DependsOn")
        else:
            step.depends_on = tuple(depends)
        if "CacheConfig" in raw:
            step.cache_config = self._cache_config(step, raw["CacheConfig"], f"{loc}.CacheConfig", info.cacheable)
        if "RetryPolicies" in raw:
            step.retry_policies = self._retry_policies(step, raw["RetryPolicies"], f"{loc}.RetryPolicies", info.retryable)
        if "PropertyFiles" in raw:
            step.property_files = self._property_files(step, raw["PropertyFiles"], f"{loc}.PropertyFiles")
        if step.type in LAMBDA_CALLBACK:
            step.output_parameters = self._output_parameters(step, raw.get("OutputParameters", []), f"{loc}.OutputParameters")
            key = "FunctionArn" if step.type == "Lambda" else "SqsQueueUrl"
            if not isinstance(raw.get(key), str) or not raw.get(key):
                self.problem(f"{step.type} step has no {key}", step=name, location=f"{loc}.{key}", expected="a non-empty string")

    def _cache_config(self, step: Step, raw: Any, loc: str, allowed: bool) -> CacheConfig | None:
        if not allowed:
            self.problem(f"CacheConfig is not supported on {step.type} steps", step=step.name, location=loc)
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("Enabled"), bool):
            self.problem("CacheConfig needs a boolean Enabled", step=step.name, location=loc, expected='{"Enabled": true, "ExpireAfter": "P30D"}')
            return None
        expire = raw.get("ExpireAfter")
        if expire is not None:
            try:
                if not isinstance(expire, str):
                    raise ValueError
                parse_iso_duration(expire)
            except (ValueError, TypeError, Exception):  # pendulum raises its own ParserError
                self.problem(f"ExpireAfter {expire!r} is not an ISO-8601 duration", step=step.name, location=f"{loc}.ExpireAfter", expected="e.g. P30D, PT12H, P4DT12H")
                expire = None
        return CacheConfig(enabled=raw["Enabled"], expire_after=expire)

    def _retry_policies(self, step: Step, raw: Any, loc: str, allowed: bool) -> tuple[RetryPolicy, ...]:
        if not allowed:
            self.problem(f"RetryPolicies are not supported on {step.type} steps", step=step.name, location=loc)
            return ()
        if not isinstance(raw, list):
            self.problem(f"RetryPolicies is {_type_name(raw)}", step=step.name, location=loc, expected="an array")
            return ()
        policies = []
        job_step = step.type not in ("Model", "RegisterModel", "EMR") and STEP_TYPES[step.type].api is not None
        for index, policy in enumerate(raw):
            ploc = f"{loc}[{index}]"
            if not isinstance(policy, dict):
                self.problem(f"retry policy is {_type_name(policy)}", step=step.name, location=ploc, expected="an object")
                continue
            types = policy.get("ExceptionType")
            if isinstance(types, str):  # the public schema's single-string form
                types = [types]
            valid = STEP_EXCEPTION_TYPES | (JOB_EXCEPTION_TYPES if job_step else set()) | (EMR_EXCEPTION_TYPES if step.type == "EMR" else set())
            if not isinstance(types, list) or not types:
                self.problem("retry policy has no ExceptionType", step=step.name, location=f"{ploc}.ExceptionType", expected="a non-empty array")
                continue
            bad = [t for t in types if not isinstance(t, str) or t not in valid]
            if bad:
                self.problem(f"ExceptionType {bad} not valid for a {step.type} step", step=step.name, location=f"{ploc}.ExceptionType", expected=", ".join(sorted(valid)))
                continue
            numbers = {}
            for key, lo, hi, kinds in (
                ("IntervalSeconds", 0, None, (int, float)),
                ("BackoffRate", 0, None, (int, float)),
                ("MaxAttempts", 1, 20, (int,)),
                ("ExpireAfterMin", 0, 14400, (int, float)),
            ):
                if key not in policy:
                    continue
                value = policy[key]
                if not isinstance(value, kinds) or isinstance(value, bool) or value < lo or (hi is not None and value > hi):
                    bounds = f"{lo}..{hi}" if hi is not None else f">= {lo}"
                    self.problem(f"{key} is {value!r}", step=step.name, location=f"{ploc}.{key}", expected=f"{'an integer' if kinds == (int,) else 'a number'} {bounds}")
                    continue
                numbers[key] = value
            policies.append(
                RetryPolicy(
                    exception_types=tuple(types),
                    interval_seconds=float(numbers.get("IntervalSeconds", 1)),
                    backoff_rate=float(numbers.get("BackoffRate", 2.0)),
                    max_attempts=numbers.get("MaxAttempts"),
                    expire_after_min=numbers.get("ExpireAfterMin"),
                )
            )
        return tuple(policies)

    def _property_files(self, step: Step, raw: Any, loc: str) -> tuple[PropertyFile, ...]:
        if not isinstance(raw, list):
            self.problem(f"PropertyFiles is {_type_name(raw)}", step=step.name, location=loc, expected="an array")
            return ()
        outputs = step.arguments.get("ProcessingOutputConfig", {}).get("Outputs") if isinstance(step.arguments.get("ProcessingOutputConfig"), dict) else None
        output_names = {o["OutputName"] for o in outputs if isinstance(o, dict) and isinstance(o.get("OutputName"), str)} if isinstance(outputs, list) else None
        files, seen = [], set()
        for index, item in enumerate(raw):
            ploc = f"{loc}[{index}]"
            if not isinstance(item, dict) or not all(isinstance(item.get(k), str) and item.get(k) for k in ("PropertyFileName", "OutputName", "FilePath")):
                self.problem("property file needs PropertyFileName, OutputName and FilePath strings", step=step.name, location=ploc)
                continue
            if item["PropertyFileName"] in seen:
                self.problem(f"duplicate property file '{item['PropertyFileName']}'", step=step.name, location=f"{ploc}.PropertyFileName")
                continue
            seen.add(item["PropertyFileName"])
            if output_names is not None and item["OutputName"] not in output_names:
                self.problem(
                    f"property file '{item['PropertyFileName']}' names output '{item['OutputName']}', which the step does not have{did_you_mean(item['OutputName'], [n for n in output_names if isinstance(n, str)])}",
                    step=step.name,
                    location=f"{ploc}.OutputName",
                    expected="one of " + ", ".join(sorted(str(n) for n in output_names)),
                )
                continue
            files.append(PropertyFile(item["PropertyFileName"], item["OutputName"], item["FilePath"]))
        return tuple(files)

    def _output_parameters(self, step: Step, raw: Any, loc: str) -> tuple[OutputParameter, ...]:
        if not isinstance(raw, list):
            self.problem(f"OutputParameters is {_type_name(raw)}", step=step.name, location=loc, expected="an array")
            return ()
        params, seen = [], set()
        for index, item in enumerate(raw):
            ploc = f"{loc}[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("OutputName"), str):
                self.problem("output parameter needs an OutputName string", step=step.name, location=ploc)
                continue
            otype = item.get("OutputType", "String")
            if otype not in OUTPUT_PARAMETER_TYPES:
                self.problem(f"unknown OutputType {otype!r}", step=step.name, location=f"{ploc}.OutputType", expected=", ".join(OUTPUT_PARAMETER_TYPES))
                continue
            if item["OutputName"] in seen:
                self.problem(f"duplicate output parameter '{item['OutputName']}'", step=step.name, location=f"{ploc}.OutputName")
                continue
            seen.add(item["OutputName"])
            params.append(OutputParameter(item["OutputName"], otype))
        return tuple(params)

    def _check_step_body(self, step: Step) -> None:
        name, loc = step.name, step.location
        refs: set[str] = set()
        for dep_index, dep in enumerate(step.depends_on):
            dloc = f"{loc}.DependsOn[{dep_index}]"
            if dep == name:
                self.problem("step depends on itself", step=name, location=dloc)
            elif dep in self.rejected_steps:
                continue
            elif dep not in self.steps:
                self.problem(f"depends on unknown step '{dep}'{did_you_mean(dep, self.steps)}", step=name, location=dloc)
            elif self.steps[dep].type == "Fail":
                self.problem(f"depends on Fail step '{dep}'", step=name, location=dloc, expected="no step may depend on a Fail step")
            else:
                self.upstream[name].add(dep)
        if step.type == "Condition":
            for index, condition in enumerate(step.conditions):
                self._check_condition(condition, f"{loc}.Arguments.Conditions[{index}]", step, refs)
        elif step.type == "Fail":
            message = step.arguments.get("ErrorMessage", "")
            for key in step.arguments:
                if key != "ErrorMessage":
                    self.problem(f"unknown Fail argument '{key}'", step=name, location=f"{loc}.Arguments.{key}", expected="ErrorMessage")
            if isinstance(message, (dict, list)) and not _is_expression(message):
                self.problem("ErrorMessage is an object", step=name, location=f"{loc}.Arguments.ErrorMessage", expected="a string or an expression")
            else:
                self._check_value(message, f"{loc}.Arguments.ErrorMessage", step, refs)
        else:
            self._check_value(step.arguments, f"{loc}.Arguments", step, refs)
            self._check_type_arguments(step)
        for key, value in step.fields.items():
            self._check_value(value, f"{loc}.{key}", step, refs)
        self.upstream[name] |= refs

    def _check_type_arguments(self, step: Step) -> None:
        args, loc = step.arguments, f"{step.location}.Arguments"
        if step.type == "EMR":
            if not isinstance(args.get("StepConfig"), dict) or not isinstance(args["StepConfig"].get("HadoopJarStep"), dict):
                self.problem("EMR step needs StepConfig.HadoopJarStep", step=step.name, location=f"{loc}.StepConfig", expected='{"HadoopJarStep": {"Jar": ...}}')
            has_id, has_config = "ClusterId" in args, "ClusterConfig" in args
            if has_id == has_config:
                self.problem("EMR step needs exactly one of ClusterId and ClusterConfig", step=step.name, location=loc)
            elif has_config:
                instances = args["ClusterConfig"].get("Instances") if isinstance(args["ClusterConfig"], dict) else None
                if not isinstance(instances, dict) or ("InstanceGroups" in instances) == ("InstanceFleets" in instances):
                    self.problem("ClusterConfig.Instances needs exactly one of InstanceGroups and InstanceFleets", step=step.name, location=f"{loc}.ClusterConfig.Instances")
            if "ExecutionRoleArn" in args and has_config:
                self.problem("ExecutionRoleArn is only valid with ClusterId", step=step.name, location=f"{loc}.ExecutionRoleArn")

    def _check_condition(self, condition: Any, loc: str, step: Step, refs: set[str]) -> None:
        if not isinstance(condition, dict):
            self.problem(f"condition is {_type_name(condition)}", step=step.name, location=loc, expected="an object with a Type")
            return
        ctype = condition.get("Type")
        if not isinstance(ctype, str) or ctype not in CONDITION_TYPES:
            self.problem(
                f"unknown condition type {ctype!r}{did_you_mean(str(ctype), CONDITION_TYPES)}",
                step=step.name,
                location=f"{loc}.Type",
                expected=", ".join(sorted(CONDITION_TYPES)),
            )
            return
        required = {
            "In": ("QueryValue", "Values"),
            "Not": ("Condition",),
            "Or": ("Conditions",),
        }.get(ctype, ("LeftValue", "RightValue"))
        for key in condition:
            if key != "Type" and key not in required:
                self.problem(f"unknown key '{key}' in a {ctype} condition", step=step.name, location=f"{loc}.{key}", expected=", ".join(required))
        for key in required:
            if key not in condition:
                self.problem(f"{ctype} condition has no {key}", step=step.name, location=loc, expected=", ".join(required))
                return
        if ctype == "Not":
            self._check_condition(condition["Condition"], f"{loc}.Condition", step, refs)
        elif ctype == "Or":
            if not isinstance(condition["Conditions"], list) or not condition["Conditions"]:
                self.problem("Or needs a non-empty Conditions array", step=step.name, location=f"{loc}.Conditions")
                return
            for index, inner in enumerate(condition["Conditions"]):
                self._check_condition(inner, f"{loc}.Conditions[{index}]", step, refs)
        elif ctype == "In":
            self._check_operand(condition["QueryValue"], f"{loc}.QueryValue", step, refs)
            if not isinstance(condition["Values"], list):
                self.problem("In condition Values is not an array", step=step.name, location=f"{loc}.Values", expected="an array")
                return
            for index, value in enumerate(condition["Values"]):
                self._check_operand(value, f"{loc}.Values[{index}]", step, refs)
        else:
            self._check_operand(condition["LeftValue"], f"{loc}.LeftValue", step, refs)
            self._check_operand(condition["RightValue"], f"{loc}.RightValue", step, refs)

    def _check_operand(self, value: Any, loc: str, step: Step, refs: set[str]) -> None:
        if isinstance(value, (dict, list)) and not _is_expression(value):
            self.problem(f"condition operand is a literal {_type_name(value)}", step=step.name, location=loc, expected="a string, number, boolean or expression")
            return
        self._check_value(value, loc, step, refs)

    # -- expressions -----------------------------------------------------------------------------

    def _check_value(self, value: Any, loc: str, step: Step | None, refs: set[str]) -> None:
        """Walk a value; check every expression in it and collect the steps it references.

        Only containers are descended into, so no location string is built for the (many) scalar
        leaves of a request: this walk is most of the cost of loading a definition.
        """
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, (dict, list)):
                    self._check_value(item, f"{loc}[{index}]", step, refs)
            return
        if not isinstance(value, dict):
            return
        if len(value) == 1:
            kind = next(iter(value))
            if kind == GET or (isinstance(kind, str) and kind.startswith("Std:")):
                self._check_expression(kind, value[kind], loc, step, refs)
                return
        elif GET in value or any(isinstance(k, str) and k.startswith("Std:") for k in value):
            expr_keys = [k for k in value if k == GET or (isinstance(k, str) and k.startswith("Std:"))]
            self.problem(
                f"expression object has extra keys {sorted(str(k) for k in value if k not in expr_keys)}",
                step=step.name if step else None,
                location=loc,
                expected=f"exactly one key, '{expr_keys[0]}'",
            )
            return
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                self._check_value(item, child_location(loc, key), step, refs)

    def _check_expression(self, kind: str, body: Any, loc: str, step: Step | None, refs: set[str]) -> None:
        if kind == GET:
            self._check_get(body, loc, step, refs)
        elif kind == JOIN:
            self._check_join(body, f"{loc}['{JOIN}']", step, refs)
        elif kind == JSON_GET:
            self._check_json_get(body, f"{loc}['{JSON_GET}']", step, refs)
        else:
            self.problem(f"unknown function '{kind}'{did_you_mean(kind, FUNCTIONS)}", step=step.name if step else None, location=loc, expected=" or ".join(FUNCTIONS))

    def _check_join(self, body: Any, loc: str, step: Step | None, refs: set[str]) -> None:
        step_name = step.name if step else None
        if not isinstance(body, dict) or not isinstance(body.get("Values"), list):
            self.problem("Std:Join needs an object with a Values array", step=step_name, location=loc, expected='{"On": "/", "Values": [...]}')
            return
        if not isinstance(body.get("On", ""), str):
            self.problem(f"Std:Join On is {_type_name(body.get('On'))}", step=step_name, location=f"{loc}.On", expected="a string")
        for key in body:
            if key not in ("On", "Values"):
                self.problem(f"unknown key '{key}' in Std:Join", step=step_name, location=f"{loc}.{key}", expected="On, Values")
        for index, item in enumerate(body["Values"]):
            iloc = f"{loc}.Values[{index}]"
            if isinstance(item, (dict, list)) and not _is_expression(item):
                self.problem(f"Std:Join value is a literal {_type_name(item)}", step=step_name, location=iloc, expected="a string, number, boolean or expression")
            else:
                self._check_value(item, iloc, step, refs)

    def _check_json_get(self, body: Any, loc: str, step: Step | None, refs: set[str]) -> None:
        step_name = step.name if step else None
        if not isinstance(body, dict):
            self.problem(f"Std:JsonGet body is {_type_name(body)}", step=step_name, location=loc, expected='{"PropertyFile" or "S3Uri": ..., "Path": "..."}')
            return
        for key in body:
            if key not in ("PropertyFile", "S3Uri", "Path"):
                self.problem(f"unknown key '{key}' in Std:JsonGet", step=step_name, location=f"{loc}.{key}", expected="PropertyFile or S3Uri, and Path")
        path = body.get("Path")
        if not isinstance(path, str):
            self.problem("Std:JsonGet has no Path string", step=step_name, location=f"{loc}.Path", expected="a JSON path such as 'a.b[0]'")
        else:
            try:
                parse_path(path)
            except DefinitionError as exc:
                self.problem(exc.problem, step=step_name, location=f"{loc}.Path", expected=exc.expected)
        if ("PropertyFile" in body) == ("S3Uri" in body):
            self.problem("Std:JsonGet needs exactly one of PropertyFile and S3Uri", step=step_name, location=loc)
            return
        if "S3Uri" in body:
            uri = body["S3Uri"]
            if isinstance(uri, str):
                if not uri.startswith("s3://"):
                    self.problem(f"S3Uri {uri!r} is not an s3:// URI", step=step_name, location=f"{loc}.S3Uri")
            elif _is_expression(uri):
                self._check_value(uri, f"{loc}.S3Uri", step, refs)
            else:
                self.problem(f"S3Uri is {_type_name(uri)}", step=step_name, location=f"{loc}.S3Uri", expected="a string or an expression")
            return
        ref = body["PropertyFile"]
        ploc = f"{loc}.PropertyFile"
        text = ref.get(GET) if isinstance(ref, dict) and len(ref) == 1 else None
        try:
            parsed = parse_reference(text)
        except DefinitionError as exc:
            self.problem(f"PropertyFile is not a property-file reference: {exc.problem}", step=step_name, location=ploc, expected='{"Get": "Steps.<Step>.PropertyFiles.<Name>"}')
            return
        if parsed.root != "Steps" or len(parsed.path) != 2 or parsed.path[0].value != "PropertyFiles":
            self.problem(f"PropertyFile reference '{text}' does not name a property file", step=step_name, location=ploc, expected="'Steps.<Step>.PropertyFiles.<Name>'")
            return
        target = self._step_target(parsed.name, ploc, step, refs)
        if target is None:
            return
        file_name = str(parsed.path[1].value)
        if target.type != "Processing":
            self.problem(f"property file reference to {target.type} step '{target.name}'", step=step_name, location=ploc, expected="a Processing step (only they have PropertyFiles)")
        elif target.property_file(file_name) is None:
            known = [p.name for p in target.property_files]
            self.problem(
                f"step '{target.name}' has no property file '{file_name}'{did_you_mean(file_name, known)}",
                step=step_name,
                location=ploc,
                expected="one of " + ", ".join(known) if known else "a PropertyFiles entry on that step",
            )

    def _check_get(self, text: Any, loc: str, step: Step | None, refs: set[str]) -> None:
        step_name = step.name if step else None
        try:
            ref = parse_reference(text)
        except DefinitionError as exc:
            self.problem(exc.problem, step=step_name, location=loc, expected=exc.expected)
            return
        if ref.root == "Parameters":
            if ref.name not in self.parameters:
                self.problem(f"references unknown parameter '{ref.name}'{did_you_mean(ref.name, self.parameters)}", step=step_name, location=loc, expected="a name declared in Parameters")
        elif ref.root == "Execution":
            if ref.name not in EXECUTION_VARIABLES:
                self.problem(f"unknown execution variable '{ref.name}'{did_you_mean(ref.name, EXECUTION_VARIABLES)}", step=step_name, location=loc, expected=", ".join(EXECUTION_VARIABLES))
        elif ref.root == "PipelineExperimentConfig":
            if ref.name not in EXPERIMENT_CONFIG_MEMBERS:
                self.problem(f"unknown PipelineExperimentConfig member '{ref.name}'", step=step_name, location=loc, expected="ExperimentName or TrialName")
            elif self.experiment_config is None:
                self.problem(f"references PipelineExperimentConfig.{ref.name} but PipelineExperimentConfig is null", step=step_name, location=loc)
            elif ref.name not in self.experiment_config:
                self.problem(f"references PipelineExperimentConfig.{ref.name}, which the config does not set", step=step_name, location=loc)
        else:
            target = self._step_target(ref.name, loc, step, refs)
            if target is not None:
                self._check_step_property(target, ref, loc, step_name)

    def _step_target(self, name: str, loc: str, step: Step | None, refs: set[str]) -> Step | None:
        step_name = step.name if step else None
        if step is None:  # only PipelineExperimentConfig values are checked outside a step
            self.problem("PipelineExperimentConfig cannot reference steps", location=loc, expected="parameters, execution variables or literals")
            return None
        if name == step.name:
            self.problem("step references its own properties", step=step_name, location=loc, expected="a reference to an upstream step")
            return None
        target = self.steps.get(name)
        if target is None and name in self.rejected_steps:
            return None
        if target is None:
            self.problem(f"references unknown step '{name}'{did_you_mean(name, self.steps)}", step=step_name, location=loc)
            return None
        if target.type == "Fail":
            self.problem(f"references Fail step '{name}', which has no properties", step=step_name, location=loc)
            return None
        refs.add(name)
        return target

    def _check_step_property(self, target: Step, ref: Any, loc: str, step_name: str | None) -> None:
        first = ref.path[0]
        if first.value == "PropertyFiles":
            self.problem(f"'{ref.text}' can only be used as the PropertyFile of a Std:JsonGet", step=step_name, location=loc)
        elif target.type == "Condition":
            if len(ref.path) != 1 or first.value != "Outcome":
                self.problem(f"Condition step '{target.name}' only has the property Outcome", step=step_name, location=loc, expected=f"'Steps.{target.name}.Outcome'")
        elif target.type in LAMBDA_CALLBACK:
            if first.value != "OutputParameters" or len(ref.path) != 2 or ref.path[1].kind != "key":
                self.problem(f"{target.type} step '{target.name}' only has OutputParameters['<name>'] properties", step=step_name, location=loc)
            elif target.output_parameter(str(ref.path[1].value)) is None:
                declared = [p.name for p in target.output_parameters]
                self.problem(
                    f"step '{target.name}' declares no output parameter '{ref.path[1].value}'{did_you_mean(str(ref.path[1].value), declared)}",
                    step=step_name,
                    location=loc,
                    expected="one of " + ", ".join(declared) if declared else "an OutputParameters entry on that step",
                )
        elif first.kind != "member":
            self.problem(f"property path of '{ref.text}' must start with a member name", step=step_name, location=loc)


def _is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and (GET in value or next(iter(value)) in FUNCTIONS)


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)
