"""Shared pytest fixtures. Each section belongs to one area; append new sections below."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Keep the project's packages ahead of the tests/<area>/ folders. For this rootdir conftest pytest
# puts tests/ first on sys.path, where tests/telemetry/ (no __init__.py) would import as a namespace
# package shadowing the real telemetry/ (its __init__ and package data then go missing).
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT in sys.path:
    sys.path.remove(_REPO_ROOT)
sys.path.insert(0, _REPO_ROOT)

# ---------------------------------------------------------------------------------------------
# Mosquitto (telemetry): one real broker per test session on a free loopback port.
# ---------------------------------------------------------------------------------------------

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")
MOSQUITTO_START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class MosquittoBroker:
    host: str
    port: int
    pid: int
    config_path: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def _find_mosquitto() -> str | None:
    for candidate in MOSQUITTO_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("mosquitto")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """A running Mosquitto (anonymous, no persistence) with ``.url``, ``.host``, ``.port``."""
    binary = _find_mosquitto()
    if binary is None:
        pytest.fail(
            "mosquitto is not installed (looked in "
            f"{', '.join(MOSQUITTO_CANDIDATES)} and PATH); install it with "
            "`apt-get install -y mosquitto mosquitto-clients` — broker tests need the real broker",
            pytrace=False,
        )
    host = "127.0.0.1"
    workdir = tmp_path_factory.mktemp("mosquitto")
    port = _free_port(host)
    config_path = workdir / "mosquitto.conf"
    log_path = workdir / "mosquitto.log"
    config_path.write_text(
        f"listener {port} {host}\nallow_anonymous true\npersistence false\n"
        "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n",
        encoding="utf-8",
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen([binary, "-c", str(config_path)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + MOSQUITTO_START_TIMEOUT_S
        while not _port_accepts(host, port):
            if proc.poll() is not None:
                pytest.fail(
                    f"mosquitto exited with code {proc.returncode} before listening on {host}:{port}; "
                    f"log:\n{log_path.read_text(errors='replace')}",
                    pytrace=False,
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"mosquitto did not accept connections on {host}:{port} within "
                    f"{MOSQUITTO_START_TIMEOUT_S} s; log:\n{log_path.read_text(errors='replace')}",
                    pytrace=False,
                )
            time.sleep(0.05)
        yield MosquittoBroker(host, port, proc.pid, config_path, log_path)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


# --------------------------------------------------------------------------- end of Mosquitto


# ---------------------------------------------------------------------------------------------
# Fleet telemetry and data center (issue 5): brokers with a config of the test's own that can be
# stopped and restarted on the same port (outages), and a throw-away PostgreSQL server.
# ---------------------------------------------------------------------------------------------

from collections.abc import Callable  # noqa: E402  (this section is appended; the top is not ours)


class BrokerProcess:
    """A Mosquitto started from a config the test writes; ``stop()`` / ``start()`` keep the port."""

    def __init__(self, workdir: Path, port: int, config_text: str) -> None:
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = port
        self.config_path = workdir / "mosquitto.conf"
        self.config_path.write_text(config_text, encoding="utf-8")
        self.log_path = workdir / "mosquitto.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> BrokerProcess:
        binary = _find_mosquitto()
        if binary is None:
            pytest.fail("mosquitto is not installed; `apt-get install -y mosquitto mosquitto-clients`", pytrace=False)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen([binary, "-c", str(self.config_path)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + MOSQUITTO_START_TIMEOUT_S
        while not _port_accepts(self.host, self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mosquitto did not start on {self.port}; log:\n{self.log_text()}", pytrace=False)
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[[Callable[[int, Path], str]], BrokerProcess]]:
    """``broker_factory(lambda port, workdir: config_text)`` -> a started :class:`BrokerProcess`."""
    started: list[BrokerProcess] = []

    def make(config_for: Callable[[int, Path], str]) -> BrokerProcess:
        workdir = tmp_path / f"broker{len(started)}"
        workdir.mkdir()
        port = _free_port("127.0.0.1")
        broker = BrokerProcess(workdir, port, config_for(port, workdir))
        started.append(broker)
        return broker.start()

    yield make
    for broker in started:
        broker.stop()


PG_BIN_CANDIDATES = ("/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server of our own (initdb + pg_ctl in a temp dir, trust auth on 127.0.0.1)."""
    bindir = next((d for d in PG_BIN_CANDIDATES if os.access(f"{d}/initdb", os.X_OK)), None)
    if bindir is None:
        pytest.fail("PostgreSQL is not installed; `apt-get install -y postgresql`", pytrace=False)
    import tempfile

    # not under pytest's temp root: that is 0700 and the server may run as another user
    topdir = Path(tempfile.mkdtemp(prefix="medbot-pg-"))
    topdir.chmod(0o755)
    datadir = topdir / "data"
    # initdb refuses to run as root: run the server as the packaged `postgres` user then
    prefix: list[str] = []
    if os.geteuid() == 0:
        import pwd

        pg_user = pwd.getpwnam("postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
        datadir.mkdir()
        os.chown(datadir, pg_user.pw_uid, pg_user.pw_gid)
    port = _free_port("127.0.0.1")
    subprocess.run([*prefix, f"{bindir}/initdb", "-D", str(datadir), "-A", "trust", "-U", "postgres",
                    "--no-sync"], check=True, capture_output=True)
    options = f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*prefix, f"{bindir}/pg_ctl", "-D", str(datadir), "-o", options, "-l", str(datadir / "log"),
                    "-w", "-t", "30", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, f"{bindir}/pg_ctl", "-D", str(datadir), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(topdir, ignore_errors=True)


# --------------------------------------------------------------------------- end of fleet telemetry
