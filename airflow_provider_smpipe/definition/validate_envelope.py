"""The validator's checks of a step's envelope: ``DependsOn`` (with run conditions), ``CacheConfig``,
``RetryPolicies``, ``PropertyFiles``, Lambda/Callback ``OutputParameters``."""

from __future__ import annotations

from typing import Any

from airflow_provider_smpipe.definition import constraints
from airflow_provider_smpipe.definition.errors import did_you_mean
from airflow_provider_smpipe.definition.model import (
    COMPLETED,
    OUTPUT_PARAMETER_TYPES,
    STEP_TYPES,
    TRIGGERS,
    CacheConfig,
    Dependency,
    OutputParameter,
    PropertyFile,
    RetryPolicy,
    Step,
    parse_iso_duration,
)
from airflow_provider_smpipe.definition.references import child_location
from airflow_provider_smpipe.definition.validate_base import ValidatorState, article, short_repr, type_name

STEP_EXCEPTION_TYPES = {"Step.SERVICE_FAULT", "Step.THROTTLING"}
JOB_EXCEPTION_TYPES = {"SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR", "SageMaker.RESOURCE_LIMIT"}
EMR_EXCEPTION_TYPES = {"Emr.RESOURCE_LIMIT"}
LAMBDA_CALLBACK = ("Lambda", "Callback")
DEPENDENCY_KEYS = ("Step", "Trigger")
CACHE_CONFIG_KEYS = ("Enabled", "ExpireAfter")
RETRY_POLICY_KEYS = ("ExceptionType", "IntervalSeconds", "BackoffRate", "MaxAttempts", "ExpireAfterMin")
PROPERTY_FILE_KEYS = ("PropertyFileName", "OutputName", "FilePath")
OUTPUT_PARAMETER_KEYS = ("OutputName", "OutputType")


