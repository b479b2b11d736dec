"""``docs/iam-policy.json`` is a well-formed IAM policy that allows every AWS call the provider makes,
on the resources it makes them on, and nothing the code does not need.

Completeness is checked against the code, not against a hand-written list: for each AWS service the
provider creates clients for, every operation of botocore's service model is turned into its Python
method name (``botocore.xform_name``) and looked for in the product source (``airflow_provider_smpipe``
without ``emulator/``) as a call ``.<name>(`` or as a string literal ``"<name>"`` (paginators,
``getattr(client, "describe_...")`` tables). Each hit becomes an IAM action
(``<signing name>:<Operation>``, with the few documented renames such as ``Invoke`` ->
``lambda:InvokeFunction``) that the policy must allow. Waiters (``get_waiter("<name>")``) poll an
operation no method name reveals: each must be listed in ``WAITERS``, and the action its operation
needs (read from the amazon provider's waiter definitions) must be an explained extra action. The
clients the code creates (``client("...")``, the amazon hooks it imports, by class) must be exactly the
scanned services. The policy evaluation here is a small
subset of IAM's (Allow/Deny, ``*``/``?`` wildcards, ``StringEquals``/``StringLike`` conditions), enough
for the statements this policy uses.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "airflow_provider_smpipe"
POLICY_FILE = REPO / "docs" / "iam-policy.json"
DOC_FILE = REPO / "docs" / "iam.md"

#: botocore service names of every client the product code creates (checked against the code below).
SERVICES = ("sagemaker", "s3", "sqs", "lambda", "emr", "emr-serverless", "sts", "events")
#: Operations whose IAM action is not ``<signing name>:<operation>``.
IAM_ACTION_RENAMES = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("lambda", "InvokeWithResponseStream"): "lambda:InvokeFunction",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "DeleteObjects"): "s3:DeleteObject",  # one s3:DeleteObject per key; DeleteObjects has no action of its own
    # SQS batch actions have no actions of their own: SQS authorizes each with the single-message
    # action (the SQS developer guide, "Amazon SQS batch actions").
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
}
#: Name coincidences: (service, operation) whose method name appears in the source for another service.
#: Each has a guard test proving the coincidence is still the only occurrence.
NOT_CALLED = {
    ("emr", "AddTags"): "the only add_tags call is SageMakerPipelineHook.upsert_pipeline's, on its SageMaker client",
    ("emr", "GetSession"): "the only get_session call is botocore.session.get_session(), which reads service models offline",
    ("emr-serverless", "GetSession"): "the only get_session call is botocore.session.get_session(), which reads service models offline",
    # EventBridge global endpoints share their method names with SageMaker's endpoints.
    ("events", "CreateEndpoint"): "the only create_endpoint call is the Endpoint step's, on its SageMaker client",
    ("events", "UpdateEndpoint"): "the only update_endpoint call is the Endpoint step's, on its SageMaker client",
    ("events", "DescribeEndpoint"): "describe_endpoint is the Endpoint step's call and the SageMaker job trigger's KINDS entry",
}
#: Actions the policy grants although no client method is named after them (each explained in docs/iam.md).
EXTRA_ACTIONS = {
    "iam:PassRole": (
        "CreatePipeline/UpdatePipeline (RoleArn), SageMaker jobs and models (RoleArn/ExecutionRoleArn), RunJobFlow (ServiceRole, JobFlowRole), "
        "EMR Serverless StartJobRun (executionRoleArn)"
    ),
    "s3:ListBucket": "without it S3 answers a missing property file with 403 instead of 404 NoSuchKey, so the step's error would be wrong",
    "emr-serverless:GetApplication": "the amazon provider's serverless_app_created waiter, which waits for an application an EMRServerless step created",
}
#: Waiters the code uses (``get_waiter("<name>")``): name -> the service whose waiter it is. A waiter's
#: polling call is invisible to the scan, so its IAM action must be one of EXTRA_ACTIONS (checked below).
WAITERS = {"serverless_app_created": "emr-serverless"}
#: Actions the Service Authorization Reference gives no required resource type: granted on "*".
RESOURCE_STAR_ACTIONS = {"sagemaker:ListModelPackages", "elasticmapreduce:RunJobFlow", "emr-serverless:CreateApplication", "sts:GetCallerIdentity"}
#: Purposes the policy is organised by (each is the start of at least one Sid).
PURPOSES = ("NativeMode", "Callback", "Events", "TranslationJobs", "TranslationIntegrations", "PassRole")

EXECUTION = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/abalone/execution/h7l5c9a7fv9l"
PIPELINE = "arn:aws:sagemaker:us-east-1:123456789012:pipeline/abalone"
#: A CreateJob job: ``job/<JobCategory>/<JobName>``.
JOB = "arn:aws:sagemaker:us-east-1:123456789012:job/AgentRFT/pipelines-h7l5c9a7fv9l-step-4f1c0e2a7b"
EMR_SERVERLESS_APPLICATION = "arn:aws:emr-serverless:us-east-1:123456789012:/applications/00fabc123def4g05"
EMR_SERVERLESS_JOB_RUN = f"{EMR_SERVERLESS_APPLICATION}/jobruns/00fabc9xyz8k7j06"
CALLBACK_QUEUE = "arn:aws:sqs:us-east-1:123456789012:CALLBACK_QUEUE"
CALLBACK_REPLY_QUEUE = "arn:aws:sqs:us-east-1:123456789012:CALLBACK_QUEUE-replies"
EVENTS_QUEUE = "arn:aws:sqs:us-east-1:123456789012:EVENTS_QUEUE"
#: A rule on the default event bus: ``rule/<name>`` (a custom bus's rules are ``rule/<bus>/<name>``).
EVENTS_RULE = "arn:aws:events:us-east-1:123456789012:rule/EVENTS_RULE"
OTHER_QUEUE = "arn:aws:sqs:us-east-1:123456789012:SOME_OTHER_QUEUE"


def sm(kind: str, name: str = "pipelines-h7l5c9a7fv9l-step-4f1c0e2a7b") -> str:
    return f"arn:aws:sagemaker:us-east-1:123456789012:{kind}/{name}"


#: For each action, the resources one call needs (every required resource type of the action in the
#: Service Authorization Reference), with the placeholders the policy uses for the user's own names.
RESOURCES_OF_A_CALL: dict[str, list[list[str]]] = {
    **{a: [[PIPELINE]] for a in ("CreatePipeline", "UpdatePipeline", "DescribePipeline", "StartPipelineExecution", "ListPipelineExecutions")},
    **{
        a: [[EXECUTION]]
        for a in (
            "DescribePipelineExecution",
            "DescribePipelineDefinitionForExecution",
            "ListPipelineExecutionSteps",
            "ListPipelineParametersForExecution",
            "StopPipelineExecution",
            "RetryPipelineExecution",
            "SendPipelineExecutionStepSuccess",
            "SendPipelineExecutionStepFailure",
        )
    },
    "AddTags": [[PIPELINE], [sm("training-job")], [JOB], [sm("model")]],
    **{f"{verb}ProcessingJob": [[sm("processing-job")]] for verb in ("Create", "Describe", "Stop")},
    **{f"{verb}TrainingJob": [[sm("training-job")]] for verb in ("Create", "Describe", "Stop")},
    **{f"{verb}TransformJob": [[sm("transform-job")]] for verb in ("Create", "Describe", "Stop")},
    **{f"{verb}HyperParameterTuningJob": [[sm("hyper-parameter-tuning-job", "pipelines-h7l5c9a7fv9-tune")]] for verb in ("Create", "Describe", "Stop")},
    "ListTrainingJobsForHyperParameterTuningJob": [[sm("hyper-parameter-tuning-job", "pipelines-h7l5c9a7fv9-tune")]],
    **{f"{verb}AutoMLJob": [[sm("automl-job", "automl-abalone")]] for verb in ("Create", "Describe", "Stop")},
    **{f"{verb}Job": [[JOB]] for verb in ("Create", "Describe", "Stop")},
    **{f"{verb}Model": [[sm("model")]] for verb in ("Create", "Describe")},
    "CreateModelPackage": [[sm("model-package", "abalone-models/3")]],
    "DescribeModelPackage": [[sm("model-package", "abalone-models/3")]],
    **{f"{verb}ModelPackageGroup": [[sm("model-package-group", "abalone-models")]] for verb in ("Create", "Describe")},
    "ListModelPackages": [["*"]],
    **{f"{verb}EndpointConfig": [[sm("endpoint-config", "abalone-config")]] for verb in ("Create", "Describe")},
    "CreateEndpoint": [[sm("endpoint", "abalone"), sm("endpoint-config", "abalone-config")]],
    "UpdateEndpoint": [[sm("endpoint", "abalone"), sm("endpoint-config", "abalone-config")]],
    "DescribeEndpoint": [[sm("endpoint", "abalone")]],
}
OTHER_RESOURCES: dict[str, list[list[str]]] = {
    "s3:GetObject": [["arn:aws:s3:::DEFINITIONS_BUCKET/abalone/definition.json"], ["arn:aws:s3:::PIPELINE_DATA_BUCKET/evaluation/evaluation.json"]],
    "s3:PutObject": [["arn:aws:s3:::DEFINITIONS_BUCKET/abalone/definition-0123456789abcdef.json"]],
    "s3:ListBucket": [["arn:aws:s3:::PIPELINE_DATA_BUCKET"]],
    "s3:DeleteObject": [["arn:aws:s3:::PIPELINE_DATA_BUCKET/abalone/pipelines-h7l5c9a7fv9l-step-4f1c0e2a7b/output/model.tar.gz"]],
    "sqs:ReceiveMessage": [[CALLBACK_QUEUE], [CALLBACK_REPLY_QUEUE], [EVENTS_QUEUE]],
    "sqs:DeleteMessage": [[CALLBACK_QUEUE], [CALLBACK_REPLY_QUEUE], [EVENTS_QUEUE]],  # and DeleteMessageBatch (the event readers)
    "sqs:ChangeMessageVisibility": [[CALLBACK_QUEUE], [CALLBACK_REPLY_QUEUE], [EVENTS_QUEUE]],  # and ChangeMessageVisibilityBatch
    "sqs:SendMessage": [[CALLBACK_QUEUE], [CALLBACK_REPLY_QUEUE]],
    # The event set-up: the queue (found or created, its attributes and policy) and the rule.
    **{f"sqs:{a}": [[EVENTS_QUEUE]] for a in ("GetQueueUrl", "CreateQueue", "GetQueueAttributes", "SetQueueAttributes")},
    **{f"events:{a}": [[EVENTS_RULE]] for a in ("DescribeRule", "PutRule", "ListTargetsByRule", "PutTargets")},
    "lambda:InvokeFunction": [["arn:aws:lambda:us-east-1:123456789012:function:STEP_LAMBDA_FUNCTION"], ["arn:aws:lambda:us-east-1:123456789012:function:STEP_LAMBDA_FUNCTION:live"]],
    "elasticmapreduce:AddJobFlowSteps": [["arn:aws:elasticmapreduce:us-east-1:123456789012:cluster/j-1ABCDEFGHIJKL"]],
    "elasticmapreduce:ListSteps": [["arn:aws:elasticmapreduce:us-east-1:123456789012:cluster/j-1ABCDEFGHIJKL"]],
    "elasticmapreduce:DescribeStep": [["arn:aws:elasticmapreduce:us-east-1:123456789012:cluster/j-1ABCDEFGHIJKL"]],
    "elasticmapreduce:CancelSteps": [["arn:aws:elasticmapreduce:us-east-1:123456789012:cluster/j-1ABCDEFGHIJKL"]],
    "elasticmapreduce:RunJobFlow": [["*"]],
    "emr-serverless:CreateApplication": [["*"]],
    "emr-serverless:GetApplication": [[EMR_SERVERLESS_APPLICATION]],
    "emr-serverless:StartJobRun": [[EMR_SERVERLESS_APPLICATION]],
    "emr-serverless:ListJobRuns": [[EMR_SERVERLESS_APPLICATION]],
    "emr-serverless:GetJobRun": [[EMR_SERVERLESS_JOB_RUN]],
    "emr-serverless:CancelJobRun": [[EMR_SERVERLESS_JOB_RUN]],
    "sts:GetCallerIdentity": [["*"]],
}
#: Resources the policy must not open to an action (destructive ones especially).
RESOURCES_NOT_ALLOWED: dict[str, list[str]] = {
    "s3:DeleteObject": ["arn:aws:s3:::DEFINITIONS_BUCKET/abalone/definition.json", "arn:aws:s3:::SOME_OTHER_BUCKET/data.csv"],
    "s3:PutObject": ["arn:aws:s3:::PIPELINE_DATA_BUCKET/abalone/evaluation.json"],
    # The event set-up creates and rewrites (its policy: who may send to it) the events queue only,
    # never the Callback queues or any other queue; the rule's target is set on its own rule only.
    "sqs:SetQueueAttributes": [CALLBACK_QUEUE, CALLBACK_REPLY_QUEUE, OTHER_QUEUE],
    "sqs:CreateQueue": [CALLBACK_QUEUE, CALLBACK_REPLY_QUEUE, OTHER_QUEUE],
    "sqs:GetQueueAttributes": [CALLBACK_QUEUE, OTHER_QUEUE],
    "sqs:ReceiveMessage": [OTHER_QUEUE],
    "sqs:DeleteMessage": [OTHER_QUEUE],
    # Only EventBridge (the rule, through the queue's policy) sends to the events queue.
    "sqs:SendMessage": [EVENTS_QUEUE, OTHER_QUEUE],
    "events:PutRule": ["arn:aws:events:us-east-1:123456789012:rule/SOME_OTHER_RULE", "arn:aws:events:us-east-1:123456789012:rule/custom-bus/EVENTS_RULE"],
    "events:PutTargets": ["arn:aws:events:us-east-1:123456789012:rule/SOME_OTHER_RULE"],
}
#: (role ARN, service it is passed to): iam:PassRole must allow exactly these combinations.
PASS_ROLE_ALLOWED = [
    ("arn:aws:iam::123456789012:role/SAGEMAKER_EXECUTION_ROLE", "sagemaker.amazonaws.com"),
    ("arn:aws:iam::123456789012:role/EMR_SERVICE_ROLE", "elasticmapreduce.amazonaws.com"),
    ("arn:aws:iam::123456789012:role/EMR_EC2_INSTANCE_ROLE", "ec2.amazonaws.com"),
    ("arn:aws:iam::123456789012:role/EMR_SERVERLESS_JOB_ROLE", "emr-serverless.amazonaws.com"),
]
PASS_ROLE_DENIED = [
    ("arn:aws:iam::123456789012:role/SAGEMAKER_EXECUTION_ROLE", "ec2.amazonaws.com"),
    ("arn:aws:iam::123456789012:role/EMR_EC2_INSTANCE_ROLE", "sagemaker.amazonaws.com"),
    ("arn:aws:iam::123456789012:role/Administrator", "sagemaker.amazonaws.com"),
    ("arn:aws:iam::123456789012:role/EMR_SERVERLESS_JOB_ROLE", "sagemaker.amazonaws.com"),
    ("arn:aws:iam::123456789012:role/EMR_SERVERLESS_JOB_ROLE", "elasticmapreduce.amazonaws.com"),
    ("arn:aws:iam::123456789012:role/SAGEMAKER_EXECUTION_ROLE", "emr-serverless.amazonaws.com"),
    ("arn:aws:iam::123456789012:role/Administrator", "emr-serverless.amazonaws.com"),
]

#: Names in docs/iam.md that start like the policy's Sids but are not statements.
NOT_SIDS = {"CallbackReplyTrigger"}

STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Principal", "NotPrincipal"}
CONDITION_OPERATORS = {"StringEquals", "StringLike", "StringNotEquals", "StringNotLike", "ArnEquals", "ArnLike", "Bool", "Null"}
MANAGED_POLICY_MAX_CHARS = 6144  # IAM quota for a customer managed policy, whitespace not counted


# -- the scan of the product code -------------------------------------------------------------------


def product_sources() -> dict[Path, str]:
    return {p: p.read_text() for p in sorted(PACKAGE.rglob("*.py")) if "emulator" not in p.relative_to(PACKAGE).parts}


@cache
def service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def iam_action(service: str, operation: str) -> str:
    if (service, operation) in IAM_ACTION_RENAMES:
        return IAM_ACTION_RENAMES[(service, operation)]
    model = service_model(service)
    return f"{model.signing_name or model.endpoint_prefix}:{operation}"


def operations_called(sources: Mapping[Any, str], services: Iterable[str] = SERVICES) -> dict[tuple[str, str], list[str]]:
    """``(service, Operation) -> [where]`` for every operation whose method name the sources call
    (``.name(``, except on ``self`` or on one of our ``hook`` objects: those are the provider's own
    methods) or name as a string literal."""
    names = re.compile(r"(?<!hook)(?<!self)\.(\w+)\(|[\"'](\w+)[\"']")
    used = {str(path): {a or b for a, b in names.findall(text)} for path, text in sources.items()}
    found: dict[tuple[str, str], list[str]] = {}
    for service in services:
        for operation in service_model(service).operation_names:
            name = xform_name(operation)
            where = [path for path, identifiers in used.items() if name in identifiers]
            if where:
                found[(service, operation)] = where
    return found


def clients_created(sources: Mapping[Any, str]) -> set[str]:
    """Service names of the clients the sources create (literal arguments of the client factories)."""
    patterns = [
        r"\b(?:client|service_hook)\(\s*[\"']([\w-]+)[\"']",
        r"\bResourceKind\(\s*[\"']([\w-]+)[\"']",
        r"client_type[\"']?\]?\s*=\s*[\"']([\w-]+)[\"']",
    ]
    # The amazon provider's hook modules and the service of each hook class (hooks.emr holds three services' hooks).
    amazon_hooks: dict[str, dict[str, str | None]] = {
        "base_aws": {"AwsBaseHook": None, "AwsGenericHook": None},
        "sqs": {"SqsHook": "sqs"},
        "s3": {"S3Hook": "s3"},
        "lambda_function": {"LambdaHook": "lambda"},
        "emr": {"EmrHook": "emr", "EmrServerlessHook": "emr-serverless", "EmrContainerHook": "emr-containers"},
        "sts": {"StsHook": "sts"},
        "sagemaker": {"SageMakerHook": "sagemaker"},
    }
    found: set[str] = set()
    for text in sources.values():
        for pattern in patterns:
            found.update(re.findall(pattern, text))
        for module, grouped, inline in re.findall(r"from airflow\.providers\.amazon\.aws\.hooks\.(\w+) import (?:\(([\w\s,]+)\)|([\w ,]+))", text):
            names = grouped or inline
            assert module in amazon_hooks, f"an amazon hook module this test does not know: {module} (add its service to SERVICES and the map)"
            for name in (n.split(" as ")[0].strip() for n in names.split(",")):
                if not name:
                    continue
                assert name in amazon_hooks[module], f"an amazon hook this test does not know: {module}.{name} (add its service to SERVICES and the map)"
                if amazon_hooks[module][name]:
                    found.add(str(amazon_hooks[module][name]))
    return found


@cache
def _required_actions() -> dict[str, tuple[str, ...]]:
    actions: dict[str, list[str]] = {}
    for (service, operation), where in operations_called(product_sources()).items():
        if (service, operation) not in NOT_CALLED:
            actions.setdefault(iam_action(service, operation), []).extend(str(Path(w).relative_to(REPO)) for w in where)
    return {action: tuple(sorted(set(where))) for action, where in actions.items()}


def required_actions() -> dict[str, list[str]]:
    """IAM action -> the product source files that need it."""
    return {action: list(where) for action, where in _required_actions().items()}


# -- a small IAM evaluator --------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _conditions_hold(condition: Mapping[str, Any] | None, context: Mapping[str, str]) -> bool:
    for operator, clauses in (condition or {}).items():
        for key, expected in clauses.items():
            actual = context.get(key)
            if actual is None:
                return False
            if operator == "StringEquals" and actual not in as_list(expected):
                return False
            if operator == "StringLike" and not any(fnmatchcase(actual, pattern) for pattern in as_list(expected)):
                return False
            if operator not in ("StringEquals", "StringLike"):
                return False  # not modelled here: never treated as satisfied
    return True


def _matches(statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, str]) -> bool:
    if not any(fnmatchcase(action.lower(), pattern.lower()) for pattern in as_list(statement.get("Action", []))):
        return False
    if not any(fnmatchcase(resource, pattern) for pattern in as_list(statement.get("Resource", []))):
        return False
    return _conditions_hold(statement.get("Condition"), context)


def _names(statement: Mapping[str, Any], action: str) -> bool:
    return any(fnmatchcase(action.lower(), pattern.lower()) for pattern in as_list(statement.get("Action", [])))


def allowed(policy: Mapping[str, Any], action: str, resource: str = "*", context: Mapping[str, str] | None = None) -> bool:
    """Whether the policy allows ``action`` on ``resource`` in the request ``context``."""
    context = context or {}
    statements = policy["Statement"]
    if any(s["Effect"] == "Deny" and _matches(s, action, resource, context) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _matches(s, action, resource, context) for s in statements)


def granted_somewhere(policy: Mapping[str, Any], action: str) -> bool:
    """Some Allow statement names the action (on some resource, under some condition) and no Deny
    takes it away everywhere."""
    statements = policy["Statement"]
    if any(s["Effect"] == "Deny" and _names(s, action) and "*" in as_list(s.get("Resource", [])) and not s.get("Condition") for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _names(s, action) for s in statements)


def missing_actions(policy: Mapping[str, Any], required: Iterable[str]) -> list[str]:
    return sorted(a for a in required if not granted_somewhere(policy, a))


def policy_actions(policy: Mapping[str, Any]) -> set[str]:
    return {a for s in policy["Statement"] for a in as_list(s.get("Action", []))}


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    return json.loads(POLICY_FILE.read_text())


@pytest.fixture(scope="module")
def required() -> dict[str, list[str]]:
    return required_actions()


# -- well-formed ------------------------------------------------------------------------------------


def test_policy_is_a_well_formed_iam_document(policy: dict[str, Any]) -> None:
    assert set(policy) <= {"Version", "Id", "Statement"}, set(policy)
    assert policy["Version"] == "2012-10-17"
    statements = policy["Statement"]
    assert isinstance(statements, list) and statements
    sids = [s.get("Sid") for s in statements]
    assert all(sid and re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids), f"every Sid must be alphanumeric: {sids}"
    assert len(set(sids)) == len(sids), "duplicate Sids"
    for statement in statements:
        sid = statement["Sid"]
        assert set(statement) <= STATEMENT_KEYS, f"{sid}: unknown keys {set(statement) - STATEMENT_KEYS}"
        assert statement["Effect"] in ("Allow", "Deny"), sid
        assert "Principal" not in statement and "NotPrincipal" not in statement, f"{sid}: an identity policy has no Principal"
        assert "NotAction" not in statement and "NotResource" not in statement, f"{sid}: NotAction/NotResource grant too much"
        actions = as_list(statement["Action"])
        assert actions and len(set(actions)) == len(actions), f"{sid}: empty or repeated actions"
        for action in actions:
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9*?]+", action), f"{sid}: malformed action {action!r}"
        resources = as_list(statement["Resource"])
        assert resources, sid
        for resource in resources:
            assert resource == "*" or re.fullmatch(r"arn:aws:[a-z0-9-]+:[a-z0-9-*]*:[0-9*]*:.+", resource), f"{sid}: malformed resource {resource!r}"
        for operator, clauses in (statement.get("Condition") or {}).items():
            assert operator in CONDITION_OPERATORS and isinstance(clauses, dict) and clauses, f"{sid}: bad condition {operator}"
    size = len(re.sub(r"\s", "", json.dumps(policy)))
    assert size <= MANAGED_POLICY_MAX_CHARS, f"{size} characters: over the managed-policy limit"


def test_one_sid_per_purpose(policy: dict[str, Any]) -> None:
    sids = [s["Sid"] for s in policy["Statement"]]
    for purpose in PURPOSES:
        assert any(sid.startswith(purpose) for sid in sids), f"no statement for {purpose}"


# -- the scan is sound ------------------------------------------------------------------------------


def test_the_scanned_services_are_exactly_the_clients_the_code_creates() -> None:
    created = clients_created(product_sources())
    assert created == set(SERVICES), f"clients created {sorted(created)} vs scanned {sorted(SERVICES)}: update SERVICES (and the policy)"


def test_the_client_scan_tells_the_emr_hooks_apart() -> None:
    """hooks.emr holds the EMR, EMR Serverless and EMR on EKS hooks: each import counts for its own service."""
    assert clients_created({"a.py": "from airflow.providers.amazon.aws.hooks.emr import EmrServerlessHook"}) == {"emr-serverless"}
    assert clients_created({"a.py": "from airflow.providers.amazon.aws.hooks.emr import EmrHook, EmrServerlessHook"}) == {"emr", "emr-serverless"}
    assert clients_created({"a.py": "from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook"}) == set()
    with pytest.raises(AssertionError, match="EmrSomethingHook"):
        clients_created({"a.py": "from airflow.providers.amazon.aws.hooks.emr import EmrSomethingHook"})


def test_the_scanner_finds_calls_and_literals() -> None:
    sources = {
        "a.py": "await client.describe_pipeline_execution(PipelineExecutionArn=arn)",
        "b.py": 'KIND = ("emr", "describe_step")\nself.hook.list_steps(arn)\nself.list_steps(arn)\npaginator = conn.get_paginator("list_pipeline_executions")',
    }
    found = operations_called(sources, ("sagemaker", "emr"))
    assert set(found) == {("sagemaker", "DescribePipelineExecution"), ("emr", "DescribeStep"), ("sagemaker", "ListPipelineExecutions")}
    assert iam_action("emr", "DescribeStep") == "elasticmapreduce:DescribeStep"
    assert iam_action("lambda", "Invoke") == "lambda:InvokeFunction"
    assert iam_action("s3", "ListObjectsV2") == "s3:ListBucket"
    assert iam_action("s3", "DeleteObjects") == "s3:DeleteObject"
    assert iam_action("emr-serverless", "StartJobRun") == "emr-serverless:StartJobRun"
    assert iam_action("sqs", "DeleteMessageBatch") == "sqs:DeleteMessage"
    assert iam_action("sqs", "ChangeMessageVisibilityBatch") == "sqs:ChangeMessageVisibility"
    assert iam_action("events", "PutTargets") == "events:PutTargets"


def test_the_scan_sees_the_calls_every_mode_makes(required: dict[str, list[str]]) -> None:
    """A few anchors from each part (if the scan broke, completeness below would pass vacuously)."""
    for action in (
        "sagemaker:StartPipelineExecution",
        "sagemaker:ListPipelineExecutionSteps",  # paginator string and the trigger's call
        "sagemaker:SendPipelineExecutionStepSuccess",
        "sagemaker:CreateTrainingJob",  # getattr(client, JOB_CALLS[...])
        "sagemaker:DescribeHyperParameterTuningJob",  # the trigger's KINDS table
        "elasticmapreduce:DescribeStep",
        "lambda:InvokeFunction",
        "sqs:ReceiveMessage",
        "s3:GetObject",
        "sts:GetCallerIdentity",
        "sagemaker:CreateJob",  # JOB_CALLS["Job"]
        "sagemaker:DescribeJob",  # the trigger's KINDS table
        "emr-serverless:StartJobRun",
        "emr-serverless:ListJobRuns",  # paginator string
        "emr-serverless:GetJobRun",  # the trigger's KINDS table
        "s3:DeleteObject",  # Cleanup's delete_objects, renamed
        "events:PutRule",  # the event set-up
        "sqs:SetQueueAttributes",  # the event set-up (the queue's policy)
    ):
        assert action in required, f"the scan no longer finds {action}"
    batches = operations_called(product_sources(), ("sqs",))
    assert ("sqs", "DeleteMessageBatch") in batches and ("sqs", "ChangeMessageVisibilityBatch") in batches, "the event readers' batch calls"
    assert len(required) >= 70, sorted(required)


def test_name_coincidences_are_still_coincidences() -> None:
    for path, text in product_sources().items():
        for match in re.finditer(r".{0,40}\.add_tags\(", text):
            assert path.name == "pipeline.py" and path.parent.name == "hooks" and match.group(0).strip().startswith("self.conn.add_tags("), (
                f"{path}: a new add_tags call: decide whether it is EMR's (then drop it from NOT_CALLED) - {match.group(0)!r}"
            )
    assert "client_type\"] = \"sagemaker\"" in (PACKAGE / "hooks" / "pipeline.py").read_text()
    for path, text in product_sources().items():
        for match in re.finditer(r".{0,40}\.get_session\(", text):
            assert match.group(0).strip().endswith("botocore.session.get_session("), (
                f"{path}: a new get_session call: decide whether it is EMR's or EMR Serverless's (then drop it from NOT_CALLED) - {match.group(0)!r}"
            )


def test_the_eventbridge_client_makes_only_the_set_up_calls() -> None:
    """The EventBridge client is created only as the set-up's ``events_client``, and only the set-up
    calls it; the Endpoint names EventBridge shares with SageMaker (NOT_CALLED) stay SageMaker's."""
    for path, text in product_sources().items():
        for match in re.finditer(r".{0,30}\bclient\(\s*[\"']events[\"']", text):
            assert match.group(0).strip().startswith("events_client=client("), f"{path}: a new EventBridge client: check its calls - {match.group(0)!r}"
        called = set(re.findall(r"\bevents_client\.(\w+)\(", text))
        if called:
            assert path == PACKAGE / "events" / "setup.py", f"{path} calls the EventBridge client: {sorted(called)}"
            assert called == {"describe_rule", "put_rule", "list_targets_by_rule", "put_targets"}, sorted(called)
    sagemaker_sites = {PACKAGE / "translation" / "resource_steps.py", PACKAGE / "triggers" / "job.py"}
    for path, text in product_sources().items():
        for match in re.finditer(r".{0,40}\b(?:create|update|describe)_endpoint\b(?!_)", text):
            assert path in sagemaker_sites, f"{path}: a new *_endpoint call: decide whether it is EventBridge's (then drop it from NOT_CALLED) - {match.group(0)!r}"
    assert 'client = run.client("sagemaker")' in (PACKAGE / "translation" / "resource_steps.py").read_text()
    assert '"sagemaker", "describe_endpoint"' in (PACKAGE / "triggers" / "job.py").read_text()


# -- completeness and least privilege ---------------------------------------------------------------


def test_every_call_the_code_makes_is_allowed(policy: dict[str, Any], required: dict[str, list[str]]) -> None:
    missing = missing_actions(policy, required)
    assert not missing, "the policy does not allow: " + "; ".join(f"{a} (called in {', '.join(required[a])})" for a in missing)


@pytest.mark.parametrize("action", sorted(required_actions()))
def test_removing_an_action_is_caught(policy: dict[str, Any], required: dict[str, list[str]], action: str) -> None:
    """The completeness check is sensitive to each action: without it, it fails naming it."""
    trimmed = copy.deepcopy(policy)
    for statement in trimmed["Statement"]:
        statement["Action"] = [a for a in as_list(statement["Action"]) if a != action] or ["none:Nothing"]
    newly_missing = set(missing_actions(trimmed, required)) - set(missing_actions(policy, required))
    assert newly_missing == {action}


def test_each_call_is_allowed_on_the_resources_it_touches(policy: dict[str, Any], required: dict[str, list[str]]) -> None:
    table = {**{f"sagemaker:{k}": v for k, v in RESOURCES_OF_A_CALL.items()}, **OTHER_RESOURCES}
    unknown = sorted(set(required) - set(table))
    assert not unknown, f"no resource example for {unknown}: add one (from the Service Authorization Reference)"
    for action, calls in table.items():
        for resources in calls:
            for resource in resources:
                assert allowed(policy, action, resource), f"{action} is not allowed on {resource}"


def test_resources_outside_the_calls_are_not_opened(policy: dict[str, Any]) -> None:
    for action, resources in RESOURCES_NOT_ALLOWED.items():
        for resource in resources:
            assert not allowed(policy, action, resource), f"{action} is allowed on {resource}"


def test_the_waiters_poll_only_granted_extra_actions(policy: dict[str, Any]) -> None:
    """A waiter's polling call is not a method name in our source: each waiter the code uses must be
    known here, and the action its operation needs must be an explained extra action the policy grants."""
    used = {name for text in product_sources().values() for name in re.findall(r"\bget_waiter\(\s*[\"'](\w+)[\"']", text)}
    assert used == set(WAITERS), f"waiters used {sorted(used)} vs known {sorted(WAITERS)}: add the new one to WAITERS (and its action to EXTRA_ACTIONS)"
    import airflow.providers.amazon.aws.waiters as provider_waiters

    waiter_dir = Path(provider_waiters.__file__).parent
    for name, service in WAITERS.items():
        custom = json.loads((waiter_dir / f"{service}.json").read_text())["waiters"]
        operation = custom[name]["operation"] if name in custom else botocore.session.get_session().get_waiter_model(service).get_waiter(name).operation
        action = iam_action(service, operation)
        assert action in EXTRA_ACTIONS, f"waiter {name} polls {operation}: add {action} to EXTRA_ACTIONS and explain it in docs/iam.md"
        assert granted_somewhere(policy, action), f"waiter {name} polls {operation}, which the policy does not allow ({action})"


def test_pass_role_is_narrowed_to_named_roles_and_services(policy: dict[str, Any]) -> None:
    for role, service in PASS_ROLE_ALLOWED:
        assert allowed(policy, "iam:PassRole", role, {"iam:PassedToService": service}), f"cannot pass {role} to {service}"
    for role, service in PASS_ROLE_DENIED:
        assert not allowed(policy, "iam:PassRole", role, {"iam:PassedToService": service}), f"{role} can be passed to {service}"


def test_nothing_beyond_what_the_code_needs(policy: dict[str, Any], required: dict[str, list[str]]) -> None:
    extra = sorted(policy_actions(policy) - set(required) - set(EXTRA_ACTIONS))
    assert not extra, f"actions no code path needs: {extra}"
    for statement in policy["Statement"]:
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= RESOURCE_STAR_ACTIONS, f"{statement['Sid']} grants {statement['Action']} on every resource"
    for action in policy_actions(policy):
        assert "*" not in action and "?" not in action, f"wildcard action {action}: justify it in docs/iam.md and in this test first"


def test_the_document_explains_the_policy(policy: dict[str, Any], required: dict[str, list[str]]) -> None:
    doc = DOC_FILE.read_text()
    for statement in policy["Statement"]:
        assert f"`{statement['Sid']}`" in doc, f"docs/iam.md does not explain statement {statement['Sid']}"
    placeholders = {p for s in policy["Statement"] for r in as_list(s["Resource"]) for p in re.findall(r"\b[A-Z][A-Z0-9_]{3,}\b", r)}
    for placeholder in placeholders:
        assert f"`{placeholder}`" in doc, f"docs/iam.md does not explain the placeholder {placeholder}"
    for action in (*required, *EXTRA_ACTIONS):
        assert f"`{action}`" in doc, f"docs/iam.md does not list {action}"


def test_the_document_names_only_the_policy_s_statements(policy: dict[str, Any]) -> None:
    """The Statements table lists every statement, in the policy's order, and the document names no
    statement the policy lacks (a Sid renamed, merged or never added, left behind in the text or in a
    JSON example)."""
    doc = DOC_FILE.read_text()
    sids = [s["Sid"] for s in policy["Statement"]]
    table = doc.split("\n## Statements\n", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\| `(\w+)` \|", table, re.M) == sids, "the Statements table of docs/iam.md is not the policy's statements, in order"
    stems = {re.findall(r"[A-Z][a-z]+", sid)[0].rstrip("s") for sid in sids}  # "Events" -> "Event": old names such as EventSetupQueue are caught too
    named = {t for t in re.findall(r"`([A-Z][a-z]+[A-Z]\w*)`", doc) if any(t.startswith(stem) for stem in stems)}
    assert not named - set(sids) - NOT_SIDS, f"docs/iam.md names statements the policy does not have: {sorted(named - set(sids) - NOT_SIDS)}"
    in_examples = set(re.findall(r'"Sid":\s*"(\w+)"', doc))
    assert in_examples <= set(sids), f"docs/iam.md's JSON examples have Sids the policy does not: {sorted(in_examples - set(sids))}"
