"""Stands in for the ward's electronic observation chart: who needs observing, and when.

Full rounds at the ward's interval; between rounds, each patient whose NEWS2 asks for more
frequent observation gets a follow-up visit when it falls due (RCP response table).

The rest of the ward's day (`CareScheduler`): medication rounds at the ward's drug times (from the
seeded MAR of `sim.nursing_orders`, one trip per robot-load of drawers, sent out ahead of the due
time so that the last patient is still inside the window), meal orders before each meal and their
delivery once the kitchen has the list, and the nursing inquiry after the morning round.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from hal.clock import iso_utc
from missions.events import MissionEvent
from sim.nursing_orders import NursingOrders
from sim.patients import PatientCensus
from sim.scenario import RobotPlacement
from sim.workloads import Dispatch, WorkloadContext, WorkloadError
from sim.world import World


class NursingSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)
    #: full ward rounds at this interval (RCP: at least 12-hourly; wards commonly 4-hourly)
    round_interval_h: float = pydantic.Field(4.0, gt=0)
    #: follow NEWS2's observation frequency for escalated patients between rounds
    follow_up_escalations: bool = True
    #: ward policy for a NEWS2 of 1–4: the RCP sets a *minimum* of 4–6-hourly; this ward
    #: re-checks anyone who scored sooner, so that a patient starting to slide is not left
    #: until the next full round
    scored_recheck_h: float = pydantic.Field(2.0, gt=0)
    #: ward drug round times (HH:MM); an empty list turns medication rounds off
    medication_times: list[str] = ["08:00", "12:00", "18:00", "22:00"]
    #: a medication round leaves this long before the doses are due (loading at the pharmacy)
    medication_lead_min: float = pydantic.Field(30.0, ge=0, le=120)
    #: one patient per drawer: the robot's drawer count (the sim drawer has A, B, C)
    drawers_per_trip: int = pydantic.Field(3, ge=1, le=20)
    #: (meal, orders taken at, served at), HH:MM; an empty list turns meal service off
    meals: list[tuple[str, str, str]] = [("breakfast", "06:30", "07:45"), ("lunch", "10:30", "12:15"),
                                         ("dinner", "16:00", "17:45")]
    #: the nursing inquiry after the morning round (None: none)
    inquiry_at: str | None = "09:30"
    #: wards whose robot never leaves them (infection control): no pharmacy or kitchen trips
    care_exclude_wards: list[str] = ["isolation"]


def build(ctx: WorkloadContext, robots: list[RobotPlacement], settings: Mapping[str, Any]) -> NursingWorkload:
    try:
        config = NursingSettings.model_validate(dict(settings))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        raise WorkloadError(f"workloads.nursing.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    scheduler = WardScheduler(
        ctx.world, ctx.census, ctx.dispatch, start_s=ctx.start_s,
        round_interval_s=config.round_interval_h * 3600.0, follow_up_escalations=config.follow_up_escalations,
        scored_recheck_s=config.scored_recheck_h * 3600.0,
    )
    for robot in robots:
        if robot.serves is None:
            raise WorkloadError(f"robots[{robot.id}].serves: a nursing robot needs the ward it serves")
        try:
            scheduler.assign(robot.serves, robot.id)
        except ValueError as exc:
            raise WorkloadError(f"robots[{robot.id}].serves: {exc}") from None
    try:
        care = CareScheduler(ctx, config, [(r.serves, r.id) for r in robots
                                           if r.serves is not None and r.serves not in config.care_exclude_wards])
    except ValueError as exc:
        raise WorkloadError(f"workloads.nursing: {exc}") from None
    return NursingWorkload(scheduler, care)


ROUND_PRIORITY = 50
FOLLOW_UP_PRIORITY = 70


@dataclass
class WardRounds:
    ward: str
    robot_id: str
    next_round_s: float
    rounds_started: int = 0
    follow_ups_started: int = 0
    #: (due_s, bed_id) follow-ups, earliest first
    due: list[tuple[float, str]] = field(default_factory=list)


class WardScheduler:
    def __init__(
        self,
        world: World,
        census: PatientCensus,
        dispatch: Dispatch,
        *,
        start_s: float,
        round_interval_s: float,
        follow_up_escalations: bool,
        scored_recheck_s: float = 2 * 3600.0,
    ) -> None:
        self._world = world
        self._census = census
        self._dispatch = dispatch
        self._interval_s = round_interval_s
        self._follow_up = follow_up_escalations
        self._scored_recheck_s = scored_recheck_s
        self._start_s = start_s
        self._wards: dict[str, WardRounds] = {}
        #: per bed, the NEWS2 escalation level the ward was last alerted to (the care plan)
        self._in_force: dict[str, str] = {}

    def assign(self, ward: str, robot_id: str) -> None:
        if ward not in self._world.wards():
            raise ValueError(f"unknown ward {ward!r}; the world has {', '.join(self._world.wards())}")
        self._wards[ward] = WardRounds(ward, robot_id, self._start_s)

    def bed_order(self, ward: str, bed_id: str) -> dict[str, Any]:
        place = next(p for p in self._world.beds(ward) if p.bed_id == bed_id)
        patient = self._census.patient_at_bed(bed_id)
        return {
            "bed_id": bed_id,
            "place": place.name,
            # what the ward's census system says is in this bed (a swapped patient differs)
            "patient_ref": self._census.expected_ref(bed_id),
            "on_oxygen": patient.on_oxygen,
            "spo2_scale": patient.spo2_scale,
            "measure_glucose": patient.needs_glucose,
            "measure_weight": patient.needs_weight,
            "escalation_in_force": self._in_force.get(bed_id, "none"),
        }

    def step(self, now_s: float) -> None:
        for ward in sorted(self._wards):
            rounds = self._wards[ward]
            if now_s >= rounds.next_round_s:
                rounds.rounds_started += 1
                beds = [self.bed_order(ward, p.bed_id) for p in self._world.beds(ward) if p.bed_id]
                mission_id = f"{rounds.robot_id}-round-{rounds.rounds_started:03d}"
                self._dispatch(rounds.robot_id, "nursing_round", {"beds": beds}, ROUND_PRIORITY, mission_id)
                rounds.next_round_s += self._interval_s
                # the full round covers everyone: drop follow-ups that fall before its visit
                rounds.due = [d for d in rounds.due if d[0] > now_s + 0.5 * self._interval_s]
                heapq.heapify(rounds.due)
            due_now: list[str] = []
            while rounds.due and rounds.due[0][0] <= now_s:
                _, bed_id = heapq.heappop(rounds.due)
                if bed_id not in due_now:
                    due_now.append(bed_id)
            if due_now:
                rounds.follow_ups_started += 1
                mission_id = f"{rounds.robot_id}-followup-{rounds.follow_ups_started:03d}"
                beds = [self.bed_order(ward, bed_id) for bed_id in sorted(due_now)]
                self._dispatch(rounds.robot_id, "nursing_round", {"beds": beds}, FOLLOW_UP_PRIORITY, mission_id)

    def summary(self) -> dict[str, Any]:
        return {
            ward: {"robot": r.robot_id, "rounds": r.rounds_started, "follow_ups": r.follow_ups_started}
            for ward, r in sorted(self._wards.items())
        }

    def on_event(self, event: MissionEvent) -> None:
        """Book the next observation that a clinical record's NEWS2 asks for."""
        if event.kind == "alert" and event.data.get("category") == "news2" and event.data.get("bed_ref"):
            self._in_force[str(event.data["bed_ref"])] = str(event.data["severity"])
        if event.kind == "clinical.record" and event.data.get("bed_ref"):
            news2 = event.data.get("news2") or {}
            if news2 and not news2.get("escalate") and not news2.get("any_single_3"):
                self._in_force.pop(str(event.data["bed_ref"]), None)  # recovered: a new rise alerts again
        if not self._follow_up or event.kind != "clinical.record":
            return
        news2 = event.data.get("news2")
        bed_id = event.data.get("bed_ref")
        if not news2 or not bed_id:
            return
        for rounds in self._wards.values():
            if rounds.robot_id != event.robot_id:
                continue
            interval_s = float(news2["next_observation_due_s"])
            if int(news2.get("total", 0)) > 0:
                interval_s = min(interval_s, self._scored_recheck_s)
            due_s = event.stamp_s + interval_s
            already = any(b == bed_id for _, b in rounds.due)
            if due_s < rounds.next_round_s and not already:
                heapq.heappush(rounds.due, (due_s, bed_id))


