"""The Airflow UI in a real browser: headless Chromium (Debian's package, driven by Selenium through
Debian's chromedriver) against a real deployment (see deployment.py) and the session's emulator.

* The translated abalone example (dags_examples/translated_abalone.py): the trigger form has one
  typed field per pipeline parameter, with its default (String, Integer, Float and Boolean
  fields; the ``EnumValues`` parameter a dropdown of exactly its values). Choosing another value in
  the dropdown and typing another string, then submitting the form, starts a run that succeeds;
  its conf and the SageMaker calls the translated steps made (in the emulator) carry both values.
* A native ``SageMakerPipelineStartOperator``: its task instance page shows the extra link to the
  pipeline execution it started.

The test never skips: without Chromium it fails, saying to run ``scripts/install_browser.sh``
(CI's ``scripts/test.sh`` runs it). Every wait is bounded; the browser and the deployment are
stopped by fixtures, also when a test fails. Screenshots and the page source of each stage go to
``test-output/browser/<time>-<pid>/`` (ignored by git); the failure message names the files of the
stage that failed. ``SMPIPE_DOCS_SCREENSHOTS=1`` also copies the trigger form's screenshot to
``docs/trigger-form.png`` (the README shows it).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlparse

import pytest
from deployment import AirflowDeployment, local_airflow, poll
from user_dags import definition, training_step

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "dags_examples"
TRANSLATED_DAG_FILE = EXAMPLES / "translated_abalone.py"
TRANSLATED_DEFINITION = EXAMPLES / "definitions" / "abalone.json"
TRANSLATED_DAG_ID = "smpipe_abalone_translated"
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "trigger-form.png"

#: Debian's packages (scripts/install_browser.sh). Selenium gets both paths explicitly, so Selenium
#: Manager never looks for (or downloads) a browser or a driver.
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Bounds of every browser wait: a page of the single-page app, and a control reacting to a click.
PAGE_TIMEOUT = 60.0
CONTROL_TIMEOUT = 20.0

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecutionRole"
#: The trigger form's other fields of a translated DAG (control_param_schemas), after the parameters.
CONTROL_FIELDS = ("smpipe.selected_steps", "smpipe.reference_run_id")
#: The override: one value chosen in the enum's dropdown, one typed into a String field.
ENUM_PARAMETER, ENUM_OVERRIDE = "ModelApprovalStatus", "Approved"
TEXT_PARAMETER, TEXT_OVERRIDE = "TrainingInstanceType", "ml.m5.2xlarge"

NATIVE_DAG = '''"""Browser test DAG: start a pipeline in the emulator, wait deferred."""

import pendulum

from airflow.sdk import DAG
from airflow_provider_smpipe.operators.pipeline import SageMakerPipelineStartOperator

with DAG({dag_id!r}, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    SageMakerPipelineStartOperator(task_id="start", pipeline_name={pipeline!r}, deferrable=True, poll_interval=0.5)
'''


def missing_browser() -> str | None:
    """Why the browser cannot run here, or ``None``."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        return (
            f"{' and '.join(missing)} not installed: run `bash scripts/install_browser.sh` as root "
            "(Debian's chromium and chromium-driver; CI's scripts/test.sh runs it before pytest)"
        )
    return None


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def output_dir() -> Path:
    """Where this module's screenshots and page sources go (one folder per test session), under
    ``test-output/``, which ignores itself in git."""
    root = REPO_ROOT / "test-output"
    folder = root / "browser" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    (root / ".gitignore").write_text("# Written by the tests: screenshots and other output, never committed.\n*\n")
    return folder


@pytest.fixture(scope="module")
def chromium_installed() -> None:
    """Fail (never skip) before the deployment's minute of start-up when there is no browser."""
    reason = missing_browser()
    if reason:
        pytest.fail(reason, pytrace=False)


@pytest.fixture(scope="module")
def airflow_deployment(chromium_installed: None, emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowDeployment]:
    """This module's deployment: conftest's ``airflow_deployment`` (same name, so conftest's report
    hook still attaches the component logs to a failure) plus what the example DAG needs:

    * ``SMPIPE_EXAMPLE_POLL_SECONDS``: the example polls every 30 s by default;
    * ``[scheduler] use_job_schedule = False``: the example is ``@daily`` with ``catchup=False``,
      so unpausing it (the trigger form does) would also start a scheduled run, which the manual
      run would queue behind (``max_active_runs=1``). Manual runs are unaffected.
    """
    env = {
        **local_airflow.aws_settings(emulator.endpoint_url),  # conftest's (and scripts/airflow.sh's) aws_default
        "SMPIPE_EXAMPLE_POLL_SECONDS": "0.5",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    }
    with AirflowDeployment(tmp_path_factory.mktemp("airflow-deployment"), env=env) as deployment:
        yield deployment


