"""Recording while the uplink is down, buffer overflow, and a restart in the middle of the interview."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.epi.rig import ROBOT, EpiRig, bed_where, make_rig


def _willing(rig: EpiRig) -> str:
    return bed_where(rig, lambda c: c.consents and c.responsive and len(c.contacts) >= 2)


def test_uplink_down_buffers_segments_and_delivers_them_in_order(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.robot.dispatch("epi_survey", rig.params(_willing(rig), segment_s=20.0))
    rig.run_until(lambda: rig.step() == "consent")
    down_from = rig.clock.now_s()
    rig.env.inject_fault(ROBOT, "recorder.uplink", "4G link lost", until_s=down_from + 150.0)
    rig.run_until(lambda: rig.clock.now_s() >= down_from + 140.0)
    assert rig.kinds("media.segment") == []  # nothing announced while down
    assert rig.recorder.segments_made >= 6  # ... but recorded and held
    rig.run_until(lambda: len(rig.kinds("media.segment")) >= 6)
    first = rig.kinds("media.segment")
    assert all(e.stamp_s >= down_from + 150.0 for e in first)
    rig.run_until(rig.idle)
    result = rig.robot.runner.history[-1]
    assert result.outcome == "succeeded", result.reason
    assert result.data["max_buffered"] >= 6 and result.data["segments_buffered"] == 0
    segments = rig.kinds("media.segment")
    assert [e.data["index"] for e in segments] == list(range(len(segments)))
    assert len(segments) == rig.recorder.segments_made
    for e in segments:
        item = rig.robot.media.get(e.data["ref"])
        assert item is not None and hashlib.sha256(item.data).hexdigest() == e.data["sha256"]
        audio = rig.robot.media.get(e.data["audio_ref"])
        assert audio is not None and hashlib.sha256(audio.data).hexdigest() == e.data["audio_sha256"]


def test_buffer_overflow_is_an_explicit_failure_and_the_robot_still_disinfects(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.robot.dispatch("epi_survey", rig.params(_willing(rig), segment_s=10.0, buffer_segments=3,
                                                upload_timeout_s=60.0))
    rig.run_until(lambda: rig.step() == "consent")
    rig.env.inject_fault(ROBOT, "recorder.uplink", "4G link lost", until_s=rig.clock.now_s() + 3000.0)
    rig.run_until(rig.idle)
    result = rig.robot.runner.history[-1]
    assert result.outcome == "failed"
    assert "segment buffer overflow" in str(result.reason)
    assert result.data["disinfected"]
    assert rig.both_open_ticks == []


def test_restart_mid_interview_resumes_without_duplicating_segments(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    bed = _willing(rig)
    rig.robot.dispatch("epi_survey", rig.params(bed, segment_s=15.0), mission_id="epi-1-survey-007")
    rig.run_until(lambda: rig.step() == "interview" and len(rig.kinds("media.segment")) >= 3)
    asked_before = list(rig.screen.shown)
    rig.restart()
    rig.run_until(rig.idle)
    result = rig.robot.runner.history[-1]
    assert result.outcome == "succeeded", result.reason
    assert rig.kinds("mission.requeued")
    indices = [e.data["index"] for e in rig.kinds("media.segment")]
    assert len(indices) == len(set(indices)) and indices == sorted(indices)
    refs = [e.data["ref"] for e in rig.kinds("media.segment")]
    assert len(refs) == len(set(refs))
    # questions answered before the kill are not asked again (the one in progress may be)
    asked_after = rig.screen.shown[len(asked_before):]
    assert not set(asked_before[:-1]) & set(asked_after)
    assert "consent" not in asked_after
    report = rig.kinds("report.filed")[-1].data
    assert report["segments"] == len(indices)
    assert rig.both_open_ticks == []
