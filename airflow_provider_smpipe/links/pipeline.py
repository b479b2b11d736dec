"""Extra link from a task to its pipeline execution in the SageMaker console.

Airflow 3 computes the URL on the worker when the task finishes and stores it in XCom; the operator
stores what the URL needs (region, partition domain, pipeline, execution id) as soon as the
execution is known, like the amazon provider's links.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


class SageMakerPipelineExecutionLink(BaseAwsLink):
    """The execution's page under the pipeline in the SageMaker console (region- and partition-aware)."""

    name: ClassVar[str] = "SageMaker Pipeline Execution"
    key: ClassVar[str] = "smpipe_pipeline_execution"
    format_str: ClassVar[str] = (
        BASE_AWS_CONSOLE_LINK
        + "/sagemaker/home?region={region_name}#/pipelines/details/{pipeline_name}/executions/{execution_id}"
    )

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """The URL, or ``""`` without asking XCom when the task never knew an execution (it failed
        before starting one): the lookup of a missing key is logged as an error by Airflow's
        client, which made every such failure log a spurious ``XCom not found``."""
        attributes = ("_execution_arn", "_resolved_arn")  # the start/stop/retry operators', the sensors'
        tracked = any(hasattr(operator, name) for name in attributes)
        if tracked and not any(getattr(operator, name, None) for name in attributes):
            return ""
        return super().get_link(operator, ti_key=ti_key)
