"""The example DAGs on a real deployment (api-server, scheduler with LocalExecutor, dag-processor,
triggerer as separate processes) whose DAGs folder is ``dags_examples/`` itself, against the
session's emulator loaded with the scenario the examples ship (``dags_examples/emulator_scenario.json``),
driven only through the REST API the UI uses:

* every example imports with no error;
* the native retraining DAG: its start task is seen ``deferred`` in the real triggerer and the run
  succeeds with exactly one new execution;
* the native retraining waits on SageMaker's events (``SMPIPE_EVENTS_QUEUE_URL``: a queue fed by a
  moto EventBridge rule, as ``smpipe events setup`` makes it), and its success reaches the
  event-scheduled deployment example through that example's ``AssetWatcher``, which deploys the
  model the execution registered;
* the translated DAG succeeds;
* a backfill (``POST /api/v2/backfills``) over 3 logical dates of each scheduled example makes 3
  successful runs, and the native retraining's 3 executions carry each run's date in their
  parameters.

Runs are bounded in time; the deployment is stopped when the module ends, also when a test fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pendulum
import pytest
from botocore.exceptions import ClientError
from deployment import AirflowDeployment, local_airflow, poll

from airflow_provider_smpipe.events.setup import setup_event_queue

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "dags_examples"
SCENARIO = EXAMPLES / "emulator_scenario.json"
ABALONE = "smpipe-example-abalone"
RETRAIN, TRANSLATED, SWEEP, WAIT = "smpipe_retrain_abalone", "smpipe_abalone_translated", "smpipe_hp_sweep", "smpipe_wait_for_latest_execution"
DEPLOY = "smpipe_deploy_on_upstream_success"
#: Three logical dates of each scheduled example, in its own schedule (all after its start_date).
BACKFILLS = {
    RETRAIN: ("2026-11-02T00:00:00Z", "2026-11-04T00:00:00Z"),
    TRANSLATED: ("2026-11-02T00:00:00Z", "2026-11-04T00:00:00Z"),
    SWEEP: ("2026-11-08T00:00:00Z", "2026-11-22T00:00:00Z"),  # three Sundays: @weekly is "0 0 * * 0"
    WAIT: ("2026-11-02T00:00:00Z", "2026-11-02T02:00:00Z"),
}
RUN_TIMEOUT = 300.0


@pytest.fixture(scope="module")
def airflow_deployment(emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowDeployment]:
    """A deployment whose DAGs folder is ``dags_examples/``, the emulator running the examples' scenario.
    (Named like conftest's fixture, which it replaces here, so a failed test's report gets the logs.)"""
    emulator.load_scenario(str(SCENARIO))
    # What `smpipe events setup --queue smpipe-pipeline-events` makes (docker compose runs it).
    events = setup_event_queue(sqs_client=emulator.client("sqs"), events_client=emulator.client("events"), queue_name="smpipe-pipeline-events")
    extra = {
        **local_airflow.aws_settings(emulator.endpoint_url),
        "SMPIPE_EVENTS_QUEUE_URL": str(events["queue_url"]),
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLES),
        # The examples poll every 30 s by default (sized for real SageMaker); the emulator's steps take a second.
        "SMPIPE_EXAMPLE_POLL_SECONDS": "1",
    }
    try:
        with AirflowDeployment(tmp_path_factory.mktemp("examples-deployment"), env=extra) as deployment:
            yield deployment
    finally:
        emulator.load_scenario(None)


def example_dag_ids() -> set[str]:
    """The dag ids the example files declare (read from the source, not by importing them here)."""
    ids = set()
    for path in EXAMPLES.glob("*.py"):
        for line in path.read_text().splitlines():
            if line.strip().startswith("dag_id="):
                ids.add(line.split("=", 1)[1].strip().strip(",").strip("\"'"))
    return ids


def executions(emulator: Any, pipeline: str) -> list[dict[str, Any]]:
    client = emulator.client("sagemaker")
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("list_pipeline_executions").paginate(PipelineName=pipeline):
        found += page["PipelineExecutionSummaries"]
    return found


def parameters_of(emulator: Any, execution_arn: str) -> dict[str, str]:
    listed = emulator.client("sagemaker").list_pipeline_parameters_for_execution(PipelineExecutionArn=execution_arn)
    return {p["Name"]: p["Value"] for p in listed["PipelineParameters"]}


def test_every_example_imports_without_errors(airflow_deployment: AirflowDeployment) -> None:
    examples = airflow_deployment
    expected = example_dag_ids()
    assert len(expected) == len(list(EXAMPLES.glob("*.py")))  # one DAG a file, each found

    def all_listed() -> set[str] | None:
        listed = {dag["dag_id"] for dag in examples.api("GET", "/dags", params={"limit": 100})["dags"]}
        return listed if expected <= listed else None

    poll(all_listed, timeout=120, interval=1, what=f"the example DAGs {sorted(expected)}", check=examples.check_alive)
    assert examples.import_errors() == []


def test_native_retraining_waits_in_the_triggerer_and_makes_one_execution(airflow_deployment: AirflowDeployment, emulator: Any) -> None:
    examples = airflow_deployment
    examples.wait_for_dag(RETRAIN, timeout=120)
    # Example 8 deploys what a successful retraining registered (next test); unpaused first, so
    # that the asset event this run's success makes schedules it.
    examples.wait_for_dag(DEPLOY, timeout=120)
    examples.api("PATCH", f"/dags/{quote(DEPLOY)}", json={"is_paused": False})
    # ... and its watcher running before the retraining starts: the retrain task's event-fed wait
    # shares the queue's receive loop, and a watcher sees the events that arrive while it runs (an
    # earlier success would be consumed by the wait's group alone: README, Events).
    poll(lambda: watcher_running(examples) or None, timeout=RUN_TIMEOUT, interval=0.5, what="example 8's watcher to run", check=examples.check_alive)
    before = arns(emulator)  # the session's emulator holds other tests' executions of this pipeline
    run_id = examples.trigger(RETRAIN)

    def retrain_deferred() -> dict[str, Any] | None:
        deferred = [ti for ti in examples.task_instances(RETRAIN, run_id) if ti["task_id"] == "retrain" and ti["state"] == "deferred"]
        return deferred[0] if deferred else None

    waiting = poll(retrain_deferred, timeout=RUN_TIMEOUT, interval=0.2, what="the retrain task to be deferred", check=examples.check_alive)
    # It waits on SageMaker's events (SMPIPE_EVENTS_QUEUE_URL), not by polling.
    assert (waiting.get("trigger") or {}).get("classpath", "").endswith(".SageMakerPipelineExecutionEventTrigger"), waiting.get("trigger")
    run = examples.wait_for_run(RETRAIN, run_id, timeout=RUN_TIMEOUT)
    assert run["state"] == "success", examples.task_instances(RETRAIN, run_id)
    # Unpausing the DAG also lets the scheduler start its latest scheduled run: this run's
    # executions are told apart by their display name, made from the run's own date.
    mine = retrain_executions(emulator, [pendulum.parse(run["run_after"])], before)
    assert len(mine) == 1 and mine[0]["PipelineExecutionStatus"] == "Succeeded", mine

    # Example 8: the success event reached its watcher; a run deployed the registered model.
    execution = mine[0]["PipelineExecutionArn"]

    def deployed() -> list[dict[str, Any]] | None:
        for deploy_run in examples.api("GET", f"/dags/{quote(DEPLOY)}/dagRuns", params={"limit": 100})["dag_runs"]:
            if deploy_run["state"] != "success":
                continue
            path = f"/dags/{quote(DEPLOY)}/dagRuns/{quote(deploy_run['dag_run_id'])}/taskInstances/deploy/xcomEntries/return_value"
            value = examples.api("GET", path, expect=(200, 404))
            raw = (value or {}).get("value")
            items = json.loads(raw) if isinstance(raw, str) else raw or []  # the API gives a JSON string or the value
            found = [d for d in items if isinstance(d, dict) and d.get("execution_arn") == execution]
            if found:
                return found
        return None

    [deployment] = poll(deployed, timeout=RUN_TIMEOUT, interval=1, what="example 8 to deploy the retrained model", check=examples.check_alive)
    assert len(deployment["model_packages"]) == 1 and ":model-package/" in deployment["model_packages"][0], deployment


def test_the_translated_example_succeeds(airflow_deployment: AirflowDeployment) -> None:
    examples = airflow_deployment
    examples.wait_for_dag(TRANSLATED, timeout=120)
    run_id = examples.trigger(TRANSLATED)
    run = examples.wait_for_run(TRANSLATED, run_id, timeout=RUN_TIMEOUT)
    states = {ti["task_id"]: ti["state"] for ti in examples.task_instances(TRANSLATED, run_id)}
    assert run["state"] == "success", states
    assert "success" in states.values()


@pytest.mark.parametrize("dag_id", list(BACKFILLS))
def test_a_backfill_of_three_dates_makes_three_successful_runs(airflow_deployment: AirflowDeployment, emulator: Any, dag_id: str) -> None:
    examples = airflow_deployment
    examples.wait_for_dag(dag_id, timeout=120)
    before = arns(emulator)
    examples.api("PATCH", f"/dags/{quote(dag_id)}", json={"is_paused": False})
    start, end = BACKFILLS[dag_id]
    request = {"dag_id": dag_id, "from_date": start, "to_date": end, "max_active_runs": 1, "reprocess_behavior": "none"}

    def created() -> dict[str, Any] | None:
        # On SQLite, Airflow answers 503 "Database is locked ... not supported on SQLite under
        # concurrent access" when the scheduler writes at the same moment; a user clicks again.
        answer = examples.api("POST", "/backfills", expect=(200, 503), json=request)
        return answer if "id" in answer else None

    poll(created, timeout=60, interval=2, what=f"the backfill of {dag_id} to be created", check=examples.check_alive)

    def backfill_runs() -> list[dict[str, Any]]:  # one backfill a DAG in this module
        return list(examples.api("GET", f"/dags/{quote(dag_id)}/dagRuns", params={"limit": 100, "run_type": "backfill"})["dag_runs"])

    def finished() -> list[dict[str, Any]] | None:
        runs = backfill_runs()
        return runs if len(runs) == 3 and all(run["state"] in ("success", "failed") for run in runs) else None

    runs = poll(finished, timeout=3 * RUN_TIMEOUT, interval=1, what=f"3 backfill runs of {dag_id}", check=examples.check_alive)
    failed = {run["dag_run_id"]: examples.task_instances(dag_id, run["dag_run_id"]) for run in runs if run["state"] != "success"}
    assert not failed, failed
    days = sorted(pendulum.parse(run["logical_date"]).format("YYYY-MM-DD") for run in runs)
    assert len(set(days)) == (3 if dag_id != WAIT else 1)  # the hourly example's three runs share a day
    if dag_id == RETRAIN:
        mine = retrain_executions(emulator, [pendulum.parse(run["logical_date"]) for run in runs], before)
        assert len(mine) == 3, mine
        inputs = sorted(parameters_of(emulator, e["PipelineExecutionArn"])["InputData"] for e in mine)
        assert inputs == [f"s3://my-ml-bucket/abalone/{day}/abalone-dataset.csv" for day in days]


def watcher_running(examples: AirflowDeployment) -> bool:
    """Whether the triggerer has started an asset watcher's trigger (a trigger with no task: dag_id=None)."""
    log = (examples.component_logs / "triggerer.log").read_text(errors="replace")
    return re.search(r"trigger ID \d+ starting\s.*dag_id=None", log) is not None


def arns(emulator: Any) -> set[str]:
    """The abalone pipeline's executions so far (none before the first upsert)."""
    try:
        return {e["PipelineExecutionArn"] for e in executions(emulator, ABALONE)}
    except ClientError:  # ResourceNotFound: the pipeline does not exist yet
        return set()


def retrain_executions(emulator: Any, run_dates: list[Any], before: set[str]) -> list[dict[str, Any]]:
    """The retraining executions, started since ``before``, of the runs dated ``run_dates`` (the
    example names each execution ``retrain-<the run's date, ts_nodash>``; the runs the scheduler
    starts when a DAG is unpaused have other dates)."""
    names = {f"retrain-{date.in_timezone('UTC').format('YYYYMMDDTHHmmss')}" for date in run_dates}
    found = executions(emulator, ABALONE)
    return [e for e in found if e.get("PipelineExecutionDisplayName") in names and e["PipelineExecutionArn"] not in before]
