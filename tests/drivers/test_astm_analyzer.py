"""The ASTM analyzer driver end to end against the analyzer emulator over a real pty."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.analyzer import AnalyzerOrder, AnalyzerResult, NotDone, OrderPriority
from hal.clock import SimClock
from hal.device import HealthStatus
from hal.drivers.astm.analyzer_driver import AstmAnalyzer, AstmAnalyzerConfig, _Run
from hal.drivers.astm.link import EOT, STX
from hal.handle import Handle, HandleStatus
from hal.registry import BuildContext, DeviceRegistry
from sim.emulators.astm_analyzer import AnalyzerEmulatorSettings, AstmAnalyzerEmulator

ORDERS = [
    AnalyzerOrder("S-0001", "pt-000101", ("GLU", "K"), OrderPriority.STAT),
    AnalyzerOrder("S-0002", "pt-000102", ("NA", "CREA")),
    AnalyzerOrder("QC-L1", "pt-qc0001", ("GLU",), is_qc=True),
]


class Bench:
    def __init__(self, **emulator: object) -> None:
        self.clock = SimClock()
        self.emulator = AstmAnalyzerEmulator(
            self.clock, np.random.default_rng(7), AnalyzerEmulatorSettings(result_delay_s=30.0, **emulator)
        )
        self.config = AstmAnalyzerConfig(port=self.emulator.port_url, run_timeout_s=600.0)
        self.driver = AstmAnalyzer("analyzer", self.clock, self.config, pump=self.emulator.service)
        self.driver.setup()

    def run(self, handle: Handle[Any, str], max_s: float = 900.0, dt_s: float = 0.5) -> HandleStatus:
        end_s = self.clock.now_s() + max_s
        while self.clock.now_s() < end_s:
            if handle.poll().done:
                break
            self.clock.advance(dt_s)
        return handle.poll()

    def close(self) -> None:
        self.driver.close()
        self.emulator.close()


@pytest.fixture
def bench_factory() -> Iterator[type[Bench]]:
    made: list[Bench] = []

    class _Bench(Bench):
        def __init__(self, **kw: object) -> None:
            super().__init__(**kw)
            made.append(self)

    yield _Bench
    for b in made:
        b.close()


def test_lab_run_end_to_end_with_a_naked_frame_a_contention_and_a_critical_value(bench_factory: type[Bench]) -> None:
    bench = bench_factory(nak_frames=1, contentions=1)
    bench.emulator.request_critical("K", "HH")
    handle = bench.driver.start_run(ORDERS)
    assert bench.run(handle) is HandleStatus.SUCCEEDED
    run = handle.result
    assert run is not None and run.missing == ()
    assert [(r.sample_id, r.test_code) for r in run.results] == [
        ("S-0001", "GLU"), ("S-0001", "K"), ("S-0002", "NA"), ("S-0002", "CREA"), ("QC-L1", "GLU")]
    potassium = next(r for r in run.results if r.test_code == "K")
    assert potassium.abnormal_flags == "HH" and potassium.numeric_value() is not None
    assert [r.is_qc for r in run.results] == [False, False, False, False, True]
    assert bench.driver.link.naks_received == 1  # one NAKed frame, resent
    assert bench.driver.link.contentions == 1 and bench.emulator.link.contentions == 1
    assert handle.feedback == "5/5 results"
    assert bench.driver.health().status is HealthStatus.OK


def test_orders_on_the_wire_carry_only_the_pseudonymous_reference(bench_factory: type[Bench]) -> None:
    bench = bench_factory()
    bench.run(bench.driver.start_run(ORDERS[:1]))
    assert bench.emulator.orders_received == [("S-0001", ("GLU", "K"))]
    assert b"P|1|pt-000101\r" in bytes(bench.emulator.bytes_from_host)


def test_busy_instrument_delays_but_does_not_fail_the_run(bench_factory: type[Bench]) -> None:
    bench = bench_factory(busy_enqs=2)
    handle = bench.driver.start_run(ORDERS[:1])
    assert bench.run(handle) is HandleStatus.SUCCEEDED
    assert bench.driver.link.busy_replies == 2


def test_a_nak_burst_beyond_six_is_retried_as_a_message_then_fails_the_run(bench_factory: type[Bench]) -> None:
    bench = bench_factory(nak_frames=6)
    handle = bench.driver.start_run(ORDERS[:1])
    assert bench.run(handle) is HandleStatus.SUCCEEDED  # the second attempt goes through
    bench2 = bench_factory(nak_frames=10**6)
    handle2 = bench2.driver.start_run(ORDERS[:1])
    assert bench2.run(handle2) is HandleStatus.FAILED
    assert "frame refused 6 times, 3 attempts" in (handle2.error or "")


def test_receiver_interrupt_by_the_instrument_resends_the_order_whole(bench_factory: type[Bench]) -> None:
    bench = bench_factory(interrupts=1)
    handle = bench.driver.start_run(ORDERS[:1])
    assert bench.run(handle) is HandleStatus.SUCCEEDED
    assert bench.emulator.orders_received == [("S-0001", ("GLU", "K"))]  # the cut message was not half-applied
    assert bench.emulator.rejected == ["incomplete message"]


def test_line_noise_is_survived(bench_factory: type[Bench]) -> None:
    bench = bench_factory(noise_probability=0.3, garbage_probability=0.5)
    handle = bench.driver.start_run(ORDERS)
    assert bench.run(handle) is HandleStatus.SUCCEEDED
    assert handle.result is not None and handle.result.missing == ()
    assert bench.driver.link.naks_sent > 0


def test_a_silent_instrument_fails_the_run_with_the_reason_instead_of_succeeding_empty(
    bench_factory: type[Bench],
) -> None:
    bench = bench_factory(silent=True)  # the line is there, the instrument never answers an ENQ
    t0_s = bench.clock.now_s()
    handle = bench.driver.start_run(ORDERS[:1])
    assert bench.run(handle, max_s=700.0, dt_s=1.0) is HandleStatus.FAILED
    assert handle.result is None
    assert handle.error == ("analyzer analyzer sent no results for run 1 (S-0001) within 600 s "
                            "(it never took the orders: no answer on the link)")
    assert 600.0 <= bench.clock.now_s() - t0_s <= 601.0  # at its run timeout, not before


def test_an_instrument_that_takes_the_orders_and_never_reports_fails_the_run(bench_factory: type[Bench]) -> None:
    bench = bench_factory(no_results=True)
    handle = bench.driver.start_run(ORDERS)
    assert bench.run(handle, max_s=700.0, dt_s=1.0) is HandleStatus.FAILED
    assert bench.emulator.orders_received == [(o.sample_id, o.test_codes) for o in ORDERS]  # the link was up
    assert handle.error == ("analyzer analyzer sent no results for run 1 (S-0001, S-0002, QC-L1) within 600 s "
                            "(it took the orders)")


def test_a_run_whose_port_stays_gone_fails_naming_the_port(bench_factory: type[Bench]) -> None:
    bench = bench_factory()
    bench.emulator.pty.unplug()  # before the order could go out, and never back
    handle = bench.driver.start_run(ORDERS[:1])
    assert bench.run(handle, max_s=700.0, dt_s=1.0) is HandleStatus.FAILED
    assert (handle.error or "").startswith("analyzer analyzer sent no results for run 1 (S-0001) within 600 s "
                                           f"(it never took the orders: port {bench.config.port}: ")


def test_part_of_the_answer_still_succeeds_at_the_timeout_with_the_rest_missing(bench_factory: type[Bench]) -> None:
    bench = bench_factory()
    handle = bench.driver.start_run(ORDERS[:2])
    while len(bench.emulator.orders_received) < 1:
        handle.poll()
        bench.clock.advance(0.5)
    bench.emulator.settings.no_results = True  # it runs the first sample, then sticks
    assert bench.run(handle, max_s=700.0, dt_s=1.0) is HandleStatus.SUCCEEDED
    assert handle.result is not None
    assert [(r.sample_id, r.test_code) for r in handle.result.results] == [("S-0001", "GLU"), ("S-0001", "K")]
    assert handle.result.missing == (("S-0002", "NA"), ("S-0002", "CREA"))


def test_an_order_the_instrument_marks_x_is_reported_not_done_at_once_with_its_reason(
    bench_factory: type[Bench],
) -> None:
    bench = bench_factory(reject_samples={"S-0002": "sample volume too low"})
    t0_s = bench.clock.now_s()
    handle = bench.driver.start_run(ORDERS[1:2])
    assert bench.run(handle, max_s=700.0, dt_s=0.5) is HandleStatus.SUCCEEDED
    assert bench.clock.now_s() - t0_s < 10.0  # not at the 600 s run timeout
    run = handle.result
    assert run is not None and run.missing == () and run.results == ()  # no value stands in for the answer
    assert [(n.sample_id, n.test_code, n.reason, n.instrument) for n in run.not_done] == [
        ("S-0002", "NA", "sample volume too low", "analyzer"), ("S-0002", "CREA", "sample volume too low", "analyzer")]
    assert run.not_done_reasons("S-0002") == {"NA": "sample volume too low", "CREA": "sample volume too low"}
    assert handle.feedback == "0/2 results, 2 not done"


def test_a_batch_finishes_once_every_test_is_resulted_or_not_done(bench_factory: type[Bench]) -> None:
    bench = bench_factory(reject_samples={"S-0002": "sample volume too low"}, reject_tests={"K": "hemolysed"})
    t0_s = bench.clock.now_s()
    handle = bench.driver.start_run(ORDERS)
    assert bench.run(handle, max_s=700.0, dt_s=0.5) is HandleStatus.SUCCEEDED
    assert bench.clock.now_s() - t0_s < 90.0  # two samples of 30 s and the link: done long before 600 s
    run = handle.result
    assert run is not None and run.missing == ()
    assert [(r.sample_id, r.test_code, r.status) for r in run.results] == [
        ("S-0001", "GLU", "F"), ("QC-L1", "GLU", "F")]
    assert run.results[0].numeric_value() is not None and run.results[1].is_qc
    assert [(n.sample_id, n.test_code, n.reason) for n in run.not_done] == [
        ("S-0001", "K", "hemolysed"), ("S-0002", "NA", "sample volume too low"),
        ("S-0002", "CREA", "sample volume too low")]
    assert handle.feedback == "2/5 results, 3 not done"


def test_an_order_marked_x_without_a_reason_is_not_done_with_an_empty_reason(bench_factory: type[Bench]) -> None:
    bench = bench_factory(reject_samples={"S-0001": ""})
    handle = bench.driver.start_run(ORDERS[:1])
    assert bench.run(handle) is HandleStatus.SUCCEEDED
    assert handle.result is not None
    assert handle.result.results == ()
    assert [(n.test_code, n.reason) for n in handle.result.not_done] == [("GLU", ""), ("K", "")]


def test_a_control_the_instrument_cannot_do_is_not_done_as_qc(bench_factory: type[Bench]) -> None:
    bench = bench_factory(reject_samples={"QC-L1": "control lot expired"})
    handle = bench.driver.start_run(ORDERS[2:])
    assert bench.run(handle) is HandleStatus.SUCCEEDED
    assert handle.result is not None
    assert [(n.sample_id, n.reason, n.is_qc) for n in handle.result.not_done] == [
        ("QC-L1", "control lot expired", True)]


def test_the_latest_word_on_a_test_wins_between_a_result_and_a_not_done(bench_factory: type[Bench]) -> None:
    bench = bench_factory(no_results=True)  # the answers are handed in below, as the driver would
    handle = bench.driver.start_run(ORDERS[:1])
    assert isinstance(handle, _Run)
    glu = AnalyzerResult("S-0001", "GLU", "5.2", "mmol/L", "3.9 to 6.1", "N", "F", "analyzer", 1.0)
    handle.offer(NotDone("S-0001", "GLU", "clot detected", "analyzer", 0.0))
    handle.offer(glu)  # re-measured after the clot was cleared
    handle.offer(glu)
    handle.offer(NotDone("S-0001", "K", "hemolysed", "analyzer", 2.0))
    assert handle.poll() is HandleStatus.SUCCEEDED and handle.result is not None
    assert handle.result.results == (glu,) and handle.result.missing == ()
    assert [(n.test_code, n.reason) for n in handle.result.not_done] == [("K", "hemolysed")]


def _times(run: Handle[Any, str]) -> list[float]:
    assert run.result is not None
    return [r.completed_s for r in run.result.results]


def test_a_run_nobody_polls_past_its_deadline_takes_nothing_from_the_re_run(bench_factory: type[Bench]) -> None:
    bench = bench_factory(no_results=True)
    stale = bench.driver.start_run(ORDERS[:1])
    stale.poll()
    bench.clock.advance(700.0)  # its holder moved on without polling or cancelling it
    bench.emulator.settings.no_results = False
    rerun = bench.driver.start_run(ORDERS[:1])  # the same specimen, ordered again
    assert bench.run(rerun) is HandleStatus.SUCCEEDED
    assert rerun.result is not None and rerun.result.missing == ()
    assert stale.poll() is HandleStatus.FAILED and stale.result is None


def test_a_cancelled_runs_results_are_not_handed_to_the_re_run(bench_factory: type[Bench]) -> None:
    bench = bench_factory()
    first = bench.driver.start_run(ORDERS[:1])
    while len(bench.emulator.orders_received) < 1:  # the instrument has the first order
        first.poll()
        bench.clock.advance(0.5)
    first.cancel()
    rerun_at_s = bench.clock.now_s()
    rerun = bench.driver.start_run(ORDERS[:1])
    assert bench.run(rerun) is HandleStatus.SUCCEEDED
    assert first.poll() is HandleStatus.CANCELLED and first.result is None
    # the first order's results (done 30 s after it) went nowhere; the re-run waited for its own,
    # measured after the first sample (the instrument runs them one after another)
    assert all(t >= rerun_at_s + 60.0 - 1.0 for t in _times(rerun))
    assert [(r.sample_id, r.test_code) for r in bench.driver.unsolicited] == [("S-0001", "GLU"), ("S-0001", "K")]
    assert len(bench.emulator.orders_received) == 2


def test_two_live_runs_of_one_specimen_each_get_the_results_of_their_own_order(bench_factory: type[Bench]) -> None:
    bench = bench_factory()
    first = bench.driver.start_run(ORDERS[:1])
    second = bench.driver.start_run(ORDERS[:1])  # same second: the orders still carry distinct times
    assert bench.run(second) is HandleStatus.SUCCEEDED and bench.run(first) is HandleStatus.SUCCEEDED
    assert max(_times(first)) < min(_times(second))  # the first order was measured first


def test_without_an_echoed_order_time_the_newest_order_claims_the_results(bench_factory: type[Bench]) -> None:
    bench = bench_factory(echo_order_time=False, no_results=True)
    stale = bench.driver.start_run(ORDERS[:1])
    stale.poll()
    bench.clock.advance(700.0)
    bench.emulator.settings.no_results = False
    rerun = bench.driver.start_run(ORDERS[:1])
    assert bench.run(rerun) is HandleStatus.SUCCEEDED
    assert rerun.result is not None and rerun.result.missing == ()
    assert stale.poll() is HandleStatus.FAILED


def test_unsupported_tests_fail_at_once(bench_factory: type[Bench]) -> None:
    bench = bench_factory()
    handle = bench.driver.start_run([AnalyzerOrder("S-1", "pt-000001", ("XYZ",))])
    assert handle.poll() is HandleStatus.FAILED and "XYZ" in (handle.error or "")


def test_port_disappears_and_comes_back(bench_factory: type[Bench]) -> None:
    bench = bench_factory()
    handle = bench.driver.start_run(ORDERS[:1])
    handle.poll()
    bench.emulator.pty.unplug()
    for _ in range(4):
        bench.clock.advance(0.5)
        assert handle.poll() is HandleStatus.RUNNING  # never raises into the tick
    assert bench.driver.health().status is HealthStatus.ERROR
    bench.emulator.pty.replug()
    bench.emulator.link.reset()
    assert bench.run(handle) is HandleStatus.SUCCEEDED
    assert bench.driver.port.disconnects == 1 and bench.driver.port.connects == 2
    assert bench.driver.health().status is HealthStatus.OK


def test_registered_as_analyzer_astm() -> None:
    from hal.drivers import register

    registry = DeviceRegistry()
    register(registry)
    clock = SimClock()
    device = registry.build("analyzer", {"kind": "analyzer", "model": "astm", "port": "loop://",
                                         "instrument": "chem-1", "run_timeout_s": 60},
                            BuildContext(clock, "lab-1"), source="test", field_path="devices.analyzer")
    assert isinstance(device, AstmAnalyzer) and device.config.instrument == "chem-1"


@settings(max_examples=150, deadline=None)
@given(chunks=st.lists(st.binary(max_size=80), max_size=6), framed=st.booleans())
def test_arbitrary_bytes_from_the_instrument_never_raise(chunks: list[bytes], framed: bool) -> None:
    clock = SimClock()
    driver = AstmAnalyzer("analyzer", clock, AstmAnalyzerConfig(port="loop://"))
    driver.link.feed(b"\x05")  # a session opened by the instrument
    for chunk in chunks:
        data = bytes([STX]) + chunk + b"\r\n" if framed else chunk
        driver.link.feed(data)
        clock.advance(1.0)
        driver.link.poll()
    driver.link.feed(bytes([EOT]))
    driver._handle_events()  # decoding whatever arrived raises nothing, at worst a rejection
    assert driver.link.take_output() is not None