@pytest.fixture
def browser(chromium_installed: None, airflow_deployment: AirflowDeployment, output_dir: Path, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """A headless Chromium on the deployment's UI, quit after the test (also when it fails)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
        "--disable-dev-shm-usage",  # a container's small /dev/shm crashes tabs
        "--disable-gpu",
        "--window-size=1400,1000",
        "--no-proxy-server",  # the UI is on loopback; never ask a proxy from the environment
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-sync",
    ):
        options.add_argument(argument)
    with warnings.catch_warnings():  # deprecated for a ClientConfig that webdriver.Chrome does not take yet
        warnings.simplefilter("ignore", DeprecationWarning)
        options.ignore_local_proxy_environment_variables()  # Selenium's own calls to chromedriver too
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(output_dir / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    session = Browser(driver, airflow_deployment.base_url, output_dir / request.node.name)
    try:
        driver.set_page_load_timeout(PAGE_TIMEOUT)
        driver.set_script_timeout(CONTROL_TIMEOUT)
        yield session
    finally:
        try:
            session.snapshot("last")  # whatever the browser showed when the test ended or failed
        except Exception:  # noqa: BLE001 - a dead browser must not hide the test's own error
            pass
        driver.quit()


# -- the browser -----------------------------------------------------------------------------------


class Browser:
    """A Selenium driver plus where to save what it shows; explicit, bounded waits only."""

    def __init__(self, driver: Any, base_url: str, output: Path) -> None:
        self.driver = driver
        self.base_url = base_url
        self.output = output
        self.output.mkdir(parents=True, exist_ok=True)

    def snapshot(self, name: str) -> Path:
        """Save the screenshot and the DOM (``page_source``) of this moment; the screenshot's path."""
        png = self.output / f"{name}.png"
        self.driver.save_screenshot(str(png))
        (self.output / f"{name}.html").write_text(self.driver.page_source)
        return png

    def element_snapshot(self, element: Any, name: str, height: int) -> Path:
        """A screenshot of ``element`` alone, taken in a window ``height`` pixels tall (so a long
        dialog fits), then the window's size is restored; the screenshot's path."""
        size = self.driver.get_window_size()
        self.driver.set_window_size(size["width"], height)
        try:
            self.driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", element)
            png = self.output / f"{name}.png"
            element.screenshot(str(png))
            return png
        finally:
            self.driver.set_window_size(size["width"], size["height"])

    def wait(self, condition: Callable[[Any], T], what: str, timeout: float = PAGE_TIMEOUT) -> T:
        """``condition(driver)`` once it is truthy; at ``timeout`` an AssertionError naming
        ``what`` and the screenshot/DOM saved at that moment."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.25).until(condition)
        except TimeoutException:
            shot = self.snapshot(f"timeout-{what[:40].replace(' ', '-').replace('/', '-')}")
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (at {self.driver.current_url}); screenshot and DOM: {shot.with_suffix('.*')}") from None

    def login(self, next_path: str) -> None:
        """Log in the way the UI does with SimpleAuthManager and ``simple_auth_manager_all_admins``:
        its login URL, ``/auth/token/login``, sets the ``_token`` cookie and redirects to ``next``."""
        self.driver.get(f"{self.base_url}/auth/token/login?next={quote(self.base_url + next_path, safe='')}")
        self.wait(lambda d: urlparse(d.current_url).path == next_path, f"the redirect to {next_path} after logging in")
        assert self.driver.get_cookie("_token"), "logging in set no _token cookie"

    def scroll_to(self, element: Any) -> Any:
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        return element


def by(kind: str, value: str) -> tuple[str, str]:
    from selenium.webdriver.common.by import By

    return {"xpath": By.XPATH, "css": By.CSS_SELECTOR, "id": By.ID}[kind], value


def visible(locator: tuple[str, str], within: Any = None) -> Callable[[Any], Any]:
    """The first displayed element ``locator`` finds (in ``within``, else the page), or ``False``."""

    def find(driver: Any) -> Any:
        for element in (within or driver).find_elements(*locator):
            if element.is_displayed():
                return element
        return False

    return find


def xpath_literal(text: str) -> str:
    return f"'{text}'" if "'" not in text else f'"{text}"'


# -- the trigger form of the translated example ----------------------------------------------------


def deploy_translated_example(airflow: AirflowDeployment) -> None:
    """The example DAG file and its definition, laid out as in dags_examples/."""
    if (airflow.dags_folder / TRANSLATED_DAG_FILE.name).exists():
        return
    (airflow.dags_folder / "definitions").mkdir(exist_ok=True)
    shutil.copy(TRANSLATED_DEFINITION, airflow.dags_folder / "definitions" / TRANSLATED_DEFINITION.name)
    shutil.copy(TRANSLATED_DAG_FILE, airflow.dags_folder / f".{TRANSLATED_DAG_FILE.name}.tmp")
    os.replace(airflow.dags_folder / f".{TRANSLATED_DAG_FILE.name}.tmp", airflow.dags_folder / TRANSLATED_DAG_FILE.name)
    airflow.wait_for_dag(TRANSLATED_DAG_ID, filename=TRANSLATED_DAG_FILE.name, timeout=120)


def field_control(browser: Browser, dialog: Any, name: str) -> tuple[Any, Any]:
    """The form field of parameter ``name``, found as a user finds it, by its label: (the field's
    control, the field's group with the label and the help text). The control is the group's
    input, not the element the label's ``for`` names: Airflow 3.3's text fields do not carry that
    id (a text input's id is ``element_<name>``, its label's ``for`` a generated one)."""
    label = browser.wait(visible(by("xpath", f".//label[normalize-space(text()[1])={xpath_literal(name)}]"), dialog), f"the label {name}")
    group = label.find_element(*by("xpath", "./ancestor::*[@role='group'][1]"))
    controls = group.find_elements(*by("css", "[role=combobox], [role=spinbutton], input:not([type=hidden]), textarea, select"))
    assert controls, f"no input in the field of {name}: {group.get_attribute('outerHTML')[:500]}"
    return controls[0], group


def check_field(browser: Browser, dialog: Any, parameter: dict[str, Any]) -> None:
    """A parameter's field: the control its type calls for, showing the parameter's default."""
    name, kind, default = parameter["Name"], parameter["Type"], parameter["DefaultValue"]
    control, group = field_control(browser, dialog, name)
    assert f"SageMaker pipeline parameter ({kind})" in group.text, f"{name}: help text {group.text!r}"
    role, value = control.get_attribute("role"), control.get_attribute("value")
    # The value the form submits for the parameter is the field named element_<name>.
    submitted = group.find_element(*by("css", f"[name={json.dumps('element_' + name)}]"))
    assert parameter.get("EnumValues") or submitted == control, f"{name}: the labelled control is not the submitted field"
    if parameter.get("EnumValues"):
        # A dropdown: a combobox whose selected value is the form's value for the parameter.
        assert role == "combobox" and control.get_attribute("aria-haspopup") == "true", f"{name} is not a dropdown: {control.get_attribute('outerHTML')[:300]}"
        assert submitted.get_attribute("type") == "hidden" and submitted.get_attribute("value") == default, f"{name}: selected {submitted.get_attribute('value')!r}"
    elif kind in ("Integer", "Float"):
        assert role == "spinbutton", f"{name} ({kind}) is not a number field: {control.get_attribute('outerHTML')[:300]}"
        assert (int(value) if kind == "Integer" else float(value)) == default, f"{name} shows {value!r}, default {default!r}"
    elif kind == "Boolean":
        assert control.get_attribute("type") == "checkbox", f"{name} is not a switch: {control.get_attribute('outerHTML')[:300]}"
        assert control.is_selected() is default
    else:
        assert control.tag_name == "input" and control.get_attribute("type") == "text" and role is None, f"{name} is not a text field"
        assert value == default, f"{name} shows {value!r}, default {default!r}"


def choose(browser: Browser, dialog: Any, name: str, choice: str, expected: list[str]) -> None:
    """Open the dropdown of ``name``, check it offers exactly ``expected``, pick ``choice``."""
    control, _ = field_control(browser, dialog, name)
    browser.scroll_to(control).click()
    options_xpath = f"//*[@id={xpath_literal('element_' + name)}]//*[@role='option']"
    options = browser.wait(lambda d: [o for o in d.find_elements(*by("xpath", options_xpath)) if o.is_displayed()], f"the options of {name}", CONTROL_TIMEOUT)
    assert [option.text for option in options] == expected
    browser.snapshot("03-enum-dropdown-open")
    [option] = [option for option in options if option.text == choice]
    option.click()
    hidden = dialog.find_element(*by("css", f"input[name='element_{name}']"))
    browser.wait(lambda d: hidden.get_attribute("value") == choice, f"{name} to become {choice}", CONTROL_TIMEOUT)


def type_into(browser: Browser, dialog: Any, name: str, text: str) -> None:
    """Replace a text field's value the way a user does (select all, type): React sees the input."""
    from selenium.webdriver.common.keys import Keys

    control, _ = field_control(browser, dialog, name)
    browser.scroll_to(control).send_keys(Keys.CONTROL, "a")
    control.send_keys(text)
    browser.wait(lambda d: control.get_attribute("value") == text, f"{name} to read {text}", CONTROL_TIMEOUT)


def xcom(airflow: AirflowDeployment, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
    entry = airflow.api("GET", f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances/{quote(task_id)}/xcomEntries/{quote(key)}")
    return entry["value"]


def test_trigger_form_has_a_typed_field_per_parameter_and_the_run_carries_the_override(
    airflow_deployment: AirflowDeployment, browser: Browser, emulator: Any, emulator_scenario: Any
) -> None:
    airflow = airflow_deployment
    # The evaluation passes the MseThreshold gate, so the model is registered (with the status chosen).
    evaluation = {"evaluation.json": {"regression_metrics": {"mse": {"value": 4.2, "standard_deviation": 0.5}}}}
    emulator_scenario({"default_step_seconds": 0.05, "steps": {"EvaluateAbaloneModel": {"files": {"evaluation": evaluation}}}})
    deploy_translated_example(airflow)
    parameters: list[dict[str, Any]] = json.loads(TRANSLATED_DEFINITION.read_text())["Parameters"]
    assert {p["Type"] for p in parameters} == {"String", "Integer", "Float", "Boolean"} and any(p.get("EnumValues") for p in parameters)

    browser.login(f"/dags/{TRANSLATED_DAG_ID}")
    trigger = browser.wait(visible(by("xpath", "//button[normalize-space()='Trigger']")), "the DAG page's Trigger button")
    browser.snapshot("01-dag-page")
    trigger.click()
    dialog = browser.wait(visible(by("xpath", "//*[@role='dialog'][.//h2[starts-with(normalize-space(), 'Trigger Dag')]]")), "the trigger form")

    # Every pipeline parameter, and nothing else but the selective re-run controls, is a field.
    for parameter in parameters:
        check_field(browser, dialog, parameter)
    names = {element.get_attribute("name") for element in dialog.find_elements(*by("css", "[name^='element_']"))}
    assert names == {f"element_{name}" for name in [*(p["Name"] for p in parameters), *CONTROL_FIELDS]}
    heading = dialog.find_element(*by("xpath", ".//*[normalize-space()='Run Parameters']"))
    browser.driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", heading)
    browser.snapshot("02-trigger-form")
    form = browser.element_snapshot(dialog, "02-trigger-form-dialog", height=2300)  # the whole form
    if os.environ.get("SMPIPE_DOCS_SCREENSHOTS") == "1":
        shutil.copy(form, DOCS_SCREENSHOT)

    [enum] = [p for p in parameters if p["Name"] == ENUM_PARAMETER]
    choose(browser, dialog, ENUM_PARAMETER, ENUM_OVERRIDE, enum["EnumValues"])
    type_into(browser, dialog, TEXT_PARAMETER, TEXT_OVERRIDE)
    browser.snapshot("04-trigger-form-overridden")
    submit = dialog.find_element(*by("css", "[data-testid='trigger-dag-submit']"))
    browser.scroll_to(submit).click()

    # The UI opens the new run's page: its run id is in the URL.
    run_page = f"/dags/{TRANSLATED_DAG_ID}/runs/"
    browser.wait(lambda d: run_page in urlparse(d.current_url).path, "the new run's page")
    run_id = unquote(urlparse(browser.driver.current_url).path.split(run_page, 1)[1].split("/")[0])
    browser.snapshot("05-run-page")

    run = airflow.wait_for_run(TRANSLATED_DAG_ID, run_id, timeout=420)  # 8 tasks: ~1 min, 3 on a busy 2-core machine
    assert run["state"] == "success", run
    assert run["run_type"] == "manual"
    defaults = {p["Name"]: p["DefaultValue"] for p in parameters}
    expected_conf = {**defaults, ENUM_PARAMETER: ENUM_OVERRIDE, TEXT_PARAMETER: TEXT_OVERRIDE, **dict.fromkeys(CONTROL_FIELDS)}
    assert run["conf"] == expected_conf

    # The SageMaker calls carried the override: the training job's instance type, the registered
    # model package's approval status.
    from airflow_provider_smpipe.translation.runtime import execution_id_for

    sagemaker = emulator.client("sagemaker")
    training = xcom(airflow, TRANSLATED_DAG_ID, run_id, "TrainAbaloneModel")
    assert training["TrainingJobName"].startswith(f"pipelines-{execution_id_for(TRANSLATED_DAG_ID, run_id)}-TrainAbaloneModel-")
    assert sagemaker.describe_training_job(TrainingJobName=training["TrainingJobName"])["ResourceConfig"]["InstanceType"] == TEXT_OVERRIDE
    package = xcom(airflow, TRANSLATED_DAG_ID, run_id, "RegisterAbaloneModel-RegisterModel")
    assert sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])["ModelApprovalStatus"] == ENUM_OVERRIDE

    browser.driver.refresh()
    browser.wait(visible(by("xpath", "//a[normalize-space()='TrainAbaloneModel']")), "the finished run's task instances")
    browser.snapshot("06-run-finished")


# -- the extra link of a native start task ---------------------------------------------------------


def training_definition() -> dict[str, Any]:
    return definition(training_step("Train"))  # the one-step pipeline the other deployment tests use


def test_task_instance_page_shows_the_link_to_the_execution(airflow_deployment: AirflowDeployment, browser: Browser, emulator: Any, emulator_scenario: Any) -> None:
    airflow = airflow_deployment
    emulator_scenario({"default_step_seconds": 0.5})
    suffix = uuid.uuid4().hex[:8]
    dag_id, pipeline = f"browser_start_{suffix}", f"browser-pipe-{suffix}"
    sagemaker = emulator.client("sagemaker")
    sagemaker.create_pipeline(PipelineName=pipeline, PipelineDefinition=json.dumps(training_definition()), RoleArn=ROLE)
    temporary = airflow.dags_folder / f".{dag_id}.py.tmp"
    temporary.write_text(NATIVE_DAG.format(dag_id=dag_id, pipeline=pipeline))
    os.replace(temporary, airflow.dags_folder / f"{dag_id}.py")
    airflow.wait_for_dag(dag_id, filename=f"{dag_id}.py", timeout=90)
    run_id = airflow.trigger(dag_id)
    run = airflow.wait_for_run(dag_id, run_id, timeout=180)
    assert run["state"] == "success", run
    [execution] = sagemaker.list_pipeline_executions(PipelineName=pipeline)["PipelineExecutionSummaries"]
    execution_id = execution["PipelineExecutionArn"].rsplit("/", 1)[1]
    expected = f"https://console.aws.amazon.com/sagemaker/home?region=us-east-1#/pipelines/details/{pipeline}/executions/{execution_id}"
    links = airflow.api("GET", f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances/start/links")["extra_links"]
    assert links == {"SageMaker Pipeline Execution": expected}

    # The task instance page's Details tab lists the task's extra links as buttons.
    details = f"/dags/{dag_id}/runs/{quote(run_id, safe='')}/tasks/start/details"
    browser.login(details)
    link = browser.wait(visible(by("xpath", "//a[normalize-space()='SageMaker Pipeline Execution']")), "the extra link on the task instance page")
    browser.scroll_to(link)
    browser.snapshot("01-task-instance-extra-link")
    assert link.get_attribute("href") == expected
    assert link.get_attribute("target") == "_blank"  # another site: a new tab
    assert browser.driver.find_elements(*by("xpath", "//h2[normalize-space()='Extra Links']"))
    # The link shows for the task whose execution it is: the page is the start task's.
    poll(lambda: "SageMakerPipelineStartOperator" in browser.driver.find_element(*by("css", "body")).text, timeout=CONTROL_TIMEOUT, interval=0.25, what="the task's operator on its page")
