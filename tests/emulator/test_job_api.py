"""SageMaker's generic job API (CreateJob / DescribeJob / StopJob), which moto lacks: the emulator
keeps the jobs itself (:mod:`airflow_provider_smpipe.emulator.job_api`)."""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import datetime
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from emulator_helpers import ROLE, VALIDATED, validated, wait_for

from airflow_provider_smpipe.definition.naming import job_name
from airflow_provider_smpipe.emulator.gateway import moto_account
from airflow_provider_smpipe.emulator.shapes import operation_model

REGION = "us-east-1"
DOCUMENT = {"BaseModel": "demo-model", "Output": {"S3Uri": "s3://emu-jobs/out"}}


@pytest.fixture
def sm(emulator: Any) -> Any:
    """No retries: a 500 from the strict shape check must surface, not be retried."""
    return validated(emulator.client("sagemaker", region=REGION, config=Config(retries={"mode": "standard", "max_attempts": 1})))


def execution_id() -> str:
    return secrets.token_hex(6)


def request(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "JobName": name,
        "RoleArn": ROLE,
        "JobCategory": "AgentRFT",
        "JobConfigSchemaVersion": "1.0.0",
        "JobConfigDocument": json.dumps(DOCUMENT),
        **extra,
    }


def describe(sm: Any, name: str, category: str = "AgentRFT") -> dict[str, Any]:
    return sm.describe_job(JobName=name, JobCategory=category)


def ended(sm: Any, name: str, timeout: float = 15.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        described = describe(sm, name)
        return described if described["JobStatus"] in ("Completed", "Failed", "Stopped") else None

    return wait_for(done, timeout=timeout, what=f"job {name} to end")


def job_state(emulator: Any, name: str) -> dict[str, Any]:
    return next(job for job in emulator.state()["sagemaker_jobs"] if job["name"] == name)


def secondary(described: dict[str, Any]) -> list[str]:
    return [t["Status"] for t in described["SecondaryStatusTransitions"]]


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_the_operations_are_the_emulators_and_botocore_knows_them() -> None:
    from airflow_provider_smpipe.emulator.api import DIRECT_OPERATIONS

    assert {"CreateJob", "DescribeJob", "StopJob"} <= set(DIRECT_OPERATIONS)
    pattern = operation_model("CreateJob").output_shape.members["JobArn"].metadata["pattern"]
    assert re.fullmatch(pattern, f"arn:aws:sagemaker:{REGION}:123456789012:job/AgentRFT/a-b1")


def test_create_describe_then_completed(emulator: Any, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.05, "steps": {"Tune_Agent": {"seconds": 0.3}}})
    ex = execution_id()
    name = job_name("Tune_Agent", ex, salt="1:1")
    tags = [{"Key": "team", "Value": "ml"}]
    started = time.monotonic()
    arn = sm.create_job(**request(name, Tags=tags))["JobArn"]
    assert arn == f"arn:aws:sagemaker:{REGION}:{moto_account()}:job/AgentRFT/{name}"
    running = describe(sm, name)
    assert (running["JobName"], running["JobArn"], running["RoleArn"], running["JobCategory"]) == (name, arn, ROLE, "AgentRFT")
    assert (running["JobConfigSchemaVersion"], json.loads(running["JobConfigDocument"]), running["Tags"]) == ("1.0.0", DOCUMENT, tags)
    assert (running["JobStatus"], running["SecondaryStatus"], secondary(running)) == ("InProgress", "Training", ["Training"])
    assert "EndTime" not in running and "FailureReason" not in running
    assert isinstance(running["CreationTime"], datetime) and running["LastModifiedTime"] == running["CreationTime"]
    done = ended(sm, name)
    assert done["JobStatus"] == "Completed" and time.monotonic() - started >= 0.3
    assert (done["SecondaryStatus"], secondary(done)) == ("Completed", ["Training", "Completed"])
    assert done["EndTime"] == done["LastModifiedTime"] >= done["CreationTime"] and "FailureReason" not in done
    training, completed = done["SecondaryStatusTransitions"]
    assert training["EndTime"] == completed["StartTime"] == done["EndTime"]
    record = job_state(emulator, name)
    assert (record["step"], record["execution_id"], record["attempt"], record["seconds"], record["driven"], record["lifecycle"]) == (
        "Tune_Agent", ex, 1, 0.3, False, "done"
    )
    evaluation = f"eval-{ex}"  # unscripted: default_step_seconds; an evaluation "Evaluating"
    sm.create_job(**request(evaluation, JobCategory="AgentRFTEvaluation"))
    assert describe(sm, evaluation, "AgentRFTEvaluation")["SecondaryStatus"] == "Evaluating"
    assert wait_for(lambda: describe(sm, evaluation, "AgentRFTEvaluation")["JobStatus"] == "Completed", what="the evaluation")
    assert job_state(emulator, evaluation)["step"] is None and emulator.calls("CreateJob") == 2
    assert VALIDATED["CreateJob"] >= 2 and VALIDATED["DescribeJob"] >= 4  # every response was shape-checked


