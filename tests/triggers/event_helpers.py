"""SageMaker-shaped events put straight on an SQS queue of the emulator, for the event triggers' tests
(the emulator's own publishing through EventBridge rules is tested in tests/emulator/test_events.py
and used by the wait tests)."""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_smpipe.events.shapes import (
    EXECUTION_STATUS_CHANGE,
    STEP_STATUS_CHANGE,
    envelope,
    execution_status_detail,
    step_status_detail,
)
from native_helpers import unique

ACCOUNT = "123456789012"
REGION = "us-east-1"


def new_queue(emulator: Any) -> tuple[Any, str]:
    sqs = emulator.client("sqs")
    return sqs, sqs.create_queue(QueueName=unique("events"))["QueueUrl"]


def pipeline_arn(pipeline: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{pipeline.lower()}"


def execution_event(pipeline: str, execution_id: str, status: str, previous: str | None = "Executing") -> str:
    arn = pipeline_arn(pipeline)
    detail = execution_status_detail(
        pipeline_arn=arn, execution_arn=f"{arn}/execution/{execution_id}", status=status, previous_status=previous,
        display_name="d", description=None, start_time=1_700_000_000, end_time=1_700_000_060,
    )  # fmt: skip
    return json.dumps(envelope(EXECUTION_STATUS_CHANGE, detail, account=ACCOUNT, region=REGION, resources=[arn], at=1_700_000_061))


def step_event(pipeline: str, execution_id: str, step: str, status: str, reason: str | None = None) -> str:
    arn = pipeline_arn(pipeline)
    detail = step_status_detail(
        pipeline_arn=arn, execution_arn=f"{arn}/execution/{execution_id}", step_name=step, step_type="Training", status=status,
        previous_status="Executing", start_time=1_700_000_000, end_time=1_700_000_050, failure_reason=reason,
    )  # fmt: skip
    return json.dumps(envelope(STEP_STATUS_CHANGE, detail, account=ACCOUNT, region=REGION, resources=[arn], at=1_700_000_051))


def send(sqs: Any, queue_url: str, *bodies: str) -> None:
    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)


def messages_left(sqs: Any, queue_url: str) -> int:
    """Visible plus in-flight (received, not deleted) messages."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
