"""`Analyzer` over an ASTM E1381/E1394 serial link: the lab robot's host-side driver.

One message per sample goes out (H, P, O with every ordered test as a repeat, L); the instrument
answers with result messages (H, P, O, R..., L). Results are matched to the run that ordered
them by (specimen id, test code). Everything happens in `service()`, called from the run
handle's `poll()` (and by anyone who wants unsolicited results): it reads what the port has,
feeds the link, runs its timers and writes its output, never blocking.

Failures reach the mission through the handle: a message the link gave up on is resent up to
`send_attempts` times, then the run fails with the reason; a port that disappears is reopened
with backoff and the unfinished message resent whole; a run never outlives `run_timeout_s` (it
then succeeds with what came and lists the rest as `missing`, as the interface says).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime

from serial import serial_for_url

from hal.analyzer import Analyzer, AnalyzerOrder, AnalyzerResult, AnalyzerRun
from hal.clock import Clock
from hal.device import DeviceHealth, HealthStatus
from hal.drivers.astm import RecordError, records
from hal.drivers.astm.link import Link, MessageFailed, MessageReceived, MessageSent, ReceiveAborted, Role
from hal.drivers.serial_port import Opener, Pump, SerialPort, SerialPortError
from hal.handle import Handle, HandleStatus
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry

DEFAULT_TESTS = ("GLU", "K", "NA", "CL", "CREA", "UREA", "CRP", "HB", "HGB", "WBC", "PLT", "TROP")


class AstmAnalyzerConfig(DeviceConfig):
    port: str  # pyserial URL: /dev/ttyUSB0, socket://host:port, rfc2217://host:port, loop://
    instrument: str = "analyzer"
    host_name: str = "medbot-lab"
    baudrate: int = 9600
    tests: tuple[str, ...] = DEFAULT_TESTS
    run_timeout_s: float = 900.0
    send_attempts: int = 3
    sender_timeout_s: float = 15.0
    receiver_timeout_s: float = 30.0
    busy_retry_s: float = 10.0
    contention_wait_s: float = 20.0
    write_timeout_s: float = 0.5
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0


def parse_astm_time(text: str, fallback_s: float) -> float:
    """YYYYMMDD[HHMM[SS]] (UTC) → epoch seconds; the fallback when absent or malformed."""
    for fmt in ("%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return fallback_s


def format_astm_time(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y%m%d%H%M%S")


class _Run(Handle[AnalyzerRun, str]):
    def __init__(self, driver: AstmAnalyzer, orders: Sequence[AnalyzerOrder], deadline_s: float) -> None:
        self._driver = driver
        self.deadline_s = deadline_s
        self.expected = {(o.sample_id, code) for o in orders for code in o.test_codes}
        self.qc_samples = {o.sample_id for o in orders if o.is_qc}
        self.results: dict[tuple[str, str], AnalyzerResult] = {}
        self.order_of: list[tuple[str, str]] = [(o.sample_id, code) for o in orders for code in o.test_codes]
        self.message_ids: dict[int, tuple[records.Record, ...]] = {}
        self.attempts: dict[tuple[records.Record, ...], int] = {}
        self._status = HandleStatus.RUNNING
        self._result: AnalyzerRun | None = None
        self._error: str | None = None

    def poll(self) -> HandleStatus:
        if self._status is HandleStatus.RUNNING:
            self._driver.service()
        done = self.expected <= self.results.keys() or self._driver.clock.now_s() >= self.deadline_s
        if self._status is HandleStatus.RUNNING and done:
            self._finish()
        return self._status

    @property
    def is_running(self) -> bool:
        return self._status is HandleStatus.RUNNING

    def offer(self, result: AnalyzerResult) -> bool:
        key = (result.sample_id, result.test_code)
        if key not in self.expected or self._status is not HandleStatus.RUNNING:
            return False
        self.results[key] = result  # a later correction (status C) replaces the first report
        return True

    def fail(self, reason: str) -> None:
        if self._status is HandleStatus.RUNNING:
            self._status, self._error = HandleStatus.FAILED, reason

    def _finish(self) -> None:
        got = tuple(self.results[k] for k in self.order_of if k in self.results)
        missing = tuple(k for k in self.order_of if k not in self.results)
        self._status, self._result = HandleStatus.SUCCEEDED, AnalyzerRun(got, missing)

    @property
    def feedback(self) -> str | None:
        return f"{len(self.results)}/{len(self.expected)} results"

    @property
    def result(self) -> AnalyzerRun | None:
        return self._result

    @property
    def error(self) -> str | None:
        return self._error

    def cancel(self) -> None:
        if self._status is HandleStatus.RUNNING:
            self._status = HandleStatus.CANCELLED


class AstmAnalyzer(Analyzer):
    def __init__(
        self, name: str, clock: Clock, config: AstmAnalyzerConfig, *, opener: Opener | None = None,
        pump: Pump | None = None,
    ) -> None:
        super().__init__(name, clock)
        self.config = config
        self.port = SerialPort(
            name, config.port, clock, baudrate=config.baudrate, write_timeout_s=config.write_timeout_s,
            reconnect_initial_s=config.reconnect_initial_s, reconnect_max_s=config.reconnect_max_s, pump=pump,
            opener=opener or serial_for_url,
        )
        self.link = Link(
            clock.now_s, role=Role.HOST, sender_timeout_s=config.sender_timeout_s,
            receiver_timeout_s=config.receiver_timeout_s, busy_retry_s=config.busy_retry_s,
            contention_wait_s=config.contention_wait_s,
        )
        self._runs: list[_Run] = []
        self._message_run: dict[int, tuple[_Run, tuple[records.Record, ...]]] = {}
        self.unsolicited: deque[AnalyzerResult] = deque(maxlen=200)
        self.rejected_messages = 0
        self.last_rejection: str | None = None
        self.last_port_error: str | None = None

    def supported_tests(self) -> frozenset[str]:
        return frozenset(self.config.tests)

    def setup(self) -> None:
        super().setup()
        self.port.ensure_open()  # a missing port is reported by health and retried with backoff

    def close(self) -> None:
        for run in self._runs:
            run.fail("analyzer closed")
        self._runs.clear()
        self.port.close()
        super().close()

    def start_run(self, orders: Sequence[AnalyzerOrder]) -> Handle[AnalyzerRun, str]:
        self._require_open()
        run = _Run(self, orders, self.clock.now_s() + self.config.run_timeout_s)
        unsupported = sorted({c for o in orders for c in o.test_codes} - self.supported_tests())
        if unsupported:
            run.fail(f"tests not offered by {self.config.instrument}: {', '.join(unsupported)}")
            return run
        if not orders:
            run.fail("no orders")
            return run
        self._runs.append(run)
        for seq, o in enumerate(orders, start=1):
            message = (
                records.header(self.config.host_name, self.config.instrument, format_astm_time(self.clock.now_s())),
                records.patient(1, o.patient_ref),
                records.order(seq, o.sample_id, o.test_codes, str(o.priority), is_qc=o.is_qc),
                records.terminator(),
            )
            self._send(run, message)
        return run

    def _send(self, run: _Run, message: tuple[records.Record, ...]) -> None:
        message_id = self.link.send(records.encode_message(message))
        self._message_run[message_id] = (run, message)
        run.attempts[message] = run.attempts.get(message, 0) + 1

    # -- the non-blocking service ----------------------------------------------------------------

    def service(self) -> None:
        """Move bytes between port and link and handle what the link reports. Never raises a
        port error: it is recorded, shown in health, and the port is reopened with backoff."""
        if not self.is_open:
            return
        if self.port.ensure_open():
            try:
                self.link.feed(self.port.read_available())
                self.link.poll()
                self.port.write(self.link.take_output())
                self.last_port_error = None
            except SerialPortError as exc:
                self.last_port_error = exc.reason
                self.link.reset()  # the transfer in progress is lost; its message goes out again
        self._handle_events()
        self._runs = [r for r in self._runs if r.is_running]

    def _handle_events(self) -> None:
        for event in self.link.take_events():
            if isinstance(event, MessageReceived):
                self._on_message(event.records)
            elif isinstance(event, MessageFailed):
                run, message = self._message_run.pop(event.message_id)
                if run.attempts[message] >= self.config.send_attempts:
                    run.fail(f"link to {self.config.instrument}: {event.reason}, "
                             f"{self.config.send_attempts} attempts")
                else:
                    self._send(run, message)
            elif isinstance(event, MessageSent):
                self._message_run.pop(event.message_id, None)
            elif isinstance(event, ReceiveAborted):
                self._reject(event.reason)

    def _reject(self, reason: str) -> None:
        self.rejected_messages += 1
        self.last_rejection = reason

    def _on_message(self, lines: tuple[str, ...]) -> None:
        try:
            decoded = records.decode_message(lines)
        except RecordError as exc:
            self._reject(exc.reason)
            return
        if not decoded or decoded[-1].kind != "L":
            self._reject("message without terminator (interrupted transfer)")
            return
        specimen, is_qc = "", False
        now_s = self.clock.now_s()
        for record in decoded:
            if record.kind == "O":
                specimen, _codes, is_qc = records.order_specimen(record)
            elif record.kind == "R":
                if not specimen:
                    self._reject("result before any order record")
                    continue
                f = records.result_fields(record)
                result = AnalyzerResult(
                    sample_id=specimen, test_code=f.test_code, value=f.value, units=f.units,
                    reference_range=f.reference_range, abnormal_flags=f.abnormal_flags, status=f.status,
                    instrument=f.instrument or self.config.instrument,
                    completed_s=parse_astm_time(f.completed, now_s), is_qc=is_qc,
                )
                if not any(run.offer(self._with_qc(run, result)) for run in self._runs):
                    self.unsolicited.append(result)

    @staticmethod
    def _with_qc(run: _Run, result: AnalyzerResult) -> AnalyzerResult:
        if result.sample_id in run.qc_samples and not result.is_qc:
            return dataclasses.replace(result, is_qc=True)
        return result

    def health(self) -> DeviceHealth:
        if not self.is_open:
            return self._health(HealthStatus.STALE, "not set up")
        if not self.port.is_open:
            return self._health(HealthStatus.ERROR, f"port {self.config.port}: {self.port.last_error or 'closed'}")
        if self.last_port_error is not None:
            return self._health(HealthStatus.ERROR, self.last_port_error)
        if self.last_rejection is not None:
            return self._health(HealthStatus.WARNING, f"rejected message: {self.last_rejection}")
        return self._health(HealthStatus.OK)


def build(name: str, config: AstmAnalyzerConfig, ctx: BuildContext) -> AstmAnalyzer:
    return AstmAnalyzer(name, ctx.clock, config, pump=ctx.extras.get("serial_pumps", {}).get(name))


def register(registry: DeviceRegistry) -> None:
    registry.register("analyzer", "astm", AstmAnalyzerConfig, build)
