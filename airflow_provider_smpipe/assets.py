"""Airflow assets for what SageMaker pipelines produce: registered model packages and S3 outputs.

Names and URIs (stable: DAGs schedule on them, so they never change between releases):

* a **model package group** ``G`` is one asset, whoever registers into it:
  ``Asset(name="sagemaker-model-package-group/G", uri="sagemaker://model-package-group/G")``
  (:func:`model_package_group_asset`). ``G`` is the group's name; a group ARN is reduced to its
  name. The ``sagemaker`` scheme has no URI normaliser, so Airflow keeps the URI as written.
* producers emit its events through the alias ``sagemaker-model-package-group-registrations/G``
  (:func:`model_package_group_alias`), so that a task emits an event only for a package it actually
  registered: Airflow emits one event per declared *asset* outlet whenever a task succeeds, but an
  execution may register nothing in a group (its RegisterModel step skipped by a Condition, reused in
  a selective run), and an alias emits exactly the events the task adds to it. An alias also keeps
  producers from resetting the consumers' watchers: Airflow's DAG processor takes an asset's
  watchers from the declaration it parses, and a producer's plain outlet declares none.
* an **S3 output** is ``Asset(uri="s3://bucket/prefix")`` (:func:`s3_output_asset`; the Amazon
  provider normalises ``s3://`` URIs, the name is the URI).

The extra of a model package asset event a task emits (plain JSON strings):
``execution_arn``, ``pipeline_name``, ``step_name``, ``model_package_arn``, ``model_package_group``,
``approval_status`` (``ModelApprovalStatus``); translated steps add ``dag_id``, ``run_id``,
``task_id`` and ``map_index``. Events from the watcher (SageMaker's EventBridge events, whoever
registered) carry Airflow's ``{"from_trigger": True, "payload": {...}}`` with the payload of
:meth:`~airflow_provider_smpipe.events.shapes.PipelineEvent.to_payload`; :func:`model_package_events`
reads both forms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow.sdk import Asset, AssetAlias, AssetWatcher

MODEL_PACKAGE_GROUP_NAME_PREFIX = "sagemaker-model-package-group/"
MODEL_PACKAGE_GROUP_URI_PREFIX = "sagemaker://model-package-group/"
MODEL_PACKAGE_GROUP_ALIAS_PREFIX = "sagemaker-model-package-group-registrations/"
#: The keys of a model package asset event's extra emitted by a task.
MODEL_PACKAGE_EXTRA_KEYS = ("execution_arn", "pipeline_name", "step_name", "model_package_arn", "model_package_group", "approval_status")
#: ModelPackageGroupName (CreateModelPackageGroup's pattern), or a group ARN.
_GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_GROUP_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:model-package-group/(?P<name>[^/]+)$")


def model_package_group_name(group: Any, argument: str = "group") -> str:
    """The group's name (``G`` for ``G`` or its ARN); a ``ValueError`` naming ``argument`` otherwise."""
    if isinstance(group, str):
        match = _GROUP_ARN.match(group)
        name = match.group("name") if match else group
        if _GROUP_NAME.match(name):
            return name
    raise ValueError(f"{argument} must be a model package group name (1-63 letters, digits and hyphens) or its ARN, got {group!r}")


