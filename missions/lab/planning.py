"""Where each tube of a lab run goes: the routing decision for a read label, and the move plans
of each phase (balance tube, loading, controls in and out, discard, hold).

Plans are computed from the committed decisions and the racks' occupancy once, then journaled by
the mission before they run, so a restart executes the same moves (see `missions.lab.moves`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hal.analyzer import Analyzer
from hal.centrifuge import Centrifuge
from hal.device import DeviceError
from hal.tube_handler import TubeHandler
from missions import events as ev
from missions.context import MissionContext
from missions.lab.moves import Move
from missions.lab.orders import QC_LABEL_PREFIX, SPECIMEN_LABEL_PREFIX, LabRunParams, OrderBook
from missions.lab.report import lab_alert


class LabPlanning:
    """Mixin of `LabRun`: decisions and plans from its committed state (no device operation)."""

    ctx: MissionContext
    mission_id: str
    params: LabRunParams
    book: OrderBook
    _sorted: dict[str, dict[str, Any]]
    _plans: dict[str, list[Move]]
    _results: dict[str, dict[str, Any]]
    _qc: dict[str, dict[str, Any]]
    _spun: bool

    @property
    def _handler(self) -> TubeHandler:
        return self.ctx.devices.require(TubeHandler)

    def _analyzers(self) -> dict[str, Analyzer]:
        return {d.name: d for d in self.ctx.devices if isinstance(d, Analyzer)}

    def _balance_in_plan(self) -> list[Move]:
        serum = self._accepted(centrifuge=True)
        balance = self.params.balance_position
        if len(serum) % 2 == 0 or balance is None:
            return []
        rotor = self.ctx.devices.require(Centrifuge).rotor_area()
        free = self._handler.rack(rotor).free()
        if not free:
            return []
        return [Move(balance, free[0])]

    def _load_plan(self) -> list[Move]:
        moves = []
        taken: dict[str, list[str]] = {}
        for decision in self._accepted(centrifuge=True):
            area = decision["analyzer"]
            free = [p for p in self._handler.rack(area).free() if p not in taken.setdefault(area, [])]
            if not free:
                raise DeviceError(area, f"no free position on analyzer {area} for {decision['sample_id']}")
            taken[area].append(free[0])
            moves.append(Move(decision["destination"], free[0]))
        for move in self._plans.get("balance_in", []):
            moves.append(Move(move.destination, move.source))  # the balance goes home
        return moves

    def _qc_in_plan(self, analyzer: str) -> list[Move]:
        free = self._handler.rack(analyzer).free()
        controls = [c for c in self.params.controls if c.analyzer == analyzer]
        if len(free) < len(controls):
            raise DeviceError(analyzer, f"no free position on analyzer {analyzer} for its QC material")
        return [Move(c.position, free[i]) for i, c in enumerate(controls)]

    def _qc_out_plan(self, analyzer: str) -> list[Move]:
        return [Move(m.destination, m.source) for m in self._plans.get(f"qc_in:{analyzer}", [])]

    def _discard_plan(self) -> list[Move]:
        """Analysed tubes to waste; a tube whose results were not all released to the hold."""
        keep = {sid for sid, r in self._results.items() if r.get("keep_tube")}
        return self._out_plan(lambda sample_id: sample_id in keep or sample_id not in self._results)

    def _hold_plan(self) -> list[Move]:
        return self._out_plan(lambda sample_id: True)

    def _out_plan(self, keep: Callable[[str], bool]) -> list[Move]:
        positions = self._analyzer_positions()
        free = {area: self._handler.rack(area).free() for area in (self.params.waste_area, self.params.hold_area)}
        moves = []
        for decision in self._accepted():
            sample_id = decision["sample_id"]
            area = self.params.hold_area if keep(sample_id) else self.params.waste_area
            if not free[area]:
                raise DeviceError(area, f"no free position in {area} for {sample_id}")
            moves.append(Move(positions[sample_id], free[area].pop(0)))
        return moves

    def _analyzer_positions(self) -> dict[str, str]:
        """Where each accepted tube sits on its analyzer (from the journaled plans)."""
        where = {d["sample_id"]: d["destination"] for d in self._accepted()}
        by_position = {d["destination"]: d["sample_id"] for d in self._accepted(centrifuge=True)}
        for move in self._plans.get("load", []):
            if move.source in by_position:
                where[by_position[move.source]] = move.destination
        return where

    def _decide(self, slot: str, payload: str) -> dict[str, Any]:
        order = self.book.match_label(payload)
        if payload.startswith(QC_LABEL_PREFIX):
            return self._reject(slot, payload, "control material in the sample rack")
        if order is None:
            what = payload.removeprefix(SPECIMEN_LABEL_PREFIX) if payload.startswith(SPECIMEN_LABEL_PREFIX) \
                else "unknown label format"
            return self._reject(slot, payload, f"no order for this label ({what})")
        if any(d.get("sample_id") == order.sample_id for d in self._sorted.values()):
            return self._reject(slot, payload, f"duplicate label: {order.sample_id} already in this run")
        analyzers = [name for name, a in sorted(self._analyzers().items())
                     if set(order.tests) <= a.supported_tests()]
        if not analyzers:
            return self._reject(slot, payload, f"no analyzer on this robot runs {', '.join(order.tests)}")
        analyzer = analyzers[0]
        # room for the balance tube in the rotor, and for the controls on the analyzer
        controls = sum(1 for c in self.params.controls if c.analyzer == analyzer)
        capacity = len(self._handler.rack(analyzer).positions) - controls
        if order.needs_centrifuge:
            area = self.ctx.devices.require(Centrifuge).rotor_area()
            spare = 1 if self.params.balance_position is not None else 0
        else:
            area, spare = analyzer, 0
        free = [p for p in self._handler.rack(area).free() if p not in self._reserved()]
        on_analyzer = sum(1 for d in self._accepted() if d["analyzer"] == analyzer)
        if len(free) <= spare or on_analyzer >= capacity:
            return self._deferred(slot, payload, order.sample_id, "no free position: left for the next run")
        return {"slot": slot, "outcome": "accepted", "label": payload, "sample_id": order.sample_id,
                "analyzer": analyzer, "centrifuge": order.needs_centrifuge, "destination": free[0],
                "reason": None, "alerts": []}

    def _deferred(self, slot: str, payload: str | None, sample_id: str | None, reason: str) -> dict[str, Any]:
        return {"slot": slot, "outcome": "deferred", "label": payload, "sample_id": sample_id,
                "destination": None, "reason": reason, "alerts": []}

    def _reject(self, slot: str, payload: str | None, reason: str) -> dict[str, Any]:
        free = [p for p in self._handler.rack(self.params.reject_area).free() if p not in self._reserved()]
        if not free:
            raise DeviceError(self.params.reject_area, "reject rack full")
        alert = lab_alert(
            f"{self.mission_id}.reject.{slot}", ev.Severity.LOW, "lab.sample", self._where(),
            f"Tube from {slot} rejected to manual handling ({free[0]}): {reason}", slot=slot, label=payload,
        )
        return {"slot": slot, "outcome": "rejected", "label": payload, "sample_id": None,
                "destination": free[0], "reason": reason, "alerts": [alert]}

    def _reserved(self) -> set[str]:
        return {d["destination"] for d in self._sorted.values() if d["destination"]}

    def _accepted(self, *, centrifuge: bool | None = None) -> list[dict[str, Any]]:
        return [d for d in self._sorted.values() if d["outcome"] == "accepted"
                and (centrifuge is None or d["centrifuge"] is centrifuge)]

    def _where(self) -> dict[str, Any] | None:
        where: dict[str, Any] = {"place": self.params.place, "x_m": 0.0, "y_m": 0.0}
        base = self.ctx.devices.drive_base
        if base is not None:
            try:
                pose = base.odometry().pose
                where.update(x_m=round(pose.x_m, 3), y_m=round(pose.y_m, 3), level=pose.level)
            except DeviceError:
                pass
        return where

    def _result_data(self) -> dict[str, Any]:
        received = {d["sample_id"] for d in self._sorted.values() if d.get("sample_id")}
        return {
            "samples_reported": sorted(self._results),
            "samples_rejected": [{"slot": d["slot"], "label": d["label"], "reason": d["reason"]}
                                 for d in self._sorted.values() if d["outcome"] == "rejected"],
            "samples_deferred": sorted(str(d["sample_id"]) for d in self._sorted.values()
                                       if d["outcome"] == "deferred" and d["sample_id"]),
            "tubes_deferred": [{"slot": d["slot"], "reason": d["reason"]} for d in self._sorted.values()
                               if d["outcome"] == "deferred"],
            "samples_held": sorted(d["sample_id"] for d in self._accepted() if d["sample_id"] not in self._results),
            "orders_not_received": sorted(o.sample_id for o in self.book if o.sample_id not in received),
            "critical_results": [{"sample_id": s, "tests": r["critical"]} for s, r in sorted(self._results.items())
                                 if r["critical"]],
            "qc": {a: {"accepted": q["accepted"], "reason": q["reason"]} for a, q in sorted(self._qc.items())},
            "centrifuged": self._spun,
        }
