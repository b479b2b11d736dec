#!/usr/bin/env python
"""Benchmark of the native wait: this provider's trigger against the amazon provider's, on the emulator;
and the event-fed wait against both.

Run from the repository root::

    .venv/bin/python benchmarks/bench_native_wait.py                 # Parts A-D (B with N = 100, 1000)
    .venv/bin/python benchmarks/bench_native_wait.py --sizes 100     # a lighter Part B
    .venv/bin/python benchmarks/bench_native_wait.py --sizes --event-sizes 3 --idle-window 20 --repeats 2   # quick
    .venv/bin/python benchmarks/bench_native_wait.py --no-events     # Parts A and B without the event-fed wait
    .venv/bin/python benchmarks/bench_native_wait.py --json          # machine-readable results

"ours" is ``SageMakerPipelineExecutionTrigger``, which this provider's deferrable operators and
sensors defer to. "theirs" (the anchor) is apache-airflow-providers-amazon's
``SageMakerPipelineTrigger(waiter_type=COMPLETE)``, which ``SageMakerStartPipelineOperator(
deferrable=True)`` defers to. Both run unmodified against the same local emulator and use the same
``aws_default`` connection.

* **Part A, one 60-step execution.** The pipeline has 6 layers of 10 Processing steps, and each
  step lasts 0.2-0.6 s. Each repetition starts a fresh execution for each trigger, one after the
  other, in an alternating order. The trigger starts after an offset, and both triggers get the
  same offsets, spread evenly over one poll interval. For each wait it records the emulator's API calls
  (DescribePipelineExecution, ListPipelineExecutionSteps, total), the number of polls, and the
  latency: the time the event arrived minus the time the execution became terminal. The
  terminal time is the execution's ``LastModifiedTime`` from DescribePipelineExecution; the
  emulator stamps it when the status turns terminal. The script reports medians.
* **Part B, N concurrent waits in one event loop.** Each (trigger, N) pair runs in its own fresh
  subprocess, so memory does not bleed from one to another. The N waits are spread round-robin
  over a few long-running executions. Their starts are spread over one poll interval, as
  deferrals arrive over time in a real triggerer. The poll interval is the same for both triggers
  and is N / 50 s (2 s for N = 100, 20 s for N = 1000), so that both make about 50 polls per
  second in aggregate. Once every wait has polled (the ramp) and one more poll interval has passed,
  the script measures:
  (i) memory per wait, as the ``tracemalloc`` current size (traced from just before the start,
  N <= 100 by default) and as the RSS delta from ``/proc/self/statm``, each divided by N;
  (ii) event-loop lag: a ticker sleeps 10 ms and records how late it wakes (tracemalloc off);
  (iii) API calls per wait per poll.
  The anchor builds an aiobotocore client per wait, on the event loop, and that takes about 3
  minutes for 1000 waits here. So the ramp has a budget (``--ramp-timeout``, 50 s). The waits
  that have not polled by then are cancelled, the figures are for the waits that did, and the
  table says how many of the N those were.

**The event-fed wait** ("events") is ``SageMakerPipelineExecutionEventTrigger`` (``wait_via='events'``):
it looks once when it starts, then waits for SageMaker's events in an SQS queue that a real (moto)
EventBridge rule fills (made with ``setup_event_queue``; the emulator puts SageMaker's events on every
status change), and polls once more when the end event arrives. It works only through a shared
stream, so it runs through Airflow's own ``SharedStreamManager`` as in a triggerer
(``native_wait_events.py``); the waits on one queue share one ``ReceiveMessage`` long poll.

* **Part A** has it as a third trigger, on the same executions, offsets and poll interval (its
  ``poll_interval`` is only its fallback), with a fresh queue per wait.
* **Part C, N concurrent waits** (``--event-sizes``, default 10): for each trigger in turn, N
  executions of the 60-step pipeline start together and N waits, one per execution, begin over one
  poll interval; the event-fed waits share one queue.
* **Part D, idle minutes** (``--idle-window``, default 60 s): waits on long-running executions in
  which nothing changes: one of each polling trigger, and event-fed groups of 1 and of each N (a
  queue per group), all in one event loop for the same window.

For these it reports, per wait, the SageMaker calls and, separately, the queue reads
(ReceiveMessage, DeleteMessageBatch, ChangeMessageVisibilityBatch; a group's reads divided by its
N waits), per waited execution-minute (from the wait's start to the execution's end), and the
detection latency as in Part A. The event-fed latency is split by the end event's ``SentTimestamp``
(the probe asks ReceiveMessage for it) into the time until the event was in the queue (the
emulator's publishing) and until the receive loop had it.

The script prints figures and asserts nothing about time (it is not a test). It does check that
every wait really polled and that every Part A wait ended with its event. It stops with an error
otherwise.

Internals: the parent process hosts the emulator and never imports Airflow. Every trigger runs in a
child process (``--child a`` / ``--child b``) whose log output goes to a file. Triggers log at INFO
as in a triggerer, so the cost of logging is part of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import gc
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from native_wait_events import (  # noqa: E402 - after the path set-up
    SQS_OPERATIONS,
    TriggererStreams,
    check_shared_streams,
    drop_queue,
    event_trigger,
    make_queue,
)

KINDS = ("ours", "theirs")
#: Part A and Part C add the event-fed wait ("events": SageMakerPipelineExecutionEventTrigger).
EVENT_KINDS = ("ours", "theirs", "events")
DEFAULT_SIZES = (100, 1000)
DEFAULT_EVENT_SIZES = (10,)
ROLE = "arn:aws:iam::123456789012:role/SageMakerPipelineRole"
LONG_STEP = "Hold"
PIPELINE_60 = "bench-wait-60"
PIPELINE_LONG = "bench-wait-long"
LAYERS, WIDTH = 6, 10
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MiB = 1024 * 1024


# ----------------------------------------------------------------------------------------------
# shared helpers
# ----------------------------------------------------------------------------------------------


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except OSError:  # pragma: no cover - not Linux
        return 0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100.0 * len(ordered)) - 1))
    return ordered[index]


def admin(endpoint: str, route: str, body: dict[str, Any] | None = None) -> Any:
    """The emulator's admin API (``/_smpipe/*``); these requests are not counted as API calls."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(endpoint + route, data=data, method="POST" if body is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def emulator_calls(endpoint: str) -> dict[str, int]:
    return dict(admin(endpoint, "/_smpipe/state")["calls"])


def emulator_counts(endpoint: str) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """The emulator's counters: calls by operation, and by service (``sagemaker``, ``sqs``, ...)."""
    state = admin(endpoint, "/_smpipe/state")
    return dict(state["calls"]), {service: dict(calls) for service, calls in state.get("calls_by_service", {}).items()}


def split_calls(by_service: dict[str, dict[str, int]]) -> tuple[int, dict[str, int]]:
    """(SageMaker calls, the queue reads by operation) of one measurement."""
    sqs = by_service.get("sqs", {})
    return sum(by_service.get("sagemaker", {}).values()), {op: sqs.get(op, 0) for op in SQS_OPERATIONS}


def reset_calls(endpoint: str) -> None:
    admin(endpoint, "/_smpipe/reset", {})


def airflow_environment(endpoint: str, home: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AIRFLOW_CONN_AWS_DEFAULT=json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"region_name": "us-east-1", "endpoint_url": endpoint},
            }
        ),
    )
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    return env


