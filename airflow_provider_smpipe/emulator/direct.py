"""Translation mode: work that clients create directly with the AWS APIs, not through a pipeline
execution, scripted by the same scenario as pipeline steps.

A translated pipeline (``airflow_provider_smpipe.translation``) runs each step as an Airflow task
that calls CreateProcessingJob / CreateTrainingJob / ... itself and polls Describe*, invokes
Lambda functions and adds EMR steps. Those requests reach the emulator from a client (not from the
engine, whose own calls carry the ``X-Smpipe-Internal`` header), and :class:`DirectWork` gives
them a life:

* **SageMaker jobs** (Processing, Training, Transform, Tuning; AutoML, which moto lacks, is
  answered here) are ``InProgress`` for the scripted ``seconds`` (default ``default_step_seconds``),
  then ``Failed`` (on the scripted failing attempts) or ``Completed`` after the scenario's files
  are written to their outputs; Training gets the scripted ``FinalMetricDataList``, Tuning a best
  training job and the summaries of ListTrainingJobsForHyperParameterTuningJob. The step comes
  from the job name (:func:`match_step`); the n-th job of a step with the same execution id is
  attempt n.
* **Endpoints** created or updated directly are ``Creating``/``Updating`` for
  ``default_step_seconds`` (or a step matched by ``job_name_prefix``), then ``InService``.
* **EMR steps** added with AddJobFlowSteps or RunJobFlow go ``PENDING`` -> ``RUNNING`` ->
  ``COMPLETED`` / ``FAILED`` (with ``FailureDetails``), one at a time per cluster (its
  ``StepConcurrencyLevel``).
* **Lambda Invoke** of a function in the scenario's ``lambda`` section is answered here.
* **EMR Serverless** applications and job runs: :mod:`.direct_serverless`; **CreateJob** jobs:
  :mod:`.job_api`.

A script's ``stopped`` ends a SageMaker job ``Stopped`` instead of ``Completed``.

**Stopping** (what a killed translated task does): StopProcessingJob / StopTrainingJob /
StopTransformJob / StopHyperParameterTuningJob / StopAutoMLJob move an ``InProgress`` job to
``Stopping`` at once and to ``Stopped`` :attr:`DirectWork.stop_seconds` later (:meth:`DirectWork.stop`);
EMR CancelSteps cancels ``PENDING`` steps at once and ``RUNNING`` ones through ``CANCEL_PENDING``
(:meth:`DirectWork.cancel_emr_steps`). A job or step stopped this way is never completed or failed by
its scripted life afterwards.

The work itself uses the code the engine uses (:mod:`.jobs`).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_smpipe.definition.expressions import s3_join
from airflow_provider_smpipe.definition.naming import job_name as core_job_name
from airflow_provider_smpipe.emulator.engine import iso, now
from airflow_provider_smpipe.emulator.errors import (
    AwsError,
    ResourceNotFound,
    ValidationException,
)
from airflow_provider_smpipe.emulator.gateway import (
    Gateway,
    json_safe,
    sagemaker_backend,
)
from airflow_provider_smpipe.emulator.jobs import (
    CLIENT_STOPPED,
    MOTO_JOBS,
    TUNING_SUMMARIES,
    JobOutputError,
    automl_candidate,
    deep_merge,
    moto_job,
    normalize_moto_job,
    patch_moto_tuning,
    set_moto_job_status,
    tuning_results,
    wire_outputs,
    write_files,
)
from airflow_provider_smpipe.emulator.scenario import LambdaScript, Scenario, StepScript
from airflow_provider_smpipe.emulator.shapes import (
    operation_model,
    service_model,
    to_wire,
)

log = logging.getLogger(__name__)

#: Create operation answered by moto -> the type of what it creates.
MOTO_CREATES = {
    "CreateProcessingJob": "Processing",
    "CreateTrainingJob": "Training",
    "CreateTransformJob": "Transform",
    "CreateHyperParameterTuningJob": "Tuning",
    "CreateEndpoint": "Endpoint",
}
#: Describe operation answered by moto -> the job type it describes.
DESCRIBES = {
    "DescribeProcessingJob": "Processing",
    "DescribeTrainingJob": "Training",
    "DescribeTransformJob": "Transform",
    "DescribeHyperParameterTuningJob": "Tuning",
}
NAME_MEMBERS = {
    "Processing": "ProcessingJobName",
    "Training": "TrainingJobName",
    "Transform": "TransformJobName",
    "Tuning": "HyperParameterTuningJobName",
    "AutoML": "AutoMLJobName",
    "Endpoint": "EndpointName",
}
_ARN_KINDS = {"Processing": "processing-job", "Training": "training-job", "Transform": "transform-job"}
_WORDS = {"Processing": "processing job", "Training": "training job", "Transform": "transform job"}
#: Stop operation -> the job type it stops (answered by :meth:`DirectWork.stop`).
STOPS = {
    "StopProcessingJob": "Processing",
    "StopTrainingJob": "Training",
    "StopTransformJob": "Transform",
    "StopHyperParameterTuningJob": "Tuning",
    "StopAutoMLJob": "AutoML",
}
_STOP_WORDS = {**_WORDS, "Tuning": "hyperparameter tuning job", "AutoML": "AutoML job"}
#: SageMaker job statuses a job does not leave.
ENDED = ("Completed", "Failed", "Stopped")
#: Seconds between ``Stopping`` and ``Stopped`` after a Stop* call, and between ``CANCEL_PENDING``
#: and ``CANCELLED`` after CancelSteps (an emulator choice, as for StopJob: long enough for a client
#: to see the intermediate status, short enough for tests).
STOP_SECONDS = 0.1
#: EMR operations whose steps the emulator moves along.
EMR_OPERATIONS = ("AddJobFlowSteps", "RunJobFlow")
#: The most step IDs one CancelSteps request may name ("A maximum of 256 steps are allowed in each
#: CancelSteps request", botocore's CancelSteps documentation).
MAX_CANCEL_STEPS = 256
#: An EMR step is PENDING for this fraction of its ``seconds`` (and until its turn on the cluster),
#: then RUNNING for the rest.
EMR_PENDING_FRACTION = 0.25
#: Steps that still hold (or wait for) a place on their cluster.
EMR_ACTIVE = ("PENDING", "RUNNING", "CANCEL_PENDING")
_TERMINATED = ("TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS")
LAMBDA_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/invocations/?$")
_EXECUTION_ID = re.compile(r"^pipelines-([a-z0-9]{12})-")
_HASH_SUFFIX = re.compile(r"-[0-9a-f]{10}$")
_CHILD_SUFFIX = re.compile(r"-\d+$")


def match_step(scenario: Scenario, name: str) -> tuple[str | None, str | None]:
    """``(scripted step, execution id)`` for a job or EMR step name (either may be ``None``).

    A name the provider generates, ``pipelines-<execution id>-<step>-<10 hex>`` (the step name
    sanitised and cut as :func:`~airflow_provider_smpipe.definition.naming.job_name` does), is the
    step whose generated name has the same beginning (a ForEach child ``<bodyStep>-<index>`` not
    scripted by its own name is its body step's). Otherwise a step whose ``job_name_prefix``
    is the name or begins it (followed by ``-``) matches; the longest prefix wins.
    """
    found = _EXECUTION_ID.match(name)
    execution_id = found.group(1) if found else None
    if execution_id is not None and _HASH_SUFFIX.search(name):
        base = name[:-11]
        for step in scenario.steps:
            if core_job_name(step, execution_id)[:-11] == base:
                return step, execution_id
        # A ForEach child's job (<bodyStep>-<index>) not scripted on its own follows its body step.
        child = _CHILD_SUFFIX.sub("", base)
        for step in scenario.steps:
            if child != base and core_job_name(step, execution_id)[:-11] == child:
                return step, execution_id
    if _HASH_SUFFIX.search(name):
        # Tuning and AutoML names are <step>-<hash> (32 characters): no execution id to read.
        base = name[:-11]
        for step in scenario.steps:
            if core_job_name(step, "", step_type="Tuning")[:-11] == base:
                return step, None
    best: tuple[str, int] | None = None
    for step, script in scenario.steps.items():
        if script.job_name_prefix:
            base = core_job_name(step, "", prefix=script.job_name_prefix)[:-11]
            if (name == base or name.startswith(base + "-")) and (best is None or len(base) > best[1]):
                best = (step, len(base))
    return (best[0] if best else None), execution_id


@dataclass
class DirectJob:
    """One piece of directly created work: a SageMaker job, an endpoint (update) or an EMR step."""

    type: str
    name: str
    account: str
    region: str
    seq: int
    step: str | None
    execution_id: str | None
    attempt: int | None
    seconds: float
    script: StepScript | None
    request: dict[str, Any]
    status: str
    arn: str | None = None
    created: float = field(default_factory=now)
    end_time: float | None = None
    failure_reason: str | None = None
    cluster_id: str | None = None
    step_id: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        out = {
            "type": self.type,
            "name": self.name,
            "arn": self.arn,
            "step": self.step,
            "execution_id": self.execution_id,
            "attempt": self.attempt,
            "status": self.status,
            "seconds": self.seconds,
            "created": self.created,
            "end_time": self.end_time,
            "failure_reason": self.failure_reason,
            "request": self.request,
            "notes": list(self.notes),
        }
        if self.type == "EMR":
            out.update(cluster_id=self.cluster_id, step_id=self.step_id)
        return out


class DirectWork:
    """Every directly created job, endpoint update, EMR step and Lambda invocation of one server."""

    def __init__(self, gateway: Gateway, *, stop_seconds: float = STOP_SECONDS) -> None:
        self.gateway = gateway
        self.stop_seconds = stop_seconds
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.jobs: list[DirectJob] = []
        self.index: dict[tuple[str, str, str, str], DirectJob] = {}
        self.attempts: Counter[tuple[str, str | None, str]] = Counter()
        self.invocations: list[dict[str, Any]] = []

    # -- bookkeeping -------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {"jobs": [job.state() for job in self.jobs], "invocations": [dict(i) for i in self.invocations]}

    def forget(self) -> None:
        """Drop finished work and the attempt counters (running work is kept)."""
        with self.lock:
            self.jobs = [job for job in self.jobs if job.end_time is None]
            self.index = {key: job for key, job in self.index.items() if job.end_time is None}
            self.invocations.clear()
            self.attempts.clear()

    def reset_attempts(self) -> None:
        """Attempt numbers count the jobs created since the scenario was loaded."""
        with self.lock:
            self.attempts.clear()

    def find(self, account: str, region: str, stype: str, name: str) -> DirectJob | None:
        with self.lock:
            return self.index.get((account, region, stype, name))

    def _register(
        self, scenario: Scenario, stype: str, name: str, account: str, region: str, request: Mapping[str, Any], status: str, *, step: str | None = None, seconds: float | None = None, **extra: Any
    ) -> DirectJob:
        step, execution_id = (step, None) if step is not None else match_step(scenario, name)
        script = scenario.steps.get(step) if step is not None else None
        with self.lock:
            attempt = None
            if step is not None:
                # Per job name without its hash: a ForEach's children follow one script with their
                # own attempt numbers (every attempt of one child shares that beginning).
                key = (step, execution_id, name[:-11] if _HASH_SUFFIX.search(name) else name)
                self.attempts[key] += 1
                attempt = self.attempts[key]
            job = DirectJob(
                type=stype,
                name=name,
                account=account,
                region=region,
                seq=len(self.jobs),
                step=step,
                execution_id=execution_id,
                attempt=attempt,
                seconds=seconds if seconds is not None else scenario.seconds_for(step) if step is not None else scenario.default_step_seconds,
                script=script,
                request=json_safe(dict(request)),
                status=status,
                **extra,
            )
            self.jobs.append(job)
            self.index[(account, region, stype, extra.get("step_id") or name)] = job
        return job

    def _note(self, job: DirectJob, text: str) -> None:
        with self.lock:
            job.notes.append(text)

    @staticmethod
    def _thread(target: Any, job: DirectJob) -> None:
        threading.Thread(target=target, args=(job,), name=f"smpipe-direct-{job.type}-{job.name}", daemon=True).start()

    # -- SageMaker jobs and endpoints (moto creates them) ------------------------------------------

    def duplicate(self, operation: str, params: Mapping[str, Any], account: str, region: str) -> AwsError | None:
        """The service's answer to a job name that is already taken (moto silently replaces the
        job; the service refuses, and the translation then attaches to the existing job)."""
        stype = MOTO_CREATES.get(operation)
        if stype not in _WORDS:
            return None
        name = params.get(NAME_MEMBERS[stype])
        if not isinstance(name, str) or moto_job(account, region, stype, name) is None:
            return None
        arn = f"arn:aws:sagemaker:{region}:{account}:{_ARN_KINDS[stype]}/{name}"
        word = _WORDS[stype]
        return AwsError(
            f"{word.capitalize()} names must be unique within an AWS account and region, and a {word} with this name already exists ({arn})",
            code="ResourceInUse",
        )

    def created(self, operation: str, params: Mapping[str, Any], response: Mapping[str, Any], account: str, region: str, scenario: Scenario) -> None:
        """moto accepted a Create* call from a client: give the job (or endpoint) its life."""
        stype = MOTO_CREATES[operation]
        name = str(params.get(NAME_MEMBERS[stype]))
        arn = next((v for k, v in response.items() if k.endswith("Arn") and isinstance(v, str)), None)
        if stype == "Endpoint":
            self._endpoint_changed(scenario, name, account, region, params, "Creating")
            return
        job = self._register(scenario, stype, name, account, region, params, "InProgress", arn=arn)
        normalize_moto_job(account, region, stype, name, params)
        set_moto_job_status(account, region, stype, name, "InProgress")
        self._thread(self._run_job, job)

    def _run_job(self, job: DirectJob) -> None:
        try:
            time.sleep(job.seconds)
            if not self._still_running(job):
                return
            script = job.script or StepScript()
            fail = script.fail
            if fail is not None and job.attempt is not None and fail.fails_attempt(job.attempt):
                self._finish(job, "Failed", fail.reason)
                return
            if script.stopped:  # as if someone stopped the job by hand
                self._finish(job, "Stopped")
                return
            try:
                write_files(self.gateway, job.region, script.files, job.type, job.step or job.name, job.request, lambda uri: self._note(job, f"wrote {uri}"))
            except JobOutputError as exc:
                self._finish(job, "Failed", str(exc))
                return
            stamp = iso(now())
            results: dict[str, Any] = {}
            if job.type == "Tuning":
                results = tuning_results(job.request, job.name, script.metrics, job.region, job.account, stamp)
            elif job.type == "AutoML":
                results = {"BestCandidate": automl_candidate(job.request, job.name, job.region, job.account, script.metrics)}
            self._finish(job, "Completed", metrics=script.metrics, results=results)
        except Exception as exc:  # a bug here must not leave the job running forever
            log.exception("directly created %s job %s crashed", job.type, job.name)
            self._finish(job, "Failed", f"InternalError: the emulator failed to run this job: {type(exc).__name__}: {exc}")

    def _still_running(self, job: DirectJob) -> bool:
        """False when the job was stopped (or moto was reset) meanwhile; the record follows."""
        with self.lock:
            if job.status != "InProgress":
                job.notes.append(f"scripted end not applied: the job was already {job.status}")
                return False
        if job.type not in MOTO_JOBS:
            return True
        found = moto_job(job.account, job.region, job.type, job.name)
        current = getattr(found, MOTO_JOBS[job.type][1], None) if found is not None else "Deleted"
        if current == "InProgress":
            return True
        with self.lock:
            job.status, job.end_time = str(current), now()
            job.notes.append(f"no longer running in moto ({current}): not completed by the emulator")
        return False

    def _finish(
        self, job: DirectJob, status: str, reason: str | None = None, metrics: Mapping[str, float] | None = None, results: Mapping[str, Any] | None = None
    ) -> bool:
        """End a running job as its script says; ``False`` (nothing changed) when it is no longer
        ``InProgress``: a Stop* call won the race, and its ``Stopping``/``Stopped`` stays."""
        with self.lock:
            if job.status != "InProgress":
                job.notes.append(f"scripted end ({status}) not applied: the job was already {job.status}")
                return False
            if job.type == "Tuning" and results and status == "Completed":
                patch_moto_tuning(job.account, job.region, job.name, results)
            elif job.type == "AutoML" and results and status == "Completed":
                job.result.update(results)
            if job.type in MOTO_JOBS:
                set_moto_job_status(job.account, job.region, job.type, job.name, status, reason, metrics)
            job.status, job.end_time = status, now()
            if reason is not None:
                job.failure_reason = reason[:1024]
            return True

    # -- Stop* -------------------------------------------------------------------------------------

    def stop(self, operation: str, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        """StopProcessingJob / StopTrainingJob / StopTransformJob / StopHyperParameterTuningJob /
        StopAutoMLJob (the request already checked against botocore's input shape).

        As the service documents ("changes the status of the job to ``Stopping``. After SageMaker
        stops the job, it sets the status to ``Stopped``"): an ``InProgress`` job is ``Stopping`` at
        once and ``Stopped`` :attr:`stop_seconds` later, with its end time then (a Training job's
        ``SecondaryStatus`` and transitions follow). Its scripted end no longer applies. A job that
        is already ``Stopping`` is accepted and left alone (a retried request must not fail).

        * No such job: ``ResourceNotFound``, the one error these operations declare.
        * A job that already ended: ``ValidationException`` "The request was rejected because the
          training job is in status Completed." (the service's answer to StopTrainingJob of an
          ended job; the same form for the other types).

        This works on any job moto holds, also one a pipeline execution created: that step then
        ends ``Stopped`` at its scripted end (see ``steps/sagemaker.py``).
        """
        stype = STOPS[operation]
        name = str(params[NAME_MEMBERS[stype]])
        word = _STOP_WORDS[stype]
        with self.lock:
            job = self.index.get((account, region, stype, name))
            target = self._stoppable(stype, name, job, account, region)
            if target is None:
                raise ResourceNotFound(f"Amazon SageMaker can't find a {word} with name {name}.")
            status = target["status"]()
            if status == "Stopping":
                return {}
            if status in ENDED or status != "InProgress":
                raise ValidationException(f"The request was rejected because the {word} is in status {status}.")
            target["set"]("Stopping")
            if job is not None:
                job.status = "Stopping"
                job.notes.append(f"{operation}: Stopping")
            timer = threading.Timer(self.stop_seconds, self._stopped, args=(stype, name, job, account, region))
            timer.daemon = True
            timer.name = f"smpipe-stop-{stype}-{name}"
            timer.start()
        return {}

    def _stoppable(self, stype: str, name: str, job: DirectJob | None, account: str, region: str) -> dict[str, Any] | None:
        """How to read and set the status of the job to stop: ``{"status": getter, "set": setter}``
        (``None``: no such job). The caller holds the lock."""
        if stype == "AutoML":
            if job is not None:

                def set_record(status: str) -> None:
                    job.status = status
                    if status == "Stopped":
                        job.end_time = now()

                return {"status": lambda: job.status, "set": set_record}
            moto_automl = sagemaker_backend(account, region).auto_ml_jobs.get(name)  # CreateAutoMLJobV2 (moto's)
            if moto_automl is None:
                return None

            def set_v2(status: str) -> None:
                moto_automl.auto_ml_job_status = status
                moto_automl.auto_ml_job_secondary_status = status
                moto_automl.last_modified_time = datetime.now(UTC)
                if status == "Stopped":
                    moto_automl.end_time = datetime.now(UTC)

            return {"status": lambda: moto_automl.auto_ml_job_status, "set": set_v2}
        found = moto_job(account, region, stype, name)
        if found is None:
            return None
        attribute = MOTO_JOBS[stype][1]

        def set_moto(status: str) -> None:
            setattr(found, CLIENT_STOPPED, True)
            set_moto_job_status(account, region, stype, name, status)
            if stype == "Training":
                _training_stop_transition(found, status)

        return {"status": lambda: str(getattr(found, attribute)), "set": set_moto}

    def _stopped(self, stype: str, name: str, job: DirectJob | None, account: str, region: str) -> None:
        """``stop_seconds`` after a Stop*: the job is ``Stopped`` (unless it left ``Stopping`` meanwhile)."""
        try:
            with self.lock:
                target = self._stoppable(stype, name, job, account, region)
                if target is not None and target["status"]() == "Stopping":
                    target["set"]("Stopped")
                if job is not None and job.status == "Stopping":
                    job.status, job.end_time = "Stopped", now()
                    job.notes.append("Stopped")
                self.changed.notify_all()
        except Exception:  # pragma: no cover - moto was reset meanwhile
            log.debug("could not finish stopping %s job %s", stype, name, exc_info=True)

    def patch_described(self, job: DirectJob, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """A Describe* response (wire JSON) of a directly created job, with the scenario's
        ``properties`` merged in once the job completed (members the output shape declares)."""
        script = job.script
        if job.status != "Completed" or script is None or not script.properties:
            return body
        members = operation_model(operation).output_shape.members
        chosen = {k: v for k, v in script.properties.items() if k in members}
        ignored = sorted(set(script.properties) - set(chosen))
        if ignored and not any(n.startswith("properties ignored") for n in job.notes):
            self._note(job, f"properties ignored (not members of the {operation} response): {', '.join(ignored)}")
        return deep_merge(body, to_wire(operation, json_safe(chosen)))

    # -- endpoints -------------------------------------------------------------------------------------

    def update_endpoint(self, params: Mapping[str, Any], account: str, region: str, scenario: Scenario) -> dict[str, Any]:
        """UpdateEndpoint (moto has none): the endpoint takes the new config and is ``Updating``."""
        backend = sagemaker_backend(account, region)
        name, config_name = params["EndpointName"], params["EndpointConfigName"]
        endpoint = backend.endpoints.get(name)
        if endpoint is None:
            raise ValidationException(f'Could not find endpoint "arn:aws:sagemaker:{region}:{account}:endpoint/{name.lower()}".')
        config = backend.endpoint_configs.get(config_name)
        if config is None:
            raise ValidationException(f'Could not find endpoint configuration "arn:aws:sagemaker:{region}:{account}:endpoint-config/{config_name.lower()}".')
        if endpoint.endpoint_status in ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"):
            raise ValidationException(f'Cannot update in-progress endpoint "{endpoint.arn}".')
        described = config.response_object
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(described.get("ProductionVariants") or [])
        endpoint.data_capture_config = described.get("DataCaptureConfig")
        self._endpoint_changed(scenario, name, account, region, params, "Updating")
        return {"EndpointArn": endpoint.arn}

    def _endpoint_changed(self, scenario: Scenario, name: str, account: str, region: str, request: Mapping[str, Any], status: str) -> None:
        endpoint = sagemaker_backend(account, region).endpoints.get(name)
        if endpoint is None:
            return
        endpoint.endpoint_status = status
        endpoint.failure_reason = None
        endpoint.last_modified_time = datetime.now(UTC)
        job = self._register(scenario, "Endpoint", name, account, region, request, status, arn=endpoint.arn)
        self._thread(self._run_endpoint, job)

    def _run_endpoint(self, job: DirectJob) -> None:
        time.sleep(job.seconds)
        endpoint = sagemaker_backend(job.account, job.region).endpoints.get(job.name)
        with self.lock:
            if endpoint is None or endpoint.endpoint_status != job.status:
                job.status, job.end_time = "Superseded", now()
                return
            fail = job.script.fail if job.script is not None else None
            failed = fail is not None and job.attempt is not None and fail.fails_attempt(job.attempt)
            endpoint.endpoint_status = "Failed" if failed else "InService"
            endpoint.failure_reason = fail.reason if failed and fail is not None else None
            endpoint.last_modified_time = datetime.now(UTC)
            job.status, job.end_time = endpoint.endpoint_status, now()
            job.failure_reason = endpoint.failure_reason

    # -- AutoML (moto has no CreateAutoMLJob) ------------------------------------------------------

    def create_automl(self, params: Mapping[str, Any], account: str, region: str, scenario: Scenario) -> dict[str, Any]:
        name = params["AutoMLJobName"]
        if self.find(account, region, "AutoML", name) is not None:
            raise AwsError(f"Resource Already Exists: AutoML job with name {name} already exists. Choose a different name.", code="ResourceInUse")
        arn = f"arn:aws:sagemaker:{region}:{account}:automl-job/{name.lower()}"
        job = self._register(scenario, "AutoML", name, account, region, params, "InProgress", arn=arn)
        self._thread(self._run_job, job)
        return {"AutoMLJobArn": arn}

    def describe_automl(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        name = params["AutoMLJobName"]
        job = self.find(account, region, "AutoML", name)
        if job is None:
            raise ResourceNotFound(f"AutoML job {name} does not exist.")
        with self.lock:
            status, end, reason, candidate = job.status, job.end_time, job.failure_reason, job.result.get("BestCandidate")
        request = job.request
        out: dict[str, Any] = {"AutoMLJobName": name, "AutoMLJobArn": job.arn}
        for member in ("InputDataConfig", "OutputDataConfig", "RoleArn", "AutoMLJobObjective", "ProblemType", "AutoMLJobConfig", "GenerateCandidateDefinitionsOnly", "ModelDeployConfig"):
            if member in request:
                out[member] = request[member]
        out.update(
            CreationTime=job.created,
            LastModifiedTime=end or job.created,
            AutoMLJobStatus=status,
            AutoMLJobSecondaryStatus={"InProgress": "ModelTuning"}.get(status, status),
        )
        if end is not None:
            out["EndTime"] = end
        if reason:
            out["FailureReason"] = reason
        if candidate is not None and status == "Completed":
            out["BestCandidate"] = self._wire_candidate(candidate, request, job.created, end or job.created)
            output = s3_join(str(request["OutputDataConfig"]["S3OutputPath"]), name)
            out["AutoMLJobArtifacts"] = {
                "CandidateDefinitionNotebookLocation": s3_join(output, "sagemaker-automl-candidates", "notebooks", "SageMakerAutopilotCandidateDefinitionNotebook.ipynb"),
                "DataExplorationNotebookLocation": s3_join(output, "sagemaker-automl-candidates", "notebooks", "SageMakerAutopilotDataExplorationNotebook.ipynb"),
            }
            if job.script is not None and job.script.properties:
                members = operation_model("DescribeAutoMLJob").output_shape.members
                out = deep_merge(out, to_wire("DescribeAutoMLJob", json_safe({k: v for k, v in job.script.properties.items() if k in members})))
        return out

    @staticmethod
    def _wire_candidate(candidate: Mapping[str, Any], request: Mapping[str, Any], created: float, ended: float) -> dict[str, Any]:
        """The engine's candidate in DescribeAutoMLJob's shape: the metric name is one the API
        knows (a scenario metric ``validation:f1`` is ``F1``; else the job's objective, else
        ``Accuracy``), plus the required steps and times."""
        out = dict(candidate)
        metric = dict(out.get("FinalAutoMLJobObjectiveMetric") or {})
        out["FinalAutoMLJobObjectiveMetric"] = {**metric, "MetricName": _automl_metric(str(metric.get("MetricName", "")), request)}
        out.update(CandidateSteps=[], CreationTime=created, EndTime=ended, LastModifiedTime=ended)
        return out

    # -- tuning summaries (moto has no ListTrainingJobsForHyperParameterTuningJob) -----------------

    def tuning_summaries(self, name: str, account: str, region: str) -> list[dict[str, Any]]:
        """The training-job summaries of a tuning job (engine or direct; none until it completed)."""
        job = moto_job(account, region, "Tuning", name)
        if job is None:
            raise ResourceNotFound(f"Amazon SageMaker can't find a tuning job with name {name}")
        return [dict(s) for s in getattr(job, TUNING_SUMMARIES, None) or []]

    # -- EMR ---------------------------------------------------------------------------------------

    def emr_created(self, operation: str, params: Mapping[str, Any], response: Mapping[str, Any], account: str, region: str, scenario: Scenario) -> None:
        """moto accepted AddJobFlowSteps / RunJobFlow from a client: the steps start PENDING."""
        from moto.emr.models import emr_backends

        if operation == "AddJobFlowSteps":
            cluster_id, step_ids = str(params.get("JobFlowId")), [str(i) for i in response.get("StepIds", [])]
        else:
            cluster_id = str(response.get("JobFlowId"))
            cluster = emr_backends[account][region].clusters.get(cluster_id)
            step_ids = [s.id for s in cluster.steps] if cluster is not None else []
        cluster = emr_backends[account][region].clusters.get(cluster_id)
        if cluster is None:
            return
        scripted = _scripted_step_class()
        for step in cluster.steps:
            if step.id not in step_ids:
                continue
            step.__class__ = scripted
            step.state, step.start_date_time, step.end_date_time = "PENDING", None, None
            request = {"ClusterId": cluster_id, "Name": step.name, "ActionOnFailure": step.action_on_failure, "HadoopJarStep": step.hadoop_jar_step}
            job = self._register(scenario, "EMR", step.name, account, region, request, "PENDING", cluster_id=cluster_id, step_id=step.id)
            self._thread(self._run_emr, job)

    def _emr_objects(self, job: DirectJob) -> tuple[Any, Any]:
        from moto.emr.models import emr_backends

        cluster = emr_backends[job.account][job.region].clusters.get(job.cluster_id)
        step = next((s for s in cluster.steps if s.id == job.step_id), None) if cluster is not None else None
        return cluster, step

    def _run_emr(self, job: DirectJob) -> None:
        pending = job.seconds * EMR_PENDING_FRACTION
        time.sleep(pending)
        with self.changed:
            while True:
                cluster, step = self._emr_objects(job)
                if job.status != "PENDING" or cluster is None or step is None:
                    return  # cancelled meanwhile, or moto was reset
                if cluster.state in _TERMINATED:
                    self._emr_set(job, step, "CANCELLED")
                    return
                if self._emr_turn(job, cluster):
                    break
                self.changed.wait(0.05)
            self._emr_set(job, step, "RUNNING")
            cluster.state = "RUNNING"
        time.sleep(max(0.0, job.seconds - pending))
        with self.lock:
            if job.status != "RUNNING":  # cancelled meanwhile (CancelSteps): nothing is written
                return
        script = job.script or StepScript()
        fail = script.fail
        failed = fail is not None and job.attempt is not None and fail.fails_attempt(job.attempt)
        reason = fail.reason if failed and fail is not None else None
        if not failed:
            try:
                write_files(self.gateway, job.region, script.files, "EMR", job.step or job.name, {}, lambda uri: self._note(job, f"wrote {uri}"))
            except JobOutputError as exc:
                failed, reason = True, str(exc)
        with self.changed:
            cluster, step = self._emr_objects(job)
            if cluster is None or step is None or job.status != "RUNNING":
                return
            if failed:
                self._emr_set(job, step, "FAILED", reason, log_uri=getattr(cluster, "log_uri", None))
                self._emr_action_on_failure(job, step, cluster)
            else:
                self._emr_set(job, step, "COMPLETED")
            self._emr_settle(cluster, job.account, job.region)
            self.changed.notify_all()

    def _emr_settle(self, cluster: Any, account: str, region: str) -> None:
        """A running cluster with no active step left is ``WAITING`` again, or terminates when
        ``KeepJobFlowAliveWhenNoSteps`` is false. The caller holds the lock."""
        mine = [j for j in self.jobs if j.type == "EMR" and j.cluster_id == cluster.id and j.account == account and j.region == region]
        if not any(j.status in EMR_ACTIVE for j in mine) and cluster.state == "RUNNING":
            if getattr(cluster, "keep_job_flow_alive_when_no_steps", True):
                cluster.state = "WAITING"
            else:
                cluster.terminate()

    # -- EMR CancelSteps (moto has none) -----------------------------------------------------------

    def cancel_emr_steps(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        """EMR CancelSteps (the request already checked against botocore's input shape).

        "When you use Amazon EMR releases 5.28.0 and later, you can cancel steps that are in a
        ``PENDING`` or ``RUNNING`` state" (botocore's CancelSteps documentation): a ``PENDING`` step
        is ``CANCELLED`` at once, a ``RUNNING`` one ``CANCEL_PENDING`` and ``CANCELLED``
        :attr:`stop_seconds` later (either ``StepCancellationOption``); each gets
        ``{"StepId", "Status": "SUBMITTED"}``. A step that is already ``CANCEL_PENDING`` is
        ``SUBMITTED`` again and left alone ("CancelSteps is idempotent"). A step in any other state,
        or not on the cluster, gets ``{"Status": "FAILED", "Reason": ...}`` (the per-step answer the
        output shape has; the request itself succeeds). An unknown cluster is an
        ``InvalidRequestException`` ("Cluster id '...' is not valid.", as moto's DescribeCluster
        says), more than 256 step IDs a ``ValidationException``.
        """
        from moto.emr.models import emr_backends

        cluster_id = str(params["ClusterId"])
        step_ids = [str(s) for s in params["StepIds"]]
        if len(step_ids) > MAX_CANCEL_STEPS:
            raise ValidationException(
                f"1 validation error detected: Value at 'stepIds' failed to satisfy constraint: Member must have length less than or equal to {MAX_CANCEL_STEPS}"
            )
        with self.changed:
            cluster = emr_backends[account][region].clusters.get(cluster_id)
            if cluster is None:
                raise AwsError(f"Cluster id '{cluster_id}' is not valid.", code="InvalidRequestException")
            answers: list[dict[str, Any]] = []
            for step_id in step_ids:
                step = next((s for s in cluster.steps if s.id == step_id), None)
                if step is None:
                    answers.append({"StepId": step_id, "Status": "FAILED", "Reason": f"Step {step_id} does not exist in cluster {cluster_id}."})
                    continue
                job = self.index.get((account, region, "EMR", step_id))
                state = str(step.state)
                if state == "CANCEL_PENDING":
                    answers.append({"StepId": step_id, "Status": "SUBMITTED"})
                elif state in ("PENDING", "RUNNING"):
                    self._emr_cancel(job, step, "CANCELLED" if state == "PENDING" else "CANCEL_PENDING")
                    if state == "RUNNING":
                        timer = threading.Timer(self.stop_seconds, self._emr_cancelled, args=(job, step, cluster, account, region))
                        timer.daemon = True
                        timer.name = f"smpipe-cancel-{step_id}"
                        timer.start()
                    answers.append({"StepId": step_id, "Status": "SUBMITTED"})
                else:
                    answers.append({"StepId": step_id, "Status": "FAILED", "Reason": f"Step {step_id} is {state} and cannot be cancelled."})
            self._emr_settle(cluster, account, region)
            self.changed.notify_all()
        return {"CancelStepsInfoList": answers}

    def _emr_cancel(self, job: DirectJob | None, step: Any, state: str) -> None:
        """Move a step (and its record, for a directly added one) to ``CANCEL_PENDING`` or
        ``CANCELLED``. The caller holds the lock."""
        if job is not None:
            self._emr_set(job, step, state)
            job.notes.append(f"CancelSteps: {state}")
        else:  # a step the engine added (or moto's own): moto's object only
            step.state = state
            if state == "CANCELLED":
                step.end_date_time = datetime.now(UTC)
        if state == "CANCELLED":
            step.last_state_change_reason = "Cancelled by the user (CancelSteps)."

    def _emr_cancelled(self, job: DirectJob | None, step: Any, cluster: Any, account: str, region: str) -> None:
        with self.changed:
            if step.state == "CANCEL_PENDING":
                self._emr_cancel(job, step, "CANCELLED")
                self._emr_settle(cluster, account, region)
            self.changed.notify_all()

    def _emr_jobs(self, job: DirectJob) -> list[DirectJob]:
        return sorted(
            (j for j in self.jobs if j.type == "EMR" and j.cluster_id == job.cluster_id and j.account == job.account and j.region == job.region),
            key=lambda j: j.seq,
        )

    def _emr_turn(self, job: DirectJob, cluster: Any) -> bool:
        """Steps run in the order they were added, ``StepConcurrencyLevel`` at a time."""
        level = max(1, int(getattr(cluster, "step_concurrency_level", 1) or 1))
        active = [j for j in self._emr_jobs(job) if j.status in EMR_ACTIVE]
        return job in active[:level]

    def _emr_set(self, job: DirectJob, step: Any, state: str, reason: str | None = None, log_uri: str | None = None) -> None:
        moment = datetime.now(UTC)
        step.state = state
        if state == "RUNNING":
            step.start_date_time = moment
        elif state not in EMR_ACTIVE:
            step.end_date_time = moment
        if reason is not None:
            details = {"Reason": reason[:256], "Message": reason}
            if log_uri:
                details["LogFile"] = s3_join(str(log_uri), str(job.cluster_id), "steps", str(job.step_id))
            step.smpipe_failure_details = details
            step.last_state_change_reason = reason
        job.status = state
        if state not in EMR_ACTIVE:
            job.end_time = now()
            job.failure_reason = reason

    def _emr_action_on_failure(self, job: DirectJob, step: Any, cluster: Any) -> None:
        action = str(getattr(step, "action_on_failure", "CONTINUE"))
        if action not in ("TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW", "CANCEL_AND_WAIT"):
            return
        for other in self._emr_jobs(job):
            if other.status == "PENDING":
                _, other_step = self._emr_objects(other)
                if other_step is not None:
                    self._emr_set(other, other_step, "CANCELLED")
        if action != "CANCEL_AND_WAIT":
            cluster.state = "TERMINATED_WITH_ERRORS"
            cluster.end_datetime = datetime.now(UTC)

    # -- translated Callback steps ---------------------------------------------------------------

    def callback_requested(self, params: Mapping[str, Any], account: str, region: str, scenario: Scenario) -> None:
        """A client sent a translated Callback step's request (a message with ``token``,
        ``smpipeStep`` and ``smpipeReplyQueueUrl``): answer it on the reply queue as the step's
        ``callback`` script (or its ``output_parameters``) says; without either, the test answers."""
        try:
            message = json.loads(params.get("MessageBody") or "")
        except (TypeError, json.JSONDecodeError):
            return
        if not isinstance(message, dict) or message.get("status") != "Executing":
            return
        if not all(isinstance(message.get(key), str) for key in ("token", "smpipeStep", "smpipeReplyQueueUrl")):
            return
        script = scenario.steps.get(message["smpipeStep"])
        answer = script.callback_answer() if script is not None else None
        if answer is None:
            return
        request = {"QueueUrl": params.get("QueueUrl"), "ReplyQueueUrl": message["smpipeReplyQueueUrl"], "arguments": message.get("arguments")}
        job = self._register(scenario, "Callback", message["token"], account, region, request, "Waiting", step=message["smpipeStep"], seconds=answer.after_seconds)
        job.result["answer"] = {
            "token": message["token"],
            "status": "Success" if answer.answer == "success" else "Failure",
            "outputParameters": wire_outputs(answer.output_parameters),
            **({"failureReason": answer.reason} if answer.reason else {}),
        }
        self._thread(self._answer_callback, job)

    def _answer_callback(self, job: DirectJob) -> None:
        time.sleep(job.seconds)
        reply_url = str(job.request["ReplyQueueUrl"])
        try:
            queue_url, queue_region, created = self.gateway.queue_url(reply_url, job.region)
            if created:
                self._note(job, f"created SQS queue {queue_url} (it did not exist in moto)")
            self.gateway.send_message(queue_url, queue_region, job.result["answer"])
        except (ClientError, BotoCoreError, ValueError) as exc:  # recorded in the state; the waiting task times out
            with self.lock:
                job.status, job.end_time, job.failure_reason = "Failed", now(), f"could not send the scripted answer to {reply_url}: {exc}"
            return
        with self.lock:
            job.status, job.end_time = "Answered", now()
            job.notes.append(f"answered {job.result['answer']['status']} on {queue_url}")

    # -- Lambda ------------------------------------------------------------------------------------

    def invoke(self, function: str, qualifier: str | None, headers: Mapping[str, str], payload: bytes, scenario: Scenario) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """Answer ``Invoke`` for a function in the scenario's ``lambda`` section (``None``: not
        scripted, moto answers). Returns ``(status line, headers, body)``. A payload that is not
        JSON is refused as the service refuses it: ``InvalidRequestContentException`` (400)."""
        script: LambdaScript | None = scenario.lambdas.get(f"{function}:{qualifier}") if qualifier else None
        script = script or scenario.lambda_script(function)
        if script is None:
            return None
        invocation_type = headers.get("invocation_type") or "RequestResponse"
        request_id = str(uuid.uuid4())
        try:
            sent: Any = json.loads(payload.decode("utf-8")) if payload.strip() else None
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise AwsError(f"Could not parse request body into json: {detail}", code="InvalidRequestContentException") from None
        record = {"function": function, "qualifier": qualifier, "invocation_type": invocation_type, "payload": sent, "error": script.error, "time": now()}
        with self.lock:
            self.invocations.append(record)
        base = [("x-amzn-RequestId", request_id), ("Content-Type", "application/json")]
        if invocation_type == "DryRun":
            return "204 No Content", [*base, ("Content-Length", "0")], b""
        if invocation_type == "Event":
            return "202 Accepted", [*base, ("Content-Length", "0")], b""
        if script.seconds:
            time.sleep(script.seconds)
        extra = [("X-Amz-Executed-Version", qualifier if qualifier and qualifier.isdigit() else "$LATEST")]
        if script.error is not None:
            body = json.dumps({"errorMessage": script.error, "errorType": "Exception", "requestId": request_id, "stackTrace": []}).encode()
            extra.append(("X-Amz-Function-Error", "Unhandled"))
        else:
            body = json.dumps(script.response).encode()
        if headers.get("log_type") == "Tail":
            logs = f"START RequestId: {request_id} Version: $LATEST\nEND RequestId: {request_id}\nREPORT RequestId: {request_id}\tDuration: {script.seconds * 1000:.2f} ms\n"
            extra.append(("X-Amz-Log-Result", base64.b64encode(logs.encode()).decode()))
        return "200 OK", [*base, *extra, ("Content-Length", str(len(body)))], body


def _training_stop_transition(job: Any, status: str) -> None:
    """A stopped training job's ``SecondaryStatusTransitions``: ``Stopping``, then ``Stopped``."""
    try:
        moment = datetime.now(UTC)
        transitions = list(getattr(job, "secondary_status_transitions", None) or [])
        if transitions and not transitions[-1].get("EndTime"):
            transitions[-1] = {**transitions[-1], "EndTime": moment}
        message = {"Stopping": "Stopping the training job (StopTrainingJob).", "Stopped": "Training job stopped."}[status]
        transitions.append({"Status": status, "StartTime": moment, **({"EndTime": moment} if status == "Stopped" else {}), "StatusMessage": message})
        job.secondary_status_transitions = transitions
    except Exception:  # pragma: no cover - moto internals may change
        log.debug("could not record the training job's stop transition", exc_info=True)


def _automl_metric(name: str, request: Mapping[str, Any]) -> str:
    allowed = service_model().shape_for("AutoMLMetricEnum").enum
    if name in allowed:
        return name
    bare = name.rsplit(":", 1)[-1].lower()
    for candidate in allowed:
        if candidate.lower() == bare:
            return candidate
    objective = (request.get("AutoMLJobObjective") or {}).get("MetricName")
    return objective if objective in allowed else "Accuracy"


@lru_cache(maxsize=1)
def _scripted_step_class() -> type:
    """moto's EMR step, whose ``Status`` also carries ``FailureDetails`` when the step failed."""
    from moto.emr.models import Step

    class ScriptedStep(Step):  # type: ignore[misc]
        @property
        def status(self) -> dict[str, Any]:
            status = dict(Step.status.fget(self))  # type: ignore[attr-defined]
            details = getattr(self, "smpipe_failure_details", None)
            if details:
                status["FailureDetails"] = dict(details)
            return status

    return ScriptedStep
