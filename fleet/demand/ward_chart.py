"""The ward's electronic observation chart: who needs observing, and when.

Full rounds of every bed of a ward at the ward's interval; between rounds, each patient whose
NEWS2 asks for more frequent observation gets a follow-up visit when it falls due (RCP response
table, with the ward's stricter re-check for any score above 0). The chart is kept **per ward, not
per robot**: a follow-up is booked from a `clinical` record whatever robot measured it, so when a
ward's robot dies and another robot takes its round, that robot's records keep the chart going.

The chart never picks a robot: it submits `nursing_round` tasks for the ward (zone = ward) and the
allocator decides. Who lies in a bed and their care flags come from the ward's census
(`ctx.hospital["ward_census"]`, the narrow `WardCensus` protocol below): on a real site, and in
`medbot sim` with its HIS feed, the HIS link's census as the fleet reads it off the contract
(`fleet/census.py`, topic ``his/census``); the simulated hospital's own (`sim/hospital/nursing.py`)
in `medbot sim` without it. Each round's beds are read from the census when the round is booked, so
an admission is in the next round, a patient transferred before it is visited in the new bed, and
a discharged patient's bed is left out. A census that says it is not `ready` yet (no message from
the HIS link so far) holds the rounds back until it is: a round of empty beds would be no round.

Task ids are the idempotency key, so they are derived from what the task *is* (ward, due time,
earliest-booked bed), never from a counter alone: a fleet restored from a snapshot older than its last step
re-submits the same ids for the same work (the store keeps the first), and a new follow-up can
never collide with an old one.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pydantic

from fleet.demand import DemandContext, DemandError, RobotMessage
from fleet.demand._common import Strict, choose_wards, hospital_info, parse_settings, task_id
from fleet.demand.daily import stamp
from fleet.tasks import Task, TaskRequest

NAME = "ward_chart"
ROUND_PRIORITY = 50
FOLLOW_UP_PRIORITY = 70
ROBOT_KINDS = ("nursing",)
#: a round should be finished within 2 h of its start: a 4-hourly ward then still has half its
#: interval before the next round, and an RCP 12-hourly minimum is never at risk
ROUND_DEADLINE_S = 2 * 3600.0
#: a follow-up is a NEWS2 re-check for a patient who scored: RCP asks for them at least hourly
#: from a score of 5 (or a single 3), so a re-check more than half an hour late has lost half its
#: interval and is late, whatever the allocator had on its plate (15-minute re-checks for a score
#: of 7+ hand continuous monitoring to staff with the alert; the robot's re-check is a backstop)
FOLLOW_UP_DEADLINE_S = 30 * 60.0
SNAPSHOT_VERSION = 1


# ---- what the chart reads of the hospital (implemented by his/ or the simulated hospital) ------


class CareFlags(Protocol):
    """What a round measures for one patient, by the ward's care plan."""

    @property
    def on_oxygen(self) -> bool: ...
    @property
    def spo2_scale(self) -> int: ...
    @property
    def measure_glucose(self) -> bool: ...
    @property
    def measure_weight(self) -> bool: ...


class BedCensus(CareFlags, Protocol):
    """What the ward's census says about the patient in one bed (pseudonymous, never a name)."""

    @property
    def patient_ref(self) -> str: ...


class WardCensus(Protocol):
    def bed(self, bed_id: str) -> BedCensus | None:
        """The patient in the bed, or None for an empty (or unknown) bed."""
        ...


# ---- settings ----------------------------------------------------------------------------------


class WardChartSettings(Strict):
    #: full ward rounds at this interval (RCP: at least 12-hourly; wards commonly 4-hourly)
    round_interval_h: float = pydantic.Field(4.0, gt=0)
    #: follow NEWS2's observation frequency for escalated patients between rounds
    follow_up_escalations: bool = True
    #: ward policy for a NEWS2 of 1–4: the RCP sets a *minimum* of 4–6-hourly; this ward re-checks
    #: anyone who scored sooner, so that a patient starting to slide is not left until the next round
    scored_recheck_h: float = pydantic.Field(2.0, gt=0)
    #: the wards charted (None: every ward of the site map)
    wards: list[str] | None = None
    #: the site's local time is UTC plus this: only for the times in task ids (rounds run at the
    #: interval from the service's start)
    utc_offset_h: float = pydantic.Field(0.0, ge=-14, le=14)


