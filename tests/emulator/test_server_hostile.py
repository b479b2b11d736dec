"""Client mistakes and hostile requests: every one ends in the service's 4xx (or an AWS-shaped 5xx
for what the emulator cannot do), never in a crash, and the server keeps serving afterwards.

Raw HTTP requests (``http.client``): boto3 would refuse to send most of these."""

from __future__ import annotations

import http.client
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from emulator_helpers import Pipelines, definition_with, training_step, unique

JSON_11 = "application/x-amz-json-1.1"


def _auth(service: str, region: str = "us-east-1") -> str:
    return f"AWS4-HMAC-SHA256 Credential=testing/20240101/{region}/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0"


def raw(
    emulator: Any, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, *, service: str = "sagemaker"
) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers (lower-case names), body)`` of one raw request."""
    connection = http.client.HTTPConnection(emulator.host, emulator.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers={"Authorization": _auth(service), **(headers or {})})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def call(emulator: Any, target: str, body: bytes, *, service: str = "sagemaker", content_type: str = JSON_11, **headers: str) -> tuple[int, str | None, str]:
    """A JSON-protocol request: ``(status, error code, message)``; the error is AWS-shaped."""
    status, got, payload = raw(emulator, "POST", "/", body, {"Content-Type": content_type, "X-Amz-Target": target, **headers}, service=service)
    if status < 300:
        return status, None, ""
    document = json.loads(payload)
    assert document["__type"] == got["x-amzn-errortype"]  # botocore reads either
    return status, document["__type"], document["message"]


def admin(emulator: Any, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    status, headers, payload = raw(emulator, method, path, body or b"", {"Content-Type": "application/json"} if body is not None else {})
    return status, json.loads(payload) if payload else {}, headers


@pytest.fixture
def sm(emulator: Any) -> Any:
    return emulator.client("sagemaker", config=Config(retries={"mode": "standard", "max_attempts": 1}))


@pytest.fixture(autouse=True)
def _still_serving(emulator: Any) -> Iterator[None]:
    """After every test here, the server thread is alive and a normal call succeeds."""
    yield
    assert emulator._thread is not None and emulator._thread.is_alive()
    assert "PipelineSummaries" in emulator.client("sagemaker").list_pipelines()


# -- the JSON protocol: unreadable bodies ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"PipelineExecutionArn": "\xff\xfe"}', "The request body is not valid UTF-8 (byte 26)."),
        (b"[" * 100_000, "Could not parse the request body: it is nested too deeply."),
        (b'{"a": ' * 5_000 + b"1" + b"}" * 5_000, "Could not parse the request body: it is nested too deeply."),
        (b"[1, 2]", "The request body must be a JSON object, not an array."),
        (b'"PipelineExecutionArn"', "The request body must be a JSON object, not a string."),
        (b"null", "The request body must be a JSON object, not null."),
        (b"\x00\x01garbage", "Could not parse the request body: Expecting value (line 1 column 1)."),
        (b'{"PipelineExecutionArn": ', "Could not parse the request body: Expecting value (line 1 column 26)."),
    ],
    ids=["invalid-utf8", "100k-brackets", "deep-objects", "array", "string", "null", "garbage", "truncated"],
)
@pytest.mark.parametrize("target", ["SageMaker.DescribePipelineExecution", "SageMaker.ListPipelines", "SageMaker.CreateTrainingJob", "SageMaker.DescribeTrainingJob"])
def test_unreadable_json_bodies_are_serialization_exceptions(emulator: Any, target: str, body: bytes, message: str) -> None:
    """The owned operations, moto's, and the ones the emulator intercepts for direct jobs alike."""
    assert call(emulator, target, body) == (400, "SerializationException", message)


@pytest.mark.parametrize(
    ("service", "target", "content_type"),
    [("sqs", "AmazonSQS.SendMessage", "application/x-amz-json-1.0"), ("elasticmapreduce", "ElasticMapReduce.AddJobFlowSteps", JSON_11), ("elasticmapreduce", "ElasticMapReduce.CancelSteps", JSON_11)],
)
def test_other_json_services_too(emulator: Any, service: str, target: str, content_type: str) -> None:
    for body in (b"[" * 100_000, b"\xff", b"[]"):
        status, code, _ = call(emulator, target, body, service=service, content_type=content_type)
        assert (status, code) == (400, "SerializationException")


