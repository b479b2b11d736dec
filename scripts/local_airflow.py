"""A real Airflow 3 deployment on this machine, without Docker: ``bash scripts/airflow.sh up|down|status``.

``up`` starts, each as its own process (and session), what ``docker-compose.yaml`` runs in
containers::

    smpipe emulator --scenario dags_examples/emulator_scenario.json   # aws_default points here
    airflow api-server      # UI, REST API, and the Execution API the task processes report to
    airflow scheduler       # with the LocalExecutor: task processes are its children
    airflow dag-processor   # parses dags_examples/ into the metadata DB
    airflow triggerer       # runs the deferred tasks' triggers

after ``airflow db migrate``, on an SQLite file in the state directory (``.airflow-local/`` by
default) unless ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` is set, waits until every component reports
healthy, and prints what runs where and the login. ``down`` stops exactly what ``up`` started;
``status`` shows it.

The Airflow settings shared with docker-compose.yaml and the test harness come from one file,
``deploy/airflow.env``. This module also holds the process-management code the harness
``tests/deployment/deployment.py`` uses (spawning components in their own sessions, ``db migrate``,
health, stopping a component's whole session), so the command and the tests run Airflow the same way.
It is development tooling: nothing in the ``airflow_provider_smpipe`` package imports it.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
import psutil

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The Airflow settings every deployment of this project shares (see the comments in it).
SHARED_SETTINGS_FILE = REPO_ROOT / "deploy" / "airflow.env"
EXAMPLE_DAGS = REPO_ROOT / "dags_examples"
#: What the emulated steps "produce" for the example DAGs; docker-compose.yaml mounts this file
#: and starts the emulator with ``--scenario`` pointing at it.
EXAMPLE_SCENARIO = EXAMPLE_DAGS / "emulator_scenario.json"

DEFAULT_STATE_DIR = REPO_ROOT / ".airflow-local"
DEFAULT_API_PORT = 8080
DEFAULT_EMULATOR_PORT = 5055
STATE_DIR_VARIABLE = "SMPIPE_AIRFLOW_STATE_DIR"
API_PORT_VARIABLE = "SMPIPE_AIRFLOW_PORT"
EMULATOR_PORT_VARIABLE = "SMPIPE_EMULATOR_PORT"
#: Loopback only: SimpleAuthManager is a development auth manager, not for the network.
HOST = "127.0.0.1"

#: The long-running Airflow components, in the order they are started.
COMPONENTS: tuple[str, ...] = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Health report key of each component in ``GET /api/v2/monitor/health`` (the API server answers
#: the request itself, so it has none).
HEALTH_KEYS: dict[str, str] = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}
EMULATOR = "emulator"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
PASSWORDS_FILE_NAME = "simple_auth_manager_passwords.json.generated"
#: The settings ``up`` reports (and keeps in deployment.json for ``status`` and a repeated ``up``).
SUMMARY_SETTINGS: tuple[str, ...] = (
    "AIRFLOW_HOME",
    "AIRFLOW__CORE__AUTH_MANAGER",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
    "AIRFLOW__CORE__PARALLELISM",
    "AIRFLOW__CORE__DAGS_FOLDER",
)

#: A process started less than this before a recorded start time is not the recorded one
#: (start times are read from /proc with clock-tick resolution).
START_TIME_TOLERANCE = 0.05


class DeploymentError(RuntimeError):
    """The deployment did not start, a component died, or a wait timed out (the message says
    which, with the tail of the component logs)."""


# -- small helpers -----------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now.

    The port is released before the API server binds it, so another process could take it in
    between; on a test machine that window is a few seconds and has not been seen to matter
    (the alternative, port 0, is not supported by ``airflow api-server``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on ``host:port`` (``None`` if it could).

    Binds the way the servers do (``SO_REUSEADDR``, so a port in TIME_WAIT after a ``down`` counts
    as free), which fails when anything listens on that port on this address or on 0.0.0.0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return []


def tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    return "\n".join(_lines(path)[-lines:])


def poll(predicate: Callable[[], T | None], *, timeout: float, interval: float, what: str, check: Callable[[], None] | None = None) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something other than ``None``
    or ``False`` (returned). ``check`` runs before each attempt and may raise (e.g. a component
    died: no point waiting for the deadline). :class:`DeploymentError` at ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        if check is not None:
            check()
        try:
            value = predicate()
            if value is not None and value is not False:
                return value
            last_error = None
        except httpx.HTTPError as exc:  # the API server restarting a worker, a refused connection...
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            raise DeploymentError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comment lines and blank lines skipped), read the way Docker Compose
    reads an ``env_file``. Only the subset both read alike is accepted: no quotes, no ``export``."""
    settings: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"{path}:{number}: expected KEY=VALUE, not {raw!r}")
        if value[:1] in ("'", '"') or " #" in value:
            raise ValueError(f"{path}:{number}: {key}: quotes and inline comments are read differently by Compose; write the value bare")
        settings[key] = value
    return settings


