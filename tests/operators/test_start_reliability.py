"""What the start operator and its trigger do on retry, Clear, crash and kill, and with bad start
requests — the cases a real deployment broke (issue "What a real deployment and hostile input broke").

* A worker that dies *after* the execution succeeded: the automatic retry reports that execution
  instead of starting a duplicate; a Clear of the finished task starts a new one.
* Clearing a deferred start task cancels its trigger, whose ``on_kill`` used to stop the execution
  the new try had just re-attached to: ``on_kill`` now stops it only when the task was marked failed.
* Bad start requests fail before any call reaches AWS (the emulator counts every call).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest

from airflow.sdk import DAG

from airflow_provider_smpipe.definition.errors import InvalidDefinitionError
from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook
from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineStartOperator, is_automatic_retry, reattach_decision
from airflow_provider_smpipe.triggers.pipeline_execution import SageMakerPipelineExecutionTrigger
from airflow_compat import renders_non_string_keys
from native_helpers import ROLE, chain_definition, clear_and_rerun, run_dag, task_instance, task_states, unique, wait_for, xcom

START = pendulum.datetime(2026, 1, 1, tz="UTC")
FAST = {"default_step_seconds": 0.05}


@pytest.fixture
def hook(aws_connection: str) -> SageMakerPipelineHook:
    return SageMakerPipelineHook(aws_conn_id="aws_default")


def new_pipeline(hook: SageMakerPipelineHook, names: list[str]) -> str:
    name = unique("pipe")
    hook.upsert_pipeline(name, chain_definition(names), ROLE)
    return name


def calls(emulator: Any, operation: str) -> int:
    return int(emulator.state()["calls"].get(operation, 0))


# -- a crash after success, a Clear after success --------------------------------------------------


@pytest.mark.parametrize("task_state", [True, False], ids=["task-state-store", "description-marker"])
def test_a_worker_lost_after_success_is_reported_by_the_retry_not_started_again(airflow_env: Any, hook: SageMakerPipelineHook, task_state: bool, capfd: Any) -> None:
    emulator = airflow_env(FAST)
    pipeline = new_pipeline(hook, ["A"])
    emulator.reset()

    class SucceedsThenWorkerDies(SageMakerPipelineStartOperator):
        """The first try's worker dies while building its result, after the execution succeeded."""

        def execute(self, context: Any) -> Any:
            if not task_state:
                context = dict(context)
                context.pop("task_state_store", None)
            return super().execute(context)

        def _result(self, context: Any, execution_arn: str, event: Any) -> Any:
            if context["ti"].try_number == 1:
                raise RuntimeError("worker lost while building the result")
            return super()._result(context, execution_arn, event)

    with DAG(unique("dag"), schedule=None, start_date=START) as dag:
        SucceedsThenWorkerDies(task_id="start", pipeline_name=pipeline, poll_interval=0.05, retries=1, retry_delay=timedelta(seconds=0))
    run = run_dag(dag)
    assert task_states(run) == {"start": "success"} and task_instance(run, "start").try_number == 2
    assert calls(emulator, "StartPipelineExecution") == 1  # no duplicate
    [execution] = list(hook.iter_executions(pipeline))
    assert xcom(run, "start")["execution_arn"] == execution["PipelineExecutionArn"] and xcom(run, "start")["status"] == "Succeeded"
    assert "already ended Succeeded; reporting it instead of starting another (automatic retry)" in capfd.readouterr().out

    # The user clears the finished task: that asks for the pipeline to run again.
    run = clear_and_rerun(dag, run, ["start"])
    assert task_states(run) == {"start": "success"}
    assert calls(emulator, "StartPipelineExecution") == 2
    assert len(list(hook.iter_executions(pipeline))) == 2
    assert "starting a new one (this try was started by a Clear or a new run)" in capfd.readouterr().out


