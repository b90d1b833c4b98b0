"""Equipment self-test outcome → maintenance alert (shared by the exam and the self-test mission)."""

from __future__ import annotations

from typing import Any

from missions import events as ev


def maintenance_alert(mission_id: str, device_name: str, reason: str, where: dict[str, Any]) -> dict[str, Any]:
    """High severity: the room cannot expose until a service engineer clears the lock-out."""
    return {
        "alert_id": f"{mission_id}.maintenance.{device_name}",
        "severity": ev.Severity.HIGH.value,
        "category": "maintenance",
        "summary": f"{device_name} failed its self-test ({reason}): X-ray exposure locked out until serviced",
        "where": where,
        "evidence_ref": None,
        "device": device_name,
    }
