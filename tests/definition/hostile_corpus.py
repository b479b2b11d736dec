"""The hostile-definition corpus: definitions and dry-run input files that try to break ``smpipe``.

Pure data (no pytest, no project imports beyond the standard library), shared by
``tests/definition/test_hostile_corpus.py`` (the validator, ``smpipe validate``/``dry-run``)
and ``tests/translation/test_hostile_definitions.py`` (translation's DAG build, in-process and by
Airflow's ``DagBag``). Every case records the located error it must produce: a substring of the
problem, the step (``ANY`` when not checked) and the exact JSONPath location.

Classes (the issue's list): nesting 10,000+ deep (objects and arrays, in the document, in a step, in
a condition, in nested Condition steps), 5000-digit integers, ``NaN``/``Infinity``/``-Infinity`` and
overflowing numbers, lone surrogate escapes (names, values, keys, parameter defaults), bytes that are
not UTF-8, a definition that is not an object, an empty file, a directory, a 60 MB file, and names
and values the API refuses (step, parameter, property file and output names against botocore's
patterns and lengths, trailing newlines, empty Lambda ``OutputName``, a property file whose output
cannot be checked, lengths of display names, descriptions, ARNs, queue URLs, error messages,
parameter values, experiment names, unknown keys the definition schema does not allow).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: "do not check this attribute"
ANY = object()
MAX_DEPTH = 100
DEEP = 10_000
#: A placeholder string replaced by raw JSON text (NaN, a 5000-digit number, deep nesting, ...).
RAW = "@@RAW@@"
FORBIDDEN_EXCEPTIONS = ("RecursionError", "UnicodeEncodeError", "UnicodeDecodeError", "OverflowError", "MemoryError", "KeyError", "TypeError", "AttributeError")


@dataclass(frozen=True)
class Hostile:
    """One hostile definition.

    :param content: the file's bytes (``None`` for ``kind="directory"``).
    :param as_object: the same hostility as Python objects, for ``load_definition(dict)`` and
        translation from a dict (``None`` when it has no object form, e.g. bytes that are not UTF-8).
    """

    id: str
    content: Callable[[], bytes] | None
    contains: tuple[str, ...]
    step: Any = ANY
    location: Any = ANY
    kind: str = "file"
    as_object: Callable[[], Any] | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    object_contains: tuple[str, ...] | None = None


# -- the valid definition every case breaks ---------------------------------------------------------


def base() -> dict[str, Any]:
    """A small valid definition translation can run: Processing (a property file), Lambda, a
    Condition with a Callback in IfSteps and a Fail in ElseSteps; four typed parameters."""
    return {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": [
            {"Name": "InputData", "Type": "String", "DefaultValue": "s3://bucket/in"},
            {"Name": "Count", "Type": "Integer", "DefaultValue": 1},
            {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.5},
            {"Name": "Flag", "Type": "Boolean", "DefaultValue": False},
        ],
        "PipelineExperimentConfig": None,
        "Steps": [
            {
                "Name": "Prep",
                "Type": "Processing",
                "Arguments": {
                    "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}},
                    "AppSpecification": {"ImageUri": "img"},
                    "RoleArn": "arn:aws:iam::123456789012:role/R",
                    "ProcessingInputs": [
                        {"InputName": "in", "AppManaged": False, "S3Input": {"S3Uri": {"Get": "Parameters.InputData"}, "LocalPath": "/opt/ml/processing/in", "S3DataType": "S3Prefix", "S3InputMode": "File"}}
                    ],
                    "ProcessingOutputConfig": {
                        "Outputs": [
                            {"OutputName": "evaluation", "AppManaged": False, "S3Output": {"S3Uri": "s3://bucket/eval", "LocalPath": "/opt/ml/processing/evaluation", "S3UploadMode": "EndOfJob"}}
                        ]
                    },
                },
                "PropertyFiles": [{"PropertyFileName": "Report", "OutputName": "evaluation", "FilePath": "report.json"}],
                "RetryPolicies": [{"ExceptionType": ["Step.SERVICE_FAULT"], "MaxAttempts": 2}],
                "CacheConfig": {"Enabled": True, "ExpireAfter": "P1D"},
            },
            {
                "Name": "Notify",
                "Type": "Lambda",
                "Arguments": {"input": {"Get": "Parameters.InputData"}, "count": {"Get": "Parameters.Count"}},
                "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:notify",
                "OutputParameters": [{"OutputName": "status", "OutputType": "String"}],
            },
            {
                "Name": "Check",
                "Type": "Condition",
                "Arguments": {
                    "Conditions": [
                        {
                            "Type": "GreaterThanOrEqualTo",
                            "LeftValue": {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Prep.PropertyFiles.Report"}, "Path": "score"}},
                            "RightValue": {"Get": "Parameters.Threshold"},
                        }
                    ],
                    "IfSteps": [
                        {
                            "Name": "Approve",
                            "Type": "Callback",
                            "Arguments": {"model": "m"},
                            "SqsQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/approvals",
                            "OutputParameters": [{"OutputName": "decision", "OutputType": "String"}],
                        }
                    ],
                    "ElseSteps": [{"Name": "Stop", "Type": "Fail", "Arguments": {"ErrorMessage": "score too low"}}],
                },
            },
        ],
    }


#: What the dry-run of :func:`base` needs: the property file its Condition reads.
BASE_PROPERTY_FILES = {"Prep": {"Report": {"score": 0.9}}}

PREP, NOTIFY, CHECK = "$.Steps[0]", "$.Steps[1]", "$.Steps[2]"
APPROVE = f"{CHECK}.Arguments.IfSteps[0]"
STOP = f"{CHECK}.Arguments.ElseSteps[0]"
VOLUME = f"{PREP}.Arguments.ProcessingResources.ClusterConfig.VolumeSizeInGB"


def _dump(document: Any) -> bytes:
    return json.dumps(document).encode("utf-8")  # ensure_ascii: lone surrogates become \\udXXX escapes


def edited(*edits: Callable[[dict[str, Any]], Any]) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        document = base()
        for edit in edits:
            edit(document)
        return document

    return make


def as_file(make: Callable[[], Any]) -> Callable[[], bytes]:
    return lambda: _dump(make())


def with_raw(raw: str, *edits: Callable[[dict[str, Any]], Any]) -> Callable[[], bytes]:
    """The base definition after ``edits`` (which put :data:`RAW` somewhere), with the placeholder
    replaced by raw JSON text such as ``NaN``."""
    make = edited(*edits)
    return lambda: _dump(make()).replace(json.dumps(RAW).encode(), raw.encode())


def put(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set ``value`` at a dotted path (``Steps.1.Arguments.input``; integers index lists)."""
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]

    def edit(document: dict[str, Any]) -> None:
        node: Any = document
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value  # not copied: deep values would exhaust copy's recursion; nothing mutates them

    return edit


