"""Translation mode: DAG building, and runs with dag.test() against the emulator's AWS APIs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow.sdk import DAG

from airflow_provider_smpipe.definition.errors import InvalidDefinitionError
from airflow_provider_smpipe.translation import REFERENCE_RUN_KEY, SELECTED_STEPS_KEY, SageMakerPipelineDag, SageMakerPipelineTaskGroup
from airflow_provider_smpipe.translation.runtime import execution_id_for
from native_helpers import FIXTURES, chain_definition, clear_and_rerun, run_dag, task_states, unique, xcom

START = pendulum.datetime(2026, 1, 1, tz="UTC")
FAST = {"default_step_seconds": 0.05}


def translated(definition: Any, **kwargs: Any) -> SageMakerPipelineDag:
    kwargs.setdefault("dag_id", unique("tr"))
    return SageMakerPipelineDag(definition=definition, schedule=None, start_date=START, poll_interval=0.05, **kwargs)


def creates(emulator: Any, operation: str = "CreateProcessingJob") -> int:
    return int(emulator.state()["calls"].get(operation, 0))


# -- building ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["abalone", "integrations", "function_step"])
def test_fixture_dags_have_one_task_per_step_and_the_sdk_edges(name: str) -> None:
    dag = translated(FIXTURES / "definitions" / f"{name}.json")
    expected = json.loads((FIXTURES / "definitions" / "expected" / f"{name}.graph.json").read_text())
    assert sorted(dag.task_dict) == sorted(expected["steps"])
    edges = sorted([up, down] for down, task in dag.task_dict.items() for up in task.upstream_task_ids)
    assert edges == sorted(expected["edges"])
    assert f"**definition sha256:** `{dag.pipeline_definition.content_hash()}`" in dag.doc_md


def test_parameters_become_typed_params_with_the_selective_controls() -> None:
    dag = translated(FIXTURES / "definitions" / "abalone.json")
    params = dag.params
    assert params["ProcessingInstanceCount"] == 1 and params.get_param("ProcessingInstanceCount").schema["type"] == "integer"
    assert params.get_param("MseThreshold").schema["type"] == "number"
    assert params.get_param("EnableNetworkIsolation").schema["type"] == "boolean"
    assert params.get_param("ModelApprovalStatus").schema["enum"] == ["PendingManualApproval", "Approved", "Rejected"]
    assert params[SELECTED_STEPS_KEY] is None and params[REFERENCE_RUN_KEY] is None
    # The trigger form rejects a value of the wrong type before a run exists.
    with pytest.raises(Exception, match="not valid|is not of type|ParamValidationError|'many'"):
        copy.deepcopy(params).update({"ProcessingInstanceCount": "many"})


def test_step_types_that_cannot_be_translated_are_refused_at_build_time() -> None:
    with pytest.raises(InvalidDefinitionError) as caught:
        translated(FIXTURES / "definitions" / "misc_steps.json")
    refused = {p.step: p.problem for p in caught.value.problems}
    assert set(refused) == {"DataQualityCheck", "DataBiasCheck", "MonitorBT-monitoring", "RecordLineage", "DeployComponent"}
    assert "native mode (SageMakerPipelineStartOperator)" in refused["DataQualityCheck"]
    assert refused["RecordLineage"].startswith("Lineage steps cannot be translated to Airflow tasks")


def test_an_sdk_v3_definition_of_classic_steps_translates() -> None:
    dag = translated(FIXTURES / "definitions_v3" / "classic_churn_v3.json")
    assert {"PreprocessChurnV3", "TrainChurnV3", "CheckChurnAucV3"} <= set(dag.task_ids)


def test_a_broken_definition_is_a_located_import_error(tmp_path: Path) -> None:
    from airflow_compat import dag_bag_class

    DagBag = dag_bag_class()

    broken = chain_definition(["A", "B"])
    broken["Steps"][1]["Arguments"]["ProcessingInputs"][0]["S3Input"]["S3Uri"] = {"Get": "Steps.Nope.ProcessingJobName"}
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    (tmp_path / "broken_dag.py").write_text(
        "import pendulum\n"
        "from pathlib import Path\n"
        "from airflow_provider_smpipe.translation import SageMakerPipelineDag\n"
        "dag = SageMakerPipelineDag(definition=Path(__file__).with_name('broken.json'), dag_id='broken',\n"
        "                           schedule=None, start_date=pendulum.datetime(2026, 1, 1))\n"
    )
    bag = DagBag(dag_folder=str(tmp_path))
    [error] = bag.import_errors.values()
    assert "step 'B' at $.Steps[1].Arguments.ProcessingInputs[0].S3Input.S3Uri: references unknown step 'Nope'" in error


def test_task_group_form_prefixes_task_ids_and_adds_params() -> None:
    with DAG(unique("host"), schedule=None, start_date=START, params={"InputData": "kept"}) as dag:
        group = SageMakerPipelineTaskGroup(definition=chain_definition(["A", "B"]), group_id="train")
    assert sorted(dag.task_dict) == ["train.A", "train.B"]
    assert dag.task_dict["train.B"].upstream_task_ids == {"train.A"}
    assert group.tasks_by_step["A"].task_id == "train.A"
    assert dag.params["InputData"] == "kept"  # the DAG's own param wins
    assert dag.params["Mode"] == "fast" and SELECTED_STEPS_KEY in dag.params


# -- running ---------------------------------------------------------------------------------------


def test_chain_runs_with_conf_overrides_and_xcom_references(airflow_env: Any) -> None:
    emulator = airflow_env(FAST)
    dag = translated(chain_definition(["A", "B"]), deferrable=True)
    run = run_dag(dag, run_conf={"Mode": "full", "InputData": "s3://my-ml-bucket/in/{{ ds }}.csv"})
    assert task_states(run) == {"A": "success", "B": "success"}
    a, b = xcom(run, "A"), xcom(run, "B")
    execution_id = execution_id_for(dag.dag_id, run.run_id)
    # B's input is A's output, resolved from XCom; parameters came from the run conf.
    assert b["ProcessingInputs"][0]["S3Input"]["S3Uri"] == a["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    assert a["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == f"s3://my-ml-bucket/{execution_id}/A/out"
    assert b["AppSpecification"]["ContainerArguments"] == ["--mode", "full"]
    # Run conf values are data, never Jinja: the braces arrive as typed.
    assert a["ProcessingInputs"][0]["S3Input"]["S3Uri"] == "s3://my-ml-bucket/in/{{ ds }}.csv"
    assert a["ProcessingJobName"].startswith(f"pipelines-{execution_id}-A-")
    assert creates(emulator) == 2


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"Mode": "slow"}, "String parameter 'Mode' got 'slow': not one of its EnumValues"),
        ({"InstanceCont": 2}, "unknown run conf key 'InstanceCont' (did you mean 'InstanceCount'?)"),
        ({SELECTED_STEPS_KEY: ["B", "Zz"]}, "unknown step 'Zz'"),
        ({SELECTED_STEPS_KEY: ["B"]}, "the selected steps need outputs of ['A']"),
        ({SELECTED_STEPS_KEY: ["B"], REFERENCE_RUN_KEY: "manual__nope"}, "reference run 'manual__nope' cannot be read"),
    ],
    ids=["enum", "unknown-key", "unknown-step", "no-reference", "missing-reference"],
)
def test_bad_run_conf_fails_the_first_task_before_any_aws_call(airflow_env: Any, capfd: Any, conf: dict[str, Any], message: str) -> None:
    emulator = airflow_env(FAST)
    dag = translated(chain_definition(["A", "B"]))
    emulator.reset()
    try:
        run = run_dag(dag, run_conf=conf)
    except Exception as exc:  # the trigger-time Param check may refuse the run before any task
        assert "Mode" in str(exc) and conf == {"Mode": "slow"}
        assert emulator.state()["calls"] == {}
        return
    assert task_states(run)["A"] == "failed"
    assert emulator.state()["calls"] == {}
    assert message in capfd.readouterr().out


def test_clearing_a_middle_task_reruns_it_with_upstream_xcom_intact(airflow_env: Any) -> None:
    emulator = airflow_env(FAST)
    dag = translated(chain_definition(["A", "B", "C"]))
    first = run_dag(dag)
    assert task_states(first) == {"A": "success", "B": "success", "C": "success"}
    first_b = xcom(first, "B")["ProcessingJobName"]
    emulator.reset()
    # "Clear B with downstream" in the UI: A keeps its state and XCom, B and C run again.
    again = clear_and_rerun(dag, first, ["B", "C"])
    assert again.run_id == first.run_id
    assert task_states(again) == {"A": "success", "B": "success", "C": "success"}
    assert creates(emulator) == 2  # B and C only
    second_b = xcom(again, "B")
    assert second_b["ProcessingJobName"] != first_b  # a new try gets a new job
    assert second_b["ProcessingInputs"][0]["S3Input"]["S3Uri"] == xcom(first, "A")["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]


def test_cross_run_selective_rerun_reuses_the_reference_run(airflow_env: Any) -> None:
    emulator = airflow_env(FAST)
    dag = translated(chain_definition(["A", "B", "C", "D"]))
    reference = run_dag(dag, logical_date=pendulum.datetime(2026, 6, 1, tz="UTC"))
    assert set(task_states(reference).values()) == {"success"}
    emulator.reset()
    rerun = run_dag(
        dag,
        logical_date=pendulum.datetime(2026, 6, 2, tz="UTC"),
        run_conf={SELECTED_STEPS_KEY: ["B", "C"], REFERENCE_RUN_KEY: reference.run_id},
    )
    assert task_states(rerun) == {"A": "success", "B": "success", "C": "success", "D": "skipped"}
    assert creates(emulator) == 2  # B and C: A is reused, D is downstream of the selection
    assert xcom(rerun, "A") == xcom(reference, "A")
    assert xcom(rerun, "B")["ProcessingInputs"][0]["S3Input"]["S3Uri"] == xcom(reference, "A")["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]


def test_cache_hit_on_the_second_run(airflow_env: Any) -> None:
    emulator = airflow_env(FAST)
    definition = chain_definition(["A", "B"])
    definition["Steps"][0]["CacheConfig"] = {"Enabled": True, "ExpireAfter": "PT1H"}
    definition["Steps"][0]["Arguments"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] = "s3://my-ml-bucket/cached/A/out"
    dag = translated(definition)
    first = run_dag(dag, logical_date=pendulum.datetime(2026, 7, 1, tz="UTC"))
    assert creates(emulator) == 2
    emulator.reset()
    second = run_dag(dag, logical_date=pendulum.datetime(2026, 7, 2, tz="UTC"))
    assert task_states(second) == {"A": "success", "B": "success"}
    assert creates(emulator) == 1  # only B: A's request is the same, so the first run's result is reused
    assert xcom(second, "A")["ProcessingJobName"] == xcom(first, "A")["ProcessingJobName"]
    emulator.reset()
    run_dag(dag, logical_date=pendulum.datetime(2026, 7, 3, tz="UTC"), run_conf={"Mode": "full"})
    assert creates(emulator) == 2  # a different request is a cache miss
