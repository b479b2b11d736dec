"""Out of the box: every example DAG runs against a bare ``smpipe emulator`` started the way
``docker-compose.yaml`` starts it, in runs triggered without a logical date.

Nothing here uses the session's in-process emulator or a per-test scenario. The emulator is a
subprocess running the compose file's own ``emulator`` command (only ``--host`` and ``--port``
changed to a free loopback port, and the ``--scenario`` path mapped back from the container to the
repository file the compose file mounts there), so the scenario shipped in
``dags_examples/emulator_scenario.json`` is all the pipelines get. ``aws_default`` is the compose
file's connection string re-pointed at it. Each DAG is run as ``airflow dags trigger`` / the REST
API with ``"logical_date": null`` runs it, in the order docs/docker.md gives (example 1 creates the
abalone pipeline the others use; example 3's default reference is the latest failed execution,
which example 5 leaves behind by design).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml

from airflow_provider_smpipe.assets import model_package_group_asset
from airflow_provider_smpipe.emulator.scenario import Scenario
from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook
from asset_helpers import asset_event_ids, run_on_asset_events
from native_helpers import REPO_ROOT, task_states, xcom
from triggered_runs import run_without_logical_date

EXAMPLES = REPO_ROOT / "dags_examples"
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text())
ABALONE = "smpipe-example-abalone"


def _tokens(command: Any) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _host_path(service: dict[str, Any], in_container: str) -> Path:
    """The repository file a service's bind mount puts at ``in_container``."""
    for volume in service.get("volumes") or []:
        source, target = (volume.split(":")[:2] if isinstance(volume, str) else (volume["source"], volume["target"]))
        if target.rstrip("/") == in_container.rstrip("/"):
            return (REPO_ROOT / source).resolve()
    raise AssertionError(f"the compose file mounts nothing at {in_container} in the emulator service")


def compose_emulator_command() -> tuple[list[str], Path]:
    """The compose ``emulator`` command, runnable here: (argv, the scenario file on this machine)."""
    tokens = _tokens(COMPOSE["services"]["emulator"]["command"])
    assert tokens[:2] == ["smpipe", "emulator"], tokens
    assert "--scenario" in tokens, "docker-compose.yaml starts the emulator without the examples' scenario"
    scenario = _host_path(COMPOSE["services"]["emulator"], tokens[tokens.index("--scenario") + 1])
    argv = [str(Path(sys.executable).parent / "smpipe"), *tokens[1:]]
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = "0"  # a free port; the first line says which
    argv[argv.index("--scenario") + 1] = str(scenario)
    return argv, scenario


@pytest.fixture(scope="module")
def compose_emulator() -> Iterator[tuple[str, Path]]:
    """``smpipe emulator ... --scenario <shipped file>`` as a subprocess; yields (endpoint, scenario file)."""
    argv, scenario = compose_emulator_command()
    with tempfile.TemporaryFile("w+") as output:  # a file, not a pipe: a full pipe would block the server
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, text=True)
        try:
            deadline, endpoint = time.monotonic() + 60, None
            while endpoint is None:
                output.seek(0)
                match = re.search(r"listening on (http://\S+)", output.read())
                if match:
                    endpoint = match.group(1)
                elif process.poll() is not None or time.monotonic() > deadline:
                    output.seek(0)
                    pytest.fail(f"`{shlex.join(argv)}` did not start (exit {process.poll()}):\n{output.read()[-3000:]}")
                else:
                    time.sleep(0.1)
            yield endpoint, scenario
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def compose_airflow(airflow_db: None, compose_emulator: tuple[str, Path]) -> Iterator[dict[str, Any]]:
    """``aws_default`` = the compose file's connection re-pointed at that emulator; the example DAGs
    parsed from their folder. Restores the environment afterwards."""
    from airflow_compat import dag_bag_class

    DagBag = dag_bag_class()

    endpoint, _ = compose_emulator
    env = COMPOSE["x-airflow-common"]["environment"]
    connection = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    compose_endpoint = urlsplit(connection["extra"]["endpoint_url"])
    connection["extra"]["endpoint_url"] = urlunsplit(compose_endpoint._replace(netloc=urlsplit(endpoint).netloc))
    saved = {key: os.environ.get(key) for key in ("AIRFLOW_CONN_AWS_DEFAULT", "SMPIPE_EXAMPLE_POLL_SECONDS")}
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(connection)
    os.environ["SMPIPE_EXAMPLE_POLL_SECONDS"] = "0.1"  # compose polls every 5 s; the outcome is the same
    try:
        bag = DagBag(dag_folder=str(EXAMPLES))
        assert bag.import_errors == {}
        yield bag.dags
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_the_compose_emulator_runs_the_shipped_scenario(compose_emulator: tuple[str, Path]) -> None:
    endpoint, scenario = compose_emulator
    assert scenario == (EXAMPLES / "emulator_scenario.json").resolve()
    with urllib.request.urlopen(f"{endpoint}/_smpipe/scenario", timeout=10) as response:
        loaded = json.loads(response.read())
    assert loaded == Scenario.load(scenario).to_dict()


