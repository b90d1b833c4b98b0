"""The simulated wards' information systems (sim/hospital/nursing.py) feed the fleet's ward sources:
the census says who is in each bed (not who lies there after a swap), and a day of the default
hospital's rounds, drug rounds, meals and inquiry comes out as params the missions accept."""

from __future__ import annotations

from typing import Any

import pydantic

from fleet.demand import DemandContext, RobotMessage, care_rounds, ward_chart
from fleet.site import site_from_json
from fleet.tasks import TaskRequest
from missions.meal_delivery import MealDeliveryParams
from missions.meal_orders import MealOrdersParams
from missions.nursing.medication_params import MedicationRoundParams
from missions.nursing_inquiry import NursingInquiryParams
from missions.nursing_round import NursingRoundParams
from sim.hospital.nursing import NursingInformation
from sim.nursing_orders import NursingOrders
from sim.patients import PatientCensus
from sim.world import load_default_world
from sim.world_export import world_json

START_S = 1767571200.0 + 7 * 3600.0  # 07:00 on the simulator's day
PARAMS: dict[str, type[pydantic.BaseModel]] = {
    "nursing_round": NursingRoundParams, "medication_round": MedicationRoundParams, "meal_orders": MealOrdersParams,
    "meal_delivery": MealDeliveryParams, "nursing_inquiry": NursingInquiryParams,
}


def _hospital(seed: int = 1) -> tuple[PatientCensus, NursingInformation, Any]:
    world = load_default_world()
    census = PatientCensus(seed, world.beds(), START_S, swapped_wristbands=1)
    return census, NursingInformation(census, NursingOrders(census, seed)), site_from_json(world_json(world))


def test_the_census_says_who_should_be_in_the_bed() -> None:
    census, info, _ = _hospital()
    ward_census = info.information()["ward_census"]
    swapped = census.swapped_beds()[0]
    assert ward_census.bed(swapped).patient_ref == census.expected_ref(swapped)
    assert ward_census.bed(swapped).patient_ref != census.patient_at_bed(swapped).patient_ref
    assert ward_census.bed("no-such-bed") is None
    assert info.information()["mar"].doses_due("no-such-bed", "08:00", START_S) == []
    assert set(info.information()) == {"ward_census", "mar", "diets", "care_plan"}
    assert info.summary()["beds"] == len(census.bed_ids())


def test_a_day_of_ward_work_is_valid_mission_params() -> None:
    census, info, site = _hospital()
    submitted: list[TaskRequest] = []
    ctx = DemandContext(site=site, seed=1, start_s=START_S, end_s=START_S + 86400.0, submit=submitted.append,
                        hospital=info.information())
    chart, care = ward_chart.build(ctx, {}), care_rounds.build(ctx, {})
    bed = site.beds("ward-a")[0].bed_id
    assert bed is not None
    news2 = {"total": 6, "any_single_3": False, "escalate": True, "next_observation_due_s": 3600.0}
    record = {"record_id": "r1", "record_type": "vitals", "patient_ref": census.expected_ref(bed), "bed_ref": bed,
              "observations": {}, "news2": news2}
    orders = [{"bed_id": p.bed_id, "patient_ref": census.expected_ref(str(p.bed_id)), "diet": "standard",
               "dish": "soup"} for p in site.beds("ward-b")]
    kitchen = {"event": "mission.step", "step": "kitchen.order", "data": {"meal": "lunch", "orders": orders}}
    for minute in range(0, 24 * 60, 1):
        now_s = START_S + minute * 60.0
        if minute == 10:  # measured on the 07:00 round by a robot from another ward
            chart.on_message(RobotMessage("nurse-b", "clinical", record, now_s))
        if minute == 4 * 60:  # 11:00, after the lunch orders
            care.on_message(RobotMessage("nurse-a", "events", kitchen, now_s))
        chart.step(now_s)
        care.step(now_s)
    kinds = {r.kind for r in submitted}
    assert kinds == set(PARAMS)
    assert any(r.task_id.startswith("followup-ward-a-") for r in submitted)
    assert not any(r.zone == "isolation" and r.kind != "nursing_round" for r in submitted)
    for request in submitted:
        PARAMS[request.kind].model_validate(request.params)
