"""The server around the engine: the state/reset/scenario endpoints, call counting, throttling and
delays, moto pass-through, every added operation's response shape, and the ``smpipe emulator`` CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from emulator_helpers import VALIDATED, Pipelines, callback_step, definition_with, training_step, unique, validated, wait_for

from airflow_provider_smpipe.emulator.api import OWNED_OPERATIONS

REPO = Path(__file__).resolve().parents[2]


def _http(emulator: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(emulator.endpoint_url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# -- state, counters, scenario endpoint -------------------------------------------------------------


def test_state_endpoint_lists_executions_steps_and_counts_calls(pipelines: Pipelines, emulator: Any, sm: Any) -> None:
    name = pipelines.create(definition_with([training_step("A"), training_step("B", depends_on=["A"])]), "state")
    emulator.reset()
    arn = pipelines.start(name)
    for _ in range(3):
        sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    emulator.wait_for_execution(arn)
    status, state = _http(emulator, "GET", "/_smpipe/state")
    assert status == 200
    assert _http(emulator, "GET", f"/_smpipe/state?execution={arn}")[1]["executions"] == [e for e in state["executions"] if e["arn"] == arn]
    assert [e["arn"] for e in _http(emulator, "GET", f"/_smpipe/state?pipeline={name}")[1]["executions"]] == [arn]
    assert state["calls"]["StartPipelineExecution"] == 1 and state["calls"]["DescribePipelineExecution"] == 3
    assert state["calls_by_service"]["sagemaker"]["DescribePipelineExecution"] == 3
    assert "CreateTrainingJob" not in state["calls"]  # the engine's own calls to moto are not counted
    execution = next(e for e in state["executions"] if e["arn"] == arn)
    assert execution["status"] == "Succeeded" and [s["name"] for s in execution["steps"]] == ["A", "B"]
    assert execution["steps"][0]["request"]["TrainingJobName"] == execution["steps"][0]["job_name"]
    assert state == {**state, "endpoint_url": emulator.endpoint_url}

    assert _http(emulator, "POST", "/_smpipe/reset") == (200, {"ok": True})
    assert emulator.state()["calls"] == {}
    assert _http(emulator, "POST", "/_smpipe/reset", {"executions": True}) == (200, {"ok": True})
    assert all(e["arn"] != arn for e in emulator.state()["executions"])


def test_scenario_endpoint_loads_scenarios_and_rejects_bad_ones(emulator: Any) -> None:
    status, body = _http(emulator, "POST", "/_smpipe/scenario", {"default_step_seconds": 0.5, "steps": {"X": {"seconds": 1}}})
    assert status == 200 and emulator.scenario.seconds_for("X") == 1.0 and emulator.scenario.default_step_seconds == 0.5
    assert _http(emulator, "GET", "/_smpipe/scenario")[1]["steps"] == {"X": {"seconds": 1}}
    status, body = _http(emulator, "POST", "/_smpipe/scenario", {"steps": {"X": {"secs": 1, "fail": {"attempts": [0]}}}})
    assert status == 400
    assert body["problems"] == [
        "$.steps.X.secs: unknown key (did you mean 'seconds'?) (allowed: seconds, fail, stopped, files, output_parameters, metrics, properties, callback, job_name_prefix)",
        "$.steps.X.fail.attempts[0]: expected an attempt number >= 1, got 0",
    ]
    assert emulator.scenario.default_step_seconds == 0.5  # unchanged
    assert _http(emulator, "POST", "/_smpipe/scenario", b"{nope")[0] == 400
    assert _http(emulator, "GET", "/_smpipe/nothing")[0] == 404
    assert _http(emulator, "GET", "/_smpipe/health") == (200, {"ok": True})


# -- faults -----------------------------------------------------------------------------------------


def test_throttling_is_retried_by_boto3_and_counted(pipelines: Pipelines, emulator: Any, emulator_scenario: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # boto3's real retry handler decides to retry; only its backoff (up to seconds) is shortened.
    from botocore.retries.standard import ExponentialBackoff

    delay = ExponentialBackoff.delay_amount
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: delay(self, context) / 100)
    arn = pipelines.run(pipelines.create(definition_with([training_step("A")]), "throttle"))
    emulator_scenario({"throttle": {"operations": ["DescribePipelineExecution", "SageMaker.ListPipelineExecutionSteps"], "fraction": 0.3, "seed": 3}})
    patient = validated(emulator.client("sagemaker", config=Config(retries={"mode": "standard", "max_attempts": 20})))
    for _ in range(20):  # boto3's own retry handler absorbs the throttles
        assert patient.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Succeeded"
        patient.list_pipeline_execution_steps(PipelineExecutionArn=arn)
    state = emulator.state()
    throttled = state["throttled"]
    assert throttled["DescribePipelineExecution"] > 0 and throttled["ListPipelineExecutionSteps"] > 0
    assert state["calls"]["DescribePipelineExecution"] == 20 + throttled["DescribePipelineExecution"]
    assert "StartPipelineExecution" not in throttled

    impatient = emulator.client("sagemaker", config=Config(retries={"mode": "standard", "max_attempts": 1}))
    codes = set()
    for _ in range(20):
        try:
            impatient.describe_pipeline_execution(PipelineExecutionArn=arn)
            codes.add("ok")
        except ClientError as exc:
            codes.add(exc.response["Error"]["Code"])
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert codes == {"ok", "ThrottlingException"}


def test_throttling_other_services_and_delays(emulator: Any, emulator_scenario: Any) -> None:
    emulator_scenario({"throttle": {"operations": ["*"], "fraction": 1.0}, "delay_seconds": {"ListQueues": 0.2}})
    sqs = emulator.client("sqs", config=Config(retries={"mode": "standard", "max_attempts": 1}))
    with pytest.raises(ClientError) as excinfo:
        sqs.list_queues()
    assert excinfo.value.response["Error"]["Code"] == "ThrottlingException"
    s3 = emulator.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 1}))
    with pytest.raises(ClientError) as excinfo:
        s3.list_buckets()
    assert excinfo.value.response["Error"]["Code"] == "SlowDown"
    emulator_scenario({"delay_seconds": {"ListQueues": 0.2}})
    started = time.monotonic()
    sqs.list_queues()
    assert time.monotonic() - started >= 0.2


# -- moto pass-through ------------------------------------------------------------------------------


def test_everything_else_is_moto(emulator: Any, sm: Any) -> None:
    s3 = emulator.client("s3")
    bucket = unique("bucket").lower()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a/b.json", Body=b'{"x": 1}')
    assert json.loads(s3.get_object(Bucket=bucket, Key="a/b.json")["Body"].read()) == {"x": 1}
    name = unique("moto")
    sm.create_pipeline(PipelineName=name, PipelineDefinition=json.dumps(definition_with([training_step("A")])), RoleArn="arn:aws:iam::123456789012:role/R")
    assert sm.describe_pipeline(PipelineName=name)["PipelineName"] == name
    assert name in [p["PipelineName"] for p in sm.list_pipelines(MaxResults=100)["PipelineSummaries"]]
    sm.delete_pipeline(PipelineName=name)
    # A definition given by S3 location: moto stores the parsed dict (DescribePipeline would return its
    # Python repr); the emulator keeps the object's JSON text, and the execution runs it.
    text = json.dumps(definition_with([training_step("FromS3")]), indent=1)
    s3.put_object(Bucket=bucket, Key="def.json", Body=text.encode())
    sm.create_pipeline(PipelineName=name, PipelineDefinitionS3Location={"Bucket": bucket, "ObjectKey": "def.json"}, RoleArn="arn:aws:iam::123456789012:role/R")
    assert sm.describe_pipeline(PipelineName=name)["PipelineDefinition"] == text
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert emulator.wait_for_execution(arn) == "Succeeded"
    assert sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)["PipelineDefinition"] == text
    sts = emulator.client("sts")
    assert sts.get_caller_identity()["Account"] == "123456789012"


# -- every added operation, shape-checked -----------------------------------------------------------


def test_every_added_operation_answers_in_botocore_shape(pipelines: Pipelines, emulator: Any, emulator_scenario: Any, sm: Any) -> None:
    """Calls each operation the emulator adds through a validated client (the after-call hook checks
    the parsed response against the output shape); together with the server's strict mode, every
    response of every test is checked."""
    emulator_scenario({"steps": {"B": {"fail": {"reason": "x", "attempts": [1]}}}})
    queue = unique("ops-queue")
    definition = definition_with(
        [training_step("A"), training_step("B", depends_on=["A"]), callback_step("Cb", queue, outputs=[("o", "Integer")], DependsOn=["B"])],
        parameters=[{"Name": "P", "Type": "Boolean", "DefaultValue": False}],
    )
    name = pipelines.create(definition, "ops")
    arn = sm.start_pipeline_execution(PipelineName=name, PipelineExecutionDisplayName="ops-run", PipelineExecutionDescription="d")["PipelineExecutionArn"]
    pipelines.wait(arn)
    sm.retry_pipeline_execution(PipelineExecutionArn=arn, ParallelismConfiguration={"MaxParallelExecutionSteps": 2})
    token = wait_for(lambda: pipelines.steps(arn).get("Cb", {}).get("Metadata", {}).get("Callback", {}).get("CallbackToken"), what="the callback token")
    sm.update_pipeline_execution(PipelineExecutionArn=arn, PipelineExecutionDescription="retried")
    sm.send_pipeline_execution_step_success(CallbackToken=token, OutputParameters=[{"Name": "o", "Value": "5"}])
    assert pipelines.wait(arn)["PipelineExecutionStatus"] == "Succeeded"
    sm.list_pipeline_executions(PipelineName=name, SortBy="PipelineExecutionArn", SortOrder="Ascending")
    sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)
    definition_text = sm.describe_pipeline_definition_for_execution(PipelineExecutionArn=arn)["PipelineDefinition"]
    assert json.loads(definition_text) == definition
    rows = pipelines.steps(arn)
    assert rows["B"]["AttemptCount"] == 2 and rows["Cb"]["Metadata"]["Callback"]["OutputParameters"] == [{"Name": "o", "Value": "5"}]
    second = pipelines.start(name)
    sm.stop_pipeline_execution(PipelineExecutionArn=second)
    assert pipelines.wait(second)["PipelineExecutionStatus"] == "Stopped"
    emulator_scenario({})  # no failures: straight to the callback, answered with a failure
    third = pipelines.start(name)
    token = wait_for(lambda: pipelines.steps(third).get("Cb", {}).get("Metadata", {}).get("Callback", {}).get("CallbackToken"), what="token")
    sm.send_pipeline_execution_step_failure(CallbackToken=token, FailureReason="no")
    assert pipelines.wait(third)["PipelineExecutionStatus"] == "Failed"
    assert set(OWNED_OPERATIONS) <= set(VALIDATED), set(OWNED_OPERATIONS) - set(VALIDATED)


def test_list_operations_paginate_and_sort(pipelines: Pipelines, sm: Any) -> None:
    definition = definition_with([training_step(f"S{i}", depends_on=[f"S{i - 1}"] if i else None) for i in range(12)])
    name = pipelines.create(definition, "lists")
    arns = [pipelines.run(name) for _ in range(3)]
    newest_first = [s["PipelineExecutionArn"] for s in sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]]
    assert newest_first == arns[::-1]
    page = sm.list_pipeline_executions(PipelineName=name, MaxResults=2, SortOrder="Ascending")
    assert [s["PipelineExecutionArn"] for s in page["PipelineExecutionSummaries"]] == arns[:2]
    rest = sm.list_pipeline_executions(PipelineName=name, MaxResults=2, SortOrder="Ascending", NextToken=page["NextToken"])
    assert [s["PipelineExecutionArn"] for s in rest["PipelineExecutionSummaries"]] == arns[2:] and "NextToken" not in rest
    created = sm.describe_pipeline_execution(PipelineExecutionArn=arns[0])["CreationTime"]
    hour = timedelta(hours=1)  # botocore sends whole seconds: filter with a margin
    assert len(sm.list_pipeline_executions(PipelineName=name, CreatedAfter=created - hour)["PipelineExecutionSummaries"]) == 3
    assert sm.list_pipeline_executions(PipelineName=name, CreatedAfter=created + hour)["PipelineExecutionSummaries"] == []
    assert sm.list_pipeline_executions(PipelineName=name, CreatedBefore=created - hour)["PipelineExecutionSummaries"] == []

    default_page = sm.list_pipeline_execution_steps(PipelineExecutionArn=arns[0])
    assert len(default_page["PipelineExecutionSteps"]) == 10 and "NextToken" in default_page
    assert [r["StepName"] for r in default_page["PipelineExecutionSteps"][:2]] == ["S11", "S10"]  # newest first
    ascending = sm.list_pipeline_execution_steps(PipelineExecutionArn=arns[0], SortOrder="Ascending", MaxResults=100)
    assert [r["StepName"] for r in ascending["PipelineExecutionSteps"]] == [f"S{i}" for i in range(12)]
    assert len(pipelines.steps(arns[0])) == 12  # the paginator follows NextToken
    with pytest.raises(ClientError) as excinfo:
        sm.list_pipeline_execution_steps(PipelineExecutionArn=arns[1], NextToken=default_page["NextToken"])
    assert excinfo.value.response["Error"]["Code"] == "ValidationException"


# -- the CLI ----------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_smpipe.cli", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def test_cli_serves_until_interrupted(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"default_step_seconds": 0.01}))
    process = _cli("--port", "0", "--scenario", str(scenario))
    try:
        first = process.stdout.readline() if process.stdout else ""
        assert first.startswith("smpipe emulator listening on http://127.0.0.1:"), first + (process.stderr.read() if process.poll() is not None and process.stderr else "")
        endpoint = first.rsplit(" ", 1)[1].strip()
        with urllib.request.urlopen(endpoint + "/_smpipe/state", timeout=10) as response:
            state = json.loads(response.read())
        assert state["scenario"]["default_step_seconds"] == 0.01 and state["endpoint_url"] == endpoint
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err


def test_cli_rejects_a_malformed_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_provider_smpipe.cli import main

    scenario = tmp_path / "bad.json"
    scenario.write_text('{"steps": {"Train": {"fail": {"reason": 3}}}, "throttle": {"fraction": 2}}')
    assert main(["emulator", "--scenario", str(scenario)]) == 1  # exits before listening
    err = capsys.readouterr().err
    assert "invalid scenario" in err and "$.steps.Train.fail.reason: expected a non-empty string" in err
    assert "$.throttle.fraction: 2.0 is more than 1" in err
    scenario.write_text("{not json")
    assert main(["emulator", "--scenario", str(scenario)]) == 1
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["emulator", "--scenario", str(tmp_path / "missing.json")]) == 1
    assert "cannot read the file" in capsys.readouterr().err
