"""Example 3 — re-run selected steps from the Airflow UI.

Trigger it with the form: pick the steps to run and the reference execution whose outputs the other
steps reuse (default: the latest failed one), or switch on "re-run the failed steps" to re-run what
failed in the reference execution and everything after it. The selection is checked against the
pipeline's definition (steps exist, are connected, at most 50) before anything starts.
"""

from __future__ import annotations

import os
import pendulum

from airflow.sdk import DAG, Param

from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineStartOperator

POLL_SECONDS = float(os.environ.get("SMPIPE_EXAMPLE_POLL_SECONDS", "30"))  # the demo and tests poll faster
START_DATE = pendulum.datetime(2026, 11, 1, tz="UTC")
ABALONE_PIPELINE = "smpipe-example-abalone"

with DAG(
    dag_id="smpipe_selective_rerun",
    schedule=None,
    start_date=START_DATE,
    tags=["smpipe", "native-mode", "example"],
    doc_md=__doc__,
    render_template_as_native_obj=True,  # the step list reaches the operator as a list
    params={
        "rerun_failed_steps": Param(False, type="boolean", title="Re-run the failed steps (and what follows them)"),
        "selected_steps": Param(
            ["TrainAbaloneModel", "EvaluateAbaloneModel"],
            type="array",
            items={"type": "string"},
            title="Steps to run (ignored when re-running the failed steps)",
        ),
        "reference_execution": Param(
            "latest-failed",
            type="string",
            title="Reference execution",
            description="An execution ARN, or latest / latest-succeeded / latest-failed / latest-stopped",
        ),
    },
):
    SageMakerPipelineStartOperator(
        task_id="rerun",
        pipeline_name=ABALONE_PIPELINE,
        selected_steps="{{ None if params.rerun_failed_steps else params.selected_steps }}",
        source_execution="{{ None if params.rerun_failed_steps else params.reference_execution }}",
        rerun_failed_steps_of="{{ params.reference_execution if params.rerun_failed_steps else None }}",
        # When it was triggered: every run has run_after, while a run triggered without a logical
        # date (the CLI's and REST API's default) has no {{ ts_nodash }}.
        display_name="rerun-{{ dag_run.run_after | ts_nodash }}",
        deferrable=True,
        poll_interval=POLL_SECONDS,
    )
