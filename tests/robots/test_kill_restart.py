"""A robot process SIGKILLed in the middle of a ward round and started again resumes from its
journal: no bed is measured twice, none is skipped."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from hal.clock import iso_utc
from sim.scenario import SCENARIOS_DIR

WORKER = Path(__file__).with_name("round_worker.py")


def scenario(tmp_path: Path, name: str, start_time: str) -> Path:
    data = yaml.safe_load((SCENARIOS_DIR / "hospital-day.yaml").read_text())
    data["robots"] = [r for r in data["robots"] if r["id"] == "nurse-a"]
    data["start_time"] = start_time
    # nurse-a's ward only, as the fleet's ward sources plan it; one round here
    demand = data["fleet"]["demand"]
    data["fleet"]["demand"] = {"ward_chart": {**demand["ward_chart"], "round_interval_h": 12, "wards": ["ward-a"]},
                               "care_rounds": {**demand["care_rounds"], "wards": ["ward-a"]}}
    data["hospital"] = {"nursing": data["hospital"]["nursing"]}
    data["world"] = str(SCENARIOS_DIR.parent / "worlds" / "default_hospital.yaml")
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def records(events_file: Path) -> list[dict]:
    if not events_file.exists():
        return []
    lines = events_file.read_text().splitlines()
    out = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:  # the line being written at the kill
            continue
        if event["event"] == "clinical.record" and event["mission_kind"] == "nursing_round":
            out.append(event)  # the vitals round's bedside records (other rounds keep their own)
    return out


def worker(tmp_path: Path, scenario_path: Path, report: str, hours: float) -> subprocess.Popen:
    env = dict(os.environ)
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(scenario_path), str(tmp_path / "journal"), str(tmp_path / report),
         str(hours)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def test_sigkill_mid_round_then_restart_measures_each_bed_once(tmp_path):
    first = worker(tmp_path, scenario(tmp_path, "first", "07:00"), "first", 2.0)
    deadline = time.monotonic() + 120
    try:
        while len(records(tmp_path / "first" / "events.jsonl")) < 4:
            assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
            assert time.monotonic() < deadline, "the first run never got 4 beds into the round"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    before = records(tmp_path / "first" / "events.jsonl")
    assert 4 <= len(before) < 8  # killed mid-round

    # restart a minute after the last record the dead process emitted (its clock had moved on)
    last_s = max(_epoch(e["t"]) for e in before)
    restart_s = math.ceil((last_s + 60) / 60) * 60
    second = worker(tmp_path, scenario(tmp_path, "second", iso_utc(restart_s)[11:16]), "second", 1.5)
    _, err = second.communicate(timeout=300)
    assert second.returncode == 0, err.decode()

    after = records(tmp_path / "second" / "events.jsonl")
    summary = json.loads((tmp_path / "second" / "summary.json").read_text())
    by_bed: dict[str, set[str]] = {}
    for event in before + after:
        by_bed.setdefault(event["data"]["bed_ref"], set()).add(event["data"]["record_id"])
    # a record may be re-announced after the kill (same record id: consumers dedupe), never re-measured
    assert all(len(ids) == 1 for ids in by_bed.values()), by_bed
    skipped = {s["bed_id"] for s in summary["patients"]["skipped"]}
    assert set(by_bed) | skipped == {f"A-{n:02d}" for n in range(1, 11)}
    assert not set(by_bed) & skipped
    # the restarted robot did not start the round over: it measured only what was left
    assert {e["data"]["bed_ref"] for e in after}.isdisjoint({e["data"]["bed_ref"] for e in before}
                                                               - {before[-1]["data"]["bed_ref"]})


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
