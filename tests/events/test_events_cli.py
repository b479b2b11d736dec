"""``smpipe events setup`` against the session emulator: what it prints, its idempotence, and its
errors (one line, exit 1, no traceback)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from typing import Any

import pytest

from airflow_provider_smpipe import cli
from airflow_provider_smpipe.events.setup import TARGET_ID


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def smpipe(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``smpipe events ...`` through the top-level command (the plugged subcommand), in its own
    process as users run it: in-process, whatever logging an earlier test configured (Airflow's
    root handler prints botocore's INFO lines) would leak into what the command prints."""
    command = [sys.executable, "-m", "airflow_provider_smpipe.cli", "events", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ, timeout=120, check=False)
    return done.returncode, done.stdout, done.stderr


def snippet_of(out: str) -> str:
    return out[out.index("# Events: SQS queue") :]


def test_setup_prints_what_it_created_and_the_asset_watcher_code(emulator: Any, capsys: pytest.CaptureFixture[str]) -> None:
    queue, pipeline = unique("cli-events"), unique("cli-pipe")
    code, out, err = smpipe(capsys, "setup", "--queue", queue, "--pipeline", pipeline, "--endpoint-url", emulator.endpoint_url, "--region", "us-east-1")
    assert (code, err) == (0, "")
    for line in (f"created SQS queue {queue}", f"created EventBridge rule smpipe-{queue}", f"added the queue as target {TARGET_ID}", "set the queue's policy"):
        assert line in out, out
    assert f"note: pipeline {pipeline} does not exist yet" in out
    compile(snippet_of(out), "<snippet>", "exec")
    assert f'pipeline_names=["{pipeline}"],' in snippet_of(out)

    events = emulator.client("events")
    assert events.list_targets_by_rule(Rule=f"smpipe-{queue}")["Targets"][0]["Arn"].endswith(f":{queue}")
    assert json.loads(events.describe_rule(Name=f"smpipe-{queue}")["EventPattern"])["resources"] == [
        f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/{pipeline}"
    ]

    code, again, err = smpipe(capsys, "setup", "--queue", queue, "--pipeline", pipeline, "--endpoint-url", emulator.endpoint_url)
    assert (code, err) == (0, "")
    assert "nothing to change: already set up" in again and "created" not in again


def test_json_output(emulator: Any, capsys: pytest.CaptureFixture[str]) -> None:
    queue = unique("cli-json")
    code, out, err = smpipe(capsys, "setup", "--queue", queue, "--rule", unique("my.rule"), "--status", "Failed", "--endpoint-url", emulator.endpoint_url, "--json")
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert {"queue_url", "queue_arn", "rule_name", "rule_arn", "event_pattern", "asset_watcher_snippet"} <= set(result)
    assert result["rule_name"].startswith("my.rule-") and "resources" not in result["event_pattern"]
    compile(result["asset_watcher_snippet"], "<snippet>", "exec")
    assert 'statuses=["Failed"]' in result["asset_watcher_snippet"]


@pytest.mark.parametrize(
    ("queue", "expected"),
    [("bad queue!", "queue name 'bad queue!' is not valid: an SQS queue name is 1 to 80 characters"), ("events.fifo", "FIFO queues are not supported")],
)
def test_a_bad_queue_name_is_one_line_and_exit_1(emulator: Any, capsys: pytest.CaptureFixture[str], queue: str, expected: str) -> None:
    code, out, err = smpipe(capsys, "setup", "--queue", queue, "--endpoint-url", emulator.endpoint_url)
    assert code == 1 and out == ""
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1, err


def test_an_unreachable_endpoint_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, err = smpipe(capsys, "setup", "--queue", "q", "--endpoint-url", f"http://127.0.0.1:{port}", "--region", "us-east-1")
    assert code == 1 and out == ""
    assert err.startswith("error: cannot set up events for queue 'q': ") and f"127.0.0.1:{port}" in err
    assert "Traceback" not in err and err.count("\n") == 1, err


def test_an_unknown_profile_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = smpipe(capsys, "setup", "--queue", "q", "--profile", "no-such-profile-here")
    assert code == 1 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert "no-such-profile-here" in err


def test_a_rule_made_for_something_else_is_one_line_and_exit_1(emulator: Any, capsys: pytest.CaptureFixture[str]) -> None:
    rule = unique("scheduled")
    emulator.client("events").put_rule(Name=rule, ScheduleExpression="rate(1 hour)")
    code, out, err = smpipe(capsys, "setup", "--queue", unique("q"), "--rule", rule, "--endpoint-url", emulator.endpoint_url)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert f"rule '{rule}' already exists and is not a SageMaker events rule" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["events", "setup"])
    assert exited.value.code == 2
    assert "--queue" in capsys.readouterr().err
