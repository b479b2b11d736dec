"""The service's limits on the names and values a definition carries to the API.

Each :class:`Constraint` is a botocore SageMaker shape (``min``, ``max``, ``pattern``) copied here,
because loading the SageMaker service model costs about 40 ms the first time and a classic
definition's validation never needs it otherwise. ``tests/definition/test_hostile_corpus.py``
checks every one against botocore's model, so a botocore upgrade that changes a limit fails a test.

Patterns are matched with :func:`re.fullmatch`, as the service matches them (Java's
``String.matches``): ``re.match`` with ``$`` would let ``"Train\\n"`` through. Only the patterns below
are used, all plain character classes that mean the same in Java and Python; the README's rule
("patterns of botocore's shapes are not checked") holds for everything else (ARNs, URIs, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Constraint:
    """``min``..``max`` characters (and a full-match ``pattern``) of one botocore shape.

    :param source: where botocore states it (``Structure.Member`` → shape name), for tests and docs.
    :param minimum: may be stricter than botocore's where a value botocore allows cannot work
        (an empty step name, an empty output name); ``botocore_min`` is botocore's own.
    """

    source: tuple[str, str]
    shape: str
    minimum: int
    maximum: int
    pattern: str | None = None
    charset: str | None = None
    botocore_min: int | None = None

    def problem(self, value: str) -> str | None:
        """Why ``value`` breaks the constraint (``None`` when it does not)."""
        if not self.minimum <= len(value) <= self.maximum:
            return f"has {len(value)} characters"
        if self.pattern is not None and _compiled(self.pattern).fullmatch(value) is None:
            bad = sorted({c for c in value if _compiled(self.pattern).fullmatch(c) is None} or {value})
            shown = ", ".join(repr(c) for c in bad[:5])
            return f"has characters outside {self.charset or self.pattern}: {shown}"
        return None

    def expected(self) -> str:
        size = f"{self.minimum}-{self.maximum} characters" if self.minimum else f"at most {self.maximum} characters"
        chars = f" from {self.charset}" if self.charset else (f" matching {self.pattern}" if self.pattern else "")
        return f"{size}{chars} (botocore {self.shape})"


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        compiled = _PATTERNS[pattern] = re.compile(pattern)
    return compiled


_NAME_CHARS = r"[A-Za-z0-9\-_]*"
#: Step names (``ListPipelineExecutionSteps``' ``StepName``; at least 1 character, as in the public
#: definition schema's ``^[A-Za-z0-9\-_]{1,64}$``).
STEP_NAME = Constraint(("PipelineExecutionStep", "StepName"), "StepName", 1, 64, _NAME_CHARS, "[A-Za-z0-9-_]", botocore_min=0)
#: Parameter names (``StartPipelineExecution``'s ``Parameter.Name``).
PARAMETER_NAME = Constraint(("Parameter", "Name"), "PipelineParameterName", 1, 256, _NAME_CHARS, "[A-Za-z0-9-_]")
#: A parameter value as the service carries it (``Parameter.Value``): defaults and enum values too.
PARAMETER_VALUE = Constraint(("Parameter", "Value"), "String1024", 0, 1024)
STEP_DISPLAY_NAME = Constraint(("PipelineExecutionStep", "StepDisplayName"), "StepDisplayName", 0, 256)
STEP_DESCRIPTION = Constraint(("PipelineExecutionStep", "StepDescription"), "StepDescription", 0, 3072)
#: A Lambda or Callback output's name (``OutputParameter.Name``). Botocore allows 0 characters, but
#: an output without a name can neither be returned by the function nor referenced.
OUTPUT_PARAMETER_NAME = Constraint(("OutputParameter", "Name"), "String256", 1, 256, botocore_min=0)
#: ``OutputParameterList`` (max 50 items), the outputs a Lambda or Callback step reports.
MAX_OUTPUT_PARAMETERS = 50
LAMBDA_FUNCTION_ARN = Constraint(("LambdaStepMetadata", "Arn"), "String256", 1, 256, botocore_min=0)
CALLBACK_QUEUE_URL = Constraint(("CallbackStepMetadata", "SqsQueueUrl"), "String256", 1, 256, botocore_min=0)
FAIL_ERROR_MESSAGE = Constraint(("FailStepMetadata", "ErrorMessage"), "String3072", 0, 3072)
#: Literal ``PipelineExperimentConfig`` names: the experiment and trial the service creates.
EXPERIMENT_ENTITY_NAME = Constraint(
    ("PipelineExperimentConfig", "ExperimentName"), "ExperimentEntityName", 1, 120, r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,119}", "[a-zA-Z0-9] and inner hyphens"
)

#: Not in botocore: the public definition schema's ``ParameterDescription`` (maxLength 4096).
MAX_PARAMETER_DESCRIPTION = 4096

#: Every botocore-derived constraint (checked against botocore by the tests).
BOTOCORE_CONSTRAINTS = (
    STEP_NAME,
    PARAMETER_NAME,
    PARAMETER_VALUE,
    STEP_DISPLAY_NAME,
    STEP_DESCRIPTION,
    OUTPUT_PARAMETER_NAME,
    LAMBDA_FUNCTION_ARN,
    CALLBACK_QUEUE_URL,
    FAIL_ERROR_MESSAGE,
    EXPERIMENT_ENTITY_NAME,
)

#: Property file names have no botocore shape; the SDK references one as
#: ``Steps.<step>.PropertyFiles.<name>``, so a name must survive that dotted path: no ``.``, brackets,
#: quotes, whitespace or control characters (a trailing newline included), 1-256 characters.
PROPERTY_FILE_NAME = re.compile(r"[^.\[\]'\"\s\x00-\x1f\x7f]{1,256}")
PROPERTY_FILE_NAME_EXPECTED = "1-256 characters without '.', brackets, quotes, whitespace or control characters (it is referenced as Steps.<step>.PropertyFiles.<name>)"
