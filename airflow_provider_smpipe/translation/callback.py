"""The request side of a translated Callback step (the waiting side is ``CallbackReplyTrigger``)."""

from __future__ import annotations

import hashlib
import json
import string
from typing import Any

from airflow_provider_smpipe.definition.model import Step
from airflow_provider_smpipe.translation.runtime import StepRun

_ALPHABET = string.ascii_letters + string.digits


def callback_token(execution_id: str, step_name: str, try_number: int) -> str:
    """Ten alphanumeric characters, like the service's tokens; stable per run, step and try."""
    number = int(hashlib.sha256(f"{execution_id}\0{step_name}\0{try_number}".encode()).hexdigest(), 16)
    chars = []
    for _ in range(10):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def reply_queue_for(queue_url: str, configured: str | None) -> str:
    return configured or f"{queue_url.rstrip('/')}-replies"


def send_callback_request(run: StepRun, step: Step, queue_url: str, arguments: dict[str, Any], reply_queue_url: str | None) -> tuple[str, str]:
    """Send the service-shaped callback message plus where to reply; returns (token, reply queue)."""
    token = callback_token(run.execution_id, run.child, int(run.ti.try_number))
    reply_queue = reply_queue_for(queue_url, reply_queue_url)
    body = {
        "token": token,
        "pipelineExecutionArn": run.execution["PipelineExecutionArn"],
        "arguments": arguments,
        "status": "Executing",
        "smpipeReplyQueueUrl": reply_queue,
        "smpipeStep": step.name,
        "airflowRunId": run.run_id,
    }
    run.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps(body, default=str))
    return token, reply_queue
