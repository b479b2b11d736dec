"""Step properties: what ``{"Get": "Steps.X...."}`` reads for each step type.

* :func:`normalize_properties` turns what a step returned (a Describe* response, Lambda/Callback
  ``OutputParameters`` as a map or a ``[{"Name", "Value"}]`` list) into the property root the service
  exposes, adding the aliases the SDK defines (notebook steps, AutoML, quality/clarify checks).
* :func:`synthesize_properties` builds the response a job step would have when it succeeded: the
  service echoes the request back in every Describe* response, adds name, ARN, status and (for
  training) the model artifact location. The dry-run uses it for steps the user gave no outputs for;
  results no request can predict (metrics, tuning winners, Lambda outputs) must be given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pendulum

from airflow_provider_smpipe.definition.errors import ParameterError
from airflow_provider_smpipe.definition.expressions import s3_join
from airflow_provider_smpipe.definition.model import Step
from airflow_provider_smpipe.definition.naming import sanitize_name_part
from airflow_provider_smpipe.definition.parameters import parse_float, parse_integer

ACCOUNT = "123456789012"

NOTEBOOK_ALIASES = {
    "ComputingJobName": ("TrainingJobName",),
    "ComputingJobStatus": ("TrainingJobStatus",),
    "NotebookJobInputLocation": ("InputDataConfig", 0, "DataSource", "S3DataSource", "S3Uri"),
    "NotebookJobOutputLocationPrefix": ("OutputDataConfig", "S3OutputPath"),
    "InputNotebookName": ("Environment", "SM_INPUT_NOTEBOOK_NAME"),
    "OutputNotebookName": ("Environment", "SM_OUTPUT_NOTEBOOK_NAME"),
}


def cast_output_value(step: Step, name: str, value: Any) -> Any:
    """Type a Lambda/Callback output by its declared ``OutputType`` (the service sends strings)."""
    declared = step.output_parameter(name)
    if declared is None:
        return value
    otype = declared.type
    try:
        if otype == "String":
            return value if isinstance(value, str) else str(value)
        if otype == "Boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
            raise ValueError
        if isinstance(value, bool):
            raise ValueError
        if otype == "Integer":
            if isinstance(value, float) and not value.is_integer():  # inf and nan are not integers either
                raise ValueError
            return parse_integer(value) if isinstance(value, str) else int(value)
        number = parse_float(value) if isinstance(value, str) else float(value)
        if not math.isfinite(number):  # "Infinity", "1e999": the report would not be JSON
            raise ValueError
        return number
    except (TypeError, ValueError, OverflowError):
        raise ParameterError(
            f"output parameter '{name}' of {step.type} step '{step.name}' is {value!r}",
            step=step.name,
            location=f"OutputParameters['{name}']",
            expected=f"{'an' if otype == 'Integer' else 'a'} {otype} value",
        ) from None


def output_parameters_map(step: Step, raw: Any) -> dict[str, Any]:
    """``{"a": 1}`` or ``[{"Name": "a", "Value": "1"}]`` -> ``{"a": <typed>}``."""
    if isinstance(raw, Mapping):
        items = list(raw.items())
    elif isinstance(raw, list):
        items = []
        for entry in raw:
            if not isinstance(entry, Mapping) or "Name" not in entry:
                raise ParameterError(
                    f"output parameters of step '{step.name}' must be {{name: value}} or [{{\"Name\", \"Value\"}}]",
                    step=step.name,
                    location="OutputParameters",
                )
            items.append((entry["Name"], entry.get("Value")))
    else:
        raise ParameterError(f"output parameters of step '{step.name}' are {type(raw).__name__}", step=step.name, location="OutputParameters")
    return {str(name): cast_output_value(step, str(name), value) for name, value in items}


def normalize_properties(step: Step, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The property root of ``step`` given what it returned (see module docstring)."""
    props = dict(raw)
    if step.type in ("Lambda", "Callback"):
        return {"OutputParameters": output_parameters_map(step, raw.get("OutputParameters", {}))}
    if step.type == "Training" and step.is_notebook_step:
        for alias, path in NOTEBOOK_ALIASES.items():
            if alias not in props:
                value = _dig(props, path)
                if value is not None:
                    props[alias] = value
    if step.type == "AutoML" and "BestCandidateProperties" not in props:
        locations = _dig(props, ("BestCandidate", "CandidateProperties", "CandidateArtifactLocations"))
        if isinstance(locations, Mapping):
            props["BestCandidateProperties"] = {
                "ModelInsightsJsonReportPath": locations.get("ModelInsights"),
                "ExplainabilityJsonReportPath": locations.get("Explainability"),
            }
    return props


