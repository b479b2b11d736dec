"""SageMaker events on a real deployment (scheduler, dag-processor, triggerer, api-server), driven
through the REST API: pipelines started outside Airflow (straight on the emulator, as SageMaker
Studio or another team would) make asset events through ``AssetWatcher``s on
``SageMakerPipelineEventTrigger``, exactly once per execution although the emulator sends every
event twice, and those schedule the DAGs;
both watchers share one queue; and a start task with ``wait_via="events"`` waits on the same queue
with a handful of Describe calls where the polling wait makes one per poll.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

from deployment import AirflowDeployment, poll

from airflow_provider_smpipe.events.setup import setup_event_queue
from user_dags import ROLE, definition, training_step, write

WATCHER_DAGS = '''"""Deployment test DAGs: run when pipeline {pipeline} succeeds / fails, whoever started it."""

import pendulum

from airflow.sdk import DAG, Asset, AssetWatcher, task
from airflow_provider_smpipe.triggers.pipeline_event import SageMakerPipelineEventTrigger

QUEUE = {queue!r}


def watched(status):
    trigger = SageMakerPipelineEventTrigger(queue_url=QUEUE, pipeline_names=[{pipeline!r}], statuses=[status], wait_time_seconds=1, visibility_timeout=30)
    return Asset(name=f"sagemaker-{pipeline}-{{status.lower()}}", watchers=[AssetWatcher(name=f"{pipeline}-{{status.lower()}}", trigger=trigger)])


for status in ("Succeeded", "Failed"):
    with DAG(f"{dag_prefix}_{{status.lower()}}", schedule=[watched(status)], start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):

        @task
        def record(triggering_asset_events=None):
            return [event.extra["payload"] for events in triggering_asset_events.values() for event in events]

        record()
'''

EVENT_WAIT_DAG = '''"""Deployment test DAG: start a pipeline and wait {wait_via}."""

import pendulum

from airflow.sdk import DAG
from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineStartOperator

with DAG({dag_id!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    SageMakerPipelineStartOperator(
        task_id="start", pipeline_name={pipeline!r}, deferrable=True, poll_interval=0.5,
        wait_via={wait_via!r}, events_queue_url={queue!r},
    )
'''


def events_queue(emulator: Any) -> str:
    made = setup_event_queue(sqs_client=emulator.client("sqs"), events_client=emulator.client("events"), queue_name=f"deploy-events-{uuid.uuid4().hex[:8]}")
    return str(made["queue_url"])


def create_pipeline(emulator: Any, name: str) -> None:
    emulator.client("sagemaker").create_pipeline(PipelineName=name, PipelineDefinition=json.dumps(definition(training_step("Train"))), RoleArn=ROLE)


def asset_events(airflow: AirflowDeployment, asset_name: str) -> list[dict[str, Any]] | None:
    """The asset's events; ``None`` while Airflow cannot list them: Airflow 3.3.2's API answers 500
    (AssetEventResponse validation: ``created_dagruns.0.start_date`` is None) for an event whose
    DAG run is queued but not started yet, so callers ask again."""
    assets = airflow.api("GET", "/assets", params={"name_pattern": asset_name})["assets"]
    if not assets:
        return []
    [asset] = [a for a in assets if a["name"] == asset_name]
    response = airflow.http.get(
        "/api/v2/assets/events", params={"asset_id": asset["id"], "limit": 100}, headers={"Authorization": f"Bearer {airflow.token()}"}
    )
    if response.status_code == 500:
        return None
    response.raise_for_status()
    return list(response.json()["asset_events"])


def listed_asset_events(airflow: AirflowDeployment, asset_name: str) -> list[dict[str, Any]]:
    return poll(lambda: asset_events(airflow, asset_name), timeout=60, interval=1.0, what=f"the events of {asset_name}", check=airflow.check_alive)


def payloads(airflow: AirflowDeployment, dag_id: str) -> list[dict[str, Any]]:
    """What the ``record`` tasks of every successful run of ``dag_id`` saw."""
    seen: list[dict[str, Any]] = []
    for run in airflow.api("GET", f"/dags/{quote(dag_id)}/dagRuns", params={"limit": 100})["dag_runs"]:
        if run["state"] == "success":
            xcom = airflow.api("GET", f"/dags/{quote(dag_id)}/dagRuns/{quote(run['dag_run_id'])}/taskInstances/record/xcomEntries/return_value")
            value = xcom["value"]
            seen.extend(json.loads(value) if isinstance(value, str) else value)
    return seen


def test_watchers_schedule_dags_once_per_execution_status_whoever_started_it(
    airflow_deployment: AirflowDeployment, emulator: Any, emulator_scenario: Any
) -> None:
    airflow = airflow_deployment
    suffix = uuid.uuid4().hex[:8]
    pipeline, prefix = f"watched-{suffix}", f"on_pipeline_{suffix}"
    queue = events_queue(emulator)
    create_pipeline(emulator, pipeline)
    write(airflow.dags_folder / f"{prefix}.py", WATCHER_DAGS.format(queue=queue, pipeline=pipeline, dag_prefix=prefix))
    for status in ("succeeded", "failed"):
        airflow.wait_for_dag(f"{prefix}_{status}", filename=f"{prefix}.py", timeout=90)
        airflow.api("PATCH", f"/dags/{quote(prefix)}_{status}", json={"is_paused": False})
    # No need to wait for the triggerer to pick the watchers up: SQS keeps the events until read.
    emulator_scenario({"default_step_seconds": 0.5, "duplicate_events": True})
    sm = emulator.client("sagemaker")
    succeeded = [sm.start_pipeline_execution(PipelineName=pipeline, ClientRequestToken=uuid.uuid4().hex)["PipelineExecutionArn"] for _ in range(2)]
    for arn in succeeded:
        emulator.wait_for_execution(arn, timeout=60)
    emulator_scenario({"default_step_seconds": 0.5, "duplicate_events": True, "steps": {"Train": {"fail": "diverged"}}})
    failed = sm.start_pipeline_execution(PipelineName=pipeline, ClientRequestToken=uuid.uuid4().hex)["PipelineExecutionArn"]
    emulator.wait_for_execution(failed, timeout=60)

    def recorded() -> bool | None:
        fired = asset_events(airflow, f"sagemaker-{pipeline}-succeeded") or []
        return True if len(fired) >= 2 and asset_events(airflow, f"sagemaker-{pipeline}-failed") else None

    poll(recorded, timeout=120, interval=1.0, what="the asset events", check=airflow.check_alive)
    sqs = emulator.client("sqs")
    attributes = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    poll(
        lambda: sum(int(v) for v in sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=attributes)["Attributes"].values()) == 0 or None,
        timeout=60, interval=1.0, what="every message to be deleted once recorded", check=airflow.check_alive,
    )  # fmt: skip
    # Duplicates ignored: exactly one asset event per execution and status.
    fired = listed_asset_events(airflow, f"sagemaker-{pipeline}-succeeded")
    assert sorted(e["extra"]["payload"]["execution_arn"] for e in fired) == sorted(succeeded), fired
    [failure] = listed_asset_events(airflow, f"sagemaker-{pipeline}-failed")
    assert failure["extra"]["payload"]["execution_arn"] == failed and failure["extra"]["payload"]["status"] == "Failed"
    # The scheduled DAGs ran and saw the payloads. Not necessarily both succeeded events: Airflow's
    # scheduler ends an asset-triggered run's event window at its queue row's creation (the first
    # event), so an event recorded milliseconds later waits for the next run (README, Events).
    poll(lambda: payloads(airflow, f"{prefix}_failed") or None, timeout=120, interval=1.0, what="the failed DAG's run", check=airflow.check_alive)
    assert [p["execution_arn"] for p in payloads(airflow, f"{prefix}_failed")] == [failed]
    seen = poll(lambda: payloads(airflow, f"{prefix}_succeeded") or None, timeout=120, interval=1.0, what="the succeeded DAG's run", check=airflow.check_alive)
    assert {p["execution_arn"] for p in seen} <= set(succeeded) and len(seen) == len({p["execution_arn"] for p in seen}), seen
    assert all(p["pipeline_name"].lower() == pipeline.lower() and p["status"] == "Succeeded" for p in seen)


def test_an_event_fed_start_task_waits_with_a_handful_of_describes(airflow_deployment: AirflowDeployment, emulator: Any, emulator_scenario: Any) -> None:
    airflow = airflow_deployment
    queue = events_queue(emulator)
    emulator_scenario({"default_step_seconds": 6.0})
    spent: dict[str, int] = {}
    for wait_via in ("events", "polling"):
        suffix = uuid.uuid4().hex[:8]
        dag_id, pipeline = f"event_wait_{wait_via}_{suffix}", f"event-wait-{suffix}"
        create_pipeline(emulator, pipeline)
        write(airflow.dags_folder / f"{dag_id}.py", EVENT_WAIT_DAG.format(dag_id=dag_id, pipeline=pipeline, wait_via=wait_via, queue=queue))
        airflow.wait_for_dag(dag_id, filename=f"{dag_id}.py", timeout=90)
        before = emulator.calls("DescribePipelineExecution")
        run_id = airflow.trigger(dag_id)
        run = airflow.wait_for_run(dag_id, run_id, timeout=180)
        assert run["state"] == "success", run
        spent[wait_via] = emulator.calls("DescribePipelineExecution") - before
    # events: the start operator's own look, the trigger's first look and its final one; polling:
    # one every 0.5 s for the ~6 s the step runs.
    assert spent["events"] <= 4, spent
    assert spent["polling"] >= 8, spent
