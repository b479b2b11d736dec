"""SageMaker's generic job API (``CreateJob`` / ``DescribeJob`` / ``StopJob``), which moto lacks.

The emulator keeps these jobs itself, one :class:`JobStore` per server, per (account, region, job
name) (the service: "The name must be unique within your account and Amazon Web Services Region").

* A job a **client** creates (``driven=False``) lives by the scenario, like the other directly
  created jobs (:mod:`airflow_provider_smpipe.emulator.direct`): the scripted step is found from
  the job name with :func:`~airflow_provider_smpipe.emulator.direct.match_step` (the n-th job of a
  step with the same execution id is attempt n); it is ``InProgress`` for the step's ``seconds``
  (``default_step_seconds`` when unscripted), then ``Failed`` with the script's ``fail.reason``
  on a failing attempt, else ``Completed`` (the scenario's ``properties`` that ``DescribeJob``
  declares are then part of its description).
* A job the **pipeline engine** creates for a ``Job`` step (``driven=True``) stays ``InProgress``
  until the engine calls :meth:`JobStore.finish`.
* ``StopJob`` moves an ``InProgress`` job to ``Stopping`` at once and to ``Stopped``
  :attr:`JobStore.stop_seconds` later (see :meth:`JobStore.stop`).

The ARN is ``arn:aws:sagemaker:<region>:<account>:job/<JobCategory>/<JobName>``: botocore's
``JobArn`` pattern has a path segment between ``job/`` and the name, and the service's documents
show the category there (``...:job/AgentRFT/my-training-job``). The name keeps its case (the
pattern allows capitals, unlike the lower-cased names of training-job ARNs).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_smpipe.emulator.direct import match_step
from airflow_provider_smpipe.emulator.engine import now
from airflow_provider_smpipe.emulator.errors import AwsError, ResourceNotFound, ValidationException
from airflow_provider_smpipe.emulator.gateway import json_safe
from airflow_provider_smpipe.emulator.jobs import deep_merge
from airflow_provider_smpipe.emulator.scenario import Scenario, StepScript
from airflow_provider_smpipe.emulator.shapes import operation_model, to_wire, validate_input, validation_message

log = logging.getLogger(__name__)

#: Statuses a job does not leave.
ENDED = ("Completed", "Failed", "Stopped")
#: What :meth:`JobStore.finish` accepts.
FINISH_STATUSES = ENDED
#: Seconds between ``Stopping`` and ``Stopped`` after a StopJob (an emulator choice: long enough
#: for a client to see ``Stopping``, short enough for tests).
STOP_SECONDS = 0.1
#: The secondary status of a running job, by category (the enum has ``Training`` and
#: ``Evaluating``; the emulator has no start-up or upload phases to report).
RUNNING_SECONDARY = {"AgentRFT": "Training", "AgentRFTEvaluation": "Evaluating"}
_RUNNING_MESSAGES = {"Training": "Training is in progress.", "Evaluating": "Evaluation is in progress."}
_MAX_REASON = 1024


def job_arn(region: str, account: str, category: str, name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:job/{category}/{name}"


@dataclass
class Job:
    """One CreateJob job (its record; :class:`JobStore` holds the lock that guards it)."""

    name: str
    account: str
    region: str
    category: str
    arn: str
    request: dict[str, Any]
    driven: bool
    step: str | None
    execution_id: str | None
    attempt: int | None
    seconds: float | None
    script: StepScript | None
    status: str = "InProgress"
    created: float = field(default_factory=now)
    modified: float = 0.0
    end_time: float | None = None
    failure_reason: str | None = None
    #: ``[status, start, end or None, message or None]`` for SecondaryStatusTransitions.
    transitions: list[list[Any]] = field(default_factory=list)
    #: ``running`` while a scenario-driven job's life-cycle thread may still change it, then ``done``.
    lifecycle: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def secondary(self) -> str:
        return str(self.transitions[-1][0])

    def move(self, status: str, secondary: str, moment: float, message: str | None = None) -> None:
        """Change status; close the open secondary transition and open ``secondary``."""
        self.status = status
        self.modified = moment
        if self.transitions and self.transitions[-1][2] is None:
            self.transitions[-1][2] = moment
        ended = status in ENDED
        self.transitions.append([secondary, moment, moment if ended else None, message])
        if ended:
            self.end_time = moment

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "JobName": self.name,
            "JobArn": self.arn,
            "RoleArn": self.request.get("RoleArn"),
            "JobCategory": self.category,
            "JobConfigSchemaVersion": self.request.get("JobConfigSchemaVersion"),
            "JobConfigDocument": self.request.get("JobConfigDocument"),
            "CreationTime": self.created,
            "LastModifiedTime": self.modified,
            "JobStatus": self.status,
            "SecondaryStatus": self.secondary,
            "SecondaryStatusTransitions": [
                {
                    "Status": status,
                    "StartTime": start,
                    **({"EndTime": end} if end is not None else {}),
                    **({"StatusMessage": message} if message else {}),
                }
                for status, start, end, message in self.transitions
            ],
        }
        out = {k: v for k, v in out.items() if v is not None}
        if self.end_time is not None:
            out["EndTime"] = self.end_time
        if self.status == "Failed" and self.failure_reason:
            out["FailureReason"] = self.failure_reason
        if self.request.get("Tags"):
            out["Tags"] = [dict(tag) for tag in self.request["Tags"]]
        if self.status == "Completed" and self.script is not None and self.script.properties:
            out = self._with_properties(out)
        return out

    def _with_properties(self, out: dict[str, Any]) -> dict[str, Any]:
        """The scenario's ``properties`` that DescribeJob declares, merged in. A mapping given for
        ``JobConfigDocument`` is merged into the request's JSON document (a Job step's property
        paths go on into it, e.g. ``Steps.X.JobConfigDocument.OutputModelPackageArn``)."""
        assert self.script is not None
        members = operation_model("DescribeJob").output_shape.members
        chosen = {k: v for k, v in self.script.properties.items() if k in members}
        ignored = sorted(set(self.script.properties) - set(chosen))
        if ignored and not any(n.startswith("properties ignored") for n in self.notes):
            self.notes.append(f"properties ignored (not members of the DescribeJob response): {', '.join(ignored)}")
        document = chosen.get("JobConfigDocument")
        if isinstance(document, Mapping):
            try:
                base = json.loads(out["JobConfigDocument"])
            except (TypeError, json.JSONDecodeError):
                base = {}
            chosen["JobConfigDocument"] = json.dumps(deep_merge(base if isinstance(base, Mapping) else {}, json_safe(dict(document))))
        return deep_merge(out, to_wire("DescribeJob", json_safe(chosen)))

    def state(self) -> dict[str, Any]:
        return {
            "type": "Job",
            "name": self.name,
            "arn": self.arn,
            "category": self.category,
            "driven": self.driven,
            "step": self.step,
            "execution_id": self.execution_id,
            "attempt": self.attempt,
            "status": self.status,
            "secondary_status": self.secondary,
            "seconds": self.seconds,
            "created": self.created,
            "end_time": self.end_time,
            "failure_reason": self.failure_reason,
            "lifecycle": self.lifecycle,
            "request": json_safe(self.request),
            "notes": list(self.notes),
        }


class JobStore:
    """Every CreateJob job of one emulator server (thread-safe).

    :attr:`changed` is notified on every status change (:meth:`wait` blocks on it).
    """

    def __init__(self, *, stop_seconds: float = STOP_SECONDS) -> None:
        self.stop_seconds = stop_seconds
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.jobs: dict[tuple[str, str, str], Job] = {}
        self.attempts: Counter[tuple[str, str | None]] = Counter()

    # -- CreateJob ---------------------------------------------------------------------------------

    def create(self, params: Mapping[str, Any], account: str, region: str, *, scenario: Scenario, driven: bool = False) -> dict[str, Any]:
        """CreateJob; returns ``{"JobArn": ...}``.

        The request is checked against botocore's input shape (``ValidationException``). A name
        already used in the account and region (by a job of any category, running or
        ended, until :meth:`forget`) is refused with ``ResourceInUse``. ``driven=False``: the job
        lives by ``scenario`` (module docstring); ``driven=True``: it is ``InProgress`` until
        :meth:`finish` (no attempt is counted: the engine counts its own).
        """
        errors = validate_input("CreateJob", params)  # the HTTP path checked it already; the engine's may not have
        if errors:
            raise ValidationException(validation_message(errors))
        name, category = str(params["JobName"]), str(params["JobCategory"])
        step, execution_id = match_step(scenario, name)
        script = scenario.steps.get(step) if step is not None else None
        with self.changed:
            existing = self.jobs.get((account, region, name))
            if existing is not None:
                raise AwsError(
                    f"Job names must be unique within an AWS account and region, and a job with this name already exists ({existing.arn})",
                    code="ResourceInUse",
                )
            attempt = None
            if step is not None and not driven:
                self.attempts[(step, execution_id)] += 1
                attempt = self.attempts[(step, execution_id)]
            job = Job(
                name=name,
                account=account,
                region=region,
                category=category,
                arn=job_arn(region, account, category, name),
                request=json_safe(dict(params)),
                driven=driven,
                step=step,
                execution_id=execution_id,
                attempt=attempt,
                seconds=None if driven else scenario.seconds_for(step) if step is not None else scenario.default_step_seconds,
                script=script,
            )
            secondary = RUNNING_SECONDARY.get(category, "Training")
            job.move("InProgress", secondary, job.created, _RUNNING_MESSAGES.get(secondary))
            if script is not None and script.files:
                job.notes.append("files ignored: a CreateJob request names no output location the emulator could write them to")
            if not driven:
                job.lifecycle = "running"
            self.jobs[(account, region, name)] = job
            self.changed.notify_all()
        if not driven:
            threading.Thread(target=self._live, args=(job,), name=f"smpipe-job-{name}", daemon=True).start()
        return {"JobArn": job.arn}

    def _live(self, job: Job) -> None:
        """A scenario-driven job's life: wait its seconds (woken early when stopped), then end it
        as the script says, unless something else (StopJob) moved it meanwhile."""
        try:
            with self.changed:
                self.changed.wait_for(lambda: job.status != "InProgress", timeout=job.seconds)
                if job.status != "InProgress":
                    job.notes.append(f"life cycle ended early: the job became {job.status} before its scripted end")
                    return
                fail = job.script.fail if job.script is not None else None
                if fail is not None and job.attempt is not None and fail.fails_attempt(job.attempt):
                    self._end(job, "Failed", fail.reason)
                elif job.script is not None and job.script.stopped:  # as if someone stopped it by hand
                    self._end(job, "Stopped")
                else:
                    self._end(job, "Completed")
        except Exception as exc:  # a bug here must not leave the job running forever
            log.exception("CreateJob job %s crashed", job.name)
            with self.changed:
                if job.status == "InProgress":
                    self._end(job, "Failed", f"InternalError: the emulator failed to run this job: {type(exc).__name__}: {exc}")
        finally:
            with self.changed:
                job.lifecycle = "done"
                self.changed.notify_all()

    def _end(self, job: Job, status: str, reason: str | None = None) -> None:
        """Move ``job`` to an ended status (the caller holds the lock). ``reason`` is a failed
        job's ``FailureReason``; for ``Stopped`` it is only the last transition's ``StatusMessage``
        (the service documents ``FailureReason`` for failed jobs only)."""
        if status == "Failed":
            job.failure_reason = (reason or "ClientError: the job failed")[:_MAX_REASON]
        message = {"Completed": "Job completed.", "Failed": job.failure_reason, "Stopped": reason or "Job stopped."}[status]
        job.move(status, status, now(), message)
        self.changed.notify_all()

    # -- the engine's side -------------------------------------------------------------------------

    def finish(self, account: str, region: str, name: str, status: str, reason: str | None = None) -> None:
        """End a job (the pipeline engine, for the jobs it created with ``driven=True``).

        ``status`` is ``Completed``, ``Failed`` (``reason`` is its ``FailureReason``) or
        ``Stopped`` (``reason``, if given, is the ``StatusMessage`` of its last transition). A ``Stopping`` job takes any of them (it may finish before it stops). A job
        that already ended is left as it is (a StopJob may have won the race): noted in its state.
        ``ResourceNotFound`` for an unknown job, ``ValueError`` for another status.
        """
        if status not in FINISH_STATUSES:
            raise ValueError(f"a job can only be finished as one of {', '.join(FINISH_STATUSES)}, not {status!r}")
        with self.changed:
            job = self._job(account, region, name)
            if job.status in ENDED:
                job.notes.append(f"finish({status}) ignored: the job was already {job.status}")
                return
            self._end(job, status, reason)

    def wait(self, account: str, region: str, name: str, timeout: float = 30.0) -> str:
        """Block until the job ended; return its status (``TimeoutError`` otherwise)."""
        with self.changed:
            job = self._job(account, region, name)
            if not self.changed.wait_for(lambda: job.status in ENDED, timeout=timeout):
                raise TimeoutError(f"job {name} is still {job.status} after {timeout} s")
            return job.status

    # -- DescribeJob / StopJob ---------------------------------------------------------------------

    def describe(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        """DescribeJob (wire form: timestamps as epoch seconds). ``ResourceNotFound`` when no job
        has that name and category."""
        with self.lock:
            return self._job(account, region, str(params["JobName"]), params.get("JobCategory")).describe()

    def stop(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        """StopJob: an ``InProgress`` job is ``Stopping`` at once and ``Stopped``
        :attr:`stop_seconds` later (not immediately, so that a client sees ``Stopping`` as the
        service documents: "sets the job status to Stopping. After the job stops, the status
        changes to Stopped"); a scenario-driven job is never completed or failed by its life cycle
        afterwards. StopJob of a job that is already ``Stopping`` is accepted and changes nothing
        (a retried request must not fail).

        A job that already ended is refused with ``ValidationException`` ("The request was
        rejected because the job is in status Completed."): that is how SageMaker answers Stop* of
        its other finished jobs (StopTrainingJob, StopProcessingJob, ...), and StopJob's model
        declares no conflict-type error (only ``ResourceNotFound``, besides the common
        ``ValidationException``).
        """
        with self.changed:
            job = self._job(account, region, str(params["JobName"]), params.get("JobCategory"))
            if job.status in ENDED:
                raise ValidationException(f"The request was rejected because the job {job.name} is in status {job.status}.")
            if job.status == "InProgress":
                job.move("Stopping", "Stopping", now(), "Stopping the job (StopJob).")
                self.changed.notify_all()
                timer = threading.Timer(self.stop_seconds, self._stopped, args=(job,))
                timer.daemon = True
                timer.name = f"smpipe-job-stop-{job.name}"
                timer.start()
        return {}

    def _stopped(self, job: Job) -> None:
        with self.changed:
            if job.status == "Stopping":  # the engine may have finished it meanwhile
                self._end(job, "Stopped")

    # -- bookkeeping -------------------------------------------------------------------------------

    def _job(self, account: str, region: str, name: str, category: str | None = None) -> Job:
        with self.lock:
            job = self.jobs.get((account, region, name))
        if job is None or (category is not None and job.category != category):
            arn = job_arn(region, account, category, name) if category else name
            raise ResourceNotFound(f"Job '{arn}' does not exist.")
        return job

    def find(self, account: str, region: str, name: str) -> Job | None:
        with self.lock:
            return self.jobs.get((account, region, name))

    def state(self) -> list[dict[str, Any]]:
        """Every job (for ``GET /_smpipe/state``), oldest first."""
        with self.lock:
            return [job.state() for job in sorted(self.jobs.values(), key=lambda j: j.created)]

    def forget(self) -> None:
        """Drop ended jobs (their names become free again) and the attempt counters; jobs that
        are still ``InProgress`` or ``Stopping`` are kept."""
        with self.lock:
            self.jobs = {key: job for key, job in self.jobs.items() if job.status not in ENDED}
            self.attempts.clear()

    def reset_attempts(self) -> None:
        """Attempt numbers count the jobs created since the scenario was loaded (as DirectWork's)."""
        with self.lock:
            self.attempts.clear()