def test_a_wrong_content_type_does_not_matter_to_the_target(emulator: Any) -> None:
    """The ``X-Amz-Target`` decides; the body is read as JSON whatever the content type says."""
    assert call(emulator, "SageMaker.ListPipelines", b"{}", content_type="text/plain")[0] == 200
    assert call(emulator, "SageMaker.ListPipelines", b"<xml/>", content_type="application/xml")[:2] == (400, "SerializationException")


# -- unknown operations, wrong types ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-Amz-Target": "SageMaker.FooBar"}, "Unknown operation: SageMaker.FooBar"),
        ({"X-Amz-Target": "SageMaker.describePipeline"}, "Unknown operation: SageMaker.describePipeline"),
        ({"X-Amz-Target": "Nope.FooBar"}, "Unknown operation: Nope.FooBar"),
        ({"X-Amz-Target": "ListPipelines"}, "Unknown operation: ListPipelines"),
        ({"X-Amz-Target": "SageMaker."}, "Unknown operation: SageMaker."),
        ({}, "The request has no X-Amz-Target header naming an operation."),
    ],
    ids=["unknown-op", "wrong-case", "unknown-service", "no-prefix", "empty-op", "no-target"],
)
def test_unknown_operations_are_unknown_operation_exceptions(emulator: Any, headers: dict[str, str], message: str) -> None:
    status, got, payload = raw(emulator, "POST", "/", b"{}", {"Content-Type": JSON_11, **headers})
    assert (status, got["x-amzn-errortype"], json.loads(payload)) == (400, "UnknownOperationException", {"__type": "UnknownOperationException", "message": message})


def test_unknown_operation_of_another_service_and_through_boto3(emulator: Any) -> None:
    assert call(emulator, "ElasticMapReduce.FooBar", b"{}", service="elasticmapreduce")[:2] == (400, "UnknownOperationException")
    sm = emulator.client("sagemaker", config=Config(retries={"mode": "standard", "max_attempts": 5}))

    def retarget(request: Any, **_: Any) -> None:
        del request.headers["X-Amz-Target"]
        request.headers["X-Amz-Target"] = "SageMaker.NoSuchOp"

    sm.meta.events.register_first("before-sign.sagemaker.DescribePipeline", retarget)
    emulator.reset()
    with pytest.raises(ClientError) as caught:  # botocore raises the service's code, and does not retry a 400
        sm.describe_pipeline(PipelineName="x")
    assert caught.value.response["Error"] == {"Code": "UnknownOperationException", "Message": "Unknown operation: SageMaker.NoSuchOp"}
    assert emulator.calls("NoSuchOp") == 1


@pytest.mark.parametrize(
    ("target", "body", "message"),
    [
        ("SageMaker.ListPipelines", {"MaxResults": "ten"}, "Value 'ten' at 'maxResults' failed to satisfy constraint: Member must be an integer"),
        ("SageMaker.ListPipelines", {"MaxResults": True}, "Value 'True' at 'maxResults' failed to satisfy constraint: Member must be an integer"),
        ("SageMaker.DescribePipeline", {}, "Value null at 'pipelineName' failed to satisfy constraint: Member must not be null"),
        ("SageMaker.DescribePipeline", {"PipelineName": ["a"]}, "Value '['a']' at 'pipelineName' failed to satisfy constraint: Member must be a string"),
        ("SageMaker.DescribePipelineExecution", {"PipelineExecutionArn": 7}, "Value '7' at 'pipelineExecutionArn' failed to satisfy constraint: Member must be a string"),
        ("SageMaker.ListTags", {"ResourceArn": {"a": 1}}, "Value '{'a': 1}' at 'resourceArn' failed to satisfy constraint: Member must be a string"),
        ("SageMaker.StopTrainingJob", {"TrainingJobName": 1}, "Value '1' at 'trainingJobName' failed to satisfy constraint: Member must be a string"),
    ],
)
def test_wrong_types_and_missing_members_are_validation_exceptions(emulator: Any, target: str, body: dict[str, Any], message: str) -> None:
    status, code, text = call(emulator, target, json.dumps(body).encode())
    assert (status, code) == (400, "ValidationException")
    assert message in text


def test_wrong_types_for_other_services(emulator: Any) -> None:
    status, code, text = call(emulator, "ElasticMapReduce.ListSteps", b'{"ClusterId": 5}', service="elasticmapreduce")
    assert (status, code) == (400, "ValidationException") and "at 'clusterId' failed to satisfy constraint: Member must be a string" in text
    status, code, text = call(emulator, "AmazonSQS.SendMessage", b'{"QueueUrl": "q", "MessageBody": {"x": 1}}', service="sqs", content_type="application/x-amz-json-1.0")
    assert (status, code) == (400, "ValidationException") and "at 'messageBody'" in text


