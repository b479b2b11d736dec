"""Set up delivery of SageMaker pipeline events to an SQS queue: the queue, its policy, the
EventBridge rule and its target — and the Airflow ``AssetWatcher`` code that reads the queue.

Pure boto3 (no Airflow import): used by ``SageMakerPipelineHook.setup_event_queue`` and by
``smpipe events setup``. Every step reads before it writes, so running the set-up again changes
nothing and fails nowhere; running it with other pipelines updates the rule's pattern.

SageMaker sends its events to the account's *default* event bus in the pipeline's region, so the
rule lives there, and the queue must be in the same region (EventBridge rules deliver to SQS
queues of their own region only).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from airflow_provider_smpipe.events.rule import event_pattern, merged_queue_policy
from airflow_provider_smpipe.events.shapes import EXECUTION_STATUS_CHANGE, MODEL_PACKAGE_STATE_CHANGE, SOURCE, STEP_STATUS_CHANGE

QUEUE_NAME_RULE = "1 to 80 characters, each a letter, digit, hyphen (-) or underscore (_)"
RULE_NAME_RULE = "1 to 64 characters, each a letter, digit, dot (.), hyphen (-) or underscore (_)"
PIPELINE_NAME_RULE = "1 to 256 letters, digits and hyphens, starting and ending with a letter or digit"
_QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
_RULE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
# SageMaker's PipelineName pattern (botocore): ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}
_PIPELINE_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,255}")
_PIPELINE_ARN = re.compile(r"arn:[a-z-]+:sagemaker:[a-z0-9-]+:\d{12}:pipeline/[a-zA-Z0-9-]+")
#: The rule's target Id for the queue: stable, so PutTargets replaces rather than adds.
TARGET_ID = "smpipe-sqs-queue"
DEFAULT_RULE_PREFIX = "smpipe-"
#: SQS's bounds for the two attributes the set-up lets the caller choose.
RETENTION_BOUNDS = (60, 1_209_600)
VISIBILITY_BOUNDS = (0, 43_200)
# How SageMaker (ResourceNotFound) and moto (ValidationException "Could not find ...") word a
# missing pipeline; the same list as hooks/pipeline.py's, not imported: that module imports Airflow.
_NOT_FOUND_PHRASES = ("does not exist", "not found", "could not find")
_QUEUE_MISSING_CODES = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


class EventSetupError(ValueError):
    """An argument the set-up refuses, or a resource in the way; the message says what to change."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


# -- names ------------------------------------------------------------------------------------------


def check_queue_name(name: Any) -> str:
    """``name`` if SQS accepts it for a standard queue, else an :class:`EventSetupError` naming the rule.

    :param name: the queue name.
    """
    if isinstance(name, str) and name.endswith(".fifo"):
        raise EventSetupError(
            f"queue name {name!r}: FIFO queues are not supported; the set-up makes a standard queue, what the "
            f"event readers expect (they deduplicate events themselves). Use a name without '.fifo': {QUEUE_NAME_RULE}"
        )
    if not isinstance(name, str) or not _QUEUE_NAME.fullmatch(name):
        raise EventSetupError(f"queue name {name!r} is not valid: an SQS queue name is {QUEUE_NAME_RULE}")
    return name


def default_rule_name(queue_name: str) -> str:
    """``smpipe-<queue>``; a queue name too long for a rule name (64) is cut and given a hash of
    the whole name, so the derived name is still unique and the same on every run.

    :param queue_name: a valid queue name.
    """
    name = DEFAULT_RULE_PREFIX + queue_name
    if len(name) <= 64:
        return name
    digest = hashlib.sha256(queue_name.encode()).hexdigest()[:8]
    return f"{name[: 64 - 9]}-{digest}"


def check_rule_name(name: Any) -> str:
    """``name`` if EventBridge accepts it as a rule name, else an :class:`EventSetupError`.

    :param name: the rule name.
    """
    if not isinstance(name, str) or not _RULE_NAME.fullmatch(name):
        raise EventSetupError(f"rule name {name!r} is not valid: an EventBridge rule name is {RULE_NAME_RULE}")
    return name