class EnvelopeChecks(ValidatorState):
    def _envelope(self, step: Step, raw: dict[str, Any]) -> None:
        loc, name, info = step.location, step.name, STEP_TYPES[step.type]
        self._depends_on(step, raw.get("DependsOn", []), f"{loc}.DependsOn")
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
            else:
                limit = constraints.LAMBDA_FUNCTION_ARN if step.type == "Lambda" else constraints.CALLBACK_QUEUE_URL
                why = limit.problem(raw[key])
                if why is not None:
                    self.problem(f"{key} {why}", step=name, location=f"{loc}.{key}", expected=limit.expected())

    def _depends_on(self, step: Step, depends: Any, loc: str) -> None:
        """Parse ``DependsOn``: step names, or ``{"Step", "Trigger"}`` run conditions. Which steps
        the names may refer to is checked later, once every step is known."""
        if not isinstance(depends, list):
            self.problem(
                f"DependsOn must be an array of step names or {{\"Step\", \"Trigger\"}} objects, not {type_name(depends)}",
                step=step.name,
                location=loc,
            )
            return
        entries: dict[str, Dependency] = {}
        for index, entry in enumerate(depends):
            dependency = self._dependency(step, entry, f"{loc}[{index}]")
            if dependency is None:
                continue
            earlier = entries.get(dependency.step)
            if earlier is None:
                entries[dependency.step] = dependency
            elif earlier.trigger != dependency.trigger:
                self.problem(
                    f"conflicting triggers for '{dependency.step}': {earlier.trigger} at {earlier.location}, {dependency.trigger} here",
                    step=step.name,
                    location=dependency.location,
                    expected="one DependsOn entry per upstream step",
                )
        step.dependencies = tuple(entries.values())
        step.depends_on = tuple(entries)

    def _dependency(self, step: Step, entry: Any, loc: str) -> Dependency | None:
        if isinstance(entry, str):
            return Dependency(entry, COMPLETED, "name", loc)
        if not isinstance(entry, dict):
            self.problem(
                f"DependsOn entry is {type_name(entry)}",
                step=step.name,
                location=loc,
                expected='a step name or {"Step": "<name>", "Trigger": "Completed | Failed | Stopped | Any"}',
            )
            return None
        unknown = [key for key in entry if key not in DEPENDENCY_KEYS]
        for key in unknown:
            if key not in DEPENDENCY_KEYS:
                self.problem(
                    f"unknown key '{key}' in a DependsOn entry{did_you_mean(str(key), DEPENDENCY_KEYS)}",
                    step=step.name,
                    location=f"{loc}.{key}",
                    expected="Step, Trigger",
                )
        upstream, trigger = entry.get("Step"), entry.get("Trigger")
        if not isinstance(upstream, str) or not upstream:
            self.problem("DependsOn entry has no Step name", step=step.name, location=f"{loc}.Step", expected="a step name")
            return None
        if trigger is None and unknown:  # the unknown key (a misspelt Trigger) is the one problem
            return None
        if trigger not in TRIGGERS:
            shown = "no Trigger" if trigger is None else f"unknown Trigger {short_repr(trigger)}{did_you_mean(str(trigger), TRIGGERS)}"
            self.problem(f"DependsOn entry for '{upstream}' has {shown}", step=step.name, location=f"{loc}.Trigger", expected=", ".join(TRIGGERS))
            return None
        return Dependency(upstream, trigger, "object", loc)

    def _cache_config(self, step: Step, raw: Any, loc: str, allowed: bool) -> CacheConfig | None:
        if not allowed:
            self.problem(f"CacheConfig is not supported on {step.type} steps", step=step.name, location=loc)
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("Enabled"), bool):
            self.problem("CacheConfig needs a boolean Enabled", step=step.name, location=loc, expected='{"Enabled": true, "ExpireAfter": "P30D"}')
            return None
        self._unknown_keys(step, raw, CACHE_CONFIG_KEYS, loc, "CacheConfig")
        expire = raw.get("ExpireAfter")
        if expire is not None:
            try:
                if not isinstance(expire, str):
                    raise ValueError
                parse_iso_duration(expire)
            except (ValueError, TypeError, Exception):  # pendulum raises its own ParserError
                self.problem(
                    f"ExpireAfter {short_repr(expire)} is not an ISO-8601 duration or its short form",
                    step=step.name,
                    location=f"{loc}.ExpireAfter",
                    expected="e.g. P30D, PT12H, P4DT12H, or the short forms 30d, 5y, T16m, 30dT5h",
                )
                expire = None
        return CacheConfig(enabled=raw["Enabled"], expire_after=expire)

    def _retry_policies(self, step: Step, raw: Any, loc: str, allowed: bool) -> tuple[RetryPolicy, ...]:
        if not allowed:
            self.problem(f"RetryPolicies are not supported on {step.type} steps", step=step.name, location=loc)
            return ()
        if not isinstance(raw, list):
            self.problem(f"RetryPolicies is {type_name(raw)}", step=step.name, location=loc, expected="an array")
            return ()
        info = STEP_TYPES[step.type]
        valid = set(STEP_EXCEPTION_TYPES)
        if info.job_retry or info.opaque:
            valid |= JOB_EXCEPTION_TYPES
        if step.type == "EMR" or info.opaque:
            valid |= EMR_EXCEPTION_TYPES
        policies = []
        for index, policy in enumerate(raw):
            parsed = self._retry_policy(step, policy, f"{loc}[{index}]", valid)
            if parsed is not None:
                policies.append(parsed)
        return tuple(policies)

    def _retry_policy(self, step: Step, policy: Any, ploc: str, valid: set[str]) -> RetryPolicy | None:
        if not isinstance(policy, dict):
            self.problem(f"retry policy is {type_name(policy)}", step=step.name, location=ploc, expected="an object")
            return None
        self._unknown_keys(step, policy, RETRY_POLICY_KEYS, ploc, "a retry policy")
        types = policy.get("ExceptionType")
        if isinstance(types, str):  # the public schema's single-string form
            types = [types]
        if not isinstance(types, list) or not types:
            self.problem("retry policy has no ExceptionType", step=step.name, location=f"{ploc}.ExceptionType", expected="a non-empty array")
            return None
        bad = [t for t in types if not isinstance(t, str) or t not in valid]
        if bad:
            self.problem(f"ExceptionType {bad} not valid for {article(step.type)} step", step=step.name, location=f"{ploc}.ExceptionType", expected=", ".join(sorted(valid)))
            return None
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
                self.problem(f"{key} is {short_repr(value)}", step=step.name, location=f"{ploc}.{key}", expected=f"{'an integer' if kinds == (int,) else 'a number'} {bounds}")
                continue
            numbers[key] = value
        return RetryPolicy(
            exception_types=tuple(types),
            interval_seconds=float(numbers.get("IntervalSeconds", 1)),
            backoff_rate=float(numbers.get("BackoffRate", 2.0)),
            max_attempts=numbers.get("MaxAttempts"),
            expire_after_min=numbers.get("ExpireAfterMin"),
        )

    def _property_files(self, step: Step, raw: Any, loc: str) -> tuple[PropertyFile, ...]:
        if not isinstance(raw, list):
            self.problem(f"PropertyFiles is {type_name(raw)}", step=step.name, location=loc, expected="an array")
            return ()
        config = step.arguments.get("ProcessingOutputConfig")
        outputs = config.get("Outputs") if isinstance(config, dict) else None
        output_names = {o["OutputName"] for o in outputs if isinstance(o, dict) and isinstance(o.get("OutputName"), str)} if isinstance(outputs, list) else None
        files, seen = [], set()
        for index, item in enumerate(raw):
            ploc = f"{loc}[{index}]"
            if not isinstance(item, dict) or not all(isinstance(item.get(k), str) and item.get(k) for k in PROPERTY_FILE_KEYS):
                self.problem("property file needs PropertyFileName, OutputName and FilePath strings", step=step.name, location=ploc)
                continue
            self._unknown_keys(step, item, PROPERTY_FILE_KEYS, ploc, "a property file")
            if constraints.PROPERTY_FILE_NAME.fullmatch(item["PropertyFileName"]) is None:
                self.problem(
                    f"invalid PropertyFileName {short_repr(item['PropertyFileName'])}",
                    step=step.name,
                    location=f"{ploc}.PropertyFileName",
                    expected=constraints.PROPERTY_FILE_NAME_EXPECTED,
                )
            if item["PropertyFileName"] in seen:
                self.problem(f"duplicate property file '{item['PropertyFileName']}'", step=step.name, location=f"{ploc}.PropertyFileName")
                continue
            seen.add(item["PropertyFileName"])
            if output_names is None:
                # Without a literal list of outputs the file's output cannot be checked, and at run
                # time there would be no output to read it from: the service refuses it too.
                self.problem(
                    f"property file '{item['PropertyFileName']}' names output '{item['OutputName']}', but the step has no ProcessingOutputConfig.Outputs list to check it against",
                    step=step.name,
                    location=f"{ploc}.OutputName",
                    expected="a Processing step whose Arguments.ProcessingOutputConfig.Outputs has an output with that OutputName",
                )
                continue
            if item["OutputName"] not in output_names:
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
            self.problem(f"OutputParameters is {type_name(raw)}", step=step.name, location=loc, expected="an array")
            return ()
        params, seen = [], set()
        if len(raw) > constraints.MAX_OUTPUT_PARAMETERS:
            self.problem(
                f"{len(raw)} output parameters",
                step=step.name,
                location=loc,
                expected=f"at most {constraints.MAX_OUTPUT_PARAMETERS} (botocore OutputParameterList)",
            )
        for index, item in enumerate(raw):
            ploc = f"{loc}[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("OutputName"), str):
                self.problem("output parameter needs an OutputName string", step=step.name, location=ploc)
                continue
            self._unknown_keys(step, item, OUTPUT_PARAMETER_KEYS, ploc, "an output parameter")
            why = constraints.OUTPUT_PARAMETER_NAME.problem(item["OutputName"])
            if why is not None:
                shown = "is empty" if not item["OutputName"] else why
                self.problem(f"OutputName {short_repr(item['OutputName'])} {shown}", step=step.name, location=f"{ploc}.OutputName", expected=constraints.OUTPUT_PARAMETER_NAME.expected())
            otype = item.get("OutputType", "String")
            if otype not in OUTPUT_PARAMETER_TYPES:
                self.problem(f"unknown OutputType {short_repr(otype)}", step=step.name, location=f"{ploc}.OutputType", expected=", ".join(OUTPUT_PARAMETER_TYPES))
                continue
            if item["OutputName"] in seen:
                self.problem(f"duplicate output parameter '{item['OutputName']}'", step=step.name, location=f"{ploc}.OutputName")
                continue
            seen.add(item["OutputName"])
            params.append(OutputParameter(item["OutputName"], otype))
        return tuple(params)

    def _unknown_keys(self, step: Step, raw: dict[str, Any], allowed: tuple[str, ...], loc: str, what: str) -> None:
        for key in raw:
            if key not in allowed:
                self.problem(f"unknown key '{key}' in {what}{did_you_mean(str(key), allowed)}", step=step.name, location=child_location(loc, key), expected=", ".join(allowed))
