"""`Robot`: devices + safety supervisor + mission runner + telemetry, advanced by `step(now_s)`.

The same object runs on hardware (under the rclpy node, with a WallClock or ROS time), in the
simulator (SimClock, simulated devices) and in tests. It never sleeps: each tick reads devices,
runs safety first, advances the mission, commands motion through the supervisor and publishes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hal.clock import Clock
from hal.device import DeviceError, HealthStatus
from hal.device_set import DeviceSet
from hal.geometry import Pose2D, Twist2D
from hal.lift_caller import LiftCaller
from hal.registry import BuildContext, ConfigError, DeviceRegistry
from hal.safety import SafetyInputs, SafetySupervisor
from hal.safety_status import SafetyStatus
from hal.site_map import SiteMap
from missions.base import MissionRequest
from missions.catalog import MissionCatalog, default_catalog
from missions.context import MissionContext
from missions.events import MissionEvent
from missions.journal import Journal
from missions.media import InMemoryMediaStore
from missions.park import Park
from missions.runner import MissionRunner
from missions.site import SiteConditions
from robots.config import RobotKindConfig
from robots.telemetry_bridge import TelemetryBridge
from robots.traffic import RouteFollower, TrafficClient
from telemetry.sinks import TelemetrySink

log = logging.getLogger(__name__)

EventListener = Callable[[MissionEvent], None]

#: device health is polled this often for the state's change detection (it is published in full
#: with every state message)
HEALTH_CHECK_PERIOD_S = 5.0
#: above every other mission, the dock included
PARK_PRIORITY = 1000


@dataclass(frozen=True, slots=True)
class RobotIdentity:
    robot_id: str
    site: str
    home_dock: str
    #: the ward, department or area the robot is stationed in (its factsheet tells the fleet)
    serves: str | None = None
    #: the robot never leaves `serves` (infection control: the isolation ward's own robot)
    confined: bool = False


class CommandInbox(Protocol):
    """Operator and fleet commands waiting for the robot's tick (robots.command_handler implements it;
    the dependency points from the handler to the robot, never back)."""

    @property
    def queued(self) -> int: ...

    def poll(self, now_s: float) -> int: ...


def build_devices(
    config: RobotKindConfig, registry: DeviceRegistry, clock: Clock, robot_id: str, extras: dict[str, Any]
) -> DeviceSet:
    """Build every configured device in file order; errors name the file and the field."""
    ctx = BuildContext(clock=clock, robot_id=robot_id, extras=extras)
    devices = DeviceSet()
    for name, spec in config.devices.items():
        device = registry.build(name, spec, ctx, source=config.source, field_path=f"devices.{name}")
        try:
            devices.add(device)
        except ValueError as exc:
            raise ConfigError(config.source, f"devices.{name}", str(exc), DeviceSet.slot_names()) from None
        ctx.devices[name] = device
    for required in ("drive_base", "battery", "estop"):
        if getattr(devices, required) is None:
            raise ConfigError(config.source, "devices", f"a robot needs a {required} device")
    return devices


class Robot:
    def __init__(
        self,
        identity: RobotIdentity,
        config: RobotKindConfig,
        devices: DeviceSet,
        clock: Clock,
        *,
        site_map: SiteMap,
        telemetry: TelemetrySink,
        journal_dir: Path,
        catalog: MissionCatalog | None = None,
    ) -> None:
        self.identity = identity
        self.config = config
        self.devices = devices
        self.clock = clock
        drive = devices.drive_base
        assert drive is not None  # build_devices guarantees it
        self.supervisor = SafetySupervisor(drive, site_map, identity.home_dock, config.safety.to_safety_config())
        self._listeners: list[EventListener] = []
        self.media = InMemoryMediaStore()
        self.site = SiteConditions()
        #: mission id -> the fleet task it works on (named in each of the mission's events)
        self._task_of: dict[str, str] = {}
        self.telemetry = TelemetryBridge(identity.robot_id, config, telemetry, self.media, task_of=self._task_of.get)
        journal_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(journal_dir / f"{identity.robot_id}.journal.jsonl")
        context = MissionContext(
            robot_id=identity.robot_id,
            clock=clock,
            devices=devices,
            emit=self._on_event,
            home_dock=identity.home_dock,
            media=self.media,
            site=self.site,
        )
        self.runner = MissionRunner(context, self.journal, catalog or default_catalog())
        self.last_command_sent = Twist2D.zero()
        self._is_set_up = False
        self._alarms = 0
        self.commands: CommandInbox | None = None
        self._traffic: TrafficClient | None = None
        self._follower_of: object = None
        self._follower: RouteFollower | None = None
        self._health_checked_s = float("-inf")
        self._health_signature: tuple[tuple[str, HealthStatus], ...] = ()
        self._device_list = tuple(devices)  # the set is complete once built; iterated every health check

    @property
    def traffic(self) -> TrafficClient | None:
        """Reservations of the building's shared resources through the fleet (None: not taking part)."""
        return self._traffic

    @traffic.setter
    def traffic(self, client: TrafficClient | None) -> None:
        # the lift caller picks a lift no other robot has reserved, from the same table
        self._traffic = client
        lifts = self.devices.find(LiftCaller)
        if lifts is not None:
            if client is None:
                lifts.use_reservations(None)
            else:
                lifts.use_reservations(client.lifts_reserved_by_others, client.lifts_reserved_for_self)

    # ---- lifecycle ------------------------------------------------------------------------

    def setup(self) -> None:
        """Open every device, then resume what the journal says was unfinished."""
        for device in self.devices:
            device.setup()
        self._is_set_up = True
        self.runner.recover()
        self.telemetry.publish_factsheet(self.clock.now_s(), self.factsheet_extra())

    def close(self) -> None:
        """Stop motion, then close devices in reverse order."""
        if self.devices.drive_base is not None and self.devices.drive_base.is_open:
            self.devices.drive_base.command_velocity(Twist2D.zero())
        for device in reversed(list(self.devices)):
            device.close()
        self._is_set_up = False

    def __enter__(self) -> Robot:
        self.setup()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    # ---- the tick -------------------------------------------------------------------------

    def factsheet_extra(self) -> dict[str, Any]:
        """What the fleet allocates from, beyond kind and capabilities: every mission kind this robot
        accepts with the JSON Schema of its params, where it is stationed, speed and battery."""
        catalog = self.runner.catalog
        missions = {kind: catalog.get(kind).Params.model_json_schema()
                    for kind in self.config.capabilities if kind in catalog}
        safety = self.config.safety
        return {
            "missions": missions, "home_dock": self.identity.home_dock, "serves": self.identity.serves,
            "confined": self.identity.confined, "max_speed_mps": safety.max_speed_mps,
            "battery": {"capacity_wh": safety.battery_capacity_wh, "energy_per_m_wh": safety.energy_per_m_wh,
                        "reserve_floor_soc_fraction": safety.reserve_floor_soc_fraction},
        }

    def attach_commands(self, handler: CommandInbox) -> None:
        """Operator commands (MQTT) are decided and executed at the start of each tick."""
        self.commands = handler

    def step(self, now_s: float) -> SafetyStatus:
        """One control tick. Safety runs first so an e-stop zeroes the drive on this tick
        (operator commands are taken just before it, so a remote e-stop counts this tick too)."""
        if self.commands is not None:
            self.commands.poll(now_s)
        # read once at the start of the tick: the traffic step and the state signature use them too
        inputs = self._read_safety_inputs()
        status = self.supervisor.update(now_s, inputs)
        self.runner.step(now_s, status)
        navigator = self.devices.navigator
        wish: Twist2D | None = None
        stop_for_traffic = self.traffic is not None and self._step_traffic(now_s, navigator, inputs.pose)
        if navigator is not None:
            navigator.step(now_s)
            wish = navigator.velocity_request()
        if stop_for_traffic:
            wish = Twist2D.zero()
        self.last_command_sent = self.supervisor.command_velocity(wish or Twist2D.zero())
        self.telemetry.on_tick(now_s, self._signature(now_s, status, inputs.battery_charging),
                               lambda: self.snapshot(status), self._viz)
        return status

    def _step_traffic(self, now_s: float, navigator: object, pose: Pose2D) -> bool:
        assert self.traffic is not None
        mission = self.runner.current
        if navigator is not self._follower_of:
            # a runtime Protocol check walks the protocol's members: once per navigator, not per tick
            self._follower_of = navigator
            self._follower = navigator if isinstance(navigator, RouteFollower) else None
        follower = self._follower
        blocked_by = getattr(navigator, "blocked_by", None)
        return self.traffic.step(now_s, pose, follower, blocked_by=blocked_by() if callable(blocked_by) else None,
                                 priority=mission.priority if mission is not None else 0,
                                 task_id=self._task_of.get(mission.mission_id) if mission is not None else None,
                                 working=mission is not None,
                                 claim_goal=mission is None or mission.waits_for_goal_spot)

    def is_idle(self) -> bool:
        """Nothing to do and standing still: no mission running or queued, no command waiting,
        no motion commanded. The simulator ticks such a robot less often (its body, battery and
        charging are still simulated every step); work arriving makes it busy at once."""
        drive = self.devices.drive_base
        return (
            not self.runner.has_work
            and (self.commands is None or self.commands.queued == 0)
            and drive is not None and drive.commanded_velocity().is_zero
            and not self.site.fire_alarm_active
        )

    def _signature(self, now_s: float, status: SafetyStatus, charging: bool) -> tuple[object, ...]:
        """Cheap summary of what counts as a relevant state change (not every centimetre)."""
        if now_s - self._health_checked_s >= HEALTH_CHECK_PERIOD_S:
            self._health_signature = tuple((d.name, d.health().status) for d in self._device_list)
            self._health_checked_s = now_s
        mission = self.runner.current
        return (
            self.runner.paused,
            status.state,
            status.estop_latched,
            charging,
            (mission.mission_id, mission.state, mission.step) if mission is not None else None,
            self._health_signature,
        )

    def _viz(self) -> dict[str, Any]:
        assert self.devices.drive_base is not None
        odom = self.devices.drive_base.odometry()
        return {"pose": _pose_body(odom.pose), "velocity": _velocity_body(odom.velocity)}

    def _read_safety_inputs(self) -> SafetyInputs:
        devices = self.devices
        assert devices.estop is not None and devices.battery is not None and devices.drive_base is not None
        estop_pressed = True
        try:
            estop_pressed = devices.estop.state().pressed
        except DeviceError as exc:
            # an e-stop we cannot read is treated as pressed: fail safe
            log.warning("robot %s: e-stop unreadable (%s): stopping", self.identity.robot_id, exc.reason)
        bumper = devices.bumper.state().contact if devices.bumper is not None else False
        battery = devices.battery.state()
        pose = devices.drive_base.odometry().pose
        return SafetyInputs(estop_pressed, bumper, battery.soc_fraction, battery.is_charging, pose)

    # ---- operator commands (the MQTT command channel and the ROS node call these) ---------

    def dispatch(self, kind: str, params: dict[str, Any], *, priority: int = 50, mission_id: str | None = None,
                 task_id: str | None = None) -> str:
        """Queue a mission. Idempotent by mission id: an order sent again (a fleet manager
        retrying, or re-sending after this robot restarted) does not run the mission twice.
        `task_id` names the fleet task in every event the mission emits."""
        if mission_id is not None and self.runner.is_known(mission_id):
            return mission_id
        if task_id is not None and mission_id is not None:
            self._task_of[mission_id] = task_id  # before submit: its mission.queued event names the task
        try:
            new_id = self.runner.submit(MissionRequest(kind=kind, params=params, priority=priority,
                                                       mission_id=mission_id))
        except Exception:
            if mission_id is not None:
                self._task_of.pop(mission_id, None)
            raise
        if task_id is not None:
            self._task_of[new_id] = task_id
        return new_id

    def task_of(self, mission_id: str) -> str | None:
        """The fleet task a mission works on (from its dispatch), None for others."""
        return self._task_of.get(mission_id)

    def pause(self) -> None:
        self.runner.pause()

    def resume(self) -> None:
        self.runner.resume()

    def cancel(self, mission_id: str | None = None) -> None:
        self.runner.cancel(mission_id)

    def return_to_dock(self) -> str:
        return self.dispatch("return_to_dock", {}, priority=90)

    def set_building_alarm(self, active: bool, *, park_at: str | None = None, reason: str = "fire alarm") -> None:
        """The building's fire alarm (from the fleet / building management system): clear the
        corridors — park at `park_at` and hold until it is cleared; the interrupted mission is
        re-queued with its progress and resumes afterwards; a robot with nothing to resume drives back
        to its own dock once the alarm clears."""
        site = self.site
        if active and not site.fire_alarm_active:
            site.fire_alarm_active, site.fire_alarm_reason = True, reason
            self._alarms += 1
            params = {"place": park_at or self.identity.home_dock, "reason": reason,
                      "return_home": not self.runner.has_work}
            self.runner.preempt(
                MissionRequest(kind="park", params=params,
                               priority=PARK_PRIORITY, mission_id=f"{self.identity.robot_id}-park-{self._alarms:03d}"),
                f"{reason}: clearing the corridors",
            )
        elif active and park_at is not None and isinstance(self.runner.current, Park):
            self.runner.current.redirect(park_at)  # a new spot: the robot reached another floor
        elif not active:
            site.fire_alarm_active, site.fire_alarm_reason = False, ""

    def remote_estop(self, source: str) -> None:
        self.supervisor.request_remote_estop(source)

    def reset_estop(self, by: str) -> tuple[bool, str]:
        assert self.devices.estop is not None
        return self.supervisor.reset_estop(estop_pressed=self.devices.estop.state().pressed, by=by)

    # ---- state ----------------------------------------------------------------------------

    def pose(self) -> Pose2D:
        assert self.devices.drive_base is not None
        return self.devices.drive_base.odometry().pose

    def snapshot(self, status: SafetyStatus) -> dict[str, Any]:
        """The robot's state as the telemetry `state` body."""
        assert self.devices.drive_base is not None and self.devices.battery is not None
        odom = self.devices.drive_base.odometry()
        battery = self.devices.battery.state()
        mission = self.runner.current
        errors = []
        health: dict[str, str] = {}
        for device in self.devices:
            h = device.health()
            health[device.name] = h.status.value
            if h.status in (HealthStatus.ERROR, HealthStatus.STALE):
                errors.append({"level": "URGENT", "device": device.name, "reason": h.reason})
            elif h.status is HealthStatus.WARNING:
                errors.append({"level": "WARNING", "device": device.name, "reason": h.reason})
        return {
            "pose": _pose_body(odom.pose),
            "velocity": _velocity_body(odom.velocity),
            "battery": {"soc_fraction": round(battery.soc_fraction, 3), "charging": battery.is_charging},
            "operating_mode": "paused" if self.runner.paused else "automatic",
            "safety": {"state": status.state.value, "estop_latched": status.estop_latched, "reason": status.reason},
            "mission": mission.describe() if mission is not None else None,
            "errors": errors,
            "devices": health,
        }

    def _on_event(self, event: MissionEvent) -> None:
        self.telemetry.on_event(event)
        for listener in self._listeners:
            listener(event)


def _pose_body(pose: Pose2D) -> dict[str, Any]:
    return {"x_m": round(pose.x_m, 3), "y_m": round(pose.y_m, 3), "yaw_rad": round(pose.yaw_rad, 3),
            "level": pose.level}


def _velocity_body(velocity: Twist2D) -> dict[str, Any]:
    return {"linear_mps": round(velocity.linear_mps, 3), "angular_radps": round(velocity.angular_radps, 3)}