def test_an_operation_moto_lacks_is_a_501_that_botocore_does_not_retry(emulator: Any) -> None:
    patient = emulator.client("sagemaker", config=Config(retries={"mode": "standard", "max_attempts": 5}))
    with pytest.raises(ClientError) as caught:
        patient.list_actions()
    error = caught.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (501, "NotImplemented")
    assert error["Error"]["Message"].startswith("The emulator does not implement ListActions")
    assert emulator.calls("ListActions") == 1  # not retried


# -- sizes ------------------------------------------------------------------------------------------


def test_huge_bodies_are_413s(emulator: Any) -> None:
    status, code, message = call(emulator, "SageMaker.ListPipelines", b" " * (21 * 1024 * 1024))
    assert (status, code) == (413, "RequestEntityTooLargeException") and "larger than the emulator accepts" in message
    status, headers, payload = raw(emulator, "POST", "/2015-03-31/functions/f/invocations", b"{" + b" " * (7 * 1024 * 1024) + b"}", service="lambda")
    assert (status, headers["x-amzn-errortype"]) == (413, "RequestTooLargeException")
    assert json.loads(payload)["message"] == "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    # A long (not too long) value is only a validation error
    status, code, message = call(emulator, "SageMaker.DescribePipelineExecution", json.dumps({"PipelineExecutionArn": "a" * 2_000_000}).encode())
    assert (status, code) == (400, "ValidationException") and "Member must have length less than or equal to 2048" in message


def test_a_content_length_that_is_not_a_number_reads_no_body(emulator: Any) -> None:
    connection = http.client.HTTPConnection(emulator.host, emulator.port, timeout=30)
    connection.putrequest("POST", "/")
    for name, value in {"Authorization": _auth("sagemaker"), "Content-Type": JSON_11, "X-Amz-Target": "SageMaker.ListPipelines", "Content-Length": "abc"}.items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 200 and "PipelineSummaries" in json.loads(response.read())
    connection.close()


# -- other protocols --------------------------------------------------------------------------------


def test_query_protocol_without_action_is_missing_action(emulator: Any) -> None:
    status, headers, payload = raw(emulator, "POST", "/", b"\xff\xfe=%%%&Version=2011-06-15", {"Content-Type": "application/x-www-form-urlencoded"}, service="sts")
    assert status == 400 and headers["content-type"] == "text/xml"
    assert b"<Type>Sender</Type><Code>MissingAction</Code>" in payload
    assert emulator.client("sts").get_caller_identity()["Account"] == "123456789012"


def test_emr_serverless_bodies_are_checked_before_moto(emulator: Any) -> None:
    for path in ("/applications", "/applications/abc/jobruns"):
        for body in (b"[" * 100_000, b"5", b"\xff", b"{"):
            status, headers, payload = raw(emulator, "POST", path, body, {"Content-Type": "application/json"}, service="emr-serverless")
            assert (status, headers["x-amzn-errortype"], headers["content-type"]) == (400, "SerializationException", "application/json")
            assert json.loads(payload)["__type"] == "SerializationException"
    status, headers, payload = raw(emulator, "POST", "/applications/abc/jobruns", b'{"clientToken": "t", "executionRoleArn": 5}', service="emr-serverless")
    assert (status, headers["x-amzn-errortype"]) == (400, "ValidationException")
    assert "Value '5' at 'executionRoleArn' failed to satisfy constraint: Member must be a string" in json.loads(payload)["message"]
    status, headers, payload = raw(emulator, "POST", "/applications", b"{}", service="emr-serverless")
    assert (status, headers["x-amzn-errortype"]) == (400, "ValidationException") and "Value null at 'releaseLabel'" in json.loads(payload)["message"]


def test_scripted_lambda_refuses_a_payload_that_is_not_json(emulator: Any, emulator_scenario: Any) -> None:
    function = unique("fn")
    emulator_scenario({"lambda": {function: {"response": {"ok": True}}}})
    for payload in (b"\xff", b"{nope", b"[" * 100_000):
        status, headers, body = raw(emulator, "POST", f"/2015-03-31/functions/{function}/invocations", payload, service="lambda")
        assert (status, headers["x-amzn-errortype"]) == (400, "InvalidRequestContentException")
        assert json.loads(body)["message"].startswith("Could not parse request body into json")
    assert emulator.client("lambda").invoke(FunctionName=function, Payload=b"{}")["Payload"].read() == b'{"ok": true}'
    assert [i["payload"] for i in emulator.state()["invocations"] if i["function"] == function] == [{}]


