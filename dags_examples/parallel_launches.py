"""Example 5 — launch one execution per parameter set with dynamic task mapping.

Each mapped task instance starts (and waits for) its own execution; one failing execution fails only
its own map index, and the summary (which runs whatever happened) reports every execution's status.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum

from airflow.sdk import DAG, task

from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook
from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineStartOperator

POLL_SECONDS = float(os.environ.get("SMPIPE_EXAMPLE_POLL_SECONDS", "30"))  # the demo and tests poll faster
DATA_BUCKET = os.environ.get("SMPIPE_EXAMPLE_DATA_BUCKET", "my-ml-bucket")
START_DATE = pendulum.datetime(2026, 11, 1, tz="UTC")
ABALONE_PIPELINE = "smpipe-example-abalone"

PARAMETER_SETS = [
    {"InputData": f"s3://{DATA_BUCKET}/abalone/region=eu/abalone-dataset.csv", "MseThreshold": 6.0},
    {"InputData": f"s3://{DATA_BUCKET}/abalone/region=us/abalone-dataset.csv", "MseThreshold": 6.0},
    {"InputData": f"s3://{DATA_BUCKET}/abalone/region=apac/abalone-dataset.csv", "MseThreshold": 3.0},
]

with DAG(
    dag_id="smpipe_parallel_launches",
    schedule=None,
    start_date=START_DATE,
    tags=["smpipe", "native-mode", "example"],
    doc_md=__doc__,
):
    launches = SageMakerPipelineStartOperator.partial(
        task_id="launch",
        pipeline_name=ABALONE_PIPELINE,
        deferrable=True,
        poll_interval=POLL_SECONDS,
    ).expand(parameters=PARAMETER_SETS)

    @task(trigger_rule="all_done")
    def summarize(**context: Any) -> list[dict[str, Any]]:
        arns = context["ti"].xcom_pull(task_ids="launch", key="execution_arn", map_indexes=list(range(len(PARAMETER_SETS))))
        hook = SageMakerPipelineHook(aws_conn_id="aws_default")
        rows = []
        for index, arn in enumerate(arns):
            status = hook.describe_execution(arn)["PipelineExecutionStatus"] if arn else "not started"
            rows.append({"map_index": index, "parameters": PARAMETER_SETS[index], "execution_arn": arn, "status": status})
            print(f"[{index}] {status:<10} {arn}")
        return rows

    launches >> summarize()
