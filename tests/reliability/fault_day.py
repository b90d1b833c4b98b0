"""The faulty day: `hospital-day` with devices failing, a door stuck, degraded batteries and an uplink
(network) dropping, as a scenario file; used by the reliability test (a few simulated hours) and the
bench's full day (docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sim.scenario import SCENARIOS_DIR

#: (robot, device, HH:MM, minutes, reason): devices the day's missions use, each failing while one
#: of them needs it. The tag readers decode what their cameras see (hal drivers, not simulated), so
#: a scanner's fault is its camera's.
DEVICE_FAULTS: tuple[tuple[str, str, str, float, str], ...] = (
    ("nurse-a", "thermometer", "09:00", 40, "thermometer probe fault"),
    ("nurse-a", "drawer", "07:32", 60, "drawer lock jammed"),  # its 07:40 drug round (nurse-b charges first)
    ("lab-1", "label_camera", "07:20", 30, "label scanner lens fogged"),
    ("imaging-1", "wristband_cam", "07:25", 45, "wristband scanner offline"),
    ("logistics-1", "compartments", "12:55", 30, "compartment latch fault"),
    ("epi-1", "uplink", "07:10", 600, "network drop: isolation ward uplink down"),
)
#: robots whose batteries have aged: (capacity fraction left, charge at the start)
DEGRADED_BATTERIES: dict[str, tuple[float, float]] = {"nurse-b": (0.35, 0.30), "security-1": (0.3, 0.25),
                                                       "logistics-1": (0.4, 0.35)}


def fault_day_scenario(folder: Path, *, start: str = "07:00") -> Path:
    data: dict[str, Any] = yaml.safe_load((SCENARIOS_DIR / "hospital-day.yaml").read_text(encoding="utf-8"))
    data["name"] = "hospital-day-faults"
    data["start_time"] = start
    data["faults"] = [{"robot": r, "device": d, "at": at, "duration_min": m, "reason": why}
                      for r, d, at, m, why in DEVICE_FAULTS]
    data["hospital"]["logistics"]["stuck_door"] = {"door": "ward-b-entrance", "at": "08:00", "duration_min": 45}
    # device faults on the morning's own work; the HIS link's day is tested on its own (test_his_feed)
    data["his"]["enabled"] = False
    path = folder / "hospital-day-faults.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
