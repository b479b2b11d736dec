"""The translated step's wait (``SageMakerResourceTrigger``) at its deadline: it looks at the
resource once more before giving up, so work that ended before the deadline (or while the
triggerer was down past it) reports its real end rather than a timeout."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from airflow_provider_smpipe.triggers.job import SageMakerResourceTrigger
from native_helpers import ROLE, unique, wait_for


def create_job(emulator: Any) -> tuple[str, Any]:
    name = unique("deadline-job")
    sm = emulator.client("sagemaker")
    sm.create_job(JobName=name, RoleArn=ROLE, JobCategory="AgentRFT", JobConfigSchemaVersion="1.0.0", JobConfigDocument="{}")
    return name, lambda: sm.describe_job(JobName=name, JobCategory="AgentRFT")["JobStatus"]


async def first_event(trigger: SageMakerResourceTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger ended without an event")


def test_a_running_job_past_its_deadline_times_out(airflow_env: Any) -> None:
    emulator = airflow_env({"default_step_seconds": 120.0})
    name, status = create_job(emulator)
    trigger = SageMakerResourceTrigger(step_type="Job", name=name, describe_arguments={"JobCategory": "AgentRFT"}, poll_interval=0.05, timeout_at=time.time() - 1)
    event = asyncio.run(first_event(trigger))
    assert event["status"] == "timeout" and event["name"] == name
    assert status() == "InProgress"  # a timeout only ends the wait; the job is left to the operator's choice
    emulator.client("sagemaker").stop_job(JobName=name, JobCategory="AgentRFT")


def test_a_job_that_ended_before_a_late_resume_reports_its_end_not_a_timeout(airflow_env: Any) -> None:
    emulator = airflow_env({"default_step_seconds": 0.05})
    name, status = create_job(emulator)
    wait_for(lambda: status() == "Completed", timeout=30, what="job completed")
    # A triggerer that resumes this trigger after its deadline: the deadline is absolute.
    trigger = SageMakerResourceTrigger(step_type="Job", name=name, describe_arguments={"JobCategory": "AgentRFT"}, poll_interval=0.05, timeout_at=time.time() - 1)
    event = asyncio.run(first_event(trigger))
    assert event["status"] == "succeeded" and event["resource_status"] == "Completed"
