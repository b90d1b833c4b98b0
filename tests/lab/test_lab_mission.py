"""What the lab missions share (missions.lab.lab_mission): the journal form of a move plan, and a
failed navigation named as each mission named it before the code was shared."""

from __future__ import annotations

from pathlib import Path

from lab_rig import DEVICES, make_lab_rig, run_params

from missions.base import MissionRequest
from missions.lab.lab_mission import plan_entry, plan_from_entry
from missions.lab.moves import Move

WITH_NAVIGATOR = DEVICES | {"nav": {"kind": "navigator", "model": "sim"}}


def test_a_move_plan_reads_back_as_it_was_journaled() -> None:
    moves = [Move("input/A1", "chem/1"), Move("input/A2", "input/A2")]
    entry = plan_entry(moves)
    assert entry == {"moves": [["input/A1", "chem/1"], ["input/A2", "input/A2"]]}
    assert plan_from_entry(entry) == moves


def failure_reason(tmp_path: Path, kind: str, params: dict[str, object]) -> str:
    rig = make_lab_rig(tmp_path, devices=WITH_NAVIGATOR)
    assert rig.devices.navigator is not None
    rig.runner.submit(MissionRequest(kind, params, mission_id="nav-1"))
    rig.run_until(rig.idle)
    result = rig.runner.history[-1]
    assert result.outcome == "failed"
    return str(result.reason)


def test_lab_run_names_the_place_it_could_not_reach(tmp_path: Path) -> None:
    reason = failure_reason(tmp_path, "lab_run", run_params([], place="no-such-bench"))
    assert reason.startswith("navigation to no-such-bench failed: ")


def test_sample_pickup_says_its_navigation_failed(tmp_path: Path) -> None:
    reason = failure_reason(tmp_path, "sample_pickup", {"station": "no-such-station"})
    assert reason.startswith("navigation failed: ")
