"""SageMaker job steps (Processing, Training, Transform, Tuning, Model, RegisterModel, AutoML, the
endpoint steps, checks, Lineage): the resolved request becomes a moto resource, its status moves
as the scenario says, and its Describe* response becomes the step's properties."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_smpipe.definition.properties import normalize_properties, synthesize_properties
from airflow_provider_smpipe.emulator.execution import iso, now
from airflow_provider_smpipe.emulator.gateway import json_safe
from airflow_provider_smpipe.emulator.jobs import (
    JobOutputError,
    automl_candidate,
    deep_merge,
    final_metric_data_list,
    normalize_moto_job,
    patch_moto_tuning,
    set_moto_job_status,
    stopped_by_client,
    tuning_results,
    write_files,
)
from airflow_provider_smpipe.emulator.steps.base import StepFailed, StepStopped, WorkerBase

#: Step type -> (describe method, name member of the request/describe call, ARN member of the describe response)
DESCRIBE = {
    "Processing": ("describe_processing_job", "ProcessingJobName", "ProcessingJobArn"),
    "QualityCheck": ("describe_processing_job", "ProcessingJobName", "ProcessingJobArn"),
    "ClarifyCheck": ("describe_processing_job", "ProcessingJobName", "ProcessingJobArn"),
    "Training": ("describe_training_job", "TrainingJobName", "TrainingJobArn"),
    "Transform": ("describe_transform_job", "TransformJobName", "TransformJobArn"),
    "Tuning": ("describe_hyper_parameter_tuning_job", "HyperParameterTuningJobName", "HyperParameterTuningJobArn"),
    "Model": ("describe_model", "ModelName", "ModelArn"),
    "EndpointConfig": ("describe_endpoint_config", "EndpointConfigName", "EndpointConfigArn"),
    "Endpoint": ("describe_endpoint", "EndpointName", "EndpointArn"),
}
#: Job name length limits that are shorter than the general 63 characters.
#: Step types the emulator synthesises because moto has no API for them.
SYNTHESIZED = ("AutoML", "InferenceComponent", "Lineage")


class SageMakerJobSteps(WorkerBase):
    def job_step(self) -> None:
        self.with_retries(self.attempt)

    def attempt(self, name: str | None, arguments: dict[str, Any], fields: dict[str, Any]) -> None:
        stype = self.step.type
        request = dict(arguments)
        if self.step.info.name_key and name is not None:
            request[self.step.info.name_key] = name
        if stype == "RegisterModel":
            # The service records the registering execution on the package (the developer guide's
            # model package event shows it): its event and DescribeModelPackage name the execution.
            metadata = dict(request.get("MetadataProperties") or {})
            metadata.setdefault("GeneratedBy", self.execution.arn)
            request["MetadataProperties"] = metadata
        self.set(status="Executing", job_name=name, request=json_safe(request), failure_reason=None)
        skip_check = stype in ("QualityCheck", "ClarifyCheck") and fields.get("SkipCheck") is True
        described: dict[str, Any] = {}
        arn: str | None = None
        if stype in SYNTHESIZED or skip_check:
            described = synthesize_properties(self.step, arguments, job_name=name, fields=fields, region=self.region, account=self.execution.account)
            arn = _synthetic_arn(stype, described)
        else:
            arn = self.create(request)
        self.set(metadata=self.metadata(arn, fields, None))
        self.moto_status("InProgress")
        try:
            self.sleep(self.seconds())
        except StepStopped:
            self.moto_status("Stopped")
            with self.engine.lock:
                self.run.status = "Stopping"
            time.sleep(min(0.05, self.execution.scenario.default_step_seconds))
            raise
        if self.step.info.name_key and stopped_by_client(self.execution.account, self.region, stype, name):
            # A client stopped the step's job (StopTrainingJob, ...): the step ends Stopped, as
            # with the scenario's ``stopped``.
            with self.engine.lock:
                self.run.failure_reason = "Stopped: the job was stopped by a Stop call"
            raise StepStopped()
        fail = self.script.fail
        if fail is not None and fail.fails_attempt(self.run.attempt_count):
            self.moto_status("Failed", fail.reason)
            raise StepFailed(fail.reason, fail.exception_type)
        if self.script.stopped:
            self.moto_status("Stopped")
            self.scripted_end()
        self.write_files(arguments)
        self.moto_status("Completed")
        if stype not in SYNTHESIZED and not skip_check:
            described = self.describe(name, arn)
            if stype == "RegisterModel":
                self.engine.events.model_package(self.execution, described)
        props = self.properties(described, arguments, fields, name)
        with self.engine.lock:
            self.run.properties = props
            self.run.metadata = self.metadata(arn, fields, props)
            self.run.finish("Succeeded")

    def create(self, request: dict[str, Any]) -> str | None:
        stype = self.step.type
        sagemaker = self.gateway.client("sagemaker", self.region)
        try:
            if stype == "RegisterModel":
                group = request.get("ModelPackageGroupName")
                if group:
                    self._ensure_model_package_group(str(group))
                return sagemaker.create_model_package(**request)["ModelPackageArn"]
            method = _snake(self.step.info.api or "")
            if stype == "Endpoint":
                method = "create_endpoint"
            response = getattr(sagemaker, method)(**request)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise StepFailed(f"ClientError: {error.get('Code')}: {error.get('Message')}", _exception_type(exc)) from None
        except BotoCoreError as exc:  # e.g. a resolved request that does not fit the Create* input shape
            raise StepFailed(f"ClientError: {exc}") from None
        if self.step.info.name_key:
            normalize_moto_job(self.execution.account, self.region, stype, request.get(self.step.info.name_key), request)
        return next((v for k, v in response.items() if k.endswith("Arn") and isinstance(v, str)), None)

    def _ensure_model_package_group(self, group: str) -> None:
        sagemaker = self.gateway.client("sagemaker", self.region)
        try:
            sagemaker.describe_model_package_group(ModelPackageGroupName=group)
        except ClientError:
            try:
                sagemaker.create_model_package_group(ModelPackageGroupName=group)
                with self.engine.lock:
                    self.run.notes.append(f"created model package group {group} (it did not exist in moto)")
            except ClientError:
                pass

    def describe(self, name: str | None, arn: str | None) -> dict[str, Any]:
        stype = self.step.type
        sagemaker = self.gateway.client("sagemaker", self.region)
        try:
            if stype == "RegisterModel":
                return json_safe(sagemaker.describe_model_package(ModelPackageName=arn))
            method, name_key, _ = DESCRIBE[stype]
            return json_safe(getattr(sagemaker, method)(**{name_key: name}))
        except (ClientError, BotoCoreError) as exc:
            raise StepFailed(f"InternalError: describing the created resource failed: {exc}") from None

    def moto_status(self, status: str, reason: str | None = None) -> None:
        """Move the moto job's status along (moto creates jobs already Completed)."""
        set_moto_job_status(self.execution.account, self.region, self.step.type, self.run.job_name, status, reason, self.script.metrics)

    def write_files(self, arguments: Mapping[str, Any]) -> None:
        def written(uri: str) -> None:
            with self.engine.lock:
                self.run.notes.append(f"wrote {uri}")

        try:
            write_files(self.gateway, self.region, self.script.files, self.step.type, self.name, arguments, written)
        except JobOutputError as exc:
            raise StepFailed(str(exc)) from None

    def properties(self, described: dict[str, Any], arguments: dict[str, Any], fields: dict[str, Any], name: str | None) -> dict[str, Any]:
        stype = self.step.type
        props = dict(described)
        stamp = iso(now())
        if stype == "Training" and self.script.metrics:
            props["FinalMetricDataList"] = final_metric_data_list(self.script.metrics, stamp)
        if stype == "Tuning":
            props.update(tuning_results(arguments, name or self.step.name, self.script.metrics, self.region, self.execution.account, stamp))
            patch_moto_tuning(self.execution.account, self.region, name, props)
        if stype in ("QualityCheck", "ClarifyCheck") and described.get("ProcessingJobArn"):
            synthetic = synthesize_properties(self.step, arguments, job_name=name, fields=fields, region=self.region, account=self.execution.account)
            for key in ("CalculatedBaselineConstraints", "BaselineUsedForDriftCheckConstraints", "CalculatedBaselineStatistics", "BaselineUsedForDriftCheckStatistics"):
                if key in synthetic:
                    props[key] = synthetic[key]
        if stype == "AutoML":
            props.setdefault("BestCandidate", automl_candidate(arguments, name or self.step.name, self.region, self.execution.account, self.script.metrics))
        if self.script.properties:
            props = deep_merge(props, json_safe(self.script.properties))
        return normalize_properties(self.step, props)

    def metadata(self, arn: str | None, fields: Mapping[str, Any], props: Mapping[str, Any] | None) -> dict[str, Any]:
        stype = self.step.type
        key = self.step.info.metadata_key
        if stype in ("QualityCheck", "ClarifyCheck"):
            entry: dict[str, Any] = {"CheckType": str(fields.get("CheckType", ""))}
            for member in ("BaselineUsedForDriftCheckStatistics", "BaselineUsedForDriftCheckConstraints", "CalculatedBaselineStatistics", "CalculatedBaselineConstraints"):
                if stype == "ClarifyCheck" and member.endswith("Statistics"):
                    continue
                value = (props or {}).get(member)
                if isinstance(value, str) and value:
                    entry[member] = value
            if fields.get("ModelPackageGroupName"):
                entry["ModelPackageGroupName"] = str(fields["ModelPackageGroupName"])
            if arn and not arn.startswith("synthetic:"):
                entry["CheckJobArn"] = arn
            for member in ("SkipCheck", "RegisterNewBaseline"):
                if isinstance(fields.get(member), bool):
                    entry[member] = fields[member]
            return {key: entry}
        if stype == "Lineage":
            if props is None:
                return {}
            return {key: _lineage_metadata(props)}
        if arn is None or arn.startswith("synthetic:"):
            return {}
        return {key: {"Arn": arn}}

    # -- EMR --


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)



