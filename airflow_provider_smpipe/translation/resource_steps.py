"""Steps that create SageMaker resources: Model, RegisterModel, EndpointConfig, Endpoint."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from airflow.providers.common.compat.sdk import AirflowException

from airflow_provider_smpipe.assets import add_model_package_event, declared_model_package_group, model_package_extra
from airflow_provider_smpipe.definition.naming import execution_arn, job_name
from airflow_provider_smpipe.translation.runtime import StepRun
from airflow_provider_smpipe.translation.step_common import StepCommon
from airflow_provider_smpipe.utils.jsonsafe import json_safe

if TYPE_CHECKING:
    from airflow.sdk import Context


class ResourceSteps(StepCommon):
    """The resource family of :class:`~airflow_provider_smpipe.translation.operators.SageMakerPipelineStepOperator`."""

    def _run_model(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        name = job_name(run.child, run.execution_id)  # per run: a re-run of the task finds it
        client = run.client("sagemaker")
        try:
            client.create_model(ModelName=name, **arguments)
        except ClientError as exc:
            if "exist" not in str(exc).lower():
                raise AirflowException(f"step '{self.step_name}': CreateModel failed: {exc}") from exc
        return json_safe(client.describe_model(ModelName=name))

    def _run_registermodel(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        client = run.client("sagemaker")
        token = hashlib.sha256(f"{run.execution_id}\0{run.child}".encode()).hexdigest()[:36]
        existing = self._find_registered(client, arguments, token)
        if existing is None:
            self._ensure_package_group(client, arguments.get("ModelPackageGroupName"))
            request = {**arguments, "CustomerMetadataProperties": {**(arguments.get("CustomerMetadataProperties") or {}), "smpipe-run": token}}
            arn = client.create_model_package(**request)["ModelPackageArn"]
        else:
            arn = existing
        described = json_safe(client.describe_model_package(ModelPackageName=arn))
        self._emit_registration(context, run, described)
        return described

    def _emit_registration(self, context: Context, run: StepRun, described: Mapping[str, Any]) -> None:
        """The asset event of the registered package, through the group alias the task declares (a
        literal ``ModelPackageGroupName``; see :func:`~airflow_provider_smpipe.translation.render.step_outlets`).
        ``execution_arn`` is the run's ``Execution.PipelineExecutionArn`` (account and region of the package)."""
        group = declared_model_package_group(self.outlets)
        if group is None:
            return
        _, _, _, region, account, *_ = str(described.get("ModelPackageArn") or "::::::").split(":")
        extra = model_package_extra(
            execution_arn=execution_arn(run.pipeline_name, run.execution_id, region=region, account=account),
            pipeline_name=run.pipeline_name,
            step_name=run.child,
            described=described,
            dag_id=run.ti.dag_id,
            run_id=run.run_id,
            task_id=run.ti.task_id,
            map_index=int(getattr(run.ti, "map_index", -1)),
        )
        add_model_package_event(context, group, {**extra, "model_package_group": group})
        self.log.info("Asset event for model package group %s: %s (%s)", group, extra["model_package_arn"], extra["approval_status"])

    def _ensure_package_group(self, client: Any, group: Any) -> None:
        """Create the model package group when it does not exist, as the pipeline service does."""
        if not isinstance(group, str) or group.startswith("arn:"):
            return
        try:
            client.describe_model_package_group(ModelPackageGroupName=group)
        except ClientError:
            self.log.info("Creating model package group %s", group)
            try:
                client.create_model_package_group(ModelPackageGroupName=group)
            except ClientError as exc:
                if "exist" not in str(exc).lower():
                    raise AirflowException(f"step '{self.step_name}': cannot create model package group {group}: {exc}") from exc

    def _find_registered(self, client: Any, arguments: Mapping[str, Any], token: str) -> str | None:
        """A package this run already registered (tagged with the run token), so a re-run does not
        register a second version."""
        group = arguments.get("ModelPackageGroupName")
        if not group:
            return None
        try:
            summaries = client.list_model_packages(ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Descending", MaxResults=20)
        except ClientError:
            return None
        for summary in summaries.get("ModelPackageSummaryList", []):
            described = client.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            if (described.get("CustomerMetadataProperties") or {}).get("smpipe-run") == token:
                return summary["ModelPackageArn"]
        return None

    def _run_endpointconfig(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        client = run.client("sagemaker")
        try:
            client.create_endpoint_config(**arguments)
        except ClientError as exc:
            if "exist" not in str(exc).lower():
                raise AirflowException(f"step '{self.step_name}': CreateEndpointConfig failed: {exc}") from exc
            self.log.info("Endpoint config %s exists; using it", arguments.get("EndpointConfigName"))
        return json_safe(client.describe_endpoint_config(EndpointConfigName=arguments["EndpointConfigName"]))

    def _run_endpoint(self, context: Context, run: StepRun, arguments: dict[str, Any], fields: dict[str, Any]) -> Any:
        client = run.client("sagemaker")
        name = arguments["EndpointName"]
        try:
            client.describe_endpoint(EndpointName=name)
            client.update_endpoint(EndpointName=name, EndpointConfigName=arguments["EndpointConfigName"])
            self.log.info("Updating endpoint %s", name)
        except ClientError:
            client.create_endpoint(**arguments)
            self.log.info("Creating endpoint %s", name)
        return self._wait(context, self._resource_trigger("Endpoint", name, echo={"phase": "endpoint", "name": name}))

    def _endpoint_done(self, context: Context, run: StepRun, event: dict[str, Any]) -> Any:
        if event["status"] != "succeeded":
            raise AirflowException(f"step '{self.step_name}': endpoint {event['name']} is {event.get('resource_status')}: {event.get('failure_reason')}")
        return self._finish(context, run, event["described"])