def model_package_group_asset(
    group: str,
    *,
    events_queue_url: str | None = None,
    approval_statuses: Sequence[str] | str | None = None,
    aws_conn_id: str | None = "aws_default",
    region_name: str | None = None,
) -> Asset:
    """The asset of model package group ``group``: one event per package registered into it.

    :param group: the model package group (name or ARN).
    :param events_queue_url: the SQS queue SageMaker's EventBridge events arrive in (``smpipe events
        setup``). Given, the asset gets an ``AssetWatcher`` on
        :class:`~airflow_provider_smpipe.triggers.pipeline_event.SageMakerPipelineEventTrigger`
        (``event_kind="model_package"``, this group): packages registered from anywhere (a pipeline
        run outside Airflow, the console, the SDK) become events of this asset. Without it, only
        Airflow tasks emit them (:class:`~airflow_provider_smpipe.operators.pipeline.SageMakerPipelineStartOperator`
        with ``model_package_groups``, translated RegisterModel steps).
    :param approval_statuses: with a watcher, only packages in these ``ModelApprovalStatus``
        (``Approved``, ``PendingManualApproval``, ``Rejected``); ``None`` for any. The watcher also
        fires when a package's status changes later (e.g. approved in the model registry).
    :param aws_conn_id: Airflow AWS connection the watcher reads the queue with.
    :param region_name: AWS region of the queue (default: the connection's).

    Nothing is called at DAG-parse time (the trigger only checks its arguments).
    """
    name = model_package_group_name(group)
    watchers = []
    if events_queue_url is not None:
        from airflow_provider_smpipe.triggers.pipeline_event import SageMakerPipelineEventTrigger

        trigger = SageMakerPipelineEventTrigger(
            queue_url=events_queue_url,
            event_kind="model_package",
            model_package_groups=[name],
            statuses=list(approval_statuses) if approval_statuses is not None and not isinstance(approval_statuses, str) else approval_statuses,
            aws_conn_id=aws_conn_id,
            region_name=region_name,
        )
        watchers.append(AssetWatcher(name=f"smpipe-model-packages-{name}", trigger=trigger))
    return Asset(name=MODEL_PACKAGE_GROUP_NAME_PREFIX + name, uri=MODEL_PACKAGE_GROUP_URI_PREFIX + name, watchers=watchers)


def model_package_group_alias(group: str) -> AssetAlias:
    """The alias a task declares as an outlet to emit events of :func:`model_package_group_asset`
    ``(group)`` for the packages it registered (and none when it registered none)."""
    return AssetAlias(name=MODEL_PACKAGE_GROUP_ALIAS_PREFIX + model_package_group_name(group))


def declared_model_package_group(outlets: Iterable[Any]) -> str | None:
    """The group whose alias (:func:`model_package_group_alias`) is among a task's ``outlets``."""
    for outlet in outlets or ():
        if isinstance(outlet, AssetAlias) and outlet.name.startswith(MODEL_PACKAGE_GROUP_ALIAS_PREFIX):
            return outlet.name[len(MODEL_PACKAGE_GROUP_ALIAS_PREFIX) :]
    return None


def model_package_outlets(groups: Sequence[str] | None, outlets: Any = None) -> tuple[list[str], list[Any]]:
    """A task's ``model_package_groups`` argument (checked: names, ARNs reduced to names) and its
    outlets: the given ones (an outlet or a list) plus the groups' aliases."""
    if isinstance(groups, str):
        groups = [groups]
    names = [model_package_group_name(group, "model_package_groups") for group in groups or ()]
    given = [] if outlets is None else list(outlets) if isinstance(outlets, (list, tuple)) else [outlets]
    return names, [*given, *map(model_package_group_alias, names)]


def s3_output_asset(uri: str) -> Asset:
    """The asset of an S3 output location (``s3://bucket/prefix``): named by its URI, without trailing
    slashes (as Airflow normalises the URI, so ``.../out`` and ``.../out/`` are one asset)."""
    if not isinstance(uri, str) or not uri.startswith("s3://") or not uri[len("s3://") :].split("/", 1)[0]:
        raise ValueError(f"an S3 output asset needs an s3://bucket/... URI, got {uri!r}")
    return Asset(uri=uri.rstrip("/"))


def model_package_extra(
    *, execution_arn: str, pipeline_name: str, step_name: str, described: Mapping[str, Any], **more: Any
) -> dict[str, Any]:
    """The extra of a model package asset event, from the package's DescribeModelPackage."""
    extra = {
        "execution_arn": execution_arn,
        "pipeline_name": pipeline_name,
        "step_name": step_name,
        "model_package_arn": str(described.get("ModelPackageArn") or ""),
        "model_package_group": str(described.get("ModelPackageGroupName") or ""),
        # The service's default for a new package (the describe may omit it).
        "approval_status": str(described.get("ModelApprovalStatus") or "PendingManualApproval"),
    }
    extra.update(more)
    return extra


