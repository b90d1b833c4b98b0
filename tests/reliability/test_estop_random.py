"""E-stop pressed at 100 seeded random moments of a `hospital-day` morning, across every robot kind
and whatever mission each is running: the drive is commanded zero on that very tick, stays zero and
the robot does not move until the e-stop is reset; then the work goes on."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import yaml
from rig import FleetStepper

from sim.scenario import SCENARIOS_DIR

PRESSES = 100
HOLD_TICKS = 20  # 4 s latched: enough for the body to coast to a standstill (0.5 m/s² from 1 m/s)
STOPPED_AFTER_TICKS = 12
KINDS = ("nursing", "epi_survey", "logistics", "imaging", "security", "lab")


def test_estop_at_100_random_moments_zeroes_the_drive_on_that_tick(tmp_path: Path) -> None:
    # the robots' own control rate (5 Hz) rather than the scenario's coarser simulation tick, so that
    # the timing below is in real control ticks
    data = yaml.safe_load((SCENARIOS_DIR / "hospital-day.yaml").read_text())
    data["tick_s"] = 0.2
    # the one-floor hospital: its first 90 minutes mix at least six mission kinds to press in
    data["world"] = str(SCENARIOS_DIR.parent / "worlds" / "one_floor_hospital.yaml")
    # the mix of kinds is the morning's own work (the HIS link's stat pick-ups shift it; its own
    # tests are tests/sim/test_his_feed.py and tests/fleet/test_census_his.py)
    data["his"]["enabled"] = False
    scenario = tmp_path / "hospital-day-5hz.yaml"
    scenario.write_text(yaml.safe_dump(data))
    # every robot every tick: an idle robot pressed on an arbitrary tick must zero its drive on it
    fleet = FleetStepper(str(scenario), tmp_path / "journal", hours=1.5, every_robot=True)
    env = fleet.run.env
    rng = np.random.default_rng(8)
    gap_ticks = (fleet.n_ticks - 300) // PRESSES - HOLD_TICKS
    kinds_pressed: set[str] = set()
    missions_pressed: set[str] = set()
    moving_when_pressed = 0
    failures: list[str] = []
    try:
        for _ in range(300):  # the first minute: the fleet dispatches the morning's work
            fleet.step()
        for press in range(PRESSES):
            for _ in range(int(rng.integers(1, gap_ticks))):
                fleet.step()
            # every kind in turn; within a kind a robot busy with a mission if there is one, one
            # whose mission kind was not pressed yet first (so the presses spread over the missions
            # whatever the morning's timing)
            kind = KINDS[press % len(KINDS)]
            of_kind = [r for r in fleet.robots if r.config.kind == kind]
            busy = [r for r in of_kind if r.runner.current is not None]
            fresh = [r for r in busy if r.runner.current is not None and r.runner.current.kind not in missions_pressed]
            pool = fresh or busy or of_kind
            robot = pool[int(rng.integers(len(pool)))]
            rid = robot.identity.robot_id
            drive = robot.devices.drive_base
            assert drive is not None
            kinds_pressed.add(robot.config.kind)
            if robot.runner.current is not None:
                missions_pressed.add(robot.runner.current.kind)
            moving_when_pressed += not drive.commanded_velocity().is_zero
            env.press_estop(rid)
            fleet.step()
            if not (robot.last_command_sent.is_zero and drive.commanded_velocity().is_zero):
                failures.append(f"press {press} on {rid}: drive {drive.commanded_velocity()} on the press tick")
            poses = []
            for k in range(HOLD_TICKS):
                fleet.step()
                if not drive.commanded_velocity().is_zero:
                    failures.append(f"press {press} on {rid}: drive non-zero {k + 1} ticks after the press")
                if k >= STOPPED_AFTER_TICKS:
                    poses.append(env.body(rid).pose)
            first = poses[0]
            if any(math.hypot(p.x_m - first.x_m, p.y_m - first.y_m) > 1e-6 or p.yaw_rad != first.yaw_rad
                   for p in poses):
                failures.append(f"press {press} on {rid}: moved while latched")
            env.release_estop(rid)
            fleet.step()
            assert robot.supervisor.estop_latched, "the latch holds after the button is released"
            ok, why = robot.reset_estop(by="reliability test")
            assert ok, why
    finally:
        fleet.close()
    assert failures == []
    assert kinds_pressed == set(KINDS)
    print("missions pressed:", sorted(missions_pressed))
    assert len(missions_pressed) >= 6, missions_pressed
    assert moving_when_pressed >= 20  # many presses caught a robot in motion, not only parked ones
    finished = [e for e in fleet.events if e.kind in ("mission.succeeded", "mission.completed")]
    assert finished, "work went on after the resets"