def test_a_failed_execution_is_started_again_by_the_automatic_retry(airflow_env: Any, hook: SageMakerPipelineHook) -> None:
    emulator = airflow_env({**FAST, "steps": {"A": {"fail": {"reason": "AlgorithmError: broken"}}}})
    pipeline = new_pipeline(hook, ["A"])
    emulator.reset()
    with DAG(unique("dag"), schedule=None, start_date=START) as dag:
        SageMakerPipelineStartOperator(task_id="start", pipeline_name=pipeline, poll_interval=0.05, retries=1, retry_delay=timedelta(seconds=0))
    run = run_dag(dag)
    # Each try's execution failed; the retry started its own (what retries are for), no more.
    assert task_states(run) == {"start": "failed"} and task_instance(run, "start").try_number == 2
    assert calls(emulator, "StartPipelineExecution") == 2


def ti(try_number: int, max_tries: int) -> Any:
    return SimpleNamespace(try_number=try_number, max_tries=max_tries)


@pytest.mark.parametrize(("try_number", "max_tries", "retries", "automatic"), [
    (1, 0, 0, False),   # first try, no retries
    (1, 2, 2, False),   # first try
    (2, 2, 2, True),    # Airflow's first retry
    (3, 2, 2, True),    # its second
    (4, 5, 2, False),   # the first try after a Clear (Airflow raised max_tries to 3 + 2)
    (5, 5, 2, True),    # a retry after that Clear
    (2, 1, 0, False),   # a Clear of a task without retries
])  # fmt: skip
def test_an_automatic_retry_is_told_from_a_clear(try_number: int, max_tries: int, retries: int, automatic: bool) -> None:
    assert is_automatic_retry(ti(try_number, max_tries), retries) is automatic


@pytest.mark.parametrize(("status", "automatic", "policies", "decision"), [
    ("Executing", False, ("fail", "fail"), "reattach"),
    ("Stopping", True, ("fail", "fail"), "reattach"),
    ("Succeeded", True, ("fail", "fail"), "report"),
    ("Succeeded", False, ("fail", "fail"), "new"),          # a Clear re-runs a finished pipeline
    ("Failed", True, ("fail", "fail"), "new"),
    ("Stopped", True, ("fail", "fail"), "new"),
    ("Stopped", True, ("succeed", "fail"), "report"),
    ("CompletedWithFailures", True, ("fail", "fail"), "new"),
    ("CompletedWithFailures", True, ("fail", "skip"), "report"),
])  # fmt: skip
def test_what_a_later_try_does_with_an_earlier_execution(status: str, automatic: bool, policies: tuple[str, str], decision: str) -> None:
    stopped, completed_with_failures = policies
    got = reattach_decision(status, automatic_retry=automatic, stopped_policy=stopped, completed_with_failures_policy=completed_with_failures)  # type: ignore[arg-type]
    assert got == decision


# -- a Clear racing the trigger's on_kill ----------------------------------------------------------


