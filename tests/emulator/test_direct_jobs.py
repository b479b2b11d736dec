"""Translation mode: jobs, endpoints, EMR steps and Lambda invocations that clients create directly
(no pipeline execution), scripted by the same scenario as pipeline steps."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from emulator_helpers import ROLE, validated, wait_for

from airflow_provider_smpipe.definition.naming import job_name
from airflow_provider_smpipe.emulator import Scenario, ScenarioError
from airflow_provider_smpipe.emulator.direct import match_step
from airflow_provider_smpipe.emulator.shapes import assert_valid_output

RESOURCES = {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 30}


@pytest.fixture
def sm(emulator: Any) -> Any:
    """No retries: a 500 from the strict shape check must surface, not be retried."""
    return validated(emulator.client("sagemaker", config=Config(retries={"mode": "standard", "max_attempts": 1})))


def execution_id() -> str:
    """A translation run's ``PipelineExecutionId``: 12 lowercase hex characters."""
    return secrets.token_hex(6)


def bucket() -> str:
    return f"emu-direct-{secrets.token_hex(4)}"


def training_request(output: str, **extra: Any) -> dict[str, Any]:
    return {
        "AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": output},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "ResourceConfig": RESOURCES,
        "RoleArn": ROLE,
        **extra,
    }


def processing_request(outputs: dict[str, str]) -> dict[str, Any]:
    return {
        "RoleArn": ROLE,
        "AppSpecification": {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1"},
        "ProcessingResources": {"ClusterConfig": RESOURCES},
        "ProcessingOutputConfig": {
            "Outputs": [
                {"OutputName": name, "S3Output": {"S3Uri": uri, "LocalPath": f"/opt/ml/processing/{name}", "S3UploadMode": "EndOfJob"}}
                for name, uri in outputs.items()
            ]
        },
    }


def described(sm: Any, kind: str, name: str) -> dict[str, Any]:
    operation, member = {
        "Processing": ("DescribeProcessingJob", "ProcessingJobName"),
        "Training": ("DescribeTrainingJob", "TrainingJobName"),
        "Tuning": ("DescribeHyperParameterTuningJob", "HyperParameterTuningJobName"),
    }[kind]
    response = getattr(sm, {"Processing": "describe_processing_job", "Training": "describe_training_job", "Tuning": "describe_hyper_parameter_tuning_job"}[kind])(**{member: name})
    assert_valid_output(operation, response)
    return response


def status_of(response: dict[str, Any]) -> str:
    return next(v for k, v in response.items() if k.endswith("JobStatus"))


def finished(sm: Any, kind: str, name: str, timeout: float = 15.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        response = described(sm, kind, name)
        return response if status_of(response) != "InProgress" else None

    return wait_for(done, timeout=timeout, what=f"{name} to finish")


def job_state(emulator: Any, name: str) -> dict[str, Any]:
    return next(job for job in emulator.state()["jobs"] if job["name"] == name)


# -- names -----------------------------------------------------------------------------------------


def test_job_names_map_to_scripted_steps() -> None:
    scenario = Scenario.from_dict(
        {"steps": {"Train_Model": {}, "A" * 40: {}, "Tune": {"job_name_prefix": "xgb"}, "TuneMore": {"job_name_prefix": "xgb-more"}}}
    )
    ex = execution_id()
    assert match_step(scenario, job_name("Train_Model", ex, salt="1:1")) == ("Train_Model", ex)  # '_' became '-'
    assert match_step(scenario, job_name("A" * 40, ex, salt="3:2")) == ("A" * 40, ex)  # the step part is cut to fit 63
    assert match_step(scenario, job_name("Other", ex)) == (None, ex)
    assert match_step(scenario, job_name("Tune", ex, prefix="xgb", salt="1:1")) == ("Tune", None)
    assert match_step(scenario, job_name("TuneMore", ex, prefix="xgb-more", salt="1:1")) == ("TuneMore", None)  # longest prefix
    assert match_step(scenario, "xgb") == ("Tune", None)
    assert match_step(scenario, "xgboost-1") == (None, None)


def test_scenario_additions_load_strictly() -> None:
    scenario = Scenario.from_dict(
        {
            "steps": {"T": {"job_name_prefix": "my-train"}},
            "lambda": {"notify": {"response": {"ok": True}}, "arn:aws:lambda:us-east-1:123456789012:function:bad:prod": {"error": "no", "seconds": 0.5}},
        }
    )
    assert scenario.lambda_script("arn:aws:lambda:us-east-1:123456789012:function:notify").response == {"ok": True}
    assert scenario.lambda_script("bad").error == "no" and scenario.lambda_script("bad").seconds == 0.5
    assert scenario.lambda_script("missing") is None
    assert Scenario.from_dict(Scenario(steps=scenario.steps, lambdas=scenario.lambdas).to_dict()) == scenario
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_dict({"steps": {"T": {"job_name_prefix": "__"}}, "lambda": {"f": {"respons": 1, "error": 3, "seconds": -1}, "g": []}})
    assert caught.value.problems == [
        "$.steps.T.job_name_prefix: expected a job name prefix (letters, digits, '-'), got a string '__'",
        "$.lambda.f.respons: unknown key (did you mean 'response'?) (allowed: response, error, seconds)",
        "$.lambda.f.error: expected a non-empty string or null, got a number",
        "$.lambda.f.seconds: -1 is negative",
        "$.lambda.g: expected an object {response, error, seconds}, got a list",
    ]


# -- SageMaker jobs --------------------------------------------------------------------------------


def test_scripted_duration_then_completed_and_unscripted_jobs_still_progress(emulator: Any, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.2, "steps": {"Prep_Data": {"seconds": 0.4}}})
    ex, out = execution_id(), bucket()
    scripted = job_name("Prep_Data", ex, salt="1:1")
    started = time.monotonic()
    sm.create_processing_job(ProcessingJobName=scripted, **processing_request({"train": f"s3://{out}/train"}))
    plain = f"plain-{ex}"
    sm.create_training_job(TrainingJobName=plain, **training_request(f"s3://{out}/model"))
    first = described(sm, "Processing", scripted)
    assert first["ProcessingJobStatus"] == "InProgress" and "ProcessingEndTime" not in first
    assert first["ProcessingResources"] == {"ClusterConfig": RESOURCES}  # moto drops it; the emulator keeps it
    running = described(sm, "Training", plain)
    assert running["TrainingJobStatus"] == "InProgress" and running["SecondaryStatus"] == "Training"
    trained = finished(sm, "Training", plain)  # unscripted: moto's job, Completed after default_step_seconds
    assert trained["TrainingJobStatus"] == "Completed" and time.monotonic() - started >= 0.2
    assert [m["MetricName"] for m in trained["FinalMetricDataList"]] == ["train:progress"]  # moto's
    done = finished(sm, "Processing", scripted)
    assert done["ProcessingJobStatus"] == "Completed" and time.monotonic() - started >= 0.4 and "ProcessingEndTime" in done
    record = job_state(emulator, scripted)
    assert (record["type"], record["step"], record["execution_id"], record["attempt"], record["status"], record["seconds"]) == (
        "Processing", "Prep_Data", ex, 1, "Completed", 0.4
    )
    assert job_state(emulator, plain)["step"] is None and emulator.calls("CreateProcessingJob") == 1


def test_failure_on_the_first_attempt_then_success_on_the_second(emulator: Any, emulator_scenario: Any, sm: Any) -> None:
    reason = "InternalServerError: capacity error in us-east-1a"
    emulator_scenario({"steps": {"Train": {"seconds": 0.05, "fail": {"reason": reason, "attempts": [1], "exception_type": "SageMaker.CAPACITY_ERROR"}}}})
    ex, other, out = execution_id(), execution_id(), bucket()
    first, second, elsewhere = job_name("Train", ex, salt="1:1"), job_name("Train", ex, salt="1:2"), job_name("Train", other, salt="1:1")
    sm.create_training_job(TrainingJobName=first, **training_request(f"s3://{out}/a"))
    failed = finished(sm, "Training", first)
    assert (failed["TrainingJobStatus"], failed["SecondaryStatus"], failed["FailureReason"]) == ("Failed", "Failed", reason)
    sm.create_training_job(TrainingJobName=second, **training_request(f"s3://{out}/a"))
    sm.create_training_job(TrainingJobName=elsewhere, **training_request(f"s3://{out}/b"))
    assert finished(sm, "Training", second)["TrainingJobStatus"] == "Completed"
    assert finished(sm, "Training", elsewhere)["TrainingJobStatus"] == "Failed"  # attempt 1 of another execution
    assert [job_state(emulator, n)["attempt"] for n in (first, second, elsewhere)] == [1, 2, 1]
    with pytest.raises(ClientError) as taken:  # the service refuses a name in use (moto would replace the job)
        sm.create_training_job(TrainingJobName=second, **training_request(f"s3://{out}/a"))
    assert taken.value.response["Error"]["Code"] == "ResourceInUse" and "already exists" in str(taken.value)


def test_files_metrics_model_artifacts_and_properties(emulator: Any, emulator_scenario: Any, sm: Any) -> None:
    out = bucket()
    emulator_scenario(
        {
            "steps": {
                "Evaluate": {"seconds": 0.05, "files": {"evaluation": {"evaluation.json": {"mse": 4.2}, "report.txt": "fine"}, f"s3://{out}/extra": {"a.json": [1]}}},
                "Fit": {
                    "seconds": 0.05,
                    "metrics": {"validation:rmse": 1.25, "train:loss": 0.5},
                    "files": {"output": {"results.json": {"Return": 42}}},
                    "properties": {"HyperParameters": {"eta": "0.1"}, "NotADescribeMember": 1},
                },
                "Broken": {"seconds": 0.05, "files": {"nope": {"x.json": {}}}},
                "Score": {"seconds": 0.05, "files": {"output": {"in.csv.out": "1,2\n"}}},
            }
        }
    )
    ex = execution_id()
    evaluate, fit, broken = job_name("Evaluate", ex, salt="1:1"), job_name("Fit", ex, salt="1:1"), job_name("Broken", ex, salt="1:1")
    sm.create_processing_job(ProcessingJobName=evaluate, **processing_request({"evaluation": f"s3://{out}/eval/", "other": f"s3://{out}/other"}))
    sm.create_training_job(TrainingJobName=fit, **training_request(f"s3://{out}/fit"))
    sm.create_processing_job(ProcessingJobName=broken, **processing_request({"evaluation": f"s3://{out}/b"}))
    score = job_name("Score", ex, salt="1:1")
    sm.create_transform_job(
        TransformJobName=score,
        ModelName=f"model-{ex}",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{out}/in"}}},
        TransformOutput={"S3OutputPath": f"s3://{out}/scored"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    assert finished(sm, "Processing", evaluate)["ProcessingJobStatus"] == "Completed"
    s3 = emulator.client("s3")
    read = lambda key: s3.get_object(Bucket=out, Key=key)["Body"].read().decode()
    assert json.loads(read("eval/evaluation.json")) == {"mse": 4.2} and read("eval/report.txt") == "fine" and json.loads(read("extra/a.json")) == [1]
    trained = finished(sm, "Training", fit)
    assert [(m["MetricName"], m["Value"]) for m in trained["FinalMetricDataList"]] == [("validation:rmse", 1.25), ("train:loss", 0.5)]
    assert trained["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{out}/fit/{fit}/output/model.tar.gz"
    assert trained["HyperParameters"] == {"eta": "0.1"} and json.loads(read("fit/results.json")) == {"Return": 42}
    assert "properties ignored (not members of the DescribeTrainingJob response): NotADescribeMember" in job_state(emulator, fit)["notes"]
    failed = finished(sm, "Processing", broken)
    assert failed["ProcessingJobStatus"] == "Failed" and "has no such output (outputs: evaluation" in failed["FailureReason"]
    assert f"wrote s3://{out}/eval/evaluation.json" in job_state(emulator, evaluate)["notes"]
    transformed = wait_for(lambda: (d := sm.describe_transform_job(TransformJobName=score))["TransformJobStatus"] == "Completed" and d, what="the transform job")
    assert_valid_output("DescribeTransformJob", transformed)  # no empty LabelingJobArn/AutoMLJobArn (moto's)
    assert read("scored/in.csv.out") == "1,2\n"


def test_tuning_best_training_job_and_summaries(emulator: Any, emulator_scenario: Any, sm: Any) -> None:
    prefix = f"tune{secrets.token_hex(3)}"
    emulator_scenario({"steps": {"TuneXGB": {"job_name_prefix": prefix, "seconds": 0.2, "metrics": {"validation:auc": 0.9}}}})
    name = job_name("TuneXGB", execution_id(), prefix=prefix, salt="1:1")
    out = bucket()
    request = {
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:auc"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
        },
        "TrainingJobDefinition": {k: v for k, v in training_request(f"s3://{out}/tune").items()},
    }
    sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, **request)
    running = described(sm, "Tuning", name)
    assert running["HyperParameterTuningJobStatus"] == "InProgress" and "BestTrainingJob" not in running
    assert sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)["TrainingJobSummaries"] == []
    done = finished(sm, "Tuning", name)
    best = done["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"] == {"Type": "Maximize", "MetricName": "validation:auc", "Value": 0.9}
    assert best["TuningJobName"] == name and done["OverallBestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]
    assert done["TrainingJobStatusCounters"]["Completed"] == 4
    ranked = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, SortBy="FinalObjectiveMetricValue", SortOrder="Descending", MaxResults=50
    )["TrainingJobSummaries"]
    assert [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in ranked] == [0.9, 0.8, 0.7, 0.6]
    assert ranked[0]["TrainingJobName"] == best["TrainingJobName"]
    page = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, MaxResults=3)  # by name, ascending
    rest = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, MaxResults=3, NextToken=page["NextToken"])
    names = [s["TrainingJobName"] for s in page["TrainingJobSummaries"] + rest["TrainingJobSummaries"]]
    assert names == sorted(s["TrainingJobName"] for s in ranked) and "NextToken" not in rest
    with pytest.raises(ClientError) as missing:
        sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=f"{prefix}-missing")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFound"
    with pytest.raises(ClientError) as too_long:  # what the service says; moto accepts it
        sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=job_name("TuneXGB", execution_id()), **request)
    assert "at 'hyperParameterTuningJobName' failed to satisfy constraint: Member must have length less than or equal to 32" in str(too_long.value)


