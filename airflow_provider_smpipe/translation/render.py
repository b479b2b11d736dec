"""Translation, step 3 of load -> plan -> render: create one task per step and the edges between them."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, TaskGroup, task_group

from airflow_provider_smpipe.assets import model_package_group_alias, s3_output_asset
from airflow_provider_smpipe.definition.model import PipelineDefinition
from airflow_provider_smpipe.translation.base import MAP_INDEX_TEMPLATE
from airflow_provider_smpipe.translation.cleanup import SageMakerPipelineCleanupOperator
from airflow_provider_smpipe.translation.control import SageMakerPipelineConditionOperator, SageMakerPipelineFailOperator
from airflow_provider_smpipe.translation.foreach import SageMakerPipelineForEachItemsOperator, SageMakerPipelineForEachResultsOperator
from airflow_provider_smpipe.translation.operators import SageMakerPipelineStepOperator
from airflow_provider_smpipe.translation.plan import FOR_EACH_ITEMS, FOR_EACH_ITERATIONS, FOR_EACH_RESULTS, StepPlan, control_param_schemas, param_schema
from airflow_provider_smpipe.translation.settings import TranslationSettings
from airflow_provider_smpipe.translation.status import SageMakerPipelineExecutionStatusOperator

OPERATORS = {
    "condition": SageMakerPipelineConditionOperator,
    "fail": SageMakerPipelineFailOperator,
    "cleanup": SageMakerPipelineCleanupOperator,
    "step": SageMakerPipelineStepOperator,
}


def pipeline_params(definition: PipelineDefinition) -> dict[str, Param]:
    """Typed DAG params for the trigger form: every pipeline parameter, then the selective re-run
    controls. A parameter without a default is required when the run is triggered."""
    params: dict[str, Param] = {}
    for parameter in definition.parameters.values():
        schema = param_schema(parameter)
        params[parameter.name] = Param(parameter.default, **schema) if parameter.has_default else Param(**schema)
    for key, schema in control_param_schemas(definition).items():
        params[key] = Param(None, **schema)
    return params


def definition_doc(definition: PipelineDefinition, pipeline_name: str) -> str:
    """The DAG's doc: what it runs and the definition hash (a changed definition is a new DAG version)."""
    kinds: dict[str, int] = {}
    for step in definition.steps.values():
        kinds[step.type] = kinds.get(step.type, 0) + 1
    summary = ", ".join(f"{n} {t}" for t, n in sorted(kinds.items()))
    doc = (
        f"SageMaker pipeline **{pipeline_name}** translated to Airflow tasks by airflow-provider-smpipe.\n\n"
        f"{len(definition.steps)} steps ({summary}); source `{definition.source}`.\n\n"
    )
    mlflow = definition.mlflow_config
    if mlflow:
        # Shown, not rendered: backticks keep the user's text literal in Markdown.
        shown = ", ".join(f"{key} `{str(value).replace('`', '')}`" for key, value in sorted(mlflow.items()) if isinstance(value, (str, int, float)))
        doc += (
            f"**MlflowConfig** ({shown}): not used by translated runs — the SageMaker service logs its own "
            "executions to MLflow; run the pipeline in native mode for that.\n\n"
        )
    return doc + f"**definition sha256:** `{definition.content_hash()}`\n"


def _extra(plan: StepPlan) -> dict[str, Any]:
    step = plan.step
    extra: dict[str, Any] = {}
    if step.display_name:
        extra["task_display_name"] = step.display_name
    if step.description:
        extra["doc"] = step.description
    if plan.trigger_rule != "all_success":
        extra["trigger_rule"] = plan.trigger_rule
    return extra


def step_outlets(plan: StepPlan) -> list[Any]:
    """The assets a step's task declares: each literal S3 output location (an event whenever the task
    succeeds, also when its outputs were reused from a reference run or the step cache), and for a
    RegisterModel step with a literal group that group's alias, through which the task emits an event
    only for the package it registered (:mod:`airflow_provider_smpipe.assets`). An output or group
    given by an expression is known only at run time and is not declared."""
    try:
        if plan.model_package_group is not None:
            return [model_package_group_alias(plan.model_package_group)]
        assets = [s3_output_asset(uri) for uri in plan.s3_outputs]
    except ValueError:  # not a group name, or no asset URI (over 1500 characters): the call refuses it at run time
        return []
    return list({asset.uri: asset for asset in assets}.values())


def _render_step(plan: StepPlan, settings: TranslationSettings, **more: Any) -> Any:
    extra = {**_extra(plan), **more}
    outlets = step_outlets(plan) if plan.kind == "step" else []
    if outlets:
        extra["outlets"] = outlets
    if plan.kind == "condition":
        extra["do_xcom_push"] = False
    task_id = plan.task_id.rsplit(".", 1)[-1]  # the enclosing task groups add their prefixes
    return OPERATORS[plan.kind](task_id=task_id, settings=settings, step_name=plan.step.name, **extra)


def _render_for_each(plan: StepPlan, settings: TranslationSettings) -> tuple[Any, Any]:
    """The ForEach's task group; returns its (entry, exit) tasks: ``items`` and ``results``."""
    step = plan.step
    spec = step.for_each
    assert spec is not None
    with TaskGroup(group_id=step.name, tooltip=step.description or f"ForEach over {len(spec.body)} body step(s)"):
        entry = {k: v for k, v in _extra(plan).items() if k != "doc"}
        items = SageMakerPipelineForEachItemsOperator(task_id=FOR_EACH_ITEMS, settings=settings, step_name=step.name, **entry)
        body_tasks: dict[str, Any] = {}

        def iterations(item: Any) -> None:
            # One task per body step; the group is mapped over the items, so each task has one
            # map index per item (the item itself is read by the task from `items`).
            for body in plan.body:
                task = _render_step(body, settings, map_index_template=MAP_INDEX_TEMPLATE, max_active_tis_per_dagrun=spec.max_concurrency)
                for upstream in body.upstream:
                    body_tasks[upstream] >> task
                body_tasks[body.step.name] = task

        task_group(group_id=FOR_EACH_ITERATIONS)(iterations).expand(item=items.output)
        results = SageMakerPipelineForEachResultsOperator(
            task_id=FOR_EACH_RESULTS,
            settings=settings,
            step_name=step.name,
            trigger_rule="all_done",
            task_display_name=f"{step.display_name or step.name} results",
        )
        items >> results
        for task in body_tasks.values():
            task >> results
    return items, results


def render_steps(definition: PipelineDefinition, settings: TranslationSettings) -> dict[str, Any]:
    """Create the step tasks in the current DAG / TaskGroup context; returns ``{step name: task}``
    (for a ForEach, its ``results`` task; its body steps' tasks are in its task group)."""
    entries: dict[str, Any] = {}
    exits: dict[str, Any] = {}
    for plan in settings.plan.steps:
        if plan.kind == "for_each":
            entry, done = _render_for_each(plan, settings)
        else:
            entry = done = _render_step(plan, settings)
        for upstream in plan.upstream:
            exits[upstream] >> entry
        entries[plan.step.name], exits[plan.step.name] = entry, done
    if settings.plan.execution_status_id is not None:
        status = SageMakerPipelineExecutionStatusOperator(
            task_id=settings.plan.execution_status_id, settings=settings, trigger_rule="all_done", task_display_name="Execution status"
        )
        graph = definition.scope(None).graph
        for name, task in exits.items():
            if not graph.downstream[name]:  # the leaves: every other task ends before them
                task >> status
    return exits
