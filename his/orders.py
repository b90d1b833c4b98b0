"""Specimen collection orders → lab pick-up task requests to the fleet; ORC-1 CA withdraws them.

A new order (ORC-1 NW) becomes one ``sample_pickup`` task (fleet/demand/lab_pickups.py's kind and
params: ``station``, ``expected_samples``, ``lab_place``) at the nurse station of the patient's
ward, for a lab robot, due within the pick-up window (shorter for a stat order). Its task id is
``his-pickup-<order key>``, the order key a keyed hash of the placer order number, so the same order
sent again is the same task (the fleet keeps the first), and no order number leaves this service.

A cancellation (ORC-1 CA) is refused (AE 206, "unable to cancel") once the fleet has reported the
pick-up running or ended, and otherwise withdraws it: a ``cancel`` request to the fleet. What the
fleet has not confirmed on its ``tasks`` topic is sent again (`pending_requests`), so a request is
not lost to a broker outage or our restart; the fleet treats a repeat as the same request.

Imaging orders (OBR-24 an imaging section) are acknowledged and not acted on: imaging work comes
from the DICOM worklist (fleet/demand/radiology_worklist.py).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from his.census import patient_location
from his.hl7in import Hl7Error, Location, OrderItem, OrderMessage
from his.pseudonym import Pseudonymizer

#: the fleet's task states after which a pick-up can no longer be withdrawn
STARTED_STATES = frozenset({"running", "done", "failed"})
ISSUER = {"user": "his", "role": "operator"}


@dataclass(frozen=True, slots=True)
class OrderPolicy:
    #: ward (PV1-3.1 point of care) -> the nurse station place where its samples are handed over
    stations: Mapping[str, str]
    lab_place: str = "clinical-lab"
    pickup_window_min: float = 60.0
    stat_window_min: float = 20.0
    priority: int = 60
    stat_priority: int = 85
    robot_kinds: tuple[str, ...] = ("lab",)
    #: only stat orders get a pick-up of their own (routine ones are recorded: the lab's rounds fetch them)
    stat_only: bool = False


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    task_id: str
    action: str  # "submit", "cancel", "none" (a repeat, an imaging order, already cancelled)
    body: dict[str, Any] | None  # the tasks/request body to publish


def _iso(stamp_s: float) -> str:
    seconds, ms = divmod(round(stamp_s * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}Z"


def _find(c: sqlite3.Connection, pseudonyms: Pseudonymizer, item: OrderItem) -> tuple[str, str, str | None] | None:
    for key in pseudonyms.order_keys(item.placer_namespace, item.placer_order):
        row = c.execute("SELECT task_id, state, fleet_state FROM orders WHERE order_key = ?", (key,)).fetchone()
        if row is not None:
            return str(row[0]), str(row[1]), None if row[2] is None else str(row[2])
    return None


def _station(policy: OrderPolicy, location: Location, n: int) -> str:
    if location.ward is None:
        raise Hl7Error("AE", 101, "the patient is not in the census and PV1-3 names no ward: no pick-up station",
                       "PV1^1^3")
    station = policy.stations.get(location.ward)
    if station is None:
        raise Hl7Error("AE", 103, f"no lab pick-up station is configured for ward {location.ward}", "PV1^1^3")
    return station


def apply_order(c: sqlite3.Connection, pseudonyms: Pseudonymizer, policy: OrderPolicy, msg: OrderMessage,
                now_s: float) -> list[OrderOutcome]:
    """Check and apply every order of the message inside transaction ``c`` (all or none)."""
    placed = patient_location(c, pseudonyms, msg.patient_id)
    patient_ref = placed[0] if placed is not None else pseudonyms.ref(msg.patient_id)
    location = placed[1] if placed is not None and placed[1].ward is not None else msg.location
    outcomes: list[OrderOutcome] = []
    for n, item in enumerate(msg.items, start=1):
        known = _find(c, pseudonyms, item)
        if item.control == "NW":
            outcomes.append(_new(c, pseudonyms, policy, item, known, patient_ref, location, n, now_s))
        else:
            outcomes.append(_cancel(c, item, known, n, now_s))
    return outcomes


def _new(c: sqlite3.Connection, pseudonyms: Pseudonymizer, policy: OrderPolicy, item: OrderItem,
         known: tuple[str, str, str | None] | None, patient_ref: str, location: Location, n: int,
         now_s: float) -> OrderOutcome:
    if item.imaging:
        return OrderOutcome("", "none", None)
    if known is not None:
        task_id, state, _ = known
        if state != "requested":
            raise Hl7Error("AE", 205, "this order was cancelled; a new order needs a new placer order number",
                           f"ORC^{n}^2")
        return OrderOutcome(task_id, "none", None)
    station = _station(policy, location, n)
    key = pseudonyms.order_keys(item.placer_namespace, item.placer_order)[0]
    task_id = f"his-pickup-{key}"
    if policy.stat_only and not item.stat:
        # on record (a cancel finds it), no pick-up of its own: the tube goes with the lab's round
        c.execute("INSERT INTO orders VALUES (?, ?, ?, 'requested', 'routine', ?, NULL, ?)",
                  (key, task_id, patient_ref, json.dumps({}), now_s))
        return OrderOutcome(task_id, "none", None)
    window_min = policy.stat_window_min if item.stat else policy.pickup_window_min
    body = {"action": "submit", "issued_by": dict(ISSUER), "task": {
        "task_id": task_id, "kind": "sample_pickup",
        "params": {"station": station, "expected_samples": [item.specimen_id], "lab_place": policy.lab_place},
        "priority": policy.stat_priority if item.stat else policy.priority, "robot_kinds": list(policy.robot_kinds),
        "earliest_start": None, "deadline": _iso(now_s + window_min * 60.0), "zone": None, "place": station}}
    c.execute("INSERT INTO orders VALUES (?, ?, ?, 'requested', NULL, ?, NULL, ?)",
              (key, task_id, patient_ref, json.dumps(body, sort_keys=True), now_s))
    return OrderOutcome(task_id, "submit", body)


def _cancel(c: sqlite3.Connection, item: OrderItem, known: tuple[str, str, str | None] | None, n: int,
            now_s: float) -> OrderOutcome:
    if known is None:
        raise Hl7Error("AE", 204, "ORC-1 CA: no such order here (placer order number unknown)", f"ORC^{n}^2")
    task_id, state, fleet_state = known
    if state in ("cancel_requested", "cancelled"):
        return OrderOutcome(task_id, "none", None)
    if fleet_state == "routine":  # never requested of the fleet: cancelled here, nothing to withdraw
        c.execute("UPDATE orders SET state = 'cancelled', updated_s = ? WHERE task_id = ?", (now_s, task_id))
        return OrderOutcome(task_id, "none", None)
    if fleet_state in STARTED_STATES:
        raise Hl7Error("AE", 206, f"unable to cancel: the pick-up is already {fleet_state}", f"ORC^{n}^1")
    body = cancel_body(task_id)
    c.execute("UPDATE orders SET state = 'cancel_requested', request = ?, sent_s = NULL, updated_s = ? "
              "WHERE task_id = ?", (json.dumps(body, sort_keys=True), now_s, task_id))
    return OrderOutcome(task_id, "cancel", body)


def cancel_body(task_id: str) -> dict[str, Any]:
    return {"action": "cancel", "issued_by": dict(ISSUER), "task_id": task_id,
            "reason": "order cancelled by the hospital (ORC-1 CA)"}


def on_task_state(c: sqlite3.Connection, task_id: str, state: str, now_s: float) -> str | None:
    """Record a task state the fleet published; returns the order's state after it (None: not ours)."""
    row = c.execute("SELECT state FROM orders WHERE task_id = ?", (task_id,)).fetchone()
    if row is None:
        return None
    ours = str(row[0])
    if state == "cancelled":
        ours = "cancelled"
    c.execute("UPDATE orders SET fleet_state = ?, state = ?, updated_s = ? WHERE task_id = ?",
              (state, ours, now_s, task_id))
    return ours


def pending_requests(c: sqlite3.Connection, now_s: float, resend_after_s: float) -> list[tuple[str, dict[str, Any]]]:
    """Requests the fleet has not confirmed and that were not sent in the last ``resend_after_s``:
    submits with no task state seen yet, cancels not yet seen cancelled (or refused by the fleet)."""
    rows = c.execute(
        "SELECT task_id, request FROM orders WHERE ((state = 'requested' AND fleet_state IS NULL) "
        "OR (state = 'cancel_requested' AND (fleet_state IS NULL OR fleet_state NOT IN ('done', 'failed', "
        "'rejected')))) AND (sent_s IS NULL OR sent_s <= ?) ORDER BY updated_s, task_id",
        (now_s - resend_after_s,)).fetchall()
    return [(str(t), json.loads(r)) for t, r in rows]


def mark_sent(c: sqlite3.Connection, task_id: str, now_s: float) -> None:
    c.execute("UPDATE orders SET sent_s = ? WHERE task_id = ?", (now_s, task_id))
