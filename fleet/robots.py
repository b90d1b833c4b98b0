"""The fleet's picture of each robot, built only from what robots publish (the MQTT contract).

factsheet (retained) → what the robot is and accepts (mission kinds with their params schemas),
where it is stationed, speed and battery; connection (retained, Last Will) → online or not;
state → pose, battery, safety, the mission it runs. Nothing here knows how a robot is built.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

log = logging.getLogger(__name__)

#: below this charge a robot is given no new work (it is sent to charge first); its own safety
#: supervisor's reserve (to reach the dock) sits lower
DEFAULT_WORK_THRESHOLD_SOC = 0.30
#: a robot sent to charge is available again from this charge
DEFAULT_RESUME_SOC = 0.80


class ParamsRejected(ValueError):
    """A task's params do not match the schema the robot's factsheet gives for its kind."""


@dataclass
class RobotView:
    robot_id: str
    kind: str | None = None
    #: mission kind -> JSON Schema of its params (factsheet.missions)
    missions: dict[str, dict[str, Any]] = field(default_factory=dict)
    home_dock: str | None = None
    serves: str | None = None
    confined: bool = False
    max_speed_mps: float = 1.0
    battery_capacity_wh: float = 600.0
    energy_per_m_wh: float = 0.05
    #: the robot's own safety reserve (it docks by itself below it)
    reserve_floor_soc: float = 0.15
    online: bool = False
    connection_session: int = -1
    #: the last state body, and when it was received
    x_m: float = 0.0
    y_m: float = 0.0
    level: int = 0
    soc_fraction: float = 1.0
    charging: bool = False
    safety_state: str = "normal"
    estop_latched: bool = False
    paused: bool = False
    #: the first FATAL error of the last state ("device: reason"): the robot is not in running
    #: condition (VDA 5050's meaning of FATAL) — its work is taken back until the error clears
    fatal_error: str | None = None
    mission: dict[str, Any] | None = None
    has_state: bool = False
    state_s: float = float("-inf")
    #: set by the service: sent to charge, until charged to the resume threshold
    charging_planned: bool = False
    _validators: dict[str, Draft202012Validator] = field(default_factory=dict, repr=False)

    # ---- what the robot says ------------------------------------------------------------------

    def on_factsheet(self, body: dict[str, Any]) -> None:
        self.kind = str(body.get("kind"))
        self.missions = {str(k): dict(v) for k, v in (body.get("missions") or {}).items()}
        if not self.missions:  # an older robot: capabilities only, no schemas to check against
            self.missions = {str(c): {} for c in body.get("capabilities", [])}
        self._validators = {}
        self.home_dock = body.get("home_dock")
        self.serves = body.get("serves")
        self.confined = bool(body.get("confined", False))
        self.max_speed_mps = float(body.get("max_speed_mps", self.max_speed_mps))
        battery = body.get("battery") or {}
        self.battery_capacity_wh = float(battery.get("capacity_wh", self.battery_capacity_wh))
        self.energy_per_m_wh = float(battery.get("energy_per_m_wh", self.energy_per_m_wh))
        self.reserve_floor_soc = float(battery.get("reserve_floor_soc_fraction", self.reserve_floor_soc))

    def on_connection(self, body: dict[str, Any]) -> bool:
        """Returns True when the robot went from online to offline (a failure to handle)."""
        state, session = str(body.get("state")), int(body.get("session", 0))
        if state == "ONLINE":
            self.online, self.connection_session = True, session
            return False
        if session < self.connection_session:
            return False  # a stale Last Will of an earlier connection (Sparkplug bdSeq)
        was_online = self.online
        self.online = False
        return was_online

    def on_state(self, body: dict[str, Any], stamp_s: float) -> None:
        pose = body.get("pose") or {}
        self.x_m, self.y_m = float(pose.get("x_m", 0.0)), float(pose.get("y_m", 0.0))
        self.level = int(pose.get("level", 0))
        battery = body.get("battery") or {}
        self.soc_fraction = float(battery.get("soc_fraction", self.soc_fraction))
        self.charging = bool(battery.get("charging", False))
        safety = body.get("safety") or {}
        self.safety_state = str(safety.get("state", "normal"))
        self.estop_latched = bool(safety.get("estop_latched", False))
        self.paused = body.get("operating_mode") == "paused"
        self.fatal_error = next((f"{e.get('device')}: {e.get('reason')}" for e in body.get("errors") or []
                                 if e.get("level") == "FATAL"), None)
        self.mission = body.get("mission")
        self.has_state = True
        self.state_s = stamp_s

    # ---- what the fleet asks of it ------------------------------------------------------------

    def offers(self, kind: str) -> bool:
        return kind in self.missions

    def check_params(self, kind: str, params: dict[str, Any]) -> None:
        """Raise ParamsRejected (with the JSON path) if `params` break the factsheet's schema."""
        schema = self.missions.get(kind)
        if not schema:
            return
        validator = self._validators.get(kind)
        if validator is None:
            validator = self._validators[kind] = Draft202012Validator(schema)
        error = best_match(validator.iter_errors(params))
        if error is not None:
            path = "$.params" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            raise ParamsRejected(f"{kind} params rejected by {self.robot_id}'s schema at {path}: {error.message}")

    @property
    def estopped(self) -> bool:
        return self.estop_latched or self.safety_state == "estop"

    def unavailable_reason(self, work_threshold_soc: float = DEFAULT_WORK_THRESHOLD_SOC) -> str | None:
        """None if the robot can be given work now, else why not."""
        if not self.online:
            return "offline"
        if self.kind is None:
            return "no factsheet yet"
        if not self.has_state:
            return "no state yet"
        if self.estopped:
            return "e-stopped"
        if self.fatal_error is not None:
            return f"fatal error ({self.fatal_error})"
        if self.paused:
            return "paused by an operator"
        if self.charging_planned:
            return "charging"
        if self.soc_fraction < work_threshold_soc and not self.charging:
            return f"battery {self.soc_fraction:.0%} below the work threshold"
        return None


class RobotRegistry:
    """Every robot the fleet has heard of, by id (sorted iteration: allocation is deterministic)."""

    def __init__(self) -> None:
        self._robots: dict[str, RobotView] = {}

    def get(self, robot_id: str) -> RobotView:
        view = self._robots.get(robot_id)
        if view is None:
            view = self._robots[robot_id] = RobotView(robot_id)
        return view

    def known(self, robot_id: str) -> bool:
        return robot_id in self._robots

    def all(self) -> list[RobotView]:
        return [self._robots[k] for k in sorted(self._robots)]

    def __len__(self) -> int:
        return len(self._robots)
