"""airflow_provider_smpipe.assets: names and URIs, the watcher, what Airflow makes of them (parsed,
serialised, synced to the metadata DB), no AWS call while a DAG is parsed, and reading events back."""

from __future__ import annotations

import socket
import warnings
from typing import Any

import pendulum
import pytest

from airflow.sdk import DAG, Asset, AssetAlias
from airflow.providers.standard.operators.empty import EmptyOperator

from airflow_provider_smpipe.assets import (
    model_package_events,
    model_package_group_alias,
    model_package_group_asset,
    model_package_group_name,
    model_package_outlets,
    registered_package_rows,
    s3_output_asset,
)
from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineStartOperator
from airflow_provider_smpipe.translation import SageMakerPipelineDag
from airflow_provider_smpipe.triggers.pipeline_event import SageMakerPipelineEventTrigger
from asset_helpers import asset_triggers, register_step
from native_helpers import chain_definition, unique

START = pendulum.datetime(2026, 1, 1, tz="UTC")
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/smpipe-pipeline-events"
TRIGGER_PATH = "airflow_provider_smpipe.triggers.pipeline_event.SageMakerPipelineEventTrigger"


def test_one_stable_name_and_uri_per_group() -> None:
    asset = model_package_group_asset("AbaloneModelPackageGroupName")
    assert (asset.name, asset.uri) == ("sagemaker-model-package-group/AbaloneModelPackageGroupName", "sagemaker://model-package-group/AbaloneModelPackageGroupName")
    assert asset.watchers == []
    # a group ARN is the same group, so the same asset
    arn = model_package_group_asset("arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/AbaloneModelPackageGroupName")
    assert (arn.name, arn.uri) == (asset.name, asset.uri)
    assert model_package_group_alias("G-1") == AssetAlias(name="sagemaker-model-package-group-registrations/G-1")
    for bad in ("", "has space", "-leading", "x" * 64, None, 3, "arn:aws:sagemaker:us-east-1:123456789012:model-package/G/1"):
        with pytest.raises(ValueError, match="group must be a model package group name"):
            model_package_group_name(bad)


def test_s3_outputs_are_the_amazon_providers_s3_assets() -> None:
    asset = s3_output_asset("s3://my-ml-bucket/out/")
    assert asset == Asset(uri="s3://my-ml-bucket/out") and asset.name == asset.uri == "s3://my-ml-bucket/out"
    for bad in ("s3://", "s3:///key", "gs://bucket/x", "/local/path"):
        with pytest.raises(ValueError, match="s3://bucket"):
            s3_output_asset(bad)


def test_the_events_queue_adds_a_watcher_on_the_groups_registrations() -> None:
    asset = model_package_group_asset("G", events_queue_url=QUEUE, approval_statuses=["Approved"], aws_conn_id="events", region_name="eu-west-1")
    assert (asset.name, asset.uri) == (model_package_group_asset("G").name, model_package_group_asset("G").uri)
    (watcher,) = asset.watchers
    assert watcher.name == "smpipe-model-packages-G"
    trigger = watcher.trigger
    assert isinstance(trigger, SageMakerPipelineEventTrigger)
    assert (trigger.queue_url, trigger.event_kind, trigger.model_package_groups, trigger.statuses) == (QUEUE, "model_package", ["G"], ["Approved"])
    assert (trigger.aws_conn_id, trigger.region_name) == ("events", "eu-west-1")
    assert model_package_group_asset("G", events_queue_url=QUEUE).watchers[0].trigger.statuses is None
    # the trigger's own checks apply when the DAG file is parsed
    with pytest.raises(ValueError, match="queue_url must be an SQS queue URL"):
        model_package_group_asset("G", events_queue_url="smpipe-pipeline-events")
    with pytest.raises(ValueError, match="'Approve' is not a status"):
        model_package_group_asset("G", events_queue_url=QUEUE, approval_statuses=["Approve"])


def test_outlets_keep_the_given_ones_and_add_the_aliases() -> None:
    mine = Asset(uri="s3://bucket/x")
    assert model_package_outlets(None) == ([], [])
    assert model_package_outlets("G", mine) == (["G"], [mine, model_package_group_alias("G")])
    assert model_package_outlets(["G", "H"], [mine]) == (["G", "H"], [mine, model_package_group_alias("G"), model_package_group_alias("H")])


