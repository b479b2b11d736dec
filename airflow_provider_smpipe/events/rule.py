"""The EventBridge rule pattern and SQS queue policy that deliver SageMaker pipeline events to a queue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from airflow_provider_smpipe.events.shapes import ALL_DETAIL_TYPES, SOURCE


def event_pattern(*, pipeline_arns: Sequence[str] | None = None, detail_types: Sequence[str] = ALL_DETAIL_TYPES) -> dict[str, Any]:
    """A rule pattern for SageMaker's pipeline (and model package) events.

    :param pipeline_arns: only these pipelines' execution/step events (matched on ``resources``;
        model package events name no pipeline and are then left out). ``None``: every pipeline.
    :param detail_types: which of the event kinds.
    """
    pattern: dict[str, Any] = {"source": [SOURCE], "detail-type": list(detail_types)}
    if pipeline_arns:
        pattern["resources"] = list(pipeline_arns)
    return pattern


#: The ``Sid`` of the statement this provider writes into a queue's policy (and finds again).
POLICY_SID = "SageMakerPipelineEventsFromEventBridge"


def queue_policy_statement(*, queue_arn: str, rule_arns: Sequence[str]) -> dict[str, Any]:
    """The one statement that lets EventBridge send to ``queue_arn`` for ``rule_arns`` only.

    :param queue_arn: the queue the statement grants ``sqs:SendMessage`` on.
    :param rule_arns: the rules allowed to send (``aws:SourceArn``); a single rule is written as a
        string, as AWS's own examples do.
    """
    source: str | list[str] = rule_arns[0] if len(rule_arns) == 1 else list(rule_arns)
    return {
        "Sid": POLICY_SID,
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": source}},
    }


def queue_policy(*, queue_arn: str, rule_arn: str) -> str:
    """The queue's access policy: EventBridge may send messages for this one rule only.

    :param queue_arn: the queue's ARN.
    :param rule_arn: the EventBridge rule that delivers to it.
    """
    return json.dumps({"Version": "2012-10-17", "Statement": [queue_policy_statement(queue_arn=queue_arn, rule_arns=[rule_arn])]})


def merged_queue_policy(existing: str | None, *, queue_arn: str, rule_arn: str) -> str:
    """``existing`` (a queue's ``Policy`` attribute, ``None``/empty when it has none) that also lets
    ``rule_arn`` send to the queue.

    Statements other than ours are kept as they are: the queue may be shared with senders the
    user set up. Our statement (``POLICY_SID``) keeps the rules it already names, so two rules
    delivering to one queue do not take turns locking each other out. Applying it twice gives the
    same text, which is what makes the set-up idempotent.

    :param existing: the current policy JSON text.
    :param queue_arn: the queue's ARN.
    :param rule_arn: the rule to allow.
    :raises ValueError: the existing policy is not a JSON object with a ``Statement`` list.
    """
    if not existing or not existing.strip():
        return queue_policy(queue_arn=queue_arn, rule_arn=rule_arn)
    document = json.loads(existing)
    if not isinstance(document, dict):
        raise ValueError("the queue's policy is not a JSON object")
    statements = document.get("Statement", [])
    if isinstance(statements, dict):  # IAM accepts a lone statement object; keep reading it as a list
        statements = [statements]
    if not isinstance(statements, list):
        raise ValueError("the queue's policy has a Statement that is neither a list nor an object")
    rule_arns: list[str] = []
    kept: list[Any] = []
    for statement in statements:
        if isinstance(statement, dict) and statement.get("Sid") == POLICY_SID:
            source = ((statement.get("Condition") or {}).get("ArnEquals") or {}).get("aws:SourceArn")
            rule_arns.extend([source] if isinstance(source, str) else [s for s in source or [] if isinstance(s, str)])
        else:
            kept.append(statement)
    if rule_arn not in rule_arns:
        rule_arns.append(rule_arn)
    merged = {**document, "Version": document.get("Version", "2012-10-17")}
    merged["Statement"] = [*kept, queue_policy_statement(queue_arn=queue_arn, rule_arns=rule_arns)]
    return json.dumps(merged)
