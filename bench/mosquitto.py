"""Starting and stopping a Mosquitto of one's own on a loopback port: one way for the benchmarks
(`bench.common.Mosquitto`) and the test fixtures (`tests/conftest.py`), which differ only in the
config they write, where the broker's output goes and how they report a broker that will not start.
Standard library only, so the tests can import it without the benchmarks' dependencies."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")


class MosquittoDidNotStart(RuntimeError):
    """The broker exited, or did not accept connections in time (it is left as it is)."""


def find_mosquitto() -> str | None:
    """The broker binary: the distribution's paths first, then PATH; None when not installed."""
    for candidate in MOSQUITTO_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("mosquitto")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def launch(binary: str, config_path: Path, log: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """Start the broker on its config; its output goes to `log` (discarded when None)."""
    return subprocess.Popen([binary, "-c", str(config_path)], stdout=log if log is not None else subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)


def wait_until_listening(
    proc: subprocess.Popen[bytes], host: str, port: int, *, timeout_s: float, poll_s: float
) -> None:
    """Return once the port accepts a connection; `MosquittoDidNotStart` if the broker exits first
    or `timeout_s` passes (wall clock: a real process on a real socket)."""
    deadline = time.monotonic() + timeout_s
    while not port_accepts(host, port):
        if proc.poll() is not None:
            raise MosquittoDidNotStart(
                f"mosquitto exited with code {proc.returncode} before listening on {host}:{port}")
        if time.monotonic() > deadline:
            raise MosquittoDidNotStart(f"mosquitto did not accept connections on {host}:{port} within {timeout_s} s")
        time.sleep(poll_s)


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL if it has not gone within 5 s; nothing if it already exited."""
    if proc is not None and proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
