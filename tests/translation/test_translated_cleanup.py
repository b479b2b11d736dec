"""Cleanup in translation mode (dag.test against the emulator): it deletes exactly the objects its
sources' outputs hold — the named S3Uris, a Training source's ``<S3OutputPath>/<job>/`` — never
anything else, cleans a failed source from the properties its task recorded, reports what it did
as XCom, and refuses (in the report) a URI outside the source's outputs."""

from __future__ import annotations

from typing import Any

import pendulum
import pytest

from airflow_provider_smpipe.definition.naming import job_name
from airflow_provider_smpipe.translation.runtime import execution_id_for
from native_helpers import run_dag
from v3_helpers import translated, v3, xcom_of

BUCKET = "example-v3-ml-artifacts"
LAMBDAS = {
    f"arn:aws:lambda:us-east-1:123456789012:function:{name}": {"response": {}} for name in ("notify-oncall", "report-run-outcome")
}


def keys(emulator: Any, prefix: str) -> set[str]:
    listed = emulator.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {entry["Key"] for entry in listed}


def put(emulator: Any, *keys_: str) -> None:
    for key in keys_:
        emulator.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"x")


@pytest.fixture
def bucket(emulator: Any) -> None:
    s3 = emulator.client("s3")
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass


def planned_run(dag: Any, when: pendulum.DateTime) -> tuple[str, str]:
    """The run id dag.test() gives a run at ``when``, and that run's execution id (so the test can
    put objects where the run's training job will write, before the run)."""
    run_id = f"manual__{when.isoformat()}"
    return run_id, execution_id_for(dag.dag_id, run_id)


@pytest.mark.parametrize("training", ["succeeds", "fails"])
def test_cleanup_deletes_exactly_what_its_sources_produced(airflow_env: Any, bucket: None, training: str) -> None:
    steps: dict[str, Any] = {"PreprocessEvents": {"files": {"scratch": {"joined.parquet": "x", "keep.parquet": "y"}}}}
    if training == "fails":
        steps["TrainEventsModel"] = {"fail": {"reason": "AlgorithmError: loss is NaN"}}
    emulator = airflow_env({"default_step_seconds": 0.05, "steps": steps, "lambda": LAMBDAS})
    dag = translated(v3("run_conditions_training"))
    when = pendulum.now("UTC").add(seconds=1).replace(microsecond=0)
    run_id, execution_id = planned_run(dag, when)
    train_job = job_name("TrainEventsModel", execution_id, salt="1:1")
    # What the training job wrote under <S3OutputPath>/<job>/, and a neighbour that is not its.
    put(emulator, f"events/models/{train_job}/output/model.tar.gz", f"events/models/{train_job}/debug/trace.json", "events/models/another-job/output/model.tar.gz")

    run = run_dag(dag, logical_date=when, run_after=when)
    assert run.run_id == run_id
    assert keys(emulator, f"events/{execution_id}/scratch/") == {f"events/{execution_id}/scratch/keep.parquet"}
    assert keys(emulator, f"events/models/{train_job}/") == set()
    assert keys(emulator, "events/models/another-job/") == {"events/models/another-job/output/model.tar.gz"}
    report = xcom_of(run, "CleanupIntermediateData")
    assert report == {
        "CleanedSteps": ["PreprocessEvents", "TrainEventsModel"],
        "FailedSteps": [],
        "SkippedSteps": [],
        "DeletedObjects": {
            "PreprocessEvents": [f"s3://{BUCKET}/events/{execution_id}/scratch/joined.parquet"],
            "TrainEventsModel": sorted(
                [f"s3://{BUCKET}/events/models/{train_job}/debug/trace.json", f"s3://{BUCKET}/events/models/{train_job}/output/model.tar.gz"]
            ),
        },
    }
    assert str(getattr(run.state, "value", run.state)) == "success"  # Succeeded, or CompletedWithFailures when training failed


def test_a_uri_outside_the_sources_outputs_is_reported_and_nothing_of_it_is_deleted(airflow_env: Any, bucket: None) -> None:
    emulator = airflow_env({"default_step_seconds": 0.05, "steps": {"PreprocessEvents": {"files": {"scratch": {"joined.parquet": "x"}}}}, "lambda": LAMBDAS})
    document = v3("run_conditions_training")
    cleanup = next(s for s in document["Steps"] if s["Name"] == "CleanupIntermediateData")
    cleanup["Arguments"]["Resources"]["S3"][0]["S3Uris"] = [f"s3://{BUCKET}/elsewhere/precious.parquet"]
    put(emulator, "elsewhere/precious.parquet")
    run = run_dag(translated(document))
    execution_id = execution_id_for(run.dag_id, run.run_id)
    report = xcom_of(run, "CleanupIntermediateData")
    assert report["CleanedSteps"] == ["TrainEventsModel"]
    [failed] = report["FailedSteps"]
    assert failed["StepName"] == "PreprocessEvents" and failed["ErrorCode"] == "ClientError"
    assert failed["ErrorMessage"].startswith(f"s3://{BUCKET}/elsewhere/precious.parquet is not under an output location of step 'PreprocessEvents'")
    assert keys(emulator, "elsewhere/") == {"elsewhere/precious.parquet"}
    assert keys(emulator, f"events/{execution_id}/scratch/") == {f"events/{execution_id}/scratch/joined.parquet"}
    assert str(getattr(run.state, "value", run.state)) == "success"  # a refused deletion does not fail the step


def test_a_source_that_never_ran_is_skipped(airflow_env: Any, bucket: None) -> None:
    emulator = airflow_env({
        "default_step_seconds": 0.05,
        "steps": {"SparkFeatures": {"job_name_prefix": "example-feature-build", "fail": {"reason": "Spark job failed: OOM"}}},
    })
    document = v3("emr_serverless_features")
    app = emulator.client("emr-serverless").create_application(name="features", releaseLabel="emr-7.2.0", type="SPARK")["applicationId"]
    document["Steps"][0]["Arguments"]["ApplicationId"] = document["Steps"][0]["Arguments"]["JobConfig"]["applicationId"] = app
    run = run_dag(translated(document))
    report = xcom_of(run, "CleanupTrainingOutput")
    assert report == {"CleanedSteps": [], "FailedSteps": [], "SkippedSteps": ["TrainOnFeatures"], "DeletedObjects": {}}
