"""The SDK fixture pipelines run end to end as translated DAGs (dag.test) against the emulator,
taking each Condition both ways; plus retry policies and task retries on scripted jobs."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pendulum
import pytest

from airflow_provider_smpipe.translation import SageMakerPipelineDag
from airflow_provider_smpipe.translation.runtime import execution_id_for
from native_helpers import FIXTURES, run_dag, task_instance, task_states, unique, xcom

START = pendulum.datetime(2026, 1, 1, tz="UTC")


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "definitions" / f"{name}.json").read_text())


def translated(definition: Any, **kwargs: Any) -> SageMakerPipelineDag:
    return SageMakerPipelineDag(
        definition=definition, dag_id=unique("fx"), schedule=None, start_date=START, poll_interval=0.05, deferrable=True, **kwargs
    )


def jobs(emulator: Any, kind: str, run: Any, step: str) -> list[dict[str, Any]]:
    """The jobs of ``kind`` created for ``step`` in this run (job names carry the run's execution id)."""
    execution_id = execution_id_for(run.dag_id, run.run_id)
    found = [j for j in emulator.state().get("jobs", []) if j.get("type") == kind and j.get("step") == step and j.get("execution_id") == execution_id]
    return sorted(found, key=lambda j: j["attempt"])


# -- abalone -----------------------------------------------------------------------------------------


def abalone_scenario(mse: float) -> dict[str, Any]:
    return {
        "default_step_seconds": 0.05,
        "steps": {
            "PreprocessAbaloneData": {"files": {"validation": {"stats.json": {"record_count": 627}}}},
            "TrainAbaloneModel": {"metrics": {"validation:rmse": 2.1}},
            "EvaluateAbaloneModel": {"files": {"evaluation": {"evaluation.json": {"regression_metrics": {"mse": {"value": mse}}}}}},
        },
    }


def test_abalone_condition_true_registers_creates_and_transforms(airflow_env: Any) -> None:
    airflow_env(abalone_scenario(4.2))
    run = run_dag(translated(fixture("abalone")), run_conf={"ModelApprovalStatus": "Approved"})
    assert task_states(run) == {
        "PreprocessAbaloneData": "success", "TrainAbaloneModel": "success", "EvaluateAbaloneModel": "success",
        "CheckMSEAbaloneEvaluation": "success", "RegisterAbaloneModel-RegisterModel": "success",
        "CreateAbaloneModel-CreateModel": "success", "AbaloneTransform": "success", "AbaloneMSEFail": "skipped",
    }  # fmt: skip
    assert xcom(run, "CheckMSEAbaloneEvaluation") == {"Outcome": True}
    assert xcom(run, "EvaluateAbaloneModel", "property_files")["EvaluationReport"] == {"regression_metrics": {"mse": {"value": 4.2}}}
    train, model = xcom(run, "TrainAbaloneModel"), xcom(run, "CreateAbaloneModel-CreateModel")
    # Property references were resolved from XCom: the model serves the training job's artifacts,
    # the transform uses the model created in this run, the package is approved as the conf said.
    assert model["PrimaryContainer"]["ModelDataUrl"] == train["ModelArtifacts"]["S3ModelArtifacts"]
    assert xcom(run, "AbaloneTransform")["ModelName"] == model["ModelName"]
    package = xcom(run, "RegisterAbaloneModel-RegisterModel")
    assert package["ModelApprovalStatus"] == "Approved" and package["ModelPackageGroupName"] == "AbaloneModelPackageGroupName"
    assert {m["MetricName"]: m["Value"] for m in train["FinalMetricDataList"]} == {"validation:rmse": 2.1}


def test_abalone_condition_false_fails_the_run_with_the_fail_message(airflow_env: Any, capfd: Any) -> None:
    airflow_env(abalone_scenario(7.5))
    run = run_dag(translated(fixture("abalone")), run_conf={"MseThreshold": 6.5})
    states = task_states(run)
    assert states["CheckMSEAbaloneEvaluation"] == "success" and states["AbaloneMSEFail"] == "failed"
    assert {states[s] for s in ("RegisterAbaloneModel-RegisterModel", "CreateAbaloneModel-CreateModel", "AbaloneTransform")} == {"skipped"}
    assert str(run.state) in ("failed", "DagRunState.FAILED")
    assert "Step 'AbaloneMSEFail' failed with message: Execution failed due to MSE > 6.5" in capfd.readouterr().out


# -- function steps ----------------------------------------------------------------------------------


def function_scenario(total: int) -> dict[str, Any]:
    return {
        "default_step_seconds": 0.05,
        "steps": {
            "make_numbers": {"files": {"output": {"results.json": {"Result": {"items": [0, 1], "tag": "demo", "total": total}, "Exception": None}}}},
            "summarize": {"files": {"output": {"results.json": {"Result": [total, "x"], "Exception": None}}}},
        },
    }


@pytest.mark.parametrize(("total", "too_big"), [(20, True), (4, False)])
def test_function_steps_both_ways(airflow_env: Any, capfd: Any, total: int, too_big: bool) -> None:
    airflow_env(function_scenario(total))
    run = run_dag(translated(fixture("function_step")), run_conf={"N": 3, "Label": "demo"})
    states = task_states(run)
    assert states["make_numbers"] == states["summarize"] == states["TotalBig"] == "success"
    assert xcom(run, "TotalBig") == {"Outcome": too_big}
    assert states["TooBig"] == ("failed" if too_big else "skipped")
    if too_big:
        assert "Step 'TooBig' failed with message: total too big: 20" in capfd.readouterr().out
    # The literal "--property_references" strings stay as written; their expressions were resolved.
    args = xcom(run, "make_numbers")["AlgorithmSpecification"]["ContainerArguments"]
    assert "Parameters.N" in args and "3" in args


# -- integrations ------------------------------------------------------------------------------------


def integrations(emulator: Any) -> dict[str, Any]:
    """integrations.json with two honest edits: the existing EMR cluster is one that exists (moto's),
    and the Lambda step's arguments drop Execution.TrainingJobName / ProcessingJobName, which only
    have a value inside a Training / Processing step (the unmodified fixture fails there, see below)."""
    document = fixture("integrations")
    emr = emulator.client("emr")
    cluster = emr.run_job_flow(
        Name=unique("cluster"),
        ReleaseLabel="emr-7.0.0",
        Instances={"InstanceGroups": [{"InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1}], "KeepJobFlowAliveWhenNoSteps": True},
        JobFlowRole="EMR_EC2_DefaultRole",
        ServiceRole="EMR_DefaultRole",
    )["JobFlowId"]
    for step in document["Steps"]:
        if step["Name"] == "EMRExistingCluster":
            step["Arguments"]["ClusterId"] = cluster
        if step["Name"] == "NotifyLambda":
            join = step["Arguments"]["exec_vars"]["Std:Join"]
            join["Values"] = [v for v in join["Values"] if v.get("Get") not in ("Execution.TrainingJobName", "Execution.ProcessingJobName")]
    return document


def integrations_scenario(decision: str) -> dict[str, Any]:
    return {
        "default_step_seconds": 0.05,
        "lambda": {"arn:aws:lambda:us-east-1:123456789012:function:notify": {"response": {"status": "ok", "score": 0.9, "extra": 1}}},
        "steps": {
            "TuneXGB": {"job_name_prefix": "xgbtune", "metrics": {"validation:rmse": 0.31}},
            "ManualApproval": {"callback": {"answer": "success", "after_seconds": 0.05, "output_parameters": {"decision": decision, "count": 2}}},
        },
    }


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_integrations_tuning_lambda_callback_emr_both_ways(airflow_env: Any, emulator: Any, decision: str) -> None:
    airflow_env(integrations_scenario(decision))
    emulator.client("sqs").create_queue(QueueName="approval-queue")
    # The reply queue a translated Callback step waits on is the user's to create (README); relying
    # on the emulator creating it when it answers raced the trigger's first read.
    emulator.client("sqs").create_queue(QueueName="approval-queue-replies")
    dag = translated(integrations(emulator), pipeline_name="IntegrationsPipeline")
    run = run_dag(dag)
    states = task_states(run)
    for step in ("TuneXGB", "NotifyLambda", "ManualApproval", "EMRExistingCluster", "ApprovalGate"):
        assert states[step] == "success", (step, states)
    tuning = xcom(run, "TuneXGB")
    assert tuning["HyperParameterTuningJobName"].startswith("xgbtune-") and len(tuning["HyperParameterTuningJobName"]) <= 32
    assert len(tuning["TrainingJobSummaries"]) >= 2
    assert xcom(run, "NotifyLambda") == {"OutputParameters": {"status": "ok", "score": 0.9}}  # typed, undeclared dropped
    [invocation] = [i for i in emulator.state().get("invocations", []) if i.get("payload", {}).get("best_job") == tuning["BestTrainingJob"]["TrainingJobName"]]
    assert invocation["payload"]["experiment"] == "exp-IntegrationsPipeline" and invocation["payload"]["literal_int"] == 7
    assert xcom(run, "ManualApproval") == {"OutputParameters": {"decision": decision, "count": 2}}
    assert xcom(run, "EMRExistingCluster")["Status"]["State"] == "COMPLETED"
    assert xcom(run, "ApprovalGate") == {"Outcome": decision == "approve"}
    if decision == "approve":
        assert states["EMRNewCluster"] == "success" and states["Rejected"] == states["NotApprovedPlain"] == "skipped"
        assert xcom(run, "EMRNewCluster")["Config"]["Args"] == ["echo", "hello"]
    else:
        assert states["EMRNewCluster"] == "skipped" and states["Rejected"] == states["NotApprovedPlain"] == "failed"


def test_unmodified_integrations_fails_at_the_lambda_naming_the_variable(airflow_env: Any, emulator: Any, capfd: Any) -> None:
    airflow_env(integrations_scenario("approve"))
    document = integrations(emulator)
    document["Steps"][1] = fixture("integrations")["Steps"][1]  # NotifyLambda as the SDK wrote it
    run = run_dag(translated(document))
    assert task_states(run)["NotifyLambda"] == "failed"
    assert "Execution.TrainingJobName is only defined inside a Training step (this is Lambda step)" in capfd.readouterr().out
    assert not [i for i in emulator.state().get("invocations", []) if i.get("function", "").endswith(":notify") and i.get("run") == run.run_id]


# -- misc steps --------------------------------------------------------------------------------------


def test_misc_steps_translatable_types_run(airflow_env: Any) -> None:
    """misc_steps.json is refused as a whole (it has check and lineage steps, see the build tests);
    the step types translation supports from it run: AutoML, a notebook step, a repack Training,
    CreateModel, EndpointConfig, Endpoint and a Transform."""
    document = fixture("misc_steps")
    refused = {"DataQualityCheck", "DataBiasCheck", "MonitorBT-monitoring", "RecordLineage", "DeployComponent"}
    document["Steps"] = [s for s in document["Steps"] if s["Name"] not in refused]
    for step in document["Steps"]:
        step["DependsOn"] = [d for d in step.get("DependsOn", []) if d not in refused]
        if step["Type"] == "AutoML":
            step["Arguments"]["AutoMLJobName"] = "automl"  # AutoML names are 32 characters: keep a short prefix
    airflow_env({"default_step_seconds": 0.05, "steps": {"AutoMLTrain": {"job_name_prefix": "automl"}}})
    run = run_dag(translated(document))
    assert set(task_states(run).values()) == {"success"}, task_states(run)
    assert xcom(run, "RunNotebook")["TrainingJobName"] != fixture("misc_steps")["Steps"][3]["Arguments"].get("TrainingJobName")
    assert xcom(run, "DeployEndpoint")["EndpointStatus"] == "InService"
    assert xcom(run, "AutoMLTrain")["BestCandidateProperties"]["ModelInsightsJsonReportPath"]


# -- retries -----------------------------------------------------------------------------------------


def retrying_definition() -> dict[str, Any]:
    document = fixture("abalone")
    document["Steps"] = document["Steps"][:2]  # Preprocess -> Train
    document["Steps"][1]["RetryPolicies"] = [
        {"ExceptionType": ["SageMaker.CAPACITY_ERROR"], "IntervalSeconds": 0.2, "BackoffRate": 2.0, "MaxAttempts": 3}
    ]
    return document


def test_retry_policy_retries_a_capacity_failure_with_backoff(airflow_env: Any) -> None:
    emulator = airflow_env(
        {"default_step_seconds": 0.05, "steps": {"TrainAbaloneModel": {"fail": {"reason": "CapacityError: no ml.m5.xlarge capacity", "attempts": [1, 2]}}}}
    )
    run = run_dag(translated(retrying_definition()))
    assert task_states(run) == {"PreprocessAbaloneData": "success", "TrainAbaloneModel": "success"}
    assert task_instance(run, "TrainAbaloneModel").try_number == 1  # retried inside the task, by the policy
    trainings = jobs(emulator, "Training", run, "TrainAbaloneModel")
    assert [j["status"] for j in trainings] == ["Failed", "Failed", "Completed"]
    assert xcom(run, "TrainAbaloneModel")["TrainingJobName"] == trainings[-1]["name"]


def test_a_failure_no_policy_matches_is_not_retried(airflow_env: Any, capfd: Any) -> None:
    emulator = airflow_env({"default_step_seconds": 0.05, "steps": {"TrainAbaloneModel": {"fail": {"reason": "AlgorithmError: bad hyperparameter", "attempts": [1]}}}})
    run = run_dag(translated(retrying_definition()))
    assert task_states(run)["TrainAbaloneModel"] == "failed"
    assert len(jobs(emulator, "Training", run, "TrainAbaloneModel")) == 1
    assert "ended Failed: AlgorithmError: bad hyperparameter (attempt 1)" in capfd.readouterr().out


def test_a_task_retried_after_its_job_was_created_creates_no_second_job(airflow_env: Any) -> None:
    emulator = airflow_env({"default_step_seconds": 0.05, "steps": {"TrainAbaloneModel": {"seconds": 4.0}}})
    document = retrying_definition()
    document["Steps"][1].pop("RetryPolicies")
    dag = translated(document)
    train = dag.task_dict["TrainAbaloneModel"]
    train.retries, train.retry_delay = 1, timedelta(seconds=0)
    wait = train._wait

    def worker_lost_on_the_first_try(context: Any, trigger: Any) -> Any:
        if context["ti"].try_number == 1:
            raise RuntimeError("worker lost while the training job runs")
        return wait(context, trigger)

    train._wait = worker_lost_on_the_first_try  # the job is created, then the worker dies
    run = run_dag(dag)
    assert task_states(run) == {"PreprocessAbaloneData": "success", "TrainAbaloneModel": "success"}
    assert task_instance(run, "TrainAbaloneModel").try_number == 2
    trainings = jobs(emulator, "Training", run, "TrainAbaloneModel")
    assert len(trainings) == 1 and xcom(run, "TrainAbaloneModel")["TrainingJobName"] == trainings[0]["name"]
