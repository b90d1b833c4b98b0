"""Serial vitals drivers: the bedside module's devices (model "serial") and the Nonin pulse
oximeter (model "nonin"). A measurement is a handle advanced by `poll()`: it reads what the port
has, never blocks, and fails with a reason on probe off, device error, silence or timeout.
"""

from __future__ import annotations

import contextlib
import statistics
from abc import abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

from serial import serial_for_url

from hal.blood_pressure import BloodPressureMonitor, BloodPressureReading
from hal.clock import Clock
from hal.device import DeviceHealth, HealthStatus
from hal.drivers.serial_port import Opener, Pump, SerialPort, SerialPortError
from hal.drivers.vitals import VitalsProtocolError, bedside, nonin
from hal.glucometer import Glucometer, GlucoseReading
from hal.handle import Handle, HandleStatus
from hal.measurement import MeasuringDevice
from hal.pulse_oximeter import PulseOximeter, PulseOximetryReading
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from hal.scale import Scale, WeightReading
from hal.thermometer import TemperatureReading, Thermometer

R = TypeVar("R")

#: Data Format #2 has no perfusion index, only a three-colour class; this is the index (%) at
#: the middle of each class as Nonin's displays band them — an estimate, labelled as such in docs
PERFUSION_INDEX_PERCENT = {"green": 4.0, "yellow": 1.0, "red": 0.3, "none": 0.0}


class SerialVitalsConfig(DeviceConfig):
    port: str
    baudrate: int = 9600
    measure_timeout_s: float = 90.0
    ack_timeout_s: float = 3.0
    heartbeat_timeout_s: float = 10.0
    write_timeout_s: float = 0.5


class NoninConfig(SerialVitalsConfig):
    averaging_s: float = 8.0
    probe_off_s: float = 5.0
    no_data_timeout_s: float = 3.0
    measure_timeout_s: float = 40.0


class _Measurement(Handle[R, str], Generic[R]):
    def __init__(self, owner: _SerialMeasuring[R], deadline_s: float) -> None:
        self.owner = owner
        self.deadline_s = deadline_s
        self.status = HandleStatus.RUNNING
        self._result: R | None = None
        self._error: str | None = None
        self._feedback: str | None = None

    def poll(self) -> HandleStatus:
        if self.status is HandleStatus.RUNNING:
            self.owner.service()
        if self.status is HandleStatus.RUNNING and self.owner.clock.now_s() >= self.deadline_s:
            self.fail("measurement timed out")
        return self.status

    def succeed(self, result: R) -> None:
        if self.status is HandleStatus.RUNNING:
            self.status, self._result = HandleStatus.SUCCEEDED, result

    def fail(self, reason: str) -> None:
        if self.status is HandleStatus.RUNNING:
            self.status, self._error = HandleStatus.FAILED, reason

    def set_feedback(self, text: str) -> None:
        self._feedback = text

    @property
    def feedback(self) -> str | None:
        return self._feedback

    @property
    def result(self) -> R | None:
        return self._result

    @property
    def error(self) -> str | None:
        return self._error

    def cancel(self) -> None:
        if self.status is HandleStatus.RUNNING:
            self.status = HandleStatus.CANCELLED
            self.owner.on_cancel()


class _SerialMeasuring(MeasuringDevice[R], Generic[R]):
    def __init__(self, name: str, clock: Clock, config: SerialVitalsConfig, *, opener: Opener | None = None,
                 pump: Pump | None = None) -> None:
        super().__init__(name, clock)
        self.config = config
        self.port = SerialPort(name, config.port, clock, baudrate=config.baudrate,
                               write_timeout_s=config.write_timeout_s, pump=pump, opener=opener or serial_for_url)
        self.active: _Measurement[R] | None = None
        self.rejected = 0
        self.last_rejection: str | None = None
        self.last_rx_s: float | None = None

    def setup(self) -> None:
        super().setup()
        self.port.ensure_open()

    def close(self) -> None:
        if self.active is not None:
            self.active.fail("device closed")
        self.port.close()
        super().close()

    def start_measurement(self) -> Handle[R, str]:
        self._require_open()
        if self.active is not None and self.active.status is HandleStatus.RUNNING:
            self.active.cancel()
        handle: _Measurement[R] = _Measurement(self, self.clock.now_s() + self.config.measure_timeout_s)
        self.active = handle
        if not self.port.ensure_open():
            handle.fail(f"port {self.config.port} unavailable: {self.port.last_error}")
            return handle
        try:
            self._begin(handle)
        except SerialPortError as exc:
            handle.fail(exc.reason)
        return handle

    def service(self) -> None:
        handle = self.active
        if handle is None or handle.status is not HandleStatus.RUNNING:
            return
        if not self.port.ensure_open():
            return  # reconnecting with backoff; the measurement's deadline bounds the wait
        try:
            data = self.port.read_available()
        except SerialPortError:
            return
        if data:
            self._on_bytes(data, handle)
        if handle.status is HandleStatus.RUNNING:
            self._check(handle)

    def on_cancel(self) -> None:
        """A cancelled measurement: nothing to tell the device by default."""

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        self.last_rejection = reason

    def health(self) -> DeviceHealth:
        if not self.is_open:
            return self._health(HealthStatus.STALE, "not set up")
        if not self.port.is_open:
            return self._health(HealthStatus.ERROR, f"port {self.config.port}: {self.port.last_error or 'closed'}")
        return self._protocol_health()

    def _protocol_health(self) -> DeviceHealth:
        if self.last_rejection is not None:
            return self._health(HealthStatus.WARNING, f"rejected input: {self.last_rejection}")
        return self._health(HealthStatus.OK)

    @abstractmethod
    def _begin(self, handle: _Measurement[R]) -> None: ...

    @abstractmethod
    def _on_bytes(self, data: bytes, handle: _Measurement[R]) -> None: ...

    @abstractmethod
    def _check(self, handle: _Measurement[R]) -> None: ...


