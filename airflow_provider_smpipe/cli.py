"""``smpipe``: validate, graph and dry-run pipeline definitions; start the local emulator.

Exit codes: 0 success; 1 the definition or an input is invalid (every problem is printed with its
step and location); 2 wrong command-line usage; 3 an internal error (a bug in smpipe: no input is
meant to get there; the message and traceback say where). A dry-run whose walk ends in a Fail step
still exits 0: the pipeline failing is a result, reported as ``"failed": true``.

Whatever the input holds, what is printed is valid UTF-8 (a lone surrogate, e.g. from a file name
that is not UTF-8, is printed as its backslash escape) and the dry-run's JSON report is strict JSON
(``allow_nan=False``: never ``NaN`` or ``Infinity``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import traceback
from collections import Counter
from collections.abc import Sequence
from typing import Any, TextIO

from airflow_provider_smpipe.definition.dryrun import DryRunInputs, dry_run, load_json_input
from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError, printable
from airflow_provider_smpipe.definition.graph_render import render_graph
from airflow_provider_smpipe.definition.loader import load_definition

#: Subcommands implemented outside the definition core, imported only when used.
PLUGGED_COMMANDS = {
    "emulator": ("airflow_provider_smpipe.emulator.cli", "Run the local SageMaker Pipelines emulator."),
    "events": ("airflow_provider_smpipe.events.cli", "Set up SageMaker pipeline events -> SQS for Airflow asset watchers."),
}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smpipe", description="SageMaker pipeline definitions from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="Check a definition; print a summary or every problem.")
    validate.add_argument("definition", help="path of the pipeline definition JSON")
    validate.add_argument("--json", action="store_true", help="print the result as JSON")

    graph = sub.add_parser("graph", help="Print the step graph.")
    graph.add_argument("definition")
    graph.add_argument("--format", choices=("json", "mermaid", "dot"), default="json")

    run = sub.add_parser("dry-run", help="Walk the pipeline and print what every step would receive.")
    run.add_argument("definition")
    run.add_argument("--parameters", metavar="P.json", help="{name: value} parameter overrides")
    run.add_argument("--step-outputs", metavar="O.json", help="{step: Describe* response or OutputParameters}")
    run.add_argument("--property-files", metavar="F.json", help="{step: {property file: JSON contents}}")
    run.add_argument("--s3-objects", metavar="S.json", help="{s3 uri: JSON contents}")
    run.add_argument("--execution", metavar="E.json", help="{execution variable: value}")
    run.add_argument("--step-status", metavar="T.json", help='{step or child: "Failed" | "Stopped"}: steps that do not succeed')
    run.add_argument("--summary", action="store_true", help="print a table instead of the JSON report")

    export = sub.add_parser("export", help="Print a deployed pipeline's definition (for the translation mode).")
    export.add_argument("pipeline_name")
    export.add_argument("--version-id", type=int, help="a PipelineVersionId (default: the current definition)")
    export.add_argument("--region", help="AWS region (default: boto3's configuration)")
    export.add_argument("--endpoint-url", help="SageMaker endpoint, e.g. the local emulator's")
    export.add_argument("--profile", help="AWS profile name")

    for name, (_module, help_text) in PLUGGED_COMMANDS.items():
        plugged = sub.add_parser(name, help=help_text, add_help=False)
        plugged.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


EXIT_INVALID = 1
EXIT_INTERNAL_ERROR = 3


class _Printable:
    """A text stream that never fails on what it is given: lone surrogates become escapes."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable(text))

    def flush(self) -> None:
        self.stream.flush()


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out: Any = _Printable(stdout or sys.stdout)
    err: Any = _Printable(stderr or sys.stderr)
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in PLUGGED_COMMANDS:
        module = importlib.import_module(PLUGGED_COMMANDS[args_list[0]][0])
        return int(module.main(args_list[1:]))
    args = _build_parser().parse_args(args_list)
    try:
        if args.command == "validate":
            return _validate(args, out)
        if args.command == "export":
            return _export(args, out, err)
        if args.command == "graph":
            definition = load_definition(args.definition)
            out.write(render_graph(definition, args.format) + "\n")
            return 0
        return _dry_run(args, out)
    except InvalidDefinitionError as exc:
        if getattr(args, "json", False):
            out.write(json.dumps({"valid": False, "problems": [p.as_dict() for p in exc.problems]}, indent=2) + "\n")
        else:
            err.write(str(exc) + "\n")
        return EXIT_INVALID
    except DefinitionError as exc:
        err.write(f"error: {exc}\n")
        return EXIT_INVALID
    except Exception as exc:  # noqa: BLE001 - a bug: say so, with a code that is not "invalid"
        err.write(f"smpipe: internal error (a bug in smpipe, please report it): {type(exc).__name__}: {exc}\n")
        err.write("".join(traceback.format_exception(exc)))
        return EXIT_INTERNAL_ERROR


