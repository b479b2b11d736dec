"""Extra link from a task to its pipeline execution in the SageMaker console.

Airflow 3 computes the URL on the worker when the task finishes and stores it in XCom; the operator
stores what the URL needs (region, partition domain, pipeline, execution id) as soon as the
execution is known, like the amazon provider's links.
"""

from __future__ import annotations

from typing import ClassVar

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


class SageMakerPipelineExecutionLink(BaseAwsLink):
    """The execution's page under the pipeline in the SageMaker console (region- and partition-aware)."""

    name: ClassVar[str] = "SageMaker Pipeline Execution"
    key: ClassVar[str] = "smpipe_pipeline_execution"
    format_str: ClassVar[str] = (
        BASE_AWS_CONSOLE_LINK
        + "/sagemaker/home?region={region_name}#/pipelines/details/{pipeline_name}/executions/{execution_id}"
    )
