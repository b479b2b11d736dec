"""Run a DAG the way ``airflow dags trigger`` / ``POST /api/v2/dags/{dag_id}/dagRuns`` with
``{"logical_date": null}`` runs it: a manual run WITHOUT a logical date (and so without a data
interval, ``ds``, ``ts_nodash``, ``data_interval_start``...).

``native_helpers.run_dag`` cannot: it wraps ``dag.test()``, which gives every run a logical date
unless called with ``logical_date=None`` explicitly, and even then first clears every task instance
of the DAG and deletes its earlier run without a logical date (``get_or_create_dagrun`` matches
``logical_date IS NULL``). This helper creates the run through the REST API's own code: the
request body model ``TriggerDAGRunPostBody`` and its ``validate_context`` (run id, run_after, no
data interval), then ``create_dagrun(state=QUEUED, triggered_by=REST_API)``; moves it to running as
the scheduler does; and runs its tasks with the minimal loop ``dag.test()`` uses (``airflow_compat.run_until_done``,
which ``native_helpers.clear_and_rerun`` uses too), deferred tasks with their real trigger inline.
"""

from __future__ import annotations

from typing import Any

from airflow_compat import call_with_accepted, latest_serialized_dag, run_until_done, sync_dag_to_db, utcnow


def run_without_logical_date(dag: Any, *, conf: dict[str, Any] | None = None, timeout: float = 300) -> Any:
    """Trigger ``dag`` with no logical date (as the REST API does) and run it; returns the DagRun."""
    from airflow import settings
    from airflow.api_fastapi.core_api.datamodels.dag_run import TriggerDAGRunPostBody
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    sync_dag_to_db(dag)

    assert settings.Session is not None, "the Airflow ORM is not configured"
    session = settings.Session()
    serialized = latest_serialized_dag(dag.dag_id, session)
    assert serialized is not None, f"{dag.dag_id} was not serialised"
    body = TriggerDAGRunPostBody.model_validate({"logical_date": None, "conf": conf or {}})
    params = body.validate_context(serialized)
    run = call_with_accepted(  # Airflow 3.0 has no triggering user or partitions
        serialized.create_dagrun,
        run_id=params["run_id"],
        logical_date=params["logical_date"],
        data_interval=params["data_interval"],
        run_after=params["run_after"],
        conf=params["conf"],
        run_type=DagRunType.MANUAL,
        triggered_by=DagRunTriggeredByType.REST_API,
        triggering_user_name="tests",
        state=DagRunState.QUEUED,
        partition_key=params.get("partition_key"),
        partition_date=params.get("partition_date"),
        session=session,
    )
    assert run.logical_date is None and run.data_interval_start is None, "the run must have no logical date"
    run.state = DagRunState.RUNNING  # what the scheduler's _start_queued_dagruns does
    run.start_date = utcnow()
    session.commit()
    return run_until_done(session, dag, serialized, run.dag_id, run.run_id, timeout=timeout, task_errors_stop=False)