def killed_trigger(arn: str, state: Any, monkeypatch: pytest.MonkeyPatch) -> SageMakerPipelineExecutionTrigger:
    """The trigger of a deferred start task, with the task's state after the user's action as the
    triggerer would read it (``get_task_states``); ``state`` an exception: it cannot be read."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    def get_task_states(**kwargs: Any) -> dict[str, Any]:
        if isinstance(state, Exception):
            raise state
        assert kwargs["task_ids"] == ["start"] and kwargs["run_ids"] == ["run-1"]
        return {"run-1": {} if state is None else {"start": state}}

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(get_task_states))
    trigger = SageMakerPipelineExecutionTrigger(execution_arn=arn, poll_interval=0.05, stop_on_kill=True)
    trigger.task_instance = SimpleNamespace(dag_id="d", run_id="run-1", task_id="start", map_index=-1, try_number=1)  # type: ignore[assignment]
    return trigger


@pytest.mark.parametrize(("state", "stopped"), [
    (None, False),           # cleared: state back to none, the new try re-attaches
    ("scheduled", False),
    ("queued", False),
    ("running", False),      # the new try is already running (the race from the deployment)
    ("deferred", False),     # ... and already waiting on the same execution
    ("success", False),      # marked success: the user keeps the execution
    ("failed", True),        # marked failed: stop it
    (RuntimeError("no triggerer comms"), True),  # unknown: stop, as before the check existed
])  # fmt: skip
def test_on_kill_stops_the_execution_only_when_the_task_was_marked_failed(
    airflow_env: Any, hook: SageMakerPipelineHook, monkeypatch: pytest.MonkeyPatch, state: Any, stopped: bool
) -> None:
    airflow_env({**FAST, "steps": {"A": {"seconds": 1.5}}})
    pipeline = new_pipeline(hook, ["A"])
    arn = hook.start_execution(hook.build_start_request(pipeline))
    asyncio.run(killed_trigger(arn, state, monkeypatch).on_kill())
    final = "Stopped" if stopped else "Succeeded"
    wait_for(lambda: hook.describe_execution(arn)["PipelineExecutionStatus"] in ("Stopped", "Succeeded"), timeout=30, what="ended")
    assert hook.describe_execution(arn)["PipelineExecutionStatus"] == final


# -- bad start requests: a clear error, nothing reaches AWS ------------------------------------------


BAD_REQUESTS = {
    "empty-selection": ({"selected_steps": []}, "selected_steps is empty"),
    "empty-string-selection": ({"selected_steps": " , "}, "selected_steps is empty"),
    "reference-without-selection": ({"source_execution": "latest-failed"}, "source_execution is given without selected_steps"),
    "parameters-as-a-list": ({"parameters": ["A", "B"]}, "parameters is list"),
    "parameter-name-not-a-string": ({"parameters": {1: "x"}}, "a parameter name is int 1"),
    "parameter-value-a-dict": ({"parameters": {"InputData": {"nested": 1}}}, "parameter 'InputData' is dict"),
    "parallelism-not-a-number": ({"parallelism": "abc"}, "parallelism is 'abc'"),
    "parallelism-zero": ({"parallelism": 0}, "parallelism is 0"),
    "parallelism-a-boolean": ({"parallelism": True}, "parallelism is True"),
    "selection-of-numbers": ({"selected_steps": ["A", 3]}, "selected_steps holds 3"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_a_bad_start_request_fails_before_any_call(airflow_env: Any, hook: SageMakerPipelineHook, capfd: Any, case: str) -> None:
    emulator = airflow_env(FAST)
    pipeline = new_pipeline(hook, ["A", "B"])
    emulator.reset()
    arguments, message = BAD_REQUESTS[case]
    with DAG(unique("dag"), schedule=None, start_date=START) as dag:
        SageMakerPipelineStartOperator(task_id="start", pipeline_name=pipeline, poll_interval=0.05, **arguments)
    run = run_dag(dag)
    assert task_states(run) == {"start": "failed"}
    assert emulator.state()["calls"] == {}  # not even DescribePipeline
    output = capfd.readouterr().out
    if case == "parameter-name-not-a-string" and not renders_non_string_keys():
        # Airflow 3.0 fails the task itself while rendering the templated parameters (still before any call)
        assert "Task failed with exception" in output and "rendered_fields.parameters" in output
    else:
        assert message in output and "invalid start request" in output
    # The hook refuses the same inputs before its DescribePipeline call, too.
    hook_arguments = {"source_execution_arn" if k == "source_execution" else k: v for k, v in arguments.items()}
    with pytest.raises(InvalidDefinitionError, match="invalid start request"):
        hook.build_start_request(pipeline, **hook_arguments)
    assert emulator.state()["calls"] == {}


def test_a_selection_given_as_one_string_is_step_names_not_characters(airflow_env: Any, hook: SageMakerPipelineHook, capfd: Any) -> None:
    emulator = airflow_env(FAST)
    pipeline = new_pipeline(hook, ["Train", "Evaluate"])
    emulator.reset()
    with DAG(unique("dag"), schedule=None, start_date=START) as dag:
        SageMakerPipelineStartOperator(task_id="start", pipeline_name=pipeline, selected_steps="Trian", poll_interval=0.05)
    run = run_dag(dag)
    assert task_states(run) == {"start": "failed"} and calls(emulator, "StartPipelineExecution") == 0
    output = capfd.readouterr().out
    assert "unknown step 'Trian' (did you mean 'Train'?)" in output and "unknown step 'T'" not in output
    request = hook.build_start_request(pipeline, selected_steps="Train")
    assert request["SelectiveExecutionConfig"] == {"SelectedSteps": [{"StepName": "Train"}]}


# -- definitions are data: never rendered as Jinja ------------------------------------------------


@pytest.mark.parametrize("form", ["dict", "json-text"])
def test_the_upsert_operator_deploys_a_definition_verbatim_never_rendering_it(airflow_env: Any, hook: SageMakerPipelineHook, form: str) -> None:
    import json

    from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineUpsertOperator

    airflow_env(FAST)
    document = chain_definition(["A"])
    secret_probe = "{{ conn.aws_default.password }}-{{ ds }}"
    document["Parameters"].append({"Name": "Note", "Type": "String", "DefaultValue": secret_probe})
    pipeline = unique("pipe")
    with DAG(unique("dag"), schedule=None, start_date=START) as dag:
        SageMakerPipelineUpsertOperator(
            task_id="upsert", pipeline_name=pipeline, role_arn=ROLE, definition=document if form == "dict" else json.dumps(document)
        )
    run = run_dag(dag)
    assert task_states(run) == {"upsert": "success"}
    deployed = json.loads(hook.conn.describe_pipeline(PipelineName=pipeline)["PipelineDefinition"])
    [note] = [p for p in deployed["Parameters"] if p["Name"] == "Note"]
    assert note["DefaultValue"] == secret_probe  # not the connection's password, not a date


def test_the_upsert_operator_still_templates_a_definition_path(airflow_env: Any, hook: SageMakerPipelineHook, tmp_path: Any) -> None:
    import json

    from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineUpsertOperator

    airflow_env(FAST)
    (tmp_path / "pipeline-A.json").write_text(json.dumps(chain_definition(["A"])))
    pipeline = unique("pipe")
    with DAG(unique("dag"), schedule=None, start_date=START, params={"which": "A"}) as dag:
        SageMakerPipelineUpsertOperator(task_id="upsert", pipeline_name=pipeline, role_arn=ROLE, definition=str(tmp_path / "pipeline-{{ params.which }}.json"))
    run = run_dag(dag)
    assert task_states(run) == {"upsert": "success"}
    assert [s["Name"] for s in json.loads(hook.conn.describe_pipeline(PipelineName=pipeline)["PipelineDefinition"])["Steps"]] == ["A"]


# -- no error-level noise for an expected absence ---------------------------------------------------


def test_a_start_that_fails_before_its_execution_logs_no_missing_xcom_error(airflow_env: Any, hook: SageMakerPipelineHook, capfd: Any) -> None:
    airflow_env(FAST)
    pipeline = new_pipeline(hook, ["A"])
    with DAG(unique("dag"), schedule=None, start_date=START) as dag:
        SageMakerPipelineStartOperator(task_id="bad", pipeline_name=pipeline, parameters={"Nope": 1})
        SageMakerPipelineStartOperator(task_id="good", pipeline_name=pipeline, deferrable=True, poll_interval=0.05)
    run = run_dag(dag)
    assert task_states(run) == {"bad": "failed", "good": "success"}
    output = capfd.readouterr().out
    assert "unknown parameter 'Nope'" in output
    assert "XCom not found" not in output
    # The task that did start an execution (and resumed from a deferral) still links to it.
    arn = xcom(run, "good", "execution_arn")
    link = xcom(run, "good", "_link_SageMakerPipelineExecutionLink")
    assert link.endswith(f"#/pipelines/details/{pipeline}/executions/{arn.rsplit('/', 1)[1]}")
    assert xcom(run, "bad", "_link_SageMakerPipelineExecutionLink") == ""
