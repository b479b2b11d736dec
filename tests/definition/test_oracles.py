"""Dry-runs against the SDK executor's answers (tests/fixtures/oracles), and dry-runs of every fixture
with hand-built inputs that must leave no expression unresolved."""

from __future__ import annotations

from typing import Any

import pytest
from definition_helpers import (
    INTEGRATIONS_EXECUTION,
    condition,
    definition,
    fail,
    get,
    training,
    ORACLE_IDS,
    find_expressions,
    fixture_doc,
    fixture_path,
    integrations_inputs,
    oracle,
    oracle_definition_path,
    oracle_inputs,
    raw_step,
)

from airflow_provider_smpipe.definition.dryrun import EXECUTED, NOT_EXECUTED, DryRunInputs, dry_run
from airflow_provider_smpipe.definition.errors import ResolutionError
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.properties import synthesize_properties

JOB_TYPES = {"Processing", "Training", "Transform", "Model", "RegisterModel"}
_REPORTS: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {}


def _scenario(oracle_id: str, form: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(oracle document, dry-run report), computed once per scenario and parameter form."""
    key = (oracle_id, form)
    if key not in _REPORTS:
        doc = oracle(oracle_id)
        definition = load_definition(oracle_definition_path(doc))
        _REPORTS[key] = doc, dry_run(definition, oracle_inputs(doc, form))
    return _REPORTS[key]


SCENARIOS = [pytest.param(o, f, id=f"{o}-{f}") for o in ORACLE_IDS for f in ("typed", "wire")]


def test_every_oracle_is_covered() -> None:
    assert ORACLE_IDS == [
        "abalone.default",
        "abalone.mse_above_threshold",
        "function_step.default",
        "function_step.small_n",
    ]


@pytest.mark.parametrize(("oracle_id", "form"), SCENARIOS)
def test_executed_and_skipped_steps(oracle_id: str, form: str) -> None:
    doc, report = _scenario(oracle_id, form)
    expected = doc["expected"]
    executed = {name for name, step in report["steps"].items() if step["status"] == EXECUTED}
    assert executed == set(expected["executed_steps"])
    for name in expected["skipped_steps"]:
        assert report["steps"][name]["status"] == NOT_EXECUTED
        assert report["steps"][name]["reason"]
    assert expected["not_reached_steps"] == []
    assert set(report["steps"]) == executed | set(expected["skipped_steps"])
    assert set(expected["sdk_execution_order"]) == executed
    # our walk visits every step once, upstream before downstream
    definition = load_definition(oracle_definition_path(doc))
    position = {name: i for i, name in enumerate(report["order"])}
    assert sorted(position) == sorted(definition.steps)
    assert all(position[up] < position[down] for up, down in definition.graph.edges())


@pytest.mark.parametrize(("oracle_id", "form"), SCENARIOS)
def test_job_requests_equal_the_sdk_requests(oracle_id: str, form: str) -> None:
    doc, report = _scenario(oracle_id, form)
    assert doc["known_divergences"] == []
    job_steps = {name: s for name, s in doc["expected"]["steps"].items() if "request" in s}
    assert job_steps, "every scenario has job steps"
    for name, expected in job_steps.items():
        ours = report["steps"][name]
        assert ours["type"] == expected["type"] in JOB_TYPES
        assert ours["arguments"] == expected["request"], name
        assert find_expressions(ours["arguments"]) == []


@pytest.mark.parametrize(("oracle_id", "form"), SCENARIOS)
def test_conditions_and_fail_messages(oracle_id: str, form: str) -> None:
    doc, report = _scenario(oracle_id, form)
    expected = doc["expected"]
    checked = 0
    for name, step in expected["steps"].items():
        ours = report["steps"][name]
        if step["type"] == "Condition":
            assert ours["outcome"] is step["outcome"] is expected["condition_outcomes"][name]
            assert ours["arguments"]["Conditions"] == step["resolved_conditions"]
            checked += 1
        elif step["type"] == "Fail":
            assert ours["error_message"] == step["error_message"] == step["failure_reason"]
            checked += 1
    assert checked >= 1
    assert report["failed"] is (expected["execution_status"] == "Failed")
    # our failure reason uses the local executor's wording
    assert report["failure_reason"] == expected["failure_reason"]


@pytest.mark.parametrize(("oracle_id", "form"), SCENARIOS)
def test_parameters_and_execution_variables(oracle_id: str, form: str) -> None:
    doc, report = _scenario(oracle_id, form)
    assert report["parameters"] == doc["inputs"]["resolved_parameters"]
    # typed exactly as declared: the wire strings were cast (booleans from "True", ints from "2")
    for name, value in doc["inputs"]["resolved_parameters"].items():
        assert type(report["parameters"][name]) is type(value), name
    variables = doc["inputs"]["execution_variables"]
    assert report["execution"]["PipelineExecutionId"] == variables["PipelineExecutionId"]
    assert report["execution"]["PipelineName"] == variables["PipelineName"]
    for key, value in variables.items():
        if " " in key:  # the service-form ARNs; ours are built the same way
            assert report["execution"][key.split(" ")[0]] == value


def test_oracle_condition_values_are_concrete() -> None:
    _, default = _scenario("abalone.default", "typed")
    assert default["steps"]["CheckMSEAbaloneEvaluation"]["arguments"]["Conditions"] == [
        {"Type": "LessThanOrEqualTo", "LeftValue": 4.4867, "RightValue": 6.0}
    ]
    _, above = _scenario("abalone.mse_above_threshold", "wire")
    assert above["steps"]["AbaloneMSEFail"]["error_message"] == "Execution failed due to MSE > 3.5"
    assert above["parameters"]["EnableNetworkIsolation"] is True  # from the wire string "True"
    assert above["steps"]["TrainAbaloneModel"]["arguments"]["EnableNetworkIsolation"] is True
    _, small = _scenario("function_step.small_n", "wire")
    assert small["steps"]["TotalBig"]["arguments"]["Conditions"][0]["LeftValue"] == 4
    args = small["steps"]["make_numbers"]["arguments"]["AlgorithmSpecification"]["ContainerArguments"]
    # the "string form" Join of an Integer parameter renders it, the literal path string is untouched
    assert args[args.index("Parameters.N") + 1] == "2"
    assert args[args.index("Parameters.Label") + 1] == "tiny"


# -- the four fixtures with hand-built inputs ----------------------------------------------------


def _assert_fully_resolved(report: dict[str, Any]) -> None:
    for name, step in report["steps"].items():
        if step["status"] == EXECUTED:
            assert find_expressions(step["arguments"]) == [], name
            assert find_expressions(step.get("fields", {})) == [], name


EXEC_ID = "abc123def456"


def _abalone(mse: float, **parameters: Any) -> dict[str, Any]:
    definition = load_definition(fixture_path("abalone"))
    inputs = DryRunInputs(
        parameters=parameters or None,
        property_files={"EvaluateAbaloneModel": {"EvaluationReport": {"regression_metrics": {"mse": {"value": mse}}}}},
        execution={"PipelineExecutionId": EXEC_ID, "PipelineName": "AbalonePipeline"},
    )
    return dry_run(definition, inputs)


def test_abalone_dry_run_if_branch() -> None:
    report = _abalone(4.0)
    _assert_fully_resolved(report)
    steps = report["steps"]
    assert not report["failed"] and report["failure_reason"] is None
    assert steps["CheckMSEAbaloneEvaluation"]["outcome"] is True
    assert steps["AbaloneMSEFail"]["status"] == NOT_EXECUTED
    train_uri = "s3://my-ml-bucket/AbalonePipeline/abc123def456/PreprocessAbaloneData/output/train"
    outputs = steps["PreprocessAbaloneData"]["arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert outputs[0]["S3Output"]["S3Uri"] == train_uri
    assert outputs[2]["S3Output"]["S3Uri"] == "s3://my-ml-bucket/abalone/abc123def456/test"
    channels = steps["TrainAbaloneModel"]["arguments"]["InputDataConfig"]
    assert channels[0]["DataSource"]["S3DataSource"]["S3Uri"] == train_uri
    assert steps["PreprocessAbaloneData"]["arguments"]["ProcessingResources"]["ClusterConfig"]["InstanceCount"] == 1
    assert steps["TrainAbaloneModel"]["arguments"]["EnableNetworkIsolation"] is False
    # the model artifact location synthesised for TrainAbaloneModel flows to CreateModel and RegisterModel
    train_job = steps["TrainAbaloneModel"]["job_name"]
    output_path = steps["TrainAbaloneModel"]["arguments"]["OutputDataConfig"]["S3OutputPath"]
    artifacts = f"{output_path.rstrip('/')}/{train_job}/output/model.tar.gz"
    assert steps["CreateAbaloneModel-CreateModel"]["arguments"]["PrimaryContainer"]["ModelDataUrl"] == artifacts
    register = steps["RegisterAbaloneModel-RegisterModel"]["arguments"]
    assert register["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == artifacts
    assert register["ModelApprovalStatus"] == "PendingManualApproval"
    assert register["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == (
        "s3://my-ml-bucket/AbalonePipeline/abc123def456/EvaluateAbaloneModel/output/evaluation/evaluation.json"
    )
    model_name = steps["CreateAbaloneModel-CreateModel"]["job_name"]
    assert steps["AbaloneTransform"]["arguments"]["ModelName"] == model_name
    assert steps["CheckMSEAbaloneEvaluation"]["arguments"]["Conditions"] == [
        {"Type": "LessThanOrEqualTo", "LeftValue": 4.0, "RightValue": 6.0}
    ]


def test_abalone_dry_run_else_branch_with_typed_and_wire_overrides() -> None:
    for threshold in (3.0, "3.0"):
        report = _abalone(4.5, MseThreshold=threshold, ModelApprovalStatus="Approved")
        _assert_fully_resolved(report)
        steps = report["steps"]
        assert steps["CheckMSEAbaloneEvaluation"]["outcome"] is False
        for name in ("RegisterAbaloneModel-RegisterModel", "CreateAbaloneModel-CreateModel", "AbaloneTransform"):
            assert steps[name]["status"] == NOT_EXECUTED
        assert steps["AbaloneMSEFail"]["error_message"] == "Execution failed due to MSE > 3.0"
        assert report["failed"] is True
        assert report["failure_reason"] == "Step 'AbaloneMSEFail' failed with message: Execution failed due to MSE > 3.0"


def test_function_step_dry_run() -> None:
    definition = load_definition(fixture_path("function_step"))
    base = f"s3://my-ml-bucket/FunctionStepPipeline/{EXEC_ID}"
    inputs = DryRunInputs(
        parameters={"N": "3"},
        s3_objects={
            f"{base}/make_numbers/results/results.json": {"Result": {"total": 6}, "Exception": None},
            f"{base}/summarize/results/results.json": {"Result": [6, "six"], "Exception": None},
        },
        execution={"PipelineExecutionId": EXEC_ID, "PipelineName": "FunctionStepPipeline"},
    )
    report = dry_run(definition, inputs)
    _assert_fully_resolved(report)
    steps = report["steps"]
    make = steps["make_numbers"]["arguments"]
    assert make["OutputDataConfig"]["S3OutputPath"] == f"{base}/make_numbers/results"
    args = make["AlgorithmSpecification"]["ContainerArguments"]
    refs = args.index("--property_references")
    assert args[refs:] == [
        "--property_references",
        "Execution.PipelineExecutionId", EXEC_ID,
        "Parameters.N", "3",  # the literal path string is kept; the Join renders the Integer as a string
        "Parameters.Label", "demo",
        "--serialize_output_to_json", "true",
    ]
    assert args[args.index("--pipeline_execution_id") + 1] == EXEC_ID
    summarize_args = steps["summarize"]["arguments"]["AlgorithmSpecification"]["ContainerArguments"]
    assert "Steps.make_numbers.OutputDataConfig.S3OutputPath" in summarize_args  # literal, not resolved
    position = summarize_args.index("Steps.make_numbers.OutputDataConfig.S3OutputPath")
    assert summarize_args[position + 1] == f"{base}/make_numbers/results"
    assert steps["TotalBig"]["arguments"]["Conditions"] == [{"Type": "GreaterThan", "LeftValue": 6, "RightValue": 5}]
    assert steps["TooBig"]["error_message"] == "total too big: 6"
    assert report["failed"] is True


def test_function_step_boolean_parameter_renders_lowercase_in_join() -> None:
    doc = fixture_doc("function_step")
    doc["Parameters"].append({"Name": "Flag", "Type": "Boolean", "DefaultValue": True})
    args = raw_step(doc, "make_numbers")["Arguments"]["AlgorithmSpecification"]["ContainerArguments"]
    args += ["Parameters.Flag", {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Flag"}]}}]
    definition = load_definition(doc)
    base = f"s3://my-ml-bucket/FunctionStepPipeline/{EXEC_ID}"
    s3 = {f"{base}/make_numbers/results/results.json": {"Result": {"total": 1}}}
    for given, rendered in ((None, "true"), ("FALSE", "false"), (False, "false"), ("True", "true")):
        report = dry_run(definition, DryRunInputs(
            parameters=None if given is None else {"Flag": given}, s3_objects=s3, execution={"PipelineExecutionId": EXEC_ID}))
        resolved = report["steps"]["make_numbers"]["arguments"]["AlgorithmSpecification"]["ContainerArguments"]
        assert resolved[-2:] == ["Parameters.Flag", rendered]
        assert report["steps"]["TotalBig"]["outcome"] is False


def _integrations(**kwargs: Any) -> dict[str, Any]:
    return dry_run(load_definition(fixture_path("integrations")), integrations_inputs(**kwargs))


def test_integrations_dry_run_approved() -> None:
    report = _integrations()
    _assert_fully_resolved(report)
    steps = report["steps"]
    notify = steps["NotifyLambda"]["arguments"]
    assert notify == {
        "best_model_uri": "s3://my-ml-bucket/tuning/xgbtune-001-best/output/model.tar.gz",
        "best_job": "xgbtune-001-best",
        "best_metric": 1.25,
        "second_job": "xgbtune-002",
        "exec_vars": "|".join([
            INTEGRATIONS_EXECUTION["StartDateTime"],
            INTEGRATIONS_EXECUTION["CurrentDateTime"],
            "IntegrationsPipeline",
            "arn:aws:sagemaker:us-east-1:123456789012:pipeline/integrationspipeline",
            EXEC_ID,
            f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/integrationspipeline/execution/{EXEC_ID}",
            "train-job-x",
            "proc-job-y",
        ]),
        "experiment": "exp-IntegrationsPipeline",
        "trial": EXEC_ID,
        "literal_int": 7,
        "param_bool": False,
    }
    assert steps["NotifyLambda"]["fields"] == {"FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:notify"}
    assert steps["ManualApproval"]["arguments"] == {
        "status_via_properties": "ok",
        "status_via_output_object": "ok",
        "exec_arn": f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/integrationspipeline/execution/{EXEC_ID}",
    }
    assert steps["EMRExistingCluster"]["arguments"]["StepConfig"]["HadoopJarStep"]["Args"][-1] == EXEC_ID
    tune = steps["TuneXGB"]["arguments"]
    assert tune["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 4
    assert tune["TrainingJobDefinition"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://my-ml-bucket/data/train"
    assert steps["TuneXGB"]["job_name"].startswith("xgbtune-")  # kept name used as a prefix
    gate = steps["ApprovalGate"]
    assert gate["outcome"] is True
    assert gate["arguments"]["Conditions"] == [
        {"Type": "Equals", "LeftValue": "approve", "RightValue": "approve"},
        {"Type": "GreaterThan", "LeftValue": 0.9, "RightValue": 0.5},
        {"Type": "GreaterThanOrEqualTo", "LeftValue": 3, "RightValue": 1},
        {"Type": "LessThan", "LeftValue": 1.25, "RightValue": 10.0},
        {"Type": "In", "QueryValue": "COMPLETED", "Values": ["COMPLETED", "RUNNING"]},
        {"Type": "Not", "Condition": {"Type": "Equals", "LeftValue": False, "RightValue": True}},
        {"Type": "Or", "Conditions": [
            {"Type": "LessThan", "LeftValue": 4, "RightValue": 10},
            {"Type": "In", "QueryValue": "IntegrationsPipeline", "Values": ["a", "b"]},
        ]},
    ]
    assert type(gate["arguments"]["Conditions"][2]["LeftValue"]) is int  # Callback "3" typed as Integer
    assert type(gate["arguments"]["Conditions"][1]["LeftValue"]) is float  # Lambda "0.9" typed as Float
    assert steps["EMRNewCluster"]["status"] == EXECUTED
    assert steps["EMRNewCluster"]["arguments"]["ClusterConfig"]["ReleaseLabel"] == "emr-6.15.0"
    for name in ("Rejected", "NotApprovedPlain"):
        assert steps[name]["status"] == NOT_EXECUTED
        assert "ElseSteps" in steps[name]["reason"]
    assert report["failed"] is False


@pytest.mark.parametrize(
    ("kwargs", "false_index"),
    [
        ({"decision": "reject"}, 0),
        ({"score": 0.25}, 1),
        ({"count": "0"}, 2),
        ({"metric": 12.0}, 3),
        ({"state": "FAILED"}, 4),
        ({"parameters": {"AutoApprove": "true"}}, 5),
        ({"parameters": {"MaxTuningJobs": 12}}, 6),
    ],
)
def test_integrations_dry_run_each_condition_can_reject(kwargs: dict[str, Any], false_index: int) -> None:
    report = _integrations(**kwargs)
    _assert_fully_resolved(report)
    steps = report["steps"]
    assert steps["ApprovalGate"]["outcome"] is False
    assert steps["EMRNewCluster"]["status"] == NOT_EXECUTED
    assert "IfSteps" in steps["EMRNewCluster"]["reason"]
    assert steps["Rejected"]["error_message"] == f"Rejected by approver; execution {EXEC_ID}"
    assert steps["NotApprovedPlain"]["error_message"] == "plain string message"
    assert report["failed"] is True
    assert report["failure_reason"] == f"Step 'Rejected' failed with message: Rejected by approver; execution {EXEC_ID}"


def test_integrations_needs_job_name_variables_for_the_lambda_step() -> None:
    inputs = integrations_inputs()
    execution = {k: v for k, v in inputs.execution.items() if k != "TrainingJobName"}
    with pytest.raises(ResolutionError) as caught:
        dry_run(load_definition(fixture_path("integrations")), DryRunInputs(step_outputs=inputs.step_outputs, execution=execution))
    assert caught.value.step == "NotifyLambda"
    assert "Execution.TrainingJobName" in str(caught.value)
    assert "exec_vars" in caught.value.location


def test_misc_steps_dry_run() -> None:
    definition = load_definition(fixture_path("misc_steps"))
    report = dry_run(definition, DryRunInputs(execution={"PipelineExecutionId": EXEC_ID, "PipelineName": "MiscStepsPipeline"}))
    _assert_fully_resolved(report)
    steps = report["steps"]
    assert all(step["status"] == EXECUTED for step in steps.values())
    assert report["failed"] is False
    quality = steps["DataQualityCheck"]["fields"]
    assert quality["SkipCheck"] is False and quality["RegisterNewBaseline"] is False
    assert quality["SuppliedBaselineStatistics"] == ""  # the String parameter's default
    assert steps["MonitorBT-monitoring"]["fields"]["ModelPackageGroupName"] is None
    train_job = steps["MiscTrain"]["job_name"]
    train_output = steps["MiscTrain"]["arguments"]["OutputDataConfig"]["S3OutputPath"]
    artifacts = f"{train_output.rstrip('/')}/{train_job}/output/model.tar.gz"
    repack = steps["CreateRepackedModel-RepackModel-repackdemo"]["arguments"]
    assert repack["HyperParameters"]["model_archive"] == artifacts
    assert repack["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == artifacts
    model_name = steps["CreateRepackedModel-CreateModel"]["job_name"]
    assert steps["CreateEPConfig"]["arguments"]["ProductionVariants"][0]["ModelName"] == model_name
    assert steps["CreateEPConfig"]["job_name"] == "abalone-epc"  # resource names are kept verbatim
    assert steps["DeployEndpoint"]["arguments"]["EndpointConfigName"] == "abalone-epc"
    notebook = steps["RunNotebook"]
    assert notebook["arguments"]["OutputDataConfig"]["S3OutputPath"] == f"s3://my-ml-bucket/notebooks/MiscStepsPipeline/{EXEC_ID}/RunNotebook"
    assert notebook["arguments"]["HyperParameters"]["exec"] == EXEC_ID
    # the notebook's timestamped name is only a prefix of the generated one
    assert notebook["job_name"].startswith("analysis-ipynb-2026-11-21-02-29-58-775-")
    assert notebook["job_name"] != notebook["arguments"]["TrainingJobName"]


def test_misc_steps_synthesised_properties_have_the_documented_aliases() -> None:
    definition = load_definition(fixture_path("misc_steps"))
    step = definition.steps["RunNotebook"]
    props = synthesize_properties(step, {"OutputDataConfig": {"S3OutputPath": "s3://b/p"}, "Environment": {"SM_INPUT_NOTEBOOK_NAME": "a.ipynb"}},
                                  job_name="nb-1", now="2025-01-01T00:00:00+00:00")
    assert props["ComputingJobName"] == "nb-1"
    assert props["NotebookJobOutputLocationPrefix"] == "s3://b/p"
    assert props["InputNotebookName"] == "a.ipynb"
    check = synthesize_properties(definition.steps["DataQualityCheck"], {
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "quality_check_output", "S3Output": {"S3Uri": "s3://b/q"}}]}},
        job_name="q-1", fields={"SuppliedBaselineStatistics": "s3://b/stats.json"})
    assert check["CalculatedBaselineConstraints"] == "s3://b/q/constraints.json"
    assert check["CalculatedBaselineStatistics"] == "s3://b/q/statistics.json"
    assert check["BaselineUsedForDriftCheckStatistics"] == "s3://b/stats.json"
    assert check["BaselineUsedForDriftCheckConstraints"] == "s3://b/q/constraints.json"


def test_dry_run_is_deterministic_without_execution_variables() -> None:
    definition = load_definition(fixture_path("misc_steps"))
    first, second = dry_run(definition), dry_run(definition)
    assert first["execution"]["PipelineExecutionId"] == second["execution"]["PipelineExecutionId"]
    assert first["execution"]["PipelineName"] == "misc_steps"  # from the file name
    assert [s.get("job_name") for s in first["steps"].values()] == [s.get("job_name") for s in second["steps"].values()]
    other = dry_run(definition, DryRunInputs(parameters={"SkipDataQualityCheck": True}))
    assert other["execution"]["PipelineExecutionId"] != first["execution"]["PipelineExecutionId"]


# -- walk semantics on small hand-written pipelines ------------------------------------------------


def _walk(steps: list[dict[str, Any]], declared: list[dict[str, Any]] | None = None, **inputs: Any) -> dict[str, Any]:
    return dry_run(load_definition(definition(steps, declared)), DryRunInputs(**inputs))


def test_steps_downstream_of_a_skipped_branch_are_skipped() -> None:
    steps = [
        condition("Gate", [{"Type": "Equals", "LeftValue": get("Parameters.Go"), "RightValue": True}],
                  if_steps=[training("InBranch")], else_steps=[training("Other")]),
        training("After", Arguments={"RoleArn": get("Steps.InBranch.RoleArn")}),  # outside the Condition
        training("Independent"),
    ]
    parameters = [{"Name": "Go", "Type": "Boolean", "DefaultValue": False}]
    report = _walk(steps, parameters)
    assert report["steps"]["Gate"]["outcome"] is False
    assert report["steps"]["InBranch"]["status"] == NOT_EXECUTED
    assert report["steps"]["InBranch"]["reason"] == "in the IfSteps of 'Gate', which evaluated false"
    assert report["steps"]["After"]["status"] == NOT_EXECUTED
    assert report["steps"]["After"]["reason"] == "downstream of a step skipped by 'Gate'"
    assert report["steps"]["Other"]["status"] == EXECUTED
    assert report["steps"]["Independent"]["status"] == EXECUTED
    taken = _walk(steps, parameters, parameters={"Go": "true"})
    assert taken["steps"]["After"]["status"] == EXECUTED
    assert taken["steps"]["After"]["arguments"]["RoleArn"] == "arn:aws:iam::123456789012:role/R"
    assert taken["steps"]["Other"]["reason"] == "in the ElseSteps of 'Gate', which evaluated true"


def test_a_fail_step_stops_later_waves_but_not_its_own() -> None:
    steps = [fail("Stop", "stopped"), training("SameWave"), training("Later", DependsOn=["SameWave"])]
    report = _walk(steps)
    assert report["failed"] is True
    assert report["steps"]["SameWave"]["status"] == EXECUTED  # already running on the service
    assert report["steps"]["Later"]["status"] == NOT_EXECUTED
    assert report["steps"]["Later"]["reason"] == "the execution failed at Stop"
    assert report["failure_reason"] == "Step 'Stop' failed with message: stopped"


def test_fail_message_defaults_and_non_string_values() -> None:
    report = _walk([{"Name": "F", "Type": "Fail", "Arguments": {}}])
    assert report["steps"]["F"]["error_message"] == ""
    report = _walk([{"Name": "F", "Type": "Fail", "Arguments": {"ErrorMessage": get("Parameters.On")}}],
                   [{"Name": "On", "Type": "Boolean", "DefaultValue": True}])
    assert report["steps"]["F"]["error_message"] == "true"


def test_given_step_outputs_are_merged_over_the_synthesised_response() -> None:
    steps = [training("T"), training("U", Arguments={"Environment": {
        "MODEL": get("Steps.T.ModelArtifacts.S3ModelArtifacts"), "STATUS": get("Steps.T.TrainingJobStatus"),
        "METRIC": get("Steps.T.FinalMetricDataList['validation:auc'].Value")}})]
    report = _walk(steps, step_outputs={"T": {"ModelArtifacts": {"S3ModelArtifacts": "s3://given/model.tar.gz"},
                                              "FinalMetricDataList": [{"MetricName": "validation:auc", "Value": 0.91}]}})
    assert report["steps"]["U"]["arguments"]["Environment"] == {
        "MODEL": "s3://given/model.tar.gz", "STATUS": "Completed", "METRIC": 0.91}
