"""A lab analyzer emulator speaking ASTM E1381/E1394 (instrument side) over a pseudo-terminal.

It receives order messages, runs each sample for `result_delay_s` of simulated time and answers a
result message (H, P, O, R per test, L). Faults on demand, each counted down as it is used:
`busy_enqs` (answer ENQ with NAK), `nak_frames` (NAK good frames), `contentions` (send ENQ at the
same moment as the host: the instrument wins), `interrupts` (answer a frame with EOT), line
noise (`noise_probability`: one byte of an outgoing frame flipped; `garbage_probability`: random
bytes between frames), `silent` (answers nothing), and `request_critical(test, "HH"|"LL")` for a
critical value in the next result of that test. Randomness only from the generator it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pydantic

from hal.clock import Clock
from hal.drivers.astm import RecordError, records
from hal.drivers.astm.analyzer_driver import format_astm_time
from hal.drivers.astm.link import ENQ, STX, Link, LinkState, MessageReceived, Role
from sim.emulators.pty_device import PtyDevice


@dataclass(frozen=True, slots=True)
class TestSpec:
    units: str
    low: float
    high: float
    critical_low: float
    critical_high: float
    decimals: int = 1


TESTS: dict[str, TestSpec] = {
    "GLU": TestSpec("mmol/L", 3.9, 6.1, 2.5, 25.0),
    "K": TestSpec("mmol/L", 3.5, 5.1, 2.8, 6.2),
    "NA": TestSpec("mmol/L", 135, 145, 120, 160, 0),
    "CL": TestSpec("mmol/L", 98, 107, 80, 120, 0),
    "CREA": TestSpec("umol/L", 62, 106, 20, 600, 0),
    "UREA": TestSpec("mmol/L", 2.5, 7.8, 1.0, 30.0),
    "CRP": TestSpec("mg/L", 0.0, 5.0, 0.0, 300.0),
    "HGB": TestSpec("g/L", 130, 170, 70, 200, 0),
    "HB": TestSpec("g/L", 130, 170, 70, 200, 0),  # the lab robot's code for haemoglobin
    "WBC": TestSpec("10*9/L", 4.0, 10.0, 1.0, 30.0),
    "PLT": TestSpec("10*9/L", 150, 400, 20, 1000, 0),
    "TROP": TestSpec("ng/L", 0, 14, 0, 52, 0),
}


class AnalyzerEmulatorSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    instrument: str = "sim-chem-1"
    result_delay_s: float = 120.0
    busy_enqs: int = 0
    nak_frames: int = 0
    contentions: int = 0
    interrupts: int = 0
    noise_probability: float = 0.0
    garbage_probability: float = 0.0
    abnormal_probability: float = 0.1
    silent: bool = False


@dataclass(order=True)
class _Pending:
    due_s: float
    sample_id: str = field(compare=False)
    patient_ref: str = field(compare=False)
    tests: tuple[str, ...] = field(compare=False)
    is_qc: bool = field(compare=False)


class AstmAnalyzerEmulator:
    def __init__(
        self,
        clock: Clock,
        rng: np.random.Generator,
        settings: AnalyzerEmulatorSettings | None = None,
        *,
        pty: PtyDevice | None = None,
        glucose_for: Callable[[str, float], float | None] | None = None,
    ) -> None:
        self.clock = clock
        self.rng = rng
        self.settings = settings or AnalyzerEmulatorSettings()
        self.pty = pty or PtyDevice("analyzer")
        self.glucose_for = glucose_for  # patient_ref, time -> true glucose (the simulated patient)
        self.link = Link(clock.now_s, role=Role.INSTRUMENT)
        self._pending: list[_Pending] = []
        self._critical: dict[str, str] = {}
        self.orders_received: list[tuple[str, tuple[str, ...]]] = []
        self.results_sent: list[records.Record] = []
        self.rejected: list[str] = []
        self.bytes_from_host = bytearray()  # everything the host sent, for assertions

    @property
    def port_url(self) -> str:
        return self.pty.port_path

    def close(self) -> None:
        self.pty.close()

    def request_critical(self, test_code: str, flag: str = "HH") -> None:
        if flag not in ("HH", "LL"):
            raise ValueError(f"critical flag must be HH or LL, got {flag!r}")
        self._critical[test_code] = flag

    # -- the pump --------------------------------------------------------------------------------

    def service(self, host_wrote: int = 0) -> int:
        """Read what the host wrote (waiting, bounded, for `host_wrote` bytes), answer, and
        return how many bytes were written back."""
        data = self.pty.read(expect_bytes=host_wrote)
        self.bytes_from_host += data
        if self.settings.silent:
            return 0
        start = 0
        for i, byte in enumerate(data):
            if byte == ENQ:  # the fault knobs act at the moment a host ENQ arrives
                self._feed(data[start:i])
                self._before_host_enq()
                self._feed(bytes([ENQ]))
                self.link.busy = False
                start = i + 1
        self._feed(data[start:])
        self._queue_due()
        self.link.poll()
        return self._write(self.link.take_output())

    def _feed(self, data: bytes) -> None:
        self.link.feed(data)
        for event in self.link.take_events():
            if isinstance(event, MessageReceived):
                self._on_message(event.records)

    def _before_host_enq(self) -> None:
        s = self.settings
        if self.link.state is not LinkState.IDLE:
            return
        if s.contentions > 0 and self._pending and not self.link.pending_messages:
            s.contentions -= 1
            self._pending.sort()
            self._pending[0].due_s = self.clock.now_s()  # ready at the very moment the host calls
            self._queue_due()
            self.link.poll()  # our ENQ crosses the host's: contention
            return
        if s.busy_enqs > 0:
            s.busy_enqs -= 1
            self.link.busy = True
        if s.nak_frames > 0:
            self.link.nak_next_frames, s.nak_frames = s.nak_frames, 0
        if s.interrupts > 0:
            s.interrupts -= 1
            self.link.interrupt_requested = True

    def _write(self, out: bytes) -> int:
        if not out:
            return 0
        s = self.settings
        if out[0] == STX and self.rng.random() < s.noise_probability:
            corrupted = bytearray(out)
            corrupted[2 + int(self.rng.integers(0, max(1, len(out) - 7)))] ^= 0x01  # inside FN..text
            out = bytes(corrupted)
        if self.rng.random() < s.garbage_probability:
            out = bytes(self.rng.integers(0x20, 0x7F, size=int(self.rng.integers(1, 8)), dtype=np.uint8)) + out
        return self.pty.write(out)

    # -- orders in, results out --------------------------------------------------------------------

    def _on_message(self, lines: tuple[str, ...]) -> None:
        try:
            decoded = records.decode_message(lines)
        except RecordError as exc:
            self.rejected.append(exc.reason)
            return
        if not decoded or decoded[-1].kind != "L":
            self.rejected.append("incomplete message")
            return
        patient_ref = ""
        for record in decoded:
            if record.kind == "P":
                patient_ref = record.field(3)
            elif record.kind == "O":
                sample, tests, is_qc = records.order_specimen(record)
                self.orders_received.append((sample, tests))
                due_s = self.clock.now_s() + self.settings.result_delay_s
                self._pending.append(_Pending(due_s, sample, patient_ref, tests, is_qc))

    def _queue_due(self) -> None:
        now_s = self.clock.now_s()
        due = sorted(p for p in self._pending if p.due_s <= now_s)
        self._pending = [p for p in self._pending if p.due_s > now_s]
        for p in due:
            self.link.send(records.encode_message(self._result_message(p, now_s)))

    def _result_message(self, p: _Pending, now_s: float) -> list[records.Record]:
        stamp = format_astm_time(now_s)
        message = [
            records.header(self.settings.instrument, "medbot-lab", stamp),
            records.patient(1, p.patient_ref),
            records.order(1, p.sample_id, p.tests, is_qc=p.is_qc, action="" if not p.is_qc else "Q"),
        ]
        for seq, code in enumerate(p.tests, start=1):
            value, flag = self._value(code, p.patient_ref, now_s, is_qc=p.is_qc)
            spec = TESTS.get(code)
            units = spec.units if spec else ""
            ref = f"{spec.low:g} to {spec.high:g}" if spec else ""
            r = records.result(seq, code, value, units, ref, flag, "F", stamp, self.settings.instrument)
            self.results_sent.append(r)
            message.append(r)
        message.append(records.terminator())
        return message

    def _value(self, code: str, patient_ref: str, now_s: float, *, is_qc: bool = False) -> tuple[str, str]:
        spec = TESTS.get(code)
        if spec is None:
            return "", "A"  # an unknown test: reported without a value, flagged abnormal
        critical = self._critical.pop(code, None)
        if critical == "HH":
            x = spec.critical_high * 1.15
        elif critical == "LL":
            x = spec.critical_low * 0.8
        else:
            true = self.glucose_for(patient_ref, now_s) if (code == "GLU" and self.glucose_for) else None
            if true is not None:
                x = true + float(self.rng.normal(0.0, 0.1))
            elif not is_qc and self.rng.random() < self.settings.abnormal_probability:  # controls stay in range
                x = float(self.rng.choice([spec.low * 0.9, spec.high * 1.1]))
            else:
                x = float(self.rng.uniform(spec.low, spec.high))
        value = round(x, spec.decimals)
        if value >= spec.critical_high:
            flag = "HH"
        elif value <= spec.critical_low and spec.critical_low > 0:
            flag = "LL"
        elif value > spec.high:
            flag = "H"
        elif value < spec.low:
            flag = "L"
        else:
            flag = "N"
        text = f"{value:.{spec.decimals}f}" if spec.decimals else str(int(value))
        return text, flag