def test_failure_on_the_first_attempt_then_success_on_the_second(emulator: Any, emulator_scenario: Any, sm: Any) -> None:
    reason = "ClientError: reward function timed out"
    emulator_scenario({"steps": {"RFT": {"seconds": 0.05, "fail": {"reason": reason, "attempts": [1]}}}})
    ex, other = execution_id(), execution_id()
    first, second, elsewhere = job_name("RFT", ex, salt="1:1"), job_name("RFT", ex, salt="1:2"), job_name("RFT", other, salt="1:1")
    sm.create_job(**request(first))
    failed = ended(sm, first)
    assert (failed["JobStatus"], failed["SecondaryStatus"], failed["FailureReason"]) == ("Failed", "Failed", reason)
    assert failed["SecondaryStatusTransitions"][-1]["StatusMessage"] == reason and "EndTime" in failed
    sm.create_job(**request(second))
    sm.create_job(**request(elsewhere))
    assert ended(sm, second)["JobStatus"] == "Completed"
    assert ended(sm, elsewhere)["JobStatus"] == "Failed"  # attempt 1 of another execution
    assert [job_state(emulator, n)["attempt"] for n in (first, second, elsewhere)] == [1, 2, 1]


def test_completed_job_describes_the_scripted_properties(emulator: Any, emulator_scenario: Any, sm: Any) -> None:
    package = "arn:aws:sagemaker:us-east-1:123456789012:model-package/tuned/1"
    # Long enough that the first Describe (right after CreateJob) sees it running even on a loaded
    # machine (0.02 s lost that race in CI).
    emulator_scenario({"steps": {"Fit": {"seconds": 3.0, "properties": {"JobConfigDocument": {"OutputModelPackageArn": package}, "Nope": 1}}}})
    name = job_name("Fit", execution_id(), salt="1:1")
    sm.create_job(**request(name))
    assert json.loads(describe(sm, name)["JobConfigDocument"]) == DOCUMENT  # only once completed
    done = ended(sm, name)
    assert json.loads(done["JobConfigDocument"]) == {**DOCUMENT, "OutputModelPackageArn": package}
    assert job_state(emulator, name)["notes"] == ["properties ignored (not members of the DescribeJob response): Nope"]


def test_duplicate_names_are_refused(emulator: Any, sm: Any) -> None:
    name = f"dup-{execution_id()}"
    arn = sm.create_job(**request(name))["JobArn"]
    for category in ("AgentRFT", "AgentRFTEvaluation"):  # unique per account and region, whatever the category
        with pytest.raises(ClientError) as taken:
            sm.create_job(**request(name, JobCategory=category))
        code, message = error_of(taken)
        assert code == "ResourceInUse" and "already exists" in message and arn in message
    assert ended(sm, name)["JobStatus"] == "Completed"
    with pytest.raises(ClientError) as still:  # an ended job keeps its name
        sm.create_job(**request(name))
    assert error_of(still)[0] == "ResourceInUse"


def test_unknown_job_or_category_is_not_found(sm: Any) -> None:
    name = f"nope-{execution_id()}"
    for call in (sm.describe_job, sm.stop_job):
        with pytest.raises(ClientError) as missing:
            call(JobName=name, JobCategory="AgentRFT")
        assert error_of(missing) == ("ResourceNotFound", f"Job 'arn:aws:sagemaker:{REGION}:{moto_account()}:job/AgentRFT/{name}' does not exist.")
    sm.create_job(**request(name))
    with pytest.raises(ClientError) as other_category:
        describe(sm, name, "AgentRFTEvaluation")
    assert error_of(other_category)[0] == "ResourceNotFound"


