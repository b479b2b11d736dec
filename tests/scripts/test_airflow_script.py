"""``bash scripts/airflow.sh up|status|down``: a real Airflow deployment without Docker.

The lifecycle test runs the script itself (bootstrap included, as a user would) on free ports with
a temporary state directory, logs in with the credentials ``up`` prints, and talks to the
deployment only through its REST API. ``down`` always runs at the end, and the test then checks
that nothing it started is left: every recorded process (and its session) is gone, and no process
mentions the state directory in its command line, environment or working directory.

The static tests keep the one source of truth honest: ``deploy/airflow.env`` holds valid Airflow
settings, docker-compose.yaml reads it, and compose repeats none of it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import psutil
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "airflow.sh"
EXAMPLE_FILES = sorted(path.name for path in (REPO / "dags_examples").glob("*.py"))
#: ``up`` migrates a new DB and starts five processes; on a loaded 2-core machine that can take minutes.
UP_TIMEOUT = 600.0


def _local_airflow() -> ModuleType:
    """``scripts/local_airflow.py`` (the same module object tests/deployment uses, if loaded)."""
    name = "local_airflow"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "local_airflow.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


local_airflow = _local_airflow()


def script_environment() -> dict[str, str]:
    """The test's environment without its Airflow configuration (unit-test mode, its own home and
    DB): the script must configure Airflow by itself, as it does on a user's machine."""
    return local_airflow.without_airflow_settings(os.environ)


