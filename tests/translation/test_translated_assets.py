"""Translated steps declare assets: literal S3 outputs (Processing, Training, Transform) and, for a
RegisterModel step with a literal group, that group's asset through its alias; the RegisterModel
task emits the package's event after CreateModelPackage. Runs on the emulator with dag.test()."""

from __future__ import annotations

import json
from typing import Any

import pendulum

from airflow.sdk import AssetAlias

from airflow_provider_smpipe.assets import model_package_group_alias, model_package_group_asset, s3_output_asset
from airflow_provider_smpipe.definition.naming import execution_arn
from airflow_provider_smpipe.translation import REFERENCE_RUN_KEY, SELECTED_STEPS_KEY, SageMakerPipelineDag
from airflow_provider_smpipe.translation.runtime import execution_id_for
from asset_helpers import asset_events, register_step
from native_helpers import FIXTURES, chain_definition, run_dag, task_states, unique, xcom

START = pendulum.datetime(2026, 1, 1, tz="UTC")
ABALONE_GROUP = "AbaloneModelPackageGroupName"
REGISTER = "RegisterAbaloneModel-RegisterModel"


def translated(definition: Any, **kwargs: Any) -> SageMakerPipelineDag:
    return SageMakerPipelineDag(
        definition=definition, dag_id=unique("assets"), schedule=None, start_date=START, poll_interval=0.05, deferrable=True, **kwargs
    )


def abalone() -> dict[str, Any]:
    return json.loads((FIXTURES / "definitions" / "abalone.json").read_text())


def abalone_scenario(mse: float) -> dict[str, Any]:
    return {
        "default_step_seconds": 0.05,
        "steps": {"EvaluateAbaloneModel": {"files": {"evaluation": {"evaluation.json": {"regression_metrics": {"mse": {"value": mse}}}}}}},
    }


def test_literal_outputs_and_groups_are_declared_expressions_are_not() -> None:
    dag = translated(abalone())
    outlets = {task_id: task.outlets for task_id, task in dag.task_dict.items()}
    assert outlets["TrainAbaloneModel"] == [s3_output_asset("s3://my-ml-bucket/AbaloneTrain")]  # OutputDataConfig.S3OutputPath
    assert outlets["AbaloneTransform"] == [s3_output_asset("s3://my-ml-bucket/AbaloneTransform")]  # TransformOutput.S3OutputPath
    assert outlets[REGISTER] == [model_package_group_alias(ABALONE_GROUP)]
    # Processing outputs built with Std:Join (the execution id), a Condition, a Fail: nothing declared
    assert {t for t, o in outlets.items() if o} == {"TrainAbaloneModel", "AbaloneTransform", REGISTER}

    definition = chain_definition(["Prep"])
    outputs = definition["Steps"][0]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    literal = {**outputs[0], "OutputName": "literal", "S3Output": {**outputs[0]["S3Output"], "S3Uri": "s3://my-ml-bucket/prep/literal/"}}
    outputs.append(literal)
    definition["Parameters"].append({"Name": "Approval", "Type": "String", "DefaultValue": "Approved"})
    definition["Steps"] += [register_step("RegisterFixed", "fixed-group"), register_step("RegisterDynamic", {"Get": "Parameters.Mode"})]
    dag = translated(definition)
    assert dag.get_task("Prep").outlets == [s3_output_asset("s3://my-ml-bucket/prep/literal")]
    assert dag.get_task("RegisterFixed").outlets == [model_package_group_alias("fixed-group")]
    assert dag.get_task("RegisterDynamic").outlets == []  # the group is known only at run time
    assert all(isinstance(o, AssetAlias) for o in dag.get_task("RegisterFixed").outlets)


def test_the_register_task_emits_the_package_event_and_the_jobs_their_outputs(airflow_env: Any) -> None:
    airflow_env(abalone_scenario(4.2))
    run = run_dag(translated(abalone(), pipeline_name="AssetsPipeline"), run_conf={"ModelApprovalStatus": "Approved"})
    states = task_states(run)
    assert states.pop("AbaloneMSEFail") == "skipped" and set(states.values()) == {"success"}
    package = xcom(run, REGISTER)
    account = package["ModelPackageArn"].split(":")[4]
    assert asset_events(model_package_group_asset(ABALONE_GROUP).name, run) == [
        {
            # the run's Execution.PipelineExecutionArn
            "execution_arn": execution_arn("AssetsPipeline", execution_id_for(run.dag_id, run.run_id), account=account),
            "pipeline_name": "AssetsPipeline",
            "step_name": REGISTER,
            "model_package_arn": package["ModelPackageArn"],
            "model_package_group": ABALONE_GROUP,
            "approval_status": "Approved",
            "dag_id": run.dag_id,
            "run_id": run.run_id,
            "task_id": REGISTER,
            "map_index": -1,
        }
    ]
    assert len(asset_events(s3_output_asset("s3://my-ml-bucket/AbaloneTrain").name, run)) == 1
    assert len(asset_events(s3_output_asset("s3://my-ml-bucket/AbaloneTransform").name, run)) == 1


def test_no_event_when_the_register_step_is_skipped_or_reused(airflow_env: Any) -> None:
    airflow_env(abalone_scenario(7.5))  # over the threshold: the Condition takes the Fail branch
    dag = translated(abalone())
    failed = run_dag(dag)
    assert task_states(failed)[REGISTER] == "skipped"
    assert asset_events(model_package_group_asset(ABALONE_GROUP).name, failed) == []

    airflow_env({"default_step_seconds": 0.05})
    group = unique("grp")
    definition = chain_definition(["Prep"])
    definition["Parameters"].append({"Name": "Approval", "Type": "String", "DefaultValue": "Approved"})
    after = {**chain_definition(["After"])["Steps"][0], "DependsOn": ["Register"]}
    definition["Steps"] += [{**register_step("Register", group), "DependsOn": ["Prep"]}, after]
    dag = translated(definition)
    first = run_dag(dag)
    assert set(task_states(first).values()) == {"success"}
    assert [e["model_package_arn"] for e in asset_events(model_package_group_asset(group).name, first)] == [xcom(first, "Register")["ModelPackageArn"]]
    # a selective re-run of the step after it reuses the registered package: nothing new is registered
    again = run_dag(dag, run_conf={SELECTED_STEPS_KEY: ["After"], REFERENCE_RUN_KEY: first.run_id})
    assert task_states(again) == {"Prep": "success", "Register": "success", "After": "success"}
    assert xcom(again, "Register") == xcom(first, "Register")
    assert asset_events(model_package_group_asset(group).name, again) == []
