"""What every benchmark shares: a result row, a Mosquitto of its own, percentiles, the table."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import mosquitto
from bench.mosquitto import find_mosquitto, free_port


@dataclass
class Result:
    """One figure: ``value`` next to the raw ``baseline`` measured in the same run.

    ``ratio`` is value / baseline (or as the benchmark defines it); ``target`` says what the issue
    asks, ``met`` whether this run reached it. ``detail`` holds the secondary numbers."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    target: str = ""
    met: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "unit": self.unit, "baseline": self.baseline,
                "baseline_label": self.baseline_label, "ratio": self.ratio, "target": self.target,
                "met": self.met, "detail": self.detail}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[k]


def _status_mb(field_name: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident set. VmHWM, not ru_maxrss: Linux keeps ru_maxrss across
    fork + exec, so a subprocess would report its (bigger) parent's peak."""
    hwm = _status_mb("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb() -> float:
    return _status_mb("VmRSS") or 0.0


class Mosquitto:
    """A Mosquitto of the benchmark's own on a free loopback port; ``stop()``/``start()`` keep the port."""

    def __init__(self, extra_config: str = "") -> None:
        binary = find_mosquitto()
        if binary is None:
            raise RuntimeError("mosquitto is not installed: apt-get install -y mosquitto")
        self.binary = binary
        self.host = "127.0.0.1"
        self.port = free_port(self.host)
        self.workdir = Path(tempfile.mkdtemp(prefix="medbot-bench-mosq-"))
        self.config_path = self.workdir / "mosquitto.conf"
        # a benchmark's consumers must not be cut off by the default 1000-message queue
        self.config_path.write_text(
            f"listener {self.port} {self.host}\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 0\nmax_inflight_messages 0\nlog_dest none\n" + extra_config, encoding="utf-8")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout_s: float = 10.0) -> Mosquitto:
        self._proc = mosquitto.launch(self.binary, self.config_path)
        mosquitto.wait_until_listening(self._proc, self.host, self.port, timeout_s=timeout_s, poll_s=0.02)
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        mosquitto.stop(proc)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """Pin this process to one CPU for the duration (where the OS allows it)."""
    if not hasattr(os, "sched_getaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def format_row(r: Result) -> str:
    ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
    base = f"{r.baseline:,.1f} {r.baseline_label}".strip() if r.baseline is not None else "-"
    met = {True: "met", False: "MISSED", None: ""}[r.met]
    return f"{r.name:<34} {r.value:>12,.1f} {r.unit:<12} {base:<30} {ratio:>7}  {r.target:<26} {met}"