def test_stop_running_job_stops_it_for_good(emulator: Any, emulator_scenario: Any, sm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator_scenario({"default_step_seconds": 0.3, "steps": {"Long": {"seconds": 0.3}}})
    monkeypatch.setattr(emulator.app.job_store, "stop_seconds", 0.5)  # time to see Stopping
    name = job_name("Long", execution_id(), salt="1:1")
    sm.create_job(**request(name))
    assert sm.stop_job(JobName=name, JobCategory="AgentRFT")["ResponseMetadata"]["HTTPStatusCode"] == 200
    stopping = describe(sm, name)
    assert (stopping["JobStatus"], stopping["SecondaryStatus"], secondary(stopping)) == ("Stopping", "Stopping", ["Training", "Stopping"])
    assert "EndTime" not in stopping
    sm.stop_job(JobName=name, JobCategory="AgentRFT")  # again while Stopping: accepted, changes nothing
    stopped = ended(sm, name)
    assert (stopped["JobStatus"], stopped["SecondaryStatus"], secondary(stopped)) == ("Stopped", "Stopped", ["Training", "Stopping", "Stopped"])
    assert "FailureReason" not in stopped and stopped["EndTime"] > stopping["LastModifiedTime"]
    # A job created after the stop with the same duration has completed: the stopped one's scripted
    # end is past, and its life cycle did not complete it.
    sentinel = f"sentinel-{execution_id()}"
    sm.create_job(**request(sentinel))
    assert ended(sm, sentinel)["JobStatus"] == "Completed"
    again = describe(sm, name)
    assert (again["JobStatus"], secondary(again), again["EndTime"]) == ("Stopped", ["Training", "Stopping", "Stopped"], stopped["EndTime"])
    record = job_state(emulator, name)
    assert record["lifecycle"] == "done" and record["notes"] == ["life cycle ended early: the job became Stopping before its scripted end"]


def test_stop_of_an_ended_job_is_refused(sm: Any) -> None:
    name = f"over-{execution_id()}"
    sm.create_job(**request(name))
    assert ended(sm, name)["JobStatus"] == "Completed"
    with pytest.raises(ClientError) as refused:
        sm.stop_job(JobName=name, JobCategory="AgentRFT")
    assert error_of(refused) == ("ValidationException", f"The request was rejected because the job {name} is in status Completed.")
    assert describe(sm, name)["JobStatus"] == "Completed"


def test_engine_driven_job_runs_until_finished(emulator: Any, emulator_scenario: Any, sm: Any) -> None:
    emulator_scenario({"default_step_seconds": 0.01})
    store = emulator.app.job_store
    assert emulator.engine.job_store is store
    account = moto_account()
    names = [f"driven-{i}-{execution_id()}" for i in range(3)]
    for name in names:
        store.create(request(name), account, REGION, scenario=emulator.scenario, driven=True)
    # Past default_step_seconds (a client's job would have completed: it was created after these).
    sentinel = f"sentinel-{execution_id()}"
    sm.create_job(**request(sentinel))
    assert ended(sm, sentinel)["JobStatus"] == "Completed"
    assert [describe(sm, n)["JobStatus"] for n in names] == ["InProgress"] * 3
    assert job_state(emulator, names[0])["lifecycle"] is None and job_state(emulator, names[0])["attempt"] is None

    store.finish(account, REGION, names[0], "Completed")
    store.finish(account, REGION, names[1], "Failed", "AlgorithmError: out of memory")
    store.finish(account, REGION, names[2], "Stopped", "the pipeline execution was stopped")
    assert [store.wait(account, REGION, n, timeout=5) for n in names] == ["Completed", "Failed", "Stopped"]
    completed, failed, stopped = (describe(sm, n) for n in names)
    assert "EndTime" in completed and "FailureReason" not in completed and secondary(completed) == ["Training", "Completed"]
    assert failed["FailureReason"] == "AlgorithmError: out of memory" and failed["SecondaryStatus"] == "Failed"
    assert stopped["JobStatus"] == "Stopped" and "FailureReason" not in stopped
    assert stopped["SecondaryStatusTransitions"][-1]["StatusMessage"] == "the pipeline execution was stopped"
    store.finish(account, REGION, names[0], "Failed", "late")  # already ended: left as it is
    assert describe(sm, names[0])["JobStatus"] == "Completed"
    with pytest.raises(ValueError):
        store.finish(account, REGION, names[0], "Stopping")


def test_state_and_reset_forget_ended_jobs() -> None:
    """On an app of its own: ``reset(executions=True)`` would forget the session emulator's executions."""
    from airflow_provider_smpipe.emulator.scenario import Scenario
    from airflow_provider_smpipe.emulator.server import EmulatorApp

    app = EmulatorApp(lambda: "http://127.0.0.1:9")
    assert app.engine.job_store is app.job_store and app.api.job_store is app.job_store
    scenario, account = Scenario(), moto_account()
    for name in ("gone", "kept"):
        app.job_store.create(request(name), account, REGION, scenario=scenario, driven=True)
    app.job_store.finish(account, REGION, "gone", "Completed")
    assert [(j["name"], j["status"], j["driven"]) for j in app.state()["sagemaker_jobs"]] == [("gone", "Completed", True), ("kept", "InProgress", True)]
    app.reset(executions=True)
    assert [j["name"] for j in app.state()["sagemaker_jobs"]] == ["kept"]
    app.job_store.create(request("gone"), account, REGION, scenario=scenario, driven=True)  # a forgotten job's name is free again


def test_requests_are_validated(emulator: Any) -> None:
    raw = emulator.client("sagemaker", region=REGION, config=Config(parameter_validation=False, retries={"mode": "standard", "max_attempts": 1}))
    name = f"bad-{execution_id()}"
    incomplete = request(name)
    del incomplete["RoleArn"]
    with pytest.raises(ClientError) as missing:
        raw.create_job(**incomplete)
    assert error_of(missing) == (
        "ValidationException",
        "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
    )
    with pytest.raises(ClientError) as version:
        raw.create_job(**request(name, JobConfigSchemaVersion="1.0", JobCategory="Other"))
    code, message = error_of(version)
    assert code == "ValidationException" and message.startswith("3 validation errors detected:")  # length and pattern, enum
    assert "Value '1.0' at 'jobConfigSchemaVersion'" in message and "Value 'Other' at 'jobCategory'" in message
    with pytest.raises(ClientError) as no_category:
        raw.describe_job(JobName=name)
    assert error_of(no_category)[0] == "ValidationException"
    assert name not in [job["name"] for job in emulator.state()["sagemaker_jobs"]]
