"""Translation, step 2 of load -> plan -> render: what each step becomes, decided at DAG-build time.

Pure data, no Airflow import: the plan says which steps are supported (and refuses the others with
the reason and the alternative), how parameters become typed DAG ``Params``, and the run-conf keys
that control selective re-runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError
from airflow_provider_smpipe.definition.model import Parameter, PipelineDefinition, Step

#: Run-conf keys that steer a run. SageMaker parameter names match ``[A-Za-z0-9\-_]*``, so a key
#: with a dot can never collide with a pipeline parameter.
SELECTED_STEPS_KEY = "smpipe.selected_steps"
REFERENCE_RUN_KEY = "smpipe.reference_run_id"
CONTROL_KEYS = (SELECTED_STEPS_KEY, REFERENCE_RUN_KEY)

#: How translation handles each step type (also rendered as the README's table).
SUPPORT: dict[str, str] = {
    "Processing": "CreateProcessingJob, wait, push DescribeProcessingJob + property files read from S3",
    "Training": "CreateTrainingJob (function and notebook steps too), wait, push DescribeTrainingJob",
    "Transform": "CreateTransformJob, wait, push DescribeTransformJob",
    "Tuning": "CreateHyperParameterTuningJob, wait, push the describe + TrainingJobSummaries (best first)",
    "AutoML": "CreateAutoMLJob, wait, push DescribeAutoMLJob (+ BestCandidateProperties)",
    "Model": "CreateModel, push DescribeModel",
    "RegisterModel": "CreateModelPackage (idempotent client token), push DescribeModelPackage",
    "EndpointConfig": "CreateEndpointConfig with the definition's name, push the describe",
    "Endpoint": "CreateEndpoint, or UpdateEndpoint when it exists; wait for InService; push the describe",
    "Condition": "branch task: the branch not taken and everything downstream of it are skipped",
    "Fail": "fails the task (and the run) with the resolved ErrorMessage",
    "Lambda": "Invoke with the resolved inputs; the declared outputs become OutputParameters",
    "Callback": "SQS message to SqsQueueUrl, then wait for the answer on the reply queue",
    "EMR": "AddJobFlowSteps (or RunJobFlow for ClusterConfig), wait, push DescribeStep's Step",
}
REFUSED: dict[str, str] = {
    "QualityCheck": "its drift-check semantics (baseline selection, violation reports, RegisterNewBaseline) run inside the SageMaker service and are not documented; run this pipeline in native mode (SageMakerPipelineStartOperator)",
    "ClarifyCheck": "its bias/explainability check semantics run inside the SageMaker service and are not documented; run this pipeline in native mode (SageMakerPipelineStartOperator)",
    "Lineage": "lineage entities are recorded by the service as part of a pipeline execution; run this pipeline in native mode (SageMakerPipelineStartOperator)",
    "InferenceComponent": "not supported in translation yet (it needs endpoint capacity management); run this pipeline in native mode (SageMakerPipelineStartOperator)",
}


def check_supported(definition: PipelineDefinition) -> None:
    """Refuse, at DAG-build time, every step translation cannot run; never skip one silently."""
    problems = [
        DefinitionError(
            f"{step.type} steps cannot be translated to Airflow tasks: {REFUSED[step.type]}",
            step=step.name,
            location=f"{step.location}.Type",
        )
        for step in definition.steps.values()
        if step.type in REFUSED
    ]
    if problems:
        raise InvalidDefinitionError(problems, definition.source, what="pipeline for translation")


def param_schema(parameter: Parameter) -> dict[str, Any]:
    """JSON-schema keywords of the DAG ``Param`` for a pipeline parameter (trigger-form types)."""
    schema: dict[str, Any] = {
        "String": {"type": "string"} if parameter.default == "" else {"type": "string", "minLength": 1},
        "Integer": {"type": "integer"},
        "Float": {"type": "number"},
        "Boolean": {"type": "boolean"},
    }[parameter.type]
    if parameter.enum_values:
        schema["enum"] = list(parameter.enum_values)
    schema["description"] = parameter.description or f"SageMaker pipeline parameter ({parameter.type})"
    return schema


def control_param_schemas(definition: PipelineDefinition) -> dict[str, dict[str, Any]]:
    """Trigger-form fields for a selective re-run (optional; empty means a full run)."""
    return {
        SELECTED_STEPS_KEY: {
            # No enum of step names: Airflow deep-copies the DAG's params into every task, so a
            # per-step list would make building the DAG quadratic. Names are checked at run time.
            "type": ["null", "array"],
            "items": {"type": "string"},
            "description": "Selective re-run: run only these steps (leave empty for a full run).",
            "title": "Steps to run",
        },
        REFERENCE_RUN_KEY: {
            "type": ["null", "string"],
            "description": "Selective re-run: the finished run whose outputs the steps upstream of the selection reuse.",
            "title": "Reference run id",
        },
    }


@dataclass(frozen=True, slots=True)
class StepPlan:
    """What one step becomes: its task id, its upstream task ids and its kind of operator."""

    step: Step
    task_id: str
    upstream: tuple[str, ...]
    kind: str  # "condition" | "fail" | "step"


def plan_steps(definition: PipelineDefinition) -> list[StepPlan]:
    """One entry per step in dependency order; task id = step name."""
    graph = definition.graph
    plans = []
    for name in graph.topological_order():
        step = definition.steps[name]
        kind = {"Condition": "condition", "Fail": "fail"}.get(step.type, "step")
        plans.append(StepPlan(step=step, task_id=name, upstream=tuple(sorted(graph.upstream[name])), kind=kind))
    return plans
