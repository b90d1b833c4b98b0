"""Stands in for the ward's electronic observation chart: who needs observing, and when.

Full rounds at the ward's interval; between rounds, each patient whose NEWS2 asks for more
frequent observation gets a follow-up visit when it falls due (RCP response table).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from missions.events import MissionEvent
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


def build(ctx: WorkloadContext, robots: list[RobotPlacement], settings: Mapping[str, Any]) -> WardScheduler:
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
    return scheduler


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