def _validate(args: argparse.Namespace, out: TextIO) -> int:
    definition = load_definition(args.definition)
    types = Counter(step.type for step in definition.steps.values())
    summary = {
        "valid": True,
        "definition": args.definition,
        "steps": len(definition.steps),
        "step_types": dict(sorted(types.items())),
        "parameters": len(definition.parameters),
        "edges": len(definition.graph.edges()),
        "sha256": definition.content_hash(),
    }
    if args.json:
        out.write(json.dumps(summary, indent=2) + "\n")
    else:
        kinds = ", ".join(f"{count} {name}" for name, count in sorted(types.items()))
        out.write(
            f"OK {args.definition}: {len(definition.steps)} steps ({kinds}), "
            f"{len(definition.parameters)} parameters, {summary['edges']} edges\n"
        )
    return 0


def _dry_run(args: argparse.Namespace, out: TextIO) -> int:
    definition = load_definition(args.definition)
    inputs = DryRunInputs(
        parameters=_optional(args.parameters, "--parameters"),
        step_outputs=_optional(args.step_outputs, "--step-outputs"),
        property_files=_optional(args.property_files, "--property-files"),
        s3_objects=_optional(args.s3_objects, "--s3-objects"),
        execution=_optional(args.execution, "--execution"),
        step_status=_optional(args.step_status, "--step-status"),
    )
    report = dry_run(definition, inputs)
    if args.summary:
        out.write(_summary_table(report) + "\n")
    else:
        out.write(_strict_json(report) + "\n")
    return 0


def _strict_json(report: dict[str, Any]) -> str:
    """The report as strict JSON. Inputs are read strictly and typed values checked, so no
    ``NaN``/``Infinity`` can get here; if one ever does, it is a located error, not bad output."""
    try:
        return json.dumps(report, indent=2, default=str, allow_nan=False)
    except ValueError:
        problems = [
            DefinitionError(f"the report would hold {value}, which is not JSON", location=location, expected="a finite number")
            for location, value in _non_finite(report, "report")
        ]
        raise InvalidDefinitionError(problems or [DefinitionError("the report is not JSON", location="report")], what="dry-run report") from None


def _non_finite(value: Any, location: str) -> list[tuple[str, float]]:
    found, stack = [], [(location, value)]
    while stack:
        where, current = stack.pop()
        if isinstance(current, float) and not math.isfinite(current):
            found.append((where, current))
        elif isinstance(current, dict):
            stack.extend((f"{where}.{key}", item) for key, item in current.items())
        elif isinstance(current, (list, tuple)):
            stack.extend((f"{where}[{index}]", item) for index, item in enumerate(current))
    return found


def _export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """DescribePipeline -> the definition, validated, pretty-printed with sorted keys (so a snapshot
    committed next to a DAG diffs cleanly)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    client = session.client("sagemaker", endpoint_url=args.endpoint_url)
    request: dict[str, Any] = {"PipelineName": args.pipeline_name}
    if args.version_id is not None:
        request["PipelineVersionId"] = args.version_id
    try:
        text = client.describe_pipeline(**request)["PipelineDefinition"]
    except (ClientError, BotoCoreError) as exc:
        err.write(f"error: cannot read pipeline '{args.pipeline_name}': {exc}\n")
        return 1
    definition = load_definition(text)
    out.write(json.dumps(definition.raw, indent=2, sort_keys=True) + "\n")
    return 0


def _optional(path: str | None, option: str) -> Any:
    if path is None:
        return None
    value = load_json_input(path, option)
    if not isinstance(value, dict):
        raise InvalidDefinitionError([DefinitionError(f"{option} {path} holds a JSON {type(value).__name__}", location=option, expected="a JSON object")], path, what=f"{option} input")
    return value


def _summary_table(report: dict[str, Any]) -> str:
    rows = [("STEP", "TYPE", "STATUS", "DETAIL")]
    for name in report["order"]:
        step = report["steps"][name]
        shown = f"  {name}" if "parent" in step else name  # ForEach children, indented under it
        if step["status"] == "NotExecuted":
            detail = step.get("reason", "")
        elif "failure_reason" in step:
            detail = step["failure_reason"]
        elif "would_delete" in step:
            detail = "deletes " + (", ".join(f"{src}: {len(uris)}" for src, uris in step["would_delete"].items()) or "nothing")
        elif "metadata" in step and step["type"] == "ForEach":
            meta = step["metadata"]
            detail = f"{meta['InputItemCount']} items, {meta['SucceededStepCount']}/{meta['TotalStepCount']} children succeeded"
            if "Selector" in meta:
                detail += f", selected {meta['Selector']['StepName']}"
        elif "outcome" in step:
            detail = f"outcome {str(step['outcome']).lower()}"
        elif "error_message" in step:
            detail = f"fails: {step['error_message']}"
        else:
            detail = step.get("job_name", "")
        rows.append((shown, step["type"], step["status"], detail))
    widths = [max(len(str(r[i])) for r in rows) for i in range(3)]
    lines = [("  ".join(str(c).ljust(w) for c, w in zip(r[:3], widths)) + "  " + str(r[3])).rstrip() for r in rows]
    lines.append("")
    status = report.get("execution_status", "Failed" if report["failed"] else "Succeeded")
    if report["failed"]:
        lines.append("execution FAILED: " + str(report["failure_reason"]))
    elif status == "Succeeded":
        lines.append("execution would SUCCEED")
    else:
        lines.append(f"execution would end {status}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
