"""The lab, imaging and epi parts of the simulated hospital, with the fleet's desks reading them,
reproduce what the old `sim/workloads/{lab,imaging,epi_survey}.py` dispatched on the same seed:
the same tubes and expected samples, the same patients on the tables, the same surveys at the same
times (robots are left out: their mission endings are fed by hand)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from fleet.demand import DemandContext
from fleet.demand import epi_cases as fleet_epi
from fleet.demand import lab_pickups as fleet_lab
from fleet.demand import radiology_worklist as fleet_imaging
from fleet.site import SiteMap, site_from_json
from fleet.tasks import Task, TaskRequest, TaskState
from hal.clock import SimClock
from missions.events import MissionEvent
from sim.environment import SimEnvironment
from sim.hospital import HospitalContext, HospitalError
from sim.hospital import epi as sim_epi
from sim.hospital import imaging as sim_imaging
from sim.hospital import lab as sim_lab
from sim.imaging_patients import imaging_site
from sim.patients import PatientCensus
from sim.scenario import RobotPlacement
from sim.workloads import WorkloadContext
from sim.workloads import epi_survey as old_epi
from sim.workloads import imaging as old_imaging
from sim.workloads import lab as old_lab
from sim.world import World, default_world_path, load_world
from sim.world_export import world_json

DAY_S = 1767571200.0
START_S = DAY_S + 7 * 3600.0
END_S = START_S + 24 * 3600.0
SEED = 1
ROBOTS = [RobotPlacement(id="lab-1", kind="lab", dock="dock-lab", serves="clinical-lab"),
          RobotPlacement(id="imaging-1", kind="imaging", dock="dock-radiology", serves="radiology"),
          RobotPlacement(id="epi-1", kind="epi_survey", dock="dock-isolation", serves="isolation")]
# hospital-day.yaml's settings, as they are split between the hospital and the fleet
LAB_OLD = {"stations": ["ward-a-nurse-station", "ward-b-nurse-station"], "pickup_interval_h": 2,
           "first_pickup_min": 15, "samples_per_station": 3, "critical": {"test": "K", "value": 6.8},
           "qc_failure": {"at": "11:35", "duration_min": 30, "analyzer": "chem", "test": "K"}}
LAB_HOSPITAL = {"stations": LAB_OLD["stations"], "collection_interval_h": 2, "first_collection_min": 15,
                "samples_per_station": 3, "critical": LAB_OLD["critical"], "qc_failure": LAB_OLD["qc_failure"]}
LAB_FLEET = {"stations": LAB_OLD["stations"], "pickup_interval_h": 2, "first_pickup_min": 15}
FAULT = {"at": "13:40", "reason": "X-ray tube overheating", "duration_min": 30}
EPI = {"cases": 4, "refusals": 1, "non_responsive": 0, "first_report_h": 0.25, "report_interval_h": 2.5}


@pytest.fixture(scope="module")
def world() -> World:
    return load_world(default_world_path())


@pytest.fixture(scope="module")
def site_map(world: World) -> SiteMap:
    return site_from_json(world_json(world))


def _env(world: World) -> tuple[SimEnvironment, PatientCensus, SimClock]:
    clock = SimClock(START_S)
    census = PatientCensus(SEED, world.beds(), START_S, deteriorating_fraction=0.2, swapped_wristbands=1)
    return SimEnvironment(world, census, clock, SEED), census, clock


def _old(world: World) -> tuple[WorkloadContext, list[tuple[str, str, dict[str, Any], int, str]]]:
    env, census, clock = _env(world)
    dispatched: list[tuple[str, str, dict[str, Any], int, str]] = []
    ctx = WorkloadContext(world=world, census=census, env=env, clock=clock, seed=SEED, start_s=START_S, end_s=END_S,
                          dispatch=lambda *call: dispatched.append(call))
    return ctx, dispatched


def _new(world: World) -> HospitalContext:
    env, census, clock = _env(world)
    return HospitalContext(world=world, census=census, env=env, clock=clock, seed=SEED, start_s=START_S,
                           end_s=END_S, robots=ROBOTS, request_task=lambda body: None,
                           fire_panel=lambda active, reason: None)


def _fleet(site_map: SiteMap, hospital: dict[str, Any]) -> tuple[DemandContext, list[TaskRequest]]:
    submitted: list[TaskRequest] = []
    return DemandContext(site=site_map, seed=SEED, start_s=START_S, end_s=END_S, submit=submitted.append,
                         hospital=hospital), submitted


def _ended(request: TaskRequest, at_s: float, robot_id: str, result: dict[str, Any]) -> Task:
    return Task(request=request, created_s=at_s, state=TaskState.DONE, robot_id=robot_id, started_s=at_s,
                finished_s=at_s, result=result)


def test_lab_draws_and_pickups_match_the_old_workload(world: World, site_map: SiteMap) -> None:
    old_ctx, dispatched = _old(world)
    old = old_lab.build(old_ctx, [ROBOTS[0]], LAB_OLD)
    part = sim_lab.build(_new(world), LAB_HOSPITAL)
    ctx, submitted = _fleet(site_map, part.information())
    desk = fleet_lab.build(ctx, LAB_FLEET)
    for now_s in (START_S, START_S + 15 * 60, START_S + 30 * 60, START_S + 2.25 * 3600, START_S + 4.25 * 3600):
        old.step(now_s)
        part.step(now_s)  # the hospital steps before the fleet, in every tick
        desk.step(now_s)
    old_pickups = [call for call in dispatched if call[1] == "sample_pickup"]
    assert len(old_pickups) == len(submitted) == 6
    for (_robot, _kind, params, priority, _mid), request in zip(old_pickups, submitted, strict=True):
        assert request.params == params and request.priority == priority
    # the same tubes wait at the stations, for the same patients, smudged or not
    def tubes(site: Any) -> list[tuple[Any, ...]]:
        return [(t.sample_id, t.patient_ref, t.specimen, t.label_damaged) for hs in site.pending.values()
                for h in hs for t in h.tubes]
    assert tubes(old.site) == tubes(part.site)
    # and a pick-up's follow-up run carries the old batch's orders and controls
    first = old_pickups[0][2]
    sample_ids = sorted(first["expected_samples"])
    old.on_event(MissionEvent("mission.succeeded", "lab-1", "p1", "sample_pickup", START_S + 3600,
                              data={"sample_ids": sample_ids}))
    desk.on_task_finished(_ended(submitted[0], START_S + 3600, "lab-1", {"sample_ids": sample_ids}))
    (old_batch,) = [call for call in dispatched if call[1] == "lab_run"]
    (run,) = [r for r in submitted if r.kind == "lab_run"]
    assert run.params == old_batch[2] and run.robot_id == "lab-1"


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


def test_imaging_patients_and_exams_match_the_old_reception(world: World, site_map: SiteMap) -> None:
    old_ctx, dispatched = _old(world)
    old = old_imaging.build(old_ctx, [ROBOTS[1]], {"worklist": "imaging-day", "equipment_fault": FAULT})
    new_ctx = _new(world)
    part = sim_imaging.build(new_ctx, {"worklist": "imaging-day", "equipment_fault": FAULT})
    ctx, submitted = _fleet(site_map, part.information())
    desk = fleet_imaging.build(ctx, {})
    called: dict[str, tuple[Any, ...]] = {}
    old_called: dict[str, tuple[Any, ...]] = {}
    old_done: set[str] = set()
    new_done: set[str] = set()
    for now_s in [START_S + m * 60.0 for m in range(0, 24 * 60, 5)]:
        old.step(now_s)
        part.step(now_s)
        desk.step(now_s)
        for site, seen in ((part.site, called), (imaging_site(old_ctx.env), old_called)):
            for room in site.rooms.values():
                p = room.patient
                if p is not None:  # as called in: where they lie, how they drift, their wristband
                    seen.setdefault(p.accession_number, (room.name, p.patient_ref, p.drift_mm_per_s, p.compliance,
                                                         p.thickness_cm, p.wristband_payload))
        # every exam ends at once, so the old one-at-a-time desk and the per-room desk agree
        for _robot, _kind, params, _prio, mission_id in dispatched:
            if mission_id not in old_done:
                old_done.add(mission_id)
                old.on_event(MissionEvent("mission.succeeded", "imaging-1", mission_id, "imaging_exam", now_s,
                                          data={"accession_number": params["accession_number"],
                                                "mpps_status": "COMPLETED"}))
        for request in submitted:
            if request.task_id not in new_done:
                new_done.add(request.task_id)
                data = {"accession_number": request.params["accession_number"], "mpps_status": "COMPLETED"}
                part.on_event(MissionEvent("mission.succeeded", "imaging-1", request.task_id, "imaging_exam", now_s,
                                           data=data))
                desk.on_task_finished(_ended(request, now_s, "imaging-1", data))
    assert [c[2] for c in dispatched] == [r.params for r in submitted]
    assert len(submitted) == 25
    assert len(called) == 25 and called == old_called
    assert called["RAD-0018"][5] != "MEDBOT-PT:" + called["RAD-0018"][1]  # someone else's wristband
    assert part.summary()["patients_called"] == 25 and part.summary()["exams_left"] == 0


def test_a_patient_whose_exam_is_not_performed_is_sent_back(world: World) -> None:
    part = sim_imaging.build(_new(world), {"worklist": "imaging-day"})
    part.step(START_S + 16 * 60)  # RAD-0001 (07:15) is on the X-ray table
    room = part.site.room("radiology-xray")
    assert room.patient is not None and room.patient.accession_number == "RAD-0001"
    part.information()["imaging_worklist"].exam_not_performed("RAD-0001", "cancelled")
    assert room.patient is None and part.summary()["sent_back"] == 1


def test_epi_cases_reach_the_fleet_when_the_old_workload_dispatched_them(world: World, site_map: SiteMap) -> None:
    old_ctx, dispatched = _old(world)
    old = old_epi.build(old_ctx, [ROBOTS[2]], EPI)
    part = sim_epi.build(_new(world), EPI)
    ctx, submitted = _fleet(site_map, part.information())
    source = fleet_epi.build(ctx, {})
    old_at: dict[str, float] = {}
    new_at: dict[str, float] = {}
    for now_s in [START_S + m * 60.0 for m in range(0, 14 * 60)]:
        old.step(now_s)
        part.step(now_s)
        source.step(now_s)
        for call in dispatched:
            old_at.setdefault(call[2]["case_ref"], now_s)
        for request in submitted:
            new_at.setdefault(request.params["case_ref"], now_s)
    assert len(old_at) == 4 and new_at == old_at
    assert [c[2] for c in dispatched] == [r.params for r in submitted]
    assert all(r.deadline_s == r.params["case_reported_s"] + 24 * 3600 for r in submitted)


def test_hospital_settings_errors_name_the_field(world: World) -> None:
    with pytest.raises(HospitalError, match=re.escape("hospital.lab.stations[0]")):
        sim_lab.build(_new(world), {"stations": ["nowhere"]})
    with pytest.raises(HospitalError, match=re.escape("hospital.imaging.worklist")):
        sim_imaging.build(_new(world), {"worklist": "no-such-day"})
    with pytest.raises(HospitalError, match=re.escape("hospital.epi.notice_delay_min")):
        sim_epi.build(_new(world), {"notice_delay_min": [90, 20]})
    with pytest.raises(HospitalError, match=re.escape("hospital.epi.cases")):
        sim_epi.build(_new(world), {"cases": 9})
