"""The simulator speaks HL7 to the HIS link (sim/his_feed.py): a short `SimulationRun` with
`his.enabled` admits every simulated patient over a real MLLP socket, discharges one and moves
another into the freed bed, every ACK AA; the HIS link's refs are the refs the robots are told."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from hal.clock import SimClock
from hal.registry import ConfigError
from sim.his_feed import HisFeed, HisFeedError, hospital_identifier
from sim.patients import WRISTBAND_PREFIX, PatientCensus
from sim.runner import SIM_DAY_START_S, SimOptions, SimulationRun
from sim.scenario import HisFeedSettings, load_scenario

START_S = SIM_DAY_START_S + 7 * 3600.0


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


@pytest.fixture(scope="module")
def his_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulationRun, dict]:
    report = tmp_path_factory.mktemp("his-run")
    scenario = load_scenario("hospital-day")
    scenario = scenario.model_copy(update={"his": HisFeedSettings(enabled=True, discharge_at="07:20",
                                                                  transfer_at="07:40")})
    run = SimulationRun(scenario, SimOptions(seed=1, hours=1.0, broker=None, report_dir=report, progress=False))
    run.run()
    return run, json.loads((report / "summary.json").read_text())


def test_every_admitted_patient_is_in_the_his_census_one_moved_one_discharged(his_run) -> None:
    run, _ = his_run
    feed_ = run.his_feed
    assert feed_ is not None and feed_.final_census is not None
    census = run.census
    beds = census.bed_ids()
    assert len(beds) == 24
    his_beds = {b["bed_id"]: b for b in feed_.final_census["beds"]}
    gone, moved = feed_.discharged_from, feed_.moved_from
    assert gone is not None and moved is not None and gone != moved
    # everyone admitted is there, in the bed they were admitted to, under the ref the sim uses
    for bed in beds:
        if bed in (gone, moved):
            continue
        assert his_beds[bed]["patient_ref"] == census.expected_ref(bed)
        assert his_beds[bed]["ward"] == census.patients()[beds.index(bed)].ward
    # the discharged patient is out; the transferred one lies in the bed the discharge freed
    discharged_ref = census.expected_ref(gone)
    assert discharged_ref not in {b["patient_ref"] for b in his_beds.values()}
    assert his_beds[gone]["patient_ref"] == census.expected_ref(moved)
    assert moved not in his_beds
    assert len(his_beds) == 23
    # what the service published last is what its store says
    assert feed_.board.census == feed_.final_census
    # the refs are the HIS link's HMAC refs (16 hex digits), not the simulator's 6-digit ones
    assert all(re.fullmatch(r"pt-[0-9a-f]{16}", p.patient_ref) for p in census.patients())
    assert all(p.wristband_payload == WRISTBAND_PREFIX + p.patient_ref for p in census.patients())


def test_summary_his_section_counts_messages_and_acks(his_run) -> None:
    _, summary = his_run
    his = summary["his"]
    assert his["sent"] == {"A01": 24, "A02": 1, "A03": 1}
    assert his["messages_sent"] == 26
    assert his["acks"] == {"AA": 26, "AE": 0, "AR": 0}
    assert his["census_size"] == 23
    assert his["service_counts"]["ack_AA"] == 26
    assert summary["telemetry_contract_errors"] == {}


def test_no_identifier_in_the_report_files(his_run) -> None:
    run, _ = his_run
    report = run.options.report_dir
    assert report is not None
    mrns = [hospital_identifier(1, bed).encode() for bed in run.census.bed_ids()]
    for path in report.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(m in data for m in mrns), path.name


def test_the_default_day_leaves_the_his_feed_off() -> None:
    assert load_scenario("hospital-day").his.enabled is False


def test_a_seeded_key_gives_the_same_refs_a_random_one_others() -> None:
    _, ca = feed(HisFeedSettings(enabled=True))
    _, cb = feed(HisFeedSettings(enabled=True))
    _, cc = feed(HisFeedSettings(enabled=True, key="random"))
    refs = [p.patient_ref for p in ca.patients()]
    assert refs == [p.patient_ref for p in cb.patients()]
    assert refs != [p.patient_ref for p in cc.patients()]
    assert len(set(refs)) == len(refs)


def test_a_transfer_before_the_discharge_is_refused_at_load() -> None:
    scenario = load_scenario("hospital-day").model_copy(update={"his": HisFeedSettings(
        enabled=True, discharge_at="12:00", transfer_at="11:00")})
    with pytest.raises(ConfigError, match="transfer_at must come after"):
        SimulationRun(scenario, SimOptions(hours=1.0, broker=None, progress=False))


def test_a_non_aa_ack_is_an_error_naming_the_message_and_the_reason(tmp_path: Path) -> None:
    f, _ = feed(HisFeedSettings(enabled=True, discharge_at=None, transfer_at=None))
    f.start(tmp_path / "his.db", fresh=True)
    try:
        assert len(f.his_census()["beds"]) == len(BEDS)
        one, other = sorted(f.patients)[:2]
        # a transfer into an occupied bed: the HIS link answers AE 205
        with pytest.raises(HisFeedError, match=r"ADT\^A02 SIMA02\d{6}.* AE 205: .*bed"):
            f._send("A02", f.patients[one], other, prior=one)
        assert f.acks["AE"] == 1
        assert len(f.his_census()["beds"]) == len(BEDS)  # nothing applied
    finally:
        f.close()
    assert f.summary()["acks"] == {"AA": len(BEDS), "AE": 1, "AR": 0}
