"""``events/setup.py`` against the session emulator: the queue, its policy, the rule and its target
are read back; a second run changes nothing; SageMaker-shaped events reach the queue (only the
chosen pipelines'); the hook method goes through the Airflow connection."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from airflow_provider_smpipe.events.rule import POLICY_SID, event_pattern, merged_queue_policy, queue_policy
from airflow_provider_smpipe.events.setup import (
    TARGET_ID,
    EventSetupError,
    asset_watcher_snippet,
    default_rule_name,
    setup_event_queue,
)
from airflow_provider_smpipe.events.shapes import EXECUTION_STATUS_CHANGE, envelope, execution_status_detail

ACCOUNT, REGION = "123456789012", "us-east-1"
DEFINITION = {"Version": "2020-12-01", "Steps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}]}
WRITES = {"CreateQueue", "SetQueueAttributes", "PutRule", "PutTargets"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def clients(emulator: Any) -> dict[str, Any]:
    return {name: emulator.client(name) for name in ("sqs", "events", "sagemaker")}


def record_calls(*clients: Any) -> list[str]:
    """The operation names the clients call from now on."""
    calls: list[str] = []
    for client in clients:
        client.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    return calls


def create_pipeline(sm: Any, name: str) -> str:
    return str(sm.create_pipeline(PipelineName=name, PipelineDefinition=json.dumps(DEFINITION), RoleArn=f"arn:aws:iam::{ACCOUNT}:role/r")["PipelineArn"])


def put_execution_event(events: Any, pipeline_arn: str, status: str = "Succeeded") -> str:
    """PutEvents of the event SageMaker sends when an execution of ``pipeline_arn`` changes status."""
    now = time.time()
    execution_arn = f"{pipeline_arn}/execution/{uuid.uuid4().hex[:12]}"
    detail = execution_status_detail(
        pipeline_arn=pipeline_arn, execution_arn=execution_arn, status=status, previous_status="Executing",
        display_name=None, description=None, start_time=now - 5, end_time=now,
    )
    event = envelope(EXECUTION_STATUS_CHANGE, detail, account=ACCOUNT, region=REGION, resources=[pipeline_arn, execution_arn], at=now)
    answer = events.put_events(Entries=[{"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(detail), "Resources": event["resources"]}])
    assert answer["FailedEntryCount"] == 0, answer
    return execution_arn


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_setup_creates_the_queue_its_policy_the_rule_and_the_target(clients: dict[str, Any]) -> None:
    sqs, events, sm = clients["sqs"], clients["events"], clients["sagemaker"]
    name, queue = unique("Evt-Pipe"), unique("events")
    described_arn = create_pipeline(sm, name)
    result = setup_event_queue(sqs_client=sqs, events_client=events, sagemaker_client=sm, queue_name=queue, pipeline_names=[name])

    assert result["rule_name"] == f"smpipe-{queue}"
    assert result["queue_arn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"
    assert result["queue_url"] == sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    # DescribePipeline's ARN is the one events carry (moto keeps the name's case; SageMaker lower-cases it)
    assert result["pipeline_arns"] == [described_arn] and result["notes"] == []
    assert result["event_pattern"] == event_pattern(pipeline_arns=[described_arn])
    assert len(result["changes"]) == 4, result["changes"]  # queue, rule, policy, target

    attributes = sqs.get_queue_attributes(QueueUrl=result["queue_url"], AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["Policy"]) == json.loads(queue_policy(queue_arn=result["queue_arn"], rule_arn=result["rule_arn"]))
    assert "FifoQueue" not in attributes or attributes["FifoQueue"] == "false"
    rule = events.describe_rule(Name=result["rule_name"])
    assert rule["Arn"] == result["rule_arn"] and rule["State"] == "ENABLED"
    assert json.loads(rule["EventPattern"]) == result["event_pattern"]
    assert events.list_targets_by_rule(Rule=result["rule_name"])["Targets"] == [{"Id": TARGET_ID, "Arn": result["queue_arn"]}]


def test_a_second_run_only_reads(clients: dict[str, Any]) -> None:
    sqs, events, sm = clients["sqs"], clients["events"], clients["sagemaker"]
    name, queue = unique("again"), unique("events")
    create_pipeline(sm, name)
    kwargs = {"sqs_client": sqs, "events_client": events, "sagemaker_client": sm, "queue_name": queue, "pipeline_names": [name], "retention_seconds": 3600}
    first = setup_event_queue(**kwargs)
    policy = sqs.get_queue_attributes(QueueUrl=first["queue_url"], AttributeNames=["Policy"])["Attributes"]["Policy"]
    calls = record_calls(sqs, events, sm)
    second = setup_event_queue(**kwargs)

    assert second["changes"] == []
    assert {k: v for k, v in second.items() if k != "changes"} == {k: v for k, v in first.items() if k != "changes"}
    assert calls and not WRITES & set(calls), calls
    assert sqs.get_queue_attributes(QueueUrl=first["queue_url"], AttributeNames=["Policy"])["Attributes"]["Policy"] == policy
    assert len(events.list_targets_by_rule(Rule=first["rule_name"])["Targets"]) == 1


def test_events_of_the_chosen_pipeline_reach_the_queue_and_others_do_not(clients: dict[str, Any]) -> None:
    sqs, events, sm = clients["sqs"], clients["events"], clients["sagemaker"]
    chosen, other = unique("chosen"), unique("other")
    chosen_arn, other_arn = create_pipeline(sm, chosen), create_pipeline(sm, other)
    result = setup_event_queue(sqs_client=sqs, events_client=events, sagemaker_client=sm, queue_name=unique("events"), pipeline_names=[chosen])

    wanted = put_execution_event(events, chosen_arn)
    put_execution_event(events, other_arn)
    bodies = drain(sqs, result["queue_url"])
    assert [b["detail"]["pipelineExecutionArn"] for b in bodies] == [wanted]
    assert bodies[0]["source"] == "aws.sagemaker" and bodies[0]["detail-type"] == EXECUTION_STATUS_CHANGE


def test_a_rule_for_execution_events_only_leaves_step_events_out(clients: dict[str, Any]) -> None:
    """What a queue that only feeds waits on whole executions wants (`--kind execution`)."""
    from airflow_provider_smpipe.events.shapes import STEP_STATUS_CHANGE, step_status_detail

    sqs, events, sm = clients["sqs"], clients["events"], clients["sagemaker"]
    name = unique("kinds")
    pipeline_arn = create_pipeline(sm, name)
    result = setup_event_queue(sqs_client=sqs, events_client=events, sagemaker_client=sm, queue_name=unique("events"), pipeline_names=[name], event_kinds=["execution"])
    assert result["event_pattern"]["detail-type"] == [EXECUTION_STATUS_CHANGE]
    wanted = put_execution_event(events, pipeline_arn)
    step = step_status_detail(
        pipeline_arn=pipeline_arn, execution_arn=wanted, step_name="Train", step_type="Training", status="Succeeded",
        previous_status="Executing", start_time=time.time() - 1, end_time=time.time(),
    )  # fmt: skip
    answer = events.put_events(Entries=[{"Source": "aws.sagemaker", "DetailType": STEP_STATUS_CHANGE, "Detail": json.dumps(step), "Resources": [pipeline_arn, wanted]}])
    assert answer["FailedEntryCount"] == 0
    assert [b["detail-type"] for b in drain(sqs, result["queue_url"])] == [EXECUTION_STATUS_CHANGE]


def test_without_pipelines_every_pipeline_s_events_arrive(clients: dict[str, Any]) -> None:
    sqs, events = clients["sqs"], clients["events"]
    result = setup_event_queue(sqs_client=sqs, events_client=events, queue_name=unique("events"))
    assert "resources" not in result["event_pattern"]
    sent = {put_execution_event(events, f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{unique(p)}") for p in ("a", "b")}
    # Other tests' rules may deliver too: this queue must hold (at least) both of ours.
    assert sent <= {b["detail"]["pipelineExecutionArn"] for b in drain(sqs, result["queue_url"])}


def test_a_pipeline_that_does_not_exist_yet_gets_the_arn_sagemaker_will_give_it(clients: dict[str, Any]) -> None:
    name = unique("Not-Yet")
    result = setup_event_queue(
        sqs_client=clients["sqs"], events_client=clients["events"], sagemaker_client=clients["sagemaker"], queue_name=unique("events"), pipeline_names=[name]
    )
    assert result["pipeline_arns"] == [f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{name.lower()}"]
    assert len(result["notes"]) == 1 and "does not exist yet" in result["notes"][0] and name in result["notes"][0]


def test_rerun_with_other_pipelines_updates_the_rule(clients: dict[str, Any]) -> None:
    sqs, events = clients["sqs"], clients["events"]
    queue = unique("events")
    setup_event_queue(sqs_client=sqs, events_client=events, queue_name=queue, pipeline_names=["first"])
    result = setup_event_queue(sqs_client=sqs, events_client=events, queue_name=queue, pipeline_names=["second"])
    assert result["changes"] == [f"updated EventBridge rule {result['rule_name']}"]
    assert json.loads(events.describe_rule(Name=result["rule_name"])["EventPattern"])["resources"] == [
        f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/second"
    ]
    given = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/Third"  # an ARN is used as it is
    third = setup_event_queue(sqs_client=sqs, events_client=events, queue_name=queue, pipeline_arns=[given], pipeline_names=["second"])
    assert third["event_pattern"]["resources"] == [given, f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/second"]


def test_two_rules_on_one_queue_may_both_send_and_foreign_statements_stay(clients: dict[str, Any]) -> None:
    sqs, events = clients["sqs"], clients["events"]
    queue = unique("shared")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    foreign = {"Sid": "Mine", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sqs:SendMessage", "Resource": arn}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Version": "2012-10-17", "Statement": [foreign]})})
    first = setup_event_queue(sqs_client=sqs, events_client=events, queue_name=queue, rule_name=unique("r1"))
    second = setup_event_queue(sqs_client=sqs, events_client=events, queue_name=queue, rule_name=unique("r2"))

    statements = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])["Statement"]
    assert statements[0] == foreign
    ours = [s for s in statements if s["Sid"] == POLICY_SID]
    assert len(ours) == 1 and ours[0]["Condition"]["ArnEquals"]["aws:SourceArn"] == [first["rule_arn"], second["rule_arn"]]


def test_merged_policy_is_stable() -> None:
    once = merged_queue_policy(None, queue_arn="arn:aws:sqs:r:1:q", rule_arn="arn:aws:events:r:1:rule/a")
    assert once == queue_policy(queue_arn="arn:aws:sqs:r:1:q", rule_arn="arn:aws:events:r:1:rule/a")
    assert merged_queue_policy(once, queue_arn="arn:aws:sqs:r:1:q", rule_arn="arn:aws:events:r:1:rule/a") == once
    with pytest.raises(ValueError):
        merged_queue_policy("[]", queue_arn="q", rule_arn="r")


@pytest.mark.parametrize("pattern", [None, {"source": ["aws.ec2"]}])
def test_a_rule_made_for_something_else_is_not_taken_over(clients: dict[str, Any], pattern: dict[str, Any] | None) -> None:
    events = clients["events"]
    rule = unique("foreign")
    if pattern is None:
        events.put_rule(Name=rule, ScheduleExpression="rate(5 minutes)")
    else:
        events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    before = events.describe_rule(Name=rule)
    with pytest.raises(EventSetupError, match=f"rule '{rule}' already exists and is not a SageMaker events rule"):
        setup_event_queue(sqs_client=clients["sqs"], events_client=events, queue_name=unique("events"), rule_name=rule)
    after = events.describe_rule(Name=rule)
    assert (after.get("EventPattern"), after.get("ScheduleExpression")) == (before.get("EventPattern"), before.get("ScheduleExpression"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"queue_name": "bad name!"}, "queue name 'bad name!' is not valid: an SQS queue name is 1 to 80 characters"),
        ({"queue_name": "x" * 81}, "is not valid: an SQS queue name is 1 to 80"),
        ({"queue_name": ""}, "queue name '' is not valid"),
        ({"queue_name": "events.fifo"}, "FIFO queues are not supported"),
        ({"queue_name": "q", "rule_name": "a rule"}, "rule name 'a rule' is not valid: an EventBridge rule name is 1 to 64"),
        ({"queue_name": "q", "retention_seconds": 10}, "retention_seconds is 10: SQS accepts a whole number of seconds from 60 to 1209600"),
        ({"queue_name": "q", "visibility_timeout": -1}, "visibility_timeout is -1"),
        ({"queue_name": "q", "pipeline_names": ["a" * 257]}, "pipeline name 'aaa"),
        ({"queue_name": "q", "pipeline_arns": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/a"}, "pipeline_arns must be a list of pipeline ARNs"),
        ({"queue_name": "q", "pipeline_arns": ["abalone"]}, "pipeline_arns must be a list of pipeline ARNs"),
        ({"queue_name": "q", "event_kinds": ["executions"]}, "event_kinds must name some of execution, step, model_package; got"),
        ({"queue_name": "q", "event_kinds": []}, "event_kinds must name some of"),
    ],
)
def test_bad_arguments_are_refused_before_any_call(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(EventSetupError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        setup_event_queue(sqs_client=None, events_client=None, **kwargs)


@pytest.mark.parametrize("names", [["ok", "no_underscores"], "no_underscores"])
def test_a_bad_pipeline_name_is_refused_before_anything_is_created(clients: dict[str, Any], names: Any) -> None:
    queue = unique("events")
    with pytest.raises(EventSetupError, match="no_underscores"):
        setup_event_queue(sqs_client=clients["sqs"], events_client=clients["events"], queue_name=queue, pipeline_names=names)
    with pytest.raises(clients["sqs"].exceptions.QueueDoesNotExist):
        clients["sqs"].get_queue_url(QueueName=queue)


def test_default_rule_name_fits_and_is_stable() -> None:
    assert default_rule_name("q") == "smpipe-q"
    long = "q" * 80
    assert len(default_rule_name(long)) == 64 and default_rule_name(long) == default_rule_name(long)
    assert default_rule_name(long) != default_rule_name("q" * 79 + "r")


SNIPPET_RESULT = {"queue_url": "http://127.0.0.1:1/123456789012/q'x\n", "queue_arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q", "rule_name": "smpipe-q"}


@pytest.mark.parametrize("names", [["My-Pipe"], ["a", "b"], None])
def test_the_asset_watcher_snippet_is_python(names: list[str] | None) -> None:
    snippet = asset_watcher_snippet(SNIPPET_RESULT, names, statuses=["Succeeded", "Failed"])
    compile(snippet, "<snippet>", "exec")
    assert "from airflow.sdk import Asset, AssetWatcher, dag, task" in snippet
    assert "SageMakerPipelineEventTrigger(" in snippet and f"queue_url={json.dumps(SNIPPET_RESULT['queue_url'])}," in snippet
    assert f"pipeline_names={json.dumps(names)}," in snippet if names else "pipeline_names=None," in snippet
    assert 'statuses=["Succeeded", "Failed"]' in snippet and f'region_name="{REGION}"' in snippet


def test_the_snippet_builds_an_asset_and_a_dag_scheduled_on_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the snippet with Airflow. The trigger is the provider's when it exists, else a stand-in
    taking the arguments the snippet passes (AssetWatcher accepts event triggers only)."""
    import importlib
    import sys
    import types

    try:
        importlib.import_module("airflow_provider_smpipe.triggers.pipeline_event")
    except ImportError:
        from airflow.triggers.base import BaseEventTrigger

        class StandIn(BaseEventTrigger):
            def __init__(self, *, queue_url: str, pipeline_names: list[str] | None, statuses: list[str], event_kind: str, aws_conn_id: str, region_name: str) -> None:
                super().__init__()
                self.kwargs = {"queue_url": queue_url, "pipeline_names": pipeline_names, "statuses": statuses, "event_kind": event_kind}

            def serialize(self) -> tuple[str, dict[str, Any]]:
                return ("stand_in.StandIn", self.kwargs)

            async def run(self) -> Any:  # pragma: no cover - never run
                yield None

        module = types.ModuleType("airflow_provider_smpipe.triggers.pipeline_event")
        module.SageMakerPipelineEventTrigger = StandIn  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace: dict[str, Any] = {}
    exec(compile(asset_watcher_snippet(SNIPPET_RESULT, ["My-Pipe"]), "<snippet>", "exec"), namespace)
    asset = namespace["my_pipe_succeeded"]
    assert asset.name == "sagemaker-pipeline-my-pipe-succeeded" and len(asset.watchers) == 1
    assert asset.watchers[0].name == "sqs-q"
    assert asset.watchers[0].trigger.serialize()[1]["queue_url"] == SNIPPET_RESULT["queue_url"]


def test_the_hook_method_uses_the_airflow_connection(emulator: Any, clients: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook

    extra = {"endpoint_url": emulator.endpoint_url, "region_name": REGION}
    monkeypatch.setenv("AIRFLOW_CONN_SMPIPE_EVENTS", json.dumps({"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}))
    name, queue = unique("Hooked"), unique("events")
    described_arn = create_pipeline(clients["sagemaker"], name)
    hook = SageMakerPipelineHook(aws_conn_id="smpipe_events")
    result = hook.setup_event_queue(queue, pipeline_names=[name], visibility_timeout=120)
    assert result["pipeline_arns"] == [described_arn]
    attributes = clients["sqs"].get_queue_attributes(QueueUrl=result["queue_url"], AttributeNames=["VisibilityTimeout"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "120"
    assert hook.setup_event_queue(queue, pipeline_names=[name], visibility_timeout=120)["changes"] == []
