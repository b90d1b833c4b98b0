"""`medbot sim` end to end: the default scenario's rounds, determinism, and the MQTT it emits."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from sim.runner import SimOptions, SimulationRun
from sim.scenario import load_scenario
from telemetry.subscriber import TelemetrySubscriber
from telemetry.topics import FLEET_ID, Channel


def run(tmp_path: Path, name: str, *, hours: float, seed: int = 1, broker: str | None = None) -> dict:
    report = tmp_path / name
    SimulationRun(load_scenario("hospital-day"), SimOptions(seed=seed, hours=hours, broker=broker, report_dir=report,
                                                            progress=False)).run()
    return json.loads((report / "summary.json").read_text())


@pytest.fixture(scope="module")
def one_hour(tmp_path_factory) -> tuple[dict, bytes, bytes]:
    tmp = tmp_path_factory.mktemp("sim")
    summary = run(tmp, "a", hours=1.0)
    run(tmp, "b", hours=1.0)
    return summary, (tmp / "a" / "summary.json").read_bytes(), (tmp / "b" / "summary.json").read_bytes()


def test_same_seed_gives_byte_identical_summary(one_hour):
    _, first, second = one_hour
    assert first == second


def test_a_different_seed_gives_a_different_day(tmp_path, one_hour):
    other = run(tmp_path, "c", hours=0.25, seed=2)
    assert other["deteriorating_patients"] != one_hour[0]["deteriorating_patients"]


def test_morning_round_visits_every_ward_bed(one_hour):
    summary = one_hour[0]
    patients = summary["patients"]
    skipped = {s["bed_id"] for s in patients["skipped"]}
    measured = set(patients["observation_sets_by_bed"])
    assert patients["beds"] == 24
    assert len(measured | skipped) == 24  # every bed measured or skipped with a reason
    assert all(s["reason"] for s in patients["skipped"])
    # the one swapped pair of patients is never measured under the wrong identity
    assert skipped and all("wristband" in s["reason"] for s in patients["skipped"])


def test_deteriorating_patients_raise_news2_alerts(one_hour):
    summary = one_hour[0]
    det = summary["deteriorating_patients"]
    assert det["became_urgent"] >= 1
    assert det["urgent_and_alerted"] >= 1
    assert sum(summary["news2_alerts"][level] for level in ("critical", "high")) >= 1
    for alert in summary["alerts"]:
        assert "pt-" not in alert["summary"]  # bed and score, never the patient


def test_missions_succeed_and_contract_holds(one_hour):
    summary = one_hour[0]
    assert summary["telemetry_contract_errors"] == {}
    for robot in summary["robots"].values():
        assert all(f["reason"] for f in robot["failures"])  # a failure always says why
        if robot["kind"] == "nursing":
            assert robot["missions_failed"] == 0, robot["failures"]
            assert robot["missions_done"] >= 1


def test_map_png_is_written(tmp_path):
    run(tmp_path, "m", hours=0.05)
    png = (tmp_path / "m" / "map.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


@pytest.mark.integration
def test_fleet_publishes_to_a_real_broker(tmp_path, mosquitto):
    with TelemetrySubscriber(mosquitto.url, "medbot/v1/general-hospital/#") as sub:
        summary = run(tmp_path, "mqtt", hours=0.25, broker=mosquitto.url)
        expected = summary["telemetry_messages"]
        reliable = (Channel.EVENTS, Channel.CLINICAL, Channel.ALERTS)

        def complete(messages) -> bool:
            got = Counter(m.channel for m in messages)
            return all(got[ch] >= expected.get(ch.value, 0) for ch in reliable)

        messages = sub.wait_for(complete, timeout_s=30)
    robots = {m.parts.robot_id for m in messages if m.parts and m.parts.robot_id != FLEET_ID}
    assert robots == set(summary["robots"])
    # the fleet service publishes beside them, under its reserved id
    assert any(m.parts and m.parts.robot_id == FLEET_ID for m in messages)
    # at-least-once channels arrive complete and in order per robot
    for robot_id in robots:
        seqs = [m.seq for m in messages if m.parts and m.parts.robot_id == robot_id and m.channel == Channel.EVENTS]
        assert seqs == list(range(len(seqs)))  # from 0, no gap, no duplicate, in order
    connection = [m.body for m in messages if m.channel == Channel.CONNECTION]
    assert any(b and b["state"] == "OFFLINE" for b in connection)
