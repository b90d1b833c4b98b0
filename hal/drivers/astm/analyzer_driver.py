"""`Analyzer` over an ASTM E1381/E1394 serial link: the lab robot's host-side driver.

One message per sample goes out (H, P, O with every ordered test as a repeat, L); the instrument
answers with result messages (H, P, O, R..., L). Everything happens in `service()`, called from
the run handle's `poll()` (and by anyone who wants unsolicited results): it reads what the port
has, feeds the link, runs its timers and writes its output, never blocking.

Matching: each order carries its own requested date/time (O field 7, distinct for every order of
one specimen) and the instrument echoes it, so a result goes to the very run that ordered it; a
run that has ended (finished, failed, cancelled, or past its deadline even if nobody polls it)
takes nothing, and what it would have taken (a result or a not-done) is kept in `unsolicited`.
An instrument that does not echo field 7 (or a stamp from before a restart): the newest live run
that ordered (specimen, test) takes it, so a re-run's results never go to the run before it.

Outcomes reach the mission through the handle:
- every ordered test resulted or marked "cannot be done" (X) by the instrument → SUCCEEDED at
  once; a test not done is a `NotDone` in the run's `not_done`, with the instrument's reason (its
  comment record, else what its R record carried, else its flags; "" when it gave none), never
  an `AnalyzerResult`;
- `run_timeout_s` passes with part of the answer → SUCCEEDED with the rest in `missing`;
- `run_timeout_s` passes and the instrument said nothing at all about the run → FAILED, "analyzer
  <instrument> sent no results for run N (<samples>) within T s" (and whether it took the orders),
  so the mission retries and alerts instead of reporting a silent instrument as a finished run;
- a message the link gave up on `send_attempts` times → FAILED with the link's reason; a port
  that disappears is reopened with backoff and the unfinished message resent whole.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict, deque
from collections.abc import Sequence
from datetime import UTC, datetime

from serial import serial_for_url

from hal.analyzer import Analyzer, AnalyzerOrder, AnalyzerResult, AnalyzerRun, NotDone
from hal.clock import Clock
from hal.device import DeviceHealth, HealthStatus
from hal.drivers.astm import RecordError, records
from hal.drivers.astm.link import Link, MessageFailed, MessageReceived, MessageSent, ReceiveAborted, Role
from hal.drivers.astm.reports import OrderReport, TestReport, order_reports
from hal.drivers.serial_port import Opener, Pump, SerialPort, SerialPortError
from hal.handle import Handle, HandleStatus
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry

DEFAULT_TESTS = ("GLU", "K", "NA", "CL", "CREA", "UREA", "CRP", "HB", "HGB", "WBC", "PLT", "TROP")
#: orders remembered for matching echoed results (a run's orders stay known after it ends, so a
#: late result of an ended run is recognised as such and not handed to a re-run)
ORDERS_REMEMBERED = 4096


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
    def __init__(self, driver: AstmAnalyzer, number: int, orders: Sequence[AnalyzerOrder], deadline_s: float) -> None:
        self._driver = driver
        self.deadline_s = deadline_s
        samples = [o.sample_id for o in orders]
        shown = ", ".join(samples[:3]) + (f" +{len(samples) - 3} more" if len(samples) > 3 else "")
        self.label = f"run {number} ({shown})"
        self.expected = {(o.sample_id, code) for o in orders for code in o.test_codes}
        self.qc_samples = {o.sample_id for o in orders if o.is_qc}
        self.results: dict[tuple[str, str], AnalyzerResult] = {}
        self.not_done: dict[tuple[str, str], NotDone] = {}
        self.order_of: list[tuple[str, str]] = [(o.sample_id, code) for o in orders for code in o.test_codes]
        self.attempts: dict[tuple[records.Record, ...], int] = {}
        self.orders_taken = 0  # order messages the instrument accepted on the link
        self._status = HandleStatus.RUNNING
        self._result: AnalyzerRun | None = None
        self._error: str | None = None

    def poll(self) -> HandleStatus:
        if self._status is HandleStatus.RUNNING:
            self._driver.service()  # settles this run (and any other) when it is done or expired
            self.settle(self._driver.clock.now_s())
        return self._status

    @property
    def is_running(self) -> bool:
        return self._status is HandleStatus.RUNNING

    def wants(self, key: tuple[str, str], now_s: float) -> bool:
        """Still waiting for this test: running, before its deadline, and it ordered it."""
        return self._status is HandleStatus.RUNNING and now_s < self.deadline_s and key in self.expected

    def offer(self, answer: AnalyzerResult | NotDone) -> None:
        """Take a result or a not-done; the latest word on a test replaces what came before (a
        correction C replaces the first result, a re-measurement replaces a not-done)."""
        if answer.sample_id in self.qc_samples and not answer.is_qc:
            answer = dataclasses.replace(answer, is_qc=True)
        key = (answer.sample_id, answer.test_code)
        if isinstance(answer, NotDone):
            self.results.pop(key, None)
            self.not_done[key] = answer
        else:
            self.not_done.pop(key, None)
            self.results[key] = answer

    def settle(self, now_s: float) -> None:
        """Finish once every ordered test is resulted or marked not done, or at the deadline."""
        if self._status is not HandleStatus.RUNNING:
            return
        if self.expected <= self.results.keys() | self.not_done.keys():
            self._finish()
        elif now_s >= self.deadline_s:
            if self.results or self.not_done:
                self._finish()  # part of the answer: the rest is listed as missing
            else:
                self.fail(self._silence())

    def _silence(self) -> str:
        driver, config = self._driver, self._driver.config
        port_error = driver.last_port_error or (None if driver.port.is_open else driver.port.last_error or "closed")
        if self.orders_taken:
            taken = "it took the orders"
        elif port_error is not None:
            taken = f"it never took the orders: port {config.port}: {port_error}"
        else:
            taken = "it never took the orders: no answer on the link"
        return (f"analyzer {config.instrument} sent no results for {self.label} within "
                f"{config.run_timeout_s:g} s ({taken})")

    def fail(self, reason: str) -> None:
        if self._status is HandleStatus.RUNNING:
            self._status, self._error = HandleStatus.FAILED, reason

    def _finish(self) -> None:
        got = tuple(self.results[k] for k in self.order_of if k in self.results)
        not_done = tuple(self.not_done[k] for k in self.order_of if k in self.not_done)
        missing = tuple(k for k in self.order_of if k not in self.results and k not in self.not_done)
        self._status, self._result = HandleStatus.SUCCEEDED, AnalyzerRun(got, missing, not_done)

    @property
    def feedback(self) -> str | None:
        text = f"{len(self.results)}/{len(self.expected)} results"
        return f"{text}, {len(self.not_done)} not done" if self.not_done else text

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
        self._runs_started = 0
        self._message_run: dict[int, tuple[_Run, tuple[records.Record, ...]]] = {}
        # (specimen, requested time of its order) → the run that ordered it
        self._orders: OrderedDict[tuple[str, str], _Run] = OrderedDict()
        self.unsolicited: deque[AnalyzerResult | NotDone] = deque(maxlen=200)
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
        self._runs_started += 1
        run = _Run(self, self._runs_started, orders, self.clock.now_s() + self.config.run_timeout_s)
        unsupported = sorted({c for o in orders for c in o.test_codes} - self.supported_tests())
        if unsupported:
            run.fail(f"tests not offered by {self.config.instrument}: {', '.join(unsupported)}")
            return run
        if not orders:
            run.fail("no orders")
            return run
        self._runs.append(run)
        for seq, o in enumerate(orders, start=1):
            requested = self._order_stamp(o.sample_id)
            self._orders[(o.sample_id, requested)] = run
            message = (
                records.header(self.config.host_name, self.config.instrument, format_astm_time(self.clock.now_s())),
                records.patient(1, o.patient_ref),
                records.order(seq, o.sample_id, o.test_codes, str(o.priority), is_qc=o.is_qc, requested=requested),
                records.terminator(),
            )
            self._send(run, message)
        while len(self._orders) > ORDERS_REMEMBERED:
            self._orders.popitem(last=False)
        return run

    def _order_stamp(self, specimen: str) -> str:
        """The order's requested date/time: now, moved on by whole seconds until no other order of
        this specimen carries it (a re-run within the same second still gets its own)."""
        stamp_s = float(int(self.clock.now_s()))
        while (specimen, format_astm_time(stamp_s)) in self._orders:
            stamp_s += 1.0
        return format_astm_time(stamp_s)

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
        now_s = self.clock.now_s()
        for run in self._runs:  # a run past its deadline ends before anything more can reach it
            if now_s >= run.deadline_s:
                run.settle(now_s)
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
        for run in self._runs:
            run.settle(now_s)
        self._runs = [r for r in self._runs if r.is_running]

    def _handle_events(self) -> None:
        for event in self.link.take_events():
            if isinstance(event, MessageReceived):
                self._on_message(event.records)
            elif isinstance(event, MessageFailed):
                run, message = self._message_run.pop(event.message_id)
                if not run.is_running:
                    continue  # the run has ended: its order is not offered again
                if run.attempts[message] >= self.config.send_attempts:
                    run.fail(f"link to {self.config.instrument}: {event.reason}, "
                             f"{self.config.send_attempts} attempts")
                else:
                    self._send(run, message)
            elif isinstance(event, MessageSent):
                sent = self._message_run.pop(event.message_id, None)
                if sent is not None:
                    sent[0].orders_taken += 1
            elif isinstance(event, ReceiveAborted):
                self._reject(event.reason)

    def _reject(self, reason: str) -> None:
        self.rejected_messages += 1
        self.last_rejection = reason

    def _on_message(self, lines: tuple[str, ...]) -> None:
        try:
            decoded = records.decode_message(lines)
            if not decoded or decoded[-1].kind != "L":
                raise RecordError("message without terminator (interrupted transfer)")
            reports = order_reports(decoded)
        except RecordError as exc:
            self._reject(exc.reason)
            return
        now_s = self.clock.now_s()
        for report in reports:
            for test in report.tests():
                answer = self._answer_of(report, test, now_s)
                run = self._claimant(report, test.test_code, now_s)
                if run is None:
                    self.unsolicited.append(answer)
                else:
                    run.offer(answer)

    def _answer_of(self, report: OrderReport, test: TestReport, now_s: float) -> AnalyzerResult | NotDone:
        f = test.fields
        if test.not_done:  # order or R record marked X: an answer with a reason, not a value
            return NotDone(
                sample_id=report.specimen, test_code=test.test_code, reason=test.reason,
                instrument=(f.instrument if f else "") or self.config.instrument,
                reported_s=parse_astm_time(f.completed, now_s) if f else now_s, is_qc=report.is_qc,
            )
        assert f is not None  # only a test of an order marked X comes without its R record
        return AnalyzerResult(
            sample_id=report.specimen, test_code=f.test_code, value=f.value, units=f.units,
            reference_range=f.reference_range, abnormal_flags=f.abnormal_flags, status=f.status,
            instrument=f.instrument or self.config.instrument,
            completed_s=parse_astm_time(f.completed, now_s), is_qc=report.is_qc,
        )

    def _claimant(self, report: OrderReport, test_code: str, now_s: float) -> _Run | None:
        """The run this result belongs to, if it is still waiting for it."""
        key = (report.specimen, test_code)
        run = self._orders.get((report.specimen, report.requested)) if report.requested else None
        if run is not None:  # our order, echoed: its own run or nobody
            return run if run.wants(key, now_s) else None
        # no echo (or an order from before a restart): the newest order of the specimen claims it
        return next((r for r in reversed(self._runs) if r.wants(key, now_s)), None)

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
