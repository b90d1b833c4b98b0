"""Robots see each other and people: the navigator slows, stops, goes round, re-plans; contacts counted."""

from __future__ import annotations

from pathlib import Path

from hal.handle import HandleStatus
from tests.sim.perception_rig import Rig, corridor_world


def test_two_robots_meeting_head_on_in_a_wide_corridor_both_arrive_without_contact(tmp_path: Path) -> None:
    rig = Rig(corridor_world(tmp_path, width_m=2.6))
    rig.add("nurse-a", "west")
    rig.add("nurse-b", "east")
    handles = rig.go({"nurse-a": "east", "nurse-b": "west"}, max_s=200.0)
    for rid, handle in handles.items():
        assert handle.poll() is HandleStatus.SUCCEEDED, (rid, handle.error)
    assert rig.env.contact_summary()["total"] == 0, rig.env.contacts
