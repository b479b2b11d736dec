"""Example 2 — wait on executions started elsewhere.

Another team (or an EventBridge schedule) starts the ``abalone`` pipeline. This DAG finds its
latest execution, waits for it in the triggerer without holding a worker, and only then runs the
downstream work, with the execution's step table in hand. A failed or stopped execution fails the
sensor with the failed steps and their reasons.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum

from airflow.sdk import DAG, task

from airflow_provider_smpipe.sensors.pipeline import SageMakerPipelineExecutionSensor

POLL_SECONDS = float(os.environ.get("SMPIPE_EXAMPLE_POLL_SECONDS", "30"))  # the demo and tests poll faster
START_DATE = pendulum.datetime(2026, 11, 1, tz="UTC")
ABALONE_PIPELINE = "smpipe-example-abalone"

with DAG(
    dag_id="smpipe_wait_for_latest_execution",
    schedule="@hourly",
    start_date=START_DATE,
    catchup=False,
    tags=["smpipe", "native-mode", "example"],
    doc_md=__doc__,
):
    wait = SageMakerPipelineExecutionSensor(
        task_id="wait_for_latest_execution",
        pipeline_name=ABALONE_PIPELINE,
        execution_arn="latest",
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=timedelta(hours=6).total_seconds(),
    )

    @task
    def publish_report(event: dict[str, Any]) -> dict[str, str]:
        statuses = {step["name"]: step["status"] for step in event["steps"]}
        print(f"{event['execution_arn']} finished {event['execution_status']}: {statuses}")
        return statuses

    publish_report(wait.output)
