"""The validator's checks of a step's body by type: DependsOn targets, Conditions, Fail, EMR, and
the types SDK v3 and today's service added (ForEach, Cleanup, EMRServerless, Job)."""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_smpipe.definition import constraints
from airflow_provider_smpipe.definition.errors import DefinitionError, did_you_mean
from airflow_provider_smpipe.definition.foreach import PICKS
from airflow_provider_smpipe.definition.jsondoc import loads_value
from airflow_provider_smpipe.definition.model import CleanupSource, ForEachSpec, Selector, Step
from airflow_provider_smpipe.definition.references import GET, ITERATION_OUTPUT, JOIN, expression_kind, parse_reference
from airflow_provider_smpipe.definition.request_shapes import Report, check_request, input_shape
from airflow_provider_smpipe.definition.validate_base import article, is_expression, json_text, short_repr, type_name
from airflow_provider_smpipe.definition.validate_expressions import ExpressionChecks, References

MAX_LITERAL_ITEMS = 100
MAX_CONCURRENCY = 50
FOR_EACH_ARGUMENTS = ("IterableItems", "MaxConcurrency", "ForEachBody", "Selector")
#: ForEach body step types the service refuses (sagemaker-mlops 1.27.0 ``_DISALLOWED_BODY_STEP_TYPES``).
DISALLOWED_BODY_TYPES = ("Condition", "Fail", "ForEach")
#: Cleanup sources the service finds the outputs of by itself; Processing and Transform need S3Uris.
CLEANUP_NEEDS_URIS = ("Processing", "Transform")
NO_OUTPUTS = ("Condition", "Fail", "Cleanup")
EMR_SERVERLESS_ARGUMENTS = ("ExecutionRoleArn", "JobConfig", "ApplicationId", "ApplicationConfig")
MAX_JOB_DOCUMENT = 262_144