def build(ctx: DemandContext, settings: Mapping[str, Any]) -> WardChart:
    config = parse_settings(WardChartSettings, NAME, settings)
    census = hospital_info(ctx, NAME, "ward_census", "bed")
    return WardChart(ctx, config, census)


# ---- the chart ---------------------------------------------------------------------------------


@dataclass
class _Ward:
    name: str
    next_round_s: float
    rounds: int = 0
    follow_ups: int = 0
    #: (due_s, bed_id) follow-ups booked and not yet submitted, earliest first
    due: list[tuple[float, str]] = field(default_factory=list)


class WardChart:
    name = NAME

    def __init__(self, ctx: DemandContext, config: WardChartSettings, census: WardCensus) -> None:
        self._submit = ctx.submit
        self._census = census
        self._interval_s = config.round_interval_h * 3600.0
        self._utc_offset_h = config.utc_offset_h
        self._follow_up = config.follow_up_escalations
        self._scored_recheck_s = config.scored_recheck_h * 3600.0
        wards = choose_wards(NAME, ctx.site, config.wards)
        self._wards = {w: _Ward(w, ctx.start_s) for w in wards}
        #: bed id -> (ward, place name), the beds of the charted wards in site order
        self._beds: dict[str, tuple[str, str]] = {
            p.bed_id: (w, p.name) for w in wards for p in ctx.site.beds(w) if p.bed_id}
        #: per bed, the NEWS2 escalation level the ward was last alerted to (the care plan)
        self._in_force: dict[str, str] = {}
        #: per bed, the stamp of the latest record acted on: a record delivered twice (QoS 1, a
        #: robot's spool replayed after a reconnect) or late behind a newer one books nothing
        self._last_record_s: dict[str, float] = {}

    # ---- the ward's orders ------------------------------------------------------------------

    def bed_order(self, bed_id: str) -> dict[str, Any] | None:
        """One bed of a nursing_round (the mission's BedOrder), or None for an empty bed."""
        patient = self._census.bed(bed_id)
        if patient is None:
            return None
        return {
            "bed_id": bed_id,
            "place": self._beds[bed_id][1],
            # what the ward's census system says is in this bed (a swapped patient differs)
            "patient_ref": patient.patient_ref,
            "on_oxygen": patient.on_oxygen,
            "spo2_scale": patient.spo2_scale,
            "measure_glucose": patient.measure_glucose,
            "measure_weight": patient.measure_weight,
            "escalation_in_force": self._in_force.get(bed_id, "none"),
        }

    def _request(self, task: str, ward: str, beds: list[dict[str, Any]], priority: int, due_s: float,
                 deadline_s: float) -> None:
        self._submit(TaskRequest(
            task_id=task, kind="nursing_round", params={"beds": beds}, priority=priority,
            robot_kinds=ROBOT_KINDS, earliest_start_s=due_s, deadline_s=deadline_s, zone=ward,
            place=str(beds[0]["place"]), requested_by=f"source:{NAME}",
        ))

    def step(self, now_s: float) -> None:
        if not getattr(self._census, "ready", True):
            return  # the HIS census has not arrived yet: the rounds wait for it (not skipped)
        for name in sorted(self._wards):
            ward = self._wards[name]
            if now_s >= ward.next_round_s:
                # one round per interval however late the step: a fleet that was down for a whole
                # interval owes the ward its latest round, not two at once
                while ward.next_round_s + self._interval_s <= now_s:
                    ward.next_round_s += self._interval_s
                due_s = ward.next_round_s
                ward.next_round_s += self._interval_s
                beds = [o for o in (self.bed_order(b) for b, (w, _) in self._beds.items() if w == name) if o]
                if beds:
                    ward.rounds += 1
                    tid = task_id("round", name, stamp(due_s, self._utc_offset_h))
                    self._request(tid, name, beds, ROUND_PRIORITY, due_s, due_s + ROUND_DEADLINE_S)
                # the full round covers everyone: drop follow-ups that fall before its visit
                ward.due = [d for d in ward.due if d[0] > now_s + 0.5 * self._interval_s]
                heapq.heapify(ward.due)
            if not ward.due or ward.due[0][0] > now_s:
                continue
            popped: list[tuple[float, str]] = []  # earliest first
            while ward.due and ward.due[0][0] <= now_s:
                popped.append(heapq.heappop(ward.due))
            orders = {b: o for b in sorted({b for _, b in popped}) if (o := self.bed_order(b))}
            if orders:
                ward.follow_ups += 1
                # named by its earliest booking (time and bed), not a counter: the same follow-up
                # re-submitted after a restart has the same id, and no later one can take it
                first_due_s, first_bed = next((s, b) for s, b in popped if b in orders)
                tid = task_id("followup", name, stamp(first_due_s, self._utc_offset_h), first_bed)
                self._request(tid, name, list(orders.values()), FOLLOW_UP_PRIORITY, first_due_s,
                              first_due_s + FOLLOW_UP_DEADLINE_S)

    # ---- what robots report -----------------------------------------------------------------

    def on_message(self, message: RobotMessage) -> None:
        body = message.body
        if message.channel == "alerts":
            # the alert that the ward was paged for: later re-measurements at that level page no one
            data = body.get("data")
            bed_ref = (data.get("bed_ref") if isinstance(data, dict) else None) or body.get("bed_ref")
            if body.get("category") == "news2" and isinstance(bed_ref, str) and bed_ref in self._beds:
                self._in_force[bed_ref] = str(body.get("severity", "none"))
            return
        if message.channel != "clinical":
            return
        news2 = body.get("news2")
        bed_id = body.get("bed_ref")
        if not isinstance(news2, dict) or not isinstance(bed_id, str) or bed_id not in self._beds:
            return  # not a scored record (a medication record, a case report) or not a charted bed
        if message.stamp_s <= self._last_record_s.get(bed_id, float("-inf")):
            return
        self._last_record_s[bed_id] = message.stamp_s
        if not news2.get("escalate") and not news2.get("any_single_3"):
            self._in_force.pop(bed_id, None)  # recovered: a new rise alerts again
        if not self._follow_up:
            return
        if not isinstance(news2.get("next_observation_due_s"), int | float):
            return
        ward = self._wards[self._beds[bed_id][0]]
        interval_s = float(news2["next_observation_due_s"])
        if int(news2.get("total", 0)) > 0:
            interval_s = min(interval_s, self._scored_recheck_s)
        due_s = message.stamp_s + interval_s
        already = any(b == bed_id for _, b in ward.due)
        if due_s < ward.next_round_s and not already:
            heapq.heappush(ward.due, (due_s, bed_id))

    def on_task_finished(self, task: Task) -> None:
        # Nothing to book: a bed the task did not reach is covered by the records of the next
        # round, and a re-check the fleet gave up on is reported by the fleet with its reason
        # (re-booking it here would re-submit, forever, work that no robot can do).
        return

    # ---- figures and persistence ------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        return {name: {"rounds": w.rounds, "follow_ups": w.follow_ups,
                       "follow_ups_booked": len(w.due)} for name, w in sorted(self._wards.items())}

    def snapshot(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "wards": {name: {"next_round_s": w.next_round_s, "rounds": w.rounds, "follow_ups": w.follow_ups,
                             "due": [[s, b] for s, b in sorted(w.due)]}
                      for name, w in sorted(self._wards.items())},
            "in_force": dict(sorted(self._in_force.items())),
            "last_record_s": dict(sorted(self._last_record_s.items())),
        }

    def restore(self, state: dict[str, Any]) -> None:
        try:
            if state.get("version") != SNAPSHOT_VERSION:
                raise ValueError(f"version {state.get('version')!r}, expected {SNAPSHOT_VERSION}")
            wards = dict(self._wards)
            for name, saved in state["wards"].items():
                if name not in wards:
                    continue  # a ward no longer charted
                due = [(float(s), str(b)) for s, b in saved["due"] if str(b) in self._beds]
                heapq.heapify(due)
                wards[name] = _Ward(name, float(saved["next_round_s"]), int(saved["rounds"]), int(saved["follow_ups"]),
                                    due)
            in_force = {str(b): str(s) for b, s in state["in_force"].items() if b in self._beds}
            last_record_s = {str(b): float(s) for b, s in state["last_record_s"].items() if b in self._beds}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DemandError(f"demand.{NAME}: cannot restore the snapshot ({type(exc).__name__}: {exc})") from None
        # all or nothing: a snapshot that fails half-way leaves the chart as it was
        self._wards, self._in_force, self._last_record_s = wards, in_force, last_record_s