def _dig(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def synthesize_properties(
    step: Step,
    arguments: Mapping[str, Any],
    *,
    job_name: str | None,
    fields: Mapping[str, Any] | None = None,
    region: str = "us-east-1",
    account: str = ACCOUNT,
    now: str | None = None,
) -> dict[str, Any]:
    """The properties a successful run of ``step`` with resolved ``arguments`` would expose."""
    stamp = now or pendulum.now("UTC").isoformat()
    arn = f"arn:aws:sagemaker:{region}:{account}"
    # A top-level copy suffices: only top-level keys are added, and the resolver already built
    # fresh containers (a deep copy here was a third of the dry-run's time).
    props: dict[str, Any] = dict(arguments)
    stype = step.type
    if stype in ("Processing", "QualityCheck", "ClarifyCheck"):
        props.update(
            ProcessingJobName=job_name,
            ProcessingJobArn=f"{arn}:processing-job/{str(job_name).lower()}",
            ProcessingJobStatus="Completed",
            CreationTime=stamp,
            ProcessingStartTime=stamp,
            ProcessingEndTime=stamp,
        )
        if stype != "Processing":
            props.update(_check_properties(step, props, fields or {}))
    elif stype == "Training":
        props.update(
            TrainingJobName=job_name,
            TrainingJobArn=f"{arn}:training-job/{str(job_name).lower()}",
            TrainingJobStatus="Completed",
            SecondaryStatus="Completed",
            CreationTime=stamp,
            TrainingStartTime=stamp,
            TrainingEndTime=stamp,
        )
        output_path = _dig(props, ("OutputDataConfig", "S3OutputPath"))
        if isinstance(output_path, str):
            props["ModelArtifacts"] = {"S3ModelArtifacts": s3_join(output_path, str(job_name), "output", "model.tar.gz")}
        props = normalize_properties(step, props)
    elif stype == "Transform":
        props.update(
            TransformJobName=job_name,
            TransformJobArn=f"{arn}:transform-job/{str(job_name).lower()}",
            TransformJobStatus="Completed",
            CreationTime=stamp,
        )
    elif stype == "Tuning":
        props.update(
            HyperParameterTuningJobName=job_name,
            HyperParameterTuningJobArn=f"{arn}:hyper-parameter-tuning-job/{str(job_name).lower()}",
            HyperParameterTuningJobStatus="Completed",
            CreationTime=stamp,
        )
    elif stype == "Model":
        props.update(ModelName=job_name, ModelArn=f"{arn}:model/{str(job_name).lower()}", CreationTime=stamp)
    elif stype == "RegisterModel":
        group = str(props.get("ModelPackageGroupName", "group"))
        props.update(
            ModelPackageArn=f"{arn}:model-package/{group.lower()}/1",
            ModelPackageVersion=1,
            ModelPackageStatus="Completed",
            ModelApprovalStatus=props.get("ModelApprovalStatus", "PendingManualApproval"),
            CreationTime=stamp,
        )
    elif stype == "AutoML":
        props.update(
            AutoMLJobName=job_name,
            AutoMLJobArn=f"{arn}:automl-job/{str(job_name).lower()}",
            AutoMLJobStatus="Completed",
            CreationTime=stamp,
        )
    elif stype == "EndpointConfig":
        name = props.get("EndpointConfigName", job_name)
        props.update(EndpointConfigName=name, EndpointConfigArn=f"{arn}:endpoint-config/{str(name).lower()}", CreationTime=stamp)
    elif stype == "Endpoint":
        name = props.get("EndpointName", job_name)
        props.update(EndpointName=name, EndpointArn=f"{arn}:endpoint/{str(name).lower()}", EndpointStatus="InService", CreationTime=stamp)
    elif stype == "InferenceComponent":
        name = props.get("InferenceComponentName", job_name)
        props.update(
            InferenceComponentName=name,
            InferenceComponentArn=f"{arn}:inference-component/{str(name).lower()}",
            InferenceComponentStatus="InService",
            CreationTime=stamp,
        )
    elif stype == "EMR":
        props = _emr_step(step, arguments, job_name)
    elif stype == "EMRServerless":
        props = _emr_serverless(arguments, job_name or step.name, region, account, stamp)
    elif stype == "Job":
        props.update(
            JobName=job_name,
            # botocore's JobArn pattern: ...:job/<JobCategory>/<JobName>
            JobArn=f"{arn}:job/{props.get('JobCategory', 'AgentRFT')}/{job_name}",
            JobStatus="Completed",
            CreationTime=stamp,
            LastModifiedTime=stamp,
            EndTime=stamp,
        )
    elif stype in ("Cleanup", "ForEach"):
        props = {}  # Cleanup has none; a ForEach's come from its children (foreach.FanOut.properties)
    elif stype == "Lineage":
        props = _lineage(arguments, arn)
    elif stype in ("Lambda", "Callback"):
        props = {"OutputParameters": {}}
    return props


def _emr_step(step: Step, arguments: Mapping[str, Any], job_name: str | None) -> dict[str, Any]:
    config = arguments.get("StepConfig")
    config = config if isinstance(config, Mapping) else {}
    jar = config.get("HadoopJarStep")
    jar = jar if isinstance(jar, Mapping) else {}
    properties = jar.get("Properties")
    return {
        "Id": "s-" + sanitize_name_part(str(job_name or step.name)).upper()[-13:],
        "Name": job_name or step.name,
        "Config": {
            "Jar": jar.get("Jar"),
            "Properties": {
                str(p.get("Key")): p.get("Value")
                for p in (properties if isinstance(properties, list) else [])
                if isinstance(p, Mapping)
            },
            "MainClass": jar.get("MainClass"),
            "Args": jar.get("Args", []),
        },
        "ActionOnFailure": config.get("ActionOnFailure", "CONTINUE"),
        "Status": {"State": "COMPLETED", "StateChangeReason": {}},
    }


def _emr_serverless(arguments: Mapping[str, Any], name: str, region: str, account: str, stamp: str) -> dict[str, Any]:
    """``GetJobRun`` as the step's properties (``Steps.X.jobRun.<member>``). An application created
    from ``ApplicationConfig`` gets an id derived from the run's name, so dry-runs are repeatable."""
    job = arguments.get("JobConfig")
    job = job if isinstance(job, Mapping) else {}
    app_config = arguments.get("ApplicationConfig")
    app_config = app_config if isinstance(app_config, Mapping) else {}
    digest = sanitize_name_part(name).lower().replace("-", "")
    application = arguments.get("ApplicationId") or job.get("applicationId") or f"00f{digest[-13:]}"
    run_id = f"00r{digest[-13:]}"
    run: dict[str, Any] = {
        "applicationId": application,
        "jobRunId": run_id,
        "name": job.get("name", name),
        "arn": f"arn:aws:emr-serverless:{region}:{account}:/applications/{application}/jobruns/{run_id}",
        "createdBy": f"arn:aws:sts::{account}:assumed-role/SageMakerPipelines",
        "createdAt": stamp,
        "updatedAt": stamp,
        "executionRole": job.get("executionRoleArn", arguments.get("ExecutionRoleArn")),
        "state": "SUCCESS",
        "stateDetails": "",
        "jobDriver": job.get("jobDriver", {}),
    }
    if "releaseLabel" in app_config:
        run["releaseLabel"] = app_config["releaseLabel"]
    for key in ("configurationOverrides", "tags", "executionTimeoutMinutes"):
        if key in job:
            run[key] = job[key]
    return {"jobRun": run}


def _lineage(arguments: Mapping[str, Any], arn: str) -> dict[str, Any]:
    def items(kind: str) -> list[Any]:
        value = arguments.get(kind, [])
        return value if isinstance(value, list) else []

    def arns(kind: str, key: str, resource: str) -> dict[str, str]:
        return {
            str(item[key]): f"{arn}:{resource}/{str(item[key]).lower()}"
            for item in items(kind)
            if isinstance(item, Mapping) and key in item
        }

    return {
        "ActionArns": arns("Actions", "ActionName", "action"),
        "ArtifactArns": arns("Artifacts", "ArtifactName", "artifact"),
        "ContextArns": arns("Contexts", "ContextName", "context"),
        "Associations": list(items("Associations")),
    }


def _check_properties(step: Step, props: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """Synthetic QualityCheck/ClarifyCheck properties: the baselines the check job calculated
    (``statistics.json``/``constraints.json`` under its first output) and the ones drift checks use
    (the supplied baseline when given, else the calculated one)."""
    outputs = _dig(props, ("ProcessingOutputConfig", "Outputs"))
    first = outputs[0] if isinstance(outputs, list) and outputs and isinstance(outputs[0], Mapping) else {}
    base = _dig(first, ("S3Output", "S3Uri"))
    base = base if isinstance(base, str) else ""
    constraints = s3_join(base, "constraints.json") if base else None
    result: dict[str, Any] = {
        "CalculatedBaselineConstraints": constraints,
        "BaselineUsedForDriftCheckConstraints": fields.get("SuppliedBaselineConstraints") or constraints,
    }
    if step.type == "QualityCheck":
        statistics = s3_join(base, "statistics.json") if base else None
        result["CalculatedBaselineStatistics"] = statistics
        result["BaselineUsedForDriftCheckStatistics"] = fields.get("SuppliedBaselineStatistics") or statistics
    return result
