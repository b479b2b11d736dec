"""Execution lifecycle: failure, stop, retry (execution and RetryPolicies), cache, parallelism,
idempotency, parameter checks, and the error codes of invalid requests."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import ROLE, Pipelines, definition_with, training_step, unique, wait_for

from airflow_provider_smpipe.emulator import FailScript, Scenario, StepScript, run_emulator


def _chain(**extra_b: Any) -> dict[str, Any]:
    return definition_with(
        [
            training_step("A"),
            training_step("B", depends_on=["A"], **extra_b),
            training_step("C", depends_on=["B"]),
        ],
        parameters=[{"Name": "Size", "Type": "Integer", "DefaultValue": 1}, {"Name": "Mode", "Type": "String", "DefaultValue": "x", "EnumValues": ["x", "y"]}],
    )


def _error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def _job_name(row: dict[str, Any]) -> str:
    return row["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]


# -- failure ----------------------------------------------------------------------------------------


def test_a_failing_step_fails_the_execution_and_nothing_after_it_runs(pipelines: Pipelines, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario(Scenario(default_step_seconds=0.02, steps={"B": StepScript(fail=FailScript("AlgorithmError: loss is NaN"))}))  # the Python API
    arn = pipelines.run(pipelines.create(_chain(), "fail"))
    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "Step failure: One or multiple steps failed."
    steps = pipelines.steps(arn)
    assert set(steps) == {"A", "B"}
    assert steps["A"]["StepStatus"] == "Succeeded"
    assert steps["B"]["StepStatus"] == "Failed" and steps["B"]["FailureReason"] == "AlgorithmError: loss is NaN"
    job = sm.describe_training_job(TrainingJobName=_job_name(steps["B"]))
    assert job["TrainingJobStatus"] == "Failed" and job["FailureReason"] == "AlgorithmError: loss is NaN"


def test_running_steps_finish_after_a_failure_but_nothing_new_starts(pipelines: Pipelines, emulator_scenario: Any) -> None:
    definition = definition_with([training_step("Slow"), training_step("Bad"), training_step("AfterSlow", depends_on=["Slow"])])
    emulator_scenario({"steps": {"Slow": {"seconds": 1.0}, "Bad": {"seconds": 0.02, "fail": "boom"}}})
    arn = pipelines.run(pipelines.create(definition, "par-fail"))
    steps = pipelines.steps(arn)
    assert {n: r["StepStatus"] for n, r in steps.items()} == {"Slow": "Succeeded", "Bad": "Failed"}


# -- stop -------------------------------------------------------------------------------------------


def test_stop_while_executing(pipelines: Pipelines, emulator_scenario: Any, sm: Any, sm_no_retry: Any) -> None:
    emulator_scenario({"steps": {"A": {"seconds": 5.0}}})
    arn = pipelines.start(pipelines.create(_chain(), "stop"))
    wait_for(lambda: pipelines.steps(arn).get("A", {}).get("StepStatus") == "Executing", what="A to execute")
    assert sm.stop_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionArn"] == arn
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] in ("Stopping", "Stopped")
    started = time.monotonic()
    final = pipelines.wait(arn, timeout=5)
    assert time.monotonic() - started < 4  # did not wait for the 5 s step
    assert final["PipelineExecutionStatus"] == "Stopped"
    steps = pipelines.steps(arn)
    assert set(steps) == {"A"} and steps["A"]["StepStatus"] == "Stopped"
    assert sm.describe_training_job(TrainingJobName=_job_name(steps["A"]))["TrainingJobStatus"] == "Stopped"
    with pytest.raises(ClientError) as excinfo:
        sm_no_retry.stop_pipeline_execution(PipelineExecutionArn=arn)
    code, message = _error(excinfo)
    assert code == "ValidationException" and "Only pipelines with 'Executing' status can be stopped" in message


def test_stop_and_retry_requests_are_idempotent_by_client_request_token(pipelines: Pipelines, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario({"steps": {"A": {"seconds": 5.0}}})
    arn = pipelines.start(pipelines.create(_chain(), "stop"))
    token = "k" * 40
    sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=token)
    assert pipelines.wait(arn)["PipelineExecutionStatus"] == "Stopped"
    assert sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=token)["PipelineExecutionArn"] == arn


# -- retry ------------------------------------------------------------------------------------------


def test_retry_after_failure_reruns_failed_steps_in_the_same_execution(pipelines: Pipelines, emulator_scenario: Any, sm: Any, sm_no_retry: Any) -> None:
    emulator_scenario({"steps": {"B": {"fail": {"reason": "InternalServerError: try again", "attempts": [1]}}}})
    arn = pipelines.run(pipelines.create(_chain(), "retry"))
    before = pipelines.steps(arn)
    assert before["B"]["StepStatus"] == "Failed" and before["B"]["AttemptCount"] == 1

    assert sm.retry_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionArn"] == arn
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] in ("Executing", "Succeeded")
    final = pipelines.wait(arn)
    assert final["PipelineExecutionStatus"] == "Succeeded" and "FailureReason" not in final
    after = pipelines.steps(arn)
    assert {n: r["StepStatus"] for n, r in after.items()} == {"A": "Succeeded", "B": "Succeeded", "C": "Succeeded"}
    assert after["A"]["Metadata"] == before["A"]["Metadata"] and after["A"]["AttemptCount"] == 1  # kept, not re-run
    assert after["B"]["AttemptCount"] == 2 and "FailureReason" not in after["B"]
    assert _job_name(after["B"]) != _job_name(before["B"])  # a new job for the new attempt
    assert len(sm.list_pipeline_executions(PipelineName=arn.split("/")[1])["PipelineExecutionSummaries"]) == 1

    with pytest.raises(ClientError) as excinfo:
        sm_no_retry.retry_pipeline_execution(PipelineExecutionArn=arn)
    assert _error(excinfo)[0] == "ValidationException"


def test_an_execution_that_ended_in_a_fail_step_cannot_be_retried(pipelines: Pipelines, sm_no_retry: Any) -> None:
    definition = definition_with([training_step("A"), {"Name": "Stop", "Type": "Fail", "DependsOn": ["A"], "Arguments": {"ErrorMessage": "no"}}])
    arn = pipelines.run(pipelines.create(definition, "failstep"))
    with pytest.raises(ClientError) as excinfo:
        sm_no_retry.retry_pipeline_execution(PipelineExecutionArn=arn)
    code, message = _error(excinfo)
    assert code == "ValidationException" and "Fail step" in message
    assert sm_no_retry.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Failed"


def _retrying(**policy: Any) -> dict[str, Any]:
    return _chain(
        RetryPolicies=[
            {"ExceptionType": ["Step.SERVICE_FAULT"], "IntervalSeconds": 1, "BackoffRate": 2.0, "MaxAttempts": 5},
            {"ExceptionType": ["SageMaker.JOB_INTERNAL_ERROR", "SageMaker.CAPACITY_ERROR"], "IntervalSeconds": 10, "BackoffRate": 2.0, **policy},
        ]
    )


def test_retry_policy_retries_matching_failures_and_counts_attempts(pipelines: Pipelines, emulator_scenario: Any, sm: Any) -> None:
    emulator = emulator_scenario(
        {"time_scale": 0.002, "steps": {"B": {"fail": {"reason": "InternalServerError: capacity", "attempts": [1, 2], "exception_type": "SageMaker.CAPACITY_ERROR"}}}}
    )
    arn = pipelines.run(pipelines.create(_retrying(MaxAttempts=3), "policy"))
    steps = pipelines.steps(arn)
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Succeeded"
    assert steps["B"]["StepStatus"] == "Succeeded" and steps["B"]["AttemptCount"] == 3
    notes = pipelines.step_state(arn)["B"]["notes"]
    assert sum("retrying per a RetryPolicy" in n for n in notes) == 2
    # each attempt is its own job; the waits were 10 s and 20 s, scaled by time_scale
    assert emulator.engine  # (timing is covered by the wait below being short)


def test_retry_policy_gives_up_after_max_attempts(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario({"steps": {"B": {"fail": {"reason": "InternalServerError", "exception_type": "SageMaker.JOB_INTERNAL_ERROR"}}}})
    arn = pipelines.run(pipelines.create(_retrying(MaxAttempts=2), "policy"))
    row = pipelines.steps(arn)["B"]
    assert row["StepStatus"] == "Failed" and row["AttemptCount"] == 2 and row["FailureReason"] == "InternalServerError"


def test_failures_no_policy_matches_are_not_retried(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario({"steps": {"B": {"fail": {"reason": "ClientError: bad input", "attempts": [1], "exception_type": "SageMaker.RESOURCE_LIMIT"}}}})
    arn = pipelines.run(pipelines.create(_retrying(MaxAttempts=4), "policy"))
    row = pipelines.steps(arn)["B"]
    assert row["StepStatus"] == "Failed" and row["AttemptCount"] == 1


# -- cache ------------------------------------------------------------------------------------------


def _cached(expire: str = "P30D") -> dict[str, Any]:
    step = training_step("Cached", output="s3://emu-bucket/cached", CacheConfig={"Enabled": True, "ExpireAfter": expire})
    step["Arguments"]["HyperParameters"] = {"size": {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Size"}]}}}
    return definition_with([step, training_step("Next", depends_on=["Cached"])], parameters=[{"Name": "Size", "Type": "Integer", "DefaultValue": 1}])


def test_cache_hit_reuses_the_earlier_execution(pipelines: Pipelines, sm: Any) -> None:
    name = pipelines.create(_cached(), "cache")
    first = pipelines.run(name)
    second = pipelines.run(name)
    one, two = pipelines.steps(first), pipelines.steps(second)
    assert "CacheHitResult" not in one["Cached"]
    assert two["Cached"]["CacheHitResult"] == {"SourcePipelineExecutionArn": first}
    assert two["Cached"]["Metadata"] == one["Cached"]["Metadata"]  # no new job
    assert "CacheHitResult" not in two["Next"]  # not cacheable: no CacheConfig
    third = pipelines.run(name, parameters={"Size": 2})  # different resolved arguments: a miss
    assert "CacheHitResult" not in pipelines.steps(third)["Cached"]


def test_cache_entries_expire(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario({"time_scale": 0.001})  # PT10S -> 10 ms
    name = pipelines.create(_cached("PT10S"), "cache")
    pipelines.run(name)
    time.sleep(0.05)
    assert "CacheHitResult" not in pipelines.steps(pipelines.run(name))["Cached"]


# -- parallelism ------------------------------------------------------------------------------------


def _max_overlap(pipelines: Pipelines, arn: str) -> int:
    spans = [(s["start_time"], s["end_time"]) for s in pipelines.step_state(arn).values()]
    return max(sum(1 for a, b in spans if a <= start < b) for start, _ in spans)


def test_steps_run_concurrently_up_to_max_parallel_execution_steps(pipelines: Pipelines, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.2})
    definition = definition_with([training_step(f"S{i}") for i in range(4)])
    name = pipelines.create(definition, "parallel")
    free = pipelines.run(name)
    assert _max_overlap(pipelines, free) == 4  # all four ran at the same time
    limited = pipelines.run(name, ParallelismConfiguration={"MaxParallelExecutionSteps": 2})
    assert _max_overlap(pipelines, limited) == 2
    assert sm.describe_pipeline_execution(PipelineExecutionArn=limited)["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 2}
    piped = pipelines.create(definition, "parallel", ParallelismConfiguration={"MaxParallelExecutionSteps": 1})
    assert _max_overlap(pipelines, pipelines.run(piped)) == 1  # the pipeline's own setting


def test_update_pipeline_execution_changes_parallelism_and_names(pipelines: Pipelines, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.3})
    name = pipelines.create(definition_with([training_step(f"S{i}") for i in range(4)]), "update")
    arn = pipelines.start(name, ParallelismConfiguration={"MaxParallelExecutionSteps": 1}, PipelineExecutionDisplayName="first")
    sm.update_pipeline_execution(
        PipelineExecutionArn=arn,
        PipelineExecutionDisplayName="second",
        PipelineExecutionDescription="now faster",
        ParallelismConfiguration={"MaxParallelExecutionSteps": 4},
    )
    described = pipelines.wait(arn)
    assert described["PipelineExecutionDisplayName"] == "second" and described["PipelineExecutionDescription"] == "now faster"
    assert described["ParallelismConfiguration"] == {"MaxParallelExecutionSteps": 4}
    assert _max_overlap(pipelines, arn) >= 2


# -- StartPipelineExecution checks ------------------------------------------------------------------


def test_client_request_token_makes_start_idempotent(pipelines: Pipelines, sm: Any, sm_no_retry: Any) -> None:
    name = pipelines.create(_chain(), "token")
    token = "t" * 40
    first = sm.start_pipeline_execution(PipelineName=name, ClientRequestToken=token)["PipelineExecutionArn"]
    again = sm.start_pipeline_execution(PipelineName=name, ClientRequestToken=token)["PipelineExecutionArn"]
    assert first == again
    assert len(sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]) == 1
    other = pipelines.create(_chain(), "token")
    with pytest.raises(ClientError) as excinfo:
        sm_no_retry.start_pipeline_execution(PipelineName=other, ClientRequestToken=token)
    assert _error(excinfo)[0] == "ConflictException"
    pipelines.wait(first)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"Nope": "1"}, "unknown parameter 'Nope'"),
        ({"Size": "one"}, "Integer parameter 'Size' got 'one': not an integer"),
        ({"Mode": "z"}, "not one of its EnumValues"),
        ({"Size": ""}, "the value is empty"),
    ],
)
def test_bad_parameter_overrides_are_rejected_and_start_nothing(pipelines: Pipelines, sm_no_retry: Any, parameters: dict[str, str], expected: str) -> None:
    name = pipelines.create(_chain(), "params")
    with pytest.raises(ClientError) as excinfo:
        sm_no_retry.start_pipeline_execution(PipelineName=name, PipelineParameters=[{"Name": k, "Value": v} for k, v in parameters.items()])
    code, message = _error(excinfo)
    assert code == "ValidationException" and expected in message
    assert sm_no_retry.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"] == []


def test_parameters_are_cast_like_the_service_and_listed_as_strings(pipelines: Pipelines, sm: Any) -> None:
    name = pipelines.create(_chain(), "params")
    arn = pipelines.run(name, parameters={"Size": "3"})
    assert pipelines.execution_state(arn)["parameters"] == {"Size": 3, "Mode": "x"}
    listed = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    assert listed == [{"Name": "Size", "Value": "3"}, {"Name": "Mode", "Value": "x"}]
    page = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn, MaxResults=1)
    assert page["PipelineParameters"] == [{"Name": "Size", "Value": "3"}] and "NextToken" in page
    rest = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn, MaxResults=1, NextToken=page["NextToken"])
    assert rest["PipelineParameters"] == [{"Name": "Mode", "Value": "x"}] and "NextToken" not in rest


def test_unknown_pipeline_and_invalid_stored_definition(pipelines: Pipelines, sm_no_retry: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        sm_no_retry.start_pipeline_execution(PipelineName=unique("missing"))
    assert _error(excinfo)[0] == "ResourceNotFound"
    broken = definition_with([training_step("A", depends_on=["Nowhere"])])
    name = unique("broken")
    sm_no_retry.create_pipeline(PipelineName=name, PipelineDefinition=json.dumps(broken), RoleArn=ROLE)
    with pytest.raises(ClientError) as excinfo:
        sm_no_retry.start_pipeline_execution(PipelineName=name)
    code, message = _error(excinfo)
    assert code == "ValidationException" and "Nowhere" in message and "step 'A'" in message
    assert sm_no_retry.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"] == []


def test_requests_are_validated_like_the_service(emulator: Any, sm_no_retry: Any) -> None:
    from botocore.config import Config

    raw = emulator.client("sagemaker", config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    cases = [
        (lambda: raw.describe_pipeline_execution(PipelineExecutionArn="not-an-arn"), "failed to satisfy constraint: Member must satisfy regular expression pattern"),
        (lambda: raw.describe_pipeline_execution(), "Value null at 'pipelineExecutionArn' failed to satisfy constraint: Member must not be null"),
        (lambda: raw.start_pipeline_execution(PipelineName="x", ClientRequestToken="short"), "at 'clientRequestToken' failed to satisfy constraint: Member must have length greater than or equal to 32"),
        (lambda: raw.list_pipeline_execution_steps(PipelineExecutionArn="arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/x", MaxResults=0), "Member must have value greater than or equal to 1"),
        (lambda: raw.list_pipeline_execution_steps(PipelineExecutionArn="arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/x", SortOrder="Up"), "Member must satisfy enum value set: [Ascending, Descending]"),
    ]
    for call, expected in cases:
        with pytest.raises(ClientError) as excinfo:
            call()
        code, message = _error(excinfo)
        assert code == "ValidationException" and expected in message, message
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    unknown = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/nope/execution/abcdefabcdef"
    for call in (
        lambda: sm_no_retry.describe_pipeline_execution(PipelineExecutionArn=unknown),
        lambda: sm_no_retry.list_pipeline_execution_steps(PipelineExecutionArn=unknown),
        lambda: sm_no_retry.stop_pipeline_execution(PipelineExecutionArn=unknown),
        lambda: sm_no_retry.retry_pipeline_execution(PipelineExecutionArn=unknown),
        lambda: sm_no_retry.list_pipeline_parameters_for_execution(PipelineExecutionArn=unknown),
        lambda: sm_no_retry.describe_pipeline_definition_for_execution(PipelineExecutionArn=unknown),
        lambda: sm_no_retry.update_pipeline_execution(PipelineExecutionArn=unknown, PipelineExecutionDescription="x"),
        lambda: sm_no_retry.list_pipeline_executions(PipelineName="nope-nope"),
    ):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert _error(excinfo)[0] == "ResourceNotFound"


def test_run_emulator_is_a_self_contained_server() -> None:
    import urllib.request

    with run_emulator({"default_step_seconds": 0.01}) as private:
        url = private.endpoint_url
        with urllib.request.urlopen(url + "/_smpipe/health", timeout=5) as response:
            assert response.status == 200
        assert private.scenario.default_step_seconds == 0.01
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/_smpipe/health", timeout=2)
