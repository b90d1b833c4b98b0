"""The rest of the ward's day: medication rounds, meal orders and deliveries, the nursing inquiry.

- **Medication**: at each ward drug time the MAR's doses due for every bed, one task per robot-load
  of drawers (one patient per drawer), sent out `medication_lead_min` ahead of the due time so that
  the last patient is still inside the dose window.
- **Meals**: orders are taken at the ward before each meal (`meal_orders`); the list the robot hands
  the kitchen (its `mission.step` event with step `kitchen.order`) is kept *per ward and meal* —
  whatever robot took it — and delivered at the serving time in robot-loads of drawers. Orders
  handed to the kitchen after that (a robot that took over a failed round, running late) are
  delivered as soon as they arrive rather than dropped.
- **Inquiry**: a bedside questionnaire after the morning round.

Wards whose robot never leaves them (infection control: `care_exclude_wards`, default the isolation
ward) get none of these: they would need trips to the pharmacy and the kitchen.

What the source reads of the hospital: the ward's census (`ward_census`, who is in each bed), the
medication administration record (`mar`) and the diets (`diets`) — narrow protocols, implemented by
`his/` on a real site and by `sim/hospital/nursing.py` in the simulator.

Duties are a pure function of the day (the settings' times), so the source keeps only a watermark
of what it already submitted; ids are derived from ward, time and what the task is, so a restart
re-submits nothing under a new id.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pydantic

from fleet.demand import DemandContext, DemandError, RobotMessage
from fleet.demand._common import Strict, choose_wards, hospital_info, parse_settings, task_id
from fleet.demand.daily import HHMM, day_start_s, local_day, minute_of_day, stamp
from fleet.demand.ward_chart import ROBOT_KINDS, WardCensus
from fleet.tasks import Task, TaskRequest

NAME = "care_rounds"
MEDICATION_PRIORITY = 60  # time-critical: ahead of a routine round, behind a NEWS2 re-check
MEAL_DELIVERY_PRIORITY = 55
MEAL_ORDER_PRIORITY = 40
INQUIRY_PRIORITY = 30
#: a dose is on time up to an hour after it is due (the usual MAR window for regular doses)
MEDICATION_LATE_S = 60 * 60.0
#: a meal is served within half an hour of the serving time, or it is cold
MEAL_LATE_S = 30 * 60.0
#: the inquiry is routine: within two hours of its time is on time
INQUIRY_LATE_S = 2 * 3600.0
#: the missions' own defaults (MedicationRoundParams.pharmacy_place, MealParams.kitchen_place):
#: sent in the params only when a site names them otherwise, so params stay as they were
DEFAULT_PHARMACY = "pharmacy"
DEFAULT_KITCHEN = "kitchen"
#: ASCII digits only, as this source always took them
_HHMM = re.compile(HHMM, re.ASCII)
_MEAL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SNAPSHOT_VERSION = 1


class Mar(Protocol):
    def doses_due(self, bed_id: str, hhmm: str, due_s: float) -> list[dict[str, Any]]:
        """The bed's MAR lines due at ward time `hhmm`, as medication_round doses (order_id,
        patient_ref, drug, dose_mg, route, due_s)."""
        ...


class Diets(Protocol):
    def diet(self, bed_id: str) -> str | None:
        """The bed's diet ("standard", "diabetic", "soft", "nil_by_mouth"), None when unknown."""
        ...


def _hhmm(value: str) -> str:
    if not _HHMM.fullmatch(value):
        raise ValueError(f"{value!r} is not a time of day (HH:MM)")
    return value