def boto_client(endpoint: str) -> Any:
    import boto3

    return boto3.session.Session().client(
        "sagemaker", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def start_execution(sm: Any, pipeline: str) -> str:
    return sm.start_pipeline_execution(PipelineName=pipeline, ClientRequestToken=uuid.uuid4().hex)["PipelineExecutionArn"]


def make_trigger(kind: str, arn: str, poll_interval: int, max_attempts: int) -> Any:
    if kind == "ours":
        from airflow_provider_smpipe.triggers.pipeline_execution import (
            SageMakerPipelineExecutionTrigger,
        )

        return SageMakerPipelineExecutionTrigger(execution_arn=arn, poll_interval=poll_interval, aws_conn_id="aws_default")
    from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerPipelineTrigger

    return SageMakerPipelineTrigger(
        waiter_type=SageMakerPipelineTrigger.Type.COMPLETE,
        pipeline_execution_arn=arn,
        waiter_delay=poll_interval,
        waiter_max_attempts=max_attempts,
        aws_conn_id="aws_default",
    )


TERMINAL_EXECUTION = ("Succeeded", "Failed", "Stopped", "CompletedWithFailures")
#: Part D: which wait a task's calls belong to (set at the start of the wait's task).
WAIT_LABEL: contextvars.ContextVar[str | None] = contextvars.ContextVar("WAIT_LABEL", default=None)


class CallProbe:
    """Client-side record of every aiobotocore API call (wraps ``AioBaseClient._make_api_call``).

    It serves as a cross-check of the emulator's counters, gives the time of the poll that saw the
    terminal status (Part A), and tells which waits have polled at least once (Part B ramp). The
    wrapper costs a dict update per call, and both triggers pay it alike.
    """

    def __init__(self, keep_records: bool) -> None:
        self.keep_records = keep_records
        self.records: list[tuple[str, float, float, str | None]] = []
        self.counts: dict[str, int] = {}
        self.polled: set[int] = set()
        # Per-poll accounting (Part B): a poll is a DescribePipelineExecution *started* while the
        # window is open; every later call of the same wait, up to its next Describe, belongs to it.
        self.window_open = False
        self.in_window_poll: dict[int, bool] = {}
        self.window_polls = 0
        self.window_poll_calls = 0
        # Poll period: time between one wait's consecutive Describe calls (the later one in the window).
        self.last_describe: dict[int, float] = {}
        self.periods: list[float] = []
        self.latencies: list[float] = []  # seconds per call completed while the window is open
        self.ramp_over = False
        # Part D: calls begun, by the queue they read (SQS) or by the WAIT_LABEL of the wait's task.
        self.by_label: dict[str, dict[str, int]] = {}
        # Event-fed waits: (SentTimestamp, time the receive loop got it) of each execution's end
        # event, by lower-case execution ARN.
        self.end_received: dict[str, tuple[float | None, float]] = {}

    def install(self) -> None:
        from aiobotocore.client import AioBaseClient

        original = AioBaseClient._make_api_call
        probe = self

        async def _make_api_call(client: Any, operation_name: str, api_params: Any) -> Any:
            started = time.time()
            queue = api_params.get("QueueUrl") if isinstance(api_params, dict) else None
            label = queue or WAIT_LABEL.get()
            if label is not None:
                mine = probe.by_label.setdefault(label, {})
                mine[operation_name] = mine.get(operation_name, 0) + 1
            current = asyncio.current_task()
            key = id(current) if current is not None else 0
            if operation_name == "ReceiveMessage" and isinstance(api_params, dict) and "MessageSystemAttributeNames" not in api_params:
                # The messages' SentTimestamp, to split an event-fed wait's latency (see note_end_events).
                api_params = {**api_params, "MessageSystemAttributeNames": ["SentTimestamp"]}
            if operation_name == "DescribePipelineExecution":
                probe.in_window_poll[key] = probe.window_open
                if probe.window_open:
                    probe.window_polls += 1
                    probe.window_poll_calls += 1
                    if key in probe.last_describe:
                        probe.periods.append(started - probe.last_describe[key])
                if probe.ramp_over:
                    probe.last_describe[key] = started  # periods start after the ramp (see settle)
            elif probe.in_window_poll.get(key):
                probe.window_poll_calls += 1
            response = await original(client, operation_name, api_params)
            probe.counts[operation_name] = probe.counts.get(operation_name, 0) + 1
            if probe.window_open:
                probe.latencies.append(time.time() - started)
            if current is not None:
                probe.polled.add(key)
            if operation_name == "ReceiveMessage" and isinstance(response, dict):
                probe.note_end_events(response.get("Messages", []))
            if probe.keep_records:
                status = response.get("PipelineExecutionStatus") if isinstance(response, dict) else None
                probe.records.append((operation_name, started, time.time(), status))
            return response

        AioBaseClient._make_api_call = _make_api_call  # type: ignore[method-assign]

    def clear(self) -> None:
        self.records.clear()
        self.counts.clear()
        self.by_label.clear()
        self.end_received.clear()

    def note_end_events(self, messages: list[dict[str, Any]]) -> None:
        """Note the arrival of execution end events in a receive (the first copy of each), and when
        they entered the queue: the ReceiveMessage calls of the event-fed wait ask for the messages'
        ``SentTimestamp`` (the probe adds it: a few bytes more per message, no extra call)."""
        from airflow_provider_smpipe.events.shapes import NotAPipelineEvent, parse_message

        received = time.time()
        for message in messages:
            try:
                event = parse_message(message.get("Body"))
            except NotAPipelineEvent:
                continue
            if event.kind == "execution" and event.status in TERMINAL_EXECUTION:
                sent = (message.get("Attributes") or {}).get("SentTimestamp")
                self.end_received.setdefault(event.execution_arn.lower(), (int(sent) / 1000.0 if sent else None, received))


def child_bootstrap() -> None:
    """Import Airflow with the environment the parent prepared. A child's stdout and stderr go to a
    log file, so the INFO log lines of the triggers are written as in a triggerer."""
    import logging

    import airflow  # noqa: F401 - configures logging

    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("aiobotocore").setLevel(logging.WARNING)


# ----------------------------------------------------------------------------------------------
# child: Part A (one 60-step execution per wait)
# ----------------------------------------------------------------------------------------------


async def wait_for_event(trigger: Any) -> tuple[float, str]:
    """Run ``trigger.run()`` until its first event; return (arrival time, outcome)."""
    try:
        async for event in trigger.run():
            payload = event.payload
            return time.time(), str(payload.get("status"))
    except Exception as exc:  # noqa: BLE001 - the anchor raises on Failed / max attempts; record it
        return time.time(), f"raised {type(exc).__name__}: {exc}"[:200]
    return time.time(), "no event"


def delivery(noted: tuple[float | None, float] | None, terminal_at: float, arrived: float) -> dict[str, float | None]:
    """An event-fed wait's latency in three parts: until the end event was in the queue (the
    emulator's publishing, EventBridge to SQS), until the receive loop had it (messages queued before
    it, the long poll), and the wait's own (dispatch to the wait, Describe + ListSteps, the event)."""
    if noted is None:
        return {"to_queue_s": None, "in_queue_s": None, "handled_s": None}
    sent, received = noted
    return {
        "to_queue_s": None if sent is None else sent - terminal_at,
        "in_queue_s": None if sent is None else received - sent,
        "handled_s": arrived - received,
    }


class Waiter:
    """Runs one wait of any kind as a triggerer would: the polling triggers through ``run()``, the
    event-fed one through Airflow's ``SharedStreamManager`` (its ``run()`` is the polling fallback)."""

    def __init__(self, kinds: tuple[str, ...], poll_interval: int, max_attempts: int) -> None:
        self.poll_interval, self.max_attempts = poll_interval, max_attempts
        self.streams = None
        if "events" in kinds:
            check_shared_streams()
            self.streams = TriggererStreams()

    async def wait(self, kind: str, arn: str, queue_url: str | None = None, max_attempts: int | None = None) -> tuple[float, str]:
        if kind == "events":
            assert self.streams is not None and queue_url
            return await self.streams.wait(event_trigger(arn, queue_url, self.poll_interval))
        return await wait_for_event(make_trigger(kind, arn, self.poll_interval, max_attempts or self.max_attempts))

    async def close(self) -> None:
        if self.streams is not None:
            await self.streams.stop()


def child_part_a(args: argparse.Namespace) -> dict[str, Any]:
    child_bootstrap()
    endpoint = args.endpoint
    sm = boto_client(endpoint)
    probe = CallProbe(keep_records=True)
    probe.install()
    runs: list[dict[str, Any]] = []
    kinds = KINDS if args.no_events else EVENT_KINDS

    async def main() -> None:
        waiter = Waiter(kinds, args.poll_interval, args.max_attempts)
        # Warm up imports, connection lookup and botocore caches (not measured): one wait of each
        # kind on an execution that has already finished.
        for kind in kinds:
            queue = await asyncio.to_thread(make_queue, endpoint, PIPELINE_60, "warm") if kind == "events" else None
            await waiter.wait(kind, args.warm_arn, queue and queue["queue_url"], max_attempts=10)
            if queue:
                await asyncio.to_thread(drop_queue, endpoint, queue)
        for repeat in range(args.repeats):
            # Each kind goes first, second, ... in turn (with two kinds: alternating).
            order = kinds[repeat % len(kinds):] + kinds[: repeat % len(kinds)]
            # Where the polls fall relative to the end of the execution decides whether the last
            # one is the Nth or the N+1th, so each trigger starts at the same set of offsets,
            # spread evenly over one poll interval.
            offset = (repeat + 0.5) / args.repeats * args.poll_interval
            for kind in order:
                # The event-fed wait gets a fresh queue, fed before the execution starts.
                queue = await asyncio.to_thread(make_queue, endpoint, PIPELINE_60, "a") if kind == "events" else None
                arn = await asyncio.to_thread(start_execution, sm, PIPELINE_60)
                await asyncio.to_thread(reset_calls, endpoint)
                probe.clear()
                await asyncio.sleep(offset)
                started = time.time()
                arrived, outcome = await waiter.wait(kind, arn, queue and queue["queue_url"])
                calls, by_service = await asyncio.to_thread(emulator_counts, endpoint)
                if queue:
                    await asyncio.to_thread(drop_queue, endpoint, queue)
                sagemaker_calls, sqs_calls = split_calls(by_service)
                described = await asyncio.to_thread(sm.describe_pipeline_execution, PipelineExecutionArn=arn)
                terminal_at = described["LastModifiedTime"].timestamp()
                describes = [r for r in probe.records if r[0] == "DescribePipelineExecution"]
                seen = next((r for r in describes if r[3] not in ("Executing", "Stopping")), None)
                runs.append(
                    {
                        "kind": kind,
                        "repeat": repeat,
                        "start_offset_s": offset,
                        "execution_arn": arn,
                        "outcome": outcome,
                        "execution_status": described["PipelineExecutionStatus"],
                        "execution_seconds": terminal_at - described["CreationTime"].timestamp(),
                        "describe_calls": calls.get("DescribePipelineExecution", 0),
                        "list_steps_calls": calls.get("ListPipelineExecutionSteps", 0),
                        "total_calls": sum(calls.values()),
                        "sagemaker_calls": sagemaker_calls,
                        "sqs_calls": sqs_calls,
                        "waited_s": terminal_at - started,
                        **delivery(probe.end_received.get(arn.lower()), terminal_at, arrived),
                        "calls_by_operation": calls,
                        "client_side_calls": dict(probe.counts),
                        "polls": len(describes),
                        "first_poll_after_s": (describes[0][1] - started) if describes else None,
                        "latency_s": arrived - terminal_at,
                        "detect_s": (seen[2] - terminal_at) if seen else None,
                        "after_detect_s": (arrived - seen[2]) if seen else None,
                        "after_detect_calls": [(r[0], round(r[2] - r[1], 4)) for r in probe.records if seen and r[1] >= seen[2]],
                    }
                )
        await waiter.close()

    asyncio.run(main())
    return {"runs": runs}


# ----------------------------------------------------------------------------------------------
# child: Part B (N concurrent waits in one event loop)
# ----------------------------------------------------------------------------------------------


def child_part_b(args: argparse.Namespace) -> dict[str, Any]:
    import tracemalloc

    child_bootstrap()
    kind, n, poll = args.only, args.n, args.poll_interval
    trace = not args.no_tracemalloc
    arns: list[str] = args.arns.split(",")
    endpoint = args.endpoint
    probe = CallProbe(keep_records=False)
    probe.install()
    result: dict[str, Any] = {"kind": kind, "n": n, "poll_interval": poll, "executions": len(arns)}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        # Warm-up (not measured): one wait polls once and is cancelled, so modules, the connection
        # lookup and botocore's shared loader caches are in place before the baseline.
        warm = asyncio.create_task(wait_for_event(make_trigger(kind, arns[0], poll, 10**6)))
        while not probe.polled:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        warm.cancel()
        await asyncio.gather(warm, return_exceptions=True)
        probe.polled.clear()
        await asyncio.sleep(0.2)

        lags: dict[str, list[float]] = {"ramp": [], "settle": [], "mem": [], "steady": []}
        phase = ["ramp"]
        stop_ticker = asyncio.Event()

        async def ticker() -> None:
            interval = args.tick
            while not stop_ticker.is_set():
                before = loop.time()
                await asyncio.sleep(interval)
                lags[phase[0]].append(loop.time() - before - interval)

        events: list[str] = []

        async def one_wait(index: int) -> None:
            await asyncio.sleep(poll * index / n)  # deferrals arrive over one poll interval
            trigger = make_trigger(kind, arns[index % len(arns)], poll, args.max_attempts)
            _, outcome = await wait_for_event(trigger)
            events.append(outcome)  # should not happen within the window (the executions run on)

        gc_pauses: dict[str, list[float]] = {"ramp": [], "settle": [], "mem": [], "steady": []}
        gc_started: list[float] = [0.0]

        def gc_callback(event: str, info: dict[str, Any]) -> None:
            if event == "start":
                gc_started[0] = time.perf_counter()
            elif info.get("generation") == 2:
                gc_pauses[phase[0]].append(time.perf_counter() - gc_started[0])

        gc.collect()
        gc.callbacks.append(gc_callback)
        rss_before = rss_bytes()
        if trace:
            tracemalloc.start()
        traced_before = tracemalloc.get_traced_memory()[0]
        tick = asyncio.create_task(ticker())
        ramp_started = time.monotonic()
        tasks = [asyncio.create_task(one_wait(i)) for i in range(n)]
        while len(probe.polled) < n and time.monotonic() - ramp_started < args.ramp_timeout:
            await asyncio.sleep(0.05)
        ramp_seconds = time.monotonic() - ramp_started
        started = len(probe.polled)  # waits that have polled at least once (their client exists)
        result["ramp_seconds"] = ramp_seconds
        result["ramp_complete"] = started >= n
        result["waits_polled_after_ramp"] = started
        if started < n:
            # Ramp budget spent (the anchor at large N): cancel the waits that have not polled yet,
            # so the window measures exactly the `started` waits in steady state.
            late = [task for task in tasks if id(task) not in probe.polled]
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            tasks = [task for task in tasks if id(task) in probe.polled]
            started = len(probe.polled)
        gc.collect()

        # Settle for one poll interval: the backlog of the ramp drains (the anchor blocks the loop
        # while it builds clients), and every wait begins a poll whose period can then be measured.
        phase[0] = "settle"
        probe.ramp_over = True
        await asyncio.sleep(args.settle)
        # Steady state: count calls over the whole window (memory phase, then lag phase).
        await asyncio.to_thread(reset_calls, endpoint)
        probe.clear()
        probe.window_open = True
        window_started = time.monotonic()
        phase[0] = "mem"
        traced: list[int] = []
        rss_traced: list[int] = []
        deadline = window_started + args.mem_window
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            if trace:
                traced.append(tracemalloc.get_traced_memory()[0] - traced_before)
            rss_traced.append(rss_bytes() - rss_before)
        traced_peak = (tracemalloc.get_traced_memory()[1] - traced_before) if trace else None
        tracemalloc.stop()  # the lag phase runs without tracemalloc's per-allocation overhead
        phase[0] = "steady"
        rss_plain: list[int] = []
        deadline = time.monotonic() + args.lag_window
        while time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            rss_plain.append(rss_bytes() - rss_before)
        probe.window_open = False
        window = time.monotonic() - window_started
        calls = await asyncio.to_thread(emulator_calls, endpoint)
        client_counts = dict(probe.counts)
        await asyncio.sleep(args.grace)  # let the polls begun in the window make their other calls
        window_polls, window_poll_calls = probe.window_polls, probe.window_poll_calls
        periods = list(probe.periods)
        latencies = list(probe.latencies)
        stop_ticker.set()
        gc.callbacks.remove(gc_callback)
        cancel_started = time.monotonic()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(tick, return_exceptions=True)
        result["cancel_seconds"] = time.monotonic() - cancel_started

        describes = calls.get("DescribePipelineExecution", 0)
        lists = calls.get("ListPipelineExecutionSteps", 0)
        total = sum(calls.values())
        intervals = window / poll
        result["waits_polled_at_end"] = len(probe.polled)
        # Per-wait figures divide by the waits that were polling when the window began (all N
        # unless the ramp timed out, as it can for the anchor at N = 1000: see the README).
        waits = started
        result.update(
            window_seconds=window,
            calls_by_operation=calls,
            client_side_calls=client_counts,
            describe_calls=describes,
            list_steps_calls=lists,
            total_calls=total,
            window_polls=window_polls,
            window_poll_calls=window_poll_calls,
            polls_per_wait_per_interval=window_polls / waits / intervals,
            poll_period={
                "samples": len(periods),
                "median_over_interval": (statistics.median(periods) / poll) if periods else float("nan"),
                "p90_over_interval": (pct(periods, 90) / poll) if periods else float("nan"),
            },
            calls_per_wait_per_poll=(window_poll_calls / window_polls) if window_polls else float("nan"),
            calls_per_wait_per_interval=window_poll_calls / waits / intervals,
            call_latency_ms={
                "samples": len(latencies),
                "p50": pct(latencies, 50) * 1000,
                "p99": pct(latencies, 99) * 1000,
                "max": (max(latencies) * 1000) if latencies else float("nan"),
            },
            emulator_calls_per_describe=(total / describes) if describes else float("nan"),
            tracemalloc=trace,
            traced_per_wait=(statistics.median(traced) / waits) if trace else None,
            traced_peak_per_wait=(traced_peak / waits) if trace else None,
            rss_traced_per_wait=statistics.median(rss_traced) / waits,
            rss_per_wait=statistics.median(rss_plain) / waits,
            rss_before_mib=rss_before / MiB,
            lag_ms={
                name: {
                    "samples": len(values),
                    "p50": pct(values, 50) * 1000,
                    "p99": pct(values, 99) * 1000,
                    "max": (max(values) * 1000) if values else float("nan"),
                }
                for name, values in lags.items()
            },
            gc_full_pauses_ms={
                name: {"count": len(values), "total": sum(values) * 1000, "max": (max(values) * 1000) if values else 0.0}
                for name, values in gc_pauses.items()
            },
            ended_early=len(events),
            ended_early_outcomes=sorted(set(events))[:5],
        )

    asyncio.run(main())
    return result


# ----------------------------------------------------------------------------------------------
# child: Part C (N concurrent waits, each on its own 60-step execution) and Part D (idle minute)
# ----------------------------------------------------------------------------------------------


def child_part_c(args: argparse.Namespace) -> dict[str, Any]:
    child_bootstrap()
    kind, n, poll, endpoint = args.kind, args.n, args.poll_interval, args.endpoint
    sm = boto_client(endpoint)
    probe = CallProbe(keep_records=False)
    probe.install()
    result: dict[str, Any] = {"kind": kind, "n": n, "poll_interval": poll}

    async def main() -> None:
        waiter = Waiter((kind,), poll, args.max_attempts)
        # Warm-up, not measured (on a queue of its own: a stopped receive loop leaves its last long
        # poll waiting in the emulator, which would take the first messages of the next queue reader).
        warm = await asyncio.to_thread(make_queue, endpoint, PIPELINE_60, "warm") if kind == "events" else None
        await waiter.wait(kind, args.warm_arn, warm and warm["queue_url"], max_attempts=10)
        if warm:
            await asyncio.to_thread(drop_queue, endpoint, warm)
        # One queue for the N waits (they share its receive loop), fed before the executions start.
        queue = await asyncio.to_thread(make_queue, endpoint, PIPELINE_60, "c") if kind == "events" else None
        url = queue and queue["queue_url"]
        arns = await asyncio.to_thread(lambda: [start_execution(sm, PIPELINE_60) for _ in range(n)])
        await asyncio.to_thread(reset_calls, endpoint)
        probe.clear()

        async def one(index: int) -> tuple[float, float, str]:
            # The waits begin over one poll interval, at the offsets Part A gives its repeats.
            await asyncio.sleep((index + 0.5) / n * poll)
            started = time.time()
            arrived, outcome = await waiter.wait(kind, arns[index], url)
            return started, arrived, outcome

        began = time.monotonic()
        ends = await asyncio.gather(*(one(i) for i in range(n)))
        result["wall_s"] = time.monotonic() - began
        calls, by_service = await asyncio.to_thread(emulator_counts, endpoint)
        end_received = dict(probe.end_received)
        await waiter.close()
        if queue:
            await asyncio.to_thread(drop_queue, endpoint, queue)
        waits = []
        for arn, (started, arrived, outcome) in zip(arns, ends):
            described = await asyncio.to_thread(sm.describe_pipeline_execution, PipelineExecutionArn=arn)
            terminal_at = described["LastModifiedTime"].timestamp()
            waits.append(
                {
                    "outcome": outcome,
                    "execution_status": described["PipelineExecutionStatus"],
                    "execution_seconds": terminal_at - described["CreationTime"].timestamp(),
                    "waited_s": terminal_at - started,
                    "latency_s": arrived - terminal_at,
                    **delivery(end_received.get(arn.lower()), terminal_at, arrived),
                }
            )
        sagemaker_calls, sqs_calls = split_calls(by_service)
        result.update(
            waits=waits, calls_by_operation=calls, calls_by_service=by_service, sagemaker_calls=sagemaker_calls, sqs_calls=sqs_calls,
            client_side_calls=dict(probe.counts),
        )

    asyncio.run(main())
    return result


def child_part_d(args: argparse.Namespace) -> dict[str, Any]:
    """Idle minutes: waits on long-running executions, which change nothing during the window. One
    wait of each polling trigger, and event-fed waits in groups of 1 and of each N (a queue per group)."""
    child_bootstrap()
    poll, endpoint = args.poll_interval, args.endpoint
    arns: list[str] = args.arns.split(",")
    groups = [1, *args.event_sizes]
    probe = CallProbe(keep_records=False)
    probe.install()
    result: dict[str, Any] = {"poll_interval": poll, "groups": groups}

    async def main() -> None:
        waiter = Waiter(EVENT_KINDS, poll, args.max_attempts)
        queues = [await asyncio.to_thread(make_queue, endpoint, PIPELINE_LONG, f"d{size}") for size in groups]
        labels = {"ours": 1, "theirs": 1, **{f"events-{i}": size for i, size in enumerate(groups)}}

        async def one(label: str, index: int) -> None:
            WAIT_LABEL.set(label)
            kind = "events" if label.startswith("events") else label
            url = queues[int(label.split("-")[1])]["queue_url"] if kind == "events" else None
            await waiter.wait(kind, arns[index % len(arns)], url)

        tasks = [asyncio.create_task(one(label, i)) for label, size in labels.items() for i in range(size)]
        # Settle: every wait has looked once, the anchor has built its clients, every receive loop runs.
        settle_deadline = time.monotonic() + 60
        while time.monotonic() < settle_deadline and any(probe.by_label.get(label, {}).get("DescribePipelineExecution", 0) < size for label, size in labels.items()):
            await asyncio.sleep(0.1)
        await asyncio.sleep(max(3.0, 2 * poll))
        for task in tasks:
            if task.done():
                raise SystemExit(f"Part D: a wait ended before the window: {task.exception() or task.result()}")
        await asyncio.to_thread(reset_calls, endpoint)
        probe.clear()
        began = time.monotonic()
        await asyncio.sleep(args.idle_window)
        window = time.monotonic() - began
        calls, by_service = await asyncio.to_thread(emulator_counts, endpoint)
        by_label = {label: dict(ops) for label, ops in probe.by_label.items()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await waiter.close()
        for queue in queues:
            await asyncio.to_thread(drop_queue, endpoint, queue)
        rows = []
        for label, size in labels.items():
            own = by_label.get(label, {})
            sqs = by_label.get(queues[int(label.split("-")[1])]["queue_url"], {}) if label.startswith("events") else {}
            rows.append(
                {
                    "label": label,
                    "kind": "events" if label.startswith("events") else label,
                    "n": size,
                    "sagemaker_calls": sum(count for op, count in own.items() if op not in SQS_OPERATIONS),
                    "sqs_calls": {op: sqs.get(op, 0) for op in SQS_OPERATIONS},
                }
            )
        result.update(window_s=window, rows=rows, calls_by_operation=calls, calls_by_service=by_service, calls_by_label=by_label)

    asyncio.run(main())
    return result


# ----------------------------------------------------------------------------------------------
# parent: emulator, pipelines, children, report
# ----------------------------------------------------------------------------------------------


def layered_definition(step_names: list[list[str]]) -> dict[str, Any]:
    """6 x 10 Processing steps. Layer k+1 slot i runs after layer k slots i and i+1 (``DependsOn``).

    The edges are ``DependsOn`` only, not property references, so the emulator never has to publish
    one step's properties before it starts the next (see the README's notes on the emulator).
    """
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from native_helpers import chain_definition, processing_step

    definition = chain_definition(["Unused"])
    steps = []
    for layer, names in enumerate(step_names):
        for slot, name in enumerate(names):
            depends = None
            if layer:
                prev = step_names[layer - 1]
                depends = sorted({prev[slot], prev[(slot + 1) % len(prev)]})
            steps.append(processing_step(name, depends_on=depends))
    definition["Steps"] = steps
    return definition


def run_child(script_args: list[str], env: dict[str, str], workdir: Path, label: str, timeout: float) -> dict[str, Any]:
    result_file = workdir / f"{label}.json"
    log_file = workdir / f"{label}.log"
    command = [sys.executable, str(Path(__file__).resolve()), *script_args, "--result-file", str(result_file)]
    started = time.monotonic()
    with open(log_file, "wb") as log:
        proc = subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, cwd=str(REPO_ROOT), check=False)
    if proc.returncode != 0 or not result_file.exists():
        tail = log_file.read_text(errors="replace").splitlines()[-40:]
        raise SystemExit(f"child {label} failed (exit {proc.returncode}); last log lines:\n" + "\n".join(tail))
    result = json.loads(result_file.read_text())
    result["child_seconds"] = time.monotonic() - started
    return result


def parent(args: argparse.Namespace) -> int:
    from airflow_provider_smpipe.emulator import run_emulator

    rng = random.Random(args.seed)
    names = [[f"L{layer}S{slot}" for slot in range(WIDTH)] for layer in range(LAYERS)]
    scenario = {
        "default_step_seconds": 0.2,
        "seed": args.seed,
        "steps": {name: {"seconds": round(rng.uniform(args.step_min, args.step_max), 3)} for row in names for name in row},
    }
    scenario["steps"][LONG_STEP] = {"seconds": 3600.0}
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "part_a": None,
        "part_b": [],
        "part_c": [],
        "part_d": None,
        "settings": {k: v for k, v in vars(args).items() if k not in ("child", "result_file")},
    }
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-native-wait-") as tmp, run_emulator(scenario=scenario, strict=False) as emu:
        workdir = Path(tmp)
        env = airflow_environment(emu.endpoint_url, str(workdir / "airflow-home"))
        sm = emu.client("sagemaker")
        sm.create_pipeline(PipelineName=PIPELINE_60, PipelineDefinition=json.dumps(layered_definition(names)), RoleArn=ROLE)
        long_definition = layered_definition([[LONG_STEP]])
        sm.create_pipeline(PipelineName=PIPELINE_LONG, PipelineDefinition=json.dumps(long_definition), RoleArn=ROLE)
        say(f"emulator at {emu.endpoint_url}; pipelines created ({time.monotonic() - began:.1f}s)")

        event_parts = not args.no_events and (bool(args.event_sizes) or args.idle_window > 0)
        if not args.skip_a or event_parts:
            warm = start_execution(sm, PIPELINE_60)
            status = emu.wait_for_execution(warm, 120)
            if status != "Succeeded":
                raise SystemExit(f"the 60-step warm-up execution ended {status}: {json.dumps(emu.state()['executions'][-1]['steps'])[:2000]}")
        common = ["--endpoint", emu.endpoint_url, "--poll-interval", str(args.poll_interval), "--max-attempts", str(args.max_attempts)]
        if not args.skip_a:
            kinds = KINDS if args.no_events else EVENT_KINDS
            say(f"Part A: {args.repeats} x {len(kinds)} waits on a 60-step execution, poll interval {args.poll_interval}s ...")
            part_a = run_child(
                ["--child", "a", *common, "--warm-arn", warm, "--repeats", str(args.repeats)] + (["--no-events"] if args.no_events else []),
                env, workdir, "part-a", timeout=600,
            )
            report["part_a"] = summarize_a(part_a["runs"])

        if not args.no_events:
            for n in args.event_sizes:
                for kind in EVENT_KINDS:
                    say(f"Part C: {n} concurrent {kind} waits, each on its own 60-step execution, poll interval {args.poll_interval}s ...")
                    result = run_child(["--child", "c", *common, "--warm-arn", warm, "--kind", kind, "--n", str(n)], env, workdir, f"part-c-{kind}-{n}", timeout=600)
                    report["part_c"].append(summarize_c(result))
            if args.idle_window > 0:
                idle_arns = [start_execution(sm, PIPELINE_LONG) for _ in range(4)]
                try:
                    say(f"Part D: idle waits on long-running executions for {args.idle_window:.0f}s (event-fed: groups of {', '.join(map(str, [1, *args.event_sizes]))}) ...")
                    result = run_child(
                        ["--child", "d", *common, "--arns", ",".join(idle_arns), "--idle-window", str(args.idle_window), "--event-sizes", *map(str, args.event_sizes)],
                        env, workdir, "part-d", timeout=args.idle_window + 300,
                    )
                    report["part_d"] = summarize_d(result)
                finally:
                    for arn in idle_arns:
                        try:
                            sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)
                        except Exception as exc:  # noqa: BLE001 - best effort at the end of a benchmark
                            say(f"could not stop {arn}: {exc}")

        if args.sizes:
            arns = [start_execution(sm, PIPELINE_LONG) for _ in range(args.executions)]
            try:
                for n in args.sizes:
                    poll = args.b_poll_interval or max(1, round(n / args.polls_per_second))
                    mem_window, lag_window = args.mem_window, max(args.lag_window, poll / 2)
                    settle = float(poll)
                    trace = n <= args.tracemalloc_max_n
                    for kind in ([args.only] if args.only else KINDS):
                        say(f"Part B: N={n} {kind}, poll interval {poll}s ...")
                        result = run_child(
                            ["--child", "b", "--only", kind, "--n", str(n), "--endpoint", emu.endpoint_url, "--arns", ",".join(arns),
                             "--poll-interval", str(poll), "--max-attempts", str(args.max_attempts),
                             "--mem-window", str(mem_window), "--lag-window", str(lag_window),
                             "--ramp-timeout", str(args.ramp_timeout), "--tick", str(args.tick), "--settle", str(settle)]
                            + ([] if trace else ["--no-tracemalloc"]),
                            env, workdir, f"part-b-{kind}-{n}", timeout=args.ramp_timeout + lag_window + mem_window + 300,
                        )
                        result["mem_window"], result["lag_window"], result["settle"] = mem_window, lag_window, settle
                        check_b(result)
                        report["part_b"].append(result)
            finally:
                for arn in arns:
                    try:
                        sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=uuid.uuid4().hex)
                    except Exception as exc:  # noqa: BLE001 - best effort at the end of a benchmark
                        say(f"could not stop {arn}: {exc}")
    report["elapsed_seconds"] = time.monotonic() - began
    report["verdicts"] = verdicts(report)
    report["event_verdicts"] = event_verdicts(report)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)
    return 0


