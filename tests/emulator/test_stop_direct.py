"""Translation mode: stopping directly created work, as a killed translated task does.

Every Stop/Cancel call a client can make on work it created: StopProcessingJob, StopTrainingJob,
StopTransformJob, StopHyperParameterTuningJob, StopAutoMLJob, StopJob, EMR CancelSteps and EMR
Serverless CancelJobRun. The job goes ``Stopping`` (``CANCEL_PENDING``, ``CANCELLING``) at once,
then ``Stopped`` (``CANCELLED``), and its scripted end never overrides that."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from emulator_helpers import ROLE, Pipelines, definition_with, training_step, validated, wait_for

from airflow_provider_smpipe.definition.naming import job_name
from airflow_provider_smpipe.emulator.api import DIRECT_OPERATIONS
from airflow_provider_smpipe.emulator.shapes import assert_valid_output

RESOURCES = {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}
#: How long a scripted job runs here (long enough to stop it), and Stopping -> Stopped.
RUN_SECONDS = 0.8
STOP_SECONDS = 0.3


@pytest.fixture
def sm(emulator: Any) -> Any:
    return validated(emulator.client("sagemaker", config=Config(retries={"mode": "standard", "max_attempts": 1})))


@pytest.fixture
def slow_stop(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Time to see the intermediate status."""
    monkeypatch.setattr(emulator.app.direct, "stop_seconds", STOP_SECONDS)
    monkeypatch.setattr(emulator.app.job_store, "stop_seconds", STOP_SECONDS)


def ex_id() -> str:
    return secrets.token_hex(6)


def bucket() -> str:
    return f"emu-stop-{secrets.token_hex(4)}"


