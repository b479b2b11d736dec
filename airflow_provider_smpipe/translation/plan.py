"""Translation, step 2 of load -> plan -> render: what each step becomes, decided at DAG-build time.

Pure data, no Airflow import: the plan says which steps are supported (and refuses the others with
the reason and the alternative), how parameters become typed DAG ``Params``, and the run-conf keys
that control selective re-runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError
from airflow_provider_smpipe.definition.model import COMPLETED, OPAQUE_STEP_TYPES, Parameter, PipelineDefinition, Step

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
    "ForEach": "task group `<ForEach>`: `items` resolves IterableItems, `iterations` is a mapped task group (one map index per item, labelled with the item) holding one task per body step, `results` pushes IterationOutputs, Selected and the aggregates",
    "Cleanup": "deletes the sources' S3 objects (exact S3Uris, or a Training source's outputs), never outside the source's output locations; pushes the report (CleanedSteps, FailedSteps, SkippedSteps)",
    "EMRServerless": "CreateApplication (ApplicationConfig) and StartJobRun with the EMR Serverless hook, wait, push GetJobRun (`jobRun`)",
    "Job": "CreateJob, wait on DescribeJob, push the describe",
}
_NATIVE = "run this pipeline in native mode (SageMakerPipelineStartOperator)"
REFUSED: dict[str, str] = {
    "QualityCheck": f"its drift-check semantics (baseline selection, violation reports, RegisterNewBaseline) run inside the SageMaker service and are not documented; {_NATIVE}",
    "ClarifyCheck": f"its bias/explainability check semantics run inside the SageMaker service and are not documented; {_NATIVE}",
    "Lineage": f"lineage entities are recorded by the service as part of a pipeline execution; {_NATIVE}",
    "InferenceComponent": f"not supported in translation yet (it needs endpoint capacity management); {_NATIVE}",
    **{
        name: f"its definition format is not published, so its arguments cannot be turned into API calls; {_NATIVE}"
        for name in OPAQUE_STEP_TYPES
    },
}

#: Task ids inside a ForEach's task group (the group itself is named after the ForEach).
FOR_EACH_ITEMS = "items"
FOR_EACH_ITERATIONS = "iterations"
FOR_EACH_RESULTS = "results"
#: The task that decides a run's final state when the definition has run conditions.
EXECUTION_STATUS_TASK = "execution_status"

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
        # "" is a valid value (StartPipelineExecution allows 0..1024 characters).
        "String": {"type": "string"},
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


KINDS = {"Condition": "condition", "Fail": "fail", "ForEach": "for_each", "Cleanup": "cleanup"}


@dataclass(frozen=True, slots=True)
class StepPlan:
    """What one step becomes.

    :param task_id: the task holding the step's properties, relative to the translation's prefix
        (``<ForEach>.results`` for a ForEach, ``<ForEach>.iterations.<step>`` for a body step).
    :param entry_id: the task its upstream tasks point at (``<ForEach>.items`` for a ForEach).
    :param upstream: the steps of the same scope it waits for.
    :param kind: ``condition``, ``fail``, ``for_each``, ``cleanup`` or ``step``.
    :param trigger_rule: ``all_success``; ``all_done`` when a ``DependsOn`` entry has a run
        condition (``Failed``, ``Stopped``, ``Any``): the task then starts once its upstream tasks
        ended and decides itself, with the core's rule, whether every requirement holds.
    :param gated: the task checks its requirements when it starts (see ``trigger_rule``).
    :param body: for a ForEach, its body steps' plans (same shape, scoped to one iteration).
    :param model_package_group: a RegisterModel step's ``ModelPackageGroupName`` when the definition
        writes it as a literal (the task then declares that group's asset, through its alias, as an
        outlet); ``None`` for an expression, known only at run time.
    :param s3_outputs: the literal S3 locations the step writes (Processing
        ``ProcessingOutputConfig.Outputs[].S3Output.S3Uri``, Training ``OutputDataConfig.S3OutputPath``,
        Transform ``TransformOutput.S3OutputPath``), declared as outlets; expressions are left out.
    """

    step: Step
    task_id: str
    entry_id: str
    upstream: tuple[str, ...]
    kind: str
    trigger_rule: str
    gated: bool
    body: tuple[StepPlan, ...] = ()
    model_package_group: str | None = None
    s3_outputs: tuple[str, ...] = ()


def _literal_s3(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith("s3://") and value[len("s3://") :].split("/", 1)[0]:
        return value
    return None


def _get(value: Any, *path: str) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def literal_outputs(step: Step) -> tuple[str | None, tuple[str, ...]]:
    """``(model package group, S3 output locations)`` of a step, from the literal values of its
    arguments only: what a DAG can declare as outlets before it runs (see :class:`StepPlan`)."""
    arguments = step.arguments if isinstance(step.arguments, dict) else {}
    if step.type == "RegisterModel":
        group = arguments.get("ModelPackageGroupName")
        return (group if isinstance(group, str) and group else None), ()
    if step.type == "Processing":
        outputs = _get(arguments, "ProcessingOutputConfig", "Outputs")
        found = [_literal_s3(_get(o, "S3Output", "S3Uri")) for o in (outputs if isinstance(outputs, list) else [])]
    elif step.type == "Training":
        found = [_literal_s3(_get(arguments, "OutputDataConfig", "S3OutputPath"))]
    elif step.type == "Transform":
        found = [_literal_s3(_get(arguments, "TransformOutput", "S3OutputPath"))]
    else:
        return None, ()
    return None, tuple(dict.fromkeys(uri for uri in found if uri))


@dataclass(frozen=True, slots=True)
class TranslationPlan:
    """The whole translation: top-level steps in dependency order, where each step's properties
    live, and the execution-status task (only when run conditions make it necessary)."""

    steps: tuple[StepPlan, ...]
    task_ids: dict[str, str]
    execution_status_id: str | None
    by_step: dict[str, StepPlan]

    def locate(self, step_name: str) -> str:
        """The task id (relative to the prefix) holding ``step_name``'s properties."""
        return self.task_ids[step_name]


