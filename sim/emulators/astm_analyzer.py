"""A lab analyzer emulator speaking ASTM E1381/E1394 (instrument side) over a pseudo-terminal.

It receives order messages, runs the samples one after another, `result_delay_s` of simulated time
each, and answers a result message per sample (H, P, O, R per test, L). What it measures comes from
an `Instrument`: in the simulator the lab site's `sim.lab_samples.LabInstrument` (the very one the
simulated analyzer backend uses: true values of the tubes in its rack, control targets, drift,
clots), else a synthetic one (values drawn around each test's reference range). A sample whose
tube is not in the rack is answered at once with its O record marked "X" (cannot be done, LIS2-A2
field 26), a comment "no sample in rack" (the reason the simulated backend gives too, so the host
sees the same not-done answer on either), and no results; so is a sample named in `reject_samples`
(with its reason), and a test named in `reject_tests` comes back as an R record with status X and
a comment. Result messages echo each order's sequence number and requested date/time (field 7),
as instruments do, unless `echo_order_time` is off. While `fault()` reports a fault the instrument is down: it refuses
every frame (NAK), so the host's link gives up on each message and the run fails, and it reports
nothing until the fault clears. Faults on demand, each counted down as it is used:
`busy_enqs` (answer ENQ with NAK), `nak_frames` (NAK good frames), `contentions` (send ENQ at the
same moment as the host: the instrument wins), `interrupts` (answer a frame with EOT), line
noise (`noise_probability`: one byte of an outgoing frame flipped; `garbage_probability`: random
bytes between frames), `silent` (answers nothing, not even ENQ), `no_results` (takes every order
on the link, then never reports: a stuck instrument), and `request_critical(test, "HH"|"LL")` for a
critical value in the next result of that test. Randomness only from the generator it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pydantic

from hal.clock import Clock
from hal.drivers.astm import RecordError, records
from hal.drivers.astm.analyzer_driver import format_astm_time
from hal.drivers.astm.link import ENQ, STX, Link, LinkState, MessageFailed, MessageReceived, MessageSent, Role
from sim.emulators.pty_device import PtyDevice
from sim.lab_samples import Measurement

#: the comment on an order whose tube is not in the rack (`sim.devices.analyzer` gives the same reason)
NO_SAMPLE_IN_RACK = "no sample in rack"


@dataclass(frozen=True, slots=True)
class TestSpec:
    units: str
    low: float
    high: float
    critical_low: float
    critical_high: float
    decimals: int = 1

    def measurement(self, code: str, x: float) -> Measurement:
        value = round(x, self.decimals)
        if value >= self.critical_high:
            flag = "HH"
        elif value <= self.critical_low and self.critical_low > 0:
            flag = "LL"
        elif value > self.high:
            flag = "H"
        elif value < self.low:
            flag = "L"
        else:
            flag = "N"
        text = f"{value:.{self.decimals}f}" if self.decimals else str(int(value))
        return Measurement(code, text, self.units, f"{self.low:g} to {self.high:g}", flag)


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


#: how often the instrument offers one result message before it gives it up
RESULT_SEND_ATTEMPTS = 3
#: frames refused while the instrument is faulted (a host gives up after 6 per frame)
FAULTED_NAKS = 1_000_000


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
    no_results: bool = False
    reject_samples: dict[str, str] = pydantic.Field(default_factory=dict)  # sample id → reason (order X)
    reject_tests: dict[str, str] = pydantic.Field(default_factory=dict)  # test code → reason (result X)
    echo_order_time: bool = True


class Instrument(Protocol):
    """What the analyzer measures: every test of one sample, or None when its tube is not loaded."""

    def measure(self, sample_id: str, patient_ref: str, tests: Sequence[str], *, is_qc: bool,
                done_s: float) -> tuple[Measurement, ...] | None: ...


class SyntheticInstrument:
    """Values without a lab site (protocol tests): uniform within each test's reference range,
    out of it with `abnormal_probability` (never for controls)."""

    def __init__(self, rng: np.random.Generator, abnormal_probability: float = 0.1) -> None:
        self.rng = rng
        self.abnormal_probability = abnormal_probability

    def measure(self, sample_id: str, patient_ref: str, tests: Sequence[str], *, is_qc: bool,
                done_s: float) -> tuple[Measurement, ...]:
        return tuple(self._measure(code, is_qc) for code in tests)

    def _measure(self, code: str, is_qc: bool) -> Measurement:
        spec = TESTS.get(code)
        if spec is None:
            return Measurement(code, "", "", "", "A")  # an unknown test: no value, flagged abnormal
        if not is_qc and self.rng.random() < self.abnormal_probability:  # controls stay in range
            x = float(self.rng.choice([spec.low * 0.9, spec.high * 1.1]))
        else:
            x = float(self.rng.uniform(spec.low, spec.high))
        return spec.measurement(code, x)


@dataclass(order=True)
class _Pending:
    due_s: float
    sample_id: str = field(compare=False)
    patient_ref: str = field(compare=False)
    tests: tuple[str, ...] = field(compare=False)
    is_qc: bool = field(compare=False)
    measured: tuple[Measurement, ...] | None = field(compare=False)  # None: the order cannot be done
    seq: str = field(default="1", compare=False)  # the host's O record, echoed
    requested: str = field(default="", compare=False)
    not_done_reason: str = field(default="", compare=False)


class AstmAnalyzerEmulator:
    def __init__(
        self,
        clock: Clock,
        rng: np.random.Generator,
        settings: AnalyzerEmulatorSettings | None = None,
        *,
        pty: PtyDevice | None = None,
        instrument: Instrument | None = None,
        fault: Callable[[], str | None] | None = None,
    ) -> None:
        self.clock = clock
        self.rng = rng  # line faults only: what is measured comes from the instrument
        self.settings = settings or AnalyzerEmulatorSettings()
        self.pty = pty or PtyDevice("analyzer")
        self.instrument: Instrument = instrument or SyntheticInstrument(rng, self.settings.abnormal_probability)
        self.fault = fault  # the instrument's injected fault, if any (then it is down)
        self.link = Link(clock.now_s, role=Role.INSTRUMENT)
        self._pending: list[_Pending] = []
        self._free_at_s = float("-inf")  # samples run one after another
        self.not_loaded: list[str] = []
        self._down = False
        self._outbox: dict[int, tuple[list[str], int]] = {}  # message id → (lines, attempts)
        self.results_undelivered = 0
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
        down = self.fault is not None and self.fault() is not None
        if down != self._down:  # a faulted instrument refuses every frame: the host gives up cleanly
            self._down = down
            self.link.nak_next_frames = FAULTED_NAKS if down else 0
        start = 0
        for i, byte in enumerate(data):
            if byte == ENQ:  # the fault knobs act at the moment a host ENQ arrives
                self._feed(data[start:i])
                self._before_host_enq()
                self._feed(bytes([ENQ]))
                self.link.busy = False
                start = i + 1
        self._feed(data[start:])
        if not self._down:  # results wait in the instrument until it is back
            self._queue_due()
        self.link.poll()
        return self._write(self.link.take_output())

    def _feed(self, data: bytes) -> None:
        self.link.feed(data)
        for event in self.link.take_events():
            if isinstance(event, MessageReceived):
                self._on_message(event.records)
            elif isinstance(event, MessageSent):
                self._outbox.pop(event.message_id, None)
            elif isinstance(event, MessageFailed):  # offered again later, whole, as a sender must
                lines, attempts = self._outbox.pop(event.message_id)
                if attempts < RESULT_SEND_ATTEMPTS:
                    self._send(lines, attempts + 1)
                else:
                    self.results_undelivered += 1

    def _send(self, lines: list[str], attempts: int = 1) -> None:
        self._outbox[self.link.send(lines)] = (lines, attempts)

    def _before_host_enq(self) -> None:
        s = self.settings
        if self.link.state is not LinkState.IDLE or self._down:
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
                self._on_order(record, patient_ref)

    def _on_order(self, record: records.Record, patient_ref: str) -> None:
        sample, tests, is_qc = records.order_specimen(record)
        self.orders_received.append((sample, tests))
        if self.settings.no_results:  # taken on the link, never run
            return
        now_s = self.clock.now_s()
        echo = (record.field(2) or "1", record.field(7) if self.settings.echo_order_time else "")
        reason = self.settings.reject_samples.get(sample)
        if reason is not None:  # refused at once (short sample, wrong tube type...): no aspiration
            self._pending.append(_Pending(now_s, sample, patient_ref, tests, is_qc, None, *echo, reason))
            return
        # aspirated and measured on arrival (the tube is in the rack now), reported when done
        due_s = max(now_s, self._free_at_s) + self.settings.result_delay_s
        measured = self.instrument.measure(sample, patient_ref, tests, is_qc=is_qc, done_s=due_s)
        if measured is None:
            self.not_loaded.append(sample)
            self._pending.append(_Pending(now_s, sample, patient_ref, tests, is_qc, None, *echo, NO_SAMPLE_IN_RACK))
            return
        self._free_at_s = due_s
        self._pending.append(_Pending(due_s, sample, patient_ref, tests, is_qc, measured, *echo))

    def _queue_due(self) -> None:
        now_s = self.clock.now_s()
        due = sorted(p for p in self._pending if p.due_s <= now_s)
        self._pending = [p for p in self._pending if p.due_s > now_s]
        for p in due:
            self._send(records.encode_message(self._result_message(p)))

    def _result_message(self, p: _Pending) -> list[records.Record]:
        stamp = format_astm_time(p.due_s)
        order = records.order(int(p.seq) if p.seq.isdigit() else 1, p.sample_id, p.tests, is_qc=p.is_qc,
                              action="" if not p.is_qc else "Q", requested=p.requested)
        if p.measured is None:  # field 26, report type X: the order cannot be done
            fields = order.fields + (records.EMPTY_FIELD,) * (25 - len(order.fields)) + ((("X",),),)
            order = records.Record(fields)
        message = [
            records.header(self.settings.instrument, "medbot-lab", stamp),
            records.patient(1, p.patient_ref),
            order,
        ]
        if p.measured is None and p.not_done_reason:
            message.append(records.comment(1, p.not_done_reason))
        for seq, m in enumerate(p.measured or (), start=1):
            reason = self.settings.reject_tests.get(m.test_code)
            if reason is not None:  # this test alone cannot be done: status X and why
                message += [records.result(seq, m.test_code, "", m.units, "", "", "X", stamp,
                                           self.settings.instrument), records.comment(1, reason)]
                continue
            m = self._critical_on_demand(m)
            r = records.result(seq, m.test_code, m.value, m.units, m.reference_range, m.flag, "F", stamp,
                               self.settings.instrument)
            self.results_sent.append(r)
            message.append(r)
        message.append(records.terminator())
        return message

    def _critical_on_demand(self, m: Measurement) -> Measurement:
        flag = self._critical.get(m.test_code)
        spec = TESTS.get(m.test_code)
        if flag is None or spec is None or m.value == "CLOT":
            return m
        del self._critical[m.test_code]
        x = spec.critical_high * 1.15 if flag == "HH" else spec.critical_low * 0.8
        critical = spec.measurement(m.test_code, x)
        return Measurement(m.test_code, critical.value, m.units, m.reference_range, flag)