def record(emulator: Any, name: str) -> dict[str, Any]:
    return next(job for job in emulator.state()["jobs"] if job["name"] == name)


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def stop_and_watch(describe: Callable[[], dict[str, Any]], stop: Callable[[], Any], status_key: str, end_key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stop a running job: ``(described while Stopping, described once Stopped)``; Stopping has no
    end time, Stopped has one; a second stop while Stopping is accepted."""
    assert describe()[status_key] == "InProgress"
    stop()
    stopping = describe()
    assert stopping[status_key] == "Stopping" and end_key not in stopping
    stop()  # again while Stopping: accepted, nothing changes
    stopped = wait_for(lambda: (d := describe())[status_key] == "Stopped" and d, timeout=10, what="Stopped")
    assert end_key in stopped
    return stopping, stopped


def stays_stopped(describe: Callable[[], dict[str, Any]], status_key: str, stopped: dict[str, Any], end_key: str) -> None:
    """Past the scripted end, the job is still Stopped with the same end time."""
    time.sleep(RUN_SECONDS + 0.2)
    again = describe()
    assert again[status_key] == "Stopped" and again[end_key] == stopped[end_key]


def test_the_stop_operations_are_the_emulators() -> None:
    assert {"StopProcessingJob", "StopTrainingJob", "StopTransformJob", "StopHyperParameterTuningJob", "StopAutoMLJob", "StopJob"} <= set(DIRECT_OPERATIONS)


# -- SageMaker jobs ---------------------------------------------------------------------------------


def test_stop_processing_job(emulator: Any, emulator_scenario: Any, sm: Any, slow_stop: None) -> None:
    out = bucket()
    emulator_scenario({"steps": {"Prep": {"seconds": RUN_SECONDS, "files": {"train": {"done.json": {}}}}}})
    name = job_name("Prep", ex_id(), salt="1:1")
    request = {
        "RoleArn": ROLE,
        "AppSpecification": {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1"},
        "ProcessingResources": {"ClusterConfig": RESOURCES},
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {"S3Uri": f"s3://{out}/train", "LocalPath": "/opt/ml/processing/train", "S3UploadMode": "EndOfJob"}}]},
    }
    sm.create_processing_job(ProcessingJobName=name, **request)
    describe = lambda: assert_valid_output("DescribeProcessingJob", sm.describe_processing_job(ProcessingJobName=name))  # noqa: E731
    stop = lambda: sm.stop_processing_job(ProcessingJobName=name)  # noqa: E731
    _, stopped = stop_and_watch(describe, stop, "ProcessingJobStatus", "ProcessingEndTime")
    assert record(emulator, name)["status"] == "Stopped"
    stays_stopped(describe, "ProcessingJobStatus", stopped, "ProcessingEndTime")
    assert out not in [b["Name"] for b in emulator.client("s3").list_buckets()["Buckets"]]  # the scripted files were never written
    state = record(emulator, name)
    assert state["status"] == "Stopped" and state["notes"] == ["StopProcessingJob: Stopping", "Stopped", "scripted end not applied: the job was already Stopped"]
    with pytest.raises(ClientError) as ended:
        stop()
    assert error_of(ended) == (400, "ValidationException", "The request was rejected because the processing job is in status Stopped.")
    with pytest.raises(ClientError) as missing:
        sm.stop_processing_job(ProcessingJobName=f"nope-{ex_id()}")
    assert error_of(missing)[:2] == (400, "ResourceNotFound")


def test_stop_training_job_secondary_status_and_transitions(emulator: Any, emulator_scenario: Any, sm: Any, slow_stop: None) -> None:
    out = bucket()
    emulator_scenario({"steps": {"Fit": {"seconds": RUN_SECONDS, "metrics": {"validation:rmse": 1.0}}}})
    name = job_name("Fit", ex_id(), salt="1:1")
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": f"s3://{out}/fit"},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        ResourceConfig=RESOURCES,
        RoleArn=ROLE,
    )
    describe = lambda: sm.describe_training_job(TrainingJobName=name)  # noqa: E731
    stopping, stopped = stop_and_watch(describe, lambda: sm.stop_training_job(TrainingJobName=name), "TrainingJobStatus", "TrainingEndTime")
    assert stopping["SecondaryStatus"] == "Stopping" and stopped["SecondaryStatus"] == "Stopped"
    assert [t["Status"] for t in stopped["SecondaryStatusTransitions"]][-2:] == ["Stopping", "Stopped"]
    assert all("EndTime" in t for t in stopped["SecondaryStatusTransitions"])
    stays_stopped(describe, "TrainingJobStatus", stopped, "TrainingEndTime")
    final = describe()
    assert final["SecondaryStatus"] == "Stopped" and "validation:rmse" not in [m["MetricName"] for m in final.get("FinalMetricDataList", [])]
    assert record(emulator, name)["notes"] == ["StopTrainingJob: Stopping", "Stopped", "scripted end not applied: the job was already Stopped"]
    with pytest.raises(ClientError) as ended:
        sm.stop_training_job(TrainingJobName=name)
    assert error_of(ended) == (400, "ValidationException", "The request was rejected because the training job is in status Stopped.")


def test_stop_of_a_completed_training_job_is_refused(emulator: Any, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.05})
    name = f"done-{ex_id()}"
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1", "TrainingInputMode": "File"},
        OutputDataConfig={"S3OutputPath": f"s3://{bucket()}/x"},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        ResourceConfig=RESOURCES,
        RoleArn=ROLE,
    )
    wait_for(lambda: sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Completed", what="completion")
    with pytest.raises(ClientError) as refused:
        sm.stop_training_job(TrainingJobName=name)
    assert error_of(refused) == (400, "ValidationException", "The request was rejected because the training job is in status Completed.")
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Completed"
    with pytest.raises(ClientError) as missing:
        sm.stop_training_job(TrainingJobName=f"nope-{ex_id()}")
    assert error_of(missing)[:2] == (400, "ResourceNotFound")
    with pytest.raises(ClientError) as invalid:  # botocore does not check patterns; the service does
        sm.stop_training_job(TrainingJobName="bad_name")
    assert error_of(invalid)[1] == "ValidationException" and "at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression pattern" in error_of(invalid)[2]


def test_stop_transform_job(emulator: Any, emulator_scenario: Any, sm: Any, slow_stop: None) -> None:
    out = bucket()
    emulator_scenario({"steps": {"Score": {"seconds": RUN_SECONDS, "files": {"output": {"x.out": "1"}}}}})
    ex = ex_id()
    name = job_name("Score", ex, salt="1:1")
    sm.create_transform_job(
        TransformJobName=name,
        ModelName=f"model-{ex}",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{out}/in"}}},
        TransformOutput={"S3OutputPath": f"s3://{out}/scored"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    describe = lambda: assert_valid_output("DescribeTransformJob", sm.describe_transform_job(TransformJobName=name))  # noqa: E731
    _, stopped = stop_and_watch(describe, lambda: sm.stop_transform_job(TransformJobName=name), "TransformJobStatus", "TransformEndTime")
    stays_stopped(describe, "TransformJobStatus", stopped, "TransformEndTime")
    assert record(emulator, name)["status"] == "Stopped"
    with pytest.raises(ClientError) as ended:
        sm.stop_transform_job(TransformJobName=name)
    assert error_of(ended) == (400, "ValidationException", "The request was rejected because the transform job is in status Stopped.")
    with pytest.raises(ClientError) as missing:
        sm.stop_transform_job(TransformJobName=f"nope-{ex}")
    assert error_of(missing)[:2] == (400, "ResourceNotFound")


def test_stop_hyper_parameter_tuning_job(emulator: Any, emulator_scenario: Any, sm: Any, slow_stop: None) -> None:
    prefix = f"tune{secrets.token_hex(3)}"
    emulator_scenario({"steps": {"TuneXGB": {"job_name_prefix": prefix, "seconds": RUN_SECONDS, "metrics": {"validation:auc": 0.9}}}})
    name = job_name("TuneXGB", ex_id(), prefix=prefix, salt="1:1")
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig={
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
        },
        TrainingJobDefinition={
            "AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1", "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket()}/tune"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "ResourceConfig": RESOURCES,
            "RoleArn": ROLE,
        },
    )
    describe = lambda: assert_valid_output("DescribeHyperParameterTuningJob", sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name))  # noqa: E731
    _, stopped = stop_and_watch(
        describe, lambda: sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name), "HyperParameterTuningJobStatus", "HyperParameterTuningEndTime"
    )
    stays_stopped(describe, "HyperParameterTuningJobStatus", stopped, "HyperParameterTuningEndTime")
    assert "BestTrainingJob" not in describe()  # the scripted results never came
    assert sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)["TrainingJobSummaries"] == []
    with pytest.raises(ClientError) as ended:
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert error_of(ended) == (400, "ValidationException", "The request was rejected because the hyperparameter tuning job is in status Stopped.")
    with pytest.raises(ClientError) as missing:
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=f"{prefix}-nope")
    assert error_of(missing)[:2] == (400, "ResourceNotFound")


def test_stop_auto_ml_job(emulator: Any, emulator_scenario: Any, sm: Any, slow_stop: None) -> None:
    prefix = f"auto{secrets.token_hex(3)}"
    out = bucket()
    emulator_scenario({"steps": {"AutoPilot": {"job_name_prefix": prefix, "seconds": RUN_SECONDS, "files": {"output": {"done.json": {}}}}}})
    name = job_name("AutoPilot", ex_id(), prefix=prefix, salt="1:1")
    sm.create_auto_ml_job(
        AutoMLJobName=name,
        InputDataConfig=[{"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{out}/in"}}, "TargetAttributeName": "y"}],
        OutputDataConfig={"S3OutputPath": f"s3://{out}/automl"},
        RoleArn=ROLE,
    )
    describe = lambda: sm.describe_auto_ml_job(AutoMLJobName=name)  # noqa: E731
    stopping, stopped = stop_and_watch(describe, lambda: sm.stop_auto_ml_job(AutoMLJobName=name), "AutoMLJobStatus", "EndTime")
    assert stopping["AutoMLJobSecondaryStatus"] == "Stopping" and stopped["AutoMLJobSecondaryStatus"] == "Stopped"
    stays_stopped(describe, "AutoMLJobStatus", stopped, "EndTime")
    assert "BestCandidate" not in describe()
    with pytest.raises(ClientError) as ended:
        sm.stop_auto_ml_job(AutoMLJobName=name)
    assert error_of(ended) == (400, "ValidationException", "The request was rejected because the AutoML job is in status Stopped.")
    with pytest.raises(ClientError) as missing:
        sm.stop_auto_ml_job(AutoMLJobName=f"{prefix}-nope")
    assert error_of(missing)[:2] == (400, "ResourceNotFound")


def test_stop_job_of_a_directly_created_job(emulator: Any, emulator_scenario: Any, sm: Any, slow_stop: None) -> None:
    emulator_scenario({"steps": {"Agent": {"seconds": RUN_SECONDS}}})
    name = job_name("Agent", ex_id(), salt="1:1")
    sm.create_job(JobName=name, RoleArn=ROLE, JobCategory="AgentRFT", JobConfigSchemaVersion="1.0.0", JobConfigDocument="{}")
    describe = lambda: sm.describe_job(JobName=name, JobCategory="AgentRFT")  # noqa: E731
    stopping, stopped = stop_and_watch(describe, lambda: sm.stop_job(JobName=name, JobCategory="AgentRFT"), "JobStatus", "EndTime")
    assert (stopping["SecondaryStatus"], stopped["SecondaryStatus"]) == ("Stopping", "Stopped")
    stays_stopped(describe, "JobStatus", stopped, "EndTime")
    with pytest.raises(ClientError) as ended:
        sm.stop_job(JobName=name, JobCategory="AgentRFT")
    assert error_of(ended) == (400, "ValidationException", f"The request was rejected because the job {name} is in status Stopped.")


def test_a_pipeline_steps_job_stopped_by_a_client_ends_the_step_stopped(emulator: Any, emulator_scenario: Any, pipelines: Pipelines, sm: Any) -> None:
    """Stop* works on the jobs a pipeline execution created too: the step ends Stopped (as with a
    scripted ``stopped``), and the job stays Stopped."""
    emulator_scenario({"steps": {"A": {"seconds": RUN_SECONDS}}})
    arn = pipelines.start(pipelines.create(definition_with([training_step("A")]), "stopjob"))
    job = wait_for(lambda: pipelines.steps(arn).get("A", {}).get("Metadata", {}).get("TrainingJob", {}).get("Arn"), what="the step's job").rsplit("/", 1)[1]
    sm.stop_training_job(TrainingJobName=job)
    emulator.wait_for_execution(arn)
    row = pipelines.steps(arn)["A"]
    assert row["StepStatus"] == "Stopped" and row["FailureReason"] == "Stopped: the job was stopped by a Stop call"
    described = sm.describe_training_job(TrainingJobName=job)
    assert (described["TrainingJobStatus"], described["SecondaryStatus"]) == ("Stopped", "Stopped")


# -- EMR CancelSteps --------------------------------------------------------------------------------


def _cluster(emr: Any) -> str:
    return emr.run_job_flow(
        Name=f"cluster-{secrets.token_hex(3)}",
        ReleaseLabel="emr-6.15.0",
        Instances={"InstanceCount": 1, "MasterInstanceType": "m5.xlarge", "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]


def _step(name: str) -> dict[str, Any]:
    return {"Name": name, "ActionOnFailure": "CONTINUE", "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["spark-submit", "job.py"]}}


def test_cancel_steps_pending_and_running(emulator: Any, emulator_scenario: Any, slow_stop: None) -> None:
    ex = ex_id()
    emulator_scenario({"default_step_seconds": 0.05, "steps": {"Long": {"seconds": RUN_SECONDS}, "Next": {"seconds": RUN_SECONDS}, "Quick": {"seconds": 0.05}}})
    emr = emulator.client("emr")
    cluster = _cluster(emr)
    quick = emr.add_job_flow_steps(JobFlowId=cluster, Steps=[_step(job_name("Quick", ex, salt="1:1"))])["StepIds"][0]
    state = lambda step_id: emr.describe_step(ClusterId=cluster, StepId=step_id)["Step"]["Status"]["State"]  # noqa: E731
    wait_for(lambda: state(quick) == "COMPLETED", what="the quick step")
    running, pending = emr.add_job_flow_steps(JobFlowId=cluster, Steps=[_step(job_name("Long", ex, salt="1:1")), _step(job_name("Next", ex, salt="1:1"))])["StepIds"]
    wait_for(lambda: state(running) == "RUNNING", what="the long step to run")
    assert state(pending) == "PENDING"  # one at a time
    answer = emr.cancel_steps(ClusterId=cluster, StepIds=[running, pending, quick, "s-NOSUCHSTEP"])
    assert_valid_output("CancelSteps", answer, service="emr")
    assert answer["CancelStepsInfoList"] == [
        {"StepId": running, "Status": "SUBMITTED"},
        {"StepId": pending, "Status": "SUBMITTED"},
        {"StepId": quick, "Status": "FAILED", "Reason": f"Step {quick} is COMPLETED and cannot be cancelled."},
        {"StepId": "s-NOSUCHSTEP", "Status": "FAILED", "Reason": f"Step s-NOSUCHSTEP does not exist in cluster {cluster}."},
    ]
    assert (state(running), state(pending)) == ("CANCEL_PENDING", "CANCELLED")
    assert emr.cancel_steps(ClusterId=cluster, StepIds=[running])["CancelStepsInfoList"] == [{"StepId": running, "Status": "SUBMITTED"}]  # idempotent
    wait_for(lambda: state(running) == "CANCELLED", timeout=10, what="the running step to be cancelled")
    assert emr.describe_cluster(ClusterId=cluster)["Cluster"]["Status"]["State"] == "WAITING"
    time.sleep(RUN_SECONDS + 0.2)  # past the scripted end
    for step_id in (running, pending):
        described = emr.describe_step(ClusterId=cluster, StepId=step_id)
        assert_valid_output("DescribeStep", described, service="emr")
        assert described["Step"]["Status"]["State"] == "CANCELLED" and "EndDateTime" in described["Step"]["Status"]["Timeline"]
    records = {job["step_id"]: job for job in emulator.state()["jobs"] if job["type"] == "EMR" and job.get("cluster_id") == cluster}
    assert records[running]["status"] == "CANCELLED" and records[running]["notes"] == ["CancelSteps: CANCEL_PENDING", "CancelSteps: CANCELLED"]
    assert records[pending]["status"] == "CANCELLED"
    # the cluster still takes new steps
    after = emr.add_job_flow_steps(JobFlowId=cluster, Steps=[_step(job_name("Quick", ex, salt="2:1"))])["StepIds"][0]
    wait_for(lambda: state(after) == "COMPLETED", what="a step added after the cancellation")


def test_cancel_steps_refusals(emulator: Any) -> None:
    emr = emulator.client("emr", config=Config(retries={"mode": "standard", "max_attempts": 1}))
    with pytest.raises(ClientError) as unknown:
        emr.cancel_steps(ClusterId="j-NOSUCHCLUSTER", StepIds=["s-1"])
    assert error_of(unknown) == (400, "InvalidRequestException", "Cluster id 'j-NOSUCHCLUSTER' is not valid.")
    cluster = _cluster(emr)
    with pytest.raises(ClientError) as option:  # botocore does not check enums; the service does
        emr.cancel_steps(ClusterId=cluster, StepIds=["s-1"], StepCancellationOption="KILL")
    assert error_of(option)[1] == "ValidationException" and "at 'stepCancellationOption' failed to satisfy constraint" in error_of(option)[2]
    with pytest.raises(ClientError) as too_many:
        emr.cancel_steps(ClusterId=cluster, StepIds=[f"s-{i}" for i in range(257)])
    assert error_of(too_many)[1] == "ValidationException"
    assert emr.cancel_steps(ClusterId=cluster, StepIds=[])["CancelStepsInfoList"] == []


# -- EMR Serverless CancelJobRun --------------------------------------------------------------------


def _application(serverless: Any) -> str:
    return str(serverless.create_application(name=f"app-{secrets.token_hex(3)}", releaseLabel="emr-7.2.0", type="SPARK")["applicationId"])


def _start(serverless: Any, application: str, name: str) -> str:
    return str(
        serverless.start_job_run(
            applicationId=application,
            executionRoleArn=ROLE,
            name=name,
            jobDriver={"sparkSubmit": {"entryPoint": "s3://code/job.py"}},
        )["jobRunId"]
    )


def test_cancel_job_run(emulator: Any, emulator_scenario: Any, slow_stop: None) -> None:
    ex = ex_id()
    emulator_scenario({"steps": {"Spark": {"seconds": RUN_SECONDS}}})
    serverless = emulator.client("emr-serverless", config=Config(retries={"mode": "standard", "max_attempts": 1}))
    application = _application(serverless)
    run = _start(serverless, application, job_name("Spark", ex, salt="1:1"))
    state = lambda: serverless.get_job_run(applicationId=application, jobRunId=run)["jobRun"]  # noqa: E731
    assert state()["state"] == "RUNNING"
    answer = serverless.cancel_job_run(applicationId=application, jobRunId=run)
    assert_valid_output("CancelJobRun", answer, service="emr-serverless")
    assert (answer["applicationId"], answer["jobRunId"]) == (application, run)
    assert state()["state"] == "CANCELLING"
    serverless.cancel_job_run(applicationId=application, jobRunId=run)  # again while CANCELLING: accepted
    wait_for(lambda: state()["state"] == "CANCELLED", timeout=10, what="the run to be cancelled")
    time.sleep(RUN_SECONDS + 0.2)  # past the scripted end
    final = state()
    assert final["state"] == "CANCELLED" and final["stateDetails"] == "Job run cancelled (CancelJobRun)."
    job = record(emulator, job_name("Spark", ex, salt="1:1"))
    assert (job["type"], job["status"]) == ("EMRServerless", "CANCELLED")
    assert job["notes"][0] == "CancelJobRun: CANCELLING"  # then, in either order, its life loop gives up and the cancel completes
    assert sorted(job["notes"][1:]) == ["CANCELLED", "scripted end not applied: the run was already CANCELLING"]
    with pytest.raises(ClientError) as ended:
        serverless.cancel_job_run(applicationId=application, jobRunId=run)
    assert error_of(ended) == (400, "ValidationException", f"Job run {run} is not in a cancellable state: it is CANCELLED.")


def test_cancel_job_run_refusals(emulator: Any, emulator_scenario: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.05})
    serverless = emulator.client("emr-serverless", config=Config(retries={"mode": "standard", "max_attempts": 1}))
    application = _application(serverless)
    done = _start(serverless, application, f"quick-{ex_id()}")
    wait_for(lambda: serverless.get_job_run(applicationId=application, jobRunId=done)["jobRun"]["state"] == "SUCCESS", what="the run to succeed")
    with pytest.raises(ClientError) as succeeded:
        serverless.cancel_job_run(applicationId=application, jobRunId=done)
    assert error_of(succeeded) == (400, "ValidationException", f"Job run {done} is not in a cancellable state: it is SUCCESS.")
    with pytest.raises(ClientError) as no_run:
        serverless.cancel_job_run(applicationId=application, jobRunId="nosuchrun")
    assert error_of(no_run) == (404, "ResourceNotFoundException", "JobRun nosuchrun does not exist")
    with pytest.raises(ClientError) as no_application:
        serverless.cancel_job_run(applicationId="nosuchapp", jobRunId="nosuchrun")
    assert error_of(no_application) == (404, "ResourceNotFoundException", "Application nosuchapp does not exist")
    with pytest.raises(ClientError) as invalid:  # botocore does not check patterns; the service does
        serverless.cancel_job_run(applicationId=application, jobRunId="NOT_VALID")
    assert error_of(invalid)[:2] == (400, "ValidationException") and "at 'jobRunId' failed to satisfy constraint" in error_of(invalid)[2]
