"""What every task of one translated pipeline shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from airflow.providers.common.compat.sdk import conf

from airflow_provider_smpipe.definition.model import PipelineDefinition
from airflow_provider_smpipe.translation.plan import TranslationPlan, plan_translation


@dataclass(frozen=True)
class TranslationSettings:
    """What every step task of one translated pipeline shares (one object for the whole DAG, so
    building a large DAG sets two attributes per task instead of a dozen).

    :param definition: the loaded definition.
    :param pipeline_name: ``Execution.PipelineName``.
    :param task_prefix: task-id prefix of the step tasks (a TaskGroup's ``group_id.``).
    :param start_time_from: ``run_start`` or ``logical_date`` for ``Execution.StartDateTime``.
    :param deferrable: wait for jobs in the triggerer.
    :param poll_interval: seconds between status checks.
    :param callback_reply_queue_url: where Callback answers arrive (default ``<SqsQueueUrl>-replies``).
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region.
    :param verify: TLS verification.
    :param botocore_config: botocore ``Config`` keyword arguments.
    :param plan: where each step's task is (computed from the definition when not given).
    """

    definition: PipelineDefinition
    pipeline_name: str
    task_prefix: str = ""
    start_time_from: str = "run_start"
    deferrable: bool = field(default_factory=lambda: conf.getboolean("operators", "default_deferrable", fallback=False))
    poll_interval: float = 30.0
    callback_reply_queue_url: str | None = None
    aws_conn_id: str | None = "aws_default"
    region_name: str | None = None
    verify: bool | str | None = None
    botocore_config: dict[str, Any] | None = None
    plan: TranslationPlan = None  # type: ignore[assignment]  # filled in __post_init__

    def __post_init__(self) -> None:
        if self.plan is None:
            object.__setattr__(self, "plan", plan_translation(self.definition))

    def aws(self) -> dict[str, Any]:
        """The AWS connection settings, as triggers and hooks take them."""
        return {"aws_conn_id": self.aws_conn_id, "region_name": self.region_name, "verify": self.verify, "botocore_config": self.botocore_config}
