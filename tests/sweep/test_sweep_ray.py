"""`medbot sweep` on a real Ray head (started here with `ray start --head` on loopback, 2 CPUs, no
dashboard, no usage report) and on the local process pool: the same sweep gives the same rows; a
run that fails is reported with its traceback, retried once, and the others finish; a resumed sweep
runs only what the Parquet file lacks."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from sweep_files import sweep_data

from bench.mosquitto import free_port
from sweep.results import read_rows
from sweep.task import TIMING_COLUMNS

pytestmark = pytest.mark.integration

RAY_START_TIMEOUT_S = 60.0
SWEEP_TIMEOUT_S = 120.0
#: nothing of Ray's may phone home or ask for a token this test did not make
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _bin(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed (pip install -e '.[sweep]')"
    return found


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """A Ray head of this test's own; stopped by its pid (`ray start --block` stops what it started)."""
    port = free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    log = Path(temp_dir) / "head.log"
    ports = [f"--dashboard-agent-listen-port={free_port()}",
             f"--dashboard-agent-grpc-port={free_port()}", f"--metrics-export-port={free_port()}"]
    with log.open("w") as out:
        process = subprocess.Popen(
            [_bin("ray"), "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
             "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}", *ports],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **RAY_ENV}, start_new_session=True)
    try:
        deadline = time.monotonic() + RAY_START_TIMEOUT_S
        while "Ray runtime started" not in log.read_text(errors="replace"):
            assert process.poll() is None, f"ray start exited:\n{log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"Ray head not up in {RAY_START_TIMEOUT_S:.0f} s:\n{log.read_text()}"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the session ray start leads: its own processes only
            process.wait(timeout=10)
        shutil.rmtree(temp_dir, ignore_errors=True)


def medbot_sweep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_bin("medbot"), "sweep", *args, "--no-progress"], capture_output=True, text=True,
                          timeout=SWEEP_TIMEOUT_S, env={**os.environ, **RAY_ENV, "COLUMNS": "200"})


def _comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(({k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in rows), key=lambda r: r["run_id"])


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The 4-run sweep (1 and 2 nursing robots x seeds 1 and 2) on the local pool: (file, out folder)."""
    folder = tmp_path_factory.mktemp("local")
    sweep_file = folder / "tiny.yaml"
    sweep_file.write_text(yaml.safe_dump(sweep_data(), sort_keys=False), encoding="utf-8")
    done = medbot_sweep(str(sweep_file), "--out", str(folder / "out"), "--workers", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    return sweep_file, folder / "out"


def test_the_same_sweep_on_ray_and_on_the_local_pool_gives_the_same_rows(
        ray_head: str, local_sweep: tuple[Path, Path], tmp_path: Path) -> None:
    sweep_file, local_out = local_sweep
    done = medbot_sweep(str(sweep_file), "--out", str(tmp_path / "ray"), "--ray", ray_head)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "on ray" in done.stdout and "4 ok, 0 failed" in done.stdout
    on_ray = read_rows(tmp_path / "ray" / "results.parquet")
    local = read_rows(local_out / "results.parquet")
    assert len(on_ray) == 4 and {r["status"] for r in on_ray} == {"ok"}
    assert {r["robots.nursing"] for r in on_ray} == {1, 2} and {r["seed"] for r in on_ray} == {1, 2}
    assert all(r["busy_nurse_a_s"] is not None for r in on_ray)  # the KPIs were measured, not left empty
    assert _comparable(on_ray) == _comparable(local)
    for out in (tmp_path / "ray", local_out):
        report = out / "report"
        assert (report / "index.html").is_file()
        assert (report / "observation_sets--robots-nursing.png").stat().st_size > 1000


def test_a_failing_run_on_ray_is_reported_with_its_traceback_retried_once_and_the_others_finish(
        ray_head: str, write_sweep: Callable[..., Path], tmp_path: Path) -> None:
    # samples_per_station 0 passes the scenario's own model and fails as the run builds the lab
    sweep_file = write_sweep(axes={"hospital.lab.samples_per_station": [3, 0, 2]}, seeds=[1])
    done = medbot_sweep(str(sweep_file), "--out", str(tmp_path / "out"), "--ray", ray_head)
    assert done.returncode == 1, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "attempt 1 of 2" in output and "attempt 2 of 2" in output
    assert "Traceback (most recent call last)" in output and "samples_per_station" in output
    assert "1 of 3 runs failed" in output
    rows = {r["hospital.lab.samples_per_station"]: r for r in read_rows(tmp_path / "out" / "results.parquet")}
    assert rows[0]["status"] == "failed" and rows[0]["attempts"] == 2
    assert "Traceback" in rows[0]["error"] and "greater than or equal to 1" in rows[0]["error"]
    assert [rows[v]["status"] for v in (3, 2)] == ["ok", "ok"]
    assert [rows[v]["attempts"] for v in (3, 2)] == [1, 1]
    assert "Failed runs" in (tmp_path / "out" / "report" / "index.html").read_text()


def test_a_resumed_sweep_runs_only_what_the_parquet_file_lacks(local_sweep: tuple[Path, Path],
                                                               tmp_path: Path) -> None:
    sweep_file, local_out = local_sweep
    out = tmp_path / "out"
    shutil.copytree(local_out, out)
    results = out / "results.parquet"
    table = pq.read_table(results)
    before = {r["run_id"]: r for r in table.to_pylist()}
    dropped = sorted(before)[0]
    pq.write_table(pa.Table.from_pylist([r for r in table.to_pylist() if r["run_id"] != dropped],
                                        schema=table.schema), results)
    done = medbot_sweep(str(sweep_file), "--out", str(out), "--workers", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 of 4 runs already done" in done.stdout and "3 already done, 1 ok" in done.stdout
    after = {r["run_id"]: r for r in read_rows(results)}
    assert sorted(after) == sorted(before)
    for run_id, row in before.items():
        if run_id != dropped:
            assert after[run_id] == row  # not run again: even its wall time is the first run's
    assert _comparable([after[dropped]]) == _comparable([before[dropped]])  # run again, same result
    again = medbot_sweep(str(sweep_file), "--out", str(out))
    assert "4 of 4 runs already done" in again.stdout and "0 ok" in again.stdout
