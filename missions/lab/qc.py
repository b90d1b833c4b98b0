"""Internal quality control with Westgard rules, applied within one run across control levels.

Each control material (lot, level) has an assigned mean and SD per test. For every test the
run's controls are turned into z-scores, then (Westgard, Clin Chem 1981):

- 1-2s: one control beyond ±2 SD → warning only (inspect the other rules);
- 1-3s: one control beyond ±3 SD → reject (random error);
- 2-2s: two controls beyond 2 SD on the same side → reject (systematic error);
- R-4s: one control beyond +2 SD and another beyond -2 SD → reject (random error).

A rejected run is held: none of its patient results may be released. A control that did not
come back, came back as text, or that the analyzer reported it could not do (the run's
`not_done`, named with the analyzer's reason) also holds the run: QC that was not seen has not
passed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hal.analyzer import AnalyzerResult, AnalyzerRun


@dataclass(frozen=True, slots=True)
class ControlTarget:
    mean: float
    sd: float


@dataclass(frozen=True, slots=True)
class QcObservation:
    material: str  # control sample id, e.g. QC-CHEM-2
    test_code: str
    value: float | None  # None when the instrument sent no number
    target: ControlTarget
    not_done: str | None = None  # the analyzer's reason when it reported it could not run this control

    @property
    def z(self) -> float | None:
        if self.value is None or self.target.sd <= 0:
            return None
        return (self.value - self.target.mean) / self.target.sd


@dataclass(frozen=True, slots=True)
class QcViolation:
    rule: str  # "1-3s", "2-2s", "R-4s", "missing"
    test_code: str
    detail: str

    def text(self) -> str:
        return f"{self.test_code} {self.rule}: {self.detail}"


@dataclass(frozen=True, slots=True)
class QcDecision:
    accepted: bool
    violations: tuple[QcViolation, ...]
    warnings: tuple[QcViolation, ...]
    z_scores: dict[str, dict[str, float | None]]  # test → material → z

    def reason(self) -> str:
        return "; ".join(v.text() for v in self.violations)


def observations_from_results(
    results: Sequence[AnalyzerResult], targets: Mapping[str, Mapping[str, ControlTarget]],
    not_done: Mapping[tuple[str, str], str] | None = None,
) -> list[QcObservation]:
    """Pair each expected (material, test) with its result; a missing one has value None, one the
    analyzer could not do (`not_done`: (material, test) → its reason) carries that reason."""
    by_key = {(r.sample_id, r.test_code): r for r in results}
    not_done = not_done or {}
    observations = []
    for material in sorted(targets):
        for test_code in sorted(targets[material]):
            reason = not_done.get((material, test_code))
            if reason is not None:
                observations.append(QcObservation(material, test_code, None, targets[material][test_code],
                                                   reason.strip() or "no reason given"))
                continue
            result = by_key.get((material, test_code))
            value = result.numeric_value() if result is not None else None
            observations.append(QcObservation(material, test_code, value, targets[material][test_code]))
    return observations


def observations_from_run(run: AnalyzerRun, targets: Mapping[str, Mapping[str, ControlTarget]]) -> list[QcObservation]:
    """`observations_from_results` for a whole control run: its results and its not-done tests."""
    return observations_from_results(run.results, targets, {(n.sample_id, n.test_code): n.reason for n in run.not_done})


def qc_run_entry(run: AnalyzerRun, targets: Mapping[str, Mapping[str, ControlTarget]]) -> dict[str, Any]:
    """The analyzer's QC decision from its control run, as the lab run journals it: accepted, the
    rule that rejected (a control not done names the analyzer's reason), z-scores, warnings."""
    decision = evaluate_westgard(observations_from_run(run, targets))
    return {"accepted": decision.accepted, "reason": decision.reason() or None,
            "z_scores": decision.z_scores, "warnings": [w.text() for w in decision.warnings]}


def evaluate_westgard(observations: Sequence[QcObservation]) -> QcDecision:
    violations: list[QcViolation] = []
    warnings: list[QcViolation] = []
    z_scores: dict[str, dict[str, float | None]] = {}
    by_test: dict[str, list[QcObservation]] = {}
    for obs in observations:
        by_test.setdefault(obs.test_code, []).append(obs)
    for test_code in sorted(by_test):
        group = by_test[test_code]
        z_scores[test_code] = {o.material: (round(o.z, 2) if o.z is not None else None) for o in group}
        for obs in group:
            if obs.not_done is not None:
                violations.append(QcViolation("missing", test_code,
                                              f"{obs.material} not done by the analyzer: {obs.not_done}"))
            elif obs.z is None:
                violations.append(QcViolation("missing", test_code, f"{obs.material} gave no numeric result"))
        scored = [(o.material, o.z) for o in group if o.z is not None]
        for material, z in scored:
            if abs(z) > 3:
                violations.append(QcViolation("1-3s", test_code, f"{material} {z:+.1f} SD"))
            elif abs(z) > 2:
                warnings.append(QcViolation("1-2s", test_code, f"{material} {z:+.1f} SD"))
        high = [(m, z) for m, z in scored if z > 2]
        low = [(m, z) for m, z in scored if z < -2]
        for side in (high, low):
            if len(side) >= 2:
                detail = ", ".join(f"{m} {z:+.1f} SD" for m, z in side)
                violations.append(QcViolation("2-2s", test_code, detail))
        if high and low:
            violations.append(
                QcViolation("R-4s", test_code, f"{high[0][0]} {high[0][1]:+.1f} SD, {low[0][0]} {low[0][1]:+.1f} SD")
            )
    return QcDecision(not violations, tuple(violations), tuple(warnings), z_scores)