# ---- the rest of the ward's day: medication, meals, inquiry ------------------------------------

MEDICATION_PRIORITY = 60  # time-critical: ahead of a routine round, behind an escalation follow-up
MEAL_DELIVERY_PRIORITY = 55
MEAL_ORDER_PRIORITY = 40
INQUIRY_PRIORITY = 30
_DAY_S = 86400.0


def _clock_s(hhmm: str) -> float:
    hours, minutes = hhmm.split(":")
    if not (0 <= int(hours) < 24 and 0 <= int(minutes) < 60):
        raise ValueError(f"not a time of day: {hhmm!r}")
    return int(hours) * 3600.0 + int(minutes) * 60.0


@dataclass(order=True)
class _Duty:
    at_s: float
    seq: int
    ward: str = field(compare=False)
    robot_id: str = field(compare=False)
    what: str = field(compare=False)  # "medication" | "meal_orders" | "meal_delivery" | "inquiry"
    arg: str = field(compare=False)  # the drug time (HH:MM) or the meal


class CareScheduler:
    def __init__(self, ctx: WorkloadContext, config: NursingSettings, wards: list[tuple[str, str]]) -> None:
        self._world = ctx.world
        self._census = ctx.census
        self._dispatch = ctx.dispatch
        self._orders = NursingOrders(ctx.census, ctx.seed)
        self._config = config
        self._wards = dict(wards)
        self._counts: dict[str, dict[str, int]] = {w: {"medication_trips": 0, "meal_order_rounds": 0,
                                                        "meal_delivery_trips": 0, "inquiries": 0} for w in self._wards}
        self._kitchen_lists: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (robot, meal) → orders
        self._duties: list[_Duty] = []
        midnight = ctx.start_s - ctx.start_s % _DAY_S
        seq = 0
        for day in range(int((ctx.end_s - midnight) // _DAY_S) + 1):
            base = midnight + day * _DAY_S
            plan: list[tuple[float, str, str]] = []
            for hhmm in config.medication_times:
                plan.append((base + _clock_s(hhmm) - config.medication_lead_min * 60.0, "medication", hhmm))
            for meal, order_at, serve_at in config.meals:
                plan.append((base + _clock_s(order_at), "meal_orders", meal))
                plan.append((base + _clock_s(serve_at), "meal_delivery", meal))
            if config.inquiry_at is not None:
                plan.append((base + _clock_s(config.inquiry_at), "inquiry", ""))
            for at_s, what, arg in plan:
                if ctx.start_s <= at_s < ctx.end_s:
                    for ward, robot_id in sorted(self._wards.items()):
                        seq += 1
                        heapq.heappush(self._duties, _Duty(at_s, seq, ward, robot_id, what, arg))

    def _place(self, ward: str, bed_id: str) -> str:
        return next(p.name for p in self._world.beds(ward) if p.bed_id == bed_id)

    def _bed_ids(self, ward: str) -> list[str]:
        return [p.bed_id for p in self._world.beds(ward) if p.bed_id]

    def step(self, now_s: float) -> None:
        while self._duties and self._duties[0].at_s <= now_s:
            duty = heapq.heappop(self._duties)
            tag = f"{duty.robot_id}-{_stamp(duty.at_s)}"
            counts = self._counts[duty.ward]
            if duty.what == "medication":
                due_s = duty.at_s + self._config.medication_lead_min * 60.0
                patients = []
                for bed_id in self._bed_ids(duty.ward):
                    doses = self._orders.doses_due(bed_id, duty.arg, due_s)
                    if doses:
                        patients.append({"bed_id": bed_id, "place": self._place(duty.ward, bed_id),
                                         "patient_ref": self._census.expected_ref(bed_id), "doses": doses})
                n = self._config.drawers_per_trip
                for k in range(0, len(patients), n):
                    counts["medication_trips"] += 1
                    self._dispatch(duty.robot_id, "medication_round", {"patients": patients[k:k + n]},
                                   MEDICATION_PRIORITY, f"{tag}-meds-{k // n + 1}")
            elif duty.what == "meal_orders":
                beds = [{"bed_id": b, "place": self._place(duty.ward, b), "patient_ref": self._census.expected_ref(b),
                         "diet": self._orders.diet(b)} for b in self._bed_ids(duty.ward)]
                counts["meal_order_rounds"] += 1
                self._dispatch(duty.robot_id, "meal_orders", {"meal": duty.arg, "beds": beds}, MEAL_ORDER_PRIORITY,
                               f"{tag}-{duty.arg}-orders")
            elif duty.what == "meal_delivery":
                orders = [o | {"place": self._place(duty.ward, o["bed_id"]), "diet": self._orders.diet(o["bed_id"])}
                          for o in self._kitchen_lists.pop((duty.robot_id, duty.arg), [])]
                n = self._config.drawers_per_trip
                for k in range(0, len(orders), n):
                    counts["meal_delivery_trips"] += 1
                    self._dispatch(duty.robot_id, "meal_delivery", {"meal": duty.arg, "orders": orders[k:k + n]},
                                   MEAL_DELIVERY_PRIORITY, f"{tag}-{duty.arg}-delivery-{k // n + 1}")
            else:
                beds = [{"bed_id": b, "place": self._place(duty.ward, b), "patient_ref": self._census.expected_ref(b)}
                        for b in self._bed_ids(duty.ward)]
                counts["inquiries"] += 1
                self._dispatch(duty.robot_id, "nursing_inquiry", {"beds": beds}, INQUIRY_PRIORITY, f"{tag}-inquiry")

    def on_event(self, event: MissionEvent) -> None:
        """The kitchen's order list, kept until the meal is served."""
        if event.kind == "mission.step" and event.step == "kitchen.order":
            self._kitchen_lists[(event.robot_id, str(event.data["meal"]))] = [
                {k: o[k] for k in ("bed_id", "patient_ref", "dish")} for o in event.data.get("orders", [])]

    def summary(self) -> dict[str, dict[str, int]]:
        return {ward: dict(c) for ward, c in sorted(self._counts.items())}


def _stamp(at_s: float) -> str:
    """Date and time of a duty for mission ids: deterministic and readable (``0105-0730``)."""
    iso = iso_utc(at_s)
    return f"{iso[5:7]}{iso[8:10]}-{iso[11:13]}{iso[14:16]}"


class NursingWorkload:
    """The observation rounds (unchanged) plus the ward's care duties."""

    def __init__(self, rounds: WardScheduler, care: CareScheduler) -> None:
        self.rounds = rounds
        self.care = care

    def step(self, now_s: float) -> None:
        self.rounds.step(now_s)
        self.care.step(now_s)

    def on_event(self, event: MissionEvent) -> None:
        self.rounds.on_event(event)
        self.care.on_event(event)

    def summary(self) -> dict[str, Any]:
        out = self.rounds.summary()
        for ward, counts in self.care.summary().items():
            out.setdefault(ward, {}).update(counts)
        return out
