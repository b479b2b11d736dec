"""Whole executions of the four SDK fixture definitions, with scenarios taking each condition both ways."""

from __future__ import annotations

import json
from typing import Any

from emulator_helpers import Pipelines


def _statuses(pipelines: Pipelines, arn: str) -> dict[str, str]:
    return {name: row["StepStatus"] for name, row in pipelines.steps(arn).items()}


# -- abalone ----------------------------------------------------------------------------------------


def _abalone_scenario(mse: float) -> dict[str, Any]:
    return {
        "default_step_seconds": 0.02,
        "steps": {
            "PreprocessAbaloneData": {"files": {"validation": {"stats.json": {"record_count": 627}}}},
            "TrainAbaloneModel": {"metrics": {"validation:rmse": 2.1}},
            "EvaluateAbaloneModel": {"files": {"evaluation": {"evaluation.json": {"regression_metrics": {"mse": {"value": mse}}}}}},
        },
    }


def test_abalone_condition_true_registers_creates_and_transforms(pipelines: Pipelines, emulator_scenario: Any, sm: Any) -> None:
    emulator = emulator_scenario(_abalone_scenario(4.2))
    name = pipelines.create("abalone", "abalone")
    arn = pipelines.run(name, parameters={"ModelApprovalStatus": "Approved"})

    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert described["PipelineExecutionStatus"] == "Succeeded"
    assert "FailureReason" not in described
    assert described["PipelineExperimentConfig"] == {"ExperimentName": name, "TrialName": arn.rsplit("/", 1)[1]}
    steps = pipelines.steps(arn)
    assert set(steps) == {
        "PreprocessAbaloneData", "TrainAbaloneModel", "EvaluateAbaloneModel", "CheckMSEAbaloneEvaluation",
        "RegisterAbaloneModel-RegisterModel", "CreateAbaloneModel-CreateModel", "AbaloneTransform",
    }  # fmt: skip
    assert all(row["StepStatus"] == "Succeeded" and row["AttemptCount"] == 1 for row in steps.values())
    assert steps["CheckMSEAbaloneEvaluation"]["Metadata"] == {"Condition": {"Outcome": "True"}}

    # Job steps created real moto resources from the resolved requests, described afterwards.
    train_arn = steps["TrainAbaloneModel"]["Metadata"]["TrainingJob"]["Arn"]
    train = sm.describe_training_job(TrainingJobName=train_arn.rsplit("/", 1)[1])
    assert train["TrainingJobStatus"] == "Completed"
    assert train["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"  # Parameters.TrainingInstanceType default
    assert train["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"].endswith("/PreprocessAbaloneData/output/train")
    assert {m["MetricName"]: m["Value"] for m in train["FinalMetricDataList"]} == {"validation:rmse": 2.1}
    model_name = steps["CreateAbaloneModel-CreateModel"]["Metadata"]["Model"]["Arn"].rsplit("/", 1)[1]
    model = sm.describe_model(ModelName=model_name)
    assert model["PrimaryContainer"]["ModelDataUrl"] == train["ModelArtifacts"]["S3ModelArtifacts"]
    transform = sm.describe_transform_job(TransformJobName=steps["AbaloneTransform"]["Metadata"]["TransformJob"]["Arn"].rsplit("/", 1)[1])
    assert transform["ModelName"] == model_name
    package = sm.describe_model_package(ModelPackageName=steps["RegisterAbaloneModel-RegisterModel"]["Metadata"]["RegisterModel"]["Arn"])
    assert package["ModelApprovalStatus"] == "Approved"

    # The property file the condition read is in moto S3 where the scenario put it.
    state = pipelines.step_state(arn)
    assert state["CheckMSEAbaloneEvaluation"]["request"]["Conditions"][0]["LeftValue"] == 4.2
    s3 = emulator.client("s3")
    uri = next(n for n in state["EvaluateAbaloneModel"]["notes"] if n.startswith("wrote "))[len("wrote s3://") :]
    bucket, key = uri.split("/", 1)
    assert json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) == {"regression_metrics": {"mse": {"value": 4.2}}}


