"""A robot process for the kill/restart test: one simulated robot doing one mission (a medication
round or a supply delivery) from its journal, every event written (flushed) as a JSON line. Started
again after a SIGKILL it resumes from the journal; the world is rebuilt as it was at the start."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from rig import RobotRig, at

from sim.logistics_world import ITEMS, WARD_STORES, logistics_world


def medication(rig: RobotRig) -> dict[str, Any]:
    patients = []
    for place in [p for p in rig.world.beds("ward-a") if p.bed_id][:3]:
        assert place.bed_id is not None
        ref = rig.census.expected_ref(place.bed_id)
        patients.append({"bed_id": place.bed_id, "place": place.name, "patient_ref": ref, "doses": [
            {"order_id": f"rx-{place.bed_id}-paracetamol".lower(), "patient_ref": ref, "drug": "paracetamol",
             "dose_mg": 1000.0, "route": "oral", "due_s": at("08:00")}]})
    return {"patients": patients}


def delivery(rig: RobotRig) -> dict[str, Any]:
    stock = logistics_world(rig.env).ward_stock("ward-a")
    lines = [ln for ln in stock if ITEMS[ln.item][0] == "central-supply"][:2]
    return {"delivery_id": "kill-delivery", "origin": "central-supply", "sender_role": "supply",
            "destination": WARD_STORES["ward-a"], "ward": "ward-a",
            "items": [{"item": ln.item, "quantity": max(1, ln.par_level - ln.on_hand)} for ln in lines],
            "ward_stock": [{"item": ln.item, "on_hand": ln.on_hand, "reorder_point": ln.reorder_point,
                            "par_level": ln.par_level} for ln in stock]}


def main(kind: str, journal_dir: str, events_path: str) -> None:
    if kind == "medication_round":
        rig = RobotRig(Path(journal_dir), kind="nursing", start="07:35")
        params = medication(rig)
    else:
        rig = RobotRig(Path(journal_dir), kind="logistics", dock="dock-supply", start="07:35")
        params = delivery(rig)
    # a process killed mid-line leaves a partial last line: end it, so that it cannot swallow this
    # process's first event (the one a restart re-announces from its journal)
    path = Path(events_path)
    if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
        with open(path, "a", encoding="utf-8") as fix:
            fix.write("\n")
    with open(events_path, "a", encoding="utf-8") as out:
        def write(event: Any) -> None:
            out.write(json.dumps({"kind": event.kind, "step": event.step, "mission": event.mission_id,
                                  "reason": event.reason, "data": event.data}, default=str) + "\n")
            out.flush()

        # what the restart re-announced from its journal while the rig set the robot up (the outbox)
        for event in rig.events:
            write(event)
        rig.robot.add_listener(write)
        rig.robot.dispatch(kind, params, mission_id=f"kill-{kind}")  # a no-op when the journal knows it
        rig.run_until(rig.idle, max_s=3 * 3600)
        out.write(json.dumps({"kind": "worker.done"}) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
