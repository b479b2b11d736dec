"""The one exception family of the definition core.

Every problem with a definition, a parameter value, an expression or a selective-execution request
is a :class:`DefinitionError` (a ``ValueError``), whose message names the step, the JSON location
(a JSONPath such as ``$.Steps[2].Arguments.Conditions[0].LeftValue``) and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from difflib import get_close_matches
from typing import Any


class SmpipeError(Exception):
    """Base class of every error raised on purpose by airflow-provider-smpipe."""


class DefinitionError(SmpipeError, ValueError):
    """A problem located in a pipeline definition (or in a value checked against one).

    :param problem: what is wrong, in one sentence.
    :param step: the step the problem belongs to, if any.
    :param location: JSONPath of the offending value inside the definition (or the input).
    :param expected: what would have been valid.
    """

    def __init__(
        self,
        problem: str,
        *,
        step: str | None = None,
        location: str | None = None,
        expected: str | None = None,
    ) -> None:
        # Whatever a hostile definition holds (a lone surrogate in a name or key), the message can
        # be printed, hashed and sent: lone surrogates are shown as their escapes.
        self.problem = _clean(problem)
        self.step = _clean(step)
        self.location = _clean(location)
        self.expected = _clean(expected)
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.step is not None:
            where.append(f"step '{self.step}'")
        if self.location:
            where.append(f"at {self.location}")
        text = f"{' '.join(where)}: {self.problem}" if where else self.problem
        if self.expected:
            text += f" (expected {self.expected})"
        return text

    def as_dict(self) -> dict[str, str | None]:
        """A JSON-friendly view, used by the CLI's ``--json`` output."""
        return {
            "step": self.step,
            "location": self.location,
            "problem": self.problem,
            "expected": self.expected,
            "message": str(self),
        }


class InvalidDefinitionError(DefinitionError):
    """A definition failed validation; :attr:`problems` lists every problem found, in document order."""

    def __init__(self, problems: Sequence[DefinitionError], source: str | None = None, *, what: str = "pipeline definition") -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        head = f"{source}: " if source and source != what else ""
        lines = [printable(f"{head}invalid {what} ({count} problem{'s' if count != 1 else ''})")]
        lines += [f"  - {p}" for p in self.problems]
        SmpipeError.__init__(self, "\n".join(lines))
        self.problem = lines[0]
        self.step = self.problems[0].step if self.problems else None
        self.location = self.problems[0].location if self.problems else None
        self.expected = None

    def _render(self) -> str:  # pragma: no cover - the message is built in __init__
        return self.args[0]


class ParameterError(DefinitionError):
    """A pipeline parameter value (an override, a default, a run conf entry) is not acceptable."""


class ResolutionError(DefinitionError):
    """An expression could not be evaluated at run time (a missing step output, a bad path, ...)."""


class ConditionError(ResolutionError):
    """A condition compares values that cannot be compared (e.g. a string with a number)."""


class SelectionError(DefinitionError):
    """A selective-execution request breaks the service's rules (unknown, unconnected, too many steps)."""


def printable(text: str) -> str:
    """``text`` with lone surrogates (``\\ud800``, which no UTF-8 stream accepts) as backslash escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _clean(value: Any) -> Any:
    return printable(value) if isinstance(value, str) else value


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` suffix, or ``""`` when nothing is close."""
    matches = get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