def shared_settings() -> dict[str, str]:
    """The settings in ``deploy/airflow.env``."""
    return read_env_file(SHARED_SETTINGS_FILE)


def without_airflow_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without any Airflow or pytest variable: a test session configures Airflow for
    in-process tests (unit test mode, its own AIRFLOW_HOME and DB), none of which may leak into a
    deployment, and Airflow changes some behaviour when it sees pytest's variables."""
    return {k: v for k, v in environ.items() if not k.startswith(("AIRFLOW", "PYTEST_", "_AIRFLOW"))}


def new_secrets() -> dict[str, str]:
    """Secrets every component of one deployment must share.

    The scheduler signs the tokens task processes present to the Execution API, and the API server
    verifies them ("Signature verification failed" otherwise). Left unset, they are generated into
    airflow.cfg by the first process that loads the configuration (db migrate) and read from there
    by the others, which also works; setting them makes the sharing explicit instead of depending
    on that order."""
    from cryptography.fernet import Fernet  # an Airflow dependency: always installed with it

    return {
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
    }


def sqlite_url(database: Path) -> str:
    """The SQLite URL of ``database``, waiting up to 60 s for a lock (Python's default is 5 s).

    Four processes write one SQLite file. With 5 s, a busy 2-CPU machine got ``database is locked``
    while a backfill was created (``POST /api/v2/backfills`` answered 503); Airflow then deletes the
    runs it had already committed, and a scheduler that had loaded one of them died with
    ``ObjectDeletedError``. SQLAlchemy passes ``timeout`` to both the sync (pysqlite) and the async
    (aiosqlite) driver.
    """
    return f"sqlite:///{database}?timeout=60"


