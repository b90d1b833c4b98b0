"""`medbot sim --ros` runs the default scenario with the fleet on ROS 2 (/clock advances)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from ros_harness import Probe

from sim.runner import SimOptions, SimulationRun
from sim.scenario import load_scenario

pytestmark = pytest.mark.timeout(120)


def test_sim_with_ros_publishes_clock_while_it_runs(ros_session: Path, probe: Probe, tmp_path: Path) -> None:
    from rosgraph_msgs.msg import Clock

    probe.subscribe(Clock, "/clock")
    # paced at 20x real time so that discovery (up to ~2 s) happens while it runs
    run = SimulationRun(load_scenario("hospital-day"),
                        SimOptions(hours=0.05, broker=None, progress=False, ros=True, realtime_factor=20.0,
                                   report_dir=tmp_path / "r"))
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(summary=run.run()), daemon=True)
    thread.start()
    thread.join(100)
    assert not thread.is_alive() and "summary" in result
    clock = probe.latest.get("/clock")
    assert clock is not None
    assert clock.clock.sec >= int(run.start_s)  # simulated time, not wall time
