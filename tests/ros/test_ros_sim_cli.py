"""`medbot sim --ros` runs the default scenario with the fleet on ROS 2: another process sees the
simulated clock advance on /clock while it runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ros_harness import Probe

from sim.runner import SIM_DAY_START_S
from sim.scenario import load_scenario

pytestmark = pytest.mark.timeout(150)


def test_medbot_sim_ros_publishes_the_simulated_clock(ros_session: Path, probe: Probe, tmp_path: Path) -> None:
    from rosgraph_msgs.msg import Clock

    probe.subscribe(Clock, "/clock")
    medbot = shutil.which("medbot") or str(Path(sys.executable).with_name("medbot"))
    # paced at 10x real time (~7 s) so that discovery (up to ~2 s) happens while it runs
    done = subprocess.run(
        [medbot, "sim", "--ros", "--hours", "0.02", "--realtime-factor", "10", "--broker", "none",
         "--no-progress", "--report", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    clock = probe.message("/clock")
    start_s = SIM_DAY_START_S + load_scenario("hospital-day").start_offset_s()
    assert clock.clock.sec >= int(start_s)  # simulated time, not wall time
    assert (tmp_path / "r" / "summary.json").is_file()
