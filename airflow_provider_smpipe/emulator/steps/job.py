"""Job steps: the generic ``CreateJob`` API (moto has none: the emulator's own job store answers
``CreateJob`` / ``DescribeJob`` / ``StopJob``, see :mod:`airflow_provider_smpipe.emulator.job_api`).
The engine creates the job, drives its status as the scenario says, and reads ``DescribeJob`` as
the step's properties (``Steps.X.JobStatus``, ``Steps.X.JobConfigDocument...``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_smpipe.emulator.errors import AwsError
from airflow_provider_smpipe.emulator.execution import iso
from airflow_provider_smpipe.emulator.gateway import json_safe
from airflow_provider_smpipe.emulator.steps.base import StepFailed, StepStopped, WorkerBase


#: DescribeJob timestamps: epoch seconds on the wire, ISO-8601 in properties (as other steps').
TIMES = ("CreationTime", "LastModifiedTime", "EndTime")


class JobSteps(WorkerBase):
    def create_job(self, name: str | None, arguments: dict[str, Any], fields: dict[str, Any]) -> None:
        store = getattr(self.engine, "job_store", None)
        if store is None:
            raise StepFailed("InternalError: the emulator has no job store (CreateJob is not available)")
        account, region = self.execution.account, self.region
        request = {**arguments, "JobName": name}
        self.set(status="Executing", job_name=name, request=json_safe(request), failure_reason=None)
        try:
            arn = store.create(request, account, region, scenario=self.execution.scenario, driven=True)["JobArn"]
        except AwsError as exc:
            exception_type = "SageMaker.RESOURCE_LIMIT" if exc.code == "ResourceLimitExceeded" else None
            raise StepFailed(f"ClientError: {exc.code}: {exc.message}", exception_type) from None
        self.set(metadata={"Job": {"Arn": arn}})
        try:
            self.sleep(self.seconds())
        except StepStopped:
            store.finish(account, region, name, "Stopped", "the pipeline execution was stopped")
            raise
        fail = self.script.fail
        if fail is not None and fail.fails_attempt(self.run.attempt_count):
            store.finish(account, region, name, "Failed", fail.reason)
            raise StepFailed(fail.reason, fail.exception_type)
        if self.script.stopped:
            store.finish(account, region, name, "Stopped", "the job was stopped (scenario)")
            self.scripted_end()
        store.finish(account, region, name, "Completed")
        described = json_safe(store.describe({"JobName": name, "JobCategory": arguments.get("JobCategory")}, account, region))
        # (the store's DescribeJob already carries the scenario's ``properties``)
        props = {k: iso(v) if k in TIMES and isinstance(v, (int, float)) else v for k, v in described.items() if k != "ResponseMetadata"}
        with self.engine.lock:
            self.run.properties = props
            self.run.metadata = {"Job": {"Arn": arn}}
            self.run.finish("Succeeded")