def process_settings(*, home: Path, port: int, base_url: str) -> dict[str, str]:
    """What ties the processes of one deployment on this machine together (not shared with
    docker-compose.yaml, whose containers have their own host names and files)."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base_url,
        # Where task processes (LocalExecutor children of the scheduler) report their state.
        # Derived from [api] base_url when unset (and from http://localhost:8080 when that is
        # unset too); explicit and on 127.0.0.1, since "localhost" may resolve to ::1 first.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{port}/execution/",
        # Deterministic, readable logs: the components write to files, not to a terminal.
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        "NO_COLOR": "1",
        # Clients in the components talk to loopback only (API server, emulator): never via a proxy.
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    }


def aws_settings(endpoint_url: str) -> dict[str, str]:
    """``aws_default`` pointing at the emulator (``endpoint_url`` in the extra applies to every AWS
    service), and fake credentials: every component calls AWS (the task processes and the
    triggerer), and none may reach the real one or probe EC2 instance metadata for credentials."""
    return {
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
            {"conn_type": "aws", "login": "testing", "password": "testing", "extra": {"region_name": "us-east-1", "endpoint_url": endpoint_url}}
        ),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _venv_script(name: str, module: str) -> list[str]:
    """A console script of the interpreter running this code (the project's venv), or
    ``python -m`` where the script is not next to the interpreter."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.is_file() else [sys.executable, "-m", module]


def airflow_command() -> list[str]:
    return _venv_script("airflow", "airflow")


def emulator_args(port: int, scenario: Path = EXAMPLE_SCENARIO) -> list[str]:
    """docker-compose.yaml's ``emulator`` command with this machine's host, port and scenario path."""
    return [*_venv_script("smpipe", "airflow_provider_smpipe.cli"), "emulator", "--host", HOST, "--port", str(port), "--scenario", str(scenario)]


def component_args(name: str) -> list[str]:
    args = [*airflow_command(), name]
    if name in ("scheduler", "triggerer"):
        # Their log servers (ports 8793/8794) are for reading task logs from another machine;
        # here the API server reads the files directly, and fixed ports would collide between
        # two deployments on one machine.
        args.append("--skip-serve-logs")
    return args


def migrate(env: Mapping[str, str], *, cwd: Path, log: Path, timeout: float) -> None:
    """``airflow db migrate`` (its output in ``log``); on SQLite, switch the DB to WAL."""
    with log.open("wb") as out:
        try:
            result = subprocess.run(
                [*airflow_command(), "db", "migrate"], env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, start_new_session=True
            )
        except subprocess.TimeoutExpired:
            raise DeploymentError(f"airflow db migrate took more than {timeout:.0f} s\n--- {log} (tail) ---\n{tail(log)}") from None
    if result.returncode != 0:
        raise DeploymentError(f"airflow db migrate exited {result.returncode}\n--- {log} (tail) ---\n{tail(log)}")
    url = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    if url.startswith("sqlite:///"):
        # Write-ahead logging: readers no longer block the writer. Four processes share this file;
        # in the default rollback-journal mode a long read (the API server listing task
        # instances) makes the others' commits wait, and a wait beyond SQLite's 5 s busy timeout
        # is a "database is locked" error. (Not seen without it so far: a cheap precaution.) The
        # mode is stored in the DB file itself.
        with contextlib.closing(sqlite3.connect(url[len("sqlite:///") :].split("?", 1)[0])) as db:  # the file, not ?timeout=
            db.execute("PRAGMA journal_mode=WAL")


# -- processes -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessRecord:
    """A started component: enough to find it again, and only it, from another process later.

    A PID alone is not enough (PIDs are recycled); a PID plus the process's start time is. The
    command line is kept for people reading the PID file, not compared: Airflow's processes
    rewrite it (``setproctitle``, which also blanks ``/proc/<pid>/environ``)."""

    name: str
    pid: int
    #: Seconds since the epoch, as psutil reports it; ``inf`` when the process was gone before it
    #: could be read (then nothing is ever taken for it).
    create_time: float
    cmdline: list[str]
    log: str

    @classmethod
    def of(cls, name: str, process: subprocess.Popen[bytes], log: Path) -> ProcessRecord:
        try:
            create_time = psutil.Process(process.pid).create_time()
        except psutil.Error:
            create_time = float("inf")
        return cls(name=name, pid=process.pid, create_time=create_time, cmdline=[str(a) for a in process.args], log=str(log))  # type: ignore[union-attr]

    @classmethod
    def load(cls, path: Path) -> ProcessRecord:
        data = json.loads(path.read_text())
        return cls(name=str(data["name"]), pid=int(data["pid"]), create_time=float(data["create_time"]), cmdline=[str(a) for a in data["cmdline"]], log=str(data["log"]))

    def save(self, path: Path) -> None:
        _write_atomically(path, json.dumps(asdict(self), indent=2) + "\n")

    def _same(self, process: psutil.Process) -> bool:
        return abs(process.create_time() - self.create_time) <= START_TIME_TOLERANCE

    def leader(self) -> psutil.Process | None:
        """The recorded process, if it still runs (a zombie does not count)."""
        try:
            process = psutil.Process(self.pid)
            if self._same(process) and process.status() != psutil.STATUS_ZOMBIE:
                return process
        except psutil.Error:
            pass
        return None

    def session(self) -> list[psutil.Process]:
        """Every live process of the session the recorded process leads, itself included.

        Each component is started in a new session, and Airflow's processes never leave theirs
        (task processes get their own process *group*, in the scheduler's session), so this is
        the component with everything it started, even after its leader died. A session id
        cannot be handed out again while any process of the session lives, so the members of
        session ``pid`` are ours unless ``pid`` now belongs to another process (checked)."""
        try:
            current = psutil.Process(self.pid)
            if not self._same(current):
                return []  # the PID was recycled: whatever runs in that session is not ours
        except psutil.NoSuchProcess:
            pass  # the leader is gone; its session may live on
        except psutil.Error:
            return []
        members: list[psutil.Process] = []
        for pid in psutil.pids():
            try:
                if os.getsid(pid) != self.pid:
                    continue
                process = psutil.Process(pid)
                if process.status() == psutil.STATUS_ZOMBIE or process.create_time() < self.create_time - START_TIME_TOLERANCE:
                    continue
                members.append(process)
            except (OSError, psutil.Error):
                continue  # gone meanwhile, or not ours to look at
        return members


def spawn(name: str, args: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    """Start ``args`` in a new session (and process group), output to ``log`` (overwritten).

    The new session keeps the component away from the terminal's signals (Ctrl-C, hang-up) and
    lets :func:`stop_processes` find everything it started."""
    with log.open("wb") as out:
        process = subprocess.Popen(list(args), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return process, ProcessRecord.of(name, process, log)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the whole group is already gone


def stop_processes(records: Sequence[ProcessRecord], *, grace: float = 15.0, reap: Callable[[], None] | None = None) -> list[psutil.Process]:
    """Stop the recorded components and everything they started; what survived (normally nothing).

    SIGTERM to the process group of each component whose leader is still the recorded process
    (it shuts down its own children: executor workers, task processes, API server workers), and
    to each leftover of a leader that already died; then wait up to ``grace`` seconds for their
    sessions to empty; then SIGKILL whatever is left, task processes in their own groups included.
    ``reap`` is called while waiting, for a caller whose children the components are (zombies)."""

    def remaining() -> list[psutil.Process]:
        if reap is not None:
            reap()
        return [process for record in records for process in record.session()]

    for record in records:
        if record.leader() is not None:
            _signal_group(record.pid, signal.SIGTERM)
        else:
            for process in record.session():
                with contextlib.suppress(psutil.Error):
                    process.terminate()  # psutil refuses if the PID was recycled meanwhile
    with contextlib.suppress(DeploymentError):
        poll(lambda: not remaining(), timeout=grace, interval=0.2, what="the components to exit")
    for process in remaining():
        with contextlib.suppress(psutil.Error):
            print(f"still running {grace:.0f} s after SIGTERM, sending SIGKILL: pid {process.pid} ({' '.join(process.cmdline())[:120]})", file=sys.stderr, flush=True)
            process.kill()
    with contextlib.suppress(DeploymentError):
        poll(lambda: not remaining(), timeout=5.0, interval=0.1, what="the killed processes to exit")
    return remaining()


# -- health ----------------------------------------------------------------------------------------------


def health_report(http: httpx.Client) -> dict[str, Any] | None:
    """``GET /api/v2/monitor/health`` (no login needed), or ``None`` if it does not answer 200."""
    response = http.get("/api/v2/monitor/health")
    return dict(response.json()) if response.status_code == 200 else None


def unhealthy(report: Mapping[str, Any] | None) -> list[str]:
    """The components (and ``metadatabase``) the report does not call healthy; all of them
    when there is no report."""
    if report is None:
        return ["api-server"]
    bad = [] if report.get("metadatabase", {}).get("status") == "healthy" else ["metadatabase"]
    return bad + [name for name, key in HEALTH_KEYS.items() if report.get(key, {}).get("status") != "healthy"]


def emulator_answers(url: str) -> bool:
    try:
        with httpx.Client(timeout=5.0, trust_env=False) as http:
            return http.get(f"{url}/_smpipe/health").status_code == 200
    except httpx.HTTPError:
        return False


def _write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(temporary, path)


def _reap(children: Iterator[subprocess.Popen[bytes]]) -> None:
    """Collect the exit status of children that exited, so they do not linger as zombies."""
    for child in children:
        child.poll()


def _masked(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    return url


# -- the command -------------------------------------------------------------------------------------


class LocalAirflow:
    """``up``/``down``/``status`` of the deployment kept in ``state_dir``::

        <state_dir>/airflow-home/   AIRFLOW_HOME: airflow.db (SQLite), task logs, generated passwords
        <state_dir>/logs/           one log per component, and db-migrate.log
        <state_dir>/run/            one PID file per running component, deployment.json (ports, URLs)
        <state_dir>/secrets.json    Fernet key and JWT secret, kept so the DB stays readable
    """

    def __init__(self, state_dir: Path, *, out: Callable[[str], None] = print) -> None:
        self.state_dir = state_dir.resolve()
        self.home = self.state_dir / "airflow-home"
        self.logs = self.state_dir / "logs"
        self.run = self.state_dir / "run"
        self.out = out

    # -- state files --

    def _create_state_dir(self) -> None:
        """The state directory, which git ignores wherever it is (as a venv does): the DB, logs,
        secrets and generated passwords must never be committed."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ignore = self.state_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# Created by scripts/airflow.sh: local Airflow state, never committed.\n*\n")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One ``up``/``down`` at a time per state directory."""
        self._create_state_dir()
        with (self.state_dir / ".lock").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise DeploymentError(f"another `scripts/airflow.sh` is working on {self.state_dir}; try again when it is done") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _pid_file(self, name: str) -> Path:
        return self.run / f"{name}.pid.json"

    def records(self) -> list[ProcessRecord]:
        found = []
        for name in (EMULATOR, *COMPONENTS):
            path = self._pid_file(name)
            if path.is_file():
                with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                    found.append(ProcessRecord.load(path))
        return found

    def deployment(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.run / "deployment.json").read_text()))
        except (OSError, ValueError):
            return {}

    def _forget(self) -> None:
        for name in (EMULATOR, *COMPONENTS):
            self._pid_file(name).unlink(missing_ok=True)
        (self.run / "deployment.json").unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.run.rmdir()

    def _secrets(self) -> dict[str, str]:
        """Generated on the first ``up``, then reused: connections and variables saved through the
        UI are encrypted with the Fernet key, so a new key would make them unreadable."""
        path = self.state_dir / "secrets.json"
        if path.is_file():
            return {str(k): str(v) for k, v in json.loads(path.read_text()).items()}
        values = new_secrets()
        self._create_state_dir()
        _write_atomically(path, json.dumps(values, indent=2) + "\n", mode=0o600)
        return values

    # -- configuration --

    def environment(self, *, api_port: int, emulator_url: str) -> dict[str, str]:
        """The environment of every component: from lowest to highest precedence, the shared
        settings (deploy/airflow.env), this command's defaults (SQLite in the state directory,
        dags_examples/, aws_default on the emulator), the caller's environment (so any
        ``AIRFLOW__...`` variable set there wins, e.g. a Postgres ``SQL_ALCHEMY_CONN``), and what
        ties this deployment together (its home, ports and URLs)."""
        defaults = {
            **shared_settings(),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlite_url(self.home / "airflow.db"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
            **self._secrets(),
            **aws_settings(emulator_url),
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        for key, value in defaults.items():
            env.setdefault(key, value)
        env.update(process_settings(home=self.home, port=api_port, base_url=f"http://localhost:{api_port}"))
        env[STATE_DIR_VARIABLE] = str(self.state_dir)
        return env

    # -- up --

    def up(self, *, api_port: int, emulator_port: int, timeout: float) -> int:
        with self._locked():
            records = self.records()
            alive = [record for record in records if record.leader() is not None]
            if alive:
                if len(alive) == len(records) == len(COMPONENTS) + 1:
                    self.out(f"Already running (state directory {self.state_dir}); nothing to do.")
                    self._summary()
                    return 0
                self.out("Partly running: " + ", ".join(r.name for r in alive) + "; stop it with `bash scripts/airflow.sh down` first.")
                return 1
            if records:  # a previous run whose processes died: clear any leftovers, then start afresh
                stop_processes(records)
                self._forget()
            if api_port == emulator_port:
                self.out(f"error: --port and --emulator-port are both {api_port}")
                return 2
            for what, port, option in (("the Airflow API server", api_port, f"--port or {API_PORT_VARIABLE}"), ("the emulator", emulator_port, f"--emulator-port or {EMULATOR_PORT_VARIABLE}")):
                problem = port_problem(HOST, port)
                if problem:
                    self.out(f"error: port {port} on {HOST} is taken ({problem}); {what} needs it. Choose another with {option}.")
                    return 2
            return self._start(api_port=api_port, emulator_port=emulator_port, timeout=timeout)

    def _start(self, *, api_port: int, emulator_port: int, timeout: float) -> int:
        for folder in (self.home, self.logs, self.run):
            folder.mkdir(parents=True, exist_ok=True)
        emulator_url = f"http://{HOST}:{emulator_port}"
        api_url = f"http://{HOST}:{api_port}"
        env = self.environment(api_port=api_port, emulator_url=emulator_url)
        started: dict[str, tuple[subprocess.Popen[bytes], ProcessRecord]] = {}
        info = {
            "api_port": api_port,
            "emulator_port": emulator_port,
            "ui": f"http://localhost:{api_port}",
            "api": api_url,
            "emulator": emulator_url,
            "database": _masked(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]),
            # What the summary shows, as this run was configured (not as the environment of a later
            # `up` that only reports "already running" would say).
            "settings": {key: env[key] for key in SUMMARY_SETTINGS if key in env},
        }
        _write_atomically(self.run / "deployment.json", json.dumps(info, indent=2) + "\n")

        # The previous run's logs stay readable next to this run's (a failure report quotes only
        # this run's).
        for log in self.logs.glob("*.log"):
            log.replace(log.with_suffix(".log.previous"))

        def launch(name: str, args: Sequence[str]) -> None:
            process, record = spawn(name, args, env=env, cwd=self.state_dir, log=self.logs / f"{name}.log")
            started[name] = (process, record)
            record.save(self._pid_file(name))

        def check_alive() -> None:
            for name, (process, record) in started.items():
                code = process.poll()
                if code is not None:
                    raise DeploymentError(f"{name} exited with code {code}\n--- {record.log} (tail) ---\n{tail(Path(record.log))}")

        deadline = time.monotonic() + timeout
        try:
            self.out(f"Starting the emulator on {emulator_url}, then `airflow db migrate` (logs in {self.logs}) ...")
            launch(EMULATOR, emulator_args(emulator_port))  # starts while the DB migrates
            migrate(env, cwd=self.state_dir, log=self.logs / "db-migrate.log", timeout=max(10.0, deadline - time.monotonic()))
            check_alive()
            self.out("Starting " + ", ".join(COMPONENTS) + " ...")
            for name in COMPONENTS:
                launch(name, component_args(name))
            self._wait_until_up(env, api_url=api_url, emulator_url=emulator_url, deadline=deadline, check_alive=check_alive)
        except (DeploymentError, KeyboardInterrupt) as exc:
            interrupted = isinstance(exc, KeyboardInterrupt)
            self.out("Interrupted." if interrupted else f"error: {exc}")
            self.out("Stopping what was started ...")
            stop_processes([record for _, record in started.values()], reap=lambda: _reap(process for process, _ in started.values()))
            self._forget()
            return 130 if interrupted else 1
        self._summary()
        return 0

    def _wait_until_up(self, env: Mapping[str, str], *, api_url: str, emulator_url: str, deadline: float, check_alive: Callable[[], None]) -> None:
        """Until the emulator answers, every Airflow component reports healthy, and the API server
        has written the login's password; a timeout names what did not come up, with its log."""
        last: dict[str, Any] = {"report": None}
        with httpx.Client(base_url=api_url, timeout=10.0, trust_env=False) as http:

            def up_and_healthy() -> bool:
                if not emulator_answers(emulator_url):
                    last["waiting"] = [EMULATOR]
                    return False
                last["waiting"] = ["api-server"]
                report = health_report(http)
                last["report"] = report
                waiting = unhealthy(report)
                if not waiting and self._login(env).get("missing"):
                    waiting = ["api-server"]  # healthy, but its auth manager has not written the passwords yet
                last["waiting"] = waiting
                return not waiting

            try:
                poll(up_and_healthy, timeout=max(1.0, deadline - time.monotonic()), interval=0.5, what="every component to be healthy", check=check_alive)
            except DeploymentError as exc:
                if "timed out" not in str(exc):
                    raise
                parts = [f"{exc}; not ready: {', '.join(last['waiting'])} (health report: {json.dumps(last['report'])})"]
                for name in last["waiting"]:
                    log = self.logs / f"{'api-server' if name == 'metadatabase' else name}.log"
                    parts.append(f"--- {log} (tail) ---\n{tail(log) or '(nothing logged yet)'}")
                raise DeploymentError("\n".join(parts)) from None

    def _login(self, env: Mapping[str, str]) -> dict[str, Any]:
        """Who can log in: ``{"users": [(name, password)]}``, ``{"all_admins": True}``, ``{"other":
        auth manager}``, with ``"missing"`` while the API server has not generated a password."""
        manager = env.get("AIRFLOW__CORE__AUTH_MANAGER", SIMPLE_AUTH_MANAGER)
        if manager != SIMPLE_AUTH_MANAGER:
            return {"other": manager}
        if env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "").strip().lower() in ("true", "1", "t"):
            return {"all_admins": True}
        # As SimpleAuthManager reads them: "user:role[:teams]" separated by commas, the passwords
        # in a JSON file it writes on its first start (get_generated_password_file()).
        names = [item.strip().split(":")[0] for item in env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin").split(",") if item.strip()]
        path = Path(env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE") or Path(env["AIRFLOW_HOME"]) / PASSWORDS_FILE_NAME)
        try:
            passwords = json.loads(path.read_text() or "{}")
        except (OSError, ValueError):
            passwords = {}
        missing = [name for name in names if name not in passwords]
        return {"users": [(name, passwords.get(name)) for name in names], "file": str(path), "missing": missing}

    def _summary(self) -> None:
        info = self.deployment()
        records = {record.name: record for record in self.records()}
        env: dict[str, str] = {"AIRFLOW_HOME": str(self.home), **info.get("settings", {})}

        def pid(name: str) -> int | str:
            return records[name].pid if name in records else "?"

        login = self._login(env)
        lines = [
            f"Airflow is up (state directory {self.state_dir}).",
            f"  UI and REST API   {info.get('ui')}   (api-server, pid {pid('api-server')})",
        ]
        if "users" in login:
            for name, password in login["users"]:
                lines.append(f"  login:            {name} / {password}")
            lines.append(f"                    (SimpleAuthManager; passwords in {login['file']})")
        elif "all_admins" in login:
            lines.append("  login:            none needed (SIMPLE_AUTH_MANAGER_ALL_ADMINS: everyone is admin)")
        else:
            lines.append(f"  login:            as {login['other']} defines")
        lines += [
            f"  scheduler         pid {pid('scheduler')} (LocalExecutor, parallelism {env.get('AIRFLOW__CORE__PARALLELISM')})",
            f"  dag-processor     pid {pid('dag-processor')}, DAGs folder {env.get('AIRFLOW__CORE__DAGS_FOLDER')}",
            f"  triggerer         pid {pid('triggerer')}",
            f"  emulator          {info.get('emulator')}   (pid {pid(EMULATOR)}; aws_default points here; scenario {EXAMPLE_SCENARIO.relative_to(REPO_ROOT)})",
            f"  metadata DB       {info.get('database')}",
            f"  logs              {self.logs}/<component>.log, task logs in {self.home / 'logs'}",
            "New DAGs start paused: unpause them in the UI. Stop everything with: bash scripts/airflow.sh down",
        ]
        for line in lines:
            self.out(line)

    # -- down --

    def down(self, *, grace: float) -> int:
        with self._locked():
            records = self.records()
            if not records:
                self.out(f"Not running (state directory {self.state_dir}); nothing to stop.")
                self._forget()
                return 0
            alive = [record.name for record in records if record.leader() is not None]
            self.out(f"Stopping {', '.join(alive) if alive else 'the leftovers of a previous run'} ...")
            survivors = stop_processes(records, grace=grace)
            if survivors:
                self.out("error: still running after SIGKILL: " + ", ".join(f"pid {p.pid}" for p in survivors))
                return 1
            self._forget()
            self.out(f"Stopped. The metadata DB, logs and passwords stay in {self.state_dir} (delete it to start afresh).")
            return 0

    # -- status --

    def status(self) -> int:
        records = {record.name: record for record in self.records()}
        if not records:
            self.out(f"Not running (state directory {self.state_dir}).")
            return 3
        info = self.deployment()
        report: dict[str, Any] | None = None
        api = records.get("api-server")
        if api is not None and api.leader() is not None and info.get("api"):
            with contextlib.suppress(httpx.HTTPError), httpx.Client(base_url=str(info["api"]), timeout=10.0, trust_env=False) as http:
                report = health_report(http)
        sick = unhealthy(report)
        everything_fine = True
        self.out(f"State directory {self.state_dir}")
        for name in (EMULATOR, *COMPONENTS):
            record = records.get(name)
            running = record is not None and record.leader() is not None
            if not running:
                health = ""
            elif name == EMULATOR:
                health = "healthy" if emulator_answers(str(info.get("emulator"))) else "not answering"
            elif name == "api-server":
                health = "healthy" if report is not None else "not answering"
            else:
                health = "unknown (API server not answering)" if report is None else ("healthy" if name not in sick else "unhealthy")
            everything_fine = everything_fine and running and health == "healthy"
            where = {"api-server": info.get("ui"), EMULATOR: info.get("emulator")}.get(name) or ""
            state = f"running  pid {record.pid}" if running and record else "stopped"
            self.out(f"  {name:<14} {state:<20} {health:<12} {where}".rstrip())
        return 0 if everything_fine else 1


def _port(value: str | None, default: int, what: str) -> int:
    if value in (None, ""):
        return default
    try:
        port = int(value)  # type: ignore[arg-type]
    except ValueError:
        raise SystemExit(f"error: {what} must be a port number, not {value!r}") from None
    if not 0 < port < 65536:
        raise SystemExit(f"error: {what} must be between 1 and 65535, not {port}")
    return port


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bash scripts/airflow.sh", description="A real Airflow 3 deployment (api-server, scheduler, dag-processor, triggerer) and the emulator, on this machine.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", help=f"where the DB, logs and PID files live (default: ${STATE_DIR_VARIABLE} or {DEFAULT_STATE_DIR.relative_to(REPO_ROOT)}/ in the repository)")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", parents=[common], help="start everything and wait until it is healthy")
    up.add_argument("--port", help=f"Airflow UI/API port (default: ${API_PORT_VARIABLE} or {DEFAULT_API_PORT})")
    up.add_argument("--emulator-port", help=f"emulator port (default: ${EMULATOR_PORT_VARIABLE} or {DEFAULT_EMULATOR_PORT})")
    up.add_argument("--timeout", type=float, default=300.0, help="seconds for db migrate plus every component to be healthy (default 300)")
    down = commands.add_parser("down", parents=[common], help="stop what `up` started")
    down.add_argument("--grace", type=float, default=15.0, help="seconds between SIGTERM and SIGKILL (default 15)")
    commands.add_parser("status", parents=[common], help="show each component and its health")
    args = parser.parse_args(argv)

    state_dir = Path(args.state_dir or os.environ.get(STATE_DIR_VARIABLE) or DEFAULT_STATE_DIR).expanduser()
    local = LocalAirflow(state_dir, out=lambda line: print(line, flush=True))
    try:
        if args.command == "up":
            api_port = _port(args.port or os.environ.get(API_PORT_VARIABLE), DEFAULT_API_PORT, "the API server port")
            emulator_port = _port(args.emulator_port or os.environ.get(EMULATOR_PORT_VARIABLE), DEFAULT_EMULATOR_PORT, "the emulator port")
            return local.up(api_port=api_port, emulator_port=emulator_port, timeout=args.timeout)
        if args.command == "down":
            return local.down(grace=args.grace)
        return local.status()
    except DeploymentError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