class _BedsideDevice(_SerialMeasuring[R], Generic[R]):
    device_code = ""
    config: SerialVitalsConfig

    def __init__(self, name: str, clock: Clock, config: SerialVitalsConfig, **kwargs: object) -> None:
        super().__init__(name, clock, config, **kwargs)  # type: ignore[arg-type]
        self._splitter = bedside.LineSplitter()
        self._seq = 0
        self._acked = False
        self._ack_deadline_s = 0.0

    def _begin(self, handle: _Measurement[R]) -> None:
        self._seq = self._seq % 0xFFFF + 1
        self._acked = False
        self._ack_deadline_s = self.clock.now_s() + self.config.ack_timeout_s
        self.port.write(bedside.start(self._seq, self.device_code))
        handle.set_feedback("requested")

    def on_cancel(self) -> None:
        with contextlib.suppress(SerialPortError):  # else the module times the measurement out itself
            self.port.write(bedside.encode_line(bedside.BedsideLine(self._seq, self.device_code, "CANCEL")))

    def _on_bytes(self, data: bytes, handle: _Measurement[R]) -> None:
        for raw in self._splitter.feed(data):
            try:
                line = bedside.decode_line(raw)
            except VitalsProtocolError as exc:
                self._reject(exc.reason)
                continue
            if line.device != self.device_code:
                self._reject(f"line for {line.device} on the {self.device_code} port")
                continue
            self.last_rx_s = self.clock.now_s()
            if line.type == "HB":
                continue
            if line.seq != self._seq:
                self._reject(f"stale or out-of-order seq {line.seq} (expected {self._seq})")
                continue
            self._on_line(line, handle)
            if handle.status is not HandleStatus.RUNNING:
                return

    def _on_line(self, line: bedside.BedsideLine, handle: _Measurement[R]) -> None:
        if line.type == "ACK":
            self._acked = True
        elif line.type == "PROG":
            self._acked = True
            handle.set_feedback(line.fields[0] if line.fields else "measuring")
        elif line.type == "ERR":
            handle.fail(f"device error: {' '.join(line.fields) or 'unspecified'}")
        elif line.type == "RES":
            try:
                handle.succeed(self._reading(line.field_map(), self.clock.now_s()))
            except (KeyError, ValueError) as exc:
                self._reject(f"malformed result: {exc}")
                handle.fail(f"malformed result from device: {exc}")

    def _check(self, handle: _Measurement[R]) -> None:
        if not self._acked and self.clock.now_s() >= self._ack_deadline_s:
            handle.fail(f"no answer from the bedside module within {self.config.ack_timeout_s:g} s")

    def _protocol_health(self) -> DeviceHealth:
        if self.last_rx_s is not None and self.clock.now_s() - self.last_rx_s > self.config.heartbeat_timeout_s \
                and self.active is not None and self.active.status is HandleStatus.RUNNING:
            return self._health(HealthStatus.STALE, "bedside module silent")
        return super()._protocol_health()

    @abstractmethod
    def _reading(self, fields: dict[str, str], stamp_s: float) -> R: ...


def _in_range(name: str, value: float, low: float, high: float) -> float:
    if not low <= value <= high:
        raise ValueError(f"{name}={value} outside {low}..{high}")
    return value


class SerialThermometer(_BedsideDevice[TemperatureReading], Thermometer):
    device_code = "TEMP"

    def _reading(self, fields: dict[str, str], stamp_s: float) -> TemperatureReading:
        t = _in_range("temp_c", float(fields["temp_c"]), 25.0, 45.0)
        return TemperatureReading(t, fields.get("site", "unknown"), stamp_s)


