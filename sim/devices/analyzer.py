"""Simulated analyzer behind the `hal.analyzer.Analyzer` interface (the ASTM driver's shape).

It measures the tubes loaded in its rack area (named after the device unless configured), one
sample after another: a patient's true value (`sim.lab_samples`) with the instrument's imprecision
and any seeded calibration drift, control materials around their assigned value. Results carry
units, the reference range and flags as an instrument sends them (R records). A serum tube that
was never centrifuged cannot be aspirated ("CLOT", flag A); a sample not in the rack is listed
as missing; a link or instrument fault fails the run with its reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from hal.analyzer import Analyzer, AnalyzerOrder, AnalyzerResult, AnalyzerRun
from hal.clock import Clock
from hal.device import DeviceError, DeviceHealth
from hal.handle import Handle, ResolvedHandle
from hal.registry import BuildContext, DeviceConfig, DeviceRegistry
from missions.lab.reference import TEST_MENU, Specimen, flag_for, reference_text
from sim.body import SimBody
from sim.devices.common import SimLink, sim_context
from sim.environment import SimEnvironment
from sim.lab_samples import CONTROL_MATERIALS, CONTROL_SCATTER_SD, POPULATION, Tube, lab_site


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

    @property
    def load_area(self) -> str:
        return self.config.load_area or self.name

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
        loaded = {t.sample_id: t for t in lab_site(self.sim.env).cell(self.sim.robot_id).tubes_in(self.load_area)}
        results: list[AnalyzerResult] = []
        missing: list[tuple[str, str]] = []
        done_s = now_s
        for order in orders:
            tube = loaded.get(order.sample_id)
            if tube is None:
                missing.extend((order.sample_id, code) for code in order.test_codes)
                continue
            done_s += self.config.seconds_per_sample
            results.extend(self._measure(order, tube, code, done_s) for code in order.test_codes)
        handle.set_feedback(f"0/{len(results)} results")
        handle.succeed_at(done_s + 1.0, AnalyzerRun(tuple(results), tuple(missing)))
        return handle

    def _measure(self, order: AnalyzerOrder, tube: Tube, code: str, done_s: float) -> AnalyzerResult:
        definition = TEST_MENU[code]
        decimals = POPULATION[code][2]
        rng = self.sim.rng()
        site = lab_site(self.sim.env)
        if definition.specimen is Specimen.SERUM and not tube.centrifuged:
            return self._result(order, code, "CLOT", "A", done_s)
        if order.is_qc:
            mean, sd = CONTROL_MATERIALS[order.sample_id][2][code]
            value = mean + CONTROL_SCATTER_SD * sd * float(rng.standard_normal())
        else:
            true = site.true_value(order.patient_ref, code)
            value = true * (1.0 + self.config.cv_fraction * float(rng.standard_normal()))
        value *= 1.0 + site.bias(self.sim.robot_id, self.name, code, done_s)
        value = round(max(value, 0.0), decimals)
        flag = "" if order.is_qc else flag_for(definition, value)
        return self._result(order, code, f"{value:.{decimals}f}", flag, done_s)

    def _result(self, order: AnalyzerOrder, code: str, value: str, flag: str, done_s: float) -> AnalyzerResult:
        definition = TEST_MENU[code]
        return AnalyzerResult(order.sample_id, code, value, definition.units, reference_text(definition), flag,
                              "F", self.config.instrument, done_s, is_qc=order.is_qc)

    def health(self) -> DeviceHealth:
        return self.sim.health()


def build(name: str, config: SimAnalyzerConfig, ctx: BuildContext) -> SimAnalyzer:
    env, body = sim_context(ctx)
    return SimAnalyzer(name, ctx.clock, env, body, config)


def register(registry: DeviceRegistry) -> None:
    registry.register("analyzer", "sim", SimAnalyzerConfig, build)
