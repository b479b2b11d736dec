"""The translated-fixture suite for SDK v3: every v3 fixture translates and runs (dag.test against the
emulator) both ways — as scripted to succeed, and with a scripted failure that exercises its run
conditions — and each top-level step ends as the service would have it.

"What the service would do" is shown twice: as the table in :data:`CASES` (step outcome per step, and
the execution status), and by running the same definition under the same scenario as a pipeline
execution in the emulator, whose outcomes must equal the translated run's. Airflow shows an outcome
as a task state: ``Succeeded`` -> success, ``Failed``/``Stopped`` -> failed (with the ``outcome``
XCom saying which), ``NotRun`` -> skipped or upstream_failed. The run succeeds exactly when the
execution is ``Succeeded`` or ``CompletedWithFailures``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from v3_helpers import AIRFLOW_STATES, Native, translated, translated_outcomes, v3, xcom_of
from native_helpers import run_dag, unique

FAST = 0.05
S, F, ST, N = "Succeeded", "Failed", "Stopped", "NotRun"

LAMBDAS = {
    "arn:aws:lambda:us-east-1:123456789012:function:publish-report-index": {"response": {"IndexUri": "s3://example-v3-ml-artifacts/reports/index.json"}},
    "arn:aws:lambda:us-east-1:123456789012:function:validate-agent-dataset": {"response": {"DatasetOk": True}},
    "arn:aws:lambda:us-east-1:123456789012:function:publish-agent-model": {"response": {}},
    "arn:aws:lambda:us-east-1:123456789012:function:notify-oncall": {"response": {}},
    "arn:aws:lambda:us-east-1:123456789012:function:report-run-outcome": {"response": {}},
}
#: The same outputs for the emulator's pipeline engine, which reads them from the step scripts.
ENGINE_OUTPUTS = {"PublishReportIndex": {"IndexUri": "s3://example-v3-ml-artifacts/reports/index.json"}, "ValidateAgentDataset": {"DatasetOk": True}}
CHURN_FILES = {"EvaluateChurnV3": {"files": {"evaluation": {"evaluation.json": {"binary_classification_metrics": {"auc": {"value": 0.91}}}}}}}


@dataclass
class Case:
    fixture: str
    way: str
    steps: dict[str, Any]
    expected: dict[str, str]
    status: str
    edit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.fixture}-{self.way}"


CASES = [
    Case("foreach_literal_regions", "success", {}, {"PrepareRegions": S, "RegionalReports": S, "PublishReportIndex": S}, "Succeeded"),
    Case("foreach_literal_regions", "child-fails", {"BuildRegionReport-1": {"fail": {"reason": "AlgorithmError: region eu"}}},
         {"PrepareRegions": S, "RegionalReports": F, "PublishReportIndex": N}, "Failed"),
    Case("run_conditions_training", "success", {},
         {"PreprocessEvents": S, "TrainEventsModel": S, "EvaluateEventsModel": S, "NotifyTrainingFailed": N, "NotifyTrainingStopped": N,
          "ReportRunOutcome": S, "CleanupIntermediateData": S}, "Succeeded"),
    Case("run_conditions_training", "training-fails", {"TrainEventsModel": {"fail": {"reason": "AlgorithmError: loss is NaN"}}},
         {"PreprocessEvents": S, "TrainEventsModel": F, "EvaluateEventsModel": N, "NotifyTrainingFailed": S, "NotifyTrainingStopped": N,
          "ReportRunOutcome": S, "CleanupIntermediateData": S}, "CompletedWithFailures"),
    Case("run_conditions_training", "training-stopped", {"TrainEventsModel": {"stopped": True}},
         {"PreprocessEvents": S, "TrainEventsModel": ST, "EvaluateEventsModel": N, "NotifyTrainingFailed": N, "NotifyTrainingStopped": S,
          "ReportRunOutcome": S, "CleanupIntermediateData": S}, "CompletedWithFailures"),
    Case("emr_serverless_features", "success", {"SparkFeatures": {"job_name_prefix": "example-feature-build"}},
         {"SparkFeatures": S, "SparkAggregates": S, "TrainOnFeatures": S, "CleanupTrainingOutput": S, "NotifySparkFailure": N}, "Succeeded", edit="application"),
    # NotifySparkFailure needs *both* Spark steps failed (all entries must hold): it never runs and
    # the failure stays unhandled, while the Cleanup on Any still runs (its source never ran).
    Case("emr_serverless_features", "spark-fails", {"SparkFeatures": {"job_name_prefix": "example-feature-build", "fail": {"reason": "Spark job failed: OOM"}}},
         {"SparkFeatures": F, "SparkAggregates": N, "TrainOnFeatures": N, "CleanupTrainingOutput": S, "NotifySparkFailure": N}, "Failed", edit="application"),
    Case("job_step_agent_rft", "success", {}, {"ValidateAgentDataset": S, "AgentRft": S, "PublishAgentModel": S, "NotifyAgentRftFailed": N}, "Succeeded"),
    Case("job_step_agent_rft", "job-fails", {"AgentRft": {"fail": {"reason": "AgentError: reward collapsed"}}},
         {"ValidateAgentDataset": S, "AgentRft": F, "PublishAgentModel": N, "NotifyAgentRftFailed": S}, "CompletedWithFailures"),
    Case("classic_churn_v3", "success", CHURN_FILES,
         {"PreprocessChurnV3": S, "TrainChurnV3": S, "EvaluateChurnV3": S, "CheckChurnAucV3": S, "ChurnAucTooLowV3": N,
          "CreateChurnModelV3": S, "RegisterChurnModelV3": S, "BatchScoreChurnV3": S}, "Succeeded"),
    Case("classic_churn_v3", "auc-too-low", {"EvaluateChurnV3": {"files": {"evaluation": {"evaluation.json": {"binary_classification_metrics": {"auc": {"value": 0.5}}}}}}},
         {"PreprocessChurnV3": S, "TrainChurnV3": S, "EvaluateChurnV3": S, "CheckChurnAucV3": S, "ChurnAucTooLowV3": F,
          "CreateChurnModelV3": N, "RegisterChurnModelV3": N, "BatchScoreChurnV3": N}, "Failed"),
]


def scenario(case: Case) -> dict[str, Any]:
    steps = copy.deepcopy(case.steps)
    for step, outputs in ENGINE_OUTPUTS.items():
        steps.setdefault(step, {})["output_parameters"] = outputs
    return {"default_step_seconds": FAST, "time_scale": 0.001, "steps": steps, "lambda": LAMBDAS}


def definition(case: Case, emulator: Any) -> dict[str, Any]:
    """The fixture, with one honest edit where the emulator needs it: EMR Serverless job runs need an
    application that exists in moto (the fixture names a real account's)."""
    document = v3(case.fixture)
    if case.edit == "application":
        app = emulator.client("emr-serverless").create_application(name=unique("spark"), releaseLabel="emr-7.2.0", type="SPARK")["applicationId"]
        for step in document["Steps"]:
            if step["Name"] == "SparkFeatures":
                step["Arguments"]["ApplicationId"] = app
                step["Arguments"]["JobConfig"]["applicationId"] = app
    return document


@pytest.fixture
def buckets(emulator: Any) -> None:
    s3 = emulator.client("s3")
    for bucket in ("example-v3-ml-artifacts",):
        try:
            s3.create_bucket(Bucket=bucket)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_v3_fixture_ends_as_the_service_would(airflow_env: Any, buckets: None, case: Case) -> None:
    emulator = airflow_env(scenario(case))
    document = definition(case, emulator)

    _, native_status, rows = Native(emulator).run(document)
    native = Native.outcomes(list(case.expected), rows)

    dag = translated(document)
    run = run_dag(dag)
    outcomes, states = translated_outcomes(dag, run)

    assert native == case.expected, "the emulator's pipeline engine disagrees with the table"
    assert native_status == case.status
    assert outcomes == case.expected, f"translated task states: {states}"
    for step, outcome in outcomes.items():
        task_id = next(t for t in states if t == step or t == f"{step}.results")
        assert states[task_id] in AIRFLOW_STATES[outcome], (step, states[task_id])
    run_state = str(getattr(run.state, "value", run.state))
    assert run_state == ("success" if case.status in ("Succeeded", "CompletedWithFailures") else "failed")
    summary = xcom_of(run, "execution_status")
    if dag.pipeline_definition and any(dep.trigger != "Completed" for s in dag.pipeline_definition.steps.values() for dep in s.dependencies):
        assert summary is not None and summary["PipelineExecutionStatus"] == case.status
        failed = {f["StepName"] for f in summary["HandledFailures"] + summary["UnhandledFailures"]}
        assert failed == {s for s, o in case.expected.items() if o in (F, ST)}
    else:
        assert summary is None and "execution_status" not in dag.task_dict
