"""Reading asset events back from the metadata DB, as the scheduler and the UI see them, and small
definitions that register model packages."""

from __future__ import annotations

from typing import Any

from native_helpers import chain_definition


def asset_events(asset_name: str, dag_run: Any = None) -> list[dict[str, Any]]:
    """The extras of the asset events recorded for the asset named ``asset_name`` (emitted by
    ``dag_run`` when given), oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).filter(AssetModel.name == asset_name)
        if dag_run is not None:
            query = query.filter(AssetEvent.source_dag_id == dag_run.dag_id, AssetEvent.source_run_id == dag_run.run_id)
        return [dict(event.extra or {}) for event in query.order_by(AssetEvent.id)]


def asset_triggers(asset_name: str) -> list[tuple[str, dict[str, Any]]]:
    """``(classpath, kwargs)`` of the triggers watching the asset named ``asset_name`` (its
    ``AssetWatcher`` triggers, as the triggerer will run them)."""
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.query(AssetModel).filter_by(name=asset_name).one()
        return sorted(((trigger.classpath, dict(trigger.kwargs)) for trigger in model.triggers), key=repr)


def register_step(name: str, group: Any) -> dict[str, Any]:
    """A RegisterModel step (the request shape of the SDK's, as in the sweep example's definition)."""
    return {
        "Name": name,
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": group,
            "ModelApprovalStatus": {"Get": "Parameters.Approval"},
            "InferenceSpecification": {
                "Containers": [
                    {"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", "ModelDataUrl": "s3://my-ml-bucket/model/model.tar.gz"}
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        },
    }


def registering_definition(group: str, other_group: str) -> dict[str, Any]:
    """Prep -> Gate: ``Parameters.Register == "yes"`` -> [Register into ``group`` -> After,
    RegisterOther into ``other_group``], else nothing. ``Approval`` is the packages' ModelApprovalStatus."""
    definition = chain_definition(["Prep"])
    definition["Parameters"] += [
        {"Name": "Register", "Type": "String", "DefaultValue": "yes"},
        {"Name": "Approval", "Type": "String", "DefaultValue": "Approved"},
    ]
    after = {**chain_definition(["After"])["Steps"][0], "DependsOn": ["Register"]}
    definition["Steps"].append(
        {
            "Name": "Gate",
            "Type": "Condition",
            "DependsOn": ["Prep"],
            "Arguments": {
                "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Parameters.Register"}, "RightValue": "yes"}],
                "IfSteps": [register_step("Register", group), after, register_step("RegisterOther", other_group)],
                "ElseSteps": [],
            },
        }
    )
    return definition


def asset_event_ids(asset_name: str, dag_run: Any = None) -> list[int]:
    """The ids of the asset events :func:`asset_events` reads, in the same order."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(AssetEvent.id).join(AssetModel, AssetEvent.asset_id == AssetModel.id).filter(AssetModel.name == asset_name)
        if dag_run is not None:
            query = query.filter(AssetEvent.source_dag_id == dag_run.dag_id, AssetEvent.source_run_id == dag_run.run_id)
        return [row[0] for row in query.order_by(AssetEvent.id)]


def run_on_asset_events(dag: Any, event_ids: list[int], *, timeout: float = 120) -> Any:
    """Run ``dag`` as the scheduler runs an asset-scheduled DAG: an ``asset_triggered`` run without
    a logical date that consumed the asset events ``event_ids`` (its tasks' ``triggering_asset_events``),
    its tasks run with the minimal loop ``dag.test()`` uses. Returns the DagRun."""
    from airflow import settings
    from airflow.models.asset import AssetEvent
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    from airflow_compat import call_with_accepted, latest_serialized_dag, run_until_done, sync_dag_to_db, utcnow

    sync_dag_to_db(dag)
    session = settings.Session()
    serialized = latest_serialized_dag(dag.dag_id, session)
    run_after = utcnow()
    run = call_with_accepted(  # the scheduler's _create_dag_runs_asset_triggered
        serialized.create_dagrun,
        run_id=DagRun.generate_run_id(run_type=DagRunType.ASSET_TRIGGERED, logical_date=None, run_after=run_after),
        logical_date=None,
        data_interval=None,
        run_after=run_after,
        run_type=DagRunType.ASSET_TRIGGERED,
        triggered_by=DagRunTriggeredByType.ASSET,
        state=DagRunState.QUEUED,
        session=session,
    )
    run.consumed_asset_events.extend(session.query(AssetEvent).filter(AssetEvent.id.in_(event_ids)).order_by(AssetEvent.id))
    run.state = DagRunState.RUNNING
    run.start_date = utcnow()
    session.commit()
    return run_until_done(session, dag, serialized, run.dag_id, run.run_id, timeout=timeout)
