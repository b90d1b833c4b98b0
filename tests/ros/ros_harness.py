"""Test side of the ROS 2 tests: an isolated ROS environment, robot node processes, a probe node.

Every wait is bounded; the test process may sleep (it waits on another process, not robot logic).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
DISCOVERY_TIMEOUT_S = 5.0
SHM = Path("/dev/shm")


def isolate_ros_environment(log_dir: Path) -> dict[str, str]:
    """Own domain (from the pid), localhost discovery, logs in tmp; set here and for children."""
    env = {
        "ROS_DOMAIN_ID": str(1 + os.getpid() % 100),  # 1..100: valid on Linux's port ranges
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_LOG_DIR": str(log_dir),
        "AMENT_PREFIX_PATH": sys.prefix,
        "RCUTILS_COLORIZED_OUTPUT": "0",
    }
    os.environ.update(env)
    return env


def wait_for(predicate: Callable[[], T | None], timeout_s: float, what: str, *, period_s: float = 0.02) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(period_s)


def write_params(path: Path, **params: Any) -> Path:
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}), encoding="utf-8")
    return path


class RobotProcess:
    """`medbot-robot-node` in its own process (via this venv's python, as ROS2.md requires)."""

    def __init__(self, params_file: Path, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "robots.ros.main", "--ros-args", "--params-file", str(params_file)],
            stdout=self._log, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True,
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout_s: float = 5.0) -> int | None:
        """SIGINT (the node shuts down cleanly), SIGKILL if it does not within the timeout."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        self._log.close()
        return self.proc.returncode


def remove_stale_fastdds_shm(since_s: float) -> list[str]:
    """Fast DDS shared-memory files left by killed processes: created during this run and no longer
    mapped or open by any process (files of other live DDS users on the machine are kept)."""
    candidates = [p for p in SHM.glob("fastdds_*") if _mtime(p) >= since_s]
    if not candidates:
        return []
    in_use = _paths_in_use()
    removed = []
    for path in candidates:
        if str(path) not in in_use and path.name not in in_use:
            try:
                path.unlink()
                removed.append(path.name)
            except OSError:
                pass
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _paths_in_use() -> set[str]:
    used: set[str] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for line in (proc / "maps").read_text().splitlines():
                if "/dev/shm/" in line:
                    used.add(line.split(None, 5)[-1])
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("/dev/shm/"):
                    used.add(target)
        except OSError:
            continue
    return used


class Probe:
    """The test's own node, spun by an executor in a background thread."""

    def __init__(self, name: str) -> None:
        import rclpy
        from rclpy.executors import MultiThreadedExecutor

        self.node = rclpy.create_node(name)
        self._executor = MultiThreadedExecutor(num_threads=2)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._thread.start()
        self._lock = threading.Lock()
        self.latest: dict[str, Any] = {}
        self.history: dict[str, list[Any]] = {}

    def subscribe(self, msg_type: Any, topic: str, qos: Any = 10) -> None:
        def on_message(msg: Any) -> None:
            with self._lock:
                self.latest[topic] = msg
                self.history.setdefault(topic, []).append(msg)

        self.node.create_subscription(msg_type, topic, on_message, qos)

    def message(self, topic: str, timeout_s: float = DISCOVERY_TIMEOUT_S,
                where: Callable[[Any], bool] = lambda _m: True) -> Any:
        def found() -> Any:
            with self._lock:
                return next((m for m in reversed(self.history.get(topic, [])) if where(m)), None)
        return wait_for(found, timeout_s, f"a message on {topic}")

    def clear(self, topic: str) -> None:
        with self._lock:
            self.history.pop(topic, None)
            self.latest.pop(topic, None)

    def call(self, srv_type: Any, name: str, request: Any, timeout_s: float = DISCOVERY_TIMEOUT_S) -> Any:
        client: Any = self.node.create_client(srv_type, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout_s):
                raise AssertionError(f"service {name} not available within {timeout_s} s")
            future = client.call_async(request)
            wait_for(future.done, timeout_s, f"the answer of {name}")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self._executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        self._thread.join(2.0)


class SimClockPublisher:
    """Drives `/clock` faster than real time (`use_sim_time` robots follow it)."""

    def __init__(self, probe: Probe, start_s: float, *, step_s: float = 0.05, rate_hz: float = 160.0) -> None:
        from rosgraph_msgs.msg import Clock

        self.now_s = start_s
        self._step_s, self._period_s = step_s, 1.0 / rate_hz
        self._pub = probe.node.create_publisher(Clock, "/clock", 10)
        self._msg = Clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from robots.ros.convert import ros_time

        next_wall = time.monotonic()
        while not self._stop.is_set():
            self.now_s += self._step_s
            self._pub.publish(self._msg(clock=ros_time(self.now_s)))
            next_wall += self._period_s
            time.sleep(max(0.0, next_wall - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2.0)


@contextmanager
def ros_context() -> Iterator[None]:
    import rclpy

    rclpy.init()
    try:
        yield
    finally:
        rclpy.try_shutdown()
