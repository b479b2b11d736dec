"""Answer a pipeline Callback step from an Airflow task.

A Callback step sends ``{"token", "pipelineExecutionArn", "arguments", "status"}`` to its SQS queue
and waits until someone calls ``SendPipelineExecutionStepSuccess`` (with output parameters) or
``...Failure`` with that token. This operator is that someone: it receives the message, lets a
callable and/or templated values produce the outputs, answers, and deletes the message.

It answers translated pipelines too: their requests name a reply queue (``smpipeReplyQueueUrl``),
and the answer is sent there as ``{"token", "status", "outputParameters", "failureReason"}``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from airflow.providers.amazon.aws.hooks.sqs import SqsHook
from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook, wire_value

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The user's callable: (callback message as a dict, task context) -> output parameters (or None).
OutputCallable = Callable[[dict[str, Any], "Context"], Mapping[str, Any] | None]


class CallbackStepFailed(AirflowException):
    """The task answered the Callback step with a failure (the callable raised, or ``fail=True``)."""


class SageMakerPipelineCallbackOperator(AwsBaseOperator[SageMakerPipelineHook]):
    """Receive a Callback step's SQS message and answer it.

    :param queue_url: the Callback step's ``SqsQueueUrl`` (templated).
    :param execution_arn: answer only messages of this execution (templated; e.g. from the start
        task's XCom). Messages of other executions are left on the queue for others.
    :param output_parameters: output parameters to send (templated); values are sent as strings.
    :param output_callable: ``f(message, context) -> {name: value}`` computed from the message
        (``message["arguments"]`` holds the step's resolved arguments); merged over
        ``output_parameters``. If it raises, the step is answered with a failure naming the error and
        the task fails.
    :param fail: answer with a failure instead of success.
    :param failure_reason: the reason sent with a failure (templated; at most 256 characters).
    :param wait_timeout: seconds to wait for a message before failing the task.
    """

    aws_hook_class = SageMakerPipelineHook
    template_fields: Sequence[str] = aws_template_fields("queue_url", "execution_arn", "output_parameters", "failure_reason")
    template_fields_renderers = {"output_parameters": "json"}

    def __init__(
        self,
        *,
        queue_url: str,
        execution_arn: str | None = None,
        output_parameters: Mapping[str, Any] | None = None,
        output_callable: OutputCallable | None = None,
        fail: bool = False,
        failure_reason: str | None = None,
        wait_timeout: float = 300.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.queue_url = queue_url
        self.execution_arn = execution_arn
        self.output_parameters = output_parameters
        self.output_callable = output_callable
        self.fail = fail
        self.failure_reason = failure_reason
        self.wait_timeout = wait_timeout
        self._reply_queue: str | None = None
        self._sqs: Any = None

    def execute(self, context: Context) -> dict[str, Any]:
        self._sqs = sqs = SqsHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify).conn
        deadline = time.monotonic() + self.wait_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AirflowException(
                    f"no Callback message{' for ' + self.execution_arn if self.execution_arn else ''} arrived on {self.queue_url} within {self.wait_timeout:.0f}s"
                )
            response = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=int(max(1, min(20, remaining))))
            for message in response.get("Messages", []):
                body = self._parse(message)
                if body is None or (self.execution_arn and body.get("pipelineExecutionArn") != self.execution_arn):
                    sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
                    continue
                result = self._answer(body, context)
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                if result["answer"] != "success":
                    raise CallbackStepFailed(f"answered Callback of {body.get('pipelineExecutionArn')} with failure: {result['failure_reason']}")
                return result

    def _parse(self, message: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            body = json.loads(message.get("Body", ""))
        except json.JSONDecodeError:
            self.log.warning("Ignoring a message that is not JSON on %s", self.queue_url)
            return None
        if not isinstance(body, dict) or not isinstance(body.get("token"), str):
            self.log.warning("Ignoring a message without a callback token on %s", self.queue_url)
            return None
        return body

    def _answer(self, body: dict[str, Any], context: Context) -> dict[str, Any]:
        token, arn = body["token"], body.get("pipelineExecutionArn")
        result: dict[str, Any] = {"callback_token": token, "execution_arn": arn, "arguments": body.get("arguments", {})}
        self.log.info("Callback for %s (arguments: %s)", arn, ", ".join(sorted(result["arguments"])) or "none")
        self._reply_queue = body.get("smpipeReplyQueueUrl")
        if body.get("status") == "Stopping":
            reason = "the pipeline execution is being stopped"
            self._send_failure(token, reason)
            raise AirflowFailException(f"{arn} is being stopped; answered its Callback step with a failure")
        if self.fail:
            reason = self.failure_reason or "rejected by Airflow task"
            self._send_failure(token, reason)
            return {**result, "answer": "failure", "failure_reason": reason}
        outputs = dict(self.output_parameters or {})
        if self.output_callable is not None:
            try:
                outputs.update(self.output_callable(body, context) or {})
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                self._send_failure(token, reason)
                return {**result, "answer": "failure", "failure_reason": reason}
        try:
            if self._reply_queue:
                self._reply(token, "Success", outputs=outputs)
            else:
                self.hook.send_step_success(token, outputs)
        except ClientError as exc:
            raise AirflowException(f"answering the Callback of {arn} failed: {exc}") from exc
        return {**result, "answer": "success", "output_parameters": {k: wire_value(v) for k, v in outputs.items()}}

    def _send_failure(self, token: str, reason: str) -> None:
        if self._reply_queue:
            self._reply(token, "Failure", reason=reason)
        else:
            self.hook.send_step_failure(token, reason)

    def _reply(self, token: str, status: str, *, outputs: Mapping[str, Any] | None = None, reason: str | None = None) -> None:
        """Answer a Callback step of a *translated* pipeline (Airflow is the orchestrator, there is no
        service execution): the answer goes to the reply queue named in the request."""
        body: dict[str, Any] = {"token": token, "status": status}
        if outputs is not None:
            body["outputParameters"] = [{"Name": str(k), "Value": wire_value(v)} for k, v in outputs.items()]
        if reason is not None:
            body["failureReason"] = reason[:256]
        self._sqs.send_message(QueueUrl=self._reply_queue, MessageBody=json.dumps(body))
