"""The survey robot's simulated devices: door interlock, recorder segments and uplink, UV lamp
interlock and dose, touchscreen answers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hal.door_controller import AnteroomInterlock, DoorState
from hal.handle import HandleStatus
from hal.touchscreen import AnswerKind, ScreenQuestion
from hal.uv_lamp import InterlockRefused
from tests.epi.rig import ROBOT, EpiRig, make_rig

OUTER, INNER = "isolation-room-2-outer-door", "isolation-room-2-inner-door"


def _settle(rig: EpiRig, s: float) -> None:
    rig.clock.advance(s)


def test_doors_come_from_the_world_and_the_interlock_holds(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    doors = rig.doors
    assert len(doors.anterooms()) == 4
    room = next(r for r in doors.anterooms() if r.name == "isolation-room-2-anteroom")
    assert (room.outer_door, room.inner_door) == (OUTER, INNER)
    handle = doors.start_open(OUTER)
    assert doors.state(OUTER).state is DoorState.OPENING
    with pytest.raises(AnteroomInterlock):
        doors.start_open(INNER)  # opening counts as not closed
    _settle(rig, 5.0)
    assert handle.poll() is HandleStatus.SUCCEEDED and doors.state(OUTER).state is DoorState.OPEN
    close = doors.start_close(OUTER)
    with pytest.raises(AnteroomInterlock):
        doors.start_open(INNER)  # closing is not closed either
    _settle(rig, 5.0)
    assert close.poll() is HandleStatus.SUCCEEDED
    inner = doors.start_open(INNER)
    _settle(rig, 5.0)
    assert inner.poll() is HandleStatus.SUCCEEDED
    with pytest.raises(AnteroomInterlock):
        doors.start_open(OUTER)


def test_a_jammed_door_is_unknown_and_blocks_its_partner(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    doors = rig.doors
    doors.start_open(OUTER)
    _settle(rig, 5.0)
    rig.env.inject_fault(ROBOT, f"doors:{OUTER}", "jammed")
    handle = doors.start_close(OUTER)
    _settle(rig, 5.0)
    assert handle.poll() is HandleStatus.FAILED and "jammed" in str(handle.error)
    assert doors.state(OUTER).state is DoorState.UNKNOWN
    with pytest.raises(AnteroomInterlock):
        doors.start_open(INNER)


def test_recorder_cuts_hashed_avi_segments_and_reports_the_uplink(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rec = rig.recorder
    rec.start_recording(segment_s=10.0, first_index=4)
    _settle(rig, 25.0)
    segments = rec.take_segments()
    assert [s.index for s in segments] == [4, 5]
    assert rec.take_segments() == []  # each one once
    rec.stop_recording()
    last = rec.take_segments()
    assert [s.index for s in last] == [6] and last[0].duration_s == pytest.approx(5.0)
    for seg in [*segments, *last]:
        assert seg.video[:4] == b"RIFF" and seg.video[8:12] == b"AVI "
        assert hashlib.sha256(seg.video).hexdigest() == seg.video_sha256
        assert hashlib.sha256(seg.audio).hexdigest() == seg.audio_sha256
        assert len(seg.audio) == round(seg.duration_s * seg.audio_rate_hz) * 2
    assert rec.uplink().up
    rig.env.inject_fault(ROBOT, "recorder.uplink", "link lost")
    assert not rec.uplink().up and rec.uplink().reason == "link lost"
    assert rec.health().usable  # the uplink is not the recorder


def test_uv_lamp_refuses_with_a_person_and_delivers_the_dose(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    lamp = rig.lamp
    lamp.set_person_present(True)
    with pytest.raises(InterlockRefused):
        lamp.start_dose(50.0)
    assert not lamp.state().on
    lamp.set_person_present(False)
    handle = lamp.start_dose(50.0)
    assert lamp.state().on and lamp.state().irradiance_w_per_m2 > 0
    _settle(rig, 20.0)
    assert handle.poll() is HandleStatus.RUNNING and handle.feedback == pytest.approx(20.0)
    _settle(rig, 31.0)
    assert handle.poll() is HandleStatus.SUCCEEDED and handle.result is not None
    assert handle.result.dose_j_per_m2 == 50.0 and not lamp.state().on
    rig.env.inject_fault(ROBOT, "uv.presence", "cleaner in the anteroom")
    assert lamp.person_in_range()


def test_touchscreen_answers_for_the_case_in_front_or_times_out(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    question = ScreenQuestion("consent", "May I?", AnswerKind.CHOICE, ("yes", "no"), timeout_s=30.0)
    handle = rig.screen.start_question(question)  # at the dock: nobody in front
    _settle(rig, 31.0)
    assert handle.poll() is HandleStatus.SUCCEEDED and handle.result is not None and not handle.result.answered
    rig.env.inject_fault(ROBOT, "screen", "display cable")
    with pytest.raises(Exception, match="display cable"):
        rig.screen.start_question(question)
