"""Cleanup: which S3 objects a Cleanup step deletes for each source, and what it reports.

Shared by the dry-run (which shows what would be deleted), the emulator and translation (which
delete). The service's rules, and our choices where it is silent:

* With ``S3Uris`` exactly those objects are deleted; each must lie under one of the source step's
  output locations (Processing outputs, a Transform's ``S3OutputPath``, a Training job's
  ``S3OutputPath``); one that does not is reported in ``FailedSteps`` and nothing of that source is
  deleted.
* Without ``S3Uris`` the service locates the outputs itself: for a Training source everything
  under ``<S3OutputPath>/<TrainingJobName>/`` (model artifacts and output data). For other types
  we cannot know where the service looks, so the source is reported in ``FailedSteps`` asking for
  ``S3Uris`` (documented: the service does this for Training and Athena sources).
* A source that never ran (or whose properties are unknown) is in ``SkippedSteps``.
* A failed deletion is reported and does not fail the Cleanup step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_smpipe.definition.expressions import s3_join
from airflow_provider_smpipe.definition.model import PipelineDefinition, Step
from airflow_provider_smpipe.definition.runstate import NOT_RUN
from airflow_provider_smpipe.definition.validate_base import article

CLIENT_ERROR = "ClientError"


@dataclass(slots=True)
class CleanupPlan:
    """What a Cleanup step does: ``deletes`` maps each cleaned source to the objects (exact URIs)
    and prefixes (ending in ``/``) to delete; the rest mirrors ``CleanupStepMetadata``."""

    deletes: dict[str, list[str]] = field(default_factory=dict)
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        """``CleanupStepMetadata`` once the deletions succeeded (``mark_failed`` moves a source)."""
        return {"CleanedSteps": list(self.deletes), "FailedSteps": list(self.failed), "SkippedSteps": list(self.skipped)}

    def mark_failed(self, source: str, message: str, code: str = CLIENT_ERROR) -> None:
        """A deletion of ``source``'s objects failed at run time."""
        self.deletes.pop(source, None)
        self.failed.append({"StepName": source, "ErrorCode": code, "ErrorMessage": message})


def output_locations(step: Step, properties: Mapping[str, Any]) -> list[str] | None:
    """Where a step writes its S3 outputs (``None``: unknown for this type)."""
    if step.type == "Processing":
        outputs = (properties.get("ProcessingOutputConfig") or {}).get("Outputs") or []
        return [o["S3Output"]["S3Uri"] for o in outputs if isinstance(o, Mapping) and isinstance((o.get("S3Output") or {}).get("S3Uri"), str)]
    if step.type == "Transform":
        path = (properties.get("TransformOutput") or {}).get("S3OutputPath")
        return [path] if isinstance(path, str) else []
    if step.type == "Training":
        path = (properties.get("OutputDataConfig") or {}).get("S3OutputPath")
        return [path] if isinstance(path, str) else []
    return None


def _under(uri: str, location: str) -> bool:
    base = location.rstrip("/")
    return uri == base or uri.startswith(base + "/")


def plan_cleanup(
    definition: PipelineDefinition,
    step: Step,
    *,
    outcomes: Mapping[str, str],
    described: Mapping[str, Any],
    resolve_uris: Callable[[Any, str], list[Any]],
) -> CleanupPlan:
    """The plan of Cleanup ``step``.

    :param outcomes: the outcome of every step that ended (see ``runstate``).
    :param described: the properties of every step that ran (failed ones included: their jobs exist).
    :param resolve_uris: ``(S3Uris as written, location) -> resolved values``.
    """
    plan = CleanupPlan()
    for source in step.cleanup_sources:
        source_step = definition.steps[source.step]
        properties = described.get(source.step)
        if outcomes.get(source.step, NOT_RUN) == NOT_RUN or not isinstance(properties, Mapping):
            plan.skipped.append(source.step)
            continue
        if source.s3_uris is None:
            targets = _located_outputs(source_step, properties)
            if targets is None:
                plan.failed.append({
                    "StepName": source.step,
                    "ErrorCode": CLIENT_ERROR,
                    "ErrorMessage": f"the outputs of {article(source_step.type)} step are not located automatically; give S3Uris",
                })
            else:
                plan.deletes[source.step] = targets
            continue
        uris = resolve_uris(list(source.s3_uris), f"{source.location}.S3Uris")
        problem = _outside_outputs(source_step, properties, uris)
        if problem:
            plan.failed.append({"StepName": source.step, "ErrorCode": CLIENT_ERROR, "ErrorMessage": problem})
        else:
            plan.deletes[source.step] = [str(u) for u in uris]
    return plan


def _located_outputs(step: Step, properties: Mapping[str, Any]) -> list[str] | None:
    if step.type != "Training":
        return None
    path = (properties.get("OutputDataConfig") or {}).get("S3OutputPath")
    name = properties.get("TrainingJobName")
    if not isinstance(path, str) or not isinstance(name, str):
        return None
    return [s3_join(path, name) + "/"]


def _outside_outputs(step: Step, properties: Mapping[str, Any], uris: list[Any]) -> str | None:
    for uri in uris:
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            return f"S3Uri {uri!r} is not an s3:// URI"
    locations = output_locations(step, properties)
    if locations is None:
        return None
    outside = [u for u in uris if not any(_under(u, loc) for loc in locations)]
    if outside:
        return f"{outside[0]} is not under an output location of step '{step.name}' ({', '.join(locations) or 'it has none'})"
    return None
