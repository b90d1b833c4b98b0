"""ROS 2 fixtures: one isolated ROS environment per test run, robot nodes in their own processes.

Skipped only where rclpy is not installed; CI installs it (`scripts/test` installs `.[ros]` and
builds medbot_interfaces), so there these tests run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ros_harness import (
    Probe,
    RobotProcess,
    SimClockPublisher,
    isolate_ros_environment,
    remove_stale_fastdds_shm,
    ros_context,
    wait_for,
    write_params,
)

from hal.clock import DEFAULT_SIM_EPOCH_S

NO_RCLPY = "rclpy is not installed: pip install -e '.[ros]' && scripts/build_ros_interfaces"

ROBOT_ID = "nurse-t"
NS = "/nurse_t"
#: 8.1 m of route from its home dock: a short real trip at the simulator's speed
START_PLACE = "ward-a-utility"


@pytest.fixture(scope="session")
def ros_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    pytest.importorskip("rclpy", reason=NO_RCLPY)
    started_s = time.time() - 1.0
    root = tmp_path_factory.mktemp("ros")
    isolate_ros_environment(root / "log")
    with ros_context():
        yield root
    remove_stale_fastdds_shm(started_s)


@pytest.fixture(scope="session")
def probe(ros_session: Path) -> Iterator[Probe]:
    p = Probe("medbot_test_probe")
    yield p
    p.close()


def start_robot(root: Path, name: str, **overrides: object) -> RobotProcess:
    params = {
        "robot_id": ROBOT_ID, "robot_config": "nursing", "home_dock": "dock-ward-a", "backend": "sim",
        "journal_dir": str(root / f"journal-{name}"), "use_sim_time": True, "autostart": True,
        "sim.start_place": START_PLACE, "scan_period_s": 0.5, "camera_period_s": 2.0,
        "diagnostics_period_s": 1.0, "state_period_s": 5.0,
    }
    params.update(overrides)
    return RobotProcess(write_params(root / f"{name}.yaml", **params), root / f"{name}.log")


@pytest.fixture(scope="module")
def sim_robot(ros_session: Path, probe: Probe) -> Iterator[tuple[RobotProcess, SimClockPublisher]]:
    """One simulated nursing robot node (autostarted) on `/clock` that runs 8 × real time."""
    robot = start_robot(ros_session, "sim_robot")
    clock = SimClockPublisher(probe, DEFAULT_SIM_EPOCH_S)
    try:
        from medbot_interfaces.msg import RobotState
        from rclpy.qos import DurabilityPolicy, QoSProfile

        probe.subscribe(RobotState, f"{NS}/robot_state",
                        QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        probe.message(f"{NS}/robot_state", timeout_s=15.0)  # process start + configure + discovery
        yield robot, clock
    except AssertionError:
        print(robot.output())
        raise
    finally:
        clock.stop()
        code = robot.stop()
        assert code == 0, f"robot node exited with {code}:\n{robot.output()[-3000:]}"


__all__ = ["NS", "ROBOT_ID", "START_PLACE", "start_robot", "wait_for"]
