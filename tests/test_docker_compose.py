"""Checks of ``docker-compose.yaml``, ``Dockerfile`` and ``.dockerignore``.

These are STATIC checks: the project's machines (CI included) have no Docker daemon, so nothing here
builds the image or runs ``docker compose up``. The compose file is parsed with PyYAML (merge keys
``<<:`` resolved the way Compose resolves them), ``${VAR:-default}`` is interpolated with its default
the way Compose does when the variable is unset, and the Dockerfile is read as text.

One test is live but still needs no Docker: it takes the ``AIRFLOW_CONN_AWS_DEFAULT`` string from the
compose file, re-points its ``endpoint_url`` from ``http://emulator:5055`` to the test session's
in-process emulator, and drives the provider's hook with it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"

#: Airflow service -> the Airflow command it must run.
AIRFLOW_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
AIRFLOW_SERVICES = (*AIRFLOW_COMMANDS, "airflow-init")
REQUIRED_SERVICES = {*AIRFLOW_SERVICES, "postgres", "emulator"}


# -- helpers ---------------------------------------------------------------------------------------


def interpolate(value: Any) -> Any:
    """Compose interpolation with every variable unset: ``${X:-d}``/``${X-d}`` -> ``d``, ``${X}``/``$X``
    -> ``""``, ``$$`` -> ``$``."""
    if not isinstance(value, str):
        return value
    pattern = re.compile(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}|\$(\w+)")

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return match.group(2) or ""

    return pattern.sub(replace, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, Any]:
    """What a container of ``service`` gets: its ``env_file:`` files (paths relative to the compose
    file, later files winning), then ``environment:`` over them, as compose merges them."""
    env: dict[str, Any] = {}
    env_files = service.get("env_file") or []
    for entry in [env_files] if isinstance(env_files, (str, dict)) else env_files:
        path = entry["path"] if isinstance(entry, dict) else entry
        env.update(read_env_file(COMPOSE_FILE.parent / path))
    declared = service.get("environment") or {}
    if isinstance(declared, list):  # the KEY=VALUE list form
        declared = dict(item.split("=", 1) for item in declared)
    return {**env, **declared}


def read_env_file(path: Path) -> dict[str, str]:
    """A compose env file: KEY=VALUE lines; blank lines and ``#`` comments ignored."""
    values = {}
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            key, _, value = stripped.partition("=")
            values[key.strip()] = value.strip()
    return values


