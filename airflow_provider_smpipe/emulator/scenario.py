"""Scenarios: what the emulator's steps "produce", since nothing really computes.

A scenario is plain JSON (or the equivalent dict / dataclasses in Python)::

    {
      "default_step_seconds": 0.2,          # how long an unscripted step takes
      "time_scale": 0.01,                   # multiplies waits that come from the definition
                                            #   (retry IntervalSeconds, ExpireAfterMin, cache ExpireAfter)
      "seed": 0,                            # seeds throttling (unless throttle.seed is given)
      "steps": {
        "TrainAbaloneModel": {
          "seconds": 1.0,
          "fail": {"reason": "...", "attempts": [1], "exception_type": "SageMaker.JOB_INTERNAL_ERROR"},
          "stopped": false,                 # true: the step's job ends Stopped (as if stopped by hand)
          "files": {"evaluation": {"evaluation.json": {"regression_metrics": {"mse": {"value": 4.2}}}}},
          "output_parameters": {"status": "ok"},
          "metrics": {"validation:rmse": 1.3},
          "properties": {"BestTrainingJob": {"TrainingJobName": "x"}},
          "callback": {"answer": "success", "after_seconds": 1.0, "output_parameters": {"decision": "approve"}, "reason": "..."},
          "job_name_prefix": "abalone-train"  # also script directly created jobs named "<prefix>-..."
        }
      },
      "lambda": {                           # Invoke answers (translation mode calls Lambda directly)
        "notify-fn": {"response": {"status": "ok"}, "error": null, "seconds": 0.0}
      },
      "throttle": {"operations": ["DescribePipelineExecution"], "fraction": 0.3, "seed": 7},
      "delay_seconds": {"ListPipelineExecutionSteps": 0.05},
      "events": true,                       # publish SageMaker's EventBridge events (emulator/events.py)
      "duplicate_events": false             # true: every event is put twice (own ids), as SageMaker may
    }

Every key is optional. Loading is strict: an unknown key, a wrong type or an impossible value is a
:class:`ScenarioError` that lists every problem with its JSON location.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from airflow_provider_smpipe.definition.naming import sanitize_name_part

EXCEPTION_TYPES = (
    "Step.SERVICE_FAULT",
    "Step.THROTTLING",
    "SageMaker.JOB_INTERNAL_ERROR",
    "SageMaker.CAPACITY_ERROR",
    "SageMaker.RESOURCE_LIMIT",
    "Emr.RESOURCE_LIMIT",
)
CALLBACK_ANSWERS = ("success", "failure")
DEFAULT_STEP_SECONDS = 0.2
DEFAULT_TIME_SCALE = 0.01


class ScenarioError(ValueError):
    """A malformed scenario; :attr:`problems` holds one ``"<location>: <problem>"`` line per problem."""

    def __init__(self, problems: list[str], source: str = "scenario") -> None:
        self.problems = problems
        self.source = source
        count = len(problems)
        super().__init__(f"{source}: invalid scenario ({count} problem{'s' if count != 1 else ''})\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class FailScript:
    """A scripted failure.

    :param reason: the step's ``FailureReason``.
    :param attempts: the 1-based attempts that fail; ``None`` means every attempt.
    :param exception_type: the failure's category, matched against the step's ``RetryPolicies``
        ``ExceptionType`` lists (e.g. ``SageMaker.JOB_INTERNAL_ERROR``); ``None`` never matches.
    """

    reason: str = "ClientError: scripted failure"
    attempts: tuple[int, ...] | None = None
    exception_type: str | None = None

    def fails_attempt(self, attempt: int) -> bool:
        return self.attempts is None or attempt in self.attempts


@dataclass(frozen=True)
class CallbackScript:
    """How the emulator answers a Callback step by itself (as if someone called
    ``SendPipelineExecutionStepSuccess``/``Failure`` ``after_seconds`` after the message was sent)."""

    answer: str = "success"
    after_seconds: float = 0.0
    output_parameters: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None


@dataclass(frozen=True)
class StepScript:
    """What one step does. ``None``/empty fields mean "the default"."""

    seconds: float | None = None
    fail: FailScript | None = None
    files: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    output_parameters: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    properties: Mapping[str, Any] = field(default_factory=dict)
    callback: CallbackScript | None = None
    job_name_prefix: str | None = None
    #: the step's job ends ``Stopped`` after its seconds (as if someone stopped the job itself), so
    #: ``Stopped`` run conditions can be exercised without stopping the whole execution
    stopped: bool = False

    def callback_answer(self) -> CallbackScript | None:
        """How the emulator answers this step's callback by itself: the ``callback`` block, else a
        success carrying ``output_parameters`` when there are any, else ``None`` (wait for a real answer)."""
        if self.callback is not None:
            return self.callback
        if self.output_parameters:
            return CallbackScript(answer="success", after_seconds=0.0, output_parameters=dict(self.output_parameters))
        return None


@dataclass(frozen=True)
class LambdaScript:
    """How the emulator answers ``Invoke`` of one Lambda function.

    :param response: the JSON document the function returns (the ``Payload``).
    :param error: when set, the invocation fails: ``FunctionError: Unhandled`` and an error payload
        ``{"errorMessage": error, "errorType": "Exception", ...}``.
    :param seconds: how long a synchronous invocation takes.
    """

    response: Any = None
    error: str | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class ThrottleScript:
    """Answer ``fraction`` of the calls to ``operations`` with ``ThrottlingException``.

    Operation names are API names (``DescribePipelineExecution``), optionally prefixed with the
    service's target prefix (``SageMaker.DescribePipelineExecution``); ``*`` means every operation.
    """

    operations: tuple[str, ...] = ()
    fraction: float = 0.0
    seed: int | None = None


@dataclass(frozen=True)
class Scenario:
    default_step_seconds: float = DEFAULT_STEP_SECONDS
    time_scale: float = DEFAULT_TIME_SCALE
    seed: int = 0
    steps: Mapping[str, StepScript] = field(default_factory=dict)
    throttle: ThrottleScript | None = None
    delay_seconds: Mapping[str, float] = field(default_factory=dict)
    lambdas: Mapping[str, LambdaScript] = field(default_factory=dict)
    #: publish SageMaker's pipeline events on moto's default EventBridge bus
    events: bool = True
    #: put every event twice (each copy its own id), as SageMaker "may send multiple events for each
    #: state change": consumers' deduplication is then exercised
    duplicate_events: bool = False
    source: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def step(self, name: str, body: str | None = None) -> StepScript:
        """The script of step ``name``. For a ForEach child (``body`` = its body step) the child's
        own entry (``"TrainCandidate-1"``) wins over its body step's (``"TrainCandidate"``), which
        scripts every child at once."""
        return self.steps.get(name) or (self.steps.get(body) if body else None) or StepScript()

    def lambda_script(self, function: str) -> LambdaScript | None:
        """The scenario's answer for ``function`` (a name, partial or full ARN, maybe qualified):
        the entry with exactly that key, else the first whose bare function name is the same."""
        if function in self.lambdas:
            return self.lambdas[function]
        bare = function_name(function)
        return next((script for key, script in self.lambdas.items() if function_name(key) == bare), None)

    def seconds_for(self, name: str, body: str | None = None) -> float:
        script = self.steps.get(name) or (self.steps.get(body) if body else None)
        if script is not None and script.seconds is not None:
            return script.seconds
        return self.default_step_seconds

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what ``POST /_smpipe/scenario`` takes)."""
        if self.source is not None:
            return json.loads(json.dumps(self.source))
        out: dict[str, Any] = {
            "default_step_seconds": self.default_step_seconds,
            "time_scale": self.time_scale,
            "seed": self.seed,
            "steps": {},
        }
        for name, script in self.steps.items():
            entry: dict[str, Any] = {}
            if script.seconds is not None:
                entry["seconds"] = script.seconds
            if script.fail is not None:
                fail: dict[str, Any] = {"reason": script.fail.reason}
                if script.fail.attempts is not None:
                    fail["attempts"] = list(script.fail.attempts)
                if script.fail.exception_type is not None:
                    fail["exception_type"] = script.fail.exception_type
                entry["fail"] = fail
            for key in ("files", "output_parameters", "metrics", "properties"):
                value = getattr(script, key)
                if value:
                    entry[key] = json.loads(json.dumps(value))
            if script.callback is not None:
                cb: dict[str, Any] = {"answer": script.callback.answer, "after_seconds": script.callback.after_seconds}
                if script.callback.output_parameters:
                    cb["output_parameters"] = dict(script.callback.output_parameters)
                if script.callback.reason is not None:
                    cb["reason"] = script.callback.reason
                entry["callback"] = cb
            if script.job_name_prefix is not None:
                entry["job_name_prefix"] = script.job_name_prefix
            if script.stopped:
                entry["stopped"] = True
            out["steps"][name] = entry
        if self.throttle is not None:
            out["throttle"] = {"operations": list(self.throttle.operations), "fraction": self.throttle.fraction}
            if self.throttle.seed is not None:
                out["throttle"]["seed"] = self.throttle.seed
        if self.delay_seconds:
            out["delay_seconds"] = dict(self.delay_seconds)
        if self.lambdas:
            out["lambda"] = {
                name: {"response": json.loads(json.dumps(script.response)), "error": script.error, "seconds": script.seconds}
                for name, script in self.lambdas.items()
            }
        if not self.events:
            out["events"] = False
        if self.duplicate_events:
            out["duplicate_events"] = True
        return out

    @classmethod
    def from_dict(cls, document: Any, *, source: str = "scenario") -> Scenario:
        return _Loader(source).scenario(document)

    @classmethod
    def from_json(cls, text: str, *, source: str = "scenario") -> Scenario:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError([f"line {exc.lineno} column {exc.colno}: not valid JSON: {exc.msg}"], source) from None
        except RecursionError:
            raise ScenarioError(["$: not valid JSON: nested too deeply"], source) from None
        return cls.from_dict(document, source=source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Scenario:
        """Read a scenario JSON file (a missing or malformed file is a :class:`ScenarioError`)."""
        label = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ScenarioError([f"cannot read the file: {exc.strerror or exc}"], label) from None
        return cls.from_json(text, source=label)


def function_name(function: str) -> str:
    """The bare name of a Lambda function given as a name, ``ACCOUNT:function:NAME`` or an ARN,
    without a ``:QUALIFIER``."""
    if ":function:" in function:
        return function.split(":function:", 1)[1].split(":", 1)[0]
    return function.split(":", 1)[0]


def coerce_scenario(value: Scenario | Mapping[str, Any] | str | os.PathLike[str] | None) -> Scenario:
    """A :class:`Scenario` from a Scenario, a dict, a JSON string or a file path (``None``: defaults)."""
    if value is None:
        return Scenario()
    if isinstance(value, Scenario):
        return value
    if isinstance(value, Mapping):
        return Scenario.from_dict(value)
    if isinstance(value, str) and value.lstrip().startswith("{"):
        return Scenario.from_json(value)
    return Scenario.load(value)


# -- strict loading --------------------------------------------------------------------------------


class _Loader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def problem(self, where: str, text: str) -> None:
        self.problems.append(f"{where}: {text}")

    def scenario(self, document: Any) -> Scenario:
        if not isinstance(document, Mapping):
            raise ScenarioError([f"$: expected a JSON object, got {_type(document)}"], self.source)
        self.keys(document, "$", ("default_step_seconds", "time_scale", "seed", "steps", "throttle", "delay_seconds", "lambda", "events", "duplicate_events"))
        default = self.seconds(document, "default_step_seconds", "$", DEFAULT_STEP_SECONDS)
        scale = self.seconds(document, "time_scale", "$", DEFAULT_TIME_SCALE)
        seed = self.integer(document.get("seed", 0), "$.seed")
        steps: dict[str, StepScript] = {}
        raw_steps = document.get("steps", {})
        if not isinstance(raw_steps, Mapping):
            self.problem("$.steps", f"expected an object {{step name: script}}, got {_type(raw_steps)}")
        else:
            for name, raw in raw_steps.items():
                steps[str(name)] = self.step(raw, f"$.steps.{name}")
        throttle = self.throttle(document["throttle"], "$.throttle") if "throttle" in document else None
        delays: dict[str, float] = {}
        raw_delays = document.get("delay_seconds", {})
        if not isinstance(raw_delays, Mapping):
            self.problem("$.delay_seconds", f"expected an object {{operation: seconds}}, got {_type(raw_delays)}")
        else:
            for op, value in raw_delays.items():
                delays[str(op)] = self.number(value, f"$.delay_seconds.{op}", minimum=0.0)
        lambdas: dict[str, LambdaScript] = {}
        raw_lambdas = document.get("lambda", {})
        if not isinstance(raw_lambdas, Mapping):
            self.problem("$.lambda", f"expected an object {{FUNCTION_NAME_OR_ARN: {{response, error, seconds}}}}, got {_type(raw_lambdas)}")
        else:
            for function, raw in raw_lambdas.items():
                lambdas[str(function)] = self.lambda_script(raw, f"$.lambda.{function}")
        events = self.boolean(document.get("events", True), "$.events")
        duplicate_events = self.boolean(document.get("duplicate_events", False), "$.duplicate_events")
        if self.problems:
            raise ScenarioError(self.problems, self.source)
        return Scenario(
            default_step_seconds=default,
            time_scale=scale,
            seed=seed or 0,
            steps=steps,
            throttle=throttle,
            delay_seconds=delays,
            lambdas=lambdas,
            events=events,
            duplicate_events=duplicate_events,
            source=json.loads(json.dumps(document)),
        )

    def step(self, raw: Any, where: str) -> StepScript:
        if not isinstance(raw, Mapping):
            self.problem(where, f"expected an object, got {_type(raw)}")
            return StepScript()
        self.keys(raw, where, ("seconds", "fail", "stopped", "files", "output_parameters", "metrics", "properties", "callback", "job_name_prefix"))
        seconds = self.number(raw["seconds"], f"{where}.seconds", minimum=0.0) if "seconds" in raw else None
        fail = self.fail(raw["fail"], f"{where}.fail") if "fail" in raw and raw["fail"] is not None else None
        files: dict[str, dict[str, Any]] = {}
        if "files" in raw:
            if not isinstance(raw["files"], Mapping):
                self.problem(f"{where}.files", f"expected {{OUTPUT_NAME: {{RELATIVE_PATH: contents}}}}, got {_type(raw['files'])}")
            else:
                for output, entries in raw["files"].items():
                    if not isinstance(entries, Mapping):
                        self.problem(f"{where}.files.{output}", f"expected {{RELATIVE_PATH: contents}}, got {_type(entries)}")
                        continue
                    for rel in entries:
                        if not str(rel).strip("/"):
                            self.problem(f"{where}.files.{output}", "a file path is empty")
                    files[str(output)] = dict(entries)
        outputs = self.flat_map(raw.get("output_parameters", {}), f"{where}.output_parameters")
        metrics: dict[str, float] = {}
        if "metrics" in raw:
            if not isinstance(raw["metrics"], Mapping):
                self.problem(f"{where}.metrics", f"expected {{METRIC_NAME: number}}, got {_type(raw['metrics'])}")
            else:
                for metric, value in raw["metrics"].items():
                    metrics[str(metric)] = self.number(value, f"{where}.metrics.{metric}")
        properties = raw.get("properties", {})
        if not isinstance(properties, Mapping):
            self.problem(f"{where}.properties", f"expected an object merged into the step's properties, got {_type(properties)}")
            properties = {}
        callback = self.callback(raw["callback"], f"{where}.callback") if "callback" in raw and raw["callback"] is not None else None
        stopped = raw.get("stopped", False)
        if not isinstance(stopped, bool):
            self.problem(f"{where}.stopped", f"expected true or false, got {_type(stopped)}")
            stopped = False
        prefix = raw.get("job_name_prefix")
        if prefix is not None and (not isinstance(prefix, str) or not sanitize_name_part(prefix)):
            self.problem(f"{where}.job_name_prefix", f"expected a job name prefix (letters, digits, '-'), got {_type(prefix)} {prefix!r}")
            prefix = None
        return StepScript(
            seconds=seconds,
            fail=fail,
            files=files,
            output_parameters=outputs,
            metrics=metrics,
            properties=dict(properties),
            callback=callback,
            job_name_prefix=prefix,
            stopped=stopped,
        )

    def lambda_script(self, raw: Any, where: str) -> LambdaScript:
        if not isinstance(raw, Mapping):
            self.problem(where, f"expected an object {{response, error, seconds}}, got {_type(raw)}")
            return LambdaScript()
        self.keys(raw, where, ("response", "error", "seconds"))
        error = raw.get("error")
        if error is not None and (not isinstance(error, str) or not error):
            self.problem(f"{where}.error", f"expected a non-empty string or null, got {_type(error)}")
            error = None
        seconds = self.number(raw["seconds"], f"{where}.seconds", minimum=0.0) if "seconds" in raw else 0.0
        return LambdaScript(response=json.loads(json.dumps(raw.get("response"))), error=error, seconds=seconds)

    def fail(self, raw: Any, where: str) -> FailScript | None:
        if isinstance(raw, str):
            return FailScript(reason=raw)
        if raw is True:
            return FailScript()
        if not isinstance(raw, Mapping):
            self.problem(where, f"expected an object {{reason, attempts, exception_type}} or a reason string, got {_type(raw)}")
            return None
        self.keys(raw, where, ("reason", "attempts", "exception_type"))
        reason = raw.get("reason", FailScript.reason)
        if not isinstance(reason, str) or not reason:
            self.problem(f"{where}.reason", f"expected a non-empty string, got {_type(reason)}")
            reason = FailScript.reason
        elif len(reason) > 1024:
            self.problem(f"{where}.reason", f"{len(reason)} characters; a FailureReason holds at most 1024")
        attempts: tuple[int, ...] | None = None
        if raw.get("attempts") is not None:
            value = raw["attempts"]
            if not isinstance(value, list) or not value:
                self.problem(f"{where}.attempts", f"expected a non-empty list of attempt numbers (1 = the first), got {_type(value)}")
            else:
                good = []
                for i, item in enumerate(value):
                    if isinstance(item, bool) or not isinstance(item, int) or item < 1:
                        self.problem(f"{where}.attempts[{i}]", f"expected an attempt number >= 1, got {item!r}")
                    else:
                        good.append(item)
                attempts = tuple(good)
        exception_type = raw.get("exception_type")
        if exception_type is not None and exception_type not in EXCEPTION_TYPES:
            self.problem(f"{where}.exception_type", f"{exception_type!r} is not one of {', '.join(EXCEPTION_TYPES)}{_close(exception_type, EXCEPTION_TYPES)}")
            exception_type = None
        return FailScript(reason=reason, attempts=attempts, exception_type=exception_type)

    def callback(self, raw: Any, where: str) -> CallbackScript | None:
        if not isinstance(raw, Mapping):
            self.problem(where, f"expected an object {{answer, after_seconds, output_parameters, reason}}, got {_type(raw)}")
            return None
        self.keys(raw, where, ("answer", "after_seconds", "output_parameters", "reason"))
        answer = raw.get("answer", "success")
        if answer not in CALLBACK_ANSWERS:
            self.problem(f"{where}.answer", f"expected \"success\" or \"failure\", got {answer!r}")
            answer = "success"
        after = self.number(raw.get("after_seconds", 0.0), f"{where}.after_seconds", minimum=0.0)
        outputs = self.flat_map(raw.get("output_parameters", {}), f"{where}.output_parameters")
        reason = raw.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 256):
            self.problem(f"{where}.reason", "expected a string of at most 256 characters (SendPipelineExecutionStepFailure's limit)")
            reason = None
        if answer == "success" and reason is not None:
            self.problem(f"{where}.reason", "only a \"failure\" answer has a reason")
        if answer == "failure" and outputs:
            self.problem(f"{where}.output_parameters", "only a \"success\" answer has output parameters")
        return CallbackScript(answer=answer, after_seconds=after, output_parameters=outputs, reason=reason)

    def throttle(self, raw: Any, where: str) -> ThrottleScript | None:
        if not isinstance(raw, Mapping):
            self.problem(where, f"expected an object {{operations, fraction, seed}}, got {_type(raw)}")
            return None
        self.keys(raw, where, ("operations", "fraction", "seed"))
        ops = raw.get("operations", [])
        operations: tuple[str, ...] = ()
        if not isinstance(ops, list) or not ops or not all(isinstance(o, str) and o for o in ops):
            self.problem(f"{where}.operations", f"expected a non-empty list of operation names, got {ops!r}")
        else:
            operations = tuple(ops)
        fraction = self.number(raw.get("fraction", 0.0), f"{where}.fraction", minimum=0.0)
        if fraction > 1.0:
            self.problem(f"{where}.fraction", f"{fraction} is more than 1 (it is the fraction of calls throttled)")
        seed = self.integer(raw.get("seed"), f"{where}.seed") if raw.get("seed") is not None else None
        return ThrottleScript(operations=operations, fraction=fraction, seed=seed)

    # -- primitives --

    def keys(self, raw: Mapping[str, Any], where: str, allowed: tuple[str, ...]) -> None:
        for key in raw:
            if key not in allowed:
                self.problem(f"{where}.{key}", f"unknown key{_close(str(key), allowed)} (allowed: {', '.join(allowed)})")

    def seconds(self, raw: Mapping[str, Any], key: str, where: str, default: float) -> float:
        if key not in raw:
            return default
        return self.number(raw[key], f"{where}.{key}", minimum=0.0)

    def number(self, value: Any, where: str, *, minimum: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.problem(where, f"expected a number, got {_type(value)} {value!r}")
            return 0.0
        if minimum is not None and value < minimum:
            self.problem(where, f"{value} is negative")
            return minimum
        return float(value)

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            self.problem(where, f"expected true or false, got {_type(value)}")
            return False
        return value

    def integer(self, value: Any, where: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(where, f"expected an integer, got {_type(value)} {value!r}")
            return None
        return value

    def flat_map(self, raw: Any, where: str) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            self.problem(where, f"expected {{NAME: value}}, got {_type(raw)}")
            return {}
        out: dict[str, Any] = {}
        for name, value in raw.items():
            if value is None or isinstance(value, (Mapping, list)):
                self.problem(f"{where}.{name}", f"expected a string, number or boolean, got {_type(value)}")
                continue
            out[str(name)] = value
        return out


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _close(name: str, options: tuple[str, ...]) -> str:
    match = get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