def check_b(result: dict[str, Any]) -> None:
    n = result["n"]
    if result["waits_polled_after_ramp"] == 0:
        raise SystemExit(f"Part B {result['kind']} N={n}: no wait polled within {result['ramp_seconds']:.0f}s")
    if result["describe_calls"] == 0 or result["window_polls"] == 0:
        raise SystemExit(f"Part B {result['kind']} N={n}: no DescribePipelineExecution call reached the emulator")


def summarize_a(runs: list[dict[str, Any]]) -> dict[str, Any]:
    bad = [r for r in runs if r["outcome"] not in ("succeeded", "success") or r["execution_status"] != "Succeeded"]
    if bad:
        raise SystemExit("Part A: some waits did not end with a success event: " + json.dumps(bad, default=str)[:2000])
    summary: dict[str, Any] = {"runs": runs, "kinds": [kind for kind in EVENT_KINDS if any(r["kind"] == kind for r in runs)]}
    for kind in summary["kinds"]:
        mine = [r for r in runs if r["kind"] == kind]
        summary[kind] = {
            key: statistics.median(r[key] for r in mine if r[key] is not None)
            for key in ("describe_calls", "list_steps_calls", "total_calls", "polls", "latency_s", "detect_s",
                        "after_detect_s", "first_poll_after_s", "execution_seconds")
        }
        summary[kind]["after_detect_api_s"] = statistics.median(sum(d for _, d in r["after_detect_calls"]) for r in mine)
        summary[kind]["total_calls_all"] = [r["total_calls"] for r in mine]
        summary[kind]["polls_all"] = [r["polls"] for r in mine]
        summary[kind]["list_steps_all"] = [r["list_steps_calls"] for r in mine]
        summary[kind]["latency_all_s"] = [round(r["latency_s"], 3) for r in mine]
        # SageMaker operations only: a long poll cancelled when the event-fed wait ends reached the
        # emulator but never completed on the client.
        summary[kind]["client_matches_emulator"] = all(
            r["client_side_calls"].get(op, 0) == r["calls_by_operation"].get(op, 0)
            for r in mine for op in r["calls_by_operation"] if op not in SQS_OPERATIONS
        )
        # Per waited execution-minute: calls summed over the waits / minutes from each wait's start
        # to its execution's end, summed (with one wait at a time, the queue reads are all its own).
        summary[kind].update(per_minute(mine, n=1))
        summary[kind].update(delivery_medians(mine))
    summary["ratio_total_calls"] = summary["ours"]["total_calls"] / summary["theirs"]["total_calls"]
    summary["ratio_total_calls_sum"] = sum(summary["ours"]["total_calls_all"]) / sum(summary["theirs"]["total_calls_all"])
    return summary


