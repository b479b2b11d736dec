"""Run conditions in translation mode: a DependsOn list mixing triggers is evaluated exactly (all
entries must hold) when the task starts, which one Airflow trigger rule cannot express; the run's
final state is the service's execution status; and what "Stopped" means for a translated step."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_smpipe.translation.states import JOB_KEY, OUTCOME_KEY, outcome_of, task_states
from native_helpers import run_dag
from v3_helpers import definition_with, invocations, lambda_step, ti_state, training_step, translated, xcom_of


def mixed() -> dict[str, Any]:
    """``Recover`` runs only if ``A`` failed *and* ``B`` succeeded."""
    recover = lambda_step("Recover", {"why": "A failed, B is fine"}, DependsOn=[{"Step": "A", "Trigger": "Failed"}, "B"])
    return definition_with([training_step("A"), training_step("B"), recover])


SCENARIOS = {
    "a-fails": ({"A": {"fail": {"reason": "AlgorithmError: x"}}}, "success", "CompletedWithFailures", "success"),
    "a-succeeds": ({}, "skipped", "Succeeded", "success"),
    "both-fail": ({"A": {"fail": {"reason": "AlgorithmError: x"}}, "B": {"fail": {"reason": "AlgorithmError: y"}}}, "skipped", "Failed", "failed"),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_mixed_depends_on_list_must_hold_entirely(airflow_env: Any, capfd: Any, name: str) -> None:
    steps, recover, status, run_state = SCENARIOS[name]
    emulator = airflow_env({"default_step_seconds": 0.05, "steps": steps, "lambda": {"arn:aws:lambda:us-east-1:123456789012:function:notify": {"response": {}}}})
    dag = translated(mixed())
    assert str(getattr(dag.task_dict["Recover"].trigger_rule, "value", "")) == "all_done"
    before = len(invocations(emulator, "notify"))
    run = run_dag(dag)
    assert ti_state(run, "Recover") == recover
    assert len(invocations(emulator, "notify")) - before == (1 if recover == "success" else 0)
    summary = xcom_of(run, "execution_status")
    assert summary["PipelineExecutionStatus"] == status
    assert str(getattr(run.state, "value", run.state)) == run_state
    log = capfd.readouterr().out
    if name == "a-succeeds":
        assert "step 'Recover' does not run: it runs only if 'A' failed, and 'A' succeeded" in log
    if name == "both-fail":
        assert "step 'Recover' does not run: it runs only if 'B' succeeded, and 'B' failed" in log
        assert {f["StepName"] for f in summary["UnhandledFailures"]} == {"A", "B"}
        assert "the pipeline execution is Failed: 'A' failed, 'B' failed, and no step handles that" in log


# -- what a translated step's outcome is (states.outcome_of), with a task instance's XCom -------------


class FakeTI:
    """Only what ``outcome_of`` reads: XCom values by (task id, map index, key)."""

    def __init__(self, xcom: dict[tuple[str, int, str], Any]) -> None:
        self.xcom = xcom

    def xcom_pull(self, *, task_ids: str, key: str, map_indexes: int, run_id: str | None = None) -> Any:
        return self.xcom.get((task_ids, map_indexes, key))


@pytest.mark.parametrize(("state", "xcom", "expected"), [
    ("success", {}, "Succeeded"),
    ("skipped", {}, "NotRun"),
    ("upstream_failed", {}, "NotRun"),
    ("removed", {}, "NotRun"),
    ("running", {}, None),
    ("deferred", {JOB_KEY: {"name": "j"}}, None),
    ("up_for_retry", {}, None),
    (None, {}, None),
    # The task saw its job end Failed, or failed before starting one (a bad argument): Failed.
    ("failed", {OUTCOME_KEY: {"status": "Failed", "reason": "job failed"}}, "Failed"),
    ("failed", {}, "Failed"),
    # The job ended Stopped (stopped in SageMaker): Stopped.
    ("failed", {JOB_KEY: {"name": "j"}, OUTCOME_KEY: {"status": "Stopped", "reason": "job stopped"}}, "Stopped"),
    # The task was killed or marked failed while its job ran (it never saw the end): Stopped.
    ("failed", {JOB_KEY: {"name": "j"}}, "Stopped"),
])  # fmt: skip
def test_outcome_of_a_translated_step(state: str | None, xcom: dict[str, Any], expected: str | None) -> None:
    ti = FakeTI({("T", 2, key): value for key, value in xcom.items()})
    assert outcome_of(ti, "T", 2, state) == expected


class StatesTI:
    dag_id, run_id = "d", "r"

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.asked: list[dict[str, Any]] = []

    def get_task_states(self, **kwargs: Any) -> dict[str, Any]:
        self.asked.append(kwargs)
        return {"r": self.answer}


def test_task_states_reads_mapped_instances_without_confusing_task_ids() -> None:
    ti = StatesTI({"A": "success", "A_1": "failed", "F.iterations.B_0": "success", "F.iterations.B_12": "skipped", "F.iterations.B_x": "odd"})
    got = task_states(ti, ["A", "A_1", "F.iterations.B"])
    assert got == {("A", -1): "success", ("A_1", -1): "failed", ("F.iterations.B", 0): "success", ("F.iterations.B", 12): "skipped"}
    assert ti.asked == [{"dag_id": "d", "task_ids": ["A", "A_1", "F.iterations.B"], "run_ids": ["r"]}]
    assert task_states(ti, []) == {}