def drop(path: str) -> Callable[[dict[str, Any]], None]:
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]

    def edit(document: dict[str, Any]) -> None:
        node: Any = document
        for part in parts[:-1]:
            node = node[part]
        del node[parts[-1]]

    return edit


def nested_list(depth: int, leaf: Any = 1) -> Any:
    value: Any = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_object(depth: int, key: str = "a", leaf: Any = 1) -> Any:
    value: Any = leaf
    for _ in range(depth):
        value = {key: value}
    return value


def deep_text(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "array" else '{"a":' * depth + "1" + "}" * depth


def nots_text(depth: int) -> str:
    """``Not(Not(...(Equals)))`` as JSON text (too deep for ``json.dumps``)."""
    return '{"Type": "Not", "Condition": ' * depth + '{"Type": "Equals", "LeftValue": 1, "RightValue": 1}' + "}" * depth


def nested_conditions(levels: int) -> dict[str, Any]:
    """Condition C0 whose IfSteps holds C1, ... down to C<levels-1>, whose IfSteps holds a Fail."""
    inner: dict[str, Any] = {"Name": "Innermost", "Type": "Fail", "Arguments": {"ErrorMessage": "x"}}
    for level in reversed(range(levels)):
        inner = {
            "Name": f"C{level}",
            "Type": "Condition",
            "Arguments": {"Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}], "IfSteps": [inner], "ElseSteps": []},
        }
    return inner


def deep_location(prefix: tuple[Any, ...], component: Any = 0) -> str:
    """The location the core reports for a container nested beyond :data:`MAX_DEPTH`: the first 12
    path components, then how many more."""
    path = list(prefix)
    while len(path) < MAX_DEPTH:
        path.append(component)
    text = "$"
    for part in path[:12]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text + f"...({len(path) - 12} more levels)"


def lone(text: str) -> str:
    """How the core prints a string holding lone surrogates (as backslash escapes)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


NOT_JSON_NUMBER = "a finite number"
NESTED = f"JSON nested deeper than {MAX_DEPTH} levels"
SURROGATE = "lone surrogate"
PROPS = f"{PREP}.PropertyFiles[0]"


def _many_nans(document: dict[str, Any]) -> None:
    document["Steps"][1]["Arguments"]["values"] = [RAW] * 30


def _no_outputs(document: dict[str, Any]) -> None:
    del document["Steps"][0]["Arguments"]["ProcessingOutputConfig"]


def _long(n: int, char: str = "a") -> str:
    return char * n


class _Padded:
    """A file of ``size`` bytes: a JSON head, then padding. Called, it returns the bytes; writers
    that know it (``write_to``) make a sparse file instead, which costs no disk."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self) -> bytes:
        head = b'{"Version": "2020-12-01", "Metadata": {"pad": "'
        return head + b"x" * (self.size - len(head) - 3) + b'"}}'

    def write_to(self, path: Any) -> None:
        with open(path, "wb") as handle:
            handle.write(b'{"Version": "2020-12-01", "Metadata": {"pad": "')
            handle.truncate(self.size)  # the rest reads as NUL bytes: refused for its size first


def _pad_file(size: int) -> _Padded:
    return _Padded(size)


def write_content(content: Callable[[], bytes], path: Any) -> None:
    """Write a case's bytes to ``path`` (sparse for the padded ones)."""
    if isinstance(content, _Padded):
        content.write_to(path)
    else:
        with open(path, "wb") as handle:
            handle.write(content())


def case_ids(cases: list[Any]) -> list[str]:
    """pytest ids of a list of cases."""
    return [case.id for case in cases]


def write_case(case: Any, directory: Path) -> Path:
    """Write a case (a :class:`Hostile` or :class:`HostileInput`) as ``<id>.json`` in ``directory``,
    once; a ``directory`` case becomes a directory holding a file."""
    path = directory / f"{case.id}.json"
    if case.kind == "directory":
        path.mkdir(exist_ok=True)
        (path / "inside.json").write_text("{}")
    elif not path.exists():
        assert case.content is not None
        write_content(case.content, path)
    return path


# -- the cases ---------------------------------------------------------------------------------------

DEFINITION_CASES: list[Hostile] = [
    # nesting
    Hostile("deep-array-document-10000", lambda: deep_text(DEEP, "array").encode(), (NESTED,), None, deep_location(()), tags=("cli",)),
    Hostile("deep-object-document-10000", lambda: deep_text(DEEP, "object").encode(), (NESTED,), None, deep_location((), "a"), as_object=lambda: nested_object(DEEP)),
    Hostile("deep-array-in-lambda-arguments-10000", with_raw(deep_text(DEEP, "array"), put("Steps.1.Arguments.input", RAW)), (NESTED,), "Notify",
            deep_location(("Steps", 1, "Arguments", "input")), as_object=edited(put("Steps.1.Arguments.input", nested_list(DEEP)))),
    Hostile("deep-object-in-lambda-arguments-10000", with_raw(deep_text(DEEP, "object"), put("Steps.1.Arguments.input", RAW)), (NESTED,), "Notify",
            deep_location(("Steps", 1, "Arguments", "input"), "a"), as_object=edited(put("Steps.1.Arguments.input", nested_object(DEEP)))),
    Hostile("deep-object-in-lambda-arguments-150", as_file(edited(put("Steps.1.Arguments.input", nested_object(150)))), (NESTED,), "Notify",
            deep_location(("Steps", 1, "Arguments", "input"), "a"), as_object=edited(put("Steps.1.Arguments.input", nested_object(150)))),
    Hostile("deep-not-conditions-10000", with_raw(nots_text(DEEP // 2), put("Steps.2.Arguments.Conditions.0", RAW)), (NESTED,), "Check",
            deep_location(("Steps", 2, "Arguments", "Conditions", 0), "Condition")),
    Hostile("deep-nested-condition-steps-40", as_file(edited(put("Steps", [nested_conditions(40)]))), (NESTED,), "C32",
            deep_location(("Steps", 0) + ("Arguments", "IfSteps", 0) * 32 + ("Arguments", "Conditions"))),
    Hostile("deep-metadata-150", as_file(edited(put("Metadata", {"m": nested_list(150)}))), (NESTED,), None, deep_location(("Metadata", "m"))),
    Hostile("deep-parameter-default-150", as_file(edited(put("Parameters.0.DefaultValue", nested_list(150)))), (NESTED,), None, deep_location(("Parameters", 0, "DefaultValue"))),
    # numbers
    Hostile("int-5000-digits-in-arguments", with_raw("7" * 5000, put("Steps.0.Arguments.ProcessingResources.ClusterConfig.VolumeSizeInGB", RAW)),
            ("integer literal with 5000 digits", "at most 4300 digits"), "Prep", VOLUME, as_object=edited(put("Steps.0.Arguments.ProcessingResources.ClusterConfig.VolumeSizeInGB", 7 * (10**5000 - 1) // 9)), tags=("cli",),
            object_contains=("an integer with more than 4300 digits",)),
    Hostile("negative-int-5000-digits-parameter-default", with_raw("-" + "9" * 5000, put("Parameters.1.DefaultValue", RAW)), ("integer literal with 5000 digits",), None, "$.Parameters[1].DefaultValue"),
    Hostile("nan-in-lambda-arguments", with_raw("NaN", put("Steps.1.Arguments.input", RAW)), ("NaN is not JSON", NOT_JSON_NUMBER), "Notify", f"{NOTIFY}.Arguments.input",
            as_object=edited(put("Steps.1.Arguments.input", float("nan"))), tags=("cli",)),
    Hostile("infinity-in-condition", with_raw("Infinity", put("Steps.2.Arguments.Conditions.0.RightValue", RAW)), ("Infinity is not JSON",), "Check", f"{CHECK}.Arguments.Conditions[0].RightValue",
            as_object=edited(put("Steps.2.Arguments.Conditions.0.RightValue", float("inf")))),
    Hostile("minus-infinity-in-callback-arguments", with_raw("-Infinity", put("Steps.2.Arguments.IfSteps.0.Arguments.model", RAW)), ("-Infinity is not JSON",), "Approve", f"{APPROVE}.Arguments.model",
            as_object=edited(put("Steps.2.Arguments.IfSteps.0.Arguments.model", float("-inf")))),
    Hostile("nan-float-parameter-default", with_raw("NaN", put("Parameters.2.DefaultValue", RAW)), ("NaN is not JSON",), None, "$.Parameters[2].DefaultValue",
            as_object=edited(put("Parameters.2.DefaultValue", float("nan"))), tags=("cli",)),
    Hostile("infinity-float-parameter-default", with_raw("Infinity", put("Parameters.2.DefaultValue", RAW)), ("Infinity is not JSON",), None, "$.Parameters[2].DefaultValue"),
    Hostile("overflowing-float-parameter-default", with_raw("1e999", put("Parameters.2.DefaultValue", RAW)), ("number 1e999 is out of range", "Infinity"), None, "$.Parameters[2].DefaultValue"),
    Hostile("overflowing-negative-number-in-arguments", with_raw("-1.5e400", put("Steps.1.Arguments.count", RAW)), ("number -1.5e400 is out of range",), "Notify", f"{NOTIFY}.Arguments.count"),
    Hostile("integer-literal-beyond-float-range-as-float-default", with_raw("1" + "0" * 400, put("Parameters.2.DefaultValue", RAW)),
            ("default of Float parameter 'Threshold' is out of range",), None, "$.Parameters[2].DefaultValue"),
    Hostile("thirty-nans-are-listed-up-to-twenty", with_raw("NaN", _many_nans), ("NaN is not JSON",), "Notify", f"{NOTIFY}.Arguments.values[0]"),
    Hostile("nan-in-metadata", with_raw("NaN", put("Metadata", {"m": RAW})), ("NaN is not JSON",), None, "$.Metadata.m"),
    # lone surrogates
    Hostile("lone-high-surrogate-in-step-name", as_file(edited(put("Steps.1.Name", "Notify\ud800"))), (SURROGATE,), lone("Notify\ud800"), f"{NOTIFY}.Name",
            as_object=edited(put("Steps.1.Name", "Notify\ud800")), tags=("cli",)),
    Hostile("lone-low-surrogate-in-value", as_file(edited(put("Steps.1.Arguments.input", "x\udc00y"))), (SURROGATE,), "Notify", f"{NOTIFY}.Arguments.input",
            as_object=edited(put("Steps.1.Arguments.input", "x\udc00y"))),
    Hostile("lone-surrogate-in-string-parameter-default", as_file(edited(put("Parameters.0.DefaultValue", "s3://b/\ud83d"))), (SURROGATE,), None, "$.Parameters[0].DefaultValue",
            as_object=edited(put("Parameters.0.DefaultValue", "s3://b/\ud83d"))),
    Hostile("lone-surrogate-in-object-key", as_file(edited(put("Steps.1.Arguments.k\udc00", "v"))), (SURROGATE,), "Notify", lone(f"{NOTIFY}.Arguments['k\udc00']"), tags=("cli",)),
    Hostile("reversed-surrogate-pair-in-display-name", as_file(edited(put("Steps.0.DisplayName", "\ude00\ud83d"))), (SURROGATE,), "Prep", f"{PREP}.DisplayName"),
    Hostile("lone-surrogate-in-parameter-name", as_file(edited(put("Parameters.3.Name", "Flag\udfff"))), (SURROGATE,), None, "$.Parameters[3].Name"),
    Hostile("lone-surrogate-in-property-file-name", as_file(edited(put("Steps.0.PropertyFiles.0.PropertyFileName", "Rep\ud800ort"))), (SURROGATE,), "Prep", f"{PROPS}.PropertyFileName"),
    Hostile("lone-surrogate-in-fail-message", as_file(edited(put("Steps.2.Arguments.ElseSteps.0.Arguments.ErrorMessage", "bad \udbff"))), (SURROGATE,), "Stop", f"{STOP}.Arguments.ErrorMessage"),
    # encodings
    Hostile("byte-ff-in-step-name", lambda: _dump(base()).replace(b'"Notify"', b'"Notify\xff"', 1), ("not UTF-8: byte 0xff at line 1 column",), None, "$", tags=("cli",)),
    Hostile("latin-1-e-acute", lambda: _dump(edited(put("Steps.0.Description", "caf\u00e9"))()).replace(b"caf\\u00e9", b"caf\xe9"), ("not UTF-8: byte 0xe9",), None, "$"),
    Hostile("utf-16-with-bom", lambda: json.dumps(base()).encode("utf-16"), ("not UTF-8: byte 0xff at line 1 column 1 (offset 0)",), None, "$"),
    Hostile("utf-8-encoded-surrogate-bytes", lambda: _dump(base()).replace(b'"Prep"', b'"Prep\xed\xa0\x80"', 1), ("not UTF-8: byte 0xed",), None, "$"),
    Hostile("utf-8-bom", lambda: b"\xef\xbb\xbf" + _dump(base()), ("not valid JSON", "byte order mark"), None, "$"),
    # not an object, nothing at all, not a file, too big
    Hostile("json-array", lambda: b"[]", ("the definition is a JSON array",), None, "$", tags=("cli",)),
    Hostile("json-array-of-steps", lambda: _dump(base()["Steps"]), ("the definition is a JSON array",), None, "$"),
    Hostile("json-number", lambda: b"42", ("the definition is a JSON integer",), None, "$"),
    Hostile("json-string", lambda: b'"a definition"', ("the definition is a JSON string",), None, "$"),
    Hostile("json-null", lambda: b"null", ("the definition is a JSON null",), None, "$"),
    Hostile("json-true", lambda: b"true", ("the definition is a JSON boolean",), None, "$"),
    Hostile("empty-file", lambda: b"", ("is empty",), None, "$", tags=("cli",)),
    Hostile("whitespace-only-file", lambda: b" \n\t\r\n", ("is empty",), None, "$"),
    Hostile("truncated-json", lambda: _dump(base())[:-7], ("not valid JSON",), None, "$"),
    Hostile("directory", None, ("is a directory",), None, "$", kind="directory", tags=("cli",)),
    Hostile("file-of-60-MB", _pad_file(60 * 1024 * 1024), ("is larger than 16777216 bytes", "16 MiB"), None, "$", tags=("cli",)),
    Hostile("file-one-byte-over-the-limit", _pad_file(16 * 1024 * 1024 + 1), ("is larger than 16777216 bytes",), None, "$"),
    # step names (botocore StepName: [A-Za-z0-9\-_]*, 1..64, full match)
    Hostile("step-name-trailing-newline", as_file(edited(put("Steps.0.Name", "Prep\n"))), ("invalid step Name 'Prep\\n'", "'\\n'", "[A-Za-z0-9-_]"), None, f"{PREP}.Name", tags=("cli",)),
    Hostile("step-name-leading-tab", as_file(edited(put("Steps.1.Name", "\tNotify"))), ("invalid step Name '\\tNotify'",), None, f"{NOTIFY}.Name"),
    Hostile("step-name-with-space", as_file(edited(put("Steps.1.Name", "Notify me"))), ("invalid step Name 'Notify me'", "' '"), None, f"{NOTIFY}.Name"),
    Hostile("step-name-65-characters", as_file(edited(put("Steps.1.Name", _long(65)))), ("has 65 characters", "1-64 characters"), None, f"{NOTIFY}.Name"),
    Hostile("step-name-empty", as_file(edited(put("Steps.1.Name", ""))), ("invalid step Name ''", "has 0 characters"), None, f"{NOTIFY}.Name"),
    Hostile("step-name-non-ascii-letter", as_file(edited(put("Steps.1.Name", "Benachrichtigung-\u00fc"))), ("invalid step Name", "'\u00fc'"), None, f"{NOTIFY}.Name"),
    Hostile("step-name-with-dot", as_file(edited(put("Steps.1.Name", "Notify.v2"))), ("invalid step Name 'Notify.v2'", "'.'"), None, f"{NOTIFY}.Name"),
    Hostile("else-step-name-trailing-newline", as_file(edited(put("Steps.2.Arguments.ElseSteps.0.Name", "Stop\n"))), ("invalid step Name 'Stop\\n'",), None, f"{STOP}.Name"),
    Hostile("step-name-arabic-indic-digit", as_file(edited(put("Steps.1.Name", "Notify\u0663"))), ("invalid step Name",), None, f"{NOTIFY}.Name"),
    # parameter names (botocore PipelineParameterName: [A-Za-z0-9\-_]*, 1..256)
    Hostile("parameter-name-trailing-newline", as_file(edited(put("Parameters.0.Name", "InputData\n"))), ("invalid parameter Name 'InputData\\n'", "[A-Za-z0-9-_]"), None, "$.Parameters[0].Name", tags=("cli",)),
    Hostile("parameter-name-with-space", as_file(edited(put("Parameters.1.Name", "Item Count"))), ("invalid parameter Name 'Item Count'",), None, "$.Parameters[1].Name"),
    Hostile("parameter-name-257-characters", as_file(edited(put("Parameters.1.Name", _long(257)))), ("has 257 characters", "1-256 characters", "PipelineParameterName"), None, "$.Parameters[1].Name"),
    Hostile("parameter-name-with-dot", as_file(edited(put("Parameters.1.Name", "smpipe.count"))), ("invalid parameter Name 'smpipe.count'",), None, "$.Parameters[1].Name"),
    Hostile("parameter-name-non-ascii", as_file(edited(put("Parameters.1.Name", "Anzahl\u00e4"))), ("invalid parameter Name",), None, "$.Parameters[1].Name"),
    # parameter values (botocore Parameter.Value: String1024) and descriptions
    Hostile("string-default-1025-characters", as_file(edited(put("Parameters.0.DefaultValue", _long(1025)))), ("has 1025 characters", "String1024"), None, "$.Parameters[0].DefaultValue"),
    Hostile("enum-value-1025-characters", as_file(edited(put("Parameters.0.EnumValues", ["s3://bucket/in", _long(1025)]))), ("has 1025 characters",), None, "$.Parameters[0].EnumValues[1]"),
    Hostile("integer-default-1025-digits", with_raw("9" * 1025, put("Parameters.1.DefaultValue", RAW)), ("has 1025 characters",), None, "$.Parameters[1].DefaultValue"),
    Hostile("parameter-description-object", as_file(edited(put("Parameters.0.Description", {"text": "x"}))), ("Description of parameter 'InputData' is object",), None, "$.Parameters[0].Description"),
    Hostile("parameter-description-4097-characters", as_file(edited(put("Parameters.0.Description", _long(4097)))), ("has 4097 characters",), None, "$.Parameters[0].Description"),
    # property files
    Hostile("property-file-name-trailing-newline", as_file(edited(put("Steps.0.PropertyFiles.0.PropertyFileName", "Report\n"))), ("invalid PropertyFileName 'Report\\n'",), "Prep", f"{PROPS}.PropertyFileName"),
    Hostile("property-file-name-with-dot", as_file(edited(put("Steps.0.PropertyFiles.0.PropertyFileName", "report.json"))), ("invalid PropertyFileName 'report.json'", "Steps.<step>.PropertyFiles.<name>"), "Prep", f"{PROPS}.PropertyFileName"),
    Hostile("property-file-name-with-space", as_file(edited(put("Steps.0.PropertyFiles.0.PropertyFileName", "eval report"))), ("invalid PropertyFileName 'eval report'",), "Prep", f"{PROPS}.PropertyFileName"),
    Hostile("property-file-output-not-an-output", as_file(edited(put("Steps.0.PropertyFiles.0.OutputName", "evaluations"))), ("names output 'evaluations', which the step does not have", "did you mean 'evaluation'"), "Prep", f"{PROPS}.OutputName"),
    Hostile("property-file-of-a-step-without-outputs", as_file(edited(_no_outputs)), ("property file 'Report' names output 'evaluation', but the step has no ProcessingOutputConfig.Outputs list",), "Prep", f"{PROPS}.OutputName", tags=("cli",)),
    Hostile("property-file-with-outputs-as-expression", as_file(edited(put("Steps.0.Arguments.ProcessingOutputConfig.Outputs", {"Get": "Parameters.InputData"}))), ("no ProcessingOutputConfig.Outputs list",), "Prep", f"{PROPS}.OutputName"),
    Hostile("property-file-unknown-key", as_file(edited(put("Steps.0.PropertyFiles.0.Encoding", "utf-8"))), ("unknown key 'Encoding' in a property file",), "Prep", f"{PROPS}.Encoding"),
    # Lambda / Callback outputs (botocore OutputParameter.Name: String256; OutputParameterList: 50)
    Hostile("lambda-output-name-empty", as_file(edited(put("Steps.1.OutputParameters.0.OutputName", ""))), ("OutputName '' is empty", "1-256 characters"), "Notify", f"{NOTIFY}.OutputParameters[0].OutputName", tags=("cli",)),
    Hostile("lambda-output-name-257-characters", as_file(edited(put("Steps.1.OutputParameters.0.OutputName", _long(257)))), ("has 257 characters",), "Notify", f"{NOTIFY}.OutputParameters[0].OutputName"),
    Hostile("callback-output-name-empty", as_file(edited(put("Steps.2.Arguments.IfSteps.0.OutputParameters.0.OutputName", ""))), ("OutputName '' is empty",), "Approve", f"{APPROVE}.OutputParameters[0].OutputName"),
    Hostile("lambda-51-outputs", as_file(edited(put("Steps.1.OutputParameters", [{"OutputName": f"o{i}", "OutputType": "String"} for i in range(51)]))), ("51 output parameters", "at most 50"), "Notify", f"{NOTIFY}.OutputParameters"),
    Hostile("lambda-output-unknown-key", as_file(edited(put("Steps.1.OutputParameters.0.Default", "x"))), ("unknown key 'Default' in an output parameter",), "Notify", f"{NOTIFY}.OutputParameters[0].Default"),
    Hostile("lambda-function-arn-257-characters", as_file(edited(put("Steps.1.FunctionArn", "arn:aws:lambda:us-east-1:123456789012:function:" + _long(210)))), ("FunctionArn has 257 characters",), "Notify", f"{NOTIFY}.FunctionArn"),
    Hostile("callback-queue-url-257-characters", as_file(edited(put("Steps.2.Arguments.IfSteps.0.SqsQueueUrl", "https://sqs.us-east-1.amazonaws.com/123456789012/" + _long(208)))), ("SqsQueueUrl has 257 characters",), "Approve", f"{APPROVE}.SqsQueueUrl"),
    # other names and values the API limits
    Hostile("display-name-257-characters", as_file(edited(put("Steps.0.DisplayName", _long(257)))), ("DisplayName has 257 characters", "StepDisplayName"), "Prep", f"{PREP}.DisplayName"),
    Hostile("description-3073-characters", as_file(edited(put("Steps.0.Description", _long(3073)))), ("Description has 3073 characters", "StepDescription"), "Prep", f"{PREP}.Description"),
    Hostile("fail-message-3073-characters", as_file(edited(put("Steps.2.Arguments.ElseSteps.0.Arguments.ErrorMessage", _long(3073)))), ("ErrorMessage has 3073 characters",), "Stop", f"{STOP}.Arguments.ErrorMessage"),
    Hostile("experiment-name-with-space", as_file(edited(put("PipelineExperimentConfig", {"ExperimentName": "my experiment", "TrialName": {"Get": "Execution.PipelineExecutionId"}}))),
            ("ExperimentName 'my experiment' has characters outside", "ExperimentEntityName"), None, "$.PipelineExperimentConfig.ExperimentName"),
    Hostile("trial-name-trailing-newline", as_file(edited(put("PipelineExperimentConfig", {"ExperimentName": {"Get": "Execution.PipelineName"}, "TrialName": "trial-1\n"}))),
            ("TrialName 'trial-1\\n'",), None, "$.PipelineExperimentConfig.TrialName"),
    Hostile("mlflow-arn-trailing-newline", as_file(edited(put("MlflowConfig", {"MlflowResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/ts\n"}))),
            ("is not an MLflow ARN",), None, "$.MlflowConfig.MlflowResourceArn"),
    Hostile("cache-config-unknown-key", as_file(edited(put("Steps.0.CacheConfig.Expires", "P1D"))), ("unknown key 'Expires' in CacheConfig",), "Prep", f"{PREP}.CacheConfig.Expires"),
    Hostile("retry-policy-unknown-key", as_file(edited(put("Steps.0.RetryPolicies.0.MaxAttempt", 3))), ("unknown key 'MaxAttempt' in a retry policy", "did you mean 'MaxAttempts'"), "Prep", f"{PREP}.RetryPolicies[0].MaxAttempt"),
]

#: Valid definitions at the edges of the limits above: they must load, dry-run and translate.
EDGE_CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "arguments-nested-exactly-100-levels": edited(put("Steps.1.Arguments.input", nested_list(MAX_DEPTH - 4))),
    "emoji-as-surrogate-pair-escapes": edited(put("Steps.0.DisplayName", "Prep \U0001F600"), put("Parameters.0.DefaultValue", "s3://bucket/\U0001F600")),
    "step-name-64-characters": edited(put("Steps.1.Name", _long(64, "N"))),
    "parameter-name-256-characters": edited(put("Parameters.3.Name", _long(256, "F"))),
    "string-default-1024-characters": edited(put("Parameters.0.DefaultValue", _long(1024))),
    "empty-string-default": edited(put("Parameters.0.DefaultValue", "")),
    "output-name-256-characters": edited(put("Steps.1.OutputParameters.0.OutputName", _long(256, "o"))),
    "property-file-name-with-dashes": edited(put("Steps.0.PropertyFiles.0.PropertyFileName", "Report-v2_final"), put("Steps.2.Arguments.Conditions.0.LeftValue.Std:JsonGet.PropertyFile.Get", "Steps.Prep.PropertyFiles.Report-v2_final")),
    "display-name-256-characters": edited(put("Steps.0.DisplayName", _long(256))),
}
EDGE_RAW: dict[str, Callable[[], bytes]] = {
    "integer-literal-of-1024-digits-in-arguments": with_raw("9" * 1024, put("Steps.1.Arguments.count", RAW)),
    "file-over-the-inline-limit": lambda: _dump(edited(put("Metadata", {"pad": _long(1_100_000)}))()),
}


# -- dry-run input files -------------------------------------------------------------------------------

#: Options of ``smpipe dry-run`` that take a JSON file.
INPUT_OPTIONS = ("--parameters", "--step-outputs", "--property-files", "--s3-objects", "--execution", "--step-status")


@dataclass(frozen=True)
class HostileInput:
    """A hostile input file; ``location`` is a format string with ``{option}``."""

    id: str
    content: Callable[[], bytes] | None
    contains: tuple[str, ...]
    location: str
    kind: str = "file"


def _input_with_raw(raw: str) -> Callable[[], bytes]:
    return lambda: json.dumps({"Prep": {"x": RAW}}).replace(json.dumps(RAW), raw).encode()


INPUT_CASES: list[HostileInput] = [
    HostileInput("deep-array-10000", lambda: deep_text(DEEP, "array").encode(), (NESTED,), "{option} " + deep_location(())),
    HostileInput("deep-object-10000", lambda: deep_text(DEEP, "object").encode(), (NESTED,), "{option} " + deep_location((), "a")),
    HostileInput("deep-object-150", lambda: json.dumps({"Prep": nested_object(150)}).encode(), (NESTED,), "{option} " + deep_location(("Prep",), "a")),
    HostileInput("nan", _input_with_raw("NaN"), ("NaN is not JSON",), "{option} $.Prep.x"),
    HostileInput("infinity", _input_with_raw("Infinity"), ("Infinity is not JSON",), "{option} $.Prep.x"),
    HostileInput("minus-infinity", _input_with_raw("-Infinity"), ("-Infinity is not JSON",), "{option} $.Prep.x"),
    HostileInput("overflowing-number", _input_with_raw("1e400"), ("number 1e400 is out of range",), "{option} $.Prep.x"),
    HostileInput("int-5000-digits", _input_with_raw("1" * 5000), ("integer literal with 5000 digits",), "{option} $.Prep.x"),
    HostileInput("lone-surrogate-value", lambda: json.dumps({"Prep": {"x": "\ud800"}}).encode(), (SURROGATE,), "{option} $.Prep.x"),
    HostileInput("lone-surrogate-key", lambda: json.dumps({"Prep\udc00": 1}).encode(), (SURROGATE,), lone("{option} $['Prep\udc00']")),
    HostileInput("non-utf-8", lambda: b'{"Prep": {"x": "caf\xe9"}}', ("not UTF-8: byte 0xe9 at line 1 column 20",), "{option}"),
    HostileInput("utf-16", lambda: json.dumps({"Prep": {}}).encode("utf-16"), ("not UTF-8: byte 0xff",), "{option}"),
    HostileInput("directory", None, ("is a directory",), "{option}", kind="directory"),
    HostileInput("file-of-60-MB", _pad_file(60 * 1024 * 1024), ("is larger than 16777216 bytes",), "{option}"),
    HostileInput("empty", lambda: b"", ("is empty",), "{option}"),
    HostileInput("whitespace-only", lambda: b"\n\n", ("is empty",), "{option}"),
    HostileInput("json-array", lambda: b"[1, 2]", ("holds a JSON list", "a JSON object"), "{option}"),
    HostileInput("json-number", lambda: b"3", ("holds a JSON int",), "{option}"),
    HostileInput("truncated", lambda: b'{"Prep": ', ("not valid JSON",), "{option} {path}"),
]


@dataclass(frozen=True)
class HostileRun:
    """Inputs that are well-formed JSON but whose values the run refuses (typed outputs, parameter
    strings, JSON text inside values): the dry-run must refuse them, never print NaN/Infinity."""

    id: str
    definition: Callable[[], dict[str, Any]]
    inputs: dict[str, Any]
    contains: tuple[str, ...]
    location: Any = ANY


def _scored() -> dict[str, Any]:
    """Base plus a Lambda whose Float and Integer outputs a later step reads."""
    document = base()
    document["Steps"].append(
        {
            "Name": "Score",
            "Type": "Lambda",
            "Arguments": {},
            "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:score",
            "OutputParameters": [{"OutputName": "score", "OutputType": "Float"}, {"OutputName": "rank", "OutputType": "Integer"}],
        }
    )
    document["Steps"].append(
        {
            "Name": "Report",
            "Type": "Lambda",
            "Arguments": {"score": {"Get": "Steps.Score.OutputParameters['score']"}, "rank": {"Get": "Steps.Score.OutputParameters['rank']"}},
            "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:report",
        }
    )
    return document


RUN_CASES: list[HostileRun] = [
    HostileRun("float-output-infinity", _scored, {"--step-outputs": {"Score": {"OutputParameters": {"score": "Infinity", "rank": "1"}}}}, ("output parameter 'score' of Lambda step 'Score' is 'Infinity'", "a Float value")),
    HostileRun("float-output-overflow", _scored, {"--step-outputs": {"Score": {"OutputParameters": {"score": "1e999", "rank": "1"}}}}, ("is '1e999'",)),
    HostileRun("float-output-nan-text", _scored, {"--step-outputs": {"Score": {"OutputParameters": [{"Name": "score", "Value": "nan"}, {"Name": "rank", "Value": "1"}]}}}, ("is 'nan'",)),
    HostileRun("integer-output-with-underscore", _scored, {"--step-outputs": {"Score": {"OutputParameters": {"score": "0.5", "rank": "1_000"}}}}, ("output parameter 'rank' of Lambda step 'Score' is '1_000'", "an Integer value")),
    HostileRun("float-parameter-overflow", base, {"--parameters": {"Threshold": "1e999"}}, ("Float parameter 'Threshold' got '1e999': not a finite number",), "$.Threshold"),
    HostileRun("float-parameter-nan", base, {"--parameters": {"Threshold": "NaN"}}, ("not a finite number",), "$.Threshold"),
    HostileRun("integer-parameter-with-underscore", base, {"--parameters": {"Count": "1_000"}}, ("Integer parameter 'Count' got '1_000': not an integer",), "$.Count"),
    HostileRun("integer-parameter-arabic-indic-digits", base, {"--parameters": {"Count": "\u0663"}}, ("not an integer",), "$.Count"),
    HostileRun("property-file-text-with-nan", base, {"--property-files": {"Prep": {"Report": '{"score": NaN}'}}}, ("is not valid JSON: NaN is not JSON at $.score",)),
    HostileRun("property-file-text-nested-10000", base, {"--property-files": {"Prep": {"Report": deep_text(DEEP, "array")}}}, ("is not valid JSON", NESTED)),
    HostileRun("property-file-text-with-lone-surrogate", base, {"--property-files": {"Prep": {"Report": '{"score": "\\ud800"}'}}}, ("is not valid JSON", SURROGATE)),
    HostileRun("property-file-text-5000-digit-integer", base, {"--property-files": {"Prep": {"Report": '{"score": ' + "1" * 5000 + "}"}}}, ("integer literal with 5000 digits",)),
]
