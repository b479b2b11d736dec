"""The emulator's EventBridge events: every execution and step status change (and a registered model
package) is put on moto's default bus in SageMaker's shape, and a rule with an SQS target delivers
it, as on AWS. Everything goes through the emulator's HTTP endpoint with boto3 clients."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from itertools import count
from types import SimpleNamespace
from typing import Any

import pytest
from emulator_helpers import Pipelines, definition_with, training_step, unique, wait_for

from airflow_provider_smpipe.emulator import Scenario, ScenarioError
from airflow_provider_smpipe.emulator.events import EventPublisher, event_metadata, lower_camel
from airflow_provider_smpipe.events.rule import event_pattern
from airflow_provider_smpipe.events.shapes import (
    ALL_DETAIL_TYPES,
    EXECUTION_STATUS_CHANGE,
    MODEL_PACKAGE_STATE_CHANGE,
    PIPELINE_DETAIL_TYPES,
    SOURCE,
    STEP_STATUS_CHANGE,
    PipelineEvent,
    parse_message,
)

FAST = {"default_step_seconds": 0.02, "time_scale": 0.001}
_rules = count(1)


class EventQueue:
    """An SQS queue that an EventBridge rule on the default bus (``pattern``) delivers to."""

    def __init__(self, emulator: Any, pattern: dict[str, Any]) -> None:
        self.emulator = emulator
        self.sqs = emulator.client("sqs")
        self.events = emulator.client("events")
        self.name = unique("events")
        self.url = self.sqs.create_queue(QueueName=self.name)["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.rule = f"smpipe-test-{next(_rules)}-{self.name}"
        self.events.put_rule(Name=self.rule, EventPattern=json.dumps(pattern), State="ENABLED")
        self.events.put_targets(Rule=self.rule, Targets=[{"Id": "queue", "Arn": queue_arn}])

    def close(self) -> None:
        self.events.remove_targets(Rule=self.rule, Ids=["queue"])
        self.events.delete_rule(Name=self.rule)
        self.sqs.delete_queue(QueueUrl=self.url)

    def receive(self, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Every message delivered so far (JSON bodies, in delivery order), once the publisher has
        published every event reported so far (moto delivers during PutEvents)."""
        assert self.emulator.engine.events.flush(timeout), "the emulator did not publish its events in time"
        bodies: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                parse_message(message["Body"])  # every delivered body is one of the events the readers understand
                bodies.append(json.loads(message["Body"]))
        pytest.fail(f"queue {self.name} kept delivering for {timeout} s")


@pytest.fixture
def pipeline_events(emulator: Any) -> Iterator[EventQueue]:
    queue = EventQueue(emulator, event_pattern(detail_types=PIPELINE_DETAIL_TYPES))
    yield queue
    queue.close()


def of_execution(bodies: list[dict[str, Any]], arn: str) -> list[dict[str, Any]]:
    return [b for b in bodies if arn in b["resources"] or (b["detail"].get("MetadataProperties") or {}).get("GeneratedBy") == arn]


