"""Serial devices misbehaving mid-mission, on the real drivers over emulator ptys: the bedside
thermometer unplugged, gone silent, or spewing garbage during a ward round. The round fails or
retries with the reason; the robot stays controllable (e-stop latches at once, a return to the dock
is taken and completed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rig import RobotRig

from sim.emulators import bench_for

EMULATED = {"thermometer": {"model": "serial-emulated"}, "nibp": {"model": "serial-emulated"}}


def _measuring(rig: RobotRig) -> bool:
    mission = rig.robot.runner.current
    return mission is not None and "measure" in str(mission.step).lower()


def _misbehave(rig: RobotRig, how: str) -> Any:
    emulator = bench_for(rig.env).emulator(rig.robot_id, "thermometer")
    if how == "unplugged":
        emulator.pty.unplug()
    elif how == "silent":
        emulator.pty.write = lambda data: 0  # the module hears the driver and answers nothing
    else:
        rng = np.random.default_rng(4)
        real_write = emulator.pty.write

        def garbage(data: bytes) -> int:  # every answer comes out as line noise of the same length
            return int(real_write(bytes(rng.integers(0, 256, max(8, len(data)), dtype=np.uint8))))

        emulator.pty.write = garbage
    return emulator


@pytest.mark.parametrize("how", ["unplugged", "silent", "garbage"])
def test_thermometer_misbehaving_mid_round_ends_cleanly_and_the_robot_obeys(tmp_path: Path, how: str) -> None:
    rig = RobotRig(tmp_path / "journal", device_overrides=EMULATED)
    rig.robot.dispatch("nursing_round", rig.nursing_round(2), mission_id="round-1")
    assert rig.run_until(lambda: _measuring(rig), max_s=1800), "the round reached a bedside measurement"
    _misbehave(rig, how)
    assert rig.run_until(rig.idle, max_s=3 * 3600), "the round ended"
    result = rig.robot.runner.history[-1]
    thermo_events = [e for e in rig.events if e.kind in ("alert", "patient.skipped", "mission.failed")
                     and "thermometer" in f"{e.reason} {e.data}".lower()]
    assert result.outcome in ("succeeded", "failed") and (result.outcome == "failed") == bool(result.reason)
    assert thermo_events, f"the {how} thermometer shows in the round's events with a reason"
    # still controllable: e-stop latches this tick, reset, then a return to the dock is taken and done
    rig.env.press_estop(rig.robot_id)
    rig.tick()
    assert rig.robot.last_command_sent.is_zero and rig.robot.supervisor.estop_latched
    rig.env.release_estop(rig.robot_id)
    assert rig.robot.reset_estop(by="test")[0]
    rig.robot.return_to_dock()
    assert rig.run_until(rig.idle, max_s=1800)
    assert rig.robot.runner.history[-1].outcome == "succeeded", rig.robot.runner.history[-1].reason