def test_abalone_condition_false_ends_in_the_fail_step(pipelines: Pipelines, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario(_abalone_scenario(7.5))
    name = pipelines.create("abalone", "abalone")
    arn = pipelines.run(name, parameters={"MseThreshold": "6.5"})

    described = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    assert described["PipelineExecutionStatus"] == "Failed"
    assert described["FailureReason"] == "Step failure: One or multiple steps failed."
    steps = pipelines.steps(arn)
    assert steps["CheckMSEAbaloneEvaluation"]["Metadata"] == {"Condition": {"Outcome": "False"}}
    fail = steps["AbaloneMSEFail"]
    assert fail["StepStatus"] == "Failed"
    assert fail["FailureReason"] == "Execution failed due to MSE > 6.5"
    assert fail["Metadata"] == {"Fail": {"ErrorMessage": "Execution failed due to MSE > 6.5"}}
    assert not {"RegisterAbaloneModel-RegisterModel", "CreateAbaloneModel-CreateModel", "AbaloneTransform"} & set(steps)
    summary = sm.list_pipeline_executions(PipelineName=name)["PipelineExecutionSummaries"][0]
    assert summary["PipelineExecutionFailureReason"] == "Step failure: One or multiple steps failed."


# -- function steps ---------------------------------------------------------------------------------


def _function_scenario(total: int) -> dict[str, Any]:
    return {
        "steps": {
            "make_numbers": {"files": {"output": {"results.json": {"Result": {"items": [0, 1], "tag": "demo", "total": total}, "Exception": None}}}},
            "summarize": {"files": {"output": {"results.json": {"Result": [total, "x"], "Exception": None}}}},
        }
    }


def test_function_steps_total_big_fails_with_the_json_get_message(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario(_function_scenario(20))
    arn = pipelines.run(pipelines.create("function_step", "fn"))
    steps = pipelines.steps(arn)
    assert _statuses(pipelines, arn) == {"make_numbers": "Succeeded", "summarize": "Succeeded", "TotalBig": "Succeeded", "TooBig": "Failed"}
    assert steps["TotalBig"]["Metadata"]["Condition"]["Outcome"] == "True"
    assert steps["TooBig"]["Metadata"]["Fail"]["ErrorMessage"] == "total too big: 20"
    # Execution.PipelineExecutionId and the upstream S3 output path reached the function step's arguments.
    request = pipelines.step_state(arn)["summarize"]["request"]
    execution_id = arn.rsplit("/", 1)[1]
    assert execution_id in request["AlgorithmSpecification"]["ContainerArguments"]
    assert request["TrainingJobName"].startswith(f"pipelines-{execution_id}-summarize-")


def test_function_steps_small_total_succeeds_without_the_fail_step(pipelines: Pipelines, emulator_scenario: Any) -> None:
    emulator_scenario(_function_scenario(4))
    arn = pipelines.run(pipelines.create("function_step", "fn"), parameters={"N": 2, "Label": "tiny"})
    assert _statuses(pipelines, arn) == {"make_numbers": "Succeeded", "summarize": "Succeeded", "TotalBig": "Succeeded"}
    assert pipelines.steps(arn)["TotalBig"]["Metadata"]["Condition"]["Outcome"] == "False"
    args = pipelines.step_state(arn)["make_numbers"]["request"]["AlgorithmSpecification"]["ContainerArguments"]
    assert "2" in args and "tiny" in args  # Parameters.N (in a string-form Join) and Parameters.Label


# -- integrations -----------------------------------------------------------------------------------


def _integrations(fixture_definition: Any) -> dict[str, Any]:
    """integrations.json minus the two job-name execution variables in a Lambda step's arguments.

    ``Execution.TrainingJobName``/``ProcessingJobName`` only have a value inside a Training/Processing
    step; the unmodified fixture fails at NotifyLambda (see the next test)."""
    document = fixture_definition("integrations")
    lam = next(s for s in document["Steps"] if s["Name"] == "NotifyLambda")
    values = lam["Arguments"]["exec_vars"]["Std:Join"]["Values"]
    lam["Arguments"]["exec_vars"]["Std:Join"]["Values"] = [v for v in values if v.get("Get") not in ("Execution.TrainingJobName", "Execution.ProcessingJobName")]
    return document


def _integrations_scenario(decision: str) -> dict[str, Any]:
    return {
        "steps": {
            "TuneXGB": {"metrics": {"validation:rmse": 0.31}},
            "NotifyLambda": {"output_parameters": {"status": "ok", "score": 0.9}},
            "ManualApproval": {"callback": {"answer": "success", "after_seconds": 0.05, "output_parameters": {"decision": decision, "count": 2}}},
        }
    }


def test_integrations_approved_runs_emr_on_a_new_cluster(pipelines: Pipelines, emulator_scenario: Any, fixture_definition: Any, sm: Any) -> None:
    emulator = emulator_scenario(_integrations_scenario("approve"))
    name = pipelines.create(_integrations(fixture_definition), "integrations")
    arn = pipelines.run(name)
    steps = pipelines.steps(arn)
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Succeeded", steps
    assert set(steps) == {"TuneXGB", "NotifyLambda", "ManualApproval", "EMRExistingCluster", "ApprovalGate", "EMRNewCluster"}
    assert steps["ApprovalGate"]["Metadata"]["Condition"]["Outcome"] == "True"

    # Tuning: a moto tuning job named from the kept prefix; best job and summaries synthesised.
    tuning_arn = steps["TuneXGB"]["Metadata"]["TuningJob"]["Arn"]
    tuning_name = tuning_arn.rsplit("/", 1)[1]
    assert tuning_name.startswith("xgbtune-") and len(tuning_name) <= 32
    tuning = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning_name)
    assert tuning["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 4
    assert tuning["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == 0.31
    state = pipelines.step_state(arn)
    assert len(state["TuneXGB"]["properties"]["TrainingJobSummaries"]) == 4

    # Lambda: arguments resolved (tuning outputs, experiment config), outputs from the scenario.
    payload = state["NotifyLambda"]["request"]["Payload"]
    assert payload["best_job"] == tuning["BestTrainingJob"]["TrainingJobName"]
    assert payload["experiment"] == f"exp-{name}" and payload["trial"] == arn.rsplit("/", 1)[1]
    assert payload["param_bool"] is False and payload["literal_int"] == 7
    assert steps["NotifyLambda"]["Metadata"]["Lambda"] == {
        "Arn": "arn:aws:lambda:us-east-1:123456789012:function:notify",
        "OutputParameters": [{"Name": "status", "Value": "ok"}, {"Name": "score", "Value": "0.9"}],
    }

    # Callback: the SQS message went to moto's approval-queue; the scripted answer's outputs are typed.
    callback = steps["ManualApproval"]["Metadata"]["Callback"]
    assert callback["SqsQueueUrl"].endswith("/approval-queue")
    assert callback["OutputParameters"] == [{"Name": "decision", "Value": "approve"}, {"Name": "count", "Value": "2"}]
    assert state["ManualApproval"]["properties"] == {"OutputParameters": {"decision": "approve", "count": 2}}
    sqs = emulator.client("sqs")
    queue = sqs.get_queue_url(QueueName="approval-queue")["QueueUrl"]
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])]
    mine = [b for b in bodies if b["pipelineExecutionArn"] == arn]
    assert mine and mine[0]["token"] == callback["CallbackToken"] and mine[0]["status"] == "Executing"
    assert mine[0]["arguments"] == {"status_via_properties": "ok", "status_via_output_object": "ok", "exec_arn": arn}

    # EMR: the existing cluster is not in moto (synthesised); the new cluster is a moto RunJobFlow.
    assert steps["EMRExistingCluster"]["Metadata"]["EMR"]["ClusterId"] == "j-1ABCDEFGHIJKL"
    emr_meta = steps["EMRNewCluster"]["Metadata"]["EMR"]
    emr = emulator.client("emr")
    emr_step = emr.describe_step(ClusterId=emr_meta["ClusterId"], StepId=emr_meta["StepId"])["Step"]
    assert emr_step["Name"] == emr_meta["StepName"] and emr_step["Config"]["Args"] == ["echo", "hello"]
    assert state["EMRNewCluster"]["properties"]["Status"]["State"] == "COMPLETED"


