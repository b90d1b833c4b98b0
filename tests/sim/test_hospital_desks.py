"""The lab, imaging and epi parts of the simulated hospital: a treated critical value is found
through the LIS, a patient whose exam will not be performed is sent back, and bad settings name
their field. (What the fleet's desks make of these parts is tested in tests/fleet/demand/ and by
the lab, imaging and epi scenarios through the runner.)"""

from __future__ import annotations

import re

import pytest

from hal.clock import SimClock
from missions.events import MissionEvent
from sim.environment import SimEnvironment
from sim.hospital import HospitalContext, HospitalError
from sim.hospital import epi as sim_epi
from sim.hospital import imaging as sim_imaging
from sim.hospital import lab as sim_lab
from sim.patients import PatientCensus
from sim.scenario import RobotPlacement
from sim.world import World, default_world_path, load_world

DAY_S = 1767571200.0
START_S = DAY_S + 7 * 3600.0
END_S = START_S + 24 * 3600.0
SEED = 1
ROBOTS = [RobotPlacement(id="lab-1", kind="lab", dock="dock-lab", serves="clinical-lab"),
          RobotPlacement(id="imaging-1", kind="imaging", dock="dock-radiology", serves="radiology"),
          RobotPlacement(id="epi-1", kind="epi_survey", dock="dock-isolation", serves="isolation")]
# hospital-day.yaml's lab settings
LAB_HOSPITAL = {"stations": ["ward-a-nurse-station", "ward-b-nurse-station"], "collection_interval_h": 2,
                "first_collection_min": 15, "samples_per_station": 3, "critical": {"test": "K", "value": 6.8},
                "qc_failure": {"at": "11:35", "duration_min": 30, "analyzer": "chem", "test": "K"}}


@pytest.fixture(scope="module")
def world() -> World:
    return load_world(default_world_path())


def _env(world: World) -> tuple[SimEnvironment, PatientCensus, SimClock]:
    clock = SimClock(START_S)
    census = PatientCensus(SEED, world.beds(), START_S, deteriorating_fraction=0.2, swapped_wristbands=1)
    return SimEnvironment(world, census, clock, SEED), census, clock


def _new(world: World) -> HospitalContext:
    env, census, clock = _env(world)
    return HospitalContext(world=world, census=census, env=env, clock=clock, seed=SEED, start_s=START_S,
                           end_s=END_S, robots=ROBOTS, request_task=lambda body: None,
                           fire_panel=lambda active, reason: None)


def test_the_treated_critical_value_is_found_through_the_lis(world: World) -> None:
    part = sim_lab.build(_new(world), LAB_HOSPITAL)
    part.step(START_S + 15 * 60)
    seeded = [(o.sample_id, key) for o in part.orders.values() for key in part.site.overrides
              if key[0] == o.patient_ref and key[1] in o.tests]
    sample_id, key = seeded[0]
    part.on_event(MissionEvent("alert", "lab-1", "r1", "lab_run", START_S + 3600,
                               data={"alert_id": "r1.critical.K", "category": "lab.critical", "sample_id": sample_id,
                                     "test_code": key[1]}))
    assert key not in part.site.overrides and part.summary()["criticals_treated"] == 1


def test_a_patient_whose_exam_is_not_performed_is_sent_back(world: World) -> None:
    part = sim_imaging.build(_new(world), {"worklist": "imaging-day"})
    part.step(START_S + 16 * 60)  # RAD-0001 (07:15) is on the X-ray table
    room = part.site.room("radiology-xray")
    assert room.patient is not None and room.patient.accession_number == "RAD-0001"
    part.information()["imaging_worklist"].exam_not_performed("RAD-0001", "cancelled")
    assert room.patient is None and part.summary()["sent_back"] == 1


def test_hospital_settings_errors_name_the_field(world: World) -> None:
    with pytest.raises(HospitalError, match=re.escape("hospital.lab.stations[0]")):
        sim_lab.build(_new(world), {"stations": ["nowhere"]})
    with pytest.raises(HospitalError, match=re.escape("hospital.imaging.worklist")):
        sim_imaging.build(_new(world), {"worklist": "no-such-day"})
    with pytest.raises(HospitalError, match=re.escape("hospital.epi.notice_delay_min")):
        sim_epi.build(_new(world), {"notice_delay_min": [90, 20]})
    with pytest.raises(HospitalError, match=re.escape("hospital.epi.cases")):
        sim_epi.build(_new(world), {"cases": 9})
