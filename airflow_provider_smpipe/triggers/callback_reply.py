"""``CallbackReplyTrigger``: wait for the answer to a translated Callback step on its reply queue.

In translation mode there is no pipeline execution to send ``SendPipelineExecutionStepSuccess`` to,
so the answer is an SQS message ``{"token", "status": "Success" | "Failure", "outputParameters":
[{"Name", "Value"}], "failureReason"}`` on the reply queue named in the request
(``smpipeReplyQueueUrl``). ``SageMakerPipelineCallbackOperator`` answers this way automatically.
Messages for other tokens are made visible again at once for their own waiters.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_smpipe.triggers.pipeline_execution import MAX_BACKOFF_SECONDS, _retriable
from airflow_provider_smpipe.triggers.base import AwsTrigger


class CallbackReplyTrigger(AwsTrigger):
    """Wait for the reply carrying ``token`` on ``queue_url``.

    :param queue_url: the reply queue.
    :param token: the callback token of the request.
    :param echo: returned unchanged in the event.
    :param poll_interval: seconds of SQS long polling per receive (at most 20).
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region.
    :param verify: TLS verification.
    :param botocore_config: botocore ``Config`` keyword arguments.
    """

    own_fields = ("queue_url", "token", "echo", "poll_interval")

    def __init__(self, *, queue_url: str, token: str, echo: dict[str, Any] | None = None, poll_interval: float = 20.0, **aws: Any) -> None:
        super().__init__(**aws)
        self.queue_url = queue_url
        self.token = token
        self.echo = echo
        self.poll_interval = float(poll_interval)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        failures = 0
        async with self.client("sqs") as sqs:
            while True:
                try:
                    wait = int(max(0, min(20, self.poll_interval)))
                    response = await sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
                    failures = 0
                except Exception as exc:  # noqa: BLE001
                    if not _retriable(exc):
                        yield TriggerEvent({"status": "error", "message": f"cannot read {self.queue_url}: {exc}", "echo": self.echo})
                        return
                    failures += 1
                    await asyncio.sleep(min(self.poll_interval * 2 ** min(failures, 10), MAX_BACKOFF_SECONDS))
                    continue
                for message in response.get("Messages", []):
                    reply = _parse(message.get("Body", ""))
                    if reply is None or reply.get("token") != self.token:
                        await sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
                        continue
                    await sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                    success = str(reply.get("status", "")).lower() == "success"
                    yield TriggerEvent(
                        {
                            "status": "success" if success else "failure",
                            "output_parameters": reply.get("outputParameters") or [],
                            "failure_reason": reply.get("failureReason"),
                            "echo": self.echo,
                        }
                    )
                    return
                if wait == 0:
                    await asyncio.sleep(self.poll_interval)


def _parse(body: str) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
