"""The start operator's model package group assets, on the emulator: one asset event per package an
execution registered in a declared group (read back from the metadata DB), none otherwise."""

from __future__ import annotations

from typing import Any

import pendulum
import pytest

from airflow.sdk import DAG, AssetAlias

from airflow_provider_smpipe.assets import model_package_group_alias, model_package_group_asset
from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook
from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineStartOperator
from asset_helpers import asset_events, registering_definition
from native_helpers import ROLE, chain_definition, run_dag, task_states, unique, xcom

START = pendulum.datetime(2026, 1, 1, tz="UTC")
FAST = {"default_step_seconds": 0.05}


@pytest.fixture
def hook(aws_connection: str) -> SageMakerPipelineHook:
    return SageMakerPipelineHook(aws_conn_id="aws_default")


def test_the_groups_are_declared_as_alias_outlets_next_to_the_given_outlets() -> None:
    with DAG(unique("dag"), schedule=None, start_date=START):
        given = AssetAlias(name="mine")
        task = SageMakerPipelineStartOperator(
            task_id="start", pipeline_name="p", model_package_groups=["G1", "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/G2"], outlets=[given]
        )
        plain = SageMakerPipelineStartOperator(task_id="plain", pipeline_name="p")
    assert task.outlets == [given, model_package_group_alias("G1"), model_package_group_alias("G2")]
    assert task.model_package_groups == ["G1", "G2"]
    assert plain.outlets == [] and plain.model_package_groups == []
    with pytest.raises(ValueError, match="model_package_groups must be a model package group name"):
        SageMakerPipelineStartOperator(task_id="bad", pipeline_name="p", model_package_groups=["not a group!"])


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "in-worker"])
def test_an_event_per_registered_package_only_in_the_declared_groups(airflow_env: Any, hook: SageMakerPipelineHook, deferrable: bool) -> None:
    airflow_env(FAST)
    group, other, idle = unique("grp"), unique("other"), unique("idle")
    pipeline = unique("pipe")
    hook.upsert_pipeline(pipeline, registering_definition(group, other), ROLE)
    with DAG(unique("dag"), schedule=None, start_date=START) as d:
        SageMakerPipelineStartOperator(
            task_id="start",
            pipeline_name=pipeline,
            parameters={"Approval": "PendingManualApproval"},
            model_package_groups=[group.upper(), idle],  # group names compare case-insensitively
            deferrable=deferrable,
            poll_interval=0.05,
        )
    run = run_dag(d)
    assert task_states(run) == {"start": "success"}
    result = xcom(run, "start")
    package = next(r for r in result["steps"] if r["name"] == "Register")["job_arn"]
    assert package.startswith("arn:aws:sagemaker:us-east-1:123456789012:model-package/")
    assert asset_events(model_package_group_asset(group.upper()).name, run) == [
        {
            "execution_arn": result["execution_arn"],
            "pipeline_name": pipeline,
            "step_name": "Register",
            "model_package_arn": package,
            "model_package_group": group.upper(),  # as the DAG declares it: the asset it schedules on
            "approval_status": "PendingManualApproval",
        }
    ]
    # registered, but in a group the task does not declare; a declared group it registered nothing in
    assert asset_events(model_package_group_asset(other).name, run) == []
    assert asset_events(model_package_group_asset(idle).name, run) == []


def test_an_execution_that_registers_nothing_emits_no_event(airflow_env: Any, hook: SageMakerPipelineHook) -> None:
    airflow_env(FAST)
    group, other = unique("grp"), unique("other")
    registering, plain = unique("pipe"), unique("pipe")
    hook.upsert_pipeline(registering, registering_definition(group, other), ROLE)
    hook.upsert_pipeline(plain, chain_definition(["A"]), ROLE)
    with DAG(unique("dag"), schedule=None, start_date=START) as d:
        # the Condition takes its (empty) else branch: nothing is registered
        SageMakerPipelineStartOperator(
            task_id="skipped_branch", pipeline_name=registering, parameters={"Register": "no"}, model_package_groups=[group], deferrable=True, poll_interval=0.05
        )
        SageMakerPipelineStartOperator(task_id="no_register_step", pipeline_name=plain, model_package_groups=[group], poll_interval=0.05)
        # the execution is not waited for: what it registers is not known when the task ends
        SageMakerPipelineStartOperator(task_id="no_wait", pipeline_name=registering, model_package_groups=[group], wait_for_completion=False)
    run = run_dag(d)
    assert task_states(run) == {"skipped_branch": "success", "no_register_step": "success", "no_wait": "success"}
    assert "Register" not in {r["name"] for r in xcom(run, "skipped_branch")["steps"]}
    assert asset_events(model_package_group_asset(group).name, run) == []


def test_a_selective_run_that_reuses_the_register_step_emits_nothing(airflow_env: Any, hook: SageMakerPipelineHook) -> None:
    airflow_env(FAST)
    group, other = unique("grp"), unique("other")
    pipeline = unique("pipe")
    hook.upsert_pipeline(pipeline, registering_definition(group, other), ROLE)
    with DAG(unique("dag"), schedule=None, start_date=START) as d:
        full = SageMakerPipelineStartOperator(task_id="full", pipeline_name=pipeline, model_package_groups=[group], poll_interval=0.05)
        rerun = SageMakerPipelineStartOperator(
            task_id="after_only", pipeline_name=pipeline, selected_steps=["After"], source_execution="latest-succeeded", model_package_groups=[group], poll_interval=0.05
        )
        full >> rerun
    run = run_dag(d)
    assert task_states(run) == {"full": "success", "after_only": "success"}
    rows = {r["name"]: r for r in xcom(run, "after_only")["steps"]}
    assert rows["Register"]["reused_from"] == xcom(run, "full")["execution_arn"]  # its package is the full run's
    events = asset_events(model_package_group_asset(group).name, run)
    assert [e["execution_arn"] for e in events] == [xcom(run, "full")["execution_arn"]]
    assert events[0]["approval_status"] == "Approved"
