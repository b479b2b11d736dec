"""Cleanup steps: delete the S3 outputs of upstream steps in the emulator's S3.

What to delete is the definition core's decision (:func:`~airflow_provider_smpipe.definition.cleanup.plan_cleanup`,
shared with the dry-run and translation): exactly ``S3Uris``, or everything under a Training
source's ``<S3OutputPath>/<job name>/``. Here the objects are deleted; a deletion that fails moves
its source to ``FailedSteps``; the step itself succeeds (``Metadata.Cleanup``, no properties).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_smpipe.definition.cleanup import plan_cleanup
from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.emulator.gateway import json_safe
from airflow_provider_smpipe.emulator.steps.base import StepFailed, WorkerBase


class CleanupSteps(WorkerBase):
    def cleanup(self) -> None:
        self.set(status="Executing")
        resolver = self.resolver()
        with self.engine.lock:
            outcomes, described = self._what_ran()
        try:
            arguments = resolver.resolve_arguments(self.step)
            plan = plan_cleanup(
                self.execution.definition,
                self.step,
                outcomes=outcomes,
                described=described,
                resolve_uris=lambda uris, location: resolver.resolve(uris, step=self.step, location=location),
            )
        except DefinitionError as exc:
            raise StepFailed(f"ClientError: {exc}") from None
        self.set(request=json_safe(arguments))
        self.sleep(self.seconds())
        for source, targets in list(plan.deletes.items()):
            deleted: list[str] = []
            try:
                for target in targets:
                    deleted += self.gateway.delete_s3(target, self.region)
            except (ClientError, BotoCoreError, ValueError) as exc:
                plan.mark_failed(source, f"deleting {target} failed: {exc}")
                continue
            with self.engine.lock:
                self.run.notes.append(f"deleted {len(deleted)} object(s) of {source}: {', '.join(deleted[:20])}")
        with self.engine.lock:
            self.run.properties = {}
            self.run.metadata = {"Cleanup": plan.metadata()}
            self.run.finish("Succeeded")

    def _what_ran(self) -> tuple[dict[str, str], dict[str, Any]]:
        """Outcomes and described properties the Cleanup's sources are looked up in (engine lock
        held): the top level's, and for a Cleanup in a ForEach body its iteration's children too."""
        outcomes = dict(self.execution.scheduler.outcomes)
        described = self.execution.described()
        if self.fan_out is not None and self.index is not None:
            for child, (body, index) in self.fan_out.fan.children.items():
                if index != self.index:
                    continue
                if child in self.fan_out.scheduler.outcomes:
                    outcomes[body] = self.fan_out.scheduler.outcomes[child]
                if child in described:
                    described[body] = described[child]
        return outcomes, described