def test_no_aws_call_and_no_connection_while_a_dag_is_built_and_serialised(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_compat import dag_serialization

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network or AWS call while parsing: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr("botocore.client.BaseClient._make_api_call", refuse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with DAG(unique("consumer"), schedule=[model_package_group_asset("G", events_queue_url=QUEUE)], start_date=START) as consumer:
            EmptyOperator(task_id="t")
        with DAG(unique("producer"), schedule=None, start_date=START) as producer:
            SageMakerPipelineStartOperator(task_id="start", pipeline_name="p", model_package_groups=["G"])
        serialization = dag_serialization()
        for dag in (consumer, producer):
            serialization.deserialize_dag(serialization.serialize_dag(dag))
    # Airflow accepts the sagemaker:// scheme and the names without a word (no normaliser, no warning)
    assert not [w for w in caught if "asset" in str(w.message).lower() or "uri" in str(w.message).lower()], [str(w.message) for w in caught]


def test_airflow_syncs_the_watcher_and_producers_never_reset_it(airflow_db: None) -> None:
    """A producer declares the group's alias, not the asset: Airflow's DAG processor takes an asset's
    watchers from the declaration it parses, so a plain asset outlet in a producer's DAG file would
    drop the consumer's watcher whenever that file is parsed."""
    from airflow_compat import sync_dag_to_db

    group = unique("grp")
    asset = model_package_group_asset(group, events_queue_url=QUEUE, approval_statuses=["Approved"])
    # An active (unpaused) consumer: Airflow attaches watchers only to assets an unpaused DAG is
    # scheduled on, and decides it while syncing, so the DAG must be unpaused from creation (not
    # left to ``dags_are_paused_at_creation``, which the suite's Airflow configuration may set).
    with DAG(unique("consumer"), schedule=[asset], start_date=START, is_paused_upon_creation=False) as consumer:
        EmptyOperator(task_id="t")
    # The DAG processor parses a file again and again; Airflow 3.0 attaches an asset's watchers
    # before it activates the asset, so only from the second parse on (3.3 activates first).
    sync_dag_to_db(consumer)
    sync_dag_to_db(consumer)
    expected = [(TRIGGER_PATH, {"queue_url": QUEUE, "event_kind": "model_package", "model_package_groups": [group], "statuses": ["Approved"]})]

    def watching() -> list[tuple[str, dict[str, Any]]]:
        return [(path, {key: kwargs.get(key) for key in expected[0][1]}) for path, kwargs in asset_triggers(asset.name)]

    assert watching() == expected

    with DAG(unique("native"), schedule=None, start_date=START) as native:
        SageMakerPipelineStartOperator(task_id="start", pipeline_name="p", model_package_groups=[group])
    sync_dag_to_db(native)
    assert watching() == expected

    definition = chain_definition(["Prep"])
    definition["Parameters"].append({"Name": "Approval", "Type": "String", "DefaultValue": "Approved"})
    definition["Steps"].append(register_step("Register", group))
    translated = SageMakerPipelineDag(definition=definition, dag_id=unique("translated"), schedule=None, start_date=START)
    sync_dag_to_db(translated)
    assert watching() == expected


def test_registered_rows_are_the_packages_this_execution_registered() -> None:
    rows = [
        {"name": "Register", "type": "RegisterModel", "status": "Succeeded", "job_arn": "arn:p/1"},
        {"name": "Reused", "type": "RegisterModel", "status": "Succeeded", "job_arn": "arn:p/2", "reused_from": "arn:exec"},
        {"name": "Cached", "type": "RegisterModel", "status": "Succeeded", "job_arn": "arn:p/3", "cache_hit": "arn:exec"},
        {"name": "Failed", "type": "RegisterModel", "status": "Failed", "job_arn": None},
        {"name": "Train", "type": "TrainingJob", "status": "Succeeded", "job_arn": "arn:t"},
    ]
    assert [r["name"] for r in registered_package_rows(rows)] == ["Register"]


def test_model_package_events_reads_task_and_watcher_events() -> None:
    task_extra = {
        "execution_arn": "arn:aws:sagemaker:us-east-1:123456789012:pipeline/p/execution/e1",
        "pipeline_name": "p",
        "step_name": "Register",
        "model_package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1",
        "model_package_group": "g",
        "approval_status": "Approved",
        "dag_id": "d",
    }
    watcher_extra = {
        "from_trigger": True,
        "payload": {
            "kind": "model_package",
            "model_package_group": "g",
            "model_package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/2",
            "status": "PendingManualApproval",
            "execution_arn": "",
            "pipeline_name": "",
        },
    }

    class Event:  # what triggering_asset_events holds: objects with an extra
        extra = watcher_extra

    # the same event under its asset and under its alias (triggering_asset_events lists both) is one package
    assert model_package_events([task_extra, Event(), {"other": 1}, task_extra]) == [
        {**{k: v for k, v in task_extra.items() if k != "dag_id"}, "source": "task"},
        {
            "model_package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/2",
            "model_package_group": "g",
            "approval_status": "PendingManualApproval",
            "execution_arn": None,  # registered outside a pipeline
            "pipeline_name": None,
            "step_name": None,
            "source": "watcher",
        },
    ]
