"""ForEach in translation mode, run with dag.test() against the emulator: one map index per item,
items from a parameter, a literal list or an upstream step, the Selector and IterationOutputs read
downstream, a failed child, bad items, clearing one child, selective re-runs and the cache."""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_smpipe.translation import REFERENCE_RUN_KEY, SELECTED_STEPS_KEY
from airflow_provider_smpipe.translation.runtime import execution_id_for
from native_helpers import clear_and_rerun, run_dag
from v3_helpers import definition_with, direct_jobs, invocations, lambda_step, sweep, ti_state, training_step, translated, xcom_of

FAST = 0.05
BODY = "Sweep.iterations.Train"


def scenario(steps: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    lambdas = {f"arn:aws:lambda:us-east-1:123456789012:function:{f}": {"response": {}} for f in ("best", "notify")}
    return {"default_step_seconds": FAST, "steps": steps or {}, "lambda": lambdas, **extra}


def children(run: Any, task_id: str = BODY) -> dict[int, tuple[str, str | None]]:
    """``{map index: (state, label)}`` of a mapped task."""
    return {
        ti.map_index: (str(getattr(ti.state, "value", ti.state)), ti.rendered_map_index)
        for ti in run.get_task_instances()
        if ti.task_id == task_id and ti.map_index >= 0
    }


def state_of(run: Any) -> str:
    return str(getattr(run.state, "value", run.state))


def test_n_items_make_n_map_indexes_labelled_with_their_item_and_the_selector_picks(airflow_env: Any) -> None:
    metrics = {f"Train-{i}": {"metrics": {"auc": 0.5 + (i % 3) / 10 + i / 1000}} for i in range(5)}
    emulator = airflow_env(scenario(metrics))
    dag = translated(sweep(5, 2))
    run = run_dag(dag)
    assert state_of(run) == "success"
    mapped = children(run)
    assert sorted(mapped) == [0, 1, 2, 3, 4]
    assert mapped[3] == ("success", '3: {"depth": 3}')
    results = xcom_of(run, "Sweep.results")
    assert {k: results[k] for k in ("Status", "InputItemCount", "TotalStepCount", "SucceededStepCount", "FailedStepCount")} == {
        "Status": "Succeeded", "InputItemCount": 5, "TotalStepCount": 5, "SucceededStepCount": 5, "FailedStepCount": 0,
    }  # fmt: skip
    assert xcom_of(run, "Sweep.results", "for_each")["Selector"] == {"StepName": "Train-2", "Index": 2}  # auc 0.702 > 0.601, 0.504 ...
    # Each child trained with its own item, as its own job; the downstream step read Selected and IterationOutputs.
    outputs = results["IterationOutputs"]
    assert [o["Train"]["HyperParameters"]["depth"] for o in outputs] == ["0", "1", "2", "3", "4"]
    assert len({o["Train"]["TrainingJobName"] for o in outputs}) == 5
    [best] = invocations(emulator, "best")[-1:]
    assert best == {"job": outputs[2]["Train"]["TrainingJobName"], "second": outputs[1]["Train"]["TrainingJobName"], "count": 5}
    assert results["Selected"]["TrainingJobName"] == outputs[2]["Train"]["TrainingJobName"]
    assert ti_state(run, "OnFailure") == "skipped"  # its run condition (Sweep failed) never held


def test_a_failed_child_fails_the_for_each_its_failed_handler_reads_the_aggregates_and_the_run_succeeds(airflow_env: Any) -> None:
    emulator = airflow_env(scenario({"Train-1": {"fail": {"reason": "AlgorithmError: NaN"}}}))
    dag = translated(sweep(4, 2, selector=False))
    run = run_dag(dag)
    mapped = children(run)
    assert mapped[1][0] == "failed" and {mapped[i][0] for i in (0, 2, 3)} == {"success"}
    assert ti_state(run, "Sweep.results") == "failed"
    assert xcom_of(run, "Sweep.results", "outcome")["reason"] == "ForEach 'Sweep' ended Failed: 1 child step(s) failed, 0 stopped"
    # The aggregates stay readable by the Failed handler; plain dependents do not run.
    assert invocations(emulator, "notify")[-1] == {"failed": 1, "status": "Failed"}
    assert ti_state(run, "Best") == "upstream_failed"
    summary = xcom_of(run, "execution_status")
    assert summary["PipelineExecutionStatus"] == "CompletedWithFailures"
    assert summary["HandledFailures"] == [{"StepName": "Sweep", "Status": "Failed", "HandledBy": ["OnFailure"]}]
    assert state_of(run) == "success"  # every failure was handled, as the service's CompletedWithFailures


def test_an_unhandled_failed_child_fails_the_run(airflow_env: Any) -> None:
    airflow_env(scenario({"Train-0": {"fail": {"reason": "AlgorithmError: NaN"}}}))
    run = run_dag(translated(sweep(2, 2, selector=False, handler=False)))
    assert ti_state(run, "Sweep.results") == "failed" and ti_state(run, "Best") == "upstream_failed"
    assert state_of(run) == "failed"


def test_items_from_an_upstream_step_and_a_literal_list_and_same_iteration_references(airflow_env: Any) -> None:
    emulator = airflow_env({
        **scenario(),
        "lambda": {
            "arn:aws:lambda:us-east-1:123456789012:function:list-shards": {"response": {"shards": '["s-a", "s-b"]'}},
            "arn:aws:lambda:us-east-1:123456789012:function:record": {"response": {}},
        },
    })
    prepare = lambda_step("ListShards", {}, outputs=[("shards", "String")], function="list-shards")
    first = training_step("Shard", output="s3://emu-bucket/shards")
    first["Arguments"]["HyperParameters"] = {"shard": {"Get": "ForEach.CurrentItem"}, "run": {"Get": "Steps.ListShards.OutputParameters['shards']"}}
    second = lambda_step("Record", {"job": {"Get": "Steps.Shard.TrainingJobName"}, "shard": {"Get": "ForEach.CurrentItem"}}, function="record")
    loop = {"Name": "PerShard", "Type": "ForEach", "Arguments": {
        "IterableItems": {"Get": "Steps.ListShards.OutputParameters['shards']"}, "MaxConcurrency": 3, "ForEachBody": [first, second]}}
    literal = {"Name": "PerColour", "Type": "ForEach", "Arguments": {
        "IterableItems": ["red", 7, {"Get": "Execution.PipelineExecutionId"}], "MaxConcurrency": 1,
        "ForEachBody": [lambda_step("Paint", {"colour": {"Get": "ForEach.CurrentItem"}}, function="record")]}}
    dag = translated(definition_with([prepare, loop, literal]))
    run = run_dag(dag)
    assert state_of(run) == "success"
    assert sorted(children(run, "PerShard.iterations.Shard")) == [0, 1]
    assert dag.task_dict["PerShard.iterations.Record"].upstream_task_ids == {"PerShard.iterations.Shard"}
    assert dag.task_dict["PerShard.items"].upstream_task_ids == {"ListShards"}
    outputs = xcom_of(run, "PerShard.results")["IterationOutputs"]
    assert [o["Shard"]["HyperParameters"]["shard"] for o in outputs] == ["s-a", "s-b"]
    # Record of iteration i read Shard of iteration i (same map index), never another child's.
    recorded = sorted((p["shard"], p["job"]) for p in invocations(emulator, "record") if "job" in p)
    assert recorded == [("s-a", outputs[0]["Shard"]["TrainingJobName"]), ("s-b", outputs[1]["Shard"]["TrainingJobName"])]
    assert outputs[0]["Record"] == {"OutputParameters": {}}
    execution_id = execution_id_for(run.dag_id, run.run_id)
    painted = [p["colour"] for p in invocations(emulator, "record") if "colour" in p]
    assert sorted(painted, key=str) == sorted(["red", 7, execution_id], key=str)
    assert children(run, "PerColour.iterations.Paint")[1] == ("success", "1: 7")


def test_an_empty_list_runs_no_child_and_the_for_each_succeeds(airflow_env: Any) -> None:
    emulator = airflow_env(scenario())
    document = sweep(2, 2, selector=False)
    del document["Steps"][1]["Arguments"]["second"]  # there is no iteration 1 to read
    run = run_dag(translated(document), run_conf={"Configs": "[]"})
    assert state_of(run) == "success"
    assert children(run) == {}
    assert xcom_of(run, "Sweep.results")["InputItemCount"] == 0
    assert invocations(emulator, "best")[-1] == {"job": "Succeeded", "count": 0}
    assert direct_jobs(emulator, execution_id_for(run.dag_id, run.run_id)) == []


def test_items_that_are_not_a_json_list_fail_the_for_each_with_the_location(airflow_env: Any, capfd: Any) -> None:
    emulator = airflow_env(scenario())
    run = run_dag(translated(sweep(2, 2, selector=False)), run_conf={"Configs": "not json"})
    assert ti_state(run, "Sweep.items") == "failed" and ti_state(run, "Sweep.results") == "failed"
    log = capfd.readouterr().out
    assert "step 'Sweep' at $.Steps[0].Arguments.IterableItems: IterableItems resolved to a string that is not JSON" in log
    # The ForEach failed, so its Failed handler runs; without items there are no aggregates to read
    # (as in the emulator's executions), and the handler says so.
    assert ti_state(run, "OnFailure") == "failed"
    assert "step 'OnFailure' at $.Steps[2].Arguments.failed: step 'Sweep' has no properties" in log
    execution_id = execution_id_for(run.dag_id, run.run_id)
    assert direct_jobs(emulator, execution_id) == []  # nothing started in AWS


def test_a_selector_field_that_is_not_a_number_fails_the_for_each(airflow_env: Any) -> None:
    airflow_env(scenario())
    document = sweep(2, 2)
    document["Steps"][0]["Arguments"]["Selector"]["Field"] = {"Get": "IterationOutput.Train.TrainingJobName"}
    run = run_dag(translated(document))
    assert ti_state(run, "Sweep.results") == "failed"
    reason = xcom_of(run, "Sweep.results", "outcome")["reason"]
    assert "Selector MaxBy compares numbers, but child 'Train-0' has" in reason and "$.Steps[0].Arguments.Selector.Field" in reason
    assert ti_state(run, "OnFailure") == "success"


def test_a_cleared_child_reruns_alone(airflow_env: Any) -> None:
    emulator = airflow_env(scenario({"Train-1": {"fail": {"reason": "CapacityError: no ml.m5.large", "attempts": [1]}}}))
    dag = translated(sweep(3, 3, selector=False, handler=False))
    run = run_dag(dag)
    assert children(run)[1][0] == "failed" and state_of(run) == "failed"
    execution_id = execution_id_for(run.dag_id, run.run_id)
    before = {j["name"] for j in direct_jobs(emulator, execution_id)}
    assert len(before) == 3
    run = clear_and_rerun(dag, run, ["Sweep.results", "Best"], map_indexes={BODY: [1]})
    assert state_of(run) == "success"
    assert {i: s for i, (s, _) in children(run).items()} == {0: "success", 1: "success", 2: "success"}
    new = [j for j in direct_jobs(emulator, execution_id) if j["name"] not in before]
    assert len(new) == 1 and "Train-1" in new[0]["name"]  # only the cleared child ran again
    assert xcom_of(run, "Sweep.results")["SucceededStepCount"] == 3


def test_selective_rerun_of_a_for_each_and_reuse_of_one(airflow_env: Any) -> None:
    emulator = airflow_env(scenario({f"Train-{i}": {"metrics": {"auc": 0.1 * (i + 1)}} for i in range(3)}))
    dag = translated(sweep(3, 3))
    first = run_dag(dag)
    assert state_of(first) == "success"
    first_best = invocations(emulator, "best")[-1]
    # Only Best: the ForEach is reused from the first run (its results copied, no child runs).
    again = run_dag(dag, run_conf={SELECTED_STEPS_KEY: ["Best"], REFERENCE_RUN_KEY: first.run_id})
    assert state_of(again) == "success"
    assert children(again) == {} and ti_state(again, "Sweep.results") == "success"
    assert xcom_of(again, "Sweep.results") == xcom_of(first, "Sweep.results")
    assert invocations(emulator, "best")[-1] == first_best
    assert direct_jobs(emulator, execution_id_for(again.dag_id, again.run_id)) == []
    # The ForEach itself: its children run again.
    third = run_dag(dag, run_conf={SELECTED_STEPS_KEY: ["Sweep"]})
    assert sorted(children(third)) == [0, 1, 2] and ti_state(third, "Best") == "skipped"
    assert len(direct_jobs(emulator, execution_id_for(third.dag_id, third.run_id))) == 3


def test_a_cached_body_step_reuses_each_childs_earlier_result(airflow_env: Any) -> None:
    emulator = airflow_env(scenario())
    document = sweep(2, 2, selector=False, handler=False)
    body = document["Steps"][0]["Arguments"]["ForEachBody"][0]
    body["CacheConfig"] = {"Enabled": True, "ExpireAfter": "P1D"}
    body["Arguments"]["OutputDataConfig"]["S3OutputPath"] = "s3://cache-bucket/models"  # the same request in both runs
    dag = translated(document)
    first = run_dag(dag)
    second = run_dag(dag)
    assert state_of(first) == state_of(second) == "success"
    assert len(direct_jobs(emulator, execution_id_for(first.dag_id, first.run_id))) == 2
    assert direct_jobs(emulator, execution_id_for(second.dag_id, second.run_id)) == []  # both children hit the cache
    outputs = [o["Train"]["HyperParameters"]["depth"] for o in xcom_of(second, "Sweep.results")["IterationOutputs"]]
    assert outputs == ["0", "1"]  # each child got its own item's entry, not another child's


def test_items_beyond_airflows_map_length_fail_with_the_setting_named(airflow_env: Any, capfd: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "3")
    airflow_env(scenario())
    run = run_dag(translated(sweep(2, 2, selector=False, handler=False)), run_conf={"Configs": json.dumps(list(range(4)))})
    assert ti_state(run, "Sweep.items") == "failed"
    assert "ForEach 'Sweep': 4 items, but Airflow maps a task at most 3 times ([core] max_map_length)" in capfd.readouterr().out


def test_a_for_each_inside_a_pipeline_task_group_runs(airflow_env: Any) -> None:
    import pendulum
    from airflow.sdk import DAG

    from airflow_provider_smpipe.translation import SageMakerPipelineTaskGroup
    from native_helpers import unique

    emulator = airflow_env(scenario({f"Train-{i}": {"metrics": {"auc": 0.2 * (i + 1)}} for i in range(2)}))
    with DAG(unique("host"), schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        SageMakerPipelineTaskGroup(definition=sweep(2, 2), group_id="ml", poll_interval=0.05, deferrable=True)
    assert {"ml.Sweep.items", "ml.Sweep.iterations.Train", "ml.Sweep.results", "ml.Best", "ml.OnFailure", "ml.execution_status"} <= set(dag.task_dict)
    run = run_dag(dag)
    assert state_of(run) == "success"
    assert sorted(children(run, "ml.Sweep.iterations.Train")) == [0, 1]
    results = xcom_of(run, "ml.Sweep.results")
    assert invocations(emulator, "best")[-1]["job"] == results["IterationOutputs"][1]["Train"]["TrainingJobName"]  # MaxBy picked index 1
