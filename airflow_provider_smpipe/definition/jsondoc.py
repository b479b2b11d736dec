"""Strict JSON: how definitions and the dry-run's input files are read, whatever they contain.

Python's ``json`` module is lenient where JSON (RFC 8259) and the service are not, and some inputs
make it, or code that handles what it returns, fail with exceptions that are not located errors.
Everything below is refused here with a :class:`DefinitionError` naming the JSONPath (and the step,
inside a definition), before any other code sees the document:

* **Size.** More than :data:`MAX_BYTES` (16 MiB). The service takes at most 1,048,576 characters
  inline (botocore: ``CreatePipeline.PipelineDefinition``, max length 1048576); the SDK uploads larger
  definitions to S3 (``PipelineDefinitionS3Location``), for which no maximum is documented. 16 MiB is
  16 times the inline limit, room for the 5000-step benchmark definition (about 12 MB), and keeps a
  hostile file from costing gigabytes of memory: files are read up to the limit and no further.
* **Encoding.** Bytes that are not UTF-8 (the position is named; nothing is decoded with
  replacement characters).
* **Nesting** deeper than :data:`MAX_DEPTH` (100) levels. ``json.loads`` recurses, so 10,000
  nested arrays raise ``RecursionError``, and recursive code further on (the validator, the dry-run,
  Airflow's DAG serialization, two or three frames a level) fails the same way from a few hundred
  levels, fewer when it already runs deep in a stack. 100 leaves room for all of them. Definitions
  the SDKs write nest 9 to 16 levels. The depth of a parsed document is measured level by level with
  ``gc.get_referents`` (C loops, no recursion): about 5 ms for a 1000-step definition, 6 % of its
  load, which the validator's own walk got cheaper by (loading costs what it did before).
* **``NaN``, ``Infinity``, ``-Infinity``**, which are not JSON but which ``json.loads`` accepts, and
  numbers that overflow to infinity (``1e999``): printed back they are not JSON either.
* **Integer literals longer than 4300 digits** (Python's int/str conversion limit: ``json.loads``
  raises a bare ``ValueError``, and such an int cannot be printed).
* **Lone surrogates** (``"\\ud800"``): they parse into a ``str`` that cannot be encoded as UTF-8, so
  hashing, printing or sending it raises ``UnicodeEncodeError``. A surrogate *pair* (an emoji written
  as two escapes) is one valid character and is accepted.

Dicts given directly (``load_definition(dict)``) go through the same checks: they are serialised
with ``allow_nan=False`` and parsed back, which also makes the private copy the loader keeps.
"""

from __future__ import annotations

import gc
import json
import math
import re
import sys
from collections.abc import Iterator
from itertools import compress
from pathlib import Path
from typing import Any

from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError

#: The largest file or text read, in bytes (characters for text): 16 times the service's inline limit.
MAX_BYTES = 16 * 1024 * 1024
#: botocore's ``CreatePipeline.PipelineDefinition`` max length (the inline limit), for messages.
SERVICE_INLINE_LIMIT = 1_048_576
#: The deepest nesting accepted (the document itself is level 1).
MAX_DEPTH = 100
#: Python's default int/str conversion limit (``sys.get_int_max_str_digits``), at most.
MAX_INT_DIGITS = min(getattr(sys, "get_int_max_str_digits", lambda: 4300)() or 4300, 4300)
#: At most this many problems of one kind are listed (a file of a million NaNs is one problem).
MAX_LISTED = 20

_IS_CONTAINER = {dict, list}.__contains__
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
#: Where a step object sits in a definition: Steps[i], a Condition branch, a ForEach body.
_STEP_LISTS = ("Steps", "IfSteps", "ElseSteps", "ForEachBody")


class _Bad:
    """A value json.loads was told to keep aside (NaN, an overflowing number, a too-long integer)."""

    __slots__ = ("token", "why", "expected")

    def __init__(self, token: str, why: str, expected: str) -> None:
        self.token, self.why, self.expected = token, why, expected


