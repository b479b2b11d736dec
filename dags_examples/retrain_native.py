"""Example 1 — scheduled retraining in native mode.

Every day: create or update the ``abalone`` pipeline from the definition file beside this DAG (no
update call when it did not change), start an execution whose input paths come from the run's date
(so a backfill retrains on each day's data), wait in the triggerer, then branch on the outcome: a
model that passed the evaluation gate is announced, anything else raises an alert naming the failed
step. Backfill a week from the UI (Trigger -> Backfill) or with
``airflow backfill create --dag-id smpipe_retrain_abalone --from-date 2026-11-01 --to-date 2026-11-07``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pendulum

from airflow.sdk import DAG, task

from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineStartOperator, SageMakerPipelineUpsertOperator

DEFINITIONS = Path(__file__).resolve().parent / "definitions"
ROLE_ARN = os.environ.get("SMPIPE_EXAMPLE_ROLE_ARN", "arn:aws:iam::123456789012:role/SageMakerExecutionRole")
POLL_SECONDS = float(os.environ.get("SMPIPE_EXAMPLE_POLL_SECONDS", "30"))  # the demo and tests poll faster
DATA_BUCKET = os.environ.get("SMPIPE_EXAMPLE_DATA_BUCKET", "my-ml-bucket")
START_DATE = pendulum.datetime(2026, 11, 1, tz="UTC")
ABALONE_PIPELINE = "smpipe-example-abalone"

with DAG(
    dag_id="smpipe_retrain_abalone",
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    tags=["smpipe", "native-mode", "example"],
    doc_md=__doc__,
):
    upsert = SageMakerPipelineUpsertOperator(
        task_id="upsert_pipeline",
        pipeline_name=ABALONE_PIPELINE,
        definition=str(DEFINITIONS / "abalone.json"),
        role_arn=ROLE_ARN,
        description="Abalone age regression, retrained daily from Airflow",
    )
    retrain = SageMakerPipelineStartOperator(
        task_id="retrain",
        pipeline_name=ABALONE_PIPELINE,
        parameters={
            "InputData": f"s3://{DATA_BUCKET}/abalone/{{{{ ds }}}}/abalone-dataset.csv",
            "BatchData": f"s3://{DATA_BUCKET}/abalone/{{{{ ds }}}}/batch",
        },
        display_name="retrain-{{ ds_nodash }}",
        deferrable=True,
        poll_interval=POLL_SECONDS,
    )

    @task.branch(trigger_rule="all_done")
    def outcome(**context: Any) -> str:
        result = context["ti"].xcom_pull(task_ids="retrain")
        return "announce_model" if result and result["status"] == "Succeeded" else "alert"

    @task
    def announce_model(**context: Any) -> str:
        result = context["ti"].xcom_pull(task_ids="retrain")
        registered = next(s for s in result["steps"] if s["type"] == "RegisterModel")
        print(f"New model version {registered['job_arn']} from execution {result['execution_arn']}")
        return registered["job_arn"]

    @task
    def alert(**context: Any) -> None:
        arn = context["ti"].xcom_pull(task_ids="retrain", key="execution_arn")
        # A real DAG would page someone; the failed steps and reasons are in the retrain task's log.
        print(f"Retraining did not produce a model: see execution {arn}")

    upsert >> retrain >> outcome() >> [announce_model(), alert()]