class CareRoundsSettings(Strict):
    #: ward drug round times (HH:MM); an empty list turns medication rounds off
    medication_times: list[str] = pydantic.Field(default_factory=lambda: ["08:00", "12:00", "18:00", "22:00"])
    #: a medication round leaves this long before the doses are due (loading at the pharmacy)
    medication_lead_min: float = pydantic.Field(30.0, ge=0, le=120)
    #: one patient per drawer: the robot's drawer count (the sim drawer has A, B, C)
    drawers_per_trip: int = pydantic.Field(3, ge=1, le=20)
    #: (meal, orders taken at, served at), HH:MM; an empty list turns meal service off
    meals: list[tuple[str, str, str]] = pydantic.Field(default_factory=lambda: [
        ("breakfast", "06:30", "07:45"), ("lunch", "10:30", "12:15"), ("dinner", "16:00", "17:45")])
    #: the nursing inquiry after the morning round (None: none)
    inquiry_at: str | None = "09:30"
    #: wards whose robot never leaves them (infection control): no pharmacy or kitchen trips
    care_exclude_wards: list[str] = pydantic.Field(default_factory=lambda: ["isolation"])
    #: the wards served (None: every ward of the site map but the excluded ones)
    wards: list[str] | None = None
    #: the site's local time is UTC plus this (the simulator's day is UTC); a fixed offset, so a site
    #: that changes to summer time restarts the service with the new one
    utc_offset_h: float = pydantic.Field(0.0, ge=-14, le=14)
    pharmacy_place: str = pydantic.Field(DEFAULT_PHARMACY, min_length=1)
    kitchen_place: str = pydantic.Field(DEFAULT_KITCHEN, min_length=1)

    @pydantic.field_validator("medication_times")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        return [_hhmm(v) for v in value]

    @pydantic.field_validator("inquiry_at")
    @classmethod
    def _inquiry(cls, value: str | None) -> str | None:
        return None if value is None else _hhmm(value)

    @pydantic.field_validator("meals")
    @classmethod
    def _meals(cls, value: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
        for meal, order_at, serve_at in value:
            if not _MEAL.fullmatch(meal):
                raise ValueError(f"{meal!r} is not a meal name (a-z, 0-9, _)")
            if _hhmm(serve_at) <= _hhmm(order_at):
                raise ValueError(f"{meal}: served at {serve_at}, not after the orders at {order_at}")
        if len({m[0] for m in value}) != len(value):
            raise ValueError("a meal is listed twice")
        return value


def build(ctx: DemandContext, settings: Mapping[str, Any]) -> CareRounds:
    config = parse_settings(CareRoundsSettings, NAME, settings)
    census = hospital_info(ctx, NAME, "ward_census", "bed")
    mar = hospital_info(ctx, NAME, "mar", "doses_due") if config.medication_times else None
    diets = hospital_info(ctx, NAME, "diets", "diet") if config.meals else None
    return CareRounds(ctx, config, census, mar, diets)


def _clock_s(hhmm: str) -> float:
    return minute_of_day(hhmm) * 60.0


@dataclass
class _Served:
    serve_s: float
    trips: int = 0
    #: beds whose meal went out on a delivery task: a list handed in again delivers none twice
    beds: list[str] = field(default_factory=list)


@dataclass(frozen=True, order=True)
class _Duty:
    at_s: float
    ward: str
    what: str  # "medication" | "meal_orders" | "meal_delivery" | "inquiry"
    arg: str  # the drug time (HH:MM) or the meal


class CareRounds:
    name = NAME

    def __init__(self, ctx: DemandContext, config: CareRoundsSettings, census: WardCensus, mar: Mar | None,
                 diets: Diets | None) -> None:
        self._submit = ctx.submit
        self._census = census
        self._mar = mar
        self._diets = diets
        self._config = config
        self._utc_offset_h = config.utc_offset_h
        self._wards = choose_wards(NAME, ctx.site, config.wards, config.care_exclude_wards)
        #: ward -> [(bed_id, place)], in site order
        self._beds = {w: [(p.bed_id, p.name) for p in ctx.site.beds(w) if p.bed_id] for w in self._wards}
        self._ward_of = {b: w for w, beds in self._beds.items() for b, _ in beds}
        self._place_of = {b: place for beds in self._beds.values() for b, place in beds}
        #: every duty with at_s <= this was submitted (the start is inclusive, as the old workload's)
        self._done_until_s = ctx.start_s - 1e-3
        self._plan: list[_Duty] = []  # the duties of the days planned so far, in time order
        self._planned_days: set[int] = set()
        #: "ward|meal" -> bed_id -> order (bed_id, patient_ref, dish), the kitchen's list until served
        self._kitchen: dict[str, dict[str, dict[str, Any]]] = {}
        #: "ward|meal" -> the meal's delivery once it went out (late orders follow, never twice)
        self._served: dict[str, _Served] = {}
        # the task's place is where the work starts (for the allocator's travel estimate): the
        # pharmacy or the kitchen when the site map has them, else the first bed
        self._pharmacy_node = config.pharmacy_place if config.pharmacy_place in ctx.site.places else None
        self._kitchen_node = config.kitchen_place if config.kitchen_place in ctx.site.places else None
        self._counts = {w: {"medication_trips": 0, "meal_order_rounds": 0, "meal_delivery_trips": 0,
                            "inquiries": 0} for w in self._wards}

    # ---- the day's plan ---------------------------------------------------------------------

    def _day(self, at_s: float) -> int:
        return local_day(at_s, self._utc_offset_h)

    def _stamp(self, at_s: float) -> str:
        return stamp(at_s, self._utc_offset_h)

    def _day_plan(self, day: int) -> list[_Duty]:
        base = day_start_s(day, self._utc_offset_h)  # local midnight
        cfg = self._config
        plan: list[tuple[float, str, str]] = [
            (base + _clock_s(t) - cfg.medication_lead_min * 60.0, "medication", t) for t in cfg.medication_times]
        for meal, order_at, serve_at in cfg.meals:
            plan.append((base + _clock_s(order_at), "meal_orders", meal))
            plan.append((base + _clock_s(serve_at), "meal_delivery", meal))
        if cfg.inquiry_at is not None:
            plan.append((base + _clock_s(cfg.inquiry_at), "inquiry", ""))
        return [_Duty(at_s, ward, what, arg) for at_s, what, arg in plan for ward in self._wards]

    def _ensure_planned(self, now_s: float) -> None:
        # the plan rolls a day ahead (a service runs for years; a day's plan is a few dozen duties),
        # and days wholly behind the watermark are dropped
        first = self._day(self._done_until_s)
        for day in range(first, self._day(now_s) + 2):
            if day not in self._planned_days:
                self._planned_days.add(day)
                for duty in self._day_plan(day):
                    bisect.insort(self._plan, duty)
        self._planned_days = {d for d in self._planned_days if d >= first}

    def step(self, now_s: float) -> None:
        if self._plan and self._plan[0].at_s > now_s and self._planned_days:
            return  # the common case: nothing due this step
        self._ensure_planned(now_s)
        while self._plan and self._plan[0].at_s <= now_s:
            duty = self._plan.pop(0)
            if duty.at_s > self._done_until_s:
                self._run(duty)
        self._done_until_s = max(self._done_until_s, now_s)

    # ---- the duties -------------------------------------------------------------------------

    def _request(self, tid: str, kind: str, ward: str, params: dict[str, Any], priority: int, start_s: float,
                 deadline_s: float, place: str) -> None:
        self._submit(TaskRequest(
            task_id=tid, kind=kind, params=params, priority=priority, robot_kinds=ROBOT_KINDS,
            earliest_start_s=start_s, deadline_s=deadline_s, zone=ward, place=place,
            requested_by=f"source:{NAME}",
        ))

    def _patients(self, ward: str) -> list[tuple[str, str, str]]:
        """(bed_id, place, patient_ref) of the occupied beds of the ward."""
        out = []
        for bed_id, place in self._beds[ward]:
            patient = self._census.bed(bed_id)
            if patient is not None:
                out.append((bed_id, place, patient.patient_ref))
        return out

    def _diet(self, bed_id: str, fallback: str | None = None) -> str | None:
        diet = self._diets.diet(bed_id) if self._diets is not None else None
        return diet or fallback

    def _run(self, duty: _Duty) -> None:
        ward, counts, cfg = duty.ward, self._counts[duty.ward], self._config
        n = cfg.drawers_per_trip
        if duty.what == "medication" and self._mar is not None:
            due_s = duty.at_s + cfg.medication_lead_min * 60.0
            patients = []
            for bed_id, place, ref in self._patients(ward):
                doses = self._mar.doses_due(bed_id, duty.arg, due_s)
                if doses:
                    patients.append({"bed_id": bed_id, "place": place, "patient_ref": ref, "doses": doses})
            extra = {} if cfg.pharmacy_place == DEFAULT_PHARMACY else {"pharmacy_place": cfg.pharmacy_place}
            for k in range(0, len(patients), n):
                counts["medication_trips"] += 1
                self._request(task_id("meds", ward, self._stamp(due_s), str(k // n + 1)), "medication_round", ward,
                              {"patients": patients[k:k + n], **extra}, MEDICATION_PRIORITY, duty.at_s,
                              due_s + MEDICATION_LATE_S, self._pharmacy_node or str(patients[k]["place"]))
        elif duty.what == "meal_orders":
            key = f"{ward}|{duty.arg}"
            # a new service of this meal: a list left from the last one (handed in after it was
            # served and delivered late, or never) is not this meal's
            self._kitchen.pop(key, None)
            self._served.pop(key, None)
            beds = [{"bed_id": b, "place": place, "patient_ref": ref, "diet": self._diet(b)}
                    for b, place, ref in self._patients(ward)]
            beds = [b for b in beds if b["diet"] is not None]
            if beds:
                counts["meal_order_rounds"] += 1
                serve_s = duty.at_s + self._serve_after_s(duty.arg)
                self._request(task_id("meal-orders", ward, self._stamp(duty.at_s), duty.arg), "meal_orders", ward,
                              {"meal": duty.arg, "beds": beds, **self._kitchen_extra()}, MEAL_ORDER_PRIORITY,
                              duty.at_s, serve_s, str(beds[0]["place"]))
        elif duty.what == "meal_delivery":
            self._served[f"{ward}|{duty.arg}"] = _Served(duty.at_s)
            self._deliver(ward, duty.arg)
        elif duty.what == "inquiry":
            beds = [{"bed_id": b, "place": place, "patient_ref": ref} for b, place, ref in self._patients(ward)]
            if beds:
                counts["inquiries"] += 1
                self._request(task_id("inquiry", ward, self._stamp(duty.at_s)), "nursing_inquiry", ward, {"beds": beds},
                              INQUIRY_PRIORITY, duty.at_s, duty.at_s + INQUIRY_LATE_S, str(beds[0]["place"]))

    def _serve_after_s(self, meal: str) -> float:
        _, order_at, serve_at = next(m for m in self._config.meals if m[0] == meal)
        return _clock_s(serve_at) - _clock_s(order_at)

    def _kitchen_extra(self) -> dict[str, Any]:
        return {} if self._config.kitchen_place == DEFAULT_KITCHEN else {"kitchen_place": self._config.kitchen_place}

    def _deliver(self, ward: str, meal: str) -> None:
        """Deliver what the kitchen has for the ward's meal (all of it at serving time, or the
        orders that came in since)."""
        key = f"{ward}|{meal}"
        served = self._served[key]
        listed = self._kitchen.pop(key, {})
        orders = [o | {"place": self._place_of[b], "diet": self._diet(b, o.get("diet"))}
                  for b, o in sorted(listed.items(), key=lambda item: self._bed_index(item[0]))
                  if b not in served.beds]
        orders = [{k: o[k] for k in ("bed_id", "patient_ref", "dish", "place", "diet")} for o in orders
                  if o["diet"] is not None]
        n = self._config.drawers_per_trip
        for k in range(0, len(orders), n):
            served.trips += 1
            self._counts[ward]["meal_delivery_trips"] += 1
            self._request(task_id("meal", ward, self._stamp(served.serve_s), meal, str(served.trips)), "meal_delivery",
                          ward, {"meal": meal, "orders": orders[k:k + n], **self._kitchen_extra()},
                          MEAL_DELIVERY_PRIORITY, served.serve_s, served.serve_s + MEAL_LATE_S,
                          self._kitchen_node or str(orders[k]["place"]))
        served.beds.extend(str(o["bed_id"]) for o in orders)

    def _bed_index(self, bed_id: str) -> int:
        return next(i for i, (b, _) in enumerate(self._beds[self._ward_of[bed_id]]) if b == bed_id)

    # ---- what robots report -----------------------------------------------------------------

    def on_message(self, message: RobotMessage) -> None:
        """The kitchen's order list, by ward and meal (the beds say which ward), kept until served."""
        body = message.body
        if message.channel != "events" or body.get("event") != "mission.step" or body.get("step") != "kitchen.order":
            return
        data = body.get("data")
        if not (isinstance(data, dict) and isinstance(data.get("meal"), str) and isinstance(data.get("orders"), list)):
            return
        meal = data["meal"]
        touched: set[str] = set()
        for order in data["orders"]:
            if not isinstance(order, dict) or not all(isinstance(order.get(k), str) for k in ("bed_id", "patient_ref",
                                                                                              "dish")):
                continue
            ward = self._ward_of.get(order["bed_id"])
            if ward is None:
                continue  # a bed of a ward this source does not serve
            key = f"{ward}|{meal}"
            # merged by bed: a round taken over by another robot hands in the rest of the ward's
            # list, and a list handed in twice (a replay) changes nothing
            self._kitchen.setdefault(key, {})[order["bed_id"]] = {
                k: order[k] for k in ("bed_id", "patient_ref", "dish")} | (
                {"diet": order["diet"]} if isinstance(order.get("diet"), str) else {})
            touched.add(key)
        for key in sorted(touched & set(self._served)):
            self._deliver(*key.split("|", 1))

    def on_task_finished(self, task: Task) -> None:
        # The fleet re-allocates and reports a failed trip itself; the MAR and the kitchen's list
        # are what this source works from, and a dose is never re-planned here (no drug twice).
        return

    # ---- figures and persistence ------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        return {ward: dict(c) for ward, c in sorted(self._counts.items())}

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "done_until_s": self._done_until_s,
            "kitchen": {key: [listed[b] for b in sorted(listed)] for key, listed in sorted(self._kitchen.items())},
            "served": {key: {"serve_s": s.serve_s, "trips": s.trips, "beds": sorted(s.beds)}
                       for key, s in sorted(self._served.items())},
            "counts": {ward: dict(c) for ward, c in sorted(self._counts.items())},
        }

    def restore(self, state: dict[str, Any]) -> None:
        try:
            if state.get("version") != SNAPSHOT_VERSION:
                raise ValueError(f"version {state.get('version')!r}, expected {SNAPSHOT_VERSION}")
            done_until_s = float(state["done_until_s"])
            kitchen = {str(key): {str(o["bed_id"]): dict(o) for o in orders}
                       for key, orders in state["kitchen"].items() if key.split("|", 1)[0] in self._counts}
            served = {str(key): _Served(float(s["serve_s"]), int(s["trips"]), [str(b) for b in s["beds"]])
                      for key, s in state["served"].items() if key.split("|", 1)[0] in self._counts}
            counts = {ward: dict(c) for ward, c in self._counts.items()}
            for ward, saved in state["counts"].items():
                if ward in counts:
                    counts[ward].update({k: int(v) for k, v in saved.items() if k in counts[ward]})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DemandError(f"demand.{NAME}: cannot restore the snapshot ({type(exc).__name__}: {exc})") from None
        # all or nothing: a snapshot that fails half-way leaves the source as it was
        self._done_until_s, self._kitchen, self._served, self._counts = done_until_s, kitchen, served, counts
        self._plan, self._planned_days = [], set()  # re-planned from the watermark on the next step
