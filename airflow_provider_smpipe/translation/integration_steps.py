"""Steps that call other services: Lambda, Callback (SQS), EMR and EMR Serverless."""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_smpipe.definition.model import FAILED, STOPPED
from airflow_provider_smpipe.definition.naming import job_name
from airflow_provider_smpipe.definition.properties import output_parameters_map
from airflow_provider_smpipe.hooks.pipeline import with_default_retries
from airflow_provider_smpipe.translation.base import StepEnded
from airflow_provider_smpipe.translation.job_steps import MAX_ATTEMPTS_SCANNED, create_error_type
from airflow_provider_smpipe.translation.runtime import StepRun
from airflow_provider_smpipe.translation.step_common import StepCommon

if TYPE_CHECKING:
    from airflow.sdk import Context


#: EMR Serverless job run states before it ends.
EMR_SERVERLESS_ACTIVE = ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED")


def _token(text: str) -> str:
    """A deterministic idempotency token (``[A-Za-z0-9._-]``, at most 64 characters)."""
    return hashlib.sha256(text.encode()).hexdigest()[:64]


class IntegrationSteps(StepCommon):
    """The Lambda/Callback/EMR family of :class:`~airflow_provider_smpipe.translation.operators.SageMakerPipelineStepOperator`."""

    def _run_lambda(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        response = run.client("lambda").invoke(FunctionName=fields["FunctionArn"], Payload=json.dumps(arguments).encode())
        body = response["Payload"].read()
        if response.get("FunctionError"):
            raise AirflowException(f"step '{self.step_name}': Lambda {fields['FunctionArn']} failed: {body[:500]!r}")
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError:
            raise AirflowException(f"step '{self.step_name}': Lambda returned something that is not JSON: {body[:200]!r}") from None
        if not isinstance(payload, dict):
            raise AirflowException(f"step '{self.step_name}': Lambda returned {type(payload).__name__}, expected a JSON object of outputs")
        declared = {p.name for p in self.step.output_parameters}
        missing = sorted(declared - set(payload))
        if missing:
            raise AirflowException(f"step '{self.step_name}': the Lambda response has no output(s) {missing}")
        return {"OutputParameters": output_parameters_map(self.step, {k: payload[k] for k in declared})}

    def _run_callback(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        from airflow_provider_smpipe.translation.callback import send_callback_request

        token, reply_queue = send_callback_request(run, self.step, fields["SqsQueueUrl"], arguments, self.callback_reply_queue_url)
        self._record_job(context, token=token, reply_queue=reply_queue)
        return self._wait(context, _callback_trigger(self, reply_queue, token, echo={"phase": "callback", "token": token}))

    def _callback_done(self, context: Context, run: StepRun, event: dict[str, Any]) -> Any:
        if event.get("status") == "failure":
            raise AirflowException(f"step '{self.step_name}': the Callback was answered with failure: {event.get('failure_reason')}")
        return self._finish(context, run, {"OutputParameters": output_parameters_map(self.step, event.get("output_parameters") or [])})

    def _run_emr(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        emr = run.client("emr")
        name = job_name(run.child, run.execution_id, salt=str(run.ti.try_number))
        step_config = {"Name": name, "ActionOnFailure": "CONTINUE", **arguments["StepConfig"]}
        if "ClusterId" in arguments:
            cluster = arguments["ClusterId"]
            request: dict[str, Any] = {"JobFlowId": cluster, "Steps": [step_config]}
            if arguments.get("ExecutionRoleArn"):
                request["ExecutionRoleArn"] = arguments["ExecutionRoleArn"]
            step_id = emr.add_job_flow_steps(**request)["StepIds"][0]
        else:
            config = dict(arguments["ClusterConfig"])
            instances = {**config.get("Instances", {}), "KeepJobFlowAliveWhenNoSteps": False}
            cluster = emr.run_job_flow(Name=name, Steps=[step_config], **{**config, "Instances": instances})["JobFlowId"]
            step_id = emr.list_steps(ClusterId=cluster)["Steps"][0]["Id"]
        self.log.info("EMR step %s (%s) on cluster %s", step_id, name, cluster)
        self._record_job(context, name=name, step_id=step_id, cluster_id=cluster)
        return self._wait(context, self._resource_trigger("EMR", step_id, cluster_id=cluster, echo={"phase": "emr", "name": step_id}))

    def _emr_done(self, context: Context, run: StepRun, event: dict[str, Any]) -> Any:
        state = event.get("resource_status")
        if event["status"] != "succeeded":
            raise StepEnded(
                f"step '{self.step_name}': EMR step {event['name']} ended {state}: {event.get('failure_reason')}",
                status=STOPPED if state == "CANCELLED" else FAILED,
                properties=(event.get("described") or {}).get("Step"),
            )
        return self._finish(context, run, event["described"].get("Step", {}))

    # -- EMR Serverless ----------------------------------------------------------------------------
    #
    # The amazon provider's EmrServerlessHook makes the client and its "serverless_app_created"
    # waiter waits for a new application (seconds). The job run is waited for with our
    # SageMakerResourceTrigger rather than the provider's EmrServerlessStartJobTrigger: that trigger
    # gives up after waiter_max_attempts and raises on a failed run, so the task could neither apply
    # the step's RetryPolicies nor push the failed run's GetJobRun (a Cleanup or a report needs it),
    # and our waits have no time cap, like the service's.

    def _emr_serverless_hook(self) -> Any:
        from airflow.providers.amazon.aws.hooks.emr import EmrServerlessHook

        return EmrServerlessHook(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify, config=with_default_retries(self.botocore_config)
        )

    def _run_emrserverless(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        return self._start_job_run(context, run, arguments, attempt=1, first_started=time.time())

    def _start_job_run(self, context: Context, run: StepRun, arguments: dict[str, Any], *, attempt: int, first_started: float) -> Any:
        hook = self._emr_serverless_hook()
        client = hook.conn
        job = dict(arguments.get("JobConfig") or {})
        try_number = int(run.ti.try_number)
        try:
            application_id = self._application(hook, run, arguments)
            if attempt == 1 and try_number > 1:
                earlier = self._earlier_job_run(client, run, application_id, str(job.get("name") or "") or None, try_number)
                if earlier is not None:
                    self.log.info("Re-attaching to EMR Serverless job run %s, started by an earlier try of this task", earlier)
                    return self._wait_job_run(context, earlier, application_id, attempt=attempt, first_started=first_started)
            name = self._job_run_name(run, str(job.get("name") or "") or None, try_number, attempt)
            request = {k: v for k, v in job.items() if k not in ("applicationId", "name")}
            request.setdefault("executionRoleArn", arguments.get("ExecutionRoleArn"))
            request.update(applicationId=application_id, name=name, clientToken=_token(name))
            run_id = client.start_job_run(**request)["jobRunId"]
        except ClientError as exc:
            exception_type = create_error_type(exc)
            policy = self._retry_policy(exception_type, attempt, first_started) if exception_type else None
            if policy is not None:
                return self._schedule_retry(context, policy, attempt, first_started, f"EMR Serverless: {exc}")
            raise AirflowException(f"step '{self.step_name}': EMR Serverless: {exc}") from exc
        self.log.info("EMR Serverless job run %s (%s) on application %s", run_id, name, application_id)
        return self._wait_job_run(context, run_id, application_id, attempt=attempt, first_started=first_started)

    def _application(self, hook: Any, run: StepRun, arguments: dict[str, Any]) -> str:
        """The application to run on: ``ApplicationId``, or one created from ``ApplicationConfig``
        (with an idempotency token per run and step, so a retried task gets the same one)."""
        config = arguments.get("ApplicationConfig")
        if not config:
            return str(arguments.get("ApplicationId") or (arguments.get("JobConfig") or {}).get("applicationId"))
        token = _token(f"{run.execution_id}\0{run.child}\0application")
        application_id = str(hook.conn.create_application(**{**dict(config), "clientToken": token})["applicationId"])
        self.log.info("Created EMR Serverless application %s", application_id)
        hook.get_waiter("serverless_app_created").wait(applicationId=application_id, WaiterConfig={"Delay": max(1, int(self.poll_interval)), "MaxAttempts": 120})
        return application_id

    def _job_run_name(self, run: StepRun, kept: str | None, try_number: int, attempt: int) -> str:
        return job_name(run.child, run.execution_id, prefix=kept, salt=f"{try_number}:{attempt}")

    def _earlier_job_run(self, client: Any, run: StepRun, application_id: str, kept: str | None, try_number: int) -> str | None:
        """A job run an earlier try of this task started that is still running (found by its name)."""
        names = {self._job_run_name(run, kept, t, a) for t in range(1, try_number) for a in range(1, MAX_ATTEMPTS_SCANNED + 1)}
        pages = client.get_paginator("list_job_runs").paginate(applicationId=application_id, states=list(EMR_SERVERLESS_ACTIVE))
        for page in pages:
            for job_run in page.get("jobRuns", []):
                if job_run.get("name") in names and job_run.get("state") in EMR_SERVERLESS_ACTIVE:
                    return str(job_run["id"])
        return None

    def _wait_job_run(self, context: Context, run_id: str, application_id: str, *, attempt: int, first_started: float) -> Any:
        self._record_job(context, job_run_id=run_id, application_id=application_id, attempt=attempt)
        echo = {"phase": "emr_serverless", "name": run_id, "application_id": application_id, "attempt": attempt, "first_started": first_started}
        return self._wait(context, self._resource_trigger("EMRServerless", run_id, describe_arguments={"applicationId": application_id}, echo=echo))

    def _emr_serverless_done(self, context: Context, run: StepRun, event: dict[str, Any]) -> Any:
        properties = {"jobRun": (event.get("described") or {}).get("jobRun", {})}
        state = event.get("resource_status")
        if event["status"] != "succeeded":
            raise StepEnded(
                f"step '{self.step_name}': EMR Serverless job run {event['name']} ended {state}: {event.get('failure_reason')}",
                status=STOPPED if state == "CANCELLED" else FAILED,
                properties=properties,
            )
        return self._finish(context, run, properties)




def _callback_trigger(operator: IntegrationSteps, reply_queue: str, token: str, *, echo: dict[str, Any]) -> Any:
    from airflow_provider_smpipe.triggers.callback_reply import CallbackReplyTrigger

    return CallbackReplyTrigger(
        queue_url=reply_queue,
        token=token,
        echo=echo,
        poll_interval=operator.poll_interval,
        **operator.settings.aws(),
    )
