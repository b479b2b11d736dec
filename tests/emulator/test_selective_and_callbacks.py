"""Selective execution reusing a source execution's outputs, and Callback steps answered through the API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from emulator_helpers import Pipelines, callback_step, definition_with, training_step, unique, wait_for


def _error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


# -- selective execution ----------------------------------------------------------------------------

ABALONE = {
    "steps": {
        "PreprocessAbaloneData": {"files": {"validation": {"stats.json": {"record_count": 1}}}},
        "EvaluateAbaloneModel": {"files": {"evaluation": {"evaluation.json": {"regression_metrics": {"mse": {"value": 1.0}}}}}},
    }
}


def _selected(*names: str, source: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"SelectedSteps": [{"StepName": n} for n in names]}
    if source:
        config["SourcePipelineExecutionArn"] = source
    return config


def test_selective_execution_reuses_upstream_outputs_and_skips_downstream(pipelines: Pipelines, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario(ABALONE)
    name = pipelines.create("abalone", "selective")
    source = pipelines.run(name)
    source_steps = pipelines.steps(source)
    config = _selected("TrainAbaloneModel", "EvaluateAbaloneModel", source=source)
    arn = pipelines.run(name, SelectiveExecutionConfig=config)

    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert described["PipelineExecutionStatus"] == "Succeeded"
    assert described["SelectiveExecutionConfig"] == config
    steps = pipelines.steps(arn)
    assert set(steps) == {"PreprocessAbaloneData", "TrainAbaloneModel", "EvaluateAbaloneModel"}  # downstream did not run
    reused = steps["PreprocessAbaloneData"]
    assert reused["SelectiveExecutionResult"] == {"SourcePipelineExecutionArn": source}
    assert reused["StepStatus"] == "Succeeded" and reused["Metadata"] == source_steps["PreprocessAbaloneData"]["Metadata"]
    for selected in ("TrainAbaloneModel", "EvaluateAbaloneModel"):
        assert "SelectiveExecutionResult" not in steps[selected]
    # Evaluate really re-ran; Train has CacheConfig and the same resolved request as in the source
    # execution (its inputs are the reused preprocessing outputs), so it is a cache hit.
    assert steps["EvaluateAbaloneModel"]["Metadata"] != source_steps["EvaluateAbaloneModel"]["Metadata"]
    assert steps["TrainAbaloneModel"]["CacheHitResult"] == {"SourcePipelineExecutionArn": source}
    # The re-run evaluation reads the source execution's preprocessing output.
    source_id = source.rsplit("/", 1)[1]
    evaluate = pipelines.step_state(arn)["EvaluateAbaloneModel"]["request"]
    uris = [i["S3Input"]["S3Uri"] for i in evaluate["ProcessingInputs"]]
    assert any(f"/{source_id}/PreprocessAbaloneData/" in uri or f"/abalone/{source_id}/test" in uri for uri in uris), uris


def test_selective_execution_rules(pipelines: Pipelines, emulator_scenario: Any, sm_no_retry: Any) -> None:
    emulator_scenario({**ABALONE, "steps": {**ABALONE["steps"], "TrainAbaloneModel": {"fail": "AlgorithmError"}}})
    name = pipelines.create("abalone", "selective")
    failed = pipelines.run(name)  # Preprocess succeeded, Train failed
    other = pipelines.run(pipelines.create("abalone", "selective"))

    def rejected(config: dict[str, Any]) -> str:
        with pytest.raises(ClientError) as excinfo:
            sm_no_retry.start_pipeline_execution(PipelineName=name, SelectiveExecutionConfig=config)
        assert _error_code(excinfo) == "ValidationException"
        return excinfo.value.response["Error"]["Message"]

    assert "unknown step 'TrainAbalone'" in rejected(_selected("TrainAbalone", source=failed))
    assert "not connected" in rejected(_selected("RegisterAbaloneModel-RegisterModel", "AbaloneMSEFail", source=failed))
    assert "lie on paths between selected steps" in rejected(_selected("PreprocessAbaloneData", "EvaluateAbaloneModel", source=failed))
    assert "SourcePipelineExecutionArn is required" in rejected(_selected("EvaluateAbaloneModel"))
    assert "belongs to pipeline" in rejected(_selected("TrainAbaloneModel", source=other))
    assert "TrainAbaloneModel did not succeed" in rejected(_selected("EvaluateAbaloneModel", source=failed))
    too_many = {"SelectedSteps": [{"StepName": f"S{i}"} for i in range(51)], "SourcePipelineExecutionArn": failed}
    assert "Member must have length less than or equal to 50" in rejected(too_many)
    # nothing was started by the rejected requests
    assert len(sm_no_retry.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"]) == 1
    # selecting the failed step of the failed execution is accepted (it fails again: same scenario)
    arn = sm_no_retry.start_pipeline_execution(PipelineName=name, SelectiveExecutionConfig=_selected("TrainAbaloneModel", source=failed))["PipelineExecutionArn"]
    assert pipelines.wait(arn)["PipelineExecutionStatus"] == "Failed"
    assert set(pipelines.steps(arn)) == {"PreprocessAbaloneData", "TrainAbaloneModel"}


def test_selective_source_must_be_finished(pipelines: Pipelines, emulator_scenario: Any, sm_no_retry: Any) -> None:
    emulator_scenario({"steps": {"A": {"seconds": 2.0}}})
    name = pipelines.create(definition_with([training_step("A"), training_step("B", depends_on=["A"])]), "selective")
    running = pipelines.start(name)
    with pytest.raises(ClientError) as excinfo:
        sm_no_retry.start_pipeline_execution(PipelineName=name, SelectiveExecutionConfig=_selected("B", source=running))
    assert _error_code(excinfo) == "ValidationException" and "Executing" in excinfo.value.response["Error"]["Message"]
    sm_no_retry.stop_pipeline_execution(PipelineExecutionArn=running)
    assert pipelines.wait(running)["PipelineExecutionStatus"] == "Stopped"


# -- callbacks --------------------------------------------------------------------------------------


def _callback_pipeline(queue: str) -> dict[str, Any]:
    gate = {
        "Name": "Gate",
        "Type": "Condition",
        "Arguments": {
            "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.Approve.OutputParameters['decision']"}, "RightValue": "yes"}],
            "IfSteps": [training_step("Deploy")],
            "ElseSteps": [{"Name": "Refused", "Type": "Fail", "Arguments": {"ErrorMessage": "refused"}}],
        },
    }
    return definition_with([training_step("Train"), callback_step("Approve", queue, outputs=[("decision", "String"), ("score", "Float")], DependsOn=["Train"]), gate])


def _message(emulator: Any, queue: str, arn: str, status: str = "Executing") -> dict[str, Any]:
    sqs = emulator.client("sqs")

    def queue_url() -> str | None:
        try:
            return sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        except ClientError:  # the step creates the queue when it starts
            return None

    url = wait_for(queue_url, what=f"queue {queue}")

    def receive() -> dict[str, Any] | None:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            body = json.loads(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            if body["pipelineExecutionArn"] == arn and body["status"] == status:
                return body
        return None

    return wait_for(receive, what=f"the {status} callback message of {arn}")


def test_callback_answered_with_success_feeds_its_outputs_downstream(pipelines: Pipelines, emulator: Any, sm: Any, sm_no_retry: Any) -> None:
    queue = unique("approvals")
    name = pipelines.create(_callback_pipeline(queue), "callback")
    arn = pipelines.start(name)
    message = _message(emulator, queue, arn)
    assert set(message) == {"token", "pipelineExecutionArn", "arguments", "status"}
    assert message["arguments"] == {"who": name, "n": 3} and len(message["token"]) == 10
    row = pipelines.steps(arn)["Approve"]
    assert row["StepStatus"] == "Executing"
    assert row["Metadata"]["Callback"]["CallbackToken"] == message["token"]

    with pytest.raises(ClientError) as excinfo:  # an undeclared output is rejected and changes nothing
        sm_no_retry.send_pipeline_execution_step_success(CallbackToken=message["token"], OutputParameters=[{"Name": "nope", "Value": "1"}])
    assert _error_code(excinfo) == "ValidationException"
    with pytest.raises(ClientError) as excinfo:
        sm_no_retry.send_pipeline_execution_step_success(CallbackToken=message["token"], OutputParameters=[{"Name": "score", "Value": "high"}])
    assert _error_code(excinfo) == "ValidationException"
    assert pipelines.steps(arn)["Approve"]["StepStatus"] == "Executing"

    answer = sm.send_pipeline_execution_step_success(
        CallbackToken=message["token"], OutputParameters=[{"Name": "decision", "Value": "yes"}, {"Name": "score", "Value": "0.7"}]
    )
    assert answer["PipelineExecutionArn"] == arn
    assert pipelines.wait(arn)["PipelineExecutionStatus"] == "Succeeded"
    steps = pipelines.steps(arn)
    assert steps["Approve"]["Metadata"]["Callback"]["OutputParameters"] == [{"Name": "decision", "Value": "yes"}, {"Name": "score", "Value": "0.7"}]
    assert pipelines.step_state(arn)["Approve"]["properties"] == {"OutputParameters": {"decision": "yes", "score": 0.7}}
    assert steps["Gate"]["Metadata"]["Condition"]["Outcome"] == "True" and steps["Deploy"]["StepStatus"] == "Succeeded"
    with pytest.raises(ClientError) as excinfo:  # answered already
        sm_no_retry.send_pipeline_execution_step_failure(CallbackToken=message["token"], FailureReason="late")
    assert _error_code(excinfo) == "ConflictException"
    with pytest.raises(ClientError) as excinfo:
        sm_no_retry.send_pipeline_execution_step_success(CallbackToken="0123456789")
    assert _error_code(excinfo) == "ResourceNotFound"


def test_callback_answered_with_failure_fails_the_execution(pipelines: Pipelines, emulator: Any, sm: Any) -> None:
    queue = unique("failure-queue")
    arn = pipelines.start(pipelines.create(_callback_pipeline(queue), "callback"))
    message = _message(emulator, queue, arn)
    token = "c" * 40
    sm.send_pipeline_execution_step_failure(CallbackToken=message["token"], FailureReason="approver said no", ClientRequestToken=token)
    # the same request again (same ClientRequestToken) is idempotent
    sm.send_pipeline_execution_step_failure(CallbackToken=message["token"], FailureReason="approver said no", ClientRequestToken=token)
    described = pipelines.wait(arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    steps = pipelines.steps(arn)
    assert steps["Approve"]["StepStatus"] == "Failed" and steps["Approve"]["FailureReason"] == "approver said no"
    assert "Gate" not in steps


def test_scripted_callback_failure(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario({"steps": {"Approve": {"callback": {"answer": "failure", "after_seconds": 0.05, "reason": "timeout in review"}}}})
    arn = pipelines.run(pipelines.create(_callback_pipeline(unique("scripted-queue")), "callback"))
    row = pipelines.steps(arn)["Approve"]
    assert row["StepStatus"] == "Failed" and row["FailureReason"] == "timeout in review"


def test_stop_with_a_waiting_callback_sends_stopping_and_waits_for_the_answer(pipelines: Pipelines, emulator: Any, sm: Any, sm_no_retry: Any) -> None:
    queue = unique("stopping-queue")
    arn = pipelines.start(pipelines.create(_callback_pipeline(queue), "callback"))
    message = _message(emulator, queue, arn)
    stop_token = "s" * 40
    sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=stop_token)
    stopping = _message(emulator, queue, arn, status="Stopping")
    assert stopping["token"] == message["token"] and stopping["arguments"] == message["arguments"]
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Stopping"
    assert pipelines.steps(arn)["Approve"]["StepStatus"] == "Stopping"
    assert sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=stop_token)["PipelineExecutionArn"] == arn  # idempotent
    with pytest.raises(ClientError) as excinfo:
        sm_no_retry.stop_pipeline_execution(PipelineExecutionArn=arn)  # a new request while stopping
    assert _error_code(excinfo) == "ConflictException"
    sm.send_pipeline_execution_step_failure(CallbackToken=message["token"], FailureReason="stopped by user")
    assert pipelines.wait(arn)["PipelineExecutionStatus"] == "Stopped"
    assert pipelines.steps(arn)["Approve"]["StepStatus"] == "Stopped"