def test_a_moto_crash_is_an_aws_shaped_500(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever moto raises (a bug there or here) is an InternalFailure in the request's protocol."""
    def broken(environ: dict[str, Any], start_response: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(emulator.app, "moto", broken)
    assert call(emulator, "SageMaker.ListPipelines", b"{}") == (500, "InternalFailure", "emulator bug: RuntimeError: boom")
    status, _, payload = raw(emulator, "POST", "/", b"Action=GetCallerIdentity&Version=2011-06-15", {"Content-Type": "application/x-www-form-urlencoded"}, service="sts")
    assert status == 500 and b"<Type>Receiver</Type><Code>InternalFailure</Code>" in payload
    status, _, payload = raw(emulator, "GET", "/some-bucket/key", service="s3")
    assert status == 500 and b"<Error><Code>InternalFailure</Code>" in payload


def test_random_bytes_never_crash_the_server(emulator: Any) -> None:
    """A seeded fuzz over the JSON targets and the REST/query endpoints the emulator touches:
    every answer is a 4xx (the targets: the service's JSON error), never a 500."""
    rng = random.Random(20240601)
    targets = [
        ("sagemaker", "SageMaker.ListPipelines"),
        ("sagemaker", "SageMaker.StartPipelineExecution"),
        ("sagemaker", "SageMaker.CreateProcessingJob"),
        ("sagemaker", "SageMaker.StopTrainingJob"),
        ("sqs", "AmazonSQS.SendMessage"),
        ("elasticmapreduce", "ElasticMapReduce.AddJobFlowSteps"),
        ("elasticmapreduce", "ElasticMapReduce.CancelSteps"),
    ]
    for _ in range(150):
        service, target = rng.choice(targets)
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80)))
        status, code, _ = call(emulator, target, body, service=service)
        assert 400 <= status < 500 and code in ("SerializationException", "ValidationException"), (target, body, status, code)
    rest = [
        ("lambda", "POST", "/2015-03-31/functions/f/invocations"),
        ("emr-serverless", "POST", "/applications"),
        ("emr-serverless", "POST", "/applications/abc/jobruns"),
        ("emr-serverless", "DELETE", "/applications/abc/jobruns/def"),
        ("sts", "POST", "/"),
    ]
    for _ in range(60):
        service, method, path = rng.choice(rest)
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80)))
        content_type = "application/x-www-form-urlencoded" if service == "sts" else rng.choice(["application/json", "application/octet-stream", "text/plain"])
        status, _, _ = raw(emulator, method, path, body, {"Content-Type": content_type}, service=service)
        assert 400 <= status < 500, (service, method, path, body, status)


# -- the admin API ----------------------------------------------------------------------------------


def _finished_execution(pipelines: Pipelines) -> str:
    return pipelines.run(pipelines.create(definition_with([training_step("A")]), "hostile"))


def test_reset_with_a_non_boolean_keeps_the_executions(emulator: Any, pipelines: Pipelines) -> None:
    arn = _finished_execution(pipelines)
    for body, field, message in [
        (b'{"executions": "no"}', "executions", "field 'executions' must be true or false, not a string \"no\""),
        (b'{"executions": 0}', "executions", "field 'executions' must be true or false, not a number 0"),
        (b'{"executions": null}', "executions", "field 'executions' must be true or false, not null null"),
        (b'{"execution": true}', "execution", "unknown field 'execution' in the body of POST /_smpipe/reset (allowed: executions)"),
    ]:
        assert admin(emulator, "POST", "/_smpipe/reset", body)[:2] == (400, {"error": message, "field": field})
    for body, message in [
        (b"[1]", 'the body of POST /_smpipe/reset must be a JSON object such as {"executions": true}, not an array'),
        (b'"yes"', 'the body of POST /_smpipe/reset must be a JSON object such as {"executions": true}, not a string'),
        (b"\xff", "the body of POST /_smpipe/reset is not valid UTF-8 (byte 0)"),
        (b"[" * 100_000, "the body of POST /_smpipe/reset is nested too deeply"),
        (b"{nope", "the body of POST /_smpipe/reset is not valid JSON: Expecting property name enclosed in double quotes (line 1 column 2)"),
    ]:
        assert admin(emulator, "POST", "/_smpipe/reset", body)[:2] == (400, {"error": message})
    assert any(e["arn"] == arn for e in emulator.state()["executions"])  # nothing was wiped
    assert admin(emulator, "POST", "/_smpipe/reset", b'{"executions": false}')[:2] == (200, {"ok": True})
    assert any(e["arn"] == arn for e in emulator.state()["executions"])
    assert admin(emulator, "POST", "/_smpipe/reset", b'{"executions": true}')[:2] == (200, {"ok": True})
    assert not any(e["arn"] == arn for e in emulator.state()["executions"])


