"""A synthetic ForEach pipeline for ``bench_definition.py``: a fan-out over K items with a
three-step body (Processing -> Training -> Lambda), a MaxBy Selector, run conditions and a Cleanup.

Items are JSON-object strings read field by field with ``ForEach.CurrentItem``; given literally
(K <= 100, the service's limit for a literal list) or as a JSON list string from an upstream
Lambda step's output (any K; a parameter value is limited to 1024 characters). The dry-run inputs make every child succeed with its own metric, so the Selector compares
K values and every child and downstream step runs.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_smpipe.definition.dryrun import DryRunInputs

BUCKET = "smpipe-bench-bucket"
ROLE = "arn:aws:iam::123456789012:role/SageMakerPipelineRole"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
BODY = ("PrepareCandidate", "TrainCandidate", "RecordCandidate")


def _get(path: str) -> dict[str, str]:
    return {"Get": path}


def _join(*values: Any, on: str = "/") -> dict[str, Any]:
    return {"Std:Join": {"On": on, "Values": list(values)}}


def _item(index: int) -> str:
    return json.dumps({"name": f"candidate-{index}", "hp": {"max_depth": 3 + index % 7, "eta": round(0.05 + (index % 5) / 20, 2)}, "region": ["us", "eu", "ap"][index % 3]})


def _body() -> list[dict[str, Any]]:
    prepare = {
        "Name": "PrepareCandidate",
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}},
            "AppSpecification": {"ImageUri": IMAGE, "ContainerArguments": ["--region", _get("ForEach.CurrentItem.region"), "--run", _get("Execution.PipelineExecutionId")]},
            "RoleArn": ROLE,
            "ProcessingInputs": [{"InputName": "raw", "S3Input": {"S3Uri": _get("Steps.Prepare.ProcessingOutputConfig.Outputs['data'].S3Output.S3Uri"), "LocalPath": "/opt/ml/processing/raw", "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {"S3Uri": _join("s3:/", BUCKET, _get("Execution.PipelineExecutionId"), _get("ForEach.CurrentItem.name")), "LocalPath": "/opt/ml/processing/train", "S3UploadMode": "EndOfJob"}}]},
        },
    }
    train = {
        "Name": "TrainCandidate",
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            "HyperParameters": {"max_depth": _join(_get("ForEach.CurrentItem.hp.max_depth"), on=""), "eta": _join(_get("ForEach.CurrentItem['hp']['eta']"), on="")},
            "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": _get("Steps.PrepareCandidate.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri")}}}],
            "OutputDataConfig": {"S3OutputPath": _join("s3:/", BUCKET, "models", _get("ForEach.CurrentItem.name"))},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": _get("Parameters.TrainingInstanceType"), "VolumeSizeInGB": 30},
            "RoleArn": ROLE,
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
        "RetryPolicies": [{"ExceptionType": ["SageMaker.CAPACITY_ERROR"], "IntervalSeconds": 30, "BackoffRate": 2.0, "MaxAttempts": 3}],
    }
    record = {
        "Name": "RecordCandidate",
        "Type": "Lambda",
        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:record-candidate",
        "Arguments": {"model": _get("Steps.TrainCandidate.ModelArtifacts.S3ModelArtifacts"), "item": _get("ForEach.CurrentItem")},
        "OutputParameters": [{"OutputName": "recorded", "OutputType": "Boolean"}],
    }
    return [prepare, train, record]


def generate_for_each_definition(items: int, *, literal: bool = True) -> tuple[dict[str, Any], DryRunInputs]:
    """The definition and the dry-run inputs; ``items`` children of each of the 3 body steps."""
    if literal and not 1 <= items <= 100:
        raise ValueError("a literal IterableItems list holds 1 to 100 items")
    listed = [_item(i) for i in range(items)]
    parameters = [{"Name": "TrainingInstanceType", "Type": "String", "DefaultValue": "ml.m5.xlarge"}]
    lister = {
        "Name": "ListCandidates",
        "Type": "Lambda",
        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:list-candidates",
        "Arguments": {},
        "OutputParameters": [{"OutputName": "candidates", "OutputType": "String"}],
    }
    prepare = {
        "Name": "Prepare",
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}},
            "AppSpecification": {"ImageUri": IMAGE},
            "RoleArn": ROLE,
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "data", "S3Output": {"S3Uri": _join("s3:/", BUCKET, "data", _get("Execution.PipelineExecutionId")), "LocalPath": "/opt/ml/processing/data", "S3UploadMode": "EndOfJob"}}]},
        },
    }
    sweep = {
        "Name": "Sweep",
        "Type": "ForEach",
        "Arguments": {
            "IterableItems": listed if literal else _get("Steps.ListCandidates.OutputParameters['candidates']"),
            "MaxConcurrency": 10,
            "Selector": {"Pick": "MaxBy", "Field": _get("IterationOutput.TrainCandidate.FinalMetricDataList['validation:auc'].Value")},
            "ForEachBody": _body(),
        },
    }
    publish = {
        "Name": "PublishBest",
        "Type": "Lambda",
        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:publish",
        "Arguments": {
            "best": _get("Steps.Sweep.Selected.ModelArtifacts.S3ModelArtifacts"),
            "first": _get("Steps.Sweep.IterationOutputs[0].RecordCandidate.OutputParameters['recorded']"),
            "count": _get("Steps.Sweep.SucceededStepCount"),
        },
        "OutputParameters": [],
    }
    notify = {
        "Name": "NotifySweepFailed",
        "Type": "Lambda",
        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:notify",
        "Arguments": {"failed": _get("Steps.Sweep.FailedStepCount")},
        "DependsOn": [{"Step": "Sweep", "Trigger": "Failed"}],
        "OutputParameters": [],
    }
    clean = {
        "Name": "CleanupPrepared",
        "Type": "Cleanup",
        "Arguments": {"Resources": {"S3": [{"StepName": "Prepare", "S3Uris": [_join("s3:/", BUCKET, "data", _get("Execution.PipelineExecutionId"), "part-0")]}]}},
        "DependsOn": [{"Step": "Prepare", "Trigger": "Any"}, {"Step": "Sweep", "Trigger": "Any"}],
    }
    document = {
        "Version": "2020-12-01",
        "Metadata": {},
        "MlflowConfig": None,
        "Parameters": parameters,
        "PipelineExperimentConfig": {"ExperimentName": _get("Execution.PipelineName"), "TrialName": _get("Execution.PipelineExecutionId")},
        "Steps": [prepare, sweep, publish, notify, clean] if literal else [lister, prepare, sweep, publish, notify, clean],
    }
    outputs: dict[str, Any] = {
        f"TrainCandidate-{i}": {"FinalMetricDataList": [{"MetricName": "validation:auc", "Value": 0.5 + (i * 37 % 101) / 250}]} for i in range(items)
    }
    outputs["RecordCandidate"] = {"OutputParameters": {"recorded": "true"}}
    if not literal:
        outputs["ListCandidates"] = {"OutputParameters": {"candidates": json.dumps(listed)}}
    inputs = DryRunInputs(
        step_outputs=outputs,
        execution={"PipelineName": "bench-foreach", "StartDateTime": "2026-01-01T00:00:00+00:00"},
    )
    return document, inputs


def executed_steps(report: dict[str, Any], items: int, *, literal: bool = True) -> int:
    """The steps and children the walk ran; raises when it did not run as intended."""
    ran = [name for name, step in report["steps"].items() if step["status"] == "Executed"]
    # Prepare, Sweep, PublishBest, CleanupPrepared (+ ListCandidates) + the children
    expected = (4 if literal else 5) + items * len(BODY)
    if report["execution_status"] != "Succeeded" or len(ran) != expected or "Selector" not in report["steps"]["Sweep"]["metadata"]:
        raise SystemExit(f"ForEach definition with {items} items did not dry-run as intended: {report['execution_status']}, {len(ran)} ran, {expected} expected")
    return len(ran)
