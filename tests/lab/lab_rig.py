"""A lab robot's simulated devices on the default hospital, a mission runner over them, and the
helpers the lab tests share. Time only moves when a test ticks; nothing sleeps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from hal.clock import SimClock
from hal.device_set import DeviceSet
from hal.drivers.astm.analyzer_driver import AstmAnalyzer
from hal.registry import BuildContext, DeviceRegistry
from hal.safety_status import SafetyState, SafetyStatus
from missions.catalog import default_catalog
from missions.context import MissionContext
from missions.events import MissionEvent
from missions.journal import Journal
from missions.runner import MissionRunner
from robots.config import kind_config_path, load_robot_config
from robots.plugins import load_device_registry
from sim.environment import SimEnvironment
from sim.lab_samples import LabSite, Tube, control_params, lab_site
from sim.patients import PatientCensus
from sim.world import World, load_default_world

START_S = 1767596400.0
ROBOT = "lab-1"

DEVICES: dict[str, dict[str, Any]] = {
    "tubes": {"kind": "tube_handler", "model": "sim"},
    "label_camera": {"kind": "camera", "model": "sim_tube_label"},
    "label_reader": {"kind": "tag_reader", "model": "opencv", "camera": "label_camera"},
    "centrifuge": {"kind": "centrifuge", "model": "sim"},
    "fridge": {"kind": "sample_fridge", "model": "sim"},
    "chem": {"kind": "analyzer", "model": "sim", "tests": ["GLU", "K", "NA", "CREA", "CRP", "TROP"]},
    "haem": {"kind": "analyzer", "model": "sim", "tests": ["HB", "WBC", "PLT"], "seconds_per_sample": 45},
}


#: analyzer backends the lab tests run on: the pure simulated one, and the lab kind's own (the
#: ASTM driver on its instrument emulator, as `robots/kinds/lab.yaml` configures them)
ANALYZER_BACKENDS = ("sim", "astm-emulated")


def devices_for(analyzers: str) -> dict[str, dict[str, Any]]:
    if analyzers == "sim":
        return DEVICES
    kind = load_robot_config(kind_config_path("lab")).devices
    emulated = {name: kind[name] for name in ("chem", "haem")}
    assert all(spec["model"] == analyzers for spec in emulated.values()), emulated
    return DEVICES | emulated


@cache
def world() -> World:
    return load_default_world()


@cache
def registry() -> DeviceRegistry:
    """Every installed backend, as a robot gets them (the analyzers run driver + emulator)."""
    return load_device_registry()


def safe(now_s: float) -> SafetyStatus:
    return SafetyStatus(SafetyState.NORMAL, "", 1.0, False, False, 0.8, now_s)


def estopped(now_s: float) -> SafetyStatus:
    return SafetyStatus(SafetyState.ESTOP, "button pressed", 0.0, True, False, 0.8, now_s)


@dataclass
class LabRig:
    clock: SimClock
    env: SimEnvironment
    devices: DeviceSet
    events: list[MissionEvent]
    journal_path: Path
    runner: MissionRunner

    @property
    def site(self) -> LabSite:
        return lab_site(self.env)

    def device(self, name: str) -> Any:
        return next(d for d in self.devices if d.name == name)

    def kinds(self, kind: str) -> list[MissionEvent]:
        return [e for e in self.events if e.kind == kind]

    def alerts(self, category: str) -> list[MissionEvent]:
        return [e for e in self.kinds("alert") if e.data["category"] == category]

    def tick(self, dt_s: float = 1.0, safety: SafetyStatus | None = None) -> None:
        self.clock.advance(dt_s)
        self.runner.step(self.clock.now_s(), safety or safe(self.clock.now_s()))

    def run_until(self, done: Callable[[], bool], *, dt_s: float = 1.0, max_ticks: int = 20000,
                  safety: SafetyStatus | None = None) -> None:
        for _ in range(max_ticks):
            if done():
                return
            self.tick(dt_s, safety)
        raise AssertionError("condition not reached within the tick budget")

    def idle(self) -> bool:
        return self.runner.current is None and not self.runner.queue_snapshot()

    def new_runner(self) -> MissionRunner:
        """A robot restart: new runner and journal objects on the same file and devices. Hardware
        drivers start afresh on their ports, as a new process would open them (the instruments
        behind them keep running); simulated devices keep their objects (their state is the site's)."""
        for i, device in enumerate(self.devices.others):
            if isinstance(device, AstmAnalyzer):
                device.close()
                fresh = AstmAnalyzer(device.name, self.clock, device.config, pump=device.port.pump)
                fresh.setup()
                self.devices.others[i] = fresh
        self.runner = _runner(self.clock, self.devices, self.events, self.journal_path)
        self.runner.recover()
        return self.runner

    def load_tube(self, tube: Tube, position: str | None = None) -> str:
        cell = self.site.cell(ROBOT)
        position = position or cell.free_positions("input")[0]
        cell.put(position, tube)
        return position


def _runner(clock: SimClock, devices: DeviceSet, events: list[MissionEvent], path: Path) -> MissionRunner:
    ctx = MissionContext(robot_id=ROBOT, clock=clock, devices=devices, emit=events.append, home_dock="dock-lab")
    return MissionRunner(ctx, Journal(path), default_catalog())


def make_lab_rig(tmp_path: Path, *, seed: int = 3, devices: dict[str, dict[str, Any]] | None = None,
                 analyzers: str = "sim") -> LabRig:
    clock = SimClock(START_S)
    census = PatientCensus(seed, world().beds(), START_S, deteriorating_fraction=0.0)
    env = SimEnvironment(world(), census, clock, seed)
    body = env.add_robot(ROBOT, "clinical-lab")
    ctx = BuildContext(clock=clock, robot_id=ROBOT, extras={"sim_env": env, "sim_body": body})
    device_set = DeviceSet()
    for name, spec in (devices or devices_for(analyzers)).items():
        device = registry().build(name, spec, ctx, source="test", field_path=f"devices.{name}")
        ctx.devices[name] = device
        device_set.add(device)
    for device in device_set:
        device.setup()
    events: list[MissionEvent] = []
    path = tmp_path / f"{ROBOT}.journal.jsonl"
    return LabRig(clock, env, device_set, events, path, _runner(clock, device_set, events, path))


def patient_ref(rig: LabRig, index: int) -> str:
    return rig.env.census.patients()[index].patient_ref


def order(sample_id: str, patient: str, tests: tuple[str, ...], *, specimen: str = "serum",
          priority: str = "R") -> dict[str, Any]:
    return {"sample_id": sample_id, "patient_ref": patient, "specimen": specimen, "tests": list(tests),
            "priority": priority}


def run_params(orders: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"orders": orders, "controls": control_params(), "place": None, **extra}
