"""What a medication round writes and raises: one `medication_administration` record per dose,
the chain-of-custody return list, and the alerts for a hand-out a nurse must check, doses not
returned to the pharmacy, and doses left on board. Plain functions; the mission journals them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hal.clock import iso_utc
from missions import events as ev
from missions.nursing import bedside
from missions.nursing.ledger import GIVEN, NEEDS_NURSE_CHECK, NOT_GIVEN, HandOutLedger
from missions.nursing.mar import PatientDoses


def administration_records(
    mission_id: str, patient: PatientDoses, status: str, reason: str | None, now_s: float, *,
    drawer_id: str | None, authorised_by: str | None, confirmed_by: str | None,
) -> list[dict[str, Any]]:
    """The `clinical.record` data of each of the patient's doses, with the drawer's outcome."""
    return [
        {"record_id": f"{mission_id}.{d.order_id}", "record_type": "medication_administration",
         "patient_ref": patient.patient_ref, "bed_ref": patient.bed_id, "news2": None,
         "observations": {"order_id": d.order_id, "drug": d.drug, "dose_mg": d.dose_mg, "route": d.route,
                          "due_at": iso_utc(d.due_s), "status": status, "reason": reason,
                          "drawer_id": drawer_id, "authorised_by": authorised_by,
                          "confirmed_by": confirmed_by, "recorded_at": iso_utc(now_s)}}
        for d in patient.doses
    ]


def nurse_check_alert(
    mission_id: str, bed_id: str, where: dict[str, Any], reason: str | None, drawer_id: str | None,
    lock_problem: str | None,
) -> dict[str, Any]:
    """Medium: the hand-out needs a nurse's check (receipt unknown, or its drawer did not lock)."""
    return bedside.alert(
        f"{mission_id}.{bed_id}.check", ev.Severity.MEDIUM, "medication", where,
        f"Bed {bed_id}: medication hand-out needs nurse check ({reason})"
        + (f"; drawer {drawer_id} not locked: {lock_problem}" if lock_problem else ""),
        bed_ref=bed_id)


def return_items(patients: Sequence[PatientDoses], ledger: HandOutLedger) -> list[dict[str, Any]]:
    """Every drawer going back to the pharmacy, with its bed's status and orders (custody log)."""
    return [{"bed_id": bed, "drawer_id": drawer, "status": ledger.status(bed),
             "order_ids": [d.order_id for p in patients if p.bed_id == bed for d in p.doses]}
            for bed, drawer in sorted(ledger.to_return().items())]


def not_returned_alert(mission_id: str, where: dict[str, Any], problem: str | None, drawers: int) -> dict[str, Any]:
    """High: medication could not be taken back to the pharmacy and is still on the robot."""
    return bedside.alert(
        f"{mission_id}.return", ev.Severity.HIGH, "medication", where,
        f"Medication not returned to pharmacy ({problem}): {drawers} drawer(s) still loaded on the robot")


def on_board_alert(
    mission_id: str, where: dict[str, Any], end_reason: str | None, on_board: Mapping[str, str]
) -> dict[str, Any]:
    """Medium: the round ended (cancelled or failed) with doses locked on board."""
    return bedside.alert(
        f"{mission_id}.on_board", ev.Severity.MEDIUM, "medication", where,
        f"Medication round ended ({end_reason or 'stopped'}) with doses locked on board in drawer(s) "
        f"{', '.join(sorted(set(on_board.values())))} - return them to the pharmacy")


def round_result(ledger: HandOutLedger) -> dict[str, Any]:
    """The round's result data: who was given their doses, who not and why, what is still on board."""
    by_status: dict[str, list[str]] = {GIVEN: [], NOT_GIVEN: [], NEEDS_NURSE_CHECK: []}
    for bed, outcome in ledger.outcomes.items():
        by_status.setdefault(str(outcome["status"]), []).append(bed)
    return {
        "given": by_status[GIVEN], "needs_nurse_check": by_status[NEEDS_NURSE_CHECK],
        "not_given": [{"bed_id": b, "reason": ledger.outcomes[b]["reason"]} for b in by_status[NOT_GIVEN]],
        "returned_to_pharmacy": bool(ledger.returned and ledger.returned.get("returned")),
        "on_board": sorted(ledger.to_return()) if not (ledger.returned or {}).get("returned") else [],
    }