def test_integrations_rejected_runs_both_fail_steps(pipelines: Pipelines, emulator_scenario: Any, fixture_definition: Any, sm: Any) -> None:
    emulator_scenario(_integrations_scenario("reject"))
    arn = pipelines.run(pipelines.create(_integrations(fixture_definition), "integrations"))
    steps = pipelines.steps(arn)
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Failed"
    assert steps["ApprovalGate"]["Metadata"]["Condition"]["Outcome"] == "False"
    assert "EMRNewCluster" not in steps
    assert steps["Rejected"]["FailureReason"] == f"Rejected by approver; execution {arn.rsplit('/', 1)[1]}"
    assert steps["NotApprovedPlain"]["Metadata"] == {"Fail": {"ErrorMessage": "plain string message"}}


def test_unmodified_integrations_fails_at_the_lambda_naming_the_variable(pipelines: Pipelines, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario(_integrations_scenario("approve"))
    arn = pipelines.run(pipelines.create("integrations", "integrations"))
    steps = pipelines.steps(arn)
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Failed"
    assert steps["NotifyLambda"]["StepStatus"] == "Failed"
    assert "Execution.TrainingJobName is only defined inside a Training step" in steps["NotifyLambda"]["FailureReason"]
    assert set(steps) == {"TuneXGB", "NotifyLambda"}


# -- misc steps -------------------------------------------------------------------------------------


def test_misc_steps_every_remaining_step_type(pipelines: Pipelines, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.02, "steps": {"AutoMLTrain": {"metrics": {"validation:f1": 0.8}}}})
    arn = pipelines.run(pipelines.create("misc_steps", "misc"), parameters={"SkipDataQualityCheck": "True"})
    steps = pipelines.steps(arn)
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Succeeded", {
        n: r.get("FailureReason") for n, r in steps.items()
    }
    assert len(steps) == 13 and all(r["StepStatus"] == "Succeeded" for r in steps.values())
    meta = {name: row["Metadata"] for name, row in steps.items()}
    # QualityCheck with SkipCheck (a Boolean parameter sent as "True") runs no job.
    assert meta["DataQualityCheck"]["QualityCheck"]["SkipCheck"] is True
    assert "CheckJobArn" not in meta["DataQualityCheck"]["QualityCheck"]
    monitoring = meta["MonitorBT-monitoring"]["QualityCheck"]
    assert monitoring["BaselineUsedForDriftCheckStatistics"] == "s3://my-ml-bucket/baseline/statistics.json"
    assert sm.describe_processing_job(ProcessingJobName=monitoring["CheckJobArn"].rsplit("/", 1)[1])["ProcessingJobStatus"] == "Completed"
    assert meta["DataBiasCheck"]["ClarifyCheck"]["CheckType"] == "DATA_BIAS"
    assert meta["AutoMLTrain"]["AutoMLJob"]["Arn"].startswith("arn:aws:sagemaker:us-east-1:123456789012:automl-job/")
    # Notebook step: the kept, timestamped TrainingJobName is a prefix, never reused verbatim.
    notebook = meta["RunNotebook"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]
    assert notebook.startswith("analysis-ipynb-2026-11-21-02-29-58-775-")
    # Endpoint config / endpoint keep their names; the endpoint serves the repacked model.
    assert meta["CreateEPConfig"]["EndpointConfig"]["Arn"].endswith(":endpoint-config/abalone-epc")
    assert sm.describe_endpoint(EndpointName="abalone-ep")["EndpointConfigName"] == "abalone-epc"
    assert meta["DeployComponent"]["InferenceComponent"]["Arn"].endswith("inference-component/abalone-ic")
    lineage = meta["RecordLineage"]["Lineage"]
    assert lineage["Associations"] == [{"SourceArn": lineage["ActionArns"]["training-run"], "DestinationArn": lineage["ArtifactArns"]["trained-model"]}]
    repack = pipelines.step_state(arn)["CreateRepackedModel-RepackModel-repackdemo"]["request"]
    assert repack["HyperParameters"]["model_archive"].endswith("/output/model.tar.gz")
