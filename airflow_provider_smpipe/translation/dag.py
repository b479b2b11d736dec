"""``SageMakerPipelineDag`` and ``SageMakerPipelineTaskGroup``: a pipeline definition as Airflow tasks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.sdk import DAG, TaskGroup

from airflow_provider_smpipe.definition.model import PipelineDefinition
from airflow_provider_smpipe.translation.load import DefinitionSource, load_for_translation
from airflow_provider_smpipe.translation.settings import TranslationSettings
from airflow_provider_smpipe.translation.render import definition_doc, pipeline_params, render_steps

START_TIME_CHOICES = ("run_start", "logical_date")


def _settings(
    definition: PipelineDefinition,
    *,
    pipeline_name: str,
    task_prefix: str,
    start_time_from: str,
    deferrable: bool | None,
    poll_interval: float,
    callback_reply_queue_url: str | None,
    aws_conn_id: str | None,
    region_name: str | None,
    verify: bool | str | None,
    botocore_config: dict[str, Any] | None,
) -> TranslationSettings:
    if start_time_from not in START_TIME_CHOICES:
        raise ValueError(f"start_time_from must be one of {START_TIME_CHOICES}, not {start_time_from!r}")
    kwargs: dict[str, Any] = {
        "definition": definition,
        "pipeline_name": pipeline_name,
        "task_prefix": task_prefix,
        "start_time_from": start_time_from,
        "poll_interval": poll_interval,
        "callback_reply_queue_url": callback_reply_queue_url,
        "aws_conn_id": aws_conn_id,
        "region_name": region_name,
        "verify": verify,
        "botocore_config": botocore_config,
    }
    if deferrable is not None:
        kwargs["deferrable"] = deferrable
    return TranslationSettings(**kwargs)


class SageMakerPipelineDag(DAG):
    """A DAG whose tasks are the steps of a SageMaker pipeline definition (task id = step name).

    The definition is read from a local file, a dict or JSON text when the DAG file is parsed —
    never from AWS (snapshot a deployed pipeline with ``smpipe export``). An invalid definition, or a
    step type translation cannot run, raises the core's located error: the DAG shows an import error
    that says exactly what is wrong.

    :param definition: path of the definition JSON file, a dict, or JSON text.
    :param dag_id: the DAG id.
    :param pipeline_name: ``Execution.PipelineName`` (default: the DAG id).
    :param start_time_from: ``run_start`` (default) or ``logical_date``: what
        ``Execution.StartDateTime`` is (use ``logical_date`` for backfills).
    :param parallelism: at most this many steps of a run at once (``ParallelismConfiguration``).
    :param deferrable: wait for jobs in the triggerer (default: ``[operators] default_deferrable``).
    :param poll_interval: seconds between job status checks.
    :param callback_reply_queue_url: where Callback answers arrive (default ``<SqsQueueUrl>-replies``).
    :param aws_conn_id: Airflow AWS connection.
    :param region_name: AWS region.
    :param verify: TLS verification.
    :param botocore_config: botocore ``Config`` keyword arguments.
    :param dag_kwargs: everything else a ``DAG`` takes (``schedule``, ``start_date``, ``default_args``, ...).
    """

    def __init__(
        self,
        *,
        definition: DefinitionSource,
        dag_id: str,
        pipeline_name: str | None = None,
        start_time_from: str = "run_start",
        parallelism: int | None = None,
        deferrable: bool | None = None,
        poll_interval: float = 30.0,
        callback_reply_queue_url: str | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        **dag_kwargs: Any,
    ) -> None:
        loaded = load_for_translation(definition)
        name = pipeline_name or dag_id
        params = {**pipeline_params(loaded), **dict(dag_kwargs.pop("params", None) or {})}
        doc = definition_doc(loaded, name) + ("\n\n" + dag_kwargs.pop("doc_md") if dag_kwargs.get("doc_md") else "")
        if parallelism is not None:
            dag_kwargs.setdefault("max_active_tasks", int(parallelism))
        super().__init__(dag_id=dag_id, doc_md=doc, **dag_kwargs)
        self.pipeline_definition = loaded
        settings = _settings(
            loaded,
            pipeline_name=name,
            task_prefix="",
            start_time_from=start_time_from,
            deferrable=deferrable,
            poll_interval=poll_interval,
            callback_reply_queue_url=callback_reply_queue_url,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )
        with self:
            self.tasks_by_step: Mapping[str, Any] = render_steps(loaded, settings)
        # Params are set after the tasks exist: Airflow deep-copies the DAG's params into every task
        # it creates, which made building a 1000-step DAG 3x slower; at run time a task's params are
        # merged from the DAG's anyway, and the trigger form reads the DAG's.
        self.params.update(params)


class SageMakerPipelineTaskGroup(TaskGroup):
    """The steps of a pipeline as a TaskGroup inside any DAG (task ids ``<group_id>.<step>``).

    The pipeline's parameters (and the selective re-run controls) are added to the enclosing DAG's
    params unless the DAG already has params of those names. Arguments as for
    :class:`SageMakerPipelineDag`, with ``group_id`` instead of ``dag_id`` (``pipeline_name``
    defaults to the group id); other keyword arguments go to ``TaskGroup``.
    """

    def __init__(
        self,
        *,
        definition: DefinitionSource,
        group_id: str,
        pipeline_name: str | None = None,
        start_time_from: str = "run_start",
        deferrable: bool | None = None,
        poll_interval: float = 30.0,
        callback_reply_queue_url: str | None = None,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        **group_kwargs: Any,
    ) -> None:
        loaded = load_for_translation(definition)
        super().__init__(group_id=group_id, **group_kwargs)
        self.pipeline_definition = loaded
        settings = _settings(
            loaded,
            pipeline_name=pipeline_name or group_id,
            task_prefix=f"{self.group_id}.",
            start_time_from=start_time_from,
            deferrable=deferrable,
            poll_interval=poll_interval,
            callback_reply_queue_url=callback_reply_queue_url,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
            verify=verify,
            botocore_config=botocore_config,
        )
        with self:
            self.tasks_by_step: Mapping[str, Any] = render_steps(loaded, settings)
        if self.dag is not None:  # after the tasks, for the same reason as in SageMakerPipelineDag
            for key, param in pipeline_params(loaded).items():
                if key not in self.dag.params:
                    self.dag.params[key] = param
