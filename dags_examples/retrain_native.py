"""Example 1 — scheduled retraining in native mode.

Every day: create or update the ``abalone`` pipeline from the definition file beside this DAG (no
update call when it did not change), start an execution whose input paths come from the run's date
(so a backfill retrains on each day's data), wait in the triggerer, then announce the new model. If
the retraining fails (a step failed, or the model missed the evaluation gate), an alert names the
failed execution and the run ends ``failed``, so the failure shows in the run's state, not only in
its tasks. Backfill a week from the UI (Trigger -> Backfill) or with
``airflow backfill create --dag-id smpipe_retrain_abalone --from-date 2026-11-01 --to-date 2026-11-07``.

With ``SMPIPE_EVENTS_QUEUE_URL`` set (docker compose sets it; ``smpipe events setup`` makes the
queue), the wait is fed by SageMaker's EventBridge events instead of polling: no
DescribePipelineExecution per poll, one look at the start and one at the end (Airflow >= 3.3).
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
EVENTS_QUEUE_URL = os.environ.get("SMPIPE_EVENTS_QUEUE_URL")  # the queue of SageMaker's events, if set up
START_DATE = pendulum.datetime(2026, 11, 1, tz="UTC")
ABALONE_PIPELINE = "smpipe-example-abalone"

# The run's day, as a template. Scheduled runs and backfills have a logical date (the start of
# their daily interval): that day, so a backfill retrains on each day's data. A run triggered
# without one (`airflow dags trigger`, the REST API with "logical_date": null) has none, and
# `{{ ds }}` / `{{ ds_nodash }}` are undefined there: it takes the day it was triggered,
# `dag_run.run_after`, which every run has.
RUN_DAY = "{{ (dag_run.logical_date or dag_run.run_after) | ds }}"

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
            "InputData": f"s3://{DATA_BUCKET}/abalone/{RUN_DAY}/abalone-dataset.csv",
            "BatchData": f"s3://{DATA_BUCKET}/abalone/{RUN_DAY}/batch",
        },
        display_name="retrain-{{ (dag_run.logical_date or dag_run.run_after) | ts_nodash }}",
        deferrable=True,
        poll_interval=POLL_SECONDS,
        wait_via="events" if EVENTS_QUEUE_URL else "polling",
        events_queue_url=EVENTS_QUEUE_URL,
    )

    @task
    def announce_model(**context: Any) -> str:
        result = context["ti"].xcom_pull(task_ids="retrain")
        registered = next(s for s in result["steps"] if s["type"] == "RegisterModel")
        print(f"New model version {registered['job_arn']} from execution {result['execution_arn']}")
        return registered["job_arn"]

    @task(trigger_rule="one_failed")
    def alert(**context: Any) -> None:
        arn = context["ti"].xcom_pull(task_ids="retrain", key="execution_arn")
        # A real DAG would page someone; the failed steps and reasons are in the retrain task's log.
        if arn:
            print(f"Retraining did not produce a model: see execution {arn}")
        else:
            print("Retraining did not start: see the upsert_pipeline and retrain task logs")

    # The retrain task succeeds only when the execution Succeeded (a model passed the evaluation
    # gate and was registered). announce_model depends on it directly, so when it fails that leaf
    # ends upstream_failed and Airflow marks the run failed; alert (one_failed) runs only then. The
    # run's state is decided once every task has finished, i.e. after the alert ran.
    upsert >> retrain >> [announce_model(), alert()]
