"""EMR Serverless and Job steps in translation mode (dag.test against the emulator): what they
create, what they push as XCom, deterministic names, and a retried task re-attaching to the run or
job its earlier try started instead of starting a second one."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from airflow_provider_smpipe.translation.runtime import execution_id_for
from native_helpers import run_dag
from v3_helpers import invocations, translated, v3, xcom_of

LAMBDAS = {
    "arn:aws:lambda:us-east-1:123456789012:function:validate-agent-dataset": {"response": {"DatasetOk": True}},
    "arn:aws:lambda:us-east-1:123456789012:function:publish-agent-model": {"response": {}},
    "arn:aws:lambda:us-east-1:123456789012:function:notify-oncall": {"response": {}},
}


def spark_definition(emulator: Any) -> tuple[dict[str, Any], str]:
    """emr_serverless_features.json on an application that exists in moto (the fixture names a real one)."""
    document = v3("emr_serverless_features")
    app = emulator.client("emr-serverless").create_application(name="features", releaseLabel="emr-7.2.0", type="SPARK")["applicationId"]
    document["Steps"][0]["Arguments"]["ApplicationId"] = document["Steps"][0]["Arguments"]["JobConfig"]["applicationId"] = app
    return document, app


def test_emr_serverless_steps_start_job_runs_and_push_get_job_run(airflow_env: Any) -> None:
    emulator = airflow_env({"default_step_seconds": 0.05, "steps": {"SparkFeatures": {"job_name_prefix": "example-feature-build"}}})
    document, app = spark_definition(emulator)
    run = run_dag(translated(document))
    client = emulator.client("emr-serverless")
    features = xcom_of(run, "SparkFeatures")["jobRun"]
    assert features["applicationId"] == app and features["state"] == "SUCCESS"
    assert features["name"].startswith("example-feature-build-")  # the definition's name, made unique per run and try
    described = client.get_job_run(applicationId=app, jobRunId=features["jobRunId"])["jobRun"]
    execution_id = execution_id_for(run.dag_id, run.run_id)
    assert described["jobDriver"]["sparkSubmit"]["entryPointArguments"] == ["--date", "2025-01-15", "--execution", execution_id]
    assert described["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"] == "--conf spark.executor.memory=8g"
    # ApplicationConfig: an application is created for the run, and the job runs on it.
    aggregates = xcom_of(run, "SparkAggregates")["jobRun"]
    created = client.get_application(applicationId=aggregates["applicationId"])["application"]
    assert created["name"] == "example-aggregates" and created["releaseLabel"] == "emr-7.2.0"
    assert aggregates["applicationId"] != app and aggregates["state"] == "SUCCESS"
    assert xcom_of(run, "SparkAggregates", "job") == {"type": "EMRServerless", "job_run_id": aggregates["jobRunId"], "application_id": aggregates["applicationId"], "attempt": 1}


def test_a_failed_job_run_fails_the_step_with_its_state_details(airflow_env: Any, capfd: Any) -> None:
    emulator = airflow_env({"default_step_seconds": 0.05, "steps": {"SparkFeatures": {"job_name_prefix": "example-feature-build", "fail": {"reason": "Spark job failed: OOM"}}}})
    document, _ = spark_definition(emulator)
    run = run_dag(translated(document))
    outcome = xcom_of(run, "SparkFeatures", "outcome")
    assert outcome["status"] == "Failed" and outcome["properties"]["jobRun"]["state"] == "FAILED"
    assert "EMR Serverless job run" in outcome["reason"] and "ended FAILED: Spark job failed: OOM" in outcome["reason"]


def test_a_job_step_creates_the_job_and_pushes_describe_job(airflow_env: Any) -> None:
    emulator = airflow_env({"default_step_seconds": 0.05, "lambda": LAMBDAS})
    run = run_dag(translated(v3("job_step_agent_rft")))
    execution_id = execution_id_for(run.dag_id, run.run_id)
    job = xcom_of(run, "AgentRft")
    assert job["JobStatus"] == "Completed" and job["JobCategory"] == "AgentRFT"
    assert job["JobName"].startswith(f"pipelines-{execution_id}-AgentRft-")
    assert job["JobArn"].endswith(f":job/AgentRFT/{job['JobName']}")
    document = json.loads(job["JobConfigDocument"])
    assert document["OutputDataConfig"]["S3OutputPath"] == f"s3://example-v3-ml-artifacts/agent-rft/output/{execution_id}/"
    [published] = invocations(emulator, "publish-agent-model")[-1:]
    assert published["job_status"] == "Completed" and published["job_arn"] == job["JobArn"]
    assert json.loads(published["job_config_document"]) == document


def retried_once_after_start(dag: Any, task_id: str) -> None:
    """The first try of ``task_id`` dies right after it started its work (a lost worker); the task
    has one Airflow retry."""
    task = dag.task_dict[task_id]
    task.retries, task.retry_delay = 1, timedelta(seconds=0)
    wait = task._wait

    def worker_lost_on_the_first_try(context: Any, trigger: Any) -> Any:
        if context["ti"].try_number == 1:
            raise RuntimeError("worker lost while the job runs")
        return wait(context, trigger)

    task._wait = worker_lost_on_the_first_try


def test_a_retried_job_step_reattaches_to_its_job(airflow_env: Any) -> None:
    # 10 s: the retry must find the job still running (only running work is re-attached to); with
    # 3 s a loaded 2-CPU machine once took longer than that between the two tries.
    emulator = airflow_env({"default_step_seconds": 0.05, "steps": {"AgentRft": {"seconds": 10.0}}, "lambda": LAMBDAS})
    dag = translated(v3("job_step_agent_rft"))
    retried_once_after_start(dag, "AgentRft")
    run = run_dag(dag)
    execution_id = execution_id_for(run.dag_id, run.run_id)
    jobs = [j for j in emulator.state()["sagemaker_jobs"] if j.get("execution_id") == execution_id]
    assert len(jobs) == 1 and xcom_of(run, "AgentRft")["JobName"] == jobs[0]["name"]
    assert str(getattr(run.state, "value", run.state)) == "success"


def test_a_retried_emr_serverless_step_reattaches_to_its_job_run(airflow_env: Any) -> None:
    emulator = airflow_env({"default_step_seconds": 0.05, "steps": {"SparkFeatures": {"job_name_prefix": "example-feature-build", "seconds": 10.0}}})
    document, app = spark_definition(emulator)
    dag = translated(document)
    retried_once_after_start(dag, "SparkFeatures")
    run = run_dag(dag)
    runs = emulator.client("emr-serverless").list_job_runs(applicationId=app)["jobRuns"]
    assert len(runs) == 1 and xcom_of(run, "SparkFeatures")["jobRun"]["jobRunId"] == runs[0]["id"]
