"""The building in one run: its lifts and doors stepped on the sim clock, lift outages as the
scenario schedules them, the fire alarm passed on to lifts (fire service) and fire doors, and the
`building` section of the summary.

What the building section says and where each figure comes from:
- `floors`: the world's levels;
- `lift_rides`: done / failed (with reasons) from the building model's ride records, which see
  every ride whichever way the robot reached the controller (in-process or Modbus);
- `contacts`: the environment's contact records (robot–robot, robot–person, robot–wall): the
  sim's bodies refuse to pass through anything and count every refusal;
- `deadlocks`, `conflicts`, `wait_s` per resource kind (p50, p99, max, and who waited longest):
  the fleet's traffic arbiter, from a robot's request to its grant — the longest wait at a
  reserved resource, as the robot experienced it at its holding point at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fleet.demand.daily import DAY_S, minute_of_day
from fleet.traffic import TrafficArbiter
from hal.clock import iso_utc
from robots.config import RobotKindConfig
from sim.building_model import BuildingModel, building_model
from sim.emulators.modbus_building import ModbusBuildingEmulator, lift_caller_config
from sim.environment import SimEnvironment
from sim.scenario import BuildingSettings


@dataclass(frozen=True)
class _Outage:
    lift: str
    from_s: float
    until_s: float


class SimBuilding:
    def __init__(self, env: SimEnvironment, settings: BuildingSettings, day_start_s: float, run_start_s: float,
                 *, source: str = "<scenario>") -> None:
        self.env = env
        self.model: BuildingModel = building_model(env)
        lifts = set(env.world.lifts)
        self._outages: list[_Outage] = []
        for i, outage in enumerate(settings.lift_outages):
            if outage.lift not in lifts:
                known = ", ".join(sorted(lifts)) or "none in this world"
                raise ValueError(f"{source}: building.lift_outages[{i}].lift: no lift {outage.lift!r} "
                                 f"(lifts: {known})")
            at_s = day_start_s + minute_of_day(outage.at) * 60.0
            if at_s < run_start_s:
                at_s += DAY_S
            self._outages.append(_Outage(outage.lift, at_s, at_s + outage.duration_min * 60.0))
        self._out: set[str] = set()
        self.controllers = settings.controllers
        self.emulator: ModbusBuildingEmulator | None = None

    # ---- the controllers over Modbus ------------------------------------------------------------

    def start(self) -> None:
        """With `controllers: modbus`, serve the building model's lifts and doors on loopback
        Modbus TCP (the robots' lift callers then drive it as they would a real building's)."""
        if self.controllers != "modbus" or self.emulator is not None:
            return
        served = {name: lift.levels for name, lift in self.env.world.lifts.items()}
        self.emulator = ModbusBuildingEmulator(lifts=self.model, doors=self.model, served_levels=served)
        self.emulator.start()

    def robot_config(self, robot_id: str, config: RobotKindConfig) -> RobotKindConfig:
        """The kind's config for this robot: its lift caller on the Modbus emulator when there is one."""
        if self.emulator is None:
            return config
        devices = dict(config.devices)
        for name, spec in config.devices.items():
            if spec.get("kind") == "lift_caller":
                devices[name] = {"kind": "lift_caller", "model": "modbus", **lift_caller_config(
                    self.env.world, self.emulator, session=self.model.session_for(robot_id))}
        return config.model_copy(update={"devices": devices})

    def close(self) -> None:
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None

    def step(self, now_s: float) -> None:
        for outage in self._outages:
            due = outage.from_s <= now_s < outage.until_s
            if due and outage.lift not in self._out:
                self._out.add(outage.lift)
                self.model.take_out_of_service(outage.lift, now_s)
            elif not due and outage.lift in self._out and now_s >= outage.until_s:
                self._out.discard(outage.lift)
                self.model.return_to_service(outage.lift)
        self.model.step(now_s)
        if self.emulator is not None:
            self.emulator.sync(now_s)

    def set_fire_alarm(self, active: bool) -> None:
        self.model.set_fire_alarm(active)

    def summary(self, traffic: TrafficArbiter | None) -> dict[str, Any]:
        lifts = self.model.summary()
        figures = traffic.flush_figures().summary() if traffic is not None else {"deadlocks": 0, "conflicts": 0,
                                                                          "grants": 0, "wait_s": {}}
        return {
            "floors": len(self.env.world.levels),
            "controllers": self.controllers,
            "lift_rides": {"done": lifts["done"], "failed": lifts["failed"], "failures": lifts["failures"],
                           "by_lift": lifts["by_lift"], "call_wait_s": lifts["call_wait_s"],
                           "ride_s": lifts["ride_s"], "refused_calls": lifts["refused_calls"],
                           "cancelled_calls": lifts["cancelled_calls"]},
            "lift_outages": [{"lift": o.lift, "from": iso_utc(o.from_s), "until": iso_utc(o.until_s)}
                             for o in self._outages],
            "contacts": self.env.contact_summary(),
            "deadlocks": figures["deadlocks"],
            "standoffs": figures.get("standoffs", 0),
            "reservation_conflicts": figures["conflicts"],
            "reservations": figures["grants"],
            "wait_s": figures["wait_s"],
        }
