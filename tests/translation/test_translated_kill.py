"""A translated step whose task the user marks failed stops its job; a Clear does not (the cleared
task's new try re-attaches to the same job). Deferred waits are stopped by the trigger's
``on_kill``, synchronous waits by the operator's; the jobs live in the emulator, created as a
translated task creates them."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_smpipe.translation.settings import TranslationSettings
from airflow_provider_smpipe.triggers.job import SageMakerResourceTrigger
from native_helpers import unique, wait_for
from v3_helpers import ROLE, definition_with

ENDED = {
    "Training": ("Stopped", "Completed"),
    "Processing": ("Stopped", "Completed"),
    "Job": ("Stopped", "Completed"),
    "EMRServerless": ("CANCELLED", "SUCCESS"),
}


def start_work(emulator: Any, kind: str) -> tuple[str, dict[str, Any], Any]:
    """Create one piece of work as a translated step does; returns (name, describe arguments, status reader)."""
    name = f"pipelines-abcdef123456-{kind}-{unique('k')[-6:]}"
    sm = emulator.client("sagemaker")
    if kind == "Training":
        sm.create_training_job(
            TrainingJobName=name, RoleArn=ROLE,
            AlgorithmSpecification={"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1", "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": "s3://emu-bucket/out"}, StoppingCondition={"MaxRuntimeInSeconds": 3600},
            ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30},
        )  # fmt: skip
        return name, {}, lambda: sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"]
    if kind == "Processing":
        sm.create_processing_job(
            ProcessingJobName=name, RoleArn=ROLE, AppSpecification={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1"},
            ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}},
        )  # fmt: skip
        return name, {}, lambda: sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"]
    if kind == "Job":
        sm.create_job(JobName=name, RoleArn=ROLE, JobCategory="AgentRFT", JobConfigSchemaVersion="1.0.0", JobConfigDocument="{}")
        return name, {"JobCategory": "AgentRFT"}, lambda: sm.describe_job(JobName=name, JobCategory="AgentRFT")["JobStatus"]
    serverless = emulator.client("emr-serverless")
    app = serverless.create_application(name=unique("app"), releaseLabel="emr-7.2.0", type="SPARK")["applicationId"]
    run_id = serverless.start_job_run(applicationId=app, executionRoleArn=ROLE, name=name, clientToken=name[-20:])["jobRunId"]
    return run_id, {"applicationId": app}, lambda: serverless.get_job_run(applicationId=app, jobRunId=run_id)["jobRun"]["state"]


def task_state_after_action(state: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(lambda **kw: {"run-1": {} if state is None else {"Step": state}}))


TI = SimpleNamespace(dag_id="d", run_id="run-1", task_id="Step", map_index=-1, try_number=1)


@pytest.mark.parametrize("kind", list(ENDED))
@pytest.mark.parametrize(("state", "stops"), [("failed", True), (None, False), ("running", False)], ids=["marked-failed", "cleared", "new-try-running"])
def test_a_deferred_translated_step_stops_its_job_only_when_marked_failed(
    airflow_env: Any, monkeypatch: pytest.MonkeyPatch, kind: str, state: Any, stops: bool
) -> None:
    # A job meant to be stopped runs long enough that a slow stop call (a loaded CI machine) still
    # finds it running; one meant to survive ends soon so that its completion is what is checked.
    emulator = airflow_env({"default_step_seconds": 120.0 if stops else 2.0})
    name, arguments, status = start_work(emulator, kind)
    task_state_after_action(state, monkeypatch)
    trigger = SageMakerResourceTrigger(step_type=kind, name=name, describe_arguments=arguments, poll_interval=0.05)
    trigger.task_instance = TI  # type: ignore[assignment]
    asyncio.run(trigger.on_kill())
    stopped, completed = ENDED[kind]
    wait_for(lambda: status() in (stopped, completed), timeout=30, what=f"{kind} ended")
    assert status() == (stopped if stops else completed)


def test_a_synchronous_wait_stops_its_job_when_the_task_is_killed(airflow_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_smpipe.translation.operators import SageMakerPipelineStepOperator

    emulator = airflow_env({"default_step_seconds": 120.0})  # still running when the stop lands, however slow
    name, arguments, status = start_work(emulator, "Job")
    task_state_after_action("failed", monkeypatch)
    document = definition_with([{"Name": "Step", "Type": "Job", "Arguments": {"RoleArn": ROLE, "JobCategory": "AgentRFT", "JobConfigSchemaVersion": "1.0.0", "JobConfigDocument": "{}"}}])
    from airflow_provider_smpipe.definition.loader import load_definition

    settings = TranslationSettings(definition=load_definition(document), pipeline_name="p", deferrable=False)
    operator = SageMakerPipelineStepOperator(task_id="Step", settings=settings, step_name="Step")
    # What the task's synchronous wait holds while it waits (set by StepCommon._wait).
    operator._waiting_on = SageMakerResourceTrigger(step_type="Job", name=name, describe_arguments=arguments)
    operator._waiting_ti = TI
    operator.on_kill()
    wait_for(lambda: status() in ("Stopped", "Completed"), timeout=30, what="job stopped")
    assert status() == "Stopped"