def _check_seconds(value: int | None, argument: str, bounds: tuple[int, int]) -> int | None:
    if value is None:
        return None
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise EventSetupError(f"{argument} is {value!r}: SQS accepts a whole number of seconds from {low} to {high}")
    return value


def arn_parts(arn: str) -> tuple[str, str, str]:
    """``(partition, region, account)`` of an ARN such as a queue's ``arn:aws:sqs:us-east-1:123:q``.

    :param arn: the ARN.
    """
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise EventSetupError(f"{arn!r} is not an ARN")
    return parts[1], parts[3], parts[4]


def pipeline_arn(name: str, *, partition: str, region: str, account: str) -> str:
    """The ARN SageMaker gives pipeline ``name``: SageMaker writes resource names lower-cased in ARNs.

    :param name: the pipeline name.
    :param partition: ``aws``, ``aws-cn``, ...
    :param region: the pipeline's region.
    :param account: the pipeline's account id.
    """
    return f"arn:{partition}:sagemaker:{region}:{account}:pipeline/{name.lower()}"


def check_pipeline_names(pipeline_names: Sequence[Any]) -> None:
    """An :class:`EventSetupError` for the first entry that is neither a pipeline name SageMaker
    accepts nor a pipeline ARN.

    :param pipeline_names: pipeline names (or pipeline ARNs).
    """
    if isinstance(pipeline_names, str):  # a lone name would be read as its letters
        raise EventSetupError(f"pipeline_names must be a list of names, not the string {pipeline_names!r}")
    for name in pipeline_names:
        is_arn = isinstance(name, str) and _PIPELINE_ARN.fullmatch(name) is not None
        is_name = isinstance(name, str) and len(name) <= 256 and _PIPELINE_NAME.fullmatch(name) is not None
        if not (is_arn or is_name):
            raise EventSetupError(f"pipeline name {name!r} is not valid: a SageMaker pipeline name is {PIPELINE_NAME_RULE}")


def resolve_pipeline_arns(
    pipeline_names: Sequence[str],
    *,
    partition: str,
    region: str,
    account: str,
    sagemaker_client: Any | None = None,
) -> tuple[list[str], list[str]]:
    """The ARNs the rule must match for ``pipeline_names``, and notes on how each was found.

    The ARN events carry is the one DescribePipeline returns, so that is used when the pipeline
    exists; a pipeline not created yet (or not describable) gets the ARN SageMaker will give it.
    An ARN among the names is used as it is.

    :param pipeline_names: pipeline names (or pipeline ARNs).
    :param partition: the partition of the ARNs to build.
    :param region: their region (the queue's).
    :param account: their account (the queue's).
    :param sagemaker_client: a boto3 SageMaker client for DescribePipeline; ``None``: build every ARN.
    :raises EventSetupError: a name SageMaker would refuse.
    """
    arns: list[str] = []
    notes: list[str] = []
    check_pipeline_names(pipeline_names)
    for name in pipeline_names:
        if _PIPELINE_ARN.fullmatch(name):
            arns.append(name)
            continue
        built = pipeline_arn(name, partition=partition, region=region, account=account)
        if sagemaker_client is None:
            arns.append(built)
            notes.append(f"pipeline {name}: ARN built as {built} (not looked up)")
            continue
        try:
            arns.append(str(sagemaker_client.describe_pipeline(PipelineName=name)["PipelineArn"]))
        except ClientError as exc:
            missing = _code(exc) == "ResourceNotFound" or any(p in _message(exc).lower() for p in _NOT_FOUND_PHRASES)
            if not missing and _code(exc) not in ("AccessDeniedException", "AccessDenied"):
                raise
            why = "does not exist yet" if missing else "cannot be described (access denied)"
            arns.append(built)
            notes.append(f"pipeline {name} {why}: the rule matches {built}, the ARN SageMaker gives a pipeline of that name")
    return list(dict.fromkeys(arns)), notes  # a name given twice is one pattern entry


# -- the set-up -------------------------------------------------------------------------------------