def airflow_sh(*args: str, state_dir: Path, timeout: float = 120.0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args, "--state-dir", str(state_dir)],
        env={**script_environment(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def two_free_ports() -> tuple[int, int]:
    first = local_airflow.free_port()
    second = local_airflow.free_port()
    while second == first:
        second = local_airflow.free_port()
    return first, second


def processes_mentioning(text: str) -> list[str]:
    """Live processes with ``text`` in their command line, environment or working directory."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "environ", "cwd", "status"]):
        info = process.info
        if info["status"] == psutil.STATUS_ZOMBIE:
            continue
        haystack = " ".join(info["cmdline"] or []) + " " + " ".join(f"{k}={v}" for k, v in (info["environ"] or {}).items()) + " " + str(info["cwd"] or "")
        if text in haystack:
            found.append(f"pid {info['pid']}: {' '.join(info['cmdline'] or [])[:200]}")
    return found


def records(state_dir: Path) -> list[Any]:
    return [local_airflow.ProcessRecord.load(path) for path in sorted((state_dir / "run").glob("*.pid.json"))]


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    """A state directory for one test; whatever runs from it is stopped at the end, even when
    the test failed half-way (``down`` first, then the recorded sessions directly)."""
    state = tmp_path / "airflow-local"
    try:
        yield state
    finally:
        if list(state.glob("run/*.pid.json")):
            result = airflow_sh("down", state_dir=state, timeout=180)
            # down failed: stop the recorded sessions from here, so no test leaves processes behind
            local_airflow.stop_processes(records(state))
            assert result.returncode == 0, f"down failed:\n{result.stdout}\n{result.stderr}"


def test_up_status_down_lifecycle(state_dir: Path) -> None:
    api_port, emulator_port = two_free_ports()
    up = airflow_sh("up", "--port", str(api_port), "--emulator-port", str(emulator_port), "--timeout", str(UP_TIMEOUT - 60), state_dir=state_dir, timeout=UP_TIMEOUT)
    assert up.returncode == 0, f"up failed ({up.returncode}):\n{up.stdout}\n{up.stderr}"
    assert f"http://localhost:{api_port}" in up.stdout
    assert f"http://127.0.0.1:{emulator_port}" in up.stdout
    assert str(state_dir / "logs") in up.stdout, "up must say where the logs are"
    assert (state_dir / ".gitignore").read_text().splitlines()[-1] == "*", "the state directory must be git-ignored wherever it is"
    login = re.search(r"^\s*login:\s+(\S+) / (\S+)\s*$", up.stdout, re.MULTILINE)
    assert login, f"up printed no user/password:\n{up.stdout}"
    username, password = login.groups()
    started = records(state_dir)
    assert sorted(r.name for r in started) == sorted(["emulator", *local_airflow.COMPONENTS])
    for record in started:
        assert f"pid {record.pid}" in up.stdout, f"up does not print the PID of {record.name}"

    with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=30.0, trust_env=False) as http:
        # The login a user types in the UI's form works against the REST API.
        assert http.post("/auth/token", json={"username": username, "password": "not-" + password}).status_code == 401
        response = http.post("/auth/token", json={"username": username, "password": password})
        assert response.status_code == 201, response.text
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

        def every_example_parsed() -> dict[str, Any] | None:
            dags = http.get("/api/v2/dags", params={"limit": 100}, headers=headers)
            dags.raise_for_status()
            files = {Path(str(dag["relative_fileloc"])).name for dag in dags.json()["dags"]}
            return dags.json() if set(EXAMPLE_FILES) <= files else None

        dags = local_airflow.poll(every_example_parsed, timeout=180, interval=1.0, what=f"a DAG from each of {EXAMPLE_FILES}")
        assert "smpipe_retrain_abalone" in {dag["dag_id"] for dag in dags["dags"]}
        errors = http.get("/api/v2/importErrors", headers=headers)
        assert errors.status_code == 200 and errors.json()["total_entries"] == 0, errors.text
        emulator = httpx.get(f"http://127.0.0.1:{emulator_port}/_smpipe/health", timeout=10.0, trust_env=False)
        assert emulator.status_code == 200

    status = airflow_sh("status", state_dir=state_dir)
    assert status.returncode == 0, f"{status.stdout}\n{status.stderr}"
    for name in ("emulator", *local_airflow.COMPONENTS):
        line = next((line for line in status.stdout.splitlines() if line.split()[:1] == [name]), "")
        assert "running" in line and "healthy" in line and "unhealthy" not in line, f"{name}: {line!r}\n{status.stdout}"

    again = airflow_sh("up", "--port", str(api_port), "--emulator-port", str(emulator_port), state_dir=state_dir, timeout=UP_TIMEOUT)
    assert again.returncode == 0, f"{again.stdout}\n{again.stderr}"
    assert "Already running" in again.stdout
    assert records(state_dir) == started, "a second up must not start or restart anything"
    assert all(record.leader() is not None for record in started)

    down = airflow_sh("down", state_dir=state_dir, timeout=180)
    assert down.returncode == 0, f"{down.stdout}\n{down.stderr}"
    assert not (state_dir / "run").exists(), f"down left {sorted(p.name for p in (state_dir / 'run').iterdir())}"
    for record in started:
        assert record.leader() is None, f"{record.name} (pid {record.pid}) still runs after down"
        assert record.session() == [], f"processes of {record.name}'s session survived down"
    assert processes_mentioning(str(state_dir)) == []
    stopped = airflow_sh("status", state_dir=state_dir)
    assert stopped.returncode == 3 and "Not running" in stopped.stdout, stopped.stdout


def test_up_refuses_a_taken_port(state_dir: Path) -> None:
    api_port, emulator_port = two_free_ports()
    for taken, option in ((api_port, "--port"), (emulator_port, "--emulator-port")):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
            squatter.bind(("127.0.0.1", taken))
            squatter.listen()
            up = airflow_sh("up", "--port", str(api_port), "--emulator-port", str(emulator_port), state_dir=state_dir, timeout=300)
        assert up.returncode == 2, f"up on a taken port: {up.returncode}\n{up.stdout}\n{up.stderr}"
        assert f"port {taken} on 127.0.0.1 is taken" in up.stdout and option in up.stdout, up.stdout
        assert not list(state_dir.glob("run/*.pid.json")), "nothing may start when a port is taken"
        assert processes_mentioning(str(state_dir)) == []


def test_up_reports_a_component_that_dies_and_stops_the_others(state_dir: Path) -> None:
    """A scheduler that cannot start (an executor that does not exist): ``up`` fails at once (not
    at its timeout) with the tail of the scheduler's log, and stops what it had started."""
    api_port, emulator_port = two_free_ports()
    up = airflow_sh("up", "--port", str(api_port), "--emulator-port", str(emulator_port), state_dir=state_dir, timeout=UP_TIMEOUT, env={"AIRFLOW__CORE__EXECUTOR": "NoSuchExecutor"})
    assert up.returncode == 1, f"{up.returncode}\n{up.stdout}\n{up.stderr}"
    assert "scheduler exited with code" in up.stdout and f"--- {state_dir / 'logs' / 'scheduler.log'} (tail) ---" in up.stdout, up.stdout
    assert "NoSuchExecutor" in up.stdout.split("scheduler exited with code", 1)[1], "the tail of the scheduler's log is missing"
    assert not (state_dir / "run").exists(), "a failed up must leave no PID files"
    assert processes_mentioning(str(state_dir)) == []


def test_down_never_signals_a_process_that_reuses_a_recorded_pid(state_dir: Path) -> None:
    """A PID file whose PID now belongs to another process (same PID, later start time: the PID
    was recycled) must not get that process killed; the stale file is removed."""
    bystander = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        started = psutil.Process(bystander.pid).create_time()
        (state_dir / "run").mkdir(parents=True)
        stale = local_airflow.ProcessRecord(name="scheduler", pid=bystander.pid, create_time=started - 3600, cmdline=["airflow", "scheduler"], log=str(state_dir / "logs" / "scheduler.log"))
        stale.save(state_dir / "run" / "scheduler.pid.json")
        down = airflow_sh("down", state_dir=state_dir)
        assert down.returncode == 0, f"{down.stdout}\n{down.stderr}"
        assert bystander.poll() is None, "down killed a process it did not start"
        assert not (state_dir / "run").exists()
    finally:
        bystander.kill()
        bystander.wait(timeout=10)


# -- one source of truth -----------------------------------------------------------------------------


def test_shared_settings_are_airflow_options() -> None:
    """Every ``AIRFLOW__SECTION__KEY`` in deploy/airflow.env names an option Airflow has (a typo
    would be ignored silently by Airflow), and the auth manager it names is importable here."""
    from airflow.configuration import conf

    settings = local_airflow.shared_settings()
    for key in settings:
        if key.startswith("AIRFLOW__"):
            _, section, option = key.split("__", 2)
            assert conf.has_option(section.lower(), option.lower()), f"deploy/airflow.env: {key} is not an Airflow option"
        else:
            assert key.startswith("SMPIPE_"), f"deploy/airflow.env: {key} is neither an Airflow option nor this project's"
    assert settings["AIRFLOW__CORE__AUTH_MANAGER"] == local_airflow.SIMPLE_AUTH_MANAGER
    module, _, name = settings["AIRFLOW__CORE__AUTH_MANAGER"].rpartition(".")
    assert isinstance(getattr(importlib.import_module(module), name), type)


def test_compose_reads_the_shared_settings() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    common = compose["x-airflow-common"]
    env_files = common.get("env_file")
    env_files = [env_files] if isinstance(env_files, str) else [item if isinstance(item, str) else item["path"] for item in env_files or []]
    assert "deploy/airflow.env" in [path.removeprefix("./") for path in env_files], f"x-airflow-common reads {env_files}"
    shared = local_airflow.shared_settings()
    for name, service in compose["services"].items():
        if "airflow" not in name:
            continue
        assert service.get("env_file") == common.get("env_file"), f"{name} does not read deploy/airflow.env"
        for key, value in (service.get("environment") or {}).items():
            # One source of truth: compose's own environment holds only what is container-specific.
            assert key not in shared, f"{name}: {key} repeats deploy/airflow.env; keep it in one place"
            assert "FabAuthManager" not in str(value), f"{name}: {key} names the FAB auth manager, which the image does not configure"


def test_the_local_emulator_runs_the_compose_command() -> None:
    """``up`` starts the emulator as the compose service does: same arguments, same scenario file
    (compose mounts it at the path it passes to ``--scenario``); only host and port differ."""
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())
    service = compose["services"]["emulator"]
    tokens = shlex.split(service["command"]) if isinstance(service["command"], str) else [str(t) for t in service["command"]]
    in_container = tokens[tokens.index("--scenario") + 1]
    mounted = [volume.split(":")[0] for volume in service["volumes"] if volume.split(":")[1] == in_container]
    assert mounted and (REPO / mounted[0]).resolve() == local_airflow.EXAMPLE_SCENARIO
    expected = tokens[1:]  # after "smpipe", which is the venv's console script here
    expected[expected.index("--host") + 1] = "127.0.0.1"
    expected[expected.index("--port") + 1] = "6066"
    expected[expected.index("--scenario") + 1] = str(local_airflow.EXAMPLE_SCENARIO)
    local = local_airflow.emulator_args(6066)
    assert local[local.index("emulator") :] == expected


def test_a_database_url_from_the_environment_is_used_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite in the state directory by default; ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` from the
    caller's environment (e.g. Postgres) untouched, as is any other ``AIRFLOW__`` setting there."""
    for key in list(os.environ):
        if key.startswith("AIRFLOW"):
            monkeypatch.delenv(key)
    local = local_airflow.LocalAirflow(tmp_path / "state")
    env = local.environment(api_port=8080, emulator_url="http://127.0.0.1:5055")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'state' / 'airflow-home' / 'airflow.db'}?timeout=60"
    assert env["AIRFLOW__CORE__PARALLELISM"] == local_airflow.shared_settings()["AIRFLOW__CORE__PARALLELISM"]
    postgres = "postgresql+psycopg2://airflow:secret@db.example:5432/airflow"
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", postgres)
    monkeypatch.setenv("AIRFLOW__CORE__PARALLELISM", "8")
    env = local.environment(api_port=8080, emulator_url="http://127.0.0.1:5055")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == postgres
    assert env["AIRFLOW__CORE__PARALLELISM"] == "8"
    assert env["AIRFLOW_HOME"] == str(tmp_path / "state" / "airflow-home")