def test_automl_jobs_are_answered_by_the_emulator(emulator: Any, emulator_scenario: Any, sm: Any) -> None:
    prefix = f"auto{secrets.token_hex(3)}"
    out = bucket()
    emulator_scenario({"steps": {"AutoPilot": {"job_name_prefix": prefix, "seconds": 0.2, "metrics": {"validation:f1": 0.8}, "files": {"output": {"done.json": {}}}}}})
    name = job_name("AutoPilot", execution_id(), prefix=prefix, salt="1:1")
    request = {
        "InputDataConfig": [{"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{out}/in"}}, "TargetAttributeName": "y"}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{out}/automl"},
        "RoleArn": ROLE,
        "ProblemType": "BinaryClassification",
        "AutoMLJobObjective": {"MetricName": "F1"},
    }
    arn = sm.create_auto_ml_job(AutoMLJobName=name, **request)["AutoMLJobArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:automl-job/{name}"
    running = sm.describe_auto_ml_job(AutoMLJobName=name)
    assert (running["AutoMLJobStatus"], running["AutoMLJobSecondaryStatus"]) == ("InProgress", "ModelTuning") and "BestCandidate" not in running
    wait_for(lambda: sm.describe_auto_ml_job(AutoMLJobName=name)["AutoMLJobStatus"] == "Completed", what="the AutoML job")
    done = sm.describe_auto_ml_job(AutoMLJobName=name)
    assert done["BestCandidate"]["FinalAutoMLJobObjectiveMetric"] == {"MetricName": "F1", "Value": 0.8}
    assert done["BestCandidate"]["InferenceContainers"][0]["ModelDataUrl"] == f"s3://{out}/automl/{name}/model.tar.gz"
    assert emulator.client("s3").get_object(Bucket=out, Key="automl/done.json")["Body"].read() == b"{}"
    with pytest.raises(ClientError) as taken:
        sm.create_auto_ml_job(AutoMLJobName=name, **request)
    assert taken.value.response["Error"]["Code"] == "ResourceInUse"
    with pytest.raises(ClientError) as missing:
        sm.describe_auto_ml_job(AutoMLJobName=f"{prefix}-nope")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFound"


def test_endpoints_created_and_updated_directly_go_in_service(emulator: Any, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.2})
    suffix = secrets.token_hex(3)
    model = f"m-{suffix}"
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/img:1"})
    for config, count in ((f"c1-{suffix}", 1), (f"c2-{suffix}", 2)):
        variant = {"VariantName": "main", "ModelName": model, "InitialInstanceCount": count, "InstanceType": "ml.m5.large"}
        sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[variant])
    endpoint = f"ep-{suffix}"
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=f"c1-{suffix}")
    status = lambda: sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
    assert status() == "Creating"
    wait_for(lambda: status() == "InService", what="the endpoint to be in service")
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=f"c2-{suffix}")
    assert status() == "Updating"
    with pytest.raises(ClientError) as busy:
        sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=f"c1-{suffix}")
    assert "Cannot update in-progress endpoint" in str(busy.value)
    wait_for(lambda: status() == "InService", what="the update")
    now = sm.describe_endpoint(EndpointName=endpoint)
    assert now["EndpointConfigName"] == f"c2-{suffix}" and now["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    with pytest.raises(ClientError) as missing:
        sm.update_endpoint(EndpointName=f"nope-{suffix}", EndpointConfigName=f"c1-{suffix}")
    assert missing.value.response["Error"]["Code"] == "ValidationException"


# -- Lambda ----------------------------------------------------------------------------------------


def test_lambda_invoke_answers_from_the_scenario(emulator: Any, emulator_scenario: Any) -> None:
    suffix = secrets.token_hex(3)
    emulator_scenario(
        {
            "lambda": {
                f"notify-{suffix}": {"response": {"status": "ok", "score": 0.9}, "seconds": 0.05},
                f"arn:aws:lambda:us-east-1:123456789012:function:broken-{suffix}": {"error": "KeyError: 'x'"},
            }
        }
    )
    lam = emulator.client("lambda", config=Config(retries={"mode": "standard", "max_attempts": 1}))
    ok = lam.invoke(FunctionName=f"arn:aws:lambda:us-east-1:123456789012:function:notify-{suffix}", Payload=json.dumps({"x": 1}).encode())
    assert (ok["StatusCode"], ok.get("FunctionError"), ok["ExecutedVersion"]) == (200, None, "$LATEST")
    assert json.loads(ok["Payload"].read()) == {"status": "ok", "score": 0.9}
    bad = lam.invoke(FunctionName=f"broken-{suffix}", Payload=b"{}", LogType="Tail")
    assert (bad["StatusCode"], bad["FunctionError"]) == (200, "Unhandled") and "START RequestId" in base64.b64decode(bad["LogResult"]).decode()
    error = json.loads(bad["Payload"].read())
    assert error["errorMessage"] == "KeyError: 'x'" and error["errorType"] == "Exception"
    assert lam.invoke(FunctionName=f"notify-{suffix}", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    with pytest.raises(ClientError) as unknown:  # not in the scenario: moto's behaviour (no such function here)
        lam.invoke(FunctionName=f"other-{suffix}", Payload=b"{}")
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
    mine = [i for i in emulator.state()["invocations"] if suffix in i["function"]]
    assert [(i["invocation_type"], i["payload"], i["error"]) for i in mine] == [
        ("RequestResponse", {"x": 1}, None),
        ("RequestResponse", {}, "KeyError: 'x'"),
        ("Event", {}, None),
    ]
    assert emulator.calls("Invoke") == 4


# -- EMR -------------------------------------------------------------------------------------------


def _cluster(emr: Any, *, keep_alive: bool, steps: list[dict[str, Any]] | None = None) -> str:
    return emr.run_job_flow(
        Name=f"cluster-{secrets.token_hex(3)}",
        ReleaseLabel="emr-6.15.0",
        Instances={"InstanceCount": 1, "MasterInstanceType": "m5.xlarge", "KeepJobFlowAliveWhenNoSteps": keep_alive},
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
        LogUri="s3://emu-emr-logs/",
        Steps=steps or [],
    )["JobFlowId"]


def _step(name: str, action: str = "CONTINUE") -> dict[str, Any]:
    return {"Name": name, "ActionOnFailure": action, "HadoopJarStep": {"Jar": "command-runner.jar", "Args": ["spark-submit", "job.py"]}}


def test_emr_steps_progress_one_at_a_time_and_fail_with_details(emulator: Any, emulator_scenario: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.05, "steps": {"Prepare": {"seconds": 0.4}, "Aggregate": {"seconds": 0.3, "fail": {"reason": "Spark job failed: OOM", "attempts": [1]}}}})
    emr = emulator.client("emr")
    ex = execution_id()
    cluster = _cluster(emr, keep_alive=True)
    prepare, aggregate = job_name("Prepare", ex, salt="1"), job_name("Aggregate", ex, salt="1")
    ids = emr.add_job_flow_steps(JobFlowId=cluster, Steps=[_step(prepare), _step(aggregate)])["StepIds"]

    def states() -> tuple[str, ...]:  # one consistent snapshot of both steps
        jobs = {j["step_id"]: j["status"] for j in emulator.state()["jobs"] if j.get("cluster_id") == cluster}
        return tuple(jobs[i] for i in ids)

    seen = [states()]
    deadline = time.monotonic() + 15
    while seen[-1][1] not in ("COMPLETED", "FAILED") and time.monotonic() < deadline:
        time.sleep(0.01)
        current = states()
        if current != seen[-1]:
            seen.append(current)
    order = {"PENDING": 0, "RUNNING": 1, "COMPLETED": 2, "FAILED": 2}
    for i in (0, 1):  # each step moves forward only
        assert [order[s[i]] for s in seen] == sorted(order[s[i]] for s in seen), seen
    assert seen[0] == ("PENDING", "PENDING") and ("RUNNING", "PENDING") in seen and ("COMPLETED", "RUNNING") in seen, seen
    assert ("RUNNING", "RUNNING") not in seen and seen[-1] == ("COMPLETED", "FAILED"), seen  # one at a time (StepConcurrencyLevel 1)
    for step_id, state in zip(ids, seen[-1]):  # what DescribeStep says
        response = emr.describe_step(ClusterId=cluster, StepId=step_id)
        assert_valid_output("DescribeStep", response, service="emr")
        assert response["Step"]["Status"]["State"] == state
    failure = emr.describe_step(ClusterId=cluster, StepId=ids[1])["Step"]["Status"]
    assert failure["FailureDetails"] == {"Reason": "Spark job failed: OOM", "Message": "Spark job failed: OOM", "LogFile": f"s3://emu-emr-logs/{cluster}/steps/{ids[1]}"}
    assert emr.describe_cluster(ClusterId=cluster)["Cluster"]["Status"]["State"] == "WAITING"
    retried = job_name("Aggregate", ex, salt="2")  # an Airflow retry of the task: attempt 2 succeeds
    again = emr.add_job_flow_steps(JobFlowId=cluster, Steps=[_step(retried)])["StepIds"][0]
    wait_for(lambda: emr.describe_step(ClusterId=cluster, StepId=again)["Step"]["Status"]["State"] == "COMPLETED", what="the retried EMR step")
    assert [(j["step"], j["attempt"], j["status"]) for j in emulator.state()["jobs"] if j.get("cluster_id") == cluster] == [
        ("Prepare", 1, "COMPLETED"), ("Aggregate", 1, "FAILED"), ("Aggregate", 2, "COMPLETED")
    ]


def test_emr_run_job_flow_steps_complete_and_the_cluster_terminates(emulator: Any, emulator_scenario: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.1})
    emr = emulator.client("emr")
    cluster = _cluster(emr, keep_alive=False, steps=[_step(f"unscripted-{secrets.token_hex(3)}")])
    step_id = emr.list_steps(ClusterId=cluster)["Steps"][0]["Id"]
    wait_for(lambda: emr.describe_step(ClusterId=cluster, StepId=step_id)["Step"]["Status"]["State"] == "COMPLETED", what="the step")
    wait_for(lambda: emr.describe_cluster(ClusterId=cluster)["Cluster"]["Status"]["State"] == "TERMINATED", what="the cluster to terminate")
    failing = f"doomed-{secrets.token_hex(3)}"
    emulator_scenario({"default_step_seconds": 0.1, "steps": {"Doomed": {"job_name_prefix": failing, "fail": "boom"}}})
    cluster = _cluster(emr, keep_alive=True, steps=[_step(failing, "TERMINATE_CLUSTER"), _step(f"{failing}x-after")])
    ids = {s["Name"]: s["Id"] for s in emr.list_steps(ClusterId=cluster)["Steps"]}
    first, second = ids[failing], ids[f"{failing}x-after"]
    wait_for(lambda: emr.describe_step(ClusterId=cluster, StepId=first)["Step"]["Status"]["State"] == "FAILED", what="the failing step")
    assert emr.describe_step(ClusterId=cluster, StepId=second)["Step"]["Status"]["State"] == "CANCELLED"
    assert emr.describe_cluster(ClusterId=cluster)["Cluster"]["Status"]["State"] == "TERMINATED_WITH_ERRORS"


