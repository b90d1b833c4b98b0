"""Simulated analyzer behind the `hal.analyzer.Analyzer` interface (the ASTM driver's shape).

It measures the tubes loaded in its rack area (named after the device unless configured), one
sample after another (`seconds_per_sample` each). What it measures is `sim.lab_samples.LabInstrument`,
shared with the ASTM instrument emulator: a patient's true value with the instrument's imprecision
and any seeded calibration drift, control materials around their assigned value, "CLOT" (flag A)
for serum never centrifuged. Results carry units, the reference range and flags as an instrument
sends them (R records). A sample whose tube is not in the rack is answered at once as not done
(`NotDone`, reason "no sample in rack"), as the ASTM instrument emulator answers it (its order
marked X with that comment), so both backends give the lab run the same answer; a link or
instrument fault fails the run with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from hal.analyzer import Analyzer, AnalyzerOrder, AnalyzerResult, AnalyzerRun, NotDone
from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth
from hal.handle import Handle, ResolvedHandle
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from missions.lab.reference import TEST_MENU
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.lab_samples import LabInstrument

#: the reason given for a tube that is not in the rack: the ASTM emulator's comment word for word
#: (`sim.emulators.astm_analyzer.NO_SAMPLE_IN_RACK`, not imported: this backend needs no protocol code)
NO_SAMPLE_IN_RACK = "no sample in rack"


class SimAnalyzerConfig(DeviceConfig):
    tests: tuple[str, ...] = ("GLU", "K", "NA", "CREA", "CRP", "TROP")
    load_area: str | None = None  # default: the device's name
    seconds_per_sample: float = 60.0
    cv_fraction: float = 0.015  # analytical imprecision (coefficient of variation)
    instrument: str = "SIM-CHEM-1"


class SimAnalyzer(Analyzer):
    def __init__(self, name: str, clock: Clock, env: SimEnvironment, body: SimBody,
                 config: SimAnalyzerConfig) -> None:
        super().__init__(name, clock)
        unknown = set(config.tests) - set(TEST_MENU)
        if unknown:
            raise KeyError(f"unknown tests {sorted(unknown)} (menu: {', '.join(TEST_MENU)})")
        self.sim = SimLink(self, env, body)
        self.config = config
        self.runs_started = 0
        # what it measures is shared with the ASTM emulator: same tubes, same answers
        self.instrument = LabInstrument(env, body.robot_id, name, load_area=config.load_area,
                                        cv_fraction=config.cv_fraction)

    @property
    def load_area(self) -> str:
        return self.instrument.load_area

    def supported_tests(self) -> frozenset[str]:
        return frozenset(self.config.tests)

    def start_run(self, orders: Sequence[AnalyzerOrder]) -> Handle[AnalyzerRun, str]:
        self._require_open()
        for order in orders:
            unsupported = set(order.test_codes) - self.supported_tests()
            if unsupported:
                raise DeviceError(self.name, f"tests {sorted(unsupported)} are not on this analyzer's menu")
        self.runs_started += 1
        now_s = self.clock.now_s()
        handle: ResolvedHandle[AnalyzerRun, str] = ResolvedHandle(self.clock.now_s)
        fault = self.sim.fault()
        if fault is not None:
            handle.fail_at(now_s + 2.0, f"instrument fault: {fault}")
            return handle
        results: list[AnalyzerResult] = []
        not_done: list[NotDone] = []
        done_s = now_s
        for order in orders:  # one sample after another, as the instrument aspirates them
            if self.instrument.loaded(order.sample_id) is None:  # nothing to aspirate: said at once
                not_done.extend(NotDone(order.sample_id, code, NO_SAMPLE_IN_RACK, self.config.instrument, now_s,
                                        is_qc=order.is_qc) for code in order.test_codes)
                continue
            done_s += self.config.seconds_per_sample
            measured = self.instrument.measure(order.sample_id, order.patient_ref, order.test_codes,
                                               is_qc=order.is_qc, done_s=done_s) or ()
            results.extend(
                AnalyzerResult(order.sample_id, m.test_code, m.value, m.units, m.reference_range, m.flag, "F",
                               self.config.instrument, done_s, is_qc=order.is_qc)
                for m in measured
            )
        handle.set_feedback(f"0/{len(results)} results")
        handle.succeed_at(done_s + 1.0, AnalyzerRun(tuple(results), (), tuple(not_done)))
        return handle

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimAnalyzerConfig, ctx: BuildContext) -> SimAnalyzer:
    env, body = sim_context(ctx)
    return SimAnalyzer(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("analyzer", "sim", SimAnalyzerConfig, build)
