"""Example 4 — the abalone pipeline translated: Airflow orchestrates, one task per step.

The definition file beside this DAG becomes tasks (task id = step name) that call the SageMaker job
APIs directly; XCom carries each step's properties to the steps that reference them, the evaluation
Condition branches, and the pipeline's parameters are the trigger form's fields. Backfills use each
run's logical date as ``Execution.StartDateTime`` (a run triggered without a logical date uses the
time it started).
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow_provider_smpipe.translation import SageMakerPipelineDag

DEFINITIONS = Path(__file__).resolve().parent / "definitions"
POLL_SECONDS = float(os.environ.get("SMPIPE_EXAMPLE_POLL_SECONDS", "30"))  # the demo and tests poll faster
START_DATE = pendulum.datetime(2026, 11, 1, tz="UTC")

dag = SageMakerPipelineDag(
    definition=DEFINITIONS / "abalone.json",
    dag_id="smpipe_abalone_translated",
    pipeline_name="AbalonePipeline",
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    start_time_from="logical_date",
    deferrable=True,
    poll_interval=POLL_SECONDS,
    tags=["smpipe", "translation-mode", "example"],
    doc_md=__doc__,
)
