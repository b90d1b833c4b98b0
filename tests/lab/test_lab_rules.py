"""Lab rules as plain functions: flags and critical limits, result validation, Westgard QC."""

from __future__ import annotations

import pytest

from hal.analyzer import AnalyzerResult
from missions.lab.qc import ControlTarget, QcObservation, evaluate_westgard
from missions.lab.reference import TEST_MENU, flag_for, validate_result


@pytest.mark.parametrize(("test", "value", "flag"), [
    ("K", 3.4, "L"), ("K", 4.2, "N"), ("K", 5.2, "H"), ("K", 6.2, "H"), ("K", 6.8, "HH"), ("K", 2.7, "LL"),
    ("NA", 119.0, "LL"), ("GLU", 26.0, "HH"), ("HB", 65.0, "LL"), ("PLT", 15.0, "LL"), ("CRP", 80.0, "H"),
    ("TROP", 60.0, "HH"), ("WBC", 35.0, "HH"),
])
def test_flags_follow_reference_and_critical_limits(test: str, value: float, flag: str) -> None:
    assert flag_for(TEST_MENU[test], value) == flag


def _result(value: str, *, units: str = "mmol/L", flag: str = "", status: str = "F") -> AnalyzerResult:
    return AnalyzerResult("smp-000001", "K", value, units, "3.5 to 5.1", flag, status, "SIM", 0.0)


def test_validation_refuses_text_wrong_units_and_preliminary_results() -> None:
    assert validate_result(_result("CLOT")).reportable is False
    assert validate_result(_result("4.1", units="mg/dL")).problem == "units 'mg/dL' where 'mmol/L' is expected"
    assert validate_result(_result("4.1", status="P")).reportable is False
    checked = validate_result(_result("6.8"))
    assert checked.reportable and checked.critical and checked.flag == "HH"
    assert validate_result(_result("6.1", flag="HH")).critical  # the instrument saw worse: believed


def _obs(material: str, value: float, mean: float = 4.0, sd: float = 0.1) -> QcObservation:
    return QcObservation(material, "K", value, ControlTarget(mean, sd))


def test_westgard_rules() -> None:
    assert evaluate_westgard([_obs("L1", 4.05), _obs("L2", 3.98)]).accepted
    warn = evaluate_westgard([_obs("L1", 4.25), _obs("L2", 4.0)])
    assert warn.accepted and [w.rule for w in warn.warnings] == ["1-2s"]
    assert [v.rule for v in evaluate_westgard([_obs("L1", 4.35), _obs("L2", 4.0)]).violations] == ["1-3s"]
    assert [v.rule for v in evaluate_westgard([_obs("L1", 4.25), _obs("L2", 4.22)]).violations] == ["2-2s"]
    assert [v.rule for v in evaluate_westgard([_obs("L1", 4.25), _obs("L2", 3.75)]).violations] == ["R-4s"]
    missing = evaluate_westgard([QcObservation("L1", "K", None, ControlTarget(4.0, 0.1)), _obs("L2", 4.0)])
    assert not missing.accepted and missing.violations[0].rule == "missing"
