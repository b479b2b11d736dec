"""A translated ForEach's ``MaxConcurrency`` holds when its children really run in parallel.

The translation caps each ForEach body task with ``max_active_tis_per_dagrun = MaxConcurrency``
(see ``airflow_provider_smpipe/translation/foreach.py``). ``dag.test()`` runs one task at a time,
so it cannot tell a working cap from no parallelism at all. Here the DAG runs on a real deployment
(api-server, scheduler with the LocalExecutor, dag-processor, triggerer: separate processes), the
body tasks defer to the triggerer while their training jobs run, and the emulator records when each
child's training job was created and when it ended. The most jobs ``InProgress`` at one moment must
be exactly ``MaxConcurrency``: more would break the cap, fewer would mean nothing ran in parallel
and the test proved nothing.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from deployment import AirflowDeployment

from airflow_provider_smpipe.translation.runtime import execution_id_for

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
ITEMS = 6
MAX_CONCURRENCY = 2
#: How long each child's training job stays InProgress in the emulator. Long enough that the two
#: children the scheduler starts together overlap even when their task processes start a few
#: seconds apart on a busy 2-core machine, and that a deferred task's trigger never fires before
#: the scheduler has seen its worker exit (see AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL in
#: deployment.py); short enough to keep the run under a minute.
JOB_SECONDS = 6.0

DAG_FILE = '''"""Deployment test DAG: a SageMaker pipeline with one ForEach, translated to Airflow tasks."""

from pathlib import Path

import pendulum

from airflow_provider_smpipe.translation import SageMakerPipelineDag

dag = SageMakerPipelineDag(
    definition=Path(__file__).with_name({definition!r}),
    dag_id={dag_id!r},
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    deferrable=True,
    poll_interval=0.5,
)
'''


def sweep_definition(items: int, max_concurrency: int) -> dict[str, Any]:
    """ForEach ``Sweep`` over the String parameter ``Configs`` (a JSON list of ``{"depth": i}``)
    whose body is one Training step ``Train`` that passes its item on as a hyperparameter."""
    train = {
        "Name": "Train",
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1", "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": {"Std:Join": {"On": "/", "Values": ["s3://emu-bucket/out", {"Get": "Execution.PipelineExecutionId"}, "Train"]}}},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30},
            "RoleArn": ROLE,
            "HyperParameters": {"depth": {"Std:Join": {"On": "", "Values": [{"Get": "ForEach.CurrentItem.depth"}]}}},
        },
    }
    sweep = {
        "Name": "Sweep",
        "Type": "ForEach",
        "Arguments": {"IterableItems": {"Get": "Parameters.Configs"}, "MaxConcurrency": max_concurrency, "ForEachBody": [train]},
    }
    configs = json.dumps([{"depth": depth} for depth in range(items)])
    return {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": [{"Name": "Configs", "Type": "String", "DefaultValue": configs}],
        "PipelineExperimentConfig": None,
        "Steps": [sweep],
    }


def write_atomically(path: Path, text: str) -> None:
    """Write ``path`` so the dag-processor, which lists the folder every second, never parses a
    half-written file (the temporary name has no ``.py`` suffix, so it is not a DAG file)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals ``(start, end)`` that contain one same moment. An interval ending exactly
    when another starts does not overlap it (ends sort before starts at equal times)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    most = current = 0
    for _, change in events:
        current += change
        most = max(most, current)
    return most


def epoch(stamp: str) -> float:
    """An ISO 8601 timestamp from the REST API as seconds since the epoch."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_foreach_children_run_in_parallel_up_to_max_concurrency(airflow_deployment: AirflowDeployment, emulator: Any, emulator_scenario: Any) -> None:
    """6 items, MaxConcurrency 2: all children succeed, and exactly 2 of their jobs ran at once."""
    airflow = airflow_deployment
    dag_id = f"deploy_sweep_{uuid.uuid4().hex[:8]}"
    # Every SageMaker job created directly (by a translated task) is InProgress for JOB_SECONDS.
    emulator_scenario({"default_step_seconds": JOB_SECONDS})

    write_atomically(airflow.dags_folder / f"{dag_id}.json", json.dumps(sweep_definition(ITEMS, MAX_CONCURRENCY), indent=1))
    write_atomically(airflow.dags_folder / f"{dag_id}.py", DAG_FILE.format(definition=f"{dag_id}.json", dag_id=dag_id))
    written = time.monotonic()
    airflow.wait_for_dag(dag_id, filename=f"{dag_id}.py", timeout=90)
    parsed_in = time.monotonic() - written

    started = time.monotonic()
    run_id = airflow.trigger(dag_id)
    run = airflow.wait_for_run(dag_id, run_id, timeout=150)
    wall = time.monotonic() - started

    instances = airflow.task_instances(dag_id, run_id)
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in instances}
    assert run["state"] == "success", f"run ended {run['state']}: {sorted(states.items())}"
    body = "Sweep.iterations.Train"
    assert {index: state for (task, index), state in states.items() if task == body} == {i: "success" for i in range(ITEMS)}
    assert states[("Sweep.items", -1)] == "success"
    assert states[("Sweep.results", -1)] == "success"

    # The children's training jobs as the emulator saw them: created when the task called
    # CreateTrainingJob, ended when the emulator completed them (its own clock, not Airflow's).
    prefix = f"pipelines-{execution_id_for(dag_id, run_id)}-Train-"
    jobs = [job for job in emulator.state()["jobs"] if job["type"] == "Training" and job["name"].startswith(prefix)]
    assert len(jobs) == ITEMS, [job["name"] for job in jobs]
    assert all(job["status"] == "Completed" and job["end_time"] is not None for job in jobs), jobs
    # Each map index ran its own item (a body task reading another iteration's item would repeat one).
    assert sorted(int(job["request"]["HyperParameters"]["depth"]) for job in jobs) == list(range(ITEMS))
    overlap = max_overlap([(job["created"], job["end_time"]) for job in jobs])

    # The same measure on Airflow's side: a body task instance holds its slot from start to end,
    # deferred time included (Airflow 3.3 counts DEFERRED against max_active_tis_per_dagrun).
    windows = [(epoch(ti["start_date"]), epoch(ti["end_date"])) for ti in instances if ti["task_id"] == body]
    ti_overlap = max_overlap(windows)
    first = min(job["created"] for job in jobs)
    # "Train-<index> <start>-<end>s" from the first job's creation; a job name ends in -<10 hex>.
    timeline = ", ".join(
        f"Train-{job['name'][len(prefix):-11]} {job['created'] - first:.1f}-{job['end_time'] - first:.1f}s" for job in sorted(jobs, key=lambda j: j["created"])
    )
    print(
        f"\nForEach of {ITEMS} items, MaxConcurrency {MAX_CONCURRENCY}, jobs of {JOB_SECONDS:.0f} s: "
        f"at most {overlap} training jobs InProgress at once, {ti_overlap} body task instances active at once; "
        f"run took {wall:.1f} s (trigger to success)\njobs: {timeline}\n"
        f"deployment start-up {airflow.timings.get('start-up', 0):.1f} s (db migrate {airflow.timings.get('db migrate', 0):.1f} s), "
        f"new DAG file parsed in {parsed_in:.1f} s"
    )
    assert overlap == MAX_CONCURRENCY, f"{overlap} children's jobs ran at once, expected exactly {MAX_CONCURRENCY}: {timeline}"
    assert ti_overlap <= MAX_CONCURRENCY, f"{ti_overlap} body task instances were active at once: {sorted(windows)}"