def add_model_package_event(context: Any, group: str, extra: Mapping[str, Any]) -> None:
    """Emit one event of ``group``'s asset through its alias (which the task declared as an outlet).
    The extra's values must be scalars: Airflow groups alias events by their extra's items."""
    context["outlet_events"][model_package_group_alias(group)].add(model_package_group_asset(group), extra=dict(extra))


def registered_package_rows(steps: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The step-table rows (``utils.reporting.step_row``) of RegisterModel steps that registered a
    package in this execution: succeeded, with the package ARN, and neither reused from another
    execution (selective runs) nor a cache hit (the package is then the other execution's)."""
    return [
        dict(row)
        for row in steps
        if row.get("type") == "RegisterModel" and row.get("status") == "Succeeded" and row.get("job_arn")
        and not row.get("reused_from") and not row.get("cache_hit")
    ]  # fmt: skip


def emit_registered_model_packages(
    context: Any, client: Any, result: Mapping[str, Any], groups: Sequence[str], *, log: Any
) -> list[dict[str, Any]]:
    """After an execution ended well: one event per package its RegisterModel steps registered into
    one of ``groups`` (each package read once with DescribeModelPackage for its group and approval
    status); returns the extras emitted. Packages of other groups are logged, not emitted.

    :param client: a boto3 SageMaker client.
    :param result: the start operator's result (``execution_arn``, ``pipeline_name``, ``steps``).
    """
    wanted = {name.lower(): name for name in (model_package_group_name(g, "model_package_groups") for g in groups)}
    emitted = []
    for row in registered_package_rows(result.get("steps") or []):
        described = client.describe_model_package(ModelPackageName=row["job_arn"])
        extra = model_package_extra(
            execution_arn=str(result["execution_arn"]), pipeline_name=str(result["pipeline_name"]), step_name=str(row["name"]), described=described
        )
        group = wanted.get(extra["model_package_group"].lower())
        if group is None:
            log.info("Step %s registered %s in group %s, not one of model_package_groups: no asset event", row["name"], extra["model_package_arn"], extra["model_package_group"])
            continue
        extra["model_package_group"] = group  # as the DAG spells it (group names compare case-insensitively)
        add_model_package_event(context, group, extra)
        log.info("Asset event for model package group %s: %s (%s)", group, extra["model_package_arn"], extra["approval_status"])
        emitted.append(extra)
    return emitted


def model_package_events(events: Iterable[Any]) -> list[dict[str, Any]]:
    """The model packages in asset events of :func:`model_package_group_asset`, whichever way they
    came: ``{model_package_arn, model_package_group, approval_status, execution_arn, pipeline_name,
    step_name, source}`` each, ``source`` being ``task`` (an Airflow task emitted it) or ``watcher``
    (SageMaker's event, read from the queue). ``events`` are asset events (``triggering_asset_events``
    values) or their ``extra`` dicts; an event listed twice (under its asset and under the alias it
    came through) is read once."""
    rows: list[dict[str, Any]] = []
    for event in events:
        extra = getattr(event, "extra", event) or {}
        if extra.get("from_trigger") and isinstance(extra.get("payload"), Mapping):
            payload = extra["payload"]
            rows.append(
                {
                    "model_package_arn": payload.get("model_package_arn"),
                    "model_package_group": payload.get("model_package_group"),
                    "approval_status": payload.get("status"),
                    "execution_arn": payload.get("execution_arn") or None,
                    "pipeline_name": payload.get("pipeline_name") or None,
                    "step_name": payload.get("step_name"),
                    "source": "watcher",
                }
            )
        elif extra.get("model_package_arn"):
            rows.append({**{key: extra.get(key) for key in MODEL_PACKAGE_EXTRA_KEYS}, "source": "task"})
        else:
            continue
        if rows[-1] in rows[:-1]:
            rows.pop()
    return rows


__all__ = [
    "MODEL_PACKAGE_EXTRA_KEYS",
    "add_model_package_event",
    "declared_model_package_group",
    "emit_registered_model_packages",
    "model_package_events",
    "model_package_extra",
    "model_package_group_alias",
    "model_package_group_asset",
    "model_package_group_name",
    "model_package_outlets",
    "registered_package_rows",
    "s3_output_asset",
]
