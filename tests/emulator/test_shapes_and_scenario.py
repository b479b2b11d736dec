"""The output-shape checker and the request validator (used everywhere), and strict scenario loading."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from airflow_provider_smpipe.emulator import Scenario, ScenarioError, ShapeError, assert_valid_output, validate_output
from airflow_provider_smpipe.emulator.scenario import CallbackScript, FailScript, StepScript
from airflow_provider_smpipe.emulator.shapes import validate_input, validation_message

ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/abcdefabcdef"


# -- shapes -----------------------------------------------------------------------------------------


def test_a_conforming_response_passes_in_wire_and_parsed_forms() -> None:
    row = {
        "StepName": "Train",
        "StartTime": 1700000000.5,
        "StepStatus": "Succeeded",
        "Metadata": {"TrainingJob": {"Arn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/pipelines-x-train-1"}},
        "AttemptCount": 1,
    }
    assert validate_output("ListPipelineExecutionSteps", {"PipelineExecutionSteps": [row]}) == []
    parsed = {"PipelineExecutionSteps": [{**row, "StartTime": datetime.now(timezone.utc)}], "ResponseMetadata": {"HTTPStatusCode": 200}}
    assert assert_valid_output("ListPipelineExecutionSteps", parsed) is parsed


def test_every_kind_of_departure_is_reported_with_its_path() -> None:
    bad = {
        "PipelineExecutionSteps": [
            {
                "StepName": "bad name!",
                "StepStatus": "Done",
                "StartTime": "yesterday",
                "AttemptCount": "1",
                "Metadata": {"Condition": {"Outcome": True}},
                "Extra": 1,
            }
        ],
        "NextToken": None,
    }
    problems = validate_output("ListPipelineExecutionSteps", bad)
    text = "\n".join(problems)
    assert "$.PipelineExecutionSteps[0].StepName: 'bad name!' does not match the pattern" in text
    assert "$.PipelineExecutionSteps[0].StepStatus: 'Done' is not one of" in text
    assert "$.PipelineExecutionSteps[0].StartTime: expected a timestamp" in text
    assert "$.PipelineExecutionSteps[0].AttemptCount: expected an integer" in text
    assert "$.PipelineExecutionSteps[0].Metadata.Condition.Outcome: expected a string" in text
    assert "$.PipelineExecutionSteps[0].Extra: not a member of PipelineExecutionStep" in text
    assert "$.NextToken: null is not a valid string" in text
    with pytest.raises(ShapeError, match="ListPipelineExecutionSteps response does not match"):
        assert_valid_output("ListPipelineExecutionSteps", bad)
    too_long = validate_output("DescribePipelineExecution", {"FailureReason": "x" * 1301})
    assert too_long == ["$.FailureReason: 1301 characters, more than the maximum 1300 (PipelineExecutionFailureReason)"]
    missing = validate_output("ListPipelineParametersForExecution", {"PipelineParameters": [{"Name": "a"}]})
    assert missing == ["$.PipelineParameters[0].Value: required by Parameter but missing"]


def test_request_validation_speaks_like_the_service() -> None:
    errors = validate_input("StartPipelineExecution", {"PipelineName": "bad name", "PipelineParameters": [{"Name": "x"}], "ParallelismConfiguration": {"MaxParallelExecutionSteps": 0}})
    assert "Value null at 'clientRequestToken' failed to satisfy constraint: Member must not be null" in errors
    assert "Value null at 'pipelineParameters.1.member.value' failed to satisfy constraint: Member must not be null" in errors
    assert "Value '0' at 'parallelismConfiguration.maxParallelExecutionSteps' failed to satisfy constraint: Member must have value greater than or equal to 1" in errors
    assert any(e.startswith("Value 'bad name' at 'pipelineName' failed to satisfy constraint: Member must satisfy regular expression pattern") for e in errors)
    assert validation_message(errors).startswith(f"{len(errors)} validation errors detected: ")
    assert validate_input("DescribePipelineExecution", {"PipelineExecutionArn": ARN, "Unknown": 1}) == []  # unknown members are ignored


# -- scenarios --------------------------------------------------------------------------------------

ISSUE_EXAMPLE = {
    "default_step_seconds": 0.2,
    "steps": {
        "STEP": {
            "seconds": 1.0,
            "fail": {"reason": "...", "attempts": [1]},
            "files": {"OUTPUT_NAME": {"RELATIVE_PATH": {"a": [1, 2]}}},
            "output_parameters": {"NAME": "VALUE"},
            "metrics": {"METRIC_NAME": 0.5},
            "callback": {"answer": "success", "after_seconds": 1.0, "output_parameters": {"NAME": "VALUE"}},
        },
        "OTHER": {"callback": {"answer": "failure", "reason": "..."}},
    },
    "throttle": {"operations": ["DescribePipelineExecution"], "fraction": 0.3},
}


def test_the_format_in_the_issue_loads() -> None:
    scenario = Scenario.from_dict(ISSUE_EXAMPLE)
    step = scenario.step("STEP")
    assert step.seconds == 1.0 and step.fail == FailScript(reason="...", attempts=(1,))
    assert step.fail.fails_attempt(1) and not step.fail.fails_attempt(2)
    assert step.files == {"OUTPUT_NAME": {"RELATIVE_PATH": {"a": [1, 2]}}}
    assert step.callback == CallbackScript(answer="success", after_seconds=1.0, output_parameters={"NAME": "VALUE"})
    assert scenario.step("OTHER").callback == CallbackScript(answer="failure", reason="...")
    assert scenario.seconds_for("unscripted") == 0.2 and scenario.step("unscripted") == StepScript()
    assert scenario.throttle is not None and scenario.throttle.fraction == 0.3
    assert Scenario.from_dict(scenario.to_dict()) == scenario
    assert Scenario.from_dict(Scenario(steps={"A": StepScript(seconds=2.0, fail=FailScript("x", (2,), "Step.THROTTLING"))}).to_dict()).step("A").fail == FailScript(
        "x", (2,), "Step.THROTTLING"
    )


def test_malformed_scenarios_list_every_problem_with_its_location(tmp_path: Path) -> None:
    bad = {
        "default_step_seconds": -1,
        "step": {},
        "steps": {
            "A": {"seconds": "fast", "fail": {"reason": "", "attempts": [1, "2"], "exception_type": "SageMaker.JOB_INTERNAL"}},
            "B": {"files": {"out": ["not", "a", "map"]}, "callback": {"answer": "maybe", "output_parameters": {"x": {"nested": 1}}}},
            "C": [],
        },
        "throttle": {"operations": [], "fraction": 1.5},
    }
    with pytest.raises(ScenarioError) as excinfo:
        Scenario.from_dict(bad, source="bad.json")
    problems = excinfo.value.problems
    assert problems == [
        "$.step: unknown key (did you mean 'steps'?) (allowed: default_step_seconds, time_scale, seed, steps, throttle, delay_seconds, lambda, events, duplicate_events)",
        "$.default_step_seconds: -1 is negative",
        "$.steps.A.seconds: expected a number, got a string 'fast'",
        "$.steps.A.fail.reason: expected a non-empty string, got a string",
        "$.steps.A.fail.attempts[1]: expected an attempt number >= 1, got '2'",
        "$.steps.A.fail.exception_type: 'SageMaker.JOB_INTERNAL' is not one of Step.SERVICE_FAULT, Step.THROTTLING, SageMaker.JOB_INTERNAL_ERROR, "
        "SageMaker.CAPACITY_ERROR, SageMaker.RESOURCE_LIMIT, Emr.RESOURCE_LIMIT (did you mean 'SageMaker.JOB_INTERNAL_ERROR'?)",
        "$.steps.B.files.out: expected {RELATIVE_PATH: contents}, got a list",
        "$.steps.B.callback.answer: expected \"success\" or \"failure\", got 'maybe'",
        "$.steps.B.callback.output_parameters.x: expected a string, number or boolean, got an object",
        "$.steps.C: expected an object, got a list",
        "$.throttle.operations: expected a non-empty list of operation names, got []",
        "$.throttle.fraction: 1.5 is more than 1 (it is the fraction of calls throttled)",
    ]
    assert str(excinfo.value).startswith("bad.json: invalid scenario (12 problems)")
    path = tmp_path / "s.json"
    path.write_text('{"steps": {"A": {"seconds": 1,}}}')
    with pytest.raises(ScenarioError, match=r"s.json: invalid scenario \(1 problem\)\n  - line 1 column 31: not valid JSON"):
        Scenario.load(path)
    with pytest.raises(ScenarioError, match="cannot read the file"):
        Scenario.load(tmp_path / "missing.json")
    path.write_text(json.dumps(ISSUE_EXAMPLE))
    assert Scenario.load(path).step("STEP").metrics == {"METRIC_NAME": 0.5}


def test_the_documented_example_scenario_loads() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "emulator.md").read_text()
    blocks = [b.split("```", 1)[0] for b in docs.split("```json\n")[1:]]
    example = next(b for b in blocks if '"default_step_seconds"' in b)
    scenario = Scenario.from_json(example, source="docs/emulator.md")
    assert scenario.step("TrainAbaloneModel").fail == FailScript("InternalServerError: capacity", (1,), "SageMaker.CAPACITY_ERROR")
    assert scenario.delay_seconds == {"ListPipelineExecutionSteps": 0.05}
