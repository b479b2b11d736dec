"""The validator's checks of expressions (``Get``, ``Std:Join``, ``Std:JsonGet``) and conditions,
including which steps an expression may read from where: ForEach body steps only from their own
iteration, ``ForEach.CurrentItem`` only inside a body, ``IterationOutput`` only in a Selector."""

from __future__ import annotations

from typing import Any

from airflow_provider_smpipe.definition.errors import DefinitionError, did_you_mean
from airflow_provider_smpipe.definition.foreach import AGGREGATES, FOR_EACH_MEMBERS
from airflow_provider_smpipe.definition.model import EXECUTION_VARIABLES, Step
from airflow_provider_smpipe.definition.paths import Token, parse_path
from airflow_provider_smpipe.definition.references import FUNCTIONS, GET, ITERATION_OUTPUT, JOIN, JSON_GET, Reference, child_location, parse_reference
from airflow_provider_smpipe.definition.request_shapes import check_output_path, output_shape
from airflow_provider_smpipe.definition.validate_base import ValidatorState, article, is_expression, short_repr, type_name

BINARY_CONDITIONS = {"Equals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo"}
CONDITION_TYPES = BINARY_CONDITIONS | {"In", "Not", "Or"}
EXPERIMENT_CONFIG_MEMBERS = ("ExperimentName", "TrialName")
#: Property roots checked against botocore output shapes: (service, operation, JSON-text members).
OUTPUT_SHAPES = {
    "EMRServerless": ("emr-serverless", "GetJobRun", ()),
    "Job": ("sagemaker", "DescribeJob", ("JobConfigDocument",)),
}
NO_PROPERTIES = ("Fail", "Cleanup")
_CONTAINERS = frozenset((dict, list))

References = dict[str, str]


