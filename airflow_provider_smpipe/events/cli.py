"""``smpipe events setup``: deliver SageMaker pipeline events to an SQS queue, and print the Airflow
``AssetWatcher`` code that reads them.

Uses plain boto3 with your local AWS credentials (the usual chain: environment, profile, SSO, ...),
not an Airflow connection. ``--endpoint-url`` points every client at one endpoint, e.g. the local
emulator (``smpipe emulator``).

Exit codes, as for every ``smpipe`` command: 0 success (also when everything already was set up);
1 a bad argument or an AWS error, printed as one line; 2 wrong command-line usage; 3 an internal
error (a bug in smpipe: message and traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from typing import Any, TextIO

from airflow_provider_smpipe.definition.errors import printable
from airflow_provider_smpipe.events.setup import (
    EventSetupError,
    asset_watcher_snippet,
    check_pipeline_names,
    check_queue_name,
    check_rule_name,
    setup_event_queue,
)
from airflow_provider_smpipe.events.shapes import pipeline_name_of

EXIT_ERROR = 1
EXIT_INTERNAL_ERROR = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smpipe events", description="SageMaker pipeline events (EventBridge) for Airflow.")
    sub = parser.add_subparsers(dest="command", required=True)
    setup = sub.add_parser(
        "setup",
        help="Create the SQS queue and the EventBridge rule for SageMaker pipeline events; print the AssetWatcher code.",
        description="Create (or find) an SQS queue and an EventBridge rule delivering SageMaker pipeline events to it. "
        "Running it again changes nothing.",
    )
    setup.add_argument("--queue", required=True, metavar="NAME", help="SQS queue name (a standard queue; created if missing)")
    setup.add_argument(
        "--pipeline", action="append", metavar="P", help="only this pipeline's events (name or ARN; repeat for several; default: every pipeline)"
    )
    setup.add_argument("--rule", metavar="NAME", help="EventBridge rule name (default: smpipe-<queue>)")
    setup.add_argument("--retention-seconds", type=int, metavar="S", help="the queue's message retention (default: SQS's, 4 days)")
    setup.add_argument("--visibility-timeout", type=int, metavar="S", help="the queue's visibility timeout (default: SQS's, 30 s)")
    setup.add_argument(
        "--kind", action="append", choices=("execution", "step", "model_package"), dest="kinds",
        help="events the rule delivers (repeat for several; default: all). 'execution' alone suits waits on whole executions",
    )  # fmt: skip
    setup.add_argument("--status", action="append", metavar="STATUS", help="execution status the printed asset reacts to (default: Succeeded)")
    setup.add_argument("--aws-conn-id", default="aws_default", help="Airflow connection in the printed code (default: aws_default)")
    setup.add_argument("--region", help="AWS region (default: boto3's configuration); SageMaker's region")
    setup.add_argument("--endpoint-url", metavar="URL", help="one endpoint for SQS, EventBridge and SageMaker, e.g. the local emulator's")
    setup.add_argument("--profile", help="AWS profile name")
    setup.add_argument("--json", action="store_true", help="print the result (and the code) as JSON")
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run ``smpipe events``; returns the exit code.

    :param argv: the arguments after ``events``.
    :param stdout: where results go (default ``sys.stdout``).
    :param stderr: where errors go (default ``sys.stderr``).
    """
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        return _setup(args, out, err)
    except Exception as exc:  # noqa: BLE001 - a bug: say so, with a code that is not "invalid"
        err.write(printable(f"smpipe: internal error (a bug in smpipe, please report it): {type(exc).__name__}: {exc}\n"))
        err.write(printable("".join(traceback.format_exception(exc))))
        return EXIT_INTERNAL_ERROR


def _setup(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    # Few, quick retries: a wrong --endpoint-url or a missing network should fail in seconds, not minutes.
    try:  # the arguments first: a bad name is reported as such, not as a missing region or network
        check_queue_name(args.queue)
        if args.rule is not None:
            check_rule_name(args.rule)
        check_pipeline_names(args.pipeline or [])
    except EventSetupError as exc:
        err.write(printable(f"error: {exc}\n"))
        return EXIT_ERROR
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)
    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)

        def client(service: str) -> Any:
            return session.client(service, endpoint_url=args.endpoint_url, config=config)

        result = setup_event_queue(
            sqs_client=client("sqs"),
            events_client=client("events"),
            sagemaker_client=client("sagemaker"),
            queue_name=args.queue,
            pipeline_names=args.pipeline,
            rule_name=args.rule,
            retention_seconds=args.retention_seconds,
            visibility_timeout=args.visibility_timeout,
            event_kinds=args.kinds,
        )
    except EventSetupError as exc:
        err.write(printable(f"error: {exc}\n"))
        return EXIT_ERROR
    except (ClientError, BotoCoreError) as exc:
        hint = " (give --region or set AWS_DEFAULT_REGION)" if type(exc).__name__ == "NoRegionError" else ""
        message = " ".join(str(exc).split())  # one line, whatever the service answered
        err.write(printable(f"error: cannot set up events for queue {args.queue!r}: {message}{hint}\n"))
        return EXIT_ERROR
    # The trigger filters on pipeline names (case-insensitively): an ARN given on the command line is named by its name.
    names = [pipeline_name_of(p) or p for p in args.pipeline] if args.pipeline else None
    snippet = asset_watcher_snippet(result, names, statuses=args.status or ("Succeeded",), aws_conn_id=args.aws_conn_id)
    if args.json:
        out.write(printable(json.dumps({**result, "asset_watcher_snippet": snippet}, indent=2)) + "\n")
        return 0
    lines = [
        f"queue: {result['queue_url']}",
        f"       {result['queue_arn']}",
        f"rule:  {result['rule_name']}",
        f"       {result['rule_arn']}",
        f"pattern: {json.dumps(result['event_pattern'])}",
    ]
    lines += [f"  {change}" for change in result["changes"]] or ["  nothing to change: already set up"]
    lines += [f"note: {note}" for note in result["notes"]]
    lines += ["", "# Airflow: an asset updated by these events, and a DAG scheduled on it", snippet]
    out.write(printable("\n".join(lines)))
    return 0
