"""Instrument emulators speaking the real serial protocols over pseudo-terminals.

`attach(env, robot_id, device_name, kind, **settings) -> port_url` starts the emulator for one
device of one simulated robot and returns the path its driver opens. The emulator is served by a
pump (`pump_for(env, robot_id, device_name)`): given to the driver's `SerialPort`, it runs the
emulator each time the driver reads, with a byte-count barrier, so a run is deterministic and
needs nothing from the runner. A runner that prefers one call per tick can use
`service_all(env)` instead (and give the driver no pump).

Emulated device models (`<driver>-emulated`) register through `register(registry)`: a robot kind
switches a device from its simulated backend to driver + emulator by its model name alone:

    analyzer: {kind: analyzer, model: astm-emulated, instrument: chem-1,
               emulator: {result_delay_s: 300, contentions: 1, nak_frames: 1}}
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from hal.drivers.serial_port import Pump
from sim.environment import SimEnvironment
from sim.patients import TrueVitals

#: device kind → bedside-module device code
BEDSIDE_CODES = {"thermometer": "TEMP", "blood_pressure": "NIBP", "glucometer": "GLU", "scale": "SCALE"}
KINDS = ("analyzer", "drive_base", "pulse_oximeter", *BEDSIDE_CODES)


class EmulatorBench:
    """The emulators of one simulation, by (robot_id, device_name)."""

    def __init__(self, env: SimEnvironment) -> None:
        self._env = weakref.ref(env)
        self.emulators: dict[tuple[str, str], Any] = {}

    def attach(self, robot_id: str, device_name: str, kind: str, **settings: Any) -> str:
        key = (robot_id, device_name)
        if key in self.emulators:
            raise ValueError(f"an emulator is already attached to {robot_id}/{device_name}")
        env = self._env()
        if env is None:
            raise RuntimeError("the simulation environment is gone")
        self.emulators[key] = _make(env, robot_id, device_name, kind, settings)
        return str(self.emulators[key].port_url)

    def emulator(self, robot_id: str, device_name: str) -> Any:
        return self.emulators[(robot_id, device_name)]

    def pump_for(self, robot_id: str, device_name: str) -> Pump:
        pump: Pump = self.emulators[(robot_id, device_name)].service
        return pump

    def service_all(self) -> None:
        for key in sorted(self.emulators):
            self.emulators[key].service()

    def close(self) -> None:
        for emulator in self.emulators.values():
            emulator.close()
        self.emulators.clear()


_BENCHES: weakref.WeakKeyDictionary[SimEnvironment, EmulatorBench] = weakref.WeakKeyDictionary()


def bench_for(env: SimEnvironment) -> EmulatorBench:
    """The bench of this environment (created on first use, its ptys closed with it)."""
    bench = _BENCHES.get(env)
    if bench is None:
        bench = _BENCHES[env] = EmulatorBench(env)
        weakref.finalize(env, bench.close)  # ptys and their temp dirs go with the simulation
    return bench


def attach(env: SimEnvironment, robot_id: str, device_name: str, kind: str, **settings: Any) -> str:
    """Start the emulator for `kind` on `robot_id`'s device `device_name`; returns its port URL."""
    return bench_for(env).attach(robot_id, device_name, kind, **settings)


def pump_for(env: SimEnvironment, robot_id: str, device_name: str) -> Pump:
    return bench_for(env).pump_for(robot_id, device_name)


def service_all(env: SimEnvironment) -> None:
    bench = _BENCHES.get(env)
    if bench is not None:
        bench.service_all()


def vitals_source(
    env: SimEnvironment, robot_id: str, max_distance_m: float = 1.5
) -> Callable[[float], TrueVitals | None]:
    """The true vitals of the patient the robot faces, or None (nobody there)."""
    body = env.body(robot_id)

    def source(t_s: float) -> TrueVitals | None:
        patient = env.patient_facing(body, max_distance_m)
        return None if patient is None else patient.vitals_at(t_s)

    return source


def _make(env: SimEnvironment, robot_id: str, device_name: str, kind: str, settings: dict[str, Any]) -> Any:
    rng = env.rng_for(robot_id, f"{device_name}:emulator")
    if kind == "analyzer":
        from sim.emulators.astm_analyzer import AnalyzerEmulatorSettings, AstmAnalyzerEmulator
        from sim.lab_samples import LabInstrument

        # the lab site's instrument: the same measurements as the simulated analyzer backend
        instrument = LabInstrument(env, robot_id, device_name, load_area=settings.pop("load_area", None),
                                   cv_fraction=settings.pop("cv_fraction", 0.015))

        def fault() -> str | None:  # injected by the device's name or its kind, as for sim devices
            if not env.has_faults(robot_id):
                return None
            now_s = env.clock.now_s()
            return env.fault_for(robot_id, device_name, now_s) or env.fault_for(robot_id, kind, now_s)

        critical = settings.pop("critical", {})
        emulator = AstmAnalyzerEmulator(env.clock, rng, AnalyzerEmulatorSettings(**settings),
                                        instrument=instrument, fault=fault)
        for test_code, flag in dict(critical).items():
            emulator.request_critical(test_code, flag)
        return emulator
    if kind == "drive_base":
        from sim.emulators.roboclaw import RoboClawEmulator, RoboClawGeometry

        return RoboClawEmulator(env.clock, env.body(robot_id), rng, RoboClawGeometry(**settings))
    if kind == "pulse_oximeter":
        from sim.emulators.nonin import NoninEmulator

        return NoninEmulator(env.clock, rng, vitals_source(env, robot_id))
    if kind in BEDSIDE_CODES:
        from sim.emulators.bedside import BedsideEmulator

        return BedsideEmulator(env.clock, BEDSIDE_CODES[kind], rng, vitals_source(env, robot_id), **settings)
    raise ValueError(f"no emulator for device kind {kind!r} (accepted: {', '.join(KINDS)})")


def register(registry: Any) -> None:
    """Register the `<driver>-emulated` device models (entry point `medbot.devices: emulated`)."""
    from sim.emulators import models

    models.register(registry)