# -- SQS: translated Callback steps ----------------------------------------------------------------


def test_translated_callback_requests_are_answered_from_the_scenario(emulator: Any, emulator_scenario: Any) -> None:
    emulator_scenario(
        {
            "steps": {
                "Approve": {"callback": {"answer": "success", "after_seconds": 0.05, "output_parameters": {"decision": "approve", "score": 0.5}}},
                "Reject": {"callback": {"answer": "failure", "reason": "rejected by the reviewer"}},
            }
        }
    )
    sqs = emulator.client("sqs")
    suffix = secrets.token_hex(3)
    requests = sqs.create_queue(QueueName=f"approvals-{suffix}")["QueueUrl"]
    replies = sqs.create_queue(QueueName=f"approvals-{suffix}-replies")["QueueUrl"]

    def request(step: str, token: str, reply_queue: str) -> None:  # what translation/callback.py sends
        body = {"token": token, "pipelineExecutionArn": "arn:x", "arguments": {"a": 1}, "status": "Executing", "smpipeReplyQueueUrl": reply_queue, "smpipeStep": step, "airflowRunId": "r"}
        sqs.send_message(QueueUrl=requests, MessageBody=json.dumps(body))

    def replies_on(url: str) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])]

    request("Approve", f"tok{suffix}A", replies)
    request("Unscripted", f"tok{suffix}U", replies)  # no script: the test would answer it
    assert wait_for(lambda: replies_on(replies), what="the scripted answer") == [
        {"token": f"tok{suffix}A", "status": "Success", "outputParameters": [{"Name": "decision", "Value": "approve"}, {"Name": "score", "Value": "0.5"}]}
    ]
    missing = f"https://sqs.us-east-1.amazonaws.com/123456789012/elsewhere-{suffix}"  # created when missing, as for executions
    request("Reject", f"tok{suffix}R", missing)
    wait_for(lambda: any(j["name"] == f"tok{suffix}R" and j["status"] == "Answered" for j in emulator.state()["jobs"]), what="the failure answer")
    answered = replies_on(sqs.get_queue_url(QueueName=f"elsewhere-{suffix}")["QueueUrl"])
    assert answered == [{"token": f"tok{suffix}R", "status": "Failure", "outputParameters": [], "failureReason": "rejected by the reviewer"}]
    assert [j["step"] for j in emulator.state()["jobs"] if j["type"] == "Callback" and suffix in j["name"]] == ["Approve", "Reject"]
    assert len(sqs.receive_message(QueueUrl=requests, MaxNumberOfMessages=10).get("Messages", [])) == 3  # the requests themselves are untouched
