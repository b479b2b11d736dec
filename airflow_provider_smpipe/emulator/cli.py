"""``smpipe emulator``: run the local SageMaker Pipelines emulator in the foreground."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    parser = argparse.ArgumentParser(
        prog="smpipe emulator",
        description="Serve every AWS API from moto plus real SageMaker pipeline executions, on this machine.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5055, help="port (default 5055; 0 picks a free one)")
    parser.add_argument("--scenario", metavar="FILE", help="scenario JSON: step durations, failures, files, callbacks, throttling")
    parser.add_argument("--strict", action="store_true", help="check every added operation's response against botocore's output shape")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))

    try:
        from airflow_provider_smpipe.emulator.scenario import Scenario, ScenarioError
        from airflow_provider_smpipe.emulator.server import EmulatorServer
    except ImportError as exc:  # moto[server] is an optional extra
        err.write(f"error: the emulator needs the 'emulator' extra (pip install 'airflow-provider-smpipe[emulator]'): {exc}\n")
        return 1
    scenario = None
    if args.scenario:
        try:
            scenario = Scenario.load(args.scenario)
        except ScenarioError as exc:
            err.write(f"error: {exc}\n")
            return 1
    try:
        server = EmulatorServer(args.host, args.port, scenario, strict=args.strict, verbose=args.verbose)
        endpoint = server.endpoint_url  # binds the socket
    except OSError as exc:
        err.write(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n")
        return 1
    out.write(f"smpipe emulator listening on {endpoint}\n")
    out.write(f"  boto3:   boto3.client('sagemaker', endpoint_url='{endpoint}', region_name='us-east-1')\n")
    out.write(f"  Airflow: aws connection with extra {{\"endpoint_url\": \"{endpoint}\"}}\n")
    out.write(f"  state:   GET {endpoint}/_smpipe/state\n")
    if args.scenario:
        out.write(f"  scenario: {args.scenario}\n")
    out.write("Press Ctrl-C to stop.\n")
    out.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        out.write("stopped\n")
    finally:
        server.stop()
    return 0
