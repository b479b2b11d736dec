"""The one-command demo: real Airflow runs of the example DAGs against the local emulator.

1. starts the emulator (moto + pipeline executions) in this process, on a free loopback port, with
   the examples' scenario ``dags_examples/emulator_scenario.json`` (as docker-compose.yaml does);
2. points Airflow's ``aws_default`` connection at it and creates a throwaway metadata DB;
3. runs, with Airflow's own ``dag.test()``:
   * example 1 ``smpipe_retrain_abalone`` (native mode: upsert, start, deferred wait, announce),
   * example 3 ``smpipe_selective_rerun`` against the execution example 1 left behind,
   * example 4 ``smpipe_abalone_translated`` (translation mode: one task per step);
4. prints progress (Airflow tasks and pipeline steps as they start and finish) and a summary table.

Airflow's own log lines go to a file (named at the end). Exit status 0 only if every run succeeded;
the emulator and everything else stop when this script ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HOME = Path(tempfile.mkdtemp(prefix="smpipe-demo-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags_examples"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME}/airflow.db",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "SMPIPE_EXAMPLE_POLL_SECONDS": "0.2",
    }
)

# What the steps "produce" (there is no compute): the scenario shipped with the examples, the one
# docker-compose.yaml starts its emulator with (half a second a step, and an evaluation report good
# enough, MSE 4.49 <= 6.0, for the pipeline to register the model).
SCENARIO = REPO / "dags_examples" / "emulator_scenario.json"

_console = os.fdopen(os.dup(1), "w", buffering=1)
_started = time.monotonic()


def say(text: str) -> None:
    _console.write(f"{time.monotonic() - _started:7.1f}s  {text}\n")


@contextlib.contextmanager
def airflow_output_to(path: Path) -> Iterator[None]:
    """Send fd 1/2 (Airflow's task logs, printed by dag.test) to ``path``; the console keeps ours."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)


SEEN_STEPS: dict[tuple[str, str], str] = {}


class Progress(threading.Thread):
    """Prints task-instance and pipeline-step transitions while a DAG runs."""

    def __init__(self, emulator: Any, dag_id: str, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.emulator = emulator
        self.dag_id = dag_id
        self.interval = interval
        self.stopping = threading.Event()
        self.tasks: dict[str, str] = {}
        self.steps = SEEN_STEPS  # shared: steps of earlier runs are not announced again

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            self.poll()
        self.poll()

    def poll(self) -> None:
        try:
            self._poll_tasks()
            self._poll_steps()
        except Exception as exc:  # noqa: BLE001 - progress display must never break the demo
            say(f"(progress display: {exc})")

    def _poll_tasks(self) -> None:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.query(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state).filter(TaskInstance.dag_id == self.dag_id).all()
        for task_id, map_index, state in rows:
            key = task_id if map_index < 0 else f"{task_id}[{map_index}]"
            state = str(state.value if hasattr(state, "value") else state)
            if state not in ("None", "scheduled", "queued") and self.tasks.get(key) != state:
                self.tasks[key] = state
                say(f"  task  {self.dag_id}.{key}: {state}")

    def _poll_steps(self) -> None:
        for execution in self.emulator.state().get("executions", []):
            for step in execution.get("steps") or []:
                name = step.get("name")
                key = (execution["id"], name)
                status = step.get("status")
                if status and self.steps.get(key) != status:
                    self.steps[key] = status
                    say(f"    step  {execution['pipeline']}/{execution['id']} {name}: {status}")


def dag_bag(**kwargs: Any) -> Any:
    """Airflow's DagBag, wherever this Airflow 3 release keeps it."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.dagbag import DagBag
    return DagBag(**kwargs)


def run_example(dags: dict[str, Any], emulator: Any, dag_id: str, log: Path, **kwargs: Any) -> dict[str, Any]:
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    dag = dags[dag_id]
    say(f"▶ {dag_id}")
    progress = Progress(emulator, dag_id)
    progress.start()
    began = time.monotonic()
    try:
        with airflow_output_to(log):
            DagBundlesManager().sync_bundles_to_db()
            bag = dag_bag(collect_dags=False)
            bag.bag_dag(dag)
            try:
                from airflow.dag_processing.dagbag import sync_bag_to_db
            except ImportError:  # Airflow 3.0: a method of the bag
                bag.sync_to_db(bundle_name="dags-folder", bundle_version=None)
            else:
                sync_bag_to_db(bag, bundle_name="dags-folder", bundle_version=None)
            dag_run = dag.test(**kwargs)
    finally:
        progress.stopping.set()
        progress.join()
    states: dict[str, int] = {}
    for ti in dag_run.get_task_instances():
        state = str(ti.state.value if hasattr(ti.state, "value") else ti.state)
        states[state] = states.get(state, 0) + 1
    state = str(dag_run.state.value if hasattr(dag_run.state, "value") else dag_run.state)
    say(f"■ {dag_id}: {state}")
    return {"dag": dag_id, "tasks": sum(states.values()), "states": states, "seconds": time.monotonic() - began, "state": state}


def table(results: list[dict[str, Any]]) -> str:
    header = ("DAG", "TASKS", "TASK STATES", "DURATION", "RESULT")
    rows = [header] + [
        (r["dag"], str(r["tasks"]), ", ".join(f"{n} {s}" for s, n in sorted(r["states"].items())), f"{r['seconds']:.1f}s", r["state"]) for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows)


def main() -> int:
    log = HOME / "airflow-task-logs.txt"
    say(f"Airflow home {HOME} (throwaway); Airflow's own logs go to {log}")
    with airflow_output_to(log):
        from airflow.utils import db

        db.resetdb()
        from airflow_provider_smpipe.emulator import run_emulator
    with run_emulator(scenario=str(SCENARIO), strict=False) as emulator:
        os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
            {"conn_type": "aws", "login": "testing", "password": "testing", "extra": {"region_name": "us-east-1", "endpoint_url": emulator.endpoint_url}}
        )
        say(f"emulator listening on {emulator.endpoint_url} with scenario {SCENARIO.relative_to(REPO)}; aws_default points at it")
        with airflow_output_to(log):
            dags = dag_bag(dag_folder=str(REPO / "dags_examples")).dags
        results = [
            run_example(dags, emulator, "smpipe_retrain_abalone", log),
            run_example(
                dags,
                emulator,
                "smpipe_selective_rerun",
                log,
                run_conf={"selected_steps": ["TrainAbaloneModel", "EvaluateAbaloneModel"], "reference_execution": "latest"},
            ),
            run_example(dags, emulator, "smpipe_abalone_translated", log),
        ]
        calls = emulator.state().get("calls", {})
    _console.write("\n" + table(results) + "\n\n")
    _console.write(f"AWS API calls served by the emulator: {sum(calls.values())} ({len(calls)} operations)\n")
    failed = [r["dag"] for r in results if r["state"] != "success"]
    if failed:
        _console.write(f"FAILED: {', '.join(failed)} (details in {log})\n")
        return 1
    _console.write(f"All {len(results)} example runs succeeded. Airflow logs: {log}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
