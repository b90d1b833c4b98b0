"""Scripted fake devices for mission tests: real hal interfaces, outcomes decided by the test.

A `FakeWard` holds the clock, where the robot is, the patients in each place, and a log of every
measurement start (device kind, place) so tests can count how often each bed was measured.
Handles resolve on the SimClock the test advances; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from hal.battery import Battery, BatteryState
from hal.blood_pressure import BloodPressureMonitor, BloodPressureReading
from hal.clock import SimClock
from hal.device import DeviceError, DeviceFault, DeviceHealth, HealthStatus
from hal.device_set import DeviceSet
from hal.geometry import Pose2D, Twist2D
from hal.glucometer import Glucometer, GlucoseReading
from hal.handle import Handle, HandleStatus, ResolvedHandle
from hal.navigator import NavigationGoal, NavigationHandle, NavigationResult, Navigator
from hal.pulse_oximeter import PulseOximeter, PulseOximetryReading
from hal.respiration_monitor import RespirationMonitor, RespirationReading
from hal.safety_status import SafetyState, SafetyStatus
from hal.scale import Scale, WeightReading
from hal.speaker import Playback, Speaker, Utterance
from hal.tag_reader import TagRead, TagReader
from hal.thermometer import TemperatureReading, Thermometer
from hal.voice_inquiry import InquiryReply, VoiceInquiry
from missions.catalog import default_catalog
from missions.context import MissionContext
from missions.events import MissionEvent
from missions.journal import Journal
from missions.runner import MissionRunner

R = TypeVar("R")
DOCK = "dock-1"


@dataclass
class Patient:
    patient_ref: str
    resp: int = 16
    spo2: int = 97
    systolic: int = 120
    pulse: int = 70
    temp: float = 37.0
    answered: bool = True
    coherent: bool = True
    wristband: str | None = None  # default: the right MEDBOT-PT payload

    @property
    def payload(self) -> str | None:
        return self.wristband if self.wristband is not None else f"MEDBOT-PT:{self.patient_ref}"


@dataclass
class FakeWard:
    clock: SimClock
    patients: dict[str, Patient] = field(default_factory=dict)  # by place
    place: str = DOCK
    starts: list[tuple[str, str]] = field(default_factory=list)  # (device kind, place)

    def starts_at(self, place: str, kind: str | None = None) -> int:
        return sum(1 for k, p in self.starts if p == place and (kind is None or k == kind))

    def patient_here(self) -> Patient | None:
        return self.patients.get(self.place)


def _ok(clock: SimClock) -> DeviceHealth:
    return DeviceHealth(HealthStatus.OK, "", clock.now_s())


# ---- navigation ---------------------------------------------------------------------------------


class FakeNavHandle(ResolvedHandle[NavigationResult, Any]):
    def __init__(self, ward: FakeWard, place: str) -> None:
        super().__init__(ward.clock.now_s)
        self.ward = ward
        self.place = place

    def poll(self) -> HandleStatus:
        before = self._status
        status = super().poll()
        if before is HandleStatus.RUNNING and status is HandleStatus.SUCCEEDED:
            self.ward.place = self.place
        return status


class FakeNavigator(Navigator):
    def __init__(self, ward: FakeWard, *, travel_s: float = 10.0) -> None:
        super().__init__("nav", ward.clock)
        self.ward = ward
        self.travel_s = travel_s
        self.handles: list[FakeNavHandle] = []
        self.fail_next: dict[str, list[str]] = {}  # place → reasons for the next attempts
        self.hang_next: dict[str, int] = {}  # place → attempts that never finish

    def start_go_to(self, goal: NavigationGoal) -> NavigationHandle:
        place = goal.place or ""
        if place not in self.known_places():
            raise DeviceError(self.name, f"unknown place {place!r}")
        handle = FakeNavHandle(self.ward, place)
        due = self.clock.now_s() + self.travel_s
        if self.fail_next.get(place):
            handle.fail_at(due, self.fail_next[place].pop(0))
        elif self.hang_next.get(place, 0) > 0:
            self.hang_next[place] -= 1
        else:
            handle.succeed_at(due, NavigationResult(Pose2D(1.0, 2.0, 0.0), 5.0, self.travel_s))
        self.handles.append(handle)
        return handle

    def velocity_request(self) -> Twist2D | None:
        return None

    def step(self, now_s: float) -> None:
        pass

    def known_places(self) -> list[str]:
        return [DOCK, *self.ward.patients]

    def health(self) -> DeviceHealth:
        return _ok(self.ward.clock)


# ---- bedside devices ----------------------------------------------------------------------------


class MeasureScript(Generic[R]):
    """Starts of one measuring device: logged, then succeed after `duration_s` unless scripted."""

    def __init__(self, ward: FakeWard, kind: str, reading: Callable[[Patient, float], R], duration_s: float) -> None:
        self.ward = ward
        self.kind = kind
        self.reading = reading
        self.duration_s = duration_s
        self.fail_next: list[str] = []
        self.always_fail: str | None = None
        self.handles: list[ResolvedHandle[R, str]] = []

    def start(self) -> Handle[R, str]:
        self.ward.starts.append((self.kind, self.ward.place))
        now = self.ward.clock.now_s()
        handle: ResolvedHandle[R, str] = ResolvedHandle(self.ward.clock.now_s)
        patient = self.ward.patient_here()
        if self.fail_next:
            handle.fail_at(now + self.duration_s, self.fail_next.pop(0))
        elif self.always_fail is not None:
            handle.fail_at(now + self.duration_s, self.always_fail)
        elif patient is None:
            handle.fail_at(now + self.duration_s, "no patient in front of the device")
        else:
            handle.succeed_at(now + self.duration_s, self.reading(patient, now + self.duration_s))
        self.handles.append(handle)
        return handle


class FakeThermometer(Thermometer):
    def __init__(self, ward: FakeWard) -> None:
        super().__init__("thermometer", ward.clock)
        self.script = MeasureScript(ward, self.kind, lambda p, t: TemperatureReading(p.temp, "tympanic", t), 5.0)

    def start_measurement(self) -> Handle[TemperatureReading, str]:
        return self.script.start()

    def health(self) -> DeviceHealth:
        return _ok(self.script.ward.clock)


class FakePulseOximeter(PulseOximeter):
    def __init__(self, ward: FakeWard) -> None:
        super().__init__("oximeter", ward.clock)
        self.script = MeasureScript(
            ward, self.kind, lambda p, t: PulseOximetryReading(p.spo2, p.pulse, 2.5, t), 10.0
        )

    def start_measurement(self) -> Handle[PulseOximetryReading, str]:
        return self.script.start()

    def health(self) -> DeviceHealth:
        return _ok(self.script.ward.clock)


class FakeRespirationMonitor(RespirationMonitor):
    def __init__(self, ward: FakeWard) -> None:
        super().__init__("respiration", ward.clock)
        self.script = MeasureScript(ward, self.kind, lambda p, t: RespirationReading(p.resp, t), 60.0)

    def start_measurement(self) -> Handle[RespirationReading, str]:
        return self.script.start()

    def health(self) -> DeviceHealth:
        return _ok(self.script.ward.clock)


class FakeBloodPressure(BloodPressureMonitor):
    def __init__(self, ward: FakeWard) -> None:
        super().__init__("nibp", ward.clock)
        self.script = MeasureScript(
            ward, self.kind, lambda p, t: BloodPressureReading(p.systolic, 80, 93, p.pulse, t), 40.0
        )

    def start_measurement(self) -> Handle[BloodPressureReading, str]:
        return self.script.start()

    def health(self) -> DeviceHealth:
        return _ok(self.script.ward.clock)


class FakeGlucometer(Glucometer):
    def __init__(self, ward: FakeWard) -> None:
        super().__init__("glucometer", ward.clock)
        self.script = MeasureScript(ward, self.kind, lambda p, t: GlucoseReading(5.6, t), 20.0)

    def start_measurement(self) -> Handle[GlucoseReading, str]:
        return self.script.start()

    def health(self) -> DeviceHealth:
        return _ok(self.script.ward.clock)


class FakeScale(Scale):
    def __init__(self, ward: FakeWard) -> None:
        super().__init__("scale", ward.clock)
        self.script = MeasureScript(ward, self.kind, lambda p, t: WeightReading(72.4, t), 15.0)

    def start_measurement(self) -> Handle[WeightReading, str]:
        return self.script.start()

    def health(self) -> DeviceHealth:
        return _ok(self.script.ward.clock)


class FakeTagReader(TagReader):
    def __init__(self, ward: FakeWard) -> None:
        super().__init__("wristband", ward.clock)
        self.ward = ward
        self.reads: list[tuple[str, str | None]] = []  # (place, payload)
        self.script: list[str | None] = []  # payloads for the next reads, overriding the patient's

    def read_tag(self) -> TagRead:
        patient = self.ward.patient_here()
        payload = self.script.pop(0) if self.script else (patient.payload if patient else None)
        self.reads.append((self.ward.place, payload))
        return TagRead(payload, "qr", self.ward.clock.now_s())

    def health(self) -> DeviceHealth:
        return _ok(self.ward.clock)


class FakeVoiceInquiry(VoiceInquiry):
    def __init__(self, ward: FakeWard) -> None:
        super().__init__("inquiry", ward.clock)
        self.ward = ward
        self.questions: list[tuple[str, str]] = []  # (place, question)
        self.broken = False

    def start_inquiry(self, question: str) -> Handle[InquiryReply, str]:
        if self.broken:
            raise DeviceFault(self.name, "microphone fault")
        self.questions.append((self.ward.place, question))
        patient = self.ward.patient_here()
        handle: ResolvedHandle[InquiryReply, str] = ResolvedHandle(self.ward.clock.now_s)
        due = self.ward.clock.now_s() + 8.0
        answered = patient is not None and patient.answered
        coherent = patient is not None and patient.coherent
        handle.succeed_at(due, InquiryReply(answered, coherent, "fine thanks" if answered else "", due))
        return handle

    def health(self) -> DeviceHealth:
        return _ok(self.ward.clock)


class FakeSpeaker(Speaker):
    def __init__(self, ward: FakeWard) -> None:
        super().__init__("speaker", ward.clock)
        self._said: list[Utterance] = []
        self.played: list[Playback] = []

    def say(self, text: str, *, language: str = "en") -> None:
        self._said.append(Utterance(text, language, self.clock.now_s()))

    def history(self) -> list[Utterance]:
        return list(self._said)

    def play(self, track_ref: str) -> Playback:
        self.played.append(Playback(track_ref, self.clock.now_s()))
        return self.played[-1]

    def stop_playback(self) -> None:
        pass

    def health(self) -> DeviceHealth:
        return _ok(self.clock)  # type: ignore[arg-type]


class FakeBattery(Battery):
    """Charges at `rate_per_s` while the robot is at the dock and the dock works."""

    def __init__(self, ward: FakeWard, *, soc: float = 0.9, rate_per_s: float = 0.001) -> None:
        super().__init__("battery", ward.clock)
        self.ward = ward
        self.soc = soc
        self.rate_per_s = rate_per_s
        self.dock_works = True
        self._last_s = ward.clock.now_s()

    @property
    def charging(self) -> bool:
        return self.ward.place == DOCK and self.dock_works and self.soc < 1.0

    def state(self) -> BatteryState:
        now = self.ward.clock.now_s()
        if self.charging:
            self.soc = min(1.0, self.soc + self.rate_per_s * (now - self._last_s))
        self._last_s = now
        return BatteryState(self.soc, 48.0, 5.0 if self.charging else -2.0, self.charging, now)

    def health(self) -> DeviceHealth:
        return _ok(self.ward.clock)


# ---- a whole fake robot ------------------------------------------------------------------------


@dataclass
class Rig:
    ward: FakeWard
    devices: DeviceSet
    events: list[MissionEvent]
    journal_path: Path
    runner: MissionRunner

    @property
    def clock(self) -> SimClock:
        return self.ward.clock

    @property
    def nav(self) -> FakeNavigator:
        assert isinstance(self.devices.navigator, FakeNavigator)
        return self.devices.navigator

    @property
    def battery(self) -> FakeBattery:
        assert isinstance(self.devices.battery, FakeBattery)
        return self.devices.battery

    def kinds(self, kind: str) -> list[MissionEvent]:
        return [e for e in self.events if e.kind == kind]

    def new_runner(self) -> MissionRunner:
        """A restart: new journal and runner objects on the same file (the old ones are dropped)."""
        self.runner = make_runner(self.ward, self.devices, self.events, self.journal_path)
        return self.runner

    def tick(self, safety: SafetyStatus | None = None, dt_s: float = 1.0) -> None:
        self.clock.advance(dt_s)
        self.runner.step(self.clock.now_s(), safety or safe(self.clock.now_s()))

    def run_until(
        self, done: Callable[[], bool], *, safety: SafetyStatus | None = None, dt_s: float = 1.0,
        max_ticks: int = 20000,
    ) -> None:
        for _ in range(max_ticks):
            if done():
                return
            self.tick(safety, dt_s)
        raise AssertionError("condition not reached within the tick budget")

    def idle(self) -> bool:
        return self.runner.current is None and not self.runner.queue_snapshot()


def make_runner(ward: FakeWard, devices: DeviceSet, events: list[MissionEvent], journal_path: Path) -> MissionRunner:
    ctx = MissionContext(robot_id="rb-01", clock=ward.clock, devices=devices, emit=events.append, home_dock=DOCK)
    return MissionRunner(ctx, Journal(journal_path), default_catalog())


def make_rig(tmp_path: Path, patients: dict[str, Patient], *, soc: float = 0.9) -> Rig:
    ward = FakeWard(SimClock(), dict(patients))
    devices = DeviceSet(
        navigator=FakeNavigator(ward),
        battery=FakeBattery(ward, soc=soc),
        tag_reader=FakeTagReader(ward),
        speaker=FakeSpeaker(ward),
        voice_inquiry=FakeVoiceInquiry(ward),
        thermometer=FakeThermometer(ward),
        blood_pressure=FakeBloodPressure(ward),
        pulse_oximeter=FakePulseOximeter(ward),
        glucometer=FakeGlucometer(ward),
        scale=FakeScale(ward),
        respiration_monitor=FakeRespirationMonitor(ward),
    )
    for device in devices:
        device.setup()
    events: list[MissionEvent] = []
    path = tmp_path / "rb-01.journal.jsonl"
    return Rig(ward, devices, events, path, make_runner(ward, devices, events, path))


def safe(now_s: float, *, reserve: bool = False, soc: float = 0.8) -> SafetyStatus:
    return SafetyStatus(SafetyState.NORMAL, "", 1.0, False, reserve, soc, now_s)


def estopped(now_s: float) -> SafetyStatus:
    return SafetyStatus(SafetyState.ESTOP, "button pressed", 0.0, True, False, 0.8, now_s)


def protective(now_s: float) -> SafetyStatus:
    return SafetyStatus(SafetyState.PROTECTIVE_STOP, "bumper contact", 0.0, False, False, 0.8, now_s)


def ward_of(n: int) -> dict[str, Patient]:
    """n beds at places room-1 … room-n, patients pt-00000a …"""
    return {f"room-{i}": Patient(f"pt-{i:06x}a") for i in range(1, n + 1)}


def beds_for(patients: dict[str, Patient], **extra: Any) -> list[dict[str, Any]]:
    return [
        {"bed_id": f"B{i}", "place": place, "patient_ref": p.patient_ref, "on_oxygen": False, **extra}
        for i, (place, p) in enumerate(patients.items(), start=1)
    ]
