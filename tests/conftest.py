"""Shared pytest fixtures. Each section belongs to one area; append new sections below."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
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

# after the path fix, so that this is the repo's package; shared with the benchmarks
from bench import mosquitto as mosquitto_process  # noqa: E402
from bench.mosquitto import (  # noqa: E402
    MOSQUITTO_CANDIDATES,
    MosquittoDidNotStart,
    find_mosquitto,
    free_port,
)

# ---------------------------------------------------------------------------------------------
# Mosquitto (telemetry): one real broker per test session on a free loopback port.
# ---------------------------------------------------------------------------------------------

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


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """A running Mosquitto (anonymous, no persistence) with ``.url``, ``.host``, ``.port``."""
    binary = find_mosquitto()
    if binary is None:
        pytest.fail(
            "mosquitto is not installed (looked in "
            f"{', '.join(MOSQUITTO_CANDIDATES)} and PATH); install it with "
            "`apt-get install -y mosquitto mosquitto-clients` — broker tests need the real broker",
            pytrace=False,
        )
    host = "127.0.0.1"
    workdir = tmp_path_factory.mktemp("mosquitto")
    port = free_port(host)
    config_path = workdir / "mosquitto.conf"
    log_path = workdir / "mosquitto.log"
    config_path.write_text(
        f"listener {port} {host}\nallow_anonymous true\npersistence false\n"
        "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n",
        encoding="utf-8",
    )
    with log_path.open("wb") as log:
        proc = mosquitto_process.launch(binary, config_path, log)
    try:
        try:
            mosquitto_process.wait_until_listening(proc, host, port, timeout_s=MOSQUITTO_START_TIMEOUT_S, poll_s=0.05)
        except MosquittoDidNotStart as exc:
            pytest.fail(f"{exc}; log:\n{log_path.read_text(errors='replace')}", pytrace=False)
        yield MosquittoBroker(host, port, proc.pid, config_path, log_path)
    finally:
        mosquitto_process.stop(proc)


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
        binary = find_mosquitto()
        if binary is None:
            pytest.fail("mosquitto is not installed; `apt-get install -y mosquitto mosquitto-clients`", pytrace=False)
        with self.log_path.open("ab") as log:
            self._proc = mosquitto_process.launch(binary, self.config_path, log)
        try:
            mosquitto_process.wait_until_listening(self._proc, self.host, self.port,
                                                   timeout_s=MOSQUITTO_START_TIMEOUT_S, poll_s=0.02)
        except MosquittoDidNotStart as exc:
            pytest.fail(f"{exc}; log:\n{self.log_text()}", pytrace=False)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a frozen broker would not act on the stop
        mosquitto_process.stop(proc)

    def freeze(self) -> None:
        """SIGSTOP: the broker answers nothing (no PUBACK) but every connection stays open."""
        assert self._proc is not None, "the broker is not running"
        self._proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._proc is not None, "the broker is not running"
        self._proc.send_signal(signal.SIGCONT)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[[Callable[[int, Path], str]], BrokerProcess]]:
    """``broker_factory(lambda port, workdir: config_text)`` -> a started :class:`BrokerProcess`."""
    started: list[BrokerProcess] = []

    def make(config_for: Callable[[int, Path], str]) -> BrokerProcess:
        workdir = tmp_path / f"broker{len(started)}"
        workdir.mkdir()
        port = free_port("127.0.0.1")
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
    port = free_port("127.0.0.1")
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
