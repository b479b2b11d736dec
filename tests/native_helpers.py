"""Helpers for tests that run Airflow DAGs against the emulator (native mode, examples).

``run_dag`` runs a DAG with Airflow's own ``dag.test()`` on the session's SQLite metadata DB after
serialising it (Airflow 3.1+ refuses to run an unserialised DAG). Deferred tasks run their real
trigger inline. Fixtures: ``aws_connection`` points ``aws_default`` at the emulator.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_compat import dag_serialization, run_until_done, sync_dag_to_db

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
_counter = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test uses (pipelines and DAGs live for the whole session)."""
    return f"{prefix}-{next(_counter)}-{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def aws_connection(emulator: Any) -> Iterator[str]:
    """``aws_default`` (via ``AIRFLOW_CONN_AWS_DEFAULT``) pointing at the session's emulator."""
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"region_name": "us-east-1", "endpoint_url": emulator.endpoint_url},
        }
    )
    yield emulator.endpoint_url
    os.environ.pop("AIRFLOW_CONN_AWS_DEFAULT", None)


@pytest.fixture
def airflow_env(airflow_db: None, aws_connection: str, emulator_scenario: Callable[..., Any]) -> Callable[..., Any]:
    """Everything a DAG-running test needs; returns ``emulator_scenario`` for convenience."""
    return emulator_scenario


def run_dag(
    dag: Any,
    *,
    run_conf: dict[str, Any] | None = None,
    logical_date: Any = None,
    run_after: Any = None,
    mark_success_pattern: str | None = None,
) -> Any:
    """Serialise ``dag`` into the metadata DB and run it with ``dag.test()``; returns the DagRun."""
    sync_dag_to_db(dag)
    kwargs: dict[str, Any] = {"run_conf": run_conf}
    if run_after is not None:  # dag.test names the run after run_after: pin it to run the same run again
        kwargs["run_after"] = run_after
    if mark_success_pattern is not None:
        kwargs["mark_success_pattern"] = mark_success_pattern
    if logical_date is not None:
        kwargs["logical_date"] = logical_date
    return dag.test(**kwargs)


def task_states(dag_run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def task_instance(dag_run: Any, task_id: str) -> Any:
    return next(ti for ti in dag_run.get_task_instances() if ti.task_id == task_id)


def xcom(dag_run: Any, task_id: str, key: str = "return_value") -> Any:
    """A task's XCom value, read from the metadata DB as the UI would."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key)
            .order_by(XComModel.timestamp.desc())
            .first()
        )
        return None if row is None else XComModel.deserialize_value(row)


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
    diagnose: Callable[[], Any] | None = None,
) -> Any:
    """Poll ``predicate`` until it is truthy; fail at ``timeout`` naming ``what`` and, when given,
    what ``diagnose()`` says about the state then (for failures seen only in a loaded full run)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    details = f"; state: {diagnose()!r}" if diagnose is not None else ""
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r}){details}")


# -- small definitions built from the SDK fixture's real request shapes -------------------------------


def _abalone() -> dict[str, Any]:
    return json.loads((FIXTURES / "definitions" / "abalone.json").read_text())


def processing_step(name: str, *, depends_on: list[str] | None = None, input_uri: Any = None) -> dict[str, Any]:
    """A Processing step with the request shape of the SDK's abalone preprocessing step."""
    template = copy.deepcopy(_abalone()["Steps"][0])
    step = {"Name": name, "Type": "Processing", "Arguments": template["Arguments"]}
    step["Arguments"]["ProcessingOutputConfig"]["Outputs"] = [
        {
            "OutputName": "out",
            "AppManaged": False,
            "S3Output": {
                "S3Uri": {"Std:Join": {"On": "/", "Values": ["s3:/", "my-ml-bucket", {"Get": "Execution.PipelineExecutionId"}, name, "out"]}},
                "LocalPath": "/opt/ml/processing/out",
                "S3UploadMode": "EndOfJob",
            },
        }
    ]
    step["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] = input_uri if input_uri is not None else {"Get": "Parameters.InputData"}
    step["Arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = {"Get": "Parameters.InstanceCount"}
    step["Arguments"]["AppSpecification"]["ContainerArguments"] = ["--mode", {"Get": "Parameters.Mode"}]
    if depends_on:
        step["DependsOn"] = depends_on
    return step


def chain_definition(names: list[str]) -> dict[str, Any]:
    """Processing steps in a chain (each reads the previous one's output), with typed parameters:
    ``InputData`` (String), ``InstanceCount`` (Integer), ``Mode`` (String, enum), ``Threshold`` (Float)."""
    steps = []
    for index, name in enumerate(names):
        source = {"Get": "Parameters.InputData"} if index == 0 else {
            "Get": f"Steps.{names[index - 1]}.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri"
        }
        steps.append(processing_step(name, input_uri=source))
    return {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": [
            {"Name": "InputData", "Type": "String", "DefaultValue": "s3://my-ml-bucket/input/data.csv"},
            {"Name": "InstanceCount", "Type": "Integer", "DefaultValue": 1},
            {"Name": "Mode", "Type": "String", "DefaultValue": "fast", "EnumValues": ["fast", "full"]},
            {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.5},
        ],
        "PipelineExperimentConfig": None,
        "Steps": steps,
    }


def callback_definition(queue_url: str) -> dict[str, Any]:
    """Prep -> Approve (Callback, outputs decision/score) -> Gate: decision == "approve"
    -> Deploy (Processing) else Rejected (Fail, message names the decision)."""
    definition = chain_definition(["Prep"])
    definition["Steps"].append(
        {
            "Name": "Approve",
            "Type": "Callback",
            "Arguments": {"data": {"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri"}, "mode": {"Get": "Parameters.Mode"}},
            "SqsQueueUrl": queue_url,
            "OutputParameters": [{"OutputName": "decision", "OutputType": "String"}, {"OutputName": "score", "OutputType": "Float"}],
        }
    )
    deploy = processing_step("Deploy", input_uri={"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['out'].S3Output.S3Uri"})
    definition["Steps"].append(
        {
            "Name": "Gate",
            "Type": "Condition",
            "Arguments": {
                "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.Approve.OutputParameters['decision']"}, "RightValue": "approve"}],
                "IfSteps": [deploy],
                "ElseSteps": [
                    {
                        "Name": "Rejected",
                        "Type": "Fail",
                        "Arguments": {"ErrorMessage": {"Std:Join": {"On": " ", "Values": ["decision was", {"Get": "Steps.Approve.OutputParameters['decision']"}]}}},
                    }
                ],
            },
        }
    )
    return definition


def clear_and_rerun(dag: Any, dag_run: Any, task_ids: list[str], map_indexes: dict[str, list[int]] | None = None) -> Any:
    """What "Clear" in the UI does for ``task_ids`` of an existing run (and for the given map
    indexes of mapped tasks), then run what became runnable with the same minimal loop
    ``dag.test()`` uses (other tasks keep state and XCom)."""
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import clear_task_instances
    from airflow.utils.state import DagRunState

    session = settings.Session()
    run = session.query(DagRun).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).one()
    mapped = map_indexes or {}
    cleared = [
        ti
        for ti in run.get_task_instances(session=session)
        if ti.task_id in task_ids or ti.map_index in mapped.get(ti.task_id, ())
    ]
    clear_task_instances(cleared, session, dag_run_state=DagRunState.RUNNING)
    session.commit()
    serialization = dag_serialization()
    scheduler_dag = serialization.deserialize_dag(serialization.serialize_dag(dag))
    return run_until_done(session, dag, scheduler_dag, dag_run.dag_id, dag_run.run_id, timeout=120)
