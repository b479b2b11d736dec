"""What happened to translated steps, in the core's terms: Airflow task states read back as step
outcomes (``Succeeded``, ``Failed``, ``Stopped``, ``NotRun``), so that run conditions, ForEach
results, Cleanup and the run's final state are decided by the same rules as in the dry-run and the
emulator (:mod:`airflow_provider_smpipe.definition.runstate`).

A translated step is:

* ``Succeeded`` when its task succeeded;
* ``Stopped`` when its task failed because its job ended ``Stopped`` (someone stopped it in
  SageMaker or EMR), or when its task failed (killed, marked failed, its worker lost) after
  starting a job and before it saw that job end — the job was cut off, as a stopped step is;
* ``Failed`` when its task failed otherwise;
* ``NotRun`` when its task was skipped, never ran because an upstream task failed
  (``upstream_failed``), or was removed;
* not ended (absent from the outcomes) in every other state.

Each step task records what it started and how it ended in XCom (keys :data:`JOB_KEY` and
:data:`OUTCOME_KEY`), which is how a failed task is told apart from a stopped one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_smpipe.definition.model import FAILED, STOPPED
from airflow_provider_smpipe.definition.runstate import NOT_RUN, SUCCEEDED

#: XCom key of the job (or other long-running work) a step task started: ``{"type", "name", ...}``.
JOB_KEY = "job"
#: XCom key of how a step task ended when it did not succeed: ``{"status", "reason", "properties"?}``
#: (``properties``: the Describe* of a failed job, which a Cleanup of that step needs).
OUTCOME_KEY = "outcome"

_NOT_RUN_STATES = frozenset({"skipped", "upstream_failed", "removed"})


def state_text(state: Any) -> str | None:
    """A task state as its plain value (``TaskInstanceState`` is a str enum; ``None`` stays)."""
    if state is None:
        return None
    return str(getattr(state, "value", state))


def task_states(ti: Any, task_ids: Iterable[str]) -> dict[tuple[str, int], str | None]:
    """``{(task id, map index): state}`` of ``task_ids`` in the current run (``-1``: not mapped).

    One request to the API server whatever the number of tasks and map indexes.
    """
    wanted = sorted(set(task_ids))
    if not wanted:
        return {}
    response = ti.get_task_states(dag_id=ti.dag_id, task_ids=wanted, run_ids=[ti.run_id])
    by_key: Mapping[str, Any] = (response or {}).get(ti.run_id, {})
    states: dict[tuple[str, int], str | None] = {}
    for key, state in by_key.items():
        if key in wanted:
            states[(key, -1)] = state_text(state)
            continue
        # Mapped instances come back as "<task id>_<map index>"; match our ids exactly, as a task
        # id may itself end in "_<digits>".
        for task_id in wanted:
            suffix = key[len(task_id) + 1 :] if key.startswith(task_id + "_") else ""
            if re.fullmatch(r"\d+", suffix):
                states[(task_id, int(suffix))] = state_text(state)
                break
    return states


def outcome_of(ti: Any, task_id: str, map_index: int, state: str | None) -> str | None:
    """The step outcome of one task instance in state ``state`` (``None``: not ended)."""
    if state == "success":
        return SUCCEEDED
    if state in _NOT_RUN_STATES:
        return NOT_RUN
    if state != "failed":
        return None
    ended = pull(ti, task_id, map_index, OUTCOME_KEY)
    if isinstance(ended, Mapping):
        return STOPPED if ended.get("status") == STOPPED else FAILED
    # No recorded end: the task died or was marked failed. It was cut off mid-job if it had
    # started one (the job did not end by itself as far as the task saw).
    return STOPPED if pull(ti, task_id, map_index, JOB_KEY) else FAILED


def pull(ti: Any, task_id: str, map_index: int, key: str, run_id: str | None = None) -> Any:
    """One XCom value of one task instance (``None`` when absent)."""
    kwargs: dict[str, Any] = {"task_ids": task_id, "key": key, "map_indexes": map_index}
    if run_id:
        kwargs["run_id"] = run_id
    return ti.xcom_pull(**kwargs)
