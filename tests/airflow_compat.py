"""The Airflow internals the test harness drives itself (DAG bags, DAG serialisation, the minimal
task loop of ``dag.test()``, creating a run as the REST API does), for every Airflow 3 release the
provider supports: CI runs the suite on the newest (scripts/test.sh) and on the oldest
(scripts/test_oldest.sh), and these moved or changed in between. Each helper detects the feature
(an import, a parameter), never a version number, and says which release lacks it.

Nothing here imports Airflow at module level (see conftest.py).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any


def dag_bag_class() -> Any:
    """Airflow's ``DagBag`` (parses DAG files, collects import errors)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.0: it lives in airflow.models
        from airflow.models.dagbag import DagBag
    return DagBag


def dag_bag(**kwargs: Any) -> Any:
    return dag_bag_class()(**kwargs)


def dag_serialization() -> Any:
    """The class with ``serialize_dag``/``deserialize_dag`` the DAG processor and scheduler use."""
    try:
        from airflow.serialization.serialized_objects import DagSerialization
    except ImportError:  # Airflow 3.0: the serialised DAG class itself
        from airflow.serialization.serialized_objects import SerializedDAG as DagSerialization
    return DagSerialization


def sync_dag_to_db(dag: Any) -> None:
    """Serialise ``dag`` into the metadata DB as the DAG processor does, in the ``dags-folder`` bundle."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()
    bag = dag_bag(collect_dags=False)
    bag.bag_dag(dag)
    try:
        from airflow.dag_processing.dagbag import sync_bag_to_db
    except ImportError:  # Airflow 3.0: a method of the bag, which needs the file the DAG was parsed
        # from (only parsing sets it; later releases derive it themselves)
        if dag.relative_fileloc is None:
            dag.relative_fileloc = dag.fileloc
        bag.sync_to_db(bundle_name="dags-folder", bundle_version=None)
    else:
        sync_bag_to_db(bag, bundle_name="dags-folder", bundle_version=None)


def latest_serialized_dag(dag_id: str, session: Any) -> Any:
    """The scheduler's (deserialised) view of the DAG's latest version in the metadata DB."""
    try:
        from airflow.models.dagbag import DBDagBag
    except ImportError:  # Airflow 3.0
        from airflow.models.serialized_dag import SerializedDagModel

        return SerializedDagModel.get_dag(dag_id, session=session)
    return DBDagBag().get_latest_version_of_dag(dag_id, session=session)


def call_with_accepted(function: Callable[..., Any], **kwargs: Any) -> Any:
    """Call ``function`` with the keyword arguments it accepts, for arguments added in later
    releases that the oldest one has no use for (e.g. ``create_dagrun``'s ``partition_key``)."""
    accepted = inspect.signature(function).parameters
    return function(**{name: value for name, value in kwargs.items() if name in accepted})


def run_task(ti: Any, task: Any) -> Any:
    """Run one scheduled task instance the way ``dag.test()`` does (deferrals with their trigger inline)."""
    from airflow.sdk.definitions.dag import _run_task

    if "task" in inspect.signature(_run_task).parameters:
        return _run_task(ti=ti, task=task, run_triggerer=True)
    ti.task = task  # Airflow 3.0: the task travels on the task instance
    return _run_task(ti=ti, run_triggerer=True)


def run_until_done(session: Any, dag: Any, scheduler_dag: Any, dag_id: str, run_id: str, *, timeout: float, task_errors_stop: bool = True) -> Any:
    """Drive the RUNNING run ``run_id`` to its end with the minimal loop ``dag.test()`` uses: let
    the run schedule what is runnable (``scheduler_dag``: the serialised DAG the scheduler sees),
    run each scheduled task instance with ``dag``'s task (deferrals with their trigger inline),
    until the run is no longer RUNNING; returns it. ``AssertionError`` after ``timeout`` seconds.

    :param task_errors_stop: ``False`` to go on when a task raises, as ``dag.test()`` does (the
        task instance fails, the loop does not); ``True`` lets the exception out.
    """
    from airflow.models.dagrun import DagRun
    from airflow.utils.state import DagRunState, TaskInstanceState

    deadline = time.monotonic() + timeout
    while True:
        session.expire_all()
        run = session.query(DagRun).filter_by(dag_id=dag_id, run_id=run_id).one()
        if run.state != DagRunState.RUNNING:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"{dag_id} run {run_id} still running after {timeout}s")
        run.dag = scheduler_dag
        schedulable, _ = run.update_state(session=session)
        for ti in schedulable:
            if ti.state != TaskInstanceState.UP_FOR_RESCHEDULE:
                ti.try_number += 1
            ti.state = TaskInstanceState.SCHEDULED
            ti.scheduled_dttm = utcnow()
        session.commit()
        scheduled = [t for t in run.get_task_instances(session=session) if t.state == TaskInstanceState.SCHEDULED]
        if not scheduled:
            time.sleep(0.1)  # e.g. a task waiting for a retry delay
        for ti in scheduled:
            try:
                run_task(ti, dag.task_dict[ti.task_id])
            except Exception:
                if task_errors_stop:
                    raise


def utcnow() -> Any:
    try:
        from airflow.sdk import timezone
    except ImportError:  # Airflow 3.0: not in the Task SDK yet
        from airflow.utils import timezone
    return timezone.utcnow()


def plain_task_logs() -> None:
    """Task logs in ``dag.test()`` runs as later releases print them: a task's exception as a plain
    traceback ending in its full message, which tests read back from the captured output.

    Airflow 3.0 leaves structlog (the Task SDK's logger) unconfigured in the test process, so its
    default renderer prints exceptions as rich tracebacks wrapped at 80 columns, splitting the
    message; later releases configure it themselves (then nothing is changed here)."""
    import structlog

    import airflow.sdk  # noqa: F401  - whatever Airflow configures on import is in place first

    if structlog.is_configured():
        return
    processors = [p for p in structlog.get_config()["processors"] if not isinstance(p, structlog.dev.ConsoleRenderer)]
    renderer = structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    structlog.configure(processors=[*processors, renderer])


def renders_non_string_keys() -> bool:
    """Whether a templated field holding a dict with a non-string key (``{1: "x"}``) renders at all.
    Later releases send the rendered value with its keys as strings; Airflow 3.0 sends them as they
    are, the Task SDK's message refuses them, and the task fails while rendering its templates,
    before ``execute`` runs."""
    from types import SimpleNamespace

    from airflow.sdk.execution_time.comms import SetRenderedFields
    from airflow.sdk.execution_time.task_runner import _serialize_rendered_fields

    rendered = _serialize_rendered_fields(SimpleNamespace(template_fields=("field",), field={1: "x"}))
    try:
        SetRenderedFields(rendered_fields=rendered)
    except ValueError:
        return False
    return True
