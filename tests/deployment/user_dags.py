"""DAGs and waits shared by the real-deployment tests: a native DAG starting one pipeline, a
translated one-step DAG, and the waits on task states, triggers and executions."""

from __future__ import annotations

import json
import os
import signal
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from deployment import AirflowDeployment, poll

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"

NATIVE_DAG = '''"""Deployment test DAG: start a pipeline and wait for it."""

from datetime import timedelta

import pendulum

from airflow.sdk import DAG
from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineStartOperator

with DAG({dag_id!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    SageMakerPipelineStartOperator(
        task_id="start", pipeline_name={pipeline!r}, deferrable={deferrable!r}, poll_interval={poll_interval!r},
        retries={retries!r}, retry_delay=timedelta(seconds=1),
    )
'''

TRANSLATED_DAG = '''"""Deployment test DAG: one translated Training step, waiting deferred."""

from pathlib import Path

import pendulum

from airflow_provider_smpipe.translation import SageMakerPipelineDag

dag = SageMakerPipelineDag(
    definition=Path(__file__).with_name({definition!r}), dag_id={dag_id!r}, schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), deferrable=True, poll_interval=0.5,
)
'''


def training_step(name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1", "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": "s3://emu-bucket/out"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30},
            "RoleArn": ROLE,
        },
    }


def definition(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2020-12-01", "Metadata": {}, "Parameters": [], "PipelineExperimentConfig": None, "Steps": list(steps)}


def write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def deploy_native(
    airflow: AirflowDeployment, emulator: Any, *, deferrable: bool = True, poll_interval: float = 0.5, retries: int = 0
) -> tuple[str, str]:
    """A one-step pipeline in the emulator and a DAG whose ``start`` task starts it; (dag id, pipeline name)."""
    suffix = uuid.uuid4().hex[:8]
    dag_id, pipeline = f"deploy_start_{suffix}", f"deploy-pipe-{suffix}"
    emulator.client("sagemaker").create_pipeline(PipelineName=pipeline, PipelineDefinition=json.dumps(definition(training_step("Train"))), RoleArn=ROLE)
    write(airflow.dags_folder / f"{dag_id}.py", NATIVE_DAG.format(dag_id=dag_id, pipeline=pipeline, deferrable=deferrable, poll_interval=poll_interval, retries=retries))
    airflow.wait_for_dag(dag_id, filename=f"{dag_id}.py", timeout=90)
    return dag_id, pipeline


def task_instance(airflow: AirflowDeployment, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    return dict(airflow.api("GET", f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances/{quote(task_id)}"))


def wait_deferred(airflow: AirflowDeployment, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    """Wait until the task is deferred *and* the triggerer runs its trigger: a user's action on a
    deferred task whose trigger the triggerer has not picked up yet never reaches the trigger's
    ``on_kill`` (Airflow just deletes the trigger row), so acting earlier would test nothing."""

    def deferred() -> dict[str, Any] | None:
        ti = task_instance(airflow, dag_id, run_id, task_id)
        return ti if ti["state"] == "deferred" else None

    ti = poll(deferred, timeout=90, interval=0.5, what=f"{task_id} to be deferred", check=airflow.check_alive)
    folder = airflow.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    pattern = f"attempt={ti['try_number']}.log.trigger.*.log"

    def trigger_running() -> bool:
        return any("starting" in path.read_text(errors="replace") for path in folder.glob(pattern))

    poll(trigger_running, timeout=60, interval=0.5, what=f"the triggerer to run {task_id}'s trigger", check=airflow.check_alive)
    return ti


def wait_stopped(airflow: AirflowDeployment, status_of: Callable[[], str], what: str) -> None:
    """Wait (at most 60 s) until ``status_of()`` says Stopped; DeploymentError otherwise."""
    poll(lambda: status_of() == "Stopped" or None, timeout=60, interval=0.5, what=f"{what} to be stopped", check=airflow.check_alive)


def executions(emulator: Any, pipeline: str) -> list[dict[str, Any]]:
    return list(emulator.client("sagemaker").list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"])


def kill_component(airflow: AirflowDeployment, name: str) -> None:
    """SIGKILL a component and everything in its process group (the triggerer's trigger runner
    subprocess with it), as an OOM kill or a lost machine would; waits until it is gone."""
    process = airflow.processes.pop(name)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def start_component(airflow: AirflowDeployment, name: str) -> None:
    """Start a component again, with the deployment's settings and log file."""
    airflow._spawn(name)  # the harness's own start path: same command, environment and log


def wait_task_state(airflow: AirflowDeployment, dag_id: str, run_id: str, task_id: str, states: tuple[str, ...], *, timeout: float = 120) -> dict[str, Any]:
    """The task instance, once its state is one of ``states``."""

    def reached() -> dict[str, Any] | None:
        ti = task_instance(airflow, dag_id, run_id, task_id)
        return ti if ti["state"] in states else None

    return poll(reached, timeout=timeout, interval=0.2, what=f"{task_id} to be {'/'.join(states)}", check=airflow.check_alive)
