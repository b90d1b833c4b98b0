"""The ASTM analyzer driver end to end against the analyzer emulator over a real pty."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.analyzer import AnalyzerOrder, OrderPriority
from hal.clock import SimClock
from hal.device import HealthStatus
from hal.drivers.astm.analyzer_driver import AstmAnalyzer, AstmAnalyzerConfig
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


def test_a_silent_instrument_ends_the_run_at_its_timeout_with_everything_missing(bench_factory: type[Bench]) -> None:
    bench = bench_factory(silent=True)
    handle = bench.driver.start_run(ORDERS[:1])
    assert bench.run(handle, max_s=700.0, dt_s=1.0) is HandleStatus.SUCCEEDED
    assert handle.result is not None and handle.result.missing == (("S-0001", "GLU"), ("S-0001", "K"))


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
