"""The simulator speaks HL7 with the HIS link (sim/his_feed.py), end to end through the fleet and the robots.

A 75-minute `SimulationRun` of the default day with the feed's events moved early (discharge 07:10,
the swapped beds put right by A08 at 07:30, a transfer at 07:40) admits every patient over a real
MLLP socket; the fleet's ward chart reads the census the link publishes (fleet/census.py); the
lab's specimen orders go out as OML^O21 and the first stat one is cancelled; every result goes to
a python-hl7 record system (tests/his/record_system.py) as ORU^R01."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from datacenter.fhir import LAB_TESTS, VITAL_SIGNS
from hal.clock import SimClock
from hal.registry import ConfigError
from sim.his_feed import HisFeed, HisFeedError, hospital_identifier
from sim.patients import WRISTBAND_PREFIX, PatientCensus
from sim.runner import SIM_DAY_START_S, SimOptions, SimulationRun
from sim.scenario import HisFeedSettings, load_scenario

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "his"))  # python-hl7's record system
from record_system import RecordSystem, first_component

START_S = SIM_DAY_START_S + 7 * 3600.0
EARLY = {"discharge_at": "07:10", "swap_fix_at": "07:30", "transfer_at": "07:40"}
FIX_S = SIM_DAY_START_S + 7.5 * 3600.0
#: the data center's LOINC -> UCUM table (datacenter/fhir.py, DOMAIN.md §4), not the HIS link's own
UCUM = {m.loinc: m.ucum for m in (*VITAL_SIGNS, *LAB_TESTS)} | {
    "59408-5": "%", "8480-6": "mm[Hg]", "8462-4": "mm[Hg]"}  # (the blood pressure panel's components)


@dataclass(frozen=True)
class Bed:
    name: str
    bed_id: str
    ward: str


BEDS = [Bed(f"bed-{w}-{i}", f"{w.upper()}-0{i}", f"ward-{w}") for w in ("a", "b") for i in (1, 2, 3)]


def feed(settings: HisFeedSettings, seed: int = 3) -> tuple[HisFeed, PatientCensus]:
    census = PatientCensus(seed, BEDS, START_S)
    return HisFeed(settings, census, SimClock(START_S), seed, day_start_s=SIM_DAY_START_S, start_s=START_S,
                   end_s=START_S + 3600.0), census


def _run(report: Path, settings: HisFeedSettings, hours: float) -> tuple[SimulationRun, dict[str, Any]]:
    scenario = load_scenario("hospital-day").model_copy(update={"his": settings})
    run = SimulationRun(scenario, SimOptions(seed=1, hours=hours, broker=None, report_dir=report, progress=False))
    run.run()
    return run, json.loads((report / "summary.json").read_text())


@pytest.fixture(scope="module")
def his_run(tmp_path_factory: pytest.TempPathFactory) -> Any:
    records = RecordSystem().start()
    try:
        settings = HisFeedSettings(enabled=True, record_system=f"127.0.0.1:{records.port}", **EARLY)
        run, summary = _run(tmp_path_factory.mktemp("his-run"), settings, 1.25)
    finally:
        records.close()
    return run, summary, records


def _events(run: SimulationRun) -> list[dict[str, Any]]:
    report = run.options.report_dir
    assert report is not None
    return [json.loads(line) for line in (report / "events.jsonl").read_text().splitlines()]


def test_admissions_transfer_discharge_reach_the_fleets_census_and_the_ward(his_run) -> None:
    run, summary, _ = his_run
    feed_ = run.his_feed
    assert feed_ is not None and feed_.final_census is not None and run.fleet is not None
    his_beds = {b["bed_id"]: b["patient_ref"] for b in feed_.final_census["beds"]}
    gone, moved = feed_.discharged_from, feed_.moved_from
    assert gone is not None and moved is not None and gone != moved
    census = run.census
    discharged = next(p for p in census.patients() if p.bed_id == gone)
    mover = next(p for p in census.patients() if p.bed_id == moved)
    # discharged: out of the HIS census and out of their bed; moved: into the bed the discharge freed
    assert discharged.patient_ref not in his_beds.values() and census.occupant(moved) is None
    assert his_beds[gone] == mover.patient_ref and census.occupant(gone) is mover and moved not in his_beds
    assert len(his_beds) == 23 and summary["his"]["census_size"] == 23
    # the fleet's census is the HIS link's, read off the (loopback) census topic: its last revision
    assert summary["fleet"]["census"] == {"revision": feed_.final_census["revision"], "beds_occupied": 23,
                                          "received": summary["his"]["census_publishes"], "ignored": 0}
    # and the ward's census system agrees with it bed for bed
    assert {b: census.expected_ref(b) for b in census.bed_ids() if census.assigned(b)} == his_beds
    # the round after the transfer visited the moved patient in the new bed: a vitals record says so
    vitals = [e for e in _events(run) if e["event"] == "clinical.record" and e["data"].get("record_type") == "vitals"]
    assert all(re.fullmatch(r"pt-[0-9a-f]{16}", e["data"]["patient_ref"]) for e in vitals)
    assert not [e for e in vitals if e["data"]["patient_ref"] == discharged.patient_ref
                and e["t"] > "2026-01-05T07:10"]


def test_the_swapped_beds_are_put_right_by_a08_and_the_wristbands_then_match(his_run) -> None:
    run, summary, _ = his_run
    assert summary["his"]["sent"]["A08"] == 3
    a, b = run.census.swaps[0]
    # who lies in each bed is now who the census says, so the wristband check passes
    assert run.census.expected_ref(a) == run.census.occupant(a).patient_ref
    assert run.census.expected_ref(b) == run.census.occupant(b).patient_ref
    events = _events(run)
    mismatches = [e for e in events if e["reason"] == "wristband mismatch"]
    assert mismatches and all(e["t"] < "2026-01-05T07:30" for e in mismatches)
    assert {p.wristband_payload for p in run.census.patients()} == {
        WRISTBAND_PREFIX + p.patient_ref for p in run.census.patients()}


def test_a_cancelled_stat_orders_pick_up_never_runs(his_run) -> None:
    run, summary, _ = his_run
    orders = summary["his"]["orders"]
    assert orders["cancelled"] == 1 and orders["stat"] >= 1 and orders["routine"] >= 1
    tasks = [json.loads(line)["body"] for line in (run.options.report_dir / "fleet.jsonl").read_text().splitlines()]
    states: dict[str, list[str]] = {}
    for body in tasks:
        if str(body.get("task_id", "")).startswith("his-pickup-"):
            states.setdefault(body["task_id"], []).append(body["state"])
    cancelled = [t for t, s in states.items() if s[-1] == "cancelled"]
    assert len(cancelled) == 1 and len(states) == orders["stat"]
    assert "running" not in states[cancelled[0]]
    assert not [e for e in _events(run) if e["task"] == cancelled[0]]  # no robot ever worked on it
    # the other stat pick-ups ran
    assert all("running" in s for t, s in states.items() if t not in cancelled)


def test_every_measured_patients_oru_arrives_once_with_the_right_loinc_ucum_and_the_ack_closes_it(his_run) -> None:
    run, summary, records = his_run
    results = summary["his"]["results"]
    received = records.received
    ids = records.control_ids()
    assert len(ids) == len(set(ids)) == results["intake"]["queued"] > 0  # once each
    assert results["outbox"] == {"accepted": len(ids)} and records.answers == ["AA"] * len(ids)  # ACK closed
    measured = {e["data"]["patient_ref"] for e in _events(run) if e["event"] == "clinical.record"
                and e["data"].get("record_type") == "vitals" and e["data"].get("observations")}
    by_id = {hospital_identifier(1, p.bed_id): p.patient_ref for p in run.census.patients()}
    patients = {by_id[str(m["PID.F3.R1.C1"])] for m in received}
    assert measured <= patients
    for message in received:
        for obx in message.segments("OBX"):
            code, system = first_component(obx, 3), str(obx[3][0][2])
            if system == "LN":
                assert first_component(obx, 6) == UCUM[code], code
    assert sum(len(m.segments("OBX")) for m in received) > 5 * len(received)


def test_no_identifier_in_the_report_files(his_run) -> None:
    run, _, _ = his_run
    report = run.options.report_dir
    assert report is not None
    mrns = [hospital_identifier(1, bed).encode() for bed in run.census.bed_ids()]
    for path in report.rglob("*"):
        if path.is_file() and path.suffix != ".db":  # his.db keeps them sealed (tests/his/test_census.py)
            data = path.read_bytes()
            assert not any(m in data for m in mrns), path.name


def test_the_same_seed_reproduces_the_day_with_the_feed_on(tmp_path: Path) -> None:
    settings = HisFeedSettings(enabled=True, discharge_at="07:05", swap_fix_at="07:10", transfer_at="07:15")
    _, first = _run(tmp_path / "one", settings, 0.35)
    _, second = _run(tmp_path / "two", settings, 0.35)
    assert first == second
    assert first["his"]["results"]["record_system"]["oru_received"] > 0


def test_the_default_day_turns_the_feed_on() -> None:
    his = load_scenario("hospital-day").his
    assert his.enabled and his.discharge_at < his.swap_fix_at < his.transfer_at


def test_a_seeded_key_gives_the_same_refs_a_random_one_others() -> None:
    _, ca = feed(HisFeedSettings(enabled=True))
    _, cb = feed(HisFeedSettings(enabled=True))
    _, cc = feed(HisFeedSettings(enabled=True, key="random"))
    refs = [p.patient_ref for p in ca.patients()]
    assert refs == [p.patient_ref for p in cb.patients()]
    assert refs != [p.patient_ref for p in cc.patients()]
    assert len(set(refs)) == len(refs)


@pytest.mark.parametrize("late", ["transfer_at", "swap_fix_at"])
def test_a_transfer_or_correction_before_the_discharge_is_refused_at_load(late: str) -> None:
    scenario = load_scenario("hospital-day").model_copy(update={"his": HisFeedSettings(
        enabled=True, **{"discharge_at": "12:00", "transfer_at": None, "swap_fix_at": None, late: "11:00"})})
    with pytest.raises(ConfigError, match=f"{late} must come after"):
        SimulationRun(scenario, SimOptions(hours=1.0, broker=None, progress=False))


def test_a_non_aa_ack_is_an_error_naming_the_message_and_the_reason(tmp_path: Path) -> None:
    f, _ = feed(HisFeedSettings(enabled=True, discharge_at=None, swap_fix_at=None, transfer_at=None))
    f.start(tmp_path / "his.db", fresh=True)
    try:
        assert len(f.his_census()["beds"]) == len(BEDS)
        one, other = sorted(f.patients)[:2]
        # a transfer into an occupied bed: the HIS link answers AE 205
        with pytest.raises(HisFeedError, match=r"ADT\^A02 SIMA02\d{6}.* AE 205: .*bed"):
            f._adt("A02", f.patients[one], other, prior=one)
        assert f.acks["AE"] == 1
        assert len(f.his_census()["beds"]) == len(BEDS)  # nothing applied
    finally:
        f.close()
    assert f.summary()["acks"] == {"AA": len(BEDS), "AE": 1, "AR": 0}