def _ensure_queue(sqs_client: Any, queue_name: str, attributes: dict[str, str], changes: list[str]) -> str:
    """The queue's URL; the queue is created (with ``attributes``) when missing."""
    try:
        return str(sqs_client.get_queue_url(QueueName=queue_name)["QueueUrl"])
    except ClientError as exc:
        if _code(exc) not in _QUEUE_MISSING_CODES:
            raise
    try:
        url = str(sqs_client.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"])
    except ClientError as exc:
        if _code(exc) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        # created by someone else between our two calls: use theirs, its attributes are checked next
        return str(sqs_client.get_queue_url(QueueName=queue_name)["QueueUrl"])
    changes.append(f"created SQS queue {queue_name}")
    return url


def _ensure_rule(events_client: Any, rule_name: str, pattern: dict[str, Any], queue_name: str, changes: list[str]) -> str:
    """The rule's ARN; the rule is created, or its pattern updated, unless it already is as wanted."""
    try:
        existing: dict[str, Any] | None = events_client.describe_rule(Name=rule_name)
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        existing = None
    if existing is not None:
        try:
            current = json.loads(existing.get("EventPattern") or "null")
        except ValueError:
            current = None
        # Never take over a rule made for something else: a schedule, or another source's events.
        if existing.get("ScheduleExpression") or not isinstance(current, dict) or current.get("source") != [SOURCE]:
            raise EventSetupError(
                f"EventBridge rule {rule_name!r} already exists and is not a SageMaker events rule "
                f"(its pattern: {existing.get('EventPattern') or existing.get('ScheduleExpression')}); choose another rule name"
            )
        if current == pattern and existing.get("State") == "ENABLED":
            return str(existing["Arn"])
    arn = str(
        events_client.put_rule(
            Name=rule_name,
            EventPattern=json.dumps(pattern),
            State="ENABLED",
            Description=f"SageMaker pipeline events to the SQS queue {queue_name} (smpipe events setup)"[:512],
        )["RuleArn"]
    )
    changes.append(f"{'updated' if existing else 'created'} EventBridge rule {rule_name}")
    return arn


def _ensure_target(events_client: Any, rule_name: str, queue_arn: str, changes: list[str]) -> None:
    """The queue is a target of the rule, receiving the whole event (what the triggers parse)."""
    targets: list[dict[str, Any]] = []
    request: dict[str, Any] = {"Rule": rule_name}
    while True:
        page = events_client.list_targets_by_rule(**request)
        targets.extend(page.get("Targets", []))
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    target_id = TARGET_ID
    for target in targets:
        if target.get("Arn") == queue_arn:
            if not any(key in target for key in ("Input", "InputPath", "InputTransformer")):
                return
            target_id = str(target["Id"])  # replace it: the readers need the event itself, not a transformation
    answer = events_client.put_targets(Rule=rule_name, Targets=[{"Id": target_id, "Arn": queue_arn}])
    if answer.get("FailedEntryCount"):
        failed = answer.get("FailedEntries") or [{}]
        raise EventSetupError(f"EventBridge refused the queue as a target of rule {rule_name}: {failed[0].get('ErrorMessage', failed[0])}")
    changes.append(f"added the queue as target {target_id} of rule {rule_name}")


#: ``event_kinds`` of the set-up: the detail-type each stands for.
EVENT_KINDS = {"execution": EXECUTION_STATUS_CHANGE, "step": STEP_STATUS_CHANGE, "model_package": MODEL_PACKAGE_STATE_CHANGE}


def check_event_kinds(event_kinds: Sequence[str] | None) -> tuple[str, ...]:
    """The rule's detail-types for ``event_kinds`` (``None``: all); :class:`EventSetupError` naming a wrong one."""
    if event_kinds is None:
        return tuple(EVENT_KINDS.values())
    kinds = [event_kinds] if isinstance(event_kinds, str) else list(event_kinds)
    unknown = [kind for kind in kinds if kind not in EVENT_KINDS]
    if not kinds or unknown:
        raise EventSetupError(f"event_kinds must name some of {', '.join(EVENT_KINDS)}; got {event_kinds!r}")
    return tuple(EVENT_KINDS[kind] for kind in dict.fromkeys(kinds))


def setup_event_queue(
    *,
    sqs_client: Any,
    events_client: Any,
    queue_name: str,
    pipeline_arns: Sequence[str] | None = None,
    pipeline_names: Sequence[str] | None = None,
    sagemaker_client: Any | None = None,
    rule_name: str | None = None,
    retention_seconds: int | None = None,
    visibility_timeout: int | None = None,
    event_kinds: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Create (or find) the SQS queue and the EventBridge rule that delivers SageMaker's pipeline
    events to it. Idempotent: what already is as wanted is left alone.

    :param sqs_client: a boto3 SQS client (the region of the pipelines).
    :param events_client: a boto3 EventBridge client, same region.
    :param queue_name: a standard queue's name (:data:`QUEUE_NAME_RULE`).
    :param pipeline_arns: only these pipelines' events (``resources`` of the rule pattern).
    :param pipeline_names: only these pipelines' events, by name: resolved to ARNs with
        :func:`resolve_pipeline_arns` (in the queue's region and account). Model package events
        name no pipeline, so a rule for some pipelines delivers none of them.
    :param sagemaker_client: a boto3 SageMaker client to look the names up; ``None``: ARNs are built.
    :param rule_name: the rule's name; default ``smpipe-<queue>`` (:func:`default_rule_name`).
    :param retention_seconds: ``MessageRetentionPeriod``; ``None``: SQS's default (4 days) for a new
        queue, an existing queue's is left as it is.
    :param visibility_timeout: ``VisibilityTimeout``; ``None`` likewise (SQS's default: 30 s).
    :param event_kinds: which events the rule delivers: any of ``execution``, ``step``,
        ``model_package`` (:data:`EVENT_KINDS`); ``None``: all three. A queue that only feeds
        waits on whole executions and watchers of execution statuses wants ``["execution"]``: a
        pipeline sends about three step events per step and only a few execution events, and
        every message is a receive and a delete.
    :returns: ``queue_url``, ``queue_arn``, ``rule_name``, ``rule_arn``, ``event_pattern`` (a dict),
        ``pipeline_arns``, ``changes`` (what this run created or updated; empty when nothing) and
        ``notes`` (how pipeline ARNs were found).
    :raises EventSetupError: a bad argument, or a rule of that name made for something else.
    :raises botocore.exceptions.ClientError: AWS refused a call (permissions, limits).
    """
    # Every argument is checked before the first call: a typo must not leave half a set-up behind.
    check_queue_name(queue_name)
    check_pipeline_names(pipeline_names or [])
    detail_types = check_event_kinds(event_kinds)
    if isinstance(pipeline_arns, str) or not all(isinstance(a, str) and _PIPELINE_ARN.fullmatch(a) for a in pipeline_arns or []):
        raise EventSetupError(f"pipeline_arns must be a list of pipeline ARNs (arn:aws:sagemaker:<region>:<account>:pipeline/<name>), got {pipeline_arns!r}")
    rule_name = check_rule_name(rule_name) if rule_name is not None else default_rule_name(queue_name)
    retention = _check_seconds(retention_seconds, "retention_seconds", RETENTION_BOUNDS)
    visibility = _check_seconds(visibility_timeout, "visibility_timeout", VISIBILITY_BOUNDS)
    wanted = {
        key: str(value)
        for key, value in (("MessageRetentionPeriod", retention), ("VisibilityTimeout", visibility))
        if value is not None
    }
    changes: list[str] = []

    queue_url = _ensure_queue(sqs_client, queue_name, wanted, changes)
    attributes = sqs_client.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn", "Policy", "MessageRetentionPeriod", "VisibilityTimeout"]
    )["Attributes"]
    queue_arn = str(attributes["QueueArn"])
    partition, region, account = arn_parts(queue_arn)

    arns = list(pipeline_arns or [])
    notes: list[str] = []
    if pipeline_names:
        resolved, notes = resolve_pipeline_arns(pipeline_names, partition=partition, region=region, account=account, sagemaker_client=sagemaker_client)
        arns = list(dict.fromkeys([*arns, *resolved]))
    pattern = event_pattern(pipeline_arns=arns or None, detail_types=detail_types)
    rule_arn = _ensure_rule(events_client, rule_name, pattern, queue_name, changes)

    updates = {key: value for key, value in wanted.items() if attributes.get(key) != value}
    try:
        policy = merged_queue_policy(attributes.get("Policy"), queue_arn=queue_arn, rule_arn=rule_arn)
    except ValueError as exc:
        raise EventSetupError(f"queue {queue_name}: cannot add the EventBridge permission to its policy: {exc}") from None
    if not attributes.get("Policy") or json.loads(attributes["Policy"]) != json.loads(policy):
        updates["Policy"] = policy
    if updates:
        # The policy before the target: a target without permission would drop the first events.
        sqs_client.set_queue_attributes(QueueUrl=queue_url, Attributes=updates)
        for key, value in updates.items():
            changes.append(f"set the queue's policy: rule {rule_name} may send to it" if key == "Policy" else f"set the queue's {key} to {value}")
    _ensure_target(events_client, rule_name, queue_arn, changes)
    return {
        "queue_url": queue_url,
        "queue_arn": queue_arn,
        "rule_name": rule_name,
        "rule_arn": rule_arn,
        "event_pattern": pattern,
        "pipeline_arns": arns,
        "changes": changes,
        "notes": notes,
    }


# -- the Airflow side -------------------------------------------------------------------------------


def _identifier(text: str) -> str:
    """A Python identifier made of ``text`` (lower case, ``_`` for anything else)."""
    name = re.sub(r"\W+", "_", text.lower()).strip("_")
    return name if name and not name[0].isdigit() else f"p_{name}"


def asset_watcher_snippet(
    result: dict[str, Any],
    pipeline_names: Sequence[str] | None,
    *,
    statuses: Sequence[str] = ("Succeeded",),
    aws_conn_id: str = "aws_default",
    region_name: str | None = None,
    asset_name: str | None = None,
    dag_id: str | None = None,
) -> str:
    """Python source of an ``Asset`` updated by SageMaker pipeline events from the queue, and of a
    DAG scheduled on it: what to paste into a DAG file after the set-up.

    :param result: what :func:`setup_event_queue` returned (``queue_url``, ``queue_arn``, ``rule_name``).
    :param pipeline_names: the pipelines whose executions update the asset; ``None``: any the rule delivers.
    :param statuses: the execution statuses that update it.
    :param aws_conn_id: the Airflow connection the trigger reads the queue with.
    :param region_name: its region; default the queue's.
    :param asset_name: the asset's name; default derived from the pipelines and statuses.
    :param dag_id: the example DAG's id; default derived likewise.
    """
    names = list(pipeline_names or [])
    queue_arn = str(result["queue_arn"])
    region = region_name or arn_parts(queue_arn)[1]
    subject = "-".join(names) if names else str(result.get("rule_name") or "any")
    asset_name = asset_name or f"sagemaker-pipeline{'' if names else 's'}-{subject}-{'-'.join(statuses)}".lower()
    variable = _identifier(f"{subject}_{'_'.join(statuses)}")
    dag_id = dag_id or f"after_{variable}"
    function = _identifier(dag_id)
    # JSON text of a string or a list of strings is a valid Python literal, whatever characters it holds.
    pipelines = f"{json.dumps(names)}," if names else "None,  # any pipeline the rule delivers"
    # A comment ends at a line break: keep what it quotes on one line.
    queue_url, rule = (" ".join(str(result[key]).split()) for key in ("queue_url", "rule_name"))
    return f'''# Events: SQS queue {queue_url} (EventBridge rule {rule}).
from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_smpipe.triggers.pipeline_event import SageMakerPipelineEventTrigger

{variable} = Asset(
    name={json.dumps(asset_name)},
    watchers=[
        AssetWatcher(
            name={json.dumps("sqs-" + queue_arn.rsplit(":", 1)[-1])},
            trigger=SageMakerPipelineEventTrigger(
                queue_url={json.dumps(str(result["queue_url"]))},
                pipeline_names={pipelines}
                statuses={json.dumps(list(statuses))},
                event_kind="execution",
                aws_conn_id={json.dumps(aws_conn_id)},
                region_name={json.dumps(region)},
            ),
        )
    ],
)


@dag(dag_id={json.dumps(dag_id)}, schedule=[{variable}])
def {function}():
    @task
    def react(**context):
        for event in context["triggering_asset_events"][{variable}]:
            print(event.extra["payload"])  # the pipeline event: execution_arn, status, ...

    react()


{function}()
'''
