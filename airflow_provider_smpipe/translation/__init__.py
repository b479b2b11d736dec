"""DAG-translation mode: a SageMaker pipeline definition rendered as Airflow tasks, one per step.

load (validate, cached) -> plan (support table, params, run-conf controls) -> render (operators and
edges), like Cosmos. Airflow orchestrates; each task calls the SageMaker (or Lambda, SQS, EMR) API
for its step, and XCom carries step properties to the steps that reference them.
"""

from airflow_provider_smpipe.translation.dag import SageMakerPipelineDag, SageMakerPipelineTaskGroup
from airflow_provider_smpipe.translation.plan import REFERENCE_RUN_KEY, SELECTED_STEPS_KEY

__all__ = ["REFERENCE_RUN_KEY", "SELECTED_STEPS_KEY", "SageMakerPipelineDag", "SageMakerPipelineTaskGroup"]
