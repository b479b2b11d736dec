"""Example 7 — a weekly hyper-parameter sweep with a ForEach, in native mode.

Every week the ``smpipe-example-sweep`` pipeline (``definitions/hp_sweep.json``, an SDK v3
definition) trains one candidate per day of the week before the run: the ``SweepConfigs`` parameter
is a JSON list built from the run (the seven days before the run's date: a backfill of a month
sweeps each week on that week's days; a run triggered without a logical date, the seven days before
the day it was triggered), the
ForEach trains at most 3 candidates at once and its Selector keeps the one with the best
``validation:auc``, which the pipeline registers. If a candidate fails, a ``Failed`` run condition
notifies on-call and the execution ends ``CompletedWithFailures``; a Cleanup on ``Any`` deletes the
intermediate data whatever happened. Airflow upserts the pipeline, starts it, waits in the triggerer
and reports the selected candidate from the start task's XCom.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum

from airflow.sdk import DAG, task

from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineStartOperator, SageMakerPipelineUpsertOperator

DEFINITIONS = Path(__file__).resolve().parent / "definitions"
ROLE_ARN = os.environ.get("SMPIPE_EXAMPLE_ROLE_ARN", "arn:aws:iam::123456789012:role/SageMakerExecutionRole")
POLL_SECONDS = float(os.environ.get("SMPIPE_EXAMPLE_POLL_SECONDS", "30"))  # the demo and tests poll faster
DATA_BUCKET = os.environ.get("SMPIPE_EXAMPLE_DATA_BUCKET", "my-ml-bucket")
SWEEP_PIPELINE = "smpipe-example-sweep"
#: the candidates: one per day of the data interval, with these depths and learning rates in turn
DEPTHS = (3, 4, 6, 8)
ETAS = (0.3, 0.2, 0.1)


def sweep_window(dag_run: Any) -> tuple[datetime, datetime]:
    """The days a run sweeps: the week before the run's date.

    Airflow 3 schedules a cron preset such as ``@weekly`` with ``CronTriggerTimetable``: scheduled
    and backfilled runs have a logical date but an *empty* data interval (start == end == the
    logical date), so the week is counted back from that date. A run triggered without a logical
    date (``airflow dags trigger``, the REST API with ``"logical_date": null``) counts back from the
    day it was triggered (``run_after``, which every run has). A DAG given a timetable with real
    intervals (``CronDataIntervalTimetable``) sweeps its interval's days instead."""
    start, end = dag_run.data_interval_start, dag_run.data_interval_end
    if start is not None and end is not None and start < end:
        return start, end
    anchor = dag_run.logical_date or dag_run.run_after
    end = anchor.replace(hour=0, minute=0, second=0, microsecond=0)
    return end - timedelta(days=7), end


def sweep_items(dag_run: Any) -> str:
    """The ``SweepConfigs`` parameter: a JSON list of one item per day of the run's sweep window.

    A plain function used as a template macro, so the list is built when the task runs, from the
    run's own interval (a backfill sweeps each interval's days), never while the DAG is parsed.
    """
    start, end = sweep_window(dag_run)
    items = []
    day, index = start, 0
    while day < end:
        items.append({"day": day.strftime("%Y-%m-%d"), "max_depth": DEPTHS[index % len(DEPTHS)], "eta": ETAS[index % len(ETAS)]})
        day, index = day + timedelta(days=1), index + 1
    return json.dumps(items, separators=(",", ":"))


with DAG(
    dag_id="smpipe_hp_sweep",
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["smpipe", "native-mode", "foreach", "example"],
    doc_md=__doc__,
    user_defined_macros={"sweep_items": sweep_items, "sweep_window": sweep_window},
):
    upsert = SageMakerPipelineUpsertOperator(
        task_id="upsert_pipeline",
        pipeline_name=SWEEP_PIPELINE,
        definition=str(DEFINITIONS / "hp_sweep.json"),
        role_arn=ROLE_ARN,
        description="Weekly hyper-parameter sweep (ForEach), started from Airflow",
    )
    sweep = SageMakerPipelineStartOperator(
        task_id="sweep",
        pipeline_name=SWEEP_PIPELINE,
        parameters={
            "SweepConfigs": "{{ sweep_items(dag_run) }}",
            "DataBucket": DATA_BUCKET,
            "RoleArn": ROLE_ARN,
        },
        display_name="sweep-{{ sweep_window(dag_run)[0] | ds_nodash }}",  # the first day swept
        deferrable=True,
        poll_interval=POLL_SECONDS,
    )

    @task
    def best_candidate(**context: Any) -> dict[str, Any]:
        """The candidate the ForEach's Selector picked, from the start task's step table."""
        result = context["ti"].xcom_pull(task_ids="sweep")
        sweep_row = next(s for s in result["steps"] if s["name"] == "Sweep")
        selected = sweep_row["for_each"]["selected"]
        child = next(s for s in result["steps"] if s["name"] == selected["step_name"])
        print(f"Best candidate: {child['name']} (item {child['item']}), training job {child['job_arn']}")
        return {"candidate": child["name"], "item": json.loads(child["item"]), "training_job_arn": child["job_arn"]}

    upsert >> sweep >> best_candidate()
