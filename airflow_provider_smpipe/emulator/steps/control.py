"""Steps without a job: Condition, Fail, Lambda and Callback."""

from __future__ import annotations

import logging
import time

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.definition.expressions import render_join_value
from airflow_provider_smpipe.definition.properties import normalize_properties
from airflow_provider_smpipe.emulator.errors import ConflictException, ResourceNotFound, ValidationException
from airflow_provider_smpipe.emulator.execution import TOKEN_ALPHABET, random_id
from airflow_provider_smpipe.emulator.gateway import json_safe
from airflow_provider_smpipe.emulator.jobs import wire_outputs
from airflow_provider_smpipe.emulator.steps.base import StepFailed, WorkerBase

log = logging.getLogger(__name__)


class ControlSteps(WorkerBase):
    def condition(self) -> None:
        self.set(status="Executing")
        self.sleep(self.seconds())
        try:
            outcome, resolved = self.resolver().evaluate_conditions(self.step)
        except DefinitionError as exc:
            raise StepFailed(f"ClientError: {exc}") from None
        with self.engine.lock:
            self.run.request = {"Conditions": json_safe(resolved)}
            self.run.properties = {"Outcome": outcome}
            self.run.metadata = {"Condition": {"Outcome": "True" if outcome else "False"}}
            self.run.finish("Succeeded")

    def fail_step(self) -> None:
        self.set(status="Executing")
        self.sleep(self.seconds())
        raw = self.step.arguments.get("ErrorMessage", "")
        try:
            value = self.resolver().resolve(raw, step=self.step, location=f"{self.step.location}.Arguments.ErrorMessage")
            message = value if isinstance(value, str) else render_join_value(value, step=self.step.name, location="ErrorMessage")
        except DefinitionError as exc:
            raise StepFailed(f"ClientError: {exc}") from None
        with self.engine.lock:
            self.run.request = {"ErrorMessage": message}
            self.run.metadata = {"Fail": {"ErrorMessage": message[:3072]}}
            self.run.finish("Failed", message or "Fail step")

    # -- Lambda --

    def lambda_step(self) -> None:
        arguments, fields = self.resolve(self.resolver())
        function_arn = str(fields.get("FunctionArn", ""))
        key = self.cache_key(arguments, fields)
        if self.cached(key):
            return
        self.set(status="Executing", request={"FunctionArn": function_arn, "Payload": json_safe(arguments)}, cache_key=key)
        # An execution cannot be stopped while a Lambda step runs: it runs to the end.
        time.sleep(self.seconds())
        self.scripted_failure(self.run.attempt_count)
        try:
            props = normalize_properties(self.step, {"OutputParameters": dict(self.script.output_parameters)})
        except DefinitionError as exc:
            raise StepFailed(f"ClientError: {exc}") from None
        metadata = {"Arn": function_arn[:256], "OutputParameters": wire_outputs(self.script.output_parameters)}
        with self.engine.lock:
            self.run.properties = props
            self.run.metadata = {"Lambda": metadata}
            self.run.finish("Succeeded")

    # -- Callback --

    def callback_step(self) -> None:
        arguments, fields = self.resolve(self.resolver())
        definition_url = str(fields.get("SqsQueueUrl", ""))
        key = self.cache_key(arguments, fields)
        if self.cached(key):
            return
        token = random_id(10, TOKEN_ALPHABET)
        try:
            queue_url, queue_region, created = self.gateway.queue_url(definition_url, self.region)
        except (ClientError, BotoCoreError, ValueError) as exc:
            raise StepFailed(f"ClientError: cannot reach SQS queue {definition_url}: {exc}") from None
        event = self.engine.register_callback(token, self.execution, self.run)
        with self.engine.lock:
            self.run.callback_token = token
            self.run.cache_key = key
            self.run.request = {"SqsQueueUrl": definition_url, "arguments": json_safe(arguments)}
            self.run.metadata = {"Callback": {"CallbackToken": token, "SqsQueueUrl": definition_url[:256]}}
            if created:
                self.run.notes.append(f"created SQS queue {queue_url} (it did not exist in moto)")
            self.run.status = "Executing"
        message = {"token": token, "pipelineExecutionArn": self.execution.arn, "arguments": json_safe(arguments), "status": "Executing"}
        try:
            self.gateway.send_message(queue_url, queue_region, message)
        except (ClientError, BotoCoreError) as exc:
            raise StepFailed(f"ClientError: sending the callback message to {definition_url} failed: {exc}") from None
        script = self.script.callback_answer()
        answer_at = time.monotonic() + script.after_seconds if script is not None else None
        stopping_sent = False
        while True:
            with self.engine.lock:
                answer = self.engine.callback_answers.get(token)
            if answer is not None:
                break
            if self.stopped() and not stopping_sent:
                stopping_sent = True
                with self.engine.lock:
                    self.run.status = "Stopping"
                try:
                    self.gateway.send_message(queue_url, queue_region, {**message, "status": "Stopping"})
                except (ClientError, BotoCoreError) as exc:  # pragma: no cover - moto SQS does not fail
                    log.warning("could not send the Stopping message: %s", exc)
                event.clear()
            if answer_at is not None and time.monotonic() >= answer_at:
                assert script is not None
                scripted = {
                    "status": script.answer,
                    "output_parameters": wire_outputs(script.output_parameters),
                    "reason": script.reason,
                }
                try:
                    self.engine.answer_callback(token, scripted, internal=True)
                except (ValidationException, ConflictException, ResourceNotFound) as exc:
                    raise StepFailed(f"ClientError: the scenario's callback answer was rejected: {exc.message}") from None
                continue
            timeout = 0.5 if answer_at is None else max(0.0, min(0.5, answer_at - time.monotonic()))
            event.wait(timeout)
        with self.engine.lock:
            outputs = answer.get("output_parameters") or []
            if answer["status"] == "success":
                self.run.metadata["Callback"]["OutputParameters"] = [dict(p) for p in outputs]
                self.run.properties = normalize_properties(self.step, {"OutputParameters": outputs})
                self.run.finish("Stopped" if self.stopped() else "Succeeded")
            else:
                self.run.finish("Stopped" if self.stopped() else "Failed", answer.get("reason") or "Callback step failed.")

    # -- job-like steps --