def test_scenario_and_state_endpoints_refuse_bad_requests(emulator: Any) -> None:
    before = emulator.scenario.to_dict()
    assert admin(emulator, "POST", "/_smpipe/scenario", b"[" * 100_000)[:2] == (400, {"error": "the body of POST /_smpipe/scenario is nested too deeply"})
    assert admin(emulator, "POST", "/_smpipe/scenario", b'{"seed": "\xff"}')[:2] == (400, {"error": "the body of POST /_smpipe/scenario is not valid UTF-8 (byte 10)"})
    status, body, _ = admin(emulator, "POST", "/_smpipe/scenario", b"[1]")
    assert status == 400 and body["problems"] == ["$: expected a JSON object, got a list"]
    assert emulator.scenario.to_dict() == before
    assert admin(emulator, "GET", "/_smpipe/state?executon=x")[:2] == (400, {"error": "unknown query parameter 'executon' (allowed: execution, pipeline)", "field": "executon"})
    assert admin(emulator, "GET", "/_smpipe/state?pipeline=a&pipeline=b")[:2] == (400, {"error": "query parameter 'pipeline' is given 2 times (at most once)", "field": "pipeline"})
    assert admin(emulator, "GET", "/_smpipe/state?pipeline=%ff")[0] == 400
    status, body, headers = admin(emulator, "DELETE", "/_smpipe/reset")
    assert (status, body, headers["allow"]) == (405, {"error": "/_smpipe/reset does not take DELETE (allowed: POST)"}, "POST")
    assert admin(emulator, "PUT", "/_smpipe/scenario", b"{}")[0] == 405
    assert admin(emulator, "GET", "/_smpipe/nothing")[0] == 404
    assert admin(emulator, "POST", "/_smpipe/reset", b" " * (5 * 1024 * 1024))[0] == 413


# -- the internal header ----------------------------------------------------------------------------


def test_the_internal_header_without_the_token_is_an_ordinary_client(emulator: Any, emulator_scenario: Any) -> None:
    emulator_scenario({"throttle": {"operations": ["ListPipelines"], "fraction": 1.0}})
    for value in ("1", "true", "x" * 43, "", "\u00e9"):
        assert call(emulator, "SageMaker.ListPipelines", b"{}", **{"X-Smpipe-Internal": value.encode("utf-8").decode("latin-1")})[:2] == (400, "ThrottlingException")
    assert emulator.calls("ListPipelines") == 5 and emulator.state()["throttled"]["ListPipelines"] == 5


def test_the_engines_own_calls_still_pass_unthrottled_and_uncounted(emulator: Any, emulator_scenario: Any, pipelines: Pipelines) -> None:
    name = pipelines.create(definition_with([training_step("A")]), "internal")
    emulator_scenario({"throttle": {"operations": ["CreateTrainingJob", "DescribeTrainingJob"], "fraction": 1.0}})
    arn = pipelines.start(name)
    assert emulator.wait_for_execution(arn) == "Succeeded"
    assert "CreateTrainingJob" not in emulator.calls() and "CreateTrainingJob" not in emulator.state()["throttled"]
    token = emulator.app.gateway.internal_token
    assert len(token) >= 40 and token == emulator.app._internal_token  # what the engine sends is the server's secret
    assert call(emulator, "SageMaker.CreateTrainingJob", b"{}", **{"X-Smpipe-Internal": token})[:2] == (400, "ValidationException")  # honoured: not throttled
    assert "CreateTrainingJob" not in emulator.calls()


def test_each_server_has_its_own_token() -> None:
    from airflow_provider_smpipe.emulator import EmulatorServer

    with EmulatorServer() as first, EmulatorServer() as second:
        assert first.app._internal_token != second.app._internal_token
        status, _, _ = raw(second, "POST", "/", b"{}", {"Content-Type": JSON_11, "X-Amz-Target": "SageMaker.ListPipelines", "X-Smpipe-Internal": first.app._internal_token})
        assert status == 200 and second.calls("ListPipelines") == 1  # another server's token is not this one's
