"""Translation mode: EMR Serverless applications and job runs that clients create directly, scripted
by the scenario like the other directly created work (:mod:`airflow_provider_smpipe.emulator.direct`).

moto creates applications already ``STARTED``; the service creates them ``CREATED`` (they start on
the first job run when auto-start is on, the default), and clients such as the amazon provider's
``serverless_app_created`` waiter wait for ``CREATED``. An application a client creates is
therefore moved to ``CREATED`` here.

moto creates job runs already ``SUCCESS``. Here a run started by a client is ``RUNNING`` for its
step's ``seconds`` (the step found from the run's ``name`` with
:func:`~airflow_provider_smpipe.emulator.direct.match_step`; the n-th run of a step with the same
execution id is attempt n), then ``FAILED`` with the script's ``fail.reason`` on a failing attempt
(its ``stateDetails``), ``CANCELLED`` when the script says ``stopped``, else ``SUCCESS``.

``CancelJobRun`` (``DELETE /applications/{applicationId}/jobruns/{jobRunId}``) is answered here,
not by moto (whose version sets ``CANCELLED`` at once, even on a run that already ended): a run that
has not ended is ``CANCELLING`` at once and ``CANCELLED`` :attr:`DirectWork.stop_seconds` later
(:func:`cancel_job_run`); its scripted end no longer applies.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from airflow_provider_smpipe.emulator.errors import AwsError, ValidationException
from airflow_provider_smpipe.emulator.scenario import Scenario, StepScript
from airflow_provider_smpipe.emulator.shapes import validate_input, validation_message
from airflow_provider_smpipe.emulator.steps.emr import _set_job_run_state

if TYPE_CHECKING:
    from airflow_provider_smpipe.emulator.direct import DirectJob, DirectWork

log = logging.getLogger(__name__)

#: ``POST /applications/{applicationId}/jobruns``: StartJobRun (REST-JSON, no X-Amz-Target).
JOB_RUNS_PATH = re.compile(r"^/applications/(?P<application>[^/]+)/jobruns/?$")
#: ``POST /applications``: CreateApplication.
APPLICATIONS_PATH = re.compile(r"^/applications/?$")
#: ``DELETE /applications/{applicationId}/jobruns/{jobRunId}``: CancelJobRun.
JOB_RUN_PATH = re.compile(r"^/applications/(?P<application>[^/]+)/jobruns/(?P<run>[^/]+)/?$")
_ENDED = ("SUCCESS", "FAILED", "CANCELLED", "CANCELLING")
#: States a job run does not leave.
TERMINAL = ("SUCCESS", "FAILED", "CANCELLED")


def serverless_operation(service: str, environ: Mapping[str, Any]) -> str | None:
    """``StartJobRun``, ``CreateApplication`` or ``CancelJobRun`` for those EMR Serverless
    requests, else ``None``."""
    if service != "emr-serverless":
        return None
    path = environ.get("PATH_INFO", "") or ""
    method = environ.get("REQUEST_METHOD")
    if method == "DELETE" and JOB_RUN_PATH.match(path):
        return "CancelJobRun"
    if method != "POST":
        return None
    if JOB_RUNS_PATH.match(path):
        return "StartJobRun"
    if APPLICATIONS_PATH.match(path):
        return "CreateApplication"
    return None


def check_request(operation: str, path: str, body: bytes) -> None:
    """StartJobRun / CreateApplication as the service checks them before anything runs (moto
    crashes on some malformed bodies): the body is a JSON object (``SerializationException``), and
    with the URI's ``applicationId`` it has botocore's required members and types
    (``ValidationException``)."""
    from airflow_provider_smpipe.emulator.errors import SerializationException

    try:
        params = json.loads(body.decode("utf-8")) if body.strip() else {}
    except UnicodeDecodeError as exc:
        raise SerializationException(f"The request body is not valid UTF-8 (byte {exc.start}).") from None
    except json.JSONDecodeError as exc:
        raise SerializationException(f"Could not parse the request body: {exc.msg} (line {exc.lineno} column {exc.colno}).") from None
    except RecursionError:
        raise SerializationException("Could not parse the request body: it is nested too deeply.") from None
    if not isinstance(params, dict):
        raise SerializationException("The request body must be a JSON object.")
    match = JOB_RUNS_PATH.match(path)
    if operation == "StartJobRun" and match is not None:
        params["applicationId"] = unquote(match.group("application"))
    try:
        errors = validate_input(operation, params, service="emr-serverless", structural=True)
    except RecursionError:
        raise SerializationException("Could not parse the request body: it is nested too deeply.") from None
    if errors:
        raise ValidationException(validation_message(errors))


def cancel_job_run(direct: DirectWork, path: str, query: str, account: str, region: str) -> dict[str, Any]:
    """CancelJobRun. The request is checked against botocore's input shape (``applicationId`` and
    ``jobRunId`` patterns, ``shutdownGracePeriodInSeconds`` an integer): ``ValidationException``.

    * No such application or run: ``ResourceNotFoundException`` (HTTP 404, as botocore's model
      declares it) with moto's message ("Application X does not exist", "JobRun X does not exist").
    * A run that already ended (``SUCCESS``, ``FAILED``, ``CANCELLED``): ``ValidationException``
      (the service's answer for a run that is not in a cancellable state).
    * A run that is already ``CANCELLING``: accepted, nothing changes.
    * Otherwise the run is ``CANCELLING`` at once and ``CANCELLED`` :attr:`DirectWork.stop_seconds`
      later, with ``stateDetails`` saying so; a directly started run's record follows, and its
      scripted end no longer applies.
    """
    from moto.emrserverless.models import emrserverless_backends

    match = JOB_RUN_PATH.match(path)
    assert match is not None
    params: dict[str, Any] = {"applicationId": unquote(match.group("application")), "jobRunId": unquote(match.group("run"))}
    grace = parse_qs(query).get("shutdownGracePeriodInSeconds")
    if grace:
        try:
            params["shutdownGracePeriodInSeconds"] = int(grace[0])
        except ValueError:
            params["shutdownGracePeriodInSeconds"] = grace[0]
    errors = validate_input("CancelJobRun", params, service="emr-serverless")
    if errors:
        raise ValidationException(validation_message(errors))
    application_id, run_id = params["applicationId"], params["jobRunId"]
    with direct.lock:
        try:
            run = emrserverless_backends[account][region].get_job_run(application_id, run_id)
        except Exception as exc:  # moto's ResourceNotFoundException
            message = getattr(exc, "message", None) or getattr(exc, "description", None) or str(exc)
            raise AwsError(str(message), code="ResourceNotFoundException", status=404) from None
        state = str(run.state)
        if state in TERMINAL:
            raise ValidationException(f"Job run {run_id} is not in a cancellable state: it is {state}.")
        if state != "CANCELLING":
            _set_job_run_state(account, region, application_id, run_id, "CANCELLING", "Job run cancellation requested (CancelJobRun).")
            job = direct.index.get((account, region, "EMRServerless", run_id))
            if job is not None:
                job.status = "CANCELLING"
                job.notes.append("CancelJobRun: CANCELLING")
            timer = threading.Timer(direct.stop_seconds, _cancelled, args=(direct, job, account, region, application_id, run_id))
            timer.daemon = True
            timer.name = f"smpipe-cancel-{run_id}"
            timer.start()
    return {"applicationId": application_id, "jobRunId": run_id}


def _cancelled(direct: DirectWork, job: DirectJob | None, account: str, region: str, application_id: str, run_id: str) -> None:
    from moto.emrserverless.models import emrserverless_backends

    with direct.lock:
        try:
            run = emrserverless_backends[account][region].get_job_run(application_id, run_id)
        except Exception:  # noqa: BLE001 - moto was reset meanwhile
            return
        if run.state == "CANCELLING":
            _set_job_run_state(account, region, application_id, run_id, "CANCELLED", "Job run cancelled (CancelJobRun).")
        if job is not None and job.status == "CANCELLING":
            job.status, job.end_time = "CANCELLED", time.time()
            job.notes.append("CANCELLED")


def application_created(response_body: bytes, account: str, region: str) -> None:
    """A client's CreateApplication: the application is ``CREATED``, as the service has it."""
    from moto.emrserverless.models import emrserverless_backends

    try:
        application_id = json.loads(response_body or b"{}")["applicationId"]
        emrserverless_backends[account][region].applications[application_id].state = "CREATED"
    except Exception:  # noqa: BLE001 - best effort: moto internals may change
        log.debug("could not set the EMR Serverless application state", exc_info=True)


def job_run_started(direct: DirectWork, body: bytes, response_body: bytes, account: str, region: str, scenario: Scenario) -> None:
    """moto accepted a client's StartJobRun: give the run its scripted life."""
    try:
        params, response = json.loads(body or b"{}"), json.loads(response_body or b"{}")
    except json.JSONDecodeError:  # pragma: no cover - moto answered 200 to JSON
        return
    if not isinstance(params, dict) or not isinstance(response, dict) or "jobRunId" not in response:
        return
    application_id, run_id = str(response.get("applicationId")), str(response["jobRunId"])
    name = str(params.get("name") or run_id)
    job = direct._register(  # noqa: SLF001 - the direct-work registry shared by every kind
        scenario, "EMRServerless", name, account, region, params, "RUNNING", arn=response.get("arn"), cluster_id=application_id, step_id=run_id
    )
    _set_job_run_state(account, region, application_id, run_id, "RUNNING")
    direct._thread(lambda j: _live(direct, j), job)  # noqa: SLF001


def _moto_state(job: DirectJob) -> str | None:
    from moto.emrserverless.models import emrserverless_backends

    try:
        return str(emrserverless_backends[job.account][job.region].get_job_run(str(job.cluster_id), str(job.step_id)).state)
    except Exception:  # noqa: BLE001 - moto was reset meanwhile
        return None


def _live(direct: DirectWork, job: DirectJob) -> None:
    try:
        deadline = time.monotonic() + job.seconds
        while time.monotonic() < deadline:
            with direct.lock:
                if job.status != "RUNNING":  # CancelJobRun took over
                    job.notes.append(f"scripted end not applied: the run was already {job.status}")
                    return
                current = _moto_state(job)
                if current is None or current in _ENDED:  # changed in moto (or moto reset) meanwhile
                    job.status, job.end_time = str(current or "Deleted"), time.time()
                    job.notes.append(f"no longer running in moto ({current}): not completed by the emulator")
                    return
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        script = job.script or StepScript()
        fail = script.fail
        if fail is not None and job.attempt is not None and fail.fails_attempt(job.attempt):
            state, reason = "FAILED", fail.reason
        elif script.stopped:
            state, reason = "CANCELLED", "Job run cancelled (scenario: stopped)"
        else:
            state, reason = "SUCCESS", None
        with direct.lock:  # one decision with CancelJobRun: whichever comes first wins
            if job.status != "RUNNING" or _moto_state(job) != "RUNNING":
                job.notes.append(f"scripted end not applied: the run was already {job.status}")
                return
            _set_job_run_state(job.account, job.region, str(job.cluster_id), str(job.step_id), state, reason)
            job.status, job.end_time = state, time.time()
            if reason is not None:
                job.failure_reason = reason[:1024]
    except Exception as exc:  # a bug here must not leave the run going forever
        log.exception("directly started EMR Serverless job run %s crashed", job.name)
        _set_job_run_state(job.account, job.region, str(job.cluster_id), str(job.step_id), "FAILED", f"InternalError: {type(exc).__name__}: {exc}")
        with direct.lock:
            job.status, job.end_time = "FAILED", time.time()
