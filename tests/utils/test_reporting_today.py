"""``utils.reporting`` and ``utils.events`` on today's service responses: ForEach children and
summaries, Cleanup / EMRServerless / Job metadata, ``CompletedWithFailures`` and its policy, the
handler steps named in the message, unknown statuses. Pure functions, synthetic responses (each
checked against botocore's output shape; the step lists come from the definition core's dry-run)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow.providers.common.compat.sdk import AirflowSkipException

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.emulator.shapes import assert_valid_output, to_wire
from airflow_provider_smpipe.hooks.pipeline import SELECTOR_STATUSES, check_mlflow_experiment_name
from airflow_provider_smpipe.utils.events import EXECUTION_EVENTS, PipelineExecutionFailed, finish_from_event
from airflow_provider_smpipe.utils.reporting import (
    POLICY_ARGUMENTS,
    STOPPED_POLICIES,
    TERMINAL_STATUSES,
    check_completed_with_failures_policy,
    check_policy,
    check_stopped_policy,
    failure_handlers,
    failure_message,
    is_terminal,
    outcome_of,
    step_table,
    step_target,
)
from utils.synthetic_sagemaker import (
    cleanup,
    dry_run_execution,
    emr_serverless,
    for_each,
    job,
    processing,
    step,
    sweep_definition,
    sweep_outputs,
    v3,
)

ARN = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/events/execution/synth0000001"
CLASSIC_KEYS = ["name", "type", "status", "attempt_count", "cache_hit", "reused_from", "job_arn", "failure_reason", "start_time", "end_time"]


def listed(*steps: dict[str, Any]) -> list[dict[str, Any]]:
    """Steps as a ListPipelineExecutionSteps response would carry them (shape-checked)."""
    assert_valid_output("ListPipelineExecutionSteps", to_wire("ListPipelineExecutionSteps", {"PipelineExecutionSteps": list(steps)}))
    return list(steps)


def train_failed_cwf() -> tuple[Any, list[dict[str, Any]]]:
    """run_conditions_training.json with its training failing: CompletedWithFailures (dry-run)."""
    document = v3("run_conditions_training")
    run = dry_run_execution(document, {"TrainEventsModel": {"status": "Failed", "reason": "AlgorithmError: loss is NaN"}})
    assert run["status"] == "CompletedWithFailures"
    return load_definition(json.dumps(document)), step_table(listed(*run["steps"]))


def sweep_cwf() -> tuple[Any, list[dict[str, Any]]]:
    document = sweep_definition()
    run = dry_run_execution(document, {"TrainCandidate-1": {"status": "Failed", "reason": "AlgorithmError: loss is NaN"}}, step_outputs=sweep_outputs())
    assert run["status"] == "CompletedWithFailures"
    return load_definition(json.dumps(document)), step_table(listed(*run["steps"]))


# -- policies --------------------------------------------------------------------------------------


def test_policies_are_checked_by_one_function_that_names_the_argument() -> None:
    assert STOPPED_POLICIES == ("fail", "succeed", "skip")
    assert check_stopped_policy("skip") == "skip" and check_completed_with_failures_policy("succeed") == "succeed"
    assert check_policy("fail", "anything") == "fail"
    with pytest.raises(ValueError, match="stopped_policy must be one of fail, succeed, skip, not 'ignore'"):
        check_stopped_policy("ignore")
    with pytest.raises(ValueError, match="completed_with_failures_policy must be one of fail, succeed, skip, not 'pass'"):
        check_completed_with_failures_policy("pass")
    assert POLICY_ARGUMENTS == {"Stopped": "stopped_policy", "CompletedWithFailures": "completed_with_failures_policy"}


@pytest.mark.parametrize(
    ("status", "stopped", "cwf", "expected"),
    [
        ("Succeeded", "fail", "fail", "success"),
        ("Failed", "succeed", "succeed", "failure"),
        ("Stopped", "fail", "succeed", "failure"),
        ("Stopped", "skip", "fail", "skip"),
        ("Stopped", "succeed", "fail", "success"),
        ("CompletedWithFailures", "succeed", "fail", "failure"),
        ("CompletedWithFailures", "fail", "skip", "skip"),
        ("CompletedWithFailures", "fail", "succeed", "success"),
        ("PartiallySucceeded", "succeed", "succeed", "failure"),  # a status of the future: never success
    ],
)
def test_outcome_of_every_final_status(status: str, stopped: Any, cwf: Any, expected: str) -> None:
    assert outcome_of(status, stopped, cwf) == expected


def test_active_statuses_have_no_outcome_and_unknown_ones_are_final() -> None:
    assert "CompletedWithFailures" in TERMINAL_STATUSES
    for active in ("Executing", "Stopping"):
        assert not is_terminal(active)
        with pytest.raises(ValueError, match="not terminal"):
            outcome_of(active)
    assert is_terminal("CompletedWithFailures") and is_terminal("Paused") and not is_terminal(None)
    assert "completed_with_failures" in EXECUTION_EVENTS
    assert SELECTOR_STATUSES["latest-completed-with-failures"] == "CompletedWithFailures"
    assert SELECTOR_STATUSES["latest-failed"] == "Failed"  # a CompletedWithFailures execution is not "failed"


def event(status: str, kind: str, message: str = "the report") -> dict[str, Any]:
    return {"status": kind, "execution_arn": ARN, "execution_status": status, "message": message, "steps": [], "handled_failures": []}


def test_finish_from_event_applies_the_completed_with_failures_policy() -> None:
    cwf = event("CompletedWithFailures", "completed_with_failures", "SageMaker pipeline 'events' ... step 'TrainEventsModel' ... handled by 'NotifyTrainingFailed'")
    with pytest.raises(PipelineExecutionFailed, match="handled by 'NotifyTrainingFailed'"):
        finish_from_event(cwf)
    with pytest.raises(AirflowSkipException) as skipped:
        finish_from_event(cwf, completed_with_failures_policy="skip")
    assert f"{ARN} ended CompletedWithFailures; skipping as completed_with_failures_policy='skip'" in str(skipped.value)
    assert "handled by 'NotifyTrainingFailed'" in str(skipped.value)  # the skip says what failed and what handled it

    class Log:
        warnings: list[str] = []

        def warning(self, text: str, *args: Any) -> None:
            self.warnings.append(text % args)

    log = Log()
    assert finish_from_event(cwf, completed_with_failures_policy="succeed", log=log) == cwf
    assert "succeeding as completed_with_failures_policy='succeed'" in log.warnings[0] and "NotifyTrainingFailed" in log.warnings[0]
    # The stopped policy does not decide CompletedWithFailures, nor the reverse.
    with pytest.raises(PipelineExecutionFailed):
        finish_from_event(cwf, stopped_policy="succeed")
    with pytest.raises(AirflowSkipException, match="was stopped; skipping as stopped_policy='skip'"):
        finish_from_event(event("Stopped", "stopped"), stopped_policy="skip", completed_with_failures_policy="succeed")


def test_finish_from_event_never_passes_an_unknown_status() -> None:
    with pytest.raises(PipelineExecutionFailed, match="the report"):
        finish_from_event(event("PartiallySucceeded", "failed"), stopped_policy="succeed", completed_with_failures_policy="succeed")


# -- the step table --------------------------------------------------------------------------------


def test_classic_rows_keep_exactly_their_keys() -> None:
    [row] = step_table(listed(processing("Prep", "Succeeded")))
    assert list(row) == CLASSIC_KEYS
    assert row["type"] == "ProcessingJob" and row["job_arn"].endswith("processing-job/pipelines-synth-prep")


def test_for_each_children_and_summary() -> None:
    _, rows = sweep_cwf()
    by_name = {r["name"]: r for r in rows}
    child = by_name["TrainCandidate-1"]
    assert list(child)[: len(CLASSIC_KEYS)] == CLASSIC_KEYS
    assert (child["parent"], child["index"], child["item"]) == ("Sweep", 1, '{"max_depth": 6, "eta": 0.1}')
    assert child["type"] == "TrainingJob" and child["failure_reason"] == "AlgorithmError: loss is NaN"
    assert by_name["Sweep"]["type"] == "ForEach" and by_name["Sweep"]["job_arn"] is None
    assert by_name["Sweep"]["for_each"] == {
        "status": "Failed", "input_item_count": 3, "total_step_count": 4, "succeeded_step_count": 3, "failed_step_count": 1,
        "stopped_step_count": 0, "selected": {"step_name": "TrainCandidate-2", "index": 2},
    }  # fmt: skip
    assert "parent" not in by_name["Sweep"] and "for_each" not in child
    assert json.loads(json.dumps(rows)) == rows  # plain JSON


def test_children_that_started_together_sort_by_index() -> None:
    children = [step(f"Train-{i}", "Succeeded", {"TrainingJob": {"Arn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/t-{i}"}},
                     start=5, iteration=("Sweep", i, str(i))) for i in (10, 2, 1)]  # fmt: skip
    rows = step_table(listed(for_each("Sweep", "Succeeded", items=11, succeeded=11), *children))
    assert [r["name"] for r in rows] == ["Sweep", "Train-1", "Train-2", "Train-10"]


def test_cleanup_emr_serverless_and_job_metadata() -> None:
    rows = {
        r["name"]: r
        for r in step_table(
            listed(
                cleanup("Clean", "Succeeded", cleaned=["Prep"], failed=[("Train", "ClientError", "Access Denied")], skipped=["Eval"]),
                emr_serverless("Spark", "Failed", reason="Job run failed"),
                job("AgentRft", "Succeeded"),
                step("Query", "Succeeded", {"Athena": {"QueryExecutionId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"}}),
            )
        )
    }
    assert rows["Clean"]["type"] == "Cleanup" and rows["Clean"]["cleanup"] == {
        "cleaned_steps": ["Prep"],
        "failed_steps": [{"step_name": "Train", "error_code": "ClientError", "error_message": "Access Denied"}],
        "skipped_steps": ["Eval"],
    }
    assert rows["Spark"]["type"] == "EMRServerless" and rows["Spark"]["job_arn"] == "00fgh1ab2cd3ef4g/00fgh1ijk5lm6no7"
    assert rows["Spark"]["log_file_path"] == "s3://example-v3-ml-artifacts/emr-logs/Spark/"
    assert rows["AgentRft"]["type"] == "Job" and rows["AgentRft"]["job_arn"].endswith(":job/pipelines-synth-agentrft")
    assert rows["Query"]["job_arn"] == "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
    message = failure_message(execution_arn=ARN, status="Failed", failure_reason=None, rows=list(rows.values()))
    assert "  - step 'Spark' (EMRServerless) Failed: Job run failed [00fgh1ab2cd3ef4g/00fgh1ijk5lm6no7]" in message


# -- failure messages ------------------------------------------------------------------------------


def test_a_failed_for_each_and_child_are_reported_with_iteration_and_counts() -> None:
    document = v3("foreach_literal_regions")
    run = dry_run_execution(document, {"BuildRegionReport-1": {"status": "Failed", "reason": "ClientError: no data for eu"}})
    assert run["status"] == "Failed"
    rows = step_table(listed(*run["steps"]))
    message = failure_message(execution_arn=ARN, status="Failed", failure_reason=run["failure_reason"], rows=rows)
    child = next(r for r in rows if r["name"] == "BuildRegionReport-1")
    assert (
        f"  - step 'BuildRegionReport-1' (ProcessingJob) Failed: ClientError: no data for eu [{child['job_arn']}] "
        "(iteration 1 of 'RegionalReports', item {\"region\": \"eu\", \"input\": \"s3://example-v3-ml-artifacts/r...)"
    ) in message
    assert "  - step 'RegionalReports' (ForEach) Failed: 1 child step(s) failed, 0 stopped (3 items, 2 child steps: 1 succeeded, 1 failed, 0 stopped)" in message
    assert "handled by" not in message  # only CompletedWithFailures names handlers


def test_handlers_of_a_failed_training_in_run_conditions_training() -> None:
    definition, rows = train_failed_cwf()
    handled = failure_handlers(definition, rows)
    assert handled == [
        {
            "step": "TrainEventsModel",
            "status": "Failed",
            "declared": ["NotifyTrainingFailed", "CleanupIntermediateData"],
            "handlers": [{"name": "NotifyTrainingFailed", "status": "Succeeded"}, {"name": "CleanupIntermediateData", "status": "Succeeded"}],
        }
    ]
    message = failure_message(execution_arn=ARN, status="CompletedWithFailures", failure_reason=None, rows=rows, handled_failures=handled)
    lines = message.splitlines()
    assert lines[0] == f"SageMaker pipeline 'events' execution {ARN} ended CompletedWithFailures"
    assert lines[1].startswith("  - step 'TrainEventsModel' (TrainingJob) Failed: AlgorithmError: loss is NaN [arn:aws:sagemaker:")
    assert lines[2] == (
        "      handled by 'NotifyTrainingFailed' (Lambda) Succeeded, 'CleanupIntermediateData' (Cleanup) Succeeded "
        "(cleaned PreprocessEvents, TrainEventsModel)"
    )
    assert len(lines) == 3


def test_handlers_of_a_stopped_step_are_its_stopped_and_any_dependents() -> None:
    document = v3("run_conditions_training")
    run = dry_run_execution(document, {"TrainEventsModel": "Stopped"})
    assert run["status"] == "CompletedWithFailures"
    handled = failure_handlers(load_definition(json.dumps(document)), step_table(listed(*run["steps"])))
    assert handled[0]["declared"] == ["NotifyTrainingStopped", "CleanupIntermediateData"]
    assert [h["name"] for h in handled[0]["handlers"]] == ["NotifyTrainingStopped", "CleanupIntermediateData"]


def test_handlers_inside_a_for_each_body_are_the_same_iterations_children() -> None:
    definition, rows = sweep_cwf()
    handled = {h["step"]: h for h in failure_handlers(definition, rows)}
    assert set(handled) == {"Sweep", "TrainCandidate-1"}
    assert handled["TrainCandidate-1"]["handlers"] == [{"name": "NotifyCandidateFailed-1", "status": "Succeeded"}]
    assert handled["Sweep"]["handlers"] == [{"name": "NotifySweepFailed", "status": "Succeeded"}]
    message = failure_message(execution_arn=ARN, status="CompletedWithFailures", failure_reason=None, rows=rows, handled_failures=list(handled.values()))
    assert "  - step 'Sweep' (ForEach) Failed: 1 child step(s) failed, 0 stopped (3 items, 4 child steps: 3 succeeded, 1 failed, 0 stopped; selected 'TrainCandidate-2')" in message
    assert "      handled by 'NotifySweepFailed' (Lambda) Succeeded" in message
    assert "(iteration 1 of 'Sweep', item {\"max_depth\": 6, \"eta\": 0.1})\n      handled by 'NotifyCandidateFailed-1' (Lambda) Succeeded" in message


def test_declared_handlers_that_did_not_run_and_steps_without_any() -> None:
    definition, rows = train_failed_cwf()
    rows = [r for r in rows if r["name"] not in ("NotifyTrainingFailed", "CleanupIntermediateData")]
    rows.append({**rows[0], "name": "PreprocessEvents", "status": "Failed"})  # its only handler (the Cleanup) did not run
    handled = failure_handlers(definition, rows)
    message = failure_message(execution_arn=ARN, status="Failed", failure_reason=None, rows=rows, handled_failures=handled)
    assert "      no handler ran (declared on Failed/Any: 'NotifyTrainingFailed', 'CleanupIntermediateData')" in message
    plain = load_definition(json.dumps(v3("classic_churn_v3")))
    [entry] = failure_handlers(plain, [{"name": "TrainChurnV3", "status": "Failed"}])
    assert entry["declared"] == [] and entry["handlers"] == []
    assert "no step declares Failed/Any on it" in failure_message(
        execution_arn=ARN, status="Failed", failure_reason=None, rows=[{"name": "TrainChurnV3", "status": "Failed"}], handled_failures=[entry]
    )


def test_when_the_definition_cannot_be_read_the_message_says_so() -> None:
    _, rows = train_failed_cwf()
    message = failure_message(
        execution_arn=ARN, status="CompletedWithFailures", failure_reason=None, rows=rows,
        definition_error="DescribePipelineDefinitionForExecution failed: AccessDeniedException",
    )  # fmt: skip
    assert "step 'TrainEventsModel' (TrainingJob) Failed" in message
    assert message.endswith("(the steps that handled these failures cannot be named: DescribePipelineDefinitionForExecution failed: AccessDeniedException)")


def test_an_unknown_status_is_named_in_the_message() -> None:
    message = failure_message(execution_arn=ARN, status="PartiallySucceeded", failure_reason=None, rows=[])
    assert "ended PartiallySucceeded" in message and "treated as a failure, never as success" in message


# -- what a step sensor may wait for -----------------------------------------------------------------


def test_step_target_knows_children_bodies_and_typos() -> None:
    definition = load_definition(json.dumps(sweep_definition()))
    assert step_target(definition, "Sweep") == {"for_each": None, "problem": None}
    assert step_target(definition, "TrainCandidate-7") == {"for_each": "Sweep", "problem": None}
    body = step_target(definition, "TrainCandidate")
    assert body["for_each"] == "Sweep" and "is a body step of ForEach 'Sweep': it never runs as itself" in str(body["problem"])
    assert "'TrainCandidate-0'" in str(body["problem"])
    assert step_target(definition, "RegisterBst")["problem"] == "the execution's definition has no step 'RegisterBst' (did you mean 'RegisterBest'?)"


# -- MlflowExperimentName ----------------------------------------------------------------------------


def test_mlflow_experiment_name_length() -> None:
    assert check_mlflow_experiment_name(None) is None
    assert check_mlflow_experiment_name("x" * 256) == "x" * 256
    for bad, problem in (("", "has 0 characters"), ("x" * 257, "has 257 characters"), (7, "is int 7")):
        with pytest.raises(DefinitionError, match=f"at mlflow_experiment_name: mlflow_experiment_name {problem}"):
            check_mlflow_experiment_name(bad)
