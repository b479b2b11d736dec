"""What the UI's Clear and "mark failed" do to deferred tasks on a real deployment (separate
scheduler, triggerer, dag-processor and api-server processes), driven through the REST API the UI
uses. dag.test() cannot show these: the old try's trigger is cancelled in the triggerer while the
scheduler queues the new try.

* Clear a deferred start task: the execution keeps running, the new try re-attaches, one
  execution, the run succeeds (the old trigger's ``on_kill`` used to stop it).
* Mark a deferred start task failed: its execution is stopped.
* Mark a deferred translated step failed: its training job is stopped.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

from deployment import AirflowDeployment
from user_dags import TRANSLATED_DAG, definition, deploy_native, executions, task_instance, training_step, wait_deferred, wait_stopped, write


def test_clear_of_a_deferred_start_task_keeps_the_execution_and_reattaches(airflow_deployment: AirflowDeployment, emulator: Any, emulator_scenario: Any) -> None:
    airflow = airflow_deployment
    # Long enough that the execution still runs when the cleared try starts, even on a loaded
    # 2-CPU machine (a finished execution is, rightly, not re-attached to: the Clear starts a new one).
    emulator_scenario({"default_step_seconds": 45.0})
    dag_id, pipeline = deploy_native(airflow, emulator)
    run_id = airflow.trigger(dag_id)
    wait_deferred(airflow, dag_id, run_id, "start")
    [execution] = executions(emulator, pipeline)
    airflow.api(
        "POST",
        f"/dags/{quote(dag_id)}/clearTaskInstances",
        json={"dry_run": False, "dag_run_id": run_id, "task_ids": ["start"], "only_failed": False, "reset_dag_runs": True},
    )
    run = airflow.wait_for_run(dag_id, run_id, timeout=120)
    ti = task_instance(airflow, dag_id, run_id, "start")
    assert run["state"] == "success", ti
    assert ti["try_number"] == 2  # the cleared task really ran again
    assert [e["PipelineExecutionArn"] for e in executions(emulator, pipeline)] == [execution["PipelineExecutionArn"]]  # one execution
    described = emulator.client("sagemaker").describe_pipeline_execution(PipelineExecutionArn=execution["PipelineExecutionArn"])
    assert described["PipelineExecutionStatus"] == "Succeeded"  # never stopped by the old try's trigger


def test_mark_failed_of_a_deferred_start_task_stops_the_execution(airflow_deployment: AirflowDeployment, emulator: Any, emulator_scenario: Any) -> None:
    airflow = airflow_deployment
    emulator_scenario({"default_step_seconds": 30.0})
    dag_id, pipeline = deploy_native(airflow, emulator)
    run_id = airflow.trigger(dag_id)
    wait_deferred(airflow, dag_id, run_id, "start")
    [execution] = executions(emulator, pipeline)
    airflow.api("PATCH", f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances/start", json={"new_state": "failed"})
    sm = emulator.client("sagemaker")
    wait_stopped(airflow, lambda: sm.describe_pipeline_execution(PipelineExecutionArn=execution["PipelineExecutionArn"])["PipelineExecutionStatus"], "the execution")


def test_mark_failed_of_a_deferred_translated_step_stops_its_job(airflow_deployment: AirflowDeployment, emulator: Any, emulator_scenario: Any) -> None:
    airflow = airflow_deployment
    emulator_scenario({"default_step_seconds": 30.0})
    dag_id = f"deploy_translated_{uuid.uuid4().hex[:8]}"
    write(airflow.dags_folder / f"{dag_id}.json", json.dumps(definition(training_step("Train"))))
    write(airflow.dags_folder / f"{dag_id}.py", TRANSLATED_DAG.format(definition=f"{dag_id}.json", dag_id=dag_id))
    airflow.wait_for_dag(dag_id, filename=f"{dag_id}.py", timeout=90)
    run_id = airflow.trigger(dag_id)
    wait_deferred(airflow, dag_id, run_id, "Train")
    from airflow_provider_smpipe.translation.runtime import execution_id_for

    prefix = f"pipelines-{execution_id_for(dag_id, run_id)}-Train-"
    [job] = [j for j in emulator.state()["jobs"] if j["type"] == "Training" and j["name"].startswith(prefix)]
    airflow.api("PATCH", f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances/Train", json={"new_state": "failed"})
    sm = emulator.client("sagemaker")
    wait_stopped(airflow, lambda: sm.describe_training_job(TrainingJobName=job["name"])["TrainingJobStatus"], "the training job")
    assert airflow.wait_for_run(dag_id, run_id, timeout=60)["state"] == "failed"
