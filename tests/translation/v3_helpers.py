"""Helpers for the SDK v3 translation tests: run a definition both as a translated DAG (dag.test)
and as a pipeline execution in the emulator (what the service would do), and read both as step
outcomes (``Succeeded`` / ``Failed`` / ``Stopped`` / ``NotRun``)."""

from __future__ import annotations

import json
from typing import Any

import pendulum

from airflow_provider_smpipe.translation import SageMakerPipelineDag
from airflow_provider_smpipe.translation.plan import plan_translation
from native_helpers import FIXTURES, unique

START = pendulum.datetime(2026, 1, 1, tz="UTC")
ROLE = "arn:aws:iam::123456789012:role/SageMakerPipelineExecutionRole"
#: Airflow task states each step outcome may show as.
AIRFLOW_STATES = {"Succeeded": {"success"}, "Failed": {"failed"}, "Stopped": {"failed"}, "NotRun": {"skipped", "upstream_failed"}}


def v3(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "definitions_v3" / f"{name}.json").read_text())


def translated(definition: Any, **kwargs: Any) -> SageMakerPipelineDag:
    kwargs.setdefault("dag_id", unique("v3"))
    return SageMakerPipelineDag(definition=definition, schedule=None, start_date=START, poll_interval=0.05, deferrable=True, **kwargs)


def ti_state(run: Any, task_id: str, map_index: int = -1) -> str | None:
    for ti in run.get_task_instances():
        if ti.task_id == task_id and ti.map_index == map_index:
            return None if ti.state is None else str(getattr(ti.state, "value", ti.state))
    return None


def xcom_of(run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key=key, map_index=map_index)
            .order_by(XComModel.timestamp.desc())
            .first()
        )
        return None if row is None else XComModel.deserialize_value(row)


def translated_outcomes(dag: SageMakerPipelineDag, run: Any) -> tuple[dict[str, str], dict[str, str]]:
    """``({step: outcome}, {task id: Airflow state})`` of the top-level steps of a finished run."""
    plan = plan_translation(dag.pipeline_definition)
    outcomes: dict[str, str] = {}
    states: dict[str, str] = {}
    for step_plan in plan.steps:
        task_id = step_plan.task_id
        state = ti_state(run, task_id) or "none"
        states[task_id] = state
        if state == "success":
            outcomes[step_plan.step.name] = "Succeeded"
        elif state == "failed":
            record = xcom_of(run, task_id, "outcome") or {}
            outcomes[step_plan.step.name] = "Stopped" if record.get("status") == "Stopped" else "Failed"
        else:
            outcomes[step_plan.step.name] = "NotRun"
    return outcomes, states


class Native:
    """Runs a definition as a pipeline execution in the emulator."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        self.sm = emulator.client("sagemaker")

    def run(self, document: dict[str, Any], parameters: dict[str, Any] | None = None) -> tuple[str, str, dict[str, dict[str, Any]]]:
        """``(execution ARN, status, {step name: ListPipelineExecutionSteps row})``."""
        name = unique("native")
        self.sm.create_pipeline(PipelineName=name, PipelineDefinition=json.dumps(document), RoleArn=ROLE)
        kwargs: dict[str, Any] = {}
        if parameters:
            kwargs["PipelineParameters"] = [{"Name": k, "Value": str(v)} for k, v in parameters.items()]
        arn = self.sm.start_pipeline_execution(PipelineName=name, **kwargs)["PipelineExecutionArn"]
        self.emulator.wait_for_execution(arn, 60)
        status = self.sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        rows: dict[str, dict[str, Any]] = {}
        for page in self.sm.get_paginator("list_pipeline_execution_steps").paginate(PipelineExecutionArn=arn):
            for row in page["PipelineExecutionSteps"]:
                rows[row["StepName"]] = row
        return arn, status, rows

    @staticmethod
    def outcomes(document_steps: list[str], rows: dict[str, dict[str, Any]]) -> dict[str, str]:
        return {name: rows[name]["StepStatus"] if name in rows else "NotRun" for name in document_steps}


def definition_with(steps: list[dict[str, Any]], parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"Version": "2020-12-01", "Metadata": {}, "Parameters": parameters or [], "PipelineExperimentConfig": None, "Steps": steps}


def training_step(name: str, *, output: Any = None, **extra: Any) -> dict[str, Any]:
    """A minimal valid Training step (its S3 output path is per execution unless ``output`` is given)."""
    step: dict[str, Any] = {
        "Name": name,
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1", "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": output or {"Std:Join": {"On": "/", "Values": ["s3://emu-bucket/out", {"Get": "Execution.PipelineExecutionId"}, name]}}},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30},
            "RoleArn": ROLE,
        },
    }
    step.update(extra)
    return step


def lambda_step(name: str, arguments: dict[str, Any], *, outputs: list[tuple[str, str]] | None = None, function: str = "notify", **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "Name": name,
        "Type": "Lambda",
        "FunctionArn": f"arn:aws:lambda:us-east-1:123456789012:function:{function}",
        "Arguments": arguments,
        "OutputParameters": [{"OutputName": n, "OutputType": t} for n, t in (outputs or [])],
    }
    step.update(extra)
    return step


def sweep(items: int, concurrency: int, *, selector: bool = True, handler: bool = True, body: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A ForEach ``Sweep`` over the String parameter ``Configs`` (a JSON list of ``{"depth": i}``)
    training one ``Train`` per item; ``Best`` reads ``Selected`` (or the status), ``OnFailure`` runs
    if the sweep failed and reads its aggregates."""
    train = training_step("Train")
    train["Arguments"]["HyperParameters"] = {"depth": {"Std:Join": {"On": "", "Values": [{"Get": "ForEach.CurrentItem.depth"}]}}}
    arguments: dict[str, Any] = {"IterableItems": {"Get": "Parameters.Configs"}, "MaxConcurrency": concurrency, "ForEachBody": body or [train]}
    if selector:
        arguments["Selector"] = {"Pick": "MaxBy", "Field": {"Get": "IterationOutput.Train.FinalMetricDataList['auc'].Value"}}
    steps: list[dict[str, Any]] = [
        {"Name": "Sweep", "Type": "ForEach", "Arguments": arguments},
        lambda_step("Best", {
            "job": {"Get": "Steps.Sweep.Selected.TrainingJobName"} if selector else {"Get": "Steps.Sweep.Status"},
            "second": {"Get": "Steps.Sweep.IterationOutputs[1].Train.TrainingJobName"},
            "count": {"Get": "Steps.Sweep.InputItemCount"},
        }, function="best"),
    ]
    if handler:
        steps.append(lambda_step("OnFailure", {"failed": {"Get": "Steps.Sweep.FailedStepCount"}, "status": {"Get": "Steps.Sweep.Status"}},
                                 DependsOn=[{"Step": "Sweep", "Trigger": "Failed"}]))
    configs = json.dumps([{"depth": d} for d in range(items)])
    return definition_with(steps, [{"Name": "Configs", "Type": "String", "DefaultValue": configs}])


def invocations(emulator: Any, function: str) -> list[Any]:
    """The payloads the emulator's Lambda answered for ``function`` (newest last)."""
    return [i["payload"] for i in emulator.state()["invocations"] if i["function"].endswith(f":function:{function}") or i["function"] == function]


def direct_jobs(emulator: Any, execution_id: str) -> list[dict[str, Any]]:
    return [j for j in emulator.state()["jobs"] if j.get("execution_id") == execution_id]