class SerialBloodPressure(_BedsideDevice[BloodPressureReading], BloodPressureMonitor):
    device_code = "NIBP"

    def _reading(self, fields: dict[str, str], stamp_s: float) -> BloodPressureReading:
        sys_ = int(_in_range("sys", int(fields["sys"]), 40, 300))
        dia = int(_in_range("dia", int(fields["dia"]), 20, sys_))
        return BloodPressureReading(sys_, dia, int(fields["map"]), int(fields["pr"]), stamp_s)


class SerialGlucometer(_BedsideDevice[GlucoseReading], Glucometer):
    device_code = "GLU"

    def _reading(self, fields: dict[str, str], stamp_s: float) -> GlucoseReading:
        return GlucoseReading(_in_range("glu_mmol", float(fields["glu_mmol"]), 0.5, 40.0), stamp_s)


class SerialScale(_BedsideDevice[WeightReading], Scale):
    device_code = "SCALE"

    def _reading(self, fields: dict[str, str], stamp_s: float) -> WeightReading:
        return WeightReading(_in_range("kg", float(fields["kg"]), 0.5, 400.0), stamp_s)


class NoninPulseOximeter(_SerialMeasuring[PulseOximetryReading], PulseOximeter):
    config: NoninConfig

    def __init__(self, name: str, clock: Clock, config: NoninConfig, **kwargs: object) -> None:
        super().__init__(name, clock, config, **kwargs)  # type: ignore[arg-type]
        self.decoder = nonin.NoninDecoder()
        self._good: list[nonin.NoninPacket] = []
        self._started_s = 0.0
        self._probe_off_since_s: float | None = None

    def _begin(self, handle: _Measurement[PulseOximetryReading]) -> None:
        self.port.reset_input()  # frames from before the request describe another moment
        self.decoder = nonin.NoninDecoder()
        self._good, self._probe_off_since_s = [], None
        self._started_s = self.clock.now_s()
        self.last_rx_s = None
        handle.set_feedback("acquiring pulse signal")

    def _on_bytes(self, data: bytes, handle: _Measurement[PulseOximetryReading]) -> None:
        bad_before = self.decoder.bad_frames
        now_s = self.clock.now_s()
        for packet in self.decoder.feed(data):
            self.last_rx_s = now_s
            if packet.sensor_disconnected:
                self._probe_off_since_s = self._probe_off_since_s or now_s
                continue
            self._probe_off_since_s = None
            if packet.usable:
                self._good.append(packet)
        if self.decoder.bad_frames > bad_before:
            self._reject(f"{self.decoder.bad_frames - bad_before} frames with a bad checksum")

    def _check(self, handle: _Measurement[PulseOximetryReading]) -> None:
        now_s = self.clock.now_s()
        cfg = self.config
        needed = int(cfg.averaging_s * nonin.FRAMES_PER_S / nonin.FRAMES_PER_PACKET)
        if len(self._good) >= needed:
            recent = self._good[-needed:]
            spo2 = round(statistics.median(p.spo2_percent or 0 for p in recent))
            hr = round(statistics.median(p.heart_rate_bpm or 0 for p in recent))
            perfusion = statistics.mode(p.perfusion for p in recent)
            handle.succeed(PulseOximetryReading(spo2, hr, PERFUSION_INDEX_PERCENT[perfusion], now_s))
        elif self._probe_off_since_s is not None and now_s - self._probe_off_since_s >= cfg.probe_off_s:
            handle.fail("probe off")
        elif now_s - (self.last_rx_s or self._started_s) >= cfg.no_data_timeout_s:
            handle.fail(f"no data from the oximeter for {cfg.no_data_timeout_s:g} s")
        else:
            handle.set_feedback(f"acquiring pulse signal ({len(self._good)}/{needed} packets)")


def _builder(cls: type, config_cls: type[SerialVitalsConfig]) -> Callable[..., MeasuringDevice[object]]:
    def build(name: str, config: SerialVitalsConfig, ctx: BuildContext) -> MeasuringDevice[object]:
        pump = ctx.extras.get("serial_pumps", {}).get(name)
        device: MeasuringDevice[object] = cls(name, ctx.clock, config, pump=pump)
        return device

    return build


def register(registry: DeviceRegistry) -> None:
    registry.register("thermometer", "serial", SerialVitalsConfig, _builder(SerialThermometer, SerialVitalsConfig))
    registry.register("blood_pressure", "serial", SerialVitalsConfig,
                      _builder(SerialBloodPressure, SerialVitalsConfig))
    registry.register("glucometer", "serial", SerialVitalsConfig, _builder(SerialGlucometer, SerialVitalsConfig))
    registry.register("scale", "serial", SerialVitalsConfig, _builder(SerialScale, SerialVitalsConfig))
    registry.register("pulse_oximeter", "nonin", NoninConfig, _builder(NoninPulseOximeter, NoninConfig))