def per_minute(waits: list[dict[str, Any]], n: int, sagemaker: int | None = None, sqs: dict[str, int] | None = None) -> dict[str, Any]:
    """Calls per waited execution-minute, per wait. ``waits`` carry ``waited_s`` (and, in Part A,
    their own counts); ``sagemaker`` / ``sqs`` are a group's totals (Part C), the queue's reads
    shared by the ``n`` waits of the group: summing the waits' minutes divides them by ``n``."""
    minutes = sum(w["waited_s"] for w in waits) / 60.0
    if sagemaker is None:
        sagemaker = sum(w["sagemaker_calls"] for w in waits)
    if sqs is None:
        sqs = {op: sum(w["sqs_calls"][op] for w in waits) for op in SQS_OPERATIONS}
    sqs_total = sum(sqs.values())
    return {
        "waits": len(waits),
        "concurrent": n,
        "waited_min_per_wait": minutes / len(waits),
        "sagemaker_per_wait": sagemaker / len(waits),
        "sqs_per_wait": {op: count / len(waits) for op, count in sqs.items()},
        "sagemaker_per_min": sagemaker / minutes,
        "sqs_per_min": {op: count / minutes for op, count in sqs.items()},
        "sqs_total_per_min": sqs_total / minutes,
        "all_per_min": (sagemaker + sqs_total) / minutes,
    }


