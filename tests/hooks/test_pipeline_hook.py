"""SageMakerPipelineHook against the running emulator (real HTTP, real botocore)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_provider_smpipe.definition.errors import InvalidDefinitionError
from airflow_provider_smpipe.hooks.pipeline import PipelineNotFoundError, SageMakerPipelineHook
from native_helpers import ROLE, callback_definition, chain_definition, unique, wait_for


@pytest.fixture
def hook(aws_connection: str) -> SageMakerPipelineHook:
    return SageMakerPipelineHook(aws_conn_id="aws_default")


def calls(emulator: Any, operation: str) -> int:
    return int(emulator.state()["calls"].get(operation, 0))


def test_upsert_creates_then_skips_unchanged_then_updates(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator = emulator_scenario(None)
    name = unique("upsert")
    definition = chain_definition(["A", "B"])
    created = hook.upsert_pipeline(name, definition, ROLE, description="first")
    assert created["created"] and created["changed"] and created["pipeline_arn"].endswith(f"pipeline/{name}")
    # The same definition with keys in another order and whitespace is semantically unchanged.
    reordered = json.dumps(json.loads(json.dumps(definition)), indent=4, sort_keys=True)
    unchanged = hook.upsert_pipeline(name, reordered, ROLE, description="first")
    assert unchanged == {"pipeline_arn": created["pipeline_arn"], "created": False, "changed": False}
    assert calls(emulator, "UpdatePipeline") == 0
    definition["Parameters"][0]["DefaultValue"] = "s3://my-ml-bucket/input/other.csv"
    updated = hook.upsert_pipeline(name, definition, ROLE, description="first")
    assert updated["changed"] and not updated["created"]
    assert calls(emulator, "UpdatePipeline") == 1
    assert hook.get_definition(name).parameters["InputData"].default == "s3://my-ml-bucket/input/other.csv"
    # A changed description alone is a change too.
    assert hook.upsert_pipeline(name, definition, ROLE, description="second")["changed"]


def test_upsert_rejects_invalid_definition_before_any_call(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator = emulator_scenario(None)
    broken = chain_definition(["A", "B"])
    broken["Steps"][1]["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] = {"Get": "Steps.Nope.ProcessingJobName"}
    with pytest.raises(InvalidDefinitionError) as caught:
        hook.upsert_pipeline(unique("broken"), broken, ROLE)
    assert "references unknown step 'Nope'" in str(caught.value)
    assert caught.value.problems[0].step == "B"
    assert emulator.state()["calls"] == {}


def test_start_request_checks_parameters_against_the_definition(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator = emulator_scenario(None)
    name = unique("params")
    hook.upsert_pipeline(name, chain_definition(["A"]), ROLE)
    emulator.reset()
    with pytest.raises(InvalidDefinitionError) as caught:
        hook.build_start_request(name, parameters={"InstanceCnt": 2, "Mode": "slow", "Threshold": "high"})
    text = str(caught.value)
    assert "unknown parameter 'InstanceCnt' (did you mean 'InstanceCount'?)" in text
    assert "String parameter 'Mode' got 'slow': not one of its EnumValues" in text
    assert "Float parameter 'Threshold' got 'high': not a number" in text
    assert calls(emulator, "StartPipelineExecution") == 0
    request = hook.build_start_request(name, parameters={"InstanceCount": 3, "Mode": "full", "Threshold": 0.75})
    assert request["PipelineParameters"] == [
        {"Name": "InstanceCount", "Value": "3"},
        {"Name": "Mode", "Value": "full"},
        {"Name": "Threshold", "Value": "0.75"},
    ]


def test_unknown_pipeline_is_a_clear_error(hook: SageMakerPipelineHook) -> None:
    with pytest.raises(PipelineNotFoundError, match="pipeline 'no-such-pipeline' does not exist"):
        hook.get_definition("no-such-pipeline")


def test_start_is_idempotent_per_token_and_lists_every_page(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.01})
    names = [f"S{i:02d}" for i in range(23)]  # more than two pages of the default page size
    pipeline = unique("pages")
    hook.upsert_pipeline(pipeline, chain_definition(names), ROLE)
    request = hook.build_start_request(pipeline, client_request_token="a" * 40, parallelism=4)
    first, second = hook.start_execution(request), hook.start_execution(request)
    assert first == second
    wait_for(lambda: hook.describe_execution(first)["PipelineExecutionStatus"] == "Succeeded", what="execution to succeed")
    table = hook.step_table(first)
    assert sorted(r["name"] for r in table) == names
    assert all(r["status"] == "Succeeded" and r["job_arn"].startswith("arn:aws:sagemaker:") for r in table)
    assert hook.list_parameters(first)["InstanceCount"] == "1"


def test_find_execution_and_selectors(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.01, "steps": {"B": {"fail": {"reason": "AlgorithmError: boom", "attempts": [1]}}}})
    pipeline = unique("select")
    hook.upsert_pipeline(pipeline, chain_definition(["A", "B"]), ROLE)
    failed = hook.start_execution(hook.build_start_request(pipeline))
    wait_for(lambda: hook.describe_execution(failed)["PipelineExecutionStatus"] == "Failed", what="failure")
    emulator_scenario({"default_step_seconds": 0.01})
    succeeded = hook.start_execution(hook.build_start_request(pipeline))
    wait_for(lambda: hook.describe_execution(succeeded)["PipelineExecutionStatus"] == "Succeeded", what="success")
    assert hook.resolve_execution_arn(pipeline, "latest") == succeeded
    assert hook.resolve_execution_arn(pipeline, "latest-succeeded") == succeeded
    assert hook.resolve_execution_arn(pipeline, "latest-failed") == failed
    assert hook.find_execution(pipeline, "latest-stopped") is None
    with pytest.raises(ValueError, match="no execution matching 'latest-stopped'"):
        hook.resolve_execution_arn(pipeline, "latest-stopped")
    failed_rows = [r for r in hook.step_table(failed) if r["status"] == "Failed"]
    assert len(failed_rows) == 1 and failed_rows[0]["name"] == "B"
    assert failed_rows[0]["failure_reason"] == "AlgorithmError: boom"


def test_stop_running_then_tolerate_terminal(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.01, "steps": {"A": {"seconds": 30}}})
    pipeline = unique("stop")
    hook.upsert_pipeline(pipeline, chain_definition(["A", "B"]), ROLE)
    arn = hook.start_execution(hook.build_start_request(pipeline))
    assert hook.stop_execution(arn) in ("Stopping", "Stopped")
    wait_for(lambda: hook.describe_execution(arn)["PipelineExecutionStatus"] == "Stopped", what="stopped")
    assert hook.stop_execution(arn) == "Stopped"  # already stopped: no error, its status


def test_retry_execution_reruns_failed_steps_in_place(hook: SageMakerPipelineHook, emulator_scenario: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.01, "steps": {"B": {"fail": {"reason": "CapacityError: no ml.m5", "attempts": [1]}}}})
    pipeline = unique("retry")
    hook.upsert_pipeline(pipeline, chain_definition(["A", "B"]), ROLE)
    arn = hook.start_execution(hook.build_start_request(pipeline))
    wait_for(lambda: hook.describe_execution(arn)["PipelineExecutionStatus"] == "Failed", what="failure")
    assert hook.retry_execution(arn) == arn
    wait_for(lambda: hook.describe_execution(arn)["PipelineExecutionStatus"] == "Succeeded", what="retry success")
    rows = {r["name"]: r for r in hook.step_table(arn)}
    assert rows["B"]["attempt_count"] == 2 and rows["A"]["status"] == "Succeeded"


def test_send_step_success_and_failure(hook: SageMakerPipelineHook, emulator_scenario: Any, emulator: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.01})
    sqs = emulator.client("sqs")
    queue = sqs.create_queue(QueueName=unique("approvals"))["QueueUrl"]
    pipeline = unique("callback")
    hook.upsert_pipeline(pipeline, callback_definition(queue), ROLE)
    outcomes = {}
    for answer in ("approve", "reject"):
        arn = hook.start_execution(hook.build_start_request(pipeline))
        message = wait_for(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages"), what="callback message")[0]
        body = json.loads(message["Body"])
        assert body["pipelineExecutionArn"] == arn and body["arguments"]["mode"] == "fast"
        if answer == "approve":
            hook.send_step_success(body["token"], {"decision": "approve", "score": 0.93})
        else:
            hook.send_step_failure(body["token"], "rejected by reviewer")
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        outcomes[answer] = wait_for(
            lambda: hook.describe_execution(arn)["PipelineExecutionStatus"] in ("Succeeded", "Failed") and hook.describe_execution(arn),
            what="execution end",
        )["PipelineExecutionStatus"]
        rows = {r["name"]: r for r in hook.step_table(arn)}
        if answer == "approve":
            assert rows["Approve"]["output_parameters"] == {"decision": "approve", "score": "0.93"}
            assert rows["Deploy"]["status"] == "Succeeded"
        else:
            assert rows["Approve"]["status"] == "Failed" and rows["Approve"]["failure_reason"] == "rejected by reviewer"
    assert outcomes == {"approve": "Succeeded", "reject": "Failed"}


def test_send_with_unknown_token_is_a_client_error(hook: SageMakerPipelineHook) -> None:
    with pytest.raises(ClientError):
        hook.send_step_success("ABCDEFGHIJ", {"x": 1})


def test_upsert_from_s3_and_large_definitions_go_through_s3(hook: SageMakerPipelineHook, emulator: Any, emulator_scenario: Any) -> None:
    emulator_scenario(None)
    s3 = emulator.client("s3")
    bucket = unique("defs")
    s3.create_bucket(Bucket=bucket)
    small = chain_definition(["A", "B"])
    s3.put_object(Bucket=bucket, Key="pipelines/small.json", Body=json.dumps(small).encode())
    name = unique("froms3")
    assert hook.upsert_pipeline(name, f"s3://{bucket}/pipelines/small.json", ROLE)["created"]
    assert sorted(hook.get_definition(name).steps) == ["A", "B"]
    with pytest.raises(ValueError, match=f"cannot read the definition at s3://{bucket}/missing.json"):
        hook.upsert_pipeline(name, f"s3://{bucket}/missing.json", ROLE)

    large = chain_definition([f"Step{i:03d}" for i in range(80)])  # ~120 KB compact: over the inline limit
    assert len(json.dumps(large, separators=(",", ":"))) > 100 * 1024
    with pytest.raises(ValueError, match="over the 102400-byte inline limit"):
        hook.upsert_pipeline(unique("large"), large, ROLE)
    big = unique("large")
    assert hook.upsert_pipeline(big, large, ROLE, definition_s3_bucket=bucket)["created"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.startswith(f"{big}/definition-") for k in keys)
    assert len(hook.get_definition(big).steps) == 80
