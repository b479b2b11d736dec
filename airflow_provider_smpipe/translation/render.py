"""Translation, step 3 of load -> plan -> render: create one task per step and the edges between them."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param

from airflow_provider_smpipe.definition.model import PipelineDefinition
from airflow_provider_smpipe.translation.operators import (
    SageMakerPipelineConditionOperator,
    SageMakerPipelineFailOperator,
    SageMakerPipelineStepOperator,
    TranslationSettings,
)
from airflow_provider_smpipe.translation.plan import control_param_schemas, param_schema, plan_steps

OPERATORS = {
    "condition": SageMakerPipelineConditionOperator,
    "fail": SageMakerPipelineFailOperator,
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
    return (
        f"SageMaker pipeline **{pipeline_name}** translated to Airflow tasks by airflow-provider-smpipe.\n\n"
        f"{len(definition.steps)} steps ({summary}); source `{definition.source}`.\n\n"
        f"**definition sha256:** `{definition.content_hash()}`\n"
    )


def render_steps(definition: PipelineDefinition, settings: TranslationSettings) -> dict[str, Any]:
    """Create the step tasks in the current DAG / TaskGroup context; returns ``{step name: task}``."""
    tasks: dict[str, Any] = {}
    for plan in plan_steps(definition):
        step = plan.step
        extra: dict[str, Any] = {}
        if step.display_name:
            extra["task_display_name"] = step.display_name
        if step.description:
            extra["doc"] = step.description
        if plan.kind == "condition":
            extra["do_xcom_push"] = False
        task = OPERATORS[plan.kind](task_id=plan.task_id, settings=settings, step_name=step.name, **extra)
        for upstream in plan.upstream:
            tasks[upstream] >> task
        tasks[step.name] = task
    return tasks
