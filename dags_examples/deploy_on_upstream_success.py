"""Example 8 — deploy when the upstream pipeline succeeds, whoever started it.

The ``abalone`` pipeline may be started by this Airflow (example 1), from SageMaker Studio, by an
EventBridge schedule or by another team. SageMaker sends an EventBridge event whenever one of its
executions ends; a rule puts those events in an SQS queue (``smpipe events setup --queue
smpipe-pipeline-events --pipeline smpipe-example-abalone``; docker compose runs it for you), and the
``AssetWatcher`` below reads the queue in the triggerer. Each execution that ends ``Succeeded``
becomes one asset event — SageMaker's duplicate events are dropped — and the event runs this DAG,
which looks up the model the execution registered and "deploys" it (prints what it would deploy: a
real DAG would update an endpoint). No polling, no schedule to tune.

Triggered by hand (no asset event), it says there is nothing to deploy and succeeds.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_smpipe.triggers.pipeline_event import SageMakerPipelineEventTrigger

ABALONE_PIPELINE = "smpipe-example-abalone"
#: The queue `smpipe events setup` made (docker compose's default: the emulator's).
EVENTS_QUEUE_URL = os.environ.get("SMPIPE_EVENTS_QUEUE_URL", "http://emulator:5055/123456789012/smpipe-pipeline-events")

abalone_succeeded = Asset(
    name="sagemaker-pipeline/smpipe-example-abalone/succeeded",
    watchers=[
        AssetWatcher(
            name="smpipe-example-abalone-succeeded",
            trigger=SageMakerPipelineEventTrigger(queue_url=EVENTS_QUEUE_URL, pipeline_names=[ABALONE_PIPELINE], statuses=["Succeeded"]),
        )
    ],
)

with DAG(
    dag_id="smpipe_deploy_on_upstream_success",
    schedule=[abalone_succeeded],
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["smpipe", "events", "example"],
    doc_md=__doc__,
):

    @task
    def deploy(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook

        executions = [event.extra["payload"] for events in (triggering_asset_events or {}).values() for event in events]
        if not executions:
            print("No asset event: nothing to deploy (this run was triggered by hand)")
            return []
        hook = SageMakerPipelineHook(aws_conn_id="aws_default")
        deployed = []
        for execution in executions:
            steps = hook.step_table(execution["execution_arn"])
            models = [row["job_arn"] for row in steps if row["type"] == "RegisterModel" and row.get("job_arn")]
            print(f"{execution['execution_arn']} succeeded; deploying {models or 'nothing (no model registered)'}")
            deployed.append({"execution_arn": execution["execution_arn"], "model_packages": models})
        return deployed

    deploy()