class ExpressionChecks(ValidatorState):
    # -- conditions ------------------------------------------------------------------------------

    def _check_condition(self, condition: Any, loc: str, step: Step, refs: References) -> None:
        if not isinstance(condition, dict):
            self.problem(f"condition is {type_name(condition)}", step=step.name, location=loc, expected="an object with a Type")
            return
        ctype = condition.get("Type")
        if not isinstance(ctype, str) or ctype not in CONDITION_TYPES:
            self.problem(
                f"unknown condition type {short_repr(ctype)}{did_you_mean(str(ctype), CONDITION_TYPES)}",
                step=step.name,
                location=f"{loc}.Type",
                expected=", ".join(sorted(CONDITION_TYPES)),
            )
            return
        required = {"In": ("QueryValue", "Values"), "Not": ("Condition",), "Or": ("Conditions",)}.get(ctype, ("LeftValue", "RightValue"))
        for key in condition:
            if key != "Type" and key not in required:
                self.problem(f"unknown key '{key}' in {article(ctype)} condition", step=step.name, location=f"{loc}.{key}", expected=", ".join(required))
        for key in required:
            if key not in condition:
                self.problem(f"{ctype} condition has no {key}", step=step.name, location=loc, expected=", ".join(required))
                return
        if ctype == "Not":
            self._check_condition(condition["Condition"], f"{loc}.Condition", step, refs)
        elif ctype == "Or":
            if not isinstance(condition["Conditions"], list) or not condition["Conditions"]:
                self.problem("Or needs a non-empty Conditions array", step=step.name, location=f"{loc}.Conditions")
                return
            for index, inner in enumerate(condition["Conditions"]):
                self._check_condition(inner, f"{loc}.Conditions[{index}]", step, refs)
        elif ctype == "In":
            self._check_operand(condition["QueryValue"], f"{loc}.QueryValue", step, refs)
            if not isinstance(condition["Values"], list):
                self.problem("In condition Values is not an array", step=step.name, location=f"{loc}.Values", expected="an array")
                return
            for index, value in enumerate(condition["Values"]):
                self._check_operand(value, f"{loc}.Values[{index}]", step, refs)
        else:
            self._check_operand(condition["LeftValue"], f"{loc}.LeftValue", step, refs)
            self._check_operand(condition["RightValue"], f"{loc}.RightValue", step, refs)

    def _check_operand(self, value: Any, loc: str, step: Step, refs: References) -> None:
        if isinstance(value, (dict, list)) and not is_expression(value):
            self.problem(f"condition operand is a literal {type_name(value)}", step=step.name, location=loc, expected="a string, number, boolean or expression")
            return
        self._check_value(value, loc, step, refs)

    # -- expressions -----------------------------------------------------------------------------

    def _check_value(self, value: Any, loc: str, step: Step | None, refs: References) -> None:
        """Walk a value; check every expression in it and collect the steps it references.

        Only containers are descended into, so no location string is built for the (many) scalar
        leaves of a request: this walk is most of the cost of loading a definition.
        """
        # The document came from the strict JSON reader: containers are exactly dict and list, keys
        # are str. Exact type tests and the joined-keys pre-test keep this walk cheap.
        kind_of = type(value)
        if kind_of is list:
            for index, item in enumerate(value):
                if type(item) in _CONTAINERS:
                    self._check_value(item, f"{loc}[{index}]", step, refs)
            return
        if kind_of is not dict:
            return
        if len(value) == 1:
            kind = next(iter(value))
            if kind == GET or kind.startswith("Std:"):
                self._check_expression(kind, value[kind], loc, step, refs)
                return
        elif GET in value or ("Std:" in "\x00".join(value) and any(k.startswith("Std:") for k in value)):
            expr_keys = [k for k in value if k == GET or k.startswith("Std:")]
            self.problem(
                f"expression object has extra keys {sorted(str(k) for k in value if k not in expr_keys)}",
                step=step.name if step else None,
                location=loc,
                expected=f"exactly one key, '{expr_keys[0]}'",
            )
            return
        for key, item in value.items():
            if type(item) in _CONTAINERS:
                self._check_value(item, child_location(loc, key), step, refs)

    def _check_expression(self, kind: str, body: Any, loc: str, step: Step | None, refs: References) -> None:
        if kind == GET:
            self._check_get(body, loc, step, refs)
        elif kind == JOIN:
            self._check_join(body, f"{loc}['{JOIN}']", step, refs)
        elif kind == JSON_GET:
            self._check_json_get(body, f"{loc}['{JSON_GET}']", step, refs)
        else:
            self.problem(f"unknown function '{kind}'{did_you_mean(kind, FUNCTIONS)}", step=step.name if step else None, location=loc, expected=" or ".join(FUNCTIONS))

    def _check_join(self, body: Any, loc: str, step: Step | None, refs: References) -> None:
        step_name = step.name if step else None
        if not isinstance(body, dict) or not isinstance(body.get("Values"), list):
            self.problem("Std:Join needs an object with a Values array", step=step_name, location=loc, expected='{"On": "/", "Values": [...]}')
            return
        if not isinstance(body.get("On", ""), str):
            self.problem(f"Std:Join On is {type_name(body.get('On'))}", step=step_name, location=f"{loc}.On", expected="a string")
        for key in body:
            if key not in ("On", "Values"):
                self.problem(f"unknown key '{key}' in Std:Join", step=step_name, location=f"{loc}.{key}", expected="On, Values")
        for index, item in enumerate(body["Values"]):
            iloc = f"{loc}.Values[{index}]"
            if isinstance(item, (dict, list)) and not is_expression(item):
                self.problem(f"Std:Join value is a literal {type_name(item)}", step=step_name, location=iloc, expected="a string, number, boolean or expression")
            else:
                self._check_value(item, iloc, step, refs)

    def _check_json_get(self, body: Any, loc: str, step: Step | None, refs: References) -> None:
        step_name = step.name if step else None
        if not isinstance(body, dict):
            self.problem(f"Std:JsonGet body is {type_name(body)}", step=step_name, location=loc, expected='{"PropertyFile" or "S3Uri": ..., "Path": "..."}')
            return
        for key in body:
            if key not in ("PropertyFile", "S3Uri", "Path"):
                self.problem(f"unknown key '{key}' in Std:JsonGet", step=step_name, location=f"{loc}.{key}", expected="PropertyFile or S3Uri, and Path")
        path = body.get("Path")
        if not isinstance(path, str):
            self.problem("Std:JsonGet has no Path string", step=step_name, location=f"{loc}.Path", expected="a JSON path such as 'a.b[0]'")
        else:
            try:
                parse_path(path)
            except DefinitionError as exc:
                self.problem(exc.problem, step=step_name, location=f"{loc}.Path", expected=exc.expected)
        if ("PropertyFile" in body) == ("S3Uri" in body):
            self.problem("Std:JsonGet needs exactly one of PropertyFile and S3Uri", step=step_name, location=loc)
            return
        if "S3Uri" in body:
            uri = body["S3Uri"]
            if isinstance(uri, str):
                if not uri.startswith("s3://"):
                    self.problem(f"S3Uri {short_repr(uri)} is not an s3:// URI", step=step_name, location=f"{loc}.S3Uri")
            elif is_expression(uri):
                self._check_value(uri, f"{loc}.S3Uri", step, refs)
            else:
                self.problem(f"S3Uri is {type_name(uri)}", step=step_name, location=f"{loc}.S3Uri", expected="a string or an expression")
            return
        self._check_property_file_reference(body["PropertyFile"], f"{loc}.PropertyFile", step, refs)

    def _check_property_file_reference(self, ref_value: Any, ploc: str, step: Step | None, refs: References) -> None:
        step_name = step.name if step else None
        text = ref_value.get(GET) if isinstance(ref_value, dict) and len(ref_value) == 1 else None
        try:
            parsed = parse_reference(text)
        except DefinitionError as exc:
            self.problem(f"PropertyFile is not a property-file reference: {exc.problem}", step=step_name, location=ploc, expected='{"Get": "Steps.<Step>.PropertyFiles.<Name>"}')
            return
        if parsed.root != "Steps" or len(parsed.path) != 2 or parsed.path[0].value != "PropertyFiles":
            self.problem(f"PropertyFile reference '{text}' does not name a property file", step=step_name, location=ploc, expected="'Steps.<Step>.PropertyFiles.<Name>'")
            return
        target = self._step_target(parsed.name, ploc, step, refs)
        if target is None:
            return
        file_name = str(parsed.path[1].value)
        if target.type != "Processing":
            self.problem(f"property file reference to {target.type} step '{target.name}'", step=step_name, location=ploc, expected="a Processing step (only they have PropertyFiles)")
        elif target.property_file(file_name) is None:
            known = [p.name for p in target.property_files]
            self.problem(
                f"step '{target.name}' has no property file '{file_name}'{did_you_mean(file_name, known)}",
                step=step_name,
                location=ploc,
                expected="one of " + ", ".join(known) if known else "a PropertyFiles entry on that step",
            )

    def _check_get(self, text: Any, loc: str, step: Step | None, refs: References) -> None:
        step_name = step.name if step else None
        try:
            ref = parse_reference(text)
        except DefinitionError as exc:
            self.problem(exc.problem, step=step_name, location=loc, expected=exc.expected)
            return
        if ref.root == "Parameters":
            if ref.name not in self.parameters:
                self.problem(f"references unknown parameter '{ref.name}'{did_you_mean(ref.name, self.parameters)}", step=step_name, location=loc, expected="a name declared in Parameters")
        elif ref.root == "Execution":
            if ref.name not in EXECUTION_VARIABLES:
                self.problem(f"unknown execution variable '{ref.name}'{did_you_mean(ref.name, EXECUTION_VARIABLES)}", step=step_name, location=loc, expected=", ".join(EXECUTION_VARIABLES))
        elif ref.root == "PipelineExperimentConfig":
            self._check_experiment_config_reference(ref, loc, step_name)
        elif ref.root == "ForEach":
            if step is None or step.parent_for_each is None:
                where = f"in {step.type} step '{step.name}'" if step else f"in {self.top_level_context}"
                self.problem(
                    f"'{ref.text}' is used {where}, outside any ForEach body",
                    step=step_name,
                    location=loc,
                    expected="ForEach.CurrentItem only in the steps of a ForEachBody",
                )
        elif ref.root == ITERATION_OUTPUT:
            self.problem(
                f"'{ref.text}' can only be the Field of a ForEach Selector",
                step=step_name,
                location=loc,
                expected="Steps.<ForEach>.IterationOutputs[<i>].<BodyStep>.<member> or Steps.<ForEach>.Selected.<member>",
            )
        else:
            target = self._step_target(ref.name, loc, step, refs)
            if target is not None:
                self._check_step_property(target, ref, ref.path, loc, step_name)

    def _check_experiment_config_reference(self, ref: Reference, loc: str, step_name: str | None) -> None:
        if ref.name not in EXPERIMENT_CONFIG_MEMBERS:
            self.problem(f"unknown PipelineExperimentConfig member '{ref.name}'", step=step_name, location=loc, expected="ExperimentName or TrialName")
        elif self.experiment_config is None:
            self.problem(f"references PipelineExperimentConfig.{ref.name} but PipelineExperimentConfig is null", step=step_name, location=loc)
        elif ref.name not in self.experiment_config:
            self.problem(f"references PipelineExperimentConfig.{ref.name}, which the config does not set", step=step_name, location=loc)

    def _step_target(self, name: str, loc: str, step: Step | None, refs: References) -> Step | None:
        """The step a reference reads, if it may read it from here; records the reference."""
        step_name = step.name if step else None
        if step is None:  # only PipelineExperimentConfig / MlflowConfig values are checked outside a step
            self.problem(f"{self.top_level_context} cannot reference steps", location=loc, expected="parameters, execution variables or literals")
            return None
        if name == step.name:
            self.problem("step references its own properties", step=step_name, location=loc, expected="a reference to an upstream step")
            return None
        target = self.steps.get(name)
        if target is None and name in self.rejected_steps:
            return None
        if target is None:
            self.problem(f"references unknown step '{name}'{did_you_mean(name, self.steps)}", step=step_name, location=loc)
            return None
        if target.type in NO_PROPERTIES:
            self.problem(f"references {target.type} step '{name}', which has no properties", step=step_name, location=loc)
            return None
        if not self._may_read(step, target, loc):
            return None
        refs.setdefault(name, loc)
        return target

    def _may_read(self, step: Step, target: Step, loc: str) -> bool:
        """ForEach scoping: a body step is read only from its own iteration, and a body step cannot
        read its own ForEach (whose properties exist only once every iteration has ended)."""
        if step.parent_for_each == target.name:
            self.problem(
                f"a body step cannot read the properties of its own ForEach '{target.name}'",
                step=step.name,
                location=loc,
                expected="ForEach.CurrentItem, or the properties of other steps",
            )
            return False
        if target.parent_for_each is not None and target.parent_for_each != step.parent_for_each:
            parent = target.parent_for_each
            self.problem(
                f"'{target.name}' is a body step of ForEach '{parent}': only the steps of that body can read it",
                step=step.name,
                location=loc,
                expected=f"Steps.{parent}.IterationOutputs[<i>].{target.name}.<member>, or Steps.{parent}.Selected.<member>",
            )
            return False
        return True

    def _check_step_property(self, target: Step, ref: Reference, path: tuple[Token, ...], loc: str, step_name: str | None) -> None:
        if not path:
            return
        first = path[0]
        if first.value == "PropertyFiles":
            self.problem(f"'{ref.text}' can only be used as the PropertyFile of a Std:JsonGet", step=step_name, location=loc)
        elif target.type == "Condition":
            if len(path) != 1 or first.value != "Outcome":
                self.problem(f"Condition step '{target.name}' only has the property Outcome", step=step_name, location=loc, expected=f"'Steps.{target.name}.Outcome'")
        elif target.type in ("Lambda", "Callback"):
            self._check_output_parameter_path(target, path, loc, step_name)
        elif target.type == "ForEach":
            self._check_for_each_property(target, ref, path, loc, step_name)
        elif first.kind != "member":
            self.problem(f"property path of '{ref.text}' must start with a member name", step=step_name, location=loc)
        elif target.type in OUTPUT_SHAPES:
            service, operation, json_members = OUTPUT_SHAPES[target.type]
            why = check_output_path(output_shape(service, operation), path, opaque_members=json_members)
            if why is not None:
                self.problem(f"'{ref.text}': {why}", step=step_name, location=loc, expected=f"a property of the {operation} response")

    def _check_output_parameter_path(self, target: Step, path: tuple[Token, ...], loc: str, step_name: str | None) -> None:
        if path[0].value != "OutputParameters" or len(path) != 2 or path[1].kind != "key":
            self.problem(f"{target.type} step '{target.name}' only has OutputParameters['<name>'] properties", step=step_name, location=loc)
        elif target.output_parameter(str(path[1].value)) is None:
            declared = [p.name for p in target.output_parameters]
            self.problem(
                f"step '{target.name}' declares no output parameter '{path[1].value}'{did_you_mean(str(path[1].value), declared)}",
                step=step_name,
                location=loc,
                expected="one of " + ", ".join(declared) if declared else "an OutputParameters entry on that step",
            )

    def _check_for_each_property(self, target: Step, ref: Reference, path: tuple[Token, ...], loc: str, step_name: str | None) -> None:
        first = path[0]
        member = str(first.value)
        if first.kind != "member" or member not in FOR_EACH_MEMBERS:
            self.problem(
                f"ForEach step '{target.name}' has no property '{member}'{did_you_mean(member, FOR_EACH_MEMBERS)}",
                step=step_name,
                location=loc,
                expected=", ".join(FOR_EACH_MEMBERS),
            )
            return
        if member in AGGREGATES:
            if len(path) != 1:
                self.problem(f"'{ref.text}': {member} is a single value", step=step_name, location=loc, expected=f"'Steps.{target.name}.{member}'")
            return
        body = self.bodies.get(target.name, [])
        if member == "Selected":
            selector = target.for_each.selector if target.for_each else None
            if selector is None:
                self.problem(f"ForEach step '{target.name}' has no Selector, so no Selected iteration", step=step_name, location=loc, expected="a Selector on the ForEach, or IterationOutputs[<i>]")
            elif selector.body_step in self.steps:
                self._check_step_property(self.steps[selector.body_step], ref, path[1:], loc, step_name)
            return
        self._check_iteration_outputs(target, ref, path, body, loc, step_name)

    def _check_iteration_outputs(self, target: Step, ref: Reference, path: tuple[Token, ...], body: list[str], loc: str, step_name: str | None) -> None:
        shape = f"'Steps.{target.name}.IterationOutputs[<i>].<BodyStep>.<member>'"
        if not body:  # a missing or broken ForEachBody is already reported on the ForEach
            return
        if len(path) < 3 or path[1].kind != "index" or path[2].kind != "member":
            self.problem(f"'{ref.text}': IterationOutputs needs an integer index and a body step name", step=step_name, location=loc, expected=shape)
            return
        index, body_step = int(path[1].value), str(path[2].value)
        items = target.for_each.items if target.for_each else None
        count = len(items) if isinstance(items, list) and 1 <= len(items) <= 100 else None  # else reported on the ForEach
        if index < 0 or (count is not None and index >= count):
            expected = f"its {count} items (0..{count - 1})" if count is not None else "an index from 0"
            self.problem(f"'{ref.text}': iteration {index} does not exist", step=step_name, location=loc, expected=expected)
            return
        if body_step not in body:
            self.problem(
                f"'{ref.text}': '{body_step}' is not a body step of ForEach '{target.name}'{did_you_mean(body_step, body)}",
                step=step_name,
                location=loc,
                expected="one of " + ", ".join(body) if body else shape,
            )
            return
        self._check_step_property(self.steps[body_step], ref, path[3:], loc, step_name)