class StepChecks(ExpressionChecks):
    def _check_step_body(self, step: Step) -> None:
        name, loc = step.name, step.location
        refs: References = {}
        self._check_dependency_targets(step)
        if step.type == "Condition":
            for index, condition in enumerate(step.conditions):
                self._check_condition(condition, f"{loc}.Arguments.Conditions[{index}]", step, refs)
        elif step.type == "Fail":
            self._check_fail(step, refs)
        elif step.type == "ForEach":
            self._check_for_each(step, refs)
        else:
            self._check_value(step.arguments, f"{loc}.Arguments", step, refs)
            self._check_type_arguments(step)
        for key, value in step.fields.items():
            self._check_value(value, f"{loc}.{key}", step, refs)
        self.references[name] = refs
        self.upstream[name] |= set(refs)

    def _check_dependency_targets(self, step: Step) -> None:
        for dep in step.dependencies:
            target = self.steps.get(dep.step)
            if dep.step == step.name:
                self.problem("step depends on itself", step=step.name, location=dep.location)
            elif dep.step in self.rejected_steps:
                continue
            elif target is None:
                self.problem(f"depends on unknown step '{dep.step}'{did_you_mean(dep.step, self.steps)}", step=step.name, location=dep.location)
            elif target.type == "Fail":
                self.problem(f"depends on Fail step '{dep.step}'", step=step.name, location=dep.location, expected="no step may depend on a Fail step")
            elif step.parent_for_each == target.name:
                self.problem(
                    f"a body step cannot depend on its own ForEach '{target.name}' (it already runs inside it)",
                    step=step.name,
                    location=dep.location,
                )
            elif target.parent_for_each is not None and target.parent_for_each != step.parent_for_each:
                self.problem(
                    f"depends on '{dep.step}', a body step of ForEach '{target.parent_for_each}'",
                    step=step.name,
                    location=dep.location,
                    expected=f"a dependency on the ForEach '{target.parent_for_each}' itself (it ends when every iteration has)",
                )
            else:
                self.upstream[step.name].add(dep.step)

    def _check_fail(self, step: Step, refs: References) -> None:
        loc = step.location
        message = step.arguments.get("ErrorMessage", "")
        for key in step.arguments:
            if key != "ErrorMessage":
                self.problem(f"unknown Fail argument '{key}'", step=step.name, location=f"{loc}.Arguments.{key}", expected="ErrorMessage")
        if isinstance(message, (dict, list)) and not is_expression(message):
            self.problem("ErrorMessage is an object", step=step.name, location=f"{loc}.Arguments.ErrorMessage", expected="a string or an expression")
        elif isinstance(message, str) and constraints.FAIL_ERROR_MESSAGE.problem(message) is not None:
            self.problem(
                f"ErrorMessage {constraints.FAIL_ERROR_MESSAGE.problem(message)}",
                step=step.name,
                location=f"{loc}.Arguments.ErrorMessage",
                expected=constraints.FAIL_ERROR_MESSAGE.expected(),
            )
        else:
            self._check_value(message, f"{loc}.Arguments.ErrorMessage", step, refs)

    def _check_type_arguments(self, step: Step) -> None:
        if step.type == "EMR":
            self._check_emr(step)
        elif step.type == "EMRServerless":
            self._check_emr_serverless(step)
        elif step.type == "Job":
            self._check_job(step)
        elif step.type == "Cleanup":
            self._check_cleanup(step)

    def _shape_report(self, step: Step) -> Report:
        def report(problem: str, location: str, expected: str | None) -> None:
            self.problem(problem, step=step.name, location=location, expected=expected)

        return report

    # -- EMR -------------------------------------------------------------------------------------

    def _check_emr(self, step: Step) -> None:
        args, loc = step.arguments, f"{step.location}.Arguments"
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

    def _check_emr_serverless(self, step: Step) -> None:
        args, loc = step.arguments, f"{step.location}.Arguments"
        for key in args:
            if key not in EMR_SERVERLESS_ARGUMENTS:
                self.problem(f"unknown EMRServerless argument '{key}'{did_you_mean(str(key), EMR_SERVERLESS_ARGUMENTS)}", step=step.name, location=f"{loc}.{key}", expected=", ".join(EMR_SERVERLESS_ARGUMENTS))
        role = args.get("ExecutionRoleArn")
        if not isinstance(role, str) and not is_expression(role):
            self.problem("EMRServerless step needs an ExecutionRoleArn string", step=step.name, location=f"{loc}.ExecutionRoleArn", expected="the IAM role ARN of the job run")
        has_id, has_config = "ApplicationId" in args, "ApplicationConfig" in args
        if has_id == has_config:
            self.problem("EMRServerless step needs exactly one of ApplicationId (an existing application) and ApplicationConfig (a new one)", step=step.name, location=loc)
        if has_id and not isinstance(args["ApplicationId"], str) and not is_expression(args["ApplicationId"]):
            self.problem(f"ApplicationId is {type_name(args['ApplicationId'])}", step=step.name, location=f"{loc}.ApplicationId", expected="a string or an expression")
        report = self._shape_report(step)
        if has_config:
            check_request(input_shape("emr-serverless", "CreateApplication"), args["ApplicationConfig"], f"{loc}.ApplicationConfig", report, filled=("clientToken",))
        job = args.get("JobConfig")
        if not isinstance(job, dict) or is_expression(job):
            self.problem("EMRServerless step needs a JobConfig object (the StartJobRun request)", step=step.name, location=f"{loc}.JobConfig", expected='{"executionRoleArn": ..., "jobDriver": {...}}')
            return
        check_request(input_shape("emr-serverless", "StartJobRun"), job, f"{loc}.JobConfig", report, filled=("clientToken", "applicationId"), required=("jobDriver",))
        inner = job.get("applicationId")
        if has_config and "applicationId" in job:
            self.problem(
                "JobConfig.applicationId is given, but ApplicationConfig makes the step create its application",
                step=step.name,
                location=f"{loc}.JobConfig.applicationId",
                expected="no applicationId with ApplicationConfig (or ApplicationId instead of ApplicationConfig)",
            )
        if has_id and isinstance(inner, str) and isinstance(args["ApplicationId"], str) and inner != args["ApplicationId"]:
            self.problem(f"JobConfig.applicationId {short_repr(inner)} differs from ApplicationId {short_repr(args['ApplicationId'])}", step=step.name, location=f"{loc}.JobConfig.applicationId", expected="the same application")

    # -- Job -------------------------------------------------------------------------------------

    def _check_job(self, step: Step) -> None:
        args, loc = step.arguments, f"{step.location}.Arguments"
        # JobName is generated per execution; when the SDK keeps one (custom job prefix) it is the prefix.
        check_request(input_shape("sagemaker", "CreateJob"), args, loc, self._shape_report(step), filled=("JobName",))
        document = args.get("JobConfigDocument")
        dloc = f"{loc}.JobConfigDocument"
        if isinstance(document, str) and document:  # its length is the CreateJob shape check's
            self._check_job_document(step, document, dloc, filled_in=False)
        elif isinstance(document, dict) and expression_kind(document) == JOIN and isinstance(document[JOIN], dict):
            text = _join_with_placeholders(document[JOIN])
            if text is not None:
                self._check_job_document(step, text, dloc, filled_in=True)

    def _check_job_document(self, step: Step, text: str, loc: str, *, filled_in: bool) -> None:
        if filled_in and len(text) > MAX_JOB_DOCUMENT:
            self.problem(f"JobConfigDocument has {len(text)} characters", step=step.name, location=loc, expected=f"at most {MAX_JOB_DOCUMENT}")
        how = " once its expressions are filled in" if filled_in else ""
        try:
            parsed = loads_value(text)
        except json.JSONDecodeError as exc:
            self.problem(f"JobConfigDocument is not valid JSON{how}: {exc.msg} at character {exc.pos}", step=step.name, location=loc, expected="a JSON object as a string")
            return
        except ValueError as exc:  # NaN, lone surrogates, too deep, ...: not JSON for the service either
            self.problem(f"JobConfigDocument is not valid JSON{how}: {exc}", step=step.name, location=loc, expected="a JSON object as a string")
            return
        if not isinstance(parsed, dict):
            self.problem(f"JobConfigDocument is a JSON {type_name(parsed)}", step=step.name, location=loc, expected="a JSON object as a string")

    # -- Cleanup ---------------------------------------------------------------------------------

    def _check_cleanup(self, step: Step) -> None:
        args, loc = step.arguments, f"{step.location}.Arguments"
        for key in args:
            if key != "Resources":
                self.problem(f"unknown Cleanup argument '{key}'{did_you_mean(str(key), ['Resources'])}", step=step.name, location=f"{loc}.{key}", expected="Resources")
        resources = args.get("Resources")
        if not isinstance(resources, dict):
            shown = "Cleanup step has no Resources" if resources is None else f"Resources is {type_name(resources)}"
            self.problem(shown, step=step.name, location=f"{loc}.Resources", expected='{"S3": [{"StepName": ..., "S3Uris": [...]}]}')
            return
        for key in resources:
            if key != "S3":
                self.problem(f"unknown Cleanup resource kind '{key}'", step=step.name, location=f"{loc}.Resources.{key}", expected="S3")
        sources = resources.get("S3")
        if not isinstance(sources, list) or not sources:
            self.problem("Cleanup step needs a non-empty Resources.S3 array", step=step.name, location=f"{loc}.Resources.S3", expected="one entry per source step")
            return
        parsed: list[CleanupSource] = []
        for index, source in enumerate(sources):
            entry = self._cleanup_source(step, source, f"{loc}.Resources.S3[{index}]")
            if entry is None:
                continue
            if any(p.step == entry.step for p in parsed):
                self.problem(f"source step '{entry.step}' is listed twice", step=step.name, location=entry.location)
                continue
            parsed.append(entry)
        step.cleanup_sources = tuple(parsed)

    def _cleanup_source(self, step: Step, source: Any, loc: str) -> CleanupSource | None:
        if not isinstance(source, dict):
            self.problem(f"Cleanup source is {type_name(source)}", step=step.name, location=loc, expected='{"StepName": ..., "S3Uris": [...]}')
            return None
        for key in source:
            if key not in ("StepName", "S3Uris"):
                self.problem(f"unknown key '{key}' in a Cleanup source{did_you_mean(str(key), ['StepName', 'S3Uris'])}", step=step.name, location=f"{loc}.{key}", expected="StepName, S3Uris")
        name = source.get("StepName")
        if not isinstance(name, str) or not name:
            self.problem("Cleanup source has no StepName", step=step.name, location=f"{loc}.StepName", expected="the name of an upstream step")
            return None
        target = self.steps.get(name)
        if target is None:
            if name not in self.rejected_steps:
                self.problem(f"Cleanup source '{name}' is not a step{did_you_mean(name, self.steps)}", step=step.name, location=f"{loc}.StepName")
            return None
        if name == step.name:
            self.problem(f"Cleanup source '{name}' is the Cleanup step itself", step=step.name, location=f"{loc}.StepName", expected="an upstream step that wrote S3 outputs")
            return None
        if target.type in NO_OUTPUTS:
            self.problem(f"Cleanup source '{name}' is {article(target.type)} step, which writes no S3 outputs", step=step.name, location=f"{loc}.StepName", expected="a step that wrote S3 outputs")
            return None
        if target.parent_for_each is not None and target.parent_for_each != step.parent_for_each:
            self.problem(f"Cleanup source '{name}' is a body step of ForEach '{target.parent_for_each}'", step=step.name, location=f"{loc}.StepName", expected="a step of the same scope as the Cleanup step")
            return None
        uris = self._cleanup_uris(step, target, source, loc)
        vpc = _vpc_config(target)
        if vpc is not None:
            self.problem(f"Cleanup source '{name}' runs in a VPC ({vpc}), and the service cannot clean up such a step", step=step.name, location=f"{loc}.StepName")
        return CleanupSource(name, uris, loc)

    def _cleanup_uris(self, step: Step, target: Step, source: dict[str, Any], loc: str) -> tuple[Any, ...] | None:
        if "S3Uris" not in source:
            if target.type in CLEANUP_NEEDS_URIS:
                self.problem(
                    f"Cleanup source '{target.name}' is {article(target.type)} step and has no S3Uris",
                    step=step.name,
                    location=loc,
                    expected="S3Uris listing the objects to delete (for Processing and Transform sources the service deletes exactly the listed objects)",
                )
            return None
        uris = source["S3Uris"]
        uloc = f"{loc}.S3Uris"
        if not isinstance(uris, list) or not uris:
            self.problem("S3Uris must be omitted or a non-empty array", step=step.name, location=uloc, expected="s3:// URIs or expressions")
            return None
        for index, uri in enumerate(uris):
            if isinstance(uri, str):
                if not uri.startswith("s3://"):
                    self.problem(f"S3Uri {short_repr(uri)} is not an s3:// URI", step=step.name, location=f"{uloc}[{index}]")
            elif not is_expression(uri):  # expressions were checked with the rest of the Arguments
                self.problem(f"S3Uri is {type_name(uri)}", step=step.name, location=f"{uloc}[{index}]", expected="an s3:// string or an expression")
        return tuple(uris)

    # -- ForEach ---------------------------------------------------------------------------------

    def _check_for_each(self, step: Step, refs: References) -> None:
        args, loc = step.arguments, f"{step.location}.Arguments"
        for key in args:
            if key not in FOR_EACH_ARGUMENTS:
                self.problem(f"unknown ForEach argument '{key}'{did_you_mean(str(key), FOR_EACH_ARGUMENTS)}", step=step.name, location=f"{loc}.{key}", expected=", ".join(FOR_EACH_ARGUMENTS))
        self._check_items(step, args.get("IterableItems"), "IterableItems" in args, f"{loc}.IterableItems", refs)
        concurrency = args.get("MaxConcurrency")
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
            shown = "missing" if "MaxConcurrency" not in args else json_text(concurrency)
            self.problem(f"MaxConcurrency is {shown}", step=step.name, location=f"{loc}.MaxConcurrency", expected=f"an integer 1..{MAX_CONCURRENCY} (not an expression)")
            concurrency = 1
        body = self.bodies.get(step.name, [])
        selector = None
        if "Selector" in args:
            selector = self._check_selector(step, args["Selector"], f"{loc}.Selector", body)
        step.for_each = ForEachSpec(items=args.get("IterableItems"), max_concurrency=concurrency, body=tuple(body), selector=selector)

    def _check_items(self, step: Step, items: Any, present: bool, loc: str, refs: References) -> None:
        expected = f"a list of 1-{MAX_LITERAL_ITEMS} items (strings, numbers, booleans or expressions), or one expression that resolves to a JSON list string"
        if isinstance(items, list):
            if not 1 <= len(items) <= MAX_LITERAL_ITEMS:
                self.problem(f"IterableItems has {len(items)} items", step=step.name, location=loc, expected=expected)
            for index, item in enumerate(items):
                if is_expression(item):
                    self._check_value(item, f"{loc}[{index}]", step, refs)
                elif item is None or isinstance(item, (dict, list)):
                    self.problem(f"item is {type_name(item)}", step=step.name, location=f"{loc}[{index}]", expected="a string, number, boolean or expression")
        elif is_expression(items):
            self._check_value(items, loc, step, refs)
        else:
            shown = "missing" if not present else f"a literal {type_name(items)}: a single value cannot resolve to a list"
            self.problem(f"IterableItems is {shown}", step=step.name, location=loc, expected=expected)

    def _check_selector(self, step: Step, selector: Any, loc: str, body: list[str]) -> Selector | None:
        if not isinstance(selector, dict):
            self.problem(f"Selector is {type_name(selector)}", step=step.name, location=loc, expected='{"Pick": "MaxBy" | "MinBy", "Field": {"Get": "IterationOutput.<BodyStep>.<member>"}}')
            return None
        for key in selector:
            if key not in ("Pick", "Field"):
                self.problem(f"unknown Selector key '{key}'{did_you_mean(str(key), ['Pick', 'Field'])}", step=step.name, location=f"{loc}.{key}", expected="Pick, Field")
        pick = selector.get("Pick")
        if pick not in PICKS:
            self.problem(f"Selector Pick is {short_repr(pick)}{did_you_mean(str(pick), PICKS)}", step=step.name, location=f"{loc}.Pick", expected=" or ".join(PICKS))
        field_value, floc = selector.get("Field"), f"{loc}.Field"
        field_shape = '{"Get": "IterationOutput.<BodyStep>.<member>"}'
        if "Field" not in selector:
            self.problem("Selector has no Field", step=step.name, location=floc, expected=field_shape)
            return None
        if not isinstance(field_value, dict) or expression_kind(field_value) != GET:
            shown = "another expression" if is_expression(field_value) else type_name(field_value)
            self.problem(f"Selector Field is {shown}", step=step.name, location=floc, expected=field_shape)
            return None
        text = field_value[GET]
        try:
            ref = parse_reference(text)
        except DefinitionError as exc:
            self.problem(f"Selector Field: {exc.problem}", step=step.name, location=floc, expected="{\"Get\": \"IterationOutput.<BodyStep>.<member>\"}")
            return None
        if ref.root != ITERATION_OUTPUT:
            self.problem(
                f"Selector Field '{ref.text}' is not an IterationOutput reference (other values are the same in every iteration)",
                step=step.name,
                location=floc,
                expected="IterationOutput.<BodyStep>.<member>",
            )
            return None
        if ref.name not in body:
            self.problem(f"Selector Field names '{ref.name}', which is not a body step of this ForEach{did_you_mean(ref.name, body)}", step=step.name, location=floc, expected="one of " + ", ".join(body) if body else None)
            return None
        self._check_step_property(self.steps[ref.name], ref, ref.path, floc, step.name)
        return Selector(pick=str(pick), body_step=ref.name, path=ref.path, text=ref.text) if pick in PICKS else None


def _join_with_placeholders(body: dict[str, Any]) -> str | None:
    """A ``Std:Join`` of JSON text with every expression replaced by ``0``, which is valid JSON both
    inside a string and as a bare value; ``None`` when the join's shape is not checkable."""
    values = body.get("Values")
    separator = body.get("On", "")
    if not isinstance(values, list) or not isinstance(separator, str):
        return None
    parts = []
    for value in values:
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(str(value))
        elif isinstance(value, bool):
            parts.append("true" if value else "false")
        elif is_expression(value):
            parts.append("0")
        else:
            return None
    return separator.join(parts)


def _vpc_config(step: Step) -> str | None:
    """Where a step sets a VpcConfig (Training: ``VpcConfig``; Processing: ``NetworkConfig.VpcConfig``)."""
    args = step.arguments
    if args.get("VpcConfig"):
        return "Arguments.VpcConfig"
    network = args.get("NetworkConfig")
    if isinstance(network, dict) and network.get("VpcConfig"):
        return "Arguments.NetworkConfig.VpcConfig"
    return None

