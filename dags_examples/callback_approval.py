"""Example 6 — a pipeline's Callback step answered by an Airflow task.

The ``approval`` pipeline prepares data, then its Callback step ``Approve`` sends a message to an SQS
queue and waits. The ``answer_approval`` task receives that message, decides (here: approve when the
pipeline ran in "full" mode) and sends the answer with output parameters; the pipeline's Condition
deploys on "approve" and fails on anything else. The queue is created first if it does not exist
(SageMaker sends to it but never creates it, and the answering task reads from it before the
pipeline reaches its Callback step).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pendulum

from airflow.sdk import DAG, task

from airflow_provider_smpipe.operators.callback import SageMakerPipelineCallbackOperator
from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineStartOperator, SageMakerPipelineUpsertOperator
from airflow_provider_smpipe.sensors.pipeline import SageMakerPipelineExecutionSensor

DEFINITIONS = Path(__file__).resolve().parent / "definitions"
ROLE_ARN = os.environ.get("SMPIPE_EXAMPLE_ROLE_ARN", "arn:aws:iam::123456789012:role/SageMakerExecutionRole")
POLL_SECONDS = float(os.environ.get("SMPIPE_EXAMPLE_POLL_SECONDS", "30"))  # the demo and tests poll faster
START_DATE = pendulum.datetime(2026, 11, 1, tz="UTC")
APPROVAL_PIPELINE = "smpipe-example-approval"

QUEUE_NAME = "smpipe-approvals"
QUEUE_URL = f"https://sqs.us-east-1.amazonaws.com/123456789012/{QUEUE_NAME}"  # the definition's SqsQueueUrl
EXECUTION = "{{ ti.xcom_pull(task_ids='start', key='execution_arn') }}"


def decide(message: dict[str, Any], context: Any) -> dict[str, Any]:
    """The approval logic: the message carries the Callback step's resolved arguments."""
    approved = message["arguments"]["mode"] == "full"
    return {"decision": "approve" if approved else "reject", "score": 0.92 if approved else 0.1}


with DAG(
    dag_id="smpipe_callback_approval",
    schedule=None,
    start_date=START_DATE,
    tags=["smpipe", "native-mode", "example"],
    doc_md=__doc__,
):
    upsert = SageMakerPipelineUpsertOperator(
        task_id="upsert_pipeline", pipeline_name=APPROVAL_PIPELINE, definition=str(DEFINITIONS / "approval.json"), role_arn=ROLE_ARN
    )

    @task
    def create_queue() -> str:
        """CreateQueue is idempotent: it returns the existing queue's URL when it is already there."""
        from airflow.providers.amazon.aws.hooks.sqs import SqsHook

        return SqsHook(aws_conn_id="aws_default").create_queue(QUEUE_NAME)["QueueUrl"]

    start = SageMakerPipelineStartOperator(
        task_id="start", pipeline_name=APPROVAL_PIPELINE, parameters={"Mode": "full"}, wait_for_completion=False
    )
    answer = SageMakerPipelineCallbackOperator(
        task_id="answer_approval", queue_url=QUEUE_URL, execution_arn=EXECUTION, output_callable=decide, wait_timeout=600
    )
    wait = SageMakerPipelineExecutionSensor(
        task_id="wait_for_pipeline", execution_arn=EXECUTION, deferrable=True, poke_interval=POLL_SECONDS
    )
    [upsert, create_queue()] >> start >> answer >> wait