def mounts(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """A service's volumes as (source, target, read_only), short (``SRC:DST[:ro]``) or long syntax."""
    result = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            result.append((source, target, "ro" in ",".join(mode).split(",")))
        else:
            result.append((str(volume.get("source")), str(volume.get("target")), bool(volume.get("read_only"))))
    return result


def command_tokens(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    pairs = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def dockerfile_airflow_version() -> str:
    """The default of ``ARG AIRFLOW_VERSION`` declared before ``FROM``."""
    for instruction, arguments in dockerfile_instructions():
        if instruction == "FROM":
            break
        if instruction == "ARG" and arguments.startswith("AIRFLOW_VERSION="):
            return arguments.split("=", 1)[1].strip().strip("\"'")
    raise AssertionError("the Dockerfile declares no ARG AIRFLOW_VERSION=<version> before FROM")


def pip_install_runs() -> list[list[str]]:
    return [shlex.split(arguments) for instruction, arguments in dockerfile_instructions() if instruction == "RUN" and "pip install" in arguments]


def airflow_requirement() -> SpecifierSet:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        if requirement.name == "apache-airflow":
            return requirement.specifier
    raise AssertionError("pyproject.toml has no apache-airflow dependency")


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether ``.dockerignore`` excludes ``path`` (last matching pattern wins, ``!`` re-includes)."""
    result = False
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        pattern = pattern[3:] if pattern.startswith("**/") else pattern
        if any(fnmatch(prefix, pattern) or fnmatch(prefix.rsplit("/", 1)[-1], pattern) for prefix in prefixes):
            result = not negate
    return result


def dockerignore_patterns() -> list[str]:
    return [line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.strip().startswith("#")]


# -- the compose file ------------------------------------------------------------------------------


def test_compose_file_parses(compose: dict[str, Any]) -> None:
    assert isinstance(compose, dict), "docker-compose.yaml is not a mapping"
    assert isinstance(compose.get("services"), dict) and compose["services"], "no services"
    assert isinstance(compose.get("x-airflow-common"), dict), "the x-airflow-common anchor is missing"


def test_required_services_exist(services: dict[str, Any]) -> None:
    missing = REQUIRED_SERVICES - set(services)
    assert not missing, f"missing services: {sorted(missing)}"


def test_local_executor_without_celery(compose: dict[str, Any], services: dict[str, Any]) -> None:
    env = environment(compose["x-airflow-common"])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert not {"redis", "airflow-worker", "flower"} & set(services), "LocalExecutor needs no redis/celery services"
    assert not [k for k in env if k.startswith("AIRFLOW__CELERY__")]


def test_every_airflow_service_runs_the_provider_image(compose: dict[str, Any], services: dict[str, Any]) -> None:
    """Same build (the Dockerfile that installs the provider) and image for every Airflow service,
    the triggerer included: it has to import the provider's triggers."""
    common = compose["x-airflow-common"]
    build = common.get("build")
    context = build if isinstance(build, str) else (build or {}).get("context")
    assert context in (".", "./"), f"x-airflow-common must build the repository's Dockerfile, not {build!r}"
    assert (REPO / ((build or {}).get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")).is_file()
    for name in AIRFLOW_SERVICES:
        service = services[name]
        assert service.get("build") == build, f"{name} does not use the common build"
        assert service.get("image") == common.get("image"), f"{name} does not use the common image name"
        env = environment(service)
        for key, value in environment(common).items():
            assert env.get(key) == value, f"{name}: {key} differs from x-airflow-common"


def test_airflow_services_run_their_commands(services: dict[str, Any]) -> None:
    for name, command in AIRFLOW_COMMANDS.items():
        assert command_tokens(services[name]) == [command], f"{name} runs {services[name].get('command')!r}, expected {command!r}"
        assert "entrypoint" not in services[name], f"{name} must keep the Airflow image's entrypoint"


def test_init_migrates_the_database_and_the_login_needs_no_user_table(services: dict[str, Any]) -> None:
    init = services["airflow-init"]
    env = environment(init)
    assert env.get("_AIRFLOW_DB_MIGRATE") == "true"
    # SimpleAuthManager (installed with Airflow itself): users come from the configuration, the API
    # server generates their passwords; no FAB user table to create, no extra package to install.
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("simple_auth_manager.SimpleAuthManager")
    assert env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS")
    assert not any(key.startswith("_AIRFLOW_WWW_USER_") for key in env), "FAB-only user creation variables"
    # _AIRFLOW_DB_MIGRATE only acts when the image's /entrypoint runs an airflow command
    script = " ".join(command_tokens(init))
    assert re.search(r"/entrypoint\s+airflow\b", script) or ("entrypoint" not in init and command_tokens(init)), (
        "airflow-init must run its command through the image's /entrypoint"
    )


def test_airflow_version_satisfies_the_provider_requirement(compose: dict[str, Any], services: dict[str, Any]) -> None:
    specifier = airflow_requirement()
    version = dockerfile_airflow_version()
    assert Version(version) in specifier, f"Dockerfile Airflow {version} does not satisfy apache-airflow{specifier}"
    # the base image uses that ARG, and the ARG is re-declared after FROM so RUN can see it
    instructions = dockerfile_instructions()
    froms = [i for i, (instruction, _) in enumerate(instructions) if instruction == "FROM"]
    assert len(froms) == 1 and instructions[froms[0]][1] == "apache/airflow:${AIRFLOW_VERSION}", instructions[froms[0]] if froms else "no FROM"
    assert ("ARG", "AIRFLOW_VERSION") in instructions[froms[0] + 1 :], "ARG AIRFLOW_VERSION must be re-declared after FROM"
    # every image tag that names a version agrees with the Dockerfile
    images = [interpolate(compose["x-airflow-common"].get("image"))] + [interpolate(s.get("image")) for s in services.values() if s.get("build")]
    for image in filter(None, images):
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        found = re.search(r"\d+\.\d+\.\d+", tag)
        if found:
            assert Version(found.group(0)) in specifier, f"image tag {image} does not satisfy apache-airflow{specifier}"
            assert found.group(0) == version, f"image tag {image} disagrees with the Dockerfile's AIRFLOW_VERSION={version}"
    for service in services.values():
        args = (service.get("build") or {}).get("args") if isinstance(service.get("build"), dict) else None
        if args and "AIRFLOW_VERSION" in args:
            assert Version(str(args["AIRFLOW_VERSION"])) in specifier


def test_one_jwt_secret_for_all_airflow_services(services: dict[str, Any]) -> None:
    secrets = {name: environment(services[name]).get("AIRFLOW__API_AUTH__JWT_SECRET") for name in AIRFLOW_SERVICES}
    assert None not in secrets.values(), f"services without a JWT secret: {[n for n, s in secrets.items() if s is None]}"
    assert len(set(secrets.values())) == 1, f"JWT secrets differ: {secrets}"
    assert interpolate(next(iter(secrets.values()))), "the JWT secret is empty when the variable is unset"


def test_common_environment(compose: dict[str, Any], services: dict[str, Any]) -> None:
    env = environment(compose["x-airflow-common"])
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert env["AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"] == "true"
    assert urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname == "postgres"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert api.hostname == "airflow-apiserver" and api.path == "/execution/"
    published = [str(p) for p in services["airflow-apiserver"].get("ports", [])]
    assert any(p.rsplit(":", 1)[-1] == str(api.port) for p in published), f"the api-server does not listen on {api.port}: {published}"


def test_aws_connection_points_at_the_emulator(compose: dict[str, Any], services: dict[str, Any]) -> None:
    env = environment(compose["x-airflow-common"])
    connection = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert connection["conn_type"] == "aws"
    extra = connection["extra"]
    endpoint = urlsplit(extra["endpoint_url"])
    assert endpoint.hostname in services, f"endpoint host {endpoint.hostname!r} is not a compose service"
    assert endpoint.hostname == "emulator"
    tokens = command_tokens(services["emulator"])
    assert "--port" in tokens, "the emulator command sets no --port"
    assert endpoint.port == int(tokens[tokens.index("--port") + 1]), "endpoint port differs from the emulator's --port"
    assert extra["region_name"] == env["AWS_DEFAULT_REGION"]


def test_dags_folder_is_dags_examples(compose: dict[str, Any], services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        volumes = [str(v) if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}" for v in services[name].get("volumes", [])]
        dags = [v for v in volumes if v.split(":")[1].rstrip("/") == "/opt/airflow/dags"]
        assert dags, f"{name} does not mount a DAG folder at /opt/airflow/dags"
        assert dags[0].split(":")[0].rstrip("/") in ("./dags_examples", "dags_examples"), dags[0]
    assert (REPO / "dags_examples").is_dir()


def test_emulator_service(compose: dict[str, Any], services: dict[str, Any]) -> None:
    emulator = services["emulator"]
    tokens = command_tokens(emulator)
    entrypoint = emulator.get("entrypoint")
    entrypoint = shlex.split(entrypoint) if isinstance(entrypoint, str) else list(entrypoint or [])
    assert entrypoint and not any("/entrypoint" == t for t in entrypoint), "the Airflow entrypoint would run `airflow smpipe ...`"
    assert tokens[:2] == ["smpipe", "emulator"], f"the emulator service runs {tokens}"
    assert tokens[tokens.index("--host") + 1] == "0.0.0.0", "the emulator must listen on 0.0.0.0 to be reachable from other containers"
    # the same image as Airflow, so it has the provider with the [emulator] extra
    assert emulator.get("build") == compose["x-airflow-common"]["build"]
    assert emulator.get("image") == compose["x-airflow-common"]["image"]


def test_emulator_starts_with_the_examples_scenario(services: dict[str, Any]) -> None:
    """The example DAGs need a scenario (abalone's Condition reads an evaluation report nothing else
    writes): the emulator service starts with the shipped file, which its container can see (a bind
    mount of the repository's file, or a file the Dockerfile copies in), and which loads as a valid
    scenario with the emulator's own loader, the one ``--scenario`` uses."""
    from airflow_provider_smpipe.emulator.scenario import Scenario

    tokens = command_tokens(services["emulator"])
    assert "--scenario" in tokens, f"the emulator starts with no scenario: {tokens}"
    in_container = tokens[tokens.index("--scenario") + 1]
    assert in_container.startswith("/"), f"--scenario {in_container}: use an absolute path in the container"
    mounted = [(source, read_only) for source, target, read_only in mounts(services["emulator"]) if target.rstrip("/") == in_container]
    copied = [
        parts[-2]
        for instruction, arguments in dockerfile_instructions()
        if instruction == "COPY"
        for parts in [[p for p in shlex.split(arguments) if not p.startswith("--")]]
        if parts[-1].rstrip("/") == in_container
    ]
    assert mounted or copied, f"{in_container} is neither mounted into the emulator service nor copied into the image"
    if mounted:
        source, read_only = mounted[0]
        assert source.startswith("./"), f"mount the repository's file (a relative ./ path), not {source}"
        assert read_only, "mount the scenario read-only: the emulator only reads it"
    else:
        source = copied[0]
        assert not ignored(source, dockerignore_patterns()), f".dockerignore excludes {source}, which the Dockerfile copies"
    host_file = REPO / source
    assert host_file == REPO / "dags_examples" / "emulator_scenario.json", f"the compose file starts the emulator with {source}"
    assert host_file.is_file(), f"{source} does not exist"
    scenario = Scenario.load(host_file)  # raises ScenarioError listing every problem
    report = scenario.step("EvaluateAbaloneModel").files["evaluation"]["evaluation.json"]
    threshold = next(p for p in json.loads((REPO / "dags_examples" / "definitions" / "abalone.json").read_text())["Parameters"] if p["Name"] == "MseThreshold")
    assert report["regression_metrics"]["mse"]["value"] <= threshold["DefaultValue"], "the flagship pipeline would fail its evaluation gate"


def test_startup_order_and_health_checks(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        depends = services[name].get("depends_on") or {}
        assert depends.get("postgres", {}).get("condition") == "service_healthy", f"{name} must wait for a healthy postgres"
        assert depends.get("emulator", {}).get("condition") == "service_started", f"{name} must wait for the emulator"
    for name in AIRFLOW_COMMANDS:
        depends = services[name]["depends_on"]
        assert depends.get("airflow-init", {}).get("condition") == "service_completed_successfully", f"{name} must wait for airflow-init"
    for name in (*AIRFLOW_COMMANDS, "postgres", "emulator"):
        test = (services[name].get("healthcheck") or {}).get("test")
        assert test, f"{name} has no health check"
    assert "8974" in " ".join(services["airflow-scheduler"]["healthcheck"]["test"])
    assert environment(services["airflow-scheduler"]).get("AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK") == "true"
    assert services["postgres"]["image"] == "postgres:16"


# -- the Dockerfile and .dockerignore --------------------------------------------------------------


def test_dockerfile_installs_the_provider_with_the_emulator_extra() -> None:
    runs = pip_install_runs()
    assert len(runs) == 1, f"expected one pip install, found {len(runs)}"
    tokens = runs[0]
    assert "--no-cache-dir" in tokens
    assert "apache-airflow==${AIRFLOW_VERSION}" in tokens, "pin apache-airflow to the image's version in the same pip call"
    copied = [arguments for instruction, arguments in dockerfile_instructions() if instruction == "COPY"]
    destinations = {shlex.split(c)[-1].rstrip("/") for c in copied}
    provider = [t for t in tokens if re.fullmatch(r"[^\s\[]+\[([\w,-]+)\]", t)]
    assert provider, f"no requirement with extras in {tokens}"
    path, extras = re.fullmatch(r"([^\s\[]+)\[([\w,-]+)\]", provider[0]).groups()  # type: ignore[union-attr]
    assert "emulator" in extras.split(","), f"the provider is installed without the [emulator] extra: {provider[0]}"
    assert path.rstrip("/") in destinations or path.endswith(".whl"), f"{path} is not something the Dockerfile copied in"


def test_dockerfile_copies_what_the_build_needs() -> None:
    copied = [shlex.split(arguments) for instruction, arguments in dockerfile_instructions() if instruction == "COPY"]
    sources = [s for parts in copied for s in [p for p in parts if not p.startswith("--")][:-1]]
    for needed in ("pyproject.toml", "README.md", "airflow_provider_smpipe"):  # hatchling reads README.md (readme=)
        assert needed in sources, f"the Dockerfile does not copy {needed}"
    patterns = dockerignore_patterns()
    for source in sources:
        assert (REPO / source).exists(), f"COPY source {source} does not exist"
        assert not ignored(source, patterns), f".dockerignore excludes {source}, which the Dockerfile copies"


def test_dockerignore_excludes_local_state() -> None:
    patterns = dockerignore_patterns()
    for path in (".venv", ".git", ".pytest_cache", "airflow_provider_smpipe/__pycache__", "tests"):
        assert ignored(path, patterns), f".dockerignore does not exclude {path}"


def test_dockerignore_matcher_itself() -> None:
    """The helper above must be able to say no (otherwise the two tests above prove nothing)."""
    assert not ignored("airflow_provider_smpipe", [".venv", "**/__pycache__"])
    assert ignored("a/b/__pycache__", ["**/__pycache__"])
    assert not ignored("docs", ["docs", "!docs"])


# -- live: the compose connection string drives the provider's hook --------------------------------


def test_the_compose_connection_works_with_the_provider_hook(compose: dict[str, Any], emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_smpipe.hooks.pipeline import SageMakerPipelineHook

    connection = json.loads(environment(compose["x-airflow-common"])["AIRFLOW_CONN_AWS_DEFAULT"])
    local = urlsplit(emulator.endpoint_url)
    parts = urlsplit(connection["extra"]["endpoint_url"])
    connection["extra"]["endpoint_url"] = urlunsplit(parts._replace(netloc=local.netloc))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT_COMPOSE_CHECK", json.dumps(connection))
    hook = SageMakerPipelineHook(aws_conn_id="aws_default_compose_check")
    assert hook.conn.meta.endpoint_url == connection["extra"]["endpoint_url"]
    assert hook.conn.meta.region_name == connection["extra"]["region_name"]
    assert "PipelineSummaries" in hook.conn.list_pipelines()


def test_the_events_queue_is_set_up_once_the_emulator_is_healthy(compose: dict[str, Any], services: dict[str, Any]) -> None:
    """SMPIPE_EVENTS_QUEUE_URL (examples 1 and 8) names the queue the one-shot set-up service makes
    with `smpipe events setup` on the emulator."""
    queue_url = urlsplit(environment(compose["x-airflow-common"])["SMPIPE_EVENTS_QUEUE_URL"])
    setup = services["emulator-events-setup"]
    command = setup["command"]
    assert command[:3] == ["smpipe", "events", "setup"]
    assert command[command.index("--queue") + 1] == queue_url.path.rsplit("/", 1)[-1]
    endpoint = urlsplit(command[command.index("--endpoint-url") + 1])
    assert endpoint.netloc == queue_url.netloc == urlsplit(json.loads(environment(compose["x-airflow-common"])["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]["endpoint_url"]).netloc
    assert setup["depends_on"]["emulator"]["condition"] == "service_healthy"
    assert setup["image"] == services["emulator"]["image"]


def test_the_events_setup_command_of_the_compose_file_works(services: dict[str, Any], emulator: Any) -> None:
    """The compose service's own command, pointed at the session's emulator, makes the queue."""
    import subprocess
    import sys

    command = list(services["emulator-events-setup"]["command"])
    command[command.index("--endpoint-url") + 1] = emulator.endpoint_url
    env = {**os.environ, **environment(services["emulator-events-setup"])}
    done = subprocess.run([sys.executable, "-m", "airflow_provider_smpipe.cli", *command[1:]], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    name = command[command.index("--queue") + 1]
    assert emulator.client("sqs").get_queue_url(QueueName=name)["QueueUrl"].endswith(f"/123456789012/{name}")