class _Refused(Exception):
    """Raised by the strict parse hooks; the document is then parsed again to locate every value."""


# -- reading ---------------------------------------------------------------------------------------


def read_file(path: str | Path, *, what: str | None = None) -> str:
    """The text of a UTF-8 file of at most :data:`MAX_BYTES` bytes.

    :param what: ``None`` for a definition (problems located at ``$``), else the dry-run option the
        file was given to (``--parameters``), which then is the location.
    :raises InvalidDefinitionError: missing, unreadable, a directory, too big, not UTF-8.
    """
    label = str(path)
    where = what if what is not None else "$"

    def refuse(problem: str, expected: str | None = None, location: str | None = where) -> InvalidDefinitionError:
        return _error([DefinitionError(problem, location=location, expected=expected)], label, what)

    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise refuse(f"no such file: {label}", location=what) from None
    except IsADirectoryError:
        raise refuse(f"{label} is a directory", "a JSON file") from None
    except PermissionError:
        raise refuse(f"cannot read {label}: permission denied") from None
    except (OSError, ValueError) as exc:  # ENAMETOOLONG, ELOOP, ENOTDIR, an embedded NUL byte, ...
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise refuse(f"cannot read {label}: {reason}") from None
    if len(data) > MAX_BYTES:
        raise refuse(f"{label} is larger than {MAX_BYTES} bytes", size_expectation())
    return decode(data, label=label, what=what)