def has_run_conditions(definition: PipelineDefinition) -> bool:
    return any(dep.trigger != COMPLETED for step in definition.steps.values() for dep in step.dependencies)


def _plan_scope(definition: PipelineDefinition, for_each: str | None) -> list[StepPlan]:
    scope = definition.scope(for_each)
    plans = []
    for name in scope.graph.topological_order():
        step = definition.steps[name]
        gated = any(req.declared and req.trigger != COMPLETED for req in scope.requirements[name])
        if for_each is None:
            task_id = f"{name}.{FOR_EACH_RESULTS}" if step.type == "ForEach" else name
            entry_id = f"{name}.{FOR_EACH_ITEMS}" if step.type == "ForEach" else name
        else:
            task_id = entry_id = f"{for_each}.{FOR_EACH_ITERATIONS}.{name}"
        body = tuple(_plan_scope(definition, name)) if step.type == "ForEach" else ()
        group, s3_outputs = literal_outputs(step)
        plans.append(
            StepPlan(
                step=step,
                task_id=task_id,
                entry_id=entry_id,
                upstream=tuple(sorted(scope.graph.upstream[name])),
                kind=KINDS.get(step.type, "step"),
                trigger_rule="all_done" if gated else "all_success",
                gated=gated,
                body=body,
                model_package_group=group,
                s3_outputs=s3_outputs,
            )
        )
    return plans


def plan_translation(definition: PipelineDefinition) -> TranslationPlan:
    """Every step's task, in dependency order (top level; a ForEach carries its body)."""
    steps = tuple(_plan_scope(definition, None))
    by_step = {p.step.name: p for p in steps}
    by_step.update({b.step.name: b for p in steps for b in p.body})
    task_ids = {name: p.task_id for name, p in by_step.items()}
    status_id = None
    if has_run_conditions(definition):
        status_id = EXECUTION_STATUS_TASK
        while status_id in definition.steps:  # a step may have that name: never collide with it
            status_id += "_"
    return TranslationPlan(steps=steps, task_ids=task_ids, execution_status_id=status_id, by_step=by_step)


def plan_steps(definition: PipelineDefinition) -> list[StepPlan]:
    """The top-level step plans in dependency order."""
    return list(plan_translation(definition).steps)
