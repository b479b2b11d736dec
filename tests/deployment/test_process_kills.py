"""Processes killed on purpose on a real deployment: the triggerer while a start task is deferred,
and the worker's task process while a start task waits in the worker (right after it started the
execution, and after the execution succeeded). Each time: the task completes, and exactly one
execution exists.

SIGKILL, not SIGTERM: nothing gets to clean up, as with an OOM kill or a lost machine.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from deployment import AirflowDeployment, poll
from user_dags import deploy_native, executions, kill_component, start_component, task_instance, wait_deferred, wait_task_state


def described_status(emulator: Any, execution_arn: str) -> str:
    return str(emulator.client("sagemaker").describe_pipeline_execution(PipelineExecutionArn=execution_arn)["PipelineExecutionStatus"])


def only_execution(emulator: Any, pipeline: str) -> dict[str, Any]:
    found = executions(emulator, pipeline)
    assert len(found) == 1, found
    return found[0]


def test_a_killed_triggerer_restarted_resumes_the_wait(airflow_deployment: AirflowDeployment, emulator: Any, emulator_scenario: Any) -> None:
    airflow = airflow_deployment
    emulator_scenario({"default_step_seconds": 20.0})
    dag_id, pipeline = deploy_native(airflow, emulator)
    run_id = airflow.trigger(dag_id)
    wait_deferred(airflow, dag_id, run_id, "start")
    kill_component(airflow, "triggerer")
    try:
        assert task_instance(airflow, dag_id, run_id, "start")["state"] == "deferred"  # nothing failed with it
    finally:
        start_component(airflow, "triggerer")
    # The new triggerer takes the trigger over once the dead one's heartbeat is older than
    # [triggerer] triggerer_health_check_threshold (30 s by default).
    run = airflow.wait_for_run(dag_id, run_id, timeout=240)
    ti = task_instance(airflow, dag_id, run_id, "start")
    assert run["state"] == "success" and ti["try_number"] == 1, ti
    assert described_status(emulator, only_execution(emulator, pipeline)["PipelineExecutionArn"]) == "Succeeded"


def kill_task_process(ti: dict[str, Any]) -> None:
    """SIGKILL the task process (the ``pid`` Airflow records for the running try)."""
    assert ti["pid"], ti
    os.kill(int(ti["pid"]), signal.SIGKILL)


def test_a_task_process_killed_after_the_start_call_is_retried_and_reattaches(
    airflow_deployment: AirflowDeployment, emulator: Any, emulator_scenario: Any
) -> None:
    airflow = airflow_deployment
    emulator_scenario({"default_step_seconds": 20.0})
    dag_id, pipeline = deploy_native(airflow, emulator, deferrable=False, poll_interval=1.0, retries=1)
    run_id = airflow.trigger(dag_id)
    wait_task_state(airflow, dag_id, run_id, "start", ("running",))
    started = poll(lambda: executions(emulator, pipeline) or None, timeout=60, interval=0.2, what="the execution to start", check=airflow.check_alive)
    assert described_status(emulator, started[0]["PipelineExecutionArn"]) == "Executing"
    kill_task_process(task_instance(airflow, dag_id, run_id, "start"))
    run = airflow.wait_for_run(dag_id, run_id, timeout=240)
    ti = task_instance(airflow, dag_id, run_id, "start")
    assert run["state"] == "success" and ti["try_number"] == 2, ti  # the kill failed try 1; try 2 re-attached
    assert only_execution(emulator, pipeline)["PipelineExecutionArn"] == started[0]["PipelineExecutionArn"]
    assert described_status(emulator, started[0]["PipelineExecutionArn"]) == "Succeeded"


def test_a_task_process_killed_after_the_execution_succeeded_is_retried_without_a_duplicate(
    airflow_deployment: AirflowDeployment, emulator: Any, emulator_scenario: Any
) -> None:
    airflow = airflow_deployment
    emulator_scenario({"default_step_seconds": 1.0})
    # A long poll interval: the execution ends while the task sleeps between two polls.
    dag_id, pipeline = deploy_native(airflow, emulator, deferrable=False, poll_interval=60.0, retries=1)
    run_id = airflow.trigger(dag_id)
    wait_task_state(airflow, dag_id, run_id, "start", ("running",))
    started = poll(lambda: executions(emulator, pipeline) or None, timeout=60, interval=0.2, what="the execution to start", check=airflow.check_alive)
    arn = started[0]["PipelineExecutionArn"]
    poll(lambda: described_status(emulator, arn) == "Succeeded" or None, timeout=60, interval=0.2, what="the execution to succeed", check=airflow.check_alive)
    ti = task_instance(airflow, dag_id, run_id, "start")
    assert ti["state"] == "running" and ti["try_number"] == 1, ti  # still asleep between polls
    kill_task_process(ti)
    run = airflow.wait_for_run(dag_id, run_id, timeout=240)
    ti = task_instance(airflow, dag_id, run_id, "start")
    assert run["state"] == "success" and ti["try_number"] == 2, ti
    assert only_execution(emulator, pipeline)["PipelineExecutionArn"] == arn  # reported, not started again


def test_a_scheduler_whose_loop_died_is_restarted_by_the_harness(airflow_deployment: AirflowDeployment, emulator: Any, emulator_scenario: Any) -> None:
    """Airflow's scheduler can log that its loop died (a StaleDataError race of its own) and then hang
    instead of exiting; the harness kills and restarts it, as a supervisor would, and work goes on.
    The death is simulated by its log line: the race itself cannot be provoked on demand."""
    from deployment import SCHEDULER_LOOP_DIED

    airflow = airflow_deployment
    emulator_scenario({"default_step_seconds": 0.5})
    before, old = len(airflow.restarts), airflow.processes["scheduler"]
    with (airflow.component_logs / "scheduler.log").open("a") as log:
        log.write(f"[error    ] {SCHEDULER_LOOP_DIED} [airflow.jobs.scheduler_job_runner.SchedulerJobRunner]\n")
    airflow.check_alive()
    assert len(airflow.restarts) == before + 1 and airflow.processes["scheduler"] is not old
    assert old.poll() is not None, "the old scheduler still runs"
    assert SCHEDULER_LOOP_DIED in (airflow.component_logs / f"scheduler.crashed-{len(airflow.restarts)}.log").read_text()
    dag_id, pipeline = deploy_native(airflow, emulator)
    run = airflow.wait_for_run(dag_id, airflow.trigger(dag_id), timeout=180)
    assert run["state"] == "success" and only_execution(emulator, pipeline)["PipelineExecutionStatus"] == "Succeeded"