def decode(data: bytes, *, label: str, what: str | None = None) -> str:
    """``data`` as UTF-8 text; a byte that is not UTF-8 is a located problem."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        problem = DefinitionError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} at line {line} column {column} (offset {exc.start})",
            location=what if what is not None else "$",
            expected="a UTF-8 encoded JSON document",
        )
        raise _error([problem], label, what) from None


# -- parsing ---------------------------------------------------------------------------------------


def parse_text(text: str, *, label: str, what: str | None = None) -> Any:
    """Parse ``text`` as strict JSON (see the module docstring for what is refused).

    :param what: ``None`` for a definition, else the dry-run option (locations are then
        ``"--parameters $.name"``).
    :raises InvalidDefinitionError: listing every located problem.
    """
    where = what if what is not None else "$"
    if len(text) > MAX_BYTES:
        raise _error([DefinitionError(f"the document has {len(text)} characters", location=where, expected=size_expectation())], label, what)
    if not text.strip():
        empty = "the file is empty" if what is not None or label[:1] not in ("<", "") else "the document is empty"
        raise _error([DefinitionError(empty, location=where, expected="a JSON object")], label, what)
    if text.startswith("\ufeff"):  # json.loads says so too; its decoder alone would not
        raise _error([DefinitionError("not valid JSON: the text starts with a byte order mark (U+FEFF)", location=where, expected="UTF-8 without a BOM")], label, what)
    try:
        document = _STRICT.decode(text)
    except json.JSONDecodeError as exc:
        location = f"{what} {label}" if what is not None else "$"
        problem = DefinitionError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", location=location)
        raise _error([problem], label, what) from None
    except RecursionError:
        raise _error(_deep_in_text(text, what), label, what) from None
    except (_Refused, ValueError):  # NaN/Infinity, an overflowing number, an integer too long to convert
        raise _error(_bad_values(text, what), label, what) from None
    check_document(document, label=label, what=what, text=text)
    return document


def from_object(document: Any, *, label: str, what: str | None = None) -> Any:
    """A strict private copy of a document given as Python objects (a dict from the caller): only
    JSON types, finite numbers, no lone surrogates, at most :data:`MAX_DEPTH` levels."""
    try:
        text = json.dumps(document, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise _error(_object_problems(document, what) or [DefinitionError("not a JSON document", location=what or "$")], label, what) from None
    return parse_text(text, label=label, what=what)


def check_document(document: Any, *, label: str, what: str | None = None, text: str | None = None) -> None:
    """Depth and lone surrogates of a parsed document (``text``: what it was parsed from, which
    makes the surrogate check free when it has no surrogate escapes)."""
    if depth_exceeds(document, MAX_DEPTH):
        raise _error(_deep_in_object(document, what), label, what)
    if text is None or _may_hold_surrogates(text):
        problems = _surrogate_problems(document, what)
        if problems:
            raise _error(problems, label, what)


def loads_value(text: str) -> Any:
    """Parse JSON text found *inside* data at run time (a ``JobConfigDocument``, a JSON list of
    ForEach items, a property file given as text) with the same rules.

    :raises ValueError: with a message (the caller adds the step and location); ``json.JSONDecodeError``
        for syntax errors, as ``json.loads`` would.
    """
    if len(text) > MAX_BYTES:
        raise ValueError(f"JSON text of {len(text)} characters (at most {MAX_BYTES})")
    if text.startswith("\ufeff"):
        raise ValueError("JSON text starting with a byte order mark (U+FEFF)")
    try:
        document = _STRICT.decode(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except (_Refused, ValueError):
        first = _bad_values(text, None)[0]
        raise ValueError(f"{first.problem} at {first.location}") from None
    try:
        check_document(document, label="<value>", text=text)
    except InvalidDefinitionError as exc:
        first = exc.problems[0]
        raise ValueError(f"{first.problem} at {first.location}") from None
    return document


def depth_exceeds(document: Any, limit: int) -> bool:
    """Whether ``document`` nests more than ``limit`` levels (a scalar is level 1 too).

    Level by level, in C loops: ``gc.get_referents`` of a list of dicts and lists returns their
    values and items (their ``tp_traverse``), of which the dicts and lists are the next level.
    """
    level = [document] if type(document) in (dict, list) else []
    depth = 1
    while level:
        if depth > limit:
            return True
        referents = gc.get_referents(*level)
        level = list(compress(referents, map(_IS_CONTAINER, map(type, referents))))
        depth += 1
    return False


# -- hooks -------------------------------------------------------------------------------------------


def _refuse_constant(token: str) -> Any:
    raise _Refused(token)


def _finite_float(token: str) -> float:
    value = float(token)
    if value - value != 0:  # inf - inf is nan; faster than math.isfinite on the hot path
        raise _Refused(token)
    return value


def _keep_constant(token: str) -> _Bad:
    return _Bad(token, f"{token} is not JSON", "a finite number (JSON has no NaN or Infinity)")


def _keep_float(token: str) -> Any:
    value = float(token)
    if math.isfinite(value):
        return value
    return _Bad(token, f"number {_short(token)} is out of range (it overflows to {_float_token(value)})", "a finite number")


def _keep_int(token: str) -> Any:
    digits = len(token) - token.startswith("-")
    if digits > MAX_INT_DIGITS:
        return _Bad(token, f"integer literal with {digits} digits", f"at most {MAX_INT_DIGITS} digits")
    return int(token)


#: One decoder for every strict parse (``json.loads`` with hooks would build one per call).
_STRICT = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


# -- locating problems ---------------------------------------------------------------------------------


def _bad_values(text: str, what: str | None) -> list[DefinitionError]:
    """Parse again keeping the refused values aside, then report each where it is."""
    try:
        document = json.loads(text, parse_constant=_keep_constant, parse_float=_keep_float, parse_int=_keep_int)
    except (ValueError, RecursionError) as exc:  # pragma: no cover - the strict parse got further
        return [DefinitionError(f"not a JSON document: {exc}", location=what or "$")]
    found = []
    for path, value in _nodes(document):
        if isinstance(value, _Bad):
            found.append(_problem(value.why, path, document, what, value.expected))
    return _capped(found, what) or [DefinitionError("not a JSON document", location=what or "$")]


def _object_problems(document: Any, what: str | None) -> list[DefinitionError]:
    """Why a Python object is not a JSON document (types, numbers, nesting), located."""
    found: list[DefinitionError] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if len(path) >= MAX_DEPTH and type(value) in (dict, list, tuple):
            found.append(_problem(f"JSON nested deeper than {MAX_DEPTH} levels", path, document, what, f"at most {MAX_DEPTH} levels of objects and arrays"))
            continue
        if isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                if not isinstance(key, (str, int, float, bool)) and key is not None:
                    found.append(_problem(f"a key of type {type(key).__name__} is not JSON", path, document, what, "string keys"))
                    continue
                stack.append(((*path, str(key) if not isinstance(key, str) else key), item))
        elif isinstance(value, (list, tuple)):
            stack.extend(((*path, index), item) for index, item in reversed(list(enumerate(value))))
        elif isinstance(value, float):
            if not math.isfinite(value):
                found.append(_problem(f"{_float_token(value)} is not JSON", path, document, what, "a finite number (JSON has no NaN or Infinity)"))
        elif isinstance(value, int) and not isinstance(value, bool):
            try:
                str(value)
            except ValueError:  # longer than Python's int/str conversion limit
                found.append(_problem(f"an integer with more than {MAX_INT_DIGITS} digits", path, document, what, f"at most {MAX_INT_DIGITS} digits"))
        elif value is not None and not isinstance(value, (str, bool)):
            found.append(_problem(f"a {type(value).__name__} is not JSON", path, document, what, "JSON values: objects, arrays, strings, numbers, booleans, null"))
    return _capped(found, what)


def _deep_in_object(document: Any, what: str | None) -> list[DefinitionError]:
    found: list[DefinitionError] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), document)]
    while stack and len(found) < MAX_LISTED:
        path, value = stack.pop()
        if type(value) not in (dict, list):
            continue
        if len(path) >= MAX_DEPTH:
            problem = _problem(f"JSON nested deeper than {MAX_DEPTH} levels", path, document, what, f"at most {MAX_DEPTH} levels of objects and arrays")
            if not found or str(found[-1]) != str(problem):  # siblings nested as deep: reported once
                found.append(problem)
            continue
        items = value.items() if type(value) is dict else enumerate(value)
        stack.extend(((*path, key), item) for key, item in reversed(list(items)))
    return found


_TOKEN = re.compile(r'[ \t\n\r]*(?:("(?:[^"\\]|\\.)*")|([{}\[\],:])|([^ \t\n\r{}\[\],:"]+))', re.S)


def _deep_in_text(text: str, what: str | None) -> list[DefinitionError]:
    """Where text too deep for ``json.loads`` first goes beyond :data:`MAX_DEPTH` levels: a
    tokenizer that tracks the path (and the ``Name`` of each object, for the step)."""
    frames: list[list[Any]] = []  # [is_object, key or index, expecting_key, name]
    pos = 0
    while True:
        match = _TOKEN.match(text, pos)
        if match is None:
            break
        pos = match.end()
        string, punct, bare = match.groups()
        top = frames[-1] if frames else None
        if punct in ("{", "["):
            if len(frames) >= MAX_DEPTH:
                path = tuple(frame[1] for frame in frames)
                line = text.count("\n", 0, match.start(2)) + 1
                problem = f"JSON nested deeper than {MAX_DEPTH} levels (line {line})"
                return [DefinitionError(problem, step=_step_in_frames(frames), location=_location(path, what), expected=f"at most {MAX_DEPTH} levels of objects and arrays")]
            frames.append([punct == "{", None if punct == "{" else 0, punct == "{", None])
        elif punct in ("}", "]"):
            if frames:
                frames.pop()
        elif punct == ",":
            if top is not None:
                if top[0]:
                    top[2] = True
                else:
                    top[1] += 1
        elif string is not None:
            if top is not None and top[0] and top[2]:
                top[1], top[2] = _string_value(string), False
            elif top is not None and top[0] and top[1] == "Name":
                top[3] = _string_value(string)
        elif bare is None and punct is None:  # pragma: no cover - the pattern always matches something
            break
    return [DefinitionError(f"JSON nested deeper than {MAX_DEPTH} levels", location=what or "$", expected=f"at most {MAX_DEPTH} levels of objects and arrays")]


def _step_in_frames(frames: list[list[Any]]) -> str | None:
    step = None
    for index in range(1, len(frames)):
        parent, frame = frames[index - 1], frames[index]
        if frame[0] and not parent[0] and index >= 2 and frames[index - 2][1] in _STEP_LISTS and isinstance(frame[3], str):
            step = frame[3]
    return step


def _string_value(token: str) -> Any:
    try:
        return json.loads(token)
    except ValueError:
        return token


def _may_hold_surrogates(text: str) -> bool:
    if "\\u" in text and next(_SURROGATE_ESCAPE.finditer(text), None) is not None:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _surrogate_problems(document: Any, what: str | None) -> list[DefinitionError]:
    found = []
    for path, value in _nodes(document, keys=True):
        if isinstance(value, str) and _has_lone_surrogate(value):
            shown = repr(value if len(value) <= 40 else value[:37] + "...")  # repr escapes the surrogate
            found.append(_problem(f"lone surrogate in {shown} (not valid Unicode: it cannot be encoded as UTF-8)", path, document, what, "text without unpaired \\ud800-\\udfff escapes"))
    return _capped(found, what)


def _has_lone_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# -- helpers -----------------------------------------------------------------------------------------


def _nodes(document: Any, *, keys: bool = False) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every value of a parsed document with its path, depth first in document order; with
    ``keys``, each object key too (at the path of its value)."""
    stack: list[tuple[tuple[Any, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        yield path, value
        if type(value) is dict:
            if keys:
                for key in value:
                    if _has_lone_surrogate(key):
                        yield (*path, key), key
            stack.extend(((*path, key), item) for key, item in reversed(list(value.items())))
        elif type(value) is list:
            stack.extend(((*path, index), item) for index, item in reversed(list(enumerate(value))))


def _problem(problem: str, path: tuple[Any, ...], document: Any, what: str | None, expected: str | None) -> DefinitionError:
    return DefinitionError(problem, step=_step_in_document(document, path) if what is None else None, location=_location(path, what), expected=expected)


def _step_in_document(document: Any, path: tuple[Any, ...]) -> str | None:
    """The innermost step whose object is on ``path`` (``$.Steps[2]``, a branch, a ForEach body)."""
    step, node = None, document
    for index, component in enumerate(path):
        try:
            node = node[component]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(component, int) and index >= 1 and path[index - 1] in _STEP_LISTS and isinstance(node, dict):
            name = node.get("Name")
            if isinstance(name, str):
                step = name
    return step


def _location(path: tuple[Any, ...], what: str | None) -> str:
    """The JSONPath of ``path``; a long one keeps its first 12 components and ends with ``...``."""
    from airflow_provider_smpipe.definition.references import child_location

    text = "$"
    for component in path[:12]:
        text = child_location(text, component)
    if len(path) > 12:
        text += f"...({len(path) - 12} more levels)"
    return f"{what} {text}" if what is not None else text


def _float_token(value: float) -> str:
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def _short(token: str) -> str:
    return token if len(token) <= 30 else token[:27] + "..."


def _capped(found: list[DefinitionError], what: str | None) -> list[DefinitionError]:
    if len(found) <= MAX_LISTED:
        return found
    rest = len(found) - MAX_LISTED
    return [*found[:MAX_LISTED], DefinitionError(f"and {rest} more problem{'s' if rest != 1 else ''} of the same kind", location=what or "$")]


def size_expectation() -> str:
    return f"at most {MAX_BYTES} bytes (16 MiB; the service takes {SERVICE_INLINE_LIMIT} characters inline, larger definitions through S3)"


def _error(problems: list[DefinitionError], label: str, what: str | None) -> InvalidDefinitionError:
    if what is None:
        return InvalidDefinitionError(problems, label)
    return InvalidDefinitionError(problems, label, what=f"{what} input")