def delivery_medians(waits: list[dict[str, Any]]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key in ("to_queue_s", "in_queue_s", "handled_s"):
        values = [w[key] for w in waits if w.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    return out


def summarize_c(result: dict[str, Any]) -> dict[str, Any]:
    waits = result["waits"]
    bad = [w for w in waits if w["outcome"] not in ("succeeded", "success") or w["execution_status"] != "Succeeded"]
    if bad:
        raise SystemExit(f"Part C {result['kind']} N={result['n']}: some waits did not end with a success event: " + json.dumps(bad, default=str)[:2000])
    latencies = [w["latency_s"] for w in waits]
    summary = {key: result[key] for key in ("kind", "n", "poll_interval", "wall_s", "sagemaker_calls", "sqs_calls", "calls_by_operation")}
    summary.update(per_minute(waits, result["n"], sagemaker=result["sagemaker_calls"], sqs=result["sqs_calls"]))
    summary.update(
        execution_seconds=statistics.median(w["execution_seconds"] for w in waits),
        latency_s=statistics.median(latencies),
        latency_p90_s=pct(latencies, 90),
        latency_max_s=max(latencies),
        latency_all_s=[round(x, 3) for x in latencies],
    )
    summary.update(delivery_medians(waits))
    return summary


def summarize_d(result: dict[str, Any]) -> dict[str, Any]:
    per_min = 60.0 / result["window_s"]
    rows = []
    for row in result["rows"]:
        n = row["n"]
        sqs = sum(row["sqs_calls"].values())
        rows.append(
            {
                **row,
                "sagemaker_per_wait_min": row["sagemaker_calls"] / n * per_min,
                "receives_per_queue_min": row["sqs_calls"]["ReceiveMessage"] * per_min,
                "sqs_per_wait_min": sqs / n * per_min,
                "all_per_wait_min": (row["sagemaker_calls"] + sqs) / n * per_min,
            }
        )
    sagemaker_ops = {op for op in result["calls_by_operation"] if op not in SQS_OPERATIONS}
    labelled = {op: sum(ops.get(op, 0) for label, ops in result["calls_by_label"].items() if not label.startswith("http")) for op in sagemaker_ops}
    return {
        "window_s": result["window_s"],
        "poll_interval": result["poll_interval"],
        "rows": rows,
        "calls_by_operation": result["calls_by_operation"],
        # Calls begun by the probe's clock vs counted by the emulator when they arrived: a call in
        # flight when the window opened or closed may fall on either side (at most one per wait).
        "sagemaker_calls_client_vs_emulator": (sum(labelled.values()), sum(result["calls_by_operation"][op] for op in sagemaker_ops)),
    }


def event_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Part A (one wait at a time) and Part C (N at once) rows of the per-execution-minute table."""
    rows: list[dict[str, Any]] = []
    part_a = report.get("part_a")
    if part_a and "events" in part_a["kinds"]:
        for kind in part_a["kinds"]:
            k = part_a[kind]
            rows.append({"part": "A", "kind": kind, "n": 1, **k, "latency_max_s": max(k["latency_all_s"])})
    rows.extend({"part": "C", **r} for r in report.get("part_c", []))
    return rows


def event_verdicts(report: dict[str, Any]) -> list[str]:
    """The event-fed wait against the two polling waits of the same run, for each concurrency."""
    lines: list[str] = []
    rows = event_rows(report)
    for part, n in sorted({(r["part"], r["n"]) for r in rows}, key=lambda pn: (pn[1], pn[0])):
        by = {r["kind"]: r for r in rows if r["part"] == part and r["n"] == n}
        if not all(kind in by for kind in EVENT_KINDS):
            continue
        e, o, t = by["events"], by["ours"], by["theirs"]
        where = f"{n} wait{'s' if n > 1 else ''} at a time (Part {part})"
        lines.append(
            f"60-step execution, {where}: SageMaker calls per waited execution-minute: events {e['sagemaker_per_min']:.1f}, "
            f"ours {o['sagemaker_per_min']:.1f}, amazon {t['sagemaker_per_min']:.1f}: events/ours = {e['sagemaker_per_min'] / o['sagemaker_per_min']:.2f}, "
            f"events/amazon = {e['sagemaker_per_min'] / t['sagemaker_per_min']:.2f}"
        )
        lines.append(
            f"  with the wait's share of the queue reads ({e['sqs_total_per_min']:.1f}/min): events {e['all_per_min']:.1f}: "
            f"events/ours = {e['all_per_min'] / o['all_per_min']:.2f}, events/amazon = {e['all_per_min'] / t['all_per_min']:.2f}"
        )
        lines.append(
            f"  detection latency (median): events {e['latency_s'] * 1000:.0f} ms, ours {o['latency_s'] * 1000:.0f} ms, amazon {t['latency_s'] * 1000:.0f} ms: "
            f"events/ours = {e['latency_s'] / o['latency_s']:.2f}, events/amazon = {e['latency_s'] / t['latency_s']:.2f}"
        )
    part_d = report.get("part_d")
    if part_d:
        by_label = {r["label"]: r for r in part_d["rows"]}
        o, t = by_label["ours"], by_label["theirs"]
        for r in (r for r in part_d["rows"] if r["kind"] == "events"):
            lines.append(
                f"idle execution-minute, {r['n']} event-fed wait{'s' if r['n'] > 1 else ''} on the queue: all calls per wait {r['all_per_wait_min']:.2f} "
                f"(SageMaker {r['sagemaker_per_wait_min']:.2f}, queue reads {r['sqs_per_wait_min']:.2f}) against ours {o['all_per_wait_min']:.1f} and amazon "
                f"{t['all_per_wait_min']:.1f} at a {part_d['poll_interval']} s poll interval: events/ours = {r['all_per_wait_min'] / o['all_per_wait_min']:.4f}, "
                f"events/amazon = {r['all_per_wait_min'] / t['all_per_wait_min']:.4f}"
            )
    return lines


def print_events(report: dict[str, Any]) -> None:
    rows = event_rows(report)
    part_d = report.get("part_d")
    if not rows and not part_d:
        return
    s = report["settings"]
    print()
    print(f"Event-fed wait (events: SageMakerPipelineExecutionEventTrigger through Airflow's SharedStreamManager, queue fed by an")
    print(f"  EventBridge rule) against ours and the amazon trigger (theirs) polling every {s['poll_interval']} s, 60-step execution.")
    print("  A: one wait at a time (the Part A waits); C: N waits at once, each on its own execution started together, one queue.")
    header = (f"{'part':<4} {'trigger':<7} {'N':>3} {'waits':>5} {'exec s':>7} {'waited s':>8} {'SM/wait':>8} {'Recv/wait':>9} {'Del/wait':>8} "
              f"{'ChgVis/w':>8} {'SM/min':>7} {'SQS/min':>7} {'all/min':>7} {'lat p50 ms':>10} {'lat max ms':>10} {'to queue':>8} {'in queue':>8} {'own':>5}")
    print(header)
    print("-" * len(header))
    for r in rows:
        q = r["sqs_per_wait"]
        print(f"{r['part']:<4} {r['kind']:<7} {r['n']:>3} {r['waits']:>5} {r['execution_seconds']:>7.2f} {r['waited_min_per_wait'] * 60:>8.2f} "
              f"{r['sagemaker_per_wait']:>8.2f} {q['ReceiveMessage']:>9.2f} {q['DeleteMessageBatch']:>8.2f} {q['ChangeMessageVisibilityBatch']:>8.2f} "
              f"{r['sagemaker_per_min']:>7.1f} {r['sqs_total_per_min']:>7.1f} {r['all_per_min']:>7.1f} {r['latency_s'] * 1000:>10.0f} {r['latency_max_s'] * 1000:>10.0f} "
              f"{_ms(r.get('to_queue_s'), 8)} {_ms(r.get('in_queue_s'), 8)} {_ms(r.get('handled_s'), 5)}")
    print("per wait: SageMaker calls and queue reads (the group's reads / N: the N waits share one receive loop). waited s: from the")
    print("  wait's start to its execution's end. /min: per waited execution-minute (calls / waited minutes, summed over the waits);")
    print("  SQS: ReceiveMessage + DeleteMessageBatch + ChangeMessageVisibilityBatch. latency: event - the execution's LastModifiedTime;")
    print("  to queue / in queue / own (event-fed, medians, ms): from the end until the end event was in the queue (SentTimestamp:")
    print("  the emulator's publishing thread, EventBridge rule to SQS), then until the receive loop had it (messages before it,")
    print("  the long poll), then the wait's own part (dispatch to the wait, Describe + ListSteps, the event).")
    for r in report.get("part_c", []):
        if r["kind"] == "events":
            print(f"  Part C events N={r['n']}: queue reads of the group {r['sqs_calls']}; latencies (s) {r['latency_all_s']}")
    if part_d:
        print()
        print(f"Part D: idle waits on long-running executions (nothing changes), {part_d['window_s']:.0f} s window, polling every {part_d['poll_interval']} s")
        header = f"{'trigger':<8} {'waits':>5} {'SM/wait/min':>11} {'Recv/queue/min':>14} {'SQS/wait/min':>12} {'all/wait/min':>12}"
        print(header)
        print("-" * len(header))
        for r in part_d["rows"]:
            recv = f"{r['receives_per_queue_min']:>14.2f}" if r["kind"] == "events" else f"{'-':>14}"
            print(f"{r['kind']:<8} {r['n']:>5} {r['sagemaker_per_wait_min']:>11.2f} {recv} {r['sqs_per_wait_min']:>12.2f} {r['all_per_wait_min']:>12.2f}")
        client, emulator = part_d["sagemaker_calls_client_vs_emulator"]
        print(f"SageMaker calls in the window, client-side {client} / emulator {emulator} (a call in flight at an edge may fall either side);")
        print("  event-fed: a safety poll every 600 s")
        print("  (none in the window), one 20 s ReceiveMessage long poll at a time per queue, shared by the waits on it.")
    lines = event_verdicts(report)
    if lines:
        print()
        for line in lines:
            print(line)


def verdicts(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    part_a = report.get("part_a")
    if part_a:
        ratio = part_a["ratio_total_calls_sum"]
        lines.append(
            f"API calls (Part A, 60-step execution, all waits' calls summed): ours/theirs = {ratio:.2f} (goal <= 0.5): "
            f"{'met' if ratio <= 0.5 else 'not met'}  [ratio of medians: {part_a['ratio_total_calls']:.2f}]"
        )
    by = {(r["kind"], r["n"]): r for r in report.get("part_b", [])}
    for n in sorted({r["n"] for r in report.get("part_b", [])}):
        if ("ours", n) in by and ("theirs", n) in by:
            ours, theirs = by[("ours", n)], by[("theirs", n)]
            ratio = ours["calls_per_wait_per_poll"] / theirs["calls_per_wait_per_poll"]
            lines.append(f"API calls (Part B, N={n}, steady state, calls per poll): ours/theirs = {ratio:.2f} (goal <= 0.5): {'met' if ratio <= 0.5 else 'not met'}")
    for n in sorted({r["n"] for r in report.get("part_b", [])}):
        if ("ours", n) in by and ("theirs", n) in by:
            ours, theirs = by[("ours", n)], by[("theirs", n)]
            rss_ratio = ours["rss_per_wait"] / theirs["rss_per_wait"] if theirs["rss_per_wait"] > 0 else float("nan")
            partial = "" if theirs["ramp_complete"] else f"; theirs: only {theirs['waits_polled_after_ramp']} of {n} waits started"
            if ours["traced_per_wait"] is not None and theirs["traced_per_wait"]:
                ratio = ours["traced_per_wait"] / theirs["traced_per_wait"]
                lines.append(
                    f"memory per wait (N={n}, tracemalloc): ours/theirs = {ratio:.3f} (goal <= 0.5): {'met' if ratio <= 0.5 else 'not met'}"
                    f"  [RSS: {rss_ratio:.3f}{partial}]"
                )
            else:
                lines.append(
                    f"memory per wait (N={n}, RSS): ours/theirs = {rss_ratio:.3f} (goal <= 0.5): {'met' if rss_ratio <= 0.5 else 'not met'}{partial}"
                )
    return lines


def _ms(seconds: float | None, width: int) -> str:
    return f"{seconds * 1000:>{width}.0f}" if seconds is not None else f"{'-':>{width}}"


def _cell(value: float | None, width: int) -> str:
    return f"{value:>{width}.1f}" if value is not None else f"{'-':>{width}}"


def print_report(report: dict[str, Any]) -> None:
    print()
    print(f"Python {report['python']}, {report['cpus']} CPUs, total {report['elapsed_seconds']:.0f}s")
    part_a = report.get("part_a")
    if part_a:
        s = report["settings"]
        print()
        print(f"Part A: 60-step execution ({LAYERS} layers x {WIDTH}, steps {s['step_min']}-{s['step_max']}s), poll interval {s['poll_interval']}s, "
              f"median of {s['repeats']} waits each (trigger started 0.5/{s['repeats']}, 1.5/{s['repeats']}, ... of an interval after the execution)")
        header = (f"{'trigger':<8} {'exec s':>7} {'polls':>6} {'Describe':>9} {'ListSteps':>10} {'total':>6} {'latency ms':>11} {'detect ms':>10} "
                  f"{'after ms':>9} {'(API ms)':>9} {'1st poll ms':>12}")
        print(header)
        print("-" * len(header))
        for kind in part_a["kinds"]:
            k = part_a[kind]
            print(f"{kind:<8} {k['execution_seconds']:>7.2f} {k['polls']:>6g} {k['describe_calls']:>9g} {k['list_steps_calls']:>10g} {k['total_calls']:>6g} "
                  f"{k['latency_s'] * 1000:>11.0f} {k['detect_s'] * 1000:>10.0f} {k['after_detect_s'] * 1000:>9.1f} {k['after_detect_api_s'] * 1000:>9.1f} "
                  f"{k['first_poll_after_s'] * 1000:>12.0f}")
        for kind in part_a["kinds"]:
            k = part_a[kind]
            print(f"{kind:<6} per wait: polls {k['polls_all']}, ListSteps {k['list_steps_all']}, total calls {k['total_calls_all']}")
        print("latency per wait (s): " + ", ".join(f"{kind} {part_a[kind]['latency_all_s']}" for kind in part_a["kinds"]))
        print("latency: event arrival - the execution's LastModifiedTime (stamped when it turned terminal) = detect (until the end of the")
        print("  Describe that saw the terminal status; depends on where the poll falls) + after (from there to the event; API ms: calls in it).")
        print(f"calls ratio ours/theirs: median {part_a['ratio_total_calls']:.2f}, summed over all waits {part_a['ratio_total_calls_sum']:.2f}; "
              "client-side counts match the emulator (SageMaker operations): "
              + ", ".join(f"{kind} {part_a[kind]['client_matches_emulator']}" for kind in part_a["kinds"]))
        if "events" in part_a["kinds"]:
            print("events: the event-fed wait; its total includes its queue reads (ReceiveMessage, DeleteMessageBatch, ...), see below.")
    print_events(report)
    if report.get("part_b"):
        print()
        print("Part B: N concurrent waits in one event loop, each (trigger, N) in a fresh subprocess; "
              f"{report['settings']['executions']} long-running executions shared round-robin")
        header = (f"{'trigger':<8} {'N':>5} {'poll s':>6} {'started':>9} {'ramp s':>7} {'KiB/wait':>9} {'peak KiB':>9} {'RSS KiB':>8} "
                  f"{'lag p50':>8} {'lag p99':>8} {'lag max':>8} {'ramp max':>9} {'gc2 max':>8} {'period':>7} {'p90':>5} {'calls/poll':>10} {'calls/int':>9} {'wall s':>7}")
        print(header)
        print("-" * len(header))
        for r in report["part_b"]:
            lag, ramp = r["lag_ms"]["steady"], r["lag_ms"]["ramp"]
            traced = None if r["traced_per_wait"] is None else r["traced_per_wait"] / 1024
            peak = None if r["traced_peak_per_wait"] is None else r["traced_peak_per_wait"] / 1024
            started = f"{r['waits_polled_after_ramp']}/{r['n']}"
            print(f"{r['kind']:<8} {r['n']:>5} {r['poll_interval']:>6} {started:>9} {r['ramp_seconds']:>7.1f} {_cell(traced, 9)} {_cell(peak, 9)} "
                  f"{r['rss_per_wait'] / 1024:>8.1f} {lag['p50']:>8.2f} {lag['p99']:>8.1f} {lag['max']:>8.0f} {ramp['max']:>9.0f} "
                  f"{r['gc_full_pauses_ms']['steady']['max']:>8.0f} {r['poll_period']['median_over_interval']:>7.2f} "
                  f"{r['poll_period']['p90_over_interval']:>5.2f} {r['calls_per_wait_per_poll']:>10.2f} "
                  f"{r['calls_per_wait_per_poll'] / r['poll_period']['median_over_interval']:>9.2f} {r.get('child_seconds', float('nan')):>7.0f}")
        print("started: waits that had polled when the ramp ended (the ramp ends when all N have, or at --ramp-timeout); per-wait")
        print("  figures divide by that number. KiB/wait: tracemalloc current / waits (median over the memory phase; '-': not traced);")
        print("  peak: tracemalloc peak / waits; RSS: RSS delta / waits (lag phase, tracemalloc off).")
        print("lag (ms): how late a 10 ms sleep wakes, in the lag phase (tracemalloc off); ramp max: the worst while the waits start;")
        print("  gc2 max: the longest full (generation 2) garbage collection in the lag phase.")
        print("period, p90: time between a wait's consecutive polls after the ramp / poll interval (median, 90th percentile;")
        print("  1.00 = on schedule). The window opens after one settling poll interval.")
        print("calls/poll: all calls per poll (a poll = a Describe begun in the window, plus the calls the same wait makes before its")
        print("  next Describe); calls/int: calls/poll / period, i.e. calls per wait per poll interval.")
        print("wall s: the subprocess's wall time (import, warm-up, ramp, settling, windows).")
    print()
    for line in report["verdicts"]:
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=list(DEFAULT_SIZES), help="Part B: numbers of concurrent waits (default: 100 1000; none: skip Part B)")
    parser.add_argument("--repeats", type=int, default=5, help="Part A: waits per trigger (default 5)")
    parser.add_argument("--poll-interval", type=int, default=1, help="Part A poll interval, whole seconds (default 1; see --help epilogue)")
    parser.add_argument("--b-poll-interval", type=int, default=None, help="Part B poll interval, whole seconds (default: N / --polls-per-second, at least 1)")
    parser.add_argument("--polls-per-second", type=float, default=50.0, help="Part B: aggregate poll rate that sets the default poll interval (default 50: 2 s for N=100, 20 s for N=1000)")
    parser.add_argument("--tracemalloc-max-n", type=int, default=100, help="Part B: largest N traced by tracemalloc; larger N: RSS only (default 100)")
    parser.add_argument("--no-tracemalloc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--step-min", type=float, default=0.2, help="Part A: shortest step, seconds (default 0.2)")
    parser.add_argument("--step-max", type=float, default=0.6, help="Part A: longest step, seconds (default 0.6)")
    parser.add_argument("--executions", type=int, default=10, help="Part B: long-running executions the waits share (default 10)")
    parser.add_argument("--mem-window", type=float, default=5.0, help="Part B: steady-state seconds with tracemalloc on (default 5)")
    parser.add_argument("--lag-window", type=float, default=8.0, help="Part B: steady-state seconds with tracemalloc off (default 8, at least half a poll interval)")
    parser.add_argument("--ramp-timeout", type=float, default=50.0, help="Part B: most seconds to wait for every wait's first poll; then cancel the others and measure the waits started (default 50)")
    parser.add_argument("--grace", type=float, default=2.0, help=argparse.SUPPRESS)
    parser.add_argument("--settle", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--tick", type=float, default=0.01, help="Part B: the lag ticker's sleep, seconds (default 0.01)")
    parser.add_argument("--max-attempts", type=int, default=100000, help="the anchor's waiter_max_attempts (default 100000)")
    parser.add_argument("--seed", type=int, default=7, help="seed for the step durations (default 7)")
    parser.add_argument("--skip-a", action="store_true", help="skip Part A")
    parser.add_argument("--no-events", action="store_true", help="leave out the event-fed wait (Part A's third trigger, Parts C and D)")
    parser.add_argument("--event-sizes", type=int, nargs="*", default=list(DEFAULT_EVENT_SIZES),
                        help="Part C: numbers of concurrent waits per trigger (default: 10; none: skip Part C); Part D's event-fed groups")
    parser.add_argument("--idle-window", type=float, default=60.0, help="Part D: seconds of idle waiting measured (default 60: three 20 s long polls; 0: skip Part D)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of tables")
    parser.add_argument(
        "--event-kinds", help="the events queue's rule delivers only these kinds (comma-separated: execution,step,model_package; default: all)"
    )
    # child mode (internal)
    parser.add_argument("--child", choices=("a", "b", "c", "d"), help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=EVENT_KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=KINDS, help="Part B: run only this trigger's waits (default: both, each in its own subprocess)")
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--arns", help=argparse.SUPPRESS)
    parser.add_argument("--warm-arn", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", help=argparse.SUPPRESS)
    parser.epilog = (
        "Poll intervals are whole seconds because the anchor sleeps int(waiter_delay) between polls: "
        "0.5 would make it poll in a tight loop."
    )
    args = parser.parse_args(argv)
    if args.event_kinds:
        os.environ["SMPIPE_BENCH_EVENT_KINDS"] = args.event_kinds  # read by native_wait_events.make_queue, in the children too
    if args.child:
        result = {"a": child_part_a, "b": child_part_b, "c": child_part_c, "d": child_part_d}[args.child](args)
        Path(args.result_file).write_text(json.dumps(result, default=str))
        sys.stdout.flush()
        sys.stderr.flush()
        # Exit at once: the waits are cancelled, but a thread may still be creating clients that
        # cancelled anchor waits had queued (asgiref's sync_to_async), and joining it adds nothing.
        os._exit(0)
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