def execution_changes(bodies: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [
        (b["detail"].get("previousPipelineExecutionStatus"), b["detail"]["currentPipelineExecutionStatus"])
        for b in bodies
        if b["detail-type"] == EXECUTION_STATUS_CHANGE
    ]


def step_changes(bodies: list[dict[str, Any]]) -> dict[str, list[tuple[str | None, str]]]:
    out: dict[str, list[tuple[str | None, str]]] = {}
    for body in bodies:
        if body["detail-type"] == STEP_STATUS_CHANGE:
            detail = body["detail"]
            out.setdefault(detail["stepName"], []).append((detail.get("previousStepStatus"), detail["currentStepStatus"]))
    return out


def iso(moment: datetime) -> str:
    """A boto3 timestamp as EventBridge writes times."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def two_steps() -> dict[str, Any]:
    return definition_with([training_step("Prepare"), training_step("Train", depends_on=["Prepare"])])


RAN = [(None, "Starting"), ("Starting", "Executing"), ("Executing", "Succeeded")]


def test_a_succeeding_execution_sends_every_change_in_order(pipelines: Pipelines, emulator_scenario: Any, pipeline_events: EventQueue, sm: Any) -> None:
    emulator_scenario(FAST)
    name = pipelines.create(two_steps(), "evok")
    arn = pipelines.run(name, PipelineExecutionDisplayName="nightly", PipelineExecutionDescription="events test")
    bodies = of_execution(pipeline_events.receive(), arn)
    pipeline_arn = arn.split("/execution/", 1)[0]
    rows = pipelines.steps(arn)

    # Execution events first and last, steps in between, in the order things happened.
    assert execution_changes(bodies) == [(None, "Executing"), ("Executing", "Succeeded")]
    assert bodies[0]["detail-type"] == EXECUTION_STATUS_CHANGE and bodies[-1]["detail-type"] == EXECUTION_STATUS_CHANGE
    assert step_changes(bodies) == {"Prepare": RAN, "Train": RAN}
    names = [b["detail"]["stepName"] for b in bodies if b["detail-type"] == STEP_STATUS_CHANGE]
    assert names == ["Prepare"] * 3 + ["Train"] * 3  # Train depends on Prepare

    # The envelope and the details, as the developer guide shows them.
    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    for body in bodies:
        assert (body["source"], body["version"], body["region"]) == (SOURCE, "0", "us-east-1")
        assert "account" not in body  # moto's delivery leaves it out (its default target template lacks it)
        assert body["resources"] == [pipeline_arn, arn]
        assert body["time"].endswith("Z") and len(body["time"]) == 20
    started, finished = bodies[0]["detail"], bodies[-1]["detail"]
    assert started == {
        "pipelineArn": pipeline_arn,
        "pipelineExecutionArn": arn,
        "pipelineExecutionDisplayName": "nightly",
        "pipelineExecutionDescription": "events test",
        "currentPipelineExecutionStatus": "Executing",
        "executionStartTime": iso(described["CreationTime"]),
    }
    assert finished["executionEndTime"] == iso(described["LastModifiedTime"])
    train = [b["detail"] for b in bodies if b["detail-type"] == STEP_STATUS_CHANGE and b["detail"]["stepName"] == "Train"]
    assert {d["stepType"] for d in train} == {"Training"}
    assert "stepEndTime" not in train[0] and "stepEndTime" not in train[1]
    assert train[2]["stepStartTime"] == iso(rows["Train"]["StartTime"])
    assert train[2]["stepEndTime"] == iso(rows["Train"]["EndTime"])
    assert train[2]["metadata"] == {"trainingJob": {"arn": rows["Train"]["Metadata"]["TrainingJob"]["Arn"]}}
    assert "failureReason" not in train[2] and "cacheHitResult" not in train[2]

    # The readers' view of the same messages.
    events = [parse_message(json.dumps(b)) for b in bodies]
    assert [e.kind for e in events].count("execution") == 2
    last: PipelineEvent = events[-1]
    assert (last.status, last.previous_status, last.pipeline_name, last.execution_arn) == ("Succeeded", "Executing", name, arn)


def test_a_failing_step_sends_its_reason_and_the_execution_fails(pipelines: Pipelines, emulator_scenario: Any, pipeline_events: EventQueue) -> None:
    emulator_scenario({**FAST, "steps": {"Prepare": {"fail": {"reason": "AlgorithmError: out of memory"}}}})
    arn = pipelines.run(pipelines.create(two_steps(), "evfail"))
    bodies = of_execution(pipeline_events.receive(), arn)
    assert execution_changes(bodies) == [(None, "Executing"), ("Executing", "Failed")]
    assert step_changes(bodies) == {"Prepare": [(None, "Starting"), ("Starting", "Executing"), ("Executing", "Failed")]}  # Train never started
    failed = parse_message(json.dumps(next(b for b in bodies if b["detail"].get("currentStepStatus") == "Failed")))
    assert (failed.kind, failed.step_name, failed.step_type, failed.failure_reason) == ("step", "Prepare", "Training", "AlgorithmError: out of memory")
    assert "stepEndTime" in failed.detail


def test_retry_and_stop_are_status_changes_too(pipelines: Pipelines, emulator_scenario: Any, pipeline_events: EventQueue, sm: Any) -> None:
    emulator_scenario({**FAST, "steps": {"Prepare": {"fail": {"reason": "capacity", "attempts": [1]}}}})
    arn = pipelines.run(pipelines.create(two_steps(), "evretry"))
    sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="retry-" + "1" * 32)
    pipelines.wait(arn)
    bodies = of_execution(pipeline_events.receive(), arn)
    assert execution_changes(bodies) == [(None, "Executing"), ("Executing", "Failed"), ("Failed", "Executing"), ("Executing", "Succeeded")]
    # The failed attempt's row is replaced by a new one: its events start over.
    assert step_changes(bodies)["Prepare"] == [(None, "Starting"), ("Starting", "Executing"), ("Executing", "Failed"), *RAN]

    emulator_scenario({**FAST, "steps": {"Prepare": {"seconds": 30}}})
    arn = pipelines.start(pipelines.create(two_steps(), "evstop"))
    wait_for(lambda: pipelines.step_state(arn).get("Prepare", {}).get("status") == "Executing", what="Prepare executing")
    sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="stop-" + "1" * 32)
    pipelines.wait(arn)
    bodies = of_execution(pipeline_events.receive(), arn)
    assert execution_changes(bodies) == [(None, "Executing"), ("Executing", "Stopping"), ("Stopping", "Stopped")]
    assert step_changes(bodies)["Prepare"][-2:] == [("Executing", "Stopping"), ("Stopping", "Stopped")]


def test_for_each_children_send_their_own_step_events(pipelines: Pipelines, emulator_scenario: Any, pipeline_events: EventQueue) -> None:
    emulator_scenario(FAST)
    body = training_step("Train")
    for_each = {"Name": "Sweep", "Type": "ForEach", "Arguments": {"IterableItems": ["a", "b"], "MaxConcurrency": 2, "ForEachBody": [body]}}
    arn = pipelines.run(pipelines.create(definition_with([for_each]), "evforeach"))
    changes = step_changes(of_execution(pipeline_events.receive(), arn))
    assert changes == {"Sweep": RAN, "Train-0": RAN, "Train-1": RAN}


def test_a_cache_hit_says_so(pipelines: Pipelines, emulator_scenario: Any, pipeline_events: EventQueue) -> None:
    emulator_scenario(FAST)
    step = training_step("Cached", output="s3://emu-bucket/cached-output", CacheConfig={"Enabled": True, "ExpireAfter": "PT1H"})
    name = pipelines.create(definition_with([step]), "evcache")
    first = pipelines.run(name)
    second = pipelines.run(name)
    bodies = of_execution(pipeline_events.receive(), second)
    succeeded = next(b["detail"] for b in bodies if b["detail"].get("currentStepStatus") == "Succeeded")
    assert succeeded["cacheHitResult"] == {"sourcePipelineExecutionArn": first}
    assert "trainingJob" in succeeded["metadata"]


def test_duplicate_events_delivers_every_change_twice_with_distinct_ids(pipelines: Pipelines, emulator_scenario: Any, pipeline_events: EventQueue) -> None:
    emulator_scenario({**FAST, "duplicate_events": True})
    arn = pipelines.run(pipelines.create(definition_with([training_step("Only")]), "evdup"))
    events = [parse_message(json.dumps(b)) for b in of_execution(pipeline_events.receive(), arn)]
    assert len(events) == 2 * (2 + 3)  # Executing, Succeeded; Starting, Executing, Succeeded
    assert len({e.event_id for e in events}) == len(events)
    keys = [e.dedup_key() for e in events]
    assert all(keys.count(key) == 2 for key in keys)
    assert [e.status for e in events[::2]] == [e.status for e in events[1::2]]  # each copy right after its original


def test_a_rule_on_other_pipelines_delivers_nothing_and_events_can_be_turned_off(pipelines: Pipelines, emulator_scenario: Any, emulator: Any) -> None:
    emulator_scenario(FAST)
    watched = pipelines.create(definition_with([training_step("Only")]), "evwatched")
    other = pipelines.create(definition_with([training_step("Only")]), "evother")
    pipeline_arn = emulator.client("sagemaker").describe_pipeline(PipelineName=watched)["PipelineArn"]
    queue = EventQueue(emulator, event_pattern(pipeline_arns=[pipeline_arn]))
    try:
        watched_arn = pipelines.run(watched)
        other_arn = pipelines.run(other)
        bodies = queue.receive()
        assert of_execution(bodies, other_arn) == []
        assert len(of_execution(bodies, watched_arn)) == 5
        assert {b["resources"][0] for b in bodies} == {pipeline_arn}

        emulator_scenario({**FAST, "events": False})
        silent = pipelines.run(watched)
        assert of_execution(queue.receive(), silent) == []
    finally:
        queue.close()


def test_register_model_sends_the_model_package_event(pipelines: Pipelines, emulator_scenario: Any, emulator: Any) -> None:
    emulator_scenario(FAST)
    group = unique("evgroup")
    register = {
        "Name": "Register",
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": group,
            "InferenceSpecification": {
                "Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", "ModelDataUrl": "s3://emu-bucket/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            "ModelApprovalStatus": "PendingManualApproval",
        },
    }
    queue = EventQueue(emulator, event_pattern(detail_types=ALL_DETAIL_TYPES))
    try:
        arn = pipelines.run(pipelines.create(definition_with([register]), "evregister"))
        bodies = of_execution(queue.receive(), arn)
    finally:
        queue.close()
    package_arn = pipelines.steps(arn)["Register"]["Metadata"]["RegisterModel"]["Arn"]
    (package,) = [b for b in bodies if b["detail-type"] == MODEL_PACKAGE_STATE_CHANGE]
    assert package["resources"] == [package_arn]
    detail = package["detail"]
    assert (detail["ModelPackageGroupName"], detail["ModelPackageVersion"], detail["ModelPackageArn"]) == (group, 1, package_arn)
    assert (detail["ModelApprovalStatus"], detail["ModelPackageStatus"]) == ("PendingManualApproval", "Completed")
    assert detail["MetadataProperties"] == {"GeneratedBy": arn}
    assert detail["CreationTime"].endswith("Z")
    event = parse_message(json.dumps(package))
    assert (event.kind, event.status, event.model_package_group, event.execution_arn, event.pipeline_name) == (
        "model_package", "PendingManualApproval", group, arn, arn.split(":pipeline/", 1)[1].split("/", 1)[0],
    )
    # The package itself names the execution, as the service's does.
    described = emulator.client("sagemaker").describe_model_package(ModelPackageName=package_arn)
    assert described["MetadataProperties"]["GeneratedBy"] == arn
    # Its step event comes after the package's.
    types = [b["detail-type"] for b in bodies]
    assert types.index(MODEL_PACKAGE_STATE_CHANGE) < max(i for i, b in enumerate(bodies) if b["detail"].get("currentStepStatus") == "Succeeded")


def test_metadata_keys_are_lower_camel_case() -> None:
    assert [lower_camel(k) for k in ("TrainingJob", "Arn", "EMR", "EMRServerless", "AutoMLJob", "ForEach", "")] == [
        "trainingJob", "arn", "emr", "emrServerless", "autoMLJob", "forEach", "",
    ]  # fmt: skip
    assert event_metadata({"ProcessingJob": {"Arn": "x"}, "Condition": {"Outcome": "True"}}) == {
        "processingJob": {"arn": "x"}, "condition": {"outcome": "True"},
    }  # fmt: skip
    assert event_metadata(None) == {}


def test_the_scenario_switches_are_checked() -> None:
    scenario = Scenario.from_dict({"duplicate_events": True, "events": False})
    assert (scenario.duplicate_events, scenario.events) == (True, False)
    assert Scenario.from_dict(scenario.to_dict()) == scenario
    assert (Scenario().events, Scenario().duplicate_events) == (True, False)
    with pytest.raises(ScenarioError) as raised:
        Scenario.from_dict({"duplicate_events": "yes", "events": 1})
    assert raised.value.problems == ["$.events: expected true or false, got a number", "$.duplicate_events: expected true or false, got a string"]



def test_a_publishing_failure_is_logged_never_raised_and_close_stops_the_thread(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.events.models import EventsBackend

    def down(self: Any, events: Any) -> Any:
        raise ConnectionError("the endpoint is down")

    monkeypatch.setattr(EventsBackend, "put_events", down)  # moto's EventBridge failing: the publisher calls it in-process
    publisher = EventPublisher(None)  # type: ignore[arg-type]
    pipeline_arn = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p"
    execution: Any = SimpleNamespace(
        scenario=Scenario(duplicate_events=True), account="123456789012", region="us-east-1", pipeline_arn=pipeline_arn,
        arn=f"{pipeline_arn}/execution/x", display_name="d", description=None, created=0.0, last_modified=1.0,
    )
    with caplog.at_level(logging.WARNING, logger="airflow_provider_smpipe.emulator.events"):
        publisher.execution_status(execution, None, "Executing")  # does not raise
        assert publisher.flush(5)
    assert publisher.state() == {"queued": 0, "published": 0, "failed": 2}
    assert "the endpoint is down" in caplog.text
    thread = publisher._thread
    publisher.close()
    assert thread is not None and not thread.is_alive()
    publisher.execution_status(execution, "Executing", "Succeeded")  # a later report starts a new thread
    assert publisher.flush(5) and publisher.state()["failed"] == 4
    publisher.close()
