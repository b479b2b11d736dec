"""EMR steps (a step on an existing cluster or on a new one) and EMR Serverless steps (a job run
on an existing or a new application), on moto's ``emr`` and ``emr-serverless`` backends."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_smpipe.definition.expressions import s3_join
from airflow_provider_smpipe.definition.properties import synthesize_properties
from airflow_provider_smpipe.emulator.execution import iso, now
from airflow_provider_smpipe.emulator.gateway import json_safe
from airflow_provider_smpipe.emulator.jobs import deep_merge
from airflow_provider_smpipe.emulator.steps.base import StepFailed, StepStopped, WorkerBase
from airflow_provider_smpipe.emulator.steps.sagemaker import _exception_type


class EmrSteps(WorkerBase):
    def emr(self, name: str | None, arguments: dict[str, Any], fields: dict[str, Any]) -> None:
        self.set(status="Executing", job_name=name, request=json_safe(arguments), failure_reason=None)
        emr = self.gateway.client("emr", self.region)
        config = dict(arguments.get("StepConfig") or {})
        step_request = {"Name": name or self.step.name, "ActionOnFailure": "CONTINUE", **config}
        step_request.setdefault("HadoopJarStep", {})
        cluster_id = arguments.get("ClusterId")
        created_cluster = False
        step_id: str | None = None
        try:
            if arguments.get("ClusterConfig"):
                cluster = dict(arguments["ClusterConfig"])
                instances = dict(cluster.get("Instances") or {})
                instances["KeepJobFlowAliveWhenNoSteps"] = False
                cluster["Instances"] = instances
                response = emr.run_job_flow(Name=name or self.step.name, Steps=[step_request], **cluster)
                cluster_id = response["JobFlowId"]
                created_cluster = True
                step_id = emr.list_steps(ClusterId=cluster_id)["Steps"][0]["Id"]
            elif cluster_id and self._emr_cluster_exists(str(cluster_id)):
                step_id = emr.add_job_flow_steps(JobFlowId=cluster_id, Steps=[step_request])["StepIds"][0]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise StepFailed(f"ClientError: {error.get('Code')}: {error.get('Message')}", _exception_type(exc, emr=True)) from None
        except BotoCoreError as exc:
            raise StepFailed(f"ClientError: {exc}") from None
        if step_id is None:
            with self.engine.lock:
                self.run.notes.append(f"EMR cluster {cluster_id} does not exist in moto: the step's properties are synthesised")
        metadata: dict[str, Any] = {"ClusterId": str(cluster_id), "StepName": str(name)}
        if step_id:
            metadata["StepId"] = step_id
        self.set(metadata={"EMR": dict(metadata)})
        try:
            self.sleep(self.seconds())
        except StepStopped:
            try:  # the emulator answers CancelSteps (moto has none): the step ends CANCELLED
                if created_cluster:
                    emr.terminate_job_flows(JobFlowIds=[cluster_id])
                elif step_id is not None:
                    emr.cancel_steps(ClusterId=cluster_id, StepIds=[step_id])
            except (ClientError, BotoCoreError):  # pragma: no cover - best effort
                pass
            raise
        fail = self.script.fail
        failed = fail is not None and fail.fails_attempt(self.run.attempt_count)
        if step_id is not None:
            props = json_safe(emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"])
            log_uri = json_safe(emr.describe_cluster(ClusterId=cluster_id)["Cluster"]).get("LogUri")
            if log_uri:
                metadata["LogFilePath"] = s3_join(str(log_uri), str(cluster_id), "steps", step_id)
            if created_cluster:
                try:
                    emr.terminate_job_flows(JobFlowIds=[cluster_id])
                except ClientError:  # pragma: no cover
                    pass
        else:
            props = synthesize_properties(self.step, arguments, job_name=name, region=self.region, account=self.execution.account)
            metadata["StepId"] = props["Id"]
        props.setdefault("Status", {})["State"] = "FAILED" if failed else "COMPLETED"
        if failed:
            assert fail is not None
            self.set(metadata={"EMR": metadata})
            raise StepFailed(fail.reason, fail.exception_type)
        if self.script.properties:
            props = deep_merge(props, json_safe(self.script.properties))
        with self.engine.lock:
            self.run.properties = props
            self.run.metadata = {"EMR": metadata}
            self.run.finish("Succeeded")

    def _emr_cluster_exists(self, cluster_id: str) -> bool:
        try:
            self.gateway.client("emr", self.region).describe_cluster(ClusterId=cluster_id)
            return True
        except ClientError:
            return False
        except BotoCoreError:  # pragma: no cover
            return False


    # -- EMR Serverless --

    def emr_serverless(self, name: str | None, arguments: dict[str, Any], fields: dict[str, Any]) -> None:
        """CreateApplication (``ApplicationConfig``), StartJobRun, the scenario's wait and outcome,
        then GetJobRun as the step's properties (``Steps.X.jobRun.*``). On an ``ApplicationId`` moto
        does not know (the definition names a real one) the job run is synthesised, like an EMR step
        on an unknown cluster, and noted in the step's state."""
        self.set(status="Executing", job_name=name, request=json_safe(arguments), failure_reason=None)
        client = self.gateway.client("emr-serverless", self.region)
        job = dict(arguments.get("JobConfig") or {})
        run_name = str(job.get("name") or name or self.name)
        application_id = arguments.get("ApplicationId")
        run_id: str | None = None
        try:
            if arguments.get("ApplicationConfig"):
                application_id = client.create_application(**dict(arguments["ApplicationConfig"]))["applicationId"]
                with self.engine.lock:
                    self.run.notes.append(f"created EMR Serverless application {application_id}")
            if application_id and self._application_exists(client, str(application_id)):
                request = {k: v for k, v in job.items() if k != "applicationId"}
                request.update(applicationId=application_id, name=run_name)
                run_id = client.start_job_run(**request)["jobRunId"]
                _set_job_run_state(self.execution.account, self.region, str(application_id), run_id, "RUNNING")
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise StepFailed(f"ClientError: {error.get('Code')}: {error.get('Message')}", _exception_type(exc)) from None
        except BotoCoreError as exc:
            raise StepFailed(f"ClientError: {exc}") from None
        if run_id is None:
            with self.engine.lock:
                self.run.notes.append(f"EMR Serverless application {application_id} does not exist in moto: the job run is synthesised")
        synthesized = synthesize_properties(self.step, {**arguments, "ApplicationId": application_id}, job_name=run_name, region=self.region, account=self.execution.account, now=iso(now()))
        run_id = run_id or synthesized["jobRun"]["jobRunId"]
        metadata: dict[str, Any] = {"ApplicationId": str(application_id), "JobRunId": str(run_id), "JobRunName": run_name[:256]}
        log_uri = ((job.get("configurationOverrides") or {}).get("monitoringConfiguration") or {}).get("s3MonitoringConfiguration", {}).get("logUri")
        if isinstance(log_uri, str):
            metadata["LogFilePath"] = s3_join(log_uri, "applications", str(application_id), "jobs", str(run_id))[:1024]
        self.set(metadata={"EMRServerless": dict(metadata)})
        real = run_id != synthesized["jobRun"]["jobRunId"]
        try:
            self.sleep(self.seconds())
        except StepStopped:
            if real:
                _set_job_run_state(self.execution.account, self.region, str(application_id), str(run_id), "CANCELLED", "cancelled: the execution was stopped")
            raise
        fail = self.script.fail
        failed = fail is not None and fail.fails_attempt(self.run.attempt_count)
        state = "FAILED" if failed else "CANCELLED" if self.script.stopped else "SUCCESS"
        if real:
            _set_job_run_state(self.execution.account, self.region, str(application_id), str(run_id), state, fail.reason if failed and fail else None)
            props = {"jobRun": json_safe(client.get_job_run(applicationId=application_id, jobRunId=run_id)["jobRun"])}
        else:
            props = synthesized
            props["jobRun"]["state"] = state
        if failed and fail is not None:
            raise StepFailed(fail.reason, fail.exception_type)
        self.scripted_end()
        if self.script.properties:
            props = deep_merge(props, json_safe(self.script.properties))
        with self.engine.lock:
            self.run.properties = props
            self.run.metadata = {"EMRServerless": metadata}
            self.run.finish("Succeeded")

    @staticmethod
    def _application_exists(client: Any, application_id: str) -> bool:
        try:
            client.get_application(applicationId=application_id)
            return True
        except ClientError:
            return False


def _set_job_run_state(account: str, region: str, application_id: str, run_id: str, state: str, details: str | None = None) -> None:
    """Move a moto EMR Serverless job run along (moto creates job runs already ``SUCCESS``)."""
    from moto.emrserverless.models import emrserverless_backends

    try:
        job_run = emrserverless_backends[account][region].get_job_run(application_id, run_id)
    except Exception:  # noqa: BLE001 - moto was reset meanwhile: nothing to move
        return
    job_run.state = state
    job_run.state_details = details