def test_every_example_runs_against_the_compose_emulator_without_a_logical_date(compose_airflow: dict[str, Any]) -> None:
    dags = compose_airflow
    hook = SageMakerPipelineHook(aws_conn_id="aws_default")
    runs: dict[str, Any] = {}

    def run(dag_id: str, **kwargs: Any) -> Any:
        dag_run = run_without_logical_date(dags[dag_id], **kwargs)
        assert dag_run.logical_date is None
        assert str(dag_run.state) == "success", f"{dag_id}: {dag_run.state} {task_states(dag_run)}"
        runs[dag_id] = dag_run
        return dag_run

    # 1: creates the abalone pipeline; the shipped evaluation report passes the MSE gate
    retrain = run("smpipe_retrain_abalone")
    assert task_states(retrain) == {"upsert_pipeline": "success", "retrain": "success", "announce_model": "success", "alert": "skipped"}
    retrained = xcom(retrain, "retrain")
    assert retrained["status"] == "Succeeded"
    assert retrained["parameters"]["InputData"].endswith(f"/abalone/{retrain.run_after:%Y-%m-%d}/abalone-dataset.csv")

    # 2: the latest execution is the one example 1 left (already finished: the sensor returns at once)
    waited = run("smpipe_wait_for_latest_execution")
    assert xcom(waited, "wait_for_latest_execution", "execution_arn") == retrained["execution_arn"]

    # 5: three executions; the third's MseThreshold (3.0) is below the shipped MSE, so only it fails
    launched = run("smpipe_parallel_launches")
    assert [row["status"] for row in xcom(launched, "summarize")] == ["Succeeded", "Succeeded", "Failed"]
    apac = xcom(launched, "summarize")[2]["execution_arn"]

    # 3: the trigger form's defaults: Train + Evaluate again, reusing the latest failed execution
    rerun = run("smpipe_selective_rerun")
    rows = {r["name"]: r for r in xcom(rerun, "rerun")["steps"]}
    assert rows["PreprocessAbaloneData"]["reused_from"] == apac
    assert rows["EvaluateAbaloneModel"]["status"] == "Succeeded" and not rows["EvaluateAbaloneModel"]["reused_from"]

    # 4: translation mode, the same scenario for the jobs the tasks create
    translated = run("smpipe_abalone_translated")
    states = task_states(translated)
    assert states.pop("AbaloneMSEFail") == "skipped" and set(states.values()) == {"success"}
    assert xcom(translated, "CheckMSEAbaloneEvaluation") == {"Outcome": True}

    # 6: the Callback step is answered by the Airflow task (the scenario must not answer it)
    approval = run("smpipe_callback_approval")
    assert xcom(approval, "answer_approval")["output_parameters"] == {"decision": "approve", "score": "0.92"}
    assert {r["name"]: r["status"] for r in xcom(approval, "wait_for_pipeline")["steps"]}["Deploy"] == "Succeeded"

    # 7: a week of candidates with the shipped AUCs; the Selector keeps the best
    sweep = run("smpipe_hp_sweep")
    assert xcom(sweep, "best_candidate")["candidate"] == "TrainCandidate-5"
    assert {r["name"]: r["status"] for r in xcom(sweep, "sweep")["steps"]}["CleanupScratch"] == "Succeeded"

    # 8: triggered by hand, without an asset event from its watcher: nothing to deploy
    assert xcom(run("smpipe_deploy_on_upstream_success"), "deploy") == []

    # 9: triggered by hand, without an event of the model package group's asset: nothing new; run by
    # the event example 4's RegisterModel task emitted (as the scheduler would): the package it registered
    assert xcom(run("smpipe_on_model_registered"), "report_new_models") == []
    group_events = asset_event_ids(model_package_group_asset("AbaloneModelPackageGroupName").name, translated)
    on_event = run_on_asset_events(dags["smpipe_on_model_registered"], group_events)
    assert str(on_event.state) == "success" and on_event.logical_date is None
    registered = xcom(translated, "RegisterAbaloneModel-RegisterModel")["ModelPackageArn"]
    assert [p["model_package_arn"] for p in xcom(on_event, "report_new_models")] == [registered]

    assert sorted(runs) == sorted(dags), "every example DAG ran"
    latest = hook.find_execution(ABALONE, "latest")
    assert latest is not None and latest["PipelineExecutionStatus"] == "Succeeded"