def _exception_type(exc: ClientError, *, emr: bool = False) -> str | None:
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
    if code in ("ThrottlingException", "Throttling", "TooManyRequestsException"):
        return "Step.THROTTLING"
    if code == "ResourceLimitExceeded":
        return "Emr.RESOURCE_LIMIT" if emr else "SageMaker.RESOURCE_LIMIT"
    if status >= 500:
        return "Step.SERVICE_FAULT"
    return None


def _synthetic_arn(stype: str, props: Mapping[str, Any]) -> str | None:
    for key in ("AutoMLJobArn", "InferenceComponentArn", "ProcessingJobArn"):
        if isinstance(props.get(key), str):
            return props[key] if stype != "QualityCheck" and stype != "ClarifyCheck" else f"synthetic:{props[key]}"
    return None


def _lineage_metadata(props: Mapping[str, Any]) -> dict[str, Any]:
    arns = {"Action": props.get("ActionArns", {}), "Artifact": props.get("ArtifactArns", {}), "Context": props.get("ContextArns", {})}

    def arn_of(end: Any) -> str:
        if isinstance(end, Mapping):
            if "Arn" in end:
                return str(end["Arn"])
            return str(arns.get(str(end.get("Type")), {}).get(str(end.get("Name")), end.get("Name")))
        return str(end)

    associations = [
        {"SourceArn": arn_of(a.get("Source")), "DestinationArn": arn_of(a.get("Destination"))}
        for a in props.get("Associations", [])
        if isinstance(a, Mapping)
    ]
    return {
        "ActionArns": dict(arns["Action"]),
        "ArtifactArns": dict(arns["Artifact"]),
        "ContextArns": dict(arns["Context"]),
        "Associations": associations,
    }

