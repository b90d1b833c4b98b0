"""What a lab run journals and raises besides the sample results (`missions.lab.report`): the QC
decision of an analyzer without QC material on board, and the alerts for a stopped run,
a sample fridge out of range and a failed QC. Plain functions; the mission journals them."""

from __future__ import annotations

from typing import Any

from missions import events as ev
from missions.lab.report import lab_alert


def no_controls_entry(analyzer: str, require_qc: bool) -> dict[str, Any]:
    """An analyzer with no QC material on board: accepted only when the run does not require QC."""
    accepted = not require_qc
    return {"accepted": accepted, "reason": None if accepted else f"no QC material for analyzer {analyzer}",
            "z_scores": {}}


def qc_alert(mission_id: str, analyzer: str, reason: str | None, held: list[str],
             where: dict[str, Any] | None) -> dict[str, Any]:
    """High: QC failed, the run is held and none of its patient results is released."""
    return lab_alert(
        f"{mission_id}.qc.{analyzer}", ev.Severity.HIGH, "lab.qc", where,
        f"QC failed on {analyzer}: {reason} - run held, {len(held)} patient result(s) not released",
        analyzer=analyzer, samples_held=held,
    )


def fault_alert(mission_id: str, step: str, reason: str, where: dict[str, Any] | None) -> dict[str, Any]:
    """High: the run stopped on a device fault; the tubes stay where they are for staff."""
    return lab_alert(
        f"{mission_id}.fault", ev.Severity.HIGH, "lab.device", where,
        f"Lab run stopped in {step}: {reason} - tubes left in place for manual handling",
    )


def fridge_alert(
    mission_id: str, temperature_c: float, low_c: float, high_c: float, where: dict[str, Any] | None
) -> dict[str, Any]:
    """High: the sample fridge is out of range, so QC material and held specimens may be spoilt."""
    return lab_alert(
        f"{mission_id}.fridge", ev.Severity.HIGH, "lab.fridge", where,
        f"Sample fridge {temperature_c:.1f} °C, outside {low_c:g}-{high_c:g} °C: QC material and "
        "held specimens may be compromised - lab run held, check the fridge",
        temperature_c=round(temperature_c, 2),
    )
